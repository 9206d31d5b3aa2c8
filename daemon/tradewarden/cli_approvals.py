"""`tradewarden approvals ...`: the human approval queue (second factor: TOTP)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from tradewarden.approvals import ApprovalError, ApprovalQueue
from tradewarden.audit import AuditLog
from tradewarden.config import Settings
from tradewarden.control import current_actor

app = typer.Typer(help="Approval queue: list, approve or reject proposals.", no_args_is_help=True)


def _queue(settings: Settings) -> tuple[ApprovalQueue, AuditLog]:
    from tradewarden.operator import open_store_or_exit
    from tradewarden.secrets.credentials import admin_secret
    from tradewarden.secrets.errors import SecretError
    from tradewarden.secrets.factory import build_source

    try:
        totp = admin_secret(settings, build_source(settings), "totp_secret")
    except SecretError as exc:
        typer.echo(f"error: {exc}: approvals need the TOTP secret", err=True)
        raise typer.Exit(2) from None
    from tradewarden.cli import audit_or_exit

    store = open_store_or_exit(settings)
    audit = audit_or_exit(settings, store)  # signed, head recorded in the state database
    return ApprovalQueue(settings, store, audit, totp), audit


def _settings() -> Settings:
    from tradewarden.cli import settings_or_exit

    return settings_or_exit(None)


@app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Include decided and expired.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Pending proposals (id, kind, amount, proposer, approvals, expiry)."""
    q, audit = _queue(_settings())
    try:
        items = q.list(include_closed=all_)
    finally:
        audit.close()
    if as_json:
        typer.echo(json.dumps([p.__dict__ for p in items], indent=2))
        return
    if not items:
        typer.echo("no pending proposals")
    for p in items:
        typer.echo(
            f"#{p.id} {p.kind:<16} {p.amount_usd:>12,.2f} USD  by {p.proposer}  "
            f"{p.status}  approvals {len(p.approvals)}/{p.needs(q.settings)}"
        )


@app.command()
def approve(
    proposal_id: Annotated[int, typer.Argument(help="Proposal id.")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (audited).")],
) -> None:
    """Approve with a TOTP code (prompted, not echoed); prints the instructions when complete."""
    q, audit = _queue(_settings())
    code = typer.prompt("TOTP code", hide_input=True)
    try:
        p = q.approve(proposal_id, current_actor(), code, reason)
    except ApprovalError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        audit.close()
    typer.echo(
        p.instructions()
        if p.status == "approved"
        else f"#{p.id}: approval recorded ({len(p.approvals)}/{p.needs(q.settings)})"
    )


@app.command()
def reject(
    proposal_id: Annotated[int, typer.Argument(help="Proposal id.")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (audited).")],
) -> None:
    """Reject a pending proposal."""
    q, audit = _queue(_settings())
    try:
        q.reject(proposal_id, current_actor(), reason)
    except ApprovalError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        audit.close()
    typer.echo(f"#{proposal_id} rejected")
