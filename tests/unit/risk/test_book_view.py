"""The risk engine's book is read-only from outside: it changes only through the engine's
methods (issue 18, item 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradewarden.core.config import load_settings
from tradewarden.risk.engine import RiskEngine
from tradewarden.state.store import Store


@pytest.fixture()
def risk(tmp_path: Path, clean_env: None) -> RiskEngine:
    settings = load_settings(state_dir=tmp_path, bots="b1:BTCUSDT:ma_cross")
    return RiskEngine(settings, Store(settings.db_path, durable=False), ["b1"])


def test_the_book_cannot_be_changed_from_outside(risk: RiskEngine) -> None:
    book = risk.book
    with pytest.raises(AttributeError):
        book.free = {"USDT": 1e9}  # type: ignore[misc]
    with pytest.raises(AttributeError):
        book.open_orders = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        book.free["USDT"] = 1e9  # type: ignore[index]
    with pytest.raises(TypeError):
        book.positions[("b1", "BTCUSDT")] = 1.0  # type: ignore[index]
    with pytest.raises(AttributeError):
        book.unknown_symbols.add("BTCUSDT")  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        book.recent_orders.append(1.0)  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        risk.book = book  # type: ignore[misc]


def test_the_engine_methods_change_what_the_book_shows(risk: RiskEngine) -> None:
    book = risk.book  # a live view: taken once, it shows every later change
    risk.set_balances({"USDT": 100.0})
    risk.set_position("b1", "BTCUSDT", 0.5)
    risk.note_order_sent(1.0)
    risk.order_opened()
    risk.order_opened()
    risk.orders_closed(1)
    risk.block_symbol("BTCUSDT")
    assert dict(book.free) == {"USDT": 100.0}
    assert dict(book.positions) == {("b1", "BTCUSDT"): 0.5}
    assert book.recent_orders == (1.0,)
    assert book.open_orders == 1
    assert book.unknown_symbols == {"BTCUSDT"}
    risk.orders_closed(5)
    risk.unblock_symbols({"BTCUSDT"})
    risk.forget_recent_orders()
    assert book.open_orders == 0 and not book.unknown_symbols and book.recent_orders == ()
    risk.set_open_orders(3)
    assert book.open_orders == 3
