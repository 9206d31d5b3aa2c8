"""Promotion records: only on a pass; signature and strategy-hash checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradewarden.live.paper_report import BotReport, evaluate
from tradewarden.live.promotion import Binding, PromotionError, binding, is_promoted, promote
from tradewarden.secrets.value import Secret
from tradewarden.state.store import Store

KEY = Secret("promotion-hmac-key", "promotion")


def passing() -> BotReport:
    r = evaluate([3.0] * 80 + [-2.0] * 40, [100.0 + i for i in range(50)])
    return BotReport("b1", r.criteria, r.sharpe)


def failing() -> BotReport:
    r = evaluate([3.0] * 50, [100.0] * 5)  # only 50 trades
    return BotReport("b1", r.criteria, r.sharpe)


def test_promotion_only_when_all_criteria_pass(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    b = binding("b1", "BTCUSDT", "ma_cross")
    with pytest.raises(PromotionError, match="trades"):
        promote(store, KEY, failing(), b, "alice")
    assert not is_promoted(store, KEY, b).ok
    promote(store, KEY, passing(), b, "alice")
    assert is_promoted(store, KEY, b).ok


def test_changed_code_wrong_key_or_edited_record_invalidate(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    b = binding("b1", "BTCUSDT", "ma_cross")
    promote(store, KEY, passing(), b, "alice")
    changed = Binding(b.bot, b.symbol, b.strategy, b.params, "0" * 64)
    assert "changed" in is_promoted(store, KEY, changed).reason
    assert "signature" in is_promoted(store, Secret("other"), b).reason
    with store.tx() as db:
        db.execute("UPDATE promotions SET actor='mallory'")
    assert "signature" in is_promoted(store, KEY, b).reason


def test_symbol_and_parameters_are_bound(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    b = binding("b1", "BTCUSDT", "ma_cross")
    assert b.params == {"fast": 5, "slow": 20}
    promote(store, KEY, passing(), b, "alice")
    eth = Binding(b.bot, "ETHUSDT", b.strategy, b.params, b.package_hash)
    assert "ETHUSDT" in is_promoted(store, KEY, eth).reason
    slower = Binding(b.bot, b.symbol, b.strategy, {"fast": 5, "slow": 50}, b.package_hash)
    assert "parameters" in is_promoted(store, KEY, slower).reason
    with store.tx() as db:  # rebinding the record to another symbol breaks its signature
        db.execute("UPDATE promotions SET binding=replace(binding, 'BTCUSDT', 'ETHUSDT')")
    assert "signature" in is_promoted(store, KEY, eth).reason


def test_a_record_from_before_the_binding_is_not_valid(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    with store.tx() as db:  # the bf1cd40 table and an old record, validly signed then
        db.execute(
            "CREATE TABLE promotions (id INTEGER PRIMARY KEY AUTOINCREMENT, bot TEXT NOT NULL,"
            " strategy TEXT NOT NULL, code_hash TEXT NOT NULL, ts REAL NOT NULL,"
            " actor TEXT NOT NULL, report TEXT NOT NULL, signature TEXT NOT NULL)"
        )
        db.execute(
            "INSERT INTO promotions (bot, strategy, code_hash, ts, actor, report, signature)"
            " VALUES ('b1', 'ma_cross', 'x', 1.0, 'alice', '{}', 'sig')"
        )
    assert (
        "promote it again" in is_promoted(store, KEY, binding("b1", "BTCUSDT", "ma_cross")).reason
    )
