"""Every alert the daemon raises, by severity (PETS security guidelines, "Alerts").

critical: breaker tripped, emergency stop, system error, security events (key permissions
changed, an order we did not place, audit chain broken).
warning: large position opened, approaching a breaker, unusual activity, low balance.
info: bot started / stopped, rebalance executed, daily summary.

Each constructor returns an `Alert` with a runbook link ``<runbook_base_url><name>.md``
(`RUNBOOKS` lists the files the links point at) and, where a human has to clear the
condition, the exact command in ``context["reset_command"]``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from tradewarden.alerts.model import Alert, Severity

DEFAULT_RUNBOOK_BASE_URL = "https://github.com/tradewarden/tradewarden/blob/main/runbooks/"

# alert kind -> runbook file (in runbooks/)
RUNBOOKS: dict[str, str] = {
    "breaker_tripped": "breaker-tripped.md",
    "emergency_stop": "emergency-stop.md",
    "manual_halt": "emergency-stop.md",
    "system_error": "system-error.md",
    "key_permissions_changed": "suspected-key-leak.md",
    "foreign_order": "reconciliation-mismatch.md",
    "futures_margin_call": "futures-margin-call.md",
    "audit_chain_broken": "audit-chain-broken.md",
    "large_position_opened": "large-position.md",
    "approaching_breaker": "approaching-breaker.md",
    "unusual_activity": "unusual-activity.md",
    "low_balance": "low-balance.md",
    "rebalance_proposed": "cold-wallet-rebalance.md",
    "bot_started": "bot-lifecycle.md",
    "bot_stopped": "bot-lifecycle.md",
    "rebalance_executed": "cold-wallet-rebalance.md",
    "daily_summary": "daily-summary.md",
    "secret_age": "secret-age.md",
    "custom": "alerts.md",
}

COUNT_BREAKERS = ("consecutive_losses",)

# A manual halt has its own key: an operator's halt never suppresses a breaker's emergency
# stop (nor the other way round) inside TRADEWARDEN_ALERT_DEDUP_SECONDS.
MANUAL_HALT_KEY = "manual-halt"


def trip_dedup_key(breaker: str, bot: str | None, *, emergency: bool) -> str:
    """The dedup key of one breaker's trip on one scope. An emergency stop's key names its
    breaker and scope, so it is only ever deduplicated against the same stop (which cannot
    trip again before a reset, and a reset resolves the key)."""
    scope = bot or "portfolio"
    return f"emergency-stop:{breaker}:{scope}" if emergency else f"breaker:{breaker}:{scope}"


def runbook_url(kind: str, base_url: str = DEFAULT_RUNBOOK_BASE_URL) -> str:
    base = base_url if base_url.endswith("/") else base_url + "/"
    return base + RUNBOOKS.get(kind, RUNBOOKS["custom"])


def _safe(text: Any) -> str:
    """Text that can sit inside a double-quoted shell argument unchanged."""
    return re.sub(r'["$`\\!\n\r]', "", str(text)).strip()


def _word(text: Any) -> str:
    """A bot or breaker name as one safe shell word (characters outside [A-Za-z0-9_.-] go)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "", str(text)) or "?"


def reset_command(what: str, scope: str = "--all") -> str:
    """The scoped reset a responder types: `scope` is what it points at (`--all` lists every
    trip and halt and who set it, and asks before clearing)."""
    return (
        f'tradewarden reset --reason "reviewed {_safe(what)}: <what you found and fixed>" {scope}'
    )


def breaker_scope(breaker: str, bot: str | None) -> str:
    scope = f"--breaker {_word(breaker)}"
    if bot and bot != "portfolio":
        scope += f" --bot {_word(bot)}"
    return scope


def _unit_for(breaker: str) -> str:
    return "count" if breaker in COUNT_BREAKERS else "pct"


def _alert(
    kind: str,
    severity: Severity,
    title: str,
    body: str,
    dedup_key: str,
    context: dict[str, Any],
    runbook_base_url: str,
    created_at: float | None,
) -> Alert:
    return Alert(
        severity=severity,
        title=title,
        body=body,
        dedup_key=dedup_key,
        runbook_url=runbook_url(kind, runbook_base_url),
        context={k: v for k, v in context.items() if v is not None},
        created_at=time.time() if created_at is None else created_at,
        kind=kind,
    )


