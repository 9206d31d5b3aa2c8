"""Orders: validation errors, balances, matching against the price path, queries.

On the default (Binance's) world: 0.1% commission from the asset received, a finite book
(10 levels a side, 1 BTC each, a tick apart; bids start a tick below the price)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from binance.client import Client

from tests.fakes.binance import FakeBinance
from tests.integration.fake_binance.conftest import make_client
from tests.integration.fake_binance.helpers import api_error


@pytest.mark.parametrize(
    ("kwargs", "failure"),
    [
        ({"quantity": "0.01000", "price": "25000.005"}, "PRICE_FILTER"),  # off the tick
        ({"quantity": "0.01000", "price": "0.00"}, "PRICE_FILTER"),  # below minPrice
        ({"quantity": "0.000015", "price": "25000.00"}, "LOT_SIZE"),  # off the step
        ({"quantity": "0.000001", "price": "25000.00"}, "LOT_SIZE"),  # below minQty
        ({"quantity": "9001", "price": "25000.00"}, "LOT_SIZE"),  # above maxQty
        ({"quantity": "0.00010", "price": "25000.00"}, "NOTIONAL"),  # 2.5 USDT < 5
    ],
)
def test_limit_filter_failures_are_1013(
    fx: FakeBinance, client: Client, kwargs: dict, failure: str
) -> None:
    err = api_error(lambda: client.order_limit_buy(symbol="BTCUSDT", **kwargs))
    assert (err.status_code, err.code) == (400, -1013)
    assert err.message == f"Filter failure: {failure}"
    assert fx.orders() == []


def test_market_notional_uses_the_average_price(fx: FakeBinance, client: Client) -> None:
    """filters.md: MARKET orders have no price; NOTIONAL uses the average price over
    avgPriceMins (5), so a price jump does not count at once."""
    err = api_error(lambda: client.order_market_buy(symbol="BTCUSDT", quantity="0.00010"))
    assert (err.code, err.message) == (-1013, "Filter failure: NOTIONAL")
    fx.set_price("BTCUSDT", 60_000.0)  # 0.0001 BTC is worth 6 USDT at the last price...
    err = api_error(lambda: client.order_market_buy(symbol="BTCUSDT", quantity="0.00010"))
    assert err.message == "Filter failure: NOTIONAL"  # ...but not at the 5-minute average
    assert float(client.get_avg_price(symbol="BTCUSDT")["price"]) < 31_000


def test_market_notional_with_avg_price_mins_0_uses_the_last_price() -> None:
    symbols = {"BTCUSDT": {"price": 30000.0, "avg_price_mins": 0}}
    with FakeBinance(symbols=symbols, balances={"USDT": 100.0}) as fx:
        client = make_client(fx)
        err = api_error(lambda: client.order_market_buy(symbol="BTCUSDT", quantity="0.00010"))
        assert (err.code, err.message) == (-1013, "Filter failure: NOTIONAL")
        fx.set_price("BTCUSDT", 60_000.0)  # now 0.0001 BTC is worth 6 USDT
        order = client.order_market_buy(symbol="BTCUSDT", quantity="0.00010")
        assert order["status"] == "FILLED"


def test_min_notional_filter_when_configured() -> None:
    symbols = {
        "ETHBTC": {
            "price": 0.05,
            "tick": 0.00001,
            "step": 0.001,
            "min_notional": 0.001,
            "notional_filter": "MIN_NOTIONAL",
        }
    }
    with FakeBinance(symbols=symbols, balances={"BTC": 1.0, "ETH": 0.0}) as fx:
        client = make_client(fx)
        err = api_error(
            lambda: client.order_limit_buy(symbol="ETHBTC", quantity="0.010", price="0.05000")
        )
        assert (err.code, err.message) == (-1013, "Filter failure: MIN_NOTIONAL")
        ok = client.order_limit_buy(symbol="ETHBTC", quantity="0.100", price="0.04000")
        assert ok["status"] == "NEW"
        assert fx.balances()["BTC"] == pytest.approx((0.996, 0.004))


def test_scientific_notation_quantity_is_refused(client: Client) -> None:
    # str(0.00001) == "1e-05": python-binance sends floats as str(), Binance refuses that.
    err = api_error(lambda: client.order_market_buy(symbol="BTCUSDT", quantity=0.00001))
    assert (err.status_code, err.code) == (400, -1100)
    assert "quantity" in err.message


def test_missing_and_invalid_parameters(client: Client) -> None:
    assert (
        api_error(
            lambda: client.create_order(
                symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="0.01", price="20000"
            )
        ).code
        == -1102
    )
    assert (
        api_error(
            lambda: client.create_order(
                symbol="BTCUSDT", side="HOLD", type="MARKET", quantity="0.01"
            )
        ).code
        == -1117
    )
    assert (
        api_error(
            lambda: client.create_order(symbol="BTCUSDT", side="BUY", type="STOP", quantity="0.01")
        ).code
        == -1116
    )
    assert (
        api_error(
            lambda: client.order_market_buy(symbol="BTCUSDT", quantity="0.01", price="20000")
        ).code
        == -1106
    )


def test_insufficient_balance_is_2010(fx: FakeBinance, client: Client) -> None:
    err = api_error(
        lambda: client.order_limit_buy(symbol="BTCUSDT", quantity="1.00000", price="20000.00")
    )
    assert (err.status_code, err.code) == (400, -2010)
    assert err.message == "Account has insufficient balance for requested action."
    err = api_error(lambda: client.order_market_sell(symbol="BTCUSDT", quantity="1.50000"))
    assert err.code == -2010
    assert err.message == "Account has insufficient balance for requested action."
    assert fx.orders() == []


def test_locked_balance_counts_against_the_next_order(fx: FakeBinance, client: Client) -> None:
    client.order_limit_buy(symbol="BTCUSDT", quantity="0.30000", price="20000.00")  # locks 6000
    assert fx.balances()["USDT"] == (4000.0, 6000.0)
    err = api_error(
        lambda: client.order_limit_buy(symbol="BTCUSDT", quantity="0.30000", price="20000.00")
    )
    assert err.code == -2010


def test_client_order_id_rules(fx: FakeBinance, client: Client) -> None:
    buy = {"symbol": "BTCUSDT", "quantity": "0.01000", "price": "20000.00"}
    err = api_error(lambda: client.order_limit_buy(newClientOrderId="x" * 37, **buy))
    assert (err.status_code, err.code) == (400, -1100)
    err = api_error(lambda: client.order_limit_buy(newClientOrderId="bad.id", **buy))
    assert err.code == -1100
    first = client.order_limit_buy(newClientOrderId="tw-" + "a" * 33, **buy)
    assert first["clientOrderId"] == "tw-" + "a" * 33
    err = api_error(lambda: client.order_limit_buy(newClientOrderId="tw-" + "a" * 33, **buy))
    assert (err.status_code, err.code, err.message) == (400, -2010, "Duplicate order sent.")
    # Unique only among open orders: once cancelled the id may be used again.
    client.cancel_order(symbol="BTCUSDT", origClientOrderId="tw-" + "a" * 33)
    again = client.order_limit_buy(newClientOrderId="tw-" + "a" * 33, **buy)
    assert again["orderId"] != first["orderId"]
    got = client.get_order(symbol="BTCUSDT", origClientOrderId="tw-" + "a" * 33)
    assert (got["orderId"], got["status"]) == (again["orderId"], "NEW")


def test_cancel_unknown_is_2011_and_get_unknown_is_2013(fx: FakeBinance, client: Client) -> None:
    err = api_error(lambda: client.cancel_order(symbol="BTCUSDT", orderId=424242))
    assert (err.status_code, err.code, err.message) == (400, -2011, "Unknown order sent.")
    err = api_error(lambda: client.cancel_order(symbol="BTCUSDT", origClientOrderId="never-sent"))
    assert err.code == -2011
    err = api_error(lambda: client.get_order(symbol="BTCUSDT", orderId=424242))
    assert (err.status_code, err.code, err.message) == (400, -2013, "Order does not exist.")
    err = api_error(lambda: client.get_order(symbol="BTCUSDT", origClientOrderId="never-sent"))
    assert err.code == -2013
    # A filled order is known to GET but cannot be cancelled.
    filled = client.order_market_buy(symbol="BTCUSDT", quantity="0.01000")
    assert client.get_order(symbol="BTCUSDT", orderId=filled["orderId"])["status"] == "FILLED"
    assert (
        api_error(lambda: client.cancel_order(symbol="BTCUSDT", orderId=filled["orderId"])).code
        == -2011
    )
    err = api_error(lambda: client.get_order(symbol="BTCUSDT"))
    assert err.code == -1102


def test_response_types(client: Client) -> None:
    kw = {"symbol": "BTCUSDT", "quantity": "0.01000"}
    ack = client.order_market_buy(newOrderRespType="ACK", **kw)
    assert set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    result = client.order_market_buy(newOrderRespType="RESULT", **kw)
    assert result["status"] == "FILLED" and "fills" not in result
    assert result["executedQty"] == "0.01000000"
    assert result["cummulativeQuoteQty"] == "300.00000000"
    full = client.order_market_buy(**kw)  # FULL is the default for MARKET/LIMIT
    assert full["fills"] == [
        {
            "price": "30000.00000000",
            "qty": "0.01000000",
            "commission": "0.00001000",  # 0.1% of the 0.01 BTC received
            "commissionAsset": "BTC",
            "tradeId": full["fills"][0]["tradeId"],
        }
    ]


def test_market_fill_moves_balances_and_shows_in_my_trades(fx: FakeBinance, client: Client) -> None:
    order = client.order_market_buy(symbol="BTCUSDT", quantity="0.10000")
    assert order["status"] == "FILLED"
    assert fx.balances()["USDT"] == (7000.0, 0.0)
    assert fx.balances()["BTC"] == (1.0999, 0.0)  # 1 + 0.1 - 0.0001 commission
    sell = client.order_market_sell(symbol="BTCUSDT", quantity="0.05000")
    trades = client.get_my_trades(symbol="BTCUSDT")
    assert [(t["orderId"], t["isBuyer"], t["qty"], t["price"]) for t in trades] == [
        (order["orderId"], True, "0.10000000", "30000.00000000"),
        (sell["orderId"], False, "0.05000000", "29999.99000000"),  # the best bid
    ]
    assert trades[0]["quoteQty"] == "3000.00000000"
    assert (trades[1]["commission"], trades[1]["commissionAsset"]) == ("1.49999950", "USDT")
    assert fx.balances()["USDT"][0] == pytest.approx(7000 + 1499.9995 - 1.4999995)
    assert trades[0]["isMaker"] is False
    only = client.get_my_trades(symbol="BTCUSDT", orderId=sell["orderId"])
    assert [t["orderId"] for t in only] == [sell["orderId"]]
    assert client.get_my_trades(symbol="ETHUSDT") == []


def test_quote_order_qty_market_buy(fx: FakeBinance, client: Client) -> None:
    order = client.order_market_buy(symbol="BTCUSDT", quoteOrderQty="100")
    assert order["executedQty"] == "0.00333000"  # rounded down to the step
    assert order["origQuoteOrderQty"] == "100.00000000"
    assert fx.balances()["USDT"][0] == pytest.approx(10_000 - 99.9)


def test_limit_order_fills_when_the_path_crosses(fx: FakeBinance, client: Client) -> None:
    buy = client.order_limit_buy(symbol="BTCUSDT", quantity="0.10000", price="29000.00")
    sell = client.order_limit_sell(symbol="BTCUSDT", quantity="0.50000", price="31000.00")
    assert (buy["status"], sell["status"]) == ("NEW", "NEW")
    assert fx.balances()["USDT"] == (7100.0, 2900.0)
    assert fx.balances()["BTC"] == (0.5, 0.5)
    fx.set_price_path("BTCUSDT", [29500.0, 29000.01, 28950.0, 30000.0, 31500.0])
    fx.step(1)  # 29000.01: not yet
    assert client.get_order(symbol="BTCUSDT", orderId=buy["orderId"])["status"] == "NEW"
    assert client.get_my_trades(symbol="BTCUSDT") == []
    fx.step(1)  # 28950: crossed -> filled at its limit price (maker)
    got = client.get_order(symbol="BTCUSDT", orderId=buy["orderId"])
    assert (got["status"], got["executedQty"], got["cummulativeQuoteQty"]) == (
        "FILLED",
        "0.10000000",
        "2900.00000000",
    )
    trade = client.get_my_trades(symbol="BTCUSDT")[0]
    assert (trade["price"], trade["isMaker"], trade["orderId"]) == (
        "29000.00000000",
        True,
        buy["orderId"],
    )
    assert fx.balances()["USDT"] == (7100.0, 0.0)
    assert fx.balances()["BTC"] == (0.5999, 0.5)  # 0.1 bought, 0.0001 of it the commission
    open_ids = [o["orderId"] for o in client.get_open_orders(symbol="BTCUSDT")]
    assert open_ids == [sell["orderId"]]
    fx.step(2)  # 30000 then 31500: the sell crosses
    assert client.get_open_orders() == []
    assert client.get_order(symbol="BTCUSDT", orderId=sell["orderId"])["status"] == "FILLED"
    assert fx.balances()["USDT"] == (7100.0 + 15_500.0 - 15.5, 0.0)
    assert fx.balances()["BTC"] == (0.5999, 0.0)


def test_touching_the_limit_price_fills(fx: FakeBinance, client: Client) -> None:
    buy = client.order_limit_buy(symbol="BTCUSDT", quantity="0.01000", price="29000.00")
    sell = client.order_limit_sell(symbol="BTCUSDT", quantity="0.01000", price="31000.00")
    fx.set_price_path("BTCUSDT", [29000.01, 29000.00, 30999.99, 31000.00])
    fx.step()
    assert client.get_order(symbol="BTCUSDT", orderId=buy["orderId"])["status"] == "FILLED"
    fx.step()
    assert client.get_order(symbol="BTCUSDT", orderId=sell["orderId"])["status"] == "NEW"
    fx.step()
    assert client.get_order(symbol="BTCUSDT", orderId=sell["orderId"])["status"] == "FILLED"


def test_concurrent_clients_keep_the_books_consistent() -> None:
    # the limits' clock stands still (manual): all 80 orders count in one 10 s window however
    # slowly a loaded machine sends them (a CI run under load counted 47)
    with FakeBinance(balances={"USDT": 100_000.0}, orders_10s_limit=1000, manual_clock=True) as fx:

        def trade(worker: int) -> list[int]:
            client = make_client(fx)
            return [
                client.order_market_buy(
                    symbol="BTCUSDT", quantity="0.01000", newClientOrderId=f"w{worker}-{i}"
                )["orderId"]
                for i in range(10)
            ]

        with ThreadPoolExecutor(max_workers=8) as pool:
            ids = [oid for batch in pool.map(trade, range(8)) for oid in batch]
        assert len(set(ids)) == 80
        assert fx.balances()["USDT"] == (100_000.0 - 80 * 300.0, 0.0)
        assert fx.balances()["BTC"][0] == pytest.approx(0.8 - 80 * 0.00001)
        assert len(fx.trades()) == 80
        assert fx.stats()["orders_10s"] == 80


def test_marketable_limit_fills_at_once_at_the_market_price(
    fx: FakeBinance, client: Client
) -> None:
    order = client.order_limit_buy(symbol="BTCUSDT", quantity="0.01000", price="31000.00")
    assert order["status"] == "FILLED"
    assert order["fills"][0]["price"] == "30000.00000000"
    assert fx.balances()["USDT"] == (9700.0, 0.0)
    ioc = client.order_limit_buy(
        symbol="BTCUSDT", quantity="0.01000", price="29000.00", timeInForce="IOC"
    )
    assert ioc["status"] == "EXPIRED"
    assert fx.balances()["USDT"] == (9700.0, 0.0)


def test_cancel_releases_the_lock_and_cancel_all(fx: FakeBinance, client: Client) -> None:
    a = client.order_limit_buy(symbol="BTCUSDT", quantity="0.10000", price="20000.00")
    client.order_limit_buy(symbol="BTCUSDT", quantity="0.10000", price="21000.00")
    client.order_limit_sell(symbol="BTCUSDT", quantity="0.20000", price="40000.00")
    cancelled = client.cancel_order(
        symbol="BTCUSDT", orderId=a["orderId"], newClientOrderId="cxl-1"
    )
    assert (cancelled["status"], cancelled["origClientOrderId"], cancelled["clientOrderId"]) == (
        "CANCELED",
        a["clientOrderId"],
        "cxl-1",
    )
    assert fx.balances()["USDT"] == (7900.0, 2100.0)
    assert len(client.get_open_orders(symbol="BTCUSDT")) == 2
    result = client.cancel_all_open_orders(symbol="BTCUSDT")
    assert sorted(r["status"] for r in result) == ["CANCELED", "CANCELED"]
    assert fx.balances()["USDT"] == (10_000.0, 0.0)
    assert fx.balances()["BTC"] == (1.0, 0.0)
    assert fx.open_orders() == []
    assert api_error(lambda: client.cancel_all_open_orders(symbol="BTCUSDT")).code == -2011
    assert len(fx.orders()) == 3


def test_open_orders_weights(client: Client) -> None:
    client.get_open_orders(symbol="BTCUSDT")
    assert client.response is not None
    assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "6"
    client.get_open_orders()
    assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "86"


def test_foreign_order_is_visible_to_reconciliation(fx: FakeBinance, client: Client) -> None:
    foreign = fx.place_foreign_order("BTCUSDT", "SELL", 0.25, 35_000.0)
    assert foreign["status"] == "NEW"
    assert foreign["clientOrderId"].startswith("web_")
    listed = client.get_open_orders(symbol="BTCUSDT")
    assert [(o["orderId"], o["side"], o["origQty"], o["price"]) for o in listed] == [
        (foreign["orderId"], "SELL", "0.25000000", "35000.00000000")
    ]
    assert fx.balances()["BTC"] == (0.75, 0.25)
    with pytest.raises(ValueError, match="-2010"):
        fx.place_foreign_order("BTCUSDT", "SELL", 5.0, 35_000.0)


def test_test_order_validates_without_booking(fx: FakeBinance, client: Client) -> None:
    assert (
        client.create_test_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01000")
        == {}
    )
    err = api_error(
        lambda: client.create_test_order(
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.0000001"
        )
    )
    assert err.code == -1013
    assert fx.orders() == []


def test_fee_rate_is_charged_in_the_received_asset() -> None:
    with FakeBinance(balances={"USDT": 1000.0}, fee_rate=0.001) as fx:
        client = make_client(fx)
        order = client.order_market_buy(symbol="BTCUSDT", quantity="0.01000")
        assert order["fills"][0]["commission"] == "0.00001000"
        assert order["fills"][0]["commissionAsset"] == "BTC"
        assert fx.balances()["BTC"] == pytest.approx((0.00999, 0.0))
