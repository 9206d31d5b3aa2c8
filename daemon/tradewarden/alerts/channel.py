"""What every delivery channel looks like, and the errors a channel may raise."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from tradewarden.alerts.model import Alert


class ChannelError(Exception):
    """The channel did not acknowledge the alert; the outbox will retry it."""


class RateLimitedError(ChannelError):
    """The service asked us to wait (HTTP 429 ``Retry-After``) before the next attempt."""

    def __init__(self, seconds: float, message: str = "rate limited") -> None:
        super().__init__(f"{message}; retry after {seconds:g} s")
        self.seconds = max(0.0, float(seconds))


@runtime_checkable
class Channel(Protocol):
    """Delivers one alert. Returns only once the service acknowledged it; raises otherwise.

    ``outbox_id`` identifies the outbox row being delivered: channels put it in the message
    (Slack footer, email ``Message-ID``, SMS reference) so a retry is recognisable.
    """

    name: str

    def send(self, alert: Alert, outbox_id: str = "") -> None: ...
