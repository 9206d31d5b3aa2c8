"""Attack (issue 14): a leftover above the lot step but worth less than the symbol's
minimum notional cannot be sold (NOTIONAL filter, applyMinToMarket). If the strategy
still sees it as a position, ma_cross never buys again (it buys only while flat) and its
exit is refused forever: the bot is dead and the leftover unexitable."""

from __future__ import annotations

import pytest

from tests.unit.trading.test_ledger_fees import _trade
from tradewarden.core.models import Side
from tradewarden.trading.bot_ledger import Ledger


def test_attack_a_leftover_below_min_notional_is_dust_for_the_strategy() -> None:
    ledger = Ledger([("b1", "BTCUSDT")], 10_000.0)
    ledger.dust = {"BTCUSDT": 0.00001 * (1 - 1e-9)}  # the lot step
    ledger.min_notional = {"BTCUSDT": 5.0}  # what `Trader.learn_dust` reads off the filters
    ledger.apply(_trade(Side.BUY, "0.01000000", "30000.00", "0", "USDT", 1))
    # an exit that sold all but 0.0001 BTC (a MARKET order EXPIRED on a thin book)
    ledger.apply(_trade(Side.SELL, "0.00990000", "30000.00", "0", "USDT", 2))
    book = ledger.books["b1"]
    assert book.qty == pytest.approx(0.0001)  # 3 USDT: above the step, below 5 USDT
    assert ledger.tradable("b1") == 0.0
    ledger.mark("BTCUSDT", 60_000.0)  # now worth 6 USDT: sellable again
    assert ledger.tradable("b1") == pytest.approx(0.0001)
