"""The fake's USDⓈ-M futures side (/fapi) through python-binance's own futures client."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from decimal import Decimal

import aiohttp
import pytest
import requests
from binance import AsyncClient, BinanceSocketManager
from binance.client import Client

from tests.fakes.binance import FakeBinance
from tests.integration.fake_binance.helpers import api_error

FUTURES_KEY = {"enableFutures": True}


@pytest.fixture()
def ffx() -> Iterator[FakeBinance]:
    """A fake whose key may trade futures, on the manual clock (funding, weight windows);
    takers fill at the mark so the sums below stay round (`test_takers_fill_worse_than_the_mark`
    covers the default)."""
    with FakeBinance(
        restrictions=dict(FUTURES_KEY), manual_clock=True, futures={"taker_slippage": 0}
    ) as fake:
        yield fake


@pytest.fixture()
def fc(ffx: FakeBinance) -> Client:
    return ffx.client()


def isolated(fc: Client, symbol: str = "BTCUSDT", leverage: int = 5) -> None:
    fc.futures_change_margin_type(symbol=symbol, marginType="ISOLATED")
    fc.futures_change_leverage(symbol=symbol, leverage=leverage)


def position(fc: Client, symbol: str = "BTCUSDT") -> dict:
    """The v2 row (v3, python-binance's default, has no leverage / marginType)."""
    (row,) = fc.futures_position_information(symbol=symbol, version=2)
    return row


def used_weight(fc: Client) -> int:
    return int(fc.response.headers["X-MBX-USED-WEIGHT-1M"])


def d(value: str) -> Decimal:
    return Decimal(value)


# ---------------------------------------------------------------- auth and weights
def test_signed_calls_use_spots_signature_rules(ffx: FakeBinance, fc: Client) -> None:
    account = fc.futures_account()
    assert account["totalWalletBalance"] == "10000.00000000"
    assert account["assets"][0]["asset"] == "USDT"
    wrong = ffx.client(api_secret="not-the-secret")
    assert api_error(wrong.futures_account).code == -1022
    stranger = ffx.client(api_key="somebody-else")
    err = api_error(stranger.futures_account)
    assert (err.status_code, err.code) == (401, -2015)
    ts = int(time.time() * 1000) - 60_000  # older than the default recvWindow
    r = requests.get(f"{ffx.url}/fapi/v2/account?timestamp={ts}&signature=00", timeout=5)
    assert r.status_code == 401  # no key header: refused before the signature is read
    ffx.fault("clock_skew", path="/fapi/*", ms=-10_000)
    assert api_error(fc.futures_account).code == -1021


def test_trading_needs_a_key_with_enable_futures() -> None:
    with FakeBinance() as fx:  # the default key: spot trading only
        fc = fx.client()
        assert fc.futures_account()["availableBalance"] == "10000.00000000"  # reading is fine
        err = api_error(
            lambda: fc.futures_create_order(
                symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01"
            )
        )
        assert (err.status_code, err.code) == (401, -2015)
        err = api_error(lambda: fc.futures_change_leverage(symbol="BTCUSDT", leverage=3))
        assert err.code == -2015
        assert fx.futures_orders() == []


def test_weights_are_futures_own_pool(ffx: FakeBinance, fc: Client) -> None:
    spot = ffx.client()
    spot.get_account()  # 20 on the spot pool
    fc.futures_exchange_info()
    assert used_weight(fc) == 1
    fc.futures_mark_price()
    assert used_weight(fc) == 11  # 10 without symbol
    fc.futures_mark_price(symbol="BTCUSDT")
    assert used_weight(fc) == 12
    fc.futures_position_information()
    assert used_weight(fc) == 17
    fc.futures_income_history()
    assert used_weight(fc) == 47
    fc.futures_get_open_orders()
    assert used_weight(fc) == 87  # 40 without symbol
    fc.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
    headers = fc.response.headers
    assert headers["X-MBX-USED-WEIGHT-1M"] == "87"  # an order costs no IP weight
    assert (headers["X-MBX-ORDER-COUNT-10S"], headers["X-MBX-ORDER-COUNT-1M"]) == ("1", "1")
    assert "X-MBX-ORDER-COUNT-1D" not in headers
    spot.ping()
    assert spot.response.headers["X-MBX-USED-WEIGHT-1M"] == "21"  # spot's pool untouched
    info = fc.futures_exchange_info()
    limits = {(r["rateLimitType"], r["interval"]): r["limit"] for r in info["rateLimits"]}
    assert limits == {
        ("REQUEST_WEIGHT", "MINUTE"): 2400,
        ("ORDERS", "MINUTE"): 1200,
        ("ORDERS", "SECOND"): 300,
    }


def test_weight_and_order_limits_answer_429(ffx: FakeBinance, fc: Client) -> None:
    ffx.futures_set_limits(weight_limit=12, orders_10s_limit=2)
    fc.futures_position_information()
    fc.futures_position_information()
    err = api_error(fc.futures_position_information)
    assert (err.status_code, err.code) == (429, -1003)
    assert int(err.response.headers["Retry-After"]) >= 1
    assert api_error(fc.futures_ping).status_code == 429  # back-off: the minute is spent
    assert ffx.client().get_account()["canTrade"] is True  # spot is another pool
    ffx.advance_clock(60)
    ffx.futures_unban()
    for _ in range(2):
        fc.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
    err = api_error(
        lambda: fc.futures_create_order(
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01"
        )
    )
    assert (err.status_code, err.code) == (429, -1015)
    assert "10 SECOND" in err.message
    assert len(ffx.futures_orders()) == 2


def test_exchange_info_filters_and_premium_index(fc: Client) -> None:
    info = fc.futures_exchange_info()
    btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
    assert btc["marginAsset"] == "USDT"
    assert btc["contractType"] == "PERPETUAL"
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert set(filters) >= {"PRICE_FILTER", "LOT_SIZE", "MARKET_LOT_SIZE", "MIN_NOTIONAL"}
    assert filters["MIN_NOTIONAL"]["notional"] == "100"
    assert filters["PERCENT_PRICE"]["multiplierUp"] == "1.0500"
    mark = fc.futures_mark_price(symbol="BTCUSDT")
    assert mark["markPrice"] == "30000.00000000"
    assert mark["lastFundingRate"] == "0.00010000"
    assert 0 < mark["nextFundingTime"] - mark["time"] <= 8 * 3_600_000


def test_market_data_and_order_history(ffx: FakeBinance, fc: Client) -> None:
    assert fc.futures_symbol_ticker(symbol="BTCUSDT")["price"] == "30000.00000000"
    assert used_weight(fc) == 1
    ffx.set_price_path("BTCUSDT", [30000, 30100])
    ffx.step()
    klines = fc.futures_klines(symbol="BTCUSDT", interval="1m", limit=3)
    assert used_weight(fc) == 2  # limit < 100: 1
    assert (len(klines), klines[-1][4]) == (3, "30100.00000000")
    assert (
        fc.futures_create_test_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
        == {}
    )
    assert (
        api_error(
            lambda: fc.futures_create_test_order(
                symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001"
            )
        ).code
        == -4164
    )
    assert ffx.futures_orders() == []  # a test order is never booked
    first = fc.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
    fc.futures_create_order(
        symbol="BTCUSDT",
        side="SELL",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.01",
        price="31000",
    )
    every = fc.futures_get_all_orders(symbol="BTCUSDT")
    assert [(o["type"], o["status"]) for o in every] == [("MARKET", "FILLED"), ("LIMIT", "NEW")]
    assert every[0]["orderId"] == first["orderId"]
    assert used_weight(fc) == 7


# ---------------------------------------------------------------- leverage, margin type
def test_leverage_and_margin_type_set_and_read_back(ffx: FakeBinance, fc: Client) -> None:
    row = position(fc)
    assert (row["marginType"], row["leverage"], row["positionSide"]) == ("cross", "20", "BOTH")
    assert fc.futures_change_margin_type(symbol="BTCUSDT", marginType="ISOLATED") == {
        "code": 200,
        "msg": "success",
    }
    err = api_error(lambda: fc.futures_change_margin_type(symbol="BTCUSDT", marginType="ISOLATED"))
    assert (err.code, err.message) == (-4046, "No need to change margin type.")
    got = fc.futures_change_leverage(symbol="BTCUSDT", leverage=3)
    assert (got["leverage"], got["symbol"]) == (3, "BTCUSDT")
    row = position(fc)
    assert (row["marginType"], row["leverage"]) == ("isolated", "3")
    assert fc.futures_symbol_config(symbol="BTCUSDT")[0]["marginType"] == "ISOLATED"
    for bad in (0, 126):
        err = api_error(lambda bad=bad: fc.futures_change_leverage(symbol="BTCUSDT", leverage=bad))
        assert (err.code, err.message) == (-4028, f"Leverage {bad} is not valid")
    assert fc.futures_leverage_bracket(symbol="BTCUSDT")["brackets"][0]["initialLeverage"] == 125
    # a position or an open order pins the margin type; lowering isolated leverage too
    fc.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
    err = api_error(lambda: fc.futures_change_margin_type(symbol="BTCUSDT", marginType="CROSSED"))
    assert err.code == -4048
    assert api_error(lambda: fc.futures_change_leverage(symbol="BTCUSDT", leverage=2)).code == -4161
    fc.futures_change_margin_type(symbol="ETHUSDT", marginType="ISOLATED")
    fc.futures_create_order(
        symbol="ETHUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.1", price="1990"
    )
    err = api_error(lambda: fc.futures_change_margin_type(symbol="ETHUSDT", marginType="CROSSED"))
    assert err.code == -4047
    assert fc.futures_get_position_mode()["dualSidePosition"] is False


# ---------------------------------------------------------------- orders
def test_ack_is_the_order_as_accepted_result_the_outcome(fc: Client) -> None:
    ack = fc.futures_create_order(
        symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01", newClientOrderId="tw-f-1"
    )
    assert (ack["status"], ack["executedQty"], ack["clientOrderId"]) == (
        "NEW",
        "0.00000000",
        "tw-f-1",
    )
    got = fc.futures_get_order(symbol="BTCUSDT", origClientOrderId="tw-f-1")
    assert (got["status"], got["executedQty"], got["avgPrice"]) == (
        "FILLED",
        "0.01000000",
        "30000.00000000",
    )
    res = fc.futures_create_order(
        symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01", newOrderRespType="RESULT"
    )
    assert (res["status"], res["cumQty"]) == ("FILLED", "0.01000000")
    assert d(position(fc)["positionAmt"]) == d("0.02")


def test_client_order_id_is_unique_only_among_open_orders(ffx: FakeBinance, fc: Client) -> None:
    """Binance: "A unique id among open orders" - a blind resend of a filled MARKET order
    with the same id is a second order; only a resting one's id is refused (-4116)."""
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}
    fc.futures_create_order(newClientOrderId="tw-f-dup", **order)
    fc.futures_create_order(newClientOrderId="tw-f-dup", **order)
    assert d(position(fc)["positionAmt"]) == d("0.02")
    resting = {**order, "type": "LIMIT", "timeInForce": "GTC", "price": "29000"}
    fc.futures_create_order(newClientOrderId="tw-f-rest", **resting)
    err = api_error(lambda: fc.futures_create_order(newClientOrderId="tw-f-rest", **resting))
    assert (err.code, err.message) == (-4116, "clientOrderId is duplicated.")
    bad = api_error(lambda: fc.futures_create_order(newClientOrderId="t" * 37, **order))
    assert bad.code == -4015


