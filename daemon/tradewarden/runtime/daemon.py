"""Build the daemon from settings and run it.

`Daemon` wires: lock -> state (SQLite) -> audit -> risk engine -> broker -> order gate ->
trader, and runs the main loop (paper replay of a scenario, or the exchange loop). It is
what `tradewarden run` starts and what the tests start in a subprocess.
"""

from __future__ import annotations

import hashlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tradewarden import __version__
from tradewarden.audit.anchor import AnchorJob, S3Anchor
from tradewarden.audit.chain import UNSET, AuditConfigError, canonical, open_audit, recorded_head
from tradewarden.core.config import Mode, Settings
from tradewarden.core.models import Fill, Order, Side, Tick
from tradewarden.risk.checks import split_symbol
from tradewarden.risk.engine import RiskEngine, TradingStateChanged
from tradewarden.risk.ramp import SizeRamp
from tradewarden.risk.state import TradingState
from tradewarden.runtime.control_desk import ControlDesk
from tradewarden.runtime.lock import DaemonLock
from tradewarden.runtime.metrics import Metrics
from tradewarden.runtime.self_alerts import announce_executed_rebalances, breaker_scopes
from tradewarden.runtime.watch import ActivityWatch
from tradewarden.secrets.value import Secret
from tradewarden.state.keys import StateKey
from tradewarden.state.store import Store, fill_from_row
from tradewarden.strategy import Signal, build_strategy
from tradewarden.trading.bot_ledger import Ledger, load_dust
from tradewarden.trading.broker import Broker, ExchangeBroker
from tradewarden.trading.futures_trader import FuturesTrader
from tradewarden.trading.market_data import load_scenario
from tradewarden.trading.order_gate import OrderGate, Submission
from tradewarden.trading.order_tracker import OrderFinding
from tradewarden.trading.paper_broker import PaperBroker
from tradewarden.trading.paper_futures import PaperFuturesBroker, paper_futures_broker
from tradewarden.trading.trader import Bot, Notifier, Trader
from tradewarden.wallet.approvals import ApprovalQueue
from tradewarden.wallet.ledger import check_rebalance, declared_cold
from tradewarden.wallet.ledger import view as wallet_view

log = logging.getLogger(__name__)
# error kinds the rules watch: each series exists from the start (rate()/increase() see the
# first error)
ERROR_KINDS = ("exchange", "maintenance", "rate_limited", "reconciliation_mismatch", "secrets")
SNAPSHOT_EVERY = 1.0  # seconds of wall time between status snapshots
CONTROL_EVERY = 0.2  # seconds between checks for queued halt/reset requests


class StartupError(Exception):
    """The daemon cannot start safely; the message says why."""


@dataclass
class LiveDecision:
    mode: Mode
    blockers: list[str]


def decide_mode(settings: Settings) -> LiveDecision:
    """The live gate on the settings alone (no exchange call): what a start would at most
    run, and every condition that keeps it out of live. `tradewarden run` decides with the
    run-time checks too (`tradewarden.runtime.wiring.plan_run`)."""
    from tradewarden.live.gate import live_gate

    g = live_gate(settings)
    if g.mode is Mode.PAPER and settings.mode is Mode.TESTNET:
        # the key is not read here: assume it is recorded as a testnet key
        assumed = live_gate(settings, key_scope="testnet")
        if assumed.mode is Mode.TESTNET:
            g = assumed
    return LiveDecision(g.mode, list(g.blockers) + ([g.fallback] if g.fallback else []))


