"""Which mode runs (the live gate) and the Binance gateway it runs on.

`plan_run(settings, source)` decides before anything starts:

1. the gate on the settings alone, assuming the run-time checks pass: if even then the
   answer is paper, no key is read and no request is made;
2. otherwise the trade key pair is read from the secret source (a bad or missing secret
   stops the start: exit 1 with the secret's id, never its value; a source that cannot be
   reached is waited out NOT READY, see startup.py);
3. only when every static live condition holds (`gate.wants_live_checks`): the key's
   permissions are asked from the exchange (``apiRestrictions``; an exchange that cannot
   be asked is waited out NOT READY, never taken as a verdict) and every bot's signed
   paper-to-live promotion is checked against its symbol, strategy parameters and the
   strategy package's hash;
4. the gate again with the real inputs. Whatever fails is listed, by setting, in the
   start-up log line and in `tradewarden status`.

In live mode the gate is not only a start-up decision: `LiveGuard` evaluates it again
before every live order, and again right before the order leaves the process, after any
wait in the rate limiter (``tradewarden live disarm`` withdraws live at once; a changed
config file is re-read; a rotated trade key has its recorded scope and its permissions
checked before it signs an order). Once refused, the running daemon places no further
live order; re-arming needs ``tradewarden live arm`` and a restart through the whole gate.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradewarden.core.config import ConfigError, Mode, Settings, load_settings
from tradewarden.core.models import Order, OrderRequest
from tradewarden.exchange import BinanceBroker
from tradewarden.exchange.futures_gateway import FuturesGateway
from tradewarden.exchange.futures_reconcile import FuturesReconciler
from tradewarden.exchange.futures_stream import (
    FuturesInbox,
    FuturesStreams,
    open_futures_user_stream,
)
from tradewarden.exchange.gateway import BAN_KEY
from tradewarden.exchange.streams import Streams, open_streams
from tradewarden.live.gate import GateDecision, assumed_checks, live_gate, wants_live_checks
from tradewarden.live.key_permissions import (
    PermissionResult,
    check_broker_keys,
    check_trade_key,
)
from tradewarden.live.promotion import PromotionCheck, binding, is_promoted
from tradewarden.runtime.exchange_loop import ExchangeLoop, MetricsBridge
from tradewarden.runtime.metrics import Metrics
from tradewarden.runtime.self_alerts import alert_secret_ages
from tradewarden.runtime.startup import StartupUnreachableError, heals_by_itself
from tradewarden.secrets.age import secret_ages
from tradewarden.secrets.credentials import BinanceKeys, admin_secret, binance_keys
from tradewarden.secrets.errors import SecretError
from tradewarden.secrets.source import Source
from tradewarden.secrets.value import Secret
from tradewarden.state.keys import StateKey
from tradewarden.state.store import Store
from tradewarden.trading.broker import BrokerError

if TYPE_CHECKING:
    from tradewarden.runtime.daemon import Daemon

log = logging.getLogger(__name__)


@dataclass
class RunPlan:
    gate: GateDecision
    keys: BinanceKeys | None = None
    permissions: PermissionResult | None = None
    promotions: list[PromotionCheck] = field(default_factory=list)

    @property
    def mode(self) -> Mode:
        return self.gate.mode

    @property
    def blockers(self) -> list[str]:
        if self.gate.live:
            return []
        return list(self.gate.blockers) + ([self.gate.fallback] if self.gate.fallback else [])


def may_use_exchange(settings: Settings) -> bool:
    """False when the settings alone already mean paper (no key, no request needed): not
    even a key of the most favourable scope (testnet for testnet, none for live) with every
    run-time check passing would leave paper."""
    perms, promos = assumed_checks(settings)  # passing checks of the bots' market
    return any(
        live_gate(
            settings,
            permissions=perms,
            promotions=promos,
            key_scope=scope,
        ).mode
        is not Mode.PAPER
        for scope in ("testnet", None)
    )


def plan_run(settings: Settings, source: Source) -> RunPlan:
    """See the module docstring. Raises `SecretError` for an unusable key."""
    if not may_use_exchange(settings):
        return RunPlan(live_gate(settings))
    keys = binance_keys(settings, source)
    perms: PermissionResult | None = None
    promos: list[PromotionCheck] = []
    disarmed = ""
    if wants_live_checks(settings):
        disarmed = disarm_text(read_disarm(settings))
        perms = permission_probe(settings, keys)
        promos = promotions(settings, source)
    gate = live_gate(
        settings,
        permissions=perms,
        promotions=promos or None,
        key_scope=keys.trade.scope,
        disarmed=disarmed,
    )
    return RunPlan(gate, keys if gate.mode is not Mode.PAPER else None, perms, promos)


def permission_probe(settings: Settings, keys: BinanceKeys) -> PermissionResult:
    """The key-permission check before the daemon starts (a broker on a scratch store).
    Raises `StartupUnreachableError` when the exchange could not be asked at all."""
    scratch = Store(":memory:", durable=False)
    try:
        # a 418 ban the last process persisted still holds for this first request (each
        # request during a ban lengthens it); a ban met here is kept for the daemon's broker
        _copy_ban(Store(settings.db_path), scratch, close="src")
        # a futures bot's key: the futures gateway also reads its futures account
        gateway = FuturesGateway if settings.futures_enabled else BinanceBroker
        broker = gateway(
            settings,
            scratch,
            keys.trade,
            on_auth_error=keys.trade.on_auth_error,
            request_timeout_s=settings.request_timeout_seconds,
            **read_key(keys),
        )
        result = check_broker_keys(broker)
        _copy_ban(scratch, Store(settings.db_path), close="dst")
    finally:
        scratch.close()
    if result.error is not None and heals_by_itself(result.error) is not None:
        # the exchange could not be asked: not a verdict on the key (wait, never paper)
        raise StartupUnreachableError(result.summary(), result.error)
    return result


def _copy_ban(src: Store, dst: Store, *, close: str) -> None:
    """The exchange ban (`BAN_KEY`) of `src` into `dst` when it lasts longer there."""
    try:
        until = src.get(BAN_KEY)
        if isinstance(until, int | float) and until > time.time():
            current = dst.get(BAN_KEY)
            if not isinstance(current, int | float) or current < until:
                dst.put(BAN_KEY, until)
    finally:
        (src if close == "src" else dst).close()


def promotions(settings: Settings, source: Source) -> list[PromotionCheck]:
    """Every bot's promotion, verified with the promotion key (the admin secret) against
    its symbol, strategy parameters and the strategy package's hash."""
    market = "futures" if settings.futures_enabled else "spot"  # a futures bot: futures only
    try:
        secret = admin_secret(settings, source, "promotion_key")
    except SecretError as exc:
        return [PromotionCheck(False, str(exc), market)]
    specs = settings.bot_specs()
    store = Store(settings.db_path)
    try:
        return [
            is_promoted(store, secret, binding(bot, symbol, strat, market))
            for bot, symbol, strat in specs
        ]
    finally:
        store.close()


