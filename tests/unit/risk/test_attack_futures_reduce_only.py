"""Attack review (issue 20): a futures reduceOnly order is exempt from
TRADEWARDEN_MAX_NOTIONAL_PER_ORDER. Can an order that opens, grows or flips a position carry
the flag and so escape the cap? Each must be refused before it is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradewarden.core.config import load_settings
from tradewarden.core.models import OrderRequest, Side
from tradewarden.risk.breakers import Observation
from tradewarden.risk.breakers.base import EQUITY
from tradewarden.risk.engine import RiskEngine
from tradewarden.risk.reasons import DenyReason
from tradewarden.state.store import Store

T0 = 1_767_571_200.0
PRICE = 40_000.0


@pytest.fixture()
def risk(tmp_path: Path, clean_env: None):
    settings = load_settings(
        state_dir=tmp_path,
        futures_enabled=True,
        bots=("f1:BTCUSDT:ma_cross_ls",),
        symbols=("BTCUSDT",),
    )
    store = Store(settings.db_path)
    engine = RiskEngine(settings, store, ["f1"])
    engine.set_balances({"USDT": 1_000_000.0})
    engine.observe(Observation(EQUITY, "f1", T0, equity=1_000_000.0))  # leverage no limit here
    yield engine
    store.close()


def order(side: Side, qty: float) -> OrderRequest:
    return OrderRequest(
        bot="f1", symbol="BTCUSDT", side=side, qty=qty, price=PRICE, reduce_only=True
    )


@pytest.mark.parametrize(
    ("position", "side", "qty"),
    [
        (0.0, Side.BUY, 1.0),  # opens a long
        (0.0, Side.SELL, 1.0),  # opens a short
        (0.5, Side.BUY, 1.0),  # grows a long
        (-0.5, Side.SELL, 1.0),  # grows a short
        (0.05, Side.SELL, 1.0),  # flips a small long into a big short
        (-0.05, Side.BUY, 1.0),  # flips a small short into a big long
    ],
    ids=["open-long", "open-short", "grow-long", "grow-short", "flip-to-short", "flip-to-long"],
)
def test_reduce_only_on_an_order_that_adds_exposure_is_refused(
    risk: RiskEngine, position: float, side: Side, qty: float
) -> None:
    risk.set_position("f1", "BTCUSDT", position)
    # 1 BTC at 40,000 is 20x TRADEWARDEN_MAX_NOTIONAL_PER_ORDER (2,000)
    assert risk.check(order(side, qty), PRICE) is DenyReason.REDUCE_ONLY_INVALID


def test_the_exemption_is_the_position_size_at_most(risk: RiskEngine) -> None:
    risk.set_position("f1", "BTCUSDT", -0.5)  # 20,000 USDT: a short grown in value
    assert risk.check(order(Side.BUY, 0.5), PRICE) is None  # its close goes, whatever its size
    assert risk.check(order(Side.BUY, 0.5 + 1e-6), PRICE) is DenyReason.REDUCE_ONLY_INVALID
    plain = OrderRequest(bot="f1", symbol="BTCUSDT", side=Side.BUY, qty=0.5, price=PRICE)
    assert risk.check(plain, PRICE) is DenyReason.MAX_NOTIONAL  # no flag: no exemption
