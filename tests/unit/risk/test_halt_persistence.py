"""Issue 13 defect 4: a HALT must never come back as REDUCING. A second, milder halt
(`halt --reducing`, or a shared-account foreign-order finding after a key-permission halt)
left HALTED in memory but REDUCING in SQLite, so the next start came up REDUCING. The
persisted state is never lowered except by `reset`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradewarden.core.config import load_settings
from tradewarden.risk.engine import RiskEngine
from tradewarden.risk.state import TradingState
from tradewarden.state.store import Store

BOTS = ["b1", "b2"]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("operator stop", "alice@host"), ("pause instead", "bob@host")),  # halt, halt --reducing
        (
            ("key gained withdrawal rights", "key-permission check"),
            ("foreign order on a shared account", "reconciliation"),
        ),
    ],
    ids=["halt-then-reducing", "key-permission-then-shared-account-finding"],
)
def test_a_milder_second_halt_never_lowers_the_persisted_state(
    tmp_path: Path, clean_env: None, first: tuple[str, str], second: tuple[str, str]
) -> None:
    settings = load_settings(state_dir=tmp_path, bots="b1:BTCUSDT:ma_cross,b2:ETHUSDT:ma_cross")
    store = Store(settings.db_path)
    try:
        risk = RiskEngine(settings, store, BOTS)
        risk.halt(*first)
        risk.halt(*second, reducing=True)
        assert risk.state is TradingState.HALTED
        restarted = RiskEngine(settings, store, BOTS)  # what the next start builds
        assert restarted.state is TradingState.HALTED, restarted.state_reason
        assert first[0] in restarted.state_reason
    finally:
        store.close()


def test_reducing_then_halt_is_halted_after_a_restart(tmp_path: Path, clean_env: None) -> None:
    settings = load_settings(state_dir=tmp_path, bots="b1:BTCUSDT:ma_cross,b2:ETHUSDT:ma_cross")
    store = Store(settings.db_path)
    try:
        risk = RiskEngine(settings, store, BOTS)
        risk.halt("pause", "alice@host", reducing=True)
        assert RiskEngine(settings, store, BOTS).state is TradingState.REDUCING
        risk.halt("stop", "bob@host")
        assert RiskEngine(settings, store, BOTS).state is TradingState.HALTED
    finally:
        store.close()
