"""Testnet/live main loop: poll prices, trade through the order gate, reconcile, fail closed.

One round every `TRADEWARDEN_POLL_INTERVAL_SECONDS`: the last price of each symbol
(``ticker/price``, weight 2 each) becomes a `Tick` for the trader, which books fills
(``FillPoller``, only while orders are open) and lets the bots decide. Reconciliation runs at
start (before READY) and every `TRADEWARDEN_RECONCILE_INTERVAL_SECONDS` in the same thread,
so it never races the order path.

Fail closed:
- no price this round (exchange unreachable, maintenance, rate-limit pause) -> no tick, so
  no bot can decide anything; readiness says why; the loop backs off and retries;
- reconciliation finds an order we did not place, a local order the exchange does not know,
  or a balance mismatch -> a sticky HALT (REDUCING on a shared account for order findings),
  open orders cancelled, a critical alert (a compromised key places orders too);
- reconciliation not run successfully for 3 intervals -> not ready.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from tradewarden.broker import BrokerError
from tradewarden.exchange import (
    ExchangeUnavailableError,
    RateLimitedError,
    Reconciler,
    ReconcileReport,
)
from tradewarden.models import Tick

if TYPE_CHECKING:
    from tradewarden.app import Daemon
    from tradewarden.exchange import BinanceBroker
    from tradewarden.metrics import Metrics

log = logging.getLogger(__name__)
ACTOR = "reconciliation"
MAX_BACKOFF_S = 30.0


class ExchangeStartError(Exception):
    """The exchange could not be reached or reconciled at start: do not become READY."""


class MetricsBridge:
    """The gateway's `ExchangeMetrics` hooks onto the daemon's Prometheus metrics."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def observe_latency(self, endpoint: str, seconds: float) -> None:
        self.m.api_latency.labels(endpoint).observe(seconds)

    def set_weight(self, used: int, limit: int) -> None:
        self.m.weight_used.set(used)
        self.m.weight_limit.set(limit)

    def count_response(self, code: int) -> None:
        self.m.exchange_responses.labels(str(code)).inc()


class ExchangeLoop:
    def __init__(self, daemon: Daemon, broker: BinanceBroker) -> None:
        self.d = daemon
        self.broker = broker
        self.settings = daemon.settings
        self.reconciler = Reconciler(broker, daemon.store, daemon.settings, self._on_finding)
        self.problem: str | None = "starting"
        self.last_reconciled = 0.0  # monotonic time of the last successful run
        self._next_reconcile = 0.0
        self._backoff = self.settings.poll_interval_seconds
        self.rounds = 0
        daemon.readiness_checks.append(self.readiness_reasons)

    # --- start ------------------------------------------------------------------------------
    def start(self) -> ReconcileReport:
        """Time sync, exchangeInfo, then a first reconciliation; raise if any fails."""
        try:
            self.broker.start()
            report = self.reconcile()
        except BrokerError as exc:
            raise ExchangeStartError(
                f"exchange at {self.settings.effective_binance_url} not usable at start: {exc}"
            ) from None
        self.d.trader.refresh_balances()
        self.d.risk.book.open_orders = len(self.d.store.open_orders())
        if self.d.risk.state.label == "halted" and self.d.risk.book.open_orders:
            self.d.gate.cancel_all(sorted(self.d.trader.by_symbol), reason="started HALTED")
        self.problem = None
        return report

    # --- one round --------------------------------------------------------------------------
    def reconcile(self) -> ReconcileReport:
        report = self.reconciler.run_once()
        self.last_reconciled = time.monotonic()
        self._next_reconcile = self.last_reconciled + self.settings.reconcile_interval_seconds
        self.d.metrics.reconciled_at.set(time.time())
        return report

    def round(self) -> None:
        """Prices -> ticks -> trader; reconcile when due. Raises BrokerError on trouble."""
        now_s = self.broker.timesync.server_ms() / 1000.0
        ticks = []
        for symbol in sorted(self.d.trader.by_symbol):
            p = self.broker.ticker_price(symbol)
            ticks.append(Tick(now_s, symbol, p, p, p, p, 0.0))
        for t in ticks:  # only once every price of the round is in
            self.d.trader.on_tick(t)
        if time.monotonic() >= self._next_reconcile:
            self.reconcile()
        self.rounds += 1

    def run(self) -> None:
        interval = self.settings.poll_interval_seconds
        while not self.d.stopping.is_set():
            wait = interval
            try:
                self.round()
                if self.problem is not None:
                    log.info("exchange usable again", extra={"was": self.problem})
                self.problem = None
                self._backoff = interval
            except RateLimitedError as exc:
                self._trouble("rate_limited", f"rate limited, all requests paused: {exc}")
                wait = max(interval, min(exc.retry_after, MAX_BACKOFF_S))
            except ExchangeUnavailableError as exc:
                self._trouble("maintenance", f"exchange unavailable (maintenance): {exc}")
                wait = self._next_backoff()
            except BrokerError as exc:
                self._trouble("exchange", f"exchange unreachable or erroring: {exc}")
                wait = self._next_backoff()
            self.d.housekeeping()
            self.d._wake.wait(wait)
            if self.d._wake.is_set():
                self.d.housekeeping()

    def _next_backoff(self) -> float:
        self._backoff = min(MAX_BACKOFF_S, self._backoff * 2)
        return self._backoff

    def _trouble(self, kind: str, message: str) -> None:
        if self.problem != message:
            log.warning("no trading this round", extra={"reason": message})
        self.problem = message
        self.d.metrics.errors.labels(kind).inc()

    # --- readiness --------------------------------------------------------------------------
    def readiness_reasons(self) -> list[str]:
        reasons = []
        if self.problem:
            reasons.append(self.problem)
        limit = 3 * self.settings.reconcile_interval_seconds
        if self.last_reconciled and time.monotonic() - self.last_reconciled > limit:
            reasons.append(f"reconciliation older than {limit:.0f}s")
        return reasons

    # --- findings ---------------------------------------------------------------------------
    def _on_finding(self, report: ReconcileReport) -> None:
        """A security event: stop (sticky), cancel ours, tell a human."""
        reducing = report.action == "reduce"
        reason = report.summary()
        self.d.risk.halt(reason, ACTOR, reducing=reducing)
        cancelled = []
        if not reducing:
            cancelled = self.d.gate.cancel_all(sorted(self.d.trader.by_symbol), reason=reason)
        state = self.d.risk.state.label.upper()
        self.d.audit.append(
            "security_event",
            {"reconcile": report.to_dict(), "state": state, "cancelled": len(cancelled)},
            actor=ACTOR,
            sync=True,
        )
        ids = [o.client_order_id for o in cancelled]
        for o in report.unknown_on_exchange:
            self.d.notifier.notify(
                "foreign_order",
                symbol=o.symbol,
                order_id=o.exchange_order_id or "?",
                client_order_id=o.client_order_id,
                side=str(o.side),
                qty=o.qty,
                price=o.price,
                state=state,
                orders_cancelled=ids,
            )
        if report.missing_on_exchange or report.balance_mismatches:
            self.d.notifier.notify(
                "system_error",
                component="reconciliation",
                error=f"{report.summary()}",
                state=state,
                actions=[f"cancelled {len(ids)} open orders"] if ids else [],
            )
        self.d.metrics.errors.labels("reconciliation_mismatch").inc()
        self.d.write_snapshot()
