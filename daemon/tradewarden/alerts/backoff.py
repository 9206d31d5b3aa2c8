"""Retry delays: exponential with jitter, capped (5 minutes by default), never giving up."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """``delay(n)`` after the n-th failed attempt lies in ``[h/2, h]``.

    ``h = min(cap, base * 2**(n-1))``.

    Like tenacity's ``wait_random_exponential`` but with a floor of half the window, so a
    string of unlucky draws cannot turn into a tight retry loop against a dead service.
    """

    base: float = 2.0
    cap: float = 300.0

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base:
            raise ValueError("back-off needs 0 < base <= cap")

    def window(self, attempts: int) -> float:
        exponent = min(max(attempts, 1) - 1, 60)  # 2**60 is far past any cap
        return min(self.cap, self.base * 2.0**exponent)

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        high = self.window(attempts)
        draw = (rng or random).uniform(0.0, high / 2)
        return high / 2 + draw
