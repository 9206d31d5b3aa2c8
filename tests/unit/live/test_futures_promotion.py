"""Issue 20 (3): the futures promotion record. A futures run must meet the seed's criteria
plus no liquidation, the liquidation-distance breaker never at flatten, and funding booked
(read from the run's audit log and the breaker table); the record is signed like spot's and
bound to its market: a spot promotion does not count for a futures bot, nor the reverse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tradewarden.audit.chain import AuditLog
from tradewarden.live.paper_report import (
    BotReport,
    FuturesFacts,
    evaluate,
    evaluate_futures,
    futures_facts,
    futures_report,
    render,
)
from tradewarden.live.promotion import PromotionError, binding, is_promoted, promote
from tradewarden.secrets.value import Secret
from tradewarden.state.store import Store

KEY = Secret("promotion-hmac-key", "promotion")
PNLS = [3.0] * 80 + [-2.0] * 40
EQUITY = [100.0 + i for i in range(50)]
CLEAN = FuturesFacts(funding_payments=3, funding_total=0.42, reduces=1)


def futures_passing() -> BotReport:
    r = evaluate_futures(PNLS, EQUITY, CLEAN)
    return BotReport("b1", r.criteria, r.sharpe, r.market, r.futures)


def spot_passing() -> BotReport:
    r = evaluate(PNLS, EQUITY)
    return BotReport("b1", r.criteria, r.sharpe)


def failed(report: BotReport) -> set[str]:
    return {c.name for c in report.criteria if not c.passed}


def test_a_clean_futures_run_passes_and_reports_reduces_and_funding() -> None:
    r = futures_passing()
    assert r.passed and r.market == "futures"
    names = [c.name for c in r.criteria]
    assert names == [
        "trades",
        "win_rate",
        "profit_factor",
        "max_drawdown",
        "liquidations",
        "liq_flatten",
        "funding_booked",
        "spot_runs",
        "audit_pruned",
    ]
    text = render([r])
    assert "futures criteria" in text and "1 liquidation-distance reduce(s)" in text
    assert "funding +0.4200 USDT over 3 payment(s)" in text
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()[2:-1]}
    assert rows["liquidations"] == ["0", "<=", "0", "PASS"]
    assert rows["liq_flatten"] == ["0", "<=", "0", "PASS"]
    assert rows["funding_booked"] == ["3", ">=", "1", "PASS"]
    assert r.as_dict()["futures"]["funding_payments"] == 3


@pytest.mark.parametrize(
    ("facts", "why"),
    [
        (FuturesFacts(liquidations=1, funding_payments=3), "liquidations"),
        (FuturesFacts(flatten_trips=1, funding_payments=3), "liq_flatten"),
        (FuturesFacts(), "funding_booked"),
        (FuturesFacts(funding_payments=3, funding_unreadable=1), "funding_booked"),
    ],
    ids=["liquidated", "flattened", "no-funding", "unreadable-funding"],
)
def test_each_futures_criterion_fails_alone(facts: FuturesFacts, why: str) -> None:
    r = evaluate_futures(PNLS, EQUITY, facts)
    assert failed(r) == {why}


def test_the_seed_criteria_still_apply_to_futures() -> None:
    r = evaluate_futures([3.0] * 50, [100.0] * 5, CLEAN)
    assert failed(r) == {"trades"}


def test_facts_from_the_audit_log_and_the_breaker_table(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    audit = AuditLog(tmp_path / "audit", store=store)
    try:
        for amount in (0.25, -0.05):
            audit.append("futures_funding", {"bot": "b1", "amount": amount, "rate": 0.0001})
        audit.append("futures_funding", {"bot": "b1", "amount": None})  # unreadable
        audit.append("futures_funding", {"bot": "b2", "amount": 9.0})  # another bot
        audit.append("futures_reduce", {"bot": "b1", "distance": 0.2})
        audit.append("breaker_tripped", {"bot": "b1", "breaker": "daily_loss"})
        facts = futures_facts(store, tmp_path / "audit", "b1")
        assert facts == FuturesFacts(
            liquidations=0,
            flatten_trips=0,
            reduces=1,
            funding_payments=2,
            funding_total=pytest.approx(0.2),  # type: ignore[arg-type]
            funding_unreadable=1,
        )
        audit.append("breaker_tripped", {"bot": "b1", "breaker": "liquidation_distance"})
        audit.append("futures_liquidation", {"bot": "b1", "qty": 0.1})
        facts = futures_facts(store, tmp_path / "audit", "b1")
        assert (facts.flatten_trips, facts.liquidations) == (1, 1)
        # a trip in the breaker table counts even with no audit entry for it
        store.trip("liquidation_distance", "b2", 0.1, 0.15, "mark near liquidation")
        assert futures_facts(store, tmp_path / "audit", "b2").flatten_trips == 1
    finally:
        audit.close()
        store.close()


def test_a_futures_report_from_the_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    audit = AuditLog(tmp_path / "audit", store=store)
    try:
        for i, pnl in enumerate(PNLS):
            store.record_trade("b1", "BTCUSDT", pnl, float(i))
        store.mark_equities(1.0, {"b1": 100.0})
        store.mark_equities(2.0, {"b1": 101.0})
        audit.append("futures_funding", {"bot": "b1", "amount": 0.1})
        (r,) = futures_report(store, tmp_path / "audit", ["b1"])
        assert r.bot == "b1" and r.passed and r.market == "futures"
    finally:
        audit.close()
        store.close()


def test_a_futures_promotion_is_signed_and_bound_to_its_market(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    fut = binding("b1", "BTCUSDT", "ma_cross", "futures")
    spot = binding("b1", "BTCUSDT", "ma_cross")
    assert '"market":"futures"' in fut.canonical() and "market" not in spot.canonical()
    with pytest.raises(PromotionError, match="spot criteria"):
        promote(store, KEY, spot_passing(), fut, "alice")
    with pytest.raises(PromotionError, match="futures criteria"):
        promote(store, KEY, futures_passing(), spot, "alice")
    liquidated = evaluate_futures(PNLS, EQUITY, FuturesFacts(liquidations=1, funding_payments=1))
    with pytest.raises(PromotionError, match="liquidations"):
        promote(store, KEY, BotReport("b1", liquidated.criteria, None, "futures"), fut, "alice")
    assert not is_promoted(store, KEY, fut).ok

    promote(store, KEY, futures_passing(), fut, "alice")
    check = is_promoted(store, KEY, fut)
    assert check.ok and check.market == "futures" and "futures promoted" in check.reason
    # a futures promotion does not count for the same bot trading spot
    check = is_promoted(store, KEY, spot)
    assert not check.ok and check.market == "spot" and "holds a futures promotion" in check.reason
    # an edited record (the market, the report) breaks the signature
    with store.tx() as db:
        db.execute("UPDATE promotions SET binding=replace(binding, 'futures', 'spot')")
    assert "signature" in is_promoted(store, KEY, spot).reason
    store.close()


def test_a_spot_promotion_does_not_count_for_a_futures_bot(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    spot = binding("b1", "BTCUSDT", "ma_cross")
    promote(store, KEY, spot_passing(), spot, "alice")
    assert is_promoted(store, KEY, spot).ok  # spot's records as before
    check = is_promoted(store, KEY, binding("b1", "BTCUSDT", "ma_cross", "futures"))
    assert not check.ok and check.market == "futures"
    assert "holds a spot promotion" in check.reason and "does not count" in check.reason
    store.close()


def test_no_record_names_the_futures_promotion(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    check = is_promoted(store, KEY, binding("b1", "BTCUSDT", "ma_cross", "futures"))
    assert not check.ok and "futures promotion record" in check.reason
    with pytest.raises(ValueError, match="market"):
        binding("b1", "BTCUSDT", "ma_cross", "options")
    store.close()


def test_a_futures_record_whose_report_did_not_pass_is_refused(tmp_path: Path) -> None:
    """Defence in depth: a signed record (the key holder's) whose report is not a passed
    futures report is not a futures promotion."""
    store = Store(tmp_path / "s.db")
    fut = binding("b1", "BTCUSDT", "ma_cross", "futures")
    promote(store, KEY, futures_passing(), fut, "alice")
    # re-sign the record with a spot report body, as a holder of the key could
    from tradewarden.live import promotion as p

    (row,) = store.query("SELECT * FROM promotions")
    body = json.dumps(spot_passing().as_dict(), sort_keys=True, default=str)
    sig = p._sign(
        KEY,
        p._payload(
            row["bot"],
            row["strategy"],
            row["code_hash"],
            row["ts"],
            row["actor"],
            body,
            row["binding"],
        ),
    )
    with store.tx() as db:
        db.execute("UPDATE promotions SET report=?, signature=?", (body, sig))
    check = is_promoted(store, KEY, fut)
    assert not check.ok and "not recorded from a passed futures report" in check.reason
    store.close()
