"""Trips when a bot closes `threshold` losing trades in a row (seed: 3)."""

from __future__ import annotations

from typing import Any

from tradewarden.risk.breakers.base import Breaker, Observation, Reading


class ConsecutiveLosses(Breaker):
    name = "consecutive_losses"

    def __init__(self, threshold: int) -> None:
        super().__init__(threshold)
        self.losses: dict[str, int] = {}

    def observe(self, obs: Observation) -> Reading | None:
        if obs.kind != "trade":
            return None
        self.losses[obs.bot] = self.losses.get(obs.bot, 0) + 1 if obs.pnl < 0 else 0
        return Reading(self.name, obs.bot, self.losses[obs.bot], self.threshold)

    def readings(self) -> list[Reading]:
        return [Reading(self.name, b, n, self.threshold) for b, n in sorted(self.losses.items())]

    def dump(self) -> dict[str, Any]:
        return {"losses": self.losses}

    def load(self, data: dict[str, Any]) -> None:
        self.losses = {str(k): int(v) for k, v in data.get("losses", {}).items()}

    def reset_bot(self, bot: str) -> None:
        self.losses[bot] = 0

    def describe(self, r: Reading) -> str:
        return f"{int(r.value)} consecutive losing trades (limit {int(r.threshold)})"
