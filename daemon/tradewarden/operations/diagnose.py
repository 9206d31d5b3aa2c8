"""`tradewarden diagnose`: the seed's status diagnostics, one PASS/FAIL line per check.

From the daemon's state (SQLite status snapshot, breakers, alert outbox — what
`tradewarden status` reads):

- mode: the mode that runs and why it is not live; FAIL when the daemon runs another mode
  than the configuration asks for, or live is asked for and blocked
- daemon: running (it holds the state lock) with a fresh status snapshot
- trading state: ACTIVE, or FAIL with why it is REDUCING/HALTED
- breakers: none tripped (and how close the nearest is)
- alert outbox: nothing waiting longer than the backlog alert allows, nothing stuck
- streams (testnet/live only): the exchange loop's user data and market streams
  (TRADEWARDEN_STREAMS): connected, last message age, reconnects; FAIL while the loop is
  in its polling fallback (a stream down or stale: it trades, at today's REST weights) or
  a candle gap is not back-filled (no strategy decision); PASS when streams are off

From the exchange (testnet/live only; SKIP in paper mode), through a `BinanceBroker` with
its own limiter and the daemon's credentials:

- connectivity: ``GET /api/v3/ping``; FAIL while a 418 ban persisted by the daemon runs
- clock skew: the server-time offset (``GET /api/v3/time``) within ±500 ms
- limiter headroom: request weight the exchange counts for this IP this minute
  (``X-MBX-USED-WEIGHT-1M`` of an exchangeInfo call) below 80% of its limit
- key permissions: ``GET /sapi/v1/account/apiRestrictions`` — spot trading on,
  withdrawals and transfers off, IP-restricted — the daemon's own rule
  (`tradewarden.live.key_permissions`); SKIP where the spot testnet has no /sapi

With ``TRADEWARDEN_FUTURES_ENABLED=true`` the broker is the daemon's `FuturesGateway`: ping,
server time and the weight of exchangeInfo on ``/fapi`` (its own weight pool), and the key
check with the futures rules, the trade key's futures account included (``canTrade``).

On the host (``/etc/tradewarden/host.env`` exists): the egress IP, the NAT's Elastic IP the
stack wrote there (stack output ``natPublicIp``) — what the exchange sees, to compare with
the API keys' IP whitelist.

The thresholds match the Prometheus alerts (ops/prometheus/rules/alerts.yml). Exit status:
0 when nothing failed, 1 when any check failed (the CLI's 2 is a bad configuration).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradewarden.core.config import Mode, Settings

if TYPE_CHECKING:
    from tradewarden.exchange import BinanceBroker
    from tradewarden.state.store import Store

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
SNAPSHOT_MAX_AGE_S = 15.0  # the daemon writes one every second
OUTBOX_MAX_AGE_S = 300.0  # AlertOutboxBacklog (warning)
STUCK_AFTER = 10  # delivery attempts (alerts.outbox.DEFAULT_STUCK_AFTER)
MAX_SKEW_MS = 500.0  # ClockSkew (warning)
MAX_WEIGHT_RATIO = 0.8  # RateLimitNearBudget
HOST_ENV = Path("/etc/tradewarden/host.env")  # written by infra (cloud-init, SSM deploy)


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # PASS | FAIL | SKIP
    detail: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.status == FAIL


@dataclass(frozen=True)
class OutboxView:
    depth: int
    oldest_age_s: float
    stuck: int
    pending_by_channel: dict[str, int]
    delivered_by_channel: dict[str, int]
    last_error: str | None


# --- checks on the daemon's state ------------------------------------------------------------
def check_mode(settings: Settings, status: dict[str, Any]) -> Check:
    wanted = settings.mode.value
    running = status.get("mode") or wanted
    why = [str(w) for w in status.get("why_not_live") or []]
    data = {"configured": wanted, "running": running, "why_not_live": why}
    if status.get("daemon_running") and running != wanted:
        return Check(
            "mode",
            FAIL,
            f"the daemon runs {running} but TRADEWARDEN_MODE is {wanted}: restart it to apply"
            " the configuration",
            data,
        )
    if settings.mode is Mode.LIVE and running != Mode.LIVE.value:
        return Check("mode", FAIL, "live requested but blocked: " + "; ".join(why), data)
    detail = running + (" (not live because: " + "; ".join(why) + ")" if why else "")
    return Check("mode", PASS, detail, data)


def check_daemon(status: dict[str, Any], now: float) -> Check:
    ts = status.get("snapshot_ts")
    age = None if ts is None else max(0.0, now - float(ts))
    data = {"running": bool(status.get("daemon_running")), "snapshot_age_s": age}
    if not status.get("daemon_running"):
        seen = "never ran here" if age is None else f"last status snapshot {_ago(age)} ago"
        return Check("daemon", FAIL, f"not running ({seen}): nothing trades or watches", data)
    if age is None or age > SNAPSHOT_MAX_AGE_S:
        shown = "none" if age is None else _ago(age)
        return Check(
            "daemon",
            FAIL,
            f"running but its status snapshot is {shown} old (refreshed every second):"
            " the main loop is stuck",
            data,
        )
    ticks = status.get("ticks")
    extra = f", {ticks} market events" if ticks is not None else ""
    return Check("daemon", PASS, f"running, status snapshot {age:.1f} s old{extra}", data)


def check_state(status: dict[str, Any]) -> Check:
    state = str(status.get("state") or "unknown")
    reason = status.get("state_reason") or ""
    halted = sorted(b for b, s in (status.get("bots") or {}).items() if s != "active")
    data = {"state": state, "reason": reason, "bots_not_active": halted}
    if state == "active":
        bots = f" (bots halted by their breakers: {', '.join(halted)})" if halted else ""
        return Check("trading state", PASS, "ACTIVE" + bots, data)
    return Check(
        "trading state",
        FAIL,
        f"{state.upper()}" + (f": {reason}" if reason else ""),
        data,
    )


def check_breakers(status: dict[str, Any]) -> Check:
    breakers = list(status.get("breakers") or [])
    trips = list(status.get("trips") or [])
    data: dict[str, Any] = {"breakers": len(breakers), "tripped": trips}
    if trips:
        shown = ", ".join(
            f"{t['breaker']} on {t['bot']} ({_num(t.get('value'))} vs limit"
            f" {_num(t.get('threshold'))})"
            for t in trips
        )
        return Check(
            "breakers",
            FAIL,
            f'{len(trips)} tripped: {shown}; after review: tradewarden reset --reason "..." --all',
            data,
        )
    if not breakers:
        return Check("breakers", PASS, "none tripped (no readings yet)", data)
    ratios = [
        (b["value"] / b["threshold"], b)
        for b in breakers
        if b.get("threshold") and b.get("value") is not None
    ]
    if not ratios:
        return Check("breakers", PASS, f"all {len(breakers)} clear", data)
    ratio, nearest = max(ratios, key=lambda x: x[0])
    data["nearest"] = {"breaker": nearest["breaker"], "bot": nearest["bot"], "ratio": ratio}
    return Check(
        "breakers",
        PASS,
        f"all {len(breakers)} clear; nearest {nearest['breaker']} on {nearest['bot']}"
        f" at {max(ratio, 0.0):.0%} of its limit",
        data,
    )


def check_streams(status: dict[str, Any]) -> Check:
    """The exchange loop's streams as of the status snapshot (see the module docstring)."""
    view = status.get("streams")
    if not status.get("daemon_running") or not isinstance(view, dict):
        return Check("streams", SKIP, "no stream health: the daemon is not running")
    if view.get("mode") != "on":
        return Check("streams", PASS, "off (TRADEWARDEN_STREAMS=off): the polling loop", view)
    if not view.get("started"):
        return Check("streams", FAIL, "on, but not started yet (first reconciliation)", view)
    parts = []
    for kind in ("user", "market"):
        if kind in view and view[kind] is None:
            continue  # futures (issue 20): no market stream
        h = view.get(kind) or {}
        age = h.get("last_message_age_s")
        shown = "no message yet" if age is None else f"last message {_ago(float(age))} ago"
        state = "connected" if h.get("connected") else "DISCONNECTED"
        parts.append(f"{kind} {state}, {shown}, {h.get('reconnects', 0)} reconnect(s)")
    detail = "; ".join(parts)
    gaps = [str(g) for g in view.get("candle_gaps") or []]
    if view.get("fallback"):
        why = view.get("fallback_reason")
        return Check("streams", FAIL, f"polling fallback ({why}): {detail}", view)
    if gaps:
        return Check("streams", FAIL, "; ".join(gaps), view)
    return Check(
        "streams",
        PASS,
        f"event-driven ({view.get('kline_interval')} klines): {detail}"
        if view.get("kline_interval")
        else f"event-driven (futures user stream): {detail}",
        view,
    )