def read_key(keys: BinanceKeys) -> dict[str, Any]:
    """The broker's read-key arguments: reads with the read key when it is a separate one
    (least privilege), else nothing (reads use the trade key)."""
    if not keys.separate:
        return {}
    return {"read_credentials": keys.read, "on_read_auth_error": keys.read.on_auth_error}


def exchange_broker_factory(
    settings: Settings, keys: BinanceKeys, guard: LiveGuard | None = None
) -> Callable[[Store, Metrics], BinanceBroker]:
    """The gateway; in live mode (`guard` given) one whose every order passes the guard and
    whose trade key is vetted before it signs one."""

    def make(store: Store, metrics: Metrics) -> BinanceBroker:
        # the gateway of the bots' market; live: its guarded twin
        gateway: type[BinanceBroker]
        if guard is None:
            gateway = FuturesGateway if settings.futures_enabled else BinanceBroker
        else:
            gateway = GuardedFuturesGateway if settings.futures_enabled else GuardedBroker
        broker = gateway(
            settings,
            store,
            keys.trade if guard is None else guard.credentials,
            on_auth_error=keys.trade.on_auth_error,
            metrics=MetricsBridge(metrics),
            request_timeout_s=settings.request_timeout_seconds,
            **read_key(keys),
        )
        if guard is not None:
            if not isinstance(broker, GuardedBroker):  # fail closed: live is never unguarded
                raise TypeError("live needs the guarded gateway")
            broker.guard = guard
            guard.broker = broker
            guard.store = store
        return broker

    return make


