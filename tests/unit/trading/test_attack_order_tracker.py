"""Adversarial review of the order tracker (issue 18, item 3): sequences that made the
tracker drop a fill or keep an order open for ever. Real store, real paper broker."""

from __future__ import annotations

from pathlib import Path

from tests.builders import T0, paper_world
from tradewarden.core.models import OrderRequest, OrderStatus, Side, Tick
from tradewarden.trading.paper_broker import PaperBroker

PX = 30_000.0


def _buy(world, qty: float):  # type: ignore[no-untyped-def]
    bot = world.trader.bots[0]
    sub = world.gate.submit(OrderRequest(bot.name, bot.symbol, Side.BUY, qty), PX)
    assert sub.accepted, sub
    world.trader.process_fills()
    assert sub.order is not None
    return bot, sub.order.client_order_id


def test_attack_paper_fills_after_a_restart_are_booked(tmp_path: Path) -> None:
    # a paper daemon restarted on its state dir: the new paper broker numbers its trades
    # from 1 again; the tracker books a fill once per trade id, so every fill of the new
    # process collided with a booked one and was silently dropped (no position, the
    # MARKET order left NEW for ever)
    world = paper_world(tmp_path, prices={"BTCUSDT": PX})
    bot, first = _buy(world, 0.01)
    assert world.store.get_order(first).status is OrderStatus.FILLED  # type: ignore[union-attr]
    world.close()

    broker = PaperBroker({"USDT": 10_000.0 - 0.01 * PX * 1.001, "BTC": 0.01})
    broker.on_tick(Tick(T0 + 60, bot.symbol, PX, PX, PX, PX, 1.0))
    world = paper_world(tmp_path, broker=broker, prices={"BTCUSDT": PX}, ts=T0 + 60)
    _, second = _buy(world, 0.02)
    assert len(world.store.fills_for(second)) == 1, "the new process's fill was dropped"
    row = world.store.get_order(second)
    assert row is not None and row.status is OrderStatus.FILLED
    assert len(world.store.fills()) == 2
    world.close()


def test_attack_open_order_count_follows_the_rows_after_a_restart(tmp_path: Path) -> None:
    # a crash between the exchange's answer to a MARKET order and the booking of its fill:
    # the next start counts the row (open until its fill is booked) as an open order; the
    # fill completed it, but a MARKET order was never decremented, so the count stayed
    # up for the life of the process and `max_open_orders` refused orders of nobody's
    world = paper_world(tmp_path, prices={"BTCUSDT": PX}, max_open_orders=1)
    bot = world.trader.bots[0]
    sub = world.gate.submit(OrderRequest(bot.name, bot.symbol, Side.BUY, 0.01), PX)
    assert sub.accepted and sub.order is not None
    broker = world.broker  # the exchange outlives the crash, its fill not yet fetched
    world.close()

    world = paper_world(tmp_path, broker=broker, prices={"BTCUSDT": PX}, max_open_orders=1)
    world.risk.set_open_orders(len(world.store.open_orders()))  # as the daemon's start does
    assert world.risk.book.open_orders == 1
    world.trader.process_fills()
    row = world.store.get_order(sub.order.client_order_id)
    assert row is not None and row.status is OrderStatus.FILLED
    assert world.store.open_orders() == []
    assert world.risk.book.open_orders == 0, "a closed MARKET order still counted as open"
    world.close()


def test_attack_the_exchange_rejecting_an_unresolved_order_settles_it(tmp_path: Path) -> None:
    # Binance's order status REJECTED ("not accepted by the engine"), answered to the
    # query of an order whose outcome we did not know, or of one we saw as PENDING_NEW
    # (stored NEW): the transition table refused both, so the row stayed UNKNOWN / NEW for
    # ever: its symbol blocked for good (UNKNOWN) or an open order polled for ever (NEW)
    from tests.unit.trading.test_order_tracker import CID, remote, start
    from tradewarden.state.store import Store
    from tradewarden.trading.order_tracker import OrderTracker

    store = Store(tmp_path / "db.sqlite3", durable=False)
    tracker = OrderTracker(store)
    start(tracker)
    assert tracker.mark_unknown(CID)
    assert tracker.process_order_update(remote(OrderStatus.REJECTED)) is OrderStatus.REJECTED
    assert store.open_orders() == []
    # but never our own conclusion over an unknown outcome: that is settled by query
    store2 = Store(tmp_path / "db2.sqlite3", durable=False)
    t2 = OrderTracker(store2)
    start(t2)
    t2.mark_accepted(remote(OrderStatus.NEW))  # PENDING_NEW maps to NEW
    assert t2.process_order_update(remote(OrderStatus.REJECTED)) is OrderStatus.REJECTED
    t2.mark_unknown(CID)
    store3 = Store(tmp_path / "db3.sqlite3", durable=False)
    t3 = OrderTracker(store3)
    start(t3)
    assert t3.mark_unknown(CID)
    assert not t3.mark_rejected(CID)  # ours: refused, the row stays UNKNOWN
    assert store3.open_orders()[0].status is OrderStatus.UNKNOWN
    for s in (store, store2, store3):
        s.close()


def test_attack_an_order_closed_by_the_exchange_without_a_fill_stops_counting(
    tmp_path: Path,
) -> None:
    # a resting LIMIT order the exchange closes with nothing executed (cancelled in the
    # web UI, EXPIRED_IN_MATCH, a MARKET order EXPIRED after its partial fill is booked):
    # the poller writes the closed status through the tracker, and nothing lowered the
    # open-order count, so `max_open_orders` refused every later order
    from tradewarden.core.models import OrderType
    from tradewarden.trading.order_tracker import tracker_for

    world = paper_world(tmp_path, prices={"BTCUSDT": PX}, max_open_orders=1)
    bot = world.trader.bots[0]
    req = OrderRequest(bot.name, bot.symbol, Side.BUY, 0.01, OrderType.LIMIT, PX * 0.9)
    sub = world.gate.submit(req, PX)
    assert sub.accepted and sub.order is not None and sub.order.status is OrderStatus.NEW
    assert world.risk.book.open_orders == 1
    gone = world.broker.cancel(bot.symbol, sub.order.client_order_id)  # not through us
    tracker_for(world.store).process_order_update(gone)  # what the fill poller writes
    world.trader.process_fills()  # the round's poll: no fill
    assert world.store.open_orders() == []
    assert world.risk.book.open_orders == 0, "an order the exchange closed still counted"
    world.close()
