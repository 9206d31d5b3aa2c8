"""`tradewarden run` in testnet mode with a hostile TRADEWARDEN_BINANCE_BASE_URL whose real
destination (as the HTTP client parses it) is the fake exchange, standing in for a
production host: the daemon exits 2 or runs paper, and no request ever reaches it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.testnet.conftest import Running


def _finish(r: Running, timeout: float = 90) -> int:
    try:
        return r.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        r.stop()
        raise AssertionError("the daemon kept running: " + "".join(r.lines)[-2000:]) from None


@pytest.mark.parametrize(
    ("make_url", "profile"),
    [
        # urllib.parse sees testnet.binance.vision, requests/urllib3 send to 127.0.0.1
        (lambda fx: fx.url + "\\@testnet.binance.vision", "dev"),
        # userinfo: the host is 127.0.0.1 for both parsers, and it is refused anyway
        (lambda fx: fx.url.replace("http://", "http://testnet.binance.vision@"), "staging"),
        (lambda fx: fx.url + "/@testnet.binance.vision", "dev"),
    ],
    ids=["backslash-userinfo", "userinfo", "path"],
)
def test_a_hostile_url_exits_2_and_sends_nothing(
    fx: FakeBinance,
    daemon: Callable[..., Running],
    make_url: Callable[[FakeBinance], str],
    profile: str,
) -> None:
    r = daemon(TRADEWARDEN_BINANCE_BASE_URL=make_url(fx), TRADEWARDEN_PROFILE=profile)
    rc = _finish(r)
    r.stop()
    assert rc == 2, "".join(r.lines)[-2000:] + r.err
    assert "TRADEWARDEN_BINANCE_BASE_URL" in r.err
    assert fx.requests() == []


def test_loopback_outside_the_dev_profile_runs_paper_and_sends_nothing(
    tmp_path: Path, fx: FakeBinance, daemon: Callable[..., Running]
) -> None:
    r = daemon(TRADEWARDEN_PROFILE="staging")
    rc = _finish(r)
    assert rc == 0, r.stop_output()
    r.stop()
    (ready,) = [x for x in r.logs() if x.get("msg") == "daemon ready"]
    assert ready["mode"] == "paper"
    assert any("only the dev profile" in why for why in ready["why_not_live"])
    assert fx.requests() == []
