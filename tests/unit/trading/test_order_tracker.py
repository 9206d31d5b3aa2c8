"""The client order tracker (issue 18, item 3): every transition of an order row, the ones
it refuses, fills booked once per trade id, and what a crash leaves behind.

A real SQLite store throughout; the paper broker is the exchange where one is needed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.builders import LogNotifier
from tradewarden.audit.chain import AuditLog
from tradewarden.core.config import load_settings
from tradewarden.core.models import Fill, Order, OrderRequest, OrderStatus, OrderType, Side, Tick
from tradewarden.exchange.reconcile import Reconciler
from tradewarden.risk.engine import RiskEngine
from tradewarden.state.store import Store
from tradewarden.strategy.ma_cross import MaCross
from tradewarden.trading.bot_ledger import Ledger
from tradewarden.trading.broker import BrokerError
from tradewarden.trading.order_gate import OrderGate
from tradewarden.trading.order_tracker import (
    FINDINGS_KEY,
    OrderFinding,
    OrderTracker,
    expired_verdicts,
    tracker_for,
)
from tradewarden.trading.paper_broker import PaperBroker
from tradewarden.trading.trader import Bot, Trader

S = OrderStatus
CID = "tw-b1-1-abcd"
QTY = 0.002

# Written out by hand (not derived from the tracker's table): where each status may go.
TERMINAL = {S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED}
EXPECTED_ALLOWED = {
    S.PENDING: {S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED, S.UNKNOWN},
    S.UNKNOWN: {S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED},
    S.NEW: {S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED, S.UNKNOWN},
    S.PARTIALLY_FILLED: {S.FILLED, S.CANCELED, S.EXPIRED, S.UNKNOWN},
    **{t: set() for t in TERMINAL},
}
TARGETS = [s for s in S if s is not S.PENDING]  # nothing ever goes (back) to PENDING


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "db.sqlite3", durable=False)
    yield s
    s.close()


def intent(cid: str = CID, order_type: OrderType = OrderType.LIMIT) -> Order:
    return Order(cid, "b1", "BTCUSDT", Side.BUY, order_type, QTY, 30_000.0, S.PENDING)


def remote(status: OrderStatus, filled: float = 0.0, **kw: object) -> Order:
    base: dict[str, object] = {
        "client_order_id": CID,
        "bot": "b1",
        "symbol": "BTCUSDT",
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "qty": QTY,
        "price": 30_000.0,
        "status": status,
        "filled_qty": filled,
        "exchange_order_id": "77",
    }
    return Order(**{**base, **kw})  # type: ignore[arg-type]


def fill(trade_id: str, qty: float, cid: str = CID, price: float = 30_000.0) -> Fill:
    return Fill(trade_id, cid, "b1", "BTCUSDT", Side.BUY, qty, price, 0.0, 1.0)


def start(tracker: OrderTracker, order: Order | None = None) -> None:
    with tracker.track_intent(order or intent()):
        pass


def status(store: Store, cid: str = CID) -> OrderStatus:
    row = store.get_order(cid)
    assert row is not None
    return row.status


def drive_to(tracker: OrderTracker, to: OrderStatus) -> None:
    """Bring the order from its intent to `to` through the tracker's own methods."""
    start(tracker)
    if to is S.UNKNOWN:
        assert tracker.mark_unknown(CID)
    elif to is S.REJECTED:
        assert tracker.mark_rejected(CID)
    elif to is S.EXPIRED:
        assert tracker.mark_expired(CID, verdict=False)
    elif to is S.NEW:
        assert tracker.mark_accepted(remote(S.NEW)) is S.NEW
    elif to is S.CANCELED:
        tracker.mark_accepted(remote(S.NEW))
        assert tracker.mark_cancelled(remote(S.CANCELED)) is S.CANCELED
    elif to is S.PARTIALLY_FILLED:
        tracker.mark_accepted(remote(S.NEW))
        assert tracker.process_trade_update(fill("t-a", QTY / 2)).booked
    elif to is S.FILLED:
        tracker.mark_accepted(remote(S.NEW))
        assert tracker.process_trade_update(fill("t-a", QTY)).booked
    assert status(tracker.store) is to


def apply(tracker: OrderTracker, target: OrderStatus) -> None:
    """The event that asks for `target` (the exchange's view carries what is booked)."""
    booked = sum(float(r["qty"]) for r in tracker.store.fills_for(CID))
    if target is S.UNKNOWN:
        tracker.mark_unknown(CID)
    elif target is S.REJECTED:
        tracker.mark_rejected(CID)
    elif target in (S.NEW, S.CANCELED, S.EXPIRED):
        tracker.process_order_update(remote(target, booked))
    elif target is S.PARTIALLY_FILLED:
        tracker.process_trade_update(fill("t-b", min(QTY / 4, QTY - booked) or QTY / 4))
    elif target is S.FILLED:
        tracker.process_trade_update(fill("t-b", QTY - booked if booked < QTY else QTY))


