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


def test_attack_two_breakers_with_one_order_are_refused(clean_env, tmp_path) -> None:
    """The registry order is the order breakers see an observation in, and so which reason
    a mark that trips two of them leaves as the state's: with a tie it would depend on the
    order their files happen to be imported in. A tie is refused."""
    from tradewarden.core.config import load_settings
    from tradewarden.risk.breakers import DailyLoss, PortfolioDrawdown
    from tradewarden.risk.breakers.base import PORTFOLIO
    from tradewarden.risk.engine import RiskEngine
    from tradewarden.state.store import Store

    def reason_kept(first: type[Breaker], second: type[Breaker]) -> str:
        reg = Registry()
        reg.register(order=20)(first)
        reg.register(order=20)(second)
        settings = load_settings(state_dir=tmp_path / first.name)
        store = Store(settings.db_path)
        try:
            risk = RiskEngine(settings, store, ["b1"], registry=reg)
            risk.observe(Observation(EQUITY, PORTFOLIO, 1_767_571_200.0, equity=10_000.0))
            risk.observe(Observation(EQUITY, PORTFOLIO, 1_767_571_260.0, equity=5_000.0))
            return risk.state_reason
        finally:
            store.close()

    with pytest.raises(ValueError, match="order 20"):
        kept = {
            reason_kept(DailyLoss, PortfolioDrawdown),
            reason_kept(PortfolioDrawdown, DailyLoss),
        }
        assert len(kept) == 1, f"the reason kept depends on import order: {kept}"
    orders = [o for o, _cls in BREAKERS._classes.values()]
    assert len(orders) == len(set(orders))
