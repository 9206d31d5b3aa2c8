"""`tradewarden run`: the daemon (paper on the shipped scenario, or on the exchange)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tradewarden.cli.common import ConfigOpt, settings_or_exit
from tradewarden.core.config import PACKAGE_DIR

# `--scenario futures`: one futures bot going short on BTCUSDT into a squeeze (paper)
FUTURES_DEMO: dict[str, Any] = {
    "scenario": PACKAGE_DIR / "scenarios" / "futures_squeeze.csv",
    "futures_enabled": True,
    "futures_leverage": 3,  # the most TRADEWARDEN_FUTURES_MAX_LEVERAGE allows by default
    "mode": "paper",
    "symbols": ("BTCUSDT",),
    "bots": ("short-btc:BTCUSDT:ma_cross_ls",),
}


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
    scenario: Annotated[
        str | None,
        typer.Option(
            "--scenario",
            help="A shipped scenario: 'spot' (the default demo) or 'futures' (a leveraged"
            " short meets a squeeze: the liquidation-distance breaker, paper futures).",
        ),
    ] = None,
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
    if scenario not in (None, "spot", "futures"):
        typer.echo(f"error: --scenario: {scenario!r} is not a shipped scenario (spot, futures)")
        raise typer.Exit(2)
    if demo:
        demo_dir = Path("var/demo")
        if demo_dir.exists():
            shutil.rmtree(demo_dir)
        overrides = {"state_dir": demo_dir, "mode": "paper"}
    if scenario == "futures":
        overrides.update(FUTURES_DEMO)
    settings = settings_or_exit(config, **overrides)
    show = console if console is not None else (demo or sys.stdout.isatty())
    raise typer.Exit(
        run_daemon(settings, console=show, follow=follow, demo=demo, config_file=config)
    )


def register(app: typer.Typer) -> None:
    app.command("run")(run)
