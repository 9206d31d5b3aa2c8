"""Trips when a bot closes `threshold` losing trades in a row (seed: 3)."""

from __future__ import annotations

from typing import Any

from tradewarden.risk.breakers.base import TRADE, Breaker, Observation, Reading
from tradewarden.risk.breakers.registry import register


@register(order=10)
class ConsecutiveLosses(Breaker):
    name = "consecutive_losses"
    observes = frozenset({TRADE})
    counter_scope = "bot"
    setting = "max_consecutive_losses"

    def __init__(self, threshold: int) -> None:
        super().__init__(threshold)
        self.losses: dict[str, int] = {}

    def observe(self, obs: Observation) -> Reading | None:
        if obs.kind != TRADE:
            return None
        self.losses[obs.bot] = self.losses.get(obs.bot, 0) + 1 if obs.pnl < 0 else 0
        self.dirty = True  # every round trip: a restart resumes the streak exactly
        return Reading(self.name, obs.bot, self.losses[obs.bot], self.threshold)

    def readings(self) -> list[Reading]:
        return [Reading(self.name, b, n, self.threshold) for b, n in sorted(self.losses.items())]

    def dump(self) -> dict[str, Any]:
        return {"losses": self.losses}

    def load(self, data: dict[str, Any]) -> None:
        self.losses = {str(k): int(v) for k, v in data.get("losses", {}).items()}

    def reset(self, key: str, *, rebase: bool) -> None:
        self.losses[key] = 0  # a cleared streak restarts from zero, rebase or not

    def describe(self, r: Reading) -> str:
        return f"{int(r.value)} consecutive losing trades (limit {int(r.threshold)})"
