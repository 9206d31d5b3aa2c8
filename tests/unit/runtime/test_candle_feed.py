"""`CandleFeed`: the strategies decide on closed klines only, each open time once and in
order; a gap is back-filled over REST before the next decision, and nothing is decided while
it cannot be."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tradewarden.core.models import Tick
from tradewarden.runtime.candles import CLOSE_MARGIN_MS, WARMUP_KLINES, CandleFeed
from tradewarden.trading.broker import BrokerError

IV = 1_000  # 1 s klines
T0 = 1_767_571_200_000  # 2026-01-05 00:00 UTC, ms


class Exchange:
    """REST klines of one symbol: the candle opening at t closes at t + IV - 1 with price
    t's index; `down` makes every request fail."""

    def __init__(self) -> None:
        self.now = T0 + 200 * IV
        self.down = False
        self.requests: list[tuple[int | None, int]] = []

    def price(self, open_ms: int) -> float:
        return 100.0 + (open_ms - T0) / IV

    def row(self, open_ms: int) -> list[Any]:
        p = self.price(open_ms)
        return [open_ms, str(p), str(p), str(p), str(p), "1", open_ms + IV - 1]

    def fetch(self, symbol: str, start: int | None, limit: int) -> Sequence[Sequence[Any]]:
        self.requests.append((start, limit))
        if self.down:
            raise BrokerError("GET /api/v3/klines: no answer (ConnectionError)")
        last = self.now // IV * IV  # the open candle is listed too, as Binance does
        first = last - (limit - 1) * IV if start is None else start
        return [self.row(t) for t in range(first, last + 1, IV)][:limit]

    def tick(self, open_ms: int) -> Tick:
        p = self.price(open_ms)
        return Tick(open_ms / 1000.0, "BTCUSDT", p, p, p, p, 1.0)


def feed_on(ex: Exchange) -> tuple[CandleFeed, list[float], list[float]]:
    decided: list[float] = []
    warmed: list[float] = []
    feed = CandleFeed(
        ["BTCUSDT"],
        "1s",
        fetch=ex.fetch,
        decide=lambda t: decided.append(t.ts),
        warm=lambda t: warmed.append(t.ts),
        now_ms=lambda: ex.now,
    )
    return feed, decided, warmed


def started(ex: Exchange) -> tuple[CandleFeed, list[float], list[float]]:
    feed, decided, warmed = feed_on(ex)
    assert feed.warm("BTCUSDT")
    return feed, decided, warmed


def test_start_shows_closed_history_to_the_strategies_without_deciding() -> None:
    ex = Exchange()
    ex.now += CLOSE_MARGIN_MS + 1
    feed, decided, warmed = started(ex)
    assert decided == []
    assert len(warmed) == WARMUP_KLINES  # the open candle is not among them
    last_closed = ex.now // IV * IV - IV
    assert warmed[-1] == last_closed / 1000.0
    assert warmed == sorted(warmed)
    assert feed.last["BTCUSDT"] == last_closed


def test_each_closed_kline_is_decided_once_in_order() -> None:
    ex = Exchange()
    feed, decided, _ = started(ex)
    last = feed.last["BTCUSDT"]
    for t in (last + IV, last + IV, last + 2 * IV, last + IV, last):  # repeats, a late one
        feed.closed("BTCUSDT", t, ex.tick(t))
    assert decided == [(last + IV) / 1000.0, (last + 2 * IV) / 1000.0]
    assert ex.requests == [(None, WARMUP_KLINES + 1)]  # no REST for consecutive klines
    assert feed.reasons() == []


def test_a_gap_is_back_filled_before_the_next_decision() -> None:
    ex = Exchange()
    feed, decided, _ = started(ex)
    last = feed.last["BTCUSDT"]
    ex.now = last + 5 * IV + CLOSE_MARGIN_MS + 1  # klines last+1..last+4 closed, +4 streamed
    feed.closed("BTCUSDT", last + 4 * IV, ex.tick(last + 4 * IV))  # 1..3 never came
    assert decided == [(last + k * IV) / 1000.0 for k in (1, 2, 3, 4)]
    assert ex.requests[-1] == (last + IV, 1000)
    feed.closed("BTCUSDT", last + 3 * IV, ex.tick(last + 3 * IV))  # the late one: dropped
    assert len(decided) == 4
    assert feed.backfilled == 3


