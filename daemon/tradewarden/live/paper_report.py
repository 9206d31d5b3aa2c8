"""The paper-to-live promotion criteria, computed from the recorded paper/testnet history.

Seed criteria (pets-security-guidelines, "Testing"): 100+ trades, win rate >= 60%, profit
factor >= 1.5, max drawdown <= 15%. Sharpe (hourly equity returns, annualised) is reported
for information. A bot passes only when every criterion passes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from tradewarden.state.store import Store

MIN_TRADES = 100
MIN_WIN_RATE = 0.60
MIN_PROFIT_FACTOR = 1.5
MAX_DRAWDOWN = 0.15
HOURS_PER_YEAR = 24 * 365


@dataclass(frozen=True)
class Criterion:
    name: str
    value: float | None
    limit: float
    passed: bool

    def describe(self) -> str:
        if self.name == "trades":
            v, lim = ("-" if self.value is None else f"{self.value:.0f}"), f">= {self.limit:.0f}"
        elif self.name == "profit_factor":
            v = (
                "-"
                if self.value is None
                else ("inf" if math.isinf(self.value) else f"{self.value:.2f}")
            )
            lim = f">= {self.limit:.2f}"
        else:
            v = "-" if self.value is None else f"{self.value:.1%}"
            lim = ("<= " if self.name == "max_drawdown" else ">= ") + f"{self.limit:.0%}"
        return f"{self.name:<14}{v:>9}  {lim:<8} {'PASS' if self.passed else 'FAIL'}"


@dataclass(frozen=True)
class BotReport:
    bot: str
    criteria: list[Criterion]
    sharpe: float | None

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.criteria)

    def as_dict(self) -> dict[str, Any]:
        return {
            "bot": self.bot,
            "passed": self.passed,
            "sharpe": self.sharpe,
            "criteria": [asdict(c) for c in self.criteria],
        }


def evaluate(pnls: list[float], equity: list[float]) -> BotReport:
    """Pure: trade P&Ls (round trips) and an equity curve -> the criteria."""
    n = len(pnls)
    wins = [p for p in pnls if p > 0]
    losses = [-p for p in pnls if p <= 0]
    win_rate = len(wins) / n if n else None
    gross_loss = sum(losses)
    pf = sum(wins) / gross_loss if gross_loss > 0 else (math.inf if wins else None)
    peak, mdd = 0.0, 0.0
    for e in equity:
        peak = max(peak, e)
        if peak > 0:
            mdd = max(mdd, (peak - e) / peak)
    rets = [b / a - 1 for a, b in zip(equity, equity[1:], strict=False) if a > 0]
    sharpe = None
    if len(rets) > 1:
        mean = sum(rets) / len(rets)
        sd = math.sqrt(sum((r - mean) ** 2 for r in rets) / (len(rets) - 1))
        sharpe = mean / sd * math.sqrt(HOURS_PER_YEAR) if sd > 0 else None
    crit = [
        Criterion("trades", float(n), MIN_TRADES, n >= MIN_TRADES),
        Criterion(
            "win_rate", win_rate, MIN_WIN_RATE, win_rate is not None and win_rate >= MIN_WIN_RATE
        ),
        Criterion(
            "profit_factor", pf, MIN_PROFIT_FACTOR, pf is not None and pf >= MIN_PROFIT_FACTOR
        ),
        Criterion(
            "max_drawdown",
            mdd if equity else None,
            MAX_DRAWDOWN,
            bool(equity) and mdd <= MAX_DRAWDOWN,
        ),
    ]
    return BotReport("", crit, sharpe)


def report(store: Store, bots: list[str]) -> list[BotReport]:
    out = []
    for bot in bots:
        r = evaluate(
            [row["pnl"] for row in store.trades(bot)], [e for _, e in store.equity_curve(bot)]
        )
        out.append(BotReport(bot, r.criteria, r.sharpe))
    return out


def render(reports: list[BotReport]) -> str:
    lines = ["Paper-to-live report (seed criteria):"]
    for r in reports:
        sharpe = "-" if r.sharpe is None else f"{r.sharpe:.2f}"
        lines.append(f"  {r.bot}: {'PASS' if r.passed else 'FAIL'} (Sharpe {sharpe})")
        lines.extend(f"    {c.describe()}" for c in r.criteria)
    return "\n".join(lines)
