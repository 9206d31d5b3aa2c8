"""Each injected fault, as python-binance experiences it, and what the exchange booked."""

from __future__ import annotations

import time

import pytest
import requests
from binance.client import Client

from tests.fakes.binance import FakeBinance
from tests.integration.fake_binance.conftest import make_client
from tests.integration.fake_binance.helpers import api_error

ORDER = {"symbol": "BTCUSDT", "quantity": "0.01000", "price": "20000.00"}


def test_latency_makes_a_short_timeout_expire(fx: FakeBinance) -> None:
    impatient = make_client(fx, requests_params={"timeout": 0.3})
    fx.fault("latency", path="/api/v3/time", ms=1500)
    with pytest.raises(requests.exceptions.ReadTimeout):
        impatient.get_server_time()
    assert impatient.get_server_time()["serverTime"] > 0  # count=1: only the first
    assert fx.stats()["faults_fired"] == {"latency": 1}


def test_latency_delays_the_answer(fx: FakeBinance, client: Client) -> None:
    fx.fault("latency", path="/api/v3/ping", ms=400)
    started = time.monotonic()
    client.ping()
    assert time.monotonic() - started >= 0.4


def test_timeout_after_accept_books_the_order(fx: FakeBinance) -> None:
    impatient = make_client(fx, requests_params={"timeout": 0.5})
    fx.fault("timeout_after_accept", path="/api/v3/order", method="POST", ms=30_000)
    with pytest.raises(requests.exceptions.ReadTimeout):
        impatient.order_limit_buy(newClientOrderId="tw-timeout-1", **ORDER)
    # Outcome unknown to the client, but the exchange has it: resolve by querying.
    got = impatient.get_order(symbol="BTCUSDT", origClientOrderId="tw-timeout-1")
    assert got["status"] == "NEW"
    assert [o["clientOrderId"] for o in fx.orders()] == ["tw-timeout-1"]
    # Resending blind would be refused while the first is open.
    assert (
        api_error(lambda: impatient.order_limit_buy(newClientOrderId="tw-timeout-1", **ORDER)).code
        == -2010
    )
    assert fx.requests()[0]["status"] == 0
    assert fx.requests()[0]["fault"] == "timeout_after_accept"


def test_timeout_after_accept_can_make_that_order_unaskable(fx: FakeBinance) -> None:
    """``queries="drop"``: the order is booked, and every request naming it is dropped until
    the faults are cleared; other orders can still be asked about."""
    impatient = make_client(fx, requests_params={"timeout": 0.5})
    impatient.order_limit_buy(newClientOrderId="tw-other-1", **ORDER)
    fx.fault("timeout_after_accept", path="/api/v3/order", method="POST", ms=2000, queries="drop")
    with pytest.raises(requests.exceptions.ReadTimeout):
        impatient.order_limit_buy(newClientOrderId="tw-unaskable-1", **ORDER)
    for _ in range(2):
        with pytest.raises(requests.exceptions.ConnectionError):
            impatient.get_order(symbol="BTCUSDT", origClientOrderId="tw-unaskable-1")
    assert impatient.get_order(symbol="BTCUSDT", origClientOrderId="tw-other-1")["status"]
    fx.clear_faults()
    got = impatient.get_order(symbol="BTCUSDT", origClientOrderId="tw-unaskable-1")
    assert got["status"] == "NEW"


def test_timeout_after_accept_can_answer_late(fx: FakeBinance) -> None:
    patient = make_client(fx, requests_params={"timeout": 5})
    fx.fault("timeout_after_accept", path="/api/v3/account", ms=200, then="respond")
    assert patient.get_account()["accountType"] == "SPOT"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_error_after_accept_books_the_order(fx: FakeBinance, client: Client, status: int) -> None:
    fx.fault("error_after_accept", path="/api/v3/order", method="POST", status=status)
    err = api_error(lambda: client.order_limit_buy(newClientOrderId="tw-5xx", **ORDER))
    assert err.status_code == status
    if status == 502:
        assert err.code == 0  # not JSON: python-binance leaves code 0
    else:
        assert err.code in (-1000, -1001)
    assert client.get_order(symbol="BTCUSDT", origClientOrderId="tw-5xx")["status"] == "NEW"
    assert len(fx.orders()) == 1


def test_drop_connection_books_nothing(fx: FakeBinance, client: Client) -> None:
    fx.fault("drop_connection", path="/api/v3/order", method="POST")
    with pytest.raises(requests.exceptions.ConnectionError):
        client.order_limit_buy(newClientOrderId="tw-drop", **ORDER)
    assert fx.orders() == []
    assert (
        api_error(lambda: client.get_order(symbol="BTCUSDT", origClientOrderId="tw-drop")).code
        == -2013
    )
    assert fx.stats()["dropped"] == 1
    # The retry after checking goes through.
    assert client.order_limit_buy(newClientOrderId="tw-drop", **ORDER)["status"] == "NEW"


