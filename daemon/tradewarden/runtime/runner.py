"""`tradewarden run`: start everything in order, run, and stop cleanly.

Exit codes: 0 done (or stopped while waiting to start), 1 could not start safely (state,
audit, lock, a refused key, a missing secret), 2 bad config or scenario. Nothing is
half-started: every check runs before the first market event. What can heal by itself
(the exchange or the secret source unreachable, a 5xx, a 418 ban) is waited out NOT READY
instead of exiting (startup.py).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import time
from pathlib import Path

from tradewarden.alerts.factory import build_dispatcher
from tradewarden.audit.chain import AuditConfigError, AuditError, audit_key
from tradewarden.core.config import Mode, Profile, Settings
from tradewarden.core.config import Streams as StreamsSetting
from tradewarden.core.endpoints import EndpointError
from tradewarden.core.logs import setup_logging
from tradewarden.core.models import Tick
from tradewarden.exchange import BinanceBroker
from tradewarden.exchange.futures_gateway import FuturesSetupRefusedError
from tradewarden.live import paper_report
from tradewarden.runtime import critical
from tradewarden.runtime.critical import CRITICAL_ERRORS
from tradewarden.runtime.daemon import Daemon, LiveDecision, StartupError, load_ticks
from tradewarden.runtime.exchange_loop import ExchangeLoop, ExchangeStartError, recover_interrupted
from tradewarden.runtime.futures_console import FuturesConsole
from tradewarden.runtime.self_alerts import AuditWatch, DailySummary, bots_started, bots_stopped
from tradewarden.runtime.startup import MetricsPortError, StartupStopped, StartupWait
from tradewarden.runtime.summary import RunPrinter
from tradewarden.runtime.systemd import Service, main_thread_only
from tradewarden.runtime.wiring import (
    LiveGuard,
    PeriodicChecks,
    exchange_broker_factory,
    futures_reconciliation,
    may_use_exchange,
    open_exchange_streams,
    plan_run,
)
from tradewarden.secrets import scrub
from tradewarden.secrets.credentials import alert_secrets
from tradewarden.secrets.errors import SecretConfigError, SecretError
from tradewarden.secrets.factory import build_source
from tradewarden.state.store import StateError, StateSchemaError, Store
from tradewarden.trading.broker import BrokerError
from tradewarden.trading.futures_trader import FuturesTrader
from tradewarden.trading.market_data import ScenarioError

log = logging.getLogger(__name__)


def _err(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr, flush=True)


def run_daemon(
    settings: Settings,
    *,
    console: bool,
    follow: bool,
    demo: bool = False,
    config_file: Path | str | None = None,
) -> int:
    if console:
        setup_logging("ERROR", sys.stderr)
    else:
        setup_logging("INFO", sys.stdout)
    scrub.install()  # every log record: known secret values -> ***
    service = Service()
    waiter = StartupWait(settings, service)
    waiter.install_signal_handlers()
    try:
        return _run(settings, service, waiter, console, follow, demo, config_file)
    except StartupStopped:
        log.info("stopped while waiting to start: never ready, nothing traded")
        service.stopping()
        return 0
    except MetricsPortError as exc:  # the port, taken when a start-up wait opens it
        _err(str(exc))
        return 1
    finally:
        if waiter.server is not None:
            waiter.server.stop()


def _run(
    settings: Settings,
    service: Service,
    waiter: StartupWait,
    console: bool,
    follow: bool,
    demo: bool,
    config_file: Path | str | None,
) -> int:
    ticks: list[Tick] = []
    if not may_use_exchange(settings):  # paper: a bad scenario stops before anything opens
        try:
            ticks = load_ticks(settings)
        except ScenarioError as exc:
            _err(f"TRADEWARDEN_SCENARIO: {exc}")
            return 2
    try:
        source = build_source(settings)
    except SecretConfigError as exc:
        _err(str(exc))
        return 2
    except SecretError as exc:
        _err(str(exc))
        return 1
    try:
        # prod: the audit HMAC key is required
        key = waiter.until_ok(lambda: audit_key(settings, source))
    except AuditConfigError as exc:
        _err(str(exc))
        return 2
    except SecretError as exc:
        _err(f"audit key: {exc}")
        return 1
    if settings.profile is Profile.PROD and not settings.audit_anchor_bucket:
        _err(
            "TRADEWARDEN_AUDIT_ANCHOR_BUCKET: required with TRADEWARDEN_PROFILE=prod (the audit"
            " chain head is anchored off the host)"
        )
        return 2
    try:
        # refuse a corrupt/locked state file before anything; create or migrate its schema
        Store(settings.db_path).close()
    except StateSchemaError as exc:  # newer or unknown schema: an operator's decision
        _err(str(exc))
        return 2
    except StateError as exc:
        _err(str(exc))
        return 1
    try:
        channel_secrets = waiter.until_ok(lambda: alert_secrets(settings, source))
    except SecretError as exc:
        _err(f"alert channels: {exc}")
        return 1
    try:
        dispatcher = build_dispatcher(
            settings,
            channel_secrets,
            settings.db_path,
            console=True,
            console_stream=sys.stdout if console else sys.stderr,
        )
    except (ValueError, OSError, sqlite3.Error) as exc:
        _err(f"alert channels: {exc}")
        return 2
    try:
        plan = waiter.until_ok(lambda: plan_run(settings, source))
    except StartupStopped:
        dispatcher.close(0)
        raise
    except SecretError as exc:
        # no trading on a key we cannot read: a critical alert, then exit 1
        dispatcher.notify("system_error", component="secrets", error=str(exc), state="STOPPED")
        dispatcher.start()
        dispatcher.stop(5.0)
        dispatcher.close(0)
        _err(f"{exc} (not started)")
        return 1
    decision = LiveDecision(plan.mode, plan.blockers)
    exchange = plan.keys is not None
    guard: LiveGuard | None = None
    if plan.mode is Mode.LIVE and plan.keys is not None:
        # the live gate again before every live order (see runtime.wiring.LiveGuard)
        guard = LiveGuard(
            settings,
            plan.keys,
            permissions=plan.permissions,
            promotions=plan.promotions,
            config_file=config_file or os.environ.get("TRADEWARDEN_CONFIG") or None,
        )
    make_broker = exchange_broker_factory(settings, plan.keys, guard) if plan.keys else None
    if not exchange and not ticks:
        try:
            ticks = load_ticks(settings)
        except ScenarioError as exc:
            dispatcher.close(0)
            _err(f"TRADEWARDEN_SCENARIO: {exc}")
            return 2
    try:
        daemon = Daemon(
            settings,
            notifier=dispatcher,
            decision=decision,
            make_broker=make_broker,
            audit_key=key,
            progress=service.extending,  # a long audit chain: TimeoutStartSec= extended
        )
    except (StartupError, StateError, AuditError) as exc:
        dispatcher.close(0)
        _err(str(exc))
        return 1
    except BrokerError as exc:
        dispatcher.close(0)
        _err(f"exchange at {settings.effective_binance_url} not usable at start: {exc}")
        return 1
    waiter.attach(daemon)  # its signal handlers, stop event and readiness from now on
    broker = daemon.exchange_broker
    loop = ExchangeLoop(daemon, broker) if exchange and broker is not None else None
    if loop is None:
        recover_interrupted(daemon)  # paper has the same crash windows (the loop does its own)
    if loop is not None:
        futures_reconciliation(loop)  # futures: positions reconciled in place of balances
        # a slow but working first reconciliation (a degraded exchange: many requests, each
        # close to the request timeout) extends TimeoutStartSec= at every request that ends
        # and every wait in the limiter; a hung one does not
        extend = main_thread_only(
            service.extending, "starting: first reconciliation with the exchange"
        )
        loop.broker.on_progress.append(extend)
        loop.broker.on_wait.append(extend)
        try:
            # time sync, exchangeInfo, first reconciliation: before READY; waited out NOT
            # READY while the exchange cannot be reached
            waiter.until_ok(loop.start)
        except (ExchangeStartError, StartupStopped, MetricsPortError) as exc:
            daemon.close()
            dispatcher.close(0)
            if isinstance(exc, ExchangeStartError):
                _err(str(exc))
                # a futures symbol's margin type / leverage refused: a configuration matter
                return 2 if isinstance(exc.cause, FuturesSetupRefusedError) else 1
            raise
        finally:
            loop.broker.on_progress.remove(extend)
            loop.broker.on_wait.remove(extend)
        if settings.streams is StreamsSetting.ON and isinstance(broker, BinanceBroker):
            # event-driven from here on (issue 19; futures: the user data stream, issue 20);
            # the polling loop is the fallback
            try:
                loop.attach_streams(open_exchange_streams(daemon, broker), broker)
            except (EndpointError, ValueError) as exc:
                daemon.close()
                dispatcher.close(0)
                _err(f"TRADEWARDEN_STREAMS: {exc}")
                return 2
    daemon.outbox_stats = dispatcher.stats
    dispatcher.start()
    try:
        server = waiter.start_server()
    except MetricsPortError as exc:
        daemon.close()
        dispatcher.stop(5.0)
        dispatcher.close(0)
        _err(str(exc))
        return 1
    daemon.on_housekeeping.append(lambda: service.watchdog(f"state {daemon.risk.state.label}"))
    if loop is not None:
        loop.broker.on_wait.append(main_thread_only(service.watchdog, "waiting on the exchange"))
    daemon.on_housekeeping.append(PeriodicChecks(daemon, settings, source, guard))
    daemon.on_housekeeping.append(DailySummary(daemon))
    daemon.on_housekeeping.append(AuditWatch(daemon, settings.audit_verify_seconds))
    if guard is not None:
        daemon.readiness_checks.append(guard.readiness_reasons)
        daemon.on_housekeeping.append(lambda: guard.housekeeping(daemon))
    printer = RunPrinter(daemon.trader) if console else None
    futures = (
        FuturesConsole(printer, daemon.trader) if isinstance(daemon.trader, FuturesTrader) else None
    )
    stop_reason = "the daemon stopped"
    try:
        if printer and not exchange:
            _header(printer, settings, daemon, len(ticks), server.port)
            if futures is not None:
                futures.header(settings)
        daemon.started = True
        daemon.write_snapshot()
        service.ready(f"{decision.mode.value}, state {daemon.risk.state.label}")
        log.info(
            "daemon ready",
            extra={
                "mode": decision.mode.value,
                "why_not_live": decision.blockers,
                "state": daemon.risk.state.label,
                "metrics_port": server.port,
            },
        )
        bots_started(daemon)
        try:
            if loop is not None:
                loop.run()
            else:
                daemon.replay(ticks, on_progress=printer.on_tick if printer else None)
                if futures is not None:
                    futures.finish()
            if printer and not exchange:
                if printer.last_ts:
                    printer.progress(printer.last_ts)
                reports = paper_report.report(daemon.store, [b.name for b in daemon.bots])
                printer.summary(daemon.status(), paper_report.render(reports))
                printer.p(
                    f"State, audit log and alerts are in {settings.state_dir}/. Look around with:"
                )
                env = f"TRADEWARDEN_STATE_DIR={settings.state_dir} " if demo else ""
                printer.p(f"  {env}uv run tradewarden status")
                printer.p(f"  {env}uv run tradewarden audit verify")
            while follow and not daemon.stopping.is_set():
                daemon.housekeeping()
                daemon._wake.wait(0.2)
            stop_reason = (
                "stop requested (SIGTERM/SIGINT)"
                if daemon.stopping.is_set()
                else "the paper scenario ended"
            )
        except CRITICAL_ERRORS as exc:  # critical.py: HALT, cancel, flatten, page
            stop_reason = f"system critical error: {type(exc).__name__}"
            critical.emergency_stop(daemon, exc)
            if loop is not None or follow:  # a service: stay up, not ready; a replay ends
                _hold_not_ready(daemon, service)
            return 1
    except BaseException as exc:
        stop_reason = f"the daemon failed: {type(exc).__name__}"
        raise
    finally:
        service.stopping()
        if daemon.started:
            try:  # into the outbox: flushed below or at the next start
                bots_stopped(daemon, stop_reason)
            except CRITICAL_ERRORS as exc:  # the state database may be what failed
                log.error("bot-stopped alerts not queued", extra={"error": str(exc)})
        try:
            daemon.close()
        except CRITICAL_ERRORS as exc:
            if daemon.critical is None:
                raise
            log.critical("closed without its final audit entry", extra={"error": str(exc)})
            daemon.lock.release()
        flushed = dispatcher.stop(5.0)
        dispatcher.close(0)
        if not flushed:
            log.warning("alerts still pending; they are kept and sent at the next start")
        log.info("daemon stopped", extra={"ticks": daemon.trader.ticks})
    return 0


def _hold_not_ready(daemon: Daemon, service: Service) -> None:
    """After a system critical error: no more trading in this run; stay up (metrics,
    /readyz says why, alerts delivered) until stopped. Nothing that writes state runs."""
    while not daemon.stopping.is_set():
        daemon.readiness()
        service.watchdog("HALTED after a system critical error")
        daemon._wake.wait(0.2)


def _header(printer: RunPrinter, settings: Settings, daemon: Daemon, n: int, port: int) -> None:
    p = printer.p
    p(
        f"tradewarden — {daemon.decision.mode.value} trading on {settings.scenario.name} "
        f"({n} candles of {', '.join(settings.symbols)})"
    )
    p("Not live because: " + daemon.decision.blockers[0])
    for line in daemon.decision.blockers[1:]:
        p("                  " + line)
    bots = ", ".join(f"{b.name} ({b.symbol}, {type(b.strategy).name})" for b in daemon.bots)
    p(f"Bots: {bots}; starting equity {daemon.ledger.portfolio_equity():,.2f} USDT")
    p(
        f"Breakers: {settings.max_consecutive_losses} consecutive losses, "
        f"{settings.max_daily_loss_pct:.0%} daily loss, "
        f"{settings.max_bot_drawdown_pct:.0%} bot drawdown, "
        f"{settings.max_portfolio_drawdown_pct:.0%} portfolio drawdown (emergency stop); "
        f"entries blocked in zones {', '.join(f'Z{z}' for z in settings.blocked_zones)}"
    )
    if daemon.risk.state.label != "active" or any(
        s.label != "active" for s in daemon.risk.bot_states.values()
    ):
        p(
            f"NOTE: starting {daemon.risk.state.label.upper()} "
            f"({daemon.risk.state_reason or 'bot breakers tripped'}): trips are sticky until "
            "`tradewarden reset --reason ...`"
        )
    p(f"Metrics: http://{settings.metrics_host}:{port}/metrics (also /healthz, /readyz)")
    p(f"State dir: {settings.state_dir}   started {time.strftime('%H:%M:%S')}")
    p("")
