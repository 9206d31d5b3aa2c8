"""The strategy interface."""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass
from typing import ClassVar

from tradewarden.core.models import Side, Tick


@dataclass(frozen=True, slots=True)
class Signal:
    side: Side
    zone: int  # volatility zone Z1..Z5 at the signal (see strategy/zones.py)
    directional: bool  # True for an entry that adds exposure, False for an exit
    reason: str


class Strategy:
    """Subclass and implement `on_tick`. One instance per bot."""

    name: ClassVar[str] = "base"

    def on_tick(self, tick: Tick, position_qty: float) -> Signal | None:
        raise NotImplementedError

    @classmethod
    def code_hash(cls) -> str:
        """SHA-256 of the strategy's source: a promotion is valid for this exact code."""
        return hashlib.sha256(inspect.getsource(cls).encode()).hexdigest()
