"""Adversarial review of issue 18 item 4: "adding a breaker is one file". The registry
must refuse a breaker file that would be switched off without anyone noticing: one that
observes nothing the engine feeds (the engine never calls it: it never trips), or one whose
threshold setting has no live-profile band (prod could set it to a never-tripping value)."""

from __future__ import annotations

from typing import Any

import pytest

from tradewarden.core.config import LIVE_PROFILE_BOUNDS
from tradewarden.risk.breakers import BREAKERS, Breaker, Observation, Reading, Registry
from tradewarden.risk.breakers.base import EQUITY, TRADE


class _Counting(Breaker):
    """A complete breaker apart from what each case leaves out."""

    def observe(self, obs: Observation) -> Reading | None:
        return Reading(self.name, obs.bot, 0.0, self.threshold)

    def readings(self) -> list[Reading]:
        return []

    def dump(self) -> dict[str, Any]:
        return {}

    def load(self, data: dict[str, Any]) -> None:
        return None

    def reset(self, key: str, *, rebase: bool) -> None:
        return None


def test_attack_a_breaker_that_observes_nothing_or_is_unbounded_in_prod_is_refused() -> None:
    reg = Registry()

    class ObservesNothing(_Counting):  # forgot `observes`: the engine would never call it
        name = "observes_nothing"
        setting = "max_consecutive_losses"

    class ObservesUnknown(_Counting):  # a kind no observation carries
        name = "observes_unknown"
        observes = frozenset({"fill"})
        setting = "max_consecutive_losses"

    class Unbounded(_Counting):  # a threshold prod may set to "never"
        name = "unbounded"
        observes = frozenset({TRADE})
        setting = "max_notional_per_order"

    assert "max_notional_per_order" not in LIVE_PROFILE_BOUNDS
    for cls in (ObservesNothing, ObservesUnknown, Unbounded):
        with pytest.raises(TypeError, match=cls.__name__):
            reg.register(order=1)(cls)
    assert reg.classes() == []

    class Fine(_Counting):
        name = "fine"
        observes = frozenset({EQUITY})
        setting = "max_bot_drawdown_pct"

    assert reg.register(order=1)(Fine) is Fine
    # and every seeded breaker passes the same rules
    for cls in BREAKERS.classes():
        Registry().register(order=1)(cls)
