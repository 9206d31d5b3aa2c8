"""Adapter from the daemon's ``notifier.notify(kind, **context)`` calls to catalogue alerts.

`Dispatcher.notify` uses it, so a dispatcher can stand wherever any `Notifier` stands.
A kind without a catalogue constructor (or with context it does not fit) still becomes
an alert (`catalogue.custom`): nothing the daemon reports is dropped.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from tradewarden.alerts import catalogue
from tradewarden.alerts.model import Alert

CONSTRUCTORS: dict[str, Callable[..., Alert]] = {
    name: getattr(catalogue, name)
    for name in catalogue.RUNBOOKS
    if name != "custom" and callable(getattr(catalogue, name, None))
}


def _emergency(ctx: dict[str, Any], base: str) -> Alert:
    if ctx.get("trigger") and not ctx.get("breaker"):  # not a breaker: a system critical error
        return catalogue.emergency_stop(
            str(ctx["trigger"]),
            reason=str(ctx.get("reason", "")),
            state=ctx.get("state", "HALTED"),
            orders_cancelled=ctx.get("orders_cancelled", ()),
            positions_closed=ctx.get("positions_closed", ()),
            runbook_base_url=base,
        )
    breaker = ctx.get("breaker") or "portfolio drawdown"
    reason = str(ctx.get("reason", ""))
    if ctx.get("positions_left"):  # the flatten could not sell these (yet): retried
        reason += f"; positions not yet sold (flatten retried): {ctx['positions_left']}"
    return catalogue.emergency_stop(
        f"{breaker} breaker" + (f" on {ctx['bot']}" if ctx.get("bot") else ""),
        breaker=ctx.get("breaker") or "portfolio_drawdown",
        bot=ctx.get("bot"),
        value=ctx.get("value"),
        threshold=ctx.get("threshold"),
        reason=reason,
        state=ctx.get("state", "HALTED"),
        orders_cancelled=ctx.get("orders_cancelled", ()),
        positions_closed=ctx.get("positions_closed", ()),
        runbook_base_url=base,
    )


def _manual_halt(ctx: dict[str, Any], base: str) -> Alert:
    if ctx.get("action", "halt") != "halt":
        return catalogue.custom("manual_" + str(ctx.get("action")), ctx, runbook_base_url=base)
    return catalogue.manual_halt(
        str(ctx.get("actor") or "an operator"),
        reason=ctx.get("reason", ""),
        orders_cancelled=ctx.get("orders_cancelled", ()),
        runbook_base_url=base,
    )


SPECIAL: dict[str, Callable[[dict[str, Any], str], Alert]] = {
    "emergency_stop": _emergency,
    "manual_halt": _manual_halt,
}


def alert_for(kind: str, context: dict[str, Any], runbook_base_url: str) -> Alert:
    if kind in SPECIAL:
        return SPECIAL[kind](context, runbook_base_url)
    build = CONSTRUCTORS.get(kind)
    if build is not None:
        accepted = inspect.signature(build).parameters
        try:
            return build(
                **{k: v for k, v in context.items() if k in accepted},
                runbook_base_url=runbook_base_url,
            )
        except (TypeError, ValueError):
            pass  # context does not fit the constructor: fall through to a generic alert
    return catalogue.custom(kind, context, runbook_base_url=runbook_base_url)
