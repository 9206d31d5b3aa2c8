"""Attacks on issue 20's gates and keys (review): the futures promotion, the market binding,
the key rules by market and the futures account check. Each test is an attack; those the
code held stay as regression tests, those that broke it were fixed with them:

- BROKE (fixed): a futures promotion from a spot run's trades (one trades table for both
  markets) topped up with a single funding payment; the reverse for a spot promotion.
- BROKE (fixed): the futures account reader failing with anything but a BrokerError
  escaped the key check (an exception out of the start-up or hourly check).
- BROKE (fixed): a rotated trade key was vetted before it signs with apiRestrictions only,
  and `tradewarden secrets rotate` likewise: the futures account check was skipped there.
- held: promotions of the other market, edited or re-signed records, the market toggled
  between promotion and start, futures outside paper mode, mixed rule sets at the gate.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from typer.testing import CliRunner

from tradewarden.audit.chain import AuditLog
from tradewarden.core.config import Mode, Profile, SecretSource, load_settings
from tradewarden.live.gate import GateInputs, decide, market_problems
from tradewarden.live.key_permissions import (
    PermissionResult,
    check_broker_keys,
    check_trade_key,
    evaluate_restrictions,
)
from tradewarden.live.paper_report import futures_report, market_runs, report
from tradewarden.live.promotion import (
    PromotionCheck,
    PromotionError,
    binding,
    is_promoted,
    promote,
)
from tradewarden.runtime.daemon import safe_config
from tradewarden.runtime.wiring import KeyNotVettedError, LiveGuard, promotions
from tradewarden.secrets.factory import build_source
from tradewarden.secrets.value import Secret
from tradewarden.state.store import Store

PROMOTION_KEY = "promotion-key-for-the-attack-tests"
GOOD_SPOT: dict[str, Any] = {
    "ipRestrict": True,
    "enableReading": True,
    "enableWithdrawals": False,
    "enableInternalTransfer": False,
    "permitsUniversalTransfer": False,
    "enableSpotAndMarginTrading": True,
    "enableMargin": False,
    "enableFutures": False,
    "enablePortfolioMarginTrading": False,
    "enableVanillaOptions": False,
}
GOOD_FUTURES = GOOD_SPOT | {"enableFutures": True}


# --- the promotion's trades come from one market ---------------------------------------------
def started(audit: AuditLog, *, futures: bool, bots: str = "b1:BTCUSDT:ma_cross") -> None:
    """A `daemon_started` entry as the daemon writes it (its config from `safe_config`)."""
    settings = load_settings(
        futures_enabled=futures, bots=tuple(bots.split(",")), symbols=("BTCUSDT", "ETHUSDT")
    )
    audit.append("daemon_started", {"mode": "paper", "config": safe_config(settings)})


def winning_history(store: Store, bot: str = "b1") -> None:
    equity = 10_000.0
    for i in range(110):
        pnl = 20.0 if i % 11 < 8 else -10.0
        equity += pnl
        store.record_trade(bot, "BTCUSDT", pnl, 1_700_000_000.0 + i * 3600)
        store.mark_equities(1_700_000_000.0 + i * 3600, {bot: equity})


def criteria(rep: Any) -> dict[str, tuple[float | None, bool]]:
    return {c.name: (c.value, c.passed) for c in rep.criteria}


def test_a_spot_run_topped_up_with_one_funding_payment_is_no_futures_record(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "s.db")
    audit = AuditLog(tmp_path / "audit", store=store)
    try:
        started(audit, futures=False)  # 110 winning spot trades...
        winning_history(store)
        started(audit, futures=True)  # ...then a short futures run: one funding payment
        audit.append("futures_funding", {"bot": "b1", "amount": 0.1, "rate": 0.0001})
        (rep,) = futures_report(store, tmp_path / "audit", ["b1"])
        assert not rep.passed
        assert criteria(rep)["spot_runs"] == (1.0, False)
        fut = binding("b1", "BTCUSDT", "ma_cross", "futures")
        with pytest.raises(PromotionError, match="spot_runs"):
            promote(store, Secret(PROMOTION_KEY, "promotion"), rep, fut, "mallory")
    finally:
        audit.close()
        store.close()


def test_a_futures_run_is_no_spot_record(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    audit = AuditLog(tmp_path / "audit", store=store)
    try:
        started(audit, futures=True)
        winning_history(store)
        (rep,) = report(store, ["b1"], tmp_path / "audit")
        assert not rep.passed and criteria(rep)["futures_runs"] == (1.0, False)
        (plain,) = report(store, ["b1"])  # no audit log read (the demo's console): as before
        assert plain.passed and "futures_runs" not in criteria(plain)
    finally:
        audit.close()
        store.close()


def test_only_runs_of_this_bot_count(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    audit = AuditLog(tmp_path / "audit", store=store)
    try:
        started(audit, futures=False, bots="other:ETHUSDT:ma_cross")  # another bot on spot
        started(audit, futures=True)
        audit.append("daemon_started", {"mode": "paper", "config": {"bots": ["b1:X:y"]}})
        audit.append("daemon_started", {"mode": "paper"})  # no config: not shown futures
        assert market_runs(tmp_path / "audit", "b1") == {"spot": 2, "futures": 1}
        assert market_runs(tmp_path / "audit", "other") == {"spot": 2, "futures": 0}
        assert market_runs(tmp_path / "audit", "b") == {"spot": 1, "futures": 0}
    finally:
        audit.close()
        store.close()


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None) -> Path:
    monkeypatch.setenv("TRADEWARDEN_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("TRADEWARDEN_PROMOTION_KEY", PROMOTION_KEY)
    monkeypatch.setenv("TRADEWARDEN_BOTS", "b1:BTCUSDT:ma_cross")
    monkeypatch.setenv("TRADEWARDEN_SYMBOLS", "BTCUSDT")
    return tmp_path


def cli(*args: str) -> Any:
    from tradewarden.cli.main import app

    return CliRunner().invoke(app, list(args))


def history(state: Path, *, spot_run: bool) -> None:
    store = Store(state / "tradewarden.sqlite3")
    audit = AuditLog(state / "audit", store=store)
    try:
        if spot_run:
            started(audit, futures=False)
        started(audit, futures=True)
        winning_history(store)
        audit.append("futures_funding", {"bot": "b1", "amount": 0.12, "rate": 0.0001})
    finally:
        audit.close()
        store.close()


def checks() -> list[PromotionCheck]:
    settings = load_settings()
    return promotions(settings, build_source(settings))


def test_the_cli_refuses_a_futures_promotion_from_a_spot_history(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history(env, spot_run=True)
    monkeypatch.setenv("TRADEWARDEN_FUTURES_ENABLED", "true")
    res = cli("promote", "--bot", "b1")
    assert res.exit_code != 0 and "spot_runs" in res.output
    assert not checks()[0].ok


def test_the_market_toggled_after_a_futures_promotion_is_refused(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history(env, spot_run=False)
    monkeypatch.setenv("TRADEWARDEN_FUTURES_ENABLED", "true")
    res = cli("promote", "--bot", "b1")
    assert res.exit_code == 0, res.output
    assert [c.ok for c in checks()] == [True]
    monkeypatch.setenv("TRADEWARDEN_FUTURES_ENABLED", "false")  # start as a spot bot
    (check,) = checks()
    assert not check.ok and check.market == "spot" and "holds a futures promotion" in check.reason


def test_the_market_toggled_after_a_spot_promotion_is_refused(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    winning_history_db = Store(env / "tradewarden.sqlite3")
    winning_history(winning_history_db)
    winning_history_db.close()
    res = cli("promote", "--bot", "b1")
    assert res.exit_code == 0, res.output
    monkeypatch.setenv("TRADEWARDEN_FUTURES_ENABLED", "true")
    (check,) = checks()
    assert not check.ok and check.market == "futures" and "holds a spot promotion" in check.reason


# --- edited and re-signed records ------------------------------------------------------------
def spot_promoted(tmp_path: Path) -> tuple[Store, Secret]:
    store = Store(tmp_path / "s.db")
    winning_history(store)
    key = Secret(PROMOTION_KEY, "promotion")
    (rep,) = report(store, ["b1"])
    promote(store, key, rep, binding("b1", "BTCUSDT", "ma_cross"), "alice")
    return store, key


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE promotions SET binding=replace(binding, '}', ',\"market\":\"futures\"}')",
        'UPDATE promotions SET report=replace(report, \'"market": "spot"\','
        ' \'"market": "futures"\')',
    ],
    ids=["binding-market", "report-market"],
)
def test_a_spot_record_edited_into_a_futures_one_is_refused(tmp_path: Path, edit: str) -> None:
    store, key = spot_promoted(tmp_path)
    with store.tx() as db:
        db.execute(edit)
        assert db.execute("SELECT changes()").fetchone()[0] == 1  # the edit took
    check = is_promoted(store, key, binding("b1", "BTCUSDT", "ma_cross", "futures"))
    assert not check.ok and "signature" in check.reason
    store.close()


def test_a_record_signed_with_another_key_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    winning_history(store)
    store.close()
    store = Store(tmp_path / "s.db")
    audit = AuditLog(tmp_path / "audit", store=store)
    audit.append("futures_funding", {"bot": "b1", "amount": 0.1})
    (rep,) = futures_report(store, tmp_path / "audit", ["b1"])
    fut = binding("b1", "BTCUSDT", "ma_cross", "futures")
    promote(store, Secret("not-the-promotion-key-at-all", "promotion"), rep, fut, "mallory")
    check = is_promoted(store, Secret(PROMOTION_KEY, "promotion"), fut)
    assert not check.ok and "signature" in check.reason
    audit.close()
    store.close()


def test_the_latest_record_decides(tmp_path: Path) -> None:
    store, key = spot_promoted(tmp_path)
    audit = AuditLog(tmp_path / "audit", store=store)
    audit.append("futures_funding", {"bot": "b1", "amount": 0.1})
    (rep,) = futures_report(store, tmp_path / "audit", ["b1"])
    fut = binding("b1", "BTCUSDT", "ma_cross", "futures")
    promote(store, key, rep, fut, "alice")
    assert is_promoted(store, key, fut).ok
    assert not is_promoted(store, key, binding("b1", "BTCUSDT", "ma_cross")).ok
    (spot_rep,) = report(store, ["b1"])
    promote(store, key, spot_rep, binding("b1", "BTCUSDT", "ma_cross"), "alice")
    assert not is_promoted(store, key, fut).ok  # the spot record replaced it
    audit.close()
    store.close()


# --- the gate ---------------------------------------------------------------------------------
def test_futures_never_go_live_by_the_settings_alone(tmp_path: Path, clean_env: None) -> None:
    """The settings accept live futures (the gate decides); every static live condition
    holding is still not live without the run-time checks of the futures market."""
    from tradewarden.live.gate import live_gate

    s = load_settings(
        state_dir=tmp_path,
        futures_enabled=True,
        mode="live",
        profile="prod",
        binance_testnet=False,
        final_hammer=True,
        terms_accepted=True,
        secret_source=SecretSource.AWS,
    )
    d = live_gate(s, key_scope="live")
    assert not d.live and set(d.failed) == {"permissions", "promotion"}, d.blockers


def live_inputs(futures: bool, perms: list[PermissionResult], promos: list[PromotionCheck]) -> Any:
    return GateInputs(
        requested=Mode.LIVE,
        profile=Profile.PROD,
        binance_testnet=False,
        final_hammer=True,
        terms_accepted=True,
        secret_source=SecretSource.AWS,
        permissions_ok=all(p.ok for p in perms),
        promotion_ok=all(c.ok for c in promos),
        key_scope="live",
        futures=futures,
        futures_problems=market_problems(futures, perms, promos),
    )


@pytest.mark.parametrize(
    ("futures", "trade_rules", "read_rules", "promo_market"),
    [
        (True, True, False, "futures"),  # the read key checked with the spot rules
        (True, False, True, "futures"),  # the trade key checked with the spot rules
        (True, True, True, "spot"),  # a spot promotion
        (False, False, False, "futures"),  # a futures promotion for a spot bot
        (False, True, False, "spot"),  # a spot bot's key checked with the futures rules
    ],
    ids=["read-spot-rules", "trade-spot-rules", "spot-promo", "futures-promo", "spot-fut-rules"],
)
def test_mixed_markets_keep_the_gate_shut(
    futures: bool, trade_rules: bool, read_rules: bool, promo_market: str
) -> None:
    perms = [
        PermissionResult(ok=True, role="trade", futures=trade_rules),
        PermissionResult(ok=True, role="read", futures=read_rules),
    ]
    promos = [PromotionCheck(True, "b1 promoted", "futures" if futures else "spot")]
    promos.append(PromotionCheck(True, "b2 promoted", promo_market))
    d = decide(live_inputs(futures, perms, promos))
    assert not d.live and d.failed == ("futures",)
    # and with every check of the right market the same inputs go live
    right = [PermissionResult(ok=True, role=p.role, futures=futures) for p in perms]
    ok = [PromotionCheck(True, c.reason, "futures" if futures else "spot") for c in promos]
    assert decide(live_inputs(futures, right, ok)).live


# --- the key check --------------------------------------------------------------------------
class Broker:
    """A broker as the key check sees it: settings, apiRestrictions, key roles, and (when
    given) a futures account."""

    key_roles = ("trade",)

    def __init__(self, futures: bool, flags: dict[str, Any], account: Any = None) -> None:
        self.settings = load_settings(futures_enabled=futures)
        self.flags = flags
        if account is not None:
            self.futures_account = account

    def api_restrictions(self, role: str = "trade") -> dict[str, Any]:
        return dict(self.flags)


def raising(exc: BaseException) -> Any:
    def call() -> dict[str, Any]:
        raise exc

    return call


@pytest.mark.parametrize(
    "exc",
    [
        requests.Timeout("read timed out"),
        requests.ConnectionError("refused"),
        ValueError("dictionary update sequence element #0 has length 1"),
        KeyError("canTrade"),
    ],
    ids=["timeout", "unreachable", "not-a-dict", "key-error"],
)
def test_a_futures_account_failing_any_way_fails_closed(exc: BaseException) -> None:
    broker = Broker(True, GOOD_FUTURES, raising(exc))
    result = check_broker_keys(broker)  # never raises: a verdict, not an exception
    assert not result.ok and result.futures
    assert result.problems == (f"GET /fapi/v2/account failed: {type(exc).__name__}",)


@pytest.mark.parametrize(
    "answer",
    [{"canTrade": False}, {"canTrade": "true"}, {}, ["canTrade"], None],
    ids=["cannot-trade", "string", "missing", "list", "none"],
)
def test_a_futures_account_answer_that_is_not_can_trade_true_fails(answer: Any) -> None:
    result = check_broker_keys(Broker(True, GOOD_FUTURES, lambda: answer))
    assert not result.ok and "GET /fapi/v2/account" in result.problems[0]


def test_a_spot_only_bot_with_a_futures_key_is_refused_whatever_its_account() -> None:
    result = check_broker_keys(Broker(False, GOOD_FUTURES, lambda: {"canTrade": True}))
    assert not result.ok and not result.futures and result.bad_flags == {"enableFutures": True}


def test_the_trade_key_check_is_the_same_everywhere() -> None:
    """`check_trade_key` (start, hourly, rotation) skips no futures-side check."""
    no_account = Broker(True, GOOD_FUTURES)
    assert not check_trade_key(no_account).ok
    assert check_trade_key(Broker(True, GOOD_FUTURES, lambda: {"canTrade": True})).ok
    assert evaluate_restrictions(GOOD_FUTURES, futures=True).ok  # the flags alone pass


class Bundle:
    def __init__(self, fp: str) -> None:
        self.fp = fp
        self.scope = "live"

    def fingerprint(self) -> str:
        return self.fp


class Keys:
    def __init__(self) -> None:
        self.trade = self

    def bundle(self) -> Bundle:
        return Bundle("fp-rotated")


def test_a_rotated_key_is_vetted_with_the_futures_account_too() -> None:
    """The rotated trade key, vetted before it signs its first order, must pass the same
    futures-side check as at start: a key whose futures account is not verified signs no
    order (before the fix: apiRestrictions alone, so it passed)."""
    guard = LiveGuard.__new__(LiveGuard)
    guard.settings = load_settings(futures_enabled=True)
    guard.keys = Keys()  # type: ignore[assignment]
    guard.broker = Broker(True, GOOD_FUTURES)  # type: ignore[assignment]
    guard.refused = ""
    guard.key_problem = None
    guard.approved_fp = "fp-start"
    guard._local = threading.local()
    guard._lock = threading.Lock()
    with pytest.raises(KeyNotVettedError, match="no futures gateway"):
        guard._vet("fp-rotated", "live")
    assert guard.approved_fp == "fp-start" and "rotated trade key" in guard.refused
    # the same key with a futures account that accepts orders is approved
    guard.refused = ""
    guard.broker = Broker(True, GOOD_FUTURES, lambda: {"canTrade": True})  # type: ignore[assignment]
    guard._vet("fp-rotated", "live")
    assert guard.approved_fp == "fp-rotated"


def test_the_compliance_attestation_does_not_vouch_for_an_unverified_futures_key() -> None:
    """The attestation (and the packet's gate built from it) applies the futures account
    check as the start-up check does: without it, it vouched for a key the gate refuses."""
    from tradewarden.compliance.attest import read_keys

    settings = load_settings(futures_enabled=True)
    (reading,) = read_keys(settings, Broker(True, GOOD_FUTURES))
    assert not reading.ok and any("no futures gateway" in p for p in reading.problems)
    (reading,) = read_keys(settings, Broker(True, GOOD_FUTURES, lambda: {"canTrade": True}))
    assert reading.ok, reading.problems


def test_a_liquidation_in_a_pruned_audit_file_is_no_clean_futures_record(tmp_path: Path) -> None:
    """BROKE (fixed): the trades outlive the audit files (pruned after 90 days): a run
    liquidated in a pruned file read as 0 liquidations. A cut history fails
    `audit_pruned`."""
    import time

    store = Store(tmp_path / "s.db")
    audit = AuditLog(tmp_path / "audit", store=store, retention_days=90)
    try:
        old = time.time() - 100 * 86400
        audit.append("futures_liquidation", {"bot": "b1", "qty": 0.1}, ts=old)
        started(audit, futures=True)
        winning_history(store)
        audit.append("futures_funding", {"bot": "b1", "amount": 0.1, "rate": 0.0001})
        (before,) = futures_report(store, tmp_path / "audit", ["b1"])
        assert not before.passed and criteria(before)["liquidations"] == (1.0, False)
        assert criteria(before)["audit_pruned"] == (0.0, True)
        assert len(audit.prune()) == 1
        assert audit.verify_chain().ok  # the pruned chain still verifies...
        (after,) = futures_report(store, tmp_path / "audit", ["b1"])
        assert criteria(after)["liquidations"] == (0.0, True)  # ...the liquidation is gone
        assert not after.passed and criteria(after)["audit_pruned"] == (1.0, False)
    finally:
        audit.close()
        store.close()
