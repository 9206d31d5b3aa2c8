"""The `tradewarden` command line."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tradewarden import __version__
from tradewarden.core.config import ConfigError, Settings, load_settings
from tradewarden.state.keys import StateKey

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
audit_app = typer.Typer(
    help="Audit log: verify the chain, anchor its head off the host, begin a new chain.",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML file with settings (same names as the env vars)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
ReasonOpt = Annotated[str, typer.Option("--reason", "-r", help="Why (recorded in the audit log).")]


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def audit_or_exit(settings: Settings, store: Any = None) -> Any:
    """The audit log for a CLI command that changes something: signed with the audit key
    from the secret source, recording its head in `store`. Exit 2 on a configuration
    problem (no key in prod), 1 when the key or the chain cannot be used."""
    from tradewarden.audit.chain import AuditConfigError, AuditError, open_audit
    from tradewarden.secrets import scrub
    from tradewarden.secrets.errors import SecretConfigError, SecretError

    try:
        return open_audit(settings, store)
    except (AuditConfigError, SecretConfigError) as exc:
        raise fail(scrub.scrub(str(exc)), 2) from None
    except (AuditError, SecretError) as exc:
        raise fail(scrub.scrub(str(exc)), 1) from None


def settings_or_exit(config: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, **overrides)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        typer.echo(f"tradewarden {__version__}")
        raise typer.Exit(0)


@app.command()
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
    if demo:
        demo_dir = Path("var/demo")
        if demo_dir.exists():
            shutil.rmtree(demo_dir)
        overrides = {"state_dir": demo_dir, "mode": "paper"}
    settings = settings_or_exit(config, **overrides)
    show = console if console is not None else (demo or sys.stdout.isatty())
    raise typer.Exit(
        run_daemon(settings, console=show, follow=follow, demo=demo, config_file=config)
    )


@app.command()
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


@app.command()
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


@app.command()
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


@app.command("paper-report")
def paper_report(
    config: ConfigOpt = None,
    bot: Annotated[str | None, typer.Option("--bot", "-b", help="Only this bot.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Paper/testnet results per bot against the seed's promotion criteria (exit 1 if any fails)."""
    from tradewarden.live.paper_report import render, report
    from tradewarden.operations.actions import open_store_or_exit

    settings = settings_or_exit(config)
    bots = [b[0] for b in settings.bot_specs()]
    if bot is not None:
        if bot not in bots:
            raise fail(f"--bot {bot!r} is not one of TRADEWARDEN_BOTS ({', '.join(bots)})", 2)
        bots = [bot]
    store = open_store_or_exit(settings)
    try:
        reports = report(store, bots)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in reports], indent=2, default=str))
    else:
        typer.echo(render(reports))
    raise typer.Exit(0 if all(r.passed for r in reports) else 1)


wallet_app = typer.Typer(
    help="Hot/cold split: declared cold funds and rebalance status.", no_args_is_help=True
)
app.add_typer(wallet_app, name="wallet")