def test_position_side_must_be_both(fc: Client) -> None:
    for side in ("LONG", "SHORT"):
        err = api_error(
            lambda side=side: fc.futures_create_order(
                symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01", positionSide=side
            )
        )
        assert (err.code, err.message) == (
            -4061,
            "Order's position side does not match user's setting.",
        )
    ok = fc.futures_create_order(
        symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01", positionSide="BOTH"
    )
    assert ok["positionSide"] == "BOTH"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"type": "MARKET", "quantity": "0.003"}, -4164),  # 90 USDT < 100
        ({"type": "LIMIT", "quantity": "0.01", "price": "30000.05"}, -4014),
        ({"type": "MARKET", "quantity": "0.0105"}, -1111),
        ({"type": "LIMIT", "quantity": "0.01", "price": "31600"}, -4016),
        ({"type": "MARKET", "quantity": "121"}, -4005),
        ({"type": "LIMIT_MAKER", "quantity": "0.01"}, -1116),
        ({"type": "MARKET", "quantity": "2"}, -2027),  # 60,000 > 50,000 at 125x
        ({"type": "MARKET", "quantity": "10"}, -2019),
        ({"type": "LIMIT", "quantity": "0.01", "price": "30100", "timeInForce": "GTX"}, -5022),
    ],
    ids=[
        "min-notional",
        "tick",
        "precision",
        "percent-price",
        "market-lot",
        "order-type",
        "bracket",
        "margin",
        "post-only",
    ],
)
def test_order_filters(fc: Client, params: dict, code: int) -> None:
    fc.futures_change_leverage(symbol="BTCUSDT", leverage=125)
    if params["type"] == "LIMIT":
        params = {"timeInForce": "GTC", **params}
    if code == -2019:
        fc.futures_change_leverage(symbol="BTCUSDT", leverage=1)
    err = api_error(lambda: fc.futures_create_order(symbol="BTCUSDT", side="BUY", **params))
    assert err.code == code


