"""Adversarial review of issue 18 item 4: the TradingStateChanged event added a new step
inside every trip, halt and reset. A subscriber that fails must not take the safety action
with it: the state change was already applied, and what follows it (the trip alert and its
audit entry, the closing orders, the halt's cancels) must still happen."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.builders import T0, make_risk, make_settings
from tradewarden.risk.breakers import Observation
from tradewarden.risk.breakers.base import EQUITY, PORTFOLIO, TRADE
from tradewarden.risk.engine import ResetScope, TradingStateChanged, Trip
from tradewarden.risk.state import TradingState
from tradewarden.state.store import Store

pytestmark = pytest.mark.usefixtures("clean_env")


def _boom(event: TradingStateChanged) -> None:
    raise RuntimeError(f"subscriber failed on {event.cause}")


def test_attack_a_failing_state_subscriber_loses_no_trip_halt_or_reset(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, bots="b1:BTCUSDT:ma_cross,b2:ETHUSDT:ma_cross")
    store = Store(settings.db_path)
    try:
        risk = make_risk(settings, store)
        seen: list[Trip] = []
        later: list[TradingStateChanged] = []
        risk.hooks.on_state_changed.append(_boom)  # e.g. the gauge or its log line failing
        risk.hooks.on_state_changed.append(later.append)  # a subscriber after it
        risk.hooks.on_trip.append(seen.append)  # the trader's trip alert + audit hang here

        # a trip: the trip alert hook still runs and the trip is returned to the caller
        for i in range(3):
            trips = risk.observe(Observation(TRADE, "b1", T0 + i, pnl=-1.0))
        assert [(t.breaker, t.bot) for t in trips] == [("consecutive_losses", "b1")]
        assert [(t.breaker, t.bot) for t in seen] == [("consecutive_losses", "b1")]
        assert risk.state is TradingState.HALTED
        # the emergency stop: same
        risk.observe(Observation(EQUITY, PORTFOLIO, T0 + 10, equity=10_000.0))
        trips = risk.observe(Observation(EQUITY, PORTFOLIO, T0 + 11, equity=5_000.0))
        assert "portfolio_drawdown" in [t.breaker for t in trips]
        assert "portfolio_drawdown" in [t.breaker for t in seen]

        # a reset and a halt complete (the halt's caller goes on to cancel orders)
        risk.reset("ok", "ana", ResetScope(all=True), asked_at=4e9)
        assert risk.state is TradingState.ACTIVE
        risk.halt("desk review", "ana")
        assert risk.state is TradingState.HALTED
        risk.halt_in_memory("audit chain broken")  # before the security alert goes out
        assert risk.state_reason == "audit chain broken"
        # every change still reached the subscriber after the failing one
        causes = [e.cause for e in later]
        assert causes[0] == "trip" and causes[-3:] == ["reset", "halt", "emergency"]
    finally:
        store.close()
