"""Trader: the daemon's main job for one market feed.

For each market event: the broker sees the tick, fills are booked (ledger, SQLite, audit)
and the breakers evaluated on every fill, equity is marked and the breakers evaluated
again, then each bot's strategy may ask for an order through the OrderGate.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Protocol

from tradewarden.audit.chain import AuditLog
from tradewarden.core.models import Fill, OrderRequest, OrderStatus, OrderType, Side, Tick
from tradewarden.risk.breakers import Observation, Reading
from tradewarden.risk.breakers.base import PORTFOLIO
from tradewarden.risk.checks import split_symbol
from tradewarden.risk.engine import RiskEngine, Trip
from tradewarden.risk.ramp import SizeRamp
from tradewarden.risk.state import TradingState
from tradewarden.state.keys import StateKey
from tradewarden.state.store import Store
from tradewarden.strategy import Signal, Strategy
from tradewarden.trading.bot_ledger import DUST_KEY, Ledger
from tradewarden.trading.broker import Broker, BrokerError
from tradewarden.trading.order_gate import OrderGate, Submission

log = logging.getLogger(__name__)

# The emergency stop's flatten is owed until every position is sold or the stop is lifted:
# kept in the store, retried (at most every FLATTEN_RETRY_S) when an attempt could not sell
# (the symbol not TRADING, -1015, a 403, the exchange down, a free balance short of the
# ledger), never while an order of that symbol is still open or of unknown outcome.
FLATTEN_KEY = StateKey.TRADER_FLATTEN_PENDING
FLATTEN_RETRY_S = 5.0
# A strategy's exit that could not be sent or was refused by the exchange (the symbol not
# TRADING, -1015, a 403, the exchange down) is owed: a strategy says SELL once, at its
# signal, so dropping it would hold the position until some later signal. Sent again after
# EXIT_RETRY_S, doubling up to EXIT_RETRY_MAX_S, while the bot still holds a tradable
# position and no order of its symbol is open or of unknown outcome; a risk denial ends it.
EXIT_RETRY_S = 2.0
EXIT_RETRY_MAX_S = 300.0


class Notifier(Protocol):
    """Where the trader's alerts go (the alert outbox in the daemon, a list in tests)."""

    def notify(self, kind: str, **context: Any) -> object:
        """Queue the alert `kind`; what it returns (the outbox's receipt) is not used."""
        ...


@dataclass
class Bot:
    name: str
    symbol: str
    strategy: Strategy


@dataclass
class TraderEvents:
    """Plain callbacks for whoever shows progress (the console summary, metrics)."""

    on_order: list[Callable[[Bot, Signal, Submission], None]] = field(default_factory=list)
    on_trip: list[Callable[[Trip, dict[str, Any]], None]] = field(default_factory=list)
    on_fill: list[Callable[[Fill], None]] = field(default_factory=list)


