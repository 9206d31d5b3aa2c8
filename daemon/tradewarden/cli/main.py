"""The `tradewarden` command line: the app, assembled from one module per command group
(`tradewarden.cli.<group>`; what they share is `tradewarden.cli.common`)."""

from __future__ import annotations

from typing import Annotated

import typer

from tradewarden import __version__
from tradewarden.cli import (
    approvals,
    audit,
    backup,
    config,
    diagnose,
    live,
    promotion,
    run,
    secrets,
    trading_state,
    wallet,
)

app = typer.Typer(
    name="tradewarden",
    help=(
        "Safety-first Binance trading daemon.\n\n"
        "Paper mode by default; live only behind explicit gates (see `status`). "
        "Settings come from the environment and an optional TOML file (--config)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        typer.echo(f"tradewarden {__version__}")
        raise typer.Exit(0)


app.add_typer(audit.app, name="audit")
run.register(app)
trading_state.register(app)
promotion.register(app)  # paper-report, promote
app.add_typer(wallet.app, name="wallet")
wallet.register(app)  # recovery-check
config.register(app)
app.add_typer(approvals.app, name="approvals")
app.add_typer(approvals.approvers_app, name="approvers")
app.add_typer(secrets.app, name="secrets")
diagnose.register(app)
app.add_typer(live.app, name="live")
backup.register(app)  # backup, restore


def _mount_compliance() -> None:
    from tradewarden.cli.compliance import app as compliance_app

    app.add_typer(compliance_app, name="compliance")


_mount_compliance()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