# --- critical ---------------------------------------------------------------------------------
def breaker_tripped(
    breaker: str,
    bot: str | None,
    value: float,
    threshold: float,
    *,
    reason: str = "",
    state: str = "HALTED",
    orders_cancelled: Sequence[str] = (),
    positions_closed: Sequence[str] = (),
    unit: str | None = None,
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
    created_at: float | None = None,
) -> Alert:
    scope = bot or "portfolio"
    what = f"{breaker} breaker on {scope}"
    return _alert(
        "breaker_tripped",
        Severity.CRITICAL,
        f"Breaker tripped: {breaker} on {scope}",
        reason or f"The {breaker} breaker tripped; new orders are blocked until a human reset.",
        trip_dedup_key(breaker, bot, emergency=False),
        {
            "what": what,
            "value": value,
            "threshold": threshold,
            "unit": unit or _unit_for(breaker),
            "state": state,
            "orders_cancelled": list(orders_cancelled),
            "positions_closed": list(positions_closed),
            "reset_command": reset_command(
                f"{breaker} trip on {scope}", breaker_scope(breaker, bot)
            ),
        },
        runbook_base_url,
        created_at,
    )


def emergency_stop(
    trigger: str,
    *,
    breaker: str | None = None,
    bot: str | None = None,
    value: float | None = None,
    threshold: float | None = None,
    unit: str = "pct",
    reason: str = "",
    state: str = "HALTED",
    orders_cancelled: Sequence[str] = (),
    positions_closed: Sequence[str] = (),
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
    created_at: float | None = None,
) -> Alert:
    return _alert(
        "emergency_stop",
        Severity.CRITICAL,
        f"EMERGENCY STOP: {trigger}",
        reason or "All trading is halted and open orders were cancelled.",
        trip_dedup_key(breaker, bot, emergency=True)
        if breaker
        else f"emergency-stop:{re.sub(r'[^a-z0-9_]+', '-', trigger.lower()).strip('-')}",
        {
            "what": trigger,
            "value": value,
            "threshold": threshold,
            "unit": unit if value is not None else None,
            "state": state,
            "orders_cancelled": list(orders_cancelled),
            "positions_closed": list(positions_closed),
            "reset_command": reset_command(f"emergency stop ({trigger})"),
        },
        runbook_base_url,
        created_at,
    )


def manual_halt(
    actor: str,
    *,
    reason: str = "",
    state: str = "HALTED",
    orders_cancelled: Sequence[str] = (),
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
    created_at: float | None = None,
) -> Alert:
    """An operator's `tradewarden halt` (the seed's "manual trigger by admin")."""
    return _alert(
        "manual_halt",
        Severity.CRITICAL,
        f"MANUAL HALT by {actor}",
        reason or "An operator halted all trading; open orders were cancelled.",
        MANUAL_HALT_KEY,
        {
            "what": f"manual halt by {actor}",
            "actor": actor,
            "reason": reason or None,
            "state": state,
            "orders_cancelled": list(orders_cancelled),
            "reset_command": reset_command(f"manual halt by {actor}"),
        },
        runbook_base_url,
        created_at,
    )


def system_error(
    component: str,
    error: str,
    *,
    state: str = "HALTED",
    actions: Sequence[str] = (),
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
    created_at: float | None = None,
) -> Alert:
    return _alert(
        "system_error",
        Severity.CRITICAL,
        f"System error in {component}",
        f"{component} failed: {error}",
        f"system-error:{component}",
        {
            "what": f"{component} error",
            "error": error,
            "state": state,
            "actions": list(actions),
            "reset_command": reset_command(f"system error in {component}"),
        },
        runbook_base_url,
        created_at,
    )


def key_permissions_changed(
    changes: Mapping[str, Any],
    *,
    key: str = "trade",
    state: str = "HALTED",
    actions: Sequence[str] = (),
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
    created_at: float | None = None,
) -> Alert:
    """The API key's rights changed (``apiRestrictions``): treat as a suspected key leak."""
    shown = ", ".join(f"{k}={v}" for k, v in sorted(changes.items()))
    return _alert(
        "key_permissions_changed",
        Severity.CRITICAL,
        "Security: API key permissions changed",
        f"The Binance {key} key's permissions are not what was approved ({shown}). "
        "Treat the key as leaked: rotate it before trading again.",
        "security:key-permissions",
        {
            "what": f"API key permissions ({key} key)",
            "key": key,
            "changes": dict(changes),
            "state": state,
            "actions": list(actions),
            "reset_command": reset_command("key permission change, key rotated"),
        },
        runbook_base_url,
        created_at,
    )


