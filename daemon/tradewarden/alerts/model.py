"""The `Alert` value: what happened, how bad, and what a responder should do about it.

`context` holds plain JSON values only. The renderers (Slack, email, SMS, console) read
these well-known keys; anything else is shown as an extra detail:

- ``what``: what tripped (``"daily_loss breaker on trend-btc"``)
- ``value`` / ``threshold`` / ``unit``: the reading against its limit (unit: ``pct``,
  ``usd``, ``count`` or free text)
- ``state``: the trading state after the event (``"HALTED"``)
- ``orders_cancelled`` / ``positions_closed`` / ``actions``: what the daemon already did
- ``reset_command``: the exact command that clears the condition
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for the most urgent; the outbox delivers lower ranks first."""
        return {"critical": 0, "warning": 1, "info": 2}[self.value]


def check_plain(value: Any, path: str = "context") -> None:
    """Refuse anything that is not a plain JSON value (a `Secret` above all)."""
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path} must be a finite number")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_plain(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for k, item in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{path} keys must be strings")
            check_plain(item, f"{path}.{k}")
        return
    raise TypeError(f"{path} holds a {type(value).__name__}; alerts carry plain values only")


@dataclass(frozen=True)
class Alert:
    severity: Severity
    title: str
    body: str
    dedup_key: str
    runbook_url: str = ""
    context: dict[str, Any] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    resolved: bool = False
    kind: str = "custom"

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", Severity(self.severity))
        for name in ("title", "body", "dedup_key", "runbook_url", "kind"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"alert {name} must be a string")
        if not self.title.strip():
            raise ValueError("an alert needs a title")
        if not self.dedup_key.strip():
            raise ValueError("an alert needs a dedup key")
        if not isinstance(self.context, dict):
            raise TypeError("alert context must be a dict")
        check_plain(self.context)
        # a JSON round trip turns tuples into lists, so a stored alert equals the original
        object.__setattr__(self, "context", json.loads(json.dumps(self.context)))

    @property
    def reset_command(self) -> str | None:
        cmd = self.context.get("reset_command")
        return str(cmd) if cmd else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity.value,
            "title": self.title,
            "body": self.body,
            "dedup_key": self.dedup_key,
            "runbook_url": self.runbook_url,
            "context": self.context,
            "created_at": self.created_at,
            "resolved": self.resolved,
            "kind": self.kind,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        return cls(
            severity=Severity(data["severity"]),
            title=data["title"],
            body=data.get("body", ""),
            dedup_key=data["dedup_key"],
            runbook_url=data.get("runbook_url", ""),
            context=data.get("context") or {},
            created_at=float(data["created_at"]),
            resolved=bool(data.get("resolved", False)),
            kind=data.get("kind", "custom"),
        )

    @classmethod
    def from_json(cls, text: str) -> Alert:
        return cls.from_dict(json.loads(text))

    def resolution(self, note: str = "", at: float | None = None) -> Alert:
        """The "resolved" message for this alert: same title, key, severity and runbook.

        Every renderer labels it RESOLVED (instead of the severity) and colours it green.
        """
        context = dict(self.context)
        context.pop("reset_command", None)
        if note:
            context["resolution"] = note
        return replace(
            self,
            body=note or f"The condition behind '{self.title}' has cleared.",
            context=context,
            created_at=time.time() if at is None else at,
            resolved=True,
        )
