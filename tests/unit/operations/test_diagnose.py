"""`tradewarden diagnose`: PASS and FAIL lines from a real state database (store, risk engine,
alert outbox, the daemon lock) and, outside paper mode, from the fake Binance over HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import free_port
from tests.fakes.binance import FakeBinance
from tradewarden.alerts import catalogue
from tradewarden.alerts.outbox import Outbox
from tradewarden.cli.main import app
from tradewarden.core.config import Settings, load_settings
from tradewarden.operations.diagnose import FAIL, PASS, SKIP, Check, check_mode, run_checks
from tradewarden.risk.engine import RiskEngine
from tradewarden.runtime.lock import DaemonLock
from tradewarden.state.store import Store

pytestmark = pytest.mark.usefixtures("clean_env")
BOTS = ("b1:BTCUSDT:ma_cross",)
KEY = "diag-key-" + "k" * 55
SECRET = "diag-secret-CANARY-" + "s" * 45
SPEC = {"price": 30000.0, "tick": 0.01, "step": 0.00001, "min_qty": 0.00001, "min_notional": 5.0}


def settings_for(state: Path, **kw: Any) -> Settings:
    return load_settings(state_dir=state, symbols=("BTCUSDT",), bots=BOTS, **kw)


def write_snapshot(settings: Settings, *, age: float = 0.0, mode: str | None = None) -> None:
    """What the daemon's `write_snapshot` stores once a second."""
    store = Store(settings.db_path)
    try:
        snap = RiskEngine(settings, store, ["b1"]).status()
        snap.update(
            mode=mode or settings.mode.value,
            why_not_live=["TRADEWARDEN_MODE is paper (the default)"],
            ticks=42,
            snapshot_ts=time.time() - age,
            daemon_running=True,
        )
        store.put("status_snapshot", snap)
    finally:
        store.close()


@pytest.fixture()
def running(tmp_path: Path) -> Iterator[Settings]:
    """A state dir as a running paper daemon leaves it: fresh snapshot, the lock held."""
    settings = settings_for(tmp_path / "state")
    write_snapshot(settings)
    lock = DaemonLock(settings.state_dir)
    assert lock.acquire()
    yield settings
    lock.release()


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def cli(state: Path, *args: str, **env: str) -> Any:
    return CliRunner().invoke(
        app, ["diagnose", *args], env={"TRADEWARDEN_STATE_DIR": str(state), **env}
    )


# --- paper: the daemon's state -----------------------------------------------------------------
def test_a_healthy_paper_daemon_passes_every_line(running: Settings) -> None:
    res = cli(running.state_dir, TRADEWARDEN_SYMBOLS="BTCUSDT", TRADEWARDEN_BOTS=BOTS[0])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    for name in ("mode", "daemon", "trading state", "breakers", "alert outbox"):
        assert any(line.startswith("PASS") and f"  {name}  " in line + "  " for line in lines), (
            name,
            res.output,
        )
    for name in ("connectivity", "clock skew", "limiter headroom", "key permissions"):
        assert any(line.startswith("SKIP") and name in line for line in lines), name
    assert lines[-1] == "all 5 checks passed, 5 skipped"  # + no daily summary scheduled yet


def test_daily_summary_check_passes_once_queued_and_fails_when_missed(
    running: Settings,
) -> None:
    """Issue 17: "summary missing" is a check that can pass (runbooks/daily-summary.md)."""
    from datetime import UTC, datetime

    from tradewarden.runtime.self_alerts import SUMMARY_KEY

    due = datetime(2026, 12, 3, 0, 0, tzinfo=UTC).timestamp()  # the default 00:00 UTC
    store = Store(running.db_path)
    try:
        store.put(SUMMARY_KEY, due)  # what the daemon records once it queued that summary
    finally:
        store.close()
    at = {"t": due + 3600}

    def check() -> Check:
        return by_name(run_checks(running, now=lambda: at["t"]))["daily summary"]

    assert check().status == PASS and "2026-12-03 00:00 UTC queued" in check().detail
    at["t"] = due + 86_400 + 30  # the next one is due this minute: not missing yet
    assert check().status == PASS
    at["t"] = due + 86_400 + 3600  # an hour past the next one, never queued
    missed = check()
    assert missed.status == FAIL and "2026-12-04 00:00 UTC was not sent" in missed.detail


