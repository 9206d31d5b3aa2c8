"""Breaker trips survive a process restart and a kill -9; only `reset` clears them."""

from __future__ import annotations

import json
import random
import signal
from pathlib import Path

import pytest

from tests.integration.daemon.helpers import db, start, status, tw, wait_for
from tradewarden.scenarios.generate import generate, write

pytestmark = pytest.mark.usefixtures("clean_env")


def test_trip_is_sticky_across_a_process_restart_until_reset(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = tw(state, "run", "--no-console")
    assert first.returncode == 0, first.stderr
    st = status(state)
    tripped = {(t["breaker"], t["bot"]) for t in st["trips"]}
    assert ("consecutive_losses", "trend-btc") in tripped
    assert st["bots"]["trend-btc"] == "halted"

    # a second process on the same state: resumes halted, and the halted bot places nothing
    with db(state) as con:
        before = con.execute("SELECT COUNT(*) FROM orders WHERE bot='trend-btc'").fetchone()[0]
    scenario = tmp_path / "more.csv"
    write(scenario, generate(days=3))  # same start, one more day: replay resumes after day 2
    second = tw(state, "run", "--no-console", TRADEWARDEN_SCENARIO=str(scenario))
    assert second.returncode == 0, second.stderr
    with db(state) as con:
        after = con.execute("SELECT COUNT(*) FROM orders WHERE bot='trend-btc'").fetchone()[0]
        denied = con.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
    assert after == before and denied > 0
    assert status(state)["bots"]["trend-btc"] == "halted"

    # status never clears anything; reset does, and is recorded with who and why
    reset = tw(state, "reset", "--reason", "reviewed losses; strategy fine", "--all", "--yes")
    assert reset.returncode == 0, reset.stderr
    assert "consecutive_losses:trend-btc" in reset.stdout
    st = status(state)
    assert st["trips"] == [] and st["state"] == "active"
    with db(state) as con:
        row = con.execute("SELECT actor, reason FROM resets").fetchone()
    assert "reviewed losses" in row["reason"] and row["actor"]
    verify = tw(state, "audit", "verify")
    assert verify.returncode == 0, verify.stdout
    events = [
        json.loads(line)["event"]
        for f in sorted((state / "audit").glob("*.jsonl"))
        for line in f.read_text().splitlines()
    ]
    assert "breaker_tripped" in events and "reset" in events


def test_reset_requires_a_reason(tmp_path: Path) -> None:
    proc = tw(tmp_path / "s", "reset", "--reason", "  ")
    assert proc.returncode == 2 and "reason" in proc.stderr
    proc = tw(tmp_path / "s", "reset")
    assert proc.returncode == 2 and "--reason" in proc.stderr


def test_kill_9_keeps_trips_and_never_duplicates_orders(tmp_path: Path) -> None:
    scenario = tmp_path / "long.csv"
    write(scenario, generate(days=12))
    rng = random.Random(7)
    state = tmp_path / "state"
    # ~7 s per full replay, so every kill lands mid-run
    env = {"TRADEWARDEN_SCENARIO": str(scenario), "TRADEWARDEN_REPLAY_SPEED": "5000"}
    trips_seen: set[tuple[str, str]] = set()
    for _cycle in range(4):
        proc = start(state, "run", "--no-console", **env)
        # let it trade for a random while, then kill it without warning
        wait_for(lambda: (state / "tradewarden.sqlite3").exists(), 30)
        wait_for(lambda: False, rng.uniform(0.3, 1.5))
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL, "the run ended before it was killed"
        with db(state) as con:
            now = {
                (r[0], r[1])
                for r in con.execute("SELECT breaker, bot FROM breakers WHERE tripped=1")
            }
        assert trips_seen <= now, "a trip recorded before the kill was lost"
        trips_seen = now
    final = tw(state, "run", "--no-console", **env)
    assert final.returncode == 0, final.stderr
    with db(state) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # long-only strategy: filled orders of a bot alternate BUY, SELL, BUY... A decision
        # acted on twice after a restart would show as two BUYs (or SELLs) in a row.
        for bot in ("trend-btc", "trend-eth"):
            sides = [
                r[0]
                for r in con.execute(
                    "SELECT side FROM orders WHERE bot=? AND status='FILLED' ORDER BY rowid", (bot,)
                )
            ]
            assert all(a != b for a, b in zip(sides, sides[1:], strict=False)), (bot, sides)
        pending = con.execute(
            "SELECT COUNT(*) FROM orders WHERE status IN ('PENDING','UNKNOWN')"
        ).fetchone()[0]
        fills = con.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
        filled = con.execute("SELECT COUNT(*) FROM orders WHERE status='FILLED'").fetchone()[0]
        now = {
            (r[0], r[1]) for r in con.execute("SELECT breaker, bot FROM breakers WHERE tripped=1")
        }
    assert trips_seen <= now
    assert fills == filled  # every filled order booked exactly once
    assert pending == 0  # every order left in flight by a kill was resolved at restart
    assert tw(state, "audit", "verify").returncode == 0
