"""`tradewarden diagnose`: mounted on the main app by `tradewarden.cli.main`."""

from __future__ import annotations

import typer

from tradewarden.cli.common import ConfigOpt, JsonOpt, settings_or_exit


def diagnose(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Status diagnostics, one PASS/FAIL line each: mode, daemon, state, breakers, alert
    outbox; exchange connectivity, clock skew, limiter headroom, key permissions (not in
    paper mode). Exit 1 if any check fails."""
    from tradewarden.operations.diagnose import exit_code, render, run_checks, to_json

    settings = settings_or_exit(config)
    checks = run_checks(settings)
    typer.echo(to_json(checks) if as_json else render(checks))
    raise typer.Exit(exit_code(checks))


def register(app: typer.Typer) -> None:
    app.command("diagnose")(diagnose)
