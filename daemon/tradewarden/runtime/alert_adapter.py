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


def alert_secrets_from_env() -> dict[str, Any]:
    """Slack/SMTP credentials for the alert channels.

    Read from the environment (`TRADEWARDEN_SLACK_TOKEN`, `TRADEWARDEN_SLACK_WEBHOOK_URL`,
    `TRADEWARDEN_SMTP_USERNAME`, `TRADEWARDEN_SMTP_PASSWORD`) until the Secrets Manager
    source is wired; values are wrapped in `Secret` at once and never logged.
    """
    import os

    from tradewarden.secrets.value import Secret

    names = {
        "slack_bot_token": "TRADEWARDEN_SLACK_TOKEN",
        "slack_webhook_url": "TRADEWARDEN_SLACK_WEBHOOK_URL",
        "smtp_username": "TRADEWARDEN_SMTP_USERNAME",
        "smtp_password": "TRADEWARDEN_SMTP_PASSWORD",
    }
    return {k: Secret(os.environ[v], k) for k, v in names.items() if os.environ.get(v)}
