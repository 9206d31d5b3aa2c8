"""The exchange loop in streams mode, fed through a real `Inbox` (no stream threads: the test
puts what the streams would), against the fake Binance over REST: order events book fills
once through the trader's one fill path, prices never make a strategy decide, closed klines
do, a (re)connected user stream is checked over REST, an unhealthy stream means polling."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.builders import LogNotifier
from tests.fakes.binance import FakeBinance
from tradewarden.core.config import Mode, Settings, load_settings
from tradewarden.core.models import OrderRequest, OrderType, Side, Tick
from tradewarden.exchange import BinanceBroker
from tradewarden.exchange.mapping import order_from_json
from tradewarden.exchange.streams import (
    BalanceEvent,
    CandleEvent,
    Inbox,
    MarketStream,
    OrderEvent,
    PriceEvent,
    StreamEvent,
    Streams,
    UserDataStream,
    stream_urls,
)
from tradewarden.runtime.daemon import Daemon, LiveDecision
from tradewarden.runtime.exchange_loop import ExchangeLoop
from tradewarden.secrets.value import Secret
from tradewarden.strategy.ma_cross import MaCross

KEY = "-".join(("tw", "unit", "stream", "k" * 20))
SECRET = "-".join(("tw", "unit", "stream", "s" * 20))
SPEC = {"price": 30000.0, "tick": 0.01, "step": 0.00001, "min_qty": 0.00001, "min_notional": 5.0}
TRADE_KEYS = ("id", "orderId", "qty", "price", "commission", "commissionAsset", "time")


def creds() -> tuple[Secret, Secret]:
    return Secret(KEY, "api_key"), Secret(SECRET, "api_secret")


@dataclass
class Rig:
    fx: FakeBinance
    d: Daemon
    loop: ExchangeLoop
    broker: BinanceBroker
    streams: Streams

    @property
    def inbox(self) -> Inbox:
        return self.streams.inbox

    def healthy(self) -> None:
        """Both streams up, the market one with a fresh message (what their threads keep)."""
        self.streams.user.health.connected = True
        self.streams.market.health.connected = True
        self.streams.market.health.last_message = time.monotonic()

    def buy(self, qty: float = 0.01, side: Side = Side.BUY) -> str:
        req = OrderRequest("b1", "BTCUSDT", side, qty, order_type=OrderType.MARKET)
        sub = self.d.gate.submit(req, self.fx.server_time_ms() and SPEC["price"])
        assert sub.accepted and sub.order is not None, sub
        return sub.order.client_order_id

    def report(self, cid: str) -> list[OrderEvent]:
        """The executionReports of our order `cid`'s trades, as the user stream gives them."""
        js = next(o for o in self.fx.orders() if o["clientOrderId"] == cid)
        out = []
        for t in self.fx.trades():
            if t["orderId"] != js["orderId"]:
                continue
            trade: dict[str, Any] = {k: t[k] for k in TRADE_KEYS}
            trade |= {"isBuyer": t["isBuyer"], "isMaker": t["isMaker"]}
            out.append(OrderEvent(order_from_json(js), trade, "TRADE", int(t["time"]), 0.0))
        assert out, f"no trade of {cid} on the exchange"
        return out

    def balances(self) -> BalanceEvent:
        """The account's outboundAccountPosition as the user stream gives it."""
        return BalanceEvent(dict(self.fx.balances()), None, 0, time.monotonic())

    def booked(self) -> list[str]:
        return [str(r["trade_id"]) for r in self.d.store.fills()]


