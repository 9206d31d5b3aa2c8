"""Issue 13 defect 4: a HALT must never come back as REDUCING. A second, milder halt
(`halt --reducing`, or a shared-account foreign-order finding after a key-permission halt)
left HALTED in memory but REDUCING in SQLite, so the next start came up REDUCING. The
persisted state is never lowered except by `reset`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.builders import TWO_BOTS, make_risk, make_settings
from tradewarden.risk.state import TradingState
from tradewarden.state.store import Store


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
    settings = make_settings(tmp_path, bots=TWO_BOTS)
    store = Store(settings.db_path)
    try:
        risk = make_risk(settings, store)
        risk.halt(*first)
        risk.halt(*second, reducing=True)
        assert risk.state is TradingState.HALTED
        restarted = make_risk(settings, store)  # what the next start builds
        assert restarted.state is TradingState.HALTED, restarted.state_reason
        assert first[0] in restarted.state_reason
    finally:
        store.close()


def test_reducing_then_halt_is_halted_after_a_restart(tmp_path: Path, clean_env: None) -> None:
    settings = make_settings(tmp_path, bots=TWO_BOTS)
    store = Store(settings.db_path)
    try:
        risk = make_risk(settings, store)
        risk.halt("pause", "alice@host", reducing=True)
        assert make_risk(settings, store).state is TradingState.REDUCING
        risk.halt("stop", "bob@host")
        assert make_risk(settings, store).state is TradingState.HALTED
    finally:
        store.close()
