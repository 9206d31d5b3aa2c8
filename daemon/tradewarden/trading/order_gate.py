"""OrderGate: the one path by which any order reaches a broker.

check (risk engine) -> record intent in SQLite + audit (one commit) -> broker.submit.
An answer we cannot get (timeout, 5xx) leaves the order UNKNOWN and blocks its symbol
until it is resolved by a query; it is never resent. Every order-row change goes through
the order tracker (`trading.order_tracker`), the risk engine's book through its methods.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from tradewarden.audit.chain import AuditLog
from tradewarden.core.models import Order, OrderRequest, OrderStatus
from tradewarden.risk.engine import RiskEngine
from tradewarden.risk.reasons import DenyReason
from tradewarden.state.store import Store
from tradewarden.trading.broker import (
    Broker,
    BrokerError,
    OutcomeUnknownError,
    RefusedLocallyError,
)
from tradewarden.trading.client_ids import ClientOrderIds
from tradewarden.trading.order_tracker import OrderTracker, tracker_for

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Submission:
    order: Order | None
    denied: DenyReason | None = None
    error: str = ""
    # the exchange answered with a (negative) Binance error code: refused by the exchange,
    # not a local filter or an unanswered request (unusual-activity watch, watch.py)
    exchange_code: int | None = None

    @property
    def accepted(self) -> bool:
        return self.order is not None and self.denied is None and not self.error


# One client order id scheme: the ids sent here are the ones reconciliation recognises.
ClientIds = ClientOrderIds


class OrderGate:
    def __init__(
        self,
        risk: RiskEngine,
        broker: Broker,
        store: Store,
        audit: AuditLog,
        *,
        clock: Callable[[], float] = time.monotonic,
        tracker: OrderTracker | None = None,
    ) -> None:
        self.risk = risk
        self._broker = broker
        self.store = store
        self.tracker = tracker or tracker_for(store)
        self.audit = audit
        self.ids = ClientIds()
        self.clock = clock
        self.denials: dict[str, int] = {}
        self.on_denied: list[Callable[[OrderRequest, DenyReason], None]] = []
        # open orders found on a symbol no bot trades by a halt's sweep (`cancel_all` with
        # `everywhere`): (those orders, what was cancelled) -> the daemon alerts
        self.on_foreign: list[Callable[[list[Order], list[Order]], None]] = []

    def submit(self, req: OrderRequest, price: float | None) -> Submission:
        reason = self.risk.check(req, price, self.clock())
        if reason is not None:
            self.denials[reason] = self.denials.get(reason, 0) + 1
            self.audit.append(
                "order_denied",
                {
                    "bot": req.bot,
                    "symbol": req.symbol,
                    "side": str(req.side),
                    "qty": req.qty,
                    "reason": str(reason),
                },
            )
            for hook in self.on_denied:
                hook(req, reason)
            return Submission(None, denied=reason)
        cid = req.client_order_id or self.ids.next(req.bot)
        req = OrderRequest(
            bot=req.bot,
            symbol=req.symbol,
            side=req.side,
            qty=req.qty,
            order_type=req.order_type,
            price=req.price,
            client_order_id=cid,
            zone=req.zone,
            directional=req.directional,
            reduce_only=req.reduce_only,
        )
        intent = Order(
            client_order_id=cid,
            bot=req.bot,
            symbol=req.symbol,
            side=req.side,
            order_type=req.order_type,
            qty=req.qty,
            price=req.price or price,
            status=OrderStatus.PENDING,
            created_at=time.time(),
        )
        # the intent and its audit head commit together, before anything leaves the process
        with self.tracker.track_intent(intent) as db:
            self.audit.append(
                "order_intent",
                {
                    "client_order_id": cid,
                    "bot": req.bot,
                    "symbol": req.symbol,
                    "side": str(req.side),
                    "type": str(req.order_type),
                    "qty": req.qty,
                    "price": req.price or price,
                    "reduce_only": req.reduce_only,
                },
                db=db,
            )
        self.risk.note_order_sent(self.clock())
        try:
            order = self._broker.submit(req)
        except OutcomeUnknownError as exc:
            intent.status = OrderStatus.UNKNOWN
            self.tracker.mark_unknown(cid)
            self.risk.block_symbol(req.symbol)
            self.audit.append("order_unknown", {"client_order_id": cid, "error": str(exc)})
            return Submission(intent, error=f"outcome unknown: {exc}")
        except BrokerError as exc:
            intent.status = OrderStatus.REJECTED
            self.tracker.mark_rejected(cid)
            self.audit.append(
                "order_rejected", {"client_order_id": cid, "code": exc.code, "error": str(exc)}
            )
            local = isinstance(exc, RefusedLocallyError)
            code = exc.code if not local and exc.code is not None and exc.code < 0 else None
            return Submission(intent, error=str(exc), exchange_code=code)
        # Fill state is written only together with the fill itself (the tracker's
        # process_trade_update), so a crash can never leave an order FILLED without its
        # fill: executed (in full, or in part before a MARKET order EXPIRED on a thin book),
        # the row stays open until the fill poller books every fill; then the exchange's
        # final status is written.
        self.tracker.mark_accepted(order)
        if order.status.is_open:
            self.risk.order_opened()
        self.audit.append(
            "order_placed",
            {
                "client_order_id": cid,
                "status": str(order.status),
                "exchange_order_id": order.exchange_order_id,
            },
        )
        return Submission(order)

    # cancels are always allowed: they only ever reduce risk
    def cancel_all(
        self, symbols: list[str], reason: str, *, everywhere: bool = False
    ) -> list[Order]:
        """Every open order of `symbols` cancelled. `everywhere` (a HALT, an emergency
        stop): on a broker that sweeps the whole account (``sweeps_every_symbol``: the
        futures gateway; not with TRADEWARDEN_SHARED_ACCOUNT) also every other symbol's, see
        `cancel_elsewhere`."""
        cancelled = self._cancel_symbols(symbols, reason)
        if everywhere:
            cancelled += self.cancel_elsewhere(symbols, reason)
        return cancelled

    def cancel_elsewhere(self, ours: list[str], reason: str) -> list[Order]:
        """The open orders of every symbol not in `ours` (``GET openOrders`` without a
        symbol, then each symbol that has any cancelled). No bot trades those symbols, so
        each such order is not ours: a security finding, audited (``security_event``) and
        handed to `on_foreign` (the daemon's critical ``foreign_order`` alert), as
        reconciliation reports a foreign order. Never raises for exchange errors."""
        broker = self._broker
        shared = bool(getattr(getattr(broker, "settings", None), "shared_account", False))
        if not getattr(broker, "sweeps_every_symbol", False) or shared:
            return []
        try:
            listed = broker.open_orders()
        except BrokerError as exc:
            log.error("open orders of the account not read", extra={"error": str(exc)})
            self.audit.append("cancel_failed", {"symbol": "*", "error": str(exc)})
            return []
        found = [o for o in listed if o.symbol not in set(ours)]
        if not found:
            return []
        cancelled: list[Order] = []
        for symbol in sorted({o.symbol for o in found}):
            try:
                cancelled += broker.cancel_all(symbol)
            except BrokerError as exc:
                log.error("cancel_all failed", extra={"symbol": symbol, "error": str(exc)})
                self.audit.append("cancel_failed", {"symbol": symbol, "error": str(exc)})
        log.critical(
            "open orders on symbols no bot trades: cancelled (security finding)",
            extra={"symbols": sorted({o.symbol for o in found}), "orders": len(found)},
        )
        self.audit.append(
            "security_event",
            {
                "finding": "orders on symbols no bot trades",
                "reason": reason,
                "orders": [
                    {
                        "symbol": o.symbol,
                        "client_order_id": o.client_order_id,
                        "order_id": o.exchange_order_id,
                        "side": str(o.side),
                        "qty": o.qty,
                    }
                    for o in found
                ],
                "cancelled": [o.client_order_id for o in cancelled],
            },
            sync=True,
        )
        for hook in self.on_foreign:
            hook(found, cancelled)
        return cancelled

    def _cancel_symbols(self, symbols: list[str], reason: str) -> list[Order]:
        cancelled: list[Order] = []
        for symbol in symbols:
            try:
                done = self._broker.cancel_all(symbol)
            except BrokerError as exc:
                log.error("cancel_all failed", extra={"symbol": symbol, "error": str(exc)})
                self.audit.append("cancel_failed", {"symbol": symbol, "error": str(exc)})
                continue
            for o in done:
                # kept open while the exchange executed more than is booked (the fills of
                # a partly filled order are still fetched), like every other update
                self.tracker.mark_cancelled(o)
                cancelled.append(o)
        self.risk.orders_closed(len(cancelled))
        if cancelled:
            self.audit.append(
                "orders_cancelled",
                {"reason": reason, "client_order_ids": [o.client_order_id for o in cancelled]},
            )
        return cancelled
