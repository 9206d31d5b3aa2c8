"""The futures promotion through the CLI (issue 20): the shipped futures scenario (the
liquidation-distance breaker had to flatten) is reported with the futures criteria and
refused; a clean futures history with funding booked is promoted as a futures promotion,
which the live gate's check accepts for the futures bot and not for the same bot as spot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.daemon.helpers import tw
from tradewarden.audit.chain import AuditLog
from tradewarden.live.promotion import binding, is_promoted
from tradewarden.secrets.value import Secret
from tradewarden.state.store import Store

pytestmark = pytest.mark.usefixtures("clean_env")
KEY = {"TRADEWARDEN_PROMOTION_KEY": "promotion-key-for-the-futures-cli-test"}
FUTURES = {
    "TRADEWARDEN_FUTURES_ENABLED": "true",
    "TRADEWARDEN_FUTURES_LEVERAGE": "3",
    "TRADEWARDEN_SYMBOLS": "BTCUSDT",
    "TRADEWARDEN_BOTS": "short-btc:BTCUSDT:ma_cross_ls",
}


def criteria(report: dict) -> dict[str, tuple[float, bool]]:
    return {c["name"]: (c["value"], c["passed"]) for c in report["criteria"]}


def test_the_squeeze_run_is_reported_with_the_futures_criteria_and_refused(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    run = tw(state, "run", "--scenario", "futures", "--no-console")
    assert run.returncode == 0, run.stderr
    proc = tw(state, "paper-report", "--json", **FUTURES)
    assert proc.returncode == 1, proc.stderr
    (report,) = json.loads(proc.stdout)
    assert report["market"] == "futures" and not report["passed"]
    got = criteria(report)
    assert got["liquidations"] == (0, True)  # the breaker acted before a liquidation...
    assert got["liq_flatten"] == (1, False)  # ...but had to flatten: not promotable
    assert got["funding_booked"][1] and report["futures"]["funding_total"] > 0
    assert report["futures"]["reduces"] == 1
    promote = tw(state, "promote", "--bot", "short-btc", **KEY, **FUTURES)
    assert promote.returncode == 1
    assert "liq_flatten" in promote.stderr
    assert (
        "promotion_refused"
        in (state / "audit")
        .joinpath(sorted(p.name for p in (state / "audit").glob("audit-*.jsonl"))[-1])
        .read_text()
    )


def clean_futures_history(state: Path) -> None:
    store = Store(state / "tradewarden.sqlite3")
    audit = AuditLog(state / "audit", store=store)
    try:
        equity = 10_000.0
        for i in range(110):
            pnl = 20.0 if i % 11 < 8 else -10.0
            equity += pnl
            ts = 1_700_000_000.0 + i * 3600
            store.record_trade("short-btc", "BTCUSDT", pnl, ts)
            store.mark_equities(ts, {"short-btc": equity})
            if i % 8 == 0:
                audit.append(
                    "futures_funding", {"bot": "short-btc", "amount": 0.12, "rate": 0.0001}
                )
    finally:
        audit.close()
        store.close()


def test_a_clean_futures_run_is_promoted_as_futures(tmp_path: Path) -> None:
    state = tmp_path / "state"
    clean_futures_history(state)
    proc = tw(state, "promote", "--bot", "short-btc", **KEY, **FUTURES)
    assert proc.returncode == 0, proc.stderr
    assert "futures criteria" in proc.stdout and "promotion #1 recorded" in proc.stdout
    store = Store(state / "tradewarden.sqlite3")
    try:
        secret = Secret(KEY["TRADEWARDEN_PROMOTION_KEY"], "promotion")
        fut = is_promoted(store, secret, binding("short-btc", "BTCUSDT", "ma_cross_ls", "futures"))
        assert fut.ok and fut.market == "futures"
        spot = is_promoted(store, secret, binding("short-btc", "BTCUSDT", "ma_cross_ls"))
        assert not spot.ok and "holds a futures promotion" in spot.reason
    finally:
        store.close()


def test_a_broken_audit_chain_refuses_a_futures_promotion(tmp_path: Path) -> None:
    state = tmp_path / "state"
    clean_futures_history(state)
    (log,) = (state / "audit").glob("audit-*.jsonl")
    log.write_text(log.read_text().replace('"amount":0.12', '"amount":9.12', 1))
    proc = tw(state, "promote", "--bot", "short-btc", **KEY, **FUTURES)
    assert proc.returncode == 1
    assert "futures facts unreadable" in proc.stderr and "BROKEN" in proc.stderr
