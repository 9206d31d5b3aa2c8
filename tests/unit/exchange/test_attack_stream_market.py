"""Attacks on the market stream's parsing (issue 19): a connected stream sending another
symbol's prices or klines, or a crossed book (an absurd mid), marks and decides nothing."""

from __future__ import annotations

import json

from tradewarden.exchange.streams import Inbox, MarketStream, parse_market_message


def test_a_book_ticker_whose_symbol_is_not_its_streams_is_dropped() -> None:

    msg = {
        "stream": "ethusdt@bookTicker",
        "data": {"u": 1, "s": "BTCUSDT", "b": "1.00", "B": "1", "a": "1.02", "A": "1"},
    }
    try:
        parsed = parse_market_message(msg, 0.0)
    except ValueError:
        parsed = None
    assert parsed is None, "ETH's stream marked BTCUSDT"


def test_a_kline_whose_symbol_is_not_its_streams_is_dropped() -> None:

    k = {"t": 0, "T": 59_999, "s": "BTCUSDT", "i": "1m", "o": "1", "h": "1", "l": "1"}
    msg = {
        "stream": "ethusdt@kline_1m",
        "data": {"e": "kline", "E": 1, "s": "BTCUSDT", "k": k | {"c": "1", "v": "1", "x": True}},
    }
    try:
        parsed = parse_market_message(msg, 0.0)
    except ValueError:
        parsed = None
    assert parsed is None, "ETH's kline stream fed BTCUSDT's strategies"


def test_a_crossed_book_ticker_marks_nothing() -> None:

    msg = {
        "stream": "btcusdt@bookTicker",
        "data": {"u": 1, "s": "BTCUSDT", "b": "60000", "B": "1", "a": "0.01", "A": "1"},
    }
    try:
        parsed = parse_market_message(msg, 0.0)
    except ValueError:
        parsed = None
    assert parsed is None, "a crossed book (bid above ask) gave a mid to mark with"


def _stream(inbox: Inbox) -> MarketStream:
    return MarketStream(
        "ws://127.0.0.1:9/stream",
        ["BTCUSDT"],
        inbox,
        kline_interval="1s",
        stale_after_s=10.0,
        reconnect_max_s=30.0,
    )


def test_a_flood_of_book_tickers_of_symbols_never_subscribed_stays_out_of_the_inbox() -> None:
    """Prices coalesce one slot per symbol and are never refused: a stream sending tickers
    of ever new symbols would grow the inbox without bound. Only subscribed streams count."""
    inbox = Inbox(max_pending=10)
    stream = _stream(inbox)
    for i in range(2_000):
        sym = f"X{i}USDT"
        data = {"u": i, "s": sym, "b": "1.0", "B": "1", "a": "1.1", "A": "1"}
        stream._handle(json.dumps({"stream": f"{sym.lower()}@bookTicker", "data": data}), 1.0)
    assert inbox.drain() == []
    assert stream.health.malformed == 2_000


def test_a_kline_of_another_interval_than_subscribed_is_dropped() -> None:
    """A 1 h kline on a 1 s feed would be decided on as the next 1 s candle."""
    inbox = Inbox()
    stream = _stream(inbox)
    k = {"t": 0, "T": 3_599_999, "s": "BTCUSDT", "i": "1h", "o": "1", "c": "1", "h": "1"}
    k |= {"l": "1", "v": "0", "x": True}
    raw = json.dumps({"stream": "btcusdt@kline_1h", "data": {"e": "kline", "s": "BTCUSDT", "k": k}})
    stream._handle(raw, 1.0)
    assert inbox.drain() == []


def test_a_kline_whose_close_is_outside_its_high_and_low_is_dropped() -> None:
    """An absurd candle (close above its high or below its low): never decided on."""
    for o, h, lo, c in (("1", "2", "1", "50"), ("1", "2", "3", "1"), ("1", "2", "1.5", "1")):
        k = {"t": 0, "T": 999, "s": "BTCUSDT", "i": "1s", "o": o, "h": h, "l": lo, "c": c}
        data = {"e": "kline", "E": 1, "s": "BTCUSDT", "k": k | {"v": "1", "x": True}}
        try:
            parsed = parse_market_message({"stream": "btcusdt@kline_1s", "data": data}, 0.0)
        except ValueError:
            parsed = None
        assert parsed is None, (o, h, lo, c)
