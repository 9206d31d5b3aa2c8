"""The daemon's lock file (``daemon.lock`` in the state directory): whether it runs, and
which pid a `halt`/`reset` wakes (see `tradewarden.operations.control`)."""

from __future__ import annotations

import fcntl
import os
import signal
import threading
from pathlib import Path
from typing import Any


class DaemonLock:
    """The daemon's lock; CLI commands that work on the state without a daemon hold it too.

    Whoever holds it may get the wake-up signal (SIGUSR1) that a `halt`/`reset` sends to
    the pid in the file: a holder without its own handler (a CLI command: `restore`, an
    offline `reset`, ...) ignores it while it holds the lock, instead of being killed
    midway by the signal's default action. So does the daemon until it installs its
    handler, after its start on the exchange (it also polls for requests)."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / "daemon.lock"
        self._fd: int | None = None
        self._usr1: Any = None  # the SIGUSR1 disposition replaced while holding the lock

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        if threading.current_thread() is threading.main_thread():
            if signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL:
                self._usr1 = signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # no stale pid for the next one to signal
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
            if self._usr1 is not None and threading.current_thread() is threading.main_thread():
                if signal.getsignal(signal.SIGUSR1) is signal.SIG_IGN:  # not taken over since
                    signal.signal(signal.SIGUSR1, self._usr1)
                self._usr1 = None

    def holder_pid(self) -> int | None:
        try:
            text = self.path.read_text().strip()
            return int(text) if text else None
        except (OSError, ValueError):
            return None

    def __enter__(self) -> DaemonLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
