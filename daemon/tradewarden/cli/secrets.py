"""`tradewarden secrets ...`: store, rotate, age-check and re-encrypt secrets.

Values are read from stdin (a JSON object) or, on a terminal, from hidden prompts; never
from the command line (argv is visible in ``ps`` and shell history). Nothing here prints a
value: outputs show the secret id, its version and a 4-hex fingerprint.

Exit codes: 0 done; 1 the store or the exchange said no (unreachable, denied, verification
failed, a secret is critical by age); 2 bad input or configuration.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from tradewarden.cli.common import (
    ConfigOpt,
    audit_or_exit,
    current_actor,
    open_store_or_exit,
    settings_or_exit,
)
from tradewarden.core.config import SecretSource, Settings
from tradewarden.secrets import scrub
from tradewarden.secrets.bundle import (
    REQUIRED,
    SecretKind,
    SecretRole,
    is_public_metadata,
    parse_created_at,
    parse_payload,
    secret_fields,
)
from tradewarden.secrets.errors import SecretConfigError, SecretError, SecretFormatError

app = typer.Typer(
    help="Secrets: put, rotate (verified), check age, rekey the encrypted file.",
    no_args_is_help=True,
)

RoleArg = Annotated[SecretRole, typer.Argument(help="Which secret: trade, read, slack or smtp.")]
ScopeOpt = Annotated[
    str | None,
    typer.Option("--scope", help="Binance keys: 'live' or 'testnet' (prod refuses testnet keys)."),
]
CreatedOpt = Annotated[
    str | None,
    typer.Option(
        "--key-created",
        help="YYYY-MM-DD the key was made at its issuer, if before today (its age counts from it).",
    ),
]
PromptOpt = Annotated[
    bool, typer.Option("--prompt", help="Ask for each value (hidden) even if stdin is not a tty.")
]


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {scrub.scrub(message)}", err=True)
    return typer.Exit(code)


def _secret_fail(exc: SecretError) -> typer.Exit:
    bad_input = isinstance(exc, SecretConfigError | SecretFormatError)
    return _fail(str(exc), 2 if bad_input else 1)


def _settings(config: Path | None) -> Settings:

    scrub.install()
    return settings_or_exit(config)


def _source(settings: Settings) -> Any:
    from tradewarden.secrets.factory import build_source

    try:
        return build_source(settings)
    except SecretError as exc:
        raise _secret_fail(exc) from None


def _read_payload(kind: SecretKind, prompt: bool) -> dict[str, Any]:
    stdin = sys.stdin
    if prompt or stdin.isatty():
        out: dict[str, Any] = {}
        for name in secret_fields(kind):
            required = name in REQUIRED[kind]
            value = typer.prompt(
                name + ("" if required else " (Enter to skip)"),
                hide_input=True,
                default=None if required else "",
                show_default=False,
            )
            scrub.register(value)
            if value.strip():
                out[name] = value.strip()
        return out
    text = stdin.read()
    scrub.register(text)
    if not text.strip():
        raise _fail(
            "stdin is empty: pipe a JSON object such as"
            f" {{{', '.join(f'{chr(34)}{f}{chr(34)}: ...' for f in secret_fields(kind))}}}"
            " or run in a terminal (or with --prompt) to be asked",
            2,
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(
            f"stdin: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})", 2
        ) from None
    if not isinstance(data, dict):
        raise _fail("stdin: expected a JSON object", 2)
    for k, v in data.items():
        if isinstance(v, str) and not is_public_metadata(k, v.strip()):
            scrub.register(v)
            scrub.register(v.strip())
    return {k: v.strip() if isinstance(v, str) else v for k, v in data.items()}


def _payload(
    settings: Settings,
    role: SecretRole,
    scope: str | None,
    key_created: str | None,
    prompt: bool,
) -> dict[str, Any]:
    kind = role.kind
    if kind is not SecretKind.BINANCE and scope:
        raise _fail("--scope applies to Binance keys (trade, read) only", 2)
    payload = _read_payload(kind, prompt)
    if scope:
        payload["scope"] = scope
    if key_created:
        payload["created_at"] = key_created
    secret_id = role.secret_id(settings)
    try:
        if "created_at" in payload:
            when = parse_created_at(payload["created_at"], secret_id)
            if when > time.time() + 86_400:
                raise _fail("--key-created is in the future", 2)
        parse_payload(secret_id, kind, payload)  # validate before anything is written
    except SecretError as exc:
        raise _secret_fail(exc) from None
    return payload


def _writable(source: Any, settings: Settings) -> Any:
    if source.kind is SecretSource.ENV:
        raise _fail(
            "TRADEWARDEN_SECRET_SOURCE=env: the environment cannot be written; use"
            " TRADEWARDEN_SECRET_SOURCE=aws or file",
            2,
        )
    return source


def _audited(settings: Settings) -> tuple[Any, Any]:
    """The state database and the audit log, opened before a change (so a change that
    cannot be audited is not made)."""

    store = open_store_or_exit(settings)
    try:
        return store, audit_or_exit(settings, store)
    except BaseException:
        store.close()
        raise


def _record(handle: tuple[Any, Any], event: str, data: dict[str, Any]) -> None:

    store, audit = handle
    try:
        audit.append(event, data, actor=current_actor(), sync=True)
    finally:
        audit.close()
        store.close()


def _keep_audit_key(source: Any, secret_id: str, payload: dict[str, Any]) -> None:
    """The audit chain is signed with the admin secret's audit_key: `put admin` may add it,
    never change or drop it (every entry written so far would stop verifying)."""
    from tradewarden.secrets.errors import SecretNotFoundError

    try:
        if not source.exists(secret_id):
            return
        current = source.get(secret_id, SecretKind.ADMIN).get("audit_key")
    except SecretNotFoundError:
        return
    if current is not None and payload.get("audit_key") != current.reveal():
        raise _fail(
            f"secret {secret_id}: audit_key would change or be dropped; the audit chain is"
            " signed with it, so it must be given unchanged (see runbooks/audit-chain-broken.md)",
            2,
        )


@app.command()
def put(
    role: RoleArg,
    scope: ScopeOpt = None,
    key_created: CreatedOpt = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite an existing Binance key unverified.")
    ] = False,
    prompt: PromptOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Store a secret (JSON on stdin, or hidden prompts). New Binance keys: prefer `rotate`."""
    settings = _settings(config)
    source = _writable(_source(settings), settings)
    secret_id = role.secret_id(settings)
    payload = _payload(settings, role, scope, key_created, prompt)
    admin = role is SecretRole.ADMIN
    try:
        if admin:
            _keep_audit_key(source, secret_id, payload)
    except SecretError as exc:
        raise _secret_fail(exc) from None
    handle = None if admin else _audited(settings)  # admin: audited with the key it stores
    try:
        if role.kind is SecretKind.BINANCE and not replace and source.exists(secret_id):
            raise _fail(
                f"secret {secret_id} already exists: use `tradewarden secrets rotate"
                f" {role.value}` (verifies the new key against the exchange) or --replace",
                2,
            )
        version, previous = source.put(secret_id, role.kind, payload)
    except SecretError as exc:
        if handle is not None:
            handle[1].close()
            handle[0].close()
        raise _secret_fail(exc) from None
    except BaseException:
        if handle is not None:
            handle[1].close()
            handle[0].close()
        raise
    fp = parse_payload(secret_id, role.kind, payload).fingerprint()
    if admin:
        source.invalidate(secret_id)
    if handle is None:  # admin: audited with the key it has just stored
        handle = _audited(settings)
    _record(
        handle,
        "secret_put",
        {
            "secret_id": secret_id,
            "role": role.value,
            "kind": str(role.kind),
            "fields": sorted(k for k in payload if k not in ("scope", "created_at")),
            "version": version,
            "previous_version": previous,
            "fingerprint": fp,
            "source": source.describe(),
        },
    )
    typer.echo(
        f"stored {secret_id} ({role.kind}) in {source.describe()}: version {version}, fp {fp}"
    )
    if previous:
        kept = "AWSPREVIOUS" if source.kind is SecretSource.AWS else "replaced"
        typer.echo(f"previous version {previous}: {kept}")


