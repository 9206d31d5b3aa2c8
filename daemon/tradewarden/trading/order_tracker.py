"""The client order tracker: the one owner of order state (the ``orders`` table and the
``fills`` booked against an order).

Modelled on Hummingbot's ``ClientOrderTracker`` / ``InFlightOrder``: every change of an
order is one method here, checked against one table of allowed transitions, and nothing
else in the daemon writes an order row (the store keeps the SQL; only this module calls
its order-writing methods — `Store.ORDER_WRITERS`, guarded by a test).

    intent recorded     track_intent           -> PENDING (committed before anything is sent)
    outcome unknown     mark_unknown           -> UNKNOWN (resolved by query, never resent)
    rejected            mark_rejected          PENDING -> REJECTED
    expired             mark_expired           -> EXPIRED (our verdict: the exchange never
                                                  knew it; remembered, see below)
    accepted / the exchange's view (NEW, CANCELED, EXPIRED incl. EXPIRED_IN_MATCH, FILLED)
                        process_order_update   (also `mark_accepted`, `mark_cancelled`)
    partial / complete fill
                        process_trade_update   -> PARTIALLY_FILLED / FILLED, once per trade id

Rules:
- A terminal order (FILLED, CANCELED, REJECTED, EXPIRED) never goes back; an event that
  would move an order backwards (a stale poll, a late stream message) is ignored and
  logged. One exception, the exchange's word over ours: an order *we* judged EXPIRED (not
  seen past recvWindow + margin) that shows up after all takes the exchange's status;
  and the exchange's REJECTED closes a PENDING, UNKNOWN or NEW (PENDING_NEW) order.
- Fill state (``filled_qty``, ``avg_price``) comes only from booked fills, in the fill's
  own transaction, so a crash never leaves an order FILLED without its fill. While the
  exchange has executed more than is booked the row stays open (NEW / PARTIALLY_FILLED),
  so the fill poller goes on fetching the fills.
- A fill is booked once per trade id: a repeat from the poller, a restart or
  reconciliation books nothing.
- Fail closed: an event for a client order id with no row is never booked (no position is
  created from it); it is recorded as a finding (kept in the store, logged at ERROR,
  handed to `on_finding`) for a human and for reconciliation.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from tradewarden.core.models import Fill, Order, OrderStatus
from tradewarden.state.keys import StateKey
from tradewarden.state.store import Store

log = logging.getLogger(__name__)

QTY_EPS = 1e-10
EXPIRED_VERDICTS_KEY = StateKey.EXCHANGE_EXPIRED_VERDICTS
FINDINGS_KEY = StateKey.ORDER_FINDINGS
KEEP_FINDINGS = 200

S = OrderStatus

# current status -> the statuses it may move to (staying in the same status is always
# allowed: a refresh of the exchange order id / quantity). Knowing *less* while an order is
# open (-> UNKNOWN) is allowed: it only blocks the symbol until a query settles it.
ALLOWED: Mapping[OrderStatus, frozenset[OrderStatus]] = MappingProxyType(
    {
        S.PENDING: frozenset(
            {S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED, S.UNKNOWN}
        ),
        S.UNKNOWN: frozenset({S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}),
        S.NEW: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED, S.UNKNOWN}),
        S.PARTIALLY_FILLED: frozenset({S.FILLED, S.CANCELED, S.EXPIRED, S.UNKNOWN}),
        S.FILLED: frozenset(),
        S.CANCELED: frozenset(),
        S.REJECTED: frozenset(),
        S.EXPIRED: frozenset(),
    }
)
# an order we judged EXPIRED ourselves takes what the exchange says when it shows up late
REVIVED_FROM_OWN_VERDICT = frozenset({S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED})
# the exchange's REJECTED ("not accepted by the engine", enums.md) settles an order whose
# outcome we did not know, or one it listed as PENDING_NEW (stored NEW); our own
# conclusion never rejects an order of unknown outcome (that is settled by query)
EXCHANGE_REJECTS = frozenset({S.PENDING, S.UNKNOWN, S.NEW})


def allowed(current: OrderStatus, target: OrderStatus, *, own_verdict: bool = False) -> bool:
    """May an order in `current` move to `target`? (`own_verdict`: `current` is an EXPIRED
    we concluded ourselves, see `mark_expired`.)"""
    if target is current:
        return True
    if current is S.EXPIRED and own_verdict:
        return target in REVIVED_FROM_OWN_VERDICT
    return target in ALLOWED[current]


def status_to_store(remote: Order, booked_qty: float) -> OrderStatus:
    """The status to store given the exchange's view and the quantity already booked."""
    if remote.filled_qty > booked_qty + QTY_EPS:
        return S.PARTIALLY_FILLED if booked_qty > QTY_EPS else S.NEW
    return remote.status


@dataclass(frozen=True, slots=True)
class OrderFinding:
    """An order event the tracker refused to apply because it does not fit our record."""

    # "unknown_order_update" | "unknown_order_fill" | "mismatched_order_fill" |
    # "fill_on_rejected_order"
    kind: str
    client_order_id: str
    detail: dict[str, Any]
    ts: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "client_order_id": self.client_order_id,
            "detail": self.detail,
            "ts": self.ts,
        }


