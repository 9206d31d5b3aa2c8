"""Issue 13 defect 5 (engine side): a reset clears only what it is pointed at. One reset used
to clear every bot's trips, a colleague's manual halt and the drawdown peaks at once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.builders import TWO_BOTS, make_risk, make_settings
from tradewarden.risk.breakers import Observation
from tradewarden.risk.breakers.base import PORTFOLIO
from tradewarden.risk.engine import HUMAN_HALT, ResetScope, RiskEngine
from tradewarden.risk.state import TradingState
from tradewarden.state.store import Store

T0 = 1_767_571_200.0
BOTS = ["b1", "b2"]


@pytest.fixture()
def risk(tmp_path: Path, clean_env: None):
    settings = make_settings(tmp_path, bots=TWO_BOTS)
    store = Store(settings.db_path)
    engine = make_risk(settings, store)
    for bot in BOTS:  # three losses in a row each: both bots tripped
        for _ in range(3):
            engine.observe(Observation("trade", bot, T0, pnl=-1.0))
    yield engine
    store.close()


def trips(risk: RiskEngine) -> set[str]:
    return {f"{r['breaker']}:{r['bot']}" for r in risk.store.tripped()}


def test_reset_of_one_bot_keeps_the_other_bots_trip_and_every_halt(risk: RiskEngine) -> None:
    risk.halt("colleague investigating", "bob@host", kind=HUMAN_HALT)
    cleared = risk.reset("b1 reviewed", "alice@host", ResetScope(bots=frozenset({"b1"})))
    assert cleared == ["consecutive_losses:b1"]
    assert trips(risk) == {"consecutive_losses:b2"}
    assert risk.bot_states == {"b1": TradingState.ACTIVE, "b2": TradingState.HALTED}
    assert risk.state is TradingState.HALTED  # bob's halt stays


def test_reset_all_keeps_a_colleagues_manual_halt_unless_included(risk: RiskEngine) -> None:
    risk.halt("colleague investigating", "bob@host", kind=HUMAN_HALT)
    risk.halt("my own pause", "alice@host", reducing=True, kind=HUMAN_HALT)
    plan = risk.plan_reset(ResetScope(all=True), "alice@host")
    assert {i.key for i in plan.clear} == {
        "consecutive_losses:b1",
        "consecutive_losses:b2",
        "halt#2",
    }
    (kept,) = plan.keep
    assert kept.item.set_by == "bob@host" and "--include-manual-halt" in kept.why
    risk.reset("all reviewed", "alice@host", ResetScope(all=True))
    assert trips(risk) == set()
    assert risk.state is TradingState.HALTED and "colleague" in risk.state_reason
    risk.reset("bob agreed", "alice@host", ResetScope(all=True, include_manual_halt=True))
    assert risk.state is TradingState.ACTIVE


def test_a_system_halt_is_cleared_by_all(risk: RiskEngine) -> None:
    risk.halt("foreign order found", "reconciliation")  # the daemon's own halt
    risk.reset("reconciled", "alice@host", ResetScope(all=True))
    assert risk.state is TradingState.ACTIVE


def test_breaker_scope_and_peaks_kept_unless_rebased(risk: RiskEngine) -> None:
    risk.observe(Observation("equity", PORTFOLIO, T0, equity=10_000.0))
    risk.observe(Observation("equity", PORTFOLIO, T0 + 60, equity=5_500.0))  # -45%: emergency
    assert "portfolio_drawdown:portfolio" in trips(risk)
    scope = ResetScope(breakers=frozenset({"portfolio_drawdown"}))
    assert risk.reset("reviewed", "alice@host", scope) == ["portfolio_drawdown:portfolio"]
    assert "consecutive_losses:b1" in trips(risk)  # other breakers untouched
    pd = next(b for b in risk.breakers if b.name == "portfolio_drawdown")
    assert pd.peaks[PORTFOLIO] == 10_000.0  # the peak is kept: still 45% down, trips again
    again = risk.observe(Observation("equity", PORTFOLIO, T0 + 120, equity=5_500.0))
    assert "portfolio_drawdown" in [t.breaker for t in again]
    risk.reset("rebased", "alice@host", ResetScope(breakers=scope.breakers, rebase_peaks=True))
    assert PORTFOLIO not in pd.peaks
    after = risk.observe(Observation("equity", PORTFOLIO, T0 + 180, equity=5_500.0))
    assert all(t.breaker != "portfolio_drawdown" for t in after)  # the new peak is 5,500


def test_a_reset_never_clears_what_was_recorded_after_it_was_asked(risk: RiskEngine) -> None:
    asked_at = time.time()
    time.sleep(0.01)
    risk.halt("new problem after the reset was asked", "bob@host", kind=HUMAN_HALT)
    # b1 trips again after the reset was asked (same row, newer time)
    risk.reset("clear b1", "alice@host", ResetScope(bots=frozenset({"b1"})))
    for _ in range(3):
        risk.observe(Observation("trade", "b1", T0, pnl=-1.0))
    cleared = risk.reset(
        "stale", "alice@host", ResetScope(all=True, include_manual_halt=True), asked_at=asked_at
    )
    assert cleared == ["consecutive_losses:b2"]
    assert trips(risk) == {"consecutive_losses:b1"}
    assert risk.state is TradingState.HALTED


def test_confirmed_items_only(risk: RiskEngine) -> None:
    """The daemon clears only what the human confirmed, even if more is in scope by then."""
    plan = risk.plan_reset(ResetScope(all=True), "alice@host")
    confirmed = {i.ident for i in plan.clear if i.key == "consecutive_losses:b1"}
    cleared = risk.reset("only b1", "alice@host", ResetScope(all=True), confirmed=confirmed)
    assert cleared == ["consecutive_losses:b1"]
