"""Order placement whose outcome is unknown (issue 14, item 2), over real HTTP.

Binance (rest-api.md): every 5xx means "execution status UNKNOWN"; errors.md: -1006 and
-1007 say the same. Such an order is resolved by querying its client order id, never
recorded REJECTED and never sent again. The EXPIRED verdict for an order the exchange does
not know waits `order_expiry_margin_seconds` beyond recvWindow (the recvWindow check is
made before the matching engine, and reads are asynchronous), and an order that shows up
after that verdict is booked, not taken for a foreign one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.exchange.conftest import intent, posts
from tradewarden.core.config import Settings
from tradewarden.core.models import Fill, OrderStatus, OrderType, Side
from tradewarden.exchange import BinanceBroker, RateLimitedError, Reconciler, ReconcileReport
from tradewarden.state.store import Store
from tradewarden.trading.broker import OutcomeUnknownError

ORDER = {"path": "/api/v3/order", "method": "POST"}
HTML_503 = (
    "<html><head><title>503 Service Temporarily Unavailable</title></head>"
    "<body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>"
)


def _book(store: Store, fills: list[Fill]) -> None:
    for f in fills:
        row = store.get_order(f.client_order_id)
        assert row is not None
        row.filled_qty += f.qty
        row.avg_price = f.price
        row.status = OrderStatus.FILLED if row.filled_qty >= row.qty - 1e-12 else row.status
        assert store.book_fill(f, row)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(HTML_503, id="html-page"),
        pytest.param('{"code":-1016,"msg":"This service is no longer available."}', id="-1016"),
        pytest.param('{"code":-1007,"msg":"Timeout waiting for response."}', id="-1007"),
    ],
)
def test_503_after_booking_is_resolved_by_query_not_rejected(
    fx: FakeBinance, broker: BinanceBroker, store: Store, body: str
) -> None:
    fx.fault("error_after_accept", status=503, body=body, **ORDER)
    req = intent(store, qty=0.002)
    order = broker.submit(req)
    (booked,) = fx.orders()
    assert posts(fx) == 1  # never resent
    assert order.status is OrderStatus.FILLED
    assert order.exchange_order_id == str(booked["orderId"])
    row = store.get_order(req.client_order_id)
    assert row is not None and row.status is not OrderStatus.REJECTED
    assert row.exchange_order_id == str(booked["orderId"])
    _book(store, broker.poll_fills())
    assert store.get_order(req.client_order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert len(store.fills_for(req.client_order_id)) == 1


def test_maintenance_on_placement_is_unknown_never_rejected_or_resent(
    fx: FakeBinance, make_broker: Callable[..., BinanceBroker], store: Store
) -> None:
    """-1016 on POST order: the order may exist; asked about until it can be settled."""
    broker = make_broker(resolve_timeout_s=1.0)
    fx.fault("maintenance", path="/api/*", count=None)
    req = intent(store)
    with pytest.raises(OutcomeUnknownError):
        broker.submit(req)
    assert store.get_order(req.client_order_id).status is OrderStatus.UNKNOWN  # type: ignore[union-attr]
    assert posts(fx) == 1
    fx.clear_faults()


def test_order_seen_late_within_the_margin_is_booked_not_expired(
    fx: FakeBinance, make_broker: Callable[..., BinanceBroker], store: Store, settings: Settings
) -> None:
    """The request got no answer and the exchange said -2013 for a while (reads are
    asynchronous); the order shows up 2.5 s after it was sent, past recvWindow (1 s) + 1 s.
    The old verdict was EXPIRED at that point; now it waits the configured margin."""
    s = settings.model_copy(update={"order_expiry_margin_seconds": 4.0})
    broker = make_broker(settings=s, resolve_timeout_s=8.0)
    fx.fault("drop_connection", **ORDER)  # nothing booked by the request itself ...
    req = intent(store, qty=0.002)

    def appears_late() -> None:  # ... the matching engine books it later
        time.sleep(2.5)
        fx.client().create_order(
            symbol="BTCUSDT",
            side="BUY",
            type="MARKET",
            quantity="0.00200",
            newClientOrderId=req.client_order_id,
        )

    t = threading.Thread(target=appears_late)
    t.start()
    try:
        order = broker.submit(req)
    finally:
        t.join()
    assert order.status is OrderStatus.FILLED
    assert len(fx.orders()) == 1 and posts(fx) == 2  # ours (dropped) + the late booking
    _book(store, broker.poll_fills())
    assert len(store.fills_for(req.client_order_id)) == 1


def test_order_appearing_after_the_expired_verdict_is_booked_not_foreign(
    fx: FakeBinance, make_broker: Callable[..., BinanceBroker], store: Store, settings: Settings
) -> None:
    s = settings.model_copy(update={"order_expiry_margin_seconds": 0.5})
    broker = make_broker(settings=s)
    events: list[ReconcileReport] = []
    rec = Reconciler(broker, store, s, events.append)
    rec.run_once()  # balance baseline
    fx.fault("drop_connection", **ORDER)
    req = intent(store, qty=0.002)
    assert broker.submit(req).status is OrderStatus.EXPIRED
    fx.client().create_order(  # later than any verdict: it still has to be booked
        symbol="BTCUSDT",
        side="BUY",
        type="MARKET",
        quantity="0.00200",
        newClientOrderId=req.client_order_id,
    )
    rec.run_once()
    _book(store, broker.poll_fills())
    report = rec.run_once()
    assert events == [] and report.ok and report.balances_checked
    row = store.get_order(req.client_order_id)
    assert row is not None and row.status is OrderStatus.FILLED
    assert row.exchange_order_id == str(fx.orders()[0]["orderId"])
    assert len(store.fills_for(req.client_order_id)) == 1


@pytest.mark.parametrize(
    ("side", "price"), [("SELL", "35000.00"), ("BUY", "25000.00")], ids=["other-side", "same-side"]
)
def test_foreign_order_reusing_one_of_our_closed_ids_is_foreign(
    fx: FakeBinance, broker: BinanceBroker, store: Store, settings: Settings, side: str, price: str
) -> None:
    """clientOrderId is unique only among open orders: someone may reuse a closed one. Its
    side may differ from our row's, or nothing but its exchange order id (same symbol, side
    and type): a closed row of ours reappearing open is foreign all the same."""
    events: list[ReconcileReport] = []
    rec = Reconciler(broker, store, settings, events.append)
    rec.run_once()
    req = intent(store, qty=0.002, order_type=OrderType.LIMIT, price=30100.0)  # marketable
    broker.submit(req)
    _book(store, broker.poll_fills())
    assert rec.run_once().ok
    fx.client().create_order(  # same id, a resting LIMIT
        symbol="BTCUSDT",
        side=side,
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.00100",
        price=price,
        newClientOrderId=req.client_order_id,
    )
    report = rec.run_once()
    assert report.action == "halt"
    assert [o.client_order_id for o in report.unknown_on_exchange] == [req.client_order_id]
    row = store.get_order(req.client_order_id)
    assert row is not None and row.status is OrderStatus.FILLED  # our row untouched
    assert row.side is Side.BUY


def test_too_many_orders_pauses_only_new_orders(
    fx: FakeBinance, make_broker: Callable[..., BinanceBroker], store: Store
) -> None:
    """-1015 (errors.md: too many new orders) stops placing orders; reads and cancels go on."""
    broker = make_broker(max_queue_s=0.5)
    resting = intent(store, order_type=OrderType.LIMIT, price=29000.0, qty=0.001)
    broker.submit(resting)
    fx.set_limits(orders_10s_limit=1)
    with pytest.raises(RateLimitedError):
        broker.submit(intent(store, qty=0.001))
    sent = posts(fx)
    assert broker.balances()["USDT"] > 0  # reads go on at once
    assert broker.open_orders("BTCUSDT")
    cancelled = broker.cancel("BTCUSDT", resting.client_order_id)  # cancels go on
    assert cancelled.status is OrderStatus.CANCELED
    with pytest.raises(RateLimitedError):
        broker.submit(intent(store, qty=0.001))
    assert posts(fx) == sent  # the paused new order never left the process


@pytest.mark.parametrize("fx", [{"fee_rate": 0.001}], indirect=True)
def test_fill_carries_the_commission_in_the_asset_it_was_taken_from(
    fx: FakeBinance, broker: BinanceBroker, store: Store
) -> None:
    req = intent(store, qty=0.002)
    broker.submit(req)
    (fill,) = broker.poll_fills()
    (trade,) = fx.trades()
    assert trade["commissionAsset"] == "BTC" and float(trade["commission"]) > 0
    assert fill.commission == pytest.approx(float(trade["commission"]))
    assert fill.commission_asset == "BTC"
    assert fill.fee == pytest.approx(float(trade["commission"]) * float(trade["price"]))


@pytest.mark.parametrize("status", [400, 408, 500, 503])
@pytest.mark.parametrize("code", [-1006, -1007])
def test_execution_status_unknown_codes_are_resolved_by_query(
    fx: FakeBinance, broker: BinanceBroker, store: Store, code: int, status: int
) -> None:
    """errors.md: -1006/-1007 "execution status unknown", whatever the HTTP status."""
    fx.fault("code_after_accept", code=code, status=status, **ORDER)
    req = intent(store, qty=0.002)
    order = broker.submit(req)
    (booked,) = fx.orders()
    assert posts(fx) == 1
    assert order.status is OrderStatus.FILLED
    assert order.exchange_order_id == str(booked["orderId"])
    _book(store, broker.poll_fills())
    assert len(store.fills_for(req.client_order_id)) == 1


def test_html_503_page_after_booking_from_the_fake(
    fx: FakeBinance, broker: BinanceBroker, store: Store
) -> None:
    fx.fault("html_503_after_accept", **ORDER)
    req = intent(store, order_type=OrderType.LIMIT, price=29000.0)
    order = broker.submit(req)
    assert posts(fx) == 1 and len(fx.orders()) == 1
    assert order.status is OrderStatus.NEW
    assert store.get_order(req.client_order_id).status is OrderStatus.NEW  # type: ignore[union-attr]


def test_late_visible_order_after_a_503_is_found_within_the_margin(
    fx: FakeBinance, make_broker: Callable[..., BinanceBroker], store: Store, settings: Settings
) -> None:
    """Booked, answered 503, and hidden from reads for 2.5 s (past recvWindow + 1 s)."""
    s = settings.model_copy(update={"order_expiry_margin_seconds": 5.0})
    broker = make_broker(settings=s, resolve_timeout_s=10.0)
    fx.fault("late_visible", seconds=2.5, **ORDER)
    fx.fault("html_503_after_accept", **ORDER)
    req = intent(store, qty=0.002)
    order = broker.submit(req)
    assert order.status is OrderStatus.FILLED
    assert posts(fx) == 1 and len(fx.orders()) == 1
    _book(store, broker.poll_fills())
    assert len(store.fills_for(req.client_order_id)) == 1


def test_late_visible_answered_order_is_not_missing_on_the_exchange(
    fx: FakeBinance, make_broker: Callable[..., BinanceBroker], store: Store, settings: Settings
) -> None:
    """An answered order that reads do not show yet is not "missing" (no halt) within the
    margin; once visible it is booked once."""
    s = settings.model_copy(update={"order_expiry_margin_seconds": 5.0})
    broker = make_broker(settings=s)
    events: list[ReconcileReport] = []
    rec = Reconciler(broker, store, s, events.append)
    rec.run_once()
    fx.fault("late_visible", seconds=2.0, **ORDER)
    req = intent(store, order_type=OrderType.LIMIT, price=29000.0, qty=0.001)
    assert broker.submit(req).status is OrderStatus.NEW
    report = rec.run_once()
    assert events == [] and report.ok, report.summary()
    time.sleep(2.2)
    fx.set_price("BTCUSDT", 28990.0)
    _book(store, broker.poll_fills())
    assert rec.run_once().ok and events == []
    assert len(store.fills_for(req.client_order_id)) == 1


def test_waf_403_backs_off_every_request(
    fx: FakeBinance, make_broker: Callable[..., BinanceBroker], store: Store
) -> None:
    """rest-api.md: 403 = a WAF rule was violated. Nothing was handled: REJECTED, and the
    process stops asking for a while instead of hammering the firewall."""
    broker = make_broker(max_queue_s=0.5)
    fx.fault("waf_403", **ORDER)
    req = intent(store)
    with pytest.raises(RateLimitedError) as info:
        broker.submit(req)
    assert info.value.code == 403 and info.value.retry_after > 0
    assert fx.orders() == []
    assert store.get_order(req.client_order_id).status is OrderStatus.REJECTED  # type: ignore[union-attr]
    n = fx.stats()["requests"]
    with pytest.raises(RateLimitedError):
        broker.balances()
    assert fx.stats()["requests"] == n  # backed off: nothing more sent


def test_archived_order_is_settled_from_my_trades(
    fx: FakeBinance, broker: BinanceBroker, store: Store
) -> None:
    """-2026 (errors.md: canceled or expired with no executed qty, archived): the order is
    settled, not left unknown."""
    req = intent(store, order_type=OrderType.LIMIT, price=29000.0, qty=0.001)
    placed = broker.submit(req)
    broker.cancel("BTCUSDT", req.client_order_id)
    assert placed.exchange_order_id is not None
    fx.archive_orders([int(placed.exchange_order_id)])
    got = broker.query("BTCUSDT", req.client_order_id)
    assert got is not None and not got.status.is_open
    assert got.filled_qty == 0.0
    assert got.exchange_order_id == placed.exchange_order_id


THIN = {
    "BTCUSDT": {
        "price": 30000.0,
        "tick": 0.01,
        "step": 0.00001,
        "min_qty": 0.00001,
        "min_notional": 5.0,
        "depth_qty": 0.001,
        "book_gap_ticks": 100,
    },
    "ETHUSDT": {"price": 2000.0, "tick": 0.01, "step": 0.0001, "min_notional": 5.0},
}


@pytest.mark.parametrize("fx", [{"kind": False, "symbols": THIN}], indirect=True)
def test_market_order_on_a_thin_book_fills_at_several_prices(
    fx: FakeBinance, broker: BinanceBroker, store: Store
) -> None:
    """0.0025 BTC against 0.001 a level, 1 USDT apart: three fills at three prices. The
    average, the commission (in BTC) and the ledger's P&L follow the fills."""
    from tradewarden.trading.bot_ledger import Ledger

    req = intent(store, qty=0.0025)
    order = broker.submit(req)
    assert order.status is OrderStatus.FILLED
    fills = broker.poll_fills()
    trades = fx.trades()
    assert sorted(f.price for f in fills) == [30000.0, 30001.0, 30002.0]
    assert sum(f.qty for f in fills) == pytest.approx(0.0025)
    quote = sum(float(t["qty"]) * float(t["price"]) for t in trades)
    assert order.avg_price == pytest.approx(quote / 0.0025)
    commission = sum(float(t["commission"]) for t in trades)
    assert commission == pytest.approx(0.0025 * 0.001)
    assert sum(f.fee_base for f in fills) == pytest.approx(commission)
    ledger = Ledger([("b1", "BTCUSDT")], 10_000.0)
    for f in fills:
        ledger.apply(f)
    book = ledger.books["b1"]
    btc_free, _ = fx.balances()["BTC"]
    assert book.qty == pytest.approx(btc_free - 0.5)  # 0.5 BTC was there before
    assert book.cash == pytest.approx(10_000.0 - quote)
    assert book.realized == pytest.approx(-sum(f.fee for f in fills))


@pytest.mark.parametrize("fx", [{"kind": False, "symbols": THIN}], indirect=True)
def test_partial_fills_over_several_polls_are_booked_once_each(
    fx: FakeBinance, broker: BinanceBroker, store: Store
) -> None:
    req = intent(store, order_type=OrderType.LIMIT, price=29000.0, qty=0.0025)
    broker.submit(req)
    seen: list[str] = []
    for price in (28999.0, 28998.0, 28997.0):
        fx.set_price("BTCUSDT", price)  # crossed: at most 0.001 fills per price change
        got = broker.poll_fills()
        assert len(got) == 1
        _book(store, got)
        seen += [f.trade_id for f in got]
        assert broker.poll_fills() == []
    fresh = BinanceBroker(
        broker.settings, store, broker.client._credentials, limiter=broker.limiter
    )
    assert fresh.poll_fills() == []  # a restart books nothing twice
    assert sorted(seen) == sorted(f"BTCUSDT:{t['id']}" for t in fx.trades())
    row = store.get_order(req.client_order_id)
    assert row is not None and row.status is OrderStatus.FILLED
    assert row.filled_qty == pytest.approx(0.0025)
