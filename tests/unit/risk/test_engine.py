"""RiskEngine + OrderGate with a real SQLite store: trips block at once, persist, and only
a reset clears them; HALTED blocks every way an order can be submitted."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.builders import PRICES, TWO_BOTS, make_risk, paper_world
from tradewarden.audit.chain import verify
from tradewarden.core.config import TripScope
from tradewarden.core.models import OrderRequest, Side, Tick
from tradewarden.risk.breakers import Observation
from tradewarden.risk.breakers.base import PORTFOLIO
from tradewarden.risk.engine import ResetScope
from tradewarden.risk.reasons import DenyReason
from tradewarden.risk.state import TradingState
from tradewarden.state.store import Store
from tradewarden.strategy.base import Signal
from tradewarden.trading.paper_broker import PaperBroker

T0 = 1_767_571_200.0


class CountingBroker(PaperBroker):
    """A real paper broker that also counts what reached it."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.submits = 0

    def submit(self, req):
        self.submits += 1
        return super().submit(req)


@pytest.fixture()
def world(tmp_path: Path, clean_env):
    w = paper_world(
        tmp_path,
        broker=CountingBroker({"USDT": 10_000.0}),
        prices=PRICES,
        ts=T0,
        bots=TWO_BOTS,
        flatten_on_emergency=True,
    )
    yield w.settings, w.store, w.audit, w.risk, w.broker, w.gate, w.trader, w.notifier
    w.close()


def buy(bot: str = "b1", symbol: str = "BTCUSDT", qty: float = 0.01) -> OrderRequest:
    return OrderRequest(bot=bot, symbol=symbol, side=Side.BUY, qty=qty)


def test_trip_blocks_synchronously_and_persists(world) -> None:
    settings, store, audit, risk, broker, gate, trader, notifier = world
    settings = settings.model_copy(update={"trip_scope": TripScope.BOT})  # not the default
    risk.settings = settings
    for _ in range(3):
        risk.observe(Observation("trade", "b1", T0, pnl=-1.0))
    # the very next submit for b1 is refused, b2 still trades
    assert gate.submit(buy(), 50_000.0).denied is DenyReason.BOT_HALTED
    assert gate.submit(buy("b2", "ETHUSDT", 0.1), 2_500.0).accepted
    assert [r["breaker"] for r in store.tripped()] == ["consecutive_losses"]
    assert notifier.sent[0][0] == "breaker_tripped"
    # a new engine on the same file (what a restart builds) is still halted for b1
    again = make_risk(settings, store)
    assert again.bot_states["b1"] is TradingState.HALTED
    assert again.check(buy(), 50_000.0) is DenyReason.BOT_HALTED
    again.set_balances(broker.balances())
    assert again.check(buy("b2", "ETHUSDT", 0.1), 2_500.0) is None


def test_only_reset_clears_and_is_recorded(world) -> None:
    settings, store, audit, risk, *_ = world
    risk.observe(Observation("equity", PORTFOLIO, T0, equity=10_000.0))
    risk.observe(Observation("equity", PORTFOLIO, T0 + 60, equity=9_400.0))  # -6% daily
    assert risk.state is TradingState.HALTED
    # recovery of equity does not clear a sticky trip
    risk.observe(Observation("equity", PORTFOLIO, T0 + 120, equity=10_500.0))
    assert risk.state is TradingState.HALTED
    assert make_risk(settings, store).state is TradingState.HALTED
    cleared = risk.reset(
        "reviewed the loss, market calm",
        "alice@host",
        ResetScope(breakers=frozenset({"daily_loss"})),
    )
    assert cleared == ["daily_loss:portfolio"]
    assert risk.state is TradingState.ACTIVE
    (row,) = store.resets()
    assert row["actor"] == "alice@host" and "market calm" in row["reason"]
    assert make_risk(settings, store).state is TradingState.ACTIVE


