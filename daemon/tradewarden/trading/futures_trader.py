"""FuturesTrader: the Trader for USD-M futures bots (TRADEWARDEN_FUTURES_ENABLED, paper).

What differs from spot (everything else is the spot Trader's: the same gate, risk engine,
breakers, audit and alerts):

- a SELL signal with no position opens a short; a BUY while short covers it;
- every exposure-reducing order (a strategy's exit, the liquidation-distance breaker's
  reduce, the emergency flatten) is a MARKET order with `reduce_only=True`;
- on every mark-price update (each market event of the bot's symbol, before the
  strategies decide) the position's liquidation price is observed by the breakers (kind
  "mark": risk/breakers/liquidation_distance.py); past the reduce level the position is
  halved, past the flatten level the emergency stop closes it;
- funding paid or received is booked into the bot's P&L (cash) before the equity marks,
  so the daily-loss and drawdown breakers see it;
- a liquidation by the paper model (which the breaker exists to prevent) is audited and
  halts trading.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tradewarden.core.models import OrderRequest, OrderType, Side, Tick
from tradewarden.risk.breakers import Observation, Reading
from tradewarden.risk.breakers.base import MARK
from tradewarden.risk.futures import FuturesPosition
from tradewarden.risk.state import TradingState
from tradewarden.state.keys import StateKey
from tradewarden.strategy import Signal
from tradewarden.trading.broker import Broker
from tradewarden.trading.order_gate import Submission
from tradewarden.trading.paper_futures import Funding, Liquidation
from tradewarden.trading.trader import FLATTEN_KEY, Bot, Trader

log = logging.getLogger(__name__)

REDUCE_FRACTION = 0.5  # the share of the position the reduce level closes
QTY_SCALE = 1_000_000  # paper quantities: rounded down to 1e-6 (as the spot trader's entries)


def _floor_qty(qty: float) -> float:
    return math.floor(round(qty * QTY_SCALE, 3)) / QTY_SCALE


class FuturesAccount(Broker, Protocol):
    """What the futures trader reads besides the `Broker` calls: the paper model
    (`PaperFuturesBroker`) or the exchange (`exchange.futures_gateway.FuturesGateway`)."""

    liquidations: list[Liquidation]

    def position(self, bot: str, symbol: str) -> FuturesPosition: ...

    def poll_funding(self) -> list[Funding]: ...

    def booked_funding(self) -> list[Funding]:
        """Funding already booked by an earlier process (restored into the ledger)."""
        ...


@dataclass
class FuturesEvents:
    """Callbacks for the console: a reduce (before its order), funding, a liquidation."""

    on_reduce: list[Callable[[Reading], None]] = field(default_factory=list)
    on_funding: list[Callable[[Funding], None]] = field(default_factory=list)
    on_liquidation: list[Callable[[Liquidation], None]] = field(default_factory=list)


class FuturesTrader(Trader):
    def __init__(self, *, broker: FuturesAccount, **kwargs: Any) -> None:
        # HALTED by the emergency stop closes futures positions, whatever the spot setting
        kwargs["flatten_on_emergency"] = True
        self.futures = broker
        self.futures_events = FuturesEvents()
        self._mark_due: Tick | None = None
        self._liquidations_seen = 0
        self.funding_total = 0.0
        super().__init__(broker=broker, **kwargs)
        self.risk.hooks.on_reduce.append(self._on_reduce)
        for f in broker.booked_funding():  # a restart: funding stays in P&L and daily loss
            self.ledger.restore_funding(f.bot, f.amount)
            self.funding_total += f.amount

    # --- market events ----------------------------------------------------------------------
    def on_tick(self, tick: Tick) -> None:
        self._mark_due = tick  # checked right after the broker saw it (`process_fills`)
        try:
            super().on_tick(tick)
        finally:
            self._mark_due = None

    def process_fills(self) -> None:
        super().process_fills()
        for f in self.futures.poll_funding():
            self._book_funding(f)
        liquidations = self.futures.liquidations[self._liquidations_seen :]
        self._liquidations_seen += len(liquidations)
        for liq in liquidations:
            self._on_liquidation(liq)
        tick, self._mark_due = self._mark_due, None
        if tick is not None:
            self.check_marks(tick)

    def check_marks(self, tick: Tick) -> None:
        """The breakers see each futures bot's mark and liquidation price (every update)."""
        for bot in self.by_symbol.get(tick.symbol, ()):
            pos = self.futures.position(bot.name, bot.symbol)
            self.risk.observe(
                Observation(
                    MARK,
                    bot.name,
                    tick.ts,
                    price=tick.close,
                    liquidation=pos.liquidation_price(tick.close),
                )
            )

    def _book_funding(self, f: Funding) -> None:
        self.ledger.book_funding(f.bot, f.amount)
        self.funding_total += f.amount
        self.audit.append(
            "futures_funding",
            {
                "bot": f.bot,
                "symbol": f.symbol,
                "amount": f.amount,
                "rate": f.rate,
                "mark": f.mark,
                "funding_ts": f.ts,
            },
            ts=None,
        )
        for cb in self.futures_events.on_funding:
            cb(f)

    def _on_liquidation(self, liq: Liquidation) -> None:
        record = {
            "bot": liq.bot,
            "symbol": liq.symbol,
            "qty": liq.qty,
            "mark": liq.mark,
            "margin_lost": liq.margin_lost,
        }
        self.audit.append("futures_liquidation", record, sync=True)
        log.critical("futures position liquidated", extra=record)
        self.risk.halt(f"{liq.bot} {liq.symbol} liquidated at {liq.mark}", "paper futures")
        for cb in self.futures_events.on_liquidation:
            cb(liq)

    # --- orders -----------------------------------------------------------------------------
    def place(self, bot: Bot, signal: Signal, price: float, *, backoff: float = 0.0) -> Submission:
        held = self.ledger.books[bot.name].qty
        exit_ = (signal.side is Side.SELL and held > 0) or (signal.side is Side.BUY and held < 0)
        if exit_:
            qty = abs(held)
        else:
            equity = max(0.0, self.ledger.books[bot.name].equity(price))
            factor = self.ramp.factor if self.ramp is not None else 1.0
            qty = _floor_qty(self.order_fraction * factor * equity / price)
        req = OrderRequest(
            bot=bot.name,
            symbol=bot.symbol,
            side=signal.side,
            qty=qty,
            order_type=OrderType.MARKET,
            zone=signal.zone,
            directional=signal.directional and not exit_,
            reduce_only=exit_,
        )
        if self.now:  # replay: never decide on this market event again after a crash
            self.store.put(StateKey.REPLAY_LAST_TS, self.now)
        sub = self.gate.submit(req, price)
        if sub.accepted:
            self.process_fills()
        for cb in self.events.on_order:
            cb(bot, signal, sub)
        return sub

    def _reducing_order(self, bot: Bot, qty: float, why: str) -> Submission | None:
        """A reduceOnly MARKET order against the bot's position (None: flat)."""
        held = self.ledger.books[bot.name].qty
        qty = _floor_qty(min(qty, abs(held)))
        if qty <= 0:
            return None
        side = Side.BUY if held < 0 else Side.SELL
        price = self.prices.get(bot.symbol)
        req = OrderRequest(
            bot=bot.name,
            symbol=bot.symbol,
            side=side,
            qty=qty,
            order_type=OrderType.MARKET,
            directional=False,
            reduce_only=True,
        )
        sub = self.gate.submit(req, price)
        signal = Signal(side, self._zone(bot, price), False, f"reduceOnly MARKET: {why}")
        if sub.accepted:
            self.process_fills()
        for cb in self.events.on_order:
            cb(bot, signal, sub)
        return sub

    @staticmethod
    def _zone(bot: Bot, price: float | None) -> int:
        zones = getattr(bot.strategy, "zones", None)
        atr = getattr(zones, "atr", None)
        if zones is None or not atr or not price:
            return 1
        return int(zones.zone(atr / price))

    def _on_reduce(self, reading: Reading) -> None:
        """Past the liquidation-distance reduce level: halve the bot's position."""
        bot = next((b for b in self.bots if b.name == reading.bot), None)
        if bot is None:
            return
        held = self.ledger.books[bot.name].qty
        for cb in self.futures_events.on_reduce:
            cb(reading)
        sub = self._reducing_order(
            bot, abs(held) * REDUCE_FRACTION, f"{reading.breaker} reduce ({reading.value:.2%})"
        )
        self.audit.append(
            "futures_reduce",
            {
                "breaker": reading.breaker,
                "bot": reading.bot,
                "distance": reading.value,
                "position_before": held,
                "client_order_id": sub.order.client_order_id if sub and sub.order else None,
                "reduce_only": True,
                "accepted": bool(sub and sub.accepted),
            },
            sync=True,
        )

    def _flatten(self, bots: list[Bot] | None = None) -> list[str]:
        """Close every futures position (all bots, or `bots`) with reduceOnly MARKET orders."""
        self.store.put(FLATTEN_KEY, True)
        self._flatten_tried = time.monotonic()
        closed = []
        for bot in self.bots if bots is None else bots:
            held = self.ledger.books[bot.name].qty
            if not held:
                continue
            sub = self._reducing_order(bot, abs(held), "emergency flatten")
            if sub is not None and sub.accepted:
                closed.append(f"{bot.name}:{bot.symbol}")
            else:
                why = (sub.error or sub.denied) if sub is not None else "nothing to close"
                log.error("flatten of %s not sent: %s", bot.name, why)
        self.process_fills()
        return closed

    def close_on_halt(self, reason: str) -> list[str]:
        """A halt (HALTED) closes every futures position with reduceOnly MARKET orders (the
        orders are checked as REDUCING inside the flatten window); audited."""
        with self.risk.flatten_window([b.name for b in self.bots], whole_state=True):
            closed = self._flatten()
        self.audit.append(
            "futures_closed_on_halt",
            {"reason": reason, "positions_closed": closed, "positions_left": self.positions_left()},
            sync=True,
        )
        return closed

    def _emergency_holds(self) -> bool:
        """A futures flatten is owed while HALTED, whatever halted it: a halt's close
        (`close_on_halt`, a manual halt too) refused or unfilled is retried like the
        emergency stop's; a spot manual halt holds what it holds."""
        return self.risk.state is TradingState.HALTED

    def positions_left(self) -> dict[str, float]:
        """Futures positions (long or short) the ledger still holds, per bot."""
        books = self.ledger.books
        return {b.name: books[b.name].qty for b in self.bots if self.ledger.tradable(b.name)}

    def summary_record(self) -> dict[str, Any]:
        """What the run ends with (audited by the runner): liquidations, funding, positions."""
        return {
            "liquidations": [
                {"bot": x.bot, "symbol": x.symbol, "qty": x.qty, "mark": x.mark}
                for x in self.futures.liquidations
            ],
            "funding_total": self.funding_total,
            "positions": {b.name: self.ledger.books[b.name].qty for b in self.bots},
        }
