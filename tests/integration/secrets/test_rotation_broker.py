"""A key rotated in Secrets Manager (moto) reaches a running `BinanceBroker` (fake Binance)
without a restart: at once when the exchange refuses the old key, or when the cache expires.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.exchange.conftest import intent
from tests.integration.secrets.conftest import (
    KEY,
    NEW_KEY,
    NEW_SECRET,
    SECRET,
    TRADE_ID,
    Clock,
    make_settings,
    pair,
)
from tradewarden.core.models import OrderStatus
from tradewarden.exchange import AuthError, BinanceBroker, RateLimiter
from tradewarden.operations.key_rotation import rotate
from tradewarden.secrets.aws import AwsSecretsManagerSource
from tradewarden.secrets.bundle import SecretRole
from tradewarden.secrets.credentials import BinanceCredentials
from tradewarden.secrets.factory import build_source
from tradewarden.state.store import Store


def account_fps(fx: FakeBinance) -> list[tuple[str | None, int]]:
    return [(r["api_key_fp"], r["status"]) for r in fx.requests() if r["path"] == "/api/v3/account"]


def test_rotate_then_revoke_the_next_request_uses_the_new_key(
    fx: FakeBinance, sm, store: Store, tmp_path: Path, clean_env: None
) -> None:
    sm.create_secret(Name=TRADE_ID, SecretString=pair())
    settings = make_settings(tmp_path, fx)
    creds = BinanceCredentials(build_source(settings), TRADE_ID)  # the daemon's, TTL 900 s
    creds.load()
    broker = BinanceBroker(
        settings,
        store,
        creds,
        on_auth_error=creds.on_auth_error,
        limiter=RateLimiter(),
        request_timeout_s=2.0,
    )
    broker.start()
    assert broker.balances()["USDT"] > 0

    # the operator: new key on Binance, `secrets rotate` (its own process, its own source)
    fx.add_key(NEW_KEY, NEW_SECRET)
    result = rotate(
        settings,
        AwsSecretsManagerSource(),
        SecretRole.TRADE,
        {"api_key": NEW_KEY, "api_secret": NEW_SECRET},
    )
    assert result.check.ok and result.previous_version
    fx.remove_key(KEY)  # ... and revokes the old key on Binance

    with pytest.raises(AuthError) as info:  # the cached old key is refused once
        broker.balances()
    assert info.value.code == -2015 and creds.rereads == 1
    assert broker.balances()["USDT"] > 0  # the next signed request: new key, no restart
    order = broker.submit(intent(store, bot="b1"))
    assert order.status in (OrderStatus.NEW, OrderStatus.FILLED)

    old_fp, new_fp = fx.key_fingerprint(KEY), fx.key_fingerprint(NEW_KEY)
    assert account_fps(fx)[0] == (old_fp, 200)
    assert account_fps(fx)[-2:] == [(old_fp, 401), (new_fp, 200)]
    posts = [r["api_key_fp"] for r in fx.requests() if r["path"] == "/api/v3/order"]
    assert posts == [new_fp]
    for text in (str(info.value), repr(info.value)):
        for v in (KEY, SECRET, NEW_KEY, NEW_SECRET):
            assert v not in text


def test_without_a_refusal_the_new_key_is_used_once_the_ttl_expires(
    fx: FakeBinance, sm, store: Store, tmp_path: Path, clean_env: None
) -> None:
    sm.create_secret(Name=TRADE_ID, SecretString=pair())
    settings = make_settings(tmp_path, fx)
    clock = Clock()
    source = AwsSecretsManagerSource(ttl_s=900, grace_s=300, clock=clock)
    creds = BinanceCredentials(source, TRADE_ID)
    broker = BinanceBroker(
        settings, store, creds, on_auth_error=creds.on_auth_error, limiter=RateLimiter()
    )
    broker.start()
    broker.balances()
    fx.add_key(NEW_KEY, NEW_SECRET)
    rotate(
        settings,
        AwsSecretsManagerSource(),
        SecretRole.TRADE,
        {"api_key": NEW_KEY, "api_secret": NEW_SECRET},
    )
    clock.t += 899
    broker.balances()  # still the cached old key (not revoked yet: accepted)
    clock.t += 2
    broker.balances()  # TTL over: re-read, new key
    fps = [fp for fp, _ in account_fps(fx)]
    assert fps[-2:] == [fx.key_fingerprint(KEY), fx.key_fingerprint(NEW_KEY)]
    assert creds.rereads == 0 and source.reads == 2


def test_auth_error_rereads_are_rate_limited(sm, clean_env: None) -> None:
    sm.create_secret(Name=TRADE_ID, SecretString=pair())
    clock = Clock()
    source = AwsSecretsManagerSource(clock=clock)
    creds = BinanceCredentials(source, TRADE_ID, min_reread_s=1.0, clock=clock)
    creds.load()
    for _ in range(5):
        creds.on_auth_error(-2015)
    creds.on_auth_error(-1013)  # not an auth code: ignored
    assert creds.rereads == 1 and creds.auth_errors == 5 and source.reads == 2
    clock.t += 1.5
    creds.on_auth_error(-1022)
    assert creds.rereads == 2 and source.reads == 3
