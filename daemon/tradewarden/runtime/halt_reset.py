"""Halt and reset: the one implementation, wherever it runs.

A human's `tradewarden halt` / `halt --reducing` / `reset` is applied by these functions
both by the running daemon (a queued control request, `control.ControlDesk`) and by the
CLI itself when no daemon runs (`actions.py`, holding the daemon lock). The steps and the
audit entries are the same; what differs by where it runs is in a `Site`:

- `DaemonSite`: open orders are cancelled now, the halt alert goes out, a reset resolves
  the cleared incidents' alerts through the notifier, the status snapshot is rewritten;
- `OfflineSite`: nothing can be cancelled (the daemon cancels open orders when it starts
  HALTED), no alert is sent for a halt, a reset resolves the alerts in the outbox (sent at
  the next start), the last snapshot is refreshed.

The rules stay the engine's: a halt only raises the state (`RiskEngine.halt`), a breaker
trip is cleared only by a human reset pointed at it (`RiskEngine.reset`), and nothing here
switches a safety limit off.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from tradewarden.alerts.catalogue import MANUAL_HALT_KEY, trip_dedup_key
from tradewarden.core.config import Settings
from tradewarden.risk.engine import HUMAN_HALT, LEGACY_HALT, ResetScope, RiskEngine
from tradewarden.risk.ramp import SizeRamp
from tradewarden.state.keys import StateKey
from tradewarden.state.store import Store

HALT_ACTIONS = ("halt", "reduce")
IN_FORCE_WHILE = "waiting on the exchange"
NO_SCOPE = "a reset needs a scope (--bot, --breaker or --all)"


class Site(Protocol):
    """Where a halt/reset is applied (see the module docstring)."""

    @property
    def risk(self) -> RiskEngine: ...

    @property
    def audit(self) -> Any: ...  # audit.chain.AuditLog

    def cancel_orders(self, reason: str) -> list[Any]: ...

    def halt_details(self, cancelled: list[Any]) -> dict[str, Any]: ...

    def announce_halt(self, action: str, reason: str, actor: str, cancelled: list[Any]) -> None: ...

    def begin_ramp(self, why: str) -> None: ...

    def resolve_alerts(self, cleared: list[str], note: str) -> None: ...

    def refresh_snapshot(self) -> None: ...


# --- the one implementation ------------------------------------------------------------------
def hold_halt(site: Site, action: str, reason: str, actor: str) -> dict[str, Any]:
    """Put a queued halt in force now, recorded and audited, while the daemon's loop is
    blocked on the exchange; `apply_halt(..., in_force=True)` does the rest later."""
    _check_action(action)
    site.risk.halt(reason, actor, reducing=action == "reduce", kind=HUMAN_HALT)
    site.audit.append(
        action, {"reason": reason, "in_force_while": IN_FORCE_WHILE}, actor=actor, sync=True
    )
    return {"state": site.risk.state.label, "orders_cancelled": "pending"}


def apply_halt(
    site: Site, action: str, reason: str, actor: str, *, in_force: bool = False
) -> dict[str, Any]:
    """`halt` (HALTED, open orders cancelled) or `reduce` (REDUCING): record the halt,
    cancel, audit, alert, refresh the snapshot. `in_force`: `hold_halt` already recorded and
    audited it; only the cancels, alert and snapshot are left."""
    _check_action(action)
    if not in_force:
        site.risk.halt(reason, actor, reducing=action == "reduce", kind=HUMAN_HALT)
    cancelled = site.cancel_orders(f"manual halt: {reason}") if action == "halt" else []
    if not in_force:
        site.audit.append(
            action, {"reason": reason, **site.halt_details(cancelled)}, actor=actor, sync=True
        )
    site.announce_halt(action, reason, actor, cancelled)
    site.refresh_snapshot()
    return {"state": site.risk.state.label, "orders_cancelled": len(cancelled)}


def apply_reset(
    site: Site,
    reason: str,
    actor: str,
    scope: ResetScope,
    *,
    asked_at: float | None = None,
    confirmed: set[str] | None = None,
) -> dict[str, Any]:
    """Clear what `scope` points at (recorded by `asked_at`, and named in `confirmed` when
    given: what the human saw), restart gradually, audit, resolve the cleared incidents'
    alerts, refresh the snapshot."""
    if scope.empty:
        raise ValueError(NO_SCOPE)
    cleared = site.risk.reset(reason, actor, scope, asked_at=asked_at, confirmed=confirmed)
    if cleared:
        site.begin_ramp(f"reset: {reason}")
    site.audit.append(
        "reset",
        {"reason": reason, "cleared": cleared, "scope": scope.as_dict()},
        actor=actor,
        sync=True,
    )
    site.resolve_alerts(cleared, f"reset by {actor}: {reason}")
    site.refresh_snapshot()
    return {"state": site.risk.state.label, "cleared": cleared}


def apply_request(
    site: Site,
    action: str,
    reason: str,
    actor: str,
    *,
    payload: Any = None,
    asked_at: float | None = None,
    in_force: bool = False,
) -> dict[str, Any]:
    """One queued control request (`action`, and for a reset its scope and the items the
    human confirmed in `payload`)."""
    if action in HALT_ACTIONS:
        return apply_halt(site, action, reason, actor, in_force=in_force)
    if action == "reset":
        if not isinstance(payload, dict) or not isinstance(payload.get("scope"), dict):
            raise ValueError(NO_SCOPE)
        confirmed = payload.get("confirmed")
        return apply_reset(
            site,
            reason,
            actor,
            ResetScope.from_dict(payload["scope"]),
            asked_at=asked_at,
            confirmed=set(confirmed) if confirmed is not None else None,
        )
    raise ValueError(f"unknown action {action!r}")


def _check_action(action: str) -> None:
    if action not in HALT_ACTIONS:
        raise ValueError(f"unknown action {action!r}")


def trip_alert_keys(risk: RiskEngine, cleared: list[str]) -> list[str]:
    """The alert dedup keys of what a reset cleared ("breaker:bot", "halt#id", "manual_state")."""
    emergency = {b.name for b in risk.breakers if b.emergency}
    keys = set()
    for item in cleared:
        breaker, _, bot = item.partition(":")
        if item == LEGACY_HALT or item.startswith("halt#"):
            keys.add(MANUAL_HALT_KEY)
        else:
            keys.add(trip_dedup_key(breaker, bot, emergency=breaker in emergency))
    return sorted(keys)


def resolve_cleared_alerts(notifier: Any, risk: RiskEngine, cleared: list[str], note: str) -> None:
    """A reset ends the incidents it clears: their alerts are resolved (a RESOLVED message,
    and the dedup key no longer active), so the same breaker tripping again pages again,
    even within TRADEWARDEN_ALERT_DEDUP_SECONDS."""
    resolve = getattr(notifier, "resolve", None)
    if resolve is None:
        return
    for key in trip_alert_keys(risk, cleared):
        resolve(key, note)


# --- where it runs ---------------------------------------------------------------------------
class DaemonSite:
    """Inside the running daemon (on its main thread)."""

    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    @property
    def risk(self) -> RiskEngine:
        risk: RiskEngine = self.d.risk
        return risk

    @property
    def audit(self) -> Any:
        return self.d.audit

    def cancel_orders(self, reason: str) -> list[Any]:
        cancelled = list(
            self.d.gate.cancel_all(sorted(self.d.trader.by_symbol), reason=reason, everywhere=True)
        )
        # futures: HALTED also closes every position with reduceOnly MARKET orders
        close = getattr(self.d.trader, "close_on_halt", None)
        if close is not None:
            close(reason)
        return cancelled

    def halt_details(self, cancelled: list[Any]) -> dict[str, Any]:
        return {"cancelled": len(cancelled)}

    def announce_halt(self, action: str, reason: str, actor: str, cancelled: list[Any]) -> None:
        self.d.notifier.notify(
            "manual_halt",
            action=action,
            reason=reason,
            actor=actor,
            orders_cancelled=[o.client_order_id for o in cancelled],
        )

    def begin_ramp(self, why: str) -> None:
        self.d.trader.ramp.begin(why)

    def resolve_alerts(self, cleared: list[str], note: str) -> None:
        resolve_cleared_alerts(self.d.notifier, self.risk, cleared, note)

    def refresh_snapshot(self) -> None:
        self.d.write_snapshot()


@dataclass
class OfflineSite:
    """The CLI with no daemon running (it holds the daemon lock meanwhile)."""

    settings: Settings
    store: Store
    audit: Any
    risk: RiskEngine

    def cancel_orders(self, reason: str) -> list[Any]:
        return []  # nothing runs to cancel with: the daemon cancels when it starts HALTED

    def halt_details(self, cancelled: list[Any]) -> dict[str, Any]:
        return {"daemon_running": False}

    def announce_halt(self, action: str, reason: str, actor: str, cancelled: list[Any]) -> None:
        return None  # as ever, a halt recorded with no daemon running sends no alert

    def begin_ramp(self, why: str) -> None:
        SizeRamp(self.store, self.settings.restart_size_factor, self.settings.ramp_wins).begin(why)

    def resolve_alerts(self, cleared: list[str], note: str) -> None:
        """Resolve the cleared trips' alerts in the outbox itself (a RESOLVED row per
        channel the alert went to, sent at the next start; the dedup key inactive at once)."""
        from tradewarden.alerts.outbox import Outbox

        box = Outbox(self.settings.db_path, dedup_seconds=self.settings.alert_dedup_seconds)
        try:
            for key in trip_alert_keys(self.risk, cleared):
                original = box.active_alert(key)
                if original is None:
                    continue
                channels = sorted({r.channel for r in box.rows() if r.alert.dedup_key == key})
                box.enqueue(original.resolution(note), channels)
        finally:
            box.close()

    def refresh_snapshot(self) -> None:
        snap = self.store.get(StateKey.STATUS_SNAPSHOT) or {}
        if snap:
            snap.update(self.risk.status())
            snap["snapshot_ts"] = time.time()
            self.store.put(StateKey.STATUS_SNAPSHOT, snap)
