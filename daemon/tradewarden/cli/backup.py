"""`tradewarden backup` and `tradewarden restore`: the seed's system-recovery procedure.

Mounted on the main app by ``register(app)`` (`tradewarden.cli.main`).
Runbook: runbooks/system-recovery.md.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from tradewarden.cli.common import ConfigOpt, JsonOpt, fail, settings_or_exit


def backup(
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="Local directory or s3://bucket/prefix; a tradewarden-<time> backup goes in it.",
        ),
    ],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Back up the state (SQLite online copy, audit log, SHA-256 manifest); safe while running."""
    from tradewarden.operations.backup import BackupError, create_backup

    settings = settings_or_exit(config)
    try:
        result = create_backup(settings, to)
    except (BackupError, OSError) as exc:  # OSError: a path we may not read or write
        raise fail(str(exc), 1) from None
    m = result.manifest
    if as_json:
        typer.echo(json.dumps({"location": result.location, "manifest": m}, indent=2))
        return
    size = sum(f["size"] for f in m["files"])
    typer.echo(f"backup written to {result.location}")
    typer.echo(
        f"  {len(m['files'])} files, {size:,} bytes; database integrity {m['database_integrity']}"
    )
    if m["audit_chain"] is not None:
        typer.echo(f"  {m['audit_chain']}")
    typer.echo(f"  restore with: tradewarden restore --from {result.location}")


def restore(
    source: Annotated[
        str, typer.Option("--from", help="A backup directory (local or s3://...) made by `backup`.")
    ],
    config: ConfigOpt = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Restore over existing state (kept in <state dir>/pre-restore-<time>/).",
        ),
    ] = False,
    check_only: Annotated[
        bool, typer.Option("--check", help="Only fetch and verify the backup; change nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Restore a verified backup (daemon stopped); the daemon then starts HALTED until `reset`."""
    from tradewarden.operations.backup import BackupError, restore_backup, verify_backup

    settings = settings_or_exit(config)
    try:
        if check_only:
            m = verify_backup(source)
            res = {
                "backup": source,
                "verified": True,
                "files": len(m["files"]),
                "created_at": m["created_at"],
            }
        else:
            res = restore_backup(settings, source, replace=replace)
    except (BackupError, OSError) as exc:  # OSError: a path we may not read or write
        raise fail(str(exc), 1) from None
    if as_json:
        typer.echo(json.dumps(res, indent=2))
        return
    if check_only:
        typer.echo(
            f"backup {source} verified: {res['files']} files match the manifest "
            f"(made {res['created_at']})"
        )
        return
    typer.echo(
        f"restored {res['files']} files from {source} (backup made {res['backup_created_at']})"
    )
    if res["previous_state_kept_in"]:
        typer.echo(f"  previous state kept in {res['previous_state_kept_in']}")
    typer.echo("  state HALTED: reconcile balances and positions, then")
    typer.echo(
        '  tradewarden reset --reason "restored <backup>; reconciled <what you checked>" --all'
    )


def register(app: typer.Typer) -> None:
    """Add the top-level `backup` and `restore` commands to the main app."""
    app.command("backup")(backup)
    app.command("restore")(restore)
