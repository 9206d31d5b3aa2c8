"""Attacks on the futures key check against the fake exchange (issue 20 review): the
futures account check answered 5xx, timing out or dropped fails closed (a verdict, the
error kept for the start-up wait), and `tradewarden secrets rotate`'s key check
(`operations.key_rotation.verify_key`) applies the futures account check too: before the
fix it checked apiRestrictions alone and accepted a futures key it could not verify."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.exchange.conftest import KEY, SECRET, SYMBOLS
from tradewarden.core.config import load_settings
from tradewarden.exchange import BinanceBroker, RateLimiter
from tradewarden.exchange.client import ExchangeClient
from tradewarden.exchange.endpoints import Endpoint
from tradewarden.live.key_permissions import check_broker_keys
from tradewarden.operations.key_rotation import verify_key
from tradewarden.secrets.bundle import SecretBundle, SecretKind
from tradewarden.secrets.value import Secret
from tradewarden.state.store import Store

FUTURES_ACCOUNT = Endpoint("GET /fapi/v2/account", 5)
pytestmark = pytest.mark.usefixtures("clean_env")


def creds() -> tuple[Secret, Secret]:
    return Secret(KEY, "api_key"), Secret(SECRET, "api_secret")


class FuturesAccount:
    def __init__(self, url: str) -> None:
        self.client = ExchangeClient(
            url, creds, limiter=RateLimiter(), timeout_s=1.0, max_queue_s=1.0
        )

    def futures_account(self) -> dict[str, Any]:
        return dict(self.client.call(FUTURES_ACCOUNT, "futures_account"))


@pytest.fixture()
def fx() -> Iterator[FakeBinance]:
    with FakeBinance(
        api_key=KEY, api_secret=SECRET, symbols=SYMBOLS, restrictions={"enableFutures": True}
    ) as fake:
        yield fake


@pytest.fixture()
def broker(fx: FakeBinance, tmp_path: Path) -> Iterator[BinanceBroker]:
    settings = load_settings(
        binance_base_url=fx.url,
        state_dir=tmp_path,
        symbols=("BTCUSDT",),
        bots=("b1:BTCUSDT:ma_cross",),
        futures_enabled=True,
    )
    store = Store(settings.db_path, durable=False)
    try:
        yield BinanceBroker(settings, store, creds, request_timeout_s=2.0)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("maintenance", {}),
        ("error_after_accept", {"status": 502}),
        ("drop_connection", {}),
        ("latency", {"ms": 3000}),  # past the reader's 1 s timeout
        ("html_503_after_accept", {}),
    ],
    ids=["503-maintenance", "502", "dropped", "timeout", "html-503"],
)
def test_a_futures_account_check_that_cannot_be_answered_fails_closed(
    fx: FakeBinance, broker: BinanceBroker, kind: str, params: dict[str, Any]
) -> None:
    reader = FuturesAccount(fx.url)
    assert check_broker_keys(broker, futures_account=reader).ok  # the key itself is good
    fx.fault(kind, path="/fapi/v2/account", count=None, **params)
    result = check_broker_keys(broker, futures_account=reader)
    assert not result.ok and result.futures
    assert any(p.startswith("GET /fapi/v2/account failed") for p in result.problems)
    assert result.error is not None  # the start-up check waits on it instead of trading
    assert KEY not in str(result.problems) and SECRET not in str(result.problems)


def bundle() -> SecretBundle:
    return SecretBundle(
        "tradewarden/binance", SecretKind.BINANCE, {"api_key": creds()[0], "api_secret": creds()[1]}
    )


def test_secrets_rotate_applies_the_futures_account_check(fx: FakeBinance, tmp_path: Path) -> None:
    common: dict[str, Any] = {
        "binance_base_url": fx.url,
        "binance_testnet": False,  # loopback as live: the permission check runs
        "state_dir": tmp_path,
        "symbols": ("BTCUSDT",),
        "bots": ("b1:BTCUSDT:ma_cross",),
    }
    futures = verify_key(load_settings(futures_enabled=True, **common), bundle(), timeout_s=5.0)
    # the flags pass the futures rules and the key's futures account, read on the futures
    # API, may trade
    assert futures.ok, futures.detail
    assert futures.permissions is not None and futures.permissions.futures
    # an account that does not accept the key's orders: refused
    fx.futures_set_can_trade(False)
    futures = verify_key(load_settings(futures_enabled=True, **common), bundle(), timeout_s=5.0)
    assert not futures.ok and "GET /fapi/v2/account: canTrade is false" in futures.detail
    # the same key for a spot-only stack: enableFutures true is refused, as before
    spot = verify_key(load_settings(futures_enabled=False, **common), bundle(), timeout_s=5.0)
    assert not spot.ok and "enableFutures is true" in spot.detail
