"""`tradewarden audit verify|anchor|new-chain`: the audit chain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from tradewarden.cli.common import (
    ConfigOpt,
    JsonOpt,
    ReasonOpt,
    audit_or_exit,
    current_actor,
    fail,
    open_store_or_exit,
    settings_or_exit,
)
from tradewarden.core.config import Settings

app = typer.Typer(
    help="Audit log: verify the chain, anchor its head off the host, begin a new chain.",
    no_args_is_help=True,
)


def _audit_key_or_exit(settings: Settings) -> Any:
    from tradewarden.audit.chain import AuditConfigError, audit_key
    from tradewarden.secrets import scrub
    from tradewarden.secrets.errors import SecretConfigError, SecretError
    from tradewarden.secrets.factory import build_source

    try:
        return audit_key(settings, build_source(settings))
    except (AuditConfigError, SecretConfigError) as exc:
        raise fail(scrub.scrub(str(exc)), 2) from None
    except SecretError as exc:
        raise fail(scrub.scrub(str(exc)), 1) from None


def _remote_or_exit(settings: Settings, host: str | None) -> Any:
    from tradewarden.audit.anchor import AnchorError, S3Anchor

    try:
        return S3Anchor.from_settings(settings, host)
    except AnchorError as exc:
        raise fail(str(exc), 2) from None


HostOpt = Annotated[
    str | None,
    typer.Option("--host", help="Whose anchor (default: this host's name)."),
]


@app.command("verify")
def audit_verify(
    config: ConfigOpt = None,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Audit directory (default: <state dir>/audit). With --dir the state"
            " database's head is not compared unless --db is given.",
        ),
    ] = None,
    db: Annotated[
        Path | None,
        typer.Option("--db", help="State database whose recorded head to check against."),
    ] = None,
    anchor: Annotated[
        bool,
        typer.Option("--anchor", help="Also check against the off-host anchor (S3)."),
    ] = False,
    host: HostOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the hash chain, each entry's HMAC, the head recorded in the state database and
    (--anchor) the off-host anchor; exit 1 naming the first broken line or missing seqs."""
    from tradewarden.audit.anchor import AnchorError
    from tradewarden.audit.chain import Head, recorded_head, verify
    from tradewarden.state.store import StateError, Store

    settings = settings_or_exit(config)
    d = directory or settings.audit_dir
    if not d.is_dir():
        raise fail(f"audit directory {d} does not exist", 1)
    key = _audit_key_or_exit(settings)
    refs: list[Head] = []
    notes: list[str] = []
    db_path = db or (settings.db_path if directory is None else None)
    if db_path is not None and db_path.is_file():
        try:
            store = Store(db_path)
        except StateError as exc:
            raise fail(str(exc), 1) from None
        try:
            head = recorded_head(store)
        finally:
            store.close()
        if head is not None:
            refs.append(head)
        else:
            notes.append("the state database records no head yet (written before this check)")
    else:
        notes.append("no state database compared: a cut-off tail is not detectable without it")
    if anchor:
        remote = _remote_or_exit(settings, host)
        try:
            found = remote.read()
        except AnchorError as exc:
            raise fail(str(exc), 1) from None
        if found is None:
            raise fail(f"no audit anchor at {remote.describe()}", 1)
        refs.append(found.as_head(remote.describe()))
    res = verify(d, key=key, refs=refs, retention_days=settings.audit_retention_days)
    if key is None:
        notes.append("no audit key configured: entries are not HMAC-checked (dev only)")
    res = type(res)(**{**res.__dict__, "notes": tuple(res.notes) + tuple(notes)})
    if as_json:
        typer.echo(json.dumps(res.__dict__))
    else:
        typer.echo(res.describe())
    raise typer.Exit(0 if res.ok else 1)