# every (current, target) pair an event can ask for (no fill can make a FILLED order
# partly filled: it stays FILLED, the same status)
PAIRS = [(c, t) for c in S for t in TARGETS if not (c is S.FILLED and t is S.PARTIALLY_FILLED)]


@pytest.mark.parametrize(("current", "target"), PAIRS, ids=str)
def test_every_transition_is_allowed_or_refused_as_the_table_says(
    store: Store, current: OrderStatus, target: OrderStatus, caplog: pytest.LogCaptureFixture
) -> None:
    tracker = OrderTracker(store)
    drive_to(tracker, current)
    with caplog.at_level(logging.WARNING, "tradewarden.trading.order_tracker"):
        apply(tracker, target)
    if target is current or target in EXPECTED_ALLOWED[current]:
        assert status(store) is target
        assert "transition refused" not in caplog.text
    else:  # backwards or out of a terminal status: ignored, logged, row unchanged
        assert status(store) is current
        assert f"order transition refused: {current} -> {target}" in caplog.text


def test_a_terminal_order_keeps_its_fill_state_when_a_stale_poll_says_new(store: Store) -> None:
    tracker = OrderTracker(store)
    drive_to(tracker, S.FILLED)
    # a stale read (reads are asynchronous) says NEW with nothing executed
    assert tracker.process_order_update(remote(S.NEW, 0.0)) is S.FILLED
    row = store.get_order(CID)
    assert row is not None and row.filled_qty == pytest.approx(QTY)
    assert row.avg_price == pytest.approx(30_000.0)


def test_a_late_fill_of_a_closed_order_is_booked_but_does_not_reopen_it(store: Store) -> None:
    tracker = OrderTracker(store)
    drive_to(tracker, S.CANCELED)
    booking = tracker.process_trade_update(fill("t-late", QTY / 2))
    assert booking.booked and not booking.completed  # the money moved: booked
    row = store.get_order(CID)
    assert row is not None and row.status is S.CANCELED  # but the order stays closed
    assert row.filled_qty == pytest.approx(QTY / 2)


def test_a_fill_is_booked_once_per_trade_id_even_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    store = Store(path, durable=False)
    tracker = OrderTracker(store)
    start(tracker)
    tracker.mark_accepted(remote(S.NEW))
    first = tracker.process_trade_update(fill("t-1", QTY / 2, price=30_000.0))
    assert first.booked and first.order is not None
    assert first.order.status is S.PARTIALLY_FILLED and not first.completed
    assert not tracker.process_trade_update(fill("t-1", QTY / 2)).booked  # the poll again
    store.close()
    store = Store(path, durable=False)  # a restart: a new store and tracker, same file
    again = OrderTracker(store)
    assert not again.process_trade_update(fill("t-1", QTY / 2)).booked  # reconcile repeat
    second = again.process_trade_update(fill("t-2", QTY / 2, price=31_000.0))
    assert second.booked and second.completed
    row = store.get_order(CID)
    assert row is not None and row.status is S.FILLED
    assert row.filled_qty == pytest.approx(QTY)
    assert row.avg_price == pytest.approx(30_500.0)  # volume-weighted over the two fills
    assert [r["trade_id"] for r in store.fills_for(CID)] == ["t-1", "t-2"]
    store.close()


def test_unknown_then_queried_then_filled(store: Store) -> None:
    tracker = OrderTracker(store)
    start(tracker)
    assert tracker.mark_unknown(CID)
    assert status(store) is S.UNKNOWN
    # the query answers: executed in full; the row stays open until the fill is booked
    assert tracker.process_order_update(remote(S.FILLED, QTY, avg_price=30_000.0)) is S.NEW
    row = store.get_order(CID)
    assert row is not None and row.exchange_order_id == "77" and row.filled_qty == 0.0
    booking = tracker.process_trade_update(fill("t-1", QTY))
    assert booking.booked and booking.completed
    assert tracker.process_order_update(remote(S.FILLED, QTY)) is S.FILLED
    assert not tracker.process_trade_update(fill("t-1", QTY)).booked
    assert len(store.fills_for(CID)) == 1


