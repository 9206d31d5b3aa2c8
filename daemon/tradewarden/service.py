"""systemd integration: READY when the daemon can trade safely, WATCHDOG from the main loop,
STOPPING on a clean shutdown. A no-op when NOTIFY_SOCKET is unset (not under systemd)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import sdnotify


class Service:
    def __init__(self) -> None:
        self.enabled = bool(os.environ.get("NOTIFY_SOCKET"))
        self._n = sdnotify.SystemdNotifier()
        self._last_watchdog = 0.0
        usec = os.environ.get("WATCHDOG_USEC")
        # ping at a third of the watchdog period (or every 2 s when none is set)
        self._every = int(usec) / 3e6 if usec and usec.isdigit() else 2.0

    def _send(self, msg: str) -> None:
        if self.enabled:
            self._n.notify(msg)

    def ready(self, status: str) -> None:
        self._send(f"READY=1\nSTATUS={status}\nMAINPID={os.getpid()}")

    def watchdog(self, status: str | None = None) -> None:
        now = time.monotonic()
        if now - self._last_watchdog >= self._every:
            self._last_watchdog = now
            self._send("WATCHDOG=1" + (f"\nSTATUS={status}" if status else ""))

    def waiting(self, status: str) -> None:
        """Not ready yet, on purpose (see startup.py): WATCHDOG=1, STATUS= says why, and
        EXTEND_TIMEOUT_USEC= (one watchdog period, at least 90 s: a try in between may
        block on one request for up to TRADEWARDEN_REQUEST_TIMEOUT_SECONDS) so
        TimeoutStartSec= does not end a start that waits for the exchange; a hung loop
        stops extending it and systemd ends the start."""
        now = time.monotonic()
        if now - self._last_watchdog >= self._every:
            self._last_watchdog = now
            extend = int(max(self._every * 3, 90.0) * 1e6)
            self._send(f"WATCHDOG=1\nSTATUS={status}\nEXTEND_TIMEOUT_USEC={extend}")

    def stopping(self) -> None:
        self._send("STOPPING=1\nSTATUS=stopping: flushing audit and alert outbox")


def main_thread_only(ping: Callable[[str], None], status: str) -> Callable[[], None]:
    """A wait hook that feeds the watchdog only from the main loop's thread: a wait there is
    the loop making progress on purpose; a wait on another thread says nothing about a hung
    main loop, so it must not keep systemd from restarting it."""

    def hook() -> None:
        if threading.current_thread() is threading.main_thread():
            ping(status)

    return hook
