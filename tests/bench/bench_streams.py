"""Benchmark: the event-driven exchange (issue 19) against the polling loop, same run.

    uv run --frozen python -m tests.bench.bench_streams

Both modes run the daemon's own parts against the fake Binance (tests/fakes/binance, its
REST and WebSocket streams on one local port), in this process, one after the other:
`Daemon` (trader, order gate, risk engine, SQLite state with fsync, audit log, alert
outbox), `BinanceBroker` over HTTP, `ExchangeLoop` and, with streams, the user data and
market streams (`open_exchange_streams`). The loop body is driven here, step for step as
`ExchangeLoop.run` does it (streams: `_await` the inbox, `stream_round`, housekeeping;
polling: `round`, housekeeping, `_pause` for TRADEWARDEN_POLL_INTERVAL_SECONDS = 1 s, the
default), so the bench can set a scene (reset, orders) between samples. The bot's
strategy is a probe that records when it is asked to decide and never trades.

a. fill -> breaker trip -> new orders refused. Scene: the bot bought 0.01 BTC at 30,000,
   the price fell to 29,000, its SELL LIMIT at 29,500 rests on the book;
   TRADEWARDEN_MAX_CONSECUTIVE_LOSSES=1. A timer thread, at a random phase of the loop
   (0-1 s), moves the fake's price to 29,500: the fake fills the order inside that call.
   Timed from just before that call to the end of the loop step that booked the fill (the
   breaker tripped, open orders cancelled, the trip audited and alerted, the state
   committed) with the next `OrderGate.submit` refused HALTED (asserted each sample); and
   to the trip itself (the first trip hook: the state is HALTED from there on). Most of the
   span is the daemon's own fsync'd booking and trip actions, the same in both modes
   (bench_trip_block); the stream's delivery is a few ms of it.
b. price change -> decision: a timer at a random phase moves the price; timed to the
   strategy's `on_tick` with that price. Streams: on the closed 1 s kline (the strategies
   decide on closed klines only; TRADEWARDEN_KLINE_INTERVAL=1s here, 1m by default, where
   the wait for the close is up to a minute by design); polling: on the next ticker poll.
   The kline's delivery alone (its close time on the exchange -> the decision) is given too.
c. steady-state REST weight per minute, two symbols, no order open: `tradewarden run`
   processes (one per mode, side by side, each with its own fake), the fake's request log
   (each request's Binance weight) over whole reconciliation cycles. Every interval is
   compressed 10x (poll 0.1 s, reconcile 3 s, streams' quiet reconcile 12 s, clock check
   12 s) and the weight scaled back to the default cadence; the hourly account-wide open
   orders of the streams mode (+74) is added (it does not fall in the window).
"""

from __future__ import annotations

import io
import logging
import math
import random
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench.table import row
from tests.fakes.binance import FakeBinance
from tests.integration.daemon.helpers import wait_for
from tests.integration.testnet.conftest import KEY, SECRET, SPEC, Running
from tradewarden.alerts.factory import build_dispatcher
from tradewarden.core.config import Mode, Settings, load_settings
from tradewarden.core.models import OrderRequest, OrderType, Side, Tick
from tradewarden.exchange import BinanceBroker
from tradewarden.risk.engine import ResetScope
from tradewarden.risk.reasons import DenyReason
from tradewarden.runtime.daemon import Daemon, LiveDecision
from tradewarden.runtime.exchange_loop import STREAM_IDLE_S, ExchangeLoop, MetricsBridge
from tradewarden.runtime.metrics import Metrics
from tradewarden.runtime.wiring import open_exchange_streams
from tradewarden.secrets.value import Secret
from tradewarden.state.store import Store
from tradewarden.strategy.base import Signal, Strategy

