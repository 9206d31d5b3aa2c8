"""What the CLI does for a human: read the status, halt, reduce, reset."""

from __future__ import annotations

import time
from typing import Any

import typer

from tradewarden import __version__
from tradewarden.config import Settings
from tradewarden.control import DaemonLock, current_actor, request_via_daemon
from tradewarden.ramp import SizeRamp
from tradewarden.risk.engine import RiskEngine
from tradewarden.store import StateError, Store


def _daemon_running(settings: Settings) -> bool:
    lock = DaemonLock(settings.state_dir)
    if lock.acquire():
        lock.release()
        return False
    return True


def open_store_or_exit(settings: Settings) -> Store:
    try:
        return Store(settings.db_path)
    except StateError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def read_status(settings: Settings) -> dict[str, Any]:
    store = open_store_or_exit(settings)
    try:
        snap = store.get("status_snapshot") or {}
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
            "size_factor": (store.get("size_ramp") or {"factor": 1.0})["factor"],
        }
        st.update({k: live[k] for k in ("state", "state_reason", "bots", "trips")})
        tripped = {(t["breaker"], t["bot"]) for t in live["trips"]}
        for b in st["breakers"]:
            b["tripped"] = (b["breaker"], b["bot"]) in tripped
        if st["mode"] is None:
            from tradewarden.app import decide_mode

            d = decide_mode(settings)
            st["mode"], st["why_not_live"] = d.mode.value, d.blockers
        st["daemon_running"] = _daemon_running(settings)
        return st
    finally:
        store.close()


def resolve_offline(settings: Settings, risk: RiskEngine, cleared: list[str], note: str) -> None:
    """The daemon is not running: resolve the cleared trips' alerts in the outbox itself
    (a RESOLVED row per channel the alert went to, sent at the next start; the dedup key
    inactive at once)."""
    from tradewarden.alerts.outbox import Outbox
    from tradewarden.app import trip_alert_keys

    box = Outbox(settings.db_path, dedup_seconds=settings.alert_dedup_seconds)
    try:
        for key in trip_alert_keys(risk, cleared):
            original = box.active_alert(key)
            if original is None:
                continue
            channels = sorted({r.channel for r in box.rows() if r.alert.dedup_key == key})
            box.enqueue(original.resolution(note), channels)
    finally:
        box.close()


def human_action(settings: Settings, action: str, reason: str) -> int:
    """Apply halt/reduce/reset through the running daemon, or directly when none runs."""
    if not reason.strip():
        typer.echo("error: --reason must not be empty", err=True)
        return 2
    who = current_actor()
    lock = DaemonLock(settings.state_dir)
    if not lock.acquire():
        store = open_store_or_exit(settings)
        try:
            res = request_via_daemon(store, lock, action, reason, who)
        finally:
            store.close()
        if res["status"] != "done":
            typer.echo(f"error: {action} not applied: {res['result']}", err=True)
            return 1
        typer.echo(f"{action} applied by the running daemon: {res['result']}")
        return 0
    try:
        from tradewarden.cli import audit_or_exit

        store = open_store_or_exit(settings)
        try:
            audit = audit_or_exit(settings, store)
        except BaseException:
            store.close()
            raise
        try:
            risk = RiskEngine(settings, store, [b[0] for b in settings.bot_specs()])
            if action == "reset":
                cleared = risk.reset(reason, who)
                SizeRamp(store, settings.restart_size_factor, settings.ramp_wins).begin(
                    f"reset: {reason}"
                )
                audit.append("reset", {"reason": reason, "cleared": cleared}, actor=who, sync=True)
                resolve_offline(settings, risk, cleared, f"reset by {who}: {reason}")
                typer.echo(
                    f"reset by {who}: cleared {', '.join(cleared) or 'nothing (no trips)'}; "
                    f"state {risk.state.label}"
                )
            else:
                risk.halt(reason, who, reducing=action == "reduce")
                audit.append(
                    action, {"reason": reason, "daemon_running": False}, actor=who, sync=True
                )
                typer.echo(
                    f"{action} recorded by {who}; state {risk.state.label}. The daemon is "
                    "not running: it will start in this state and cancel open orders."
                )
            snap = store.get("status_snapshot") or {}
            if snap:
                snap.update(risk.status())
                snap["snapshot_ts"] = time.time()
                store.put("status_snapshot", snap)
        finally:
            audit.close()
            store.close()
    finally:
        lock.release()
    return 0
