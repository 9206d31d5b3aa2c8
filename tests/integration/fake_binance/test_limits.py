"""Weights, headers, 429, the 418 ban and the manual clock."""

from __future__ import annotations

import requests

from tests.fakes.binance import FakeBinance
from tests.integration.fake_binance.conftest import make_client
from tests.integration.fake_binance.helpers import api_error


def test_weight_header_adds_the_real_weights(fx: FakeBinance) -> None:
    client = make_client(fx)
    expected = [
        (client.ping, 1),
        (client.get_server_time, 1),
        (client.get_exchange_info, 20),
        (lambda: client.get_klines(symbol="BTCUSDT", interval="1m", limit=5), 2),
        (lambda: client.get_symbol_ticker(symbol="BTCUSDT"), 2),
        (client.get_all_tickers, 4),
        (lambda: client.get_order_book(symbol="BTCUSDT"), 5),
        (lambda: client.get_order_book(symbol="BTCUSDT", limit=500), 25),
        (client.get_account, 20),
        (lambda: client.get_open_orders(symbol="BTCUSDT"), 6),
        (client.get_open_orders, 80),
        (lambda: client.get_my_trades(symbol="BTCUSDT"), 20),
    ]
    total = 0
    for call, weight in expected:
        call()
        total += weight
        assert client.response is not None
        assert int(client.response.headers["X-MBX-USED-WEIGHT-1M"]) == total, call
        assert "X-MBX-ORDER-COUNT-10S" not in client.response.headers
    order = client.order_limit_buy(symbol="BTCUSDT", quantity="0.01000", price="20000.00")
    headers = client.response.headers
    assert int(headers["X-MBX-USED-WEIGHT-1M"]) == total + 1
    assert (headers["X-MBX-ORDER-COUNT-10S"], headers["X-MBX-ORDER-COUNT-1D"]) == ("1", "1")
    client.get_order(symbol="BTCUSDT", orderId=order["orderId"])
    assert int(client.response.headers["X-MBX-USED-WEIGHT-1M"]) == total + 1 + 4
    client.cancel_order(symbol="BTCUSDT", orderId=order["orderId"])
    assert int(client.response.headers["X-MBX-USED-WEIGHT-1M"]) == total + 1 + 4 + 1
    stats = fx.stats()
    assert stats["weight_used_1m"] == total + 6
    assert stats["orders_10s"] == 1
    assert stats["requests"] == len(expected) + 3
    assert stats["requests_by_path"]["/api/v3/order"] == 3
    assert stats["status_429"] == stats["status_418"] == 0


def test_hammering_gets_429_then_418_and_the_ban_grows() -> None:
    with FakeBinance(manual_clock=True, weight_limit=60, ban_after=3, ban_seconds=120) as fx:
        client = make_client(fx)
        client.get_exchange_info()
        client.get_exchange_info()
        client.get_exchange_info()  # 60: at the limit, still fine
        err = api_error(client.get_exchange_info)
        assert (err.status_code, err.code) == (429, -1003)
        assert "current limit is 60 request weight per 1 MINUTE" in err.message
        retry = int(err.response.headers["Retry-After"])
        assert 1 <= retry <= 60
        assert int(err.response.headers["X-MBX-USED-WEIGHT-1M"]) == 80
        # Ignoring Retry-After: two more 429s, then the third violation is a ban.
        assert api_error(client.ping).status_code == 429
        assert api_error(client.ping).status_code == 429
        ban = api_error(client.ping)
        assert (ban.status_code, ban.code) == (418, -1003)
        assert ban.response.headers["Retry-After"] == "120"
        assert "IP banned until" in ban.message
        # While banned every request is 418, the remaining time counting down.
        fx.advance_clock(100)
        still = api_error(client.get_server_time)
        assert still.status_code == 418
        assert still.response.headers["Retry-After"] == "20"
        fx.advance_clock(21)
        assert client.ping() == {}
        # Second offence: the ban doubles.
        for _ in range(2):
            client.get_exchange_info()
        statuses = [api_error(client.get_exchange_info).status_code for _ in range(4)]
        assert statuses == [429, 429, 429, 418]
        assert fx.requests()[-1]["status"] == 418
        again = api_error(client.ping)
        assert again.status_code == 418
        assert int(again.response.headers["Retry-After"]) == 240
        stats = fx.stats()
        assert stats["status_429"] == 6
        assert stats["status_418"] == 4
        assert stats["bans"] == 2


