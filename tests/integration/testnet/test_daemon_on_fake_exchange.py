"""`tradewarden run` in testnet mode against the fake Binance over real HTTP: it trades, books
every fill once, and survives each fault without a duplicate or an unknown order."""

from __future__ import annotations

import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.daemon.helpers import readyz, status, tw, wait_for
from tests.integration.testnet.conftest import (
    KEY,
    SECRET,
    Running,
    assert_one_to_one,
    fills,
    local_orders,
    posts,
)

ORDER = {"path": "/api/v3/order", "method": "POST"}


def metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:  # noqa: S310
        return r.read().decode()


def filled(fx: FakeBinance) -> int:
    return sum(o["status"] == "FILLED" for o in fx.orders())


def test_trades_books_every_fill_once_and_reports_testnet(
    tmp_path: Path, fx: FakeBinance, daemon: Callable[..., Running]
) -> None:
    d = daemon()
    port = d.wait_ready()
    assert wait_for(lambda: filled(fx) >= 3, timeout=90), "no trades on the fake exchange"
    text = metrics(port)
    assert 'tradewarden_api_request_duration_seconds_count{endpoint="POST /api/v3/order"}' in text
    assert "tradewarden_rate_limit_weight_used " in text
    assert "tradewarden_reconciliation_last_success_timestamp_seconds " in text
    assert 'tradewarden_errors_total{kind="reconciliation_mismatch"} 0.0' in text
    assert "tradewarden_exchange_ban_until_timestamp_seconds 0.0" in text
    assert "tradewarden_clock_skew_seconds " in text
    assert readyz(port)[0] == 200
    assert d.stop() == 0
    assert_one_to_one(fx, d.state)
    trades = {f"{t['symbol']}:{t['id']}" for t in fx.trades()}
    booked = [f["trade_id"] for f in fills(d.state)]
    assert len(booked) == len(set(booked)), "a fill was booked twice"
    assert set(booked) == trades, "every fill on the exchange is booked, and only those"
    st = status(d.state)
    assert st["mode"] == "testnet"
    assert st["why_not_live"][0] == "TRADEWARDEN_MODE=testnet: live was not requested"
    assert st["why_not_live"][-1] == "testnet: BINANCE_TESTNET=true"
    rows = [(r["status"], r["qty"], r["filled_qty"]) for r in local_orders(d.state).values()]
    assert st["open_orders"] == 0, rows


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "timeout_after_accept", "ms": 3000},
        {"kind": "error_after_accept", "status": 503},
        {"kind": "error_after_accept", "status": 500},
    ],
    ids=["timeout", "503", "500"],
)
def test_no_answer_after_accept_gives_exactly_one_order(
    fx: FakeBinance, daemon: Callable[..., Running], fault: dict
) -> None:
    params = {k: v for k, v in fault.items() if k != "kind"}
    fx.fault(fault["kind"], **ORDER, count=1, **params)
    d = daemon()
    d.wait_ready()
    assert wait_for(lambda: filled(fx) >= 2, timeout=90)
    assert sum(fx.stats()["faults_fired"].values()) >= 1, "the fault never hit an order"
    assert d.stop() == 0
    assert_one_to_one(fx, d.state)
    assert len(posts(fx)) == len(fx.orders()), "an order was sent twice (resent blind)"
    first = fx.orders()[0]
    row = local_orders(d.state)[first["clientOrderId"]]
    assert row["exchange_order_id"] == str(first["orderId"])
    assert row["status"] == "FILLED"


def test_clock_skew_recovers_by_resync(fx: FakeBinance, daemon: Callable[..., Running]) -> None:
    d = daemon()
    d.wait_ready()
    assert wait_for(lambda: filled(fx) >= 1, timeout=90)
    fx.set_clock_skew(5000)  # the exchange's clock now runs 5 s ahead: > recvWindow (1 s)
    n = len(fx.orders())
    assert wait_for(lambda: len(fx.orders()) >= n + 2, timeout=90), "no orders after the skew"
    assert any(r["code"] == -1021 for r in fx.requests()), "the skew was never noticed"
    assert d.stop() == 0
    assert any("re-syncing" in line for line in d.lines)
    assert_one_to_one(fx, d.state)


