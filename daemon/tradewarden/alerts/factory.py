"""Building the dispatcher from `Settings` and the channel credentials.

Credentials come as `Secret` values under these names (any may be missing; a channel
without what it needs is simply not configured):

- ``slack_bot_token`` (``xoxb-...``; posts to ``TRADEWARDEN_SLACK_CHANNEL`` via
  ``TRADEWARDEN_SLACK_BASE_URL``) or ``slack_webhook_url`` (an incoming webhook)
- ``smtp_username`` and ``smtp_password`` (optional SMTP AUTH)
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

from tradewarden.alerts.backoff import Backoff
from tradewarden.alerts.channel import Channel
from tradewarden.alerts.console import ConsoleChannel
from tradewarden.alerts.dispatcher import Dispatcher
from tradewarden.alerts.email import EmailChannel
from tradewarden.alerts.outbox import Outbox
from tradewarden.alerts.redact import GLOBAL_REDACTOR
from tradewarden.alerts.slack import SlackChannel, SlackWebhookChannel
from tradewarden.alerts.sns import SnsChannel
from tradewarden.core.config import Settings
from tradewarden.secrets.value import Secret

SLACK_BOT_TOKEN = "slack_bot_token"  # noqa: S105 - the name of a credential
SLACK_WEBHOOK_URL = "slack_webhook_url"
SMTP_USERNAME = "smtp_username"
SMTP_PASSWORD = "smtp_password"  # noqa: S105 - the name of a credential

log = logging.getLogger("tradewarden.alerts")


def _secret(secrets: Mapping[str, Secret], name: str) -> Secret | None:
    value = secrets.get(name)
    if value is None:
        return None
    if not isinstance(value, Secret):
        raise TypeError(f"credential {name!r} must be a Secret")
    return value if value.reveal() else None


def build_channels(
    settings: Settings,
    secrets: Mapping[str, Secret] | None = None,
    *,
    console: bool = True,
    console_stream: IO[str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> list[Channel]:
    secrets = secrets or {}
    for value in secrets.values():
        if isinstance(value, Secret):
            GLOBAL_REDACTOR.add_secret(value)  # scrubbed from alert text and errors, used or not
    channels: list[Channel] = []
    token = _secret(secrets, SLACK_BOT_TOKEN)
    webhook = _secret(secrets, SLACK_WEBHOOK_URL)
    if token is not None:
        channels.append(SlackChannel(token, settings.slack_channel, settings.slack_base_url))
    elif webhook is not None:
        channels.append(SlackWebhookChannel(webhook))
    if settings.smtp_host and settings.email_to:
        username = _secret(secrets, SMTP_USERNAME)
        channels.append(
            EmailChannel(
                settings.smtp_host,
                settings.smtp_port,
                settings.email_from,
                settings.email_to,
                tls=settings.smtp_tls,
                username=username.reveal() if username else None,
                password=_secret(secrets, SMTP_PASSWORD),
                ssl_context=ssl_context,
            )
        )
    elif settings.smtp_host:
        log.warning("alert email not configured: TRADEWARDEN_EMAIL_TO is empty")
    if settings.sns_topic_arn:
        channels.append(SnsChannel(settings.sns_topic_arn))
    if console:
        channels.append(ConsoleChannel(settings.state_dir, stream=console_stream))
    return channels


def build_dispatcher(
    settings: Settings,
    secrets: Mapping[str, Secret] | None,
    db_path: Path | str,
    *,
    console: bool = True,
    console_stream: IO[str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    backoff: Backoff | None = None,
    clock: Callable[[], float] = time.time,
) -> Dispatcher:
    """A dispatcher over an outbox in `db_path` with every configured channel.

    The console channel (stderr + ``state_dir/alerts.jsonl``) is on unless ``console=False``;
    it is the demo's only channel and the host's own record in production.
    """
    channels = build_channels(
        settings, secrets, console=console, console_stream=console_stream, ssl_context=ssl_context
    )
    outbox = Outbox(db_path, dedup_seconds=settings.alert_dedup_seconds, clock=clock)
    names = [c.name for c in channels]
    log.info("alert channels", extra={"channels": names})
    return Dispatcher(outbox, channels, backoff=backoff, runbook_base_url=settings.runbook_base_url)
