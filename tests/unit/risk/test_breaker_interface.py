"""The breaker interface (issue 18, item 4): a breaker declares what it observes, how it
persists and how it resets; the engine builds every registered breaker and names none;
every trading-state change goes through one engine method and emits one event."""

from __future__ import annotations

import ast
import json
import sys
import textwrap
from pathlib import Path

import pytest

import tradewarden.risk.engine as engine_mod
from tradewarden.core.config import load_settings
from tradewarden.risk.breakers import BREAKERS, Breaker, Observation, Registry
from tradewarden.risk.breakers.base import EQUITY, MARK, PORTFOLIO, TRADE
from tradewarden.risk.breakers.drawdown import PeakDrawdown
from tradewarden.risk.engine import (
    CAUSE_HALT,
    CAUSE_RESET,
    CAUSE_TRIP,
    ResetScope,
    RiskEngine,
    TradingStateChanged,
)
from tradewarden.risk.state import TradingState
from tradewarden.state.store import Store

T0 = 1_767_571_200.0  # 2026-01-05 00:00 UTC
SEEDED = ["consecutive_losses", "daily_loss", "bot_drawdown", "portfolio_drawdown"]
# issue 20: USD-M futures (fed by futures bots only; dormant on spot)
REGISTERED = [*SEEDED, "liquidation_distance"]
DAEMON = Path(engine_mod.__file__).resolve().parents[1]  # daemon/tradewarden


@pytest.fixture()
def settings(tmp_path: Path, clean_env):
    return load_settings(state_dir=tmp_path, bots="b1:BTCUSDT:ma_cross,b2:ETHUSDT:ma_cross")


@pytest.fixture()
def store(settings):
    s = Store(settings.db_path)
    yield s
    s.close()


def _names_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.alias):
            names.add(node.name.rpartition(".")[2])
            names.add(node.asname or "")
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


# --- the registry -----------------------------------------------------------------------------
def test_the_engine_builds_every_registered_breaker_in_registry_order(settings, store) -> None:
    risk = RiskEngine(settings, store, ["b1", "b2"])
    assert [b.name for b in risk.breakers] == REGISTERED
    assert [type(b) for b in risk.breakers] == BREAKERS.classes()
    assert [b.threshold for b in risk.breakers] == [
        settings.max_consecutive_losses,
        settings.max_daily_loss_pct,
        settings.max_bot_drawdown_pct,
        settings.max_portfolio_drawdown_pct,
        settings.liq_distance_flatten_pct,
    ]


def test_risk_engine_names_no_concrete_breaker_class() -> None:
    """The engine knows breakers only through the interface and the registry."""
    concrete = {cls.__name__ for cls in BREAKERS.classes()} | {PeakDrawdown.__name__}
    modules = {
        f"tradewarden.risk.breakers.{cls.__module__.rpartition('.')[2]}"
        for cls in BREAKERS.classes()
    }
    modules.add(PeakDrawdown.__module__)
    names = _names_in(Path(engine_mod.__file__))
    assert not (names & concrete), f"risk/engine.py names {sorted(names & concrete)}"
    assert not (names & modules), f"risk/engine.py imports {sorted(names & modules)}"
    text = Path(engine_mod.__file__).read_text()
    for breaker in REGISTERED:  # no special case by name either
        assert f'"{breaker}"' not in text


def test_a_breaker_needs_a_name_and_registers_once() -> None:
    reg = Registry()

    class Nameless(PeakDrawdown):
        pass

    with pytest.raises(TypeError):
        reg.register(order=1)(Nameless)

    class A(PeakDrawdown):
        name = "a"

    class B(PeakDrawdown):
        name = "a"

    reg.register(order=1)(A)
    with pytest.raises(ValueError, match="registered twice"):
        reg.register(order=2)(B)


NEW_BREAKER = '''
"""Trips when a bot has closed `threshold` losing round trips in total since its reset."""

from typing import Any

from tradewarden.risk.breakers.base import TRADE, Breaker, Observation, Reading
from tradewarden.risk.breakers.registry import register


@register(order=50)
class TotalLosses(Breaker):
    name = "total_losses"
    observes = frozenset({TRADE})
    counter_scope = "bot"

    @classmethod
    def from_settings(cls, settings):
        return cls(settings.max_consecutive_losses + 1)  # its "setting": one more

    def __init__(self, threshold: float) -> None:
        super().__init__(threshold)
        self.losses: dict[str, int] = {}

    def observe(self, obs: Observation) -> Reading | None:
        if obs.pnl < 0:
            self.losses[obs.bot] = self.losses.get(obs.bot, 0) + 1
            self.dirty = True
        return Reading(self.name, obs.bot, self.losses.get(obs.bot, 0), self.threshold)

    def readings(self) -> list[Reading]:
        return [Reading(self.name, b, n, self.threshold) for b, n in sorted(self.losses.items())]

    def dump(self) -> dict[str, Any]:
        return {"losses": self.losses}

    def load(self, data: dict[str, Any]) -> None:
        self.losses = {str(k): int(v) for k, v in data.get("losses", {}).items()}

    def reset(self, key: str, *, rebase: bool) -> None:
        self.losses[key] = 0
'''