@pytest.fixture()
def rig(tmp_path: Path, clean_env: None) -> Iterator[Rig]:
    with FakeBinance(
        api_key=KEY,
        api_secret=SECRET,
        symbols={"BTCUSDT": SPEC},
        balances={"USDT": 10_000.0, "BTC": 0.0},
    ) as fx:
        settings = load_settings(
            mode="testnet",
            binance_base_url=fx.url,
            state_dir=tmp_path,
            symbols=("BTCUSDT",),
            bots=("b1:BTCUSDT:ma_cross",),
            kline_interval="1s",
            metrics_port=0,
            recv_window_ms=1000,
            max_consecutive_losses=1,
        )

        def make(store: Any, metrics: Any) -> BinanceBroker:
            return BinanceBroker(settings, store, creds, request_timeout_s=2.0)

        d = Daemon(
            settings,
            notifier=LogNotifier(),
            decision=LiveDecision(Mode.TESTNET, ["test"]),
            make_broker=make,
        )
        try:
            broker = d.exchange_broker
            assert isinstance(broker, BinanceBroker)
            loop = ExchangeLoop(d, broker)
            loop.start()
            streams = streams_for(settings, broker, Inbox(d._wake.set))
            r = Rig(fx, d, loop, broker, streams)
            r.healthy()
            loop.attach_streams(streams, broker)
            yield r
        finally:
            d.close()


def streams_for(settings: Settings, broker: BinanceBroker, inbox: Inbox) -> Streams:
    """The daemon's two streams, never started: the test plays their threads."""
    ws_api, market = stream_urls(settings.effective_binance_url)
    user = UserDataStream(broker, ws_api, inbox, reconnect_max_s=1.0)
    mkt = MarketStream(
        market, ["BTCUSDT"], inbox, kline_interval="1s", stale_after_s=10.0, reconnect_max_s=1.0
    )
    return Streams(user, mkt, inbox)


def test_healthy_streams_are_the_fill_source(rig: Rig) -> None:
    assert rig.loop.fallback is None
    assert rig.broker.fill_source is not None
    assert rig.d.trader.balances_streamed
    assert rig.loop.stream_status()["fallback"] is False


def test_an_order_event_books_its_fill_once_whatever_repeats(rig: Rig) -> None:
    cid = rig.buy()
    assert rig.booked() == [], "the fill waits for its event (no REST fill poll)"
    (event,) = rig.report(cid)
    for _ in range(3):  # duplicated by the stream
        rig.inbox.put(event)
    rig.loop.stream_round()
    trade_id = f"BTCUSDT:{event.trade['id'] if event.trade else '?'}"
    assert rig.booked() == [trade_id]
    assert rig.d.ledger.books["b1"].qty == pytest.approx(0.01, rel=0.01)  # less commission
    row = rig.d.store.get_order(cid)
    assert row is not None and str(row.status) == "FILLED"
    rig.inbox.put(event)  # once more, later
    rig.loop.stream_round()
    assert rig.booked() == [trade_id]


def test_a_losing_fill_from_the_stream_trips_the_breaker_before_anything_else(rig: Rig) -> None:
    buy = rig.buy()
    for e in rig.report(buy):
        rig.inbox.put(e)
    rig.inbox.put(rig.balances())
    rig.loop.stream_round()
    assert rig.d.risk.book.free["BTC"] > 0
    rig.fx.set_price("BTCUSDT", 27_000.0)
    held = rig.d.ledger.books["b1"].qty  # what the buy left after its commission
    sell = rig.buy(qty=math.floor(held * 1e5) / 1e5, side=Side.SELL)
    for e in rig.report(sell):
        rig.inbox.put(e)
    # a closed kline queued behind the fill: the strategy must not see it before the trip
    rig.inbox.put(candle(rig, closed=True))
    rig.loop.stream_round()
    tripped = [(r["breaker"], r["bot"]) for r in rig.d.store.tripped()]
    assert tripped == [("consecutive_losses", "b1")]
    assert rig.d.risk.state.label == "halted"


