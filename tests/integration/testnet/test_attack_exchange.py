"""Attacks on the harsh-exchange change (issue 14): the real daemon against the fake
Binance, where a position must not be left open by an exit that failed once."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.daemon.helpers import readyz, status, wait_for
from tests.integration.testnet.conftest import WAVE, Running, assert_one_to_one, wave_exchange

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
