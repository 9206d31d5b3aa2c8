"""`tradewarden run`: the daemon (paper on the shipped scenario, or on the exchange)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tradewarden.cli.common import ConfigOpt, settings_or_exit


def run(
    config: ConfigOpt = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo", help="Paper-trade the shipped scenario in a fresh var/demo state dir."
        ),
    ] = False,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep running after the scenario (service mode).")
    ] = False,
    console: Annotated[
        bool | None,
        typer.Option(
            "--console/--no-console", help="Human summary on stdout (default: on a TTY or --demo)."
        ),
    ] = None,
) -> None:
    """Run the daemon: replay the market scenario in paper mode, or trade via the exchange."""
    from tradewarden.runtime.runner import run_daemon

    overrides: dict[str, Any] = {}
    if demo:
        demo_dir = Path("var/demo")
        if demo_dir.exists():
            shutil.rmtree(demo_dir)
        overrides = {"state_dir": demo_dir, "mode": "paper"}
    settings = settings_or_exit(config, **overrides)
    show = console if console is not None else (demo or sys.stdout.isatty())
    raise typer.Exit(
        run_daemon(settings, console=show, follow=follow, demo=demo, config_file=config)
    )


def register(app: typer.Typer) -> None:
    app.command("run")(run)
