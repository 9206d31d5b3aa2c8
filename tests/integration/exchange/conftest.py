"""Fixtures: the fake Binance over real HTTP, settings aimed at it, a store, brokers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.binance import FakeBinance
from tradewarden.core.config import Settings, load_settings
from tradewarden.core.models import Order, OrderRequest, OrderStatus, OrderType, Side
from tradewarden.exchange import BinanceBroker, RateLimiter
from tradewarden.exchange.client import ExchangeClient
from tradewarden.secrets.value import Secret
from tradewarden.state.store import Store

KEY = "tw-test-key-8b1f"
SECRET = "tw-test-secret-c0ffee-never-log-me"
SYMBOLS = {
    "BTCUSDT": {
        "price": 30000.0,
        "tick": 0.01,
        "step": 0.00001,
        "min_qty": 0.00001,
        "min_notional": 5.0,
    },
    "ETHUSDT": {
        "price": 2000.0,
        "tick": 0.01,
        "step": 0.0001,
        "min_qty": 0.0001,
        "min_notional": 5.0,
    },
}
BALANCES = {"USDT": 10000.0, "BTC": 0.5, "ETH": 2.0}


@pytest.fixture()
def fx(request: pytest.FixtureRequest) -> Iterator[FakeBinance]:
    """Parametrize indirectly with a dict to pass more FakeBinance options (fee_rate=...)."""
    options = {"symbols": SYMBOLS, "balances": BALANCES, **getattr(request, "param", {})}
    with FakeBinance(api_key=KEY, api_secret=SECRET, **options) as fake:
        yield fake


@pytest.fixture()
def settings(tmp_path: Path, fx: FakeBinance, clean_env: None) -> Settings:
    return load_settings(
        binance_base_url=fx.url,
        state_dir=tmp_path,
        recv_window_ms=1000,
        # short on purpose: these tests wait for EXPIRED verdicts (default 60 s; the margin
        # itself is tested in test_unknown_outcomes.py)
        order_expiry_margin_seconds=1.0,
        symbols=("BTCUSDT", "ETHUSDT"),
        bots=("b1:BTCUSDT:ma_cross", "b2:ETHUSDT:ma_cross"),
    )


@pytest.fixture()
def store(settings: Settings) -> Iterator[Store]:
    s = Store(settings.db_path, durable=False)
    yield s
    s.close()


@pytest.fixture()
def limiter() -> RateLimiter:
    return RateLimiter()


def creds() -> tuple[Secret, Secret]:
    return Secret(KEY, "api_key"), Secret(SECRET, "api_secret")


@pytest.fixture()
def make_broker(
    settings: Settings, store: Store, limiter: RateLimiter
) -> Callable[..., BinanceBroker]:
    def make(**kw: Any) -> BinanceBroker:
        kw.setdefault("limiter", limiter)
        kw.setdefault("request_timeout_s", 1.0)
        start = kw.pop("start", True)
        broker = BinanceBroker(
            kw.pop("settings", settings),
            kw.pop("store", store),
            kw.pop("credentials", creds),
            **kw,
        )
        if start:
            broker.start()
        return broker

    return make


@pytest.fixture()
def broker(make_broker: Callable[..., BinanceBroker]) -> BinanceBroker:
    return make_broker()


_SEQ = iter(range(1, 1_000_000))


def intent(
    store: Store,
    *,
    symbol: str = "BTCUSDT",
    side: Side = Side.BUY,
    qty: float = 0.001,
    order_type: OrderType = OrderType.MARKET,
    price: float | None = 30000.0,
    bot: str = "b1",
) -> OrderRequest:
    """Record a PENDING intent the way the OrderGate does; returns the request to submit."""
    cid = f"tw-{bot}-{next(_SEQ)}-beef"
    store.record_intent(Order(cid, bot, symbol, side, order_type, qty, price, OrderStatus.PENDING))
    return OrderRequest(
        bot=bot,
        symbol=symbol,
        side=side,
        qty=qty,
        order_type=order_type,
        price=price,
        client_order_id=cid,
    )


def posts(fx: FakeBinance) -> int:
    return int(fx.stats()["requests_by_endpoint"].get("POST /api/v3/order", 0))


# --- futures (issue 20): the fake whose key may trade futures, settings for a futures bot ---
def futures_fake(*, manual_clock: bool = False) -> FakeBinance:
    """The fake Binance with futures allowed for the key and no taker slippage (enter it
    with ``with``)."""
    return FakeBinance(
        api_key=KEY,
        api_secret=SECRET,
        restrictions={"enableFutures": True},
        manual_clock=manual_clock,
        futures={"taker_slippage": 0},
    )


@pytest.fixture()
def ffx() -> Iterator[FakeBinance]:
    with futures_fake() as fake:
        yield fake


@pytest.fixture()
def fsettings(tmp_path: Path, ffx: FakeBinance, clean_env: None) -> Settings:
    return load_settings(
        binance_base_url=ffx.url,
        state_dir=tmp_path,
        mode="testnet",
        futures_enabled=True,
        recv_window_ms=1000,
        order_expiry_margin_seconds=1.0,
        symbols=("BTCUSDT",),
        bots=("f1:BTCUSDT:ma_cross_ls",),
    )


@pytest.fixture()
def fstore(fsettings: Settings) -> Iterator[Store]:
    s = Store(fsettings.db_path, durable=False)
    yield s
    s.close()


@pytest.fixture()
def client(ffx: FakeBinance) -> ExchangeClient:
    """A REST client with the fake's key, aimed at the futures fake (`ffx`)."""
    return ExchangeClient(ffx.url, creds, limiter=RateLimiter())
