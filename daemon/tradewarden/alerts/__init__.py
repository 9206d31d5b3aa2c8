"""Alerts: severities routed to Slack, email and SNS (SMS) through a persisted outbox.

    from tradewarden.alerts import build_dispatcher, catalogue

    dispatcher = build_dispatcher(settings, secrets, settings.db_path)
    dispatcher.start()
    dispatcher.enqueue(catalogue.breaker_tripped("daily_loss", "trend-btc", 0.052, 0.05))
    ...
    dispatcher.stop(flush_timeout=5)

See `dispatcher` for delivery and retry, `outbox` for persistence and dedup, `routing` for
which severity goes where, `catalogue` for every alert the daemon raises.
"""

from tradewarden.alerts import catalogue
from tradewarden.alerts.backoff import Backoff
from tradewarden.alerts.channel import Channel, ChannelError, RateLimitedError
from tradewarden.alerts.console import ConsoleChannel
from tradewarden.alerts.dispatcher import DeliveryReport, Dispatcher
from tradewarden.alerts.email import EmailChannel
from tradewarden.alerts.factory import build_channels, build_dispatcher
from tradewarden.alerts.model import Alert, Severity
from tradewarden.alerts.outbox import EnqueueResult, Outbox, OutboxClosedError, OutboxStats
from tradewarden.alerts.routing import route
from tradewarden.alerts.slack import SlackChannel, SlackWebhookChannel
from tradewarden.alerts.sns import SnsChannel

__all__ = [
    "Alert",
    "Backoff",
    "Channel",
    "ChannelError",
    "ConsoleChannel",
    "DeliveryReport",
    "Dispatcher",
    "EmailChannel",
    "EnqueueResult",
    "Outbox",
    "OutboxClosedError",
    "OutboxStats",
    "RateLimitedError",
    "Severity",
    "SlackChannel",
    "SlackWebhookChannel",
    "SnsChannel",
    "build_channels",
    "build_dispatcher",
    "catalogue",
    "route",
]