def test_a_tripped_breaker_and_a_halt_fail_and_exit_1(running: Settings) -> None:
    store = Store(running.db_path)
    try:
        store.trip("consecutive_losses", "b1", 3, 3, "3 consecutive losing trades (limit 3)")
        RiskEngine(running, store, ["b1"]).halt("drill", "tester@host")
    finally:
        store.close()
    res = cli(running.state_dir, TRADEWARDEN_SYMBOLS="BTCUSDT", TRADEWARDEN_BOTS=BOTS[0])
    assert res.exit_code == 1
    assert (
        "FAIL  breakers          1 tripped: consecutive_losses on b1 (3 vs limit 3)" in res.output
    )
    assert "FAIL  trading state     HALTED: drill" in res.output
    assert res.output.splitlines()[-1] == "2 of 10 checks failed: trading state, breakers"
    doc = json.loads(
        cli(
            running.state_dir, "--json", TRADEWARDEN_SYMBOLS="BTCUSDT", TRADEWARDEN_BOTS=BOTS[0]
        ).output
    )
    assert doc["ok"] is False
    assert {c["name"] for c in doc["checks"] if c["status"] == "FAIL"} == {
        "trading state",
        "breakers",
    }


def test_no_daemon_or_a_stuck_one_fails(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "state")
    write_snapshot(settings, age=600)
    daemon = by_name(run_checks(settings))["daemon"]
    assert (
        daemon.status == FAIL and "not running (last status snapshot 10 min ago)" in daemon.detail
    )
    with DaemonLock(settings.state_dir) as lock:
        assert lock.acquire()
        daemon = by_name(run_checks(settings))["daemon"]
    assert daemon.status == FAIL and "main loop is stuck" in daemon.detail


def test_alert_outbox_backlog_fails_a_fresh_one_passes(running: Settings) -> None:
    now = time.time()
    box = Outbox(running.db_path, clock=lambda: now - 600)
    try:
        box.enqueue(catalogue.breaker_tripped("daily_loss", None, 0.06, 0.05), ["slack", "email"])
        row = box.rows("slack")[0]
        box.mark_failed(row.id, "slack: HTTP 503", now + 60)
    finally:
        box.close()
    ob = by_name(run_checks(running))["alert outbox"]
    assert ob.status == FAIL
    assert "2 pending (email 1, slack 1), oldest 10 min" in ob.detail
    assert "last error: slack: HTTP 503" in ob.detail
    box = Outbox(running.db_path)
    try:
        for r in box.rows(pending_only=True):
            box.mark_delivered(r.id)
        box.enqueue(catalogue.low_balance("USDT", 5.0, 50.0), ["slack"])
    finally:
        box.close()
    ob = by_name(run_checks(running))["alert outbox"]
    assert ob.status == PASS
    assert ob.detail.startswith("1 pending (slack 1), oldest 0 s; 2 delivered")


def test_mode_drift_and_blocked_live_fail(tmp_path: Path) -> None:
    testnet = settings_for(tmp_path, mode="testnet")
    drift = check_mode(testnet, {"mode": "paper", "daemon_running": True, "why_not_live": []})
    assert drift.status == FAIL and "restart it" in drift.detail
    live = settings_for(tmp_path, mode="live")
    blocked = check_mode(
        live, {"mode": "testnet", "daemon_running": False, "why_not_live": ["FINAL_HAMMER is off"]}
    )
    assert (
        blocked.status == FAIL
        and blocked.detail == "live requested but blocked: FINAL_HAMMER is off"
    )