class Daemon:
    def __init__(
        self,
        settings: Settings,
        *,
        notifier: Notifier,
        decision: LiveDecision | None = None,
        broker: Broker | None = None,
        make_broker: Callable[[Store, Metrics], ExchangeBroker] | None = None,
        audit_key: Secret | None = UNSET,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        """`broker`: a ready broker (tests); `make_broker(store, metrics)`: the exchange
        gateway, built once the state is open. Neither: the paper broker. With an exchange,
        open orders are resolved by the first reconciliation (`ExchangeLoop.start`).
        `audit_key`: the audit HMAC key (default: read from the configured secret source).
        `progress(status)`: called while a slow start-up step makes progress (the audit
        chain's verification; the runner extends systemd's start timeout from it)."""
        self.settings = settings
        self.decision = decision or LiveDecision(Mode.PAPER, ["paper mode requested"])
        self.lock = DaemonLock(settings.state_dir)
        if not self.lock.acquire():
            raise StartupError(
                f"another tradewarden daemon holds {self.lock.path} (pid {self.lock.holder_pid()});"
                " stop it first"
            )
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self.metrics = Metrics()
        self.readiness_checks: list[Callable[[], list[str]]] = []
        # the exchange loop's stream health for status, diagnose and /readyz (testnet/live)
        self.streams_view: Callable[[], dict[str, Any]] | None = None
        try:
            self.store = Store(settings.db_path, durable=self.decision.mode is not Mode.PAPER)
            self.store.observe = self.metrics.db_time.observe  # every query and transaction
            try:
                self.audit = open_audit(settings, self.store, key=audit_key)
            except AuditConfigError as exc:
                raise StartupError(str(exc)) from None
            self._check_audit_chain(settings, progress)
            # schema migrations this state file went through (`state.schema`): audited once
            self.store.audit_migrations(
                lambda db, m: self.audit.append("state_schema_migrated", m, db=db, sync=True)
            )
            self.audit.prune()
            specs = settings.bot_specs()
            self.bots = [Bot(n, s, build_strategy(st)) for n, s, st in specs]
            for bot in self.bots:
                if bot.symbol not in settings.symbols:
                    raise StartupError(
                        f"TRADEWARDEN_BOTS: bot {bot.name} trades {bot.symbol}, which is not in"
                        " TRADEWARDEN_SYMBOLS"
                    )
            self.ledger = Ledger(
                [(b.name, b.symbol) for b in self.bots], settings.starting_balance_usdt
            )
            # unsellable leftovers per symbol (learned from the exchange's lot filters by the
            # trader, kept in the store) end round trips the same way on every start
            self.ledger.dust = load_dust(self.store)
            past_fills = [fill_from_row(r) for r in self.store.fills()]
            for f in past_fills:
                self.ledger.apply(f)
            self.risk = RiskEngine(settings, self.store, [b.name for b in self.bots])
            for b in self.bots:
                self.risk.set_position(b.name, b.symbol, self.ledger.books[b.name].qty)
            replaying = broker is None and make_broker is None
            # the exchange gateway (reconciliation and the exchange loop use it), if any
            self.exchange_broker: ExchangeBroker | None = None
            if make_broker is not None:
                broker = self.exchange_broker = make_broker(self.store, self.metrics)
            if broker is None and settings.futures_enabled:  # paper USD-M futures
                broker = paper_futures_broker(settings, past_fills)
            self.broker: Broker = broker or PaperBroker(_paper_balances(settings, past_fills))
            self.exchange = make_broker is not None
            self.gate = OrderGate(self.risk, self.broker, self.store, self.audit)
            # an order event the tracker refused (no order of ours has that client order id)
            # is audited; it is never booked, and if money moved, reconciliation's balance
            # check halts
            self.gate.tracker.on_finding.append(self._audit_order_finding)
            self.gate.on_foreign.append(self.alert_foreign_orders)  # a halt's sweep found
            trader_cls: type[Trader] = Trader
            if isinstance(self.broker, PaperFuturesBroker) or (
                self.exchange and settings.futures_enabled
            ):  # paper futures, or the /fapi gateway (`exchange.futures_gateway`)
                trader_cls = FuturesTrader
            self.trader = trader_cls(
                risk=self.risk,
                gate=self.gate,
                broker=self.broker,
                store=self.store,
                audit=self.audit,
                ledger=self.ledger,
                bots=self.bots,
                notifier=notifier,
                order_fraction=settings.order_fraction,
                flatten_on_emergency=settings.flatten_on_emergency,
                close_positions_on_trip=settings.close_positions_on_trip,
            )
            self.approvals = ApprovalQueue(settings, self.store, self.audit)
            self.trader.ramp = SizeRamp(
                self.store, settings.restart_size_factor, settings.ramp_wins
            )
            if replaying:  # paper replay: rate windows run on market time
                self.gate.clock = lambda: self.trader.now
        except BaseException:
            self.lock.release()
            raise
        self.notifier = notifier
        # large position, unusual activity, low balance (watch.py); a system critical error
        # (critical.py) sets `critical`: HALTED, not ready, no more trading in this run
        self.watch = ActivityWatch(settings, self.trader, notifier)
        self.watch.attach()
        self.critical: str | None = None
        self.controls = ControlDesk(self)
        # a halt takes effect while the loop waits on the exchange, and stops the order it
        # waits to send (see tradewarden.operations.control)
        for attr, hook in (
            ("on_wait", self.controls.put_halts_in_force),
            ("before_send", self.controls.before_send),
        ):
            hooks = getattr(self.broker, attr, None)
            if isinstance(hooks, list):
                hooks.append(hook)
        if not self.exchange:
            self.resolve_open_orders()
        self._last_snapshot = 0.0
        self._last_control = 0.0
        self.on_housekeeping: list[Callable[[], None]] = []
        self.metrics.build_info.labels(__version__, self.decision.mode.value).set(1)
        for b in self.bots:  # every series exists from the start, so rate() and absent() work
            for outcome in ("submitted", "rejected", "denied", "unknown"):
                self.metrics.orders.labels(b.name, outcome)
        for kind in ERROR_KINDS:
            self.metrics.errors.labels(kind)
        self._alert_counts: dict[tuple[str, str], int] = {}
        self.metrics.declare_breakers(breaker_scopes(self.risk, [b.name for b in self.bots]))
        self.risk.hooks.on_trip.append(lambda t: self.metrics.count_trip(t.breaker, t.bot))
        self.risk.hooks.on_state_changed.append(self._on_state_changed)
        self.trader.events.on_order.append(self._count_order)
        self.started = False
        self.outbox_stats: Callable[[], Any] | None = None
        self._audit_start(settings)
        self.anchor_job: AnchorJob | None = None
        self._anchor_failures_seen = 0
        if settings.audit_anchor_bucket:
            self.anchor_job = AnchorJob(
                self.audit,
                S3Anchor.from_settings(settings),
                settings.audit_anchor_interval_seconds,
            )
            self.anchor_job.start()

    def _check_audit_chain(
        self, settings: Settings, progress: Callable[[str], None] | None = None
    ) -> None:
        """The chain must verify, HMACs included, and reach the head SQLite recorded."""
        head = recorded_head(self.store)
        if head is None and not settings.audit_dir.is_dir():
            return
        refs = [head] if head is not None else []
        if settings.audit_anchor_bucket:
            # the off-host anchor too: a chain cut behind it (files and database head rolled
            # back together) is refused like a broken one; an S3 outage is not (the anchor
            # job logs it and retries)
            from tradewarden.audit.anchor import AnchorError

            remote = S3Anchor.from_settings(settings)
            try:
                found = remote.read()
            except AnchorError as exc:
                log.warning("audit anchor not checked at start", extra={"error": str(exc)})
                found = None
            if found is not None:
                refs.append(found.as_head(remote.describe()))
        tick = None
        if progress is not None:
            report = progress

            def tick(n: int) -> None:
                report(f"starting: verifying the audit chain, {n} entries checked")

        chain = self.audit.verify_chain(refs, progress=tick)
        if not chain.ok:
            raise StartupError(
                f"refusing to start: {chain.describe()}. Treat it as a security event "
                "(runbooks/audit-chain-broken.md): preserve the directory as evidence, "
                "move it aside, and begin a new chain with `tradewarden audit new-chain`."
            )

    def _audit_start(self, settings: Settings) -> None:
        """`daemon_started` records the effective config (redacted) and its SHA-256; a
        config that differs from the last start's is also audited as `config_changed`."""
        config = safe_config(settings)
        digest = hashlib.sha256(canonical(config)).hexdigest()
        previous = self.store.get(StateKey.AUDIT_CONFIG) or {}
        changed = sorted(k for k in set(config) | set(previous) if config.get(k) != previous.get(k))
        self.audit.append(
            "daemon_started",
            {
                "version": __version__,
                "mode": self.decision.mode.value,
                "why_not_live": self.decision.blockers,
                "config": config,
                "config_sha256": digest,
                "state": self.risk.state.label,
            },
            sync=True,
        )
        if previous and changed:
            self.audit.append(
                "config_changed",
                {
                    "previous_sha256": self.store.get(StateKey.AUDIT_CONFIG_SHA256),
                    "config_sha256": digest,
                    "changed": {k: [previous.get(k), config.get(k)] for k in changed},
                },
                sync=True,
            )
        self.store.put_many({StateKey.AUDIT_CONFIG: config, StateKey.AUDIT_CONFIG_SHA256: digest})

    def resolve_open_orders(self) -> None:
        """At start, ask the broker about every order we left open or unresolved.

        Never resend: an order the broker does not know did not happen (EXPIRED); one it
        knows takes the broker's status. While HALTED, open orders are cancelled.
        """
        for o in self.store.open_orders():
            if self.store.fills_for(o.client_order_id) and o.filled_qty >= o.qty - 1e-12:
                continue  # booked with its fills; nothing to resolve
            found = self.broker.query(o.symbol, o.client_order_id)
            if found is None:
                self.gate.tracker.mark_expired(o.client_order_id, verdict=False)
                self.audit.append(
                    "order_resolved",
                    {
                        "client_order_id": o.client_order_id,
                        "status": "EXPIRED",
                        "why": "unknown to broker",
                    },
                )
            else:
                self.gate.tracker.process_order_update(found)
                self.audit.append(
                    "order_resolved",
                    {"client_order_id": o.client_order_id, "status": str(found.status)},
                )
        self.risk.set_open_orders(len(self.store.open_orders()))
        if self.risk.state is TradingState.HALTED and self.risk.book.open_orders:
            self.gate.cancel_all(sorted({b.symbol for b in self.bots}), reason="started HALTED")

    # --- lifecycle --------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.request_stop())
        signal.signal(signal.SIGINT, lambda *_: self.request_stop())
        signal.signal(signal.SIGUSR1, lambda *_: self._wake.set())

    def request_stop(self) -> None:
        self.stopping.set()
        self._wake.set()

    def close(self) -> None:
        self.write_snapshot(final=True)
        self.audit.append("daemon_stopped", {"ticks": self.trader.ticks}, sync=True)
        if self.anchor_job is not None:
            self.anchor_job.stop(final=True)  # the head after daemon_stopped goes off-host
        self.audit.close()
        self.store.close()
        self.lock.release()

    # --- main loop --------------------------------------------------------------------------
    def replay(
        self, ticks: Iterable[Tick], on_progress: Callable[[Tick], None] | None = None
    ) -> int:
        """Feed a scenario. Resumes after the last event a previous run processed."""
        resume_ts = float(self.store.get(StateKey.REPLAY_LAST_TS, float("-inf")))
        pace = 1.0 / self.settings.replay_speed if self.settings.replay_speed else 0.0
        started = time.monotonic()
        n = 0
        last_ts = resume_ts
        for tick in ticks:
            if self.stopping.is_set():
                break
            if tick.ts <= resume_ts:
                self._warm(tick)
                continue
            self.trader.on_tick(tick)
            last_ts = tick.ts
            n += 1
            if pace:
                delay = started + n * pace - time.monotonic()
                if delay > 0:
                    self._wake.wait(delay)
            if on_progress is not None:
                on_progress(tick)
            self.housekeeping(last_ts)
        self.store.put(StateKey.REPLAY_LAST_TS, last_ts)
        return n

    def _warm(self, tick: Tick) -> None:
        """Replay already-processed history into strategies and prices, placing nothing."""
        on_tick = getattr(self.broker, "on_tick", None)
        if on_tick is not None:
            on_tick(tick)
        self.trader.prices[tick.symbol] = tick.close
        self.ledger.mark(tick.symbol, tick.close)
        for bot in self.trader.by_symbol.get(tick.symbol, ()):
            bot.strategy.on_tick(tick, self.ledger.books[bot.name].qty)

    def housekeeping(self, last_ts: float | None = None) -> None:
        for hook in self.on_housekeeping:
            hook()
        self.watch.check_balances()  # cheap: the balances the last fill/refresh left
        now = time.monotonic()
        if self._wake.is_set() or now - self._last_control >= CONTROL_EVERY:
            self._wake.clear()
            self._last_control = now
            self.apply_controls()
        if now - self._last_snapshot >= SNAPSHOT_EVERY:
            self._last_snapshot = now
            self.check_wallet()
            if last_ts is not None:
                self.store.put(StateKey.REPLAY_LAST_TS, last_ts)
            self.write_snapshot()

    def check_wallet(self) -> None:
        """Once a cold wallet is declared, propose a rebalance when hot drifts 80-120%."""
        cold = declared_cold(self.store)
        if not cold["address"]:
            return
        announce_executed_rebalances(self)
        w = wallet_view(
            self.store, self.ledger.portfolio_equity(), self.settings.hot_wallet_percentage
        )
        p = check_rebalance(self.approvals, w)
        if p is not None:
            self.notifier.notify(
                "rebalance_proposed",
                direction=str(p.direction),
                amount_usd=round(p.amount, 2),
                reason=p.reason,
            )

    def apply_controls(self) -> None:
        self.controls.apply_pending()

    # --- views ------------------------------------------------------------------------------
    def _audit_order_finding(self, finding: OrderFinding) -> None:
        self.audit.append("order_finding", finding.as_dict(), sync=True)

    def alert_foreign_orders(self, found: list[Order], cancelled: list[Order]) -> None:
        """Open orders not ours, found by reconciliation or by a halt's sweep of every symbol
        (`OrderGate.cancel_elsewhere`): one critical ``foreign_order`` alert each, naming the
        orders the halt cancelled."""
        ids = [o.client_order_id for o in cancelled]
        for o in found:
            self.notifier.notify(
                "foreign_order",
                symbol=o.symbol,
                order_id=o.exchange_order_id or "?",
                client_order_id=o.client_order_id,
                side=str(o.side),
                qty=o.qty,
                price=o.price,
                state=self.risk.state.label.upper(),
                orders_cancelled=ids,
            )

    def security_halt(
        self, reason: str, actor: str, record: dict[str, Any], *, reducing: bool = False
    ) -> list[Order]:
        """A security finding (reconciliation, key permissions, the audit chain) stops
        trading: a sticky HALT (REDUCING when `reducing`), our open orders cancelled (not when
        reducing), and a synced ``security_event`` audit entry: `record` plus the state and
        the number cancelled. Returns the cancelled orders; alerting is the caller's."""
        self.risk.halt(reason, actor, reducing=reducing)
        cancelled: list[Order] = []
        if not reducing:
            cancelled = self.gate.cancel_all(
                sorted(self.trader.by_symbol), reason=reason, everywhere=True
            )
        self.audit.append(
            "security_event",
            {**record, "state": self.risk.state.label.upper(), "cancelled": len(cancelled)},
            actor=actor,
            sync=True,
        )
        return cancelled

    def status(self) -> dict[str, Any]:
        s = self.risk.status()
        s.update(
            mode=self.decision.mode.value,
            why_not_live=self.decision.blockers,
            open_orders=len(self.store.open_orders()),
            equity=self.trader.equity_summary(),
            size_factor=self.trader.ramp.factor if self.trader.ramp else 1.0,
            ticks=self.trader.ticks,
            version=__version__,
        )
        if self.streams_view is not None:
            s["streams"] = self.streams_view()
        return s

    def _on_state_changed(self, event: TradingStateChanged) -> None:
        """Every trading-state change (RiskEngine._set_state), whatever caused it: the gauge
        follows at once (not only at the next snapshot), the change is logged and audited
        (`trading_state_changed`: state, previous, reason, cause, the bots that changed).
        The cause's own entry and alert carry what only the cause knows (the reading that
        tripped, the orders cancelled) and are written where it is handled:
        `breaker_tripped` and the trip alert (Trader._on_trip), `halt`/`reduce`/`reset` and
        the manual-halt alert (runtime/halt_reset.py), `security_event` (reconciliation, key
        permissions, the audit watch), the emergency stop's and the system error's."""
        self.metrics.set_trading_state(event.state.label)
        record = {
            "state": event.state.label,
            "previous": event.previous.label,
            "reason": event.reason,
            "cause": event.cause,
            "bots": {b: event.bots[b].label for b in event.changed_bots if b in event.bots},
        }
        log.warning("trading state changed", extra=record)
        # the audit log may be what failed (a broken chain halts in memory first): the
        # subscriber's failure is logged by the engine and stops nothing
        self.audit.append("trading_state_changed", record)

    def _count_order(self, bot: Bot, signal: Signal, sub: Submission) -> None:
        if sub.denied is not None:
            self.metrics.denials.labels(str(sub.denied)).inc()
            outcome = "denied"
        elif sub.error:
            outcome = "unknown" if sub.error.startswith("outcome unknown") else "rejected"
        else:
            outcome = "submitted"
        self.metrics.orders.labels(bot.name, outcome).inc()

    def readiness(self) -> tuple[bool, list[str]]:
        reasons = []
        if not self.started:
            reasons.append("starting")
        if self.risk.state is TradingState.HALTED:
            reasons.append(f"HALTED: {self.risk.state_reason}")
        if self.stopping.is_set():
            reasons.append("stopping")
        if self.critical:
            reasons.append(self.critical)
        for check in self.readiness_checks:
            reasons.extend(check())
        self.metrics.ready.set(0.0 if reasons else 1.0)
        return (not reasons, reasons)

    def write_snapshot(self, final: bool = False) -> None:
        snap = self.status()
        self.metrics.update_from_status(snap)
        w = wallet_view(
            self.store, self.ledger.portfolio_equity(), self.settings.hot_wallet_percentage
        )
        for name, value in (("hot", w.hot), ("cold", w.cold), ("target", w.target_hot)):
            self.metrics.wallet_balance.labels(name).set(value)
        self.metrics.hot_ratio.set(w.ratio)
        if self.outbox_stats is not None:
            ob = self.outbox_stats()
            self.metrics.outbox_depth.set(ob.depth)
            self.metrics.outbox_oldest.set(ob.oldest_age_seconds)
            self._count_alerts("delivered", ob.delivered_by_channel, self.metrics.alerts_delivered)
            self._count_alerts("failed", ob.failures_by_channel, self.metrics.alert_failures)
        job = getattr(self, "anchor_job", None)
        if job is not None:
            self.metrics.audit_anchor_success.set(job.last_ok_ts)
            new_failures = job.failures - self._anchor_failures_seen
            if new_failures > 0:
                self.metrics.audit_anchor_failures.inc(new_failures)
                self._anchor_failures_seen += new_failures
        ban_until = self.store.get(StateKey.EXCHANGE_BANNED_UNTIL)
        self.metrics.exchange_ban_until.set(float(ban_until or 0.0))
        timesync = getattr(self.broker, "timesync", None)
        if timesync is not None:
            self.metrics.clock_skew.set(timesync.offset_ms / 1000.0)
        self.readiness()
        snap["snapshot_ts"] = time.time()
        snap["daemon_running"] = not final
        self.store.put(StateKey.STATUS_SNAPSHOT, snap)

    def _count_alerts(self, what: str, totals: dict[str, int], counter: Any) -> None:
        """The outbox keeps persisted totals; the Prometheus counter follows them."""
        for channel, total in totals.items():
            seen = self._alert_counts.get((what, channel), 0)
            if total > seen:
                counter.labels(channel).inc(total - seen)
            self._alert_counts[(what, channel)] = total


def safe_config(settings: Settings) -> dict[str, Any]:
    """The settings as recorded in audit/status: never a secret (no credential key, no
    password in a URL)."""
    data = settings.model_dump(mode="json", exclude={"credential_key"})
    data["credential_key_set"] = settings.credential_key is not None
    for k, v in data.items():
        if isinstance(v, str) and "@" in v and "://" in v:
            data[k] = _without_userinfo(v)
    return data


def _without_userinfo(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=f"***@{host}"))
    except ValueError:
        return "***"


def _paper_balances(settings: Settings, fills: list[Fill]) -> dict[str, float]:
    bal: dict[str, float] = {"USDT": settings.starting_balance_usdt}
    for f in fills:
        base, quote = split_symbol(f.symbol)
        sign = 1 if f.side is Side.BUY else -1
        bal[base] = bal.get(base, 0.0) + sign * f.qty
        bal[quote] = bal.get(quote, 0.0) - sign * f.qty * f.price - f.fee
    return bal


def load_ticks(settings: Settings) -> list[Tick]:
    return load_scenario(settings.scenario, settings.symbols)
