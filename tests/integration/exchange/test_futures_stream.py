"""The futures user data stream client end to end against the fake's futures side: a
listenKey created over REST, ORDER_TRADE_UPDATE / ACCOUNT_UPDATE (funding) / MARGIN_CALL
delivered parsed, a dropped connection and a listenKeyExpired each followed by a reconnect
(a new key after the expiry), the keepalive sent, a -1125 keepalive answer taken as "the key
is gone", and the listenKey never in a log line, an error text or a repr."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import pytest
from binance.client import Client

from tests.fakes.binance import FakeBinance
from tests.integration.exchange.conftest import futures_fake
from tradewarden.exchange.client import ExchangeClient
from tradewarden.exchange.futures_stream import (
    ClientListenKeys,
    FuturesAccountEvent,
    FuturesInbox,
    FuturesMessage,
    FuturesOrderEvent,
    FuturesUserStream,
    MarginCallEvent,
    futures_stream_url,
    open_futures_user_stream,
)
from tradewarden.exchange.streams import StreamEvent, StreamMessage, _ReconnectError

TIMEOUT = 30.0  # generous: the machine is shared; nothing here measures time
Item = StreamMessage | FuturesMessage


@pytest.fixture()
def ffx() -> Iterator[FakeBinance]:
    with futures_fake(manual_clock=True) as fake:
        yield fake


@pytest.fixture()
def fc(ffx: FakeBinance) -> Client:
    return ffx.client()


class Seen:
    def __init__(self, inbox: FuturesInbox) -> None:
        self.inbox = inbox
        self.items: list[Item] = []

    def wait(self, pred: Callable[[Item], bool], what: str, n: int = 1) -> list[Item]:
        deadline = time.monotonic() + TIMEOUT
        while True:
            self.items += self.inbox.drain_all()
            found = [m for m in self.items if pred(m)]
            if len(found) >= n:
                return found
            if time.monotonic() > deadline:
                kinds = [type(m).__name__ for m in self.items[-20:]]
                raise AssertionError(f"no {what} within {TIMEOUT}s; last {kinds}")
            time.sleep(0.05)


def connected(m: Item) -> bool:
    return isinstance(m, StreamEvent) and m.what == "connected"


@pytest.fixture()
def stream(client: ExchangeClient) -> Iterator[tuple[FuturesUserStream, Seen]]:
    inbox = FuturesInbox()
    s = open_futures_user_stream(client, reconnect_max_s=0.5, inbox=inbox)
    seen = Seen(inbox)
    seen.wait(connected, "connection")
    yield s, seen
    assert s.stop(10.0)


def isolated_short(fc: Client) -> None:
    """5x isolated short of 0.1 BTC at 30000 (liquidation at 35856.57, as the fake's tests)."""
    fc.futures_change_margin_type(symbol="BTCUSDT", marginType="ISOLATED")
    fc.futures_change_leverage(symbol="BTCUSDT", leverage=5)
    fc.futures_create_order(
        symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.1", newClientOrderId="tw-f-open"
    )


def test_the_stream_url_follows_the_futures_rest_url() -> None:
    assert futures_stream_url("http://127.0.0.1:8123") == "ws://127.0.0.1:8123/fstream/private/ws"
    assert futures_stream_url("https://fapi.binance.com") == "wss://fstream.binance.com/private/ws"
    assert (
        futures_stream_url("https://testnet.binancefuture.com")
        == "wss://fstream.binancefuture.com/private/ws"
    )


def test_orders_fills_account_and_margin_call_arrive_parsed(
    ffx: FakeBinance, fc: Client, stream: tuple[FuturesUserStream, Seen]
) -> None:
    s, seen = stream
    isolated_short(fc)
    fill = seen.wait(
        lambda m: isinstance(m, FuturesOrderEvent) and m.execution_type == "TRADE", "fill"
    )[0]
    assert isinstance(fill, FuturesOrderEvent)
    assert (fill.client_order_id, fill.side, fill.status, fill.reduce_only) == (
        "tw-f-open",
        "SELL",
        "FILLED",
        False,
    )
    assert fill.trade is not None and fill.trade["qty"] == 0.1 and fill.trade["price"] == 30000
    assert fill.commission == pytest.approx(30000 * 0.1 * 0.0005)  # taker 0.05% in USDT
    assert fill.trade["commissionAsset"] == "USDT" and not fill.liquidation
    # the same trade id as GET /fapi/v1/userTrades reports
    (rest,) = fc.futures_account_trades(symbol="BTCUSDT")
    assert fill.trade["id"] == rest["id"] and fill.order_id == rest["orderId"]
    opened = seen.wait(
        lambda m: isinstance(m, FuturesAccountEvent) and m.reason == "ORDER", "account update"
    )[0]
    assert isinstance(opened, FuturesAccountEvent)
    assert opened.positions[0].amount == -0.1 and opened.positions[0].margin_type == "isolated"

    # a reduceOnly close of half: realized profit on the fill
    ffx.set_price_path("BTCUSDT", [29000])
    ffx.step(1)
    fc.futures_create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="MARKET",
        quantity="0.05",
        reduceOnly="true",
        newClientOrderId="tw-f-reduce",
    )
    closing = seen.wait(
        lambda m: (
            isinstance(m, FuturesOrderEvent)
            and m.client_order_id == "tw-f-reduce"
            and m.trade is not None
        ),
        "reduceOnly fill",
    )[0]
    assert isinstance(closing, FuturesOrderEvent)
    assert closing.reduce_only and closing.realized_profit == pytest.approx(0.05 * 1000)

    # funding: an ACCOUNT_UPDATE with reason FUNDING_FEE (a short receives at a positive rate)
    ffx.futures_fund_now()
    funding = seen.wait(
        lambda m: isinstance(m, FuturesAccountEvent) and m.funding, "funding update"
    )[0]
    assert isinstance(funding, FuturesAccountEvent)
    assert funding.balances[0].asset == "USDT" and funding.balances[0].change > 0

    # a squeeze: MARGIN_CALL (critical), then the fake liquidates what is left
    # (0.05 BTC short left at 30000, ~300 USDT isolated: the fake calls at maintenance >= 80%
    # of the margin balance, from ~35820; liquidates from ~35860)
    ffx.set_price_path("BTCUSDT", [35000, 35840, 36500])
    ffx.step(2)
    call = seen.wait(lambda m: isinstance(m, MarginCallEvent), "margin call")[0]
    assert isinstance(call, MarginCallEvent)
    assert call.severity == "critical"
    kind, fields = call.alert()
    assert kind == "futures_margin_call"
    assert fields["positions"][0]["symbol"] == "BTCUSDT"
    assert call.positions[0].margin_type == "isolated" and call.positions[0].maintenance > 0
    liq = seen.wait(lambda m: isinstance(m, FuturesOrderEvent) and m.liquidation, "liquidation")
    assert isinstance(liq[0], FuturesOrderEvent) and liq[0].order_type == "LIQUIDATION"
    assert s.health.malformed == 0