def check_outbox(view: OutboxView | None) -> Check:
    if view is None:
        return Check("alert outbox", PASS, "empty (no alert raised on this state yet)")
    data = asdict(view)
    delivered = sum(view.delivered_by_channel.values())
    by = ", ".join(f"{c} {n}" for c, n in sorted(view.delivered_by_channel.items()))
    done = f"{delivered} delivered" + (f" ({by})" if by else "")
    if view.depth == 0:
        return Check("alert outbox", PASS, f"nothing pending; {done}", data)
    pending = ", ".join(f"{c} {n}" for c, n in sorted(view.pending_by_channel.items()))
    head = f"{view.depth} pending ({pending}), oldest {_ago(view.oldest_age_s)}"
    if view.oldest_age_s > OUTBOX_MAX_AGE_S or view.stuck:
        why = f"; {view.stuck} stuck after {STUCK_AFTER}+ attempts" if view.stuck else ""
        err = f"; last error: {view.last_error}" if view.last_error else ""
        return Check(
            "alert outbox",
            FAIL,
            f"{head}{why}{err} — a channel is down (runbooks/alert-delivery-backlog.md)",
            data,
        )
    return Check("alert outbox", PASS, f"{head}; {done}", data)


SUMMARY_GRACE_S = 120.0  # the daemon queues the summary within a second of its time


