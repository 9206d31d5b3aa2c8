"""REST weight of the event-driven loop (issue 19): with both streams healthy and no order
of ours open, reconciliation runs every TRADEWARDEN_STREAM_RECONCILE_INTERVAL_SECONDS and
lists open orders per symbol (weight 6 each, not the account-wide 80); the polling loop
keeps its cadence and weights; an order not ours is still caught between two quiet runs,
on a traded symbol and on one we do not trade (the stream's report brings a full run
forward). `tests/bench/bench_streams.py` measures the weight per minute of both modes."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.daemon.helpers import readyz, wait_for
from tests.integration.testnet.conftest import KEY, SECRET, SPEC, Running

ETH = {**SPEC, "price": 2000.0, "step": 0.0001, "min_qty": 0.0001}
TWO = {
    "TRADEWARDEN_SYMBOLS": "BTCUSDT,ETHUSDT",
    "TRADEWARDEN_BOTS": "b1:BTCUSDT:ma_cross,b2:ETHUSDT:ma_cross",
}
STREAMS = {
    "TRADEWARDEN_STREAMS": "on",
    "TRADEWARDEN_KLINE_INTERVAL": "1m",  # flat prices, no decision moves anything anyway
    "TRADEWARDEN_STREAM_STALE_SECONDS": "10",  # 1m klines are sent every 2 s
    "TRADEWARDEN_STREAM_RECONNECT_MAX_SECONDS": "1",
}
DEFAULT_STREAM_INTERVAL_S = 120.0  # the setting's default, what the budget is about
BUDGET_PER_MIN = 6000.0


@pytest.fixture()
def flat(clean_env: None) -> Iterator[FakeBinance]:
    """BTCUSDT and ETHUSDT at constant prices: no signal, no order, a steady state."""
    with FakeBinance(
        api_key=KEY,
        api_secret=SECRET,
        symbols={"BTCUSDT": SPEC, "ETHUSDT": ETH},
        balances={"USDT": 10_000.0, "BTC": 0.0, "ETH": 0.0},
    ) as fake:
        yield fake


@pytest.fixture()
def run(tmp_path: Path, flat: FakeBinance) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(**extra: str) -> Running:
        r = Running(tmp_path / f"state{len(started)}", flat, **extra)
        started.append(r)
        return r

    yield start
    for r in started:
        r.stop(signal.SIGKILL)


def healthy(port: int) -> bool:
    s = readyz(port)[1]["streams"]
    return bool(s["user"]["connected"] and s["market"]["connected"] and not s["fallback"])


def halted(port: int) -> bool:
    code, body = readyz(port)
    return code == 503 and any("HALTED" in r for r in body["reasons"])


def infos(fx: FakeBinance, since: int) -> list[int]:
    """Indexes (in the request log) of the exchangeInfo requests from `since` on: one per
    reconciliation (the daemon loads it first in each run)."""
    return [
        i for i, r in enumerate(fx.requests()) if i >= since and r["path"] == "/api/v3/exchangeInfo"
    ]


def full_runs(fx: FakeBinance) -> int:
    """Reconciliations that listed the whole account's open orders (weight 80)."""
    return sum(r["path"] == "/api/v3/openOrders" and r["weight"] == 80 for r in fx.requests())


def one_cycle(fx: FakeBinance, since: int) -> tuple[list[dict[str, Any]], float]:
    """The requests from one reconciliation up to the next one (a whole cycle of the steady
    state, whatever else ran in it) and its length in seconds (request log, ms)."""
    assert wait_for(lambda: len(infos(fx, since)) >= 3, timeout=90), "no three reconciliations"
    a, b = infos(fx, since)[1:3]
    log = fx.requests()
    return log[a:b], (log[b]["ts"] - log[a]["ts"]) / 1000.0


