"""Fill polling for our open orders, weight-aware and low priority.

Per symbol with open orders: one ``openOrders?symbol=`` (6); a ``GET order`` (4) only for
an order that left the open list; ``myTrades?orderId=`` (5) only for an order whose
executed quantity is above what is booked. Fills already booked in the store, or already
returned by this process, are not returned again. The fills are *returned*, not booked:
the trader books each through the order tracker (`OrderTracker.process_trade_update`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Protocol

from tradewarden.core.models import Fill, Order
from tradewarden.exchange import endpoints as ep
from tradewarden.exchange.client import ExchangeClient
from tradewarden.exchange.filters import SymbolFilters
from tradewarden.exchange.mapping import fill_from_trade, order_from_json
from tradewarden.risk.checks import split_symbol
from tradewarden.state.store import Store
from tradewarden.trading.broker import BrokerError
from tradewarden.trading.order_tracker import QTY_EPS, OrderTracker

log = logging.getLogger(__name__)


class PolledBroker(Protocol):
    """What the poller reads through (`tradewarden.exchange.gateway.BinanceBroker`, which
    owns it)."""

    store: Store
    reader: ExchangeClient
    tracker: OrderTracker

    def filters(self, symbol: str) -> SymbolFilters: ...

    def ticker_price(self, symbol: str) -> float: ...

    def in_flight(self) -> frozenset[str]: ...

    def query_json(
        self, symbol: str, client_order_id: str, *, low_priority: bool = False
    ) -> dict[str, Any] | None: ...


class FillPoller:
    def __init__(self, broker: PolledBroker) -> None:
        self.broker = broker
        self._returned: dict[str, dict[str, float]] = {}  # cid -> trade id -> qty

    def _assets(self, symbol: str) -> tuple[str, str]:
        try:
            f = self.broker.filters(symbol)
            if f.base_asset and f.quote_asset:
                return f.base_asset, f.quote_asset
        except Exception:  # noqa: BLE001 - fall back to the naming convention
            log.debug("no filters for %s; splitting the symbol name", symbol)
        return split_symbol(symbol)

    def fill_of(self, trade: Mapping[str, Any], local: Order) -> Fill:
        """One trade (a ``myTrades`` row, or the same keys from the user data stream's
        executionReport) of our order `local` as a `Fill`, a third-asset commission valued
        (`_valued`): polled and streamed fills are booked alike."""
        base, quote = self._assets(local.symbol)
        fill = fill_from_trade(trade, local, base, quote)
        if fill.commission and fill.commission_asset not in (base, quote):
            fill = self._valued(fill, quote)
        return fill

    def _valued(self, fill: Fill, quote: str) -> Fill:
        """A commission paid in a third asset (BNB) valued in the quote asset at that
        asset's last price (``<asset><quote>`` ticker), so that P&L includes it; left at 0
        with a warning when there is no such market."""
        try:
            price = self.broker.ticker_price(f"{fill.commission_asset}{quote}")
        except BrokerError as exc:
            log.warning(
                "commission in %s not valued (no %s%s price: %s)",
                fill.commission_asset,
                fill.commission_asset,
                quote,
                exc,
            )
            return fill
        return replace(fill, fee=fill.commission * price)

    def poll(self) -> list[Fill]:
        b = self.broker
        busy = b.in_flight()
        local = [o for o in b.store.open_orders() if o.client_order_id not in busy]
        open_ids = {o.client_order_id for o in local}
        self._returned = {c: ids for c, ids in self._returned.items() if c in open_ids}
        by_symbol: dict[str, list[Order]] = defaultdict(list)
        for o in local:
            by_symbol[o.symbol].append(o)
        fills: list[Fill] = []
        for symbol, orders in by_symbol.items():
            listed = b.reader.call(
                ep.OPEN_ORDERS_SYMBOL, "get_open_orders", low_priority=True, symbol=symbol
            )
            open_js = {str(js.get("clientOrderId")): js for js in listed}
            for o in orders:
                js = open_js.get(o.client_order_id)
                if js is None:
                    js = b.query_json(symbol, o.client_order_id, low_priority=True)
                    if js is None:
                        continue  # unknown to the exchange: reconciliation decides
                remote = order_from_json(js, bot=o.bot)
                fills += self._new_fills(o, remote)
                b.tracker.process_order_update(remote)
        return fills

    def _new_fills(self, local: Order, remote: Order) -> list[Fill]:
        b = self.broker
        booked_rows = b.store.fills_for(local.client_order_id)
        booked = {str(r["trade_id"]): float(r["qty"]) for r in booked_rows}
        returned = self._returned.setdefault(local.client_order_id, {})
        known_qty = sum(booked.values()) + sum(
            q for tid, q in returned.items() if tid not in booked
        )
        if remote.filled_qty <= known_qty + QTY_EPS or remote.exchange_order_id is None:
            return []  # nothing executed that we have not booked or handed out already
        trades = b.reader.call(
            ep.MY_TRADES_ORDER,
            "get_my_trades",
            low_priority=True,
            symbol=local.symbol,
            orderId=int(remote.exchange_order_id),
        )
        out = []
        for t in trades:
            fill = self.fill_of(t, local)
            if fill.trade_id in booked or fill.trade_id in returned:
                continue
            returned[fill.trade_id] = fill.qty
            out.append(fill)
        return out