def futures_reconciliation(loop: ExchangeLoop) -> None:
    """A futures daemon's reconciliation: the spot rules with positions in place of
    balances (`exchange.futures_reconcile`); a spot daemon's loop is left as it is."""
    broker = loop.broker
    if isinstance(broker, FuturesGateway):
        loop.reconciler = FuturesReconciler(
            broker, loop.d.store, loop.d.settings, loop.reconciler.on_event
        )


def open_exchange_streams(daemon: Daemon, broker: BinanceBroker) -> Streams | FuturesStreams:
    """The user data and market streams of the daemon's symbols (issue 19), their inbox
    waking the main loop (`Daemon._wake`); started. Raises EndpointError / ValueError for
    an exchange URL without stream endpoints or a bad symbol."""
    s = daemon.settings
    if isinstance(broker, FuturesGateway):  # issue 20: the futures user data stream only
        return FuturesStreams(
            open_futures_user_stream(
                broker.reader,
                reconnect_max_s=s.stream_reconnect_max_seconds,
                inbox=FuturesInbox(daemon._wake.set),
            )
        )
    return open_streams(
        broker,
        sorted(daemon.trader.by_symbol),
        kline_interval=s.kline_interval.value,
        stale_after_s=s.stream_stale_seconds,
        reconnect_max_s=s.stream_reconnect_max_seconds,
        wake=daemon._wake.set,
    )


# --- the live gate at run time -------------------------------------------------------------
DISARM_KEY = StateKey.LIVE_DISARMED  # written by `tradewarden live disarm`
DISARM_ACK_KEY = StateKey.LIVE_DISARM_ACK  # the running daemon's answer


def read_disarm(settings: Settings) -> dict[str, Any] | None:
    store = Store(settings.db_path)
    try:
        rec = store.get(DISARM_KEY)
    finally:
        store.close()
    return rec if isinstance(rec, dict) else None


def disarm_text(rec: dict[str, Any] | None) -> str:
    if not rec:
        return ""
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(rec.get("at") or 0)))
    return (
        f"{rec.get('reason', '?')} (by {rec.get('actor', '?')} at {at});"
        " re-arm: `tradewarden live arm --reason ...` then a restart"
    )


class LiveRefusedError(BrokerError):
    """The live gate, evaluated again before this order, refuses it: nothing was sent."""


class KeyNotVettedError(BrokerError):
    """The trade key changed and its permissions are not acceptable (or could not be
    checked): it signs no order."""


