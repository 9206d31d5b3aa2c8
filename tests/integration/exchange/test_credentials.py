"""Credentials come from a provider on every call; auth errors call the hook; no leaks."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.exchange.conftest import KEY, SECRET, intent
from tradewarden.exchange import AuthError, BinanceBroker
from tradewarden.secrets.value import Secret
from tradewarden.state.store import Store

NEW_KEY, NEW_SECRET = "tw-rotated-key-51aa", "tw-rotated-secret-feed-never-log"


class Provider:
    """A secret source stand-in: what it returns changes when the secret is rotated."""

    def __init__(self) -> None:
        self.current = (KEY, SECRET)
        self.reads = 0
        self.auth_errors: list[int] = []
        self.rotated_to: tuple[str, str] | None = None

    def __call__(self) -> tuple[Secret, Secret]:
        self.reads += 1
        return Secret(self.current[0]), Secret(self.current[1])

    def on_auth_error(self, code: int) -> None:
        self.auth_errors.append(code)
        if self.rotated_to is not None:
            self.current = self.rotated_to  # re-read from the source: the new version


def test_rotation_is_picked_up_without_restart(
    fx: FakeBinance, make_broker: Callable[..., BinanceBroker]
) -> None:
    p = Provider()
    broker = make_broker(credentials=p, on_auth_error=p.on_auth_error)
    broker.balances()
    fx.add_key(NEW_KEY, NEW_SECRET)
    p.current = (NEW_KEY, NEW_SECRET)
    broker.balances()
    fps = [r["api_key_fp"] for r in fx.requests() if r["path"] == "/api/v3/account"]
    assert fps == [fx.key_fingerprint(KEY), fx.key_fingerprint(NEW_KEY)]
    assert broker.client.clients_built == 2


def test_auth_error_calls_the_hook_and_the_next_call_uses_the_new_key(
    fx: FakeBinance, make_broker: Callable[..., BinanceBroker], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    p = Provider()
    broker = make_broker(credentials=p, on_auth_error=p.on_auth_error)
    fx.add_key(NEW_KEY, NEW_SECRET)
    fx.remove_key(KEY)  # the old key was revoked on the exchange
    p.rotated_to = (NEW_KEY, NEW_SECRET)
    with pytest.raises(AuthError) as info:
        broker.balances()
    assert info.value.code == -2015 and p.auth_errors == [-2015]
    assert "USDT" in broker.balances()
    for text in (str(info.value), repr(info.value), caplog.text):
        for secret in (KEY, SECRET, NEW_KEY, NEW_SECRET):
            assert secret not in text


def test_bad_signature_is_an_auth_error(
    fx: FakeBinance, make_broker: Callable[..., BinanceBroker], store: Store
) -> None:
    p = Provider()
    broker = make_broker(credentials=p, on_auth_error=p.on_auth_error)
    p.current = (KEY, "not-the-secret")
    req = intent(store)
    with pytest.raises(AuthError) as info:
        broker.submit(req)
    assert info.value.code == -1022 and p.auth_errors == [-1022]
    assert fx.orders() == []


def test_missing_credentials_send_nothing(
    fx: FakeBinance, make_broker: Callable[..., BinanceBroker]
) -> None:
    broker = make_broker(credentials=lambda: (Secret(""), Secret("")), start=False)
    with pytest.raises(AuthError):
        broker.balances()
    assert fx.stats()["requests"] == 0
