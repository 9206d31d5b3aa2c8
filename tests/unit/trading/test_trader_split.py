"""The trader's parts the event-driven loop uses (issue 19): `book_fills` (every fill source:
polled, streamed, found by reconciliation) books a trade once; `on_price` marks and shows
equity to the breakers but never lets a strategy decide; `update_balances` merges."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.builders import PRICES, T0, PaperWorld, paper_world
from tradewarden.core.models import Fill, OrderRequest, OrderType, Side, Tick
from tradewarden.strategy.ma_cross import MaCross


@pytest.fixture()
def world(tmp_path: Path, clean_env: None) -> Iterator[PaperWorld]:
    w = paper_world(
        tmp_path,
        prices=PRICES,
        bots=("b1:BTCUSDT:ma_cross",),
        symbols=("BTCUSDT",),
        max_bot_drawdown_pct=0.05,
    )
    yield w
    w.close()


def bought(w: PaperWorld, qty: float = 0.02) -> list[Fill]:
    """A market buy through the order gate; its fills as the broker reports them."""
    req = OrderRequest("b1", "BTCUSDT", Side.BUY, qty, order_type=OrderType.MARKET)
    sub = w.gate.submit(req, PRICES["BTCUSDT"])
    assert sub.accepted, sub
    fills = w.broker.poll_fills()
    assert fills
    return fills


def test_a_fill_from_two_sources_is_booked_once(world: PaperWorld) -> None:
    fills = bought(world)
    world.trader.book_fills(fills)  # from the stream
    world.trader.book_fills([replace(f) for f in fills])  # and found again by the REST check
    assert len(world.store.fills()) == len(fills)
    assert world.ledger.books["b1"].qty == pytest.approx(sum(f.qty for f in fills))
    assert world.risk.book.open_orders == 0


def test_book_fills_reads_balances_unless_they_are_streamed(world: PaperWorld) -> None:
    world.trader.balances_streamed = True
    fills = bought(world)
    world.risk.set_balances({"USDT": 9_000.0})
    world.trader.book_fills(fills)
    # not read again: what the buy spent is taken off (it could be spent twice otherwise),
    # what it brought in waits for the balance event
    spent = sum(
        f.qty * f.price + (f.commission if f.commission_asset == "USDT" else 0.0) for f in fills
    )
    assert spent > 0
    assert dict(world.risk.book.free) == {"USDT": pytest.approx(9_000.0 - spent)}
    world.trader.update_balances({"BTC": (0.5, 0.0), "USDT": (8_000.0, 0.0)}, event_ms=1)
    assert dict(world.risk.book.free) == {"BTC": 0.5, "USDT": 8_000.0}, "the event sets them"
    world.trader.balances_streamed = False
    world.risk.set_balances({"USDT": 9_000.0})
    fills = bought(world)
    world.risk.set_balances({"USDT": 1.0})
    world.trader.book_fills(fills)
    assert world.risk.book.free["BTC"] > 0, "read again from the broker"


def test_a_price_marks_and_trips_but_never_decides(world: PaperWorld) -> None:
    world.trader.book_fills(bought(world, qty=0.03))
    strategy = world.trader.bots[0].strategy
    assert isinstance(strategy, MaCross)
    ticks = world.trader.ticks
    world.trader.on_price("BTCUSDT", PRICES["BTCUSDT"] * 0.4, T0 + 60)  # a crash
    assert world.trader.ticks == ticks
    assert list(strategy.closes) == [], "the strategy saw nothing"
    assert world.trader.prices["BTCUSDT"] == PRICES["BTCUSDT"] * 0.4
    tripped = {r["breaker"] for r in world.store.tripped()}
    assert "bot_drawdown" in tripped, tripped


def test_warm_feeds_strategies_without_orders(world: PaperWorld) -> None:
    strategy = world.trader.bots[0].strategy
    assert isinstance(strategy, MaCross)
    p = PRICES["BTCUSDT"]
    for i in range(40):  # a cross up would be a BUY signal
        px = p * (1 + 0.01 * (i - 20) / 20) if i >= 20 else p * (1 - 0.002 * i)
        world.trader.warm(Tick(T0 + i, "BTCUSDT", px, px, px, px, 1.0))
    assert len(strategy.closes) == strategy.slow
    assert world.store.open_orders() == [] and world.store.fills() == []
    assert world.trader.ticks == 0


def test_balance_events_merge_into_the_known_balances(world: PaperWorld) -> None:
    world.risk.set_balances({"USDT": 100.0, "BTC": 1.0})
    world.trader.update_balances({"BTC": (0.0, 0.5), "ETH": (0.0, 0.0), "BNB": (2.0, 0.0)})
    assert dict(world.risk.book.free) == {"USDT": 100.0, "BTC": 0.0, "BNB": 2.0}
    world.trader.update_balances({"BTC": (0.0, 0.0)})
    assert "BTC" not in world.risk.book.free
