"""Adapters from the trader's `notify(kind, **context)` to whatever delivers alerts."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("tradewarden.alerts")


class LogNotifier:
    """Records alerts as structured log lines (used when no alert outbox is configured)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def notify(self, kind: str, **context: Any) -> None:
        self.sent.append((kind, context))
        log.warning("alert", extra={"alert": kind, "context": context})


class ConsoleNotifier:
    """The demo's alert channel: one readable line per alert on the console."""

    def __init__(self, out: Any = None) -> None:
        import sys

        self.out = out or sys.stdout
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def notify(self, kind: str, **context: Any) -> None:
        self.sent.append((kind, context))
        if kind in ("breaker_tripped", "emergency_stop"):
            return  # the run printer shows trips in full
        if kind == "approaching_breaker":
            ratio = context["value"] / context["threshold"] if context.get("threshold") else 0
            text = (
                f"WARNING: {context['breaker']} on {context['bot']} is at {ratio:.0%} of its limit"
            )
        else:
            text = f"ALERT {kind}: " + ", ".join(f"{k}={v}" for k, v in context.items())
        print(f"  >> {text}", file=self.out, flush=True)


class FanoutNotifier:
    """Hands each alert to several notifiers (the outbox and the console)."""

    def __init__(self, *targets: Any) -> None:
        self.targets = targets

    def notify(self, kind: str, **context: Any) -> None:
        for t in self.targets:
            t.notify(kind, **context)