def test_halted_blocks_every_submit_path(world) -> None:
    settings, store, audit, risk, broker, gate, trader, notifier = world
    assert gate.submit(buy(), 50_000.0).accepted
    trader.process_fills()
    before = broker.submits
    risk.halt("operator says stop", "bob")
    bot = trader.bots[0]
    # 1. the order gate
    assert gate.submit(buy(), 50_000.0).denied is DenyReason.HALTED
    # 2. the trader's strategy path, entry and exit
    assert trader.place(bot, Signal(Side.BUY, 1, True, "t"), 50_000.0).denied is DenyReason.HALTED
    assert trader.place(bot, Signal(Side.SELL, 1, False, "t"), 50_000.0).denied is DenyReason.HALTED
    # 3. the flatten path of an emergency stop
    assert trader._flatten() == []
    # 4. the market loop: ticks whose signals would trade
    for i in range(60):
        px = 50_000.0 * (1 + 0.01 * (i % 7 - 3))
        trader.on_tick(Tick(T0 + 60 * i, "BTCUSDT", px, px, px, px, 1.0))
    assert broker.submits == before
    # and across a restart
    assert make_risk(settings, store).check(buy(), 50_000.0) is DenyReason.HALTED


def test_reducing_admits_only_reducing_orders_through_the_gate(world) -> None:
    settings, store, audit, risk, broker, gate, trader, notifier = world
    assert gate.submit(buy(qty=0.01), 50_000.0).accepted
    trader.process_fills()
    risk.halt("pause", "bob", reducing=True)
    assert gate.submit(buy(qty=0.001), 50_000.0).denied is DenyReason.REDUCING_ONLY
    sell = OrderRequest(bot="b1", symbol="BTCUSDT", side=Side.SELL, qty=0.01)
    assert gate.submit(sell, 50_000.0).accepted
    trader.process_fills()
    assert gate.submit(sell, 50_000.0).denied is DenyReason.REDUCING_ONLY  # now flat


def test_emergency_stop_cancels_flattens_then_halts(world) -> None:
    settings, store, audit, risk, broker, gate, trader, notifier = world
    assert gate.submit(buy(qty=0.02), 50_000.0).accepted
    trader.process_fills()
    assert trader.ledger.books["b1"].qty == pytest.approx(0.02)
    risk.observe(Observation("equity", PORTFOLIO, T0, equity=10_000.0))
    trips = risk.observe(Observation("equity", PORTFOLIO, T0 + 1, equity=5_900.0))
    assert [t.breaker for t in trips] == ["daily_loss", "portfolio_drawdown"]
    assert risk.state is TradingState.HALTED
    assert trader.ledger.books["b1"].qty == 0  # flattened through the gate while REDUCING
    kinds = [k for k, _ in notifier.sent]
    assert "emergency_stop" in kinds
    audit.sync()
    events = [
        line
        for f in sorted(settings.audit_dir.glob("*.jsonl"))
        for line in f.read_text().splitlines()
    ]
    assert any('"breaker_tripped"' in e and "portfolio_drawdown" in e for e in events)
    assert verify(settings.audit_dir).ok


def test_intent_is_committed_before_the_broker_sees_it(world) -> None:
    settings, store, audit, risk, broker, gate, trader, notifier = world
    seen = {}

    def spy(req, _orig=broker.submit):
        seen["row"] = Store(settings.db_path).get_order(req.client_order_id)  # another connection
        return _orig(req)

    broker.submit = spy
    sub = gate.submit(buy(), 50_000.0)
    assert sub.accepted
    assert seen["row"] is not None and seen["row"].status.value == "PENDING"


def test_approach_warning_once_at_80_percent(world) -> None:
    settings, store, audit, risk, broker, gate, trader, notifier = world
    risk.observe(Observation("equity", PORTFOLIO, T0, equity=10_000.0))
    risk.observe(Observation("equity", PORTFOLIO, T0 + 1, equity=9_590.0))  # 4.1% = 82% of 5%
    risk.observe(Observation("equity", PORTFOLIO, T0 + 2, equity=9_580.0))
    warns = [
        c for k, c in notifier.sent if k == "approaching_breaker" and c["breaker"] == "daily_loss"
    ]
    assert len(warns) == 1
