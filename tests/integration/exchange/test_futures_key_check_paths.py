"""Where a futures stack's trade key is checked (issue 20): the start-up probe
(`runtime.wiring.permission_probe`), the hourly re-check (`check_broker_keys` on the daemon's
futures gateway) and `tradewarden secrets rotate` (`operations.key_rotation.verify_key`), all
against the fake. Each reads the key's futures account (``GET /fapi/v2/account``) on the
futures API: the key passes when ``enableFutures`` is true and the account may trade, and
fails closed otherwise. A spot stack's key keeps the spot rule."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.exchange.conftest import KEY, SECRET, SYMBOLS
from tradewarden.core.config import SecretSource, Settings, load_settings
from tradewarden.exchange.futures_gateway import FuturesGateway, futures_base_url, spot_base_url
from tradewarden.live.key_permissions import check_broker_keys
from tradewarden.operations.key_rotation import verify_key
from tradewarden.runtime.wiring import permission_probe
from tradewarden.secrets.bundle import SecretBundle, SecretKind
from tradewarden.secrets.credentials import binance_keys
from tradewarden.secrets.factory import build_source
from tradewarden.secrets.value import Secret
from tradewarden.state.store import Store


@pytest.fixture()
def fx() -> Iterator[FakeBinance]:
    with FakeBinance(
        api_key=KEY, api_secret=SECRET, symbols=SYMBOLS, restrictions={"enableFutures": True}
    ) as fake:
        yield fake


def settings_for(fx: FakeBinance, tmp_path: Path, *, futures: bool = True) -> Settings:
    return load_settings(
        binance_base_url=fx.url,
        binance_testnet=False,  # loopback as live: the permission check runs
        profile="staging",
        secret_source=SecretSource.ENV,
        state_dir=tmp_path / "state",
        symbols=("BTCUSDT",),
        bots=("b1:BTCUSDT:ma_cross",),
        futures_enabled=futures,
    )


def probe(fx: FakeBinance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> Any:
    monkeypatch.setenv("TRADEWARDEN_BINANCE_API_KEY", KEY)
    monkeypatch.setenv("TRADEWARDEN_BINANCE_API_SECRET", SECRET)
    settings = settings_for(fx, tmp_path, **kw)
    return permission_probe(settings, binance_keys(settings, build_source(settings)))


def fapi_account_reads(fx: FakeBinance) -> list[dict[str, Any]]:
    return [r for r in fx.requests() if r["path"] == "/fapi/v2/account"]


@pytest.mark.usefixtures("clean_env")
def test_start_up_probe_passes_a_futures_key_whose_futures_account_can_trade(
    fx: FakeBinance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = probe(fx, tmp_path, monkeypatch)
    assert result.ok and result.futures, result.problems
    reads = fapi_account_reads(fx)
    assert len(reads) == 1 and reads[0]["status"] == 200
    assert reads[0]["api_key_fp"] == fx.key_fingerprint(KEY)


@pytest.mark.usefixtures("clean_env")
def test_start_up_probe_fails_closed_when_the_futures_account_cannot_trade(
    fx: FakeBinance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fx.futures_set_can_trade(False)
    result = probe(fx, tmp_path, monkeypatch)
    assert not result.ok and result.futures
    assert any("canTrade is false" in p for p in result.problems), result.problems


@pytest.mark.usefixtures("clean_env")
def test_start_up_probe_refuses_a_futures_bot_key_without_enable_futures(
    fx: FakeBinance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fx.add_key(KEY, SECRET, restrictions={"enableFutures": False})
    result = probe(fx, tmp_path, monkeypatch)
    assert not result.ok and result.futures
    assert any(p.startswith("enableFutures is false") for p in result.problems)


@pytest.mark.usefixtures("clean_env")
def test_start_up_probe_of_a_spot_stack_keeps_the_spot_rule(
    fx: FakeBinance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = probe(fx, tmp_path, monkeypatch, futures=False)
    assert not result.ok and not result.futures
    assert result.bad_flags == {"enableFutures": True}
    assert fapi_account_reads(fx) == []  # a spot stack never asks the futures API
    fx.add_key(KEY, SECRET, restrictions={"enableFutures": False})
    assert probe(fx, tmp_path, monkeypatch, futures=False).ok


@pytest.mark.usefixtures("clean_env")
def test_the_hourly_check_on_the_futures_gateway_reads_the_futures_account(
    fx: FakeBinance, tmp_path: Path
) -> None:
    """`PeriodicChecks.recheck_permissions` runs `check_broker_keys` on the daemon's gateway:
    the futures gateway answers the futures account itself."""
    store = Store(":memory:", durable=False)
    pair = (Secret(KEY, "api_key"), Secret(SECRET, "api_secret"))
    try:
        gw = FuturesGateway(settings_for(fx, tmp_path), store, lambda: pair, request_timeout_s=5.0)
        assert check_broker_keys(gw).ok
        fx.futures_set_can_trade(False)
        result = check_broker_keys(gw)
        assert not result.ok and any("canTrade is false" in p for p in result.problems)
        assert KEY not in result.summary() and SECRET not in result.summary()
    finally:
        store.close()


def bundle() -> SecretBundle:
    return SecretBundle(
        "tradewarden/binance",
        SecretKind.BINANCE,
        {"api_key": Secret(KEY, "api_key"), "api_secret": Secret(SECRET, "api_secret")},
    )


@pytest.mark.usefixtures("clean_env")
def test_rotation_verifies_the_new_keys_futures_account(fx: FakeBinance, tmp_path: Path) -> None:
    settings = settings_for(fx, tmp_path)
    ok = verify_key(settings, bundle(), timeout_s=5.0)
    assert ok.ok and ok.permissions is not None and ok.permissions.futures, ok.detail
    assert len(fapi_account_reads(fx)) == 1
    fx.futures_set_can_trade(False)
    bad = verify_key(settings, bundle(), timeout_s=5.0)
    assert not bad.ok and "canTrade is false" in bad.detail
    fx.futures_set_can_trade(True)
    fx.fault("maintenance", path="/fapi/*", count=None)  # the futures API cannot be asked
    down = verify_key(settings, bundle(), timeout_s=5.0)
    assert not down.ok and "GET /fapi/v2/account" in down.detail


def test_the_futures_host_of_each_binance_host() -> None:
    assert futures_base_url("https://api.binance.com") == "https://fapi.binance.com"
    assert futures_base_url("https://testnet.binance.vision") == (
        "https://testnet.binancefuture.com"
    )
    assert futures_base_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    # the key's rights (/sapi) are asked on the spot host of a futures host
    assert spot_base_url("https://fapi.binance.com") == "https://api.binance.com"
    assert spot_base_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"


@pytest.mark.usefixtures("clean_env")
def test_rotation_on_the_futures_testnet_reads_the_futures_account(
    fx: FakeBinance, tmp_path: Path
) -> None:
    """The futures testnet has keys of its own (the spot testnet does not know them): a
    futures testnet stack's new key is verified by its futures account, and fails closed
    when that cannot be read."""
    settings = settings_for(fx, tmp_path).model_copy(update={"binance_testnet": True})
    fx.fault("maintenance", path="/api/v3/account", count=None)  # the spot side: not its key
    ok = verify_key(settings, bundle(), timeout_s=5.0)
    assert ok.ok and "futures account readable" in ok.detail, ok.detail
    assert len(fapi_account_reads(fx)) == 1
    fx.fault("maintenance", path="/fapi/*", count=None)
    down = verify_key(settings, bundle(), timeout_s=5.0)
    assert not down.ok and "GET /fapi/v2/account" in down.detail, down.detail
