"""The daemon on a fake Binance as hard as the real one (issue 14): a commission taken from
the coin received, and no spare base asset on the account. Entries, exits, a breaker trip
and the emergency stop's flatten all complete; after every fill the ledger's position is
what the exchange holds, and the ledger's cash moves exactly as the exchange's quote
balance does, so P&L includes every fee."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.daemon.helpers import readyz, status, wait_for
from tests.integration.testnet.conftest import (
    LOSING_WAVE,
    WAVE,
    Running,
    assert_one_to_one,
    fills,
    local_orders,
    posts,
    wave_exchange,
)

FEE = 0.001  # Binance's standard spot commission
START_USDT = 10_000.0


# a thin book: 0.01 BTC a level, levels 1 USDT apart: an entry of ~1000 USDT (0.033 BTC)
# fills at four prices, and so does its exit
THIN = {"depth_qty": 0.01, "book_gap_ticks": 100}


@pytest.fixture()
def fx(clean_env: None, request: pytest.FixtureRequest) -> Iterator[FakeBinance]:
    """Binance's world (the fake's default, the commission rate said explicitly); a test
    may ask for another wave, or ``{"wave": ..., "spec": ...}``."""
    param = getattr(request, "param", WAVE)
    wave, spec = (param["wave"], param["spec"]) if isinstance(param, dict) else (param, None)
    with wave_exchange(wave, 100 if wave is WAVE else 50, spec, fee_rate=FEE) as fake:
        yield fake


def sells_filled(fx: FakeBinance) -> int:
    return sum(o["status"] == "FILLED" and o["side"] == "SELL" for o in fx.orders())


def assert_books_follow_the_exchange(fx: FakeBinance, state: Path) -> dict[str, Any]:
    """Fill by fill, the daemon's booked change of the position equals the change of the
    exchange's BTC balance (commission included), and at the end the ledger holds what
    the exchange holds, with cash moved by exactly the exchange's USDT change."""
    booked = {f["trade_id"]: f for f in fills(state)}
    held = 0.0
    position = 0.0
    for t in sorted(fx.trades(), key=lambda t: t["id"]):
        qty, commission = float(t["qty"]), float(t["commission"])
        held += qty if t["isBuyer"] else -qty
        if t["commissionAsset"] == "BTC":
            held -= commission
        f = booked[f"BTCUSDT:{t['id']}"]
        position += (f["qty"] if f["side"] == "BUY" else -f["qty"]) - f["fee_base"]
        assert math.isclose(position, held, abs_tol=1e-9), (t, f, position, held)
    remote = {o["clientOrderId"]: o for o in fx.orders()}
    for cid, row in local_orders(state).items():  # each order's average over its fills
        o = remote.get(cid)
        if o is not None and float(o["executedQty"]) > 0 and row["status"] == "FILLED":
            avg = float(o["cummulativeQuoteQty"]) / float(o["executedQty"])
            assert row["avg_price"] == pytest.approx(avg, rel=1e-9), (cid, row, o)
    book = status(state)["equity"]["bots"]["b1"]
    btc_free, btc_locked = fx.balances()["BTC"]
    usdt_free, usdt_locked = fx.balances()["USDT"]
    assert book["position"] == pytest.approx(btc_free + btc_locked, abs=1e-9)
    cash_change = book["cash"] - START_USDT
    assert cash_change == pytest.approx(usdt_free + usdt_locked - START_USDT, abs=1e-6)
    fees = sum(
        float(t["commission"]) * (float(t["price"]) if t["isBuyer"] else 1.0) for t in fx.trades()
    )
    assert fees > 0 and book["fees"] == pytest.approx(fees, rel=1e-9)
    return book


def assert_no_refusal(fx: FakeBinance, state: Path) -> None:
    codes = [p["code"] for p in posts(fx) if p["code"] is not None]
    assert codes == [], f"orders refused by the exchange: {codes}"
    rejected = [r for r in local_orders(state).values() if r["status"] == "REJECTED"]
    assert rejected == [], rejected


