"""The ledger with Binance's commissions (issue 14, item 2): a BUY's commission comes off
the coin received, a SELL's off the quote received, BNB pays its own; P&L includes all."""

from __future__ import annotations

import pytest

from tradewarden.core.models import Fill, Order, OrderStatus, OrderType, Side
from tradewarden.exchange.mapping import fill_from_trade
from tradewarden.trading.bot_ledger import Ledger


def _order(side: Side) -> Order:
    return Order(
        "tw-b1-1-beef", "b1", "BTCUSDT", side, OrderType.MARKET, 1.0, None, OrderStatus.NEW
    )


def _trade(side: Side, qty: str, price: str, commission: str, asset: str, tid: int) -> Fill:
    js = {
        "symbol": "BTCUSDT",
        "id": tid,
        "price": price,
        "qty": qty,
        "commission": commission,
        "commissionAsset": asset,
        "isBuyer": side is Side.BUY,
        "time": 1_000 * tid,
    }
    return fill_from_trade(js, _order(side), "BTC", "USDT")


def test_base_commission_reduces_the_position_and_counts_in_pnl() -> None:
    ledger = Ledger([("b1", "BTCUSDT")], 1000.0)
    buy = _trade(Side.BUY, "1.00000000", "100.00", "0.00100000", "BTC", 1)
    assert buy.fee_base == pytest.approx(0.001) and buy.fee == pytest.approx(0.1)
    assert ledger.apply(buy) is None
    book = ledger.books["b1"]
    assert book.qty == pytest.approx(0.999)  # what the exchange holds, not 1.0
    assert book.cash == pytest.approx(900.0)
    sell = _trade(Side.SELL, "0.99900000", "110.00", "0.10989000", "USDT", 2)
    closed = ledger.apply(sell)
    assert closed is not None
    # cash: -100 + 0.999 * 110 - 0.10989 = 9.78011; every fee is in the round trip
    assert closed.pnl == pytest.approx(9.78011)
    assert book.qty == 0.0
    assert book.cash == pytest.approx(1009.78011)
    assert book.realized == pytest.approx(9.78011)
    assert ledger.equity("b1") == pytest.approx(1009.78011)


def test_bnb_commission_leaves_the_position_whole() -> None:
    ledger = Ledger([("b1", "BTCUSDT")], 1000.0)
    buy = _trade(Side.BUY, "1.00000000", "100.00", "0.00020000", "BNB", 1)
    ledger.apply(buy)
    assert buy.fee_base == 0.0 and buy.commission_asset == "BNB"
    assert ledger.books["b1"].qty == pytest.approx(1.0)
    assert ledger.books["b1"].cash == pytest.approx(900.0)


def test_dust_below_the_lot_step_closes_the_round_trip_but_stays_held() -> None:
    ledger = Ledger([("b1", "BTCUSDT")], 1000.0)
    ledger.dust["BTCUSDT"] = 0.00001
    ledger.apply(_trade(Side.BUY, "0.00123000", "30000.00", "0.00000123", "BTC", 1))
    assert ledger.books["b1"].qty == pytest.approx(0.00122877)
    closed = ledger.apply(_trade(Side.SELL, "0.00122000", "30000.00", "0.03660000", "USDT", 2))
    assert closed is not None and closed.pnl < 0  # fees only
    assert ledger.books["b1"].qty == pytest.approx(0.00000877)  # the exchange still has it
    assert ledger.tradable("b1") == 0.0  # flat for the strategy


def test_a_market_order_over_a_thin_book_books_each_level() -> None:
    """Three fills at three prices: the average, fees and P&L follow the fills."""
    ledger = Ledger([("b1", "BTCUSDT")], 10_000.0)
    fills = [
        _trade(Side.BUY, "0.01000000", "30000.00", "0.00001000", "BTC", 1),
        _trade(Side.BUY, "0.01000000", "30010.00", "0.00001000", "BTC", 2),
        _trade(Side.BUY, "0.00500000", "30020.00", "0.00000500", "BTC", 3),
    ]
    for f in fills:
        ledger.apply(f)
    book = ledger.books["b1"]
    held = 0.025 - 0.000025
    assert book.qty == pytest.approx(held)
    spent = 0.01 * 30000 + 0.01 * 30010 + 0.005 * 30020
    assert book.cash == pytest.approx(10_000.0 - spent)
    fees = sum(f.fee for f in fills)
    assert book.realized == pytest.approx(-fees)
    ledger.mark("BTCUSDT", 30100.0)
    assert ledger.equity("b1") == pytest.approx(10_000.0 - spent + held * 30100.0)
