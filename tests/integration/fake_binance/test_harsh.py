"""Binance's world in the fake: commission, a finite book, STP, symbol status, archived
orders, unread parameters, the new filters. Each test asks for it with ``kind=False``, so
it holds whatever the default world is.

Sources: binance-spot-api-docs faqs/commission_faq.md, faqs/market_orders_faq.md,
faqs/stp_faq.md, filters.md, errors.md, enums.md.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from binance.client import Client

from tests.fakes.binance import FakeBinance
from tests.integration.fake_binance.conftest import make_client
from tests.integration.fake_binance.helpers import api_error

# A thin book: levels 1 USDT apart (100 ticks), 0.01 BTC each, 3 levels a side.
THIN = {
    "BTCUSDT": {
        "price": 30000.0,
        "tick": 0.01,
        "step": 0.00001,
        "min_qty": 0.00001,
        "min_notional": 5.0,
        "depth_qty": 0.01,
        "book_gap_ticks": 100,
    }
}


def D(x: Any) -> Decimal:
    return Decimal(str(x))


@pytest.fixture()
def thin() -> Iterator[FakeBinance]:
    with FakeBinance(
        kind=False, symbols=THIN, balances={"USDT": 10_000.0, "BTC": 1.0}, book_levels=3
    ) as fake:
        yield fake


@pytest.fixture()
def harsh() -> Iterator[FakeBinance]:
    with FakeBinance(kind=False, balances={"USDT": 10_000.0, "BTC": 1.0}) as fake:
        yield fake


# ---------------------------------------------------------------- commission
def test_buy_commission_is_taken_from_the_base_asset(harsh: FakeBinance) -> None:
    client = make_client(harsh)
    order = client.order_market_buy(symbol="BTCUSDT", quantity="0.01000")
    assert [(f["commission"], f["commissionAsset"]) for f in order["fills"]] == [
        ("0.00001000", "BTC")
    ]
    trade = client.get_my_trades(symbol="BTCUSDT")[0]
    assert (trade["commission"], trade["commissionAsset"], trade["isBuyer"]) == (
        "0.00001000",
        "BTC",
        True,
    )
    free_btc, _ = harsh.balances()["BTC"]
    assert D(free_btc) == D("1.00999")  # 1 + 0.01 - 0.00001: the fee is not on the account
    assert harsh.balances()["USDT"] == (9700.0, 0.0)  # the quote side pays no fee


def test_sell_commission_is_taken_from_the_quote_asset(harsh: FakeBinance) -> None:
    client = make_client(harsh)
    order = client.order_market_sell(symbol="BTCUSDT", quantity="0.01000")
    fills = order["fills"]
    assert len(fills) == 1
    price = D(fills[0]["price"])
    assert price < D("30000")  # sold into the bids
    assert fills[0]["commissionAsset"] == "USDT"
    assert D(fills[0]["commission"]) == (price * D("0.01") * D("0.001")).quantize(D("1e-8"))
    usdt = D(harsh.balances()["USDT"][0])
    assert usdt == D("10000") + price * D("0.01") - D(fills[0]["commission"])
    assert D(harsh.balances()["BTC"][0]) == D("0.99")
    assert client.get_account()["commissionRates"]["taker"] == "0.00100000"


def test_bnb_pays_the_commission_until_it_runs_out() -> None:
    """commission_faq.md: BNB pays at a discount (25%) while it suffices, else the full
    commission comes from the received asset."""
    with FakeBinance(
        kind=False,
        bnb_fees=True,
        bnb_price=600.0,
        balances={"USDT": 10_000.0, "BNB": 0.001},
    ) as fx:
        client = make_client(fx)
        paid = []
        for _ in range(3):
            fill = client.order_market_buy(symbol="BTCUSDT", quantity="0.01000")["fills"][0]
            paid.append((fill["commission"], fill["commissionAsset"]))
        # 300 USDT * 0.1% * 0.75 / 600 = 0.000375 BNB; the third buy finds 0.00025 BNB left
        assert paid == [
            ("0.00037500", "BNB"),
            ("0.00037500", "BNB"),
            ("0.00001000", "BTC"),
        ]
        assert D(fx.balances()["BNB"][0]) == D("0.00025")
        assert D(fx.balances()["BTC"][0]) == D("0.02999")
        trades = client.get_my_trades(symbol="BTCUSDT")
        assert [t["commissionAsset"] for t in trades] == ["BNB", "BNB", "BTC"]


def test_bnb_price_comes_from_the_bnb_symbol_when_there_is_one() -> None:
    symbols = {
        "BTCUSDT": {"price": 30000.0, "step": 0.00001},
        "BNBUSDT": {"price": 300.0, "step": 0.001},
    }
    with FakeBinance(
        kind=False, bnb_fees=True, symbols=symbols, balances={"USDT": 1000.0, "BNB": 1.0}
    ) as fx:
        fill = make_client(fx).order_market_buy(symbol="BTCUSDT", quantity="0.01000")["fills"][0]
        assert (fill["commission"], fill["commissionAsset"]) == ("0.00075000", "BNB")


# ---------------------------------------------------------------- the finite book
def test_market_buy_walks_a_thin_book_at_several_prices(thin: FakeBinance) -> None:
    client = make_client(thin)
    order = client.order_market_buy(symbol="BTCUSDT", quantity="0.02500")
    assert order["status"] == "FILLED"
    assert [(f["price"], f["qty"]) for f in order["fills"]] == [
        ("30000.00000000", "0.01000000"),
        ("30001.00000000", "0.01000000"),
        ("30002.00000000", "0.00500000"),
    ]
    assert order["executedQty"] == "0.02500000"
    assert order["cummulativeQuoteQty"] == "750.02000000"  # 300 + 300.01 + 150.01
    avg = D(order["cummulativeQuoteQty"]) / D(order["executedQty"])
    assert avg == D("30000.8")
    assert [f["commission"] for f in order["fills"]] == ["0.00001000", "0.00001000", "0.00000500"]
    assert D(thin.balances()["USDT"][0]) == D("10000") - D("750.02")
    assert D(thin.balances()["BTC"][0]) == D("1.024975")
    trades = client.get_my_trades(symbol="BTCUSDT", orderId=order["orderId"])
    assert [t["price"] for t in trades] == [f["price"] for f in order["fills"]]
    # what was taken stays taken until the price moves: the next buy starts higher
    again = client.order_market_buy(symbol="BTCUSDT", quantity="0.00100")
    assert again["fills"][0]["price"] == "30002.00000000"
    thin.step()  # the book refills
    assert client.order_market_buy(symbol="BTCUSDT", quantity="0.00100")["fills"][0]["price"] == (
        "30000.00000000"
    )


def test_market_order_that_exhausts_the_book_expires_partly_filled(thin: FakeBinance) -> None:
    """market_orders_faq.md: partially filled to the extent of the liquidity, the rest
    expires, status EXPIRED."""
    client = make_client(thin)
    order = client.order_market_buy(symbol="BTCUSDT", quantity="0.05000")
    assert (order["status"], order["origQty"], order["executedQty"]) == (
        "EXPIRED",
        "0.05000000",
        "0.03000000",
    )
    assert order["cummulativeQuoteQty"] == "900.03000000"
    assert len(order["fills"]) == 3
    got = client.get_order(symbol="BTCUSDT", orderId=order["orderId"])
    assert (got["status"], got["executedQty"]) == ("EXPIRED", "0.03000000")
    assert D(thin.balances()["USDT"][0]) == D("10000") - D("900.03")
    assert thin.balances()["USDT"][1] == 0.0
    sell = client.order_market_sell(symbol="BTCUSDT", quantity="0.04000")
    assert (sell["status"], sell["executedQty"]) == ("EXPIRED", "0.03000000")
    assert [f["price"] for f in sell["fills"]] == [
        "29999.00000000",
        "29998.00000000",
        "29997.00000000",
    ]


def test_depth_shows_what_is_left(thin: FakeBinance) -> None:
    client = make_client(thin)
    assert client.get_order_book(symbol="BTCUSDT")["asks"][0] == ["30000.00000000", "0.01000000"]
    client.order_market_buy(symbol="BTCUSDT", quantity="0.01500")
    book = client.get_order_book(symbol="BTCUSDT")
    assert book["asks"] == [["30001.00000000", "0.00500000"], ["30002.00000000", "0.01000000"]]
    assert len(book["bids"]) == 3


def test_quote_order_qty_market_buy_walks_the_book(thin: FakeBinance) -> None:
    order = make_client(thin).order_market_buy(symbol="BTCUSDT", quoteOrderQty="450")
    assert order["status"] == "FILLED"
    assert [(f["price"], f["qty"]) for f in order["fills"]] == [
        ("30000.00000000", "0.01000000"),
        ("30001.00000000", "0.00499000"),  # 150 USDT left buys 0.00499 at 30001
    ]
    assert order["cummulativeQuoteQty"] == "449.70499000"
    assert order["executedQty"] == order["origQty"] == "0.01499000"


def test_limit_order_fills_partially_over_several_steps(thin: FakeBinance) -> None:
    client = make_client(thin)
    buy = client.order_limit_buy(symbol="BTCUSDT", quantity="0.02500", price="29000.00")
    assert buy["status"] == "NEW"
    assert thin.balances()["USDT"] == (9275.0, 725.0)
    thin.set_price("BTCUSDT", 28900.0)  # crossed: at most one level's depth per step
    got = client.get_order(symbol="BTCUSDT", orderId=buy["orderId"])
    assert (got["status"], got["executedQty"]) == ("PARTIALLY_FILLED", "0.01000000")
    assert thin.balances()["USDT"] == (9275.0, 435.0)
    assert [o["orderId"] for o in client.get_open_orders(symbol="BTCUSDT")] == [buy["orderId"]]
    thin.step()
    got = client.get_order(symbol="BTCUSDT", orderId=buy["orderId"])
    assert (got["status"], got["executedQty"]) == ("PARTIALLY_FILLED", "0.02000000")
    thin.step()
    got = client.get_order(symbol="BTCUSDT", orderId=buy["orderId"])
    assert (got["status"], got["executedQty"], got["cummulativeQuoteQty"]) == (
        "FILLED",
        "0.02500000",
        "725.00000000",
    )
    trades = client.get_my_trades(symbol="BTCUSDT")
    assert [(t["qty"], t["price"], t["isMaker"], t["commission"]) for t in trades] == [
        ("0.01000000", "29000.00000000", True, "0.00001000"),
        ("0.01000000", "29000.00000000", True, "0.00001000"),
        ("0.00500000", "29000.00000000", True, "0.00000500"),
    ]
    assert thin.balances()["USDT"] == (9275.0, 0.0)
    assert D(thin.balances()["BTC"][0]) == D("1.024975")


def test_cancel_after_a_partial_fill_releases_only_the_rest(thin: FakeBinance) -> None:
    client = make_client(thin)
    sell = client.order_limit_sell(symbol="BTCUSDT", quantity="0.03000", price="31000.00")
    thin.set_price("BTCUSDT", 31000.0)
    cancelled = client.cancel_order(symbol="BTCUSDT", orderId=sell["orderId"])
    assert (cancelled["status"], cancelled["executedQty"]) == ("CANCELED", "0.01000000")
    assert thin.balances()["BTC"] == pytest.approx((0.99, 0.0))
    assert D(thin.balances()["USDT"][0]) == D("10000") + D("310") - D("0.31")


def test_marketable_limit_walks_up_to_its_price_and_rests_the_rest(thin: FakeBinance) -> None:
    client = make_client(thin)
    order = client.order_limit_buy(symbol="BTCUSDT", quantity="0.03000", price="30001.00")
    assert order["status"] == "PARTIALLY_FILLED"
    assert [f["price"] for f in order["fills"]] == ["30000.00000000", "30001.00000000"]
    assert order["executedQty"] == "0.02000000"
    # the rest (0.01) rests, locking 0.01 * 30001
    assert thin.balances()["USDT"][1] == pytest.approx(300.01)
    ioc = client.order_limit_buy(
        symbol="BTCUSDT", quantity="0.03000", price="30002.00", timeInForce="IOC"
    )
    assert (ioc["status"], ioc["executedQty"]) == ("EXPIRED", "0.01000000")
    thin.step()  # refill
    fok = client.order_limit_buy(
        symbol="BTCUSDT", quantity="0.02500", price="30001.00", timeInForce="FOK"
    )
    assert (fok["status"], fok["executedQty"], fok["fills"]) == ("EXPIRED", "0.00000000", [])


# ---------------------------------------------------------------- self-trade prevention
def _resting_sell(client: Client) -> dict:
    sell = client.order_limit_sell(symbol="BTCUSDT", quantity="0.01000", price="30001.50")
    assert sell["status"] == "NEW"
    return sell


def test_stp_default_expire_maker(thin: FakeBinance) -> None:
    client = make_client(thin)
    sell = _resting_sell(client)
    buy = client.order_market_buy(symbol="BTCUSDT", quantity="0.02500")
    assert buy["status"] == "FILLED"
    assert [f["price"] for f in buy["fills"]] == [
        "30000.00000000",
        "30001.00000000",
        "30002.00000000",
    ]
    maker = client.get_order(symbol="BTCUSDT", orderId=sell["orderId"])
    assert (maker["status"], maker["selfTradePreventionMode"], maker["preventedQuantity"]) == (
        "EXPIRED_IN_MATCH",
        "EXPIRE_MAKER",
        "0.01000000",
    )
    assert thin.balances()["BTC"][1] == 0.0  # the maker's lock is released


def test_stp_expire_taker(thin: FakeBinance) -> None:
    client = make_client(thin)
    sell = _resting_sell(client)
    buy = client.order_market_buy(
        symbol="BTCUSDT", quantity="0.02500", selfTradePreventionMode="EXPIRE_TAKER"
    )
    assert (buy["status"], buy["executedQty"], buy["preventedQuantity"]) == (
        "EXPIRED_IN_MATCH",
        "0.02000000",
        "0.00500000",
    )
    assert client.get_order(symbol="BTCUSDT", orderId=sell["orderId"])["status"] == "NEW"


def test_stp_expire_both(thin: FakeBinance) -> None:
    client = make_client(thin)
    sell = _resting_sell(client)
    buy = client.order_market_buy(
        symbol="BTCUSDT", quantity="0.02500", selfTradePreventionMode="EXPIRE_BOTH"
    )
    assert buy["status"] == "EXPIRED_IN_MATCH"
    got = client.get_order(symbol="BTCUSDT", orderId=sell["orderId"])
    assert got["status"] == "EXPIRED_IN_MATCH"


def test_stp_none_trades_with_itself(thin: FakeBinance) -> None:
    client = make_client(thin)
    sell = _resting_sell(client)
    buy = client.order_market_buy(
        symbol="BTCUSDT", quantity="0.02500", selfTradePreventionMode="NONE"
    )
    assert buy["status"] == "FILLED"
    assert [f["price"] for f in buy["fills"]] == [
        "30000.00000000",
        "30001.00000000",
        "30001.50000000",
    ]
    maker = client.get_order(symbol="BTCUSDT", orderId=sell["orderId"])
    assert (maker["status"], maker["executedQty"]) == ("PARTIALLY_FILLED", "0.00500000")
    mine = [t for t in client.get_my_trades(symbol="BTCUSDT") if t["price"] == "30001.50000000"]
    assert sorted((t["isBuyer"], t["isMaker"]) for t in mine) == [(False, True), (True, False)]


def test_stp_mode_must_be_one_binance_knows(thin: FakeBinance) -> None:
    err = api_error(
        lambda: make_client(thin).order_market_buy(
            symbol="BTCUSDT", quantity="0.00100", selfTradePreventionMode="MAYBE"
        )
    )
    assert (err.status_code, err.code) == (400, -1100)
    assert thin.orders() == []


# ---------------------------------------------------------------- filters
def test_exchange_info_lists_the_filters(harsh: FakeBinance) -> None:
    info = make_client(harsh).get_symbol_info("BTCUSDT")
    assert info is not None
    kinds = {f["filterType"]: f for f in info["filters"]}
    assert set(kinds) >= {
        "PRICE_FILTER",
        "PERCENT_PRICE_BY_SIDE",
        "LOT_SIZE",
        "MARKET_LOT_SIZE",
        "MAX_NUM_ORDERS",
        "NOTIONAL",
    }
    assert kinds["NOTIONAL"]["avgPriceMins"] == 5
    assert kinds["PERCENT_PRICE_BY_SIDE"]["avgPriceMins"] == 5
    assert "EXPIRE_BOTH" in info["allowedSelfTradePreventionModes"]


def test_percent_price_by_side(harsh: FakeBinance) -> None:
    client = make_client(harsh)
    for side, price in (("BUY", "5000.00"), ("BUY", "150001.00"), ("SELL", "150001.00")):
        err = api_error(
            lambda side=side, price=price: client.create_order(
                symbol="BTCUSDT",
                side=side,
                type="LIMIT",
                timeInForce="GTC",
                quantity="0.01000",
                price=price,
            )
        )
        assert (err.code, err.message) == (-1013, "Filter failure: PERCENT_PRICE_BY_SIDE")
    assert client.order_limit_buy(symbol="BTCUSDT", quantity="0.01000", price="6000.00")


def test_market_lot_size(harsh: FakeBinance) -> None:
    harsh.set_balances({"BTC": 500.0})
    err = api_error(
        lambda: make_client(harsh).order_market_sell(symbol="BTCUSDT", quantity="150.00000")
    )
    assert (err.code, err.message) == (-1013, "Filter failure: MARKET_LOT_SIZE")


def test_max_num_orders() -> None:
    symbols = {"BTCUSDT": {"price": 30000.0, "max_num_orders": 2}}
    with FakeBinance(kind=False, symbols=symbols, balances={"USDT": 10_000.0}) as fx:
        client = make_client(fx)
        for _ in range(2):
            client.order_limit_buy(symbol="BTCUSDT", quantity="0.01000", price="20000.00")
        err = api_error(
            lambda: client.order_limit_buy(symbol="BTCUSDT", quantity="0.01000", price="20000.00")
        )
        assert (err.code, err.message) == (-1013, "Filter failure: MAX_NUM_ORDERS")
        # a MARKET order never rests, but it is still counted against the open ones
        err = api_error(lambda: client.order_market_buy(symbol="BTCUSDT", quantity="0.01000"))
        assert err.message == "Filter failure: MAX_NUM_ORDERS"


def test_avg_price_endpoint(harsh: FakeBinance) -> None:
    avg = make_client(harsh).get_avg_price(symbol="BTCUSDT")
    assert (avg["mins"], avg["price"]) == (5, "30000.00000000")


# ---------------------------------------------------------------- archived, unread, status
def test_old_cancelled_unfilled_order_is_archived_2026() -> None:
    with FakeBinance(kind=False, archive_after_s=0.05, balances={"USDT": 1000.0}) as fx:
        client = make_client(fx)
        order = client.order_limit_buy(symbol="BTCUSDT", quantity="0.01000", price="20000.00")
        client.cancel_order(symbol="BTCUSDT", orderId=order["orderId"])
        time.sleep(0.1)  # past the (shortened) archive window
        err = api_error(lambda: client.get_order(symbol="BTCUSDT", orderId=order["orderId"]))
        assert (err.status_code, err.code) == (400, -2026)
        assert err.message == (
            "Order was canceled or expired with no executed qty over 90 days ago and has been "
            "archived."
        )
        err = api_error(
            lambda: client.get_order(symbol="BTCUSDT", origClientOrderId=order["clientOrderId"])
        )
        assert err.code == -2026


def test_archive_keeps_filled_orders_and_the_control_api_archives_now() -> None:
    with FakeBinance(kind=False, archive_after_s=0.05, balances={"USDT": 1000.0}) as fx:
        client = make_client(fx)
        filled = client.order_market_buy(symbol="BTCUSDT", quantity="0.00100")
        time.sleep(0.1)
        assert client.get_order(symbol="BTCUSDT", orderId=filled["orderId"])["status"] == "FILLED"
    with FakeBinance(kind=False, balances={"USDT": 1000.0}) as fx:
        client = make_client(fx)
        order = client.order_limit_buy(symbol="BTCUSDT", quantity="0.01000", price="20000.00")
        with pytest.raises(ValueError, match="open"):
            fx.archive_orders([order["orderId"]])
        client.cancel_order(symbol="BTCUSDT", orderId=order["orderId"])
        assert client.get_order(symbol="BTCUSDT", orderId=order["orderId"])["status"]
        fx.archive_orders([order["orderId"]])
        err = api_error(
            lambda: client.get_order(symbol="BTCUSDT", origClientOrderId=order["clientOrderId"])
        )
        assert err.code == -2026


def test_unknown_parameters_are_1104(harsh: FakeBinance) -> None:
    client = make_client(harsh)
    err = api_error(
        lambda: client.create_order(
            symbol="BTCUSDT",
            side="BUY",
            type="MARKET",
            quantity="0.00100",
            newClientOrderId="tw-1104",
            reduceOnly="true",  # a futures parameter: spot does not read it
        )
    )
    assert (err.status_code, err.code) == (400, -1104)
    assert err.message == (
        "Not all sent parameters were read; read '8' parameter(s) but was sent '9'."
    )
    assert harsh.orders() == []
    assert api_error(lambda: client.get_account(colour="blue")).code == -1104
    assert api_error(lambda: client.get_order(symbol="BTCUSDT", orderId=1, x="1")).code == -1104
    assert api_error(lambda: client.get_open_orders(symbol="BTCUSDT", side="BUY")).code == -1104
    # every documented parameter is read
    order = client.create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="MARKET",
        quantity="0.00100",
        newClientOrderId="tw-ok",
        newOrderRespType="RESULT",
        selfTradePreventionMode="EXPIRE_TAKER",
        recvWindow=5000,
    )
    assert order["selfTradePreventionMode"] == "EXPIRE_TAKER"


@pytest.mark.parametrize("status", ["HALT", "BREAK"])
def test_symbol_status_changes_at_runtime(harsh: FakeBinance, status: str) -> None:
    client = make_client(harsh)
    resting = client.order_limit_buy(symbol="BTCUSDT", quantity="0.01000", price="29000.00")
    harsh.set_symbol_status("BTCUSDT", status)
    info = client.get_symbol_info("BTCUSDT")
    assert info is not None and info["status"] == status
    err = api_error(lambda: client.order_market_buy(symbol="BTCUSDT", quantity="0.00100"))
    assert (err.status_code, err.code, err.message) == (400, -2010, "Market is closed.")
    harsh.set_price("BTCUSDT", 28000.0)  # nothing matches while the symbol is not trading
    assert client.get_order(symbol="BTCUSDT", orderId=resting["orderId"])["status"] == "NEW"
    assert make_client(harsh).get_symbol_info("ETHUSDT")["status"] == "TRADING"  # type: ignore[index]
    harsh.set_symbol_status("BTCUSDT", "TRADING")
    harsh.step()
    assert client.get_order(symbol="BTCUSDT", orderId=resting["orderId"])["status"] == "FILLED"
    assert client.order_market_buy(symbol="BTCUSDT", quantity="0.00100")["status"] == "FILLED"
    with pytest.raises(ValueError, match="symbol status"):
        harsh.set_symbol_status("BTCUSDT", "SLEEPING")


def test_the_default_is_binances_world_and_kind_must_be_asked_for() -> None:
    with FakeBinance(balances={"USDT": 100_000.0}) as fx:
        order = make_client(fx).order_market_buy(symbol="BTCUSDT", quantity="2.00000")
        assert order["status"] == "FILLED"
        assert len(order["fills"]) == 2  # 1 BTC a level
        assert order["fills"][0]["commission"] == "0.00100000"
    with FakeBinance(kind=True, balances={"USDT": 100_000.0}) as fx:
        order = make_client(fx).order_market_buy(symbol="BTCUSDT", quantity="2.00000")
        assert [(f["price"], f["commission"]) for f in order["fills"]] == [
            ("30000.00000000", "0.00000000")
        ]
    with FakeBinance(fee_rate=0, balances={"USDT": 100_000.0}) as fx:  # one part alone
        order = make_client(fx).order_market_buy(symbol="BTCUSDT", quantity="2.00000")
        assert [f["commission"] for f in order["fills"]] == ["0.00000000"] * 2


def test_commission_rates_endpoint(harsh: FakeBinance) -> None:
    client = make_client(harsh)
    rates = client.v3_get_account_commission(symbol="BTCUSDT")
    assert rates["standardCommission"]["taker"] == "0.00100000"
    assert rates["standardCommission"]["maker"] == "0.00100000"
    assert rates["discount"] == {
        "enabledForAccount": False,
        "enabledForSymbol": True,
        "discountAsset": "BNB",
        "discount": "0.75000000",
    }
    assert client.response is not None
    assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "20"