def skew(port: int) -> float:
    import re

    found = re.search(r"^tradewarden_clock_skew_seconds (\S+)$", metrics(port), re.M)
    assert found, "no clock skew gauge"
    return float(found.group(1))


def test_clock_skew_is_measured_continuously_and_clears(
    fx: FakeBinance, daemon: Callable[..., Running]
) -> None:
    """Issue 17: the exchange's clock is read every TRADEWARDEN_CLOCK_CHECK_SECONDS, not only
    at start and on -1021: a drift under recvWindow shows in the gauge (ClockSkew warns)
    before any request is refused, and the gauge goes back once the clocks agree."""
    d = daemon(TRADEWARDEN_CLOCK_CHECK_SECONDS="1")
    port = d.wait_ready()
    assert abs(skew(port)) < 0.2
    fx.set_clock_skew(700)  # the host clock drifts 0.7 s behind: within recvWindow (1 s)
    assert wait_for(lambda: 0.55 < skew(port) < 0.85, timeout=30), skew(port)
    fx.set_clock_skew(0)  # NTP fixed
    assert wait_for(lambda: abs(skew(port)) < 0.15, timeout=30), skew(port)
    assert not any(r["code"] == -1021 for r in fx.requests()), "a request was refused first"
    times = [r for r in fx.requests() if r["path"] == "/api/v3/time"]
    assert len(times) >= 3  # start + the periodic reads (weight 1 each)
    assert d.stop() == 0


def test_418_ban_stops_all_traffic_until_retry_after(
    fx: FakeBinance, daemon: Callable[..., Running]
) -> None:
    d = daemon()
    port = d.wait_ready()
    assert wait_for(lambda: filled(fx) >= 1, timeout=90)
    fx.fault("ban", path="/api/*", count=1, retry_after=5)
    assert wait_for(lambda: fx.stats()["status_418"] >= 1, 30)
    banned_at = max(r["ts"] for r in fx.requests() if r["status"] == 418)

    def not_ready_rate_limited() -> bool:
        code, body = readyz(port)
        return code == 503 and any("rate limited" in r for r in body["reasons"])

    assert wait_for(not_ready_rate_limited, timeout=4), readyz(port)

    def ban_exported() -> bool:
        line = [x for x in metrics(port).splitlines() if x.startswith("tradewarden_exchange_ban")]
        return bool(line) and float(line[0].split()[-1]) > time.time()

    assert wait_for(ban_exported, timeout=4), "the ban's end is not exported"
    assert wait_for(lambda: any(r["ts"] > banned_at for r in fx.requests()), 60), "no resume"
    gap = min(r["ts"] for r in fx.requests() if r["ts"] > banned_at) - banned_at
    assert gap >= 4.9, f"a request went out {gap:.2f}s into a 5 s ban"
    n = len(fx.orders())
    assert wait_for(lambda: len(fx.orders()) > n, timeout=90), "trading did not resume"
    assert fx.stats()["status_418"] == 1, "more than one 418: the ban was not respected"
    assert d.stop() == 0


def test_maintenance_halts_new_orders_and_resumes(
    fx: FakeBinance, daemon: Callable[..., Running]
) -> None:
    d = daemon()
    port = d.wait_ready()
    assert wait_for(lambda: filled(fx) >= 1, timeout=90)
    fx.fault("maintenance", path="/api/*", count=None)
    assert wait_for(lambda: readyz(port)[0] == 503, timeout=30)
    code, body = readyz(port)
    assert any("maintenance" in r for r in body["reasons"]), body
    posted = len(posts(fx))
    time.sleep(3)  # a full wave third: the strategy would have traded
    assert [p for p in posts(fx)[posted:] if p["status"] == 200] == []
    fx.clear_faults()
    assert wait_for(lambda: readyz(port)[0] == 200, timeout=60)
    n = len(fx.orders())
    assert wait_for(lambda: len(fx.orders()) > n, timeout=90), "trading did not resume"
    assert status(d.state)["state"] == "active"
    assert d.stop() == 0
    assert_one_to_one(fx, d.state)


