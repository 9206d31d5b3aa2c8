"""The stream client end to end against the fake Binance's streams (same port as REST):
the user data stream subscribes with the right key, fills arrive as OrderEvents with the
trade ids REST reports, the market streams price and close candles, and every way a
connection ends (drop, eventStreamTerminated, serverShutdown, silence) is followed by a
reconnect; a refused key is named in the health, and no secret reaches logs or reprs."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.exchange.conftest import KEY, SECRET, intent
from tradewarden.core.models import OrderStatus
from tradewarden.exchange import BinanceBroker
from tradewarden.exchange import endpoints as ep
from tradewarden.exchange.mapping import fill_from_trade
from tradewarden.exchange.streams import (
    BalanceEvent,
    CandleEvent,
    OrderEvent,
    PriceEvent,
    StreamEvent,
    StreamMessage,
    Streams,
    open_streams,
)
from tradewarden.secrets.errors import SecretNotFoundError
from tradewarden.secrets.value import Secret
from tradewarden.state.store import Store

TIMEOUT = 30.0  # generous: the machine is shared; nothing here measures time


class Seen:
    """What the streams delivered so far (the inbox drained as the runtime would)."""

    def __init__(self, streams: Streams) -> None:
        self.streams = streams
        self.items: list[StreamMessage] = []
        self.woken = threading.Event()

    def wait(self, pred: Callable[[StreamMessage], bool], what: str) -> list[StreamMessage]:
        deadline = time.monotonic() + TIMEOUT
        while True:
            self.items += self.streams.inbox.drain()
            found = [m for m in self.items if pred(m)]
            if found:
                return found
            if time.monotonic() > deadline:
                kinds = [type(m).__name__ for m in self.items[-20:]]
                health = {k: h.as_dict() for k, h in self.streams.health().items()}
                raise AssertionError(f"no {what} within {TIMEOUT}s; last {kinds}; {health}")
            self.woken.wait(0.2)
            self.woken.clear()

    def count(self, pred: Callable[[StreamMessage], bool]) -> int:
        self.items += self.streams.inbox.drain()
        return sum(1 for m in self.items if pred(m))


def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {TIMEOUT}s")
        time.sleep(0.05)


def stream_event(kind: str, what: str) -> Callable[[StreamMessage], bool]:
    return lambda m: isinstance(m, StreamEvent) and m.kind == kind and m.what == what


@pytest.fixture()
def open_for() -> Iterator[Callable[..., tuple[Streams, Seen]]]:
    opened: list[Streams] = []

    def make(broker: BinanceBroker, **kw: Any) -> tuple[Streams, Seen]:
        seen_box: list[Seen] = []
        streams = open_streams(
            broker,
            kw.pop("symbols", ["BTCUSDT", "ETHUSDT"]),
            kline_interval=kw.pop("kline_interval", "1s"),
            stale_after_s=kw.pop("stale_after_s", 30.0),
            reconnect_max_s=kw.pop("reconnect_max_s", 0.5),
            wake=lambda: seen_box[0].woken.set() if seen_box else None,
        )
        opened.append(streams)
        seen = Seen(streams)
        seen_box.append(seen)
        return streams, seen

    yield make
    for streams in opened:
        streams.stop(timeout=5.0)


def test_fills_arrive_as_order_events_with_the_trade_ids_rest_reports(
    broker: BinanceBroker, store: Store, open_for: Callable[..., tuple[Streams, Seen]]
) -> None:
    streams, seen = open_for(broker)
    seen.wait(stream_event("user", "connected"), "user stream connected")
    req = intent(store, qty=0.01)
    order = broker.submit(req)
    cid = req.client_order_id

    def of_order(m: StreamMessage) -> bool:
        return isinstance(m, OrderEvent) and m.order.client_order_id == cid

    seen.wait(lambda m: of_order(m) and m.order.status is OrderStatus.FILLED, "FILLED report")
    reports = [m for m in seen.items if isinstance(m, OrderEvent) and of_order(m)]
    assert reports[0].execution_type == "NEW"
    assert all(r.order.exchange_order_id == order.exchange_order_id for r in reports)
    trades = [r for r in reports if r.trade is not None]
    assert trades and all(r.execution_type == "TRADE" for r in trades)

    rest = broker.reader.call(
        ep.MY_TRADES_ORDER,
        "get_my_trades",
        symbol="BTCUSDT",
        orderId=int(order.exchange_order_id or 0),
    )
    by_stream = {
        f.trade_id: f
        for f in (fill_from_trade(r.trade or {}, r.order, "BTC", "USDT") for r in trades)
    }
    by_rest = {f.trade_id: f for f in (fill_from_trade(t, order, "BTC", "USDT") for t in rest)}
    assert set(by_stream) == set(by_rest) and by_rest
    for trade_id, fill in by_rest.items():
        got = by_stream[trade_id]
        assert (got.qty, got.price, got.side) == (fill.qty, fill.price, fill.side)
        assert (got.commission, got.commission_asset) == (fill.commission, fill.commission_asset)
    assert reports[-1].order.filled_qty == pytest.approx(0.01)

    balances = seen.wait(
        lambda m: isinstance(m, BalanceEvent) and "BTC" in m.balances, "BTC balance event"
    )
    last = balances[-1]
    assert isinstance(last, BalanceEvent)
    free, locked = last.balances["BTC"]
    assert free > 0.5 and locked >= 0.0  # 0.5 BTC at the start, 0.01 bought less commission
    health = streams.health()["user"]
    assert health.connected and health.connects == 1 and health.malformed == 0


def test_deposits_arrive_as_balance_deltas(
    broker: BinanceBroker, fx: FakeBinance, open_for: Callable[..., tuple[Streams, Seen]]
) -> None:
    _, seen = open_for(broker)
    seen.wait(stream_event("user", "connected"), "user stream connected")
    fx.deposit("USDT", 25.0)
    fx.withdraw("ETH", 0.5)
    seen.wait(lambda m: isinstance(m, BalanceEvent) and m.delta == ("USDT", 25.0), "deposit")
    seen.wait(lambda m: isinstance(m, BalanceEvent) and m.delta == ("ETH", -0.5), "withdrawal")


def test_the_read_key_subscribes_when_there_is_one(
    fx: FakeBinance,
    make_broker: Callable[..., BinanceBroker],
    open_for: Callable[..., tuple[Streams, Seen]],
) -> None:
    """The trade key here is one the fake does not know: had the stream signed with it,
    the subscription would be refused (-2015)."""
    read_key, read_secret = f"tw-read-{uuid.uuid4().hex}", f"rs-{uuid.uuid4().hex}"
    fx.add_key(read_key, read_secret, {"enableSpotAndMarginTrading": False})
    broker = make_broker(
        credentials=lambda: (Secret(f"unknown-{KEY}"), Secret(SECRET)),
        read_credentials=lambda: (Secret(read_key), Secret(read_secret)),
    )
    assert broker.reader is not broker.client
    streams, seen = open_for(broker)
    seen.wait(stream_event("user", "connected"), "user stream connected")
    assert streams.health()["user"].last_error is None


def test_a_refused_key_is_named_in_the_health_and_no_secret_is_logged(
    fx: FakeBinance,
    make_broker: Callable[..., BinanceBroker],
    open_for: Callable[..., tuple[Streams, Seen]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    canary = f"canary-secret-{uuid.uuid4().hex}"
    bad_key = f"tw-unknown-key-{uuid.uuid4().hex}"
    current = {"creds": (Secret(bad_key, "api_key"), Secret(canary, "api_secret"))}
    broker = make_broker(credentials=lambda: current["creds"])
    caplog.set_level(logging.DEBUG)
    streams, seen = open_for(broker)

    def subscribe_attempts() -> int:
        requests = fx.stream_stats()["ws_api_requests"]
        return int(requests.get("userDataStream.subscribe.signature", 0))

    wait_until(lambda: subscribe_attempts() >= 2, "retried after the back-off")
    health = streams.health()["user"]
    assert health.last_error is not None and "-2015" in health.last_error
    assert "invalid API key, IP or permissions" in health.last_error
    assert not health.connected and health.connects == 0
    seen.items += streams.inbox.drain()
    assert not any(isinstance(m, StreamEvent) and m.kind == "user" for m in seen.items)

    texts = [
        caplog.text,
        repr(streams.user.__dict__),
        repr(streams.health()),
        str(streams.health()["user"].as_dict()),
        repr(seen.items),
    ]
    for text in texts:
        assert canary not in text
        assert bad_key not in text

    # the key is read from the provider per subscription: a rotated key is used next time
    current["creds"] = (Secret(KEY, "api_key"), Secret(SECRET, "api_secret"))
    seen.wait(stream_event("user", "connected"), "user stream connected after rotation")


def test_a_timestamp_refusal_resyncs_the_clock_and_subscribes(
    fx: FakeBinance, broker: BinanceBroker, open_for: Callable[..., tuple[Streams, Seen]]
) -> None:
    syncs = broker.timesync.syncs
    fx.set_clock_skew(20_000)  # the exchange's clock jumps 20 s ahead of ours
    streams, seen = open_for(broker)
    seen.wait(stream_event("user", "connected"), "user stream connected")
    health = streams.health()["user"]
    assert health.last_error is not None and "-1021" in health.last_error
    assert "re-synced" in health.last_error
    assert broker.timesync.syncs > syncs


@pytest.mark.parametrize("kind", ["drop", "terminate", "shutdown"], ids=str)
def test_the_user_stream_reconnects_and_events_flow_again(
    kind: str,
    fx: FakeBinance,
    broker: BinanceBroker,
    store: Store,
    open_for: Callable[..., tuple[Streams, Seen]],
) -> None:
    streams, seen = open_for(broker)
    seen.wait(stream_event("user", "connected"), "user stream connected")
    fx.stream_fault(kind, stream="user")
    lost = seen.wait(stream_event("user", "disconnected"), "user stream lost")
    reason = {"drop": "", "terminate": "eventStreamTerminated", "shutdown": "serverShutdown"}
    assert reason[kind] in lost[0].reason  # type: ignore[union-attr]
    wait_until(lambda: streams.health()["user"].connects >= 2, "resubscribed")
    assert seen.count(stream_event("user", "connected")) == 2
    assert streams.health()["user"].disconnects == 1

    req = intent(store, qty=0.001)
    broker.submit(req)
    seen.wait(
        lambda m: (
            isinstance(m, OrderEvent)
            and m.order.client_order_id == req.client_order_id
            and m.trade is not None
        ),
        "a fill after the reconnect",
    )


def test_market_streams_price_and_close_candles(
    fx: FakeBinance, broker: BinanceBroker, open_for: Callable[..., tuple[Streams, Seen]]
) -> None:
    streams, seen = open_for(broker)
    seen.wait(stream_event("market", "connected"), "market stream connected")
    first = seen.wait(
        lambda m: isinstance(m, PriceEvent) and m.symbol == "BTCUSDT", "a BTCUSDT price"
    )[0]
    assert isinstance(first, PriceEvent)
    assert first.bid <= first.price <= first.ask
    assert first.price == pytest.approx(30000.0, rel=0.01)
    fx.set_price("ETHUSDT", 2100.0)
    seen.wait(
        lambda m: (
            isinstance(m, PriceEvent)
            and m.symbol == "ETHUSDT"
            and m.price == pytest.approx(2100.0, rel=0.01)
        ),
        "the new ETHUSDT price",
    )
    closed = seen.wait(
        lambda m: isinstance(m, CandleEvent) and m.closed and m.tick.symbol == "BTCUSDT",
        "a closed BTCUSDT 1s candle",
    )[0]
    assert isinstance(closed, CandleEvent)
    assert closed.close_ms - closed.open_ms == 999
    assert closed.tick.ts == closed.open_ms / 1000.0
    assert streams.health()["market"].malformed == 0


def test_a_silent_market_stream_is_stale_and_reconnects(
    fx: FakeBinance, broker: BinanceBroker, open_for: Callable[..., tuple[Streams, Seen]]
) -> None:
    streams, seen = open_for(broker, stale_after_s=2.0)
    seen.wait(stream_event("market", "connected"), "market stream connected")
    fx.stream_fault("silence", stream="market", count=None)
    lost = seen.wait(stream_event("market", "disconnected"), "the stale stream closed")
    assert lost[0].reason.startswith("stale: no market message")  # type: ignore[union-attr]
    health = streams.health()["market"]
    assert health.stale >= 1 and (health.last_error or "").startswith("stale")
    fx.clear_faults()
    wait_until(lambda: streams.health()["market"].connects >= 2, "reconnected")
    before = len(seen.items)
    seen.wait(
        lambda m: isinstance(m, PriceEvent | CandleEvent) and seen.items.index(m) >= before,
        "market data after the reconnect",
    )


def test_market_stream_reconnects_after_a_server_shutdown(
    fx: FakeBinance, broker: BinanceBroker, open_for: Callable[..., tuple[Streams, Seen]]
) -> None:
    streams, seen = open_for(broker)
    seen.wait(stream_event("market", "connected"), "market stream connected")
    fx.stream_fault("shutdown", stream="market")
    lost = seen.wait(stream_event("market", "disconnected"), "market stream lost")
    assert "serverShutdown" in lost[0].reason  # type: ignore[union-attr]
    wait_until(lambda: streams.health()["market"].connects >= 2, "reconnected")
    assert streams.health()["user"].disconnects == 0  # the user stream was not touched


def test_stop_ends_both_threads(
    broker: BinanceBroker, open_for: Callable[..., tuple[Streams, Seen]]
) -> None:
    streams, seen = open_for(broker)
    seen.wait(stream_event("user", "connected"), "user stream connected")
    seen.wait(stream_event("market", "connected"), "market stream connected")
    names = {t.name for t in threading.enumerate()}
    assert {"tw-stream-user", "tw-stream-market"} <= names
    streams.start()  # already running: no second thread
    assert sum(t.name == "tw-stream-user" for t in threading.enumerate()) == 1
    streams.stop(timeout=5.0)
    assert not {t.name for t in threading.enumerate()} & {"tw-stream-user", "tw-stream-market"}
    health = streams.health()
    assert not health["user"].connected and not health["market"].connected
    assert seen.count(lambda m: isinstance(m, StreamEvent) and m.reason == "stopped") == 2


@pytest.mark.parametrize("fx", [{"manual_clock": True}], indirect=True, ids=["manual-clock"])
def test_both_streams_reconnect_after_the_24_hour_limit(
    fx: FakeBinance, broker: BinanceBroker, open_for: Callable[..., tuple[Streams, Seen]]
) -> None:
    streams, seen = open_for(broker)
    seen.wait(stream_event("user", "connected"), "user stream connected")
    seen.wait(stream_event("market", "connected"), "market stream connected")
    fx.advance_clock(24 * 3600 + 1)
    seen.wait(stream_event("user", "disconnected"), "user stream closed at 24 h")
    seen.wait(stream_event("market", "disconnected"), "market stream closed at 24 h")
    wait_until(
        lambda: all(h.connects >= 2 and h.connected for h in streams.health().values()),
        "both reconnected",
    )


def test_a_duplicated_event_is_passed_on_as_it_came(
    fx: FakeBinance,
    broker: BinanceBroker,
    store: Store,
    open_for: Callable[..., tuple[Streams, Seen]],
) -> None:
    """The runtime books fills idempotently per trade id; the client neither drops nor
    invents events."""
    _, seen = open_for(broker)
    seen.wait(stream_event("user", "connected"), "user stream connected")
    fx.stream_fault("duplicate", stream="user", count=1)
    req = intent(store, qty=0.001)
    broker.submit(req)
    seen.wait(
        lambda m: (
            isinstance(m, OrderEvent)
            and m.order.client_order_id == req.client_order_id
            and m.order.status is OrderStatus.FILLED
        ),
        "the FILLED report",
    )
    reports = [
        (m.execution_type, m.order.status, (m.trade or {}).get("id"))
        for m in seen.items
        if isinstance(m, OrderEvent) and m.order.client_order_id == req.client_order_id
    ]
    assert len(reports) == len(set(reports)) + 1  # exactly one event twice


def test_a_secret_source_failure_is_a_reason_not_a_crash(
    make_broker: Callable[..., BinanceBroker], open_for: Callable[..., tuple[Streams, Seen]]
) -> None:
    def unreadable() -> tuple[Secret, Secret]:
        raise SecretNotFoundError("secret tradewarden/binance not found", "tradewarden/binance")

    broker = make_broker(credentials=unreadable, start=False)
    streams, seen = open_for(broker)
    wait_until(
        lambda: "SecretNotFoundError" in (streams.health()["user"].last_error or ""),
        "the secret failure named",
    )
    seen.wait(stream_event("market", "connected"), "the market stream (no key) unaffected")
    assert "tw-stream-user" in {t.name for t in threading.enumerate()}  # still trying


def test_a_subscription_logs_neither_key_nor_secret_even_at_debug(
    broker: BinanceBroker,
    store: Store,
    open_for: Callable[..., tuple[Streams, Seen]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every logger at DEBUG, the websockets library's frame logs included: the request
    carries the key and a signature, and neither they nor the secret are logged."""
    caplog.set_level(logging.DEBUG)
    streams, seen = open_for(broker)
    seen.wait(stream_event("user", "connected"), "user stream connected")
    req = intent(store, qty=0.001)
    broker.submit(req)
    seen.wait(lambda m: isinstance(m, OrderEvent) and m.trade is not None, "a fill")
    streams.stop(timeout=5.0)
    assert "user stream subscribed" in caplog.text  # the capture works
    assert "tw-sub-" not in caplog.text  # the subscription frame (its id) was not logged
    for text in (caplog.text, repr(streams.user.__dict__), repr(seen.items)):
        assert SECRET not in text
        assert KEY not in text


