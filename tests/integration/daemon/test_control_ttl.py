"""Issue 13 defect 2: a halt/reset the CLI reported "not applied" must never apply later.

The CLI used to leave a timed-out request queued with no expiry; a daemon that came back
(SIGCONT after a stall, or the next start) applied it, and a stale `reset` cleared halts and
trips recorded after it. Now a request has a time-to-live and the CLI marks it expired in a
transaction before it says "not applied"."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.integration.daemon.helpers import db, start, status, terminate, tw, wait_for

pytestmark = pytest.mark.usefixtures("clean_env")


def running(state: Path):
    # bot-scoped trips: the demo's breaker trips then leave the whole state ACTIVE, so a halt
    # applied late would show (with every trip halting everything it could not)
    proc = start(state, "run", "--follow", "--no-console", TRADEWARDEN_TRIP_SCOPE="bot")
    assert wait_for(
        lambda: status(state).get("daemon_running") and (status(state).get("ticks") or 0) > 0, 60
    ), proc.stderr.read() if proc.poll() is not None and proc.stderr else "not running"
    return proc


def controls(state: Path) -> list[dict]:
    with db(state) as con:
        return [dict(r) for r in con.execute("SELECT * FROM control_requests ORDER BY id")]


def test_a_halt_the_stalled_daemon_did_not_take_is_expired_and_never_applied(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    proc = running(state)
    try:
        proc.send_signal(signal.SIGSTOP)  # the main loop stalls: nothing applies requests
        halt = tw(state, "halt", "--reason", "stop now")
        assert halt.returncode == 1 and "not applied" in halt.stderr
        resumed = time.time()
        proc.send_signal(signal.SIGCONT)
        # the daemon runs on (two fresh snapshots: its control check ran many times since);
        # it must not apply what the operator was told did not happen
        assert wait_for(lambda: status(state)["snapshot_ts"] > resumed + 1.5, 30)
        assert status(state)["state"] == "active"
        (req,) = controls(state)
        assert req["status"] == "expired"
    finally:
        proc.send_signal(signal.SIGCONT)
        terminate(proc)


def test_a_stale_reset_never_clears_a_halt_recorded_after_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = running(state)
    try:
        proc.send_signal(signal.SIGSTOP)
        reset = tw(state, "reset", "--all", "--yes", "--wait", "2", "--reason", "old review")
        assert reset.returncode == 1 and "not applied" in reset.stderr, reset.stderr
        proc.send_signal(signal.SIGKILL)  # the stalled daemon is killed by systemd, say
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    # with no daemon, a colleague halts (recorded after the reset was asked)
    halt = tw(state, "halt", "--reason", "new incident", USER="bob")
    assert halt.returncode == 0, halt.stderr
    started = time.time()
    # bot-scoped trips: the demo's breaker trips then leave the whole state ACTIVE, so a halt
    # applied late would show (with every trip halting everything it could not)
    proc = start(state, "run", "--follow", "--no-console", TRADEWARDEN_TRIP_SCOPE="bot")
    try:
        assert wait_for(lambda: status(state).get("daemon_running"), 60)
        # a few snapshots in: the start and its control checks have run
        assert wait_for(lambda: (status(state)["snapshot_ts"] or 0) > started + 1.5, 60)
        # and the loop is still writing them: one taken after this point (no time window,
        # which a loaded machine's slow `tradewarden status` calls could miss)
        now = time.time()
        assert wait_for(lambda: status(state)["snapshot_ts"] > now, 60)
        st = status(state)
        assert st["state"] == "halted" and "new incident" in st["state_reason"]
        assert [r["status"] for r in controls(state)] == ["expired"]
    finally:
        terminate(proc)