def test_a_breaker_added_as_one_file_works_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings, store
) -> None:
    """One file in a package (registered on import) and the engine observes it, trips on
    it, persists it across a restart and resets it: no engine change."""
    monkeypatch.setattr(BREAKERS, "_classes", dict(BREAKERS._classes))  # undone after
    pkg = tmp_path / "extra_breakers_t18"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "total_losses.py").write_text(textwrap.dedent(NEW_BREAKER))
    monkeypatch.syspath_prepend(str(tmp_path))
    for mod in ("extra_breakers_t18", "extra_breakers_t18.total_losses"):
        monkeypatch.delitem(sys.modules, mod, raising=False)
    Registry.discover("extra_breakers_t18")
    assert [c.name for c in BREAKERS.classes()] == [*REGISTERED, "total_losses"]

    risk = RiskEngine(settings, store, ["b1", "b2"])
    extra = risk.breaker("total_losses")
    assert extra is not None and extra.threshold == settings.max_consecutive_losses + 1
    # a win between the losses: consecutive_losses (3) never trips, total_losses (4) does
    for i, pnl in enumerate([-1.0, -1.0, 5.0, -1.0, -1.0]):
        trips = risk.observe(Observation(TRADE, "b1", T0 + i, pnl=pnl))
        assert trips == ([] if i < 4 else trips)
    assert [(t.breaker, t.bot) for t in trips] == [("total_losses", "b1")]
    assert risk.state is TradingState.HALTED  # a bot breaker stops every bot (trip scope all)
    assert risk.bot_states["b1"] is TradingState.HALTED
    assert store.get("breaker:total_losses") == {"losses": {"b1": 4}}
    status = risk.status()
    assert {"breaker": "total_losses", "bot": "b1", "value": 4, "threshold": 4.0,
            "tripped": True} in status["breakers"]  # fmt: skip

    again = RiskEngine(settings, store, ["b1", "b2"])  # a restart: sticky, counters kept
    assert again.state is TradingState.HALTED and again.bot_states["b1"] is TradingState.HALTED
    assert again.breaker("total_losses").losses == {"b1": 4}  # type: ignore[union-attr]

    cleared = again.reset("ok", "ana", ResetScope(breakers=frozenset({"total_losses"})))
    assert cleared == ["total_losses:b1"]
    assert again.state is TradingState.ACTIVE
    assert again.breaker("total_losses").losses == {"b1": 0}  # type: ignore[union-attr]
    assert store.get("breaker:total_losses") == {"losses": {"b1": 0}}


def test_an_engine_can_be_built_from_another_registry(settings, store) -> None:
    reg = Registry()
    for cls in BREAKERS.classes()[2:]:
        reg.register(order=len(reg.classes()))(cls)
    risk = RiskEngine(settings, store, ["b1"], registry=reg)
    assert [b.name for b in risk.breakers] == [
        "bot_drawdown",
        "portfolio_drawdown",
        "liquidation_distance",
    ]
    assert risk.observe(Observation(TRADE, "b1", T0, pnl=-1.0)) == []  # none observes trades


# --- what each breaker declares ----------------------------------------------------------------
@pytest.mark.parametrize("cls", BREAKERS.classes(), ids=lambda c: c.name)
def test_every_breaker_declares_observations_setting_and_reset_scope(cls, settings) -> None:
    assert cls.observes and cls.observes <= {TRADE, EQUITY, MARK}
    assert cls.counter_scope in ("bot", "portfolio", "day")
    assert cls.setting in type(settings).model_fields
    b = cls.from_settings(settings)
    assert b.threshold == float(getattr(settings, cls.setting))
    assert b.record_key == f"breaker:{cls.name}"