def test_steady_state_weight_with_streams_is_under_one_percent(
    flat: FakeBinance, run: Callable[..., Running]
) -> None:
    d = run(
        **TWO,
        **STREAMS,
        TRADEWARDEN_RECONCILE_INTERVAL_SECONDS="1",
        TRADEWARDEN_STREAM_RECONCILE_INTERVAL_SECONDS="4",
    )
    port = d.wait_ready()
    assert wait_for(lambda: healthy(port), timeout=30)
    cycle, seconds = one_cycle(flat, len(flat.requests()))
    assert healthy(port) and not halted(port)
    assert seconds >= 3.0, f"a quiet reconciliation every {seconds:.1f}s, not every 4 s"
    open_orders = [r["weight"] for r in cycle if r["path"] == "/api/v3/openOrders"]
    assert open_orders == [6, 6], f"per symbol, not account-wide: {open_orders}"
    assert not [r for r in cycle if r["path"] == "/api/v3/ticker/price"], "prices are streamed"
    weight = sum(r["weight"] for r in cycle)
    assert weight <= 80, [(r["path"], r["weight"]) for r in cycle]
    # at the default cadence: a cycle every 120 s, a full (account-wide, +74) run hourly, the
    # clock read (weight 1) every 120 s
    per_min = weight * 60 / DEFAULT_STREAM_INTERVAL_S + (80 - 6) / 60 + 60 / 120
    assert per_min < 0.01 * BUDGET_PER_MIN, f"{per_min:.1f} weight/min"


def test_polling_keeps_its_cadence_and_weights(
    flat: FakeBinance, run: Callable[..., Running]
) -> None:
    d = run(
        **TWO,
        TRADEWARDEN_STREAMS="off",
        TRADEWARDEN_RECONCILE_INTERVAL_SECONDS="1",
        TRADEWARDEN_STREAM_RECONCILE_INTERVAL_SECONDS="4",  # not for the polling loop
        TRADEWARDEN_POLL_INTERVAL_SECONDS="0.2",
    )
    d.wait_ready()
    cycle, seconds = one_cycle(flat, len(flat.requests()))
    assert seconds < 3.0, f"polling reconciles every {seconds:.1f}s, configured 1 s"
    assert [r["weight"] for r in cycle if r["path"] == "/api/v3/openOrders"] == [80]
    assert [r["path"] for r in cycle].count("/api/v3/ticker/price") >= 2


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT"], ids=["traded", "not_traded"])
def test_a_foreign_order_is_caught_between_quiet_reconciliations(
    flat: FakeBinance, run: Callable[..., Running], symbol: str
) -> None:
    """The daemon trades BTCUSDT only, reconciles every 150 s (the most allowed) while
    quiet: the stream's report of the order brings a full run forward (within the 2 s base
    interval)."""
    d = run(
        **STREAMS,
        TRADEWARDEN_RECONCILE_INTERVAL_SECONDS="2",
        TRADEWARDEN_STREAM_RECONCILE_INTERVAL_SECONDS="150",
    )
    port = d.wait_ready()
    assert wait_for(lambda: healthy(port), timeout=30)
    # the full runs done: at start, and after the user stream connected; quiet from then on
    assert wait_for(lambda: full_runs(flat) >= 2, timeout=30)
    price = 25_000.0 if symbol == "BTCUSDT" else 1_500.0
    foreign = flat.place_foreign_order(symbol, "BUY", 0.01, price)
    assert wait_for(lambda: halted(port), timeout=60), "the foreign order went unnoticed"
    found = [
        r["msg"] for r in d.logs() if str(r.get("msg", "")).startswith("reconciliation mismatch")
    ]
    assert found and f"{symbol}:{foreign['clientOrderId']}" in found[0], found


def test_a_withdrawal_is_caught_between_quiet_reconciliations(
    flat: FakeBinance, run: Callable[..., Running]
) -> None:
    """A balanceUpdate on the stream (money moved outside our fills) brings a run forward:
    the balance mismatch halts within the base interval, not 150 s later."""
    d = run(
        **STREAMS,
        TRADEWARDEN_RECONCILE_INTERVAL_SECONDS="2",
        TRADEWARDEN_STREAM_RECONCILE_INTERVAL_SECONDS="150",
    )
    port = d.wait_ready()
    assert wait_for(lambda: healthy(port), timeout=30)
    assert wait_for(lambda: full_runs(flat) >= 2, timeout=30)
    flat.withdraw("USDT", 2_500.0)
    assert wait_for(lambda: halted(port), timeout=60), "the withdrawal went unnoticed"
    found = [
        r["msg"] for r in d.logs() if str(r.get("msg", "")).startswith("reconciliation mismatch")
    ]
    assert found and "USDT balance" in found[0], found
