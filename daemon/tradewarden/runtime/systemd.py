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
        # start-timeout extensions on progress: at most every few seconds, the first one a
        # little after the process started (a quick start sends none)
        self._extend_every = min(self._every, 5.0)
        self._last_extend = time.monotonic()

    @property
    def _extension_usec(self) -> int:
        # one watchdog period, at least 90 s: between two signs of progress the daemon may
        # block on one request for up to TRADEWARDEN_REQUEST_TIMEOUT_SECONDS
        return int(max(self._every * 3, 90.0) * 1e6)

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
            self._last_extend = now
            self._send(f"WATCHDOG=1\nSTATUS={status}\nEXTEND_TIMEOUT_USEC={self._extension_usec}")

    def extending(self, status: str) -> None:
        """A start-up step made progress (audit entries verified, an exchange request
        answered during the first reconciliation): EXTEND_TIMEOUT_USEC= and STATUS= (at most
        every few seconds), so TimeoutStartSec= does not end a start that is slow but
        working. Called only on progress, never from a timer: a start that hangs stops
        extending it and systemd ends it. (No WATCHDOG=1: the watchdog runs from READY.)"""
        now = time.monotonic()
        if now - self._last_extend >= self._extend_every:
            self._last_extend = now
            self._send(f"STATUS={status}\nEXTEND_TIMEOUT_USEC={self._extension_usec}")

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
