"""Test doubles shared by the alert tests: a settable clock and an in-process channel."""

from __future__ import annotations

import threading

from tradewarden.alerts.channel import ChannelError, RateLimitedError
from tradewarden.alerts.model import Alert


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingChannel:
    """A channel that records (outbox_id, alert) and fails on demand.

    `fail` > 0 fails that many sends; `fail_ids` fails every send of those outbox ids
    (a "poison" message); `rate_limit` raises a 429-style error with that Retry-After.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[tuple[str, Alert]] = []
        self.attempts = 0
        self.fail = 0
        self.fail_ids: set[str] = set()
        self.rate_limit: float | None = None
        self.error = "service unavailable"
        self._lock = threading.Lock()

    def send(self, alert: Alert, outbox_id: str = "") -> None:
        with self._lock:
            self.attempts += 1
            if self.rate_limit is not None:
                raise RateLimitedError(self.rate_limit, "HTTP 429")
            if outbox_id in self.fail_ids:
                raise ChannelError("invalid_blocks")
            if self.fail > 0:
                self.fail -= 1
                raise ChannelError(self.error)
            self.sent.append((outbox_id, alert))

    @property
    def ids(self) -> list[str]:
        return [i for i, _ in self.sent]
