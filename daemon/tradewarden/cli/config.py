"""`tradewarden config`: the effective settings (secrets redacted), or the table of them."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from tradewarden.cli.common import ConfigOpt, settings_or_exit


def show_config(
    config: ConfigOpt = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the table of every setting (the README's).")
    ] = False,
) -> None:
    """Show the effective settings (secrets redacted) after env + file are applied."""
    if markdown:
        from tradewarden.core.config import markdown_table

        typer.echo(markdown_table())
        return
    from tradewarden.runtime.daemon import safe_config

    typer.echo(json.dumps(safe_config(settings_or_exit(config)), indent=2))


def register(app: typer.Typer) -> None:
    app.command("config")(show_config)
