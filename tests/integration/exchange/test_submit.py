"""Submitting over real HTTP: intents first, filters before send, states in the store."""

from __future__ import annotations

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.exchange.conftest import intent, posts
from tradewarden.core.models import OrderRequest, OrderStatus, OrderType, Side
from tradewarden.exchange import BinanceBroker, FilterReject, FilterRejectedError
from tradewarden.exchange.errors import IntentMissingError
from tradewarden.state.store import Store
from tradewarden.trading.broker import BrokerError


def test_market_order_is_placed_once_with_our_client_id(
    fx: FakeBinance, broker: BinanceBroker, store: Store
) -> None:
    req = intent(store, qty=0.002)
    order = broker.submit(req)
    assert order.status is OrderStatus.FILLED and order.filled_qty == 0.002
    (booked,) = fx.orders()
    assert booked["clientOrderId"] == req.client_order_id
    row = store.get_order(req.client_order_id)
    assert row is not None and row.exchange_order_id == str(booked["orderId"])
    assert row.status is OrderStatus.NEW  # FILLED only once its fill is booked
    assert broker.in_flight() == frozenset()


def test_limit_order_rests(fx: FakeBinance, broker: BinanceBroker, store: Store) -> None:
    req = intent(store, side=Side.BUY, order_type=OrderType.LIMIT, price=29000.0, qty=0.001)
    order = broker.submit(req)
    assert order.status is OrderStatus.NEW and order.price == 29000.0
    assert [o["clientOrderId"] for o in fx.open_orders()] == [req.client_order_id]
    assert broker.query("BTCUSDT", req.client_order_id).status is OrderStatus.NEW  # type: ignore[union-attr]
    cancelled = broker.cancel("BTCUSDT", req.client_order_id)
    assert cancelled.status is OrderStatus.CANCELED
    assert store.get_order(req.client_order_id).status is OrderStatus.CANCELED  # type: ignore[union-attr]
    assert fx.open_orders() == []


def test_rounding_happens_before_send(fx: FakeBinance, broker: BinanceBroker, store: Store) -> None:
    req = intent(
        store, order_type=OrderType.LIMIT, side=Side.SELL, qty=0.0012345678, price=31000.004
    )
    broker.submit(req)
    (booked,) = fx.orders()
    assert booked["origQty"] == "0.00123000"
    assert booked["price"] == "31000.01000000"  # a sell is never priced below what was asked


def test_min_notional_is_refused_with_zero_order_requests(
    fx: FakeBinance, broker: BinanceBroker, store: Store
) -> None:
    req = intent(store, qty=0.0001)  # 3 USDT < 5
    with pytest.raises(FilterRejectedError) as info:
        broker.submit(req)
    assert info.value.reason is FilterReject.MIN_NOTIONAL
    assert posts(fx) == 0
    assert store.get_order(req.client_order_id).status is OrderStatus.REJECTED  # type: ignore[union-attr]


def test_below_min_qty_after_rounding_is_refused_without_a_request(
    fx: FakeBinance, broker: BinanceBroker, store: Store
) -> None:
    req = intent(store, qty=0.000009, order_type=OrderType.LIMIT, price=30000.0)
    with pytest.raises(FilterRejectedError) as info:
        broker.submit(req)
    assert info.value.reason is FilterReject.MIN_QTY
    assert posts(fx) == 0


def test_unlisted_symbol_is_refused(fx: FakeBinance, broker: BinanceBroker, store: Store) -> None:
    req = intent(store, symbol="DOGEUSDT", price=0.1, qty=100)
    with pytest.raises(FilterRejectedError) as info:
        broker.submit(req)
    assert info.value.reason is FilterReject.UNKNOWN_SYMBOL
    assert posts(fx) == 0


def test_no_intent_no_request(fx: FakeBinance, broker: BinanceBroker) -> None:
    before = fx.stats()["requests"]
    req = OrderRequest(
        "b1", "BTCUSDT", Side.BUY, 0.001, price=30000.0, client_order_id="tw-b1-999-dead"
    )
    with pytest.raises(IntentMissingError):
        broker.submit(req)
    with pytest.raises(IntentMissingError):
        broker.submit(OrderRequest("b1", "BTCUSDT", Side.BUY, 0.001, client_order_id="bad id!"))
    assert fx.stats()["requests"] == before


def test_an_intent_already_answered_is_not_sent_again(
    fx: FakeBinance, broker: BinanceBroker, store: Store
) -> None:
    req = intent(store)
    broker.submit(req)
    with pytest.raises(IntentMissingError):
        broker.submit(req)  # the row is no longer PENDING: a resend is refused locally
    assert posts(fx) == 1


def test_exchange_rejection_marks_the_row_rejected(
    fx: FakeBinance, broker: BinanceBroker, store: Store
) -> None:
    req = intent(store, qty=1.0)  # 30000 USDT > the 10000 we have
    with pytest.raises(BrokerError) as info:
        broker.submit(req)
    assert info.value.code == -2010
    assert store.get_order(req.client_order_id).status is OrderStatus.REJECTED  # type: ignore[union-attr]
    assert fx.orders() == []


def test_balances_and_open_orders(fx: FakeBinance, broker: BinanceBroker, store: Store) -> None:
    broker.submit(
        intent(
            store, order_type=OrderType.LIMIT, price=1000.0, qty=0.01, symbol="ETHUSDT", bot="b2"
        )
    )
    free, total = broker.account_balances()
    assert free["USDT"] == pytest.approx(9990.0) and total["USDT"] == pytest.approx(10000.0)
    assert broker.balances() == free
    (o,) = broker.open_orders()
    assert o.bot == "b2" and o.symbol == "ETHUSDT"
    assert broker.open_orders("BTCUSDT") == []
    assert [c.status for c in broker.cancel_all("ETHUSDT")] == [OrderStatus.CANCELED]
    assert broker.cancel_all("ETHUSDT") == []  # nothing open any more


def test_api_restrictions(broker: BinanceBroker) -> None:
    rights = broker.api_restrictions()
    assert rights["enableWithdrawals"] is False and rights["ipRestrict"] is True