def foreign_order(
    symbol: str,
    order_id: str | int,
    *,
    client_order_id: str = "",
    side: str = "",
    qty: float | None = None,
    price: float | None = None,
    state: str = "HALTED",
    orders_cancelled: Sequence[str] = (),
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
    created_at: float | None = None,
) -> Alert:
    """An order on the account that tradewarden did not place."""
    return _alert(
        "foreign_order",
        Severity.CRITICAL,
        f"Security: order {order_id} on {symbol} was not placed by tradewarden",
        "Reconciliation found an order with no local record. If nobody placed it by hand, "
        "the key may be leaked.",
        f"security:foreign-order:{symbol}:{order_id}",
        {
            "what": f"unknown order {order_id} on {symbol}",
            "symbol": symbol,
            "order_id": str(order_id),
            "client_order_id": client_order_id or None,
            "side": side or None,
            "qty": qty,
            "price": price,
            "state": state,
            "orders_cancelled": list(orders_cancelled),
            "reset_command": reset_command(f"foreign order {order_id} on {symbol}"),
        },
        runbook_base_url,
        created_at,
    )


def futures_margin_call(
    positions: Sequence[Mapping[str, Any]] = (),
    *,
    unreadable_positions: int = 0,
    state: str = "HALTED",
    orders_cancelled: Sequence[str] = (),
    positions_closed: Sequence[str] = (),
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
    created_at: float | None = None,
) -> Alert:
    """A futures ``MARGIN_CALL`` (the user data stream): a position's margin is near its
    maintenance margin, so the liquidation-distance breaker did not act in time. Trading is
    HALTED and every position closed with reduceOnly MARKET orders."""
    symbols = sorted({str(p.get("symbol", "?")) for p in positions}) or ["?"]
    where = ", ".join(symbols)
    return _alert(
        "futures_margin_call",
        Severity.CRITICAL,
        f"Futures MARGIN CALL on {where}",
        "Binance sent a margin call: a futures position is close to liquidation. Trading is "
        "halted, open orders cancelled and every position closed (reduceOnly MARKET).",
        f"futures-margin-call:{':'.join(symbols)}",
        {
            "what": f"futures margin call on {where}",
            "positions": [dict(p) for p in positions],
            "unreadable_positions": unreadable_positions or None,
            "state": state,
            "orders_cancelled": list(orders_cancelled),
            "positions_closed": list(positions_closed),
            "reset_command": reset_command(f"futures margin call on {where}"),
        },
        runbook_base_url,
        created_at,
    )


def audit_chain_broken(
    path: str,
    line: int,
    detail: str,
    *,
    state: str = "HALTED",
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
    created_at: float | None = None,
) -> Alert:
    return _alert(
        "audit_chain_broken",
        Severity.CRITICAL,
        "Security: audit log hash chain broken",
        f"`tradewarden audit verify` failed at {path} line {line}: {detail}",
        f"security:audit-chain:{path}",
        {
            "what": "audit hash chain",
            "file": path,
            "line": line,
            "detail": detail,
            "state": state,
            "verify_command": "tradewarden audit verify",
            "reset_command": reset_command(f"audit chain break in {path}"),
        },
        runbook_base_url,
        created_at,
    )


# --- warning ----------------------------------------------------------------------------------
def large_position_opened(
    bot: str,
    symbol: str,
    notional_usd: float,
    threshold_usd: float,
    *,
    share: float | None = None,
    threshold_share: float | None = None,
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
    created_at: float | None = None,
) -> Alert:
    """`share`/`threshold_share`: the position as a share of the portfolio equity and the
    share mark (TRADEWARDEN_LARGE_POSITION_PCT), when that is the mark it passed."""
    return _alert(
        "large_position_opened",
        Severity.WARNING,
        f"Large position opened: {symbol} on {bot}",
        f"{bot} now holds {symbol} worth more than the large-position mark.",
        f"large-position:{bot}:{symbol}",
        {
            "what": f"{symbol} position of {bot}",
            "value": notional_usd,
            "threshold": threshold_usd,
            "unit": "usd",
            "share_of_equity": round(share, 4) if share is not None else None,
            "threshold_share": threshold_share,
            "check_command": "tradewarden status",
        },
        runbook_base_url,
        created_at,
    )


