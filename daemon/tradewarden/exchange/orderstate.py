"""Writing what the exchange says about one of our orders into its SQLite row.

Fill state (``filled_qty``, ``avg_price``) belongs to booked fills: the trader writes it in
the same transaction as the fill (`Store.book_fill`), so a crash never leaves an order
FILLED without its fill. This module therefore writes only ``status``,
``exchange_order_id`` and ``qty`` (the exchange's ``origQty``: the filters rounded ours),
and while the exchange has executed more than the booked fills it keeps the row open
(NEW / PARTIALLY_FILLED) so that `poll_fills` goes on fetching them ("booked" = the sum
of the order's rows in the fills table).
Read and write happen in one transaction, so a fill booked concurrently is never lost.
"""

from __future__ import annotations

import json
import time

from tradewarden.core.models import Order, OrderStatus
from tradewarden.state.keys import StateKey
from tradewarden.state.store import Store

QTY_EPS = 1e-10


def status_to_store(remote: Order, booked_qty: float) -> OrderStatus:
    """The status to store given the exchange's view and the quantity already booked."""
    if remote.filled_qty > booked_qty + QTY_EPS:
        return OrderStatus.PARTIALLY_FILLED if booked_qty > QTY_EPS else OrderStatus.NEW
    return remote.status


def record_exchange_state(store: Store, remote: Order) -> OrderStatus | None:
    """Apply `remote` to the row of the same client order id; returns the stored status
    (None if the store has no such row, or the row belongs to another exchange order id).

    Not fsynced: this row is a cache of the exchange's answer. If a power loss drops it, the
    row is back to PENDING/NEW and the next start resolves it by query (never by resending),
    so the submit path does not pay a second fsync after the intent's."""
    with store.tx(fsync=False) as db:
        cid = remote.client_order_id
        row = db.execute(
            "SELECT exchange_order_id FROM orders WHERE client_order_id=?", (cid,)
        ).fetchone()
        if row is None:
            return None
        known = row[0]
        if known is not None and remote.exchange_order_id not in (None, known):
            return None  # another order reusing our id (unique only among open orders)
        booked = db.execute(
            "SELECT COALESCE(SUM(qty), 0) FROM fills WHERE client_order_id=?", (cid,)
        ).fetchone()[0]
        status = status_to_store(remote, float(booked))
        # the exchange's quantity is the truth: filters rounded the intent's to the step
        qty = remote.qty if remote.qty > 0 else None
        db.execute(
            "UPDATE orders SET status=?, exchange_order_id=COALESCE(?, exchange_order_id),"
            " qty=COALESCE(?, qty), updated_at=? WHERE client_order_id=?",
            (str(status), remote.exchange_order_id, qty, time.time(), cid),
        )
        return status


def record_status(store: Store, client_order_id: str, status: OrderStatus) -> None:
    """Set a status we concluded ourselves (UNKNOWN, EXPIRED, REJECTED); fill state kept."""
    with store.tx() as db:
        db.execute(
            "UPDATE orders SET status=?, updated_at=? WHERE client_order_id=?",
            (str(status), time.time(), client_order_id),
        )


EXPIRED_VERDICTS_KEY = StateKey.EXCHANGE_EXPIRED_VERDICTS


def note_expired_verdict(store: Store, client_order_id: str) -> None:
    """Remember that *we* concluded EXPIRED for this order (the exchange did not know it
    past recvWindow + margin), so that reconciliation keeps asking about it for a while and
    books it if it shows up after all, instead of calling it foreign."""
    with store.tx() as db:
        row = db.execute("SELECT value FROM kv WHERE key=?", (EXPIRED_VERDICTS_KEY,)).fetchone()
        verdicts = json.loads(row[0]) if row else {}
        if not isinstance(verdicts, dict):
            verdicts = {}
        verdicts[client_order_id] = time.time()
        store._put(db, EXPIRED_VERDICTS_KEY, verdicts)


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
