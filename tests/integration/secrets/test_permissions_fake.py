"""The key-permission check through `BinanceBroker.api_restrictions()` against the fake
Binance: one test per dangerous flag, the good key, and failures that must fail closed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.secrets.conftest import KEY, READ_ID, SECRET, TRADE_ID, make_settings, pair
from tradewarden.exchange import BinanceBroker, RateLimiter
from tradewarden.live.key_permissions import check_key_permissions
from tradewarden.operations.diagnose import FAIL, PASS, Check, run_checks
from tradewarden.secrets.value import Secret
from tradewarden.state.store import Store

OTHER_KEY, OTHER_SECRET = "perm-test-key-0e3a", "perm-test-secret-6b1d"


def broker_for(fx: FakeBinance, store: Store, tmp_path: Path, key: str, secret: str):
    settings = make_settings(tmp_path, fx, binance_testnet=False, profile="staging")
    pair = (Secret(key), Secret(secret))
    return BinanceBroker(
        settings, store, lambda: pair, limiter=RateLimiter(), request_timeout_s=2.0
    )


def check_with(fx, store, tmp_path, restrictions: dict, role: str = "trade"):
    fx.add_key(OTHER_KEY, OTHER_SECRET, restrictions=restrictions)
    return check_key_permissions(broker_for(fx, store, tmp_path, OTHER_KEY, OTHER_SECRET), role)


def test_the_default_key_passes(fx: FakeBinance, store: Store, tmp_path: Path) -> None:
    r = check_key_permissions(broker_for(fx, store, tmp_path, KEY, SECRET))
    assert r.ok and r.problems == ()
    assert r.flags["ipRestrict"] is True and r.flags["enableWithdrawals"] is False
    sapi = [x for x in fx.requests() if x["path"] == "/sapi/v1/account/apiRestrictions"]
    assert len(sapi) == 1 and sapi[0]["status"] == 200


def test_withdrawals_enabled(fx: FakeBinance, store: Store, tmp_path: Path) -> None:
    r = check_with(fx, store, tmp_path, {"enableWithdrawals": True})
    assert not r.ok and r.problems[0].startswith("enableWithdrawals is true")


def test_internal_transfer_enabled(fx: FakeBinance, store: Store, tmp_path: Path) -> None:
    r = check_with(fx, store, tmp_path, {"enableInternalTransfer": True})
    assert not r.ok and r.problems[0].startswith("enableInternalTransfer is true")


def test_universal_transfer_permitted(fx: FakeBinance, store: Store, tmp_path: Path) -> None:
    r = check_with(fx, store, tmp_path, {"permitsUniversalTransfer": True})
    assert not r.ok and r.problems[0].startswith("permitsUniversalTransfer is true")


def test_no_ip_restriction(fx: FakeBinance, store: Store, tmp_path: Path) -> None:
    r = check_with(fx, store, tmp_path, {"ipRestrict": False})
    assert not r.ok and r.problems[0].startswith("ipRestrict is false")


def test_trading_not_enabled(fx: FakeBinance, store: Store, tmp_path: Path) -> None:
    r = check_with(fx, store, tmp_path, {"enableSpotAndMarginTrading": False})
    assert not r.ok and r.problems[0].startswith("enableSpotAndMarginTrading is false")
    read = check_with(fx, store, tmp_path, {"enableSpotAndMarginTrading": False}, role="read")
    assert read.ok  # exactly right for a read-only key


def test_every_problem_of_a_bad_key_is_listed(fx: FakeBinance, store: Store, tmp_path: Path):
    r = check_with(
        fx,
        store,
        tmp_path,
        {
            "enableWithdrawals": True,
            "enableInternalTransfer": True,
            "permitsUniversalTransfer": True,
            "ipRestrict": False,
            "enableSpotAndMarginTrading": False,
        },
    )
    assert len(r.problems) == 5
    assert "withdrawals" in r.summary()


def test_a_key_refused_from_this_ip_fails_closed(
    fx: FakeBinance, store: Store, tmp_path: Path
) -> None:
    r = check_with(fx, store, tmp_path, {"ipRestrict": True, "ips": ["203.0.113.7"]})
    assert not r.ok and "apiRestrictions failed" in r.problems[0]
    for text in (r.summary(), *r.problems):
        assert OTHER_KEY not in text and OTHER_SECRET not in text


def test_exchange_down_fails_closed(fx: FakeBinance, store: Store, tmp_path: Path) -> None:
    fx.fault("maintenance", path="/sapi/*", count=None)
    r = check_key_permissions(broker_for(fx, store, tmp_path, KEY, SECRET))
    assert not r.ok and "apiRestrictions failed" in r.problems[0]


def test_diagnose_checks_both_keys_from_secrets_manager(
    fx: FakeBinance, sm: Any, tmp_path: Path
) -> None:
    """`tradewarden diagnose` (live settings, keys in moto): the read key is checked too,
    and a read key that can withdraw fails the line, naming that key and never its value."""
    sm.create_secret(Name=TRADE_ID, SecretString=pair())
    sm.create_secret(Name=READ_ID, SecretString=pair(OTHER_KEY, OTHER_SECRET))
    fx.add_key(OTHER_KEY, OTHER_SECRET, restrictions={"enableSpotAndMarginTrading": False})
    settings = make_settings(tmp_path, fx, mode="live", binance_testnet=False, profile="staging")

    def line() -> Check:
        (check,) = [c for c in run_checks(settings) if c.name == "key permissions"]
        return check

    good = line()
    assert good.status == PASS and "read key" in good.detail, good.detail
    assert set(good.data) == {"trade", "read"}
    fx.add_key(
        OTHER_KEY,
        OTHER_SECRET,
        restrictions={"enableSpotAndMarginTrading": False, "enableWithdrawals": True},
    )
    bad = line()
    assert bad.status == FAIL and bad.detail.startswith("read key: enableWithdrawals is true")
    for text in (good.detail, bad.detail, repr(bad.data)):
        for value in (KEY, SECRET, OTHER_KEY, OTHER_SECRET):
            assert value not in text


LEVERAGE = ("enableFutures", "enableMargin", "enablePortfolioMarginTrading", "enableVanillaOptions")


@pytest.mark.parametrize("flag", LEVERAGE)
def test_the_fake_reports_leverage_rights_and_the_check_refuses_them(
    flag: str, fx: FakeBinance, store: Store, tmp_path: Path
) -> None:
    """Issue 14 (4): a spot trade key that could open leveraged positions is refused."""
    r = check_with(fx, store, tmp_path, {flag: True})
    assert not r.ok and r.problems[0].startswith(f"{flag} is true"), r.problems
    assert r.bad_flags == {flag: True}


def test_an_exchange_that_cannot_be_asked_at_start_is_waited_for_not_a_verdict(
    fx: FakeBinance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The live start's permission probe: maintenance on /sapi is no verdict on the key (it
    would have started paper on a good live key); the start waits NOT READY (startup.py)
    and the key is judged once the exchange answers."""
    from tradewarden.runtime.startup import StartupUnreachableError, heals_by_itself
    from tradewarden.runtime.wiring import permission_probe
    from tradewarden.secrets.credentials import binance_keys
    from tradewarden.secrets.factory import build_source

    monkeypatch.setenv("TRADEWARDEN_BINANCE_API_KEY", KEY)
    monkeypatch.setenv("TRADEWARDEN_BINANCE_API_SECRET", SECRET)
    settings = make_settings(
        tmp_path, fx, secret_source="env", binance_testnet=False, profile="staging"
    )
    keys = binance_keys(settings, build_source(settings))
    fx.fault("maintenance", path="/sapi/*", count=None)
    with pytest.raises(StartupUnreachableError) as err:
        permission_probe(settings, keys)
    assert heals_by_itself(err.value) is not None and "apiRestrictions" in str(err.value)
    fx.clear_faults()
    assert permission_probe(settings, keys).ok


