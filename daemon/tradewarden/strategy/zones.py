"""Volatility zones Z1..Z5 (the seed's "Z4-Z5 directional trades blocked").

Indicator: ATR(14) — Wilder's average true range over 14 candles — as a fraction of the
close. Zone edges (fractions of price, tuned for 1-minute candles): Z1 < 0.15%, Z2 < 0.3%,
Z3 < 0.6%, Z4 < 1.2%, Z5 >= 1.2%. Calm markets sit in Z1-Z2; a crash leg pushes into Z4-Z5,
where the risk engine refuses new directional entries (exits are still allowed).
"""

from __future__ import annotations

import math

ZONE_EDGES = (0.0015, 0.003, 0.006, 0.012)


class AtrZone:
    def __init__(self, period: int = 14, edges: tuple[float, ...] = ZONE_EDGES) -> None:
        self.period = period
        self.edges = edges
        self.atr: float | None = None
        self.prev_close: float | None = None
        self._seed: list[float] = []

    def update(self, high: float, low: float, close: float) -> int:
        tr = high - low
        if self.prev_close is not None:
            tr = max(tr, abs(high - self.prev_close), abs(low - self.prev_close))
        self.prev_close = close
        if self.atr is None:
            self._seed.append(tr)
            if len(self._seed) >= self.period:
                self.atr = sum(self._seed) / len(self._seed)
            avg = sum(self._seed) / len(self._seed)
        else:
            self.atr = (self.atr * (self.period - 1) + tr) / self.period
            avg = self.atr
        return self.zone(avg / close if close > 0 and math.isfinite(close) else math.inf)

    def zone(self, atr_frac: float) -> int:
        for i, edge in enumerate(self.edges, start=1):
            if atr_frac < edge:
                return i
        return len(self.edges) + 1
