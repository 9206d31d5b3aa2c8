"""Adversarial review of control requests (issue 13, 2): each test is an attack on the
CLI -> daemon path that let a reset apply when the operator believed it had not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tradewarden.state.store import Store

pytestmark = pytest.mark.usefixtures("clean_env")

# A daemon that holds its lock but never answers (stalled on the exchange, stopped in a
# debugger, ...): it ignores the CLI's wake-up signal.
STALLED_DAEMON = """
import fcntl, os, signal, sys, time
signal.signal(signal.SIGUSR1, signal.SIG_IGN)
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0)
os.write(fd, str(os.getpid()).encode())
print("locked", flush=True)
time.sleep(120)
"""


def _env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWARDEN_")}
    env["TRADEWARDEN_STATE_DIR"] = str(state)
    return env


def _requests(db: Path) -> list[str]:
    store = Store(db)
    try:
        return [r["status"] for r in store.query("SELECT status FROM control_requests")]
    finally:
        store.close()


def test_attack_a_reset_interrupted_with_ctrl_c_never_applies_later(tmp_path: Path) -> None:
    """`tradewarden reset ... --wait 300` on a stalled daemon, then Ctrl-C: the request
    stayed pending for the rest of its 300 s, so a daemon that came back (or was restarted)
    within them cleared the trip the operator had given up on. An interrupted CLI expires
    its request before it exits."""
    state = tmp_path / "state"
    state.mkdir()
    db = state / "tradewarden.sqlite3"
    store = Store(db)
    try:
        store.trip("daily_loss", "portfolio", 0.06, 0.05, "daily loss 6%")
    finally:
        store.close()
    daemon = subprocess.Popen(
        [sys.executable, "-c", STALLED_DAEMON, str(state / "daemon.lock")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert daemon.stdout is not None and daemon.stdout.readline().strip() == "locked"
        cli = subprocess.Popen(
            [sys.executable, "-m", "tradewarden.cli.main", "reset", "--reason", "resume"]
            + ["--breaker", "daily_loss", "--wait", "300"],
            env=_env(state),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            for _ in range(600):  # the CLI queued its request and waits for the daemon
                if _requests(db) or cli.poll() is not None:
                    break
                time.sleep(0.05)
            assert _requests(db) == ["pending"], cli.communicate(timeout=5)
            cli.send_signal(signal.SIGINT)  # the operator gives up
            cli.communicate(timeout=30)
        finally:
            if cli.poll() is None:
                cli.kill()
                cli.wait()
        assert _requests(db) == ["expired"], "an abandoned reset stays ready to apply"
    finally:
        daemon.kill()
        daemon.wait()
        if daemon.stdout is not None:
            daemon.stdout.close()


# A daemon that takes (claims) every request and then hangs before it reports the result.
CLAIMING_DAEMON = STALLED_DAEMON.replace(
    'print("locked", flush=True)\ntime.sleep(120)',
    """print("locked", flush=True)
sys.path[:0] = [p for p in sys.argv[3:]]
from tradewarden.state.store import Store
store = Store(sys.argv[2])
while True:
    for row in store.pending_controls():
        store.claim_control(row["id"])
    time.sleep(0.02)
""",
)


@pytest.mark.parametrize("action", ["reset", "halt"])
def test_attack_a_request_the_daemon_took_is_never_reported_not_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], action: str
) -> None:
    """The daemon took the reset just in time and then was slow to answer: the CLI said
    "error: reset not applied: ..." although the reset was being applied (it cleared the
    trip moments later). A request the daemon has taken is reported as taken, result
    unknown, never as not applied."""
    from tradewarden.core.config import load_settings
    from tradewarden.operations import control
    from tradewarden.operations.actions import human_action, human_reset
    from tradewarden.risk.engine import ResetScope

    state = tmp_path / "state"
    state.mkdir()
    db = state / "tradewarden.sqlite3"
    store = Store(db)
    try:
        store.trip("daily_loss", "portfolio", 0.06, 0.05, "daily loss 6%")
    finally:
        store.close()
    daemon = subprocess.Popen(
        [sys.executable, "-c", CLAIMING_DAEMON, str(state / "daemon.lock"), str(db), *sys.path],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert daemon.stdout is not None and daemon.stdout.readline().strip() == "locked"
        monkeypatch.setattr(control, "APPLY_GRACE_S", 0.5)
        settings = load_settings(state_dir=state)
        if action == "reset":
            scope = ResetScope(breakers=frozenset({"daily_loss"}))
            code = human_reset(settings, "resume", scope, wait=1.0)
        else:
            code = human_action(settings, "halt", "stop", wait=1.0)
        out = capsys.readouterr()
        assert _requests(db) == ["applying"]
        assert code == 1
        assert "not applied" not in out.err + out.out
        assert "took" in out.err and "check `tradewarden status`" in out.err
    finally:
        daemon.kill()
        daemon.wait()
        if daemon.stdout is not None:
            daemon.stdout.close()


# A CLI command that holds the daemon lock while it works (`restore`, an offline `reset`,
# `audit new-chain`, ...), with the project's own DaemonLock.
LOCK_HOLDING_CLI = """
import sys, time
from tradewarden.runtime.lock import DaemonLock
lock = DaemonLock(__import__("pathlib").Path(sys.argv[1]))
assert lock.acquire()
print("locked", flush=True)
time.sleep(60)
lock.release()
"""


def test_attack_a_halt_never_kills_the_cli_that_holds_the_lock(tmp_path: Path) -> None:
    """Operator A runs a command that holds the daemon lock (a restore moving the state
    dir, an offline reset); operator B runs `tradewarden halt` meanwhile. B took the lock
    holder for the daemon and woke it with SIGUSR1, whose default action killed A midway
    (a restore killed between moving the old state away and putting the restored database
    in place leaves no state database: the next start is ACTIVE with no halt, no trip, no
    disarm). Only the daemon reacts to SIGUSR1; a CLI holding the lock ignores it."""
    state = tmp_path / "state"
    state.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDING_CLI, str(state)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        halt = subprocess.run(
            [sys.executable, "-m", "tradewarden.cli.main", "halt", "--reason", "b", "--wait", "1"],
            env=_env(state),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert halt.returncode == 1 and "not applied" in halt.stderr, halt.stderr
        # the wake-up signal went out a second before the CLI gave up
        assert holder.poll() is None, f"the lock holder died: {holder.returncode}"
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
