"""Moving-average cross, long and short (for futures bots).

As `ma_cross`, and on a cross below while flat it goes short (SELL, an entry); a cross
above while short covers (BUY, an exit). On a spot bot a SELL with nothing held is
refused by the risk engine (no base balance), so spot stays long only.
"""

from __future__ import annotations

from tradewarden.core.models import Side, Tick
from tradewarden.strategy.base import Signal
from tradewarden.strategy.ma_cross import MaCross


class MaCrossLongShort(MaCross):
    name = "ma_cross_ls"

    def on_tick(self, tick: Tick, position_qty: float) -> Signal | None:
        zone = self.zones.update(tick.high, tick.low, tick.close)
        self.closes.append(tick.close)
        if len(self.closes) < self.slow:
            return None
        closes = list(self.closes)
        diff = sum(closes[-self.fast :]) / self.fast - sum(closes) / self.slow
        prev, self.prev_diff = self.prev_diff, diff
        if prev is None:
            return None
        up, down = prev <= 0 < diff, prev >= 0 > diff
        cross = f"SMA{self.fast} crossed {'above' if up else 'below'} SMA{self.slow}"
        if up and position_qty < 0:
            return Signal(Side.BUY, zone, False, cross + ": cover the short")
        if up and position_qty == 0:
            return Signal(Side.BUY, zone, True, cross)
        if down and position_qty > 0:
            return Signal(Side.SELL, zone, False, cross)
        if down and position_qty == 0:
            return Signal(Side.SELL, zone, True, cross + ": go short")
        return None
