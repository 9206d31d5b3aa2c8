"""Turning an alert's context into the labelled facts every channel shows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tradewarden.alerts.model import Alert, Severity

EMOJI = {Severity.CRITICAL: "🚨", Severity.WARNING: "⚠️", Severity.INFO: "ℹ️"}
RESOLVED_EMOJI = "✅"
COLOUR = {Severity.CRITICAL: "#D32F2F", Severity.WARNING: "#F9A825", Severity.INFO: "#1976D2"}
RESOLVED_COLOUR = "#2E7D32"

# context keys shown under their own label; everything else is an extra detail
KNOWN_KEYS = {
    "what",
    "value",
    "threshold",
    "unit",
    "state",
    "orders_cancelled",
    "positions_closed",
    "actions",
    "reset_command",
}


def emoji(alert: Alert) -> str:
    return RESOLVED_EMOJI if alert.resolved else EMOJI[alert.severity]


def colour(alert: Alert) -> str:
    return RESOLVED_COLOUR if alert.resolved else COLOUR[alert.severity]


def label(alert: Alert) -> str:
    return "RESOLVED" if alert.resolved else alert.severity.value.upper()


def timestamp(alert: Alert) -> str:
    return datetime.fromtimestamp(alert.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_value(value: Any, unit: str | None) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if unit == "pct":
        return f"{value:.2%}"
    if unit == "usd":
        return f"${value:,.2f}"
    if unit == "count":
        return f"{value:g}"
    text = f"{value:,.6g}"
    return f"{text} {unit}" if unit else text


def value_vs_threshold(alert: Alert) -> str | None:
    ctx = alert.context
    if "value" not in ctx:
        return None
    unit = ctx.get("unit")
    value = format_value(ctx["value"], unit)
    if ctx.get("threshold") is None:
        return value
    return f"{value} vs threshold {format_value(ctx['threshold'], unit)}"


def actions_taken(alert: Alert) -> list[str]:
    ctx = alert.context
    out: list[str] = []
    cancelled = ctx.get("orders_cancelled")
    if isinstance(cancelled, list):
        shown = ", ".join(str(o) for o in cancelled[:10])
        more = f" (+{len(cancelled) - 10} more)" if len(cancelled) > 10 else ""
        out.append(f"{len(cancelled)} order(s) cancelled" + (f": {shown}{more}" if shown else ""))
    closed = ctx.get("positions_closed")
    if isinstance(closed, list):
        shown = ", ".join(str(p) for p in closed)
        out.append(f"{len(closed)} position(s) closed" + (f": {shown}" if shown else ""))
    extra = ctx.get("actions")
    if isinstance(extra, list):
        out.extend(str(a) for a in extra)
    elif extra:
        out.append(str(extra))
    return out


def facts(alert: Alert) -> list[tuple[str, str]]:
    """(label, text) pairs in display order; empty ones are left out."""
    ctx = alert.context
    out: list[tuple[str, str]] = []
    if ctx.get("what"):
        out.append(("What tripped", str(ctx["what"])))
    vt = value_vs_threshold(alert)
    if vt:
        out.append(("Value vs threshold", vt))
    if ctx.get("state"):
        out.append(("State", str(ctx["state"])))
    actions = actions_taken(alert)
    if actions:
        out.append(("Actions taken", "; ".join(actions)))
    return out


def details(alert: Alert) -> list[tuple[str, str]]:
    """The context keys that have no label of their own, as (key, text)."""
    out = []
    for key in sorted(alert.context):
        if key in KNOWN_KEYS:
            continue
        value = alert.context[key]
        if isinstance(value, list):
            text = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            text = ", ".join(f"{k}={v}" for k, v in value.items())
        else:
            text = str(value)
        out.append((key, text))
    return out


def summary_line(alert: Alert) -> str:
    """One human line: ``[CRITICAL] Breaker tripped: ... | 5.20% vs threshold 5.00% | ...``."""
    parts = [f"[{label(alert)}] {alert.title}"]
    vt = value_vs_threshold(alert)
    if vt:
        parts.append(vt)
    if alert.context.get("state"):
        parts.append(f"state {alert.context['state']}")
    if alert.reset_command:
        parts.append(f"reset: {alert.reset_command}")
    if alert.runbook_url:
        parts.append(f"runbook: {alert.runbook_url}")
    return " | ".join(parts)


def plain_text(alert: Alert, outbox_id: str = "") -> str:
    """The full text form (email body, SNS default message)."""
    lines = [f"{label(alert)}: {alert.title}", ""]
    if alert.body:
        lines += [alert.body, ""]
    for name, text in facts(alert):
        lines.append(f"{name}: {text}")
    for name, text in details(alert):
        lines.append(f"{name}: {text}")
    if alert.reset_command:
        lines += ["", "To reset after investigating:", f"    {alert.reset_command}"]
    if alert.runbook_url:
        lines += ["", f"Runbook: {alert.runbook_url}"]
    lines += ["", f"Sent {timestamp(alert)} · dedup key {alert.dedup_key}"]
    if outbox_id:
        lines.append(f"tradewarden alert {outbox_id}")
    return "\n".join(lines) + "\n"