def _sequence() -> list[Observation]:
    """A day and a half of marks and round trips for two bots and the portfolio."""
    out: list[Observation] = []
    for i in range(36):
        ts = T0 + i * 3600
        out.append(Observation(EQUITY, "b1", ts, equity=1000 + 40 * ((i * 7) % 11) - 10 * i))
        out.append(Observation(EQUITY, "b2", ts, equity=900 + 25 * ((i * 5) % 9)))
        out.append(Observation(EQUITY, PORTFOLIO, ts, equity=2000 + 30 * ((i * 3) % 13) - 5 * i))
        out.append(Observation(TRADE, "b1" if i % 2 else "b2", ts, pnl=(-1.0) ** i * (i % 5)))
        # a futures short's mark and liquidation price (flat every fifth hour)
        liq = 0.0 if i % 5 == 4 else 160.0 + i
        out.append(Observation(MARK, "b2", ts, price=100.0 + (i * 7) % 13, liquidation=liq))
    return out


@pytest.mark.parametrize("cls", BREAKERS.classes(), ids=lambda c: c.name)
def test_persistence_round_trip(cls, settings) -> None:
    """The one record (JSON, as the store keeps it) resumes the breaker exactly: after a
    restart in the middle, it reads every later observation as the one that ran on."""
    seq = _sequence()
    first, second = seq[: len(seq) // 2], seq[len(seq) // 2 :]
    ran_on = cls.from_settings(settings)
    for obs in first:
        ran_on.observe(obs)
    record = json.loads(json.dumps(ran_on.dump()))
    restarted = cls.from_settings(settings)
    restarted.load(record)
    assert json.loads(json.dumps(restarted.dump())) == record
    seen = [r for r in (ran_on.observe(o) for o in second) if r is not None]
    resumed = [r for r in (restarted.observe(o) for o in second) if r is not None]
    assert seen and resumed == seen
    fresh = cls.from_settings(settings)
    fresh.load({})  # no record: a fresh start
    assert fresh.dump() == cls.from_settings(settings).dump()


@pytest.mark.parametrize("cls", BREAKERS.classes(), ids=lambda c: c.name)
def test_the_engine_persists_a_breaker_s_record_when_it_says_so(cls, settings, store) -> None:
    risk = RiskEngine(settings, store, ["b1", "b2"])
    b = risk.breaker(cls.name)
    assert b is not None
    for obs in _sequence()[:20]:
        risk.observe(obs)
    assert not b.dirty
    stored = store.get(b.record_key)
    assert stored is not None
    again = RiskEngine(settings, store, ["b1", "b2"])
    assert again.breaker(cls.name).dump() == stored  # type: ignore[union-attr]


# --- how each breaker resets --------------------------------------------------------------------
def _fed(name: str, settings) -> Breaker:
    b = next(c for c in BREAKERS.classes() if c.name == name).from_settings(settings)
    for obs in _sequence()[:30]:
        b.observe(obs)
    return b


def test_reset_scope_bot_consecutive_losses(settings) -> None:
    for rebase in (False, True):
        b = _fed("consecutive_losses", settings)
        b.losses = {"b1": 2, "b2": 1}  # type: ignore[attr-defined]
        b.reset("b1", rebase=rebase)
        assert b.losses == {"b1": 0, "b2": 1}  # type: ignore[attr-defined]


def test_reset_scope_bot_drawdown_keeps_or_rebases_one_bot_s_peak(settings) -> None:
    b = _fed("bot_drawdown", settings)
    peaks = dict(b.peaks)  # type: ignore[attr-defined]
    b.reset("b1", rebase=False)
    assert b.peaks == peaks  # type: ignore[attr-defined]
    b.reset("b1", rebase=True)
    assert b.peaks == {"b2": peaks["b2"]}  # type: ignore[attr-defined]
    r = b.observe(Observation(EQUITY, "b1", T0 + 99_999, equity=10.0))
    assert r is not None and r.value == 0.0  # the next mark is the new peak


def test_reset_scope_portfolio_drawdown(settings) -> None:
    b = _fed("portfolio_drawdown", settings)
    b.reset(PORTFOLIO, rebase=False)
    assert PORTFOLIO in b.peaks  # type: ignore[attr-defined]
    b.reset(PORTFOLIO, rebase=True)
    assert b.peaks == {}  # type: ignore[attr-defined]


def test_reset_scope_day_daily_loss(settings) -> None:
    b = _fed("daily_loss", settings)
    day_start = b.day_start  # type: ignore[attr-defined]
    b.reset(PORTFOLIO, rebase=False)
    r = b.observe(Observation(EQUITY, PORTFOLIO, T0 + 8 * 3600, equity=day_start * 0.9))
    assert r is not None and r.value == pytest.approx(0.1)  # same day: same baseline
    b.reset(PORTFOLIO, rebase=True)
    r = b.observe(Observation(EQUITY, PORTFOLIO, T0 + 8 * 3600 + 100, equity=day_start * 0.8))
    assert r is not None and r.value == 0.0  # rebased: this mark starts the day


def test_a_day_roll_restarts_the_measure_never_the_trip(settings, store) -> None:
    """Manual only, as the seeds say: the next UTC day's baseline does not clear a trip."""
    risk = RiskEngine(settings, store, ["b1"])
    risk.observe(Observation(EQUITY, PORTFOLIO, T0 + 60, equity=1000.0))
    trips = risk.observe(Observation(EQUITY, PORTFOLIO, T0 + 120, equity=900.0))
    assert [t.breaker for t in trips] == ["daily_loss"]
    risk.observe(Observation(EQUITY, PORTFOLIO, T0 + 86_400 + 60, equity=900.0))
    assert risk.breaker("daily_loss").readings()[0].value == 0.0  # type: ignore[union-attr]
    assert risk.state is TradingState.HALTED
    assert [r["breaker"] for r in store.tripped()] == ["daily_loss"]


# --- one method for trading-state changes --------------------------------------------------------
def test_every_state_change_emits_one_event(settings, store) -> None:
    risk = RiskEngine(settings, store, ["b1", "b2"])
    events: list[TradingStateChanged] = []
    risk.hooks.on_state_changed.append(events.append)

    risk.halt("desk review", "ana", reducing=True)
    assert [(e.cause, e.previous, e.state, e.reason) for e in events] == [
        (CAUSE_HALT, TradingState.ACTIVE, TradingState.REDUCING, "desk review")
    ]
    for i in range(3):
        risk.observe(Observation(TRADE, "b1", T0 + i, pnl=-1.0))
    trip = events[-1]
    assert len(events) == 2 and trip.cause == CAUSE_TRIP
    assert (trip.previous, trip.state) == (TradingState.REDUCING, TradingState.HALTED)
    assert trip.changed_bots == ("b1",) and trip.bots["b1"] is TradingState.HALTED
    assert risk.state_reason == trip.reason

    risk.halt_in_memory(risk.state_reason)  # no change: no event
    assert len(events) == 2

    risk.reset("ok", "ana", ResetScope(all=True))
    reset = events[-1]
    assert len(events) == 3 and reset.cause == CAUSE_RESET
    assert (reset.previous, reset.state) == (TradingState.HALTED, TradingState.ACTIVE)
    assert reset.changed_bots == ("b1",) and reset.bots["b1"] is TradingState.ACTIVE


def _assigned_attrs(tree: ast.AST) -> list[tuple[str, int]]:
    out = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for t in targets:
            for el in t.elts if isinstance(t, ast.Tuple) else [t]:
                sub = el.value if isinstance(el, ast.Subscript) else el
                if isinstance(sub, ast.Attribute) and sub.attr in (
                    "state",
                    "state_reason",
                    "bot_states",
                ):
                    out.append((ast.unparse(sub), node.lineno))
    return out


def test_only_the_engine_s_one_method_writes_the_trading_state() -> None:
    """No module outside the engine assigns the risk engine's state (the emergency stop
    and the audit watch used to), and inside it only `_set_state` (and the initial
    values in `__init__`) do."""
    offenders = []
    for path in sorted(DAEMON.rglob("*.py")):
        tree = ast.parse(path.read_text())
        if path.name == "engine.py" and path.parent.name == "risk":
            for fn in ast.walk(tree):
                if isinstance(fn, ast.FunctionDef) and fn.name not in ("_set_state", "__init__"):
                    offenders += [(f"risk/engine.py:{fn.name}", *a) for a in _assigned_attrs(fn)]
            continue
        for target, line in _assigned_attrs(tree):
            if "risk" in target:
                offenders.append((str(path.relative_to(DAEMON)), target, line))
    assert offenders == []


def test_halt_and_reset_have_one_implementation() -> None:
    """Only runtime/halt_reset.py records a person's halt or applies a reset: the CLI
    (daemon running or not) and the daemon's control requests all call it."""
    offenders = []
    for path in sorted(DAEMON.rglob("*.py")):
        rel = str(path.relative_to(DAEMON))
        if rel in ("runtime/halt_reset.py", "risk/engine.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                call = ast.unparse(node)
                human_halt = node.func.attr == "halt" and "HUMAN_HALT" in call
                reset = node.func.attr == "reset" and "risk" in ast.unparse(node.func.value)
                if human_halt or reset:
                    offenders.append(f"{rel}:{node.lineno}: {call[:60]}")
    assert offenders == []