class LiveGuard:
    """Live mode: the live gate before every order, and a rotated trade key vetted before it
    signs one. See the module docstring."""

    def __init__(
        self,
        settings: Settings,
        keys: BinanceKeys,
        *,
        permissions: PermissionResult | None,
        promotions: list[PromotionCheck],
        config_file: Path | str | None = None,
    ) -> None:
        self.settings = settings
        self.keys = keys
        self.permissions = permissions
        self.promotions = promotions
        ok = permissions is not None and permissions.ok
        self.approved_fp: str | None = keys.trade.fingerprint if ok else None
        self.config_file = Path(config_file) if config_file else None
        self._config_stamp = self._stamp()
        self.broker: BinanceBroker | None = None
        self.store: Store | None = None
        self.refused = ""  # latched: once set, no further live order from this process
        self.key_problem: PermissionResult | None = None  # for the housekeeping to act on
        self._announced = False
        self._local = threading.local()
        self._lock = threading.Lock()

    # --- the trade key, as the broker's credential provider -------------------------------
    def credentials(self) -> tuple[Secret, Secret]:
        bundle = self.keys.trade.bundle()
        creds = (bundle["api_key"], bundle["api_secret"])
        if not getattr(self._local, "placing", False) or getattr(self._local, "vetting", False):
            return creds
        fp = bundle.fingerprint()
        if fp != self.approved_fp:
            self._vet(fp, bundle.scope)
        return creds

    def _vet(self, fp: str, scope: str | None) -> None:
        """Check the new key before it signs (its recorded scope, then its permissions);
        raise unless both pass."""
        if self.broker is None:
            raise KeyNotVettedError("the trade key changed and cannot be checked yet")
        log.warning("the trade key changed: checking its permissions before it signs an order")
        if scope == "testnet":  # the gate's key_scope rule, for the key about to sign
            result = PermissionResult(
                ok=False,
                role="trade",
                problems=("the rotated key's scope is testnet: a testnet key is never used live",),
            )
            still = fp
        else:
            self._local.vetting = True
            try:
                # the start-up check's rules: a futures bot's futures account too
                result = check_trade_key(self.broker)
                still = self.keys.trade.bundle().fingerprint()
            except BrokerError as exc:
                result = PermissionResult(ok=False, role="trade", problems=(str(exc),))
                still = fp
            finally:
                self._local.vetting = False
        self.permissions = result
        if result.ok and still == fp:
            self.approved_fp = fp
            log.info("the new trade key's permissions are acceptable", extra={"key_fp": fp})
            return
        if result.ok:  # rotated again while it was being checked: check again next time
            raise KeyNotVettedError("the trade key changed again while it was being checked")
        self.key_problem = result
        self.refuse(f"rotated trade key: {result.summary()}")
        raise KeyNotVettedError(f"the rotated trade key signs no order: {result.summary()}")

    # --- before each live order -------------------------------------------------------------
    def refuse(self, why: str) -> None:
        with self._lock:
            if not self.refused:
                self.refused = why
                log.error("live trading withdrawn: no further live order", extra={"why": why})

    def evaluate(self) -> str:
        """The live gate now (disarm record, config file, permissions, promotions, key
        scope): "" when it holds, else why not (and that is latched)."""
        if self.refused:
            return self.refused
        rec = self.store.get(DISARM_KEY) if self.store is not None else None
        if isinstance(rec, dict):
            self.refuse(f"live disarmed: {disarm_text(rec)}")
            return self.refused
        settings = self.settings
        if self.config_file is not None and self._stamp() != self._config_stamp:
            self._config_stamp = self._stamp()
            try:
                settings = load_settings(self.config_file)
            except ConfigError as exc:
                self.refuse(f"config file {self.config_file} re-read and refused: {exc}")
                return self.refused
            self.settings = settings
        decision = live_gate(
            settings,
            permissions=self.permissions,
            promotions=self.promotions,
            key_scope=self.keys.trade.scope,
        )
        if not decision.live:
            self.refuse("live gate re-evaluated: " + "; ".join(decision.blockers))
        return self.refused

    def before_order(self) -> None:
        why = self.evaluate()
        if why:
            raise LiveRefusedError(f"not sent: {why}")

    def _stamp(self) -> str | None:
        """The config file's content hash: any edit counts, whatever its size and mtime (a
        copy that keeps the old mtime, `touch -r`, an edit within one mtime tick)."""
        if self.config_file is None:
            return None
        try:
            return hashlib.sha256(self.config_file.read_bytes()).hexdigest()
        except OSError:
            return "unreadable"

    # --- the daemon's side ------------------------------------------------------------------
    def readiness_reasons(self) -> list[str]:
        return [f"live refused: {self.refused}"] if self.refused else []

    def housekeeping(self, daemon: Daemon) -> None:
        """From the daemon's housekeeping: notice a disarm (or a changed config file) without
        waiting for an order, and act on a refused key (HALT, like the periodic check)."""
        self.evaluate()
        problem, self.key_problem = self.key_problem, None
        if problem is not None:
            halt_for_permissions(daemon, problem)
        if self.refused and not self._announced:
            self._announced = True
            daemon.decision.blockers = [*daemon.decision.blockers, self.refused]
            daemon.audit.append("live_disarmed", {"why": self.refused}, sync=True)
            daemon.notifier.notify("live_disarmed", reason=self.refused, state="no live orders")
            daemon.store.put(DISARM_ACK_KEY, {"at": time.time(), "why": self.refused})
            daemon.write_snapshot()


