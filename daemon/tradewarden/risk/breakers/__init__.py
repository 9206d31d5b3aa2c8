"""Circuit breakers: one small file each behind :class:`Breaker`, registered in `BREAKERS`.

Importing the package imports every module in it, so a breaker added as one file (its
class decorated with `@register`) is built by the engine with no other change.
"""

from tradewarden.risk.breakers.base import Breaker, Observation, Reading
from tradewarden.risk.breakers.registry import BREAKERS, Registry, register

BREAKERS.discover(__name__)

from tradewarden.risk.breakers.bot_drawdown import BotDrawdown  # noqa: E402
from tradewarden.risk.breakers.consecutive_losses import ConsecutiveLosses  # noqa: E402
from tradewarden.risk.breakers.daily_loss import DailyLoss  # noqa: E402
from tradewarden.risk.breakers.liquidation_distance import LiquidationDistance  # noqa: E402
from tradewarden.risk.breakers.portfolio_drawdown import PortfolioDrawdown  # noqa: E402

__all__ = [
    "BREAKERS",
    "BotDrawdown",
    "Breaker",
    "ConsecutiveLosses",
    "DailyLoss",
    "LiquidationDistance",
    "Observation",
    "PortfolioDrawdown",
    "Reading",
    "Registry",
    "register",
]
