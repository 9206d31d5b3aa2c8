"""`tradewarden promote`: refused with the failing criteria, recorded (signed) when every
criterion passes, and the promoted bot restarts at the reduced size."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.daemon.helpers import status, tw
from tradewarden.state.store import Store

pytestmark = pytest.mark.usefixtures("clean_env")
KEY = {"TRADEWARDEN_PROMOTION_KEY": "promotion-key-for-the-cli-test"}
BOT = {"TRADEWARDEN_BOTS": "b1:BTCUSDT:ma_cross", "TRADEWARDEN_SYMBOLS": "BTCUSDT"}


def history(state: Path, wins: int, losses: int) -> None:
    store = Store(state / "tradewarden.sqlite3")
    try:
        equity = 10_000.0
        for i in range(wins + losses):
            pnl = 20.0 if i % (wins + losses) < wins else -10.0
            equity += pnl
            store.record_trade("b1", "BTCUSDT", pnl, 1_700_000_000.0 + i * 3600)
            store.mark_equities(1_700_000_000.0 + i * 3600, {"b1": equity})
    finally:
        store.close()


def test_promotion_refused_names_the_failing_criteria(tmp_path: Path) -> None:
    state = tmp_path / "state"
    history(state, wins=50, losses=10)  # 60 trades: fewer than the seed's 100
    proc = tw(state, "promote", "--bot", "b1", **KEY, **BOT)
    assert proc.returncode == 1
    assert "does not meet the promotion criteria" in proc.stderr and "trades" in proc.stderr
    assert status(state, **BOT)["size_factor"] == 1.0  # nothing changed


def test_promotion_recorded_and_the_bot_restarts_small(tmp_path: Path) -> None:
    state = tmp_path / "state"
    history(state, wins=80, losses=30)
    proc = tw(state, "promote", "--bot", "b1", **KEY, **BOT)
    assert proc.returncode == 0, proc.stderr
    assert "promotion #1 recorded for b1" in proc.stdout
    assert status(state, **BOT)["size_factor"] == 0.25
    missing_key = tw(state, "promote", "--bot", "b1", **BOT)
    assert missing_key.returncode == 2 and "TRADEWARDEN_PROMOTION_KEY" in missing_key.stderr
