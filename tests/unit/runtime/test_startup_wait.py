"""startup.py: which start-up failures are waited out NOT READY, and how long; a 418 ban is
waited until its Retry-After, never retried sooner. The real daemon against the fake
Binance: tests/integration/testnet/test_startup_outage.py."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tradewarden.core.config import load_settings
from tradewarden.exchange import AuthError, RateLimitedError, TransportError
from tradewarden.runtime.exchange_loop import ExchangeStartError
from tradewarden.runtime.startup import StartupStopped, StartupWait, heals_by_itself
from tradewarden.runtime.systemd import Service
from tradewarden.secrets.errors import SecretNotFoundError, SecretUnavailableError


def test_what_heals_by_itself() -> None:
    ban = RateLimitedError("banned", code=418, retry_after=120.0)
    assert heals_by_itself(ban) == ("banned by the exchange (HTTP 418) at start", 120.0)
    assert heals_by_itself(ExchangeStartError("x", TransportError("no answer")))[0] == (  # type: ignore[index]
        "exchange unreachable at start"
    )
    assert heals_by_itself(SecretUnavailableError("down", "tradewarden/x")) == (
        "secret source unreachable at start",
        0.0,
    )
    # what waiting cannot fix: a refused key, a missing secret, an unknown error
    assert heals_by_itself(ExchangeStartError("x", AuthError("-2015", code=-2015))) is None
    assert heals_by_itself(SecretNotFoundError("gone", "tradewarden/x")) is None
    assert heals_by_itself(ValueError("?")) is None


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        self.t += 60.0  # every look at the clock is a minute later: waits end at once
        return self.t


def test_a_ban_is_waited_out_until_its_retry_after(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path, metrics_port=0)
    clock = Clock()
    waiter = StartupWait(settings, Service(), clock=clock)
    tries: list[float] = []
    reasons: list[tuple[int, dict]] = []

    def step() -> str:
        tries.append(clock.t)
        if len(tries) == 1:
            raise ExchangeStartError("banned", RateLimitedError("IP banned", 418, 300.0))
        if len(tries) == 2:
            assert waiter.server is not None
            url = f"http://127.0.0.1:{waiter.server.port}/readyz"
            try:
                urllib.request.urlopen(url, timeout=5)  # noqa: S310 - local
            except urllib.error.HTTPError as exc:
                reasons.append((exc.code, json.loads(exc.read())))
            raise ExchangeStartError("down", TransportError("no answer"))
        return "started"

    try:
        assert waiter.until_ok(step) == "started"
    finally:
        assert waiter.server is not None
        waiter.server.stop()
    assert tries[1] - tries[0] >= 300.0, "retried before the ban's Retry-After"
    assert tries[2] - tries[1] < 300.0  # a plain outage: back-off from 1 s, not the ban's
    ((code, body),) = reasons
    assert code == 503 and body["ready"] is False
    assert body["reasons"][0].startswith("banned by the exchange (HTTP 418) at start: banned")
    assert "retry 2 in" in body["reasons"][0]
    assert waiter.reasons() == []  # started: nothing left to wait for


def test_a_stop_while_waiting_and_what_is_not_waited(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path, metrics_port=0)
    waiter = StartupWait(settings, Service(), clock=Clock())

    def down() -> None:
        waiter.stopping.set()  # SIGTERM arrives during the first try
        raise SecretUnavailableError("Secrets Manager unreachable", "tradewarden/x")

    try:
        with pytest.raises(StartupStopped):
            waiter.until_ok(down)
    finally:
        if waiter.server is not None:
            waiter.server.stop()
    fresh = StartupWait(settings, Service(), clock=Clock())
    with pytest.raises(SecretNotFoundError):  # no waiting: propagates at once
        fresh.until_ok(lambda: (_ for _ in ()).throw(SecretNotFoundError("gone", "x")))
    assert fresh.server is None
