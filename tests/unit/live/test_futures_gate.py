"""Issue 20 (3): futures live needs the whole spot gate plus TRADEWARDEN_FUTURES_ENABLED=true,
a key whose enableFutures is true (and whose futures account may trade), and a futures
promotion; a spot-only bot's key keeps enableFutures false. Each refusal names its setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tradewarden.core.config import Mode, Profile, SecretSource, Settings, load_settings
from tradewarden.live.gate import (
    GateInputs,
    assumed_checks,
    decide,
    live_gate,
    market_problems,
    wants_live_checks,
)
from tradewarden.live.key_permissions import (
    PermissionResult,
    check_futures_account,
    evaluate_futures_account,
    evaluate_restrictions,
)
from tradewarden.live.promotion import PromotionCheck
from tradewarden.trading.broker import BrokerError

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


# --- the key rules by market -----------------------------------------------------------------
def test_a_futures_bot_needs_enable_futures_true() -> None:
    ok = evaluate_restrictions(GOOD_FUTURES, futures=True)
    assert ok.ok and ok.futures and ok.as_dict()["rules"] == "futures"
    bad = evaluate_restrictions(GOOD_SPOT, futures=True)
    assert not bad.ok and len(bad.problems) == 1
    assert bad.problems[0].startswith("enableFutures is false")
    assert "TRADEWARDEN_FUTURES_ENABLED=true" in bad.problems[0]
    assert bad.bad_flags == {"enableFutures": False}


def test_a_spot_bot_keeps_enable_futures_false() -> None:
    assert evaluate_restrictions(GOOD_SPOT).ok
    bad = evaluate_restrictions(GOOD_FUTURES)
    assert not bad.ok and not bad.futures
    (problem,) = bad.problems
    assert problem.startswith("enableFutures is true")
    assert "TRADEWARDEN_FUTURES_ENABLED=false" in problem and "spot-only" in problem
    assert bad.bad_flags == {"enableFutures": True}


@pytest.mark.parametrize(
    "flag",
    [
        "enableWithdrawals",
        "enableInternalTransfer",
        "permitsUniversalTransfer",
        "enableMargin",
        "enablePortfolioMarginTrading",
        "enableVanillaOptions",
    ],
)
def test_the_futures_rules_keep_every_other_refusal(flag: str) -> None:
    r = evaluate_restrictions(GOOD_FUTURES | {flag: True}, futures=True)
    assert not r.ok and r.problems[0].startswith(flag)


def test_a_futures_key_missing_the_flag_fails_closed() -> None:
    flags = {k: v for k, v in GOOD_FUTURES.items() if k != "enableFutures"}
    r = evaluate_restrictions(flags, futures=True)
    assert not r.ok and "enableFutures missing" in r.problems[0]
    r = evaluate_restrictions(GOOD_FUTURES | {"enableFutures": "true"}, futures=True)
    assert not r.ok and "not a boolean" in r.problems[0]


@pytest.mark.parametrize("value", [True, False], ids=["on", "off"])
def test_a_futures_bots_read_key_may_have_futures_either_way(value: bool) -> None:
    flags = GOOD_FUTURES | {"enableFutures": value, "enableSpotAndMarginTrading": False}
    assert evaluate_restrictions(flags, "read", futures=True).ok


def test_the_futures_account_must_accept_orders() -> None:
    assert evaluate_futures_account({"canTrade": True}) == ()
    assert "canTrade is false" in evaluate_futures_account({"canTrade": False})[0]
    assert "missing" in evaluate_futures_account({})[0]
    assert "not an object" in evaluate_futures_account([])[0]


class Account:
    def __init__(self, answer: Any = None, error: BrokerError | None = None) -> None:
        self.answer, self.error = answer, error

    def futures_account(self) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        return self.answer  # type: ignore[no-any-return]


def test_the_futures_side_check_fails_closed() -> None:
    base = evaluate_restrictions(GOOD_FUTURES, futures=True)
    assert check_futures_account(base, Account({"canTrade": True})).ok
    none = check_futures_account(base, None)
    assert not none.ok and "no futures gateway" in none.problems[0] and none.futures
    err = check_futures_account(base, Account(error=BrokerError("boom", code=-2015)))
    assert not err.ok and "GET /fapi/v2/account failed" in err.problems[0]
    assert err.error is not None
    no = check_futures_account(base, Account({"canTrade": False}))
    assert not no.ok and "TRADEWARDEN_FUTURES_ENABLED=true" in no.problems[0]


# --- the gate ---------------------------------------------------------------------------------
def live_inputs(**kw: Any) -> GateInputs:
    base: dict[str, Any] = {
        "requested": Mode.LIVE,
        "profile": Profile.PROD,
        "binance_testnet": False,
        "final_hammer": True,
        "terms_accepted": True,
        "secret_source": SecretSource.AWS,
        "permissions_ok": True,
        "promotion_ok": True,
    }
    return GateInputs(**(base | kw))


def test_futures_live_when_everything_holds() -> None:
    d = decide(live_inputs(futures=True))
    assert d.live and "futures" in d.fallback


def test_a_futures_problem_blocks_live_and_names_the_setting() -> None:
    d = decide(live_inputs(futures=True, futures_problems=("the trade key was checked with",)))
    assert not d.live and d.failed == ("futures",)
    assert d.blockers[0].startswith("TRADEWARDEN_FUTURES_ENABLED=true: ")
    d = decide(live_inputs(futures=False, futures_problems=("a futures promotion",)))
    assert d.blockers[0].startswith("TRADEWARDEN_FUTURES_ENABLED=false: ")


def test_market_problems() -> None:
    spot_key = PermissionResult(ok=True, role="trade")
    fut_key = PermissionResult(ok=True, role="trade", futures=True)
    spot_promo = PromotionCheck(True, "b1 promoted", "spot")
    fut_promo = PromotionCheck(True, "b1 futures promoted", "futures")
    assert market_problems(True, [fut_key], [fut_promo]) == ()
    assert market_problems(False, [spot_key], [spot_promo]) == ()
    (p,) = market_problems(True, [spot_key], [fut_promo])
    assert "checked with the spot rules, not the futures rules" in p
    (p,) = market_problems(True, [fut_key], [spot_promo])
    assert "a futures bot needs a futures promotion" in p
    (p,) = market_problems(False, [spot_key], [fut_promo])
    assert "a spot bot needs a spot promotion" in p
    (p,) = market_problems(False, [fut_key], [spot_promo])
    assert "futures rules, not the spot rules" in p


def live_settings(tmp_path: Path, futures: bool) -> Settings:
    s = load_settings(
        state_dir=tmp_path,
        mode="live",
        profile="prod",
        binance_testnet=False,
        final_hammer=True,
        terms_accepted=True,
        secret_source=SecretSource.AWS,
    )
    # futures outside paper is refused by the settings until the futures gateway lands:
    # the gate is checked on its own here
    return s.model_copy(update={"futures_enabled": futures})


def test_from_settings_a_futures_bot_needs_futures_checks(tmp_path: Path, clean_env: None) -> None:
    s = live_settings(tmp_path, futures=True)
    assert wants_live_checks(s)  # the assumed checks are the futures ones
    perms, promos = assumed_checks(s)
    assert perms.futures and promos[0].market == "futures"
    ok = live_gate(
        s,
        permissions=PermissionResult(ok=True, role="trade", futures=True),
        promotions=[PromotionCheck(True, "b1 ok", "futures")],
    )
    assert ok.mode is Mode.LIVE
    # a spot promotion does not count
    d = live_gate(
        s,
        permissions=PermissionResult(ok=True, role="trade", futures=True),
        promotions=[PromotionCheck(True, "b1 ok", "spot")],
    )
    assert d.failed == ("futures",) and "needs a futures promotion" in d.blockers[0]
    # a key checked with the spot rules does not count either
    d = live_gate(
        s,
        permissions=PermissionResult(ok=True, role="trade"),
        promotions=[PromotionCheck(True, "b1 ok", "futures")],
    )
    assert d.failed == ("futures",) and "spot rules" in d.blockers[0]
    # a key that cannot trade futures: the permission check names it
    bad = evaluate_restrictions(GOOD_SPOT, futures=True)
    d = live_gate(s, permissions=bad, promotions=[PromotionCheck(True, "b1 ok", "futures")])
    assert d.failed == ("permissions",) and "enableFutures is false" in d.blockers[0]


def test_from_settings_a_spot_bot_refuses_futures_checks(tmp_path: Path, clean_env: None) -> None:
    s = live_settings(tmp_path, futures=False)
    d = live_gate(
        s,
        permissions=PermissionResult(ok=True, role="trade", futures=True),
        promotions=[PromotionCheck(True, "b1 ok", "futures")],
    )
    assert d.failed == ("futures",) and d.blockers[0].startswith(
        "TRADEWARDEN_FUTURES_ENABLED=false"
    )
    bad = evaluate_restrictions(GOOD_FUTURES)  # a spot bot's key with futures on
    d = live_gate(s, permissions=bad, promotions=[PromotionCheck(True, "b1 ok")])
    assert d.failed == ("permissions",) and "spot-only" in d.blockers[0]