TRIPS = 30  # per mode
PRICES = 30  # per mode
P0, P1, P_FILL = 30_000.0, 29_000.0, 29_500.0
QTY = 0.01
TRIP_TARGET_MS = 50.0
BUDGET = 6000.0
WEIGHT_TARGET = 0.01 * BUDGET
SCALE = 10.0  # (c): every interval compressed this much
FULL_SWEEP_EXTRA_PER_MIN = (80 - 6) / 60.0  # streams: the hourly account-wide openOrders


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, math.ceil(q * len(s)) - 1)]


class Probe(Strategy):
    """Records each decision it is asked for (monotonic, wall, close); never trades."""

    name = "bench_probe"

    def __init__(self) -> None:
        self.seen: list[tuple[float, float, Tick]] = []

    def on_tick(self, tick: Tick, position_qty: float) -> Signal | None:
        self.seen.append((time.monotonic(), time.time(), tick))
        return None


@dataclass
class Rig:
    """One in-process daemon on the fake, in one mode, and the loop body driven here."""

    streams: bool
    fx: FakeBinance
    tmp: Path
    d: Daemon = field(init=False)
    loop: ExchangeLoop = field(init=False)
    probe: Probe = field(init=False)

    def __post_init__(self) -> None:
        mode = "streams" if self.streams else "polling"
        self.settings: Settings = load_settings(
            mode=Mode.TESTNET,
            binance_base_url=self.fx.url,
            state_dir=self.tmp / mode,
            symbols=("BTCUSDT",),
            bots=("b1:BTCUSDT:ma_cross",),
            streams="on" if self.streams else "off",
            kline_interval="1s",
            stream_stale_seconds=5.0,
            stream_reconnect_max_seconds=1.0,
            max_consecutive_losses=1,
            max_orders_per_minute=10_000,
            recv_window_ms=5000,
            request_timeout_seconds=5.0,
        )
        self.dispatcher = build_dispatcher(
            self.settings, {}, self.settings.db_path, console=True, console_stream=io.StringIO()
        )

        def make(store: Store, metrics: Metrics) -> BinanceBroker:
            return BinanceBroker(
                self.settings,
                store,
                lambda: (Secret(KEY, "api_key"), Secret(SECRET, "api_secret")),
                metrics=MetricsBridge(metrics),
                request_timeout_s=self.settings.request_timeout_seconds,
            )

        self.d = Daemon(
            self.settings,
            notifier=self.dispatcher,
            decision=LiveDecision(Mode.TESTNET, ["bench"]),
            make_broker=make,
        )
        self.probe = Probe()
        self.tripped: list[float] = []  # when a breaker tripped: the first trip hook runs
        self.d.risk.hooks.on_trip.insert(0, lambda trip: self.tripped.append(time.monotonic()))
        for bot in self.d.bots:
            bot.strategy = self.probe
        broker = self.d.exchange_broker
        assert isinstance(broker, BinanceBroker)
        self.loop = ExchangeLoop(self.d, broker)
        self.loop.start()
        if self.streams:
            self.loop.attach_streams(open_exchange_streams(self.d, broker), broker)
            assert self.settle(lambda: self.loop.fallback is None, 30), self.loop.fallback

    def close(self) -> None:
        if self.loop.streams is not None:
            self.loop.streams.stop()
        self.d.close()
        self.dispatcher.close(0)

    # --- the loop body, as ExchangeLoop.run / _run_streams run it ---------------------------
    def step(self) -> None:
        """One turn of the loop, its wait first (the same cycle as the loop's: round,
        housekeeping, wait), so the caller looks at the state right after a round."""
        if self.streams:
            self.loop._await(STREAM_IDLE_S if self.loop.fallback is None else 1.0)
            self.loop.stream_round()
        else:
            self.loop._pause(self.settings.poll_interval_seconds)
            self.loop.round()
        self.d.housekeeping()

    def settle(self, done: Callable[[], bool], timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return True
            self.step()
        return done()

    # --- (a) --------------------------------------------------------------------------------
    def scene(self) -> None:
        """Bought at P0, price at P1, a SELL LIMIT at P_FILL resting: its fill is a loss."""
        d = self.d
        d.risk.reset("bench", "bench", ResetScope(all=True))
        self.fx.set_price("BTCUSDT", P0)
        assert self.settle(lambda: d.trader.prices.get("BTCUSDT") == P0)
        d.trader.refresh_balances()
        buy = d.gate.submit(OrderRequest("b1", "BTCUSDT", Side.BUY, QTY), P0)
        assert buy.accepted, buy
        held = lambda: d.trader.ledger.tradable("b1")  # noqa: E731
        assert self.settle(lambda: held() > 0 and not d.store.open_orders()), "buy not booked"
        self.fx.set_price("BTCUSDT", P1)
        assert self.settle(lambda: d.trader.prices.get("BTCUSDT") == P1)
        qty = math.floor(held() / SPEC["step"]) * SPEC["step"]
        sell = OrderRequest(
            "b1",
            "BTCUSDT",
            Side.SELL,
            round(qty, 5),
            order_type=OrderType.LIMIT,
            price=P_FILL,
            directional=False,
        )
        res = d.gate.submit(sell, P1)
        assert res.accepted, res
        assert [o.status.value for o in d.store.open_orders()] == ["NEW"], d.store.open_orders()

    def one_trip(self) -> tuple[float, float]:
        """(fill -> the round done and the next order refused, fill -> the trip), ms."""
        self.scene()
        self.tripped.clear()
        t0: list[float] = []

        def fill() -> None:
            t0.append(time.monotonic())
            self.fx.set_price("BTCUSDT", P_FILL)  # the resting sell fills in here

        timer = threading.Timer(random.uniform(0.0, 1.0), fill)  # noqa: S311 - a phase
        timer.start()
        try:
            deadline = time.monotonic() + 30
            while self.d.risk.state.label != "halted":
                assert time.monotonic() < deadline, "no trip within 30 s"
                self.step()
            nxt = self.d.gate.submit(OrderRequest("b1", "BTCUSDT", Side.BUY, QTY), P_FILL)
            t1 = time.monotonic()
        finally:
            timer.join()
        assert nxt.denied is DenyReason.HALTED, nxt
        assert t0, "halted before the fill"
        assert len(self.tripped) == 1, self.tripped
        return (t1 - t0[0]) * 1000.0, (self.tripped[0] - t0[0]) * 1000.0

    # --- (b) --------------------------------------------------------------------------------
    def one_price(self, n: int) -> tuple[float, float | None]:
        """(price change -> decision on it, ms; for streams the kline's close -> decision)."""
        price = round(P0 + 1 + n * 0.37, 2)
        seen = len(self.probe.seen)
        t0: list[float] = []

        def move() -> None:
            t0.append(time.monotonic())
            self.fx.set_price("BTCUSDT", price)

        timer = threading.Timer(random.uniform(0.0, 1.0), move)  # noqa: S311 - a phase
        timer.start()
        try:
            hit = None
            deadline = time.monotonic() + 30
            while hit is None:
                assert time.monotonic() < deadline, "no decision within 30 s"
                self.step()
                hit = next((s for s in self.probe.seen[seen:] if s[2].close == price), None)
        finally:
            timer.join()
        mono, wall, tick = hit
        delivery = (wall - (tick.ts + 1.0)) * 1000.0 if self.streams else None
        return (mono - t0[0]) * 1000.0, delivery


def run_rig(streams: bool, tmp: Path) -> dict[str, list[float]]:
    with FakeBinance(
        api_key=KEY,
        api_secret=SECRET,
        symbols={"BTCUSDT": SPEC},
        balances={"USDT": 100_000.0, "BTC": 0.0},
    ) as fx:
        fx.set_price("BTCUSDT", P0)
        rig = Rig(streams, fx, tmp)
        try:
            trips = [rig.one_trip() for _ in range(TRIPS)]
            rig.d.risk.reset("bench", "bench", ResetScope(all=True))
            rig.fx.set_price("BTCUSDT", P0)
            prices = [rig.one_price(n) for n in range(PRICES)]
        finally:
            rig.close()
    return {
        "trip": [t[0] for t in trips],
        "tripped": [t[1] for t in trips],
        "decision": [p[0] for p in prices],
        "delivery": [p[1] for p in prices if p[1] is not None],
    }


# --- (c) ----------------------------------------------------------------------------------
TWO = {
    "TRADEWARDEN_SYMBOLS": "BTCUSDT,ETHUSDT",
    "TRADEWARDEN_BOTS": "b1:BTCUSDT:ma_cross,b2:ETHUSDT:ma_cross",
    "TRADEWARDEN_POLL_INTERVAL_SECONDS": str(1.0 / SCALE),
    "TRADEWARDEN_RECONCILE_INTERVAL_SECONDS": str(30.0 / SCALE),
    "TRADEWARDEN_STREAM_RECONCILE_INTERVAL_SECONDS": str(120.0 / SCALE),
    "TRADEWARDEN_CLOCK_CHECK_SECONDS": str(120.0 / SCALE),
    "TRADEWARDEN_KLINE_INTERVAL": "1m",
    "TRADEWARDEN_STREAM_STALE_SECONDS": "10",
}
CYCLES = {"streams": 5, "polling": 20}  # whole reconciliation cycles measured (~60 s each)


def cycles_weight(fx: FakeBinance, since: int, n: int) -> tuple[float, float, dict[str, int]]:
    """(weight, seconds, weight by path) from one reconciliation's exchangeInfo to the one
    `n` cycles later, skipping the first after `since` (a cycle starting mid-way)."""

    def infos() -> list[int]:
        log = fx.requests()
        return [i for i in range(since, len(log)) if log[i]["path"] == "/api/v3/exchangeInfo"]

    assert wait_for(lambda: len(infos()) >= n + 2, timeout=600), "too few reconciliations"
    a, b = infos()[1], infos()[n + 1]
    log = fx.requests()
    window = log[a:b]
    by_path: dict[str, int] = {}
    for r in window:
        by_path[r["path"]] = by_path.get(r["path"], 0) + int(r["weight"])
    return float(sum(by_path.values())), (log[b]["ts"] - log[a]["ts"]) / 1000.0, by_path


def weights(tmp: Path) -> dict[str, tuple[float, float, dict[str, int]]]:
    eth = {**SPEC, "price": 2000.0, "step": 0.0001, "min_qty": 0.0001}
    fakes = {
        m: FakeBinance(
            api_key=KEY,
            api_secret=SECRET,
            symbols={"BTCUSDT": SPEC, "ETHUSDT": eth},
            balances={"USDT": 10_000.0, "BTC": 0.0, "ETH": 0.0},
        )
        for m in ("streams", "polling")
    }
    out: dict[str, tuple[float, float, dict[str, int]]] = {}
    procs: dict[str, Running] = {}
    try:
        for m, fx in fakes.items():
            fx.start()
            procs[m] = Running(
                tmp / f"weight-{m}",
                fx,
                **TWO,
                TRADEWARDEN_STREAMS="on" if m == "streams" else "off",
            )
        for proc in procs.values():
            proc.wait_ready()
        time.sleep(5)  # streams connected, the reconciliation after connect done
        marks = {m: len(fx.requests()) for m, fx in fakes.items()}
        for m, fx in fakes.items():
            out[m] = cycles_weight(fx, marks[m], CYCLES[m])
            assert not fx.open_orders(), "no order: the steady state"
            if m == "streams":  # healthy all along: the fallback would poll the ticker
                assert "/api/v3/ticker/price" not in out[m][2], out[m][2]
    finally:
        for proc in procs.values():
            proc.stop(signal.SIGKILL)
        for fx in fakes.values():
            fx.stop()
    return out


def main() -> int:
    logging.disable(logging.WARNING)
    random.seed(19)
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for streams in (True, False):
            results["streams" if streams else "polling"] = run_rig(streams, tmp)
        wt = weights(tmp)
    s, p = results["streams"], results["polling"]
    per_min = {m: w / secs * 60.0 / SCALE for m, (w, secs, _) in wt.items()}
    per_min["streams"] += FULL_SWEEP_EXTRA_PER_MIN
    print("## bench_streams")
    print(
        f"(a) exchange fill -> breaker trip -> next order refused, {TRIPS} trips per mode;"
        f" (b) price change -> decision, {PRICES} per mode; random phase (0-1 s):"
    )
    print("| | streams p50 | streams p95 | polling (1 s) p50 | polling p95 | p95 ratio |")
    print("|---|---|---|---|---|---|")
    for key, label in (
        ("trip", "(a) fill → trip → next order refused (round done)"),
        ("tripped", "(a) of which: fill → breaker tripped (state HALTED)"),
        ("decision", "(b) price → decision"),
    ):
        sp50, sp95, pp50, pp95 = (
            pct(s[key], 0.5),
            pct(s[key], 0.95),
            pct(p[key], 0.5),
            pct(p[key], 0.95),
        )
        print(
            f"| {label} | {sp50:.1f} ms | {sp95:.1f} ms | {pp50:.1f} ms | {pp95:.1f} ms |"
            f" {pp95 / sp95:.1f}x |"
        )
    dl50, dl95 = pct(s["delivery"], 0.5), pct(s["delivery"], 0.95)
    print(f"| (b) streams: 1 s kline close → decision | {dl50:.1f} ms | {dl95:.1f} ms | | | |")
    print()
    print("(c) steady-state REST weight, two symbols, no order open (cadence compressed 10x):")
    print("| mode | weight/min at default cadence | % of 6000 | measured window | by endpoint |")
    print("|---|---|---|---|---|")
    for m, (w, secs, by_path) in wt.items():
        paths = ", ".join(f"{k.rsplit('/', 1)[-1]} {v}" for k, v in sorted(by_path.items()))
        print(
            f"| {m} | {per_min[m]:.1f} | {per_min[m] / BUDGET:.2%} | {w:.0f} weight in"
            f" {secs:.1f} s | {paths} |"
        )
    trip_ok = pct(s["trip"], 0.95) <= TRIP_TARGET_MS
    row(
        "fill on the exchange → breaker trip → next order refused, p95 (in-process daemon on"
        " the fake, fsync state; streams vs polling at 1 s)",
        f"streams p95 {pct(s['trip'], 0.95):.1f} ms (p50 {pct(s['trip'], 0.5):.1f}; tripped"
        f" p95 {pct(s['tripped'], 0.95):.1f})",
        f"≤ {TRIP_TARGET_MS:.0f} ms with streams",
        f"polling p95 {pct(p['trip'], 0.95):.0f} ms (p50 {pct(p['trip'], 0.5):.0f}) →"
        f" {pct(p['trip'], 0.95) / pct(s['trip'], 0.95):.0f}×",
        trip_ok,
    )
    row(
        "price change on the exchange → strategy decision, p95 (streams: on the closed 1 s"
        " kline; polling: next ticker poll)",
        f"streams p95 {pct(s['decision'], 0.95):.0f} ms (kline close → decision p95 {dl95:.1f} ms)",
        "streams: the candle's close (1 s klines here, 1 m default); polling: ≤ 1 poll",
        f"polling p95 {pct(p['decision'], 0.95):.0f} ms →"
        f" {pct(p['decision'], 0.95) / pct(s['decision'], 0.95):.1f}×",
        True,
    )
    weight_ok = per_min["streams"] < WEIGHT_TARGET
    row(
        "steady-state REST weight, two symbols, no order open (measured at 10× cadence,"
        " scaled; streams + hourly full sweep)",
        f"streams {per_min['streams']:.1f} weight/min ({per_min['streams'] / BUDGET:.2%})",
        f"< {WEIGHT_TARGET:.0f}/min (1% of 6000)",
        f"polling {per_min['polling']:.0f} weight/min ({per_min['polling'] / BUDGET:.1%}) →"
        f" {per_min['polling'] / per_min['streams']:.0f}×",
        weight_ok,
    )
    ok = trip_ok and weight_ok
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