def test_a_dropped_connection_reconnects_with_the_same_key(
    ffx: FakeBinance, fc: Client, stream: tuple[FuturesUserStream, Seen]
) -> None:
    s, seen = stream
    ffx.futures_stream_drop()
    seen.wait(lambda m: isinstance(m, StreamEvent) and m.what == "disconnected", "disconnect")
    seen.wait(connected, "reconnection", n=2)
    assert s.stats.created == 2 and s.stats.expired == 0  # POSTed again: the active key
    fc.futures_create_order(
        symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01", newClientOrderId="tw-f-2"
    )
    seen.wait(lambda m: isinstance(m, FuturesOrderEvent) and m.client_order_id == "tw-f-2", "order")


def test_a_listen_key_expired_is_followed_by_a_new_key(
    ffx: FakeBinance,
    fc: Client,
    stream: tuple[FuturesUserStream, Seen],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    s, seen = stream
    first = fc.futures_stream_get_listen_key()  # the active key (what the stream holds)
    ffx.advance_clock(3600)  # no keepalive for an hour of the fake's clock: expired
    seen.wait(connected, "reconnection", n=2)
    assert s.stats.expired == 1 and s.stats.created >= 2
    assert s.health.last_error is not None and "listenKeyExpired" in s.health.last_error
    assert fc.futures_stream_get_listen_key() != first  # the stream made a new key
    fc.futures_create_order(
        symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01", newClientOrderId="tw-f-3"
    )
    seen.wait(lambda m: isinstance(m, FuturesOrderEvent) and m.client_order_id == "tw-f-3", "order")
    for key in (first, fc.futures_stream_get_listen_key()):
        assert key not in caplog.text and key not in repr(s)
        assert key not in (s.health.last_error or "")


def test_the_keepalive_extends_the_key(
    ffx: FakeBinance, fc: Client, client: ExchangeClient
) -> None:
    inbox = FuturesInbox()
    seen = Seen(inbox)
    s = FuturesUserStream(
        ClientListenKeys(client),
        futures_stream_url(client.base_url),
        inbox,
        reconnect_max_s=0.5,
        keepalive_s=0.3,
    )
    s.start()
    try:
        seen.wait(connected, "connection")
        for _ in range(2):  # 100 minutes of the fake's clock in all: alive by the keepalives
            renewed = s.stats.renewed
            ffx.advance_clock(3000)
            deadline = time.monotonic() + TIMEOUT
            while s.stats.renewed <= renewed + 1:  # one sent after the clock moved
                assert time.monotonic() < deadline, "no keepalive"
                time.sleep(0.05)
        fc.futures_create_order(
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01", newClientOrderId="tw-k"
        )
        seen.wait(
            lambda m: isinstance(m, FuturesOrderEvent) and m.client_order_id == "tw-k", "order"
        )
        # on the first connection: the key never lapsed
        assert s.stats.expired == 0 and s.health.connects == 1 and s.stats.created == 1
    finally:
        assert s.stop(10.0)


def test_a_keepalive_answered_1125_means_a_new_key(fc: Client, client: ExchangeClient) -> None:
    keys = ClientListenKeys(client)
    s = FuturesUserStream(
        keys, futures_stream_url(client.base_url), FuturesInbox(), reconnect_max_s=1
    )
    key = keys.create()
    fc.futures_stream_close(listenKey=key)  # gone (DELETE)
    with pytest.raises(_ReconnectError, match="-1125"):
        s._keepalive(key)
    assert s.stats.expired == 1 and s.stats.keepalive_failures == 0
    assert key not in str(s.health.as_dict())
