"""RiskEngine: owns the trading state, runs pre-trade checks and the circuit breakers.

A trip is committed to SQLite and the in-memory state changed *before* `observe` returns,
so the very next `check` (on any path) refuses. Only a human reset clears a trip.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tradewarden.config import Settings, TripScope
from tradewarden.models import OrderRequest
from tradewarden.risk.breakers import (
    BotDrawdown,
    Breaker,
    ConsecutiveLosses,
    DailyLoss,
    Observation,
    PortfolioDrawdown,
    Reading,
)
from tradewarden.risk.breakers.base import PORTFOLIO
from tradewarden.risk.breakers.drawdown import PeakDrawdown as PeakDrawdownBase
from tradewarden.risk.checks import BookView, CheckLimits, pre_trade_check
from tradewarden.risk.reasons import DenyReason
from tradewarden.risk.state import TradingState
from tradewarden.store import Store

PEAK_PERSIST_STEP = 0.001  # persist equity peaks when they rise by 0.1% (and on every trade)
MANUAL = "manual"


@dataclass(frozen=True, slots=True)
class Trip:
    """One breaker trip. `portfolio_scope`: the trip stopped every bot (see `halts_all`)."""

    breaker: str
    bot: str
    value: float
    threshold: float
    reason: str
    emergency: bool
    portfolio_scope: bool
    ts: float


@dataclass(slots=True)
class _Hooks:
    on_trip: list[Callable[[Trip], None]] = field(default_factory=list)
    on_approach: list[Callable[[Reading], None]] = field(default_factory=list)


def build_breakers(settings: Settings) -> list[Breaker]:
    return [
        ConsecutiveLosses(settings.max_consecutive_losses),
        DailyLoss(settings.max_daily_loss_pct),
        BotDrawdown(settings.max_bot_drawdown_pct),
        PortfolioDrawdown(settings.max_portfolio_drawdown_pct),
    ]


class RiskEngine:
    def __init__(self, settings: Settings, store: Store, bots: list[str]) -> None:
        self.settings = settings
        self.store = store
        self.bots = list(bots)
        self.limits = CheckLimits(
            max_notional=settings.max_notional_per_order,
            max_open_orders=settings.max_open_orders,
            max_orders_per_minute=settings.max_orders_per_minute,
            symbols=frozenset(settings.symbols),
            blocked_zones=frozenset(settings.blocked_zones),
        )
        self.book = BookView()
        self.breakers = build_breakers(settings)
        self._peak_breakers = {b.name for b in self.breakers if hasattr(b, "peaks")}
        by_kind = {"trade": [ConsecutiveLosses], "equity": [DailyLoss, PeakDrawdownBase]}
        self._for_kind = {
            k: [b for b in self.breakers if isinstance(b, tuple(types))]
            for k, types in by_kind.items()
        }
        self.hooks = _Hooks()
        self.state = TradingState.ACTIVE
        self.bot_states: dict[str, TradingState] = {b: TradingState.ACTIVE for b in self.bots}
        self.state_reason = ""
        self._warned: set[tuple[str, str]] = set()
        self._persisted_peaks: dict[str, float] = {}
        self._flatten_scope: dict[str, bool] = {}  # bot -> whole state lowered too
        self.load()

    # --- persistence ------------------------------------------------------------------------
    def load(self) -> None:
        """Rebuild the state from SQLite: sticky trips and manual halts survive restarts."""
        self.state = TradingState.ACTIVE
        self.bot_states = {b: TradingState.ACTIVE for b in self.bots}
        self.state_reason = ""
        for b in self.breakers:
            b.load(self.store.get(f"breaker:{b.name}", {}))
            if hasattr(b, "peaks"):
                self._persisted_peaks.update({f"{b.name}:{k}": v for k, v in b.peaks.items()})
        manual = self.store.get("manual_state")
        if manual:
            self._raise_state(TradingState.parse(manual["state"]), manual.get("reason", ""))
        by_name = {b.name: b for b in self.breakers}
        for row in self.store.tripped():
            breaker = by_name.get(row["breaker"])
            reason = row["reason"] or row["breaker"]
            # an unknown breaker's trip (a manual one, a newer version's) stops everything
            if row["bot"] == PORTFOLIO or breaker is None:
                self._raise_state(TradingState.HALTED, reason)
            elif self.trip_halts_all(breaker, row["bot"]):
                self._halt_all(breaker, reason)
            if row["bot"] != PORTFOLIO:
                self.bot_states[row["bot"]] = TradingState.HALTED

    def halts_all(self, breaker: Breaker) -> bool:
        """Does a trip of `breaker` stop every bot? The emergency stop and the portfolio's
        breakers always do; a bot's breakers do unless TRADEWARDEN_TRIP_SCOPE=bot (the PETS
        guidelines: "On Circuit Breaker Trigger: stop all bots immediately")."""
        return (
            breaker.emergency
            or breaker.portfolio_scope
            or self.settings.trip_scope != TripScope.BOT
        )

    def trip_halts_all(self, breaker: Breaker, bot: str) -> bool:
        """Does the recorded trip of `breaker` on `bot` stop every bot? The scope it was
        tripped under (recorded with it), so a CLI or a restart with another
        TRADEWARDEN_TRIP_SCOPE reads the trip as the daemon applied it; the setting for a
        trip recorded before scopes were."""
        recorded = self.store.get(_scope_key(breaker.name, bot))
        if recorded is None or breaker.emergency or breaker.portfolio_scope:
            return self.halts_all(breaker)
        return bool(recorded != TripScope.BOT.value)

    def _halt_all(self, breaker: Breaker, reason: str) -> None:
        """HALTED for a trip that stops every bot. A bot breaker's trip (halting all by
        TRADEWARDEN_TRIP_SCOPE) keeps the reason of a halt already in force (a manual halt,
        a restore, an earlier trip), at run time and after a restart alike."""
        if breaker.emergency or breaker.portfolio_scope or self.state is not TradingState.HALTED:
            self._raise_state(TradingState.HALTED, reason)

    def _raise_state(self, new: TradingState, reason: str) -> None:
        if new >= self.state:
            self.state = new
            self.state_reason = reason

    def _persist_counters(self, breaker: Breaker) -> None:
        self.store.put(f"breaker:{breaker.name}", breaker.dump())
        breaker.dirty = False

    # --- the order path ---------------------------------------------------------------------
    def check(
        self, req: OrderRequest, price: float | None, now: float | None = None
    ) -> DenyReason | None:
        state = self.state
        bot_state = self.bot_states.get(req.bot, TradingState.HALTED)
        if req.bot in self._flatten_scope:  # closing positions on a trip (`flatten_window`)
            bot_state = _halted_to_reducing(bot_state)
            if self._flatten_scope[req.bot]:
                state = _halted_to_reducing(state)
        return pre_trade_check(
            req,
            price=price,
            state=state,
            bot_state=bot_state,
            limits=self.limits,
            book=self.book,
            now=time.monotonic() if now is None else now,
        )

    def effective_state(self, bot: str) -> TradingState:
        return max(self.state, self.bot_states.get(bot, TradingState.HALTED))

    # --- breakers ---------------------------------------------------------------------------
    def observe(self, obs: Observation) -> list[Trip]:
        trips: list[Trip] = []
        for breaker in self._for_kind.get(obs.kind, self.breakers):
            reading = breaker.observe(obs)
            if reading is None:
                continue
            if obs.kind == "trade" or breaker.dirty:  # e.g. a new UTC day's baseline
                self._persist_counters(breaker)
            elif breaker.name in self._peak_breakers:
                self._maybe_persist_peak(breaker, reading.bot)
            if reading.tripped:
                trip = self._trip(breaker, reading, obs.ts)
                if trip:
                    trips.append(trip)
            elif reading.ratio >= self.settings.approach_warn_ratio:
                key = (breaker.name, reading.bot)
                if key not in self._warned:
                    self._warned.add(key)
                    for hook in self.hooks.on_approach:
                        hook(reading)
        return trips

    def _maybe_persist_peak(self, breaker: Breaker, key: str) -> None:
        peak = breaker.peaks.get(key, 0.0)  # type: ignore[attr-defined]
        k = f"{breaker.name}:{key}"
        if peak > self._persisted_peaks.get(k, 0.0) * (1 + PEAK_PERSIST_STEP):
            self._persisted_peaks[k] = peak
            self._persist_counters(breaker)

    def _trip(self, breaker: Breaker, reading: Reading, ts: float) -> Trip | None:
        scope_all = self.halts_all(breaker)
        if scope_all and self.state is TradingState.HALTED:
            if self._already(breaker.name, reading.bot):
                return None
        elif not scope_all and self.bot_states.get(reading.bot) is TradingState.HALTED:
            return None
        reason = breaker.describe(reading)
        # 1. durable first: the trip (and the scope it stops) survives a crash from here on
        if not (breaker.emergency or breaker.portfolio_scope):
            scope = TripScope.ALL if scope_all else TripScope.BOT
            self.store.put(_scope_key(breaker.name, reading.bot), scope.value)
        self.store.trip(breaker.name, reading.bot, reading.value, reading.threshold, reason)
        self._persist_counters(breaker)
        # 2. block synchronously
        if scope_all:
            self._halt_all(breaker, reason)
        if reading.bot != PORTFOLIO:
            self.bot_states[reading.bot] = TradingState.HALTED
        trip = Trip(
            breaker.name,
            reading.bot,
            reading.value,
            reading.threshold,
            reason,
            breaker.emergency,
            scope_all,
            ts,
        )
        for hook in self.hooks.on_trip:
            hook(trip)
        return trip

    @contextmanager
    def flatten_window(self, bots: Iterable[str], *, whole_state: bool) -> Iterator[None]:
        """For closing positions on a trip only: while it lasts, an order of one of `bots`
        is checked as if HALTED were REDUCING (exposure-reducing orders only) — the bot's own
        state, and the whole state too when the trip stopped every bot (`whole_state`).

        Nothing is lowered in the state itself, so a trip recorded inside the window (a
        closing sale that completes a losing streak) holds, and every other order path
        sees HALTED throughout.
        """
        saved = self._flatten_scope
        scope = dict(saved)
        for bot in bots:
            scope[bot] = scope.get(bot, False) or whole_state
        self._flatten_scope = scope
        try:
            yield
        finally:
            self._flatten_scope = saved

    def _already(self, name: str, bot: str) -> bool:
        return any(r["breaker"] == name and r["bot"] == bot for r in self.store.tripped())

    def readings(self) -> list[Reading]:
        out: list[Reading] = []
        for b in self.breakers:
            out.extend(b.readings())
        return out

    # --- human actions ----------------------------------------------------------------------
    def halt(self, reason: str, actor: str, *, reducing: bool = False) -> None:
        state = TradingState.REDUCING if reducing else TradingState.HALTED
        self.store.put(
            "manual_state",
            {"state": state.name, "reason": reason, "actor": actor, "ts": time.time()},
        )
        self._raise_state(state, reason)

    def reset(self, reason: str, actor: str) -> list[str]:
        """Clear every trip and manual halt; counters restart so the same reading re-trips."""
        cleared = self.store.clear_trips(actor, reason)
        if self.store.get("manual_state"):
            cleared.append("manual_state")
        self.store.put("manual_state", None)
        for b in self.breakers:
            if isinstance(b, ConsecutiveLosses):
                b.losses = {}
            elif isinstance(b, BotDrawdown | PortfolioDrawdown):
                b.peaks = {}
            elif isinstance(b, DailyLoss):
                b.day = -1
            self._persist_counters(b)
        self._persisted_peaks.clear()
        self._warned.clear()
        self.load()
        return cleared

    def status(self) -> dict[str, Any]:
        trips = [dict(r) for r in self.store.tripped()]
        return {
            "state": self.state.label,
            "state_reason": self.state_reason,
            # what each bot may do now: a trip that stopped every bot shows on every bot
            "bots": {b: self.effective_state(b).label for b in self.bot_states},
            "breakers": [
                {
                    "breaker": r.breaker,
                    "bot": r.bot,
                    "value": r.value,
                    "threshold": r.threshold,
                    "tripped": any(t["breaker"] == r.breaker and t["bot"] == r.bot for t in trips),
                }
                for r in self.readings()
            ],
            "trips": trips,
        }


def _scope_key(breaker: str, bot: str) -> str:
    return f"trip_scope:{breaker}:{bot}"


def _halted_to_reducing(state: TradingState) -> TradingState:
    return TradingState.REDUCING if state is TradingState.HALTED else state
