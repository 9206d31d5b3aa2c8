"""`tradewarden wallet ...` (hot/cold split) and `recovery-check` (a cold-wallet backup)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from tradewarden.cli.common import (
    ConfigOpt,
    JsonOpt,
    audit_or_exit,
    current_actor,
    fail,
    open_store_or_exit,
    settings_or_exit,
)
from tradewarden.state.keys import StateKey

app = typer.Typer(
    help="Hot/cold split: declared cold funds and rebalance status.", no_args_is_help=True
)


@app.command("declare-cold")
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


@app.command("status")
def wallet_status(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Hot (exchange), cold (declared), target hot share, ratio and any rebalance needed."""
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


def register(app: typer.Typer) -> None:
    """The top-level `recovery-check` (the `wallet` group is `app`)."""
    app.command("recovery-check")(recovery_check)
