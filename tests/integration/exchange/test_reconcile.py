"""Reconciliation against the fake: restarts, foreign orders, missing orders, balances."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.exchange.conftest import creds, intent, posts
from tradewarden.core.config import Settings
from tradewarden.core.models import Fill, OrderStatus, OrderType, Side
from tradewarden.exchange import BinanceBroker, Reconciler, ReconcileReport
from tradewarden.state.store import Store
from tradewarden.trading.broker import OutcomeUnknownError


def reconciler(
    broker: BinanceBroker, store: Store, settings: Settings, events: list[ReconcileReport]
) -> Reconciler:
    return Reconciler(broker, store, settings, events.append)


def book_all(broker: BinanceBroker, store: Store) -> list[Fill]:
    """What the trader does with polled fills."""
    fills = broker.poll_fills()
    for f in fills:
        row = store.get_order(f.client_order_id)
        assert row is not None
        row.filled_qty += f.qty
        row.avg_price = f.price
        row.status = OrderStatus.FILLED if row.filled_qty >= row.qty - 1e-12 else row.status
        store.book_fill(f, row)
    return fills


def test_clean_account_is_ok_and_takes_a_baseline(
    broker: BinanceBroker, store: Store, settings: Settings
) -> None:
    events: list[ReconcileReport] = []
    report = reconciler(broker, store, settings, events).run_once()
    assert report.ok and report.action == "none" and report.balances_checked
    assert events == []
    assert store.get("exchange.reconcile.balances")["balances"]["USDT"] == 10000.0


def test_restart_with_open_orders_reconciles_without_duplicates(
    fx: FakeBinance, broker: BinanceBroker, store: Store, settings: Settings
) -> None:
    rec = reconciler(broker, store, settings, events := [])
    rec.run_once()  # baseline
    resting = intent(store, order_type=OrderType.LIMIT, price=29000.0, qty=0.002)
    broker.submit(resting)
    market = intent(store, qty=0.01, symbol="ETHUSDT", price=2000.0, bot="b2")
    broker.submit(market)
    book_all(broker, store)
    store.close()  # the process stops ...

    again = Store(settings.db_path, durable=False)  # ... and starts again on the same file
    try:
        fresh = BinanceBroker(settings, again, creds)
        fresh.start()
        report = Reconciler(fresh, again, settings, events.append).run_once()
        assert report.ok, report.summary()
        assert report.balances_checked
        assert events == []
        assert len(fx.orders()) == 2 and posts(fx) == 2  # nothing placed again
        assert again.get_order(resting.client_order_id).status is OrderStatus.NEW  # type: ignore[union-attr]
        assert again.get_order(market.client_order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
        assert [o.client_order_id for o in again.open_orders()] == [resting.client_order_id]
        assert fresh.poll_fills() == []  # the booked fill is not handed out again
    finally:
        again.close()


@pytest.mark.parametrize(("shared", "action"), [(False, "halt"), (True, "reduce")])
def test_foreign_order_is_a_security_event(
    fx: FakeBinance,
    store: Store,
    settings: Settings,
    make_broker: Callable[..., BinanceBroker],
    shared: bool,
    action: str,
) -> None:
    s = settings.model_copy(update={"shared_account": shared})
    broker = make_broker(settings=s)
    events: list[ReconcileReport] = []
    rec = Reconciler(broker, store, s, events.append)
    rec.run_once()
    foreign = fx.place_foreign_order("BTCUSDT", "BUY", 0.001, 25000.0)
    report = rec.run_once()
    assert not report.ok and report.action == action
    assert [o.client_order_id for o in report.unknown_on_exchange] == [foreign["clientOrderId"]]
    assert events == [report]
    assert "not ours" in report.summary()


def test_shared_account_cancel_all_spares_foreign_orders(
    fx: FakeBinance,
    store: Store,
    settings: Settings,
    make_broker: Callable[..., BinanceBroker],
) -> None:
    broker = make_broker(settings=settings.model_copy(update={"shared_account": True}))
    foreign = fx.place_foreign_order("BTCUSDT", "BUY", 0.001, 25000.0)
    ours = intent(store, order_type=OrderType.LIMIT, price=26000.0)
    broker.submit(ours)
    cancelled = broker.cancel_all("BTCUSDT")
    assert [o.client_order_id for o in cancelled] == [ours.client_order_id]
    assert [o["clientOrderId"] for o in fx.open_orders()] == [foreign["clientOrderId"]]


def test_local_open_order_unknown_to_the_exchange_halts(
    broker: BinanceBroker, store: Store, settings: Settings
) -> None:
    ghost = intent(store, order_type=OrderType.LIMIT, price=29000.0)
    row = store.get_order(ghost.client_order_id)
    assert row is not None
    row.status, row.exchange_order_id = OrderStatus.NEW, "424242"
    store.update_order(row)
    events: list[ReconcileReport] = []
    rec = reconciler(broker, store, settings, events)
    assert rec.run_once().ok  # reads may lag (issue 14): not missing within the margin
    time.sleep(settings.recv_window_ms / 1000 + settings.order_expiry_margin_seconds + 0.1)
    report = rec.run_once()
    assert report.action == "halt"
    assert [o.client_order_id for o in report.missing_on_exchange] == [ghost.client_order_id]
    assert events == [report]


def test_balance_mismatch_halts_but_our_fills_do_not(
    fx: FakeBinance, broker: BinanceBroker, store: Store, settings: Settings
) -> None:
    rec = reconciler(broker, store, settings, events := [])
    assert rec.run_once().ok
    broker.submit(intent(store, qty=0.01))  # 300 USDT -> 0.01 BTC
    report = rec.run_once()
    assert report.ok and not report.balances_checked  # executed but not booked yet: wait
    book_all(broker, store)
    report = rec.run_once()
    assert report.ok and report.balances_checked, report.summary()
    fx.set_balances({"USDT": 5000.0})  # someone moved funds
    report = rec.run_once()
    assert report.action == "halt"
    (m,) = report.balance_mismatches
    assert m.asset == "USDT" and m.actual == 5000.0 and m.expected == pytest.approx(9700.0)
    assert events == [report]
    assert not rec.run_once().ok  # the baseline is kept: it stays a mismatch
    rec.accept_balances()  # a human checked it
    assert rec.run_once().ok


@pytest.mark.parametrize("fx", [{"fee_rate": 0.001}], indirect=True)
def test_fees_in_the_received_asset_are_not_a_mismatch(
    store: Store,
    settings: Settings,
    make_broker: Callable[..., BinanceBroker],
    fx: FakeBinance,
) -> None:
    strict = settings.model_copy(update={"balance_tolerance": 1e-7})  # smaller than any fee
    broker = make_broker(settings=strict)
    rec = reconciler(broker, store, strict, [])
    rec.run_once()
    broker.submit(intent(store, qty=0.05))  # fee 0.00005 BTC
    broker.submit(intent(store, qty=0.05, side=Side.SELL))  # fee 1.5 USDT
    fills = book_all(broker, store)
    assert [f.fee for f in fills] == pytest.approx([1.5, 1.5])  # both valued in USDT
    report = rec.run_once()
    assert report.ok and report.balances_checked, report.summary()
    fx.set_balances({"BTC": 0.49985})  # 0.0001 BTC gone: more than any fee explains
    assert rec.run_once().action == "halt"


def test_unknown_order_is_resolved_by_query(
    fx: FakeBinance, make_broker: Callable[..., BinanceBroker], store: Store, settings: Settings
) -> None:
    broker = make_broker(resolve_timeout_s=0.5)
    fx.fault("timeout_after_accept", ms=2000, path="/api/v3/order", method="POST")
    fx.fault("drop_connection", path="/api/v3/order", method="GET", count=None)
    booked = intent(store)
    with pytest.raises(OutcomeUnknownError):
        broker.submit(booked)
    fx.clear_faults()
    fx.fault("drop_connection", path="/api/v3/order", method="POST")
    fx.fault("drop_connection", path="/api/v3/order", method="GET", count=2)
    lost = intent(store)
    with pytest.raises(OutcomeUnknownError):
        broker.submit(lost)
    fx.clear_faults()
    assert store.get_order(lost.client_order_id).status is OrderStatus.UNKNOWN  # type: ignore[union-attr]
    rec = reconciler(broker, store, settings, events := [])
    time.sleep(2.1)  # past timestamp + recvWindow + margin of the lost request
    report = rec.run_once()
    assert report.ok, report.summary()
    resolved = {o.client_order_id: o.status for o in report.resolved_unknowns}
    assert resolved == {
        booked.client_order_id: OrderStatus.FILLED,
        lost.client_order_id: OrderStatus.EXPIRED,
    }
    assert store.get_order(lost.client_order_id).status is OrderStatus.EXPIRED  # type: ignore[union-attr]
    assert store.get_order(booked.client_order_id).status is OrderStatus.NEW  # type: ignore[union-attr]
    assert len(fx.orders()) == 1 and posts(fx) == 2 and events == []


def test_pending_intent_from_a_crash_expires_only_after_the_window(
    fx: FakeBinance, broker: BinanceBroker, store: Store, settings: Settings
) -> None:
    crashed = intent(store)  # recorded, then the process died before or while sending
    rec = reconciler(broker, store, settings, events := [])
    first = rec.run_once()
    assert first.ok and first.resolved_unknowns == []
    assert store.get_order(crashed.client_order_id).status is OrderStatus.PENDING  # type: ignore[union-attr]
    time.sleep(2.1)
    second = rec.run_once()
    assert [o.client_order_id for o in second.resolved_unknowns] == [crashed.client_order_id]
    assert store.get_order(crashed.client_order_id).status is OrderStatus.EXPIRED  # type: ignore[union-attr]
    assert posts(fx) == 0 and events == []


def test_periodic_thread_reports_a_foreign_order(
    fx: FakeBinance, broker: BinanceBroker, store: Store, settings: Settings
) -> None:
    s = settings.model_copy(update={"reconcile_interval_seconds": 0.2})
    events: list[ReconcileReport] = []
    rec = Reconciler(broker, store, s, events.append)
    rec.start()
    try:
        fx.place_foreign_order("ETHUSDT", "SELL", 0.01, 2500.0)
        deadline = time.monotonic() + 5
        while not events and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        rec.stop()
    assert events and events[0].action == "halt"
    assert rec.runs >= 2