def test_a_client_that_backs_off_is_never_banned() -> None:
    with FakeBinance(manual_clock=True, weight_limit=40, ban_after=2) as fx:
        client = make_client(fx)
        for _minute in range(5):
            client.get_exchange_info()
            client.get_exchange_info()
            err = api_error(client.get_exchange_info)
            assert err.status_code == 429
            fx.advance_clock(int(err.response.headers["Retry-After"]))
        assert fx.stats()["status_418"] == 0
        assert fx.stats()["bans"] == 0


def test_weight_window_is_aligned_to_the_minute() -> None:
    with FakeBinance(manual_clock=True) as fx:
        client = make_client(fx)
        client.get_exchange_info()
        assert client.response is not None
        assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "20"
        limit_ms = fx.control("time")["limitClockMs"]
        to_next_minute = (60_000 - limit_ms % 60_000) / 1000
        fx.advance_clock(max(0.0, to_next_minute - 0.5))
        client.ping()
        assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "21"
        fx.advance_clock(0.5)  # the minute turns: a fresh window, not a rolling one
        client.ping()
        assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "1"
        assert fx.stats()["weight_used_1m"] == 1


def test_order_rate_limit_is_1015_with_order_count_headers() -> None:
    with FakeBinance(manual_clock=True, orders_10s_limit=3) as fx:
        client = make_client(fx)
        for i in range(3):
            client.order_limit_buy(symbol="BTCUSDT", quantity="0.00100", price="20000.00")
            assert client.response is not None
            assert client.response.headers["X-MBX-ORDER-COUNT-10S"] == str(i + 1)
        err = api_error(
            lambda: client.order_limit_buy(symbol="BTCUSDT", quantity="0.00100", price="20000.00")
        )
        assert (err.status_code, err.code) == (429, -1015)
        assert err.response.headers["X-MBX-ORDER-COUNT-10S"] == "4"
        assert 1 <= int(err.response.headers["Retry-After"]) <= 10
        assert len(fx.orders()) == 3  # the refused one is not booked
        assert client.get_account()["accountType"] == "SPOT"  # other requests still pass
        limits = client.get_current_order_count()
        assert [(r["interval"], r["count"]) for r in limits] == [("SECOND", 4), ("DAY", 4)]
        fx.advance_clock(10)
        client.order_limit_buy(symbol="BTCUSDT", quantity="0.00100", price="20000.00")
        assert client.response.headers["X-MBX-ORDER-COUNT-10S"] == "1"
        assert client.response.headers["X-MBX-ORDER-COUNT-1D"] == "5"


def test_sapi_weight_is_a_separate_pool(fx: FakeBinance) -> None:
    client = make_client(fx)
    client.get_exchange_info()
    client.get_account_api_permissions()
    assert client.response is not None
    assert client.response.headers["X-SAPI-USED-IP-WEIGHT-1M"] == "1"
    assert "X-MBX-USED-WEIGHT-1M" not in client.response.headers
    client.ping()
    assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "21"


def test_limits_can_change_at_runtime_and_over_http(fx: FakeBinance) -> None:
    client = make_client(fx)
    r = requests.post(f"{fx.url}/_control/limits", json={"weight_limit": 25}, timeout=5)
    assert r.status_code == 200
    assert r.json()["weight_limit"] == 25
    assert client.get_exchange_info()["rateLimits"][0]["limit"] == 25
    assert api_error(client.get_exchange_info).status_code == 429
    fx.set_limits(weight_limit=6000)
    assert client.ping() == {}


def test_advance_clock_needs_manual_mode(fx: FakeBinance) -> None:
    r = requests.post(f"{fx.url}/_control/advance_clock", json={"seconds": 5}, timeout=5)
    assert r.status_code == 400
    assert "manual_clock" in r.json()["error"]
