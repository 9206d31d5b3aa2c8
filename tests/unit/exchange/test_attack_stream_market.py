"""Attacks on the market stream's parsing (issue 19): a connected stream sending another
symbol's prices or klines, or a crossed book (an absurd mid), marks and decides nothing."""

from __future__ import annotations

from tradewarden.exchange.streams import parse_market_message


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
