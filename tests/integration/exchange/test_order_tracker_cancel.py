"""A cancel of a partly filled order keeps its row open until the fills are booked
(issue 18, item 3: every order-row change goes through the order tracker).

Before the tracker, the order gate wrote the exchange's CANCELED over the row the gateway
had kept open for the unbooked fill, so the fill poller (which looks at open rows only)
never fetched that fill: the position and the balance check went wrong.
"""

from __future__ import annotations

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.exchange.conftest import intent
from tests.integration.exchange.test_unknown_outcomes import THIN
from tradewarden.audit.chain import AuditLog
from tradewarden.core.config import Settings
from tradewarden.core.models import OrderStatus, OrderType
from tradewarden.exchange import BinanceBroker
from tradewarden.risk.engine import RiskEngine
from tradewarden.state.store import Store
from tradewarden.trading.order_gate import OrderGate
from tradewarden.trading.order_tracker import tracker_for


@pytest.mark.parametrize("fx", [{"kind": False, "symbols": THIN}], indirect=True)
def test_cancelled_after_a_partial_fill_the_fill_is_still_fetched_and_booked(
    fx: FakeBinance, broker: BinanceBroker, store: Store, settings: Settings
) -> None:
    audit = AuditLog(settings.audit_dir, store=store)
    gate = OrderGate(RiskEngine(settings, store, ["b1", "b2"]), broker, store, audit)
    req = intent(store, order_type=OrderType.LIMIT, price=29000.0, qty=0.0025)
    broker.submit(req)
    fx.set_price("BTCUSDT", 28999.0)  # crossed: 0.001 fills on the exchange, not polled yet
    (cancelled,) = gate.cancel_all(["BTCUSDT"], reason="test")
    assert cancelled.status is OrderStatus.CANCELED
    assert cancelled.filled_qty == pytest.approx(0.001)
    row = store.get_order(req.client_order_id)
    assert row is not None and row.status.is_open  # open until its fill is booked
    assert row.filled_qty == 0.0  # fill state only from booked fills
    fills = broker.poll_fills()
    assert [f.qty for f in fills] == [pytest.approx(0.001)]
    for f in fills:
        assert tracker_for(store).process_trade_update(f).booked
    assert broker.poll_fills() == []  # the next poll writes the exchange's final status
    row = store.get_order(req.client_order_id)
    assert row is not None and row.status is OrderStatus.CANCELED
    assert row.filled_qty == pytest.approx(0.001)
    audit.close()
