"""Trading state: ACTIVE trades normally, REDUCING only shrinks exposure, HALTED sends nothing."""

from __future__ import annotations

from enum import IntEnum


class TradingState(IntEnum):
    ACTIVE = 0
    REDUCING = 1
    HALTED = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> TradingState:
        return cls[text.upper()]