@wallet_app.command("declare-cold")
def wallet_declare_cold(
    amount: Annotated[float, typer.Option("--amount", help="Cold wallet value in USD.")],
    address: Annotated[str, typer.Option("--address", help="Cold wallet receive address.")],
    proposal: Annotated[
        int | None,
        typer.Option(
            "--proposal",
            help="The approved rebalance this balance follows: recorded executed (audited),"
            " and the daemon sends the 'Rebalance executed' alert.",
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Record the cold balance (verified now by you) and its address; audited."""
    from tradewarden.operations.actions import open_store_or_exit
    from tradewarden.operations.control import current_actor
    from tradewarden.wallet.approvals import ApprovalError, ApprovalQueue
    from tradewarden.wallet.ledger import declare_cold

    settings = settings_or_exit(config)
    store = open_store_or_exit(settings)
    try:
        audit = audit_or_exit(settings, store)  # before the change: no unaudited change
        try:
            if not amount >= 0:
                raise ValueError("--amount must be >= 0")
            actor = current_actor()
            if proposal is not None:
                ApprovalQueue(settings, store, audit).mark_executed(
                    proposal, actor, f"cold balance {amount:,.2f} USD declared at {address}"
                )
            rec = declare_cold(store, amount, address, actor)
            audit.append("cold_wallet_declared", rec, actor=rec["by"], sync=True)
        except (ValueError, ApprovalError) as exc:
            raise fail(str(exc), 2) from None
        finally:
            audit.close()
    finally:
        store.close()
    typer.echo(f"cold wallet {address}: {amount:,.2f} USD recorded")
    if proposal is not None:
        typer.echo(f"proposal #{proposal} recorded executed")


@wallet_app.command("status")
def wallet_status(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Hot (exchange), cold (declared), target hot share, ratio and any rebalance needed."""
    from tradewarden.operations.actions import open_store_or_exit
    from tradewarden.wallet.ledger import declared_cold, view

    settings = settings_or_exit(config)
    store = open_store_or_exit(settings)
    try:
        snap = store.get(StateKey.STATUS_SNAPSHOT) or {}
        hot = float((snap.get("equity") or {}).get("portfolio_equity", 0.0))
        w = view(store, hot, settings.hot_wallet_percentage)
        cold = declared_cold(store)
    finally:
        store.close()
    p = w.proposal()
    data = {
        "hot_usd": w.hot,
        "cold_usd": w.cold,
        "target_hot_usd": w.target_hot,
        "hot_ratio_of_target": w.ratio,
        "cold_address": cold["address"],
        "cold_verified_at": cold["verified_at"],
        "rebalance": None
        if p is None
        else {"direction": str(p.direction), "amount": p.amount, "reason": p.reason},
    }
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(
        f"hot {w.hot:,.2f}  cold {w.cold:,.2f}  target hot {w.target_hot:,.2f} "
        f"({settings.hot_wallet_percentage:.0%})  ratio {w.ratio:.1%}"
    )
    typer.echo(p.reason if p else "within 80-120% of target: no rebalance needed")


@app.command()
def promote(
    bot: Annotated[str, typer.Option("--bot", "-b", help="The bot to promote.")],
    config: ConfigOpt = None,
) -> None:
    """Record a signed paper-to-live promotion for a bot, only if every criterion passes."""
    from tradewarden.live.paper_report import render, report
    from tradewarden.live.promotion import PromotionError, binding
    from tradewarden.live.promotion import promote as record
    from tradewarden.operations.actions import open_store_or_exit
    from tradewarden.operations.control import current_actor
    from tradewarden.risk.ramp import SizeRamp
    from tradewarden.secrets.credentials import admin_secret
    from tradewarden.secrets.errors import SecretError
    from tradewarden.secrets.factory import build_source

    settings = settings_or_exit(config)
    specs = {n: (sym, st) for n, sym, st in settings.bot_specs()}
    if bot not in specs:
        raise fail(f"--bot {bot!r} is not one of TRADEWARDEN_BOTS ({', '.join(specs)})", 2)
    try:
        key = admin_secret(settings, build_source(settings), "promotion_key")
    except SecretError as exc:
        raise fail(f"{exc}: promotions are signed with it", 2) from None
    store = open_store_or_exit(settings)
    try:
        audit = audit_or_exit(settings, store)
    except BaseException:
        store.close()
        raise
    try:
        (rep,) = report(store, [bot])
        typer.echo(render([rep]))
        pid = record(store, key, rep, binding(bot, *specs[bot]), current_actor())
        # the seed's gradual production restart: a newly promoted bot starts small
        SizeRamp(store, settings.restart_size_factor, settings.ramp_wins).begin(
            f"promotion of {bot}"
        )
        audit.append(
            "promoted",
            {"bot": bot, "promotion_id": pid, "strategy": specs[bot], "passed": rep.passed},
            actor=current_actor(),
            sync=True,
        )
    except PromotionError as exc:
        audit.append(
            "promotion_refused", {"bot": bot, "why": str(exc)}, actor=current_actor(), sync=True
        )
        raise fail(str(exc), 1) from None
    finally:
        audit.close()
        store.close()
    typer.echo(
        f"promotion #{pid} recorded for {bot}; it trades at {settings.restart_size_factor:.0%}"
        f" size until {settings.ramp_wins} profitable round trips in a row double it"
    )


@app.command("recovery-check")
def recovery_check(
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="The cold-wallet address to expect; must equal the recorded one"
            " (`wallet declare-cold`) when one is recorded. Default: the recorded address.",
        ),
    ] = None,
    path: Annotated[
        str | None,
        typer.Option(
            "--path",
            help="BIP44/49/84 path m/purpose'/coin'/account'/change/index. Default: the"
            " first receive address of the path the address type implies.",
        ),
    ] = None,
    passphrase: Annotated[
        bool, typer.Option("--passphrase", help="Also ask for the BIP39 passphrase (25th word).")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Prove a cold-wallet mnemonic backup restores the recorded wallet (words never echoed)."""
    from tradewarden.state.store import Store
    from tradewarden.wallet.ledger import declared_cold
    from tradewarden.wallet.recovery import DerivationError, MnemonicInvalidError, check

    settings = settings_or_exit(config)
    recorded = ""
    if settings.db_path.exists():
        store = Store(settings.db_path)
        try:
            recorded = str(declared_cold(store).get("address") or "").strip()
        finally:
            store.close()
    given = (address or "").strip()
    if recorded and given and given != recorded:
        raise fail(
            f"--address {given} is not the recorded cold wallet address {recorded}"
            " (`tradewarden wallet status`); a backup is checked against the recorded wallet",
            2,
        )
    expected = recorded or given
    if not expected:
        raise fail(
            "no cold wallet address is recorded (`tradewarden wallet declare-cold`) and no"
            " --address was given",
            2,
        )
    if not recorded:
        typer.echo("note: no cold wallet is recorded; comparing with --address only", err=True)
    words = typer.prompt("Mnemonic words (not echoed)", hide_input=True)
    extra = typer.prompt("Passphrase (not echoed)", hide_input=True) if passphrase else ""
    try:
        res = check(words, expected, path, extra)
    except (MnemonicInvalidError, DerivationError) as exc:
        raise fail(f"invalid: {exc}", 2) from None
    finally:
        del words, extra
    if res.matches:
        typer.echo(f"MATCH: the backup restores {res.expected_address} at {res.path}")
        raise typer.Exit(0)
    typer.echo(
        f"MISMATCH: the backup derives {res.derived_address} at {res.path}, "
        f"not the recorded {res.expected_address}"
    )
    raise typer.Exit(1)


@app.command("config")
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


def _audit_key_or_exit(settings: Settings) -> Any:
    from tradewarden.audit.chain import AuditConfigError, audit_key
    from tradewarden.secrets import scrub
    from tradewarden.secrets.errors import SecretConfigError, SecretError
    from tradewarden.secrets.factory import build_source

    try:
        return audit_key(settings, build_source(settings))
    except (AuditConfigError, SecretConfigError) as exc:
        raise fail(scrub.scrub(str(exc)), 2) from None
    except SecretError as exc:
        raise fail(scrub.scrub(str(exc)), 1) from None


def _remote_or_exit(settings: Settings, host: str | None) -> Any:
    from tradewarden.audit.anchor import AnchorError, S3Anchor

    try:
        return S3Anchor.from_settings(settings, host)
    except AnchorError as exc:
        raise fail(str(exc), 2) from None


HostOpt = Annotated[
    str | None,
    typer.Option("--host", help="Whose anchor (default: this host's name)."),
]


@audit_app.command("verify")
def audit_verify(
    config: ConfigOpt = None,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Audit directory (default: <state dir>/audit). With --dir the state"
            " database's head is not compared unless --db is given.",
        ),
    ] = None,
    db: Annotated[
        Path | None,
        typer.Option("--db", help="State database whose recorded head to check against."),
    ] = None,
    anchor: Annotated[
        bool,
        typer.Option("--anchor", help="Also check against the off-host anchor (S3)."),
    ] = False,
    host: HostOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the hash chain, each entry's HMAC, the head recorded in the state database and
    (--anchor) the off-host anchor; exit 1 naming the first broken line or missing seqs."""
    from tradewarden.audit.anchor import AnchorError
    from tradewarden.audit.chain import Head, recorded_head, verify
    from tradewarden.state.store import StateError, Store

    settings = settings_or_exit(config)
    d = directory or settings.audit_dir
    if not d.is_dir():
        raise fail(f"audit directory {d} does not exist", 1)
    key = _audit_key_or_exit(settings)
    refs: list[Head] = []
    notes: list[str] = []
    db_path = db or (settings.db_path if directory is None else None)
    if db_path is not None and db_path.is_file():
        try:
            store = Store(db_path)
        except StateError as exc:
            raise fail(str(exc), 1) from None
        try:
            head = recorded_head(store)
        finally:
            store.close()
        if head is not None:
            refs.append(head)
        else:
            notes.append("the state database records no head yet (written before this check)")
    else:
        notes.append("no state database compared: a cut-off tail is not detectable without it")
    if anchor:
        remote = _remote_or_exit(settings, host)
        try:
            found = remote.read()
        except AnchorError as exc:
            raise fail(str(exc), 1) from None
        if found is None:
            raise fail(f"no audit anchor at {remote.describe()}", 1)
        refs.append(found.as_head(remote.describe()))
    res = verify(d, key=key, refs=refs, retention_days=settings.audit_retention_days)
    if key is None:
        notes.append("no audit key configured: entries are not HMAC-checked (dev only)")
    res = type(res)(**{**res.__dict__, "notes": tuple(res.notes) + tuple(notes)})
    if as_json:
        typer.echo(json.dumps(res.__dict__))
    else:
        typer.echo(res.describe())
    raise typer.Exit(0 if res.ok else 1)


def _audit_alarm(settings: Settings, title: str, body: str) -> None:
    """A critical alert about the audit chain on every configured channel, queued in the
    outbox (the daemon sends it, retrying): replacing the off-host anchor or restarting the
    chain leaves a trace off the host, not only in the chain it changes."""
    from tradewarden.alerts.alarm import queue_critical
    from tradewarden.secrets.factory import build_source

    queue_critical(
        settings,
        lambda: build_source(settings),
        title=title,
        body=body + " If nobody on the desk did this on purpose, treat it as a security event.",
        topic="audit-chain",
        runbook="audit-chain-broken.md",
        check_command="tradewarden audit verify --anchor",
        warn=lambda msg: typer.echo(msg, err=True),
    )


@audit_app.command("anchor")
def audit_anchor(
    config: ConfigOpt = None,
    force_reason: Annotated[
        str,
        typer.Option(
            "--force-reason",
            help="Replace an anchor the local chain does not contain (after a restore or a new"
            " chain); audited with the replaced anchor.",
        ),
    ] = "",
) -> None:
    """Write the chain head to the off-host anchor now (the daemon does it periodically)."""
    from tradewarden.audit.anchor import AnchorError, publish
    from tradewarden.operations.actions import open_store_or_exit
    from tradewarden.operations.control import current_actor

    settings = settings_or_exit(config)
    remote = _remote_or_exit(settings, None)
    store = open_store_or_exit(settings)
    try:
        audit = audit_or_exit(settings, store)
        try:
            a = publish(audit, remote, force_reason=force_reason, actor=current_actor())
        except AnchorError as exc:
            raise fail(str(exc), 1) from None
        finally:
            audit.close()
    finally:
        store.close()
    if force_reason:
        _audit_alarm(
            settings,
            f"audit anchor replaced by hand at {remote.describe()}",
            f"`tradewarden audit anchor --force-reason` set the off-host audit anchor to seq"
            f" {a.seq} without checking the local chain contains the previous one. Reason"
            f" given: {force_reason!r}.",
        )
    typer.echo(f"anchored seq {a.seq} ({a.hash[:16]}...) at {remote.describe()}")


@audit_app.command("new-chain")
def audit_new_chain(
    reason: ReasonOpt,
    config: ConfigOpt = None,
) -> None:
    """Begin a new chain after a broken one was moved aside (runbooks/audit-chain-broken.md):
    it continues from the head the state database recorded, so that head and the off-host
    anchor still check; the first entry records why."""
    from tradewarden.audit.chain import ANCHOR, recorded_head
    from tradewarden.audit.chain import _write_chain_start as write_start
    from tradewarden.operations.actions import open_store_or_exit
    from tradewarden.operations.control import DaemonLock, current_actor

    if not reason.strip():
        raise fail("--reason must not be empty", 2)
    settings = settings_or_exit(config)
    lock = DaemonLock(settings.state_dir)
    if not lock.acquire():
        raise fail("the daemon is running: stop it first", 1)
    try:
        d = settings.audit_dir
        if d.is_dir() and (any(d.glob("audit-*.jsonl")) or (d / ANCHOR).exists()):
            raise fail(
                f"{d} still holds audit files: move the directory aside first (keep it as"
                " evidence)",
                1,
            )
        d.mkdir(parents=True, exist_ok=True)
        store = open_store_or_exit(settings)
        try:
            head = recorded_head(store)
            if head is not None:
                write_start(d, head.seq, head.hash, None, "new-chain")
            audit = audit_or_exit(settings, store)
            try:
                e = audit.append(
                    "chain_restarted",
                    {
                        "reason": reason,
                        "continues_from": None
                        if head is None
                        else {"seq": head.seq, "hash": head.hash},
                    },
                    actor=current_actor(),
                    sync=True,
                )
            finally:
                audit.close()
        finally:
            store.close()
    finally:
        lock.release()
    _audit_alarm(
        settings,
        f"new audit chain started in {d}",
        f"`tradewarden audit new-chain` started a new audit chain at seq {e['seq']}; the"
        f" entries before it are no longer in {d}. Reason given: {reason!r}.",
    )
    typer.echo(f"new audit chain in {d}, first entry seq {e['seq']}")


def _mount_approvals() -> None:
    from tradewarden.cli.approvals import app as approvals_app
    from tradewarden.cli.approvals import approvers_app

    app.add_typer(approvals_app, name="approvals")
    app.add_typer(approvers_app, name="approvers")


_mount_approvals()


def _mount_secrets() -> None:
    from tradewarden.cli.secrets import app as secrets_app

    app.add_typer(secrets_app, name="secrets")


_mount_secrets()


def _mount_diagnose() -> None:
    from tradewarden.cli.diagnose import register

    register(app)


_mount_diagnose()


def _mount_live() -> None:
    from tradewarden.cli.live import app as live_app

    app.add_typer(live_app, name="live")


_mount_live()


def _mount_ops() -> None:
    from tradewarden.cli.backup import register

    register(app)


_mount_ops()


def _mount_compliance() -> None:
    from tradewarden.cli.compliance import app as compliance_app

    app.add_typer(compliance_app, name="compliance")


_mount_compliance()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
