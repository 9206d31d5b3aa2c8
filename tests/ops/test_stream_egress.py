"""The stream hosts (issue 19) are reachable wherever the REST host is: the WebSocket API
and market stream URLs the daemon derives from its REST base URL (`stream_urls`) name hosts
on port 443 that the host's nftables refresh resolves (ops/nftables/refresh-allowlist.py)
and the stack's Network/DNS Firewall allow-list covers (infra/domains.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

import pytest

from infra.domains import AllowedDomain, default_allowlist, parse_allowed_domain
from tradewarden.exchange.streams import stream_urls

REFRESH = Path(__file__).resolve().parents[2] / "ops/nftables/refresh-allowlist.py"


def refresh_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("refresh_allowlist_streams", REFRESH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize(
    ("base_url", "testnet"),
    [("https://api.binance.com", False), ("https://testnet.binance.vision", True)],
    ids=["live", "testnet"],
)
def test_stream_hosts_are_in_the_host_and_stack_allow_lists(base_url: str, testnet: bool) -> None:
    urls = [urlsplit(u) for u in stream_urls(base_url)]
    assert {u.scheme for u in urls} == {"wss"} and {u.port or 443 for u in urls} == {443}
    hosts = {u.hostname for u in urls}
    refresh = refresh_module()
    resolved = set(refresh.LIVE_HOSTS) | (set(refresh.TESTNET_HOSTS) if testnet else set())
    assert hosts <= resolved, f"the nftables refresh does not resolve {hosts - resolved}"
    allowed = [parse_allowed_domain(e) for e in default_allowlist(testnet)]
    assert all(covered(h, allowed) for h in hosts if h), (hosts, allowed)


def covered(host: str, allowed: list[AllowedDomain]) -> bool:
    return any(host == a.name or (a.wildcard and host.endswith("." + a.name)) for a in allowed)


def test_the_check_catches_a_host_nobody_allows() -> None:
    live = [parse_allowed_domain(e) for e in default_allowlist(False)]
    assert covered("stream.binance.com", live)
    assert not covered("ws-api.testnet.binance.vision", live), "testnet is not live's"
    assert not covered("stream.binance.com.example.net", live)
