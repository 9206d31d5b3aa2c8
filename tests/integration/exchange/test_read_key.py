"""Two keys, least privilege: with a separate read key every read goes out with it, and
only order placement and cancels use the trade key (the fake logs which key signed what)."""

from __future__ import annotations

from collections.abc import Callable

from tests.fakes.binance import FakeBinance
from tests.integration.exchange.conftest import KEY, intent
from tradewarden.core.models import OrderStatus, OrderType
from tradewarden.exchange import AuthError, BinanceBroker
from tradewarden.live.key_permissions import check_broker_keys
from tradewarden.secrets.value import Secret
from tradewarden.state.store import Store

READ_KEY, READ_SECRET = "tw-read-key-7c21", "tw-read-secret-5e5e-never-log"
READ_ONLY = {"enableSpotAndMarginTrading": False}
WRITES = {"POST /api/v3/order", "DELETE /api/v3/order", "DELETE /api/v3/openOrders"}


def read_creds() -> tuple[Secret, Secret]:
    return Secret(READ_KEY, "api_key"), Secret(READ_SECRET, "api_secret")


def signed_by(fx: FakeBinance) -> dict[str, set[str]]:
    """Endpoint -> the fingerprints of the keys that sent it."""
    out: dict[str, set[str]] = {}
    for r in fx.requests():
        out.setdefault(f"{r['method']} {r['path']}", set()).add(r["api_key_fp"])
    return out


def test_reads_use_the_read_key_and_only_orders_the_trade_key(
    fx: FakeBinance, make_broker: Callable[..., BinanceBroker], store: Store
) -> None:
    fx.add_key(READ_KEY, READ_SECRET, restrictions=READ_ONLY)
    broker = make_broker(read_credentials=read_creds)
    assert broker.submit(intent(store)).status is OrderStatus.FILLED
    assert broker.poll_fills()  # GET order + myTrades
    resting = intent(store, order_type=OrderType.LIMIT, price=29000.0)
    broker.submit(resting)
    assert [o.client_order_id for o in broker.open_orders("BTCUSDT")] == [resting.client_order_id]
    assert broker.query("BTCUSDT", resting.client_order_id) is not None
    assert broker.balances()["USDT"] > 0 and broker.ticker_price("BTCUSDT") > 0
    assert broker.cancel("BTCUSDT", resting.client_order_id).status is OrderStatus.CANCELED
    broker.submit(intent(store, order_type=OrderType.LIMIT, price=29000.0))
    assert len(broker.cancel_all("BTCUSDT")) == 1

    trade_fp, read_fp = fx.key_fingerprint(KEY), fx.key_fingerprint(READ_KEY)
    seen = signed_by(fx)
    assert WRITES <= set(seen)
    for endpoint, keys in seen.items():
        if endpoint in WRITES:
            assert keys == {trade_fp}, endpoint
        elif endpoint not in {"GET /api/v3/time", "GET /api/v3/exchangeInfo", "GET /api/v3/ping"}:
            assert keys == {read_fp}, endpoint  # signed reads
    for public in ("GET /api/v3/exchangeInfo", "GET /api/v3/ticker/price"):
        assert trade_fp not in seen[public], f"{public} went out with the trade key"
    reads = {"GET /api/v3/account", "GET /api/v3/openOrders", "GET /api/v3/order"}
    assert reads | {"GET /api/v3/myTrades"} <= set(seen)


def test_a_read_key_that_cannot_trade_places_nothing_if_given_as_the_trade_key(
    fx: FakeBinance, make_broker: Callable[..., BinanceBroker], store: Store
) -> None:
    """The fake enforces the flag: the split is real, not a label."""
    fx.add_key(READ_KEY, READ_SECRET, restrictions=READ_ONLY)
    broker = make_broker(credentials=read_creds)
    req = intent(store)
    try:
        broker.submit(req)
    except AuthError as exc:
        assert exc.code == -2015
    else:
        raise AssertionError("a read-only key placed an order")
    assert fx.orders() == []


def test_the_key_check_covers_both_keys(
    fx: FakeBinance, make_broker: Callable[..., BinanceBroker]
) -> None:
    fx.add_key(READ_KEY, READ_SECRET, restrictions={**READ_ONLY, "enableWithdrawals": True})
    broker = make_broker(read_credentials=read_creds)
    result = check_broker_keys(broker)
    assert not result.ok and result.role == "read"
    assert "enableWithdrawals" in result.summary()
    fx.add_key(READ_KEY, READ_SECRET, restrictions=READ_ONLY)
    assert check_broker_keys(broker).ok
    assert check_broker_keys(make_broker()).role == "trade"  # one key: the trade key only
