"""Attacks on the futures user data stream's parsing (issue 20 review): a MARGIN_CALL that
cannot be fully read must still be delivered (a critical alert is never parsed into
nothing), and a malformed ORDER_TRADE_UPDATE must never become a booked fill at a wrong
price or an overflowing notional, nor end the stream's thread."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import pytest

from tradewarden.exchange.futures_stream import (
    FuturesInbox,
    FuturesOrderEvent,
    FuturesUserStream,
    MarginCallEvent,
    parse_futures_event,
)

CALL: dict[str, Any] = {
    "e": "MARGIN_CALL",
    "E": 1587727187525,
    "cw": "3.16812045",
    "p": [
        {
            "s": "BTCUSDT",
            "ps": "BOTH",
            "pa": "-0.5",
            "mt": "ISOLATED",
            "iw": "300",
            "mp": "35840",
            "up": "-290",
            "mm": "250",
        }
    ],
}
FILL: dict[str, Any] = {
    "e": "ORDER_TRADE_UPDATE",
    "E": 1568879465651,
    "T": 1568879465650,
    "o": {
        "s": "BTCUSDT",
        "c": "tw-f-1",
        "S": "SELL",
        "o": "MARKET",
        "q": "0.001",
        "p": "0",
        "ap": "9000.5",
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
        "m": False,
        "R": False,
        "ps": "BOTH",
        "rp": "0",
    },
}


def call(**changes: Any) -> dict[str, Any]:
    ev = copy.deepcopy(CALL)
    for k, v in changes.items():
        if v is None:
            ev.pop(k, None)
        else:
            ev[k] = v
    return ev


def position(**changes: Any) -> dict[str, Any]:
    p = dict(CALL["p"][0])
    for k, v in changes.items():
        if v is None:
            p.pop(k, None)
        else:
            p[k] = v
    return p


def fill(**changes: Any) -> dict[str, Any]:
    ev = copy.deepcopy(FILL)
    ev["o"].update(changes)
    return ev


class NoKeys:
    def create(self) -> str:
        raise AssertionError("not asked")

    def keepalive(self, key: str) -> None:
        raise AssertionError("not asked")

    def close(self, key: str) -> None:
        raise AssertionError("not asked")


def stream() -> tuple[FuturesUserStream, FuturesInbox]:
    inbox = FuturesInbox()
    return FuturesUserStream(NoKeys(), "ws://127.0.0.1:1/x", inbox, reconnect_max_s=1), inbox


MALFORMED_CALLS = {
    "no-positions": call(p=[]),
    "positions-missing": call(p=None),
    "positions-not-a-list": call(p="BTCUSDT"),
    "position-not-an-object": call(p=["BTCUSDT"]),
    "maintenance-missing": call(p=[position(mm=None)]),
    "mark-not-a-number": call(p=[position(mp="high")]),
    "amount-infinite": call(p=[position(pa="-inf")]),
    "time-a-string": call(E="1587727187525"),
    "time-missing": call(E=None),
    "cross-wallet-garbage": call(cw={"x": 1}),
    "one-good-one-bad": call(p=[position(), position(s="ETHUSDT", up=None)]),
}


@pytest.mark.parametrize("event", list(MALFORMED_CALLS.values()), ids=list(MALFORMED_CALLS))
def test_a_malformed_margin_call_is_still_delivered_critical(
    event: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    s, inbox = stream()
    s._handle(json.dumps(event))
    got = inbox.drain_all()
    assert len(got) == 1 and isinstance(got[0], MarginCallEvent), got
    ev = got[0]
    kind, fields = ev.alert()
    assert kind == "futures_margin_call" and fields["severity"] == "critical"
    assert any(
        r.levelno == logging.CRITICAL and "MARGIN_CALL" in r.getMessage() for r in caplog.records
    )
    # what was lost is counted (health.malformed) and named in the alert
    lost = ev.unreadable
    assert fields["unreadable_positions"] == lost
    assert s.health.malformed == (1 if lost else 0)


def test_a_readable_position_of_a_half_broken_call_is_kept() -> None:
    ev = parse_futures_event(MALFORMED_CALLS["one-good-one-bad"], 1.0)
    assert isinstance(ev, MarginCallEvent)
    assert [p.symbol for p in ev.positions] == ["BTCUSDT"] and ev.unreadable == 1


BAD_FILLS = {
    "negative-price": fill(L="-9000.5"),
    "zero-price": fill(L="0"),
    "overflowing-notional": fill(L="1e200", l="1e200"),
    "negative-last-qty": fill(l="-0.001"),
    "negative-orig-qty": fill(q="-0.001"),
    "negative-cum-qty": fill(z="-1"),
    "price-not-a-number": fill(L="9000.5 USDT"),
    "qty-a-boolean": fill(l=True),
    "trade-id-a-string": fill(t="1234"),
    "trade-id-missing": fill(t=None),
    "maker-a-string": fill(m="false"),
    "nan-price": fill(L="nan"),
    "infinite-qty": fill(l="1e999"),
}


@pytest.mark.parametrize("event", list(BAD_FILLS.values()), ids=list(BAD_FILLS))
def test_a_malformed_fill_is_dropped_and_counted_never_booked(event: dict[str, Any]) -> None:
    s, inbox = stream()
    s._handle(json.dumps(event))
    assert inbox.drain_all() == []
    assert s.health.malformed == 1
    s._handle(json.dumps(FILL))  # the next good event still arrives
    (good,) = inbox.drain_all()
    assert isinstance(good, FuturesOrderEvent) and good.trade is not None
    assert good.trade["price"] == 9000.5 and good.trade["quoteQty"] == pytest.approx(9.0005)


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 100_000 + "]" * 100_000,  # json.loads: RecursionError, not ValueError
        json.dumps({"e": "ORDER_TRADE_UPDATE", "E": 1, "o": [1, 2]}),
        json.dumps({"e": "ACCOUNT_UPDATE", "E": 1, "a": "x"}),
        json.dumps({"e": "ACCOUNT_UPDATE", "E": 1, "a": {"m": "ORDER", "B": {"a": 1}}}),
        json.dumps({"e": None}),
        json.dumps({"data": {"e": "ORDER_TRADE_UPDATE"}}),
    ],
    ids=["deep-nesting", "order-a-list", "account-a-string", "balances-a-dict", "kind-null", "env"],
)
def test_garbage_never_raises_out_of_the_handler(raw: str) -> None:
    s, inbox = stream()
    s._handle(raw)  # raising here would end the session (a reconnect) or the thread
    assert inbox.drain_all() == [] and s.health.malformed == 1


def test_a_margin_call_carrying_a_data_field_is_not_swapped_for_it() -> None:
    """An event of its own ("e") with a "data" object is the event, not an envelope: the
    margin call was replaced by its "data" (here a known unused kind) and vanished."""
    s, inbox = stream()
    s._handle(json.dumps(call(data={"e": "TRADE_LITE", "E": 1})))
    (got,) = inbox.drain_all()
    assert isinstance(got, MarginCallEvent) and got.positions[0].symbol == "BTCUSDT"
    s._handle(json.dumps({"stream": "x", "data": CALL}))  # a real envelope still opens
    assert isinstance(inbox.drain_all()[0], MarginCallEvent)