def test_clock_skew_fault_hits_only_its_requests(fx: FakeBinance, client: Client) -> None:
    fx.fault("clock_skew", ms=45_000, count=2)
    skewed = client.get_server_time()["serverTime"] - int(time.time() * 1000)
    assert skewed > 40_000
    assert api_error(client.get_account).code == -1021
    assert client.get_account()["accountType"] == "SPOT"  # the fault is used up


def test_clock_skew_until_cleared(fx: FakeBinance, client: Client) -> None:
    fx.fault("clock_skew", ms=-20_000, count=None)
    for _ in range(3):
        assert api_error(client.get_account).code == -1021
    fx.clear_faults()
    assert client.get_account()["accountType"] == "SPOT"


def test_ban_fault(fx: FakeBinance, client: Client) -> None:
    fx.fault("ban", retry_after=300, count=2)
    for _ in range(2):
        err = api_error(client.get_account)
        assert (err.status_code, err.code) == (418, -1003)
        assert err.response.headers["Retry-After"] == "300"
    assert client.ping() == {}
    assert fx.stats()["status_418"] == 2


def test_maintenance_books_nothing(fx: FakeBinance, client: Client) -> None:
    fx.fault("maintenance", count=None)
    err = api_error(lambda: client.order_limit_buy(**ORDER))
    assert (err.status_code, err.code, err.message) == (
        503,
        -1016,
        "This service is no longer available.",
    )
    assert api_error(client.ping).code == -1016
    assert fx.orders() == []
    fx.clear_faults()
    fx.fault("maintenance", msg="Service unavailable")
    assert api_error(client.ping).message == "Service unavailable"
    assert client.ping() == {}


def test_faults_target_path_and_method(fx: FakeBinance, client: Client) -> None:
    order = client.order_limit_buy(**ORDER)
    fx.fault("maintenance", path="/api/v3/order", method="DELETE", count=None)
    assert client.get_order(symbol="BTCUSDT", orderId=order["orderId"])["status"] == "NEW"
    assert (
        api_error(
            lambda: client.cancel_order(symbol="BTCUSDT", orderId=order["orderId"])
        ).status_code
        == 503
    )
    assert client.get_open_orders(symbol="BTCUSDT")[0]["orderId"] == order["orderId"]
    fx.fault("ban", path="/api/*", count=None)
    assert client.get_account_api_permissions()["enableReading"] is True  # /sapi untouched
    assert api_error(client.ping).status_code == 418


def test_control_api_over_http(fx: FakeBinance, client: Client) -> None:
    r = requests.post(
        f"{fx.url}/_control/fault",
        json={"kind": "maintenance", "path": "/api/v3/ping", "count": 1},
        timeout=5,
    )
    assert r.status_code == 200
    assert requests.get(f"{fx.url}/_control/faults", timeout=5).json()[0]["kind"] == "maintenance"
    assert api_error(client.ping).status_code == 503
    assert requests.get(f"{fx.url}/_control/faults", timeout=5).json() == []
    r = requests.post(f"{fx.url}/_control/fault", json={"kind": "meteor"}, timeout=5)
    assert r.status_code == 400
    assert requests.post(f"{fx.url}/_control/nope", timeout=5).status_code == 404
    requests.post(
        f"{fx.url}/_control/price", json={"symbol": "BTCUSDT", "price": 123.45}, timeout=5
    )
    assert client.get_symbol_ticker(symbol="BTCUSDT")["price"] == "123.45000000"
    stats = requests.get(f"{fx.url}/_control/stats", timeout=5).json()
    assert stats["requests"] == 2  # control calls are not counted


def test_reset_restores_the_start(fx: FakeBinance, client: Client) -> None:
    client.order_market_buy(symbol="BTCUSDT", quantity="0.10000")
    fx.add_key("extra", "extra-secret")
    fx.fault("maintenance", count=None)
    fx.reset()
    assert fx.orders() == []
    assert fx.balances()["USDT"] == (10_000.0, 0.0)
    assert fx.stats()["requests"] == 0
    assert client.get_account()["accountType"] == "SPOT"
    assert api_error(make_client(fx, key="extra", secret="extra-secret").get_account).code == -2015


def test_unknown_fault_kind_is_refused(fx: FakeBinance) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        fx.fault("gremlins")


