"""The fake's WebSocket side, read with the `websockets` sync client as the daemon reads it:
the WS API user data subscription (web-socket-api.md), its events (user-data-stream.md),
the market streams (web-socket-streams.md) and the stream faults.

Absence is never asserted by waiting: a swallowed event is shown by the next event that
does arrive."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import pytest
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.fakes.binance import FakeBinance
from tests.integration.fake_binance.conftest import make_client

WAIT = 5.0  # generous bound for anything that is due at once
RICH = {"USDT": 100_000.0, "BTC": 1.0, "ETH": 0.0}


@pytest.fixture()
def rich() -> Iterator[FakeBinance]:
    with FakeBinance(balances=dict(RICH)) as fake:
        yield fake


# ---------------------------------------------------------------------- helpers
def sign(secret: str, params: dict[str, Any]) -> str:
    """web-socket-api.md "SIGNED request example (HMAC)": sorted params but signature."""
    payload = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def subscribe_params(fx: FakeBinance, **over: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"apiKey": fx.api_key, "timestamp": fx.server_time_ms()}
    secret = over.pop("secret", fx.api_secret)
    params.update(over)
    params["signature"] = sign(secret, params)
    return params


def request(ws: ClientConnection, method: str, params: dict | None = None, rid: Any = 7) -> dict:
    """Send one WS API request; return its answer (events met before it are skipped)."""
    msg: dict[str, Any] = {"id": rid, "method": method}
    if params is not None:
        msg["params"] = params
    ws.send(json.dumps(msg))
    found, _ = recv_until(ws, lambda m: m.get("id") == rid and "status" in m)
    return found


def recv_until(
    ws: ClientConnection, pred: Callable[[dict], bool], timeout: float = WAIT
) -> tuple[dict, list[dict]]:
    """The first message matching `pred`, and the ones before it."""
    deadline = time.monotonic() + timeout
    seen: list[dict] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no matching message within {timeout} s; saw {seen}")
        msg = json.loads(ws.recv(timeout=left))
        if pred(msg):
            return msg, seen
        seen.append(msg)


def event(ws: ClientConnection, etype: str, **fields: Any) -> tuple[dict, list[dict]]:
    """The next user event of type `etype` whose fields match; (event, events before)."""

    def match(m: dict) -> bool:
        ev = m.get("event") or {}
        return ev.get("e") == etype and all(ev.get(k) == v for k, v in fields.items())

    msg, before = recv_until(ws, match)
    return msg["event"], [m["event"] for m in before if "event" in m]


@contextmanager
def user_ws(fx: FakeBinance) -> Iterator[ClientConnection]:
    """A WS API connection with a user data subscription (id 0)."""
    with connect(fx.ws_api_url, open_timeout=WAIT) as ws:
        answer = request(ws, "userDataStream.subscribe.signature", subscribe_params(fx), "sub")
        assert answer["status"] == 200, answer
        yield ws


def wait_for(cond: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def closed(ws: ClientConnection, timeout: float = WAIT) -> ConnectionClosed:
    """Read until the server closes the connection; the close exception."""
    deadline = time.monotonic() + timeout
    with pytest.raises(ConnectionClosed) as info:
        while time.monotonic() < deadline:
            ws.recv(timeout=max(0.01, deadline - time.monotonic()))
    return info.value


def control_http(fx: FakeBinance, name: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(
        f"{fx.url}/_control/{name}", data=json.dumps(body).encode(), method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=WAIT) as resp:  # noqa: S310 - loopback
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# ---------------------------------------------------------------------- subscription
def test_subscribe_with_signature_and_session_status() -> None:
    with (
        FakeBinance(manual_clock=True) as fx,  # one weight window however slow the machine
        connect(fx.ws_api_url, open_timeout=WAIT) as ws,
    ):
        answer = request(ws, "userDataStream.subscribe.signature", subscribe_params(fx))
        assert answer["status"] == 200
        assert answer["result"] == {"subscriptionId": 0}
        # connecting costs 2 weight, the subscription 2 (web-socket-api.md)
        assert answer["rateLimits"][0]["count"] == 4
        status = request(ws, "session.status", rid=8)
        assert status["result"]["userDataStream"] is True
        assert status["result"]["apiKey"] is None
        again = request(ws, "userDataStream.subscribe.signature", subscribe_params(fx), rid=9)
        assert again["error"]["code"] == -2035
        assert request(ws, "v3/ping", rid=10)["result"] == {}
        assert (
            abs(request(ws, "time", rid=11)["result"]["serverTime"] - time.time() * 1000) < 60_000
        )
        assert fx.stream_stats()["subscriptions"] == {"active": 1, "total": 1}


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("bad_signature", 400, -1022),
        ("old_timestamp", 400, -1021),
        ("future_timestamp", 400, -1021),
        ("unknown_key", 401, -2015),
        ("no_signature", 400, -1102),
        ("extra_param", 400, -1104),
        ("recv_window_too_big", 400, -1131),
    ],
)
def test_subscribe_refusals(fx: FakeBinance, case: str, status: int, code: int) -> None:
    if case == "bad_signature":
        params = subscribe_params(fx, secret="s" * 64)
    elif case == "old_timestamp":
        params = subscribe_params(fx, timestamp=fx.server_time_ms() - 10_000)
    elif case == "future_timestamp":
        params = subscribe_params(fx, timestamp=fx.server_time_ms() + 5_000)
    elif case == "unknown_key":
        params = subscribe_params(fx, apiKey="k" * 64)
    elif case == "no_signature":
        params = subscribe_params(fx)
        del params["signature"]
    elif case == "extra_param":
        params = subscribe_params(fx, symbol="BTCUSDT")
    else:
        params = subscribe_params(fx, recvWindow=70_000)
    with connect(fx.ws_api_url, open_timeout=WAIT) as ws:
        answer = request(ws, "userDataStream.subscribe.signature", params)
        assert (answer["status"], answer["error"]["code"]) == (status, code), answer
        assert request(ws, "session.status", rid=8)["result"]["userDataStream"] is False
    assert fx.stream_stats()["subscriptions"]["total"] == 0


def test_subscribe_with_a_key_bound_to_other_ips_or_without_reading(fx: FakeBinance) -> None:
    other, no_read = "a" * 64, "b" * 64
    fx.add_key(other, "c" * 64, {"ipRestrict": True, "ips": ["10.0.0.1"]})
    fx.add_key(no_read, "d" * 64, {"enableReading": False})
    with connect(fx.ws_api_url, open_timeout=WAIT) as ws:
        for rid, (key, secret) in enumerate([(other, "c" * 64), (no_read, "d" * 64)]):
            params = subscribe_params(fx, apiKey=key, secret=secret)
            answer = request(ws, "userDataStream.subscribe.signature", params, rid=rid)
            assert (answer["status"], answer["error"]["code"]) == (401, -2015)
        fx.add_key(other, "c" * 64, {"ipRestrict": True, "ips": ["127.0.0.1"]})
        params = subscribe_params(fx, apiKey=other, secret="c" * 64)
        assert request(ws, "userDataStream.subscribe.signature", params, rid=9)["status"] == 200


def test_reset_keeps_connections_and_ends_stream_faults(fx: FakeBinance) -> None:
    client = make_client(fx)
    with user_ws(fx) as ws:
        fx.stream_fault("silence", "user")
        fx.reset()
        client.order_limit_buy(symbol="BTCUSDT", quantity="0.01000", price="29000.00")
        ev, before = event(ws, "executionReport", x="NEW")
    assert before == [] and ev["X"] == "NEW"
    assert fx.stream_stats()["faults"] == []


def test_subscribe_without_logon_is_refused(fx: FakeBinance) -> None:
    """userDataStream.subscribe needs an Ed25519 session.logon, which HMAC keys never have."""
    with connect(fx.ws_api_url, open_timeout=WAIT) as ws:
        answer = request(ws, "userDataStream.subscribe")
        assert (answer["status"], answer["error"]["code"]) == (401, -1002)


def test_unsubscribe_ends_with_event_stream_terminated(fx: FakeBinance) -> None:
    with user_ws(fx) as ws:
        assert request(ws, "userDataStream.unsubscribe", {"subscriptionId": 0})["result"] == {}
        ev, _ = event(ws, "eventStreamTerminated")
        assert ev["E"] > 0
        assert request(ws, "session.status", rid=8)["result"]["userDataStream"] is False
        gone = request(ws, "userDataStream.unsubscribe", {"subscriptionId": 0}, rid=9)
        assert gone["error"]["code"] == -2036


# ---------------------------------------------------------------------- user events
def test_accept_partial_and_full_fill_events_match_rest(rich: FakeBinance) -> None:
    """A resting BUY of 1.5 BTC fills 1 BTC (one book level) on the first cross, the rest
    on the next step: NEW, TRADE (PARTIALLY_FILLED), TRADE (FILLED), each with its
    commission in BTC (the asset received) and the myTrades id."""
    client = make_client(rich)
    with user_ws(rich) as ws:
        order = client.order_limit_buy(
            symbol="BTCUSDT", quantity="1.50000", price="29990.00", newClientOrderId="buy-1"
        )
        new, _ = event(ws, "executionReport", x="NEW")
        assert (new["i"], new["c"], new["X"], new["S"], new["o"]) == (
            order["orderId"],
            "buy-1",
            "NEW",
            "BUY",
            "LIMIT",
        )
        assert (new["q"], new["p"], new["z"], new["t"], new["C"]) == (
            "1.50000000",
            "29990.00000000",
            "0.00000000",
            -1,
            "",
        )
        rich.set_price("BTCUSDT", 29_900)
        first, _ = event(ws, "executionReport", x="TRADE")
        pos, _ = event(ws, "outboundAccountPosition")
        rich.step()
        second, _ = event(ws, "executionReport", x="TRADE")
        last_pos, _ = event(ws, "outboundAccountPosition")
    assert (first["X"], first["l"], first["z"], first["L"]) == (
        "PARTIALLY_FILLED",
        "1.00000000",
        "1.00000000",
        "29990.00000000",
    )
    assert (first["n"], first["N"], first["m"]) == ("0.00100000", "BTC", True)
    assert (second["X"], second["l"], second["z"]) == ("FILLED", "0.50000000", "1.50000000")
    assert (second["n"], second["N"], second["Z"]) == ("0.00050000", "BTC", "44985.00000000")
    trades = client.get_my_trades(symbol="BTCUSDT")
    assert [first["t"], second["t"]] == [t["id"] for t in trades]
    assert [first["n"], second["n"]] == [t["commission"] for t in trades]
    assert [first["T"], second["T"]] == [t["time"] for t in trades]
    # the balances the account positions tell are the REST account's
    assert {b["a"] for b in pos["B"]} == {"BTC", "USDT"}
    rest = {b["asset"]: b for b in client.get_account()["balances"]}
    for b in last_pos["B"]:
        assert (b["f"], b["l"]) == (rest[b["a"]]["free"], rest[b["a"]]["locked"])


def test_cancel_report_names_the_cancel_and_the_original_id(rich: FakeBinance) -> None:
    client = make_client(rich)
    with user_ws(rich) as ws:
        client.order_limit_buy(
            symbol="BTCUSDT", quantity="0.01000", price="29000.00", newClientOrderId="mine-1"
        )
        client.cancel_order(symbol="BTCUSDT", origClientOrderId="mine-1", newClientOrderId="cx-1")
        ev, before = event(ws, "executionReport", x="CANCELED")
    assert (ev["X"], ev["c"], ev["C"]) == ("CANCELED", "cx-1", "mine-1")
    assert [e["x"] for e in before if e["e"] == "executionReport"] == ["NEW"]


def test_self_trade_prevention_reports_expired_in_match(rich: FakeBinance) -> None:
    """Our resting SELL at 30000 meets our own BUY (default EXPIRE_MAKER): the SELL ends
    EXPIRED_IN_MATCH with the STP fields, the BUY fills from the book."""
    client = make_client(rich)
    with user_ws(rich) as ws:
        sell = client.order_limit_sell(symbol="BTCUSDT", quantity="0.10000", price="30000.00")
        buy = client.order_limit_buy(symbol="BTCUSDT", quantity="0.10000", price="30000.00")
        ev, _ = event(ws, "executionReport", x="EXPIRED_IN_MATCH")
        filled, _ = event(ws, "executionReport", i=buy["orderId"], X="FILLED")
    assert (ev["i"], ev["X"], ev["U"], ev["Cs"]) == (
        sell["orderId"],
        "EXPIRED_IN_MATCH",
        buy["orderId"],
        "BTCUSDT",
    )
    assert (ev["A"], ev["pl"], ev["pL"]) == ("0.10000000", "0.10000000", "30000.00000000")
    assert isinstance(ev["v"], int)
    rest = client.get_order(symbol="BTCUSDT", orderId=sell["orderId"])
    assert rest["status"] == "EXPIRED_IN_MATCH"
    assert filled["t"] == client.get_my_trades(symbol="BTCUSDT")[-1]["id"]


def test_ioc_remainder_expires_with_its_reason(rich: FakeBinance) -> None:
    client = make_client(rich)
    with user_ws(rich) as ws:
        client.create_order(
            symbol="BTCUSDT",
            side="BUY",
            type="LIMIT",
            timeInForce="IOC",
            quantity="2.00000",
            price="30000.00",
        )
        ev, before = event(ws, "executionReport", x="EXPIRED")
    assert (ev["X"], ev["z"], ev["eR"]) == (
        "EXPIRED",
        "1.00000000",
        "UNFILLED_IOC_QUANTITY_EXPIRED",
    )
    assert [e["x"] for e in before if e["e"] == "executionReport"] == ["NEW", "TRADE"]


def test_account_position_names_only_what_changed_since_connecting(rich: FakeBinance) -> None:
    """Changes made while nobody listened are not replayed on the first position."""
    rich.set_balances({"ETH": 5.0})
    client = make_client(rich)
    with user_ws(rich) as ws:
        client.order_limit_buy(symbol="BTCUSDT", quantity="0.01000", price="29000.00")
        pos, _ = event(ws, "outboundAccountPosition")
    assert pos["B"] == [{"a": "USDT", "f": "99710.00000000", "l": "290.00000000"}]


def test_deposit_sends_balance_update_then_account_position(fx: FakeBinance) -> None:
    with user_ws(fx) as ws:
        fx.deposit("USDT", 250)
        upd, _ = event(ws, "balanceUpdate")
        pos, _ = event(ws, "outboundAccountPosition")
        fx.withdraw("USDT", 50)
        out, _ = event(ws, "balanceUpdate")
    assert (upd["a"], upd["d"]) == ("USDT", "250.00000000")
    assert pos["B"] == [{"a": "USDT", "f": "10250.00000000", "l": "0.00000000"}]
    assert out["d"] == "-50.00000000"
    assert fx.balances()["USDT"] == (10_200.0, 0.0)


# ---------------------------------------------------------------------- market streams
def test_book_ticker_follows_the_price(fx: FakeBinance) -> None:
    client = make_client(fx)
    with connect(fx.url.replace("http", "ws") + "/ws/btcusdt@bookTicker") as ws:
        first, _ = recv_until(ws, lambda m: True)
        fx.set_price("BTCUSDT", 31_000)
        moved, _ = recv_until(ws, lambda m: m["b"] != first["b"])
    assert (first["s"], first["b"], first["a"]) == ("BTCUSDT", "29999.99000000", "30000.00000000")
    depth = client.get_order_book(symbol="BTCUSDT", limit=5)
    assert (moved["b"], moved["B"]) == tuple(depth["bids"][0])
    assert (moved["a"], moved["A"]) == tuple(depth["asks"][0])
    assert moved["u"] > first["u"]


def test_closed_one_second_klines_are_the_rest_klines(fx: FakeBinance) -> None:
    client = make_client(fx)
    url = fx.stream_url + "?streams=btcusdt@kline_1s/btcusdt@bookTicker"
    with connect(url) as ws:
        fx.set_price("BTCUSDT", 30_100)
        fx.set_price("BTCUSDT", 29_950)
        msg, before = recv_until(
            ws, lambda m: m["stream"].endswith("kline_1s") and m["data"]["k"]["x"]
        )
    assert any(m["stream"] == "btcusdt@bookTicker" for m in before)
    k = msg["data"]["k"]
    rows = client.get_klines(symbol="BTCUSDT", interval="1s", startTime=k["t"], endTime=k["t"])
    assert len(rows) == 1
    t, o, h, low, c, v, close_t = rows[0][:7]
    assert (k["t"], k["T"], k["o"], k["h"], k["l"], k["c"], k["v"]) == (t, close_t, o, h, low, c, v)
    assert (k["s"], k["i"], msg["data"]["e"]) == ("BTCUSDT", "1s", "kline")


def test_one_minute_kline_closes_when_server_time_moves_on(fx: FakeBinance) -> None:
    client = make_client(fx)
    with connect(fx.stream_url + "?streams=btcusdt@kline_1m") as ws:
        opened, _ = recv_until(ws, lambda m: True)
        fx.advance_server_time(61)
        msg, _ = recv_until(ws, lambda m: m["data"]["k"]["x"])
        nxt, _ = recv_until(ws, lambda m: not m["data"]["k"]["x"])
    k = msg["data"]["k"]
    assert k["t"] == opened["data"]["k"]["t"]
    assert nxt["data"]["k"]["t"] > k["t"]
    row = client.get_klines(symbol="BTCUSDT", interval="1m", startTime=k["t"], endTime=k["t"])[0]
    assert (k["o"], k["h"], k["l"], k["c"], k["v"]) == tuple(row[1:6])


def test_raw_kline_stream_is_the_bare_payload(fx: FakeBinance) -> None:
    with connect(fx.url.replace("http", "ws") + "/ws/ethusdt@kline_1m") as ws:
        msg, _ = recv_until(ws, lambda m: True)
    assert (msg["e"], msg["s"], msg["k"]["i"], msg["k"]["x"]) == ("kline", "ETHUSDT", "1m", False)
    assert msg["k"]["T"] - msg["k"]["t"] == 59_999


def test_unknown_streams_are_accepted_and_counted(fx: FakeBinance) -> None:
    with connect(fx.stream_url + "?streams=BTCUSDT@bookTicker/btcusdt@bookTicker") as ws:
        first, _ = recv_until(ws, lambda m: True)
        assert first["stream"] == "btcusdt@bookTicker"
        ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 3}))
        listed, _ = recv_until(ws, lambda m: m.get("id") == 3)
    assert listed["result"] == ["BTCUSDT@bookTicker", "btcusdt@bookTicker"]
    assert fx.stream_stats()["unknown_streams"] == 1


# ---------------------------------------------------------------------- faults
def test_drop_cuts_both_kinds_and_reconnecting_works(fx: FakeBinance) -> None:
    with user_ws(fx) as user, connect(fx.stream_url + "?streams=btcusdt@bookTicker") as market:
        recv_until(market, lambda m: True)
        fx.stream_fault("drop")
        assert isinstance(closed(user), ConnectionClosedError)
        assert isinstance(closed(market), ConnectionClosedError)
    with user_ws(fx) as again:  # one firing: the next connection is fine
        assert request(again, "ping", rid=3)["status"] == 200
    stats = fx.stream_stats()
    assert stats["connections"]["user"] == {"opened": 2, "closed": 2, "open": 0}
    assert stats["faults_fired"]["drop"] == 1


def test_drop_through_the_http_control_api(fx: FakeBinance) -> None:
    with connect(fx.stream_url + "?streams=btcusdt@bookTicker") as market:
        recv_until(market, lambda m: True)
        status, body = control_http(fx, "stream_fault", {"kind": "drop", "stream": "market"})
        assert (status, body["kind"], body["stream"]) == (200, "drop", "market")
        closed(market)
    status, body = control_http(fx, "stream_fault", {"kind": "nope"})
    assert status == 400 and "unknown stream fault" in body["error"]
    status, body = control_http(fx, "stream_fault", {"kind": "lose", "stream": "market"})
    assert status == 400 and "user data stream fault" in body["error"]


def test_silence_swallows_events_until_cleared(rich: FakeBinance) -> None:
    client = make_client(rich)
    with user_ws(rich) as ws:
        rich.stream_fault("silence", "user")
        client.order_limit_buy(
            symbol="BTCUSDT", quantity="0.01000", price="29000.00", newClientOrderId="quiet"
        )
        wait_for(lambda: rich.stream_stats()["faults_fired"].get("silence", 0) >= 2)
        rich.clear_faults()
        client.order_limit_buy(
            symbol="BTCUSDT", quantity="0.01000", price="29000.00", newClientOrderId="heard"
        )
        ev, before = event(ws, "executionReport", x="NEW")
        assert request(ws, "ping", rid=4)["status"] == 200
    assert ev["c"] == "heard"
    assert before == []


def test_duplicate_sends_an_event_twice(rich: FakeBinance) -> None:
    client = make_client(rich)
    with user_ws(rich) as ws:
        rich.stream_fault("duplicate", "user")
        client.order_limit_buy(symbol="BTCUSDT", quantity="0.01000", price="29000.00")
        one, _ = event(ws, "executionReport", x="NEW")
        two, between = event(ws, "executionReport", x="NEW")
    assert one == two and between == []


def test_reorder_sends_the_held_event_after_the_next(rich: FakeBinance) -> None:
    client = make_client(rich)
    with user_ws(rich) as ws:
        rich.stream_fault("reorder", "user")
        client.order_limit_buy(symbol="BTCUSDT", quantity="0.01000", price="29000.00")
        new, before = event(ws, "executionReport", x="NEW")
    assert [e["e"] for e in before] == ["outboundAccountPosition"]
    assert new["X"] == "NEW"


def test_lose_drops_the_fill_report_but_rest_has_the_fill(rich: FakeBinance) -> None:
    client = make_client(rich)
    with user_ws(rich) as ws:
        order = client.order_limit_buy(symbol="BTCUSDT", quantity="0.01000", price="29990.00")
        event(ws, "executionReport", x="NEW")
        rich.stream_fault("lose", "user")
        rich.set_price("BTCUSDT", 29_900)  # fills the order
        client.order_limit_buy(
            symbol="BTCUSDT", quantity="0.01000", price="29000.00", newClientOrderId="later"
        )
        nxt, before = event(ws, "executionReport", c="later")
    # the first order's lock, then the fill's balances; no TRADE report
    assert [e["e"] for e in before] == ["outboundAccountPosition"] * 2
    assert nxt["x"] == "NEW"
    trades = client.get_my_trades(symbol="BTCUSDT", orderId=order["orderId"])
    assert len(trades) == 1
    assert client.get_order(symbol="BTCUSDT", orderId=order["orderId"])["status"] == "FILLED"


def test_terminate_ends_the_subscription_not_the_connection(fx: FakeBinance) -> None:
    with user_ws(fx) as ws:
        fx.stream_fault("terminate", "user")
        ev, _ = event(ws, "eventStreamTerminated")
        assert ev["E"] > 0
        assert request(ws, "session.status", rid=5)["result"]["userDataStream"] is False
        again = request(ws, "userDataStream.subscribe.signature", subscribe_params(fx), rid=6)
        assert again["result"] == {"subscriptionId": 1}


def test_shutdown_announces_then_closes(fx: FakeBinance) -> None:
    with user_ws(fx) as user, connect(fx.stream_url + "?streams=btcusdt@bookTicker") as market:
        recv_until(market, lambda m: True)
        fx.stream_fault("shutdown")
        ann, _ = recv_until(user, lambda m: True)
        mkt, _ = recv_until(market, lambda m: True)
        assert ann == {"event": {"e": "serverShutdown", "E": ann["event"]["E"]}}
        assert mkt["stream"] == "!serverShutdown" and mkt["data"]["e"] == "serverShutdown"
        assert closed(user).rcvd.code == 1001
        assert closed(market).rcvd.code == 1001


# ---------------------------------------------------------------------- lifetime, pings, limit
def test_connections_close_after_24_hours_of_server_time() -> None:
    with FakeBinance(manual_clock=True) as fx:
        with user_ws(fx) as user, connect(fx.stream_url + "?streams=btcusdt@bookTicker") as mkt:
            recv_until(mkt, lambda m: True)
            fx.advance_clock(86_399)
            assert request(user, "ping", rid=2)["status"] == 200
            fx.advance_clock(1)
            assert closed(user).rcvd.code == 1000
            assert closed(mkt).rcvd.code == 1000


def test_stopping_the_fake_closes_its_connections(fx: FakeBinance) -> None:
    with user_ws(fx) as user, connect(fx.stream_url + "?streams=btcusdt@bookTicker") as mkt:
        recv_until(mkt, lambda m: True)
        fx.stop()
        assert closed(user).rcvd.code == 1001
        assert closed(mkt).rcvd.code == 1001


def test_server_sends_ping_frames() -> None:
    with FakeBinance(ws_ping_interval=0.05) as fx:
        with connect(fx.stream_url + "?streams=btcusdt@bookTicker"):
            wait_for(lambda: fx.stream_stats()["pongs"] >= 2)
        assert fx.stream_stats()["pings"] >= 2


def test_an_unanswered_ping_closes_the_connection() -> None:
    """A client that never answers pings (aiohttp with autoping off) sees the ping frames
    and is closed (1008) once a ping stays unanswered for the pong timeout."""

    async def run(url: str) -> tuple[int, int | None]:
        pings = 0
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url, autoping=False, autoclose=False) as ws:
                while True:
                    msg = await ws.receive(timeout=WAIT)
                    if msg.type == aiohttp.WSMsgType.PING:
                        pings += 1
                    elif msg.type in {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED}:
                        return pings, msg.data
                    elif msg.type != aiohttp.WSMsgType.TEXT:
                        raise AssertionError(f"unexpected {msg.type}")

    with FakeBinance(ws_ping_interval=0.05, ws_pong_timeout=0.2) as fx:
        pings, code = asyncio.run(run(fx.ws_api_url))
        assert pings >= 2
        assert code == 1008
        assert fx.stream_stats()["pongs"] == 0


def test_ws_api_requests_count_on_the_ip_weight() -> None:
    """Connecting costs 2, ping 1: the weight limit answers 429 -1003 like REST does, and
    REST sees the same minute's weight (manual limits clock: no minute boundary)."""
    with FakeBinance(weight_limit=4, manual_clock=True) as fx, connect(fx.ws_api_url) as ws:
        assert request(ws, "ping", rid=1)["rateLimits"][0]["count"] == 3
        assert request(ws, "ping", rid=2)["status"] == 200
        refused = request(ws, "ping", rid=3)
        assert (refused["status"], refused["error"]["code"]) == (429, -1003)
        assert refused["error"]["data"]["retryAfter"] > refused["error"]["data"]["serverTime"]
        assert fx.stats()["weight_used_1m"] == 5


def test_withdraw_past_the_free_balance_is_refused(fx: FakeBinance) -> None:
    with pytest.raises(ValueError, match="exceeds the free"):
        fx.withdraw("USDT", 20_000)
    assert fx.balances()["USDT"] == (10_000.0, 0.0)


def test_connection_limit_answers_429() -> None:
    with FakeBinance(ws_connection_limit=2, manual_clock=True) as fx:
        with connect(fx.ws_api_url), connect(fx.stream_url + "?streams=btcusdt@bookTicker"):
            with pytest.raises(InvalidStatus) as info, connect(fx.ws_api_url, open_timeout=WAIT):
                pass
        assert info.value.response.status_code == 429
        assert fx.stream_stats()["refused"] == 1
