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
leaves put queued halts in force (`ControlDesk`), and the order is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import pwd
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from tradewarden.audit.chain import AuditLog
from tradewarden.core.models import OrderRequest
from tradewarden.operations.halt_reset import HALT_ACTIONS, DaemonSite, apply_request, hold_halt
from tradewarden.risk.checks import is_reducing
from tradewarden.risk.engine import RiskEngine
from tradewarden.risk.state import TradingState
from tradewarden.state.store import Store
from tradewarden.trading.broker import BrokerError

SSM_SESSION_VARS = ("SSM_SESSION_ID", "AWS_SSM_SESSION_ID")
log = logging.getLogger(__name__)
DEFAULT_WAIT_S = 10.0  # how long the CLI waits for the daemon: the request's time-to-live
APPLY_GRACE_S = 30.0  # once the daemon has taken a request, how long the CLI waits for it
# the host's `sudo tradewarden` wrapper (ops/cloud-init/tradewarden-cli.py) runs the CLI as
# this service user with SUDO_USER set to the human who ran sudo
SERVICE_USER = "tradewarden"


def current_actor() -> str:
    """Who is acting, for the audit log: ``name@host uid=N`` from the process's real uid
    (``$USER`` is not believed: anyone can set it), the sudo caller when root runs through
    sudo or the host's ``sudo tradewarden`` wrapper runs the CLI as the service user, and
    the AWS SSM Session Manager session id when one is set (``SSM_SESSION_ID`` or
    ``AWS_SSM_SESSION_ID``; sudo's environment reset normally drops it)."""
    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = f"uid{uid}"
    parts = []
    sudo_user = os.environ.get("SUDO_USER", "")
    # sudo (root) or the host wrapper (the service user) set SUDO_USER; anyone else may not
    if (uid == 0 or name == SERVICE_USER) and sudo_user and sudo_user not in ("root", name):
        name = _printable(sudo_user).replace("@", "").replace(":", "") or f"uid{uid}"
        parts.append("sudo")
        sudo_uid = os.environ.get("SUDO_UID", "")
        if sudo_uid.isdigit():
            parts.append(f"sudo_uid={sudo_uid}")
    parts.insert(0, f"uid={uid}")
    for var in SSM_SESSION_VARS:
        session = os.environ.get(var, "").strip()
        if session:
            parts.append(f"ssm={_printable(session)}")
            break
    return f"{name}@{os.uname().nodename} {' '.join(parts)}"


def _printable(value: str) -> str:
    return "".join(c for c in value if c.isalnum() or c in "-_.@:")[:128]


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


class ControlledDaemon(Protocol):
    """What the control desk uses of the daemon (`runtime.daemon.Daemon` has it)."""

    @property
    def store(self) -> Store: ...

    @property
    def risk(self) -> RiskEngine: ...

    @property
    def audit(self) -> AuditLog: ...


class ControlDesk:
    """The daemon's side of control requests (see the module docstring)."""

    def __init__(self, daemon: ControlledDaemon) -> None:
        self.d = daemon
        self.site = DaemonSite(daemon)  # halt/reset applied by halt_reset.py, as the CLI's
        self._in_hook = False
        expired = daemon.store.expire_stale_controls()
        if expired:
            log.warning("expired control requests not applied in time", extra={"n": expired})

    def apply_pending(self) -> None:
        """From the main loop: finish halts put in force early, then apply new requests."""
        for row in self.d.store.held_controls():
            self._apply(row, in_force=True)
        for row in self.d.store.pending_controls():
            if self.d.store.claim_control(row["id"]):
                self._apply(row, in_force=False)

    def _apply(self, row: Any, *, in_force: bool) -> None:
        try:
            result = apply_request(
                self.site,
                row["action"],
                row["reason"],
                row["actor"],
                payload=json.loads(row["payload"] or "null"),
                asked_at=float(row["ts"]),
                in_force=in_force,
            )
            self.d.store.finish_control(row["id"], "done", result)
        except Exception as exc:  # report the failure to the waiting CLI
            log.exception("control request failed", extra={"id": row["id"]})
            self.d.store.finish_control(row["id"], "failed", str(exc))

    def put_halts_in_force(self) -> None:
        """The gateway's wait hook (and the pre-send check): a queued halt takes effect now,
        persisted and audited, even while the main loop waits on the exchange. Only the
        state changes here; cancels, alert and snapshot follow in `apply_pending`."""
        if threading.current_thread() is not threading.main_thread() or self._in_hook:
            return
        self._in_hook = True
        try:
            for row in self.d.store.pending_controls(HALT_ACTIONS):
                if not self.d.store.hold_control(row["id"]):
                    continue
                result = hold_halt(self.site, row["action"], row["reason"], row["actor"])
                self.d.store.finish_control(row["id"], "held", result)
                log.warning("halt in force while waiting on the exchange", extra=result)
        finally:
            self._in_hook = False

    def before_send(self, req: OrderRequest) -> None:
        """Right before an order leaves the process (after any wait in the rate limiter):
        take in queued halts, then refuse the order if the state no longer allows it."""
        self.put_halts_in_force()
        risk = self.d.risk
        state = risk.order_state(req.bot)  # a trip's closing orders pass as REDUCING
        if state is TradingState.HALTED:
            raise BrokerError(f"not sent: trading is HALTED ({risk.state_reason or 'bot halted'})")
        position = risk.book.positions.get((req.bot, req.symbol), 0.0)
        if state is TradingState.REDUCING and not is_reducing(req, position):
            raise BrokerError("not sent: trading is REDUCING and this order adds exposure")
