"""The CLI against a running daemon, the demo, and bad input that must stop cleanly."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.integration.daemon.helpers import db, start, status, tw, wait_for

pytestmark = pytest.mark.usefixtures("clean_env")


def test_demo_prints_the_run_and_a_breaker_trip(tmp_path: Path) -> None:
    proc = tw(tmp_path, "run", "--demo")  # --demo uses ./var/demo under the cwd
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Not live because: TRADEWARDEN_MODE=paper: live was not requested" in out
    assert "BUY  trend-btc" in out
    assert "BREAKER TRIPPED: consecutive_losses" in out
    assert "tradewarden reset --reason" in out
    # the trip stops every bot (the seed's rule): the other bot's later signals are refused
    assert "ALL TRADING HALTED" in out and "DENIED SELL trend-eth: halted" in out
    assert "Scenario finished" in out
    assert "Paper-to-live report" in out and "win_rate" in out


def test_halt_and_reset_reach_a_running_daemon_and_sigterm_stops_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = start(
        state,
        "run",
        "--follow",
        "--no-console",
        TRADEWARDEN_MAX_CONSECUTIVE_LOSSES="99",
        MAX_CONSECUTIVE_LOSSES="99",
    )
    try:
        assert wait_for(
            lambda: status(state).get("daemon_running") and (status(state).get("ticks") or 0) > 0,
            60,
        )
        t0 = time.monotonic()
        halt = tw(state, "halt", "--reason", "drill: operator stop")
        assert halt.returncode == 0, halt.stderr
        assert "applied by the running daemon" in halt.stdout
        assert time.monotonic() - t0 < 30  # generous: it must not hang
        st = status(state)
        assert st["state"] == "halted" and "drill" in st["state_reason"]
        reset = tw(state, "reset", "--reason", "drill over", "--all", "--yes")
        assert reset.returncode == 0 and "halt#1" in reset.stdout, reset.stdout + reset.stderr
        assert status(state)["state"] == "active"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    out = proc.stdout.read() if proc.stdout else ""
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert any(entry["msg"] == "daemon ready" for entry in lines)  # JSON logs on stdout
    events = [
        json.loads(x)
        for f in sorted((state / "audit").glob("*.jsonl"))
        for x in f.read_text().splitlines()
    ]
    halts = [e for e in events if e["event"] == "halt"]
    assert halts and halts[0]["actor"] and halts[0]["data"]["reason"] == "drill: operator stop"
    assert events[-1]["event"] == "daemon_stopped"
    assert tw(state, "audit", "verify").returncode == 0


def test_a_second_daemon_on_the_same_state_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = start(state, "run", "--follow", "--no-console")
    try:
        assert wait_for(
            lambda: (state / "daemon.lock").exists() and status(state)["daemon_running"], 60
        )
        second = tw(state, "run", "--no-console")
        assert second.returncode == 1 and "another tradewarden daemon" in second.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("ts,symbol,open,high,low,close,volume\n1,BTCUSDT,1,2,0.5,1.5,x\n", "line 2: volume"),
        ("ts,symbol,open,high,low,close,volume\n1,BTCUSDT,1,2,0.5\n", "line 2: expected 7"),
        ("ts,symbol,open,high,low,close,volume\n1,BTCUSDT,1,0.9,0.5,1.5,1\n", "high/low"),
        ("ts,symbol,open,high,low,close,volume\n1,BTCUSDT,nan,2,0.5,1.5,1\n", "not finite"),
        ("ts,symbol,open,high,low,close,volume\n1,BTCUSDT,-1,2,-2,1.5,1\n", "> 0"),
        ("time,sym\n", "header"),
        (
            "ts,symbol,open,high,low,close,volume\n9,BTCUSDT,1,2,0.5,1.5,1\n1,BTCUSDT,1,2,0.5,1.5,1\n",
            "backwards",
        ),
    ],
)
def test_malformed_scenario_stops_before_any_order(
    tmp_path: Path, content: str, message: str
) -> None:
    scenario = tmp_path / "bad.csv"
    scenario.write_text(content)
    state = tmp_path / "state"
    proc = tw(state, "run", "--no-console", TRADEWARDEN_SCENARIO=str(scenario))
    assert proc.returncode == 2
    assert "TRADEWARDEN_SCENARIO" in proc.stderr and message in proc.stderr
    assert not (state / "tradewarden.sqlite3").exists()  # nothing started, no order placed


def test_corrupt_state_file_is_refused_without_damage(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    garbage = b"this is not a database" * 100
    (state / "tradewarden.sqlite3").write_bytes(garbage)
    proc = tw(state, "run", "--no-console")
    assert proc.returncode == 1 and "state database" in proc.stderr
    assert (state / "tradewarden.sqlite3").read_bytes() == garbage  # no data lost or rewritten
    st = tw(state, "status")
    assert st.returncode == 1 and "state database" in st.stderr


def test_state_schema_old_file_migrated_and_audited_newer_refused(tmp_path: Path) -> None:
    """A state directory written before schema versions opens (migrated, audited once); one
    a newer release migrated is refused by `run` and `status` with exit 2, naming the
    directory and both versions, and is left as it was."""
    from tests.unit.state.test_store_schema import OLD_DDL, dump, old_state_file
    from tradewarden.state.schema import CURRENT_VERSION

    state = tmp_path / "state"
    state.mkdir()
    path = old_state_file(state / "tradewarden.sqlite3", OLD_DDL)
    proc = tw(state, "run", "--no-console")
    assert proc.returncode == 0, proc.stderr
    events = [
        json.loads(line)
        for f in sorted((state / "audit").glob("*.jsonl"))
        for line in f.read_text().splitlines()
    ]
    migrated = [e["data"] for e in events if e["event"] == "state_schema_migrated"]
    assert [(m["version"], m["from_version"]) for m in migrated] == [(1, 0)]
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version={CURRENT_VERSION + 1}")
    con.close()
    before = dump(path)
    for cmd in (["run", "--no-console"], ["status"]):
        proc = tw(state, *cmd)
        assert proc.returncode == 2, (cmd, proc.stderr)
        assert f"state directory {state}" in proc.stderr
        assert f"schema version {CURRENT_VERSION + 1}" in proc.stderr
        assert f"versions 0 to {CURRENT_VERSION}" in proc.stderr
    assert dump(path) == before


def test_locked_state_file_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert tw(state, "run", "--no-console").returncode == 0
    con = sqlite3.connect(state / "tradewarden.sqlite3")
    con.execute("BEGIN EXCLUSIVE")  # another process holds the database
    try:
        proc = tw(state, "reset", "--reason", "x", "--all", "--yes", timeout=120)
        assert proc.returncode == 1 and "locked" in proc.stderr
    finally:
        con.rollback()
        con.close()


def test_tampered_audit_is_reported_and_the_daemon_refuses_to_write_on_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert tw(state, "run", "--no-console").returncode == 0
    (f,) = sorted((state / "audit").glob("*.jsonl"))[-1:]
    text = f.read_text().splitlines(keepends=True)
    text[1] = text[1].replace('"actor":"daemon"', '"actor":"mallory"')
    f.write_text("".join(text))
    proc = tw(state, "audit", "verify")
    assert proc.returncode == 1 and "line 2" in proc.stdout
    with db(state) as con:
        n = con.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
    # the daemon refuses to extend a broken chain
    again = tw(state, "run", "--no-console")
    assert again.returncode == 1 and "audit" in again.stderr
    with db(state) as con:
        assert con.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == n


def test_live_without_its_gates_runs_paper_and_says_why(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = tw(state, "run", "--no-console", TRADEWARDEN_MODE="live", BINANCE_TESTNET="false")
    assert proc.returncode == 0, proc.stderr
    st = json.loads(tw(state, "status", "--json").stdout)
    assert st["mode"] == "paper"
    why = "\n".join(st["why_not_live"])
    for condition in (
        "FINAL_HAMMER=false",
        "BINANCE_TERMS_ACCEPTED=false",
        "TRADEWARDEN_SECRET_SOURCE=env",
    ):
        assert condition in why, why