def test_reduce_only_is_rejected_without_a_position_to_reduce(ffx: FakeBinance, fc: Client) -> None:
    order = {"symbol": "BTCUSDT", "type": "MARKET", "quantity": "0.01", "reduceOnly": "true"}
    for side in ("BUY", "SELL"):  # no position at all
        err = api_error(lambda side=side: fc.futures_create_order(side=side, **order))
        assert (err.code, err.message) == (-2022, "ReduceOnly Order is rejected.")
    fc.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.02")
    err = api_error(lambda: fc.futures_create_order(side="BUY", **order))  # would increase
    assert err.code == -2022
    # a reduce-only order below the min notional is allowed
    small = fc.futures_create_order(side="SELL", newOrderRespType="RESULT", **order)
    assert small["status"] == "FILLED"
    # more than the position: cut to the position, the rest expires, never a flip
    big = fc.futures_create_order(
        symbol="BTCUSDT",
        side="SELL",
        type="MARKET",
        quantity="0.05",
        reduceOnly="true",
        newOrderRespType="RESULT",
    )
    assert (big["status"], big["executedQty"]) == ("EXPIRED", "0.01000000")
    assert d(position(fc)["positionAmt"]) == 0
    assert api_error(lambda: fc.futures_create_order(side="SELL", **order)).code == -2022
    assert ffx.futures_liquidations() == []


