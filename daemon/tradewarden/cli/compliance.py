"""`tradewarden compliance packet|accept-terms`: the compliance evidence packet, and the
audited record of who accepted which Binance Developer Terms text. Mounted on the main app
by `tradewarden.cli.main._mount_compliance`.

The packet is built from a repository checkout with the dev dependencies (the PDF library,
the Pulumi stack files, the JUnit report of `make test`), not on the trading host.
Exit codes of ``packet``: 0 every control met and the packet complete; 1 a control NOT
MET, a piece missing (the diagram, an excerpt, the README section) or a secret found in
the packet (then nothing is kept); 2 bad input.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="The compliance evidence packet, generated from the system itself.",
    no_args_is_help=True,
)
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML file with settings (same names as the env vars)."),
]
TERMS_URL = "https://developers.binance.com/docs/binance-api/terms"


@app.command()
def packet(
    out: Annotated[
        Path, typer.Option("--out", help="Directory to write (must be new or empty); DIR.zip too.")
    ],
    stack: Annotated[
        str | None,
        typer.Option("--stack", help="Pulumi stack whose egress, backups and diagram to describe."),
    ] = None,
    junit: Annotated[
        Path | None,
        typer.Option("--junit", help="JUnit XML of the test run (pytest --junitxml)."),
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option("--state-dir", help="The daemon's state directory (default: the setting)."),
    ] = None,
    journal: Annotated[
        Path | None,
        typer.Option(
            "--journal",
            help="File of the daemon's JSON log lines (default: journalctl -u tradewarden).",
        ),
    ] = None,
    egress_ip: Annotated[
        str | None,
        typer.Option(
            "--egress-ip",
            help="The stack's NAT Elastic IP (pulumi stack output natPublicIp); default: the"
            " one /etc/tradewarden/host.env records.",
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Build DIR and DIR.zip (SHA-256 manifest inside): summary (md, pdf), controls matrix,
    key-permission attestation, masked log excerpts, terms; exit 1 if any control is not
    met, a piece is missing or a secret is found in it."""
    from tradewarden.cli.common import fail, settings_or_exit
    from tradewarden.compliance.packet import PacketInputError, build

    overrides = {"state_dir": state_dir} if state_dir is not None else {}
    settings = settings_or_exit(config, **overrides)
    try:
        res = build(settings, out, stack=stack, junit=junit, journal=journal, egress_ip=egress_ip)
    except PacketInputError as exc:
        raise fail(str(exc), 2) from None
    if res.leaks:
        typer.echo("SECRET FOUND in the packet; it was deleted (do not submit anything):", err=True)
        for leak in res.leaks:
            typer.echo(f"  {leak}", err=True)
        raise typer.Exit(1)
    met = sum(r.met for r in res.rows)
    typer.echo(f"packet written to {res.out} and {res.zip_path}")
    typer.echo(f"controls met: {met} of {len(res.rows)}")
    for r in res.rows:
        if not r.met:
            typer.echo(f"  NOT MET {r.control.id}: {r.short_why}")
    for p in res.problems:
        typer.echo(f"  PROBLEM {p}")
    for m in res.missing:
        typer.echo(f"  MISSING {m}")
    for n in res.notes:
        typer.echo(f"  {n}")
    raise typer.Exit(res.code)


@app.command("accept-terms")
def accept_terms(
    version: Annotated[
        str,
        typer.Option("--version", help="Which terms you accepted (e.g. their date or revision)."),
    ],
    text: Annotated[
        Path | None,
        typer.Option("--text", help="A saved copy of the terms text: its SHA-256 is recorded."),
    ] = None,
    url: Annotated[str, typer.Option("--url", help="Where the terms are published.")] = TERMS_URL,
    config: ConfigOpt = None,
) -> None:
    """Record in the audit log who accepted which Binance Developer Terms, and when. Live
    still needs BINANCE_TERMS_ACCEPTED=true in the settings (and every other gate)."""
    from tradewarden.cli.common import audit_or_exit, fail, settings_or_exit
    from tradewarden.compliance.packet import TERMS_EVENT
    from tradewarden.core.actor import current_actor
    from tradewarden.operations.opening import open_store_or_exit

    if not version.strip():
        raise fail("--version must name the terms you accepted", 2)
    digest = None
    if text is not None:
        try:
            digest = hashlib.sha256(text.read_bytes()).hexdigest()
        except OSError as exc:
            raise fail(f"--text {text}: {exc}", 2) from None
    settings = settings_or_exit(config)
    store = open_store_or_exit(settings)
    try:
        audit = audit_or_exit(settings, store)
        try:
            e = audit.append(
                TERMS_EVENT,
                {"terms_version": version, "terms_url": url, "terms_sha256": digest},
                actor=current_actor(),
                sync=True,
            )
        finally:
            audit.close()
    finally:
        store.close()
    typer.echo(f"terms {version!r} accepted by {e['actor']} (audit seq {e['seq']})")
    if not settings.terms_accepted:
        typer.echo(
            "note: BINANCE_TERMS_ACCEPTED is still false: live stays blocked until it is set"
        )
