"""Keys, HMAC signatures, timestamps and apiRestrictions."""

from __future__ import annotations

import hashlib
import hmac
import time

import requests
from binance.client import Client

from tests.fakes.binance import FakeBinance
from tests.integration.fake_binance.conftest import make_client
from tests.integration.fake_binance.helpers import api_error


def _sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def test_signed_account_call(client: Client) -> None:
    account = client.get_account()
    balances = {b["asset"]: (b["free"], b["locked"]) for b in account["balances"]}
    assert balances["USDT"] == ("10000.00000000", "0.00000000")
    assert balances["BTC"] == ("1.00000000", "0.00000000")
    assert account["canTrade"] is True
    assert account["accountType"] == "SPOT"
    nonzero = client.get_account(omitZeroBalances="true")
    assert {b["asset"] for b in nonzero["balances"]} == {"USDT", "BTC"}


def test_bad_signature_is_1022(fx: FakeBinance) -> None:
    wrong = make_client(fx, secret="not-the-secret")
    err = api_error(wrong.get_account)
    assert (err.status_code, err.code) == (400, -1022)
    assert err.message == "Signature for this request is not valid."


def test_unknown_key_is_2015(fx: FakeBinance) -> None:
    stranger = make_client(fx, key="somebody-else", secret=fx.api_secret)
    err = api_error(stranger.get_account)
    assert (err.status_code, err.code) == (401, -2015)
    assert err.message == "Invalid API-key, IP, or permissions for action."


def test_missing_key_header_is_2014(fx: FakeBinance) -> None:
    ts = int(time.time() * 1000)
    qs = f"timestamp={ts}"
    r = requests.get(
        f"{fx.url}/api/v3/account?{qs}&signature={_sign(fx.api_secret, qs)}", timeout=5
    )
    assert r.status_code == 401
    assert r.json()["code"] == -2014


def test_public_endpoints_need_no_key(fx: FakeBinance) -> None:
    anonymous = Client(None, None, ping=False)
    anonymous.API_URL = fx.url + "/api"
    assert anonymous.get_server_time()["serverTime"] > 0


