"""PaperBroker: an in-process exchange with the Broker interface, filling against ticks.

MARKET orders fill at the last price of their symbol; LIMIT orders rest and fill when a
tick's range crosses their price. A taker fee (default 0.1%, Binance's base rate) is
charged in the quote asset.
"""

from __future__ import annotations

import itertools
import threading

from tradewarden.core.models import Fill, Order, OrderRequest, OrderStatus, OrderType, Side, Tick
from tradewarden.risk.checks import split_symbol
from tradewarden.trading.broker import BrokerError

KEEP_CLOSED = 5_000


class PaperBroker:
    name = "paper"

    def __init__(self, balances: dict[str, float], fee_rate: float = 0.001) -> None:
        self._free = dict(balances)
        self._prices: dict[str, float] = {}
        self._orders: dict[str, Order] = {}
        self._open: dict[str, Order] = {}
        self._fills: list[Fill] = []
        self._fee_rate = fee_rate
        self._trade_ids = itertools.count(1)
        self._order_ids = itertools.count(1)
        self._now = 0.0
        self._lock = threading.Lock()

    # --- market feed ------------------------------------------------------------------------
    def on_tick(self, tick: Tick) -> None:
        with self._lock:
            self._prices[tick.symbol] = tick.close
            self._now = tick.ts
            if not self._open:
                return
            for o in list(self._open.values()):
                if o.symbol != tick.symbol or o.price is None:
                    continue
                crossed = tick.low <= o.price if o.side is Side.BUY else tick.high >= o.price
                if crossed:
                    self._fill(o, o.price)

    def price(self, symbol: str) -> float | None:
        return self._prices.get(symbol)

    # --- Broker interface -------------------------------------------------------------------
    def submit(self, req: OrderRequest) -> Order:
        with self._lock:
            if (
                req.client_order_id in self._orders
                and self._orders[req.client_order_id].status.is_open
            ):
                raise BrokerError("Duplicate order sent.", code=-2010)
            px = self._prices.get(req.symbol)
            if px is None:
                raise BrokerError(f"no market price for {req.symbol}", code=-1121)
            base, quote = split_symbol(req.symbol)
            ref = req.price if req.order_type is OrderType.LIMIT and req.price else px
            cost = req.qty * ref * (1 + self._fee_rate)
            if req.side is Side.BUY and self._free.get(quote, 0.0) < cost - 1e-9:
                raise BrokerError("Account has insufficient balance for requested action.", -2010)
            if req.side is Side.SELL and self._free.get(base, 0.0) < req.qty - 1e-12:
                raise BrokerError("Account has insufficient balance for requested action.", -2010)
            order = Order(
                client_order_id=req.client_order_id,
                bot=req.bot,
                symbol=req.symbol,
                side=req.side,
                order_type=req.order_type,
                qty=req.qty,
                price=req.price,
                status=OrderStatus.NEW,
                exchange_order_id=str(next(self._order_ids)),
                created_at=self._now,
                updated_at=self._now,
            )
            self._orders[order.client_order_id] = order
            if req.order_type is OrderType.MARKET:
                self._fill(order, px)
            else:
                self._open[order.client_order_id] = order
            return _copy(order)

    def _fill(self, o: Order, price: float) -> None:
        base, quote = split_symbol(o.symbol)
        qty = o.qty - o.filled_qty
        notional = qty * price
        fee = notional * self._fee_rate
        if o.side is Side.BUY:
            self._free[quote] = self._free.get(quote, 0.0) - notional - fee
            self._free[base] = self._free.get(base, 0.0) + qty
        else:
            self._free[base] = self._free.get(base, 0.0) - qty
            self._free[quote] = self._free.get(quote, 0.0) + notional - fee
        o.filled_qty = o.qty
        o.avg_price = price
        o.status = OrderStatus.FILLED
        o.updated_at = self._now
        self._open.pop(o.client_order_id, None)
        self._forget_old()
        self._fills.append(
            Fill(
                # unique across restarts of a paper daemon on one state dir (the tracker
                # books a fill once per trade id): the order's own id, then a counter
                trade_id=f"paper-{o.client_order_id}-{next(self._trade_ids)}",
                client_order_id=o.client_order_id,
                bot=o.bot,
                symbol=o.symbol,
                side=o.side,
                qty=qty,
                price=price,
                fee=fee,
                ts=self._now,
            )
        )

    def _forget_old(self) -> None:
        """Keep memory flat in long runs: remember open orders and the last closed ones."""
        if len(self._orders) > KEEP_CLOSED + len(self._open):
            for cid in list(self._orders)[: len(self._orders) - KEEP_CLOSED - len(self._open)]:
                if cid not in self._open:
                    del self._orders[cid]

    def cancel(self, symbol: str, client_order_id: str) -> Order:
        with self._lock:
            o = self._orders.get(client_order_id)
            if o is None or o.symbol != symbol or not o.status.is_open:
                raise BrokerError("Unknown order sent.", code=-2011)
            o.status = OrderStatus.CANCELED
            o.updated_at = self._now
            self._open.pop(o.client_order_id, None)
            return _copy(o)

    def cancel_all(self, symbol: str) -> list[Order]:
        with self._lock:
            out = []
            for o in list(self._open.values()):
                if o.symbol == symbol:
                    o.status = OrderStatus.CANCELED
                    self._open.pop(o.client_order_id, None)
                    out.append(_copy(o))
            return out

    def query(self, symbol: str, client_order_id: str) -> Order | None:
        o = self._orders.get(client_order_id)
        return _copy(o) if o and o.symbol == symbol else None

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return [_copy(o) for o in self._open.values() if symbol is None or o.symbol == symbol]

    def balances(self) -> dict[str, float]:
        with self._lock:
            return dict(self._free)

    def poll_fills(self) -> list[Fill]:
        with self._lock:
            out, self._fills = self._fills, []
            return out


def _copy(o: Order) -> Order:
    return Order(**{f: getattr(o, f) for f in o.__slots__})
