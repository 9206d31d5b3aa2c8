"""Attacks on the streams-mode exchange loop (issue 19), through a real `Inbox` and the fake
Binance over REST (the rig of test_stream_loop): a fill event for an order that is not ours,
forged and absurd market data, a closed kline from the future, a kline closed twice."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from tests.unit.runtime.test_stream_loop import Rig, candle, rig  # noqa: F401 - the fixture
from tradewarden.core.models import Tick
from tradewarden.exchange.streams import CandleEvent, OrderEvent, PriceEvent, StreamEvent
from tradewarden.strategy.ma_cross import MaCross


def _foreign_reuse_of(rig: Rig, cid: str) -> OrderEvent:  # noqa: F811
    """A leaked key's order placed under one of OUR (closed) client order ids: Binance only
    refuses a clientOrderId that is open, so the id of a filled order of ours is free again.
    Its executionReport carries our cid, another orderId and a trade of its own."""
    (ours,) = rig.report(cid)
    assert ours.trade is not None
    trade: dict[str, Any] = dict(ours.trade) | {"id": 987_654, "orderId": 555_555}
    order = replace(ours.order, exchange_order_id="555555")
    return OrderEvent(order, trade, "TRADE", ours.event_ms + 1, time.monotonic())


def test_a_fill_of_a_foreign_order_reusing_our_client_id_is_not_booked_as_ours(
    rig: Rig,  # noqa: F811
) -> None:
    cid = rig.buy()
    for e in rig.report(cid):
        rig.inbox.put(e)
    rig.loop.stream_round()
    assert len(rig.booked()) == 1
    before_qty = rig.d.ledger.books["b1"].qty
    rig.inbox.put(_foreign_reuse_of(rig, cid))
    rig.loop.stream_round()
    assert len(rig.booked()) == 1, "a foreign trade was booked as a fill of ours"
    assert rig.d.ledger.books["b1"].qty == before_qty
    assert rig.loop._outside, "a foreign order brings the full check forward"


def test_a_price_of_a_symbol_we_do_not_trade_marks_nothing(rig: Rig) -> None:  # noqa: F811
    rig.inbox.put(PriceEvent("ETHUSDT", 1.0, 1.0, 1.0, time.monotonic()))
    rig.loop.stream_round()
    assert "ETHUSDT" not in rig.d.trader.prices


def test_a_kline_closed_twice_with_different_closes_is_decided_once(rig: Rig) -> None:  # noqa: F811
    strategy = rig.d.bots[0].strategy
    assert isinstance(strategy, MaCross)
    time.sleep(1.3)
    first = candle(rig, closed=True, p=30_111.0)
    rig.inbox.put(first)
    rig.loop.stream_round()
    n = rig.d.trader.ticks
    second = CandleEvent(
        replace(first.tick, close=29_000.0), first.open_ms, first.close_ms, True, 0.0
    )
    rig.inbox.put(second)
    rig.loop.stream_round()
    assert rig.d.trader.ticks == n
    assert 29_000.0 not in list(strategy.closes)
    assert list(strategy.closes)[-1] == 30_111.0


def test_a_reconnect_of_the_user_stream_checks_every_symbol(rig: Rig) -> None:  # noqa: F811
    rig.loop._full_next = False
    rig.inbox.put(StreamEvent("user", "connected", "subscribed", time.monotonic()))
    rig.loop.stream_round()
    assert not rig.loop._reconcile_now and not rig.loop._full_next


def test_a_closed_kline_from_the_future_is_never_decided_on(rig: Rig) -> None:  # noqa: F811
    strategy = rig.d.bots[0].strategy
    assert isinstance(strategy, MaCross)
    before = rig.d.trader.ticks
    now = rig.fx.server_time_ms()
    open_ms = (now // 1000 + 5) * 1000  # opens 5 s from now, "closed" already
    tick = Tick(open_ms / 1000.0, "BTCUSDT", 1.0, 1.0, 1.0, 1.0, 1.0)
    rig.inbox.put(CandleEvent(tick, open_ms, open_ms + 999, True, time.monotonic()))
    rig.loop.stream_round()
    deadline = time.monotonic() + 15.0
    while time.monotonic() < deadline:
        if rig.fx.server_time_ms() > open_ms + 3_000:
            break
        time.sleep(0.2)
        rig.loop.stream_round()
    rig.loop.stream_round()
    assert 1.0 not in list(strategy.closes), "a forged future kline reached the strategy"
    assert rig.d.trader.ticks >= before  # genuine klines (back-filled) may be decided


def test_a_refusal_echoing_the_api_key_never_puts_it_into_the_stream_health(
    rig: Rig,  # noqa: F811
) -> None:
    """A server (or a proxy) whose unknown error text echoes the signed request: the reason
    kept in health.last_error (shown by /readyz, status, the log) holds neither the API key
    nor the signature."""
    from tests.unit.runtime.test_stream_loop import KEY

    user = rig.streams.user
    signed = user._signer.ws_signed({"timestamp": rig.fx.server_time_ms()})
    sig = signed["signature"]
    answer = {
        "id": "tw-sub-1",
        "status": 400,
        "error": {"code": -1199, "msg": f"bad {signed['apiKey']} {sig}"},
    }
    try:
        user._subscription_id(answer)
    except Exception as exc:  # noqa: BLE001 - the reason is what is kept
        reason = str(exc)
    else:
        raise AssertionError("a refused subscription was taken")
    assert KEY not in reason and KEY[:16] not in reason and sig[:16] not in reason, reason
    assert "-1199" in reason


def _quiet(rig: Rig) -> None:  # noqa: F811
    """Nothing of ours open, the last check settled and after every change: the quiet
    interval (120 s instead of 30 s) applies; the regular interval has just passed."""
    rig.loop.reconcile_checked()
    rig.loop.reconcile_checked()  # the first settled run only takes the balance baseline
    rig.loop._quiet = (0.0, 0.0)
    assert rig.loop._quiet_extra() > 0, "the quiet interval is what is attacked here"
    rig.loop._next_reconcile = time.monotonic() - 0.01  # 30 s since the last run


def test_a_foreign_order_on_the_stream_halts_at_the_regular_interval_not_the_quiet_one(
    rig: Rig,  # noqa: F811
) -> None:
    """A leaked key's order while the streams are healthy and nothing of ours is open: its
    executionReport (same account) brings the full check forward to the regular 30 s
    interval; the 120 s quiet interval is never what a foreign order waits for."""
    from tradewarden.exchange.mapping import order_from_json

    _quiet(rig)
    assert not rig.loop._reconcile_due(), "quiet: not due 30 s after the last run"
    js = rig.fx.place_foreign_order("BTCUSDT", "BUY", 0.001, 20_000.0)
    rig.inbox.put(OrderEvent(order_from_json(js), None, "NEW", 1, time.monotonic()))
    rig.loop.stream_round()
    assert rig.d.risk.state.label == "halted"
    assert [k for k, _ in rig.d.notifier.sent].count("foreign_order") == 1  # type: ignore[attr-defined]


def test_a_fill_on_a_silent_user_stream_is_booked_at_the_regular_interval_once(
    rig: Rig,  # noqa: F811
) -> None:
    """The user stream connected but silent (no heartbeat between trades: a dead-but-open
    subscription looks the same) while our order fills on the exchange: the order changed
    after the last check, so the quiet interval no longer applies and the REST check books
    the fill at the regular interval, once."""
    _quiet(rig)
    rig.loop._next_reconcile = time.monotonic() + 3600
    cid = rig.buy()  # a MARKET order: filled on the exchange, its event never comes
    assert rig.booked() == []
    rig.loop._quiet = (0.0, 0.0)
    assert rig.loop._quiet_extra() == 0.0, "an order of ours changed: the regular interval"
    rig.loop._next_reconcile = time.monotonic() - 0.01
    rig.loop.stream_round()
    (event,) = rig.report(cid)
    assert event.trade is not None
    assert rig.booked() == [f"BTCUSDT:{event.trade['id']}"]
    rig.loop._next_reconcile = time.monotonic() - 0.01
    rig.loop.stream_round()
    rig.inbox.put(event)  # the stream wakes up after all
    rig.loop.stream_round()
    assert len(rig.booked()) == 1
    assert rig.d.risk.state.label == "active"


def test_a_reordered_new_report_after_the_fill_does_not_reopen_the_order(
    rig: Rig,  # noqa: F811
) -> None:
    """The stream's reorder: the order's NEW report delivered after its FILLED trade."""
    from tradewarden.core.models import OrderStatus

    cid = rig.buy()
    (filled,) = rig.report(cid)
    new = OrderEvent(
        replace(filled.order, status=OrderStatus.NEW, filled_qty=0.0, avg_price=0.0),
        None,
        "NEW",
        filled.event_ms - 1,
        time.monotonic(),
    )
    rig.inbox.put(filled)
    rig.inbox.put(new)
    rig.loop.stream_round()
    row = rig.d.store.get_order(cid)
    assert row is not None and str(row.status) == "FILLED", row
    assert rig.d.store.open_orders() == []
    assert len(rig.booked()) == 1


def test_a_fill_event_of_a_foreign_order_is_never_booked(rig: Rig) -> None:  # noqa: F811
    """A TRADE report of an order someone else placed (clientOrderId not ours): no fill of
    ours, no ledger change; the full check is brought forward."""
    cid = rig.buy()
    (ours,) = rig.report(cid)
    assert ours.trade is not None
    foreign = OrderEvent(
        replace(ours.order, client_order_id="web_0123456789abcdef", exchange_order_id="777"),
        dict(ours.trade) | {"id": 424_242, "orderId": 777},
        "TRADE",
        ours.event_ms,
        time.monotonic(),
    )
    rig.inbox.put(foreign)
    rig.loop._full_next = False
    rig.loop.stream_round()
    assert "BTCUSDT:424242" not in rig.booked()
    assert len(rig.booked()) <= 1  # our own fill, if the REST check ran meanwhile
    assert rig.d.ledger.books["b1"].qty <= 0.01
    assert rig.loop._outside or rig.d.risk.state.label == "halted"