@app.command()
def rotate(
    role: Annotated[SecretRole, typer.Argument(help="Which Binance key: trade or read.")],
    scope: ScopeOpt = None,
    key_created: CreatedOpt = None,
    prompt: PromptOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Replace a Binance key: stage (AWSPENDING), verify on the exchange, promote."""
    from tradewarden.operations.key_rotation import rotate as do_rotate

    settings = _settings(config)
    if role.kind is not SecretKind.BINANCE:
        raise _fail(f"rotate applies to the Binance keys (trade, read); for {role} use put", 2)
    source = _writable(_source(settings), settings)
    payload = _payload(settings, role, scope, key_created, prompt)
    handle = _audited(settings)
    try:
        result = do_rotate(settings, source, role, payload)
    except SecretError as exc:
        _record(
            handle,
            "secret_rotation_failed",
            {"secret_id": role.secret_id(settings), "role": role.value, "error": str(exc)},
        )
        raise _secret_fail(exc) from None
    _record(
        handle,
        "secret_rotated",
        {
            "secret_id": result.secret_id,
            "role": role.value,
            "version": result.version,
            "previous_version": result.previous_version,
            "fingerprint": result.fingerprint,
            "previous_fingerprint": result.previous_fingerprint,
            "verified": result.check.detail,
            "source": source.describe(),
        },
    )
    aws = source.kind is SecretSource.AWS
    typer.echo(f"verified: {result.check.detail}")
    typer.echo(
        f"{result.secret_id}: "
        + ("AWSCURRENT" if aws else "current")
        + f" is now version {result.version} (key fp {result.fingerprint})"
    )
    if result.previous_version:
        typer.echo(
            f"old version {result.previous_version} (key fp {result.previous_fingerprint})"
            + (" kept as AWSPREVIOUS" if aws else " replaced")
        )
    typer.echo(
        "NEXT: revoke the old key on Binance now (API Management: delete the key whose"
        f" fingerprint is {result.previous_fingerprint or '?'}; fingerprint = last 4 hex of"
        " sha256 of the API key). The running daemon switches to the new key within"
        f" TRADEWARDEN_SECRET_TTL_SECONDS ({settings.secret_ttl_seconds:.0f}s), or at once when"
        " Binance refuses the old key. See runbooks/key-rotation.md."
    )


@app.command()
def check(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Age of each secret: ok, warn (>= 80 days), critical (>= 90 days). Exit 1 if critical."""
    from tradewarden.secrets.age import CRITICAL_DAYS, WARN_DAYS, check_ages

    settings = _settings(config)
    source = _source(settings)
    ages = check_ages(settings, source)
    failing = any(a.status.failing for a in ages)
    if as_json:
        typer.echo(json.dumps({"secrets": [a.as_dict() for a in ages], "ok": not failing}))
    else:
        typer.echo(
            f"secrets in {source.describe()} (warn {WARN_DAYS} d, critical {CRITICAL_DAYS} d)"
        )
        for a in ages:
            age = "-" if a.age_days is None else f"{a.age_days:.1f} d"
            fp = a.fingerprint or "-"
            line = f"{a.role:<6} {a.secret_id:<40} {age:>9}  {a.status.value:<8} fp {fp}"
            typer.echo(line + (f"  {scrub.scrub(a.detail)}" if a.detail else ""))
        if any(a.status.value in ("warn", "critical") for a in ages):
            typer.echo("rotate with `tradewarden secrets rotate trade` (runbooks/key-rotation.md)")
    if failing:
        raise typer.Exit(1)


@app.command()
def rekey(config: ConfigOpt = None) -> None:
    """Re-encrypt the credential file under the newest BINANCE_CREDENTIAL_KEY key."""
    settings = _settings(config)
    if settings.secret_source is not SecretSource.FILE:
        raise _fail(
            f"TRADEWARDEN_SECRET_SOURCE={settings.secret_source.value}: rekey applies to the"
            " encrypted credential file (TRADEWARDEN_SECRET_SOURCE=file)",
            2,
        )
    source = _source(settings)
    handle = _audited(settings)
    try:
        result = source.rekey()
    except SecretError as exc:
        handle[1].close()
        handle[0].close()
        raise _secret_fail(exc) from None
    _record(
        handle,
        "secrets_rekeyed",
        {
            "file": str(source.path),
            "secrets": result.secrets,
            "was_key": result.was_key,
            "keys": result.keys,
        },
    )
    typer.echo(
        f"re-encrypted {result.secrets} secret(s) in {source.path} under key 1 of {result.keys}"
        f" (was key {result.was_key})."
    )
    if result.keys > 1:
        typer.echo(
            "Once every host runs with the new key, drop the old one(s) from"
            " BINANCE_CREDENTIAL_KEY."
        )
