"""The risk engine: trading state, pre-trade checks and sticky circuit breakers."""

from tradewarden.risk.reasons import DenyReason
from tradewarden.risk.state import TradingState

__all__ = ["DenyReason", "TradingState"]
