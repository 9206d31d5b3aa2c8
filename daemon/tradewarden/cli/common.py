"""What the command modules share: the common options, exiting with a message (2: a
configuration problem, 1: unusable), opening the settings / state / audit log, and the
actor recorded for a human's change. `tradewarden.cli.main` assembles the app from the
command modules; none of them imports main."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tradewarden.core.actor import current_actor
from tradewarden.operations.opening import (
    audit_or_exit,
    fail,
    open_store_or_exit,
    settings_or_exit,
)

__all__ = [
    "ConfigOpt",
    "JsonOpt",
    "ReasonOpt",
    "audit_or_exit",
    "current_actor",
    "fail",
    "open_store_or_exit",
    "settings_or_exit",
]

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML file with settings (same names as the env vars)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
ReasonOpt = Annotated[str, typer.Option("--reason", "-r", help="Why (recorded in the audit log).")]
