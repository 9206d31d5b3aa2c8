"""The candles the strategies decide on in the event-driven exchange loop (issue 19).

One `CandleFeed` per daemon, per symbol the open time (ms) of the last candle the strategies
saw. Rules:

- only closed klines are decided on, each open time once, in increasing order: a closed
  kline at or before the last one (a duplicate, a late or reordered message) is dropped,
  and so is one "closed" before its close time (from the future: forged or broken);
- the next kline (open = last + interval) is decided at once; one further on is a *gap*
  (messages lost, a reconnect): it is held and the klines in between are read over REST
  (GET /api/v3/klines, weight 2, `fetch`) first. While that fails, or the exchange does not
  list them yet, nothing of that symbol is decided and `reasons()` says why (readiness);
- back-filled klines that closed recently are decided on like streamed ones; older ones
  (after a long outage) are only shown to the strategies (`warm`), so that no order follows
  a stale signal; the held kline is then decided on;
- at start (and when a symbol has no last candle yet) the latest closed klines are read
  over REST and shown to the strategies without a decision (`warm`): their indicators are
  ready, and the first decision is on the next closed kline;
- `poll(symbol)` (the polling fallback, market stream down or stale) reads the klines
  closed since the last one over REST, the same way; `suspect(symbol)` (market stream
  reconnected) does the same at the next `catch_up`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from tradewarden.core.models import Tick
from tradewarden.trading.broker import BrokerError

log = logging.getLogger(__name__)

INTERVAL_MS = {"1s": 1_000, "1m": 60_000}
WARMUP_KLINES = 100  # shown to the strategies at start (ma_cross needs its slow window)
CLOSE_MARGIN_MS = 250  # a REST kline counts as closed this long after its close time
# a streamed kline marked closed whose close time is further ahead of the exchange's clock
# (as the daemon reads it) than this is dropped
FUTURE_MARGIN_MS = 2_000
MAX_FETCHES = 20  # REST pages per catch-up (1,000 klines each): past that, try again later

Fetch = Callable[[str, int | None, int], Sequence[Sequence[Any]]]  # symbol, start ms, limit


def tick_of(symbol: str, row: Sequence[Any]) -> Tick:
    """A REST kline row [open ms, o, h, l, c, v, close ms, ...] as a `Tick` (ts = open, s)."""
    return Tick(
        int(row[0]) / 1000.0,
        symbol,
        float(row[1]),
        float(row[2]),
        float(row[3]),
        float(row[4]),
        float(row[5]),
    )


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000.0, UTC).strftime("%Y-%m-%d %H:%M:%S")


class CandleFeed:
    """See the module docstring. Single-threaded (the exchange loop's thread)."""

    def __init__(
        self,
        symbols: Sequence[str],
        interval: str,
        *,
        fetch: Fetch,
        decide: Callable[[Tick], None],
        warm: Callable[[Tick], None],
        now_ms: Callable[[], int],
        stale_after_ms: int | None = None,
    ) -> None:
        if interval not in INTERVAL_MS:
            raise ValueError(f"kline interval {interval!r} is not one of {sorted(INTERVAL_MS)}")
        self.symbols = list(symbols)
        self.interval = interval
        self.iv = INTERVAL_MS[interval]
        self.fetch, self.decide, self.warm_tick, self.now_ms = fetch, decide, warm, now_ms
        # a back-filled kline closed longer ago than this is shown, not decided on
        self.stale_after_ms = (
            stale_after_ms if stale_after_ms is not None else max(2 * self.iv, 5_000)
        )
        self.last: dict[str, int] = {}  # symbol -> open ms of the last candle seen
        self.held: dict[str, Tick] = {}  # symbol -> the newest closed kline behind a gap
        self.held_ms: dict[str, int] = {}
        self.gaps: dict[str, str] = {}  # symbol -> why it is not back-filled
        self._suspect: set[str] = set()
        self.backfilled = 0  # klines read over REST (gaps, reconnects, the fallback)

    # --- what comes in --------------------------------------------------------------------
    def closed(self, symbol: str, open_ms: int, tick: Tick) -> None:
        """A closed kline from the market stream."""
        if open_ms + self.iv - 1 > self.now_ms() + FUTURE_MARGIN_MS:
            # "closed" before its close time: forged or broken, never decided on (held, it
            # would be decided once its time came, whatever the exchange then lists)
            log.warning("a closed kline from the future dropped", extra={"symbol": symbol})
            return
        last = self.last.get(symbol)
        if last is not None and open_ms <= last:
            return  # seen already (a duplicate, a late or reordered message)
        if last is not None and open_ms == last + self.iv and symbol not in self._suspect:
            if symbol not in self.held:
                self._decide(symbol, open_ms, tick)
                return
        if symbol in self.held_ms and self.held_ms[symbol] >= open_ms:
            return
        self.held[symbol], self.held_ms[symbol] = tick, open_ms
        self.catch_up(symbol)

    def suspect(self, symbols: Sequence[str] | None = None) -> None:
        """Klines may have been missed (the market stream reconnected): read them over REST
        before the next decision."""
        self._suspect.update(self.symbols if symbols is None else symbols)

    def pending(self) -> list[str]:
        """Symbols with a catch-up owed (a gap, a reconnect, not warmed up yet)."""
        return sorted(set(self.held) | self._suspect | (set(self.symbols) - set(self.last)))

    def poll(self, symbol: str) -> None:
        """The polling fallback: decide on every kline closed since the last one (REST)."""
        last = self.last.get(symbol)
        if last is None or symbol in self.held or symbol in self._suspect:
            self.catch_up(symbol)
            return
        if self.now_ms() - CLOSE_MARGIN_MS > last + 2 * self.iv - 1:
            self.catch_up(symbol)

    # --- REST ---------------------------------------------------------------------------------
    def warm(self, symbol: str) -> bool:
        """Show the latest closed klines to the strategies (no decision); False on failure."""
        try:
            rows = self.fetch(symbol, None, WARMUP_KLINES + 1)
        except BrokerError as exc:
            self.gaps[symbol] = f"no klines for the strategies to start from ({exc})"
            log.warning("klines not read at start", extra={"symbol": symbol, "error": str(exc)})
            return False
        now = self.now_ms()
        for row in rows:
            if not self._is_closed(row, now):
                break
            open_ms = int(row[0])
            self.warm_tick(tick_of(symbol, row))
            self.last[symbol] = open_ms
        if symbol not in self.last:
            # nothing closed yet (a new listing): the next kline starts the series
            self.last[symbol] = (now // self.iv) * self.iv - self.iv
        self.gaps.pop(symbol, None)
        return True

    def catch_up(self, symbol: str) -> bool:
        """Read the klines after the last one over REST and go through them in order, then
        the held one; True when nothing is owed any more for `symbol`."""
        if symbol not in self.last and not self.warm(symbol):
            return False
        now = self.now_ms()
        held_ms = self.held_ms.get(symbol)
        for _ in range(MAX_FETCHES):
            start = self.last[symbol] + self.iv
            if held_ms is not None and start >= held_ms:
                break
            try:
                rows = self.fetch(symbol, start, 1000)
            except BrokerError as exc:
                self._gap(symbol, str(exc))
                return False
            progressed = False
            for row in rows:
                open_ms = int(row[0])
                if open_ms <= self.last[symbol]:
                    continue
                if held_ms is not None and open_ms >= held_ms:
                    break
                if not self._is_closed(row, now):
                    break
                tick = tick_of(symbol, row)
                self.backfilled += 1
                if now - int(row[6]) > self.stale_after_ms:
                    self.warm_tick(tick)  # closed long ago: no order on a stale signal
                    self.last[symbol] = open_ms
                else:
                    self._decide(symbol, open_ms, tick)
                progressed = True
            if not progressed or len(rows) < 1000:
                break
        if held_ms is not None and held_ms <= self.last[symbol]:
            del self.held[symbol], self.held_ms[symbol]  # seen while warming up: once only
        elif held_ms is not None:
            if self.last[symbol] + self.iv < held_ms:
                self._gap(symbol, "the exchange does not list them yet")
                return False
            tick = self.held.pop(symbol)
            del self.held_ms[symbol]
            self._decide(symbol, held_ms, tick)
        self._suspect.discard(symbol)
        self.gaps.pop(symbol, None)
        return True

    def _is_closed(self, row: Sequence[Any], now: int) -> bool:
        return int(row[6]) < now - CLOSE_MARGIN_MS

    def _gap(self, symbol: str, why: str) -> None:
        after = _utc(self.last[symbol])
        text = f"{symbol}: klines after {after} UTC not back-filled ({why})"
        if self.gaps.get(symbol) != text:
            log.warning(
                "candle gap not back-filled: no decision", extra={"symbol": symbol, "why": why}
            )
        self.gaps[symbol] = text

    def _decide(self, symbol: str, open_ms: int, tick: Tick) -> None:
        self.last[symbol] = open_ms
        self.decide(tick)

    # --- readiness ----------------------------------------------------------------------------
    def reasons(self) -> list[str]:
        return [
            f"{text}: no strategy decision on it until they are"
            for _, text in sorted(self.gaps.items())
        ]
