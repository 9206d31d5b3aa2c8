"""The live gate as a truth table: every combination of its inputs, for every profile and
requested mode (2^6 boolean inputs x 3 profiles x 3 modes = 576 cases)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tradewarden.config import Mode, Profile, SecretSource, load_settings
from tradewarden.gate import (
    GateInputs,
    decide,
    endpoint_kind,
    live_gate,
    wants_live_checks,
)
from tradewarden.permissions import PermissionResult
from tradewarden.promotion import PromotionCheck

BOOLS = ("binance_testnet", "final_hammer", "terms_accepted", "source_not_env", "perms", "promo")
NAMES = {  # condition -> the text its blocker must contain
    "mode": "TRADEWARDEN_MODE",
    "testnet": "BINANCE_TESTNET=true",
    "final_hammer": "FINAL_HAMMER=false",
    "terms": "BINANCE_TERMS_ACCEPTED=false",
    "secret_source": "TRADEWARDEN_SECRET_SOURCE=env",
    "permissions": "key-permission check",
    "promotion": "promotion",
    "profile": "TRADEWARDEN_PROFILE=dev",
}
CASES = [
    (mode, profile, *bits)
    for mode in Mode
    for profile in Profile
    for bits in itertools.product((False, True), repeat=len(BOOLS))
]


def expected(mode: Mode, profile: Profile, tn, hammer, terms, not_env, perms, promo):
    """The documented table, written out independently of the implementation."""
    failed = set()
    if mode is not Mode.LIVE:
        failed.add("mode")
    if tn:
        failed.add("testnet")
    if not hammer:
        failed.add("final_hammer")
    if not terms:
        failed.add("terms")
    if not not_env:
        failed.add("secret_source")
    if not perms:
        failed.add("permissions")
    if not promo:
        failed.add("promotion")
    if profile is Profile.DEV:
        failed.add("profile")
    if not failed:
        return Mode.LIVE, failed
    if mode is not Mode.PAPER and tn and profile is not Profile.PROD:
        return Mode.TESTNET, failed
    return Mode.PAPER, failed


@pytest.mark.parametrize(
    "case", CASES, ids=lambda c: f"{c[0].value}-{c[1].value}-" + "".join("01"[b] for b in c[2:])
)
def test_truth_table(case) -> None:
    mode, profile, tn, hammer, terms, not_env, perms, promo = case
    decision = decide(
        GateInputs(
            requested=mode,
            profile=profile,
            binance_testnet=tn,
            final_hammer=hammer,
            terms_accepted=terms,
            secret_source=SecretSource.AWS if not_env else SecretSource.ENV,
            permissions_ok=perms,
            promotion_ok=promo,
        )
    )
    want_mode, want_failed = expected(*case)
    assert decision.mode is want_mode
    assert set(decision.failed) == want_failed
    assert len(decision.blockers) == len(decision.failed)
    for cond, text in zip(decision.failed, decision.blockers, strict=True):
        assert NAMES[cond] in text
    assert (decision.blockers == []) == (decision.mode is Mode.LIVE)
    if decision.mode is not Mode.LIVE:
        assert decision.fallback.startswith(decision.mode.value)
        assert "not live because" in decision.describe()


def test_the_table_covers_every_combination() -> None:
    assert len(CASES) == 3 * 3 * 2**6 == len(set(CASES))
    assert sum(expected(*c)[0] is Mode.LIVE for c in CASES) == 2  # live only: staging, prod


def all_live(**over) -> GateInputs:
    base = dict(
        requested=Mode.LIVE,
        profile=Profile.PROD,
        binance_testnet=False,
        final_hammer=True,
        terms_accepted=True,
        secret_source=SecretSource.AWS,
        permissions_ok=True,
        promotion_ok=True,
    )
    return GateInputs(**(base | over))


def test_everything_holding_is_live_and_says_so() -> None:
    d = decide(all_live())
    assert d.mode is Mode.LIVE and d.blockers == [] and "every live-trading gate" in d.describe()


def test_prod_refuses_a_testnet_key_and_testnet_endpoints() -> None:
    d = decide(all_live(key_scope="testnet"))
    assert d.mode is Mode.PAPER and d.failed == ("key_scope",)
    assert "testnet" in d.blockers[0]
    d = decide(all_live(binance_testnet=True))  # prod: not even testnet
    assert d.mode is Mode.PAPER and "prod refuses testnet" in d.fallback


def test_a_live_scoped_key_never_goes_to_the_testnet() -> None:
    d = decide(all_live(profile=Profile.STAGING, binance_testnet=True, key_scope="live"))
    assert d.mode is Mode.PAPER and "scope is live" in d.fallback


def test_dev_refuses_live_endpoints() -> None:
    d = decide(all_live(profile=Profile.DEV))
    assert d.mode is Mode.PAPER and d.failed == ("profile",)
    assert "dev profile refuses live endpoints" in d.blockers[0]


def test_url_and_flag_must_agree() -> None:
    d = decide(all_live(endpoint="https://testnet.binance.vision"))
    assert d.mode is Mode.PAPER and d.failed == ("endpoint",)
    assert "testnet.binance.vision is a testnet endpoint but BINANCE_TESTNET=false" in d.blockers[0]
    d = decide(
        all_live(profile=Profile.STAGING, binance_testnet=True, endpoint="https://api.binance.com")
    )
    assert d.mode is Mode.PAPER  # never testnet-labelled traffic to the live exchange
    assert "endpoint" in d.failed


def test_endpoint_kinds() -> None:
    assert endpoint_kind("https://testnet.binance.vision", False) == "testnet"
    assert endpoint_kind("https://api3.binance.com/", True) == "live"
    assert endpoint_kind("http://127.0.0.1:5555", True) == "testnet"
    assert endpoint_kind("http://127.0.0.1:5555", False) == "live"


def test_from_settings_with_run_time_checks(tmp_path: Path, clean_env: None) -> None:
    s = load_settings(
        state_dir=tmp_path,
        mode="live",
        profile="prod",
        binance_testnet=False,
        final_hammer=True,
        terms_accepted=True,
        secret_source="aws",
    )
    assert wants_live_checks(s)
    bad = PermissionResult(ok=False, role="trade", problems=("enableWithdrawals is true",))
    d = live_gate(s, permissions=bad, promotions=[PromotionCheck(True, "ok")])
    assert d.failed == ("permissions",) and "trade: enableWithdrawals is true" in d.blockers[0]
    d = live_gate(
        s,
        permissions=PermissionResult(ok=True, role="trade"),
        promotions=[PromotionCheck(True, "b1 ok"), PromotionCheck(False, "no record for b2")],
    )
    assert d.failed == ("promotion",) and "no record for b2" in d.blockers[0]
    d = live_gate(s)  # nothing checked: fail closed
    assert set(d.failed) == {"permissions", "promotion"}
    ok = live_gate(
        s,
        permissions=[
            PermissionResult(ok=True, role="trade"),
            PermissionResult(ok=True, role="read"),
        ],
        promotions=[PromotionCheck(True, "b1 ok")],
    )
    assert ok.mode is Mode.LIVE
    assert not wants_live_checks(load_settings(state_dir=tmp_path))
