"""The key-permission check of a futures bot against the fake's apiRestrictions and its
futures account (issue 20): a key that can trade futures passes the futures rules only when
its futures account answers ``canTrade``; a key without enableFutures is refused for a
futures bot; a spot-only bot's key with enableFutures is refused as today; a futures bot
whose futures account cannot be asked is refused (fail closed). The results then decide
the live gate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.exchange.conftest import KEY, SECRET, SYMBOLS
from tradewarden.core.config import Mode, SecretSource, Settings, load_settings
from tradewarden.exchange import BinanceBroker, RateLimiter
from tradewarden.exchange.client import ExchangeClient
from tradewarden.exchange.endpoints import Endpoint
from tradewarden.live.gate import live_gate
from tradewarden.live.key_permissions import check_broker_keys
from tradewarden.live.promotion import PromotionCheck
from tradewarden.secrets.value import Secret
from tradewarden.state.store import Store

FUTURES_ACCOUNT = Endpoint("GET /fapi/v2/account", 5)


def creds() -> tuple[Secret, Secret]:
    return Secret(KEY, "api_key"), Secret(SECRET, "api_secret")


class FuturesAccount:
    """The futures account over the futures API (what the futures gateway answers)."""

    def __init__(self, url: str) -> None:
        self.client = ExchangeClient(url, creds, limiter=RateLimiter())

    def futures_account(self) -> dict[str, Any]:
        return dict(self.client.call(FUTURES_ACCOUNT, "futures_account"))


def fake(restrictions: dict[str, Any]) -> FakeBinance:
    return FakeBinance(api_key=KEY, api_secret=SECRET, symbols=SYMBOLS, restrictions=restrictions)


def broker_for(fx: FakeBinance, tmp_path: Path, futures: bool) -> Iterator[BinanceBroker]:
    settings = load_settings(
        binance_base_url=fx.url,
        state_dir=tmp_path,
        symbols=("BTCUSDT",),
        bots=("b1:BTCUSDT:ma_cross",),
        futures_enabled=futures,
    )
    store = Store(settings.db_path, durable=False)
    try:
        yield BinanceBroker(settings, store, creds, request_timeout_s=2.0)
    finally:
        store.close()


def live(tmp_path: Path, futures: bool) -> Settings:
    s = load_settings(
        state_dir=tmp_path,
        mode="live",
        profile="prod",
        binance_testnet=False,
        final_hammer=True,
        terms_accepted=True,
        secret_source=SecretSource.AWS,
    )
    return s.model_copy(update={"futures_enabled": futures})


@pytest.mark.usefixtures("clean_env")
def test_a_futures_key_passes_the_futures_rules_and_opens_the_gate(tmp_path: Path) -> None:
    with fake({"enableFutures": True}) as fx:
        for broker in broker_for(fx, tmp_path, futures=True):
            result = check_broker_keys(broker, futures_account=FuturesAccount(fx.url))
            assert result.ok and result.futures, result.problems
            promo = PromotionCheck(True, "b1 futures promoted", "futures")
            assert live_gate(live(tmp_path, True), permissions=result, promotions=[promo]).live
            # a spot promotion does not open a futures bot's gate
            spot = PromotionCheck(True, "b1 promoted", "spot")
            d = live_gate(live(tmp_path, True), permissions=result, promotions=[spot])
            assert d.mode is not Mode.LIVE and "futures" in d.failed
            # the same key for a spot bot: refused (enableFutures must be false there)
            d = live_gate(live(tmp_path, False), permissions=result, promotions=[spot])
            assert "futures" in d.failed


@pytest.mark.usefixtures("clean_env")
def test_a_futures_bot_refuses_a_key_without_enable_futures(tmp_path: Path) -> None:
    with fake({}) as fx:  # the fake's default key: spot only
        for broker in broker_for(fx, tmp_path, futures=True):
            result = check_broker_keys(broker, futures_account=FuturesAccount(fx.url))
            assert not result.ok and result.futures
            assert any(
                p.startswith("enableFutures is false") and "TRADEWARDEN_FUTURES_ENABLED=true" in p
                for p in result.problems
            )
            d = live_gate(
                live(tmp_path, True),
                permissions=result,
                promotions=[PromotionCheck(True, "b1", "futures")],
            )
            assert d.failed == ("permissions",) and "enableFutures is false" in d.blockers[0]


@pytest.mark.usefixtures("clean_env")
def test_a_spot_bot_still_refuses_a_futures_key(tmp_path: Path) -> None:
    with fake({"enableFutures": True}) as fx:
        for broker in broker_for(fx, tmp_path, futures=False):
            result = check_broker_keys(broker)  # the spot rules: the broker's settings
            assert not result.ok and not result.futures
            assert result.bad_flags == {"enableFutures": True}
            assert "spot-only" in result.problems[0]


@pytest.mark.usefixtures("clean_env")
def test_a_futures_bot_without_a_futures_account_to_ask_fails_closed(tmp_path: Path) -> None:
    with fake({"enableFutures": True}) as fx:
        for broker in broker_for(fx, tmp_path, futures=True):
            result = check_broker_keys(broker)  # the spot gateway cannot ask /fapi
            assert not result.ok and "no futures gateway" in result.problems[0]


@pytest.mark.usefixtures("clean_env")
def test_a_futures_account_refusing_the_key_fails_the_check(tmp_path: Path) -> None:
    with fake({"enableFutures": True}) as fx:
        for broker in broker_for(fx, tmp_path, futures=True):
            other = FuturesAccount(fx.url)
            other.client = ExchangeClient(
                fx.url,
                lambda: (Secret("u" * 64, "api_key"), Secret("v" * 64, "api_secret")),
                limiter=RateLimiter(),
            )
            result = check_broker_keys(broker, futures_account=other)
            assert not result.ok
            assert any("GET /fapi/v2/account failed" in p for p in result.problems)
