"""`tradewarden diagnose`: mounted on the main app by `tradewarden.cli.main._mount_diagnose`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML file with settings (same names as the env vars)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def diagnose(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Status diagnostics, one PASS/FAIL line each: mode, daemon, state, breakers, alert
    outbox; exchange connectivity, clock skew, limiter headroom, key permissions (not in
    paper mode). Exit 1 if any check fails."""
    from tradewarden.cli.main import settings_or_exit
    from tradewarden.operations.diagnose import exit_code, render, run_checks, to_json

    settings = settings_or_exit(config)
    checks = run_checks(settings)
    typer.echo(to_json(checks) if as_json else render(checks))
    raise typer.Exit(exit_code(checks))


def register(app: typer.Typer) -> None:
    app.command("diagnose")(diagnose)
