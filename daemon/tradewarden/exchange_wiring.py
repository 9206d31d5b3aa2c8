"""Which mode runs (the live gate) and the Binance gateway it runs on.

`plan_run(settings, source)` decides before anything starts:

1. the gate on the settings alone, assuming the run-time checks pass: if even then the
   answer is paper, no key is read and no request is made;
2. otherwise the trade key pair is read from the secret source (a bad or missing secret
   stops the start: exit 1 with the secret's id, never its value);
3. only when every static live condition holds (`gate.wants_live_checks`): the key's
   permissions are asked from the exchange (``apiRestrictions``) and every bot's signed
   paper-to-live promotion is checked against its strategy's code hash;
4. the gate again with the real inputs. Whatever fails is listed, by setting, in the
   start-up log line and in `tradewarden status`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tradewarden.config import Mode, Settings
from tradewarden.exchange import BinanceBroker
from tradewarden.exchange_loop import MetricsBridge
from tradewarden.gate import GateDecision, live_gate, wants_live_checks
from tradewarden.metrics import Metrics
from tradewarden.permissions import PermissionResult, check_broker_keys
from tradewarden.promotion import PromotionCheck, is_promoted
from tradewarden.secrets.age import secret_ages
from tradewarden.secrets.credentials import BinanceKeys, admin_secret, binance_keys
from tradewarden.secrets.errors import SecretError
from tradewarden.secrets.source import Source
from tradewarden.store import Store
from tradewarden.strategy.registry import STRATEGIES

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


_ASSUMED_OK = PermissionResult(ok=True, role="trade")


def may_use_exchange(settings: Settings) -> bool:
    """False when the settings alone already mean paper (no key, no request needed): not
    even a key of the most favourable scope (testnet for testnet, none for live) with every
    run-time check passing would leave paper."""
    return any(
        live_gate(
            settings,
            permissions=_ASSUMED_OK,
            promotions=[PromotionCheck(True, "assumed")],
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
    if wants_live_checks(settings):
        perms = permission_probe(settings, keys)
        promos = promotions(settings, source)
    gate = live_gate(
        settings,
        permissions=perms,
        promotions=promos or None,
        key_scope=keys.trade.scope,
    )
    return RunPlan(gate, keys if gate.mode is not Mode.PAPER else None, perms, promos)


def permission_probe(settings: Settings, keys: BinanceKeys) -> PermissionResult:
    """The key-permission check before the daemon starts (a broker on a scratch store)."""
    scratch = Store(":memory:", durable=False)
    try:
        broker = BinanceBroker(
            settings,
            scratch,
            keys.trade,
            on_auth_error=keys.trade.on_auth_error,
            request_timeout_s=settings.request_timeout_seconds,
            **read_key(keys),
        )
        return check_broker_keys(broker)
    finally:
        scratch.close()


def promotions(settings: Settings, source: Source) -> list[PromotionCheck]:
    """Every bot's promotion, verified with the promotion key (the admin secret) and its
    strategy's code hash."""
    try:
        secret = admin_secret(settings, source, "promotion_key")
    except SecretError as exc:
        return [PromotionCheck(False, str(exc))]
    specs = settings.bot_specs()
    store = Store(settings.db_path)
    try:
        return [
            is_promoted(store, secret, bot, strat, STRATEGIES[strat].code_hash())
            for bot, _symbol, strat in specs
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
    settings: Settings, keys: BinanceKeys
) -> Callable[[Store, Metrics], BinanceBroker]:
    def make(store: Store, metrics: Metrics) -> BinanceBroker:
        return BinanceBroker(
            settings,
            store,
            keys.trade,
            on_auth_error=keys.trade.on_auth_error,
            metrics=MetricsBridge(metrics),
            request_timeout_s=settings.request_timeout_seconds,
            **read_key(keys),
        )

    return make


class PeriodicChecks:
    """Run from the daemon's housekeeping: the key-permission re-check (live only, every
    `TRADEWARDEN_PERMISSION_CHECK_SECONDS`, default hourly) and the secret-age gauges (every
    10 minutes)."""

    AGES_EVERY = 600.0

    def __init__(self, daemon: Any, settings: Settings, source: Source) -> None:
        self.d = daemon
        self.settings = settings
        self.source = source
        now = time.monotonic()
        self._next_perm = now + settings.permission_check_seconds
        self._next_ages = now
        self.last_permissions: PermissionResult | None = None

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

    def recheck_permissions(self) -> PermissionResult:
        result = check_broker_keys(self.d.broker)
        self.last_permissions = result
        if result.ok:
            return result
        reason = result.summary()
        self.d.risk.halt(reason, "key-permission check")
        cancelled = self.d.gate.cancel_all(sorted(self.d.trader.by_symbol), reason=reason)
        self.d.audit.append(
            "security_event",
            {"permissions": result.as_dict(), "cancelled": len(cancelled)},
            actor="key-permission check",
            sync=True,
        )
        self.d.notifier.notify(
            "key_permissions_changed",
            changes=result.bad_flags or {"check": "failed"},
            key=result.role,
            state="HALTED",
            actions=[f"cancelled {len(cancelled)} open orders"],
        )
        self.d.write_snapshot()
        return result