def test_hand_signed_request_over_query_and_body(fx: FakeBinance) -> None:
    """totalParams = query string + body, as in Binance's own documentation example."""
    ts = int(time.time() * 1000)
    query = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
    body = f"quantity=0.01000&price=20000.00&recvWindow=5000&timestamp={ts}"
    sig = _sign(fx.api_secret, query + body)
    headers = {"X-MBX-APIKEY": fx.api_key, "Content-Type": "application/x-www-form-urlencoded"}
    r = requests.post(
        f"{fx.url}/api/v3/order?{query}", data=f"{body}&signature={sig}", headers=headers, timeout=5
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "NEW"
    # The same request with one byte changed after signing is refused.
    tampered = body.replace("quantity=0.01000", "quantity=0.02000")
    r = requests.post(
        f"{fx.url}/api/v3/order?{query}",
        data=f"{tampered}&signature={sig}",
        headers=headers,
        timeout=5,
    )
    assert (r.status_code, r.json()["code"]) == (400, -1022)
    assert len(fx.orders()) == 1


def test_missing_signature_or_timestamp_is_1102(fx: FakeBinance) -> None:
    headers = {"X-MBX-APIKEY": fx.api_key}
    r = requests.get(
        f"{fx.url}/api/v3/account?timestamp={int(time.time() * 1000)}", headers=headers, timeout=5
    )
    assert (r.status_code, r.json()["code"]) == (400, -1102)
    assert "signature" in r.json()["msg"]
    qs = "recvWindow=5000"
    r = requests.get(
        f"{fx.url}/api/v3/account?{qs}&signature={_sign(fx.api_secret, qs)}",
        headers=headers,
        timeout=5,
    )
    assert (r.status_code, r.json()["code"]) == (400, -1102)
    assert "timestamp" in r.json()["msg"]


def test_recv_window_above_60000_is_1131(client: Client) -> None:
    # python-binance overwrites a per-call recvWindow with REQUEST_RECVWINDOW (10000).
    client.REQUEST_RECVWINDOW = 60_001
    err = api_error(client.get_account)
    assert (err.status_code, err.code) == (400, -1131)
    client.REQUEST_RECVWINDOW = 60_000
    assert client.get_account()["accountType"] == "SPOT"


def test_server_clock_skew_gives_1021_until_client_resyncs(fx: FakeBinance, client: Client) -> None:
    fx.set_clock_skew(-30_000)  # server 30 s behind: our timestamps are "ahead"
    err = api_error(client.get_account)
    assert (err.status_code, err.code) == (400, -1021)
    assert "ahead of the server's time" in err.message
    fx.set_clock_skew(+30_000)  # server 30 s ahead: our timestamps are too old
    err = api_error(client.get_account)
    assert err.code == -1021
    assert err.message == "Timestamp for this request is outside of the recvWindow."
    # What a gateway does on -1021: measure the offset from /time and sign with it.
    client.timestamp_offset = client.get_server_time()["serverTime"] - int(time.time() * 1000)
    assert client.timestamp_offset > 25_000
    assert client.get_account()["accountType"] == "SPOT"


def test_recv_window_is_honoured(fx: FakeBinance, client: Client) -> None:
    fx.set_clock_skew(+8_000)
    client.REQUEST_RECVWINDOW = 5_000
    assert api_error(client.get_account).code == -1021
    client.REQUEST_RECVWINDOW = 20_000
    assert client.get_account()["accountType"] == "SPOT"


def test_key_rotation_at_runtime(fx: FakeBinance) -> None:
    old = make_client(fx)
    fx.add_key("rotated-key", "rotated-secret")
    new = make_client(fx, key="rotated-key", secret="rotated-secret")
    assert new.get_account()["accountType"] == "SPOT"
    assert old.get_account()["accountType"] == "SPOT"  # both valid during the overlap
    fx.remove_key(fx.api_key)
    assert api_error(old.get_account).code == -2015
    assert new.get_account()["accountType"] == "SPOT"
    # A key cannot be used with another key's secret.
    assert (
        api_error(make_client(fx, key="rotated-key", secret=fx.api_secret).get_account).code
        == -1022
    )


def test_api_restrictions_default_and_custom(fx: FakeBinance, client: Client) -> None:
    flags = client.get_account_api_permissions()
    assert flags["enableWithdrawals"] is False
    assert flags["enableInternalTransfer"] is False
    assert flags["permitsUniversalTransfer"] is False
    assert flags["ipRestrict"] is True
    assert flags["enableSpotAndMarginTrading"] is True
    assert flags["enableReading"] is True
    assert isinstance(flags["createTime"], int)
    assert client.response is not None
    assert client.response.headers["X-SAPI-USED-IP-WEIGHT-1M"] == "1"

    fx.add_key("leaky", "leaky-secret", {"enableWithdrawals": True, "ipRestrict": False})
    leaky = make_client(fx, key="leaky", secret="leaky-secret").get_account_api_permissions()
    assert (leaky["enableWithdrawals"], leaky["ipRestrict"]) == (True, False)
    assert leaky["enableSpotAndMarginTrading"] is True


def test_read_only_key_cannot_trade(fx: FakeBinance) -> None:
    fx.add_key("reader", "reader-secret", {"enableSpotAndMarginTrading": False})
    reader = make_client(fx, key="reader", secret="reader-secret")
    assert reader.get_account()["canTrade"] is False
    err = api_error(
        lambda: reader.order_limit_buy(symbol="BTCUSDT", quantity="0.001", price="20000")
    )
    assert (err.status_code, err.code) == (401, -2015)
    assert fx.orders() == []


def test_ip_restricted_key_is_refused_from_other_ips(fx: FakeBinance) -> None:
    fx.add_key("elsewhere", "s1", {"ipRestrict": True, "ips": ["203.0.113.7"]})
    fx.add_key("here", "s2", {"ipRestrict": True, "ips": ["127.0.0.1"]})
    assert api_error(make_client(fx, key="elsewhere", secret="s1").get_account).code == -2015
    here = make_client(fx, key="here", secret="s2")
    assert here.get_account()["accountType"] == "SPOT"
    assert "ips" not in here.get_account_api_permissions()


def test_request_log_names_keys_by_fingerprint_only(fx: FakeBinance, client: Client) -> None:
    client.get_account()
    api_error(make_client(fx, key="other", secret="x").get_account)
    log = fx.requests()
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("GET", "/api/v3/account", 200),
        ("GET", "/api/v3/account", 401),
    ]
    assert log[0]["api_key_fp"] == FakeBinance.key_fingerprint(fx.api_key)
    assert log[1]["api_key_fp"] == FakeBinance.key_fingerprint("other")
    assert log[1]["code"] == -2015
    text = repr(log)
    assert fx.api_secret not in text
    assert fx.api_key not in text
