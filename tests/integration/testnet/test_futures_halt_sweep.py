"""A futures daemon's HALT cancels the open orders of every symbol of the account, not only
its own (issue 20): ``GET /fapi/v1/openOrders`` without a symbol, then each symbol that has
any cancelled. An open order on a symbol no bot trades is not ours: a security finding
(``security_event`` audit entry, critical ``foreign_order`` alert), as reconciliation
reports one. Against the fake's ``/fapi`` side with a real daemon (testnet mode)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.fakes.binance import FakeBinance
from tests.integration.daemon.helpers import status, tw, wait_for
from tests.integration.testnet.conftest import Running


def audit_entries(state: Path, kind: str) -> list[dict[str, Any]]:
    out = []
    for p in sorted((state / "audit").glob("*.jsonl")):
        for line in p.read_text().splitlines():
            rec = json.loads(line)
            if rec.get("event") == kind:
                out.append(rec)
    return out


def open_on(fx: FakeBinance, symbol: str) -> list[dict[str, Any]]:
    return [o for o in fx.futures_open_orders() if o["symbol"] == symbol]


def position(fx: FakeBinance, symbol: str = "BTCUSDT") -> float:
    (row,) = [r for r in fx.futures_positions() if r["symbol"] == symbol]
    return float(row["positionAmt"])


def foreign_alerts(state: Path, symbol: str) -> list[dict[str, Any]]:
    path = state / "alerts.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if rec.get("kind") == "foreign_order" and symbol in json.dumps(rec):
            out.append(rec)
    return out


def test_a_manual_halt_cancels_open_orders_on_every_symbol_and_reports_foreign_ones(
    ffx: FakeBinance, fdaemon: Callable[..., Running]
) -> None:
    # reconciliation only at start: the halt's sweep is what finds the other symbol's order
    d = fdaemon(TRADEWARDEN_RECONCILE_INTERVAL_SECONDS="3600")
    d.wait_ready()
    assert wait_for(lambda: position(ffx) != 0.0, timeout=120), "no position opened"
    # someone else rests an order on ETHUSDT, which no bot trades
    foreign = ffx.futures_foreign_order("ETHUSDT", "BUY", 0.05, price=1900.0)
    assert open_on(ffx, "ETHUSDT"), foreign
    tw(d.state, "halt", "--reason", "test: halt sweeps every symbol")
    assert wait_for(lambda: status(d.state)["state"] == "halted", timeout=30)
    assert wait_for(lambda: ffx.futures_open_orders() == [], timeout=30), ffx.futures_open_orders()
    # the positions closed with reduceOnly MARKET orders, as before
    assert wait_for(lambda: position(ffx) == 0.0, timeout=30)
    assert wait_for(lambda: foreign_alerts(d.state, "ETHUSDT"), timeout=30)
    (alert,) = foreign_alerts(d.state, "ETHUSDT")
    assert str(foreign["orderId"]) in json.dumps(alert)
    events = [
        e
        for e in audit_entries(d.state, "security_event")
        if e["data"].get("finding") == "orders on symbols no bot trades"
    ]
    assert len(events) == 1, events
    (order,) = events[0]["data"]["orders"]
    assert order["symbol"] == "ETHUSDT" and order["client_order_id"] == foreign["clientOrderId"]
    assert events[0]["data"]["cancelled"] == [foreign["clientOrderId"]]
    assert d.stop() == 0


def test_reconciliation_finding_an_order_on_another_symbol_halts_and_cancels_it(
    ffx: FakeBinance, fdaemon: Callable[..., Running]
) -> None:
    """The security halt (reconciliation's foreign order on a symbol no bot trades) used to
    cancel our symbols' orders only and left the foreign one resting."""
    d = fdaemon()
    d.wait_ready()
    ffx.futures_foreign_order("ETHUSDT", "SELL", 0.05, price=2100.0)
    assert wait_for(lambda: status(d.state)["state"] == "halted", timeout=30)
    assert wait_for(lambda: open_on(ffx, "ETHUSDT") == [], timeout=30), ffx.futures_open_orders()
    assert wait_for(lambda: foreign_alerts(d.state, "ETHUSDT"), timeout=30)
    assert d.stop() == 0
