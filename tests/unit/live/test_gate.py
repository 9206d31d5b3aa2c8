"""The live gate as a truth table: every combination of its inputs, for every profile,
requested mode and recorded key scope (2^6 boolean inputs x 3 profiles x 3 modes x 3 scopes
= 1728 cases)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradewarden.core.config import Mode, Profile, SecretSource, load_settings
from tradewarden.core.endpoints import EndpointError, endpoint_kind, parse_endpoint
from tradewarden.live.gate import GateInputs, decide, live_gate, wants_live_checks
from tradewarden.live.key_permissions import PermissionResult
from tradewarden.live.promotion import PromotionCheck

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
    "key_scope": "scope is testnet",
}
SCOPES = (None, "live", "testnet")
CASES = [
    (mode, profile, scope, *bits)
    for mode in Mode
    for profile in Profile
    for scope in SCOPES
    for bits in itertools.product((False, True), repeat=len(BOOLS))
]


def expected(mode: Mode, profile: Profile, scope, tn, hammer, terms, not_env, perms, promo):
    """The documented table, written out independently of the implementation (the URL is
    Binance's default for BINANCE_TESTNET)."""
    failed = set()
    if scope == "testnet":
        failed.add("key_scope")
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
    if mode is not Mode.PAPER and tn and profile is not Profile.PROD and scope == "testnet":
        return Mode.TESTNET, failed
    return Mode.PAPER, failed


@pytest.mark.parametrize(
    "case",
    CASES,
    ids=lambda c: f"{c[0].value}-{c[1].value}-{c[2]}-" + "".join("01"[b] for b in c[3:]),
)
def test_truth_table(case) -> None:
    mode, profile, scope, tn, hammer, terms, not_env, perms, promo = case
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
            key_scope=scope,
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
    assert len(CASES) == 3 * 3 * 3 * 2**6 == len(set(CASES))
    # live only: staging, prod, each with a key scoped live or not scoped
    assert sum(expected(*c)[0] is Mode.LIVE for c in CASES) == 4


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


# --- issue 13 (1): testnet mode never reaches a production host ----------------------------------
HOSTILE_URLS = [
    "https://api.binance.com.",  # trailing dot
    "https://API.BINANCE.COM",
    "https://api.binance.us",
    "https://api.binance.com:443",
    "https://api1.binance.com/",
    "https://testnet.binance.vision.evil.example",  # "testnet" in the name is not enough
    "https://testnet-binance.vision",
    "https://api.binance.com\\@testnet.binance.vision",  # parsers disagree on the backslash
    "https://api.binance.com\\\\@testnet.binance.vision/",
    "https://testnet.binance.vision@api.binance.com",  # userinfo
    "https://testnet.binance.vision:x@api.binance.com",
    "https://testnet.binance.vision%2f@api.binance.com",
    "https://api.binance.com#@testnet.binance.vision",
    "https://api.binance.com?@testnet.binance.vision",
    "https://api.binance.com/testnet.binance.vision",  # a path
    "https://api.binance.com\t.testnet.binance.vision",
    "http://testnet.binance.vision",  # plain http
    "https://testnet.binance.vision:8443",  # odd port
    "https://testnet.binance.vision:0",
    "https://xn--tstnet-bva.binance.vision",  # IDNA look-alike
    "https://tеstnet.binance.vision",  # Cyrillic e
    "ftp://testnet.binance.vision",
    "//testnet.binance.vision",
    "testnet.binance.vision",
    "https://",
    "https://2130706433",  # 127.0.0.1 in disguise: not recognised as loopback
    "https://[::ffff:7f00:1]",
]


def _testnet_request(url: str, profile: Profile, scope: str | None) -> GateInputs:
    return GateInputs(
        requested=Mode.TESTNET,
        profile=profile,
        binance_testnet=True,
        final_hammer=False,
        terms_accepted=False,
        secret_source=SecretSource.AWS,
        permissions_ok=False,
        promotion_ok=False,
        endpoint=url,
        key_scope=scope,
    )


@pytest.mark.parametrize("url", HOSTILE_URLS)
@pytest.mark.parametrize("profile", [Profile.DEV, Profile.STAGING])
@pytest.mark.parametrize("scope", ["testnet", None])
def test_a_hostile_url_never_runs_testnet(url: str, profile: Profile, scope: str | None) -> None:
    d = decide(_testnet_request(url, profile, scope))
    assert d.mode is Mode.PAPER, (url, d.fallback)
    assert "endpoint" not in d.failed or "TRADEWARDEN_BINANCE_BASE_URL" in " ".join(d.blockers)


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_a_hostile_url_in_the_settings_exits_2_or_runs_paper(
    url: str, tmp_path: Path, clean_env: None
) -> None:
    from tradewarden.core.config import ConfigError

    try:
        s = load_settings(
            state_dir=tmp_path, mode="testnet", profile="staging", binance_base_url=url
        )
    except ConfigError as exc:
        assert "TRADEWARDEN_BINANCE_BASE_URL" in str(exc)
        return
    for scope in ("testnet", None):
        assert live_gate(s, key_scope=scope).mode is Mode.PAPER, url
    assert parse_endpoint(s.effective_binance_url).kind == "production"


def test_only_the_testnet_host_runs_testnet_and_loopback_only_in_dev() -> None:
    ok = decide(_testnet_request("https://testnet.binance.vision", Profile.STAGING, "testnet"))
    assert ok.mode is Mode.TESTNET
    dotted = decide(_testnet_request("https://TESTNET.binance.vision./", Profile.DEV, "testnet"))
    assert dotted.mode is Mode.TESTNET  # normalised: lower-case, trailing dot stripped
    local = "http://127.0.0.1:8765"
    assert decide(_testnet_request(local, Profile.DEV, None)).mode is Mode.TESTNET
    d = decide(_testnet_request(local, Profile.STAGING, "testnet"))
    assert d.mode is Mode.PAPER and "only the dev profile" in d.fallback


@pytest.mark.parametrize("scope", [None, "live"])
def test_testnet_needs_a_key_recorded_as_testnet(scope: str | None) -> None:
    d = decide(_testnet_request("https://testnet.binance.vision", Profile.STAGING, scope))
    assert d.mode is Mode.PAPER and "scope" in d.fallback


def test_parse_endpoint_uses_the_clients_view() -> None:
    ep = parse_endpoint("https://Testnet.Binance.Vision.")
    assert (ep.url, ep.kind) == ("https://testnet.binance.vision", "testnet")
    assert parse_endpoint("http://localhost:8765/").url == "http://localhost:8765"
    assert parse_endpoint("http://[::1]:9").kind == "loopback"
    assert parse_endpoint("https://api.binance.us").kind == "production"
    for bad in ("https://a\\@b", "https://u@testnet.binance.vision", "http://api.binance.com"):
        with pytest.raises(EndpointError):
            parse_endpoint(bad)


def test_prod_refuses_a_loopback_url(tmp_path: Path, clean_env: None) -> None:
    from tradewarden.core.config import ConfigError

    with pytest.raises(ConfigError, match="TRADEWARDEN_BINANCE_BASE_URL"):
        load_settings(state_dir=tmp_path, profile="prod", binance_base_url="http://127.0.0.1:1")


@settings(max_examples=300, deadline=None)
@given(
    url=st.one_of(
        st.text(max_size=60),
        st.builds(
            lambda scheme, host, tail: f"{scheme}://{host}{tail}",
            st.sampled_from(["https", "http", "HTTPS", "ftp", ""]),
            st.text(max_size=30),
            st.text(max_size=15),
        ),
    )
)
def test_parse_endpoint_refuses_or_parses_any_text(url: str) -> None:
    try:
        ep = parse_endpoint(url)
    except EndpointError:
        return
    assert parse_endpoint(ep.url) == ep  # the canonical form is stable
    assert ep.kind != "testnet" or ep.host in {"testnet.binance.vision"}
    d = decide(_testnet_request(url, Profile.STAGING, "testnet"))
    assert d.mode is not Mode.TESTNET or ep.kind == "testnet"
