"""Attacks on the harsh-exchange change (issue 14): the real daemon against the fake
Binance, where a position must not be left open by an exit that failed once."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.daemon.helpers import readyz, status, wait_for
from tests.integration.testnet.conftest import (
    KEY,
    SECRET,
    SPEC,
    WAVE,
    Running,
    assert_one_to_one,
    local_orders,
    wave_exchange,
)

STEP = 0.00001  # the lot step of SPEC


@pytest.fixture()
def fx(clean_env: None) -> Iterator[FakeBinance]:
    with wave_exchange(WAVE, 100, fee_rate=0.001) as fake:
        yield fake


def btc_held(fx: FakeBinance) -> float:
    free, locked = fx.balances()["BTC"]
    return free + locked


def test_attack_emergency_flatten_refused_while_halted_is_retried_once_trading(
    fx: FakeBinance, daemon: Callable[..., Running]
) -> None:
    """The emergency stop trips while the symbol is HALT on the exchange: its flatten cannot
    be sent. Once the symbol is TRADING again the position must still be closed (the stop
    holds, no other order will ever sell it), with one flatten order, not several."""
    d = daemon(
        MAX_CONSECUTIVE_LOSSES="1000",
        MAX_PORTFOLIO_DRAWDOWN_PCT="0.05",
        TRADEWARDEN_FLATTEN_ON_EMERGENCY="true",
        TRADEWARDEN_ORDER_FRACTION="0.19",
    )
    port = d.wait_ready()
    assert wait_for(lambda: btc_held(fx) > 0 and not fx.open_orders(), timeout=120)
    fx.auto_step(None)
    fx.set_symbol_status("BTCUSDT", "HALT")

    def says_halted() -> bool:
        code, body = readyz(port)
        return code == 503 and any("BTCUSDT is HALT" in r for r in body["reasons"])

    assert wait_for(says_halted, timeout=20), readyz(port)
    fx.set_price("BTCUSDT", 12000.0)  # -60 %: far past the 5 % emergency stop

    def emergency() -> bool:
        return any(t["breaker"] == "portfolio_drawdown" for t in status(d.state)["trips"])

    assert wait_for(emergency, timeout=30), status(d.state)
    held = btc_held(fx)
    assert held > STEP
    fx.set_symbol_status("BTCUSDT", "TRADING")
    sold = wait_for(lambda: btc_held(fx) < STEP, timeout=30)
    assert d.stop() == 0
    assert sold, f"the emergency stop left {btc_held(fx)} BTC (of {held}) open"
    sells = [o for o in fx.orders() if o["side"] == "SELL"]
    assert len(sells) == 1, sells
    assert status(d.state)["state"] == "halted"
    assert_one_to_one(fx, d.state)


@pytest.fixture()
def fx_path(clean_env: None) -> Iterator[FakeBinance]:
    """The harsh fake with a flat price until the test sets a path."""
    with FakeBinance(
        api_key=KEY,
        api_secret=SECRET,
        symbols={"BTCUSDT": dict(SPEC)},
        balances={"USDT": 10_000.0, "BTC": 0.0},
        fee_rate=0.001,
    ) as fake:
        yield fake


def test_attack_a_strategy_exit_refused_while_halted_is_sent_once_trading_again(
    fx_path: FakeBinance, tmp_path: Path
) -> None:
    """ma_cross says SELL once, at the cross. If that exit cannot be sent (the symbol HALT
    on the exchange; -1015 and a 403 refuse it the same way) the signal must not be lost:
    otherwise the position is held, unprotected, until the next cross below, which a
    steady decline never brings."""
    fx = fx_path
    down = [30000.0 - 20 * i for i in range(30)]
    up = [down[-1] + 20 * i for i in range(1, 41)]
    decline = [up[-1] - 20 * i for i in range(1, 301)]
    d = Running(tmp_path / "state", fx, MAX_CONSECUTIVE_LOSSES="1000")
    try:
        port = d.wait_ready()
        fx.set_price_path("BTCUSDT", down + up + decline)
        started = time.monotonic()
        fx.auto_step(200)
        assert wait_for(lambda: btc_held(fx) > 0 and not fx.open_orders(), timeout=30)
        fx.set_symbol_status("BTCUSDT", "HALT")

        def says_halted() -> bool:
            code, body = readyz(port)
            return code == 503 and any("BTCUSDT is HALT" in r for r in body["reasons"])

        assert wait_for(says_halted, timeout=20), readyz(port)
        assert time.monotonic() - started < 0.2 * len(down + up), "halted after the turn"
        # the turn is at step 70, the cross below a few steps later: wait past step 100
        time.sleep(max(0.0, started + 0.2 * 100 - time.monotonic()))
        held = btc_held(fx)
        assert held > STEP
        fx.set_symbol_status("BTCUSDT", "TRADING")
        sold = wait_for(lambda: btc_held(fx) < STEP, timeout=20)
        assert d.stop() == 0
    finally:
        d.stop(signal.SIGKILL)
    assert sold, f"the refused exit was dropped: {btc_held(fx)} BTC (of {held}) still held"
    sells = [o for o in fx.orders() if o["side"] == "SELL"]
    assert len(sells) == 1, sells
    assert_one_to_one(fx, d.state)


def test_attack_a_strategy_exit_lost_in_transit_is_sent_again_after_its_expired_verdict(
    fx_path: FakeBinance, tmp_path: Path
) -> None:
    """The exit's request is lost (the connection drops, nothing reaches the exchange):
    the gateway queries, and past recvWindow + margin judges it EXPIRED, never placed.
    That is a definite "not sold": the exit must be sent again, not forgotten while the
    price keeps falling."""
    fx = fx_path
    down = [30000.0 - 20 * i for i in range(30)]
    up = [down[-1] + 20 * i for i in range(1, 41)]
    decline = [up[-1] - 20 * i for i in range(1, 301)]
    d = Running(
        tmp_path / "state",
        fx,
        MAX_CONSECUTIVE_LOSSES="1000",
        TRADEWARDEN_ORDER_EXPIRY_MARGIN_SECONDS="1",
    )
    try:
        d.wait_ready()
        fx.set_price_path("BTCUSDT", down + up + decline)
        fx.auto_step(200)
        assert wait_for(lambda: btc_held(fx) > 0 and not fx.open_orders(), timeout=30)
        fx.fault("drop_connection", path="/api/v3/order", method="POST", count=1)

        def judged_expired() -> bool:
            return any(r["status"] == "EXPIRED" for r in local_orders(d.state).values())

        assert wait_for(judged_expired, timeout=40), local_orders(d.state)
        sold = wait_for(lambda: btc_held(fx) < STEP, timeout=20)
        held = btc_held(fx)
        assert d.stop() == 0
    finally:
        d.stop(signal.SIGKILL)
    assert sold, f"the lost exit was not sent again: {held} BTC still held"
    sells = [o for o in fx.orders() if o["side"] == "SELL"]
    assert len(sells) == 1, sells
    assert_one_to_one(fx, d.state)
