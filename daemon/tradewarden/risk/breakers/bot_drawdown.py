"""Trips when one bot's equity falls `threshold` below its peak (seed: 25%)."""

from __future__ import annotations

from tradewarden.risk.breakers.base import PORTFOLIO, Observation, Reading
from tradewarden.risk.breakers.drawdown import PeakDrawdown


class BotDrawdown(PeakDrawdown):
    name = "bot_drawdown"

    def observe(self, obs: Observation) -> Reading | None:
        if obs.kind != "equity" or obs.bot == PORTFOLIO:
            return None
        return self._update(obs.bot, obs.equity)
