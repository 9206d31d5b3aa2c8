"""How the CLI acts on the daemon: one lock file says whether it runs.

If the daemon runs (it holds ``daemon.lock``), `halt`/`reset` are queued as control
requests in SQLite and the daemon is woken with SIGUSR1; it applies them on its own
thread, so the audit chain has one writer. If it does not run, the CLI takes the lock and
applies the action itself.

A request lives only as long as the CLI waits for it (its time-to-live, `--wait`). When the
CLI gives up (its wait is over, or it is interrupted: Ctrl-C) it marks the request expired
in a transaction *before* it says "not applied", and the daemon claims a request in a
transaction only while it is pending and alive: a request reported "not applied" (or
abandoned) can never be applied later (after a stall, or at the next start). A halt also
takes effect while the main loop is blocked on the exchange (a queued order, an unknown
outcome being resolved): the gateway's wait hook and its check right before an order
leaves put queued halts in force (the daemon's side:
`tradewarden.runtime.control_desk.ControlDesk`), and the order is refused.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import time
from typing import Any

from tradewarden.runtime.lock import DaemonLock
from tradewarden.state.store import Store

log = logging.getLogger(__name__)
DEFAULT_WAIT_S = 10.0  # how long the CLI waits for the daemon: the request's time-to-live
APPLY_GRACE_S = 30.0  # once the daemon has taken a request, how long the CLI waits for it


def _answer(row: Any) -> dict[str, Any]:
    return {"status": row["status"], "result": json.loads(row["result"] or "null")}


def request_via_daemon(
    store: Store,
    lock: DaemonLock,
    action: str,
    reason: str,
    actor: str,
    timeout: float = DEFAULT_WAIT_S,
    payload: Any = None,
) -> dict[str, Any]:
    """Queue a request for the running daemon and wait for it. Status: "done"/"failed" (the
    daemon's answer), "held" (a halt in force while the daemon's loop is busy; its cancels
    follow), "expired" (not taken within `timeout`: never applied), "applying" (taken in
    time, result not back within APPLY_GRACE_S)."""
    req_id = store.add_control(action, reason, actor, ttl=timeout, payload=payload)
    pid = lock.holder_pid()
    if pid:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    try:
        while True:
            row = store.control(req_id)
            if row is not None and row["status"] in ("done", "failed", "held"):
                return _answer(row)
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
    except BaseException:  # Ctrl-C, SIGTERM as an exception, ...: the operator gave up
        if store.expire_control(req_id):
            print(
                f"interrupted: request {req_id} expired before the daemon took it; it will"
                " never be applied",
                file=sys.stderr,
            )
        raise
    if store.expire_control(req_id):
        return {
            "status": "expired",
            "result": f"the daemon (pid {pid}) did not take request {req_id} within "
            f"{timeout:g}s; the request has expired and will never be applied",
        }
    grace = time.monotonic() + APPLY_GRACE_S  # taken just in time: wait for its result
    while time.monotonic() < grace:
        row = store.control(req_id)
        if row is not None and row["status"] in ("done", "failed", "held"):
            return _answer(row)
        time.sleep(0.05)
    return {
        "status": "applying",
        "result": f"the daemon (pid {pid}) took request {req_id} and may be applying it, but"
        " has not reported the result; check `tradewarden status`",
    }
