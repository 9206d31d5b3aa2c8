"""Issue 13, defects 3 and 12 at engine level, with a real SQLite store.

3: the UTC day and its start equity are persisted when the day changes, so a restart in
   the middle of a day keeps measuring the daily loss from that day's start.
12: the seed's actions on any breaker trigger: every trip stops every bot (unless
   TRADEWARDEN_TRIP_SCOPE=bot), and closing positions is honoured on every breaker when
   TRADEWARDEN_CLOSE_POSITIONS_ON_TRIP is on (the emergency stop closes them by default).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.builders import PRICES, TWO_BOTS, PaperWorld, make_risk, make_settings, paper_world
from tradewarden.core.config import TripScope, load_settings
from tradewarden.core.models import OrderRequest, Side
from tradewarden.risk.breakers import Observation
from tradewarden.risk.breakers.base import PORTFOLIO
from tradewarden.risk.engine import RiskEngine
from tradewarden.risk.reasons import DenyReason
from tradewarden.risk.state import TradingState
from tradewarden.state.store import Store

DAY = 86_400.0
T0 = 1_767_571_200.0  # 2026-01-05 00:00 UTC


# --- defect 3: the daily-loss baseline survives a restart ---------------------------------------
def _engine(tmp_path: Path) -> tuple[RiskEngine, Store]:
    s = make_settings(tmp_path, bots=TWO_BOTS)
    store = Store(s.db_path)
    return make_risk(s, store), store


def _portfolio(risk: RiskEngine, ts: float, equity: float) -> list[Any]:
    return risk.observe(Observation("equity", PORTFOLIO, ts, equity=equity))


def test_daily_loss_baseline_survives_a_restart(tmp_path: Path, clean_env: None) -> None:
    risk, store = _engine(tmp_path)
    assert _portfolio(risk, T0 + 3600, 10_000.0) == []
    assert _portfolio(risk, T0 + 7200, 9_600.0) == []  # -4%: below the 5% limit
    store.close()

    risk, store = _engine(tmp_path)  # the restart: a new engine on the reopened file
    trips = _portfolio(risk, T0 + 10_800, 9_200.0)  # -8% of the day's 10,000
    assert [t.breaker for t in trips] == ["daily_loss"]
    assert trips[0].value == pytest.approx(0.08)
    assert risk.state is TradingState.HALTED
    store.close()


def test_the_baseline_is_persisted_at_first_start_before_any_trip(
    tmp_path: Path, clean_env: None
) -> None:
    risk, store = _engine(tmp_path)
    _portfolio(risk, T0 + 60, 10_000.0)
    store.close()
    store = Store(tmp_path / "tradewarden.sqlite3")  # read back by another connection
    assert store.get("breaker:daily_loss") == {"day": int(T0 // DAY), "day_start": 10_000.0}
    store.close()


def test_a_new_utc_day_rolls_the_baseline_across_a_restart(tmp_path: Path, clean_env: None) -> None:
    risk, store = _engine(tmp_path)
    _portfolio(risk, T0 + 3600, 10_000.0)
    _portfolio(risk, T0 + 7200, 9_600.0)
    store.close()

    risk, store = _engine(tmp_path)
    # next UTC day: the day starts again at 9,600; -3% from there does not trip
    assert _portfolio(risk, T0 + DAY + 60, 9_600.0) == []
    assert _portfolio(risk, T0 + DAY + 120, 9_312.0) == []
    store.close()
    risk, store = _engine(tmp_path)
    assert store.get("breaker:daily_loss")["day_start"] == 9_600.0
    # and the new day's baseline holds across this restart too: -6% of 9,600 trips
    trips = _portfolio(risk, T0 + DAY + 180, 9_024.0)
    assert [t.breaker for t in trips] == ["daily_loss"]
    store.close()


# --- defect 12: what a trip does --------------------------------------------------------------
def _world(tmp_path: Path, **settings_kw: Any) -> PaperWorld:
    return paper_world(tmp_path, prices=PRICES, ts=T0, bots=TWO_BOTS, **settings_kw)


@pytest.fixture()
def make_world(tmp_path: Path, clean_env: None) -> Iterator[Any]:
    made: list[PaperWorld] = []

    def make(**kw: Any) -> PaperWorld:
        w = _world(tmp_path / str(len(made)), **kw)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


def _buy(bot: str, symbol: str, qty: float) -> OrderRequest:
    return OrderRequest(bot=bot, symbol=symbol, side=Side.BUY, qty=qty)


def _hold_positions(w: PaperWorld) -> None:
    assert w.gate.submit(_buy("b1", "BTCUSDT", 0.01), 50_000.0).accepted
    assert w.gate.submit(_buy("b2", "ETHUSDT", 0.2), 2_500.0).accepted
    w.trader.process_fills()
    books = w.trader.ledger.books
    assert books["b1"].qty > 0 and books["b2"].qty > 0


def _three_losses(w: PaperWorld, bot: str = "b1") -> list[Any]:
    trips: list[Any] = []
    for i in range(3):
        trips += w.risk.observe(Observation("trade", bot, T0 + i, pnl=-1.0))
    return trips


def test_by_default_a_bot_breaker_trip_stops_every_bot(make_world: Any) -> None:
    w = make_world()
    trips = _three_losses(w)
    assert [(t.breaker, t.bot) for t in trips] == [("consecutive_losses", "b1")]
    assert w.risk.state is TradingState.HALTED
    assert w.gate.submit(_buy("b2", "ETHUSDT", 0.1), 2_500.0).denied is DenyReason.HALTED
    assert w.gate.submit(_buy("b1", "BTCUSDT", 0.01), 50_000.0).denied in (
        DenyReason.HALTED,
        DenyReason.BOT_HALTED,
    )
    # a restart (new engine on the same file) comes up with every bot stopped
    again = make_risk(w.settings, w.store)
    assert again.state is TradingState.HALTED
    assert again.check(_buy("b2", "ETHUSDT", 0.1), 2_500.0) is DenyReason.HALTED


def test_bot_drawdown_trip_stops_every_bot_by_default(make_world: Any) -> None:
    w = make_world()
    w.risk.observe(Observation("equity", "b1", T0, equity=5_000.0))
    trips = w.risk.observe(Observation("equity", "b1", T0 + 1, equity=3_700.0))  # -26%
    assert [t.breaker for t in trips] == ["bot_drawdown"]
    assert w.risk.state is TradingState.HALTED
    assert w.gate.submit(_buy("b2", "ETHUSDT", 0.1), 2_500.0).denied is DenyReason.HALTED


def test_trip_scope_bot_narrows_a_trip_to_the_tripping_bot(make_world: Any) -> None:
    w = make_world(trip_scope="bot")
    _three_losses(w)
    assert w.risk.state is TradingState.ACTIVE
    assert w.risk.bot_states["b1"] is TradingState.HALTED
    assert w.gate.submit(_buy("b1", "BTCUSDT", 0.01), 50_000.0).denied is DenyReason.BOT_HALTED
    assert w.gate.submit(_buy("b2", "ETHUSDT", 0.1), 2_500.0).accepted
    # portfolio-wide breakers still stop everything in this scope
    _portfolio(w.risk, T0 + 10, 10_000.0)
    _portfolio(w.risk, T0 + 20, 9_400.0)
    assert w.risk.state is TradingState.HALTED


def test_trip_scope_is_validated(tmp_path: Path, clean_env: None) -> None:
    from tradewarden.core.config import ConfigError

    with pytest.raises(ConfigError, match="TRADEWARDEN_TRIP_SCOPE"):
        load_settings(state_dir=tmp_path, trip_scope="some")


def test_positions_stay_open_on_a_trip_by_default(make_world: Any) -> None:
    w = make_world()
    _hold_positions(w)
    _three_losses(w)
    books = w.trader.ledger.books
    assert books["b1"].qty > 0 and books["b2"].qty > 0
    (kind, ctx) = [(k, c) for k, c in w.notifier.sent if k == "breaker_tripped"][0]
    assert ctx["positions_closed"] == []


def test_close_positions_on_trip_closes_every_bots_positions(make_world: Any) -> None:
    w = make_world(close_positions_on_trip=True)
    _hold_positions(w)
    _three_losses(w)
    books = w.trader.ledger.books
    assert books["b1"].qty == 0 and books["b2"].qty == 0
    assert w.risk.state is TradingState.HALTED  # closing never reopens trading
    ctx = [c for k, c in w.notifier.sent if k == "breaker_tripped"][0]
    assert sorted(ctx["positions_closed"]) == ["b1:BTCUSDT", "b2:ETHUSDT"]


def test_close_positions_on_trip_with_bot_scope_closes_only_that_bot(make_world: Any) -> None:
    w = make_world(close_positions_on_trip=True, trip_scope="bot")
    _hold_positions(w)
    _three_losses(w)
    books = w.trader.ledger.books
    assert books["b1"].qty == 0 and books["b2"].qty > 0
    assert w.risk.bot_states["b1"] is TradingState.HALTED
    assert w.risk.state is TradingState.ACTIVE


def test_close_positions_on_trip_is_honoured_by_the_daily_loss_breaker(make_world: Any) -> None:
    w = make_world(close_positions_on_trip=True)
    _hold_positions(w)
    _portfolio(w.risk, T0 + 10, 10_000.0)
    trips = _portfolio(w.risk, T0 + 20, 9_400.0)
    assert [t.breaker for t in trips] == ["daily_loss"]
    books = w.trader.ledger.books
    assert books["b1"].qty == 0 and books["b2"].qty == 0


def test_the_emergency_stop_closes_positions_by_default(make_world: Any) -> None:
    w = make_world(trip_scope="bot")
    _hold_positions(w)
    _portfolio(w.risk, T0 + 10, 10_000.0)
    trips = _portfolio(w.risk, T0 + 20, 5_900.0)
    assert "portfolio_drawdown" in [t.breaker for t in trips]
    books = w.trader.ledger.books
    assert books["b1"].qty == 0 and books["b2"].qty == 0
    assert w.risk.state is TradingState.HALTED


def test_no_position_closes_when_both_settings_are_off(make_world: Any) -> None:
    w = make_world(flatten_on_emergency=False)
    _hold_positions(w)
    _portfolio(w.risk, T0 + 10, 10_000.0)
    _portfolio(w.risk, T0 + 20, 5_900.0)
    books = w.trader.ledger.books
    assert books["b1"].qty > 0 and books["b2"].qty > 0


def test_a_bot_trip_under_a_halt_keeps_the_halts_reason(make_world: Any) -> None:
    w = make_world()
    w.risk.halt("restored from backup b-1", "ops")
    trips = _three_losses(w)
    assert [t.breaker for t in trips] == ["consecutive_losses"]  # recorded and alerted
    assert w.risk.state is TradingState.HALTED
    assert w.risk.state_reason == "restored from backup b-1"
    again = make_risk(w.settings, w.store)  # and the same after a restart
    assert again.state is TradingState.HALTED
    assert again.state_reason == "restored from backup b-1"


def test_a_trip_keeps_the_scope_it_was_tripped_under(make_world: Any) -> None:
    """`tradewarden status` (or a restart) with another TRADEWARDEN_TRIP_SCOPE reads the
    trip as the daemon applied it."""
    w = make_world()  # the daemon: default scope, every bot stopped
    _three_losses(w)
    as_bot = w.settings.model_copy(update={"trip_scope": TripScope.BOT})
    assert make_risk(as_bot, w.store).state is TradingState.HALTED
    v = make_world(trip_scope="bot")  # the daemon: only the tripping bot stopped
    _three_losses(v)
    as_all = v.settings.model_copy(update={"trip_scope": TripScope.ALL})
    again = make_risk(as_all, v.store)
    assert again.state is TradingState.ACTIVE
    assert again.status()["bots"] == {"b1": "halted", "b2": "active"}


# --- the last check before an order leaves agrees with the flatten window -----------------------
def test_order_state_lets_a_trips_closing_orders_through_and_nothing_else(
    tmp_path: Path, clean_env: None
) -> None:
    """The pre-send check (a halt taking effect while the loop waits on the exchange) holds an
    order to `order_state`: HALTED outside a flatten window, REDUCING inside it for the bots
    being closed. With `effective_state` there, the emergency stop's closing sells were
    refused at the last step."""
    risk, store = _engine(tmp_path)
    risk.halt("emergency", "test")
    assert risk.order_state("b1") is TradingState.HALTED
    with risk.flatten_window(["b1"], whole_state=True):
        assert risk.order_state("b1") is TradingState.REDUCING
        assert risk.order_state("b2") is TradingState.HALTED  # not being closed
    assert risk.order_state("b1") is TradingState.HALTED
    store.close()