def test_resting_reduce_only_expires_when_the_position_is_gone(fc: Client) -> None:
    fc.futures_create_order(symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.01")
    tp = fc.futures_create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.01",
        price="29000",
        reduceOnly="true",
    )
    assert tp["reduceOnly"] is True
    fc.futures_create_order(
        symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01", reduceOnly="true"
    )
    assert fc.futures_get_order(symbol="BTCUSDT", orderId=tp["orderId"])["status"] == "EXPIRED"
    assert fc.futures_get_open_orders(symbol="BTCUSDT") == []


def test_limit_orders_rest_fill_as_maker_and_cancel(ffx: FakeBinance, fc: Client) -> None:
    a = fc.futures_create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.01",
        price="29900",
    )
    b = fc.futures_create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.01",
        price="29000",
    )
    assert {o["orderId"] for o in fc.futures_get_open_orders(symbol="BTCUSDT")} == {
        a["orderId"],
        b["orderId"],
    }
    ffx.set_price("BTCUSDT", 29850)  # the mark follows the spot price
    assert fc.futures_get_order(symbol="BTCUSDT", orderId=a["orderId"])["status"] == "FILLED"
    (trade,) = fc.futures_account_trades(symbol="BTCUSDT")
    assert (trade["maker"], trade["price"], trade["commission"], trade["commissionAsset"]) == (
        True,
        "29900.00000000",
        "0.05980000",  # 299 USDT * 0.02% maker
        "USDT",
    )
    got = fc.futures_cancel_order(symbol="BTCUSDT", orderId=b["orderId"])
    assert got["status"] == "CANCELED"
    assert api_error(
        lambda: fc.futures_cancel_order(symbol="BTCUSDT", orderId=b["orderId"])
    ).code == (-2011)
    assert api_error(lambda: fc.futures_get_order(symbol="BTCUSDT", orderId=1)).code == -2013
    fc.futures_create_order(
        symbol="BTCUSDT",
        side="SELL",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.01",
        price="30500",
    )
    assert fc.futures_cancel_all_open_orders(symbol="BTCUSDT")["code"] == 200
    assert fc.futures_get_open_orders() == []