def _audit_alarm(settings: Settings, title: str, body: str) -> None:
    """A critical alert about the audit chain on every configured channel, queued in the
    outbox (the daemon sends it, retrying): replacing the off-host anchor or restarting the
    chain leaves a trace off the host, not only in the chain it changes."""
    from tradewarden.alerts.alarm import queue_critical
    from tradewarden.secrets.factory import build_source

    queue_critical(
        settings,
        lambda: build_source(settings),
        title=title,
        body=body + " If nobody on the desk did this on purpose, treat it as a security event.",
        topic="audit-chain",
        runbook="audit-chain-broken.md",
        check_command="tradewarden audit verify --anchor",
        warn=lambda msg: typer.echo(msg, err=True),
    )


@app.command("anchor")
def audit_anchor(
    config: ConfigOpt = None,
    force_reason: Annotated[
        str,
        typer.Option(
            "--force-reason",
            help="Replace an anchor the local chain does not contain (after a restore or a new"
            " chain); audited with the replaced anchor.",
        ),
    ] = "",
) -> None:
    """Write the chain head to the off-host anchor now (the daemon does it periodically)."""
    from tradewarden.audit.anchor import AnchorError, publish

    settings = settings_or_exit(config)
    remote = _remote_or_exit(settings, None)
    store = open_store_or_exit(settings)
    try:
        audit = audit_or_exit(settings, store)
        try:
            a = publish(audit, remote, force_reason=force_reason, actor=current_actor())
        except AnchorError as exc:
            raise fail(str(exc), 1) from None
        finally:
            audit.close()
    finally:
        store.close()
    if force_reason:
        _audit_alarm(
            settings,
            f"audit anchor replaced by hand at {remote.describe()}",
            f"`tradewarden audit anchor --force-reason` set the off-host audit anchor to seq"
            f" {a.seq} without checking the local chain contains the previous one. Reason"
            f" given: {force_reason!r}.",
        )
    typer.echo(f"anchored seq {a.seq} ({a.hash[:16]}...) at {remote.describe()}")


@app.command("new-chain")
def audit_new_chain(
    reason: ReasonOpt,
    config: ConfigOpt = None,
) -> None:
    """Begin a new chain after a broken one was moved aside (runbooks/audit-chain-broken.md):
    it continues from the head the state database recorded, so that head and the off-host
    anchor still check; the first entry records why."""
    from tradewarden.audit.chain import ANCHOR, recorded_head
    from tradewarden.audit.chain import _write_chain_start as write_start
    from tradewarden.runtime.lock import DaemonLock

    if not reason.strip():
        raise fail("--reason must not be empty", 2)
    settings = settings_or_exit(config)
    lock = DaemonLock(settings.state_dir)
    if not lock.acquire():
        raise fail("the daemon is running: stop it first", 1)
    try:
        d = settings.audit_dir
        if d.is_dir() and (any(d.glob("audit-*.jsonl")) or (d / ANCHOR).exists()):
            raise fail(
                f"{d} still holds audit files: move the directory aside first (keep it as"
                " evidence)",
                1,
            )
        d.mkdir(parents=True, exist_ok=True)
        store = open_store_or_exit(settings)
        try:
            head = recorded_head(store)
            if head is not None:
                write_start(d, head.seq, head.hash, None, "new-chain")
            audit = audit_or_exit(settings, store)
            try:
                e = audit.append(
                    "chain_restarted",
                    {
                        "reason": reason,
                        "continues_from": None
                        if head is None
                        else {"seq": head.seq, "hash": head.hash},
                    },
                    actor=current_actor(),
                    sync=True,
                )
            finally:
                audit.close()
        finally:
            store.close()
    finally:
        lock.release()
    _audit_alarm(
        settings,
        f"new audit chain started in {d}",
        f"`tradewarden audit new-chain` started a new audit chain at seq {e['seq']}; the"
        f" entries before it are no longer in {d}. Reason given: {reason!r}.",
    )
    typer.echo(f"new audit chain in {d}, first entry seq {e['seq']}")
