"""The paper futures broker (issue 20): taker fee in USDT, isolated margin, reduceOnly,
funding every 8 h of scenario time into P&L and the daily-loss breaker, and liquidation
at the maintenance margin. The FuturesTrader in a real paper daemon: every
exposure-reducing order it sends is reduceOnly, on every path."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.builders import LogNotifier
from tradewarden.core.config import load_settings
from tradewarden.core.models import OrderRequest, Side, Tick
from tradewarden.risk.breakers import Observation
from tradewarden.risk.breakers.base import PORTFOLIO
from tradewarden.risk.engine import RiskEngine
from tradewarden.risk.state import TradingState
from tradewarden.runtime import critical
from tradewarden.runtime.daemon import Daemon
from tradewarden.runtime.halt_reset import DaemonSite, apply_halt
from tradewarden.state.store import Store
from tradewarden.strategy import Signal
from tradewarden.trading.bot_ledger import Ledger
from tradewarden.trading.broker import BrokerError
from tradewarden.trading.futures_trader import FuturesTrader
from tradewarden.trading.paper_futures import FUNDING_INTERVAL_S, PaperFuturesBroker

T0 = 1_767_571_200.0  # 2026-01-05 00:00 UTC, a funding boundary


def tick(ts: float, price: float) -> Tick:
    return Tick(ts, "BTCUSDT", price, price * 1.0005, price * 0.9995, price, 10.0)


def order(side: Side, qty: float, cid: str, **kw) -> OrderRequest:
    return OrderRequest("f1", "BTCUSDT", side, qty, client_order_id=cid, **kw)


def broker(rate: float = 0.0001) -> PaperFuturesBroker:
    b = PaperFuturesBroker(10_000.0, leverage=3, funding_rate=rate)
    b.on_tick(tick(T0 + 60, 30_000.0))
    return b


def test_taker_fee_in_usdt_and_isolated_margin() -> None:
    b = broker()
    b.submit(order(Side.SELL, 0.1, "c1"))
    [fill] = b.poll_fills()
    assert fill.fee == pytest.approx(0.1 * 30_000 * 0.0005)  # 1.5 USDT
    assert fill.commission_asset == "USDT"
    pos = b.position("f1", "BTCUSDT")
    assert (pos.qty, pos.entry, pos.margin) == (-0.1, 30_000.0, pytest.approx(1_000.0))
    assert b.balances()["USDT"] == pytest.approx(10_000.0 - 1.5 - 1_000.0)
    b.on_tick(tick(T0 + 120, 29_000.0))
    b.submit(order(Side.BUY, 0.05, "c2", reduce_only=True))  # half: margin released pro rata
    assert b.position("f1", "BTCUSDT").margin == pytest.approx(500.0)
    assert b.wallet == pytest.approx(10_000.0 - 1.5 + 0.05 * 1_000.0 - 0.05 * 29_000 * 0.0005)


def test_reduce_only_is_refused_when_it_would_add() -> None:
    b = broker()
    with pytest.raises(BrokerError) as flat:
        b.submit(order(Side.BUY, 0.1, "c1", reduce_only=True))
    assert flat.value.code == -2022
    b.submit(order(Side.SELL, 0.1, "c2"))
    with pytest.raises(BrokerError) as adds:
        b.submit(order(Side.SELL, 0.1, "c3", reduce_only=True))
    assert adds.value.code == -2022
    cut = b.submit(order(Side.BUY, 0.5, "c4", reduce_only=True))  # cut to the position
    assert cut.filled_qty == pytest.approx(0.1) and b.position("f1", "BTCUSDT").qty == 0.0


def test_a_restored_position_is_not_funded_or_liquidated_by_the_warm_up_history() -> None:
    b = broker()
    b.submit(order(Side.SELL, 0.1, "c1"))
    fills = b.poll_fills()
    again = PaperFuturesBroker(10_000.0, leverage=3, funding_rate=0.0001)
    again.restore([replace(fills[0], ts=T0 + 2 * FUNDING_INTERVAL_S)])
    assert again.position("f1", "BTCUSDT").qty == -0.1
    assert again.wallet == pytest.approx(b.wallet)
    # history before the last fill: a far higher price and two funding boundaries
    again.on_tick(tick(T0 + 60, 60_000.0))
    again.on_tick(tick(T0 + 2 * FUNDING_INTERVAL_S, 30_000.0))
    assert again.liquidations == [] and again.poll_funding() == []
    again.on_tick(tick(T0 + 3 * FUNDING_INTERVAL_S, 30_000.0))  # after it: funded again
    assert len(again.poll_funding()) == 1


def test_margin_is_checked() -> None:
    b = broker()
    with pytest.raises(BrokerError) as exc:
        b.submit(order(Side.BUY, 1.1, "c1"))  # 33,000 notional / 3 > 10,000
    assert exc.value.code == -2019


@pytest.mark.parametrize(("side", "sign"), [(Side.SELL, 1), (Side.BUY, -1)], ids=["short", "long"])
def test_funding_every_8h_of_scenario_time(side: Side, sign: int) -> None:
    b = broker(rate=0.0001)
    b.submit(order(side, 0.1, "c1"))
    b.on_tick(tick(T0 + FUNDING_INTERVAL_S - 60, 30_000.0))
    assert b.poll_funding() == []
    b.on_tick(tick(T0 + FUNDING_INTERVAL_S, 30_000.0))
    [f] = b.poll_funding()
    assert f.amount == pytest.approx(sign * 0.1 * 30_000 * 0.0001)  # a short receives
    assert f.ts == T0 + FUNDING_INTERVAL_S
    b.on_tick(tick(T0 + 3 * FUNDING_INTERVAL_S, 30_000.0))  # two boundaries passed
    assert len(b.poll_funding()) == 2


def test_funding_reaches_pnl_and_the_daily_loss_breaker(tmp_path: Path, clean_env: None) -> None:
    settings = load_settings(state_dir=tmp_path, bots=("f1:BTCUSDT:ma_cross_ls",))
    store = Store(settings.db_path)
    try:
        risk = RiskEngine(settings, store, ["f1"])
        ledger = Ledger([("f1", "BTCUSDT")], 10_000.0)
        risk.observe(Observation("equity", PORTFOLIO, T0, equity=ledger.portfolio_equity()))
        ledger.book_funding("f1", -600.0)  # a long paying an extreme rate
        book = ledger.books["f1"]
        assert (book.funding, book.realized, book.equity()) == (-600.0, -600.0, 9_400.0)
        trips = risk.observe(
            Observation("equity", PORTFOLIO, T0 + 60, equity=ledger.portfolio_equity())
        )
        assert [t.breaker for t in trips] == ["daily_loss"]
    finally:
        store.close()


def test_liquidation_at_the_maintenance_margin() -> None:
    b = broker()
    b.submit(order(Side.SELL, 0.1, "c1"))
    liq = b.position("f1", "BTCUSDT").liquidation_price(30_000.0)
    b.on_tick(tick(T0 + 120, liq * 0.999))
    assert b.liquidations == []
    wallet = b.wallet
    b.on_tick(tick(T0 + 180, liq * 1.001))
    [x] = b.liquidations
    assert (x.bot, x.qty, x.margin_lost) == ("f1", -0.1, pytest.approx(1_000.0))
    assert b.position("f1", "BTCUSDT").qty == 0.0
    assert b.wallet == pytest.approx(wallet - 1_000.0)  # the whole isolated margin


# --- the FuturesTrader in a paper daemon: reduceOnly on every reducing path ----------------------
@pytest.fixture()
def daemon(tmp_path: Path, clean_env: None):
    settings = load_settings(
        state_dir=tmp_path,
        futures_enabled=True,
        futures_leverage=3,
        bots=("f1:BTCUSDT:ma_cross_ls",),
        symbols=("BTCUSDT",),
    )
    d = Daemon(settings, notifier=LogNotifier())
    sent: list[tuple[OrderRequest, float]] = []
    submit = d.gate.submit

    def spy(req: OrderRequest, price: float | None):
        sent.append((req, d.ledger.books[req.bot].qty))
        return submit(req, price)

    d.gate.submit = spy  # type: ignore[method-assign]
    d.sent = sent  # type: ignore[attr-defined]
    yield d
    d.close()


def reducing_orders(sent: list[tuple[OrderRequest, float]]) -> list[OrderRequest]:
    out = []
    for req, held in sent:
        signed = req.qty if req.side is Side.BUY else -req.qty
        if held * signed < 0:
            out.append(req)
    return out


def short_entry(d: Daemon, price: float = 30_000.0) -> None:
    d.trader.on_tick(tick(T0 + 60, price))
    bot = d.bots[0]
    sub = d.trader.place(bot, Signal(Side.SELL, 2, True, "test: go short"), price)
    assert sub.accepted and d.ledger.books["f1"].qty < 0


def test_every_reducing_path_sends_reduce_only(daemon: Daemon) -> None:
    d = daemon
    assert isinstance(d.trader, FuturesTrader)
    bot = d.bots[0]
    # 1. the strategy's exit (a cover)
    short_entry(d)
    assert d.trader.place(bot, Signal(Side.BUY, 2, False, "test: cover"), 30_000.0).accepted
    assert d.ledger.books["f1"].qty == 0.0
    # 2. the breaker's reduce, 3. its emergency flatten
    short_entry(d)
    held = d.ledger.books["f1"].qty
    liq = d.trader.futures.position("f1", "BTCUSDT").liquidation_price(30_000.0)
    d.trader.on_tick(tick(T0 + 120, liq / 1.25))  # 25% from liquidation: reduce
    assert d.risk.state is TradingState.REDUCING
    assert d.ledger.books["f1"].qty == pytest.approx(held / 2, abs=1e-6)
    d.trader.on_tick(tick(T0 + 180, liq / 1.10))  # 10%: emergency flatten
    assert d.risk.state is TradingState.HALTED
    assert d.ledger.books["f1"].qty == 0.0
    assert d.trader.futures.liquidations == []
    reducing = reducing_orders(d.sent)  # type: ignore[attr-defined]
    assert len(reducing) == 3
    assert all(r.reduce_only for r in reducing)
    assert not any(r.reduce_only for r, _ in d.sent if r not in reducing)  # type: ignore[attr-defined]


def test_the_emergency_stop_closes_a_short_with_reduce_only(daemon: Daemon) -> None:
    d = daemon
    short_entry(d)
    critical.emergency_stop(d, OSError("disk gone"))
    assert d.risk.state is TradingState.HALTED
    assert d.ledger.books["f1"].qty == 0.0
    [close] = reducing_orders(d.sent)  # type: ignore[attr-defined]
    assert close.reduce_only and close.side is Side.BUY


def test_a_manual_halt_closes_a_short_with_reduce_only(daemon: Daemon) -> None:
    d = daemon
    short_entry(d)
    apply_halt(DaemonSite(d), "halt", "drill: operator stop", "alice")
    assert d.risk.state is TradingState.HALTED
    assert d.ledger.books["f1"].qty == 0.0
    [close] = reducing_orders(d.sent)  # type: ignore[attr-defined]
    assert close.reduce_only and close.side is Side.BUY


def test_the_trader_books_funding_into_pnl_before_the_breakers_read_equity(
    daemon: Daemon,
) -> None:
    d = daemon
    short_entry(d)
    held = d.ledger.books["f1"].qty
    seen: list[float] = []
    daily = d.risk.breaker("daily_loss")
    assert daily is not None
    before = d.ledger.portfolio_equity()
    d.trader.on_tick(tick(T0 + FUNDING_INTERVAL_S, 30_000.0))
    seen.append(daily.readings()[0].value)
    book = d.ledger.books["f1"]
    assert book.funding == pytest.approx(-held * 30_000.0 * 0.0001)  # a short receives
    assert book.realized == pytest.approx(book.funding - book.fees)
    assert d.ledger.portfolio_equity() == pytest.approx(before + book.funding)
    # the daily-loss breaker read the equity with the funding in it on that very tick
    start = daily.day_start  # type: ignore[attr-defined]
    assert seen[0] == pytest.approx((start - d.ledger.portfolio_equity()) / start)
