"""System critical errors -> emergency stop (the PETS guidelines' "Emergency Stop: System
critical error").

`CRITICAL_ERRORS` is the one list of internal errors that count: after one of them the
daemon can no longer vouch for what it records, so it must not trade on.

- `AuditError`: the audit log cannot be written or its tail cannot be read (a full or
  failing disk, a tampered file): no order may go out unaudited;
- `StateError` and `sqlite3.DatabaseError`: the state database is locked, corrupt or fails
  its integrity check: intents, fills and trips can no longer be recorded first.

Everything else is ordinary: exchange trouble (`BrokerError`: the loop backs off, not
ready), a refused order, a secret source down (`SecretError`) — they never stop the daemon.

`emergency_stop(daemon, exc)` does, best effort (each step on its own, since the error may
break the next): HALT in memory first, then recorded; cancel every open order; close the
positions when TRADEWARDEN_FLATTEN_ON_EMERGENCY (an order that cannot be audited is not
sent, so after an audit or database failure the flatten is reported as not done); the
critical ``system_error`` alert and the critical ``emergency_stop`` alert. The runner then
stops trading and stays up, not ready, until it is stopped; the halt is sticky.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import TYPE_CHECKING, Any

from tradewarden.audit.chain import AuditError
from tradewarden.state.store import StateError

if TYPE_CHECKING:
    from tradewarden.runtime.daemon import Daemon

log = logging.getLogger(__name__)
ACTOR = "critical-error"


CRITICAL_ERRORS: tuple[type[BaseException], ...] = (
    AuditError,
    StateError,
    sqlite3.DatabaseError,
)


def component_of(exc: BaseException) -> str:
    if isinstance(exc, AuditError):
        return "audit log"
    if isinstance(exc, StateError | sqlite3.DatabaseError):
        return "state database"
    return type(exc).__name__


def emergency_stop(d: Daemon, exc: BaseException) -> dict[str, Any]:
    """See the module docstring. Returns what was done (also in the alerts)."""
    component = component_of(exc)
    error = f"{type(exc).__name__}: {exc}"[:500]
    reason = f"system critical error in {component}: {error}"
    log.critical("system critical error: emergency stop", extra={"error": error})
    actions: list[str] = []
    # 1. no new orders, at once: the in-memory state first (the store may be what failed)
    d.risk.halt_in_memory(reason)
    try:
        d.risk.halt(reason, ACTOR)
        actions.append("HALTED (recorded)")
    except Exception as e:  # noqa: BLE001 - the store may be what failed
        actions.append(f"HALTED in memory only (not recorded: {type(e).__name__})")
    symbols = sorted(d.trader.by_symbol)
    cancelled: list[str] = []
    try:
        cancelled = [
            o.client_order_id
            for o in d.gate.cancel_all(symbols, reason="system critical error", everywhere=True)
        ]
        actions.append(f"cancelled {len(cancelled)} open orders")
    except Exception as e:  # noqa: BLE001
        actions.append(f"cancel-all not completed ({type(e).__name__}): cancel by hand")
    closed: list[str] = []
    if d.settings.flatten_on_emergency:
        try:
            with d.risk.flatten_window([b.name for b in d.bots], whole_state=True):
                closed = d.trader._flatten()
            actions.append(f"positions closed: {closed or 'none held'}")
        except Exception as e:  # noqa: BLE001
            actions.append(
                f"positions NOT closed ({type(e).__name__}: no order goes out unrecorded):"
                " close them by hand"
            )
    for kind, ctx in (
        ("system_error", {"component": component, "error": error, "actions": actions}),
        (
            "emergency_stop",
            {
                "trigger": f"system critical error in {component}",
                "reason": reason + "; " + "; ".join(actions),
                "orders_cancelled": cancelled,
                "positions_closed": closed,
            },
        ),
    ):
        try:
            d.notifier.notify(kind, state="HALTED", **ctx)
        except Exception:  # noqa: BLE001 - the outbox may share the broken database
            log.critical("alert could not be queued", extra={"kind": kind, "error": error})
    d.critical = reason
    return {"component": component, "actions": actions, "cancelled": cancelled, "closed": closed}
