"""Binance JSON to the daemon's models."""

from __future__ import annotations

import pytest

from tradewarden.core.models import OrderStatus, OrderType, Side
from tradewarden.exchange.mapping import (
    balances_from_account,
    fill_from_trade,
    order_from_json,
    order_status,
)

QUERY = {
    "symbol": "BTCUSDT",
    "orderId": 1000007,
    "clientOrderId": "tw-b1-abc-0a0b",
    "price": "29000.00000000",
    "origQty": "0.00200000",
    "executedQty": "0.00100000",
    "cummulativeQuoteQty": "29.00000000",
    "status": "PARTIALLY_FILLED",
    "type": "LIMIT",
    "side": "SELL",
    "time": 1700000000123,
    "updateTime": 1700000001123,
}


def test_order_from_query() -> None:
    o = order_from_json(QUERY, bot="b1")
    assert o.client_order_id == "tw-b1-abc-0a0b" and o.bot == "b1"
    assert o.side is Side.SELL and o.order_type is OrderType.LIMIT
    assert o.status is OrderStatus.PARTIALLY_FILLED
    assert o.qty == 0.002 and o.filled_qty == 0.001 and o.avg_price == 29000.0
    assert o.price == 29000.0 and o.exchange_order_id == "1000007"
    assert o.created_at == pytest.approx(1700000000.123)


def test_cancel_answer_uses_the_original_client_id() -> None:
    js = {**QUERY, "origClientOrderId": "tw-b1-abc-0a0b", "clientOrderId": "cancel-xyz"}
    assert order_from_json(js).client_order_id == "tw-b1-abc-0a0b"


def test_market_order_has_no_price() -> None:
    js = {**QUERY, "type": "MARKET", "price": "0.00000000", "executedQty": "0"}
    o = order_from_json(js)
    assert o.price is None and o.avg_price == 0.0 and o.order_type is OrderType.MARKET


def test_status_map() -> None:
    assert order_status("EXPIRED_IN_MATCH") is OrderStatus.EXPIRED
    assert order_status("PENDING_CANCEL") is OrderStatus.NEW
    assert order_status("SOMETHING") is OrderStatus.UNKNOWN


@pytest.mark.parametrize(("asset", "fee"), [("USDT", 0.03), ("BTC", 0.03), ("BNB", 0.0)])
def test_fill_fee_is_in_quote(asset: str, fee: float) -> None:
    order = order_from_json(QUERY, bot="b1")
    commission = "0.00000100" if asset == "BTC" else "0.03000000"
    trade = {
        "symbol": "BTCUSDT",
        "id": 42,
        "orderId": 1000007,
        "price": "30000.00000000",
        "qty": "0.00100000",
        "commission": commission,
        "commissionAsset": asset,
        "time": 1700000002000,
        "isBuyer": False,
    }
    f = fill_from_trade(trade, order, "BTC", "USDT")
    assert f.trade_id == "BTCUSDT:42" and f.bot == "b1" and f.side is Side.SELL
    assert f.fee == pytest.approx(fee)
    assert f.qty == 0.001 and f.price == 30000.0 and f.ts == 1700000002.0


def test_balances_free_and_total() -> None:
    js = {
        "balances": [
            {"asset": "BTC", "free": "0.5", "locked": "0.25"},
            {"asset": "USDT", "free": "100", "locked": "0"},
            {"asset": "ETH", "free": "0", "locked": "0"},
        ]
    }
    free, total = balances_from_account(js)
    assert free == {"BTC": 0.5, "USDT": 100.0}
    assert total == {"BTC": 0.75, "USDT": 100.0}
