"""The common breaker interface (shape borrowed from freqtrade's protections, but sticky)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

PORTFOLIO = "portfolio"


@dataclass(frozen=True, slots=True)
class Observation:
    """Something happened that a breaker may care about.

    kind "trade": a round trip closed for `bot` with realised `pnl`.
    kind "equity": `bot`'s equity is `equity` at `ts` (bot == "portfolio" for the total).
    """

    kind: str
    bot: str
    ts: float
    pnl: float = 0.0
    equity: float = 0.0


@dataclass(frozen=True, slots=True)
class Reading:
    breaker: str
    bot: str
    value: float
    threshold: float

    @property
    def ratio(self) -> float:
        return self.value / self.threshold if self.threshold else 0.0

    @property
    def tripped(self) -> bool:
        return self.value >= self.threshold


class Breaker(ABC):
    """A breaker watches observations and reports readings; it trips at value >= threshold.

    `emergency` and `portfolio_scope` breakers always stop everything; a bot breaker's trip
    stops every bot too unless TRADEWARDEN_TRIP_SCOPE=bot (the engine decides, `halts_all`).
    """

    name: str = ""
    emergency: bool = False
    portfolio_scope: bool = False

    def __init__(self, threshold: float) -> None:
        self.threshold = float(threshold)
        # set by a breaker whose counters changed in a way a restart must not lose (the
        # engine persists them at once and clears it)
        self.dirty = False

    @abstractmethod
    def observe(self, obs: Observation) -> Reading | None:
        """Update from one observation; return the new reading if this breaker cares."""

    @abstractmethod
    def readings(self) -> list[Reading]: ...

    @abstractmethod
    def dump(self) -> dict[str, Any]:
        """Counters to persist so a restart resumes where it was."""

    @abstractmethod
    def load(self, data: dict[str, Any]) -> None: ...

    def describe(self, r: Reading) -> str:
        return f"{self.name} {r.value:.4g} >= {r.threshold:.4g}"
