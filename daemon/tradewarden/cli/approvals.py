"""`tradewarden approvals ...` (the human approval queue) and `tradewarden approvers ...`
(who may approve: each approver's own TOTP seed, kept in the secret source)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

import typer

from tradewarden.cli.common import (
    audit_or_exit,
    current_actor,
    open_store_or_exit,
    settings_or_exit,
)
from tradewarden.core.config import Settings
from tradewarden.wallet.approvals import ApprovalError, ApprovalQueue, Approvers

app = typer.Typer(help="Approval queue: list, approve or reject proposals.", no_args_is_help=True)
approvers_app = typer.Typer(
    help="Approvers: enrol (own TOTP seed in the secret source), confirm, list, remove.",
    no_args_is_help=True,
)


def _settings() -> Settings:

    return settings_or_exit(None)


@contextmanager
def _opened(
    settings: Settings, *, with_approvers: bool
) -> Iterator[tuple[ApprovalQueue, Approvers | None]]:
    from tradewarden.secrets.errors import SecretError
    from tradewarden.secrets.factory import build_source

    approvers_src = None
    if with_approvers:
        try:
            approvers_src = build_source(settings)
        except SecretError as exc:
            typer.echo(f"error: {exc}: approver seeds live in the secret source", err=True)
            raise typer.Exit(2) from None

    store = open_store_or_exit(settings)
    audit = audit_or_exit(settings, store)  # signed, head recorded in the state database
    try:
        approvers = (
            Approvers(settings, store, approvers_src, audit) if approvers_src is not None else None
        )
        yield ApprovalQueue(settings, store, audit, approvers), approvers
    finally:
        audit.close()
        store.close()


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


# --- approvals ------------------------------------------------------------------------------
@app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Include decided and expired.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Pending proposals (id, kind, amount, proposer, approvals, expiry)."""
    with _opened(_settings(), with_approvers=False) as (q, _):
        items = q.list(include_closed=all_)
    if as_json:
        typer.echo(json.dumps([p.__dict__ for p in items], indent=2))
        return
    if not items:
        typer.echo("no pending proposals")
    for p in items:
        by = ", ".join(a["approver"] for a in p.approvals) or "-"
        typer.echo(
            f"#{p.id} {p.kind:<16} {p.amount_usd:>12,.2f} USD  by {p.proposer}  "
            f"{p.status}  approvals {len(p.approvals)}/{p.needs(q.settings)} ({by})  "
            f"expires {_when(p.expires_at)}"
        )


