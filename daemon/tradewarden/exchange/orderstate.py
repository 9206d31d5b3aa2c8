"""What the exchange says about one of our orders, applied by the order tracker.

The rules (fill state only from booked fills, a row kept open while the exchange executed
more than is booked, our EXPIRED verdicts) live in `tradewarden.trading.order_tracker`,
the one writer of order rows; this module keeps the names the exchange package used.
"""

from __future__ import annotations

from tradewarden.core.models import Order, OrderStatus
from tradewarden.state.store import Store
from tradewarden.trading.order_tracker import (
    EXPIRED_VERDICTS_KEY,
    QTY_EPS,
    expired_verdicts,
    forget_expired_verdicts,
    status_to_store,
    tracker_for,
)

__all__ = [
    "EXPIRED_VERDICTS_KEY",
    "QTY_EPS",
    "expired_verdicts",
    "forget_expired_verdicts",
    "record_exchange_state",
    "record_status",
    "status_to_store",
]


def record_exchange_state(store: Store, remote: Order) -> OrderStatus | None:
    """`OrderTracker.process_order_update` of the store's tracker."""
    return tracker_for(store).process_order_update(remote)


def record_status(store: Store, client_order_id: str, status: OrderStatus) -> None:
    """A status we concluded ourselves (UNKNOWN, REJECTED, EXPIRED without a verdict),
    through the store's tracker (a transition it does not allow is refused and logged)."""
    tracker = tracker_for(store)
    if status is OrderStatus.UNKNOWN:
        tracker.mark_unknown(client_order_id)
    elif status is OrderStatus.REJECTED:
        tracker.mark_rejected(client_order_id)
    elif status is OrderStatus.EXPIRED:
        tracker.mark_expired(client_order_id, verdict=False)
    else:
        raise ValueError(f"{status} is not a status we conclude ourselves")
