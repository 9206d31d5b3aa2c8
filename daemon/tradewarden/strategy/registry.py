"""Strategy names usable in TRADEWARDEN_BOTS (`name:SYMBOL:strategy`)."""

from __future__ import annotations

from tradewarden.strategy.base import Strategy
from tradewarden.strategy.ma_cross import MaCross
from tradewarden.strategy.ma_cross_ls import MaCrossLongShort

STRATEGIES: dict[str, type[Strategy]] = {"ma_cross": MaCross, "ma_cross_ls": MaCrossLongShort}


def build_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]()
    except KeyError:
        known = ", ".join(sorted(STRATEGIES))
        raise ValueError(f"unknown strategy {name!r} (known: {known})") from None
