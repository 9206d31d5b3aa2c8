"""Benchmark: one full pre-trade check, and a paper replay of the scenario.

    uv run --frozen python -m tests.bench.bench_risk

Targets (issue 3): pre-trade check p99 <= 25 us; paper replay >= 20,000 market events/s
with the breakers evaluated on every fill. Baselines measured in the same run: an empty
function call (for the check) and iterating the ticks through the strategies only (for the
replay), so the ratios say what the safety machinery costs on this machine.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.table import row
from tests.builders import LogNotifier
from tradewarden.core.config import Mode, load_settings
from tradewarden.core.models import OrderRequest, Side
from tradewarden.runtime.daemon import Daemon, LiveDecision
from tradewarden.scenarios.generate import generate, write
from tradewarden.strategy.ma_cross import MaCross
from tradewarden.trading.market_data import load_scenario

N_CHECKS = 200_000


def _pct(samples: list[int], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))] / 1000.0


def bench_check(daemon: Daemon) -> dict[str, float]:
    risk = daemon.risk
    risk.set_balances({"USDT": 1e9, "BTC": 1e3})
    req = OrderRequest(bot="trend-btc", symbol="BTCUSDT", side=Side.BUY, qty=0.01, zone=2)
    pc = time.perf_counter_ns
    check = risk.check
    samples = []
    for i in range(N_CHECKS):
        t0 = pc()
        check(req, 50_000.0, float(i))
        samples.append(pc() - t0)
        if len(risk.book.recent_orders) > 1000:
            risk.forget_recent_orders()
    assert check(req, 50_000.0, 0.0) is None, "the benchmarked check must be a passing one"

    def noop(_r: object, _p: float, _n: float) -> None:
        return None

    base = []
    for i in range(N_CHECKS):
        t0 = pc()
        noop(req, 50_000.0, float(i))
        base.append(pc() - t0)
    return {
        "check_median_us": _pct(samples, 0.5),
        "check_p99_us": _pct(samples, 0.99),
        "baseline_call_median_us": _pct(base, 0.5),
        "baseline_call_p99_us": _pct(base, 0.99),
    }


def bench_replay(tmp: Path) -> dict[str, float]:
    scenario = tmp / "bench.csv"
    write(scenario, generate(days=10))
    settings = load_settings(state_dir=tmp / "state", scenario=scenario)
    ticks = load_scenario(scenario, settings.symbols)
    daemon = Daemon(settings, notifier=LogNotifier(), decision=LiveDecision(Mode.PAPER, ["bench"]))
    t0 = time.perf_counter()
    n = daemon.replay(ticks)
    replay_s = time.perf_counter() - t0
    fills = len(daemon.store.fills())
    daemon.close()
    # baseline: the same ticks through the strategies alone (no broker, risk, state, audit)
    strategies = {"BTCUSDT": MaCross(), "ETHUSDT": MaCross()}
    t0 = time.perf_counter()
    for t in ticks:
        strategies[t.symbol].on_tick(t, 0.0)
    base_s = time.perf_counter() - t0
    return {
        "replay_events": n,
        "replay_fills": fills,
        "replay_events_per_s": n / replay_s,
        "baseline_strategy_only_events_per_s": len(ticks) / base_s,
    }


def main() -> int:
    logging.disable(logging.WARNING)  # the alerts of the replay are not the point here
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        settings = load_settings(state_dir=tmp / "check")
        daemon = Daemon(
            settings, notifier=LogNotifier(), decision=LiveDecision(Mode.PAPER, ["bench"])
        )
        c = bench_check(daemon)
        daemon.close()
        r = bench_replay(tmp)
    print("## bench_risk")
    print(
        f"pre-trade check: median {c['check_median_us']:.2f} us, p99 {c['check_p99_us']:.2f} us "
        f"(target p99 <= 25 us); empty call median {c['baseline_call_median_us']:.2f} us "
        f"-> ratio {c['check_median_us'] / max(c['baseline_call_median_us'], 1e-3):.1f}x"
    )
    print(
        f"paper replay: {r['replay_events']} events, {r['replay_fills']} fills, "
        f"{r['replay_events_per_s']:,.0f} events/s (target >= 20,000); strategies alone "
        f"{r['baseline_strategy_only_events_per_s']:,.0f} events/s -> ratio "
        f"{r['baseline_strategy_only_events_per_s'] / r['replay_events_per_s']:.2f}x"
    )
    ok = c["check_p99_us"] <= 25 and r["replay_events_per_s"] >= 20_000
    row(
        "pre-trade check p99",
        f"{c['check_p99_us']:.2f} µs (median {c['check_median_us']:.2f} µs)",
        "≤ 25 µs",
        f"empty call {c['baseline_call_median_us']:.2f} µs → "
        f"{c['check_median_us'] / max(c['baseline_call_median_us'], 1e-3):.0f}×",
        c["check_p99_us"] <= 25,
    )
    row(
        "paper replay",
        f"{r['replay_events_per_s']:,.0f} events/s",
        "≥ 20,000 events/s",
        f"strategies alone {r['baseline_strategy_only_events_per_s']:,.0f}/s → "
        f"{r['baseline_strategy_only_events_per_s'] / r['replay_events_per_s']:.1f}×",
        r["replay_events_per_s"] >= 20_000,
    )
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
