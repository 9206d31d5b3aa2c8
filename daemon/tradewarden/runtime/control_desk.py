"""The daemon's side of control requests: `halt`/`reduce`/`reset` queued by the CLI
(`tradewarden.operations.control.request_via_daemon`) are applied on the daemon's own
thread, so the audit chain has one writer; a queued halt also takes effect while the main
loop is blocked on the exchange (see `tradewarden.operations.control`)."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Protocol

from tradewarden.audit.chain import AuditLog
from tradewarden.core.models import OrderRequest
from tradewarden.risk.checks import is_reducing
from tradewarden.risk.engine import RiskEngine
from tradewarden.risk.state import TradingState
from tradewarden.runtime.halt_reset import HALT_ACTIONS, DaemonSite, apply_request, hold_halt
from tradewarden.state.store import Store
from tradewarden.trading.broker import BrokerError

log = logging.getLogger(__name__)


class ControlledDaemon(Protocol):
    """What the control desk uses of the daemon (`runtime.daemon.Daemon` has it)."""

    @property
    def store(self) -> Store: ...

    @property
    def risk(self) -> RiskEngine: ...

    @property
    def audit(self) -> AuditLog: ...


class ControlDesk:
    """The daemon's side of control requests (see the module docstring)."""

    def __init__(self, daemon: ControlledDaemon) -> None:
        self.d = daemon
        self.site = DaemonSite(daemon)  # halt/reset applied by halt_reset.py, as the CLI's
        self._in_hook = False
        expired = daemon.store.expire_stale_controls()
        if expired:
            log.warning("expired control requests not applied in time", extra={"n": expired})

    def apply_pending(self) -> None:
        """From the main loop: finish halts put in force early, then apply new requests."""
        for row in self.d.store.held_controls():
            self._apply(row, in_force=True)
        for row in self.d.store.pending_controls():
            if self.d.store.claim_control(row["id"]):
                self._apply(row, in_force=False)

    def _apply(self, row: Any, *, in_force: bool) -> None:
        try:
            result = apply_request(
                self.site,
                row["action"],
                row["reason"],
                row["actor"],
                payload=json.loads(row["payload"] or "null"),
                asked_at=float(row["ts"]),
                in_force=in_force,
            )
            self.d.store.finish_control(row["id"], "done", result)
        except Exception as exc:  # report the failure to the waiting CLI
            log.exception("control request failed", extra={"id": row["id"]})
            self.d.store.finish_control(row["id"], "failed", str(exc))

    def put_halts_in_force(self) -> None:
        """The gateway's wait hook (and the pre-send check): a queued halt takes effect now,
        persisted and audited, even while the main loop waits on the exchange. Only the
        state changes here; cancels, alert and snapshot follow in `apply_pending`."""
        if threading.current_thread() is not threading.main_thread() or self._in_hook:
            return
        self._in_hook = True
        try:
            for row in self.d.store.pending_controls(HALT_ACTIONS):
                if not self.d.store.hold_control(row["id"]):
                    continue
                result = hold_halt(self.site, row["action"], row["reason"], row["actor"])
                self.d.store.finish_control(row["id"], "held", result)
                log.warning("halt in force while waiting on the exchange", extra=result)
        finally:
            self._in_hook = False

    def before_send(self, req: OrderRequest) -> None:
        """Right before an order leaves the process (after any wait in the rate limiter):
        take in queued halts, then refuse the order if the state no longer allows it."""
        self.put_halts_in_force()
        risk = self.d.risk
        state = risk.order_state(req.bot)  # a trip's closing orders pass as REDUCING
        if state is TradingState.HALTED:
            raise BrokerError(f"not sent: trading is HALTED ({risk.state_reason or 'bot halted'})")
        position = risk.book.positions.get((req.bot, req.symbol), 0.0)
        if state is TradingState.REDUCING and not is_reducing(req, position):
            raise BrokerError("not sent: trading is REDUCING and this order adds exposure")
