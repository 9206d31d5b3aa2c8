"""Promotion records: only on a pass; signature and strategy-hash checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradewarden.paper_report import BotReport, evaluate
from tradewarden.promotion import PromotionError, is_promoted, promote
from tradewarden.secrets.value import Secret
from tradewarden.store import Store
from tradewarden.strategy.ma_cross import MaCross

KEY = Secret("promotion-hmac-key", "promotion")


def passing() -> BotReport:
    r = evaluate([3.0] * 80 + [-2.0] * 40, [100.0 + i for i in range(50)])
    return BotReport("b1", r.criteria, r.sharpe)


def failing() -> BotReport:
    r = evaluate([3.0] * 50, [100.0] * 5)  # only 50 trades
    return BotReport("b1", r.criteria, r.sharpe)


def test_promotion_only_when_all_criteria_pass(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    h = MaCross.code_hash()
    with pytest.raises(PromotionError, match="trades"):
        promote(store, KEY, failing(), "ma_cross", h, "alice")
    assert not is_promoted(store, KEY, "b1", "ma_cross", h).ok
    promote(store, KEY, passing(), "ma_cross", h, "alice")
    assert is_promoted(store, KEY, "b1", "ma_cross", h).ok


def test_changed_code_wrong_key_or_edited_record_invalidate(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    h = MaCross.code_hash()
    promote(store, KEY, passing(), "ma_cross", h, "alice")
    assert "changed" in is_promoted(store, KEY, "b1", "ma_cross", "0" * 64).reason
    assert "signature" in is_promoted(store, Secret("other"), "b1", "ma_cross", h).reason
    with store.tx() as db:
        db.execute("UPDATE promotions SET actor='mallory'")
    assert "signature" in is_promoted(store, KEY, "b1", "ma_cross", h).reason
