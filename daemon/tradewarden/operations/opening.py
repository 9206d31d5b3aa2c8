"""Opening what a human's command works on (the settings, the state database, the signed
audit log), or exiting the way the runbooks expect: the message on stderr, exit code 2 for
a configuration problem (it names the setting), 1 when the thing cannot be used.

The command line (`tradewarden.cli.common`) and the actions it runs
(`tradewarden.operations.actions`) share these."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from tradewarden.core.config import ConfigError, Settings, load_settings
from tradewarden.state.store import StateError, StateSchemaError, Store


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def settings_or_exit(config: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, **overrides)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None


def open_store_or_exit(settings: Settings) -> Store:
    try:
        return Store(settings.db_path)
    except StateError as exc:
        typer.echo(f"error: {exc}", err=True)
        # a schema this version does not know (newer, unknown): 2, like a bad setting
        raise typer.Exit(2 if isinstance(exc, StateSchemaError) else 1) from None


def audit_or_exit(settings: Settings, store: Any = None) -> Any:
    """The audit log for a command that changes something: signed with the audit key from
    the secret source, recording its head in `store`. Exit 2 on a configuration problem (no
    key in prod), 1 when the key or the chain cannot be used."""
    from tradewarden.audit.chain import AuditConfigError, AuditError, open_audit
    from tradewarden.secrets import scrub
    from tradewarden.secrets.errors import SecretConfigError, SecretError

    try:
        return open_audit(settings, store)
    except (AuditConfigError, SecretConfigError) as exc:
        raise fail(scrub.scrub(str(exc)), 2) from None
    except (AuditError, SecretError) as exc:
        raise fail(scrub.scrub(str(exc)), 1) from None