def test_taker_fee_in_usdt_from_the_wallet(ffx: FakeBinance, fc: Client) -> None:
    fc.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.1")
    fc.futures_create_order(symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.1")
    trades = fc.futures_account_trades(symbol="BTCUSDT")
    assert [(t["commission"], t["commissionAsset"], t["maker"]) for t in trades] == [
        ("1.50000000", "USDT", False),  # 3000 USDT * 0.05% taker
        ("1.50000000", "USDT", False),
    ]
    commissions = fc.futures_income_history(incomeType="COMMISSION")
    assert [i["income"] for i in commissions] == ["-1.50000000", "-1.50000000"]
    assert fc.futures_account()["totalWalletBalance"] == "9997.00000000"
    assert fc.futures_commission_rate(symbol="BTCUSDT")["takerCommissionRate"] == "0.0005"


def test_takers_fill_worse_than_the_mark() -> None:
    with FakeBinance(restrictions=dict(FUTURES_KEY)) as fx:  # Binance's world: 0.01% slippage
        fc = fx.client()
        buy = fc.futures_create_order(
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01", newOrderRespType="RESULT"
        )
        sell = fc.futures_create_order(
            symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.01", newOrderRespType="RESULT"
        )
        assert (buy["avgPrice"], sell["avgPrice"]) == ("30003.00000000", "29997.00000000")
        (pnl,) = fc.futures_income_history(incomeType="REALIZED_PNL")
        assert pnl["income"] == "-0.06000000"
    with FakeBinance(restrictions=dict(FUTURES_KEY), kind=True) as fx:  # the kind world: none
        fc = fx.client()
        kind = fc.futures_create_order(
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01", newOrderRespType="RESULT"
        )
        assert kind["avgPrice"] == "30000.00000000"
        assert fc.futures_account_trades(symbol="BTCUSDT")[0]["commission"] == "0.00000000"


def test_realized_pnl_on_reducing(ffx: FakeBinance, fc: Client) -> None:
    isolated(fc)
    fc.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.1")
    assert position(fc)["isolatedWallet"] == "600.00000000"  # 3000 / 5
    ffx.set_price("BTCUSDT", 31000)
    assert position(fc)["unRealizedProfit"] == "100.00000000"
    fc.futures_create_order(
        symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.05", reduceOnly="true"
    )
    row = position(fc)
    assert (row["positionAmt"], row["isolatedWallet"]) == ("0.05000000", "300.00000000")
    pnl = fc.futures_income_history(incomeType="REALIZED_PNL")
    assert [i["income"] for i in pnl] == ["50.00000000"]


# ---------------------------------------------------------------- funding
def test_funding_is_booked_every_8_hours_into_income_and_wallet(
    ffx: FakeBinance, fc: Client
) -> None:
    isolated(fc)
    fc.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.1")
    wallet = d(fc.futures_account()["totalWalletBalance"])
    wait = ffx.futures_next_funding_in_s()
    assert 0 < wait <= 8 * 3600
    ffx.advance_clock(wait - 1)
    assert fc.futures_income_history(incomeType="FUNDING_FEE") == []
    ffx.advance_clock(1)
    (fee,) = fc.futures_income_history(incomeType="FUNDING_FEE")
    assert (fee["symbol"], fee["income"], fee["asset"]) == ("BTCUSDT", "-0.30000000", "USDT")
    assert d(fc.futures_account()["totalWalletBalance"]) == wallet - d("0.3")
    assert position(fc)["isolatedWallet"] == "599.70000000"  # taken from the isolated margin
    ffx.futures_set_funding_rate(-0.0002, symbol="BTCUSDT")
    ffx.advance_clock(8 * 3600)
    fees = fc.futures_income_history(incomeType="FUNDING_FEE")
    assert [f["income"] for f in fees] == ["-0.30000000", "0.60000000"]  # longs receive now
    assert fees[0]["time"] <= fees[1]["time"] <= ffx.server_time_ms()  # told in server time
    history = fc.futures_funding_rate(symbol="BTCUSDT")
    assert [h["fundingRate"] for h in history] == ["0.00010000", "-0.00020000"]


# ---------------------------------------------------------------- liquidation
def short_squeezed(ffx: FakeBinance, fc: Client) -> None:
    """A 5x isolated short of 0.1 BTC at 30000: 600 USDT of margin, liquidation price
    (600 + 3000) / (0.1 * 1.004) = 35856.57 (maintenance 0.4%, tier 1)."""
    isolated(fc)
    fc.futures_create_order(symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.1")
    assert position(fc)["liquidationPrice"] == "35856.57370518"


def test_a_squeezed_short_is_liquidated_at_the_maintenance_margin_not_before(
    ffx: FakeBinance, fc: Client
) -> None:
    short_squeezed(ffx, fc)
    stop = fc.futures_create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.1",
        price="29000",
        reduceOnly="true",
    )
    wallet = d(fc.futures_account()["totalWalletBalance"])
    ffx.set_price_path("BTCUSDT", [33000, 35000, 35850, 35860])
    ffx.step(2)  # 35850: margin 600 - 585 = 15 > maintenance 14.34
    assert ffx.futures_liquidations() == []
    assert position(fc)["positionAmt"] == "-0.10000000"
    ffx.step()  # 35860: 600 - 586 = 14 <= 14.344
    (liq,) = ffx.futures_liquidations()
    assert (liq["symbol"], liq["markPrice"], liq["positionAmt"]) == (
        "BTCUSDT",
        "35860.00000000",
        "-0.10000000",
    )
    assert liq["walletChange"] == "-600.00000000"  # the whole isolated margin is lost
    assert d(fc.futures_account()["totalWalletBalance"]) == wallet - 600
    row = position(fc)
    assert (row["positionAmt"], row["isolatedWallet"]) == ("0.00000000", "0.00000000")
    assert fc.futures_get_order(symbol="BTCUSDT", orderId=stop["orderId"])["status"] == "CANCELED"
    forced = fc._request_futures_api("get", "forceOrders", True, data={"symbol": "BTCUSDT"})
    assert [(o["type"], o["clientOrderId"][:10]) for o in forced] == [("LIQUIDATION", "autoclose-")]
    trade = ffx.futures_trades()[-1]
    assert (trade["liquidation"], trade["price"], trade["realizedPnl"]) == (
        True,
        "35860.00000000",
        "-586.00000000",
    )
    income = {
        i["incomeType"]: i["income"]
        for i in fc.futures_income_history()
        if i["time"] == liq["time"]
    }
    assert income == {"REALIZED_PNL": "-586.00000000", "INSURANCE_CLEAR": "-14.00000000"}


def test_a_spike_between_two_requests_still_liquidates(ffx: FakeBinance, fc: Client) -> None:
    short_squeezed(ffx, fc)
    ffx.set_price_path("BTCUSDT", [30000, 40000, 30000])
    ffx.step(2)  # up and back down before anyone asks
    assert position(fc)["positionAmt"] == "0.00000000"
    (liq,) = ffx.futures_liquidations()
    assert liq["markPrice"] == "40000.00000000"
    # past the bankruptcy price the loss is still the isolated margin (insurance pays the rest)
    assert liq["walletChange"] == "-600.00000000"


def test_own_mark_price_path(ffx: FakeBinance, fc: Client) -> None:
    short_squeezed(ffx, fc)
    ffx.futures_set_mark_price_path("BTCUSDT", [30000, 35000, 36000])
    ffx.set_price("BTCUSDT", 50000)  # the spot price no longer moves the mark
    assert fc.futures_mark_price(symbol="BTCUSDT")["markPrice"] == "30000.00000000"
    ffx.futures_step()
    assert ffx.futures_liquidations() == []
    ffx.futures_step()
    assert len(ffx.futures_liquidations()) == 1


def test_a_cross_position_is_liquidated_when_the_wallet_no_longer_covers_it() -> None:
    futures = {"taker_slippage": 0, "balance": 200}
    with FakeBinance(restrictions=dict(FUTURES_KEY), futures=futures) as fx:
        fc = fx.client()
        fc.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.1")
        row = position(fc)  # 198.5 + 0.1 * (M - 30000) = 0.1 * M * 0.4%
        assert (row["marginType"], row["liquidationPrice"]) == ("cross", "28127.51004016")
        fx.set_price("BTCUSDT", 28130)
        assert fx.futures_liquidations() == []
        fx.set_price("BTCUSDT", 28100)
        (liq,) = fx.futures_liquidations()
        assert (liq["marginType"], liq["walletChange"]) == ("CROSSED", "-190.00000000")
        assert fc.futures_account()["totalWalletBalance"] == "8.50000000"


def test_the_liquidation_list_over_http(ffx: FakeBinance) -> None:
    r = requests.post(f"{ffx.url}/_control/futures_liquidations", timeout=5)
    assert (r.status_code, r.json()) == (200, [])
    r = requests.post(f"{ffx.url}/_control/futures_nonsense", timeout=5)
    assert r.status_code == 404


# ---------------------------------------------------------------- faults
def test_5xx_after_booking_the_order_is_there_on_query(ffx: FakeBinance, fc: Client) -> None:
    ffx.fault("error_after_accept", path="/fapi/v1/order", method="POST", status=503)
    err = api_error(
        lambda: fc.futures_create_order(
            symbol="BTCUSDT",
            side="BUY",
            type="MARKET",
            quantity="0.01",
            newClientOrderId="tw-f-503",
        )
    )
    assert err.status_code == 503
    got = fc.futures_get_order(symbol="BTCUSDT", origClientOrderId="tw-f-503")
    assert got["status"] == "FILLED"
    assert d(position(fc)["positionAmt"]) == d("0.01")
    assert [o["clientOrderId"] for o in ffx.futures_orders()] == ["tw-f-503"]


def test_connection_killed_after_booking(ffx: FakeBinance) -> None:
    fc = ffx.client(requests_params={"timeout": 5})
    ffx.fault("timeout_after_accept", path="/fapi/v1/order", method="POST", ms=100)
    with pytest.raises(requests.exceptions.ConnectionError):
        fc.futures_create_order(
            symbol="BTCUSDT",
            side="SELL",
            type="MARKET",
            quantity="0.01",
            newClientOrderId="tw-f-kill",
        )
    got = fc.futures_get_order(symbol="BTCUSDT", origClientOrderId="tw-f-kill")
    assert got["status"] == "FILLED"
    assert ffx.requests()[-2]["fault"] == "timeout_after_accept"


def test_late_visible_and_ban_faults_on_fapi(ffx: FakeBinance, fc: Client) -> None:
    ffx.fault("late_visible", path="/fapi/v1/order", method="POST", seconds=3)
    fc.futures_create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.01",
        price="29000",
        newClientOrderId="tw-f-late",
    )
    assert (
        api_error(
            lambda: fc.futures_get_order(symbol="BTCUSDT", origClientOrderId="tw-f-late")
        ).code
        == -2013
    )
    assert fc.futures_get_open_orders() == []
    ffx.advance_clock(3)
    assert fc.futures_get_order(symbol="BTCUSDT", origClientOrderId="tw-f-late")["status"] == "NEW"
    ffx.fault("ban", path="/fapi/*", retry_after=60)
    err = api_error(fc.futures_ping)
    assert (err.status_code, err.code) == (418, -1003)
    assert fc.futures_ping() == {}