def test_a_wrong_secret_is_a_signature_refusal(
    make_broker: Callable[..., BinanceBroker], open_for: Callable[..., tuple[Streams, Seen]]
) -> None:
    wrong = f"not-the-secret-{uuid.uuid4().hex}"
    broker = make_broker(credentials=lambda: (Secret(KEY), Secret(wrong)))
    streams, _ = open_for(broker)
    wait_until(
        lambda: "-1022" in (streams.health()["user"].last_error or ""), "-1022 in the health"
    )
    error = streams.health()["user"].last_error or ""
    assert "signature for this request is not valid" in error and wrong not in error


@pytest.mark.parametrize(
    "fx", [{"ws_ping_interval": 0.2, "ws_pong_timeout": 1.0}], indirect=True, ids=["fast-pings"]
)
def test_server_pings_are_answered_and_the_connections_stay(
    fx: FakeBinance, broker: BinanceBroker, open_for: Callable[..., tuple[Streams, Seen]]
) -> None:
    streams, seen = open_for(broker)
    seen.wait(stream_event("user", "connected"), "user stream connected")
    seen.wait(stream_event("market", "connected"), "market stream connected")
    wait_until(lambda: fx.stream_stats()["pongs"] >= 10, "ten pongs")
    assert all(h.connects == 1 and h.connected for h in streams.health().values())


def test_no_connection_while_the_rate_limiter_is_paused(
    fx: FakeBinance, broker: BinanceBroker, open_for: Callable[..., tuple[Streams, Seen]]
) -> None:
    """A 418 ban is the IP's: the streams wait it out like REST does, then connect."""
    broker.limiter.pause(5.0, 418)
    streams, seen = open_for(broker)
    wait_until(
        lambda: all(
            "paused by the rate limiter" in (h.last_error or "") for h in streams.health().values()
        ),
        "both streams waiting for the pause",
    )
    opened = fx.stream_stats()["connections"]
    # paused now -> paused when the stats were read (the pause began before the streams)
    if broker.limiter.paused_for() > 0:  # (5 s: only a very slow machine skips this)
        assert opened["user"]["opened"] == 0 and opened["market"]["opened"] == 0
    seen.wait(stream_event("user", "connected"), "user stream connected after the pause")
    seen.wait(stream_event("market", "connected"), "market stream connected after the pause")
