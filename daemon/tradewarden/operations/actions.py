"""What the CLI does for a human: read the status, halt, reduce, reset."""

from __future__ import annotations

import sys
from typing import Any

import typer

from tradewarden import __version__
from tradewarden.core.actor import current_actor
from tradewarden.core.config import Settings
from tradewarden.operations.control import DEFAULT_WAIT_S, request_via_daemon
from tradewarden.operations.opening import audit_or_exit, open_store_or_exit
from tradewarden.risk.engine import ResetPlan, ResetScope, RiskEngine
from tradewarden.runtime.halt_reset import OfflineSite, apply_halt, apply_reset
from tradewarden.runtime.lock import DaemonLock
from tradewarden.state.keys import StateKey
from tradewarden.state.store import Store


def _daemon_running(settings: Settings) -> bool:
    lock = DaemonLock(settings.state_dir)
    if lock.acquire():
        lock.release()
        return False
    return True


def read_status(settings: Settings) -> dict[str, Any]:
    store = open_store_or_exit(settings)
    try:
        snap = store.get(StateKey.STATUS_SNAPSHOT) or {}
        risk = RiskEngine(settings, store, [b[0] for b in settings.bot_specs()])
        live = risk.status()  # trips and state straight from the database
        st: dict[str, Any] = {
            "version": __version__,
            "mode": snap.get("mode"),
            "why_not_live": snap.get("why_not_live"),
            "equity": snap.get("equity"),
            "ticks": snap.get("ticks"),
            "snapshot_ts": snap.get("snapshot_ts"),
            "breakers": snap.get("breakers") or live["breakers"],
            "open_orders": len(store.open_orders()),
            "size_factor": (store.get(StateKey.SIZE_RAMP) or {"factor": 1.0})["factor"],
            "streams": snap.get("streams"),  # testnet/live: the exchange loop's streams
        }
        st.update({k: live[k] for k in ("state", "state_reason", "bots", "trips", "halts")})
        tripped = {(t["breaker"], t["bot"]) for t in live["trips"]}
        for b in st["breakers"]:
            b["tripped"] = (b["breaker"], b["bot"]) in tripped
        if st["mode"] is None:
            from tradewarden.runtime.daemon import decide_mode

            d = decide_mode(settings)
            st["mode"], st["why_not_live"] = d.mode.value, d.blockers
        st["daemon_running"] = _daemon_running(settings)
        return st
    finally:
        store.close()


def human_action(
    settings: Settings, action: str, reason: str, *, wait: float = DEFAULT_WAIT_S
) -> int:
    """Apply halt/reduce through the running daemon, or directly when none runs (both by
    halt_reset.py's one implementation)."""
    if not reason.strip():
        typer.echo("error: --reason must not be empty", err=True)
        return 2
    who = current_actor()
    lock = DaemonLock(settings.state_dir)
    if not lock.acquire():
        store = open_store_or_exit(settings)
        try:
            res = request_via_daemon(store, lock, action, reason, who, timeout=wait)
        finally:
            store.close()
        if res["status"] == "held":
            typer.echo(
                f"{action} in force now ({res['result']['state']}): the running daemon is "
                "waiting on the exchange and refuses every order that has not left; it "
                "cancels open orders as soon as that wait ends"
            )
            return 0
        if res["status"] == "applying":
            typer.echo(f"error: {action} result unknown: {res['result']}", err=True)
            return 1
        if res["status"] != "done":
            typer.echo(f"error: {action} not applied: {res['result']}", err=True)
            if res["status"] == "expired":
                typer.echo(
                    "The daemon is not responding: stop it (`sudo systemctl stop tradewarden`)"
                    f" and run `tradewarden {action if action == 'halt' else 'halt --reducing'}`"
                    " again; with no daemon running it is recorded for the next start.",
                    err=True,
                )
            return 1
        typer.echo(f"{action} applied by the running daemon: {res['result']}")
        return 0
    try:
        store = open_store_or_exit(settings)
        try:
            audit = audit_or_exit(settings, store)
        except BaseException:
            store.close()
            raise
        try:
            risk = RiskEngine(settings, store, [b[0] for b in settings.bot_specs()])
            apply_halt(OfflineSite(settings, store, audit, risk), action, reason, who)
            typer.echo(
                f"{action} recorded by {who}; state {risk.state.label}. The daemon is "
                "not running: it will start in this state and cancel open orders."
            )
        finally:
            audit.close()
            store.close()
    finally:
        lock.release()
    return 0


def _print_plan(plan: ResetPlan) -> None:
    if plan.clear:
        typer.echo("This reset clears:")
        for item in plan.clear:
            typer.echo(f"  - {item.describe()}")
    if plan.keep:
        typer.echo("It keeps:")
        for kept in plan.keep:
            typer.echo(f"  - {kept.item.describe()} [{kept.why}]")


