"""Testnet/live main loop: poll prices, trade through the order gate, reconcile, fail closed.

One round every `TRADEWARDEN_POLL_INTERVAL_SECONDS`: the last price of each symbol
(``ticker/price``, weight 2 each) becomes a `Tick` for the trader, which books fills
(``FillPoller``, only while orders are open) and lets the bots decide. Reconciliation runs at
start (before READY) and every `TRADEWARDEN_RECONCILE_INTERVAL_SECONDS` in the same thread,
so it never races the order path.

Fail closed:
- no price this round (exchange unreachable, maintenance, rate-limit pause, the trade key
  past its secret TTL + grace) -> no tick, so no bot can decide anything; readiness says
  why; the loop backs off and retries;
- reconciliation finds an order we did not place, a local order the exchange does not know,
  or a balance mismatch -> a sticky HALT (REDUCING on a shared account for order findings),
  open orders cancelled, a critical alert (a compromised key places orders too);
- reconciliation not run successfully for 3 intervals -> not ready.

Before READY, `recover_interrupted` finishes what a crash (kill -9) cut short; see there.
"""

from __future__ import annotations

import json
import logging
import math
import time
from typing import TYPE_CHECKING, Any

from tradewarden.alerts.catalogue import trip_dedup_key
from tradewarden.core.models import OrderStatus, Tick
from tradewarden.exchange import (
    ExchangeUnavailableError,
    RateLimitedError,
    Reconciler,
    ReconcileReport,
)
from tradewarden.risk.breakers import ConsecutiveLosses, Observation
from tradewarden.risk.engine import Trip
from tradewarden.secrets.errors import SecretError
from tradewarden.state.store import fill_from_row
from tradewarden.trading.bot_ledger import ClosedTrade, Ledger
from tradewarden.trading.broker import BrokerError, ExchangeBroker

if TYPE_CHECKING:
    from tradewarden.alerts.outbox import Outbox
    from tradewarden.runtime.daemon import Daemon
    from tradewarden.runtime.metrics import Metrics

log = logging.getLogger(__name__)
ACTOR = "reconciliation"
MAX_BACKOFF_S = 30.0
HOUSEKEEPING_EVERY_S = 0.2  # controls, watchdog, snapshot while waiting between rounds
RESOLVE_MARGIN_S = 0.5  # past the reconciler's own expiry margin (the setting)
UNRESOLVED = (OrderStatus.PENDING, OrderStatus.UNKNOWN)


