"""Evaluating an apiRestrictions answer (pure); the live checks are in the integration set."""

from __future__ import annotations

import pytest

from tradewarden.live.key_permissions import evaluate_restrictions

GOOD = {
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


def test_a_good_trade_key() -> None:
    r = evaluate_restrictions(GOOD)
    assert r.ok and r.problems == () and "ok" in r.summary()


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("enableWithdrawals", True),
        ("enableInternalTransfer", True),
        ("permitsUniversalTransfer", True),
        ("ipRestrict", False),
        ("enableSpotAndMarginTrading", False),
    ],
)
def test_each_problem_is_listed_alone(flag: str, value: bool) -> None:
    r = evaluate_restrictions(GOOD | {flag: value})
    assert not r.ok and len(r.problems) == 1 and r.problems[0].startswith(flag)
    assert flag in r.summary() and r.bad_flags == {flag: value}


def test_all_problems_at_once() -> None:
    r = evaluate_restrictions(
        GOOD
        | {
            "enableWithdrawals": True,
            "enableInternalTransfer": True,
            "permitsUniversalTransfer": True,
            "ipRestrict": False,
            "enableSpotAndMarginTrading": False,
        }
    )
    assert len(r.problems) == 5
    assert r.bad_flags == {
        "enableWithdrawals": True,
        "enableInternalTransfer": True,
        "permitsUniversalTransfer": True,
        "ipRestrict": False,
        "enableSpotAndMarginTrading": False,
    }


@pytest.mark.parametrize("flag", ["enableWithdrawals", "ipRestrict", "permitsUniversalTransfer"])
def test_missing_or_non_boolean_flags_fail_closed(flag: str) -> None:
    missing = {k: v for k, v in GOOD.items() if k != flag}
    assert "missing" in evaluate_restrictions(missing).problems[0]
    assert "not a boolean" in evaluate_restrictions(GOOD | {flag: "false"}).problems[0]


def test_read_key_may_not_trade_only_as_a_warning() -> None:
    r = evaluate_restrictions(GOOD, role="read")
    assert r.ok and r.warnings and "least privilege" in r.warnings[0]
    r = evaluate_restrictions(GOOD | {"enableSpotAndMarginTrading": False}, role="read")
    assert r.ok and not r.warnings
    r = evaluate_restrictions(GOOD | {"enableWithdrawals": True}, role="read")
    assert not r.ok


# --- issue 14 (4): leverage rights fail the check ----------------------------------------------
LEVERAGE = ("enableFutures", "enableMargin", "enablePortfolioMarginTrading", "enableVanillaOptions")
COMPLETE = GOOD | dict.fromkeys(LEVERAGE, False)


@pytest.mark.parametrize("flag", LEVERAGE)
@pytest.mark.parametrize("role", ["trade", "read"])
def test_leverage_rights_fail_the_check(flag: str, role: str) -> None:
    r = evaluate_restrictions(COMPLETE | {flag: True}, role)
    assert not r.ok and r.problems[0].startswith(flag), r.problems
    assert r.bad_flags == {flag: True}


@pytest.mark.parametrize("flag", LEVERAGE)
def test_a_missing_leverage_flag_fails_closed(flag: str) -> None:
    flags = dict(COMPLETE)
    del flags[flag]
    r = evaluate_restrictions(flags)
    assert not r.ok and any(p.startswith(flag) and "missing" in p for p in r.problems)
