"""Futures: the mark price too close to a position's liquidation price (issue 20).

Checked on every mark-price update of a futures bot (`Observation` kind "mark"). The
reading is the distance from the mark to the liquidation price in % of the mark:

- at or below TRADEWARDEN_LIQ_DISTANCE_REDUCE_PCT the reading says `reducing`: the engine
  records a REDUCING halt (only reduceOnly orders from then on) and the trader halves the
  position with a reduceOnly MARKET order;
- at or below TRADEWARDEN_LIQ_DISTANCE_FLATTEN_PCT it trips: an emergency stop (HALTED,
  every open order cancelled, every futures position closed with reduceOnly MARKET).

Both levels sit well above the maintenance margin, so the breaker acts before the exchange
(or the paper model) would liquidate. Like every trip, only a human reset clears it.
"""

from __future__ import annotations

from typing import Any

from tradewarden.core.config import Settings
from tradewarden.risk.breakers.base import MARK, Breaker, Observation, Reading
from tradewarden.risk.breakers.registry import register
from tradewarden.risk.futures import liquidation_distance_pct


@register(order=45)
class LiquidationDistance(Breaker):
    name = "liquidation_distance"
    emergency = True
    portfolio_scope = True
    observes = frozenset({MARK})
    counter_scope = "bot"
    setting = "liq_distance_flatten_pct"

    def __init__(self, threshold: float, reduce_at: float) -> None:
        """`threshold` and `reduce_at`: distances as fractions of the mark (0.15 = 15%)."""
        super().__init__(threshold)
        self.reduce_at = float(reduce_at)
        self.distances: dict[str, float] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Breaker:
        return cls(settings.liq_distance_flatten_pct, settings.liq_distance_reduce_pct)

    def _reading(self, bot: str, distance: float) -> Reading:
        return Reading(
            self.name,
            bot,
            distance,
            self.threshold,
            inverted=True,
            reducing=distance <= self.reduce_at,
        )

    def observe(self, obs: Observation) -> Reading | None:
        if obs.kind != MARK:
            return None
        pct = liquidation_distance_pct(obs.price, obs.liquidation)
        if pct is None:  # flat: nothing to liquidate
            if self.distances.pop(obs.bot, None) is not None:
                self.dirty = True
            return None
        if obs.bot not in self.distances:
            self.dirty = True  # a position opened: `status` after a restart shows it
        distance = self.distances[obs.bot] = pct / 100
        return self._reading(obs.bot, distance)

    def readings(self) -> list[Reading]:
        return [self._reading(b, d) for b, d in sorted(self.distances.items())]

    def dump(self) -> dict[str, Any]:
        # measured afresh from every mark; the last distances (persisted when a position
        # opens or closes) are what `status` shows
        return {"distances": self.distances}

    def load(self, data: dict[str, Any]) -> None:
        self.distances = {str(k): float(v) for k, v in data.get("distances", {}).items()}

    def reset(self, key: str, *, rebase: bool) -> None:
        self.distances.pop(key, None)

    def describe(self, r: Reading) -> str:
        return (
            f"mark price {r.value:.2%} from the liquidation price"
            f" (flatten at {r.threshold:.2%}, reduce at {self.reduce_at:.2%})"
        )

    def describe_reduce(self, r: Reading) -> str:
        return (
            f"{self.name}: mark price {r.value:.2%} from the liquidation price of {r.bot}"
            f" (reduce at {self.reduce_at:.2%}): reduceOnly orders only"
        )
