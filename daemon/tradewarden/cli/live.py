"""`tradewarden live disarm|arm`: withdraw live trading from a running daemon, and allow it
again at the next start. Mounted on the main app by `tradewarden.cli.main`.

``disarm`` writes a durable record to the state database that the daemon reads before every
live order (`runtime.wiring.LiveGuard`): from the next order on, nothing is sent live, and
the daemon says why in ``status`` and ``/readyz``. The record also keeps every later start
out of live. ``arm`` removes it; a running daemon stays disarmed until it is restarted,
and the restart goes through the whole live gate.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from tradewarden.cli.common import (
    ConfigOpt,
    ReasonOpt,
    audit_or_exit,
    current_actor,
    fail,
    open_store_or_exit,
    settings_or_exit,
)
from tradewarden.runtime.wiring import DISARM_ACK_KEY, DISARM_KEY, disarm_text

app = typer.Typer(
    help="Withdraw live trading at once (disarm), or allow it again at the next start (arm).",
    no_args_is_help=True,
)
WaitOpt = Annotated[
    float, typer.Option("--wait", help="Seconds to wait for the running daemon to confirm.")
]


@app.command()
def disarm(reason: ReasonOpt, config: ConfigOpt = None, wait: WaitOpt = 5.0) -> None:
    """No further live order: the running daemon refuses every live order from the next one
    on (and says why in status and /readyz); later starts are not live until `live arm`."""
    from tradewarden.runtime.lock import DaemonLock

    if not reason.strip():
        raise fail("--reason must say why live trading is withdrawn", 2)
    settings = settings_or_exit(config)
    who = current_actor()
    store = open_store_or_exit(settings)
    try:
        record: dict[str, Any] = {"reason": reason, "actor": who, "at": time.time()}
        store.put(DISARM_KEY, record)
        lock = DaemonLock(settings.state_dir)
        if lock.acquire():  # no daemon: record it in the audit log ourselves
            try:
                audit = audit_or_exit(settings, store)  # signed, head recorded
                try:
                    audit.append(
                        "live_disarmed", {"why": disarm_text(record)}, actor=who, sync=True
                    )
                finally:
                    audit.close()
            finally:
                lock.release()
            typer.echo(f"live disarmed by {who}: no daemon is running; no start is live until")
            typer.echo("`tradewarden live arm --reason ...`")
            return
        deadline = time.monotonic() + max(0.0, wait)
        while time.monotonic() < deadline:
            ack = store.get(DISARM_ACK_KEY)
            if isinstance(ack, dict) and float(ack.get("at") or 0) >= record["at"]:
                typer.echo(f"live disarmed by {who}: the running daemon confirmed: {ack['why']}")
                return
            time.sleep(0.1)
        typer.echo(
            f"live disarm recorded by {who}: the running daemon refuses every live order from"
            " its next one (it has not confirmed yet: it may be busy or not live)"
        )
    finally:
        store.close()


@app.command()
def arm(reason: ReasonOpt, config: ConfigOpt = None) -> None:
    """Remove a disarm record so that the next start may be live again (through the whole
    live gate). Refused while the daemon runs: stop it, arm, start it."""
    from tradewarden.runtime.lock import DaemonLock

    if not reason.strip():
        raise fail("--reason must say why live trading may resume", 2)
    settings = settings_or_exit(config)
    who = current_actor()
    lock = DaemonLock(settings.state_dir)
    if not lock.acquire():
        raise fail(
            "the daemon is running and stays disarmed until it stops; stop it, run"
            " `tradewarden live arm` again, then start it (the whole live gate applies)",
            1,
        )
    try:
        store = open_store_or_exit(settings)
        try:
            previous = store.get(DISARM_KEY)
            if previous is None:
                typer.echo("live is not disarmed: nothing to do")
                return
            audit = audit_or_exit(settings, store)  # signed, head recorded
            try:
                audit.append(
                    "live_armed",
                    {"reason": reason, "was": disarm_text(previous)},
                    actor=who,
                    sync=True,
                )
            finally:
                audit.close()
            store.put(DISARM_KEY, None)
        finally:
            store.close()
    finally:
        lock.release()
    typer.echo(f"live armed by {who}: the next start goes through the whole live gate")
