"""Circuit breakers: one small class each behind :class:`Breaker`."""

from tradewarden.risk.breakers.base import Breaker, Observation, Reading
from tradewarden.risk.breakers.bot_drawdown import BotDrawdown
from tradewarden.risk.breakers.consecutive_losses import ConsecutiveLosses
from tradewarden.risk.breakers.daily_loss import DailyLoss
from tradewarden.risk.breakers.portfolio_drawdown import PortfolioDrawdown

__all__ = [
    "BotDrawdown",
    "Breaker",
    "ConsecutiveLosses",
    "DailyLoss",
    "Observation",
    "PortfolioDrawdown",
    "Reading",
]