def test_an_exchange_expired_in_match_order_closes_once_its_fills_are_booked(
    store: Store,
) -> None:
    # EXPIRED_IN_MATCH (self-trade prevention) maps to EXPIRED, possibly after a partial fill
    tracker = OrderTracker(store)
    start(tracker)
    tracker.mark_accepted(remote(S.NEW))
    assert tracker.process_order_update(remote(S.EXPIRED, QTY / 2)) is S.NEW  # fill unbooked
    tracker.process_trade_update(fill("t-1", QTY / 2))
    assert status(store) is S.PARTIALLY_FILLED
    assert tracker.process_order_update(remote(S.EXPIRED, QTY / 2)) is S.EXPIRED
    assert tracker.process_order_update(remote(S.NEW, QTY / 2)) is S.EXPIRED  # never back


def test_our_expired_verdict_gives_way_to_the_exchange(store: Store) -> None:
    tracker = OrderTracker(store)
    start(tracker)
    tracker.mark_unknown(CID)
    assert tracker.mark_expired(CID)  # not seen past recvWindow + margin
    assert CID in expired_verdicts(store)
    # it shows up after all: the exchange's word over ours
    assert tracker.process_order_update(remote(S.NEW)) is S.NEW
    # an EXPIRED the exchange reported (no verdict of ours) is final
    start(tracker, intent("tw-b1-2-abcd"))
    tracker.process_order_update(remote(S.EXPIRED, client_order_id="tw-b1-2-abcd"))
    assert "tw-b1-2-abcd" not in expired_verdicts(store)
    assert tracker.process_order_update(remote(S.NEW, client_order_id="tw-b1-2-abcd")) is (
        S.EXPIRED
    )


def test_another_order_under_our_id_is_left_alone(store: Store) -> None:
    tracker = OrderTracker(store)
    start(tracker)
    tracker.mark_accepted(remote(S.NEW))
    assert tracker.process_order_update(remote(S.CANCELED, exchange_order_id="99")) is None
    assert status(store) is S.NEW


def test_an_event_for_an_order_we_never_recorded_is_a_finding_not_a_position(
    store: Store,
) -> None:
    tracker = OrderTracker(store)
    seen: list[OrderFinding] = []
    tracker.on_finding.append(seen.append)
    booking = tracker.process_trade_update(fill("t-x", 1.0, cid="tw-zz-9-ffff"))
    assert not booking.booked and booking.order is None
    assert store.fills() == []  # nothing booked
    assert tracker.process_order_update(remote(S.NEW, client_order_id="tw-zz-9-ffff")) is None
    assert not tracker.mark_unknown("tw-zz-9-ffff")
    assert store.get_order("tw-zz-9-ffff") is None  # no row made up either
    kinds = [f.kind for f in seen]
    assert kinds == ["unknown_order_fill", "unknown_order_update", "unknown_order_update"]
    kept = store.get(FINDINGS_KEY)
    assert [k["kind"] for k in kept] == kinds  # durable: survives a restart
    assert kept[0]["detail"]["trade_id"] == "t-x"


def test_a_fill_that_does_not_match_its_order_is_refused(store: Store) -> None:
    tracker = OrderTracker(store)
    seen: list[OrderFinding] = []
    tracker.on_finding.append(seen.append)
    start(tracker)
    tracker.mark_accepted(remote(S.NEW))
    wrong = Fill("t-w", CID, "b1", "ETHUSDT", Side.SELL, QTY, 2_000.0, 0.0, 1.0)
    assert not tracker.process_trade_update(wrong).booked
    assert store.fills() == [] and status(store) is S.NEW
    assert [f.kind for f in seen] == ["mismatched_order_fill"]


def test_one_tracker_per_store(store: Store, tmp_path: Path) -> None:
    assert tracker_for(store) is tracker_for(store)
    other = Store(tmp_path / "other.sqlite3", durable=False)
    assert tracker_for(other) is not tracker_for(store)
    other.close()


def test_an_intent_is_pending() -> None:
    tracker = OrderTracker.__new__(OrderTracker)
    with pytest.raises(ValueError, match="PENDING"), tracker.track_intent(remote(S.NEW)):
        pass


# --- crash between intent and submit ----------------------------------------------------------
@pytest.fixture()
def settings(tmp_path: Path, clean_env: None):  # noqa: ANN201 - Settings
    return load_settings(state_dir=tmp_path, bots="b1:BTCUSDT:ma_cross")


class _ServerClock:
    def __init__(self, clock: list[float]) -> None:
        self.clock = clock

    def server_ms(self) -> float:
        return self.clock[0] * 1000.0


class PaperExchange(PaperBroker):
    """The paper broker with what reconciliation reads of an exchange gateway (the
    `ExchangeBroker` protocol): nothing in flight, no send times kept by this process (it
    is the one that restarted), total balances, the exchange's clock."""

    timesync: _ServerClock

    def in_flight(self) -> frozenset[str]:
        return frozenset()

    def sent_at_ms(self, client_order_id: str) -> float | None:
        return None

    def total_balances(self) -> dict[str, float]:
        return dict(self.balances())

    def filters(self, symbol: str) -> Any:
        raise BrokerError(f"no filters for {symbol} on paper")


