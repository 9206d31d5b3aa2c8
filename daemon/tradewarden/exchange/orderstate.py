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

import time

from tradewarden.models import Order, OrderStatus
from tradewarden.store import Store

QTY_EPS = 1e-10


def status_to_store(remote: Order, booked_qty: float) -> OrderStatus:
    """The status to store given the exchange's view and the quantity already booked."""
    if remote.filled_qty > booked_qty + QTY_EPS:
        return OrderStatus.PARTIALLY_FILLED if booked_qty > QTY_EPS else OrderStatus.NEW
    return remote.status


def record_exchange_state(store: Store, remote: Order) -> OrderStatus | None:
    """Apply `remote` to the row of the same client order id; returns the stored status
    (None if the store has no such row).

    Not fsynced: this row is a cache of the exchange's answer. If a power loss drops it, the
    row is back to PENDING/NEW and the next start resolves it by query (never by resending),
    so the submit path does not pay a second fsync after the intent's."""
    with store.tx(fsync=False) as db:
        cid = remote.client_order_id
        if db.execute("SELECT 1 FROM orders WHERE client_order_id=?", (cid,)).fetchone() is None:
            return None
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
