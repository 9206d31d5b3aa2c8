"""The emergency stop: portfolio equity `threshold` below its peak (seed: 40%)."""

from __future__ import annotations

from tradewarden.risk.breakers.base import PORTFOLIO, Observation, Reading
from tradewarden.risk.breakers.drawdown import PeakDrawdown


class PortfolioDrawdown(PeakDrawdown):
    name = "portfolio_drawdown"
    emergency = True
    portfolio_scope = True

    def observe(self, obs: Observation) -> Reading | None:
        if obs.kind != "equity" or obs.bot != PORTFOLIO:
            return None
        return self._update(PORTFOLIO, obs.equity)