def approaching_breaker(
    breaker: str,
    bot: str | None,
    value: float,
    threshold: float,
    *,
    warn_ratio: float = 0.8,
    unit: str | None = None,
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
    created_at: float | None = None,
) -> Alert:
    scope = bot or "portfolio"
    ratio = value / threshold if threshold else 0.0
    return _alert(
        "approaching_breaker",
        Severity.WARNING,
        f"Approaching breaker: {breaker} on {scope} at {ratio:.0%} of its limit",
        f"The {breaker} breaker is past {warn_ratio:.0%} of its threshold; "
        "it trips (and halts trading) at 100%.",
        f"approaching:{breaker}:{scope}",
        {
            "what": f"{breaker} breaker on {scope}",
            "value": value,
            "threshold": threshold,
            "unit": unit or _unit_for(breaker),
            "ratio": round(ratio, 4),
            "check_command": "tradewarden status",
            "pause_command": (
                f'tradewarden halt --reason "pre-empting {_safe(breaker)} on {_safe(scope)}"'
            ),
        },
        runbook_base_url,
        created_at,
    )


def unusual_activity(
    what: str,
    count: int,
    threshold: int,
    window_seconds: float,
    *,
    examples: Sequence[str] = (),
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
    created_at: float | None = None,
) -> Alert:
    """E.g. a burst of rejected orders: ``unusual_activity("rejected orders", 12, 5, 60)``."""
    return _alert(
        "unusual_activity",
        Severity.WARNING,
        f"Unusual activity: {count} {what} in {window_seconds:g} s",
        f"More {what} than expected ({count} in {window_seconds:g} s, limit {threshold}).",
        f"unusual-activity:{what}",
        {
            "what": what,
            "value": count,
            "threshold": threshold,
            "unit": "count",
            "window_seconds": window_seconds,
            "examples": list(examples)[:10] or None,
            "check_command": "tradewarden status",
        },
        runbook_base_url,
        created_at,
    )


def low_balance(
    asset: str,
    balance: float,
    threshold: float,
    *,
    unit: str | None = None,
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
    created_at: float | None = None,
) -> Alert:
    return _alert(
        "low_balance",
        Severity.WARNING,
        f"Low balance: {asset}",
        f"The free {asset} balance is below the configured minimum.",
        f"low-balance:{asset}",
        {
            "what": f"free {asset} balance",
            "value": balance,
            "threshold": threshold,
            "unit": unit or ("usd" if asset in ("USD", "USDT", "USDC") else asset),
            "check_command": "tradewarden wallet status",
        },
        runbook_base_url,
        created_at,
    )


def rebalance_proposed(
    direction: str,
    amount_usd: float,
    reason: str,
    *,
    proposal_id: str | None = None,
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
    created_at: float | None = None,
) -> Alert:
    """A hot/cold rebalance waits for a human approval (the daemon never moves cold funds)."""
    return _alert(
        "rebalance_proposed",
        Severity.WARNING,
        f"Rebalance needs approval: {direction} ${amount_usd:,.2f}",
        reason,
        f"rebalance-proposed:{direction}",
        {
            "what": "hot/cold wallet split",
            "direction": direction,
            "amount_usd": amount_usd,
            "proposal_id": proposal_id,
            "check_command": "tradewarden wallet status",
        },
        runbook_base_url,
        created_at,
    )


# --- info -------------------------------------------------------------------------------------
def bot_started(
    bot: str,
    *,
    mode: str = "",
    why_not_live: Sequence[str] = (),
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
    created_at: float | None = None,
) -> Alert:
    now = time.time() if created_at is None else created_at
    return _alert(
        "bot_started",
        Severity.INFO,
        f"Bot started: {bot}" + (f" ({mode})" if mode else ""),
        f"{bot} started" + (f" in {mode} mode." if mode else "."),
        f"bot-started:{bot}:{now:.3f}",
        {"what": bot, "mode": mode or None, "why_not_live": list(why_not_live) or None},
        runbook_base_url,
        now,
    )


