"""PaperFuturesBroker: USD-M futures (one-way mode, isolated margin) against the scenario.

The fake exchange's futures model (tests/fakes/binance/futures.py), in process:

- one USDT wallet; each position (per bot and symbol) holds its own isolated margin:
  opening moves notional / leverage into it, reducing releases it pro rata, realised P&L
  goes to the wallet;
- MARKET orders only, filled at the mark price (the scenario's close) as taker, commission
  = notional * 0.05% in USDT (the fake's taker fee);
- reduceOnly: refused (-2022) with no position or on the side that would add to it; a
  quantity above the position is cut to it;
- funding every 8 h of scenario time (boundaries at multiples of 8 h): each position pays
  qty * mark * rate (a long pays when the rate is positive, a short receives), from / into
  its isolated margin and the wallet;
- liquidation when isolated margin + unrealised P&L <= maintenance margin
  (risk.futures.FuturesPosition): closed at the mark, the whole isolated margin lost, and
  recorded in `liquidations` (the liquidation-distance breaker exists so this never
  happens).
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass

from tradewarden.core.config import Settings
from tradewarden.core.models import Fill, Order, OrderRequest, OrderStatus, OrderType, Side, Tick
from tradewarden.risk.checks import split_symbol
from tradewarden.risk.futures import FuturesPosition
from tradewarden.trading.broker import BrokerError

TAKER_FEE = 0.0005  # USD-M futures base taker rate (the fake's)
FUNDING_INTERVAL_S = 8 * 3600
EPS = 1e-12


@dataclass(frozen=True, slots=True)
class Funding:
    bot: str
    symbol: str
    amount: float  # received > 0, paid < 0 (USDT)
    rate: float
    mark: float
    ts: float


@dataclass(frozen=True, slots=True)
class Liquidation:
    bot: str
    symbol: str
    qty: float
    mark: float
    margin_lost: float
    ts: float


class PaperFuturesBroker:
    name = "paper-futures"

    def __init__(
        self,
        wallet: float,
        *,
        leverage: int,
        funding_rate: float,
        fee_rate: float = TAKER_FEE,
    ) -> None:
        self.wallet = float(wallet)
        self.leverage = leverage
        self.funding_rate = funding_rate
        self._fee_rate = fee_rate
        self._prices: dict[str, float] = {}
        self._positions: dict[tuple[str, str], FuturesPosition] = {}
        self._orders: dict[str, Order] = {}
        self._fills: list[Fill] = []
        self._funding: list[Funding] = []
        self.liquidations: list[Liquidation] = []
        self._next_funding: float | None = None
        self._quiet_until = float("-inf")  # see `restore`
        self._trade_ids = itertools.count(1)
        self._order_ids = itertools.count(1)
        self._now = 0.0
        self._lock = threading.Lock()

    # --- the model --------------------------------------------------------------------------
    def position(self, bot: str, symbol: str) -> FuturesPosition:
        return self._positions.setdefault((bot, symbol), FuturesPosition(symbol, self.leverage))

    def available(self) -> float:
        return self.wallet - sum(p.margin for p in self._positions.values())

    def restore(self, fills: list[Fill]) -> None:
        """Rebuild positions and the wallet from recorded fills (a restarted paper run;
        funding paid before the restart is not replayed)."""
        with self._lock:
            for f in fills:
                signed = f.qty if f.side is Side.BUY else -f.qty
                self._apply(self.position(f.bot, f.symbol), signed, f.price, f.fee)
                # the history replayed to warm up up to the last fill sees today's positions,
                # not those of its time: no funding or liquidation from it
                self._quiet_until = max(self._quiet_until, f.ts)

    def _apply(self, pos: FuturesPosition, signed: float, price: float, fee: float) -> None:
        self.wallet -= fee
        if pos.qty and pos.qty * signed < 0:  # reducing (maybe through zero)
            closing = min(abs(signed), abs(pos.qty))
            self.wallet += closing * (price - pos.entry) * pos.side
            pos.margin -= pos.margin * closing / abs(pos.qty)
            pos.qty += closing if pos.qty < 0 else -closing
            signed += closing if signed < 0 else -closing
            if abs(pos.qty) <= EPS:
                pos.qty, pos.entry, pos.margin = 0.0, 0.0, 0.0
        if abs(signed) > EPS:  # opening or adding
            total = abs(pos.qty) + abs(signed)
            pos.entry = (pos.entry * abs(pos.qty) + price * abs(signed)) / total
            pos.qty += signed
            pos.margin += abs(signed) * price / pos.leverage

    # --- market feed ------------------------------------------------------------------------
    def on_tick(self, tick: Tick) -> None:
        with self._lock:
            self._prices[tick.symbol] = tick.close
            self._now = tick.ts
            if self._next_funding is None or tick.ts <= self._quiet_until:
                self._next_funding = tick.ts - tick.ts % FUNDING_INTERVAL_S + FUNDING_INTERVAL_S
            if tick.ts <= self._quiet_until:
                return
            while tick.ts >= self._next_funding:
                self._fund(self._next_funding)
                self._next_funding += FUNDING_INTERVAL_S
            for (bot, symbol), pos in self._positions.items():
                if symbol == tick.symbol and pos.liquidated_at(tick.close):
                    self._liquidate(bot, pos, tick.close)

    def _fund(self, ts: float) -> None:
        for (bot, symbol), pos in self._positions.items():
            mark = self._prices.get(symbol)
            if not pos.qty or mark is None:
                continue
            amount = -pos.qty * mark * self.funding_rate
            self.wallet += amount
            pos.margin += amount
            self._funding.append(Funding(bot, symbol, amount, self.funding_rate, mark, ts))

    def _liquidate(self, bot: str, pos: FuturesPosition, mark: float) -> None:
        """Closed at the mark; the account loses the whole isolated margin (the fake's
        INSURANCE_CLEAR takes what the realised loss leaves of it)."""
        self.liquidations.append(Liquidation(bot, pos.symbol, pos.qty, mark, pos.margin, self._now))
        self.wallet -= pos.margin
        pos.qty, pos.entry, pos.margin = 0.0, 0.0, 0.0

    # --- Broker interface -------------------------------------------------------------------
    def submit(self, req: OrderRequest) -> Order:
        with self._lock:
            if req.client_order_id in self._orders:
                raise BrokerError("Duplicate order sent.", code=-4116)
            if req.order_type is not OrderType.MARKET:
                raise BrokerError("paper futures: MARKET orders only", code=-1116)
            px = self._prices.get(req.symbol)
            if px is None:
                raise BrokerError(f"no mark price for {req.symbol}", code=-1121)
            pos = self.position(req.bot, req.symbol)
            signed = req.qty if req.side is Side.BUY else -req.qty
            qty = req.qty
            if req.reduce_only:
                if not pos.qty or pos.qty * signed > 0:
                    raise BrokerError("ReduceOnly Order is rejected.", code=-2022)
                qty = min(qty, abs(pos.qty))
                signed = qty if signed > 0 else -qty
            else:
                opening = abs(signed) if pos.qty * signed >= 0 else abs(signed) - abs(pos.qty)
                fee = qty * px * self._fee_rate
                if max(opening, 0.0) * px / pos.leverage + fee > self.available() + 1e-9:
                    raise BrokerError("Margin is insufficient.", code=-2019)
            fee = qty * px * self._fee_rate
            self._apply(pos, signed, px, fee)
            order = Order(
                client_order_id=req.client_order_id,
                bot=req.bot,
                symbol=req.symbol,
                side=req.side,
                order_type=req.order_type,
                qty=qty,
                price=req.price,
                status=OrderStatus.FILLED,
                filled_qty=qty,
                avg_price=px,
                exchange_order_id=str(next(self._order_ids)),
                created_at=self._now,
                updated_at=self._now,
            )
            self._orders[order.client_order_id] = order
            _, quote = split_symbol(req.symbol)
            self._fills.append(
                Fill(
                    trade_id=f"paperfut-{order.client_order_id}-{next(self._trade_ids)}",
                    client_order_id=order.client_order_id,
                    bot=order.bot,
                    symbol=order.symbol,
                    side=order.side,
                    qty=qty,
                    price=px,
                    fee=fee,
                    ts=self._now,
                    commission=fee,
                    commission_asset=quote,
                )
            )
            return _copy(order)

    def cancel(self, symbol: str, client_order_id: str) -> Order:
        raise BrokerError("Unknown order sent.", code=-2011)  # MARKET only: nothing rests

    def cancel_all(self, symbol: str) -> list[Order]:
        return []  # MARKET only: nothing rests

    def query(self, symbol: str, client_order_id: str) -> Order | None:
        o = self._orders.get(client_order_id)
        return _copy(o) if o and o.symbol == symbol else None

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return []

    def balances(self) -> dict[str, float]:
        with self._lock:
            return {"USDT": self.available()}

    def poll_fills(self) -> list[Fill]:
        with self._lock:
            out, self._fills = self._fills, []
            return out

    def poll_funding(self) -> list[Funding]:
        with self._lock:
            out, self._funding = self._funding, []
            return out

    def booked_funding(self) -> list[Funding]:
        """Funding booked before a restart: none (a restarted paper run does not replay
        it, see `restore`)."""
        return []


def paper_futures_broker(settings: Settings, fills: list[Fill]) -> PaperFuturesBroker:
    """The paper futures account of a run: the starting balance as the USDT wallet, the
    configured isolated leverage and funding rate, positions rebuilt from `fills`."""
    broker = PaperFuturesBroker(
        settings.starting_balance_usdt,
        leverage=settings.futures_leverage,
        funding_rate=settings.paper_funding_rate,
    )
    broker.restore(fills)
    return broker


def _copy(o: Order) -> Order:
    return Order(**{f: getattr(o, f) for f in o.__slots__})
