"""The stream client against a scripted WebSocket server (a real server on loopback that
sends exactly what a test needs): what goes on the wire for the subscription, events of
other subscriptions ignored, malformed and unknown messages counted and dropped without
ending the thread, a 429 pausing the process limiter."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from tests.integration.exchange.conftest import KEY, SECRET
from tests.unit.exchange.test_streams import BOOK_TICKER, EXECUTION_REPORT, KLINE
from tradewarden.exchange import BinanceBroker
from tradewarden.exchange.client import ws_signature
from tradewarden.exchange.streams import (
    Inbox,
    MarketStream,
    OrderEvent,
    PriceEvent,
    StreamEvent,
    StreamMessage,
    UserDataStream,
)

TIMEOUT = 30.0


class Scripted:
    """A WebSocket server on a free loopback port; `handler` runs per connection."""

    def __init__(self, handler: Callable[[ServerConnection], None]) -> None:
        self.server: Server = serve(handler, "127.0.0.1", 0)
        self.port = int(self.server.socket.getsockname()[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(10)


@pytest.fixture()
def scripted() -> Iterator[Callable[[Callable[[ServerConnection], None]], Scripted]]:
    servers: list[Scripted] = []

    def make(handler: Callable[[ServerConnection], None]) -> Scripted:
        servers.append(Scripted(handler))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def hold(ws: ServerConnection) -> None:
    """Keep the connection open until the client closes it."""
    try:
        for _ in ws:
            pass
    except ConnectionClosed:
        pass


def collect(inbox: Inbox, pred: Callable[[StreamMessage], bool], got: list[StreamMessage]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while True:
        got += inbox.drain()
        if any(pred(m) for m in got):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {TIMEOUT}s: {[type(m).__name__ for m in got]}")
        time.sleep(0.05)


def test_malformed_market_messages_are_counted_and_the_thread_lives_on(
    scripted: Callable[[Callable[[ServerConnection], None]], Scripted],
) -> None:
    bad: list[str | bytes] = [
        "not json {",
        "[1, 2]",
        b"\xff\xfe\x00",
        json.dumps({"stream": "btcusdt@trade", "data": {"e": "trade"}}),
        json.dumps({"stream": "btcusdt@bookTicker", "data": {**BOOK_TICKER, "b": "nan"}}),
        json.dumps({"stream": "btcusdt@kline_1m", "data": {**KLINE, "k": {**KLINE["k"], "x": 1}}}),
        json.dumps({"result": None, "id": 1}),
    ]
    good = {"stream": "bnbusdt@bookTicker", "data": BOOK_TICKER}

    def handler(ws: ServerConnection) -> None:
        for text in bad:
            ws.send(text)
        ws.send(json.dumps(good))
        hold(ws)

    server = scripted(handler)
    inbox = Inbox()
    stream = MarketStream(
        f"{server.url}/stream",
        ["BNBUSDT"],
        inbox,
        kline_interval="1m",
        stale_after_s=30.0,
        reconnect_max_s=0.5,
    )
    stream.start()
    try:
        got: list[StreamMessage] = []
        collect(inbox, lambda m: isinstance(m, PriceEvent), got)
        assert stream.health.malformed == len(bad)
        assert stream.health.connected and stream.health.connects == 1
        prices = [m for m in got if isinstance(m, PriceEvent)]
        assert len(prices) == 1 and prices[0].symbol == "BNBUSDT"
    finally:
        assert stream.stop(timeout=5.0)


def test_the_subscription_on_the_wire_and_only_our_subscriptions_events(
    broker: BinanceBroker,
    scripted: Callable[[Callable[[ServerConnection], None]], Scripted],
) -> None:
    requests: list[dict[str, Any]] = []
    ours, other = 7, 3
    report = EXECUTION_REPORT["event"]

    def handler(ws: ServerConnection) -> None:
        request = json.loads(ws.recv())
        requests.append(request)
        ws.send(json.dumps({"subscriptionId": ours, "event": report}))  # before the answer
        ws.send(
            json.dumps({"id": request["id"], "status": 200, "result": {"subscriptionId": ours}})
        )
        ws.send(json.dumps({"subscriptionId": other, "event": report}))
        ws.send(json.dumps({"subscriptionId": ours, "event": {"e": "executionReport", "E": 1}}))
        ws.send(json.dumps({"subscriptionId": ours, "event": {"e": "somethingNew", "E": 1}}))
        ws.send(json.dumps({"id": "late", "status": 200, "result": {}}))
        ws.send(json.dumps({"subscriptionId": ours, "event": {**report, "c": "ours-1"}}))
        ws.send(json.dumps({"subscriptionId": other, "event": {**report, "c": "other-2"}}))
        ws.send(json.dumps({"event": {**report, "c": "ours-2"}}))  # the id is optional
        hold(ws)

    server = scripted(handler)
    inbox = Inbox()
    stream = UserDataStream(broker, f"{server.url}/ws-api/v3", inbox, reconnect_max_s=0.5)
    used = broker.limiter.used()
    stream.start()
    try:
        got: list[StreamMessage] = []
        # one connection keeps the order: once the last event is in, so is everything
        collect(
            inbox,
            lambda m: isinstance(m, OrderEvent) and m.order.client_order_id == "ours-2",
            got,
        )
    finally:
        assert stream.stop(timeout=5.0)
    # web-socket-api.md: connecting costs weight 2, the subscription 2; on the IP's budget
    assert broker.limiter.used() - used == 4
    orders = [m for m in got if isinstance(m, OrderEvent)]
    assert [o.order.client_order_id for o in orders] == ["ours-1", "ours-2"]
    assert stream.health.malformed == 2  # the empty report and the unknown event
    connected = [m for m in got if isinstance(m, StreamEvent) and m.what == "connected"]
    assert len(connected) == 1 and "subscription 7" in connected[0].reason

    (request,) = requests
    assert request["method"] == "userDataStream.subscribe.signature"
    params = request["params"]
    assert set(params) == {"apiKey", "timestamp", "recvWindow", "signature"}
    assert params["apiKey"] == KEY and params["recvWindow"] == broker.recv_window_ms
    assert params["signature"] == ws_signature(SECRET, params)
    assert abs(params["timestamp"] - broker.timesync.server_ms()) < 60_000
    assert SECRET not in json.dumps(request)


def test_a_429_pauses_the_process_limiter_until_retry_after(
    broker: BinanceBroker,
    scripted: Callable[[Callable[[ServerConnection], None]], Scripted],
) -> None:
    answers = iter(["429", "ok"])

    def handler(ws: ServerConnection) -> None:
        request = json.loads(ws.recv())
        if next(answers, "ok") == "429":
            retry_ms = int(broker.timesync.server_ms()) + 3000
            error = {
                "code": -1003,
                "msg": "Too many requests; current limit is 6000 request weight per 1 MINUTE.",
                "data": {"retryAfter": retry_ms},
            }
            ws.send(json.dumps({"id": request["id"], "status": 429, "error": error}))
        else:
            answer = {"id": request["id"], "status": 200, "result": {"subscriptionId": 0}}
            ws.send(json.dumps(answer))
        hold(ws)

    server = scripted(handler)
    inbox = Inbox()
    stream = UserDataStream(broker, f"{server.url}/ws-api/v3", inbox, reconnect_max_s=0.5)
    stream.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while "HTTP 429" not in (stream.health.last_error or ""):
            assert time.monotonic() < deadline, stream.health
            time.sleep(0.02)
        assert broker.limiter.paused_for() > 0  # REST waits too: one IP, one budget
        assert "code -1003" in (stream.health.last_error or "")
        got: list[StreamMessage] = []
        collect(inbox, lambda m: isinstance(m, StreamEvent) and m.what == "connected", got)
        assert broker.limiter.paused_for() == 0  # connected only once the pause was over
    finally:
        assert stream.stop(timeout=5.0)