@app.command()
def approve(
    proposal_id: Annotated[int, typer.Argument(help="Proposal id.")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (audited).")],
    approver: Annotated[
        str | None,
        typer.Option(
            "--approver",
            help="Your approver name: only your seed is tried. Without it, the approver is"
            " whoever's seed verifies the code.",
        ),
    ] = None,
) -> None:
    """Approve with your TOTP code (prompted, not echoed); prints instructions when done.

    The approver is the enrolled name whose seed verifies the code (see `approvers`)."""
    with _opened(_settings(), with_approvers=True) as (q, _):
        code = typer.prompt("TOTP code", hide_input=True)
        try:
            p = q.approve(proposal_id, code, reason, actor=current_actor(), approver=approver)
        except ApprovalError as exc:
            typer.echo(f"refused: {exc}", err=True)
            raise typer.Exit(1) from None
    if p.status == "approved":
        typer.echo(p.instructions())
    else:
        typer.echo(
            f"#{p.id}: approval by {p.approvals[-1]['approver']} recorded"
            f" ({len(p.approvals)}/{p.needs(q.settings)}); another enrolled approver must approve"
        )


@app.command()
def reject(
    proposal_id: Annotated[int, typer.Argument(help="Proposal id.")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (audited).")],
) -> None:
    """Reject a pending proposal (no code needed: refusing is always safe)."""
    with _opened(_settings(), with_approvers=False) as (q, _):
        try:
            q.reject(proposal_id, current_actor(), reason)
        except ApprovalError as exc:
            typer.echo(f"refused: {exc}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"#{proposal_id} rejected")


# --- approvers ------------------------------------------------------------------------------
def _alarm(settings: Settings, approvers: Approvers, title: str, body: str) -> None:
    """A critical alert about a change of approvers on every configured channel, queued in
    the outbox (the daemon sends it, retrying; never deduplicated): one person re-seeding
    or adding approvers is seen by the others at once, not only in the audit log."""
    from tradewarden.alerts.alarm import queue_critical

    queue_critical(
        settings,
        approvers.source,
        title=title,
        body=body + " If this was not agreed with the other approvers, remove the approver"
        " (`tradewarden approvers remove NAME`) and escalate to the security lead.",
        topic="approvers",
        runbook="approvers.md",
        check_command="tradewarden approvers list --all",
        warn=lambda msg: typer.echo(msg, err=True),
    )


def _confirm(approvers: Approvers, name: str) -> bool:
    for _ in range(3):
        code = typer.prompt(
            "Code from the authenticator (empty: confirm later)",
            default="",
            show_default=False,
            hide_input=True,
        )
        if not code.strip():
            return False
        try:
            approvers.confirm(name, code, current_actor())
            return True
        except ApprovalError as exc:
            typer.echo(f"refused: {exc}", err=True)
    return False


@approvers_app.command("add")
def approvers_add(
    name: Annotated[str, typer.Argument(help="The approver's name (a-z 0-9 . _ -).")],
    replace: Annotated[
        bool, typer.Option("--replace", help="Give an enrolled approver a new seed (lost phone).")
    ] = False,
) -> None:
    """Enrol NAME with their own TOTP seed; prints its provisioning URI once.

    The seed goes to the secret source (<TRADEWARDEN_SECRET_ADMIN_ID>/approver/NAME); scan
    the URI into NAME's authenticator, then type a code to confirm. NAME can approve only
    once confirmed. Once two approvers have been confirmed, another active approver vouches
    for every new seed with their code (asked for first); for 72 h the voucher and NAME do
    not count as two approvers of one proposal."""
    with _opened(_settings(), with_approvers=True) as (q, approvers):
        assert approvers is not None
        vouch = None
        if approvers.needs_voucher(name):
            vouch = typer.prompt(
                f"Code of another active approver who vouches for {name} (not echoed)",
                default="",
                show_default=False,
                hide_input=True,
            )
        try:
            enrolled = approvers.add(name, current_actor(), replace=replace, voucher_code=vouch)
        except ApprovalError as exc:
            _alarm(
                q.settings,
                approvers,
                f"Approver {name}: enrolment refused",
                f"{current_actor()} tried to enrol {name}{' (new seed)' if replace else ''}"
                f" and was refused: {exc}.",
            )
            typer.echo(f"refused: {exc}", err=True)
            raise typer.Exit(2) from None
        row = approvers.list()
        voucher = next((r["vouched_by"] for r in row if r["name"] == name), None)
        _alarm(
            q.settings,
            approvers,
            f"Approver {name} enrolled{' with a new seed' if replace else ''}",
            f"{current_actor()} enrolled approver {name}"
            f"{' (new seed: the old one no longer works)' if replace else ''}"
            f"{f', vouched for by {voucher}' if voucher else ', without a voucher (bootstrap)'}.",
        )
        typer.echo(f"Seed for {name} stored as {enrolled.secret_id}.")
        typer.echo("Provisioning URI (shown once; scan it into the authenticator, then clear")
        typer.echo("the screen; it is the approver's second factor):")
        typer.echo(enrolled.uri)
        if _confirm(approvers, name):
            typer.echo(f"{name} confirmed: can approve")
        else:
            typer.echo(
                f"{name} is pending: run `tradewarden approvers confirm {name}` with a code"
                " from the authenticator before approving"
            )


@approvers_app.command("confirm")
def approvers_confirm(name: Annotated[str, typer.Argument(help="The approver's name.")]) -> None:
    """Activate a pending approver with a code from their authenticator."""
    with _opened(_settings(), with_approvers=True) as (_q, approvers):
        assert approvers is not None
        code = typer.prompt("Code from the authenticator", hide_input=True)
        try:
            approvers.confirm(name, code, current_actor())
        except ApprovalError as exc:
            typer.echo(f"refused: {exc}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"{name} confirmed: can approve")


@approvers_app.command("list")
def approvers_list(
    all_: Annotated[bool, typer.Option("--all", help="Include removed approvers.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Enrolled approvers: name, status, enrolled when and by whom (never a seed)."""
    with _opened(_settings(), with_approvers=False) as (q, _):
        rows = Approvers(q.settings, q.store, None).list(include_removed=all_)
    rows = [{k: v for k, v in r.items() if k != "seed_digest"} for r in rows]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no approvers enrolled (`tradewarden approvers add NAME`)")
    for r in rows:
        line = (
            f"{r['name']:<16} {r['status']:<8} enrolled {_when(r['enrolled_at'])} by"
            f" {r['enrolled_by']}  seed {r['secret_id']}"
        )
        if r["confirmed_at"]:
            line += f"  confirmed {_when(r['confirmed_at'])}"
        if r["removed_at"]:
            line += f"  removed {_when(r['removed_at'])} by {r['removed_by']}"
        typer.echo(line)


@approvers_app.command("remove")
def approvers_remove(
    name: Annotated[str, typer.Argument(help="The approver's name.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Stop NAME approving (their seed is revoked in the secret source).

    The seed is overwritten with one nobody has seen and the name is marked removed (kept
    for the audit trail). Approvals already given stand."""
    if not yes:
        typer.confirm(f"Remove approver {name}?", abort=True)
    with _opened(_settings(), with_approvers=True) as (q, approvers):
        assert approvers is not None
        try:
            approvers.remove(name, current_actor())
        except ApprovalError as exc:
            typer.echo(f"refused: {exc}", err=True)
            raise typer.Exit(1) from None
        _alarm(
            q.settings,
            approvers,
            f"Approver {name} removed",
            f"{current_actor()} removed approver {name}: their seed no longer approves.",
        )
    typer.echo(f"{name} removed: can no longer approve")
