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
