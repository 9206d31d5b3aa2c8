"""Build the daemon from settings and run it.

`Daemon` wires: lock -> state (SQLite) -> audit -> risk engine -> broker -> order gate ->
trader, and runs the main loop (paper replay of a scenario, or the exchange loop). It is
what `tradewarden run` starts and what the tests start in a subprocess.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tradewarden import __version__
from tradewarden.approvals import ApprovalQueue
from tradewarden.audit import AuditLog
from tradewarden.audit import verify as verify_audit
from tradewarden.config import Mode, Settings
from tradewarden.control import DaemonLock, current_actor
from tradewarden.ledger import Ledger, load_dust
from tradewarden.market import load_scenario
from tradewarden.metrics import Metrics
from tradewarden.models import Fill, OrderStatus, Side, Tick
from tradewarden.order_gate import OrderGate
from tradewarden.paper import PaperBroker
from tradewarden.ramp import SizeRamp
from tradewarden.risk.checks import split_symbol
from tradewarden.risk.engine import RiskEngine
from tradewarden.risk.state import TradingState
from tradewarden.store import Store, fill_from_row
from tradewarden.strategy import build_strategy
from tradewarden.trader import Bot, Notifier, Trader
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
    run-time checks too (`exchange_wiring.plan_run`)."""
    from tradewarden.gate import live_gate

    g = live_gate(settings)
    return LiveDecision(g.mode, list(g.blockers) + ([g.fallback] if g.fallback else []))


