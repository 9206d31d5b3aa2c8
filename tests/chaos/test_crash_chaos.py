"""Crash chaos: kill -9 the daemon at random points, restart, and check the invariants after
every cycle. CI runs CHAOS_CYCLES=50 (the default); `make chaos CYCLES=500` runs more.

Invariants per cycle: a trip before the kill is a trip after; SQLite passes integrity_check;
the audit chain verifies; no order is left PENDING/UNKNOWN once the daemon has started again
(each is resolved by asking the broker, never resent); filled orders of each long-only bot
alternate BUY/SELL (a decision acted on twice would show as two BUYs in a row); every
filled order has exactly its fills booked.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.daemon.helpers import env_for, tw
from tradewarden.audit.chain import verify
from tradewarden.scenarios.generate import generate, write

CYCLES = int(os.environ.get("CHAOS_CYCLES", "50"))
pytestmark = pytest.mark.usefixtures("clean_env")


def invariants(state: Path, trips_before: set[tuple[str, str]]) -> dict[str, bool]:
    con = sqlite3.connect(state / "tradewarden.sqlite3", timeout=10)
    try:
        trips = {
            (r[0], r[1]) for r in con.execute("SELECT breaker, bot FROM breakers WHERE tripped=1")
        }
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        alternate = True
        for (bot,) in con.execute("SELECT DISTINCT bot FROM orders").fetchall():
            sides = [
                r[0]
                for r in con.execute(
                    "SELECT side FROM orders WHERE bot=? AND status='FILLED' ORDER BY rowid", (bot,)
                )
            ]
            alternate &= all(a != b for a, b in zip(sides, sides[1:], strict=False))
        fills_match = (
            con.execute(
                "SELECT COUNT(*) FROM orders o WHERE o.status='FILLED' AND"
                " (SELECT COUNT(*) FROM fills f WHERE f.client_order_id=o.client_order_id) != 1"
            ).fetchone()[0]
            == 0
        )
    finally:
        con.close()
    return {
        "trip kept across kill": trips_before <= trips,
        "sqlite integrity_check": integrity,
        "audit chain verifies": verify(state / "audit").ok if (state / "audit").exists() else True,
        "no duplicated decision": alternate,
        "fills booked exactly once": fills_match,
    }, trips


def test_crash_chaos(tmp_path: Path) -> None:
    scenario = tmp_path / "long.csv"
    write(scenario, generate(days=30))
    state = tmp_path / "state"
    env = env_for(
        state,
        TRADEWARDEN_SCENARIO=str(scenario),
        TRADEWARDEN_REPLAY_SPEED="20000",
        MAX_CONSECUTIVE_LOSSES="4",
    )
    rng = random.Random(int(os.environ.get("CHAOS_SEED", "1234")))
    trips: set[tuple[str, str]] = set()
    violations: dict[str, int] = {}
    kills = 0
    for _ in range(CYCLES):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tradewarden.cli.main", "run", "--no-console"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not (state / "tradewarden.sqlite3").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.8))  # anywhere from startup to mid-trading
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        result, trips = invariants(state, trips)
        for name, ok in result.items():
            violations[name] = violations.get(name, 0) + (not ok)
    final = tw(
        state, "run", "--no-console", TRADEWARDEN_SCENARIO=str(scenario), MAX_CONSECUTIVE_LOSSES="4"
    )
    assert final.returncode == 0, final.stderr
    result, trips = invariants(state, trips)
    con = sqlite3.connect(state / "tradewarden.sqlite3")
    unresolved = con.execute(
        "SELECT COUNT(*) FROM orders WHERE status IN ('PENDING','UNKNOWN')"
    ).fetchone()[0]
    orders = con.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
    con.close()
    violations["unresolved orders after restart"] = unresolved
    for name, ok in result.items():
        violations[name] = violations.get(name, 0) + (not ok)
    table = [
        f"| invariant | violations in {CYCLES} cycles ({kills} kills, {orders} orders) |",
        "|---|---|",
    ] + [f"| {k} | {v} |" for k, v in violations.items()]
    print("\n" + "\n".join(table))
    assert kills >= CYCLES // 2, "most cycles must end in a kill, not a clean finish"
    assert all(v == 0 for v in violations.values()), violations
