"""Reconciliation's open-order listing and its REST weight (issue 19, streams mode): a
partial run lists the open orders per symbol (weight 6 each) and still finds every order
not ours on those symbols; a full run lists the whole account (weight 80) and also finds
one on a symbol we do not trade."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.exchange.conftest import intent
from tradewarden.core.config import Settings
from tradewarden.core.models import OrderType
from tradewarden.exchange import BinanceBroker, Reconciler
from tradewarden.state.store import Store

OPEN_ORDERS = "/api/v3/openOrders"


def open_order_requests(fx: FakeBinance, since: int) -> list[dict[str, Any]]:
    return [r for r in fx.requests()[since:] if r["path"] == OPEN_ORDERS]


def test_a_partial_run_lists_each_symbol_at_weight_6(
    fx: FakeBinance, broker: BinanceBroker, store: Store, settings: Settings
) -> None:
    rec = Reconciler(broker, store, settings, (events := []).append)
    rec.run_once()  # baseline
    mark = len(fx.requests())
    report = rec.run_once(full=False)
    assert report.ok and report.balances_checked, report.summary()
    calls = open_order_requests(fx, mark)
    assert [r["weight"] for r in calls] == [6, 6], calls  # BTCUSDT and ETHUSDT, not 80
    mark = len(fx.requests())
    assert rec.run_once().ok  # full (the default, and the polling loop's)
    assert [r["weight"] for r in open_order_requests(fx, mark)] == [80]
    assert events == []


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT"], ids=["btc", "eth"])
def test_a_partial_run_finds_a_foreign_order_on_every_configured_symbol(
    fx: FakeBinance, broker: BinanceBroker, store: Store, settings: Settings, symbol: str
) -> None:
    rec = Reconciler(broker, store, settings, (events := []).append)
    rec.run_once()
    price = 25000.0 if symbol == "BTCUSDT" else 1500.0
    foreign = fx.place_foreign_order(symbol, "BUY", 0.01, price)
    report = rec.run_once(full=False)
    assert not report.ok and report.action == "halt"
    assert [o.client_order_id for o in report.unknown_on_exchange] == [foreign["clientOrderId"]]
    assert events == [report]


def test_a_partial_run_also_lists_symbols_of_local_open_orders(
    fx: FakeBinance,
    make_broker: Callable[..., BinanceBroker],
    store: Store,
    settings: Settings,
) -> None:
    """An open order of ours on a symbol no longer configured is still listed (not asked
    about one by one, not judged missing)."""
    only_btc = settings.model_copy(update={"symbols": ("BTCUSDT",)})
    broker = make_broker(settings=only_btc)
    rec = Reconciler(broker, store, only_btc, (events := []).append)
    resting = intent(store, symbol="ETHUSDT", order_type=OrderType.LIMIT, price=1500.0, qty=0.01)
    broker.submit(resting)
    rec.run_once()
    mark = len(fx.requests())
    report = rec.run_once(full=False)
    assert report.ok, report.summary()
    assert [r["weight"] for r in open_order_requests(fx, mark)] == [6, 6]
    assert not [r for r in fx.requests()[mark:] if r["path"] == "/api/v3/order"]
    assert events == []


def test_only_a_full_run_sees_an_order_on_a_symbol_we_do_not_trade(
    fx: FakeBinance,
    make_broker: Callable[..., BinanceBroker],
    store: Store,
    settings: Settings,
) -> None:
    """Why the event-driven loop still runs full ones (after each user-stream connect, on a
    foreign order event, hourly): an order on another symbol of the account."""
    only_btc = settings.model_copy(update={"symbols": ("BTCUSDT",)})
    broker = make_broker(settings=only_btc)
    rec = Reconciler(broker, store, only_btc, (events := []).append)
    rec.run_once()
    foreign = fx.place_foreign_order("ETHUSDT", "BUY", 0.01, 1500.0)
    assert rec.run_once(full=False).ok  # BTCUSDT listed only (weight 6)
    report = rec.run_once(full=True)
    assert not report.ok and report.action == "halt"
    assert [o.client_order_id for o in report.unknown_on_exchange] == [foreign["clientOrderId"]]
    assert len(events) == 1


def test_the_account_wide_call_is_used_when_it_weighs_less(
    fx: FakeBinance,
    make_broker: Callable[..., BinanceBroker],
    store: Store,
    settings: Settings,
) -> None:
    """14 symbols at weight 6 (84) would cost more than the account-wide call (80)."""
    many = tuple(f"SYM{i}USDT" for i in range(12)) + ("BTCUSDT", "ETHUSDT")
    wide = settings.model_copy(update={"symbols": many})
    broker = make_broker(settings=wide)
    rec = Reconciler(broker, store, wide, (events := []).append)
    mark = len(fx.requests())
    rec.run_once(full=False)
    assert [r["weight"] for r in open_order_requests(fx, mark)] == [80]
    assert events == []
