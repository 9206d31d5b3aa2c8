"""Every breaker at, just below and just above its threshold."""

from __future__ import annotations

import pytest

from tradewarden.risk.breakers import (
    BotDrawdown,
    ConsecutiveLosses,
    DailyLoss,
    Observation,
    PortfolioDrawdown,
)
from tradewarden.risk.breakers.base import PORTFOLIO

DAY0 = 1_767_571_200.0  # 2026-01-05T00:00Z


def trades(b: ConsecutiveLosses, pnls: list[float]):
    r = None
    for p in pnls:
        r = b.observe(Observation("trade", "bot1", DAY0, pnl=p))
    return r


@pytest.mark.parametrize(("losses", "tripped"), [(2, False), (3, True), (4, True)])
def test_consecutive_losses_threshold(losses: int, tripped: bool) -> None:
    b = ConsecutiveLosses(3)
    r = trades(b, [-1.0] * losses)
    assert r is not None and r.value == losses and r.tripped is tripped


def test_consecutive_losses_reset_by_a_win_and_per_bot() -> None:
    b = ConsecutiveLosses(3)
    r = trades(b, [-1, -1, 5, -1, -1])
    assert r.value == 2 and not r.tripped
    other = b.observe(Observation("trade", "bot2", DAY0, pnl=-1))
    assert other.value == 1
    # a break-even trade is not a loss
    assert b.observe(Observation("trade", "bot1", DAY0, pnl=0.0)).value == 0


def eq(kind_bot: str, equity: float, ts: float = DAY0) -> Observation:
    return Observation("equity", kind_bot, ts, equity=equity)


@pytest.mark.parametrize(
    ("equity", "tripped"), [(95_001.0, False), (95_000.0, True), (94_999.0, True)]
)
def test_daily_loss_threshold(equity: float, tripped: bool) -> None:
    b = DailyLoss(0.05)
    b.observe(eq(PORTFOLIO, 100_000.0, DAY0 + 60))
    r = b.observe(eq(PORTFOLIO, equity, DAY0 + 3600))
    assert r.tripped is tripped


def test_daily_loss_measures_from_utc_day_start() -> None:
    b = DailyLoss(0.05)
    b.observe(eq(PORTFOLIO, 100_000.0, DAY0 + 10))
    b.observe(eq(PORTFOLIO, 96_000.0, DAY0 + 86_399))  # -4% on day 1
    # next UTC day: the day-start equity is 96k, so 92k is -4.17%, not -8%
    r = b.observe(eq(PORTFOLIO, 96_000.0, DAY0 + 86_400))
    assert r.value == 0
    r = b.observe(eq(PORTFOLIO, 92_000.0, DAY0 + 90_000))
    assert r.value == pytest.approx(4_000 / 96_000) and not r.tripped
    # bot-level equity is not the portfolio
    assert b.observe(eq("bot1", 1.0, DAY0 + 90_001)) is None


@pytest.mark.parametrize(
    ("equity", "tripped"), [(7_501.0, False), (7_500.0, True), (7_499.0, True)]
)
def test_bot_drawdown_threshold_from_peak(equity: float, tripped: bool) -> None:
    b = BotDrawdown(0.25)
    b.observe(eq("bot1", 8_000.0))
    b.observe(eq("bot1", 10_000.0))  # the peak
    b.observe(eq("bot1", 9_000.0))
    r = b.observe(eq("bot1", equity))
    assert r.tripped is tripped
    assert b.observe(eq(PORTFOLIO, 1.0)) is None


@pytest.mark.parametrize(
    ("equity", "tripped"), [(60_001.0, False), (60_000.0, True), (59_999.0, True)]
)
def test_portfolio_drawdown_is_the_emergency_stop(equity: float, tripped: bool) -> None:
    b = PortfolioDrawdown(0.40)
    assert b.emergency
    b.observe(eq(PORTFOLIO, 100_000.0))
    r = b.observe(eq(PORTFOLIO, equity))
    assert r.tripped is tripped


def test_drawdown_counters_survive_dump_and_load() -> None:
    b = BotDrawdown(0.25)
    b.observe(eq("bot1", 10_000.0))
    again = BotDrawdown(0.25)
    again.load(b.dump())
    assert again.observe(eq("bot1", 7_500.0)).tripped