@pytest.mark.parametrize(
    "fx", [WAVE, {"wave": WAVE, "spec": THIN}], ids=["deep-book", "thin-book"], indirect=True
)
def test_round_trips_with_commission_and_no_spare_base_asset(
    fx: FakeBinance, daemon: Callable[..., Running], request: pytest.FixtureRequest
) -> None:
    d = daemon(MAX_CONSECUTIVE_LOSSES="1000")
    d.wait_ready()
    assert wait_for(lambda: sells_filled(fx) >= 2, timeout=120), "no exits on the fake exchange"
    assert d.stop() == 0
    assert_one_to_one(fx, d.state)
    assert_no_refusal(fx, d.state)
    book = assert_books_follow_the_exchange(fx, d.state)
    assert book["trades"] >= 2  # round trips closed although a dust of BTC may be left
    per_order = Counter(t["orderId"] for t in fx.trades())
    if "thin-book" in request.node.name:  # every order walked the book
        assert min(per_order.values()) >= 2, per_order


@pytest.mark.parametrize("fx", [LOSING_WAVE], indirect=True)
def test_losing_exits_complete_and_trip_the_consecutive_losses_breaker(
    fx: FakeBinance, daemon: Callable[..., Running]
) -> None:
    """Every round trip loses (fees included): two closed ones trip the bot's breaker,
    which needs both exits to have gone through."""
    d = daemon(MAX_CONSECUTIVE_LOSSES="2")
    d.wait_ready()

    def tripped() -> bool:
        return any(t["breaker"] == "consecutive_losses" for t in status(d.state)["trips"])

    assert wait_for(tripped, timeout=120), status(d.state)
    assert d.stop() == 0
    assert sells_filled(fx) >= 2
    assert_one_to_one(fx, d.state)
    assert_no_refusal(fx, d.state)
    assert_books_follow_the_exchange(fx, d.state)


def test_the_emergency_stop_flattens_what_is_held(
    fx: FakeBinance, daemon: Callable[..., Running]
) -> None:
    """A portfolio drawdown limit below the entry's commission: the emergency stop trips
    right after a buy and flattens. The flatten sells what the account holds, not the
    gross quantity bought (which the exchange would refuse: -2010)."""
    d = daemon(
        MAX_CONSECUTIVE_LOSSES="1000",
        MAX_PORTFOLIO_DRAWDOWN_PCT="0.0001",
        TRADEWARDEN_FLATTEN_ON_EMERGENCY="true",
        TRADEWARDEN_ORDER_FRACTION="0.19",
    )
    d.wait_ready()

    def emergency() -> bool:
        return any(t["breaker"] == "portfolio_drawdown" for t in status(d.state)["trips"])

    assert wait_for(emergency, timeout=120), status(d.state)
    assert wait_for(lambda: sells_filled(fx) >= 1 and not fx.open_orders(), timeout=30)
    assert d.stop() == 0
    assert status(d.state)["state"] == "halted"
    assert_one_to_one(fx, d.state)
    assert_no_refusal(fx, d.state)
    book = assert_books_follow_the_exchange(fx, d.state)
    btc_free, btc_locked = fx.balances()["BTC"]
    assert btc_free + btc_locked < 0.00001, "the emergency stop left a sellable position"
    assert book["position"] < 0.00001


def test_a_symbol_leaving_trading_stops_its_orders_and_readyz_says_why(
    fx: FakeBinance, daemon: Callable[..., Running]
) -> None:
    """enums.md: a symbol can go to HALT or BREAK at any time. No order on it then, and
    /readyz names the symbol and its status; back to TRADING, trading resumes."""
    d = daemon(MAX_CONSECUTIVE_LOSSES="1000")
    port = d.wait_ready()
    assert wait_for(lambda: len(fx.orders()) >= 1, timeout=90)
    fx.set_symbol_status("BTCUSDT", "HALT")

    def says_halted() -> bool:
        code, body = readyz(port)
        return code == 503 and any("BTCUSDT is HALT" in r for r in body["reasons"])

    assert wait_for(says_halted, timeout=20), readyz(port)
    n = len(posts(fx))
    time.sleep(1.5)  # several rounds and a reconciliation
    assert len(posts(fx)) == n, "orders sent on a halted symbol"
    fx.set_symbol_status("BTCUSDT", "TRADING")
    assert wait_for(lambda: readyz(port)[0] == 200, timeout=20), readyz(port)
    assert wait_for(lambda: len(posts(fx)) > n, timeout=60), "trading did not resume"
    assert d.stop() == 0
    assert_one_to_one(fx, d.state)