class Daemon:
    def __init__(
        self,
        settings: Settings,
        *,
        notifier: Notifier,
        decision: LiveDecision | None = None,
        broker: Any = None,
        make_broker: Callable[[Store, Metrics], Any] | None = None,
    ) -> None:
        """`broker`: a ready broker (tests); `make_broker(store, metrics)`: the exchange
        gateway, built once the state is open. Neither: the paper broker. With an exchange,
        open orders are resolved by the first reconciliation (`ExchangeLoop.start`)."""
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
        try:
            self.store = Store(settings.db_path, durable=self.decision.mode is not Mode.PAPER)
            chain = verify_audit(settings.audit_dir) if settings.audit_dir.is_dir() else None
            if chain is not None and not chain.ok:
                raise StartupError(
                    f"refusing to start: {chain.describe()}. Treat it as a security event "
                    "(runbooks/audit-chain-broken.md): preserve the directory as evidence, "
                    "move it aside, and start again to begin a new chain."
                )
            self.audit = AuditLog(settings.audit_dir, settings.audit_retention_days)
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
                self.risk.book.positions[(b.name, b.symbol)] = self.ledger.books[b.name].qty
            replaying = broker is None and make_broker is None
            if make_broker is not None:
                broker = make_broker(self.store, self.metrics)
            self.broker = broker or PaperBroker(_paper_balances(settings, past_fills))
            self.exchange = make_broker is not None
            self.gate = OrderGate(self.risk, self.broker, self.store, self.audit)
            self.trader = Trader(
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
        self.risk.hooks.on_trip.append(lambda t: self.metrics.count_trip(t.breaker, t.bot))
        self.trader.events.on_order.append(self._count_order)
        self.started = False
        self.outbox_stats: Callable[[], Any] | None = None
        self.audit.append(
            "daemon_started",
            {
                "version": __version__,
                "mode": self.decision.mode.value,
                "why_not_live": self.decision.blockers,
                "config": safe_config(settings),
                "state": self.risk.state.label,
            },
            sync=True,
        )

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
                o.status = OrderStatus.EXPIRED
                self.store.update_order(o)
                self.audit.append(
                    "order_resolved",
                    {
                        "client_order_id": o.client_order_id,
                        "status": "EXPIRED",
                        "why": "unknown to broker",
                    },
                )
            else:
                self.store.update_order(found)
                self.audit.append(
                    "order_resolved",
                    {"client_order_id": o.client_order_id, "status": str(found.status)},
                )
        self.risk.book.open_orders = len(self.store.open_orders())
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
        self.audit.close()
        self.store.close()
        self.lock.release()

    # --- main loop --------------------------------------------------------------------------
    def replay(
        self, ticks: Iterable[Tick], on_progress: Callable[[Tick], None] | None = None
    ) -> int:
        """Feed a scenario. Resumes after the last event a previous run processed."""
        resume_ts = float(self.store.get("replay_last_ts", float("-inf")))
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
        self.store.put("replay_last_ts", last_ts)
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
        now = time.monotonic()
        if self._wake.is_set() or now - self._last_control >= CONTROL_EVERY:
            self._wake.clear()
            self._last_control = now
            self.apply_controls()
        if now - self._last_snapshot >= SNAPSHOT_EVERY:
            self._last_snapshot = now
            self.check_wallet()
            if last_ts is not None:
                self.store.put("replay_last_ts", last_ts)
            self.write_snapshot()

    def check_wallet(self) -> None:
        """Once a cold wallet is declared, propose a rebalance when hot drifts 80-120%."""
        cold = declared_cold(self.store)
        if not cold["address"]:
            return
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
        for row in self.store.pending_controls():
            try:
                result = apply_action(self, row["action"], row["reason"], row["actor"])
                self.store.finish_control(row["id"], "done", result)
            except Exception as exc:  # report the failure to the waiting CLI
                self.store.finish_control(row["id"], "failed", str(exc))

    # --- views ------------------------------------------------------------------------------
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
        return s

    def _count_order(self, bot: Any, signal: Any, sub: Any) -> None:
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
        ban_until = self.store.get("exchange.banned_until")
        self.metrics.exchange_ban_until.set(float(ban_until or 0.0))
        timesync = getattr(self.broker, "timesync", None)
        if timesync is not None:
            self.metrics.clock_skew.set(timesync.offset_ms / 1000.0)
        self.readiness()
        snap["snapshot_ts"] = time.time()
        snap["daemon_running"] = not final
        self.store.put("status_snapshot", snap)

    def _count_alerts(self, what: str, totals: dict[str, int], counter: Any) -> None:
        """The outbox keeps persisted totals; the Prometheus counter follows them."""
        for channel, total in totals.items():
            seen = self._alert_counts.get((what, channel), 0)
            if total > seen:
                counter.labels(channel).inc(total - seen)
            self._alert_counts[(what, channel)] = total


def apply_action(daemon_or_none: Any, action: str, reason: str, actor: str) -> Any:
    """Apply a human action inside the daemon (queued control) — see control.py."""
    d = daemon_or_none
    if action in ("halt", "reduce"):
        d.risk.halt(reason, actor, reducing=action == "reduce")
        cancelled = []
        if action == "halt":
            cancelled = d.gate.cancel_all(
                sorted(d.trader.by_symbol), reason=f"manual halt: {reason}"
            )
        d.audit.append(
            action, {"reason": reason, "cancelled": len(cancelled)}, actor=actor, sync=True
        )
        d.notifier.notify(
            "manual_halt",
            action=action,
            reason=reason,
            actor=actor,
            orders_cancelled=[o.client_order_id for o in cancelled],
        )
        d.write_snapshot()
        return {"state": d.risk.state.label, "orders_cancelled": len(cancelled)}
    if action == "reset":
        cleared = d.risk.reset(reason, actor)
        d.trader.ramp.begin(f"reset: {reason}")
        d.audit.append("reset", {"reason": reason, "cleared": cleared}, actor=actor, sync=True)
        resolve_cleared_alerts(d.notifier, d.risk, cleared, f"reset by {actor}: {reason}")
        d.write_snapshot()
        return {"state": d.risk.state.label, "cleared": cleared}
    raise ValueError(f"unknown action {action!r}")


def trip_alert_keys(risk: RiskEngine, cleared: list[str]) -> list[str]:
    """The alert dedup keys of what a reset cleared ("breaker:bot" items, "manual_state")."""
    emergency = {b.name for b in risk.breakers if b.emergency}
    keys = set()
    for item in cleared:
        breaker, _, bot = item.partition(":")
        if item == "manual_state" or breaker in emergency:
            keys.add("emergency-stop")
        else:
            keys.add(f"breaker:{breaker}:{bot}")
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


def safe_config(settings: Settings) -> dict[str, Any]:
    """The settings as recorded in audit/status: never a secret."""
    data = settings.model_dump(mode="json", exclude={"credential_key"})
    data["credential_key_set"] = settings.credential_key is not None
    return data


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


def actor() -> str:
    return current_actor()
