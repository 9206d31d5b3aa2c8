"""Every fault of the fake, over real HTTP: one order at most, never a resend."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.exchange.conftest import intent, posts
from tradewarden.core.models import Fill, OrderStatus, OrderType, Side
from tradewarden.exchange import BinanceBroker, ExchangeUnavailableError
from tradewarden.state.store import Store
from tradewarden.trading.broker import OutcomeUnknownError

ORDER = {"path": "/api/v3/order", "method": "POST"}


def test_timeout_after_accept_resolves_to_the_one_booked_order(
    fx: FakeBinance, broker: BinanceBroker, store: Store
) -> None:
    fx.fault("timeout_after_accept", ms=3000, **ORDER)
    req = intent(store, qty=0.002)
    order = broker.submit(req)
    (booked,) = fx.orders()
    assert posts(fx) == 1  # resolved by GET order, never resent
    assert booked["clientOrderId"] == req.client_order_id
    assert order.status is OrderStatus.FILLED
    assert order.exchange_order_id == str(booked["orderId"])
    row = store.get_order(req.client_order_id)
    assert row is not None and row.exchange_order_id == str(booked["orderId"])
    assert row.status is OrderStatus.NEW  # open until its fill is booked
    (fill,) = broker.poll_fills()
    row.status, row.filled_qty, row.avg_price = OrderStatus.FILLED, fill.qty, fill.price
    assert store.book_fill(fill, row)
    broker.poll_fills()
    assert store.get_order(req.client_order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_after_accept_resolves_to_the_one_booked_order(
    fx: FakeBinance, broker: BinanceBroker, store: Store, status: int
) -> None:
    fx.fault("error_after_accept", status=status, **ORDER)
    req = intent(store, order_type=OrderType.LIMIT, price=29000.0)
    order = broker.submit(req)
    assert len(fx.orders()) == 1 and posts(fx) == 1
    assert order.status is OrderStatus.NEW
    row = store.get_order(req.client_order_id)
    assert row is not None and row.status is OrderStatus.NEW
    assert row.exchange_order_id == str(fx.orders()[0]["orderId"])


def test_dropped_connection_ends_expired_without_a_resend(
    fx: FakeBinance, broker: BinanceBroker, store: Store
) -> None:
    fx.fault("drop_connection", **ORDER)
    req = intent(store)
    started = time.monotonic()
    order = broker.submit(req)
    assert order.status is OrderStatus.EXPIRED
    assert fx.orders() == [] and posts(fx) == 1
    assert store.get_order(req.client_order_id).status is OrderStatus.EXPIRED  # type: ignore[union-attr]
    # EXPIRED only once timestamp + recvWindow (1 s) + margin (1 s) had passed
    assert time.monotonic() - started >= 1.5
    queries = fx.stats()["requests_by_endpoint"]["GET /api/v3/order"]
    assert queries >= 2


def test_unreachable_exchange_leaves_unknown_and_raises(
    fx: FakeBinance, make_broker: Callable[..., BinanceBroker], store: Store
) -> None:
    broker = make_broker(resolve_timeout_s=1.0)
    fx.fault("drop_connection", **ORDER)
    fx.fault("drop_connection", path="/api/v3/order", method="GET", count=None)
    req = intent(store)
    with pytest.raises(OutcomeUnknownError):
        broker.submit(req)
    assert store.get_order(req.client_order_id).status is OrderStatus.UNKNOWN  # type: ignore[union-attr]
    assert posts(fx) == 1


def test_resolving_an_order_reports_progress_to_the_wait_hooks(
    fx: FakeBinance, make_broker: Callable[..., BinanceBroker], store: Store
) -> None:
    """While the gateway asks about an order for up to its resolve timeout, the wait hooks
    run between the questions (the daemon's watchdog is fed from them: a resolution of
    ~20 s in production is the loop at work, not a hang)."""
    broker = make_broker(resolve_timeout_s=2.0)
    beats: list[float] = []
    broker.on_wait.append(lambda: beats.append(time.monotonic()))
    broker.on_wait.append(lambda: 1 / 0)  # a failing hook must not break the resolution
    fx.fault("drop_connection", **ORDER)
    fx.fault("drop_connection", path="/api/v3/order", method="GET", count=None)
    req = intent(store)
    with pytest.raises(OutcomeUnknownError):
        broker.submit(req)
    assert len(beats) >= 3
    gaps = [b - a for a, b in zip(beats, beats[1:], strict=False)]
    assert max(gaps) < 1.0 + broker.client.timeout_s  # a step's sleep plus one question


def test_clock_skew_recovers_by_resync(
    fx: FakeBinance, broker: BinanceBroker, store: Store
) -> None:
    assert broker.timesync.syncs == 1
    fx.set_clock_skew(30_000)  # the exchange's clock jumps 30 s ahead of ours
    req = intent(store)
    order = broker.submit(req)
    assert order.status is OrderStatus.FILLED
    assert len(fx.orders()) == 1
    assert broker.timesync.syncs == 2
    assert broker.timesync.offset_ms == pytest.approx(30_000, abs=500)
    codes = [r["code"] for r in fx.requests() if r["path"] == "/api/v3/order"]
    assert codes == [-1021, None]  # refused once for the timestamp, then accepted


def test_maintenance_leaves_the_order_unknown_then_works_again(
    fx: FakeBinance, make_broker: Callable[..., BinanceBroker], store: Store
) -> None:
    """-1016 is a 5xx: the order may exist (issue 14), so it is UNKNOWN, never REJECTED."""
    broker = make_broker(resolve_timeout_s=1.0)
    fx.fault("maintenance", path="/api/*", count=None)
    req = intent(store)
    with pytest.raises(OutcomeUnknownError):
        broker.submit(req)
    with pytest.raises(ExchangeUnavailableError) as info:
        broker.balances()
    assert info.value.code == -1016
    assert fx.orders() == [] and posts(fx) == 1
    assert store.get_order(req.client_order_id).status is OrderStatus.UNKNOWN  # type: ignore[union-attr]
    fx.clear_faults()
    again = broker.submit(intent(store))
    assert again.status is OrderStatus.FILLED and len(fx.orders()) == 1


def test_latency_below_the_timeout_is_just_slow(
    fx: FakeBinance, broker: BinanceBroker, store: Store
) -> None:
    fx.fault("latency", ms=300, **ORDER)
    assert broker.submit(intent(store)).status is OrderStatus.FILLED
    assert posts(fx) == 1


def test_poll_fills_returns_each_fill_once(
    fx: FakeBinance, broker: BinanceBroker, store: Store
) -> None:
    req = intent(store, side=Side.BUY, order_type=OrderType.LIMIT, price=29500.0, qty=0.001)
    broker.submit(req)
    assert broker.poll_fills() == []
    fx.set_price("BTCUSDT", 29400.0)
    fills = broker.poll_fills()
    assert [(f.client_order_id, f.qty, f.price, f.bot) for f in fills] == [
        (req.client_order_id, 0.001, 29500.0, "b1")
    ]
    assert broker.poll_fills() == []  # returned once per process
    row = store.get_order(req.client_order_id)
    assert row is not None and row.status is OrderStatus.NEW  # not booked yet
    fresh = BinanceBroker(
        broker.settings, store, broker.client._credentials, limiter=broker.limiter
    )
    assert [f.trade_id for f in fresh.poll_fills()] == [fills[0].trade_id]  # unbooked: again
    _book(store, fills[0])
    assert fresh.poll_fills() == []
    assert store.get_order(req.client_order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
    weights = fx.stats()["requests_by_endpoint"]
    assert weights["GET /api/v3/myTrades"] == 2


def _book(store: Store, fill: Fill) -> None:
    row = store.get_order(fill.client_order_id)
    assert row is not None
    row.filled_qty, row.avg_price, row.status = fill.qty, fill.price, OrderStatus.FILLED
    assert store.book_fill(fill, row)
