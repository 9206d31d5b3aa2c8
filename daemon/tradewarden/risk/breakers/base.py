"""The common breaker interface (shape borrowed from freqtrade's protections, but sticky).

A breaker declares everything the engine needs, so the engine never names a concrete one:

- what it observes: `observes`, the kinds of :class:`Observation` it reads (closed round
  trips, equity marks; the UTC day roll is read from an equity mark's time);
- how it is built: `setting`, the `Settings` field with its threshold (`from_settings`);
- how it persists: one serialisable record (`dump`/`load`, stored under `record_key`),
  written by the engine whenever the breaker sets `dirty`;
- how it resets: `counter_scope` says what its counters are kept per ("bot", "portfolio",
  or "day": rolled by the breaker itself at 00:00 UTC) and `reset` restarts them for what a
  human reset cleared. A trip itself is sticky: only a human reset clears it (the seeds:
  a breaker trip needs a human reset), so no breaker clears its own trip.

A breaker module registers its class with `@register` (registry.py); the package imports
every module in it, so adding a breaker is one file plus its threshold setting (with its
band in core.config.LIVE_PROFILE_BOUNDS: the registry refuses a breaker that observes
nothing the engine feeds, or whose threshold has no live-profile band).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from tradewarden.core.config import Settings
from tradewarden.state.keys import ScopedKey, breaker_key

PORTFOLIO = "portfolio"
TRADE = "trade"  # Observation kind: a round trip closed
EQUITY = "equity"  # Observation kind: an equity mark (a bot's, or the portfolio's)
MARK = "mark"  # Observation kind: a futures bot's mark price and its liquidation price
CounterScope = Literal["bot", "portfolio", "day"]


@dataclass(frozen=True, slots=True)
class Observation:
    """Something happened that a breaker may care about.

    kind "trade": a round trip closed for `bot` with realised `pnl`.
    kind "equity": `bot`'s equity is `equity` at `ts` (bot == "portfolio" for the total).
    kind "mark": `bot`'s futures position is marked at `price`; it would be liquidated at
    `liquidation` (0: flat).
    """

    kind: str
    bot: str
    ts: float
    pnl: float = 0.0
    equity: float = 0.0
    price: float = 0.0
    liquidation: float = 0.0


@dataclass(frozen=True, slots=True)
class Reading:
    breaker: str
    bot: str
    value: float
    threshold: float
    # a breaker that trips at value <= threshold (a distance that shrinks toward danger)
    inverted: bool = False
    # past the breaker's reduce level (below its trip): REDUCING, exposure cut (engine)
    reducing: bool = False

    @property
    def ratio(self) -> float:
        if self.inverted:
            return self.threshold / self.value if self.value > 0 else 1.0
        return self.value / self.threshold if self.threshold else 0.0

    @property
    def tripped(self) -> bool:
        if self.inverted:
            return self.value <= self.threshold
        return self.value >= self.threshold


class Breaker(ABC):
    """A breaker watches observations and reports readings; it trips at value >= threshold.

    `emergency` and `portfolio_scope` breakers always stop everything; a bot breaker's trip
    stops every bot too unless TRADEWARDEN_TRIP_SCOPE=bot (the engine decides, `halts_all`).
    """

    name: ClassVar[str] = ""
    emergency: ClassVar[bool] = False
    portfolio_scope: ClassVar[bool] = False
    observes: ClassVar[frozenset[str]] = frozenset()
    counter_scope: ClassVar[CounterScope] = "bot"
    setting: ClassVar[str] = ""  # the Settings field holding the threshold

    def __init__(self, threshold: float) -> None:
        self.threshold = float(threshold)
        # set by a breaker whose counters changed in a way a restart must not lose (the
        # engine persists its record at once and clears it)
        self.dirty = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Breaker:
        return cls(getattr(settings, cls.setting))

    @property
    def record_key(self) -> ScopedKey:
        """The store key of this breaker's one persisted record."""
        return breaker_key(self.name)

    @abstractmethod
    def observe(self, obs: Observation) -> Reading | None:
        """Update from one observation (one of `observes`); return the new reading."""

    @abstractmethod
    def readings(self) -> list[Reading]: ...

    @abstractmethod
    def dump(self) -> dict[str, Any]:
        """The record to persist so a restart resumes where it was (JSON-serialisable)."""

    @abstractmethod
    def load(self, data: dict[str, Any]) -> None:
        """Resume from a record `dump` wrote (empty: a fresh start)."""

    @abstractmethod
    def reset(self, key: str, *, rebase: bool) -> None:
        """A human reset cleared this breaker's trip on `key` (a bot, or "portfolio"):
        restart the counters a trip is measured from. `rebase`: measured quantities (peaks,
        the day-start equity) restart from the next mark too; without it they are kept."""

    def describe(self, r: Reading) -> str:
        return f"{self.name} {r.value:.4g} >= {r.threshold:.4g}"

    def describe_reduce(self, r: Reading) -> str:
        """Why a reading past the breaker's reduce level put trading in REDUCING."""
        return f"{self.name} {r.value:.4g}: reduceOnly orders only"
