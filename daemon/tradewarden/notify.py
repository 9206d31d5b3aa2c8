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