def candle(rig: Rig, *, closed: bool, back: int = 1, p: float = 30_000.0) -> CandleEvent:
    now = rig.fx.server_time_ms()
    open_ms = (now // 1000 - back) * 1000
    tick = Tick(open_ms / 1000.0, "BTCUSDT", p, p, p, p, 1.0)
    return CandleEvent(tick, open_ms, open_ms + 999, closed, time.monotonic())


def test_prices_mark_without_a_decision_closed_klines_decide(rig: Rig) -> None:
    strategy = rig.d.bots[0].strategy
    assert isinstance(strategy, MaCross)
    seen = list(strategy.closes)
    before = rig.d.trader.ticks
    rig.inbox.put(PriceEvent("BTCUSDT", 30_990.0, 31_010.0, 31_000.0, time.monotonic()))
    rig.inbox.put(PriceEvent("BTCUSDT", 31_090.0, 31_110.0, 31_100.0, time.monotonic()))
    rig.inbox.put(candle(rig, closed=False, back=0, p=30_555.0))  # still open: not decided on
    rig.loop.stream_round()
    assert rig.d.trader.prices["BTCUSDT"] == 31_100.0  # the latest price of the batch
    assert rig.d.trader.ticks == before, "no decision on a price"
    assert list(strategy.closes) == seen, "the strategy saw no price and no open kline"
    time.sleep(1.3)  # the fake's clock: the next 1 s kline has closed
    rig.inbox.put(candle(rig, closed=True, p=30_123.0))
    rig.loop.stream_round()
    assert rig.d.trader.ticks >= before + 1  # (and any kline back-filled before it)
    assert list(strategy.closes)[-1] == 30_123.0


def test_balance_events_update_the_balances(rig: Rig) -> None:
    rig.inbox.put(BalanceEvent({"BTC": (0.25, 0.0), "USDT": (9_000.0, 1.0)}, None, 0, 0.0))
    rig.loop.stream_round()
    assert rig.d.risk.book.free["BTC"] == 0.25
    assert rig.d.risk.book.free["USDT"] == 9_000.0


def test_a_fill_whose_event_was_lost_is_booked_once_by_the_check_on_reconnect(rig: Rig) -> None:
    cid = rig.buy()
    (event,) = rig.report(cid)
    rig.inbox.put(StreamEvent("user", "disconnected", "dropped", time.monotonic()))
    rig.inbox.put(StreamEvent("user", "connected", "subscribed", time.monotonic()))
    rig.loop.stream_round()
    assert rig.booked() == [f"BTCUSDT:{event.trade['id'] if event.trade else '?'}"]
    assert rig.d.risk.state.label == "active", "booked before balances were compared"
    rig.inbox.put(event)  # the event shows up after all
    rig.loop.stream_round()
    assert len(rig.booked()) == 1


def test_a_stale_market_stream_means_polling_until_it_is_healthy(rig: Rig) -> None:
    rig.streams.market.health.last_message = time.monotonic() - 60
    rig.loop.stream_round()
    assert rig.loop.fallback == "market stream stale (no message for 10s)"
    assert rig.broker.fill_source is None, "the fill poller runs on each polled price"
    assert not rig.d.trader.balances_streamed
    assert rig.d.metrics.stream_fallback._value.get() == 1.0
    assert rig.loop.readiness_reasons() == [], "polling trades safely: still ready"
    view = rig.loop.stream_status()
    assert view["fallback"] is True and "stale" in view["fallback_reason"]
    rig.streams.user.health.connected = False
    rig.loop.stream_round()
    assert rig.loop.fallback is not None and "user data stream disconnected" in rig.loop.fallback
    rig.healthy()
    rig.loop.stream_round()
    assert rig.loop.fallback is None and rig.broker.fill_source is not None
    assert rig.d.metrics.stream_fallback._value.get() == 0.0


def test_a_gap_that_cannot_be_back_filled_means_no_decision_and_not_ready(rig: Rig) -> None:
    assert rig.loop.feed is not None
    before = rig.d.trader.ticks
    rig.fx.fault("maintenance", path="/api/v3/klines", count=None)
    time.sleep(3.3)  # the fake's clock: three 1 s klines closed, the stream sent none of them
    rig.inbox.put(candle(rig, closed=True, p=30_321.0))
    rig.loop.stream_round()
    assert rig.d.trader.ticks == before, "no decision behind a gap"
    reasons = rig.loop.readiness_reasons()
    assert any("not back-filled" in r and "no strategy decision" in r for r in reasons), reasons
    assert rig.loop.stream_status()["candle_gaps"] == reasons
    rig.fx.clear_faults()
    rig.loop.stream_round()  # back-filled over REST, then the held kline decided
    assert rig.d.trader.ticks >= before + 2
    assert rig.loop.readiness_reasons() == []
    strategy = rig.d.bots[0].strategy
    assert isinstance(strategy, MaCross)
    assert list(strategy.closes)[-1] == 30_321.0, "the held kline last, after the back-fill"


# --- balances between a streamed fill and its balance event -----------------------------------
def small_account(rig: Rig) -> None:
    rig.fx.set_balances({"USDT": 1_000.0, "BTC": 0.0})
    rig.d.trader.refresh_balances()


def test_a_streamed_fill_lowers_what_it_spent_before_its_balance_event(rig: Rig) -> None:
    """Booked from the stream, its balance event not here yet: the USDT the BUY spent is
    no longer counted, so the next BUY the account cannot pay for is refused by the risk
    check, never sent for the exchange to refuse (over-spend)."""
    small_account(rig)
    first = rig.buy(qty=0.02)  # 600 USDT at 30,000
    for e in rig.report(first):
        rig.inbox.put(e)
    rig.loop.stream_round()
    usdt_on_exchange = rig.fx.balances()["USDT"][0]
    assert rig.d.risk.book.free["USDT"] == pytest.approx(usdt_on_exchange)
    posts = len(rig.fx.requests())
    req = OrderRequest("b1", "BTCUSDT", Side.BUY, 0.02, order_type=OrderType.MARKET)
    sub = rig.d.gate.submit(req, SPEC["price"])
    assert not sub.accepted and sub.denied is not None, sub
    assert "BALANCE" in str(sub.denied).upper(), sub.denied
    assert len(rig.fx.requests()) == posts, "nothing sent to the exchange"
    # the balance event then sets the true balances (BTC received included)
    rig.inbox.put(BalanceEvent(dict(rig.fx.balances()), None, rig.fx.server_time_ms(), 0.0))
    rig.loop.stream_round()
    assert rig.d.risk.book.free["USDT"] == pytest.approx(usdt_on_exchange)
    assert rig.d.risk.book.free["BTC"] == pytest.approx(rig.fx.balances()["BTC"][0])


def test_a_balance_event_before_its_fill_is_not_counted_twice(rig: Rig) -> None:
    """Reordered (or in the same batch, before the report is booked): the event, at or
    after the trade's time, already holds the spend."""
    small_account(rig)
    cid = rig.buy(qty=0.02)
    rig.inbox.put(BalanceEvent(dict(rig.fx.balances()), None, rig.fx.server_time_ms(), 0.0))
    for e in rig.report(cid):
        rig.inbox.put(e)
    rig.loop.stream_round()
    assert len(rig.booked()) == 1
    assert rig.d.risk.book.free["USDT"] == pytest.approx(rig.fx.balances()["USDT"][0])
    assert rig.d.risk.book.free["BTC"] == pytest.approx(rig.fx.balances()["BTC"][0])


def test_an_older_balance_event_delivered_late_is_ignored(rig: Rig) -> None:
    now = rig.fx.server_time_ms()
    rig.inbox.put(BalanceEvent({"USDT": (400.0, 0.0)}, None, now, 0.0))
    rig.inbox.put(BalanceEvent({"USDT": (1_000.0, 0.0), "BTC": (0.5, 0.0)}, None, now - 5, 0.0))
    rig.loop.stream_round()
    assert rig.d.risk.book.free["USDT"] == 400.0, "the newer balance stays"
    assert rig.d.risk.book.free["BTC"] == 0.5, "an asset the newer event did not carry is taken"


def test_events_the_full_inbox_refused_are_counted_in_a_metric(rig: Rig) -> None:
    def refused(stream: str) -> float:
        value = rig.d.metrics.registry.get_sample_value(
            "tradewarden_stream_inbox_overflows_total", {"stream": stream}
        )
        return -1.0 if value is None else value

    rig.loop.stream_round()
    assert (refused("user"), refused("market")) == (0.0, 0.0)
    rig.inbox.max_pending = 1
    assert rig.inbox.put(BalanceEvent({"USDT": (1.0, 0.0)}, None, 1, 0.0))
    assert not rig.inbox.put(BalanceEvent({"USDT": (2.0, 0.0)}, None, 2, 0.0))
    assert not rig.inbox.put(candle(rig, closed=True))
    rig.loop.stream_round()
    rig.loop.stream_round()  # counted once
    assert (refused("user"), refused("market")) == (1.0, 1.0)
