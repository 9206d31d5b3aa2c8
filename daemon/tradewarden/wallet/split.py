"""Hot/cold split: target hot = HOT_WALLET_PERCENTAGE x total funds.

The hot balance is what the exchange account holds; the cold balance is declared by the
operator (the daemon holds no cold keys). When hot falls below 80% or rises above 120% of
its target, a rebalance proposal is made for a human to approve; the daemon itself never
moves funds. Position sizing uses hot funds only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

LOW = 0.80
HIGH = 1.20


class Direction(StrEnum):
    COLD_TO_HOT = "cold_to_hot"
    HOT_TO_COLD = "hot_to_cold"


@dataclass(frozen=True)
class Proposal:
    direction: Direction
    amount: float
    reason: str


@dataclass(frozen=True)
class WalletView:
    hot: float
    cold: float
    hot_share: float

    @property
    def total(self) -> float:
        return self.hot + self.cold

    @property
    def target_hot(self) -> float:
        return self.hot_share * self.total

    @property
    def ratio(self) -> float:
        """hot / target (1.0 = on target)."""
        return self.hot / self.target_hot if self.target_hot > 0 else 0.0

    def proposal(self) -> Proposal | None:
        if self.total <= 0:
            return None
        r = self.ratio
        if r < LOW:
            amount = self.target_hot - self.hot
            return Proposal(
                Direction.COLD_TO_HOT,
                amount,
                f"hot wallet at {r:.1%} of target (< {LOW:.0%}): move {amount:,.2f} from cold",
            )
        if r > HIGH:
            amount = self.hot - self.target_hot
            return Proposal(
                Direction.HOT_TO_COLD,
                amount,
                f"hot wallet at {r:.1%} of target (> {HIGH:.0%}): move {amount:,.2f} to cold",
            )
        return None