class GuardedBroker(BinanceBroker):
    """`BinanceBroker` whose order placement passes `LiveGuard` first, and again right
    before the order leaves the process (after any wait in the rate limiter)."""

    guard: LiveGuard | None = None

    def submit(self, req: OrderRequest) -> Order:
        g = self.guard
        if g is None:
            return super().submit(req)
        g.before_order()
        g._local.placing = True
        try:
            return super().submit(req)
        finally:
            g._local.placing = False

    def _before_send(self, req: OrderRequest) -> None:
        # right before the order leaves, after any wait in the rate limiter: the gate
        # again (a disarm or a withdrawn FINAL_HAMMER during the wait refuses it unsent)
        if self.guard is not None:
            self.guard.before_order()
        super()._before_send(req)


class GuardedFuturesGateway(GuardedBroker, FuturesGateway):
    """Live futures: the futures gateway whose orders pass `LiveGuard` as a spot live
    order does (the guard's rotated-key check then reads the futures account too)."""


class PeriodicChecks:
    """Run from the daemon's housekeeping: the key-permission re-check (live only, every
    `TRADEWARDEN_PERMISSION_CHECK_SECONDS`, default hourly) and the secret-age gauges (every
    10 minutes). A failed re-check halts trading and withdraws live (`guard`) until a
    restart through the whole gate: a reset of the halt alone resumes no live order."""

    AGES_EVERY = 600.0

    def __init__(
        self, daemon: Daemon, settings: Settings, source: Source, guard: LiveGuard | None = None
    ) -> None:
        self.d = daemon
        self.settings = settings
        self.source = source
        self.guard = guard
        now = time.monotonic()
        self._next_perm = now + settings.permission_check_seconds
        self._next_ages = now

    def __call__(self) -> None:
        now = time.monotonic()
        if now >= self._next_ages:
            self._next_ages = now + self.AGES_EVERY
            self.export_ages()
        if self.d.decision.mode is Mode.LIVE and now >= self._next_perm:
            self._next_perm = now + self.settings.permission_check_seconds
            self.recheck_permissions()

    def export_ages(self) -> None:
        try:
            ages = secret_ages(self.settings, self.source)
        except SecretError as exc:
            log.warning("secret ages unavailable", extra={"error": str(exc)})
            return
        for sid, age in ages.items():
            self.d.metrics.secret_age.labels(sid).set(age)
        alert_secret_ages(self.d, ages)  # warning at 80 days, critical at 90

    def recheck_permissions(self) -> PermissionResult:
        broker = self.d.exchange_broker
        if broker is None:  # live without the exchange gateway: nothing vouches for the key
            result = PermissionResult(
                ok=False,
                role="trade",
                problems=("no exchange gateway to check the key with",),
                checked_at=time.time(),
            )
        else:
            result = check_broker_keys(broker)
        if result.ok:
            return result
        if self.guard is not None:  # live is withdrawn too: a reset of the HALT alone
            self.guard.permissions = result  # must not resume live orders on this key
            self.guard.refuse(f"key-permission check: {result.summary()}")
        halt_for_permissions(self.d, result)
        return result


def halt_for_permissions(daemon: Daemon, result: PermissionResult) -> None:
    """A key's permissions are not acceptable: sticky HALT, open orders cancelled, audit,
    critical ``key_permissions_changed`` alert."""
    reason = result.summary()
    cancelled = daemon.security_halt(
        reason, "key-permission check", {"permissions": result.as_dict()}
    )
    daemon.notifier.notify(
        "key_permissions_changed",
        changes=result.bad_flags or {"check": "failed"},
        key=result.role,
        state="HALTED",
        actions=[f"cancelled {len(cancelled)} open orders"],
    )
    daemon.write_snapshot()