class Trader:
    def __init__(
        self,
        *,
        risk: RiskEngine,
        gate: OrderGate,
        broker: Broker,
        store: Store,
        audit: AuditLog,
        ledger: Ledger,
        bots: list[Bot],
        notifier: Notifier,
        order_fraction: float,
        flatten_on_emergency: bool,
        close_positions_on_trip: bool = False,
    ) -> None:
        self.risk, self.gate, self.broker = risk, gate, broker
        self.store, self.audit, self.ledger = store, audit, ledger
        self.bots = bots
        self.by_symbol: dict[str, list[Bot]] = {}
        for b in bots:
            self.by_symbol.setdefault(b.symbol, []).append(b)
        self.notifier = notifier
        self.ramp: SizeRamp | None = None  # gradual restart after reset/restore/promotion
        self.order_fraction = order_fraction
        self.flatten_on_emergency = flatten_on_emergency
        self.close_positions_on_trip = close_positions_on_trip
        self.prices: dict[str, float] = {}
        self.events = TraderEvents()
        self.ticks = 0
        self.now = 0.0  # time of the last market event (the clock of rate checks in replay)
        self._next_mark = 0.0
        self._flatten_tried = 0.0  # monotonic time of the last flatten attempt
        # bot -> (the exit signal, monotonic time it is due again, current back-off)
        self._exits_owed: dict[str, tuple[Signal, float, float]] = {}
        # the exchange's balance events keep `risk`'s balances (user data stream healthy):
        # no balance request after each fill
        self.balances_streamed = False
        # asset -> event time (ms) of the last balance event applied to it (streams only)
        self._balance_ms: dict[str, int] = {}
        risk.hooks.on_trip.append(self._on_trip)
        risk.hooks.on_approach.append(self._on_approach)
        try:
            self.refresh_balances()
        except BrokerError as exc:
            # the exchange is down at start: its balances come with the first
            # reconciliation (ExchangeLoop.start, before READY); none known till then, so
            # every balance check refuses (startup.py waits NOT READY meanwhile)
            log.warning("balances unknown at start", extra={"error": str(exc)})
            risk.set_balances({})

    # --- market events ----------------------------------------------------------------------
    def on_tick(self, tick: Tick) -> None:
        """A market event the strategies decide on (a replayed candle, a polled price, a
        closed kline): fills, marks and breakers first (`_mark`), then each bot's strategy."""
        self.ticks += 1
        self.now = tick.ts
        on_tick = getattr(self.broker, "on_tick", None)
        if on_tick is not None:
            on_tick(tick)
        bots = self._mark(tick.symbol, tick.close, tick.ts)
        if tick.symbol not in self.ledger.dust:
            self.learn_dust(tick.symbol)
        for bot in bots:
            signal = bot.strategy.on_tick(tick, self.ledger.tradable(bot.name))
            if signal is not None:
                self.place(bot, signal, tick.close)
            elif bot.name in self._exits_owed:
                self._retry_exit(bot, tick.close)

    def on_price(self, symbol: str, price: float, ts: float) -> None:
        """A price between the candles the strategies decide on (a streamed book ticker, a
        polled price): fills, marks and breakers (`_mark`), the emergency flatten and owed
        exits retried; no strategy decision."""
        bots = self._mark(symbol, price, ts)
        for bot in bots:
            if bot.name in self._exits_owed:
                self._retry_exit(bot, price)

    def warm(self, tick: Tick) -> None:
        """Show a past candle to the strategies without deciding on it (what they would
        signal is dropped): their indicators start from history, never an order on it."""
        self.prices[tick.symbol] = tick.close
        self.ledger.mark(tick.symbol, tick.close)
        for bot in self.by_symbol.get(tick.symbol, []):
            bot.strategy.on_tick(tick, self.ledger.tradable(bot.name))

    def _mark(self, symbol: str, price: float, ts: float) -> list[Bot]:
        """The price of `symbol` is `price` at `ts`: fills booked, the flatten retried, the
        ledger marked and every equity shown to the breakers; returns the symbol's bots."""
        self.prices[symbol] = price
        self.process_fills()
        self.retry_flatten()
        bots = self.by_symbol.get(symbol, [])
        self.ledger.mark(symbol, price)
        for bot in bots:
            self.risk.observe(
                Observation("equity", bot.name, ts, equity=self.ledger.equity(bot.name))
            )
        self.risk.observe(
            Observation("equity", PORTFOLIO, ts, equity=self.ledger.portfolio_equity())
        )
        if ts >= self._next_mark:
            self.mark_equity(ts)
        return bots

    def _retry_exit(self, bot: Bot, price: float) -> None:
        signal, due, backoff = self._exits_owed[bot.name]
        if self.ledger.tradable(bot.name) <= 0:
            del self._exits_owed[bot.name]  # sold (or only dust left): nothing owed
            return
        if time.monotonic() < due or self.store.open_orders(bot.symbol):
            return  # not yet, or an order of the symbol still working / unresolved
        log.warning("exit of %s sent again (refused before: %s)", bot.name, signal.reason)
        self.place(bot, signal, price, backoff=backoff)

    # --- what can be sold -------------------------------------------------------------------
    def _filters(self, symbol: str) -> Any:
        filters = getattr(self.broker, "filters", None)
        if filters is None:
            return None
        try:
            return filters(symbol)
        except Exception:  # noqa: BLE001 - no filters: the gateway still checks on submit
            log.debug("no filters for %s", symbol)
            return None

    def learn_dust(self, symbol: str) -> None:
        """What an exit rounded down to the lot step can leave (below the step or the
        minimum quantity) is dust: flat for the strategy and for round trips. Kept in the
        store so that every start replays the fills with the same thresholds."""
        f = self._filters(symbol)
        if f is None:
            return
        step = float(f.market_step or f.step)
        min_qty = float(f.market_min_qty or f.min_qty)
        dust = max(step, min_qty) * (1 - 1e-9)
        # futures: a reduceOnly close is exempt from the minimum, a small position still closes
        if (
            getattr(f, "min_notional_market", False)
            and getattr(f, "min_notional", 0)
            and not getattr(f, "reduce_only_exempt", False)
        ):
            self.ledger.min_notional[symbol] = float(f.min_notional)
        if self.ledger.dust.get(symbol) != dust:
            self.ledger.dust[symbol] = dust
            self.store.put(DUST_KEY, self.ledger.dust)

    def exit_qty(self, bot: Bot, held: float) -> float:
        """How much of a long position to sell: what the ledger holds, but never more than
        the exchange's free balance of the base asset (a commission taken from it, a
        rounding), rounded down to the lot step."""
        f = self._filters(bot.symbol)
        base = f.base_asset if f is not None and f.base_asset else split_symbol(bot.symbol)[0]
        free = self.risk.book.free.get(base) if self.risk.book.free else None
        qty = held if free is None else min(held, free)
        if f is not None:
            step = f.market_step or f.step
            if step:
                dq = Decimal(repr(qty))
                qty = float((dq / step).to_integral_value(rounding=ROUND_FLOOR) * step)
        return max(0.0, qty)

    def place(self, bot: Bot, signal: Signal, price: float, *, backoff: float = 0.0) -> Submission:
        book = self.ledger.books[bot.name]
        exit_ = signal.side is Side.SELL and book.qty > 0
        state = getattr(self.broker, "symbol_status", lambda _s: None)(bot.symbol)
        if state is not None and state != "TRADING":  # HALT / BREAK: /readyz says so
            sub = Submission(None, error=f"{bot.symbol} is {state} on the exchange")
            if exit_:
                self._owe_exit(bot, signal, backoff)
            return sub
        if exit_:
            qty = self.exit_qty(bot, book.qty)
        else:
            equity = max(0.0, book.equity(price))
            factor = self.ramp.factor if self.ramp is not None else 1.0
            qty = math.floor(self.order_fraction * factor * equity / price * 1e6) / 1e6
        req = OrderRequest(
            bot=bot.name,
            symbol=bot.symbol,
            side=signal.side,
            qty=qty,
            order_type=OrderType.MARKET,
            zone=signal.zone,
            directional=signal.directional,
        )
        if self.now:  # replay: never decide on this market event again after a crash
            self.store.put(StateKey.REPLAY_LAST_TS, self.now)
        sub = self.gate.submit(req, price)
        if exit_:
            unknown = sub.order is not None and sub.order.status is OrderStatus.UNKNOWN
            if sub.denied is not None or unknown:
                self._exits_owed.pop(bot.name, None)  # the risk engine said no / query it
            elif sub.accepted:
                # checked again until flat: an order judged EXPIRED (never reached the
                # exchange) or a MARKET order EXPIRED after partial fills sold nothing / not
                # all; a spot sell can never sell more than the account holds
                self._exits_owed[bot.name] = (signal, time.monotonic() + EXIT_RETRY_S, 0.0)
            else:
                self._owe_exit(bot, signal, backoff)
        if sub.accepted:
            self.process_fills()
        for cb in self.events.on_order:
            cb(bot, signal, sub)
        return sub

    def _owe_exit(self, bot: Bot, signal: Signal, backoff: float) -> None:
        nxt = min(EXIT_RETRY_MAX_S, backoff * 2) if backoff else EXIT_RETRY_S
        self._exits_owed[bot.name] = (signal, time.monotonic() + nxt, nxt)
        log.error("exit of %s not sent; again in %.0fs", bot.name, nxt)

    def process_fills(self) -> None:
        """Fills from the broker (polled, or the user data stream's) booked (`book_fills`)."""
        fills = self.broker.poll_fills()
        if not fills:
            if self.risk.book.open_orders:  # an order the exchange closed without a fill
                self.risk.set_open_orders(len(self.store.open_orders()))
            return
        self.book_fills(fills)

    def book_fills(self, fills: list[Fill]) -> None:
        """Book fills, whatever their source (polled, streamed, found by reconciliation):
        once per trade id (the order tracker), ledger, audit, and the breakers evaluated on
        every fill before anything else can be sent. Balances are read again afterwards
        unless `balances_streamed` (the user data stream keeps them)."""
        for fill in fills:
            # booked once per trade id with the order's fill state; a fill of an order we
            # have no row for is refused (a finding), never a position
            booking = self.gate.tracker.process_trade_update(fill)
            if not booking.booked:
                continue  # already booked (restart or duplicate report) or refused
            closed = self.ledger.apply(fill)
            self.risk.set_position(fill.bot, fill.symbol, self.ledger.books[fill.bot].qty)
            self.audit.append(
                "fill",
                {
                    "trade_id": fill.trade_id,
                    "client_order_id": fill.client_order_id,
                    "bot": fill.bot,
                    "symbol": fill.symbol,
                    "side": str(fill.side),
                    "qty": fill.qty,
                    "price": fill.price,
                    "fee": fill.fee,
                    "commission": fill.commission,
                    "commission_asset": fill.commission_asset,
                },
                ts=None,
            )
            if self.balances_streamed:
                self._spend_streamed(fill)
            for cb in self.events.on_fill:
                cb(fill)
            if closed is not None:
                self.store.record_trade(closed.bot, closed.symbol, closed.pnl, closed.ts)
                if self.ramp is not None:
                    self.ramp.on_trade(closed.pnl)
                # breakers evaluated on every fill, before anything else can be sent
                self.risk.observe(Observation("trade", closed.bot, closed.ts, pnl=closed.pnl))
            self.risk.observe(
                Observation("equity", fill.bot, fill.ts, equity=self.ledger.equity(fill.bot))
            )
        # the open-order count is the store's open rows (as at start): a fill that closed an
        # order, MARKET included (its row is open until its fills are booked), lowers it
        self.risk.set_open_orders(len(self.store.open_orders()))
        if not self.balances_streamed:
            self.refresh_balances()

    def _spend_streamed(self, fill: Fill) -> None:
        """Streams: a fill booked before its balance event (the exchange sends it right after
        the execution report, maybe in a later batch or lost) would leave the balance it
        spent too high, and the next pre-trade check could pass an order the exchange
        refuses for lack of funds (over-spend). The spent asset (the quote of a BUY, the
        base of a SELL, a commission taken from a third asset) is lowered now, unless a
        balance event at or after the trade's time has set it already; what the fill
        brought in is not added (too low errs on the safe side). The next balance event or
        REST read sets the true value."""
        f = self._filters(fill.symbol)
        base, quote = split_symbol(fill.symbol)
        if f is not None and f.base_asset and f.quote_asset:
            base, quote = f.base_asset, f.quote_asset
        if fill.side is Side.BUY:
            spent, received = {quote: fill.qty * fill.price}, base
        else:
            spent, received = {base: fill.qty}, quote
        fee_asset = fill.commission_asset
        if fee_asset and fee_asset != received:  # from the asset received: netted there
            spent[fee_asset] = spent.get(fee_asset, 0.0) + fill.commission
        trade_ms = round(fill.ts * 1000.0)
        free = dict(self.risk.book.free or {})
        changed = False
        for asset, amount in spent.items():
            if self._balance_ms.get(asset, -1) >= trade_ms or asset not in free:
                continue  # set by a later balance event already / unknown: refuses anyway
            free[asset] = max(0.0, free[asset] - amount)
            changed = True
        if changed:
            self.risk.set_balances(free)

    def mark_equity(self, ts: float) -> None:
        """Hourly equity marks per bot and for the portfolio (for reports and Sharpe)."""
        self._next_mark = ts - ts % 3600 + 3600
        marks = {b: self.ledger.equity(b) for b in self.ledger.books}
        marks[PORTFOLIO] = self.ledger.portfolio_equity()
        self.store.mark_equities(ts, marks)

    def refresh_balances(self) -> None:
        self.risk.set_balances(self.broker.balances())
        self._balance_ms.clear()  # a streamed fill booked after this lowers them again

    def update_balances(
        self, balances: dict[str, tuple[float, float]], event_ms: int | None = None
    ) -> None:
        """The balances of the assets in `balances` (asset -> (free, locked)) changed (a
        balance event); the other assets keep theirs. As `refresh_balances`: the free
        balance of every asset with a non-zero total. With `event_ms` (the event's time),
        an asset already set by a later event keeps that (an event delivered late, out of
        order, is older news)."""
        merged = dict(self.risk.book.free or {})
        for asset, (free, locked) in balances.items():
            if event_ms is not None:
                if event_ms < self._balance_ms.get(asset, -1):
                    continue
                self._balance_ms[asset] = event_ms
            if free + locked > 0:
                merged[asset] = free
            else:
                merged.pop(asset, None)
        self.risk.set_balances(merged)

    # --- breaker trips ----------------------------------------------------------------------
    def _on_trip(self, trip: Trip) -> None:
        """Runs synchronously inside the order/fill path, after the trip is persisted.

        The seed's actions on a trigger: the bots are stopped (the engine already blocks
        them), their open orders cancelled, their positions closed when configured
        (TRADEWARDEN_CLOSE_POSITIONS_ON_TRIP on any breaker, TRADEWARDEN_FLATTEN_ON_EMERGENCY
        on the emergency stop), then audit, alert and log; a human reset ends it.
        """
        stopped = (
            list(self.bots)
            if trip.portfolio_scope
            else [b for b in self.bots if b.name == trip.bot]
        )
        symbols = sorted({b.symbol for b in stopped})
        # a portfolio-wide stop (HALT, emergency stop) cancels every symbol's open orders
        cancelled = self.gate.cancel_all(
            symbols, reason=f"{trip.breaker} tripped", everywhere=trip.portfolio_scope
        )
        closed: list[str] = []
        if self.close_positions_on_trip or (trip.emergency and self.flatten_on_emergency):
            with self.risk.flatten_window(
                [b.name for b in stopped], whole_state=trip.portfolio_scope
            ):
                closed = self._flatten(stopped)
        actions = {
            "orders_cancelled": [o.client_order_id for o in cancelled],
            "positions_closed": closed,
            # not sold (yet): retried while the stop holds, or held beyond the free balance
            "positions_left": (
                self.positions_left() if trip.emergency and self.flatten_on_emergency else {}
            ),
            "state": self.risk.state.label if trip.portfolio_scope else "bot halted",
        }
        self.audit.append(
            "breaker_tripped",
            {
                "breaker": trip.breaker,
                "bot": trip.bot,
                "value": trip.value,
                "threshold": trip.threshold,
                "reason": trip.reason,
                "emergency": trip.emergency,
                **actions,
            },
            sync=True,
        )
        self.notifier.notify(
            "emergency_stop" if trip.emergency else "breaker_tripped",
            breaker=trip.breaker,
            bot=trip.bot,
            value=trip.value,
            threshold=trip.threshold,
            reason=trip.reason,
            **actions,
        )
        log.warning(
            "breaker tripped",
            extra={"breaker": trip.breaker, "bot": trip.bot, "reason": trip.reason},
        )
        for cb in self.events.on_trip:
            cb(trip, actions)

    def _flatten(self, bots: list[Bot] | None = None) -> list[str]:
        """Sell what each bot (all, or `bots`) actually holds (see `exit_qty`); dust that
        cannot be sold stays. What could not be sold now stays owed (`FLATTEN_KEY`;
        `retry_flatten` sells it while the emergency stop holds)."""
        self.store.put(FLATTEN_KEY, True)
        self._flatten_tried = time.monotonic()
        closed = []
        try:  # the free balance now, not as of the last fill: flatten what is held
            self.refresh_balances()
        except Exception:  # noqa: BLE001 - flatten with the last known balances
            log.exception("balances unavailable before flatten")
        for bot in self.bots if bots is None else bots:
            book = self.ledger.books[bot.name]
            if book.qty <= 0:
                continue
            if self.store.open_orders(bot.symbol):
                continue  # a sell still working or unresolved: never a second one beside it
            state = getattr(self.broker, "symbol_status", lambda _s: None)(bot.symbol)
            if state is not None and state != "TRADING":
                log.error("flatten of %s waits: %s is %s", bot.name, bot.symbol, state)
                continue
            qty = self.exit_qty(bot, book.qty)
            if qty <= self.ledger.dust.get(bot.symbol, 0.0):
                continue
            price = self.prices.get(bot.symbol)
            req = OrderRequest(
                bot=bot.name, symbol=bot.symbol, side=Side.SELL, qty=qty, directional=False
            )
            sub = self.gate.submit(req, price)
            if sub.accepted:
                closed.append(f"{bot.name}:{bot.symbol}")
            else:
                log.error(
                    "flatten of %s not sent: %s", bot.name, sub.error or sub.denied or "refused"
                )
        self.process_fills()
        return closed

    def positions_left(self) -> dict[str, float]:
        """Positions (above dust) the ledger still holds, per bot."""
        return {
            b.name: self.ledger.books[b.name].qty
            for b in self.bots
            if self.ledger.tradable(b.name) > 0
        }

    def _emergency_holds(self) -> bool:
        emergency = {b.name for b in self.risk.breakers if b.emergency}
        return self.risk.state is TradingState.HALTED and any(
            r["breaker"] in emergency for r in self.store.tripped()
        )

    def retry_flatten(self) -> None:
        """The emergency stop's flatten again, while it is owed and the stop holds: an
        attempt that could not sell (see `FLATTEN_KEY`) must not leave the position open
        for good, since nothing else sells while HALTED."""
        if not self.store.get(FLATTEN_KEY):
            return
        if not self.flatten_on_emergency or not self._emergency_holds():
            self.store.put(FLATTEN_KEY, False)  # the stop was lifted: the strategies decide
            return
        left = self.positions_left()
        if not left:
            self.store.put(FLATTEN_KEY, False)
            log.info("emergency flatten complete")
            return
        if time.monotonic() - self._flatten_tried < FLATTEN_RETRY_S:
            return
        with self.risk.flatten_window([b.name for b in self.bots], whole_state=True):
            closed = self._flatten()
        if closed:
            self.audit.append(
                "flatten_retried", {"positions_closed": closed, "positions_left": left}, ts=None
            )

    def _on_approach(self, reading: Reading) -> None:
        self.notifier.notify(
            "approaching_breaker",
            breaker=reading.breaker,
            bot=reading.bot,
            value=reading.value,
            threshold=reading.threshold,
        )

    # --- views ------------------------------------------------------------------------------
    def equity_summary(self) -> dict[str, Any]:
        return {
            "portfolio_equity": round(self.ledger.portfolio_equity(), 2),
            "bots": self.ledger.summary(),
        }
