"""Attacks on the futures user data stream against the fake exchange (issue 20 review):
a canary listenKey never appears in a log line (DEBUG included), an error text, the health,
the stats or a repr, through connect, drop, expiry and re-creation; a listenKey that would
make an invalid URL is refused before it is put in one (websockets' InvalidURI text carries
the whole URL); a malformed MARGIN_CALL from the server still arrives as a critical event;
a malformed fill is dropped without ending the stream."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from binance.client import Client

from tests.fakes.binance import FakeBinance
from tests.integration.exchange.conftest import futures_fake
from tests.integration.exchange.test_futures_stream import Seen, connected
from tradewarden.exchange.client import ExchangeClient
from tradewarden.exchange.futures_stream import (
    FuturesInbox,
    FuturesMessage,
    FuturesOrderEvent,
    FuturesUserStream,
    MarginCallEvent,
    open_futures_user_stream,
)
from tradewarden.exchange.streams import StreamMessage

TIMEOUT = 30.0  # generous: the machine is shared; nothing here measures time
Item = StreamMessage | FuturesMessage
# canary listenKeys, built at run time (no credential-shaped literal in the repository)
CANARY = "Cq" * 31 + "zZ"
HOSTILE = "Hx" * 20 + "#frag"


@pytest.fixture()
def ffx() -> Iterator[FakeBinance]:
    with futures_fake(manual_clock=True) as fake:
        yield fake


def canary_keys(monkeypatch: pytest.MonkeyPatch, *keys: str) -> None:
    """The fake hands out `keys` (then the last one again) as its new listenKeys."""
    queue = list(keys)

    def token(_n: int) -> str:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    monkeypatch.setattr(secrets, "token_urlsafe", token)


def inject(ffx: FakeBinance, event: dict[str, Any]) -> None:
    """A server-sent user-data event, as the fake's stream sends its own."""
    with ffx.server.lock:
        ffx.server.futures.events.append(event)


def order(fc: Client, cid: str) -> None:
    fc.futures_create_order(
        symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01", newClientOrderId=cid
    )


def outputs(s: FuturesUserStream, caplog: pytest.LogCaptureFixture, seen: Seen) -> str:
    """Everything the stream shows: logs (every level), health, stats, repr, events."""
    texts = [caplog.text, repr(s), str(s.health.as_dict()), str(s.stats.as_dict())]
    texts += [r.getMessage() + str(r.__dict__) for r in caplog.records]
    texts += [repr(m) for m in seen.items]
    return "\n".join(texts)


def test_a_canary_listen_key_never_shows(
    ffx: FakeBinance,
    client: ExchangeClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    second = CANARY[::-1]
    canary_keys(monkeypatch, CANARY, second)
    caplog.set_level(logging.DEBUG)  # websockets' and urllib3's debug lines included
    fc = ffx.client()
    inbox = FuturesInbox()
    s = open_futures_user_stream(client, reconnect_max_s=0.5, inbox=inbox)
    seen = Seen(inbox)
    try:
        seen.wait(connected, "connection")
        assert fc.futures_stream_get_listen_key() == CANARY  # the planted key is in use
        order(fc, "tw-c-1")
        seen.wait(lambda m: isinstance(m, FuturesOrderEvent), "order")
        ffx.futures_stream_drop()  # reconnect with the same key
        seen.wait(connected, "reconnection", n=2)
        s._keepalive(CANARY)  # a keepalive PUT carries the key
        ffx.advance_clock(3600)  # expired: listenKeyExpired, then a new key (the 2nd canary)
        seen.wait(connected, "reconnection with a new key", n=3)
        assert s.stats.expired >= 1
    finally:
        assert s.stop(10.0)
    shown = outputs(s, caplog, seen)
    assert "listenKey" in caplog.text or caplog.records  # the logs were captured at all
    for key in (CANARY, second):
        assert key not in shown


def test_a_listen_key_that_breaks_the_url_is_never_put_in_one(
    ffx: FakeBinance,
    client: ExchangeClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    canary_keys(monkeypatch, HOSTILE)
    caplog.set_level(logging.DEBUG)
    inbox = FuturesInbox()
    s = open_futures_user_stream(client, reconnect_max_s=0.5, inbox=inbox)
    seen = Seen(inbox)
    try:
        deadline = time.monotonic() + TIMEOUT
        while s.health.last_error is None:
            assert time.monotonic() < deadline, "the stream never reported the refused key"
            time.sleep(0.05)
    finally:
        assert s.stop(10.0)
    secret_part = HOSTILE.split("#")[0]
    assert secret_part not in outputs(s, caplog, seen)
    assert not s.health.connected and s.stats.created == 0
    assert "URL-safe" in (s.health.last_error or "")


def test_a_malformed_margin_call_from_the_server_arrives_critical(
    ffx: FakeBinance, client: ExchangeClient, caplog: pytest.LogCaptureFixture
) -> None:
    fc = ffx.client()
    inbox = FuturesInbox()
    s = open_futures_user_stream(client, reconnect_max_s=0.5, inbox=inbox)
    seen = Seen(inbox)
    try:
        seen.wait(connected, "connection")
        inject(ffx, {"e": "MARGIN_CALL", "E": "soon", "p": [{"s": "BTCUSDT", "pa": "x"}]})
        call = seen.wait(lambda m: isinstance(m, MarginCallEvent), "margin call")[0]
        assert isinstance(call, MarginCallEvent) and call.unreadable == 1
        assert call.alert()[1]["severity"] == "critical"
        assert any(r.levelno == logging.CRITICAL for r in caplog.records)
        # a fill at a negative price from the server: dropped, counted, the stream goes on
        inject(
            ffx,
            {
                "e": "ORDER_TRADE_UPDATE",
                "E": 1,
                "o": {
                    "s": "BTCUSDT", "c": "tw-evil", "S": "BUY", "o": "MARKET", "q": "1",
                    "p": "0", "ap": "0", "x": "TRADE", "X": "FILLED", "i": 1, "l": "1",
                    "z": "1", "L": "-30000", "T": 1, "t": 99, "m": False, "R": False,
                },
            },
        )  # fmt: skip
        order(fc, "tw-after")
        seen.wait(
            lambda m: isinstance(m, FuturesOrderEvent) and m.client_order_id == "tw-after",
            "the next order",
        )
        assert not [
            m
            for m in seen.items
            if isinstance(m, FuturesOrderEvent) and m.client_order_id == "tw-evil"
        ]
        assert s.health.malformed == 2 and s.health.connects == 1  # no reconnect needed
    finally:
        assert s.stop(10.0)
