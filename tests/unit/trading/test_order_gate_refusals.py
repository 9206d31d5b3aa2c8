"""The order gate tells a refusal made before anything was sent (a symbol filter, a missing
intent: `core.errors.RefusedLocallyError`) from the exchange's answer: only the exchange's
code is reported (`Submission.exchange_code`, which the unusual-activity watch counts as
"refused by the exchange"). The gate knows this from the shared error type, not by
importing the exchange adapter (layering, issue 18)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradewarden.audit.chain import AuditLog
from tradewarden.core.config import load_settings
from tradewarden.core.models import OrderRequest, OrderStatus, Side, Tick
from tradewarden.exchange.errors import FilterReject, FilterRejectedError, IntentMissingError
from tradewarden.risk.engine import RiskEngine
from tradewarden.state.store import Store
from tradewarden.trading.broker import BrokerError
from tradewarden.trading.order_gate import OrderGate
from tradewarden.trading.paper_broker import PaperBroker


class RefusingBroker(PaperBroker):
    def __init__(self, exc: BrokerError) -> None:
        super().__init__({"USDT": 10_000.0})
        self.exc = exc

    def submit(self, req):
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (FilterRejectedError(FilterReject.MIN_NOTIONAL, "below 5 USDT"), None),
        (IntentMissingError("no PENDING intent"), None),
        (BrokerError("Account has insufficient balance", code=-2010), -2010),
    ],
)
def test_only_the_exchanges_code_is_reported(
    tmp_path: Path, clean_env: None, exc: BrokerError, code: int | None
) -> None:
    settings = load_settings(state_dir=tmp_path, bots="b1:BTCUSDT:ma_cross")
    store = Store(settings.db_path)
    audit = AuditLog(settings.audit_dir)
    try:
        broker = RefusingBroker(exc)
        broker.on_tick(Tick(1_767_571_200.0, "BTCUSDT", 50_000.0, 50_000.0, 50_000.0, 50_000.0, 1))
        risk = RiskEngine(settings, store, ["b1"])
        risk.set_balances(broker.balances())
        gate = OrderGate(risk, broker, store, audit)
        sub = gate.submit(OrderRequest(bot="b1", symbol="BTCUSDT", side=Side.BUY, qty=0.001), 5e4)
        assert sub.error and sub.exchange_code == code
        assert sub.order.status is OrderStatus.REJECTED
    finally:
        audit.close()
        store.close()