def check_daily_summary(settings: Settings, store: Store, now: float) -> Check:
    """Was the latest daily summary (TRADEWARDEN_DAILY_SUMMARY_UTC) queued? Its delivery is
    the outbox check's business."""
    from datetime import UTC, datetime

    from tradewarden.runtime.self_alerts import SUMMARY_KEY, last_due, seconds_of_day

    def utc(ts: float) -> str:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")

    last = store.get(SUMMARY_KEY)
    if last is None:
        return Check("daily summary", SKIP, "no daemon has run on this state yet")
    due = last_due(now, seconds_of_day(settings.daily_summary_utc))
    data = {"last_due": float(last), "due": due}
    if float(last) >= due or now - due < SUMMARY_GRACE_S:
        return Check("daily summary", PASS, f"{utc(due)} queued; next {utc(due + 86_400)}", data)
    return Check(
        "daily summary",
        FAIL,
        f"the summary of {utc(due)} was not sent (last: {utc(float(last))}): the daemon was"
        " not running then; it sends it at its next start (runbooks/daemon-down.md)",
        data,
    )


def read_outbox(store: Store, now: float) -> OutboxView | None:
    """The outbox tables (tradewarden.alerts.outbox) read through the state store; None if
    the daemon never created them. Read-only: diagnose never claims or changes a row."""
    from tradewarden.state.store import StateError

    try:
        pending = store.query(
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest, SUM(attempts >= ?) AS stuck"
            " FROM alert_outbox WHERE delivered_at IS NULL",
            (STUCK_AFTER,),
        )[0]
        by_channel = store.query(
            "SELECT channel, COUNT(*) AS n FROM alert_outbox WHERE delivered_at IS NULL"
            " GROUP BY channel"
        )
        last = store.query(
            "SELECT last_error FROM alert_outbox WHERE delivered_at IS NULL"
            " AND last_error IS NOT NULL ORDER BY created_at DESC LIMIT 1"
        )
        counters = store.query("SELECT channel, value FROM alert_counters WHERE name = 'delivered'")
    except StateError as exc:
        if "no such table" in str(exc):
            return None
        raise
    oldest = pending["oldest"]
    return OutboxView(
        depth=int(pending["n"]),
        oldest_age_s=0.0 if oldest is None else max(0.0, now - float(oldest)),
        stuck=int(pending["stuck"] or 0),
        pending_by_channel={r["channel"]: int(r["n"]) for r in by_channel},
        delivered_by_channel={r["channel"]: int(r["value"]) for r in counters},
        last_error=last[0]["last_error"] if last else None,
    )


