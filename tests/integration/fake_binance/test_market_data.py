"""Public endpoints of the fake, read through python-binance's Client."""

from __future__ import annotations

from binance.client import Client

from tests.fakes.binance import FakeBinance
from tests.integration.fake_binance.conftest import make_client
from tests.integration.fake_binance.helpers import api_error


def _filters(symbol_info: dict) -> dict[str, dict]:
    return {f["filterType"]: f for f in symbol_info["filters"]}


def test_ping_and_time(fx: FakeBinance, client: Client) -> None:
    assert client.ping() == {}
    server_time = client.get_server_time()["serverTime"]
    assert abs(server_time - fx.server_time_ms()) < 5_000


def test_exchange_info_rate_limits_and_filters(client: Client) -> None:
    info = client.get_exchange_info()
    assert info["timezone"] == "UTC"
    limits = {
        (r["rateLimitType"], r["interval"], r["intervalNum"]): r["limit"]
        for r in info["rateLimits"]
    }
    assert limits == {
        ("REQUEST_WEIGHT", "MINUTE", 1): 6000,
        ("ORDERS", "SECOND", 10): 50,
        ("ORDERS", "DAY", 1): 160_000,
        ("RAW_REQUESTS", "MINUTE", 5): 300_000,
    }
    btc = client.get_symbol_info("BTCUSDT")
    assert btc is not None
    assert (btc["baseAsset"], btc["quoteAsset"], btc["status"]) == ("BTC", "USDT", "TRADING")
    f = _filters(btc)
    assert f["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert f["LOT_SIZE"] == {
        "filterType": "LOT_SIZE",
        "minQty": "0.00001000",
        "maxQty": "9000.00000000",
        "stepSize": "0.00001000",
    }
    assert f["NOTIONAL"]["minNotional"] == "5.00000000"
    assert "MIN_NOTIONAL" not in f


def test_exchange_info_custom_symbols_and_min_notional_kinds() -> None:
    symbols = {
        "ETHBTC": {
            "price": 0.05,
            "tick": 0.00001,
            "step": 0.0001,
            "min_notional": 0.0001,
            "notional_filter": "MIN_NOTIONAL",
        },
        "SOLUSDT": {
            "price": 20.0,
            "tick": 0.01,
            "step": 0.01,
            "min_qty": 0.01,
            "min_notional": 5,
            "notional_filter": "BOTH",
        },
    }
    with FakeBinance(symbols=symbols) as fx:
        client = make_client(fx)
        info = client.get_exchange_info()
        by_name = {s["symbol"]: s for s in info["symbols"]}
        assert set(by_name) == {"ETHBTC", "SOLUSDT"}
        eth = _filters(by_name["ETHBTC"])
        assert (by_name["ETHBTC"]["baseAsset"], by_name["ETHBTC"]["quoteAsset"]) == ("ETH", "BTC")
        assert eth["MIN_NOTIONAL"]["minNotional"] == "0.00010000"
        assert "NOTIONAL" not in eth
        assert eth["PRICE_FILTER"]["tickSize"] == "0.00001000"
        sol = _filters(by_name["SOLUSDT"])
        assert {"MIN_NOTIONAL", "NOTIONAL", "LOT_SIZE", "PRICE_FILTER"} <= set(sol)
        one = client._get("exchangeInfo", data={"symbol": "SOLUSDT"})
        assert [s["symbol"] for s in one["symbols"]] == ["SOLUSDT"]


def test_unknown_symbol_is_1121(client: Client) -> None:
    err = api_error(lambda: client.get_symbol_ticker(symbol="NOPEUSDT"))
    assert (err.status_code, err.code, err.message) == (400, -1121, "Invalid symbol.")


def test_ticker_follows_price_and_path(fx: FakeBinance, client: Client) -> None:
    assert client.get_symbol_ticker(symbol="BTCUSDT") == {
        "symbol": "BTCUSDT",
        "price": "30000.00000000",
    }
    fx.set_price("BTCUSDT", 31000.5)
    assert client.get_symbol_ticker(symbol="BTCUSDT")["price"] == "31000.50000000"
    fx.set_price_path("BTCUSDT", [100.0, 200.0, 300.0])
    seen = [client.get_symbol_ticker(symbol="BTCUSDT")["price"]]
    for _ in range(3):
        fx.step()
        seen.append(client.get_symbol_ticker(symbol="BTCUSDT")["price"])
    assert seen == ["100.00000000", "200.00000000", "300.00000000", "300.00000000"]
    all_prices = {t["symbol"]: t["price"] for t in client.get_all_tickers()}
    assert all_prices == {"BTCUSDT": "300.00000000", "ETHUSDT": "2000.00000000"}


def test_price_path_loops_when_asked(fx: FakeBinance, client: Client) -> None:
    fx.set_price_path("ETHUSDT", [1.0, 2.0], loop=True)
    fx.step(3)
    assert client.get_symbol_ticker(symbol="ETHUSDT")["price"] == "2.00000000"


def test_auto_step_follows_the_manual_clock() -> None:
    with FakeBinance(manual_clock=True, auto_step_ms=1000) as fx:
        client = make_client(fx)
        fx.set_price_path("BTCUSDT", [10.0, 11.0, 12.0, 13.0, 14.0])
        assert client.get_symbol_ticker(symbol="BTCUSDT")["price"] == "10.00000000"
        fx.advance_clock(3.0)
        assert client.get_symbol_ticker(symbol="BTCUSDT")["price"] == "13.00000000"
        fx.auto_step(None)
        fx.advance_clock(5.0)
        assert client.get_symbol_ticker(symbol="BTCUSDT")["price"] == "13.00000000"


def test_depth_is_a_book_around_the_price(fx: FakeBinance, client: Client) -> None:
    book = client.get_order_book(symbol="BTCUSDT", limit=5)
    assert len(book["bids"]) == len(book["asks"]) == 5
    best_bid, best_ask = float(book["bids"][0][0]), float(book["asks"][0][0])
    assert best_bid < 30000.0 <= best_ask
    assert [float(b[0]) for b in book["bids"]] == sorted(
        (float(b[0]) for b in book["bids"]), reverse=True
    )
    assert client.response is not None
    assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "5"


def test_klines_show_the_path(fx: FakeBinance, client: Client) -> None:
    fx.set_price_path("BTCUSDT", [30000.0, 31000.0, 29000.0, 30500.0])
    fx.step(3)
    candles = client.get_klines(symbol="BTCUSDT", interval="1d", limit=2)
    assert len(candles) == 2
    last = candles[-1]
    assert len(last) == 12
    open_time, _o, high, low, close = last[:5]
    assert last[6] == open_time + 86_400_000 - 1
    assert (high, low, close) == ("31000.00000000", "29000.00000000", "30500.00000000")
    assert candles[0][0] == open_time - 86_400_000
    err = api_error(lambda: client.get_klines(symbol="BTCUSDT", interval="7m"))
    assert (err.code, err.message) == (-1120, "Invalid interval.")


def test_klines_start_time_window(client: Client) -> None:
    now = client.get_server_time()["serverTime"]
    start = now - 10 * 60_000
    candles = client.get_klines(symbol="BTCUSDT", interval="1m", startTime=start, limit=3)
    assert len(candles) == 3
    assert candles[0][0] >= start
    assert [c[0] for c in candles] == [candles[0][0] + i * 60_000 for i in range(3)]
