"""Issue 13, defect 11: a promotion is bound to the bot's symbol, its parameters and the
whole strategy package (a change in zones.py invalidates it), checked where the live gate
checks it (`exchange_wiring.promotions`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tradewarden.strategy
from tradewarden.core.config import load_settings
from tradewarden.runtime.wiring import promotions
from tradewarden.secrets.factory import build_source
from tradewarden.state.store import Store

KEY = "promotion-key-for-the-binding-test"


def _history(db: Path) -> None:
    store = Store(db)
    try:
        equity = 10_000.0
        for i in range(110):
            pnl = 20.0 if i < 80 else -10.0
            equity += pnl
            store.record_trade("b1", "BTCUSDT", pnl, 1_700_000_000.0 + i * 3600)
            store.mark_equities(1_700_000_000.0 + i * 3600, {"b1": equity})
    finally:
        store.close()


@pytest.fixture()
def promoted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None) -> Path:
    from tradewarden.cli.main import app

    monkeypatch.setenv("TRADEWARDEN_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("TRADEWARDEN_PROMOTION_KEY", KEY)
    monkeypatch.setenv("TRADEWARDEN_BOTS", "b1:BTCUSDT:ma_cross")
    monkeypatch.setenv("TRADEWARDEN_SYMBOLS", "BTCUSDT,ETHUSDT")
    _history(load_settings().db_path)
    res = CliRunner().invoke(app, ["promote", "--bot", "b1"])
    assert res.exit_code == 0, res.output
    return tmp_path


def _checks() -> list[bool]:
    settings = load_settings()
    return [c.ok for c in promotions(settings, build_source(settings))]


def test_the_promotion_holds_for_what_was_promoted(promoted: Path) -> None:
    assert _checks() == [True]


def test_another_symbol_is_not_promoted(promoted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWARDEN_BOTS", "b1:ETHUSDT:ma_cross")
    assert _checks() == [False]


def test_a_change_anywhere_in_the_strategy_package_invalidates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    import tradewarden.live.promotion as promotion
    from tradewarden.cli.main import app

    pkg = tmp_path / "strategy"
    shutil.copytree(Path(tradewarden.strategy.__file__).parent, pkg)
    monkeypatch.setattr(promotion, "STRATEGY_PACKAGE", pkg)
    state = tmp_path / "state"
    monkeypatch.setenv("TRADEWARDEN_STATE_DIR", str(state))
    monkeypatch.setenv("TRADEWARDEN_PROMOTION_KEY", KEY)
    monkeypatch.setenv("TRADEWARDEN_BOTS", "b1:BTCUSDT:ma_cross")
    monkeypatch.setenv("TRADEWARDEN_SYMBOLS", "BTCUSDT")
    _history(load_settings().db_path)
    assert CliRunner().invoke(app, ["promote", "--bot", "b1"]).exit_code == 0
    assert _checks() == [True]
    zones = pkg / "zones.py"
    zones.write_text(zones.read_text().replace("Z5", "Z5 ", 1))  # the ATR bands' file
    assert _checks() == [False]
