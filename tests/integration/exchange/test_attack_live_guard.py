"""Adversarial review of the live gate at run time (issue 13, 11): `LiveGuard` on a real
`GuardedBroker` against the fake Binance over HTTP. Each test is an attack that placed a
live order the gate should have refused, on the code before its fix."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from tests.fakes.binance import FakeBinance
from tests.integration.exchange.conftest import KEY, SECRET, intent
from tradewarden.core.config import Settings, load_settings
from tradewarden.exchange import RateLimiter
from tradewarden.exchange.ratelimit import LimitKind, RateLimit
from tradewarden.live.key_permissions import PermissionResult
from tradewarden.live.promotion import PromotionCheck
from tradewarden.runtime.wiring import DISARM_KEY, GuardedBroker, LiveGuard
from tradewarden.secrets.bundle import SecretKind
from tradewarden.secrets.credentials import binance_keys
from tradewarden.secrets.fernet_file import FernetFileSource
from tradewarden.state.store import Store
from tradewarden.trading.broker import BrokerError

NEW_KEY = "tw-rotated-key-5e7a"
NEW_SECRET = "tw-rotated-secret-0b5e55ed"
TRADE_ID = "tradewarden/staging/binance/trade"


class StepClock:
    """The limiter's clock (its `Clock` protocol): a queue of seconds passes at once."""

    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    def sleep_until(self, deadline: float) -> None:
        self.t = max(self.t, deadline)


@pytest.fixture()
def live(
    tmp_path: Path, fx: FakeBinance, clean_env: None
) -> Iterator[tuple[Settings, FernetFileSource, LiveGuard, GuardedBroker, Store]]:
    key = Fernet.generate_key().decode()
    cred = tmp_path / "credentials.enc"
    source = FernetFileSource(cred, key)
    source.put(
        TRADE_ID, SecretKind.BINANCE, {"api_key": KEY, "api_secret": SECRET, "scope": "live"}
    )
    os.chmod(cred, 0o600)
    settings = load_settings(
        mode="live",
        profile="staging",
        binance_testnet=False,
        final_hammer=True,
        terms_accepted=True,
        secret_source="file",
        credential_file=cred,
        credential_key=key,
        secret_trade_key_id=TRADE_ID,
        secret_read_key_id=TRADE_ID,
        binance_base_url=fx.url,
        state_dir=tmp_path / "state",
        recv_window_ms=1000,
        symbols=("BTCUSDT", "ETHUSDT"),
        bots=("b1:BTCUSDT:ma_cross", "b2:ETHUSDT:ma_cross"),
    )
    keys = binance_keys(settings, source)
    guard = LiveGuard(
        settings,
        keys,
        permissions=PermissionResult(ok=True, role="trade"),
        promotions=[PromotionCheck(True, "promoted")],
    )
    store = Store(settings.db_path, durable=False)
    # wired as `exchange_broker_factory` wires it (with a limiter on a test clock)
    broker = GuardedBroker(
        settings,
        store,
        guard.credentials,
        on_auth_error=keys.trade.on_auth_error,
        limiter=RateLimiter(clock=StepClock(), margin=0),
        request_timeout_s=2.0,
    )
    broker.guard = guard
    guard.broker = broker
    guard.store = store
    broker.start()
    yield settings, source, guard, broker, store
    store.close()


def _order_posts(fx: FakeBinance) -> list[dict[str, Any]]:
    return [r for r in fx.requests() if (r["method"], r["path"]) == ("POST", "/api/v3/order")]


def test_attack_a_disarm_while_the_order_waits_in_the_rate_limiter(
    fx: FakeBinance, live: tuple[Any, ...]
) -> None:
    """`live disarm` lands while an order waits in the limiter's queue (one order per 10 s
    here): the guard had passed it before the wait, and it went out live after the disarm.
    The gate is evaluated again right before the order leaves."""
    _, _, guard, broker, store = live
    broker.limiter.configure([RateLimit(LimitKind.ORDERS, 10, 1)])  # one order per 10 s
    broker.submit(intent(store))  # the first order of the 10 s window
    sent = len(_order_posts(fx))

    def operator_disarms() -> None:  # the operator, while the order is queued
        if store.get(DISARM_KEY) is None:
            store.put(DISARM_KEY, {"reason": "incident", "actor": "alice", "at": 1.0})

    broker.on_wait.append(operator_disarms)
    req = intent(store)
    with pytest.raises(BrokerError, match="disarmed"):
        broker.submit(req)
    assert store.get(DISARM_KEY) is not None, "the order never waited in the limiter"
    assert len(_order_posts(fx)) == sent, "an order left after live was disarmed"
    assert store.get_order(req.client_order_id).status.value == "REJECTED"
    assert "disarmed" in guard.refused


def test_attack_a_rotated_key_of_testnet_scope_never_signs_a_live_order(
    fx: FakeBinance, live: tuple[Any, ...]
) -> None:
    """The trade secret is rotated to a key stored with scope testnet whose permissions are
    fine: the check on rotation looked at the permissions only, so the testnet-scoped key
    signed a live order (the gate's key_scope rule caught it only from the next order)."""
    _, source, guard, broker, store = live
    broker.submit(intent(store))
    fx.add_key(NEW_KEY, NEW_SECRET)
    source.put(
        TRADE_ID,
        SecretKind.BINANCE,
        {"api_key": NEW_KEY, "api_secret": NEW_SECRET, "scope": "testnet"},
    )
    with pytest.raises(BrokerError, match="testnet"):
        broker.submit(intent(store))
    new_fp = fx.key_fingerprint(NEW_KEY)
    assert [r for r in _order_posts(fx) if r["api_key_fp"] == new_fp] == []
    assert "testnet" in guard.refused