class ExchangeStartError(Exception):
    """The exchange could not be reached or reconciled at start: do not become READY.
    `cause`: the gateway's error (startup.heals_by_itself decides whether to wait)."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


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

    def count_error(self, kind: str) -> None:
        self.m.errors.labels(kind).inc()


class ExchangeLoop:
    def __init__(self, daemon: Daemon, broker: ExchangeBroker) -> None:
        self.d = daemon
        self.broker = broker
        self.settings = daemon.settings
        self.reconciler = Reconciler(broker, daemon.store, daemon.settings, self._on_finding)
        self.problem: str | None = "starting"
        self.last_reconciled = 0.0  # monotonic time of the last successful run
        self._next_reconcile = 0.0
        self._backoff = self.settings.poll_interval_seconds
        self._balances_stale = False
        # the exchange's clock read every TRADEWARDEN_CLOCK_CHECK_SECONDS (weight 1): the
        # signing offset follows a drifting host clock before Binance answers -1021, and
        # tradewarden_clock_skew_seconds shows the drift (and its end once NTP is fixed)
        self._next_clock = time.monotonic() + self.settings.clock_check_seconds
        self._uncounted = True
        daemon.readiness_checks.append(self.readiness_reasons)

    # --- start ------------------------------------------------------------------------------
    def start(self) -> ReconcileReport:
        """Time sync, exchangeInfo, then a first reconciliation; raise if any fails."""
        try:
            self.broker.start()
            report = self.reconcile()
        except BrokerError as exc:
            raise ExchangeStartError(
                f"exchange at {self.settings.effective_binance_url} not usable at start: {exc}",
                exc,
            ) from None
        self.d.trader.refresh_balances()
        for symbol in sorted(self.d.trader.by_symbol):
            self.d.trader.learn_dust(symbol)
        self.d.risk.set_open_orders(len(self.d.store.open_orders()))
        if self.d.risk.state.label == "halted" and self.d.risk.book.open_orders:
            self.d.gate.cancel_all(sorted(self.d.trader.by_symbol), reason="started HALTED")
        recover_interrupted(self.d)
        self.problem = None
        return report

    # --- one round --------------------------------------------------------------------------
    def reconcile(self) -> ReconcileReport:
        # symbol status (TRADING / HALT / BREAK) and filters can change at any time
        self.broker.load_exchange_info()
        report = self.reconciler.run_once()
        self.last_reconciled = time.monotonic()
        self._next_reconcile = self.last_reconciled + self.settings.reconcile_interval_seconds
        if self._unresolved_symbols():
            # an order whose outcome is unknown can only be settled once its request can no
            # longer land (timestamp + recvWindow): look again right after that, not a
            # whole interval later (its symbol is blocked until then)
            soon = self.last_reconciled + self._settle_delay()
            self._next_reconcile = min(self._next_reconcile, soon)
        self._unblock_resolved()
        self.d.metrics.reconciled_at.set(time.time())
        return report

    def _unresolved_symbols(self) -> set[str]:
        return {o.symbol for o in self.d.store.open_orders() if o.status in UNRESOLVED}

    def _unblock_resolved(self) -> None:
        """A symbol blocked by an order of unknown outcome trades again once no order of it
        is PENDING/UNKNOWN any more (resolved by query or reconciliation, never resent)."""
        blocked = self.d.risk.book.unknown_symbols
        if not blocked:
            return
        cleared = blocked - self._unresolved_symbols()
        if cleared:
            self.d.risk.unblock_symbols(cleared)
            log.info("order outcome resolved: trading again", extra={"symbols": sorted(cleared)})

    def round(self) -> None:
        """Prices -> ticks -> trader; reconcile when due. Raises BrokerError on trouble."""
        if self._balances_stale:
            # a failed round may have cut a fill's balance refresh short: the pre-trade
            # balance check would then refuse the exit of the position just bought
            self.d.trader.refresh_balances()
            self._balances_stale = False
        if time.monotonic() >= self._next_clock:
            self._next_clock = time.monotonic() + self.settings.clock_check_seconds
            self.broker.sync_time()
        now_s = self.broker.timesync.server_ms() / 1000.0
        ticks = []
        for symbol in sorted(self.d.trader.by_symbol):
            p = self.broker.ticker_price(symbol)
            ticks.append(Tick(now_s, symbol, p, p, p, p, 0.0))
        for t in ticks:  # only once every price of the round is in
            self.d.trader.on_tick(t)
        if self._reconcile_due():
            self.reconcile()
        else:
            self._unblock_resolved()  # the fill poller may have resolved one by query

    def _settle_delay(self) -> float:
        """How long after a request was sent it can no longer land (recvWindow + margin)."""
        return (
            self.settings.recv_window_ms / 1000.0
            + self.settings.order_expiry_margin_seconds
            + RESOLVE_MARGIN_S
        )

    def _reconcile_due(self) -> bool:
        now = time.monotonic()
        if now >= self._next_reconcile:
            return True
        # an order the gateway gave up asking about blocks its symbol: settle it as soon as
        # reconciliation can (the request is long past recvWindow by now), not an interval on
        return bool(self.d.risk.book.unknown_symbols) and (
            now >= self.last_reconciled + self._settle_delay()
        )

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
            except BrokerError as exc:
                self._balances_stale = True
                wait = self._on_error(exc, interval)
            self.d.housekeeping()
            self._pause(wait)

    def _pause(self, seconds: float) -> None:
        """Wait before the next round without starving housekeeping: a back-off of up to
        30 s (a ban, maintenance) still applies halt/reset requests within ~0.2 s, feeds
        the systemd watchdog and refreshes the status snapshot and metrics."""
        deadline = time.monotonic() + seconds
        while not self.d.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.d._wake.wait(min(left, HOUSEKEEPING_EVERY_S))
            self.d.housekeeping()

    def _on_error(self, exc: BrokerError, interval: float) -> float:
        """Say why there is no trading; how long to wait before the next round. The error
        is counted where its request failed (`ExchangeClient.call`), once per request; one
        that did not come from a request is counted here."""
        self._uncounted = not getattr(exc, "counted", False)
        if isinstance(exc, RateLimitedError):
            self._trouble("rate_limited", f"rate limited, all requests paused: {exc}")
            return max(interval, min(exc.retry_after, MAX_BACKOFF_S))
        if isinstance(exc, SecretError):  # past TTL + grace without a fresh read: no key
            self._trouble("secrets", f"trade key unavailable from the secret source: {exc}")
            return self._next_backoff()
        if isinstance(exc, ExchangeUnavailableError):
            self._trouble("maintenance", f"exchange unavailable (maintenance): {exc}")
            return self._next_backoff()
        self._trouble("exchange", f"exchange unreachable or erroring: {exc}")
        return self._next_backoff()

    def _next_backoff(self) -> float:
        self._backoff = min(MAX_BACKOFF_S, self._backoff * 2)
        return self._backoff

    def _trouble(self, kind: str, message: str) -> None:
        if self.problem != message:
            log.warning("no trading this round", extra={"reason": message})
        self.problem = message
        if self._uncounted:
            self.d.metrics.errors.labels(kind).inc()

    # --- readiness --------------------------------------------------------------------------
    def readiness_reasons(self) -> list[str]:
        reasons = []
        if self.problem:
            reasons.append(self.problem)
        for symbol in sorted(self.d.trader.by_symbol):
            state = self.broker.symbol_status(symbol)
            if state is not None and state != "TRADING":
                reasons.append(f"{symbol} is {state} on the exchange, not TRADING: no orders on it")
        limit = 3 * self.settings.reconcile_interval_seconds
        if self.last_reconciled and time.monotonic() - self.last_reconciled > limit:
            reasons.append(f"reconciliation older than {limit:.0f}s")
        return reasons

    # --- findings ---------------------------------------------------------------------------
    def _on_finding(self, report: ReconcileReport) -> None:
        """A security event: stop (sticky), cancel ours, tell a human."""
        reducing = report.action == "reduce"
        reason = report.summary()
        cancelled = self.d.security_halt(
            reason, ACTOR, {"reconcile": report.to_dict()}, reducing=reducing
        )
        state = self.d.risk.state.label.upper()
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


# --- crash recovery -------------------------------------------------------------------------
def recover_interrupted(d: Daemon) -> list[str]:
    """Finish what a crash cut short, before READY. Returns what was done (also audited).

    Each step is committed in its own transaction in the live path, so a kill -9 can fall
    between two of them (the crash chaos test kills at each of these points):

    1. a closing fill booked, its round trip not recorded or not yet seen by the
       consecutive-losses breaker -> record it and let the breaker see it now (it trips
       here if the streak reached the limit);
    2. a breaker trip committed, but its cancel-all, audit entry and alert not done ->
       run the trip actions now (cancel, audit, alert), once;
    3. an alert claimed for delivery by the dead process (leased for a minute) -> due
       again at once. The one that was being sent at the kill may reach its channel twice
       (same outbox id: Slack metadata, email Message-ID); never zero times.

    Paper mode has the same windows; this function only needs a started `Daemon`.
    """
    done = _catch_up_round_trips(d)
    done += _alert_unalerted_trips(d)
    done += _release_alert_leases(d)
    if done:
        d.audit.append("start_recovery", {"done": done}, sync=True)
        log.warning("finished at start what the last run left undone", extra={"done": done})
    return done


def _closed_trades(d: Daemon) -> dict[str, list[ClosedTrade]]:
    """Every round trip the booked fills close, per bot (the daemon's ledger, replayed)."""
    ledger = Ledger([(b.name, b.symbol) for b in d.bots], d.settings.starting_balance_usdt)
    ledger.dust = dict(d.trader.ledger.dust)  # round trips end where the live ledger's do
    out: dict[str, list[ClosedTrade]] = {b.name: [] for b in d.bots}
    for r in d.store.fills():
        closed = ledger.apply(fill_from_row(r))
        if closed is not None and closed.bot in out:
            out[closed.bot].append(closed)
    return out


def _catch_up_round_trips(d: Daemon) -> list[str]:
    breaker = next((b for b in d.risk.breakers if isinstance(b, ConsecutiveLosses)), None)
    closed = _closed_trades(d)
    resets = d.store.resets()
    done: list[str] = []
    for bot, trades in closed.items():
        last_reset = _last_count_reset(resets, bot)
        recorded = len(d.store.trades(bot))
        for t in trades[recorded:]:  # booked fills whose round trip was never recorded
            d.store.record_trade(t.bot, t.symbol, t.pnl, t.ts)
            if d.trader.ramp is not None:
                d.trader.ramp.on_trade(t.pnl)
            done.append(f"round trip of {bot} at {t.ts:.3f} recorded")
        if breaker is None:
            continue
        # the breaker's count is a function of the round trips since the last reset
        since = [t for t in trades if t.ts > last_reset]
        streak = 0
        for t in reversed(since):
            if t.pnl >= 0:
                break
            streak += 1
        seen = breaker.losses.get(bot, 0)
        unseen: list[ClosedTrade] = []
        if streak > seen:
            unseen = since[len(since) - (streak - seen) :]
        elif streak == 0 and seen > 0 and since:
            unseen = since[-1:]  # the closing win was not seen: the count restarts
        for t in unseen:
            d.risk.observe(Observation("trade", bot, t.ts, pnl=t.pnl))
            done.append(f"round trip of {bot} at {t.ts:.3f} shown to the breakers")
    return done


def _last_count_reset(resets: list[Any], bot: str) -> float:
    """When `bot`'s consecutive-loss count last restarted: a scoped reset that cleared its
    trip, or any reset from before scoped resets (those cleared every counter)."""
    key = f"consecutive_losses:{bot}"
    times = [
        float(r["ts"])
        for r in resets
        if not r["scope"] or r["scope"] == "{}" or key in json.loads(r["cleared"] or "[]")
    ]
    return max(times, default=-math.inf)


def _outbox(d: Daemon) -> Outbox | None:
    outbox: Outbox | None = getattr(d.notifier, "outbox", None)  # the dispatcher's
    return outbox


def _alerted_since(d: Daemon, dedup_key: str, since: float) -> bool:
    """An alert under `dedup_key` was enqueued at/after `since` (outbox row, or its dedup
    record once delivered rows are pruned)."""
    rows = d.store.query(
        "SELECT 1 FROM alert_outbox WHERE dedup_key=? AND created_at>=? UNION ALL"
        " SELECT 1 FROM alert_dedup WHERE dedup_key=? AND sent_at>=?",
        (dedup_key, since, dedup_key, since),
    )
    return bool(rows)


def _alert_unalerted_trips(d: Daemon) -> list[str]:
    if _outbox(d) is None:
        return []  # no persisted outbox (tests with a plain notifier): nothing to compare
    by_name = {b.name: b for b in d.risk.breakers}
    done: list[str] = []
    for row in d.store.tripped():
        breaker = by_name.get(row["breaker"])
        if breaker is None:
            continue
        scope_all = d.risk.trip_halts_all(breaker, row["bot"])
        key = trip_dedup_key(breaker.name, row["bot"], emergency=breaker.emergency)
        tripped_at = float(row["tripped_at"] or 0.0)
        if _alerted_since(d, key, tripped_at - 1.0):
            continue
        trip = Trip(
            breaker.name,
            row["bot"],
            float(row["value"] or 0.0),
            float(row["threshold"] or breaker.threshold),
            row["reason"] or f"{breaker.name} tripped",
            breaker.emergency,
            scope_all,
            tripped_at,
        )
        for hook in d.risk.hooks.on_trip:  # cancel, audit, alert: what the crash cut short
            hook(trip)
        done.append(f"trip {breaker.name}:{row['bot']} alerted")
    return done


def _release_alert_leases(d: Daemon) -> list[str]:
    outbox = _outbox(d)
    if outbox is None:
        return []
    now = outbox.clock()
    late = [r for r in outbox.rows(pending_only=True) if r.next_attempt_at > now]
    for r in late:
        outbox.release(r.id, now)
    return [f"{len(late)} pending alert(s) due now"] if late else []
