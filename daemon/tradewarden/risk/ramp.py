"""Gradual restart (seed: "gradual production restart").

After a reset, a restore or a promotion the bots trade at `restart_size_factor` of their
normal size; every `ramp_wins` profitable round trips in a row double it, up to normal. A
losing trade restarts the count. The ramp lives in SQLite, so it survives restarts.
"""

from __future__ import annotations

from typing import Any

from tradewarden.risk.persistence import RiskStore
from tradewarden.state.keys import StateKey

KEY = StateKey.SIZE_RAMP


class SizeRamp:
    def __init__(self, store: RiskStore, start_factor: float, wins_needed: int) -> None:
        self.store = store
        self.start_factor = start_factor
        self.wins_needed = wins_needed
        self.state: dict[str, Any] = store.get(KEY) or {"factor": 1.0, "wins": 0, "why": ""}

    @property
    def factor(self) -> float:
        return float(self.state["factor"])

    def begin(self, why: str) -> None:
        self.state = {"factor": self.start_factor, "wins": 0, "why": why}
        self.store.put(KEY, self.state)

    def on_trade(self, pnl: float) -> None:
        if self.factor >= 1.0:
            return
        wins = self.state["wins"] + 1 if pnl > 0 else 0
        factor = self.factor
        if wins >= self.wins_needed:
            factor, wins = min(1.0, factor * 2), 0
        self.state = {**self.state, "factor": factor, "wins": wins}
        self.store.put(KEY, self.state)
