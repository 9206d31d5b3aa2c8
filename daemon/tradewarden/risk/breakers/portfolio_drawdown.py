"""The emergency stop: portfolio equity `threshold` below its peak (seed: 40%)."""

from __future__ import annotations

from tradewarden.risk.breakers.base import EQUITY, PORTFOLIO, Observation, Reading
from tradewarden.risk.breakers.drawdown import PeakDrawdown
from tradewarden.risk.breakers.registry import register


@register(order=40)
class PortfolioDrawdown(PeakDrawdown):
    name = "portfolio_drawdown"
    emergency = True
    portfolio_scope = True
    counter_scope = "portfolio"
    setting = "max_portfolio_drawdown_pct"

    def observe(self, obs: Observation) -> Reading | None:
        if obs.kind != EQUITY or obs.bot != PORTFOLIO:
            return None
        return self._update(PORTFOLIO, obs.equity)
