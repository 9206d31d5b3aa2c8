"""`tradewarden run` in testnet mode with TRADEWARDEN_FUTURES_ENABLED against the fake's
``/fapi`` side (issue 20): the futures gateway's start-up set-up (isolated margin, leverage,
refusals), reduceOnly on every reducing order, funding in P&L, a kill -9 during an order
resolved without a duplicate, and a position the daemon did not open caught by
reconciliation."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.daemon.helpers import db, status, tw, wait_for
from tests.integration.testnet.conftest import (
    Running,
    futures_ours,
    local_orders,
)

F_ORDER = {"path": "/fapi/v1/order", "method": "POST"}


def fposts(fx: FakeBinance) -> list[dict[str, Any]]:
    return [r for r in fx.requests() if r["method"] == "POST" and r["path"] == "/fapi/v1/order"]


ours = futures_ours


def filled(fx: FakeBinance) -> int:
    return sum(1 for o in ours(fx) if o["status"] == "FILLED")


def v2_row(fx: FakeBinance, symbol: str = "BTCUSDT") -> dict[str, Any]:
    (row,) = [r for r in fx.futures_positions() if r["symbol"] == symbol]
    return row


def exited(d: Running, timeout: float = 60) -> int:
    assert wait_for(lambda: d.proc.poll() is not None, timeout), "the daemon did not stop"
    return d.stop()


def audit_entries(state: Path, kind: str) -> list[dict[str, Any]]:
    out = []
    for p in sorted((state / "audit").glob("*.jsonl")):
        for line in p.read_text().splitlines():
            rec = json.loads(line)
            if rec.get("event") == kind:
                out.append(rec)
    return out


# ---------------------------------------------------------------- start-up set-up
def test_start_sets_isolated_margin_and_the_configured_leverage(
    ffx: FakeBinance, fdaemon: Callable[..., Running]
) -> None:
    assert v2_row(ffx)["marginType"] == "cross"  # the fake's default: CROSSED at 20x
    d = fdaemon()
    d.wait_ready()
    row = v2_row(ffx)
    assert (row["marginType"], row["leverage"]) == ("isolated", "2")
    assert status(d.state)["mode"] == "testnet"
    assert d.stop() == 0


def test_cross_margin_with_an_open_position_is_refused_at_start(
    ffx: FakeBinance, fdaemon: Callable[..., Running]
) -> None:
    ffx.futures_foreign_order("BTCUSDT", "BUY", 0.01)  # a cross position left by someone
    d = fdaemon()
    rc = exited(d)
    out = "".join(d.lines) + d.err
    assert rc == 2, out
    assert "BTCUSDT" in out and "cross margin" in out
    assert v2_row(ffx)["marginType"] == "cross", "the set-up changed a refused symbol"
    assert fposts(ffx) == [], "an order went out from a refused start"


def test_leverage_above_the_maximum_that_cannot_be_lowered_is_refused(
    ffx: FakeBinance, fdaemon: Callable[..., Running]
) -> None:
    # isolated at 20x with a position: Binance refuses to lower it (-4161)
    ffx.futures_set_symbol_config("BTCUSDT", margin_type="ISOLATED", leverage=20)
    ffx.futures_foreign_order("BTCUSDT", "BUY", 0.01)
    d = fdaemon()
    rc = exited(d)
    out = "".join(d.lines) + d.err
    assert rc == 2, out
    assert "BTCUSDT" in out and "TRADEWARDEN_FUTURES_MAX_LEVERAGE" in out and "20x" in out
    assert fposts(ffx) == []


# ---------------------------------------------------------------- trading
def reducing_orders(fx: FakeBinance) -> list[tuple[dict[str, Any], float]]:
    """Every filled order of ours with the position it met (replayed from the fake's
    records, oldest first) whose side is against that position: the reducing ones."""
    pos = 0.0
    out = []
    for o in sorted(ours(fx), key=lambda o: (o["updateTime"], o["orderId"])):
        qty = float(o["executedQty"])
        if not qty:
            continue
        signed = qty if o["side"] == "BUY" else -qty
        if pos and pos * signed < 0:
            out.append((o, pos))
        pos += signed
    return out


def test_every_reducing_order_is_reduce_only_and_no_order_flips_the_position(
    ffx: FakeBinance, fdaemon: Callable[..., Running]
) -> None:
    d = fdaemon()
    d.wait_ready()
    assert wait_for(lambda: len(reducing_orders(ffx)) >= 3, timeout=120), ffx.futures_orders()
    # a halt closes what is open with a reduceOnly MARKET order, like the strategy's exits
    tw(d.state, "halt", "--reason", "test: close on halt")
    assert wait_for(lambda: status(d.state)["state"] == "halted", timeout=30)
    assert wait_for(lambda: float(v2_row(ffx)["positionAmt"]) == 0.0, timeout=30)
    assert d.stop() == 0
    reducing = reducing_orders(ffx)
    assert len(reducing) >= 3
    for o, before in reducing:
        assert o["reduceOnly"] is True, (o, before)
        assert float(o["executedQty"]) <= abs(before) + 1e-9, "a reducing order flipped"
    entries = [o for o in ours(ffx) if o not in [r for r, _ in reducing]]
    assert entries and all(o["reduceOnly"] is False for o in entries)
    assert ffx.futures_liquidations() == []
    assert ffx.futures_open_orders() == []


def test_funding_is_booked_into_pnl_and_the_daily_loss_breaker(
    ffx: FakeBinance, fdaemon: Callable[..., Running]
) -> None:
    # the daily-loss limit at 1% (100 USDT of 10,000): funding alone crosses it
    d = fdaemon(MAX_DAILY_LOSS_PCT="0.01")
    d.wait_ready()
    assert wait_for(lambda: float(v2_row(ffx)["positionAmt"]) != 0.0, timeout=120)
    mark = float(v2_row(ffx)["markPrice"])
    ffx.futures_set_mark_price("BTCUSDT", mark)  # held still: no P&L but funding from here
    qty = float(v2_row(ffx)["positionAmt"])
    assert wait_for(lambda: status(d.state)["equity"] is not None, timeout=10)
    # ~15% of a ~1,000 USDT position from whichever side it holds: ~150 USDT paid, past
    # the daily-loss limit, well short of the liquidation-distance levels (2x isolated)
    ffx.futures_set_funding_rate(0.15 if qty > 0 else -0.15, "BTCUSDT")
    ffx.futures_fund_now()
    paid = sum(float(i["income"]) for i in ffx.futures_income() if i["incomeType"] == "FUNDING_FEE")
    assert paid < -100
    assert wait_for(lambda: audit_entries(d.state, "futures_funding"), timeout=60)
    assert wait_for(lambda: status(d.state)["state"] == "halted", timeout=30), status(d.state)
    st = status(d.state)
    assert "daily loss" in st["state_reason"], st
    assert d.stop() == 0
    booked = audit_entries(d.state, "futures_funding")
    assert sum(float(e["data"]["amount"]) for e in booked) == pytest.approx(paid)
    tripped = audit_entries(d.state, "breaker_tripped")
    assert [e["data"].get("breaker") for e in tripped] == ["daily_loss"], tripped
    assert ffx.futures_liquidations() == []
    # a restart keeps the funding in P&L (the ledger is rebuilt from fills plus it)
    again = fdaemon(d.state)
    assert wait_for(
        lambda: status(d.state).get("daemon_running") and status(d.state).get("ticks"), 60
    ), again.stop_output()
    booked_after = status(d.state)["equity"]["bots"]["f1"]["funding"]
    assert booked_after == pytest.approx(paid)
    assert status(d.state)["state"] == "halted"
    assert again.stop() == 0


@pytest.mark.parametrize(
    "fault",
    [{"kind": "timeout_after_accept", "ms": 60000}, {"kind": "error_after_accept", "status": 503}],
    ids=["timeout", "5xx"],
)
def test_kill_9_with_a_futures_order_unanswered_leaves_exactly_one_order(
    ffx: FakeBinance, fdaemon: Callable[..., Running], fault: dict[str, Any]
) -> None:
    # the next order is booked by the exchange but answered by a timeout or a 5xx, and the
    # daemon cannot ask about it either: it is killed with that order UNKNOWN
    params = {k: v for k, v in fault.items() if k != "kind"}
    ffx.fault(fault["kind"], **params, **F_ORDER)
    ffx.fault("drop_connection", path="/fapi/v1/order", method="GET", count=None)
    d = fdaemon()
    d.wait_ready()
    assert wait_for(lambda: len(ours(ffx)) == 1, timeout=120)
    (cid,) = [o["clientOrderId"] for o in ours(ffx)]
    assert wait_for(lambda: local_orders(d.state)[cid]["status"] in ("PENDING", "UNKNOWN"), 30)
    d.stop(signal.SIGKILL)
    ffx.clear_faults()
    again = fdaemon(d.state)
    again.wait_ready()
    assert wait_for(lambda: filled(ffx) >= 3, timeout=120)
    assert again.stop() == 0
    remote = [o["clientOrderId"] for o in ours(ffx)]
    assert len(remote) == len(set(remote)), remote
    local = local_orders(d.state)
    assert local[cid]["status"] == "FILLED"
    for c in remote:
        assert local[c]["status"] not in ("PENDING", "UNKNOWN", "EXPIRED"), local[c]
    assert len(fposts(ffx)) == len(remote), "an order was sent twice (resent blind)"
    with db(d.state) as con:
        booked = sorted(r["trade_id"] for r in con.execute("SELECT trade_id FROM fills"))
    assert booked == sorted(f"{t['symbol']}:{t['id']}" for t in ffx.futures_trades())


def test_a_position_the_daemon_did_not_open_is_a_security_event(
    ffx: FakeBinance, fdaemon: Callable[..., Running]
) -> None:
    d = fdaemon()
    d.wait_ready()
    time.sleep(1.5)  # a settled reconciliation has run
    ffx.futures_foreign_order("BTCUSDT", "BUY", 0.05)
    assert wait_for(lambda: status(d.state)["state"] == "halted", timeout=30), status(d.state)
    st = status(d.state)
    assert "BTCUSDT position" in st["state_reason"], st
    n = len(ours(ffx))
    time.sleep(2)
    assert len(ours(ffx)) == n, "orders went out after the security event"
    assert d.stop() == 0
    alerts = (d.state / "alerts.jsonl").read_text()
    assert "system_error" in alerts and "critical" in alerts
    assert tw(d.state, "audit", "verify").returncode == 0
    events = audit_entries(d.state, "security_event")
    assert events and "BTCUSDT position" in json.dumps(events)


def test_the_liquidation_distance_breaker_acts_on_the_mark_price_with_reduce_only(
    ffx: FakeBinance, fdaemon: Callable[..., Running]
) -> None:
    d = fdaemon()
    d.wait_ready()
    assert wait_for(lambda: float(v2_row(ffx)["positionAmt"]) != 0.0, timeout=120)
    row = v2_row(ffx)
    qty, liq = float(row["positionAmt"]), float(row["liquidationPrice"])
    assert liq > 0
    # the mark 25% of itself from the liquidation price: inside the reduce level (30%),
    # outside the flatten level (15%)
    ffx.futures_set_mark_price("BTCUSDT", round(liq / 0.75 if qty > 0 else liq / 1.25, 1))
    assert wait_for(lambda: audit_entries(d.state, "futures_reduce"), timeout=30)
    (reduce,) = audit_entries(d.state, "futures_reduce")[:1]
    assert reduce["data"]["reduce_only"] is True and reduce["data"]["accepted"] is True
    assert wait_for(lambda: status(d.state)["state"] in ("reducing", "halted"), timeout=10)
    assert wait_for(lambda: abs(float(v2_row(ffx)["positionAmt"])) < abs(qty), timeout=10)
    n = len(ours(ffx))
    time.sleep(1.5)
    new = ours(ffx)[n:]
    assert all(o["reduceOnly"] is True for o in new), "an entry while REDUCING"
    assert d.stop() == 0
    for o, before in reducing_orders(ffx):
        assert o["reduceOnly"] is True, (o, before)
    assert ffx.futures_liquidations() == []


def test_the_flatten_level_halts_and_closes_with_reduce_only_market(
    ffx: FakeBinance, fdaemon: Callable[..., Running]
) -> None:
    d = fdaemon()
    d.wait_ready()
    assert wait_for(lambda: float(v2_row(ffx)["positionAmt"]) != 0.0, timeout=120)
    row = v2_row(ffx)
    qty, liq = float(row["positionAmt"]), float(row["liquidationPrice"])
    # the mark 10% of itself from the liquidation price: past the flatten level (15%)
    ffx.futures_set_mark_price("BTCUSDT", round(liq / 0.9 if qty > 0 else liq / 1.1, 1))
    assert wait_for(lambda: status(d.state)["state"] == "halted", timeout=30), status(d.state)
    assert "from the liquidation price" in status(d.state)["state_reason"]
    assert wait_for(lambda: float(v2_row(ffx)["positionAmt"]) == 0.0, timeout=30)
    n = len(ours(ffx))
    time.sleep(1.5)
    assert len(ours(ffx)) == n, "orders went out after the emergency stop"
    assert d.stop() == 0
    closes = reducing_orders(ffx)
    assert closes and all(o["reduceOnly"] is True and o["type"] == "MARKET" for o, _ in closes)
    assert ffx.futures_liquidations() == []
    assert ffx.futures_open_orders() == []
    tripped = audit_entries(d.state, "breaker_tripped")
    assert [e["data"].get("breaker") for e in tripped] == ["liquidation_distance"], tripped


def test_money_moved_out_of_the_futures_wallet_is_a_security_event(
    ffx: FakeBinance, fdaemon: Callable[..., Running]
) -> None:
    d = fdaemon()
    d.wait_ready()
    # trading (fills, commissions, realized P&L) and funding are explained by our record
    assert wait_for(lambda: len(reducing_orders(ffx)) >= 1, timeout=120)
    assert wait_for(lambda: float(v2_row(ffx)["positionAmt"]) != 0.0, timeout=120)
    ffx.futures_set_funding_rate(0.05, "BTCUSDT")  # ~50 USDT: past the balance tolerance
    ffx.futures_fund_now()
    (funding,) = [i for i in ffx.futures_income() if i["incomeType"] == "FUNDING_FEE"]
    assert abs(float(funding["income"])) > 20
    time.sleep(3)  # reconciled (every second) with the funding in the wallet
    assert status(d.state)["state"] == "active", status(d.state)
    # a transfer out of the futures wallet, not through the daemon
    wallet = float(ffx.futures_account()["totalWalletBalance"])
    ffx.futures_set_balance(wallet - 500.0)
    assert wait_for(lambda: status(d.state)["state"] == "halted", timeout=30), status(d.state)
    assert "USDT wallet" in status(d.state)["state_reason"]
    assert d.stop() == 0
    alerts = (d.state / "alerts.jsonl").read_text()
    assert "system_error" in alerts and "critical" in alerts
