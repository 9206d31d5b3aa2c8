"""RiskEngine: owns the trading state, runs pre-trade checks and the circuit breakers.

A trip is committed to SQLite and the in-memory state changed *before* `observe` returns,
so the very next `check` (on any path) refuses. Only a human reset clears a trip.

The breakers are built from the registry (risk/breakers/registry.py): this module names
no breaker class; what a breaker observes, persists and resets it declares itself. Every
change of the trading state (the whole state, its reason, a bot's state) goes through
`_set_state`, which emits one `TradingStateChanged` to `hooks.on_state_changed` (as
NautilusTrader's RiskEngine.set_trading_state publishes TradingStateChanged).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tradewarden.core.config import Settings, TripScope
from tradewarden.core.models import OrderRequest
from tradewarden.risk.book import ReadOnlyBook
from tradewarden.risk.breakers import BREAKERS, Breaker, Observation, Reading, Registry
from tradewarden.risk.breakers.base import EQUITY, PORTFOLIO
from tradewarden.risk.checks import BookView, CheckLimits, pre_trade_check
from tradewarden.risk.persistence import RiskStore
from tradewarden.risk.reasons import DenyReason
from tradewarden.risk.state import TradingState
from tradewarden.state.keys import ScopedKey, StateKey, trip_scope_key

log = logging.getLogger(__name__)

LEGACY_HALT = StateKey.MANUAL_STATE  # the single halt record of older files (and `restore`)
HUMAN_HALT = "manual"  # halt kinds: a person's `tradewarden halt` ...
SYSTEM_HALT = "system"  # ... or the daemon's own (reconciliation, key-permission check)


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


@dataclass(frozen=True, slots=True)
class ResetScope:
    """What a human reset is pointed at. Trips: those of `bots` and/or `breakers` (both
    given: both must match), or every trip with `all`. Halts: with `all`, every halt except
    a manual halt set by someone else; `include_manual_halt` adds those (and alone, points at
    the halts only). `rebase_peaks`: the drawdown peaks and day-start equity behind the
    cleared trips restart from the next equity mark; without it they are kept."""

    bots: frozenset[str] = frozenset()
    breakers: frozenset[str] = frozenset()
    all: bool = False
    include_manual_halt: bool = False
    rebase_peaks: bool = False

    @property
    def empty(self) -> bool:
        return not (self.bots or self.breakers or self.all or self.include_manual_halt)

    def as_dict(self) -> dict[str, Any]:
        return {
            "bots": sorted(self.bots),
            "breakers": sorted(self.breakers),
            "all": self.all,
            "include_manual_halt": self.include_manual_halt,
            "rebase_peaks": self.rebase_peaks,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResetScope:
        return cls(
            bots=frozenset(data.get("bots") or ()),
            breakers=frozenset(data.get("breakers") or ()),
            all=bool(data.get("all")),
            include_manual_halt=bool(data.get("include_manual_halt")),
            rebase_peaks=bool(data.get("rebase_peaks")),
        )


@dataclass(frozen=True, slots=True)
class ResetItem:
    """One trip or halt a reset may clear. `ident` names this very record (a trip that
    tripped again since has another), so a confirmed plan never clears a newer one."""

    kind: str  # "trip" | "halt"
    key: str  # "breaker:bot" | "halt#id" | LEGACY_HALT
    ident: str
    set_by: str
    at: float
    state: str
    reason: str
    breaker: str = ""
    bot: str = ""
    halt_id: int = 0
    halt_kind: str = ""

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.at)) if self.at else "?"
        return f"{self.key} ({self.state}) set by {self.set_by} at {when}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "ident": self.ident,
            "set_by": self.set_by,
            "at": self.at,
            "state": self.state,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class KeptItem:
    item: ResetItem
    why: str


@dataclass(frozen=True, slots=True)
class ResetPlan:
    clear: list[ResetItem]
    keep: list[KeptItem]

    def as_dict(self) -> dict[str, Any]:
        return {
            "clear": [i.as_dict() for i in self.clear],
            "keep": [{**k.item.as_dict(), "why": k.why} for k in self.keep],
        }


# what changed the trading state (`TradingStateChanged.cause`)
CAUSE_LOAD = "load"  # rebuilt from the store (start, CLI, restore)
CAUSE_TRIP = "trip"  # a breaker tripped
CAUSE_HALT = "halt"  # a halt recorded (a person's, or the daemon's own)
CAUSE_RESET = "reset"  # a human reset cleared trips/halts
CAUSE_EMERGENCY = "emergency"  # HALTED in memory before anything is recorded


@dataclass(frozen=True, slots=True)
class TradingStateChanged:
    """One change of the trading state, emitted by `RiskEngine._set_state` only."""

    state: TradingState
    previous: TradingState
    reason: str
    bots: dict[str, TradingState]  # every bot's own state after the change
    changed_bots: tuple[str, ...]  # the bots whose own state changed
    cause: str
    ts: float


@dataclass(slots=True)
class _Hooks:
    on_trip: list[Callable[[Trip], None]] = field(default_factory=list)
    on_approach: list[Callable[[Reading], None]] = field(default_factory=list)
    # a reading past a breaker's reduce level put trading in REDUCING (the trader cuts the
    # bot's exposure with reduceOnly orders)
    on_reduce: list[Callable[[Reading], None]] = field(default_factory=list)
    on_state_changed: list[Callable[[TradingStateChanged], None]] = field(default_factory=list)


def build_breakers(settings: Settings, registry: Registry = BREAKERS) -> list[Breaker]:
    """Every registered breaker, built from the settings (in registry order)."""
    return registry.build(settings)


class RiskEngine:
    def __init__(
        self,
        settings: Settings,
        store: RiskStore,
        bots: list[str],
        *,
        registry: Registry = BREAKERS,
    ) -> None:
        self.settings = settings
        self.store = store
        self.bots = list(bots)
        self.limits = CheckLimits(
            max_notional=settings.max_notional_per_order,
            max_open_orders=settings.max_open_orders,
            max_orders_per_minute=settings.max_orders_per_minute,
            symbols=frozenset(settings.symbols),
            blocked_zones=frozenset(settings.blocked_zones),
            futures_bots=frozenset(bots) if settings.futures_enabled else frozenset(),
            max_leverage=float(settings.futures_max_leverage),
            futures_leverage=float(settings.futures_leverage),
        )
        # the book the pre-trade checks read; changed only by the methods under "the book"
        # below, seen from outside through the read-only `book` (risk/book.py)
        self._book = BookView()
        self._book_view = ReadOnlyBook(self._book)
        self.breakers = build_breakers(settings, registry)
        self._by_name = {b.name: b for b in self.breakers}
        # observation kind -> the breakers that observe it (a kind none declares: all)
        self._for_kind: dict[str, list[Breaker]] = {}
        for b in self.breakers:
            for kind in sorted(b.observes):
                self._for_kind.setdefault(kind, []).append(b)
        self.hooks = _Hooks()
        self.state = TradingState.ACTIVE
        self.bot_states: dict[str, TradingState] = {b: TradingState.ACTIVE for b in self.bots}
        self.state_reason = ""
        self._warned: set[tuple[str, str]] = set()
        self._flatten_scope: dict[str, bool] = {}  # bot -> whole state lowered too
        self._reduced: set[tuple[str, str]] = set()  # (breaker, bot) cut to reduce already
        self.load()

    def breaker(self, name: str) -> Breaker | None:
        return self._by_name.get(name)

    # --- the trading state ------------------------------------------------------------------
    def _set_state(
        self,
        state: TradingState,
        reason: str,
        bot_states: dict[str, TradingState] | None = None,
        *,
        cause: str,
    ) -> TradingStateChanged | None:
        """The one writer of `state`, `state_reason` and `bot_states`: apply the change and
        emit one `TradingStateChanged` when anything changed (the state, its reason, a
        bot's state). The change is in force before any subscriber hears of it, and a
        subscriber that fails is logged and skipped: it must not stop what follows the
        change (a trip's alert and closing orders, a halt's cancels, the next subscriber)."""
        bots = dict(self.bot_states if bot_states is None else bot_states)
        changed = tuple(
            b
            for b in sorted(set(bots) | set(self.bot_states))
            if bots.get(b) is not self.bot_states.get(b)
        )
        previous = self.state
        if state is previous and reason == self.state_reason and not changed:
            return None
        self.state, self.state_reason, self.bot_states = state, reason, bots
        event = TradingStateChanged(
            state, previous, reason, dict(bots), changed, cause, time.time()
        )
        for hook in self.hooks.on_state_changed:
            try:
                hook(event)
            except Exception:  # noqa: BLE001 - a subscriber never undoes a safety action
                log.exception("trading-state subscriber failed", extra={"cause": cause})
        return event

    def halt_in_memory(self, reason: str) -> None:
        """HALTED at once, before anything is written (the store may be what failed): a
        system critical error, a broken audit chain. Record it with `halt` right after."""
        self._set_state(TradingState.HALTED, reason, cause=CAUSE_EMERGENCY)

    # --- persistence ------------------------------------------------------------------------
    def load(self, *, cause: str = CAUSE_LOAD) -> None:
        """Rebuild the state from SQLite: sticky trips and manual halts survive restarts."""
        state, reason = TradingState.ACTIVE, ""
        bot_states = {b: TradingState.ACTIVE for b in self.bots}
        for b in self.breakers:
            b.load(self.store.get(b.record_key, {}))
        for halt in self._halts():
            state, reason = _raised(state, reason, TradingState.parse(halt.state), halt.reason)
        for row in self.store.tripped():
            breaker = self._by_name.get(row["breaker"])
            why = row["reason"] or row["breaker"]
            # an unknown breaker's trip (a manual one, a newer version's) stops everything
            if row["bot"] == PORTFOLIO or breaker is None:
                state, reason = _raised(state, reason, TradingState.HALTED, why)
            elif self.trip_halts_all(breaker, row["bot"]):
                state, reason = _halted_all(breaker, state, reason, why)
            if row["bot"] != PORTFOLIO:
                bot_states[row["bot"]] = TradingState.HALTED
        self._set_state(state, reason, bot_states, cause=cause)

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

    def _persist_counters(self, breaker: Breaker) -> None:
        self.store.put(breaker.record_key, breaker.dump())
        breaker.dirty = False

    # --- the order path ---------------------------------------------------------------------
    def check(
        self, req: OrderRequest, price: float | None, now: float | None = None
    ) -> DenyReason | None:
        state, bot_state = self._order_states(req.bot)
        return pre_trade_check(
            req,
            price=price,
            state=state,
            bot_state=bot_state,
            limits=self.limits,
            book=self._book,
            now=time.monotonic() if now is None else now,
        )

    # --- the book (what the checks know about the account) ----------------------------------
    @property
    def book(self) -> ReadOnlyBook:
        return self._book_view

    def set_balances(self, free: Mapping[str, float]) -> None:
        """The exchange's free balance per asset (empty: unknown, every check refuses)."""
        self._book.free = dict(free)

    def set_position(self, bot: str, symbol: str, qty: float) -> None:
        self._book.positions[(bot, symbol)] = qty

    def note_order_sent(self, ts: float) -> None:
        """An order is about to leave (counted by the order-rate check)."""
        self._book.recent_orders.append(ts)

    def forget_recent_orders(self) -> None:
        """Empty the order-rate window (benchmarks that run many checks in one minute)."""
        self._book.recent_orders.clear()

    def order_opened(self) -> None:
        self._book.open_orders += 1

    def orders_closed(self, count: int) -> None:
        self._book.open_orders = max(0, self._book.open_orders - count)

    def set_open_orders(self, count: int) -> None:
        self._book.open_orders = count

    def block_symbol(self, symbol: str) -> None:
        """An order of `symbol` has an unknown outcome: no new order until resolved."""
        self._book.unknown_symbols.add(symbol)

    def unblock_symbols(self, symbols: Iterable[str]) -> None:
        self._book.unknown_symbols.difference_update(symbols)

    def effective_state(self, bot: str) -> TradingState:
        return max(self.state, self.bot_states.get(bot, TradingState.HALTED))

    def order_state(self, bot: str) -> TradingState:
        """The state an order of `bot` is held to right now: `effective_state`, except that
        inside a `flatten_window` for the bot HALTED counts as REDUCING (the closing orders
        of a trip). The last check before an order leaves the process uses this, so it
        agrees with `check`."""
        return max(self._order_states(bot))

    def _order_states(self, bot: str) -> tuple[TradingState, TradingState]:
        state = self.state
        bot_state = self.bot_states.get(bot, TradingState.HALTED)
        if bot in self._flatten_scope:  # closing positions on a trip (`flatten_window`)
            bot_state = _halted_to_reducing(bot_state)
            if self._flatten_scope[bot]:
                state = _halted_to_reducing(state)
        return state, bot_state

    # --- breakers ---------------------------------------------------------------------------
    def observe(self, obs: Observation) -> list[Trip]:
        trips: list[Trip] = []
        if obs.kind == EQUITY and obs.bot != PORTFOLIO:
            self._book.equity[obs.bot] = obs.equity  # the leverage check's denominator
        for breaker in self._for_kind.get(obs.kind, self.breakers):
            reading = breaker.observe(obs)
            if reading is None:
                continue
            if breaker.dirty:  # a round trip, a new UTC day's baseline, a risen peak ...
                self._persist_counters(breaker)
            if reading.tripped:
                trip = self._trip(breaker, reading, obs.ts)
                if trip:
                    trips.append(trip)
                continue
            if reading.reducing:
                self._reduce(breaker, reading)
            if reading.ratio >= self.settings.approach_warn_ratio:
                key = (breaker.name, reading.bot)
                if key not in self._warned:
                    self._warned.add(key)
                    for hook in self.hooks.on_approach:
                        hook(reading)
        return trips

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
        state, why = self.state, self.state_reason
        if scope_all:
            state, why = _halted_all(breaker, state, why, reason)
        bot_states = dict(self.bot_states)
        if reading.bot != PORTFOLIO:
            bot_states[reading.bot] = TradingState.HALTED
        self._set_state(state, why, bot_states, cause=CAUSE_TRIP)
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

    def _reduce(self, breaker: Breaker, reading: Reading) -> None:
        """A reading past `breaker`'s reduce level: a recorded REDUCING halt (sticky until a
        human reset, like a trip; a halt never lowers HALTED), then `hooks.on_reduce` once
        per bot in this run."""
        key = (breaker.name, reading.bot)
        if key in self._reduced:
            return
        self._reduced.add(key)
        actor = f"breaker {breaker.name}"
        if not any(h.set_by == actor and h.state == "REDUCING" for h in self._halts()):
            self.halt(breaker.describe_reduce(reading), actor, reducing=True)
        for hook in self.hooks.on_reduce:
            hook(reading)

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
    def halt(
        self, reason: str, actor: str, *, reducing: bool = False, kind: str = SYSTEM_HALT
    ) -> None:
        """Record a halt (its own row: who, when, why) and raise the state. A halt never
        lowers anything: HALTED then REDUCING stays HALTED, in memory and in SQLite; only a
        reset clears a halt. `kind`: HUMAN_HALT for a person's `tradewarden halt`."""
        state = TradingState.REDUCING if reducing else TradingState.HALTED
        self.store.add_halt(state.name, reason, actor, kind)
        self._set_state(*_raised(self.state, self.state_reason, state, reason), cause=CAUSE_HALT)

    def _halts(self) -> list[ResetItem]:
        out = []
        legacy = self.store.get(LEGACY_HALT)
        if legacy:
            out.append(
                ResetItem(
                    "halt",
                    LEGACY_HALT,
                    f"{LEGACY_HALT}@{legacy.get('ts', 0)!r}",
                    str(legacy.get("actor") or "unknown"),
                    float(legacy.get("ts") or 0.0),
                    str(legacy.get("state", "HALTED")),
                    str(legacy.get("reason", "")),
                    halt_kind=SYSTEM_HALT if legacy.get("restored_from") else HUMAN_HALT,
                )
            )
        for r in self.store.active_halts():
            out.append(
                ResetItem(
                    "halt",
                    f"halt#{r['id']}",
                    f"halt#{r['id']}",
                    r["actor"],
                    float(r["ts"]),
                    r["state"],
                    r["reason"],
                    halt_id=int(r["id"]),
                    halt_kind=r["kind"],
                )
            )
        return out

    def _trips(self) -> list[ResetItem]:
        return [
            ResetItem(
                "trip",
                f"{r['breaker']}:{r['bot']}",
                f"{r['breaker']}:{r['bot']}@{float(r['tripped_at'])!r}",
                f"breaker {r['breaker']}",
                float(r["tripped_at"]),
                "HALTED",
                r["reason"] or r["breaker"],
                breaker=r["breaker"],
                bot=r["bot"],
            )
            for r in self.store.tripped()
        ]

    def plan_reset(self, scope: ResetScope, actor: str) -> ResetPlan:
        """What a reset pointed at `scope` by `actor` would clear, and what it keeps and why."""
        clear: list[ResetItem] = []
        keep: list[KeptItem] = []
        for t in self._trips():
            if scope.all or (
                (scope.bots or scope.breakers)
                and (not scope.bots or t.bot in scope.bots)
                and (not scope.breakers or t.breaker in scope.breakers)
            ):
                clear.append(t)
            else:
                keep.append(KeptItem(t, "not in the scope of this reset"))
        for h in self._halts():
            someone_else = h.halt_kind == HUMAN_HALT and h.set_by != actor
            if scope.include_manual_halt or (scope.all and not someone_else):
                clear.append(h)
            elif scope.all:
                keep.append(
                    KeptItem(h, f"manual halt set by {h.set_by}: needs --include-manual-halt")
                )
            else:
                keep.append(KeptItem(h, "halts are cleared only by --all/--include-manual-halt"))
        return ResetPlan(clear, keep)

    def reset(
        self,
        reason: str,
        actor: str,
        scope: ResetScope,
        *,
        asked_at: float | None = None,
        confirmed: set[str] | None = None,
    ) -> list[str]:
        """Clear what `scope` points at, recorded at or before `asked_at` (default: now) and,
        when given, named in `confirmed` (the idents the human saw). The counters of a cleared
        trip restart (a consecutive-loss count from zero); drawdown peaks and the day-start
        equity are kept unless `scope.rebase_peaks`. Returns what was cleared."""
        asked = time.time() if asked_at is None else asked_at
        plan = self.plan_reset(scope, actor)
        items = [
            i for i in plan.clear if i.at <= asked and (confirmed is None or i.ident in confirmed)
        ]
        trips = [(i.breaker, i.bot, i.at) for i in items if i.kind == "trip"]
        halts = [i.halt_id for i in items if i.kind == "halt" and i.halt_id]
        legacy = [i.key for i in items if i.key == LEGACY_HALT]
        cleared = self.store.clear_trips(
            actor, reason, trips, halts, asked_at=asked, extra_cleared=legacy, scope=scope.as_dict()
        )
        if legacy:
            self.store.put(LEGACY_HALT, None)
        for item in cleared:
            breaker, _, bot = item.partition(":")
            b = self._by_name.get(breaker)
            if b is None:
                continue
            b.reset(bot, rebase=scope.rebase_peaks)  # the breaker knows what restarts
            self._persist_counters(b)
            self._warned.discard((breaker, bot))
        if cleared:
            self._reduced.clear()
        self.load(cause=CAUSE_RESET)
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
            "halts": [h.as_dict() for h in self._halts()],
        }


def _scope_key(breaker: str, bot: str) -> ScopedKey:
    return trip_scope_key(breaker, bot)


def _raised(
    state: TradingState, reason: str, new: TradingState, why: str
) -> tuple[TradingState, str]:
    """A state only rises (HALTED then REDUCING stays HALTED); an equal one takes the reason."""
    return (new, why) if new >= state else (state, reason)


def _halted_all(
    breaker: Breaker, state: TradingState, reason: str, why: str
) -> tuple[TradingState, str]:
    """HALTED for a trip that stops every bot. A bot breaker's trip (halting all by
    TRADEWARDEN_TRIP_SCOPE) keeps the reason of a halt already in force (a manual halt, a
    restore, an earlier trip), at run time and after a restart alike."""
    if breaker.emergency or breaker.portfolio_scope or state is not TradingState.HALTED:
        return _raised(state, reason, TradingState.HALTED, why)
    return state, reason


def _halted_to_reducing(state: TradingState) -> TradingState:
    return TradingState.REDUCING if state is TradingState.HALTED else state