# --- checks against the exchange -------------------------------------------------------------
def exchange_checks(settings: Settings, broker: BinanceBroker) -> list[Check]:
    """connectivity, clock skew, limiter headroom, key permissions via a `BinanceBroker`."""
    from tradewarden.exchange import endpoints as ep
    from tradewarden.exchange.ratelimit import LimitKind
    from tradewarden.trading.broker import BrokerError

    url = settings.effective_binance_url
    names = ("clock skew", "limiter headroom", "key permissions")
    paused = broker.limiter.paused_for()
    if paused > 0:
        banned = Check(
            "connectivity",
            FAIL,
            f"requests to {url} paused {paused:.0f} s more after an exchange ban (HTTP 418)",
            {"paused_s": paused},
        )
        return [banned, *(Check(n, FAIL, "not checked: the exchange is banning us") for n in names)]
    started = time.perf_counter()
    try:
        broker.reader.call(ep.PING, "ping")
    except BrokerError as exc:
        down = Check("connectivity", FAIL, f"{url}: {exc}", {"url": url})
        return [down, *(Check(n, FAIL, "not checked: the exchange is unreachable") for n in names)]
    ms = (time.perf_counter() - started) * 1000.0
    out = [Check("connectivity", PASS, f"{url} answers ping in {ms:.0f} ms", {"ping_ms": ms})]

    try:
        offset = float(broker.reader.sync_time())
    except BrokerError as exc:
        out.append(Check("clock skew", FAIL, f"server time unavailable: {exc}"))
    else:
        data = {"offset_ms": offset, "limit_ms": MAX_SKEW_MS}
        text = f"exchange clock {offset:+.0f} ms from ours (limit ±{MAX_SKEW_MS:.0f} ms)"
        if abs(offset) > MAX_SKEW_MS:
            out.append(Check("clock skew", FAIL, text + ": fix NTP on this host", data))
        else:
            out.append(Check("clock skew", PASS, text, data))

    try:
        broker.load_exchange_info()  # the limits, and a usage header for this IP
    except BrokerError as exc:
        out.append(Check("limiter headroom", FAIL, f"exchangeInfo unavailable: {exc}"))
    else:
        limiter = broker.limiter
        limit = next(
            (
                lim.limit
                for lim in limiter.limits
                if lim.kind is LimitKind.REQUEST_WEIGHT and lim.interval_s == 60
            ),
            0,
        )
        used = float(limiter.used(LimitKind.REQUEST_WEIGHT, 60))
        data = {"used": used, "limit": limit}
        if limit <= 0:
            out.append(Check("limiter headroom", FAIL, "exchangeInfo lists no weight limit", data))
        else:
            ratio = used / limit
            text = (
                f"request weight {used:.0f}/{limit} this minute ({limit - used:.0f} left,"
                f" {ratio:.0%} used; alert at {MAX_WEIGHT_RATIO:.0%})"
            )
            status = FAIL if ratio >= MAX_WEIGHT_RATIO else PASS
            out.append(Check("limiter headroom", status, text, data | {"ratio": ratio}))

    out.append(_key_permissions(settings, broker))
    return out


def _key_permissions(settings: Settings, broker: BinanceBroker) -> Check:
    """The daemon's own rule (`tradewarden.live.key_permissions.evaluate_restrictions`), for the
    trade key and, when there is a separate one, the read key."""
    from tradewarden.exchange.futures_gateway import FuturesGateway
    from tradewarden.live.key_permissions import check_futures_account, evaluate_restrictions
    from tradewarden.trading.broker import BrokerError

    keys = broker.key_roles
    data: dict[str, Any] = {}
    for key in keys:
        try:
            flags = broker.api_restrictions(key)
        except BrokerError as exc:
            if settings.mode is Mode.TESTNET:
                return Check(
                    "key permissions",
                    SKIP,
                    f"not readable here (the spot testnet has no /sapi): {exc}",
                )
            return Check("key permissions", FAIL, f"apiRestrictions ({key} key) unavailable: {exc}")
        result = evaluate_restrictions(
            flags if isinstance(flags, dict) else {}, key, futures=settings.futures_enabled
        )
        if settings.futures_enabled and key == "trade":  # the gate's futures-account check
            futures = broker if isinstance(broker, FuturesGateway) else None
            result = check_futures_account(result, futures)
        data[key] = {"flags": dict(result.flags), "warnings": list(result.warnings)}
        if not result.ok:
            named = "" if len(keys) == 1 else f"{key} key: "
            return Check(
                "key permissions",
                FAIL,
                named
                + "; ".join(result.problems)
                + " — treat as a suspected key leak (runbooks/suspected-key-leak.md)",
                data[key] if len(keys) == 1 else data,
            )
    if settings.futures_enabled:
        return Check(
            "key permissions",
            PASS,
            "futures rules: USD-M futures trading on (the futures account may trade), no"
            " withdrawals, transfers, margin or options; IP-restricted",
            data["trade"] if len(keys) == 1 else data,
        )
    if len(keys) == 1:
        return Check(
            "key permissions",
            PASS,
            "spot trading and reading only; no withdrawals or transfers; IP-restricted",
            data["trade"],
        )
    return Check(
        "key permissions",
        PASS,
        "trade key: spot trading and reading only; read key: reading; neither can withdraw"
        " or transfer; both IP-restricted",
        data,
    )


