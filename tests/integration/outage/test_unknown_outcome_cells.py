"""Outage cells where an order's outcome is unknown (issue 14): Binance booked the order
but the answer was a 503 HTML page, a -1007 "execution status unknown" (on a 4xx), or
reads do not show the order for seconds after a 503. Each cell: exactly one order on the
exchange, booked once, never resent, and trading goes on. One daemon run walks the cells.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fakes.binance import FakeBinance
from tests.integration.daemon.helpers import wait_for
from tests.integration.outage.conftest import Deps, daemon_extra, query
from tests.integration.testnet.conftest import Running, assert_one_to_one, local_orders, posts

ORDER = {"path": "/api/v3/order", "method": "POST"}


def unknown_outcome_cell(
    d: Running, fx: FakeBinance, name: str, faults: list[tuple[str, dict[str, Any]]]
) -> str:
    """Arm `faults` for the next order placement; that order ends FILLED, once on the
    exchange, its fills booked once, no second POST for it; a later order goes out."""
    t_ms = fx.server_time_ms()
    for kind, params in faults:
        fx.fault(kind, count=1, **ORDER, **params)
    assert wait_for(lambda: any(o["time"] >= t_ms for o in fx.orders()), 60), f"{name}: no order"
    first = min((o for o in fx.orders() if o["time"] >= t_ms), key=lambda o: o["orderId"])
    cid = first["clientOrderId"]

    def settled() -> bool:
        row = local_orders(d.state).get(cid)
        return row is not None and row["status"] == "FILLED"

    assert wait_for(settled, 60), f"{name}: {local_orders(d.state).get(cid)}"
    fired = fx.stats()["faults_fired"]
    assert all(fired.get(kind, 0) >= 1 for kind, _ in faults), fired
    assert [o["clientOrderId"] for o in fx.orders()].count(cid) == 1, f"{name}: resent"
    trades = {f"BTCUSDT:{t['id']}" for t in fx.trades() if t["orderId"] == first["orderId"]}
    booked = [
        r["trade_id"]
        for r in query(d.state, "SELECT trade_id FROM fills WHERE client_order_id=?", (cid,))
    ]
    assert sorted(booked) == sorted(trades), f"{name}: booked {booked}, exchange {trades}"
    after = fx.server_time_ms()
    assert wait_for(lambda: any(o["time"] > after for o in fx.orders()), 60), (
        f"{name}: trading did not go on"
    )
    return f"| {name} | 1 order, {len(booked)} fill(s) booked once, 0 resends |"


def test_orders_with_unknown_outcome_end_with_one_order_booked_once(
    tmp_path: Path, deps: Deps
) -> None:
    fx = deps.fx
    d = Running(
        tmp_path / "state",
        fx,
        **daemon_extra(deps, MAX_CONSECUTIVE_LOSSES="1000", TRADEWARDEN_SNS_TOPIC_ARN=""),
    )
    table = ["| cell | outcome |", "|---|---|"]
    try:
        d.wait_ready()
        assert wait_for(lambda: len(fx.orders()) >= 2, 60), "no trading to begin with"
        table.append(
            unknown_outcome_cell(
                d, fx, "503 HTML page after booking", [("html_503_after_accept", {})]
            )
        )
        table.append(
            unknown_outcome_cell(
                d,
                fx,
                "-1007 on HTTP 400 after booking",
                [("code_after_accept", {"code": -1007, "status": 400})],
            )
        )
        table.append(
            unknown_outcome_cell(
                d,
                fx,
                "-1006 on HTTP 500 after booking",
                [("code_after_accept", {"code": -1006, "status": 500})],
            )
        )
        table.append(
            unknown_outcome_cell(
                d,
                fx,
                "503 after booking, order invisible to reads for 3 s (> recvWindow + 1 s)",
                [("late_visible", {"seconds": 3}), ("html_503_after_accept", {})],
            )
        )
    except BaseException:
        d.stop()
        print("\n".join(table), "\n--- daemon log (tail) ---\n" + "".join(d.lines[-60:]) + d.err)
        raise
    rc = d.stop()
    print("\n" + "\n".join(table))
    assert rc == 0, "".join(d.lines[-20:]) + d.err
    assert_one_to_one(fx, d.state)
    assert len(posts(fx)) == len(fx.orders()), "an order was sent twice"
    stuck = [c for c, o in local_orders(d.state).items() if o["status"] in ("PENDING", "UNKNOWN")]
    assert stuck == []
