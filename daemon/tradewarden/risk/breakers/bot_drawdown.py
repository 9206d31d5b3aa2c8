"""Trips when one bot's equity falls `threshold` below its peak (seed: 25%)."""

from __future__ import annotations

from tradewarden.risk.breakers.base import EQUITY, PORTFOLIO, Observation, Reading
from tradewarden.risk.breakers.drawdown import PeakDrawdown
from tradewarden.risk.breakers.registry import register


@register(order=30)
class BotDrawdown(PeakDrawdown):
    name = "bot_drawdown"
    counter_scope = "bot"
    setting = "max_bot_drawdown_pct"

    def observe(self, obs: Observation) -> Reading | None:
        if obs.kind != EQUITY or obs.bot == PORTFOLIO:
            return None
        return self._update(obs.bot, obs.equity)