# --- testnet: the exchange through BinanceBroker ---------------------------------------------
@pytest.fixture()
def exchange_env(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWARDEN_BINANCE_API_KEY", KEY)
    monkeypatch.setenv("TRADEWARDEN_BINANCE_API_SECRET", SECRET)


def fake(**kw: Any) -> FakeBinance:
    return FakeBinance(
        api_key=KEY, api_secret=SECRET, symbols={"BTCUSDT": SPEC}, balances={"USDT": 1000.0}, **kw
    )


def exchange_lines(state: Path, url: str, mode: str = "testnet") -> dict[str, Check]:
    settings = settings_for(state, mode=mode, binance_base_url=url)
    checks = by_name(run_checks(settings))
    return {
        n: checks[n] for n in ("connectivity", "clock skew", "limiter headroom", "key permissions")
    }


@pytest.mark.usefixtures("exchange_env")
def test_a_healthy_exchange_passes_and_the_secret_never_shows(tmp_path: Path) -> None:
    with fake() as fx:
        lines = exchange_lines(tmp_path / "state", fx.url)
        assert {n: c.status for n, c in lines.items()} == dict.fromkeys(lines, PASS)
        assert "answers ping in" in lines["connectivity"].detail
        assert lines["key permissions"].detail.startswith("spot trading and reading only")
        res = cli(
            tmp_path / "state",
            "--json",
            TRADEWARDEN_MODE="testnet",
            TRADEWARDEN_BINANCE_BASE_URL=fx.url,
            TRADEWARDEN_SYMBOLS="BTCUSDT",
            TRADEWARDEN_BOTS=BOTS[0],
        )
    assert SECRET not in res.output and KEY not in res.output
    assert {c["name"]: c["status"] for c in json.loads(res.output)["checks"]}["clock skew"] == PASS


@pytest.mark.usefixtures("exchange_env")
def test_clock_skew_weight_and_key_rights_fail(tmp_path: Path) -> None:
    with fake(weight_limit=200, restrictions={"enableWithdrawals": True}) as fx:
        fx.set_clock_skew(2500)
        client = fx.client()
        for _ in range(7):  # another process on this IP spends 140 of the 200
            client.get_exchange_info()
        lines = exchange_lines(tmp_path / "state", fx.url)
    assert lines["connectivity"].status == PASS
    skew = lines["clock skew"]
    assert skew.status == FAIL and 2300 < skew.data["offset_ms"] < 2700
    weight = lines["limiter headroom"]
    assert weight.status == FAIL and weight.data["limit"] == 200 and weight.data["used"] >= 160
    keys = lines["key permissions"]
    assert keys.status == FAIL and keys.detail.startswith("enableWithdrawals is true")


@pytest.mark.usefixtures("exchange_env")
def test_live_keys_must_be_ip_restricted(tmp_path: Path) -> None:
    with fake(restrictions={"ipRestrict": False}) as fx:
        keys = exchange_lines(tmp_path / "state", fx.url, mode="live")["key permissions"]
    assert keys.status == FAIL and "ipRestrict is false" in keys.detail


@pytest.mark.usefixtures("exchange_env")
def test_unreachable_or_banned_exchange_fails_every_exchange_line(tmp_path: Path) -> None:
    lines = exchange_lines(tmp_path / "a", f"http://127.0.0.1:{free_port()}")
    assert {c.status for c in lines.values()} == {FAIL}
    assert "not checked: the exchange is unreachable" in lines["clock skew"].detail
    settings = settings_for(tmp_path / "b")
    store = Store(settings.db_path)
    store.put("exchange.banned_until", time.time() + 300)  # what the daemon persists on a 418
    store.close()
    with fake() as fx:
        lines = exchange_lines(tmp_path / "b", fx.url)
        assert fx.stats()["requests"] == 0  # nothing sent while banned
    assert lines["connectivity"].status == FAIL and "418" in lines["connectivity"].detail


def test_missing_credentials_fail_closed(tmp_path: Path) -> None:
    with fake() as fx:
        lines = exchange_lines(tmp_path / "state", fx.url)
    assert {c.status for c in lines.values()} == {FAIL}
    assert "TRADEWARDEN_BINANCE_API_KEY" in lines["connectivity"].detail


def test_paper_mode_never_touches_the_exchange(running: Settings) -> None:
    checks = by_name(run_checks(running))
    assert checks["connectivity"].status == SKIP


# --- futures: the /fapi gateway (issue 20) ----------------------------------------------------
@pytest.mark.usefixtures("exchange_env")
def test_futures_diagnose_asks_the_futures_gateway(tmp_path: Path) -> None:
    """With TRADEWARDEN_FUTURES_ENABLED the exchange lines come from the daemon's futures
    gateway: ping, time and weight on /fapi (never the spot /api/v3), and the key check with
    the futures rules, the futures account included."""
    state = tmp_path / "state"
    with fake(restrictions={"enableFutures": True}) as fx:
        settings = settings_for(state, mode="live", binance_base_url=fx.url, futures_enabled=True)
        checks = by_name(run_checks(settings))
        paths = {r["path"] for r in fx.requests()}
        fx.futures_set_can_trade(False)
        refused = by_name(run_checks(settings))["key permissions"]
    for name in ("connectivity", "clock skew", "limiter headroom", "key permissions"):
        assert checks[name].status == PASS, (name, checks[name].detail)
    assert {"/fapi/v1/ping", "/fapi/v1/time", "/fapi/v1/exchangeInfo", "/fapi/v2/account"} <= paths
    assert not any(p.startswith("/api/v3/") for p in paths), paths
    assert checks["limiter headroom"].data["limit"] == 2400  # the futures weight pool
    assert checks["key permissions"].detail.startswith("futures rules")
    assert refused.status == FAIL and "canTrade is false" in refused.detail