@dataclass(frozen=True, slots=True)
class FillBooking:
    """What `process_trade_update` did: `booked` False for a repeat or a refused fill;
    `order` the row after the fill; `completed` the fill moved an open order to FILLED."""

    booked: bool
    order: Order | None
    completed: bool = False


class OrderTracker:
    """See the module docstring. One per store (`tracker_for`). Thread-safe: each
    transition reads and writes the row in one store transaction (the store's lock)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        # called with every finding (the daemon audits it); a failing hook is logged
        self.on_finding: list[Callable[[OrderFinding], None]] = []

    # --- intent -----------------------------------------------------------------------------
    @contextmanager
    def track_intent(self, order: Order) -> Iterator[sqlite3.Connection]:
        """Insert the order as PENDING and yield the open transaction (the order gate
        commits the intent's audit entry in it); committed before anything is sent."""
        if order.status is not S.PENDING:
            raise ValueError(f"an intent is PENDING, not {order.status}")
        with self.store.tx() as db:
            self.store.insert_intent(db, order)
            yield db

    # --- what we conclude ourselves ---------------------------------------------------------
    def mark_unknown(self, client_order_id: str) -> bool:
        """The request got no usable answer: the outcome is resolved by query, never by
        sending again."""
        return self._conclude(client_order_id, S.UNKNOWN)

    def mark_rejected(self, client_order_id: str) -> bool:
        """Refused before or by the exchange (filters, a Binance error, a halt)."""
        return self._conclude(client_order_id, S.REJECTED)

    def mark_expired(self, client_order_id: str, *, verdict: bool = True) -> bool:
        """The exchange does not know the order past its recvWindow + margin: it never
        happened. With `verdict` the conclusion is remembered (`expired_verdicts`) so that
        reconciliation keeps asking about it and books it if it shows up after all."""
        return self._conclude(client_order_id, S.EXPIRED, verdict=verdict)

    def _conclude(self, cid: str, target: OrderStatus, *, verdict: bool = False) -> bool:
        with self.store.tx() as db:
            row = self.store.order_in(db, cid)
            if row is not None and not self._may(db, row, target, "ours"):
                return False
            if row is not None:
                self.store.set_order_state(db, cid, target)
                if verdict:
                    _note_verdict(self.store, db, cid)
        if row is None:
            self._finding("unknown_order_update", cid, {"status": str(target)})
            return False
        return True

    # --- what the exchange (or the paper broker) says --------------------------------------
    def mark_accepted(self, order: Order) -> OrderStatus | None:
        """The answer to our submit (the order as the broker accepted it)."""
        return self.process_order_update(order)

    def mark_cancelled(self, order: Order) -> OrderStatus | None:
        """The answer to a cancel (CANCELED, or how the order had closed already)."""
        return self.process_order_update(order)

    def process_order_update(self, remote: Order) -> OrderStatus | None:
        """Apply the exchange's view of one of our orders; returns the status stored (None
        if there is no such row, or the row belongs to another exchange order id: client
        order ids are unique only among open orders).

        Not fsynced: the row is a cache of the exchange's answer. If a power loss drops it,
        the row is back to PENDING/NEW and the next start resolves it by query (never by
        resending), so the submit path pays no second fsync after the intent's."""
        cid = remote.client_order_id
        with self.store.tx(fsync=False) as db:
            row = self.store.order_in(db, cid)
            if row is None:
                stored = None
            elif row.exchange_order_id is not None and remote.exchange_order_id not in (
                None,
                row.exchange_order_id,
            ):
                return None  # another order reusing our id: reconciliation's business
            else:
                target = status_to_store(remote, self.store.booked_qty_in(db, cid))
                if not self._may(db, row, target, "exchange", exchange=True):
                    return row.status
                self.store.set_order_state(
                    db,
                    cid,
                    target,
                    exchange_order_id=remote.exchange_order_id,
                    # the exchange's quantity is the truth: filters rounded the intent's
                    qty=remote.qty if remote.qty > 0 else None,
                )
                stored = target
        if row is None:
            self._finding(
                "unknown_order_update",
                cid,
                {
                    "symbol": remote.symbol,
                    "status": str(remote.status),
                    "exchange_order_id": remote.exchange_order_id,
                },
            )
        return stored

    # --- fills ------------------------------------------------------------------------------
    def process_trade_update(self, fill: Fill) -> FillBooking:
        """Book a fill once (by trade id) with the order's new fill state, in one
        transaction. A fill for an order we have no row for is not booked: a finding."""
        cid = fill.client_order_id
        with self.store.tx() as db:
            row = self.store.order_in(db, cid)
            ours = row is not None and (row.bot, row.symbol, row.side) == (
                fill.bot,
                fill.symbol,
                fill.side,
            )
            if ours and row is not None:
                booking = self._book(db, row, fill)
        if row is not None and not ours:
            self._finding(
                "mismatched_order_fill",
                cid,
                {
                    "trade_id": fill.trade_id,
                    "fill": [fill.bot, fill.symbol, str(fill.side)],
                    "order": [row.bot, row.symbol, str(row.side)],
                },
            )
            return FillBooking(False, row)
        if row is None:
            self._finding(
                "unknown_order_fill",
                cid,
                {
                    "trade_id": fill.trade_id,
                    "symbol": fill.symbol,
                    "side": str(fill.side),
                    "qty": fill.qty,
                    "price": fill.price,
                },
            )
            return FillBooking(False, None)
        if booking.booked and row.status is S.REJECTED:
            self._finding(
                "fill_on_rejected_order", cid, {"trade_id": fill.trade_id, "qty": fill.qty}
            )
        return booking

    def _book(self, db: sqlite3.Connection, row: Order, fill: Fill) -> FillBooking:
        if not self.store.insert_fill(db, fill):
            return FillBooking(False, row)  # this trade id is booked already
        was_open = row.status.is_open
        done = min(row.qty, row.filled_qty + fill.qty)
        after = Order(**{f: getattr(row, f) for f in Order.__slots__})
        if done > 0:  # volume-weighted over the order's fills (a thin book)
            after.avg_price = (row.avg_price * row.filled_qty + fill.price * fill.qty) / (
                row.filled_qty + fill.qty
            )
        after.filled_qty = done
        target = S.FILLED if done >= row.qty - 1e-12 else S.PARTIALLY_FILLED
        # the fill is booked whatever the row's status (the money moved); the status only
        # moves forward: a late fill of a CANCELED/EXPIRED order leaves it closed
        if self._may(db, row, target, f"fill {fill.trade_id}"):
            after.status = target
        self.store.set_fill_state(db, after)
        return FillBooking(True, after, completed=was_open and after.status is S.FILLED)

    # --- helpers ----------------------------------------------------------------------------
    def _may(
        self,
        db: sqlite3.Connection,
        row: Order,
        target: OrderStatus,
        source: str,
        *,
        exchange: bool = False,
    ) -> bool:
        own = row.status is S.EXPIRED and row.client_order_id in _verdicts_in(db)
        if allowed(row.status, target, own_verdict=own):
            return True
        if exchange and target is S.REJECTED and row.status in EXCHANGE_REJECTS:
            return True
        log.warning(
            "order transition refused: %s -> %s (%s)",
            row.status,
            target,
            source,
            extra={"cid": row.client_order_id, "from": str(row.status), "to": str(target)},
        )
        return False

    def _finding(self, kind: str, cid: str, detail: dict[str, Any]) -> None:
        finding = OrderFinding(kind, cid, detail, time.time())
        log.error("order event refused: %s for %s", kind, cid, extra={"finding": finding.as_dict()})
        kept = self.store.get(FINDINGS_KEY)
        kept = kept if isinstance(kept, list) else []
        self.store.put(FINDINGS_KEY, [*kept, finding.as_dict()][-KEEP_FINDINGS:])
        for hook in self.on_finding:
            try:
                hook(finding)
            except Exception:  # a hook must never break the order path
                log.exception("order finding hook failed")

    def findings(self) -> list[dict[str, Any]]:
        """The findings kept in the store (the last `KEEP_FINDINGS`)."""
        kept = self.store.get(FINDINGS_KEY)
        return list(kept) if isinstance(kept, list) else []


# --- one tracker per store --------------------------------------------------------------------
_TRACKERS: weakref.WeakKeyDictionary[Store, OrderTracker] = weakref.WeakKeyDictionary()
_TRACKERS_LOCK = threading.Lock()


def tracker_for(store: Store) -> OrderTracker:
    """The order tracker of `store` (one per store, so its hooks and lock are shared by
    the order gate, the gateway, the fill poller and reconciliation)."""
    with _TRACKERS_LOCK:
        tracker = _TRACKERS.get(store)
        if tracker is None:
            tracker = _TRACKERS[store] = OrderTracker(store)
        return tracker


# --- our EXPIRED verdicts ---------------------------------------------------------------------
def _verdicts_in(db: sqlite3.Connection) -> dict[str, Any]:
    row = db.execute("SELECT value FROM kv WHERE key=?", (EXPIRED_VERDICTS_KEY,)).fetchone()
    verdicts = json.loads(row[0]) if row else {}
    return verdicts if isinstance(verdicts, dict) else {}


def _note_verdict(store: Store, db: sqlite3.Connection, cid: str) -> None:
    verdicts = _verdicts_in(db)
    verdicts[cid] = time.time()
    store._put(db, EXPIRED_VERDICTS_KEY, verdicts)  # noqa: SLF001 - kv inside this tx


def expired_verdicts(store: Store) -> dict[str, float]:
    """Client order id -> wall time of our EXPIRED verdict."""
    got = store.get(EXPIRED_VERDICTS_KEY)
    return {str(k): float(v) for k, v in got.items()} if isinstance(got, dict) else {}


def forget_expired_verdicts(store: Store, client_order_ids: set[str]) -> None:
    if not client_order_ids:
        return
    verdicts = expired_verdicts(store)
    store.put(
        EXPIRED_VERDICTS_KEY,
        {c: t for c, t in verdicts.items() if c not in client_order_ids},
    )
