"""The `tradewarden` command line."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tradewarden import __version__
from tradewarden.config import ConfigError, Settings, load_settings

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
audit_app = typer.Typer(help="Audit log: verify the hash chain.", no_args_is_help=True)
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
    from tradewarden.runner import run_daemon

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
    from tradewarden.operator import read_status

    settings = settings_or_exit(config)
    st = read_status(settings)
    if as_json:
        typer.echo(json.dumps(st, indent=2, default=str))
    else:
        from tradewarden.console import print_status

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
    from tradewarden.operator import human_action

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
    from tradewarden.operator import human_reset
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
    from tradewarden.operator import open_store_or_exit
    from tradewarden.paper_report import render, report

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
    config: ConfigOpt = None,
) -> None:
    """Record the cold balance (verified now by you) and its address; audited."""
    from tradewarden.audit import AuditLog
    from tradewarden.control import current_actor
    from tradewarden.operator import open_store_or_exit
    from tradewarden.wallet.ledger import declare_cold

    settings = settings_or_exit(config)
    store = open_store_or_exit(settings)
    try:
        rec = declare_cold(store, amount, address, current_actor())
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    finally:
        store.close()
    audit = AuditLog(settings.audit_dir, settings.audit_retention_days)
    audit.append("cold_wallet_declared", rec, actor=rec["by"], sync=True)
    audit.close()
    typer.echo(f"cold wallet {address}: {amount:,.2f} USD recorded")


@wallet_app.command("status")
def wallet_status(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Hot (exchange), cold (declared), target hot share, ratio and any rebalance needed."""
    from tradewarden.operator import open_store_or_exit
    from tradewarden.wallet.ledger import declared_cold, view

    settings = settings_or_exit(config)
    store = open_store_or_exit(settings)
    try:
        snap = store.get("status_snapshot") or {}
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
    from tradewarden.control import current_actor
    from tradewarden.operator import open_store_or_exit
    from tradewarden.paper_report import render, report
    from tradewarden.promotion import PromotionError, binding
    from tradewarden.promotion import promote as record
    from tradewarden.ramp import SizeRamp
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
        (rep,) = report(store, [bot])
        typer.echo(render([rep]))
        pid = record(store, key, rep, binding(bot, *specs[bot]), current_actor())
        # the seed's gradual production restart: a newly promoted bot starts small
        SizeRamp(store, settings.restart_size_factor, settings.ramp_wins).begin(
            f"promotion of {bot}"
        )
    except PromotionError as exc:
        raise fail(str(exc), 1) from None
    finally:
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
    from tradewarden.store import Store
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
        from tradewarden.config import markdown_table

        typer.echo(markdown_table())
        return
    from tradewarden.app import safe_config

    typer.echo(json.dumps(safe_config(settings_or_exit(config)), indent=2))


@audit_app.command("verify")
def audit_verify(
    config: ConfigOpt = None,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Audit directory (default: <state dir>/audit).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the hash chain; exit 1 and name the first broken line on any tampering."""
    from tradewarden.audit import verify

    d = directory or settings_or_exit(config).audit_dir
    if not d.is_dir():
        raise fail(f"audit directory {d} does not exist", 1)
    res = verify(d)
    if as_json:
        typer.echo(json.dumps(res.__dict__))
    else:
        typer.echo(res.describe())
    raise typer.Exit(0 if res.ok else 1)


def _mount_approvals() -> None:
    from tradewarden.cli_approvals import app as approvals_app
    from tradewarden.cli_approvals import approvers_app

    app.add_typer(approvals_app, name="approvals")
    app.add_typer(approvers_app, name="approvers")


_mount_approvals()


def _mount_secrets() -> None:
    from tradewarden.cli_secrets import app as secrets_app

    app.add_typer(secrets_app, name="secrets")


_mount_secrets()


def _mount_diagnose() -> None:
    from tradewarden.cli_diagnose import register

    register(app)


_mount_diagnose()


def _mount_live() -> None:
    from tradewarden.cli_live import app as live_app

    app.add_typer(live_app, name="live")


_mount_live()


def _mount_ops() -> None:
    from tradewarden.cli_ops import register

    register(app)


_mount_ops()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
