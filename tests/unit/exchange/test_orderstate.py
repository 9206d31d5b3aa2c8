"""Writing the exchange's view into a row never touches fill state or closes it early."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradewarden.core.models import Fill, Order, OrderStatus, OrderType, Side
from tradewarden.exchange.orderstate import record_exchange_state, record_status, status_to_store
from tradewarden.state.store import Store


def order(status: OrderStatus, filled: float = 0.0, **kw) -> Order:
    base = {
        "client_order_id": "tw-b1-1-abcd",
        "bot": "b1",
        "symbol": "BTCUSDT",
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "qty": 0.002,
        "price": 30000.0,
        "status": status,
        "filled_qty": filled,
    }
    return Order(**{**base, **kw})


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "db.sqlite3", durable=False)
    s.record_intent(order(OrderStatus.PENDING))
    return s


def test_rule() -> None:
    assert status_to_store(order(OrderStatus.FILLED, 0.002), 0.0) is OrderStatus.NEW
    assert status_to_store(order(OrderStatus.FILLED, 0.002), 0.001) is OrderStatus.PARTIALLY_FILLED
    assert status_to_store(order(OrderStatus.FILLED, 0.002), 0.002) is OrderStatus.FILLED
    assert status_to_store(order(OrderStatus.CANCELED, 0.0), 0.0) is OrderStatus.CANCELED


def test_filled_on_exchange_stays_open_until_the_fill_is_booked(store: Store) -> None:
    remote = order(OrderStatus.FILLED, 0.002, exchange_order_id="77", avg_price=30000.0)
    assert record_exchange_state(store, remote) is OrderStatus.NEW
    row = store.get_order("tw-b1-1-abcd")
    assert row is not None
    assert row.status is OrderStatus.NEW and row.exchange_order_id == "77"
    assert row.filled_qty == 0.0 and row.avg_price == 0.0
    fill = Fill("BTCUSDT:1", "tw-b1-1-abcd", "b1", "BTCUSDT", Side.BUY, 0.002, 30000.0, 0.0, 1.0)
    row.status, row.filled_qty, row.avg_price = OrderStatus.FILLED, 0.002, 30000.0
    assert store.book_fill(fill, row)
    assert record_exchange_state(store, remote) is OrderStatus.FILLED
    assert store.get_order("tw-b1-1-abcd").filled_qty == 0.002  # type: ignore[union-attr]


def test_unknown_row_is_left_alone(store: Store) -> None:
    assert record_exchange_state(store, order(OrderStatus.NEW, client_order_id="nope")) is None
    assert store.get_order("nope") is None


def test_record_status_keeps_exchange_id(store: Store) -> None:
    record_exchange_state(store, order(OrderStatus.NEW, exchange_order_id="9"))
    record_status(store, "tw-b1-1-abcd", OrderStatus.UNKNOWN)
    row = store.get_order("tw-b1-1-abcd")
    assert row is not None and row.status is OrderStatus.UNKNOWN and row.exchange_order_id == "9"


def test_the_exchange_quantity_replaces_the_unrounded_intent(store: Store) -> None:
    # the intent asked for 0.002 (unrounded); the filters sent 0.00199 (the step grid)
    record_exchange_state(store, order(OrderStatus.NEW, qty=0.00199))
    row = store.get_order("tw-b1-1-abcd")
    # so a fill of the whole sent quantity completes the order (against the unrounded
    # 0.002 it would stay PARTIALLY_FILLED forever)
    assert row is not None and row.qty == pytest.approx(0.00199, abs=1e-12)