def _print_kept(store: Store, risk: RiskEngine, scope: ResetScope, who: str) -> None:
    left = risk.plan_reset(ResetScope(all=True, include_manual_halt=True), who).clear
    if left:
        typer.echo("Still in force:")
        for item in left:
            typer.echo(f"  - {item.describe()}")
        if any(k.why.endswith("--include-manual-halt") for k in risk.plan_reset(scope, who).keep):
            typer.echo(
                "A manual halt set by someone else stays until they agree and you add "
                "--include-manual-halt."
            )


def human_reset(
    settings: Settings,
    reason: str,
    scope: ResetScope,
    *,
    yes: bool = False,
    wait: float = DEFAULT_WAIT_S,
) -> int:
    """`tradewarden reset`: say what the scope clears and keeps, confirm `--all`, then clear
    exactly the listed items (through the running daemon, or directly when none runs)."""
    if not reason.strip():
        typer.echo("error: --reason must say why it is safe to resume", err=True)
        return 2
    bots = [b[0] for b in settings.bot_specs()]
    unknown_bots = sorted(scope.bots - set(bots))
    if unknown_bots:
        typer.echo(
            f"error: --bot {', '.join(unknown_bots)}: not one of TRADEWARDEN_BOTS "
            f"({', '.join(bots)})",
            err=True,
        )
        return 2
    who = current_actor()
    store = open_store_or_exit(settings)
    try:
        risk = RiskEngine(settings, store, bots)
        names = [b.name for b in risk.breakers]
        unknown = sorted(scope.breakers - set(names))
        if unknown:
            typer.echo(
                f"error: --breaker {', '.join(unknown)}: not a breaker ({', '.join(names)})",
                err=True,
            )
            return 2
        if scope.empty:
            _print_plan(risk.plan_reset(ResetScope(all=True, include_manual_halt=True), who))
            typer.echo(
                "error: say what to reset: --bot NAME and/or --breaker NAME for trips, --all "
                "for every trip and halt (asks first), --include-manual-halt for a halt set "
                "by someone else. See `tradewarden reset --help`.",
                err=True,
            )
            return 2
        plan = risk.plan_reset(scope, who)
    finally:
        store.close()
    _print_plan(plan)
    if not plan.clear:
        typer.echo("Nothing to clear in that scope.")
        return 0
    if (scope.all or scope.include_manual_halt) and not yes:
        if not sys.stdin.isatty():
            flag = "--all" if scope.all else "--include-manual-halt"
            typer.echo(
                f"error: {flag} clears every item listed above; confirm with --yes when not "
                "interactive",
                err=True,
            )
            return 2
        if not typer.confirm(f"Clear these {len(plan.clear)} item(s)?", default=False):
            typer.echo("reset cancelled: nothing cleared")
            return 1
    payload = {"scope": scope.as_dict(), "confirmed": [i.ident for i in plan.clear]}
    lock = DaemonLock(settings.state_dir)
    if not lock.acquire():
        store = open_store_or_exit(settings)
        try:
            res = request_via_daemon(
                store, lock, "reset", reason, who, timeout=wait, payload=payload
            )
        finally:
            store.close()
        if res["status"] == "applying":
            typer.echo(f"error: reset result unknown: {res['result']}", err=True)
            return 1
        if res["status"] != "done":
            typer.echo(f"error: reset not applied: {res['result']}", err=True)
            return 1
        cleared = res["result"]["cleared"]
        state = res["result"]["state"]
        typer.echo(
            f"reset applied by the running daemon: cleared {', '.join(cleared) or 'nothing'};"
            f" state {state}"
        )
    else:
        try:
            store = open_store_or_exit(settings)
            try:
                audit = audit_or_exit(settings, store)  # signed, head recorded
            except BaseException:
                store.close()
                raise
            try:
                risk = RiskEngine(settings, store, bots)
                site = OfflineSite(settings, store, audit, risk)
                res = apply_reset(site, reason, who, scope, confirmed=set(payload["confirmed"]))
                cleared = res["cleared"]
                typer.echo(
                    f"reset by {who}: cleared {', '.join(cleared) or 'nothing'}; "
                    f"state {res['state']}"
                )
            finally:
                audit.close()
                store.close()
        finally:
            lock.release()
    missed = [i.key for i in plan.clear if i.key not in cleared]
    if missed:
        typer.echo(f"Not cleared (changed since it was listed): {', '.join(missed)}")
    store = open_store_or_exit(settings)
    try:
        _print_kept(store, RiskEngine(settings, store, bots), scope, who)
    finally:
        store.close()
    return 0
