"""Parsing the futures user data stream's events (shapes from Binance's USDⓈ-M futures
"User Data Streams" docs) and what the stream does with each message kind."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tradewarden.exchange.futures_stream import (
    FuturesAccountEvent,
    FuturesInbox,
    FuturesOrderEvent,
    FuturesUserStream,
    MarginCallEvent,
    parse_futures_event,
)
from tradewarden.exchange.streams import _ReconnectError

ORDER: dict[str, Any] = {
    "e": "ORDER_TRADE_UPDATE",
    "E": 1568879465651,
    "T": 1568879465650,
    "o": {
        "s": "BTCUSDT",
        "c": "tw-f-1",
        "S": "SELL",
        "o": "MARKET",
        "f": "GTC",
        "q": "0.001",
        "p": "0",
        "ap": "9000.5",
        "sp": "0",
        "x": "TRADE",
        "X": "FILLED",
        "i": 8886774,
        "l": "0.001",
        "z": "0.001",
        "L": "9000.5",
        "N": "USDT",
        "n": "0.0045",
        "T": 1568879465650,
        "t": 1234,
        "b": "0",
        "a": "9.91",
        "m": False,
        "R": True,
        "wt": "CONTRACT_PRICE",
        "ot": "MARKET",
        "ps": "BOTH",
        "cp": False,
        "rp": "1.25",
        "pP": False,
        "si": 0,
        "ss": 0,
        "V": "EXPIRE_TAKER",
        "pm": "NONE",
        "gtd": 0,
    },
}
ACCOUNT: dict[str, Any] = {
    "e": "ACCOUNT_UPDATE",
    "E": 1564745798939,
    "T": 1564745798938,
    "a": {
        "m": "FUNDING_FEE",
        "B": [{"a": "USDT", "wb": "122624.12345678", "cw": "100.12345678", "bc": "-0.25"}],
        "P": [
            {
                "s": "BTCUSDT",
                "pa": "-0.5",
                "ep": "30000.0",
                "bep": "30000.1",
                "cr": "0",
                "up": "-12.5",
                "mt": "isolated",
                "iw": "3000.0",
                "ps": "BOTH",
            }
        ],
    },
}
MARGIN_CALL: dict[str, Any] = {
    "e": "MARGIN_CALL",
    "E": 1587727187525,
    "cw": "3.16812045",
    "p": [
        {
            "s": "ETHUSDT",
            "ps": "LONG",
            "pa": "1.327",
            "mt": "CROSSED",
            "iw": "0",
            "mp": "187.17127",
            "up": "-1.166074",
            "mm": "1.614445",
        }
    ],
}


def order(**o: Any) -> dict[str, Any]:
    event = copy.deepcopy(ORDER)
    event["o"].update(o)
    return event


def test_a_fill_with_commission_realized_profit_and_reduce_only() -> None:
    ev = parse_futures_event(ORDER, 1.0)
    assert isinstance(ev, FuturesOrderEvent)
    assert (ev.symbol, ev.client_order_id, ev.order_id, ev.side) == (
        "BTCUSDT",
        "tw-f-1",
        8886774,
        "SELL",
    )
    assert (ev.status, ev.execution_type, ev.reduce_only, ev.liquidation) == (
        "FILLED",
        "TRADE",
        True,
        False,
    )
    assert ev.trade is not None
    assert ev.trade["id"] == 1234 and ev.trade["qty"] == 0.001 and ev.trade["price"] == 9000.5
    assert ev.commission == 0.0045 and ev.trade["commissionAsset"] == "USDT"
    assert ev.realized_profit == 1.25 and ev.event_ms == 1568879465651


def test_a_new_order_has_no_trade() -> None:
    ev = parse_futures_event(order(x="NEW", X="NEW", l="0", z="0", L="0", n="0", t=0), 1.0)
    assert isinstance(ev, FuturesOrderEvent)
    assert ev.trade is None and ev.commission == 0.0 and ev.realized_profit == 0.0


def test_commission_asset_may_be_absent() -> None:
    event = order()
    del event["o"]["N"], event["o"]["n"]
    ev = parse_futures_event(event, 1.0)
    assert isinstance(ev, FuturesOrderEvent) and ev.commission == 0.0


@pytest.mark.parametrize(
    "fields",
    [
        {"x": "CALCULATED", "o": "LIQUIDATION", "c": "autoclose-1"},
        {"c": "adl_autoclose"},
        {"o": "LIQUIDATION"},
    ],
    ids=["liquidation", "adl", "liquidation-type"],
)
def test_liquidations_are_flagged(fields: dict[str, Any]) -> None:
    ev = parse_futures_event(order(**fields), 1.0)
    assert isinstance(ev, FuturesOrderEvent) and ev.liquidation


def test_funding_account_update() -> None:
    ev = parse_futures_event(ACCOUNT, 2.0)
    assert isinstance(ev, FuturesAccountEvent)
    assert ev.funding and ev.reason == "FUNDING_FEE"
    (bal,) = ev.balances
    assert (bal.asset, bal.wallet, bal.cross_wallet, bal.change) == (
        "USDT",
        122624.12345678,
        100.12345678,
        -0.25,
    )
    (pos,) = ev.positions
    assert (pos.symbol, pos.amount, pos.margin_type, pos.isolated_wallet) == (
        "BTCUSDT",
        -0.5,
        "isolated",
        3000.0,
    )


def test_a_margin_call_is_critical_with_an_alert() -> None:
    ev = parse_futures_event(MARGIN_CALL, 3.0)
    assert isinstance(ev, MarginCallEvent)
    assert ev.severity == "critical" and ev.cross_wallet == 3.16812045
    (p,) = ev.positions
    assert (p.symbol, p.margin_type, p.mark_price, p.maintenance) == (
        "ETHUSDT",
        "crossed",
        187.17127,
        1.614445,
    )
    kind, fields = ev.alert()
    assert kind == "futures_margin_call" and fields["severity"] == "critical"
    assert fields["positions"][0]["maintenance_margin"] == 1.614445


@pytest.mark.parametrize(
    "kind",
    [
        "ACCOUNT_CONFIG_UPDATE",
        "TRADE_LITE",
        "STRATEGY_UPDATE",
        "GRID_UPDATE",
        "CONDITIONAL_ORDER_TRIGGER_REJECT",
        "ALGO_UPDATE",
    ],
)
def test_known_unused_events_are_none(kind: str) -> None:
    assert parse_futures_event({"e": kind, "E": 1}, 1.0) is None


@pytest.mark.parametrize(
    "event",
    [
        {"e": "SOMETHING_NEW", "E": 1},
        {"e": "listenKeyExpired", "E": 1},  # the stream's business
        order(S="HOLD"),
        order(R="true"),  # a string where the docs give a boolean
        order(l="NaN"),
        order(i="8886774"),
        {k: v for k, v in ACCOUNT.items() if k != "a"},
    ],
    ids=[
        "unknown",
        "expired",
        "side",
        "reduce-only-string",
        "nan",
        "order-id-string",
        "no-account",
    ],
)
def test_malformed_or_unknown_events_raise(event: dict[str, Any]) -> None:
    with pytest.raises((KeyError, TypeError, ValueError)):
        parse_futures_event(event, 1.0)


class NoKeys:
    """A ListenKeyApi for the message handling alone (never asked)."""

    def create(self) -> str:
        raise AssertionError("not asked")

    def keepalive(self, key: str) -> None:
        raise AssertionError("not asked")

    def close(self, key: str) -> None:
        raise AssertionError("not asked")


def stream() -> tuple[FuturesUserStream, FuturesInbox]:
    inbox = FuturesInbox()
    return FuturesUserStream(NoKeys(), "ws://127.0.0.1:1/x", inbox, reconnect_max_s=1), inbox


def test_the_stream_puts_events_and_counts_garbage() -> None:
    s, inbox = stream()
    s._handle(json.dumps(ORDER))
    s._handle(json.dumps({"stream": "k", "data": MARGIN_CALL}))  # an enveloped event
    s._handle("not json")
    s._handle(json.dumps([1, 2]))
    s._handle(json.dumps(order(S="HOLD")))
    s._handle(json.dumps({"e": "TRADE_LITE", "E": 1}))
    got = inbox.drain_all()
    assert [type(m) for m in got] == [FuturesOrderEvent, MarginCallEvent]
    assert s.health.malformed == 3


def test_listen_key_expired_reconnects() -> None:
    s, _ = stream()
    with pytest.raises(_ReconnectError, match="listenKeyExpired"):
        s._handle(json.dumps({"e": "listenKeyExpired", "E": 1, "listenKey": "x" * 64}))
    assert s.stats.expired == 1


def test_keepalive_must_come_within_the_hour() -> None:
    with pytest.raises(ValueError, match="60 minutes"):
        FuturesUserStream(
            NoKeys(), "ws://127.0.0.1:1/x", FuturesInbox(), reconnect_max_s=1, keepalive_s=3600
        )


def test_a_full_inbox_refuses_and_reconnects_counted_on_the_user_stream() -> None:
    """A futures fill the runtime has no room for is never dropped silently: the stream
    reconnects (the runtime's REST check finds the fill) and the overflow is counted as the
    account ("user") stream's, not the market stream's."""
    inbox = FuturesInbox(max_pending=1)
    s = FuturesUserStream(NoKeys(), "ws://127.0.0.1:1/x", inbox, reconnect_max_s=1)
    s._handle(json.dumps(ORDER))
    with pytest.raises(_ReconnectError, match="inbox full"):
        s._handle(json.dumps(ORDER))
    assert inbox.overflows["user"] == 1 and inbox.overflows["market"] == 0
    assert len(inbox.drain_all()) == 1
