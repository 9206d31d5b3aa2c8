"""Live futures (issue 20): the USD-M hosts the daemon derives from
TRADEWARDEN_BINANCE_BASE_URL=https://api.binance.com (REST ``fapi.binance.com``, user data
stream ``fstream.binance.com``) are resolved by the host's nftables refresh and covered by
the stack's Network/DNS Firewall allow-list: under ``.binance.com``, which every stack
allows, so a futures stack needs no extra entry for them (``.binancefuture.com`` is the
testnet's, added only with tradewarden:futures)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from infra.domains import default_allowlist, parse_allowed_domain
from tests.ops.test_stream_egress import covered, refresh_module
from tradewarden.exchange.futures_gateway import futures_base_url
from tradewarden.exchange.futures_stream import futures_stream_url


def test_live_futures_hosts_are_in_the_host_and_stack_allow_lists() -> None:
    rest = futures_base_url("https://api.binance.com")
    stream = futures_stream_url(rest)
    hosts = {urlsplit(rest).hostname, urlsplit(stream).hostname}
    assert hosts == {"fapi.binance.com", "fstream.binance.com"}
    assert {urlsplit(u).port or 443 for u in (rest, stream)} == {443}
    assert hosts <= set(refresh_module().LIVE_HOSTS)
    for futures in (False, True):  # under .binance.com: allowed on every live stack
        allowed = [parse_allowed_domain(e) for e in default_allowlist(False, futures)]
        assert all(covered(h, allowed) for h in hosts if h), (hosts, allowed)
    # the futures testnet's hosts only on a futures stack
    spot = [parse_allowed_domain(e) for e in default_allowlist(True, False)]
    fut = [parse_allowed_domain(e) for e in default_allowlist(True, True)]
    testnet_rest = urlsplit(futures_base_url("https://testnet.binance.vision")).hostname
    assert testnet_rest == "testnet.binancefuture.com"
    assert covered(testnet_rest, fut) and not covered(testnet_rest, spot)


def test_the_futures_testnet_hosts_are_resolved_by_the_host_only_on_a_futures_stack(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The boxed host's nftables refresh resolves the futures testnet's REST and user-stream
    hosts (as the daemon derives them) when TRADEWARDEN_FUTURES_ENABLED=true, never on a
    spot stack (its DNS Firewall blocks binancefuture.com: each lookup would raise an alarm)."""
    rest = futures_base_url("https://testnet.binance.vision")
    wanted = {urlsplit(rest).hostname, urlsplit(futures_stream_url(rest)).hostname}
    mod = refresh_module()
    asked: list[str] = []

    def resolve(hosts: list[str]) -> set[str]:
        asked.extend(hosts)
        return set()

    monkeypatch.setattr(mod, "resolve", resolve)
    for futures, expected in (("false", False), ("true", True)):
        asked.clear()
        monkeypatch.setenv("BINANCE_TESTNET", "true")
        monkeypatch.setenv("TRADEWARDEN_FUTURES_ENABLED", futures)
        mod.main(["--dry-run", "--vpc-cidr", "10.0.0.0/16", "--state-file", str(tmp_path / "s")])
        assert wanted <= set(asked) if expected else not (wanted & set(asked)), (futures, asked)