def test_html_503_after_accept_books_the_order(fx: FakeBinance, client: Client) -> None:
    """rest-api.md: a 5XX means execution status UNKNOWN; here the order was booked and the
    answer is an HTML page, not Binance's JSON."""
    fx.fault("html_503_after_accept", path="/api/v3/order", method="POST")
    err = api_error(lambda: client.order_limit_buy(newClientOrderId="tw-html", **ORDER))
    assert (err.status_code, err.code) == (503, 0)  # python-binance: not JSON -> code 0
    assert "503 Service Temporarily Unavailable" in err.response.text
    assert err.response.headers["Content-Type"].startswith("text/html")
    assert client.get_order(symbol="BTCUSDT", origClientOrderId="tw-html")["status"] == "NEW"
    assert len(fx.orders()) == 1
    assert fx.stats()["faults_fired"] == {"html_503_after_accept": 1}


@pytest.mark.parametrize(
    ("code", "status", "msg_part"),
    [
        (-1006, 500, "Execution status unknown."),
        (-1007, 500, "Send status unknown; execution status unknown."),
        (-1007, 408, "Timeout waiting for response from backend server."),
        (-1007, 400, "execution status unknown"),
    ],
)
def test_code_after_accept_books_the_order(
    fx: FakeBinance, client: Client, code: int, status: int, msg_part: str
) -> None:
    """errors.md -1006/-1007: execution status unknown; the order IS booked."""
    fx.fault("code_after_accept", path="/api/v3/order", method="POST", code=code, status=status)
    err = api_error(lambda: client.order_market_buy(symbol="BTCUSDT", quantity="0.01000"))
    assert (err.status_code, err.code) == (status, code)
    assert msg_part in err.message
    [booked] = fx.orders()
    assert booked["status"] == "FILLED"
    got = client.get_order(symbol="BTCUSDT", origClientOrderId=booked["clientOrderId"])
    assert got["orderId"] == booked["orderId"]


def test_code_after_accept_checks_its_parameters(fx: FakeBinance) -> None:
    with pytest.raises(ValueError, match="-1006 or -1007"):
        fx.fault("code_after_accept", code=-1000)
    with pytest.raises(ValueError, match="4xx or 5xx"):
        fx.fault("code_after_accept", status=200)


def test_late_visible_order_is_hidden_from_reads_until_n_seconds() -> None:
    """Reads are asynchronous: the order is booked and answered, but GET order says -2013,
    openOrders and myTrades leave it out until `seconds` have passed."""
    with FakeBinance(manual_clock=True, balances={"USDT": 10_000.0, "BTC": 1.0}) as fx:
        client = make_client(fx)
        fx.fault("late_visible", path="/api/v3/order", method="POST", seconds=3, count=2)
        rest = client.order_limit_buy(newClientOrderId="tw-late", **ORDER)
        assert rest["status"] == "NEW"
        market = client.order_market_buy(symbol="BTCUSDT", quantity="0.01000")
        assert market["status"] in {"FILLED", "EXPIRED"}
        err = api_error(lambda: client.get_order(symbol="BTCUSDT", origClientOrderId="tw-late"))
        assert err.code == -2013
        assert client.get_open_orders(symbol="BTCUSDT") == []
        assert client.get_my_trades(symbol="BTCUSDT") == []
        assert len(fx.orders()) == 2  # the exchange has both
        fx.advance_clock(2.9)
        assert client.get_open_orders() == []
        fx.advance_clock(0.1)
        assert client.get_order(symbol="BTCUSDT", origClientOrderId="tw-late")["status"] == "NEW"
        assert [o["clientOrderId"] for o in client.get_open_orders()] == ["tw-late"]
        assert [t["orderId"] for t in client.get_my_trades(symbol="BTCUSDT")] == [
            market["orderId"]
        ] * len(market["fills"])


def test_late_visible_order_can_still_be_cancelled(fx: FakeBinance, client: Client) -> None:
    fx.fault("late_visible", path="/api/v3/order", method="POST", seconds=600)
    client.order_limit_buy(newClientOrderId="tw-late-cxl", **ORDER)
    assert client.get_open_orders() == []
    got = client.cancel_order(symbol="BTCUSDT", origClientOrderId="tw-late-cxl")
    assert got["status"] == "CANCELED"
    assert fx.balances()["USDT"][1] == 0.0


def test_waf_403_handles_nothing(fx: FakeBinance, client: Client) -> None:
    """rest-api.md: HTTP 403 = a WAF rule was violated."""
    fx.fault("waf_403", path="/api/v3/order", count=2)
    err = api_error(lambda: client.order_limit_buy(newClientOrderId="tw-waf", **ORDER))
    assert (err.status_code, err.code) == (403, 0)
    assert "403 Forbidden" in err.response.text
    assert fx.orders() == []
    assert client.get_account()["accountType"] == "SPOT"  # only the matching path
    assert api_error(lambda: client.get_order(symbol="BTCUSDT", orderId=1)).status_code == 403
    assert client.order_limit_buy(newClientOrderId="tw-waf", **ORDER)["status"] == "NEW"
    assert fx.stats()["status_counts"]["403"] == 2
