"""Reference strategy: moving-average cross, long only (spot).

Buy when the fast SMA crosses above the slow SMA while flat; sell when it crosses below
while long. Tags every signal with the current volatility zone.
"""

from __future__ import annotations

from collections import deque

from tradewarden.core.models import Side, Tick
from tradewarden.strategy.base import Signal, Strategy
from tradewarden.strategy.zones import AtrZone


class MaCross(Strategy):
    name = "ma_cross"

    def __init__(self, fast: int = 5, slow: int = 20) -> None:
        if not 0 < fast < slow:
            raise ValueError("ma_cross needs 0 < fast < slow")
        self.fast, self.slow = fast, slow
        self.closes: deque[float] = deque(maxlen=slow)
        self.prev_diff: float | None = None
        self.zones = AtrZone()

    def on_tick(self, tick: Tick, position_qty: float) -> Signal | None:
        zone = self.zones.update(tick.high, tick.low, tick.close)
        self.closes.append(tick.close)
        if len(self.closes) < self.slow:
            return None
        closes = list(self.closes)
        fast = sum(closes[-self.fast :]) / self.fast
        slow = sum(closes) / self.slow
        diff = fast - slow
        prev, self.prev_diff = self.prev_diff, diff
        if prev is None:
            return None
        if prev <= 0 < diff and position_qty <= 0:
            return Signal(Side.BUY, zone, True, f"SMA{self.fast} crossed above SMA{self.slow}")
        if prev >= 0 > diff and position_qty > 0:
            return Signal(Side.SELL, zone, False, f"SMA{self.fast} crossed below SMA{self.slow}")
        return None
