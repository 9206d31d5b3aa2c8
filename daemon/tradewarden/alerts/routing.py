"""Which channels an alert goes to, by severity (the PETS security guidelines' table).

critical: Slack + email + SMS (SNS); warning: Slack + email; info: Slack. Channels that are
not configured are skipped; the console channel, when configured, receives everything.
"""

from __future__ import annotations

from collections.abc import Iterable

from tradewarden.alerts.model import Severity

ROUTES: dict[Severity, tuple[str, ...]] = {
    Severity.CRITICAL: ("slack", "email", "sns"),
    Severity.WARNING: ("slack", "email"),
    Severity.INFO: ("slack",),
}
EVERYTHING = ("console",)


def route(severity: Severity, configured: Iterable[str]) -> list[str]:
    """The configured channel names for this severity, in a stable order."""
    available = set(configured)
    wanted = ROUTES[Severity(severity)] + EVERYTHING
    return [name for name in wanted if name in available]
