"""Trips when the portfolio has lost `threshold` of its UTC day-start equity (seed: 5%).

The UTC day and its start equity are the baseline: the first observation of a day sets
it and marks the breaker dirty, so the engine persists it at once (a restart in the
middle of the day keeps measuring from that day's start); a later UTC day rolls it, an
observation stamped with an earlier day never does. The roll restarts the measurement,
never the trip: a trip stays until a human reset.
"""

from __future__ import annotations

from typing import Any

from tradewarden.risk.breakers.base import EQUITY, PORTFOLIO, Breaker, Observation, Reading
from tradewarden.risk.breakers.registry import register

DAY = 86_400


@register(order=20)
class DailyLoss(Breaker):
    name = "daily_loss"
    portfolio_scope = True
    observes = frozenset({EQUITY})
    counter_scope = "day"
    setting = "max_daily_loss_pct"

    def __init__(self, threshold: float) -> None:
        super().__init__(threshold)
        self.day = -1
        self.day_start = 0.0
        self.loss = 0.0

    def observe(self, obs: Observation) -> Reading | None:
        if obs.kind != EQUITY or obs.bot != PORTFOLIO:
            return None
        day = int(obs.ts // DAY)
        if day > self.day:  # only forward: a late, older observation never rebases the day
            self.day, self.day_start = day, obs.equity
            self.dirty = True
        self.loss = (self.day_start - obs.equity) / self.day_start if self.day_start > 0 else 0.0
        return Reading(self.name, PORTFOLIO, self.loss, self.threshold)

    def readings(self) -> list[Reading]:
        return [Reading(self.name, PORTFOLIO, self.loss, self.threshold)]

    def dump(self) -> dict[str, Any]:
        return {"day": self.day, "day_start": self.day_start}

    def load(self, data: dict[str, Any]) -> None:
        self.day = int(data.get("day", -1))
        self.day_start = float(data.get("day_start", 0.0))

    def reset(self, key: str, *, rebase: bool) -> None:
        if rebase:
            self.day = -1  # the next portfolio mark is the new day-start equity

    def describe(self, r: Reading) -> str:
        return f"daily loss {r.value:.2%} of day-start equity (limit {r.threshold:.2%})"
