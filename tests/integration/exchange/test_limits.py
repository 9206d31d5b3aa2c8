"""429/418 over real HTTP: one ban stops every request of the process until Retry-After."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.exchange.conftest import creds
from tradewarden.core.config import Settings
from tradewarden.exchange import BinanceBroker, RateLimitedError, RateLimiter
from tradewarden.exchange.ratelimit import LimitKind
from tradewarden.state.store import Store


def test_418_stops_all_traffic_of_the_process(
    fx: FakeBinance, make_broker: Callable[..., BinanceBroker], limiter: RateLimiter
) -> None:
    a = make_broker()
    b = make_broker()  # another bot's broker, same process limiter
    fx.fault("ban", retry_after=2)
    with pytest.raises(RateLimitedError) as info:
        a.balances()
    assert info.value.code == 418 and info.value.retry_after == pytest.approx(2)
    during = fx.stats()["requests"]
    banned_at = time.monotonic()
    result: dict[str, object] = {}

    def other_bot() -> None:
        result["balances"] = b.balances()  # queues until the ban is over
        result["at"] = time.monotonic()

    t = threading.Thread(target=other_bot)
    t.start()
    time.sleep(1.0)
    assert fx.stats()["requests"] == during  # nothing sent by either broker
    assert t.is_alive()
    t.join(10)
    assert "USDT" in result["balances"]  # type: ignore[operator]
    assert result["at"] - banned_at >= 1.9  # type: ignore[operator]
    assert fx.stats()["requests"] == during + 1
    assert fx.stats()["status_418"] == 1


def test_a_long_ban_refuses_at_once_instead_of_blocking(
    fx: FakeBinance, make_broker: Callable[..., BinanceBroker]
) -> None:
    a = make_broker(max_queue_s=5.0)
    fx.fault("ban", retry_after=600)
    with pytest.raises(RateLimitedError):
        a.balances()
    before = fx.stats()["requests"]
    started = time.monotonic()
    with pytest.raises(RateLimitedError) as info:
        a.open_orders()
    assert time.monotonic() - started < 1.0
    assert info.value.retry_after > 590
    assert fx.stats()["requests"] == before


def test_ban_survives_a_restart(
    fx: FakeBinance,
    settings: Settings,
    store: Store,
    make_broker: Callable[..., BinanceBroker],
) -> None:
    a = make_broker()
    fx.fault("ban", retry_after=300)
    with pytest.raises(RateLimitedError):
        a.balances()
    fresh_limiter = RateLimiter()  # a new process
    BinanceBroker(settings, store, creds, limiter=fresh_limiter)
    assert fresh_limiter.paused_for() > 290


def test_429_pauses_and_headers_correct_the_budget(
    fx: FakeBinance, make_broker: Callable[..., BinanceBroker], limiter: RateLimiter
) -> None:
    fx.set_limits(weight_limit=20_000)
    broker = make_broker()  # adopts the exchange's 20000/min from exchangeInfo
    assert limiter.budget() == 19_000
    fx.set_limits(weight_limit=100)  # the exchange tightens behind our back
    with pytest.raises(RateLimitedError) as info:
        for _ in range(10):
            broker.balances()  # 20 each
    assert info.value.code == 429
    assert 0 < limiter.paused_for() <= 60
    assert limiter.used() >= 100  # corrected from X-MBX-USED-WEIGHT-1M
    assert fx.stats()["status_429"] == 1


def test_limits_come_from_exchange_info(
    fx: FakeBinance, make_broker: Callable[..., BinanceBroker], limiter: RateLimiter
) -> None:
    fx.set_limits(weight_limit=1200, orders_10s_limit=10)
    make_broker()
    assert limiter.budget() == 1140
    assert limiter.budget(LimitKind.ORDERS, 10) == 9