def make_broker(settings: Settings, store: Store) -> BinanceBroker:
    """A `BinanceBroker` for diagnose (with TRADEWARDEN_FUTURES_ENABLED the daemon's
    `FuturesGateway`: ping, time, exchangeInfo and weight on ``/fapi``, the futures account
    in the key check): the daemon's trade key from the configured secret source, a private
    limiter (the exchange's usage header tells the IP-wide weight), short timeouts. Raises
    `SecretError` when the key cannot be read."""
    from tradewarden.exchange import BinanceBroker, RateLimiter
    from tradewarden.exchange.futures_gateway import FuturesGateway
    from tradewarden.runtime.wiring import read_key
    from tradewarden.secrets.credentials import binance_keys
    from tradewarden.secrets.factory import build_source

    keys = binance_keys(settings, build_source(settings))
    gateway = FuturesGateway if settings.futures_enabled else BinanceBroker
    return gateway(
        settings,
        store,
        keys.trade,
        on_auth_error=keys.trade.on_auth_error,
        limiter=RateLimiter(),
        request_timeout_s=min(settings.request_timeout_seconds, 5.0),
        max_queue_s=5.0,
        **read_key(keys),
    )


def check_egress_ip(host_env: Path = HOST_ENV) -> Check | None:
    """The address the exchange sees from this host; None off a tradewarden host."""
    try:
        text = host_env.read_text(encoding="utf-8")
    except OSError:
        return None
    ip = ""
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "TRADEWARDEN_EGRESS_IP":
            ip = value.strip()
    if not ip:
        return Check(
            "egress IP",
            SKIP,
            f"not recorded in {host_env}: see `pulumi stack output natPublicIp`"
            " (the SSM deploy document records it)",
        )
    return Check(
        "egress IP",
        PASS,
        f"{ip} (the NAT's Elastic IP: what Binance sees; the API keys' IP whitelist must list it)",
        {"egress_ip": ip},
    )


# --- the whole run ---------------------------------------------------------------------------
def run_checks(
    settings: Settings,
    *,
    now: Callable[[], float] = time.time,
    broker_factory: Callable[[Settings, Store], BinanceBroker] = make_broker,
    host_env: Path = HOST_ENV,
) -> list[Check]:
    from tradewarden.core.config import ConfigError
    from tradewarden.secrets.errors import SecretError
    from tradewarden.state.store import StateError, Store

    try:
        store = Store(settings.db_path)
    except StateError as exc:
        return [Check("state", FAIL, str(exc))]
    try:
        from tradewarden.operations.actions import read_status

        status = read_status(settings)
        checks = [
            check_mode(settings, status),
            check_daemon(status, now()),
            check_state(status),
            check_breakers(status),
            check_outbox(read_outbox(store, now())),
            check_daily_summary(settings, store, now()),
        ]
        exchange = ("connectivity", "clock skew", "limiter headroom", "key permissions")
        if settings.mode is not Mode.PAPER:
            checks.append(check_streams(status))
        if settings.mode is Mode.PAPER:
            checks += [Check(n, SKIP, "paper mode: no exchange") for n in exchange]
        else:
            try:
                broker = broker_factory(settings, store)
            except (ConfigError, SecretError) as exc:
                checks += [Check(n, FAIL, f"no usable exchange key: {exc}") for n in exchange]
            else:
                checks += exchange_checks(settings, broker)
        egress = check_egress_ip(host_env)
        if egress is not None:
            checks.append(egress)
        return checks
    finally:
        store.close()


def render(checks: Sequence[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{c.status:<4}  {c.name:<{width}}  {c.detail}" for c in checks]
    failed = [c.name for c in checks if c.failed]
    skipped = sum(c.status == SKIP for c in checks)
    if failed:
        lines.append(f"{len(failed)} of {len(checks)} checks failed: {', '.join(failed)}")
    else:
        lines.append(
            f"all {len(checks) - skipped} checks passed"
            + (f", {skipped} skipped" if skipped else "")
        )
    return "\n".join(lines)


def to_json(checks: Sequence[Check]) -> str:
    return json.dumps(
        {"ok": not any(c.failed for c in checks), "checks": [asdict(c) for c in checks]},
        indent=2,
        default=str,
    )


def exit_code(checks: Sequence[Check]) -> int:
    return 1 if any(c.failed for c in checks) else 0


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _num(v: Any) -> str:
    if isinstance(v, float) and not v.is_integer():
        return f"{v:.4g}"
    try:
        return f"{float(v):g}"
    except (TypeError, ValueError):
        return str(v)
