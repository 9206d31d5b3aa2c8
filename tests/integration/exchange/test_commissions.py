"""Commissions as Binance takes them (faqs_commission_faq.md): from the asset received, or
from BNB while BNB covers it; booked per fill, reconciled per asset, valued in P&L."""

from __future__ import annotations

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.exchange.conftest import intent
from tradewarden.core.config import Settings
from tradewarden.core.models import Fill, OrderStatus
from tradewarden.exchange import BinanceBroker, Reconciler, ReconcileReport
from tradewarden.state.store import Store
from tradewarden.trading.bot_ledger import Ledger

WITH_BNB = {
    "kind": False,
    "bnb_fees": True,
    "symbols": {
        "BTCUSDT": {"price": 30000.0, "tick": 0.01, "step": 0.00001, "min_notional": 5.0},
        "ETHUSDT": {"price": 2000.0, "tick": 0.01, "step": 0.0001, "min_notional": 5.0},
        "BNBUSDT": {"price": 600.0, "tick": 0.01, "step": 0.001, "min_notional": 5.0},
    },
    # enough BNB for one commission only: the next is taken from the coin received
    "balances": {"USDT": 10_000.0, "BTC": 0.0, "ETH": 0.0, "BNB": 0.0001},
}


def _book(store: Store, fills: list[Fill]) -> None:
    for f in fills:
        row = store.get_order(f.client_order_id)
        assert row is not None
        row.filled_qty += f.qty
        row.status = OrderStatus.FILLED if row.filled_qty >= row.qty - 1e-12 else row.status
        assert store.book_fill(f, row)


@pytest.mark.parametrize("fx", [WITH_BNB], indirect=True)
def test_bnb_commission_then_base_commission_when_bnb_runs_out(
    fx: FakeBinance, broker: BinanceBroker, store: Store, settings: Settings
) -> None:
    events: list[ReconcileReport] = []
    rec = Reconciler(broker, store, settings, events.append)
    assert rec.run_once().ok
    ledger = Ledger([("b1", "BTCUSDT")], 10_000.0)
    got: list[Fill] = []
    for _ in range(2):
        broker.submit(intent(store, qty=0.002))
        fills = broker.poll_fills()
        _book(store, fills)
        for f in fills:
            ledger.apply(f)
        got += fills
        report = rec.run_once()
        assert report.ok and report.balances_checked, report.summary()
    assert [f.commission_asset for f in got] == ["BNB", "BTC"]
    bnb, btc = got
    assert bnb.fee_base == 0.0 and bnb.fee == pytest.approx(bnb.commission * 600.0)
    assert btc.fee_base == pytest.approx(btc.commission)
    assert ledger.books["b1"].qty == pytest.approx(sum(fx.balances()["BTC"]))
    assert ledger.books["b1"].realized == pytest.approx(-(bnb.fee + btc.fee))
    assert events == []
