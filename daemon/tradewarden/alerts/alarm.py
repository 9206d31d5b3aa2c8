"""A critical alert queued by a CLI command (not the daemon) on every configured channel.

For changes a human makes that the rest of the desk must see at once, not only in the audit
log (an approver enrolled or re-seeded, the audit anchor moved back, a new audit chain): the
alert goes into the outbox, which the daemon delivers with retries; it is never
deduplicated (each one has its own key).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tradewarden.alerts.factory import build_channels
from tradewarden.alerts.model import Alert, Severity
from tradewarden.alerts.outbox import Outbox
from tradewarden.alerts.routing import route
from tradewarden.core.actor import current_actor
from tradewarden.secrets import scrub
from tradewarden.secrets.credentials import alert_secrets
from tradewarden.secrets.errors import SecretError

if TYPE_CHECKING:
    from collections.abc import Callable

    from tradewarden.core.config import Settings
    from tradewarden.secrets.source import Source


def queue_critical(
    settings: Settings,
    source: Source | Callable[[], Source] | None,
    *,
    title: str,
    body: str,
    topic: str,
    runbook: str,
    check_command: str,
    warn: Callable[[str], None],
) -> None:
    """Queue one critical alert (`topic` names its dedup key, made unique). `source` (or a
    function building it) gives the channels' secrets; without them the alert still goes to
    the channels that need none, and `warn` says why."""
    secrets = {}
    try:
        if source is not None:
            secrets = alert_secrets(settings, source() if callable(source) else source)
    except SecretError as exc:
        warn(f"warning: alert channel secrets: {scrub.scrub(str(exc))}")
    channels = route(Severity.CRITICAL, [c.name for c in build_channels(settings, secrets)])
    base = settings.runbook_base_url
    alert = Alert(
        Severity.CRITICAL,
        title,
        body,
        f"{topic}:{time.time_ns()}",
        runbook_url=(base if base.endswith("/") else base + "/") + runbook,
        context={"actor": current_actor(), "check_command": check_command},
    )
    box = Outbox(settings.db_path, dedup_seconds=0)
    try:
        box.enqueue(alert, channels)
    finally:
        box.close()