def test_reset_clears_the_futures_account(ffx: FakeBinance, fc: Client) -> None:
    isolated(fc)
    fc.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
    ffx.reset()
    assert ffx.futures_orders() == []
    row = position(fc)
    assert (row["positionAmt"], row["marginType"]) == ("0.00000000", "cross")


# ---------------------------------------------------------------- user data stream
async def _events_until(url: str, act, done) -> list[dict]:
    """Connect, run `act` (blocking REST / control calls) and read until `done(events)`."""
    events: list[dict] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await asyncio.to_thread(act)
        while not done(events):
            msg = await asyncio.wait_for(ws.receive(), timeout=10)
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            events.append(json.loads(msg.data))
    return events


def test_user_data_stream_orders_account_margin_call_and_liquidation(
    ffx: FakeBinance, fc: Client
) -> None:
    key = fc.futures_stream_get_listen_key()
    assert fc.futures_stream_get_listen_key() == key  # the active key comes back
    fc.futures_stream_keepalive(listenKey=key)
    short_squeezed(ffx, fc)  # before connecting: not sent

    def act() -> None:
        fc.futures_create_order(
            symbol="BTCUSDT",
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity="0.01",
            price="29000",
            reduceOnly="true",
            newClientOrderId="tw-f-tp",
        )
        ffx.set_price_path("BTCUSDT", [35000, 35840, 35860])
        ffx.step(2)

    url = ffx.futures_stream_url() + f"private/ws?listenKey={key}"
    events = asyncio.run(
        _events_until(url, act, lambda ev: any(e.get("e") == "ACCOUNT_UPDATE" for e in ev[2:]))
    )
    kinds = [(e["e"], e.get("o", {}).get("x")) for e in events]
    assert kinds[0] == ("ORDER_TRADE_UPDATE", "NEW")
    assert events[0]["o"]["c"] == "tw-f-tp"
    # 35840: maintenance 14.34 is 90% of the 16 USDT left (35000: 14%, no call)
    (call,) = [e for e in events if e["e"] == "MARGIN_CALL"]
    assert (call["p"][0]["mt"], call["p"][0]["mp"]) == ("ISOLATED", "35840.00000000")
    assert ("ORDER_TRADE_UPDATE", "CANCELED") in kinds
    liq = next(e for e in events if e.get("o", {}).get("x") == "CALCULATED")
    assert (liq["o"]["o"], liq["o"]["X"], liq["o"]["c"][:10]) == (
        "LIQUIDATION",
        "FILLED",
        "autoclose-",
    )
    update = next(e for e in events if e["e"] == "ACCOUNT_UPDATE")
    assert update["a"]["P"][0]["pa"] == "0.00000000"
    assert ffx.futures_events()[-1]["e"] == "ACCOUNT_UPDATE"
    fc.futures_stream_close(listenKey=key)
    err = api_error(lambda: fc.futures_stream_keepalive(listenKey=key))
    assert err.code == -1125


