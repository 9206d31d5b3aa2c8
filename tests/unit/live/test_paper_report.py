"""Promotion criteria at each boundary (seed: 100 trades, 60% wins, PF 1.5, DD 15%)."""

from __future__ import annotations

import math

import pytest

from tradewarden.live.paper_report import evaluate


def crit(report, name):
    return next(c for c in report.criteria if c.name == name)


def history(n: int, wins: int, win: float = 3.0, loss: float = -2.0) -> list[float]:
    return [win] * wins + [loss] * (n - wins)


FLAT = [100.0] * 10


@pytest.mark.parametrize(("n", "passed"), [(99, False), (100, True), (101, True)])
def test_trade_count_boundary(n: int, passed: bool) -> None:
    assert crit(evaluate(history(n, n), FLAT), "trades").passed is passed


@pytest.mark.parametrize(("wins", "passed"), [(59, False), (60, True), (61, True)])
def test_win_rate_boundary(wins: int, passed: bool) -> None:
    assert crit(evaluate(history(100, wins), FLAT), "win_rate").passed is passed


@pytest.mark.parametrize(("win", "passed"), [(1.4999, False), (1.5, True), (1.5001, True)])
def test_profit_factor_boundary(win: float, passed: bool) -> None:
    # 50 wins of `win`, 50 losses of 1 -> PF == win
    r = evaluate(history(100, 50, win=win, loss=-1.0), FLAT)
    assert crit(r, "profit_factor").value == pytest.approx(win)
    assert crit(r, "profit_factor").passed is passed


@pytest.mark.parametrize(("low", "passed"), [(84.9, False), (85.0, True), (85.1, True)])
def test_max_drawdown_boundary(low: float, passed: bool) -> None:
    r = evaluate(history(100, 100), [90.0, 100.0, low, 101.0])
    assert crit(r, "max_drawdown").passed is passed


def test_all_pass_and_no_history_fails() -> None:
    good = evaluate(history(120, 80), [100.0 + i for i in range(50)])
    assert good.passed and good.sharpe is not None and good.sharpe > 0
    assert evaluate(history(100, 100), FLAT).sharpe is None  # no variance: no Sharpe
    empty = evaluate([], [])
    assert not empty.passed
    assert all(not c.passed for c in empty.criteria)
    only_wins = evaluate(history(100, 100), FLAT)
    assert math.isinf(crit(only_wins, "profit_factor").value)
