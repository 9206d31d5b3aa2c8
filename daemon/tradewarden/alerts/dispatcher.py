"""The dispatcher: routes alerts into the outbox and delivers due rows through the channels.

    dispatcher.enqueue(alert)        # order path: one commit, no network
    dispatcher.resolve(dedup_key)    # "resolved" message when the condition clears
    dispatcher.start() / stop()      # background delivery thread
    dispatcher.deliver_due()         # one synchronous delivery pass (tests, CLI)
    dispatcher.stats()               # depth, oldest age, per-channel counters, stuck

A row is marked delivered only when its channel returned without raising. A failure is
stored (redacted), the attempt counted, and the row rescheduled with exponential back-off
and jitter; a 429's ``Retry-After`` also pauses the whole channel. There is no attempt
limit: after `stuck_after` attempts a row is reported as stuck, and still retried.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from tradewarden.alerts.backoff import Backoff
from tradewarden.alerts.catalogue import DEFAULT_RUNBOOK_BASE_URL
from tradewarden.alerts.channel import Channel, RateLimitedError
from tradewarden.alerts.model import Alert
from tradewarden.alerts.notifier import alert_for
from tradewarden.alerts.outbox import (
    DEFAULT_STUCK_AFTER,
    EnqueueResult,
    Outbox,
    OutboxClosedError,
    OutboxStats,
)
from tradewarden.alerts.redact import GLOBAL_REDACTOR, Redactor, error_text
from tradewarden.alerts.routing import route
from tradewarden.alerts.worker import DeliveryWorker

log = logging.getLogger("tradewarden.alerts")


@dataclass
class DeliveryReport:
    """What one `deliver_due` pass did, per channel."""

    delivered: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str, channel: str) -> None:
        bucket = self.delivered if outcome == "delivered" else self.failed
        bucket[channel] = bucket.get(channel, 0) + 1

    @property
    def total_delivered(self) -> int:
        return sum(self.delivered.values())

    @property
    def total_failed(self) -> int:
        return sum(self.failed.values())


def scrub_alert(alert: Alert, redactor: Redactor) -> Alert:
    """Defence in depth: no registered secret reaches the outbox even inside alert text."""

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return redactor.scrub(value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    return replace(
        alert,
        title=walk(alert.title),
        body=walk(alert.body),
        dedup_key=walk(alert.dedup_key),
        context=walk(alert.context),
    )


class Dispatcher:
    def __init__(
        self,
        outbox: Outbox,
        channels: Iterable[Channel],
        *,
        backoff: Backoff | None = None,
        stuck_after: int = DEFAULT_STUCK_AFTER,
        redactor: Redactor = GLOBAL_REDACTOR,
        rng: random.Random | None = None,
        runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
    ) -> None:
        self.outbox = outbox
        self.runbook_base_url = runbook_base_url
        self.channels: dict[str, Channel] = {}
        for channel in channels:
            if channel.name in self.channels:
                raise ValueError(f"two channels are named {channel.name!r}")
            self.channels[channel.name] = channel
        self.backoff = backoff or Backoff()
        self.stuck_after = stuck_after
        self.redactor = redactor
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._paused: dict[str, float] = {}
        self._pause_lock = threading.Lock()
        self._worker: DeliveryWorker | None = None

    @property
    def clock(self) -> Callable[[], float]:
        return self.outbox.clock

    # --- producing --------------------------------------------------------------------------
    def routes(self, alert: Alert) -> list[str]:
        return route(alert.severity, self.channels)

    def enqueue(self, alert: Alert) -> EnqueueResult:
        """Persist the alert for each routed channel (commits before returning; no network)."""
        alert = scrub_alert(alert, self.redactor)
        result = self.outbox.enqueue(alert, self.routes(alert))
        fields = {
            "severity": alert.severity.value,
            "title": alert.title,
            "dedup_key": alert.dedup_key,
            "resolved": alert.resolved,
        }
        if result.queued:
            log.info("alert queued", extra={**fields, "channels": sorted(result.row_ids)})
            self.wake()
        elif result.suppressed:
            log.info("alert suppressed", extra={**fields, "why": result.reason})
        else:
            log.warning("alert has no channel", extra={**fields, "why": result.reason})
        return result

    def resolve(self, dedup_key: str, note: str = "") -> EnqueueResult | None:
        """Send a "resolved" message for an active alert; None if nothing is active."""
        original = self.outbox.active_alert(dedup_key)
        if original is None:
            return None
        result = self.enqueue(original.resolution(note, at=self.clock()))
        return result if result.queued else None

    def notify(self, kind: str, **context: Any) -> EnqueueResult:
        """The daemon's `Notifier` interface: build the catalogue alert for `kind`, enqueue."""
        return self.enqueue(alert_for(kind, context, self.runbook_base_url))

    # --- delivering -------------------------------------------------------------------------
    def _ready_channels(self, now: float, skip: set[str]) -> list[str]:
        with self._pause_lock:
            return [n for n in self.channels if n not in skip and self._paused.get(n, 0.0) <= now]

    def deliver_due(
        self,
        now: float | None = None,
        deadline: float | None = None,
        keep_going: Callable[[], bool] | None = None,
    ) -> DeliveryReport:
        """Deliver due rows: all of them, or until `deadline` (a `time.monotonic()` value)
        passes or `keep_going()` turns false (both checked before each row).

        A channel that fails is left alone for the rest of the pass (its other rows stay
        due and are tried next pass, so one bad message never blocks a channel).
        """
        report = DeliveryReport()
        failed: set[str] = set()
        while deadline is None or time.monotonic() < deadline:
            if keep_going is not None and not keep_going():
                break
            t = self.clock() if now is None else now
            row = self.outbox.claim_next(self._ready_channels(t, failed), now=t)
            if row is None:
                break
            channel = self.channels[row.channel]
            try:
                channel.send(row.alert, row.id)
            except Exception as exc:  # noqa: BLE001 - every failure is recorded and retried
                t = self.clock() if now is None else now
                self._failed(row.id, row.channel, row.attempts + 1, exc, t)
                failed.add(row.channel)
                report.count("failed", row.channel)
            else:
                self.outbox.mark_delivered(row.id, now=self.clock() if now is None else now)
                report.count("delivered", row.channel)
                log.info(
                    "alert delivered",
                    extra={
                        "channel": row.channel,
                        "outbox_id": row.id,
                        "attempt": row.attempts + 1,
                    },
                )
        return report

    def _failed(self, row_id: str, channel: str, attempts: int, exc: Exception, now: float) -> None:
        error = error_text(exc, self.redactor)
        delay = self.backoff.delay(attempts, self.rng)
        if isinstance(exc, RateLimitedError):
            delay = max(delay, exc.seconds)
            with self._pause_lock:
                self._paused[channel] = max(self._paused.get(channel, 0.0), now + exc.seconds)
        self.outbox.mark_failed(row_id, error, now + delay)
        level = logging.ERROR if attempts >= self.stuck_after else logging.WARNING
        log.log(
            level,
            "alert delivery failed",
            extra={
                "channel": channel,
                "outbox_id": row_id,
                "attempt": attempts,
                "retry_in_seconds": round(delay, 3),
                "error": error,
                "stuck": attempts >= self.stuck_after,
            },
        )

    def seconds_until_due(self, now: float | None = None) -> float | None:
        """How long until a row is due on a channel that is not paused (None: nothing pending)."""
        now = self.clock() if now is None else now
        ready = self._ready_channels(now, set())
        times = []
        due = self.outbox.next_due_at(ready)
        if due is not None:
            times.append(due)
        with self._pause_lock:
            paused = {n: t for n, t in self._paused.items() if t > now}
        if paused:
            due = self.outbox.next_due_at(paused)
            if due is not None:
                times.append(max(due, min(paused.values())))
        return max(0.0, min(times) - now) if times else None

    # --- lifecycle --------------------------------------------------------------------------
    def start(self, idle_seconds: float = 30.0) -> None:
        """Start the background delivery thread (idempotent)."""
        if self._worker is not None and self._worker.is_alive():
            return
        self._worker = DeliveryWorker(self, idle_seconds=idle_seconds)
        self._worker.start()

    def wake(self) -> None:
        worker = self._worker
        if worker is not None:
            worker.wake()

    def stop(self, flush_timeout: float = 5.0) -> bool:
        """Stop the thread after one last pass over due rows, bounded by `flush_timeout`.

        Returns True when the thread has ended. If a send is still in flight it finishes
        and records its outcome in the background; the row is never half-recorded.
        """
        worker = self._worker
        if worker is None:
            return True
        done = worker.stop(flush_timeout)
        if done:
            self._worker = None
        return done

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Wait for a stopping worker (one whose send outlived `stop`) to end."""
        worker = self._worker
        if worker is None:
            return True
        worker.join(timeout)
        if worker.is_alive():
            return False
        self._worker = None
        return True

    @property
    def running(self) -> bool:
        worker = self._worker
        return worker is not None and worker.is_alive()

    def close(self, flush_timeout: float = 5.0) -> None:
        """Stop delivering and close the outbox (after an in-flight send, if any, records)."""
        worker = self._worker
        if worker is not None and not self.stop(flush_timeout):
            worker.close_outbox_when_done()
            return
        self.outbox.close()

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- views ------------------------------------------------------------------------------
    def stats(self) -> OutboxStats:
        return self.outbox.stats(stuck_after=self.stuck_after)


__all__ = ["Dispatcher", "DeliveryReport", "OutboxClosedError", "scrub_alert"]