def test_no_decision_while_a_gap_cannot_be_back_filled() -> None:
    ex = Exchange()
    feed, decided, _ = started(ex)
    last = feed.last["BTCUSDT"]
    ex.now = last + 4 * IV + CLOSE_MARGIN_MS + 1
    ex.down = True
    feed.closed("BTCUSDT", last + 3 * IV, ex.tick(last + 3 * IV))
    feed.closed("BTCUSDT", last + 4 * IV, ex.tick(last + 4 * IV))  # the next, still behind
    assert decided == []
    (reason,) = feed.reasons()
    assert reason.startswith("BTCUSDT: klines after ") and "not back-filled" in reason
    assert "no strategy decision" in reason
    assert feed.pending() == ["BTCUSDT"]
    ex.down = False
    assert feed.catch_up("BTCUSDT")
    assert decided == [(last + k * IV) / 1000.0 for k in (1, 2, 3, 4)]
    assert feed.reasons() == [] and feed.pending() == []


def test_a_gap_the_exchange_does_not_list_yet_holds_the_decision() -> None:
    ex = Exchange()
    feed, decided, _ = started(ex)
    last = feed.last["BTCUSDT"]
    # the stream is ahead of the REST clock: klines +1, +2 not closed there yet
    feed.closed("BTCUSDT", last + 3 * IV, ex.tick(last + 3 * IV))
    assert decided == []
    assert "does not list them yet" in feed.reasons()[0]
    ex.now = last + 4 * IV + CLOSE_MARGIN_MS + 1
    assert feed.catch_up("BTCUSDT")
    assert decided == [(last + k * IV) / 1000.0 for k in (1, 2, 3)]


def test_klines_missed_long_ago_are_shown_not_decided() -> None:
    ex = Exchange()
    feed, decided, warmed = started(ex)
    last = feed.last["BTCUSDT"]
    warmed.clear()
    ex.now = last + 60 * IV + CLOSE_MARGIN_MS + 1  # a minute without the market stream
    feed.suspect()  # the stream reconnected
    assert feed.catch_up("BTCUSDT")
    every = [(last + k * IV) / 1000.0 for k in range(1, 60)]
    assert sorted(warmed + decided) == every, "each open time once"
    assert decided and all(t > w for t in decided for w in warmed)
    assert (ex.now - decided[0] * 1000) <= feed.stale_after_ms + IV  # only recent ones decide
    assert len(warmed) > len(decided)


def test_the_polling_fallback_decides_on_klines_as_they_close() -> None:
    ex = Exchange()
    feed, decided, _ = started(ex)
    last = feed.last["BTCUSDT"]
    n = len(ex.requests)
    feed.poll("BTCUSDT")  # the next kline has not closed: no request
    assert len(ex.requests) == n and decided == []
    ex.now = last + 2 * IV + CLOSE_MARGIN_MS + 1
    feed.poll("BTCUSDT")
    assert decided == [(last + IV) / 1000.0]
    feed.closed("BTCUSDT", last + IV, ex.tick(last + IV))  # the stream's copy: not again
    assert decided == [(last + IV) / 1000.0]


def test_a_failed_warm_up_is_retried_before_any_decision() -> None:
    ex = Exchange()
    ex.down = True
    feed, decided, warmed = feed_on(ex)
    assert not feed.warm("BTCUSDT")
    assert "no klines for the strategies to start from" in feed.reasons()[0]
    t = ex.now // IV * IV - IV
    feed.closed("BTCUSDT", t, ex.tick(t))
    assert decided == [] and warmed == []
    ex.down = False
    ex.now += CLOSE_MARGIN_MS + 1
    assert feed.catch_up("BTCUSDT")
    assert decided == [] and warmed[-1] == t / 1000.0, "shown once, while warming up"
    assert feed.pending() == []
    feed.closed("BTCUSDT", t + IV, ex.tick(t + IV))
    assert decided == [(t + IV) / 1000.0]
    assert feed.reasons() == []
