"""The behaviours freqtrade and Hummingbot users complain about, replayed against tradewarden.

- freqtrade protections lock at the next candle/loop; ours block the very next order,
  in the same call that booked the losing fill.
- Hummingbot's kill switch polled every 10 s and did not always stop orders; our halt
  reaches a running daemon through a control request and SIGUSR1.
- Hummingbot had no trailing drawdown from peak; ours is measured from the equity peak,
  not from the starting balance.

Several bots sharing one rate budget, and a timeout after accept that must not double the
order: `test_peer_exchange_scenarios.py` (against the fake Binance).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.builders import paper_world
from tests.integration.daemon.helpers import start, status, tw, wait_for
from tradewarden.core.models import OrderRequest, Side, Tick
from tradewarden.risk.breakers import Observation
from tradewarden.risk.reasons import DenyReason

pytestmark = pytest.mark.usefixtures("clean_env")
T0 = 1_767_571_200.0


def world(tmp_path: Path):
    w = paper_world(tmp_path, bots="b1:BTCUSDT:ma_cross", flatten_on_emergency=False)
    return w.settings, w.risk, w.broker, w.gate, w.trader


def test_breaker_blocks_the_very_next_order_not_the_next_candle(tmp_path: Path) -> None:
    settings, risk, broker, gate, trader = world(tmp_path)
    px = 50_000.0
    broker.on_tick(Tick(T0, "BTCUSDT", px, px, px, px, 1))
    trader.refresh_balances()
    # three losing round trips inside ONE candle: buy, price drops, sell
    for i in range(3):
        assert gate.submit(OrderRequest("b1", "BTCUSDT", Side.BUY, 0.01), px).accepted
        trader.process_fills()
        px *= 0.99
        broker.on_tick(Tick(T0, "BTCUSDT", px, px, px, px, 1))  # same candle time
        sell = gate.submit(OrderRequest("b1", "BTCUSDT", Side.SELL, 0.01, directional=False), px)
        assert sell.accepted, i
        trader.process_fills()  # the third losing fill trips the breaker right here
    nxt = gate.submit(OrderRequest("b1", "BTCUSDT", Side.BUY, 0.01), px)
    assert nxt.denied is DenyReason.HALTED  # same candle, no loop iteration in between


def test_drawdown_is_measured_from_the_equity_peak(tmp_path: Path) -> None:
    settings, risk, *_ = world(tmp_path)
    # equity climbs 10k -> 20k, then falls to 14.9k: only 49% above the start, but 25.5%
    # below the peak -> the per-bot drawdown breaker (25%) trips
    for i, eq in enumerate([10_000.0, 15_000.0, 20_000.0, 17_000.0, 14_900.0]):
        trips = risk.observe(Observation("equity", "b1", T0 + i, equity=eq))
    assert [t.breaker for t in trips] == ["bot_drawdown"]


def test_kill_switch_reaches_a_running_daemon_without_a_10s_poll(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = start(state, "run", "--follow", "--no-console", TRADEWARDEN_REPLAY_SPEED="2000")
    try:
        assert wait_for(
            lambda: status(state).get("daemon_running") and (status(state).get("ticks") or 0) > 0,
            60,
        )
        t0 = time.monotonic()
        halt = tw(state, "halt", "--reason", "kill switch")
        elapsed = time.monotonic() - t0
        assert halt.returncode == 0 and "applied by the running daemon" in halt.stdout
        print(
            f"halt applied by the running daemon, CLI round trip {elapsed * 1000:.0f} ms "
            "(Hummingbot's kill switch: polled every 10 s)"
        )
        import json
        import sqlite3
        from datetime import datetime

        entries = [
            json.loads(x)
            for f in sorted((state / "audit").glob("*.jsonl"))
            for x in f.read_text().splitlines()
        ]
        applied = next(e for e in entries if e["event"] == "halt")
        applied_at = datetime.fromisoformat(applied["ts"]).timestamp()
        with sqlite3.connect(state / "tradewarden.sqlite3") as con:
            late = con.execute(
                "SELECT COUNT(*) FROM orders WHERE created_at > ?", (applied_at,)
            ).fetchone()[0]
        assert late == 0  # nothing was placed once the daemon applied the halt
    finally:
        proc.terminate()
        proc.wait(timeout=30)
