"""The background delivery thread: deliver due rows, sleep until the next one, repeat."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from tradewarden.alerts.outbox import Outbox, OutboxClosedError
from tradewarden.alerts.redact import Redactor, error_text

log = logging.getLogger("tradewarden.alerts")

PRUNE_EVERY_SECONDS = 600.0
AFTER_FAILURE_GAP = 0.2  # pause between passes when the last one had failures


class Pass(Protocol):
    """What one delivery pass reports (`tradewarden.alerts.dispatcher.DeliveryReport`)."""

    @property
    def total_failed(self) -> int: ...


class Deliverer(Protocol):
    """What the worker drives (`tradewarden.alerts.dispatcher.Dispatcher`, which starts it)."""

    outbox: Outbox
    redactor: Redactor

    def deliver_due(self, *, keep_going: Callable[[], bool] | None = None) -> Pass: ...

    def seconds_until_due(self) -> float | None: ...


class DeliveryWorker(threading.Thread):
    def __init__(self, dispatcher: Deliverer, idle_seconds: float = 30.0) -> None:
        super().__init__(name="tradewarden-alerts", daemon=True)
        self.dispatcher = dispatcher
        self.idle_seconds = idle_seconds
        self._wake = threading.Event()
        self._stop_requested = threading.Event()
        self._flush_deadline: float | None = None
        self._exit_lock = threading.Lock()
        self._exited = False
        self._close_outbox = False
        self._next_prune = 0.0

    def wake(self) -> None:
        self._wake.set()

    def stop(self, flush_timeout: float) -> bool:
        self._flush_deadline = time.monotonic() + max(0.0, flush_timeout)
        self._stop_requested.set()
        self._wake.set()
        self.join(max(0.0, flush_timeout) + 0.5)
        return not self.is_alive()

    def _keep_going(self) -> bool:
        """Before each row: carry on unless stopping and the flush time is used up."""
        if not self._stop_requested.is_set():
            return True
        deadline = self._flush_deadline
        return deadline is not None and time.monotonic() < deadline

    def close_outbox_when_done(self) -> None:
        """Close the outbox once the thread ends (now, if it already has)."""
        with self._exit_lock:
            if not self._exited:
                self._close_outbox = True
                return
        self.dispatcher.outbox.close()

    def run(self) -> None:
        try:
            self._loop()
        finally:
            with self._exit_lock:
                self._exited = True
                close = self._close_outbox
            if close:
                self.dispatcher.outbox.close()

    def _loop(self) -> None:
        d = self.dispatcher
        while True:
            stopping = self._stop_requested.is_set()
            self._wake.clear()
            had_failures = False
            try:
                report = d.deliver_due(keep_going=self._keep_going)
                had_failures = report.total_failed > 0
                if not stopping and time.monotonic() >= self._next_prune:
                    d.outbox.prune()
                    self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
            except OutboxClosedError:
                return
            except Exception as exc:  # noqa: BLE001 - the thread must outlive any one failure
                had_failures = True
                log.error("alert worker pass failed", extra={"error": error_text(exc, d.redactor)})
            if stopping:
                return
            try:
                wait = d.seconds_until_due()
            except OutboxClosedError:
                return
            except Exception:  # noqa: BLE001 - sleep the idle period and try again
                wait = None
            wait = self.idle_seconds if wait is None else min(wait, self.idle_seconds)
            if had_failures:
                wait = max(wait, AFTER_FAILURE_GAP)
            self._wake.wait(wait)