def _restart_reconcile(settings, broker: PaperExchange) -> tuple[Store, Reconciler]:  # noqa: ANN001
    """The next start: a new store on the file and a reconciler whose clock is already
    past recvWindow + margin after its start (a request sent before can no longer land)."""
    store = Store(settings.db_path, durable=False)
    clock = [time.time()]
    broker.timesync = _ServerClock(clock)
    rec = Reconciler(
        broker, store, settings, lambda _r: None, wall=lambda: clock[0], expiry_margin_s=0
    )
    clock[0] += 3600.0
    return store, rec


def test_crash_after_the_intent_before_the_send_resolves_by_query_never_resends(
    settings,  # noqa: ANN001
) -> None:
    broker = PaperExchange({"USDT": 10_000.0})
    broker.on_tick(Tick(1.0, "BTCUSDT", 30_000.0, 30_000.0, 30_000.0, 30_000.0, 1.0))
    store = Store(settings.db_path, durable=False)
    start(OrderTracker(store), intent(order_type=OrderType.MARKET))
    store.close()  # the process dies here: the intent is committed, nothing was sent

    store, rec = _restart_reconcile(settings, broker)
    report = rec.run_once()
    assert status(store) is S.EXPIRED  # asked for, unknown to the exchange: never happened
    assert [o.client_order_id for o in report.resolved_unknowns] == [CID]
    assert CID in expired_verdicts(store)
    assert broker.query("BTCUSDT", CID) is None  # and it was never sent after the restart
    assert broker.open_orders() == [] and broker.poll_fills() == []
    store.close()


def test_crash_after_the_send_resolves_by_query_and_books_the_fill_once(settings) -> None:  # noqa: ANN001
    broker = PaperExchange({"USDT": 10_000.0})
    broker.on_tick(Tick(1.0, "BTCUSDT", 30_000.0, 30_000.0, 30_000.0, 30_000.0, 1.0))
    store = Store(settings.db_path, durable=False)
    start(OrderTracker(store), intent(order_type=OrderType.MARKET))
    req = OrderRequest("b1", "BTCUSDT", Side.BUY, QTY, OrderType.MARKET, client_order_id=CID)
    broker.submit(req)  # it reached the exchange (and filled); the answer was lost
    store.close()

    store, rec = _restart_reconcile(settings, broker)
    rec.run_once()
    tracker = tracker_for(store)
    assert status(store) is S.NEW  # known to the exchange, its fill not booked yet
    fills = broker.poll_fills()
    assert [f.client_order_id for f in fills] == [CID]
    assert tracker.process_trade_update(fills[0]).completed
    assert not tracker.process_trade_update(fills[0]).booked  # a repeat books nothing
    rec.run_once()
    assert status(store) is S.FILLED
    assert len(store.fills_for(CID)) == 1
    store.close()


# --- the trader: a fill nobody ordered creates no position ------------------------------------
class StrayFillBroker(PaperBroker):
    """The paper exchange, reporting one fill of an order this daemon never recorded."""

    def __init__(self, *a: object, **kw: object) -> None:
        super().__init__(*a, **kw)  # type: ignore[arg-type]
        self.stray = [fill("t-stray", 0.5, cid="tw-b1-999-ffff")]

    def poll_fills(self) -> list[Fill]:
        out, self.stray = self.stray, []
        return out + super().poll_fills()


def test_the_trader_books_no_position_from_a_fill_of_an_unknown_order(settings) -> None:  # noqa: ANN001
    store = Store(settings.db_path, durable=False)
    audit = AuditLog(settings.audit_dir)
    risk = RiskEngine(settings, store, ["b1"])
    broker = StrayFillBroker({"USDT": 10_000.0})
    gate = OrderGate(risk, broker, store, audit)
    seen: list[OrderFinding] = []
    gate.tracker.on_finding.append(seen.append)
    ledger = Ledger([("b1", "BTCUSDT")], 10_000.0)
    trader = Trader(
        risk=risk,
        gate=gate,
        broker=broker,
        store=store,
        audit=audit,
        ledger=ledger,
        bots=[Bot("b1", "BTCUSDT", MaCross())],
        notifier=LogNotifier(),
        order_fraction=0.1,
        flatten_on_emergency=True,
    )
    trader.process_fills()
    assert ledger.books["b1"].qty == 0.0
    assert risk.book.positions.get(("b1", "BTCUSDT"), 0.0) == 0.0
    assert store.fills() == []
    assert [f.kind for f in seen] == ["unknown_order_fill"]
    audit.close()
    store.close()