def test_listen_key_expires_after_an_hour_without_keepalive(ffx: FakeBinance, fc: Client) -> None:
    key = fc.futures_stream_get_listen_key()
    url = ffx.futures_stream_url() + f"ws/{key}"
    events = asyncio.run(_events_until(url, lambda: ffx.advance_clock(3600), lambda ev: bool(ev)))
    assert events[0]["e"] == "listenKeyExpired"
    assert api_error(lambda: fc.futures_stream_keepalive(listenKey=key)).code == -1125
    r = requests.get(f"{ffx.url}/fstream/ws/{key}", timeout=5)
    assert r.status_code == 400


def test_python_binance_futures_user_socket_reads_the_stream(ffx: FakeBinance) -> None:
    async def main() -> list[dict]:
        client = AsyncClient(ffx.api_key, ffx.api_secret)
        client.FUTURES_URL = ffx.url + "/fapi"
        manager = BinanceSocketManager(client)
        manager.FSTREAM_URL = ffx.futures_stream_url()
        try:
            async with manager.futures_user_socket() as socket:
                await asyncio.to_thread(
                    lambda: ffx.client().futures_create_order(
                        symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01"
                    )
                )
                events = [await asyncio.wait_for(socket.recv(), timeout=10) for _ in range(3)]
                # the fake ends the stream (listenKeyExpired, close): the socket exits at once
                sync = ffx.client()
                key = sync.futures_stream_get_listen_key()
                await asyncio.to_thread(lambda: sync.futures_stream_close(listenKey=key))
                return events
        finally:
            await client.close_connection()

    events = asyncio.run(main())
    assert [(e["e"], e.get("o", {}).get("x")) for e in events] == [
        ("ORDER_TRADE_UPDATE", "NEW"),
        ("ORDER_TRADE_UPDATE", "TRADE"),
        ("ACCOUNT_UPDATE", None),
    ]
    assert events[2]["a"]["P"][0]["pa"] == "0.01000000"


