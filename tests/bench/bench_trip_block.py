"""Benchmark: trip-to-orders-blocked — the fill that trips a breaker -> the next order refused.

    uv run --frozen python -m tests.bench.bench_trip_block

In-process, through the daemon's own wiring (`Daemon`: trader, order gate, risk engine,
SQLite state, hash-chained audit log, the alert outbox of the real dispatcher): the timed
span starts when the losing fill is handed to `Trader.process_fills` and ends when the
next `OrderGate.submit` returns refused. In between: the fill booked, the round trip
recorded, the consecutive-losses breaker evaluated and tripped (committed), open orders
cancelled, the trip audited (fsync) and its critical alert committed to the outbox.
Measured with the paper state (no fsync per commit) and with the testnet/live state
(``synchronous=FULL``: every commit fsynced). Baseline in the same run: one pre-trade
check (what every order pays anyway). No target in the issue beyond "the very next order";
the figures say what it costs.
"""

from __future__ import annotations

import io
import logging
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.table import row
from tradewarden.alerts.factory import build_dispatcher
from tradewarden.core.config import Mode, load_settings
from tradewarden.core.models import OrderRequest, Side, Tick
from tradewarden.risk.engine import ResetScope
from tradewarden.risk.reasons import DenyReason
from tradewarden.runtime.daemon import Daemon, LiveDecision
from tradewarden.trading.paper_broker import PaperBroker

TRIPS = 200
CHECKS = 20_000
T0 = 1_767_571_200.0


def filesystem_of(path: Path) -> str:
    """The mount type under `path` (fsync cost depends on it), from /proc/mounts."""
    best, kind = "", "unknown"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return kind
    target = str(path.resolve())
    for line in mounts:
        parts = line.split()
        if len(parts) >= 3 and target.startswith(parts[1]) and len(parts[1]) > len(best):
            best, kind = parts[1], parts[2]
    return kind


def _pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))]


def bench(tmp: Path, mode: Mode) -> dict[str, float]:
    settings = load_settings(
        state_dir=tmp / mode.value,
        bots=("b1:BTCUSDT:ma_cross",),
        symbols=("BTCUSDT",),
        max_consecutive_losses=1,
        max_orders_per_minute=100_000,
    )
    dispatcher = build_dispatcher(
        settings, {}, settings.db_path, console=True, console_stream=io.StringIO()
    )  # enqueue only, as on the order path (delivery is a background thread)
    broker = PaperBroker({"USDT": 1e9})
    d = Daemon(settings, notifier=dispatcher, decision=LiveDecision(mode, ["bench"]), broker=broker)
    gate, trader, risk = d.gate, d.trader, d.risk
    px = 50_000.0
    ts = T0
    samples: list[float] = []
    try:
        for i in range(TRIPS):
            risk.reset(f"bench {i}", "bench", ResetScope(all=True))
            ts += 60
            broker.on_tick(Tick(ts, "BTCUSDT", px, px, px, px, 1))
            trader.refresh_balances()
            assert gate.submit(OrderRequest("b1", "BTCUSDT", Side.BUY, 0.01), px).accepted
            trader.process_fills()
            low = px * 0.99
            broker.on_tick(Tick(ts + 1, "BTCUSDT", low, low, low, low, 1))
            sell = OrderRequest("b1", "BTCUSDT", Side.SELL, 0.01, directional=False)
            assert gate.submit(sell, low).accepted  # its losing fill waits in the broker
            t0 = time.perf_counter()
            trader.process_fills()  # books the fill: the breaker trips in here
            nxt = gate.submit(OrderRequest("b1", "BTCUSDT", Side.BUY, 0.01), low)
            t1 = time.perf_counter()
            assert nxt.denied is DenyReason.HALTED, nxt  # a trip stops every bot (default)
            samples.append((t1 - t0) * 1e6)
        # baseline: one passing pre-trade check, on the same engine
        risk.reset("bench baseline", "bench", ResetScope(all=True))
        trader.refresh_balances()
        req = OrderRequest("b1", "BTCUSDT", Side.BUY, 0.01, zone=2)
        assert risk.check(req, px, 0.0) is None
        base = []
        for i in range(CHECKS):
            c0 = time.perf_counter()
            risk.check(req, px, float(i))
            base.append((time.perf_counter() - c0) * 1e6)
            risk.forget_recent_orders()
    finally:
        d.close()
        dispatcher.close(0)
    return {
        "p50": _pct(samples, 0.5),
        "p99": _pct(samples, 0.99),
        "base_p50": _pct(base, 0.5),
        "base_p99": _pct(base, 0.99),
    }


def main() -> int:
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        results = {m: bench(tmp, m) for m in (Mode.PAPER, Mode.TESTNET)}
        fs = filesystem_of(tmp)
    print("## bench_trip_block")
    print(
        f"trip-to-orders-blocked over {TRIPS} trips (losing fill in -> next order refused),"
        f" state on {fs}:"
    )
    print("| state | p50 | p99 | baseline: 1 pre-trade check p50 / p99 | ratio p50 |")
    print("|---|---|---|---|---|")
    for mode, r in results.items():
        label = "paper (no fsync)" if mode is Mode.PAPER else "testnet/live (fsync per commit)"
        print(
            f"| {label} | {r['p50'] / 1000:.2f} ms | {r['p99'] / 1000:.2f} ms |"
            f" {r['base_p50']:.1f} / {r['base_p99']:.1f} us | {r['p50'] / r['base_p50']:,.0f}x |"
        )
    print(
        "Every sample blocked the very next order (asserted); there is no loop iteration or"
        " candle between the trip and the refusal."
    )
    for mode, r in results.items():
        row(
            f"trip-to-orders-blocked, {mode.value} state (fill in → next order refused)",
            f"p50 {r['p50'] / 1000:.2f} ms, p99 {r['p99'] / 1000:.2f} ms",
            "the very next order",
            f"1 pre-trade check p50 {r['base_p50']:.1f} µs → {r['p50'] / r['base_p50']:,.0f}×",
            True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