def bot_stopped(
    bot: str,
    reason: str = "",
    *,
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
    created_at: float | None = None,
) -> Alert:
    now = time.time() if created_at is None else created_at
    return _alert(
        "bot_stopped",
        Severity.INFO,
        f"Bot stopped: {bot}",
        f"{bot} stopped" + (f": {reason}" if reason else "."),
        f"bot-stopped:{bot}:{now:.3f}",
        {"what": bot, "reason": reason or None},
        runbook_base_url,
        now,
    )


def rebalance_executed(
    direction: str,
    amount_usd: float,
    *,
    hot_before_usd: float | None = None,
    hot_after_usd: float | None = None,
    approved_by: Sequence[str] = (),
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
    created_at: float | None = None,
) -> Alert:
    now = time.time() if created_at is None else created_at
    return _alert(
        "rebalance_executed",
        Severity.INFO,
        f"Rebalance executed: {direction} ${amount_usd:,.2f}",
        "An approved hot/cold rebalance was carried out.",
        f"rebalance:{direction}:{now:.3f}",
        {
            "what": "hot/cold wallet split",
            "direction": direction,
            "amount_usd": amount_usd,
            "hot_before_usd": hot_before_usd,
            "hot_after_usd": hot_after_usd,
            "approved_by": list(approved_by) or None,
        },
        runbook_base_url,
        now,
    )


def daily_summary(
    date: str,
    pnl_usd: float,
    trades: int,
    breaker_headroom: Mapping[str, float],
    *,
    win_rate: float | None = None,
    state: str = "",
    period: str = "",
    breakers: Mapping[str, str] | None = None,
    hot_usd: float | None = None,
    cold_usd: float | None = None,
    late: str = "",
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
    created_at: float | None = None,
) -> Alert:
    """``breaker_headroom``: breaker name -> remaining fraction of its threshold (0..1);
    ``breakers``: breaker name -> its reading against its threshold, as text; ``late``: why
    it comes after its time (the daemon was down then)."""
    headroom = {k: f"{v:.0%}" for k, v in sorted(breaker_headroom.items())}
    return _alert(
        "daily_summary",
        Severity.INFO,
        f"Daily summary {date}: P&L ${pnl_usd:,.2f}, {trades} trades",
        f"Trading {period or f'day {date}'} (UTC)." + (f" Sent late: {late}." if late else ""),
        f"daily-summary:{date}",
        {
            "pnl_usd": pnl_usd,
            "trades": trades,
            "win_rate": win_rate,
            "breaker_headroom": headroom,
            "breakers": dict(breakers) if breakers else None,
            "hot_usd": hot_usd,
            "cold_usd": cold_usd,
            "state": state or None,
        },
        runbook_base_url,
        created_at,
    )


def secret_age(
    secret: str,
    age_days: float,
    *,
    critical: bool,
    warn_days: float = 80,
    critical_days: float = 90,
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
    created_at: float | None = None,
) -> Alert:
    """A secret past the rotation warning (80 days: warning) or the seed's 90-day rotation
    (critical), as the daemon reads it from the secret source."""
    limit = critical_days if critical else warn_days
    return _alert(
        "secret_age",
        Severity.CRITICAL if critical else Severity.WARNING,
        f"Secret {secret} is {age_days:.0f} days old"
        + (
            ": past the 90-day rotation"
            if critical
            else f": rotate within {critical_days - age_days:.0f} days"
        ),
        f"{secret} was created {age_days:.1f} days ago; the rotation policy rotates every"
        f" {critical_days:g} days.",
        f"secret-age:{secret}:{'critical' if critical else 'warning'}",
        {
            "what": f"secret {secret}",
            "value": round(age_days, 2),
            "threshold": limit,
            "unit": "days",
            "check_command": "tradewarden secrets check",
        },
        runbook_base_url,
        created_at,
    )


def custom(
    kind: str,
    context: Mapping[str, Any],
    *,
    severity: Severity = Severity.WARNING,
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
    created_at: float | None = None,
) -> Alert:
    """An event without its own constructor: still delivered, never dropped."""
    shown = ", ".join(f"{k}={v}" for k, v in context.items())
    return _alert(
        "custom",
        severity,
        f"Event: {kind}",
        shown,
        f"custom:{kind}",
        dict(context),
        runbook_base_url,
        created_at,
    )