def test_attack_a_restart_during_a_ban_probes_permissions_before_the_ban_ends(
    fx: FakeBinance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live start while the exchange's 418 ban (persisted by the last process) still runs:
    the permission probe's scratch broker must not send a request before the ban ends (each
    request during a ban lengthens it, up to 3 days); it waits NOT READY until Retry-After."""
    import time

    from tradewarden.exchange import ratelimit
    from tradewarden.exchange.gateway import BAN_KEY
    from tradewarden.runtime.startup import StartupUnreachableError, heals_by_itself
    from tradewarden.runtime.wiring import permission_probe
    from tradewarden.secrets.credentials import binance_keys
    from tradewarden.secrets.factory import build_source

    monkeypatch.setattr(ratelimit, "_PROCESS_LIMITERS", {})  # a new process
    monkeypatch.setenv("TRADEWARDEN_BINANCE_API_KEY", KEY)
    monkeypatch.setenv("TRADEWARDEN_BINANCE_API_SECRET", SECRET)
    settings = make_settings(
        tmp_path, fx, secret_source="env", binance_testnet=False, profile="staging"
    )
    state = Store(settings.db_path)
    state.put(BAN_KEY, time.time() + 600.0)  # the previous process was banned for 10 min
    state.close()
    keys = binance_keys(settings, build_source(settings))
    before = len(fx.requests())
    with pytest.raises(StartupUnreachableError) as err:
        permission_probe(settings, keys)
    assert fx.requests()[before:] == []
    heal = heals_by_itself(err.value)
    assert heal is not None and heal[1] > 500.0, heal