def test_a_dropped_stream_can_be_reopened_with_the_same_key(ffx: FakeBinance, fc: Client) -> None:
    key = fc.futures_stream_get_listen_key()
    url = ffx.futures_stream_url() + f"ws/{key}"
    assert asyncio.run(_events_until(url, ffx.futures_stream_drop, lambda ev: False)) == []

    def act() -> None:
        fc.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")

    events = asyncio.run(_events_until(url, act, lambda ev: len(ev) >= 2))
    assert [e["o"]["x"] for e in events[:2]] == ["NEW", "TRADE"]


def test_controls_for_daemon_tests(ffx: FakeBinance, fc: Client) -> None:
    """What a daemon's tests set up: a symbol left in cross at 50x by someone, a foreign
    position, a balance, a funding now."""
    assert ffx.futures_set_symbol_config("ETHUSDT", leverage=50, margin_type="CROSSED") == {
        "symbol": "ETHUSDT",
        "marginType": "CROSSED",
        "isAutoAddMargin": "false",
        "leverage": 50,
        "maxNotionalValue": "3000000",
    }
    assert fc.futures_symbol_config(symbol="ETHUSDT")[0]["leverage"] == 50
    foreign = ffx.futures_foreign_order("ETHUSDT", "SELL", 0.5)
    assert foreign["clientOrderId"].startswith("web_")
    (row,) = fc.futures_position_information(symbol="ETHUSDT")  # v3: only open positions
    assert row["positionAmt"] == "-0.50000000"
    assert [r["symbol"] for r in fc.futures_position_information()] == ["ETHUSDT"]
    ffx.futures_set_balance(5000)
    assert fc.futures_account()["totalWalletBalance"] == "5000.00000000"
    ffx.futures_fund_now()
    (fee,) = fc.futures_income_history(incomeType="FUNDING_FEE")
    assert fee["income"] == "0.10000000"  # a short receives 0.5 * 2000 * 0.01%
    with pytest.raises(ValueError, match="-2019"):
        ffx.futures_foreign_order("BTCUSDT", "BUY", 100)
