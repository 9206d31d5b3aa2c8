"""`tradewarden status`, `halt` and `reset`: read and change the trading state."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from tradewarden.cli.common import ConfigOpt, JsonOpt, ReasonOpt, fail, settings_or_exit


def status(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Mode and why it is not live, trading state, breakers vs thresholds, open orders, equity."""
    from tradewarden.operations.actions import read_status

    settings = settings_or_exit(config)
    st = read_status(settings)
    if as_json:
        typer.echo(json.dumps(st, indent=2, default=str))
    else:
        from tradewarden.runtime.summary import print_status

        print_status(st)


WaitOpt = Annotated[
    float,
    typer.Option(
        "--wait",
        min=1.0,
        max=300.0,
        help="Seconds to wait for a running daemon to take the request; after that it expires"
        " and is never applied.",
    ),
]


def halt(
    reason: ReasonOpt,
    config: ConfigOpt = None,
    reducing: Annotated[
        bool,
        typer.Option(
            "--reducing", help="REDUCING instead of HALTED: only exposure-reducing orders."
        ),
    ] = False,
    wait: WaitOpt = 10.0,
) -> None:
    """Stop new orders now (HALTED, open orders cancelled) until `reset`."""
    from tradewarden.operations.actions import human_action

    settings = settings_or_exit(config)
    raise typer.Exit(human_action(settings, "reduce" if reducing else "halt", reason, wait=wait))


def reset(
    reason: ReasonOpt,
    bot: Annotated[
        list[str] | None,
        typer.Option("--bot", "-b", help="Clear this bot's breaker trips (repeatable)."),
    ] = None,
    breaker: Annotated[
        list[str] | None,
        typer.Option(
            "--breaker",
            help="Clear this breaker's trips, e.g. daily_loss or portfolio_drawdown (repeatable;"
            " with --bot only that bot's).",
        ),
    ] = None,
    all_: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Clear every trip and halt; lists each and who set it, and asks first. A manual"
            " halt set by someone else is kept unless --include-manual-halt.",
        ),
    ] = False,
    include_manual_halt: Annotated[
        bool,
        typer.Option(
            "--include-manual-halt",
            help="Also clear manual halts set by someone else (agree with them first); alone,"
            " clears the halts only. Asks first, like --all.",
        ),
    ] = False,
    rebase_peaks: Annotated[
        bool,
        typer.Option(
            "--rebase-peaks",
            help="Restart the drawdown peaks / day-start equity behind the cleared trips from"
            " the next equity mark. Without it they are kept: a drawdown still past its limit"
            " trips again.",
        ),
    ] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help="Do not ask (needed for --all/--include-manual-halt when not interactive).",
        ),
    ] = False,
    wait: WaitOpt = 10.0,
    config: ConfigOpt = None,
) -> None:
    """Clear what you point at: --bot, --breaker, or --all (recorded with who, when, why).

    Says what it will clear and what it keeps before it clears anything; clears nothing
    recorded after you asked.
    """
    from tradewarden.operations.actions import human_reset
    from tradewarden.risk.engine import ResetScope

    if not reason.strip():
        raise fail("--reason must say why it is safe to resume", 2)
    settings = settings_or_exit(config)
    scope = ResetScope(
        bots=frozenset(bot or ()),
        breakers=frozenset(breaker or ()),
        all=all_,
        include_manual_halt=include_manual_halt,
        rebase_peaks=rebase_peaks,
    )
    raise typer.Exit(human_reset(settings, reason, scope, yes=yes, wait=wait))


def register(app: typer.Typer) -> None:
    app.command("status")(status)
    app.command("halt")(halt)
    app.command("reset")(reset)
