"""The USD-M futures gateway (`exchange.futures_gateway`) against the fake's /fapi side over
real HTTP: filters from the futures exchangeInfo, the futures weight pool, reduceOnly as
sent and as the exchange enforces it, and an unanswered order resolved by query."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.exchange.conftest import creds, intent
from tradewarden.core.config import Settings
from tradewarden.core.models import OrderStatus, OrderType, Side
from tradewarden.exchange import RateLimiter
from tradewarden.exchange.errors import FilterReject, FilterRejectedError
from tradewarden.exchange.futures_gateway import FuturesGateway, futures_base_url
from tradewarden.exchange.ratelimit import LimitKind
from tradewarden.state.store import Store
from tradewarden.trading.broker import BrokerError


@pytest.fixture()
def fapi_limiter() -> RateLimiter:
    return RateLimiter()


@pytest.fixture()
def gw(fsettings: Settings, fstore: Store, fapi_limiter: RateLimiter) -> FuturesGateway:
    g = FuturesGateway(fsettings, fstore, creds, limiter=fapi_limiter, request_timeout_s=1.0)
    g.start()
    return g


def fposts(fx: FakeBinance) -> int:
    return sum(1 for r in fx.requests() if r["method"] == "POST" and r["path"] == "/fapi/v1/order")


def test_the_futures_host_of_a_configured_url() -> None:
    assert futures_base_url("https://testnet.binance.vision") == "https://testnet.binancefuture.com"
    assert futures_base_url("http://127.0.0.1:9999/") == "http://127.0.0.1:9999"


def test_filters_come_from_the_futures_exchange_info(gw: FuturesGateway) -> None:
    f = gw.filters("BTCUSDT")
    assert (str(f.step), str(f.min_notional)) == ("0.001", "100")
    assert f.percent_up > 1 > f.percent_down > 0
    # MIN_NOTIONAL: reduceOnly orders are exempt (Binance's rule), entries are not
    with pytest.raises(FilterRejectedError) as err:
        f.prepare(Side.BUY, OrderType.MARKET, 0.001, None, reference_price=30000)
    assert err.value.reason is FilterReject.MIN_NOTIONAL
    prepared = f.prepare(
        Side.SELL, OrderType.MARKET, 0.001, None, reference_price=30000, reduce_only=True
    )
    assert prepared.qty_text == "0.001"
    # PERCENT_PRICE: a LIMIT price against the mark price
    with pytest.raises(FilterRejectedError) as err:
        f.prepare(Side.BUY, OrderType.LIMIT, 0.01, 30000 * 1.5, reference_price=30000)
    assert err.value.reason is FilterReject.PERCENT_PRICE


def test_start_sets_isolated_and_the_leverage_and_uses_the_futures_pool(
    ffx: FakeBinance, gw: FuturesGateway, fapi_limiter: RateLimiter
) -> None:
    (row,) = [r for r in ffx.futures_positions() if r["symbol"] == "BTCUSDT"]
    assert (row["marginType"], row["leverage"]) == ("isolated", "2")
    # the futures exchangeInfo's limits configure the futures pool, not spot's
    assert fapi_limiter.budget(LimitKind.REQUEST_WEIGHT, 60) < 2400
    assert fapi_limiter.used(LimitKind.REQUEST_WEIGHT, 60) > 0
    assert all(r["path"].startswith("/fapi/") for r in ffx.requests()), "a spot request"


def test_reduce_only_goes_out_on_reducing_orders_and_the_exchange_enforces_it(
    ffx: FakeBinance, gw: FuturesGateway, fstore: Store
) -> None:
    gw.ticker_price("BTCUSDT")
    entry = gw.submit(intent(fstore, side=Side.BUY, qty=0.01, bot="f1"))
    assert entry.status is OrderStatus.FILLED
    req = replace(intent(fstore, side=Side.SELL, qty=0.004, bot="f1"), reduce_only=True)
    gw.submit(req)
    by_cid = {o["clientOrderId"]: o for o in ffx.futures_orders()}
    assert by_cid[entry.client_order_id]["reduceOnly"] is False
    assert by_cid[req.client_order_id]["reduceOnly"] is True
    # a reduceOnly order that would add to the long: refused by the exchange (-2022)
    adds = replace(intent(fstore, side=Side.BUY, qty=0.004, bot="f1"), reduce_only=True)
    with pytest.raises(BrokerError) as err:
        gw.submit(adds)
    assert err.value.code == -2022
    assert fstore.get_order(adds.client_order_id).status is OrderStatus.REJECTED
    gw.refresh_positions()
    assert gw.position("f1", "BTCUSDT").qty == pytest.approx(0.006)


def test_an_unanswered_order_is_resolved_by_query_and_never_resent(
    ffx: FakeBinance, gw: FuturesGateway, fstore: Store
) -> None:
    ffx.fault("error_after_accept", status=500, path="/fapi/v1/order", method="POST", count=1)
    gw.ticker_price("BTCUSDT")
    req = intent(fstore, side=Side.BUY, qty=0.01, bot="f1")
    order = gw.submit(req)
    assert order.status is OrderStatus.FILLED
    assert fposts(ffx) == 1
    assert [o["clientOrderId"] for o in ffx.futures_orders()] == [req.client_order_id]
    # the row waits for its fills to be booked (the fill poller) before it says FILLED
    assert fstore.get_order(req.client_order_id).status is OrderStatus.NEW
    fills = gw.poll_fills()
    assert [(f.client_order_id, f.qty) for f in fills] == [(req.client_order_id, 0.01)]


def test_a_liquidation_on_the_exchange_is_reported_once(
    ffx: FakeBinance, gw: FuturesGateway, fstore: Store
) -> None:
    gw.ticker_price("BTCUSDT")
    gw.submit(intent(fstore, side=Side.BUY, qty=0.01, bot="f1"))
    gw.refresh_positions()
    assert gw.poll_liquidations() == []  # nothing yet (and the next poll waits its turn)
    ffx.futures_set_mark_price("BTCUSDT", 10000.0)  # far below a 2x long's liquidation
    assert len(ffx.futures_liquidations()) == 1
    gw._next_liquidation_poll = 0.0  # its turn
    (liq,) = gw.poll_liquidations()
    assert (liq.bot, liq.symbol, liq.qty) == ("f1", "BTCUSDT", pytest.approx(0.01))
    assert liq.margin_lost > 0
    gw._next_liquidation_poll = 0.0
    assert gw.poll_liquidations() == []
    assert gw.liquidations == [liq]
    assert gw.exchange_positions() == {}


def test_a_spot_call_with_no_futures_counterpart_is_refused_unsent(
    ffx: FakeBinance, gw: FuturesGateway
) -> None:
    from tradewarden.exchange import endpoints as ep

    before = len(ffx.requests())
    with pytest.raises(BrokerError, match="no USD-M futures counterpart"):
        gw.client.call(ep.ACCOUNT, "get_account")
    assert len(ffx.requests()) == before
    # the futures account instead: available and wallet balance of the margin asset
    free, total = gw.account_balances()
    assert set(free) == {"USDT"} and total["USDT"] >= free["USDT"] > 0


def test_the_futures_weight_pool_is_not_spots(
    fsettings: Settings, fstore: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tradewarden.exchange import ratelimit

    monkeypatch.setattr(ratelimit, "_PROCESS_LIMITERS", {})  # a new process
    g = FuturesGateway(fsettings, fstore, creds, request_timeout_s=1.0)
    assert g.limiter is ratelimit.process_limiter("fapi")
    assert g.limiter is not ratelimit.process_limiter("spot")
    # before any exchangeInfo: Binance's USD-M limits (2400 weight / minute, 300 orders /
    # 10 s), not spot's (6000 / minute, 50 orders / 10 s)
    limits = {(lim.kind, lim.interval_s): lim.limit for lim in g.limiter.limits}
    assert limits[(LimitKind.REQUEST_WEIGHT, 60)] == 2400
    assert limits[(LimitKind.ORDERS, 10)] == 300
    spot = {(lim.kind, lim.interval_s): lim.limit for lim in ratelimit.process_limiter().limits}
    assert spot[(LimitKind.REQUEST_WEIGHT, 60)] == 6000