def test_restart_with_an_unresolved_order_reconciles_without_duplicates(
    tmp_path: Path, fx: FakeBinance, daemon: Callable[..., Running]
) -> None:
    # the next order is booked by the exchange but never answered, and the daemon cannot
    # ask about it either: it is killed with that order UNKNOWN
    fx.fault("timeout_after_accept", ms=60000, **ORDER)
    fx.fault("drop_connection", path="/api/v3/order", method="GET", count=None)
    d = daemon()
    d.wait_ready()
    assert wait_for(lambda: len(fx.orders()) == 1, timeout=90)
    (cid,) = [o["clientOrderId"] for o in fx.orders()]
    assert wait_for(lambda: local_orders(d.state)[cid]["status"] in ("PENDING", "UNKNOWN"), 30)
    d.stop(signal.SIGKILL)
    fx.clear_faults()
    again = daemon(d.state)
    again.wait_ready()
    assert wait_for(lambda: filled(fx) >= 3, timeout=90)
    assert again.stop() == 0
    assert_one_to_one(fx, d.state)
    assert local_orders(d.state)[cid]["status"] == "FILLED"
    assert len(posts(fx)) == len(fx.orders()), "an order was sent twice (resent blind)"
    booked = [f["trade_id"] for f in fills(d.state)]
    assert sorted(booked) == sorted(f"{t['symbol']}:{t['id']}" for t in fx.trades())


def test_foreign_order_is_a_security_event(fx: FakeBinance, daemon: Callable[..., Running]) -> None:
    d = daemon()
    d.wait_ready()
    assert wait_for(lambda: filled(fx) >= 1, timeout=90)
    fx.place_foreign_order("BTCUSDT", "BUY", 0.001, 20000.0)
    assert wait_for(lambda: status(d.state)["state"] == "halted", timeout=30)
    st = status(d.state)
    assert "not ours" in st["state_reason"]
    n = len(fx.orders())
    time.sleep(2)
    assert len(fx.orders()) == n, "orders went out after the security event"
    assert fx.open_orders() == [], "the foreign order was not cancelled"
    assert d.stop() == 0
    alerts = (d.state / "alerts.jsonl").read_text()
    assert "foreign_order" in alerts and "critical" in alerts
    assert tw(d.state, "audit", "verify").returncode == 0
    audit = "".join(p.read_text() for p in sorted((d.state / "audit").glob("*.jsonl")))
    assert '"security_event"' in audit


def test_missing_key_stops_the_start_with_a_critical_alert(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = tw(state, "run", "--no-console", TRADEWARDEN_MODE="testnet")
    assert proc.returncode == 1
    assert "TRADEWARDEN_BINANCE_API_KEY" in proc.stderr and "not started" in proc.stderr
    assert "daemon ready" not in proc.stdout
    alerts = (state / "alerts.jsonl").read_text()
    assert "system_error" in alerts and "critical" in alerts and "secrets" in alerts


def test_keys_never_leak(fx: FakeBinance, daemon: Callable[..., Running]) -> None:
    fx.fault("error_after_accept", status=500, **ORDER)
    d = daemon()
    port = d.wait_ready()
    assert wait_for(lambda: filled(fx) >= 2, timeout=90)
    text = metrics(port)
    st = tw(d.state, "status", "--json")
    assert d.stop() == 0
    blobs = ["".join(d.lines), d.err, text, st.stdout, st.stderr]
    blobs += [p.read_bytes().decode("utf-8", "replace") for p in d.state.rglob("*") if p.is_file()]
    for blob in blobs:
        assert KEY not in blob and SECRET not in blob
        assert "CANARY" not in blob


def test_a_halt_is_applied_during_a_long_back_off(
    fx: FakeBinance, daemon: Callable[..., Running]
) -> None:
    d = daemon()
    d.wait_ready()
    fx.fault("maintenance", path="/api/*", count=None)
    time.sleep(8)  # the back-off has grown past several seconds by now
    started = time.monotonic()
    proc = tw(d.state, "halt", "--reason", "maintenance drill")
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert "applied by the running daemon" in proc.stdout
    assert status(d.state)["state"] == "halted"
    fx.clear_faults()
    assert d.stop() == 0
    print(f"halt applied in {took:.2f}s during the back-off")
