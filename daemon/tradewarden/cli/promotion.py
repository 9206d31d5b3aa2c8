"""`tradewarden paper-report` and `promote`: paper results, a signed paper-to-live promotion."""

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


def paper_report(
    config: ConfigOpt = None,
    bot: Annotated[str | None, typer.Option("--bot", "-b", help="Only this bot.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Paper/testnet results per bot against the seed's promotion criteria (exit 1 if any fails).

    Futures bots (TRADEWARDEN_FUTURES_ENABLED=true) are held to the futures criteria too."""
    from tradewarden.live.paper_report import futures_report, render, report

    settings = settings_or_exit(config)
    bots = [b[0] for b in settings.bot_specs()]
    if bot is not None:
        if bot not in bots:
            raise fail(f"--bot {bot!r} is not one of TRADEWARDEN_BOTS ({', '.join(bots)})", 2)
        bots = [bot]
    store = open_store_or_exit(settings)
    try:
        if settings.futures_enabled:
            reports = futures_report(store, settings.audit_dir, bots)
        else:
            reports = report(store, bots, settings.audit_dir)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in reports], indent=2, default=str))
    else:
        typer.echo(render(reports))
    raise typer.Exit(0 if all(r.passed for r in reports) else 1)


def promote(
    bot: Annotated[str, typer.Option("--bot", "-b", help="The bot to promote.")],
    config: ConfigOpt = None,
) -> None:
    """Record a signed paper-to-live promotion for a bot, only if every criterion passes.

    With TRADEWARDEN_FUTURES_ENABLED=true the promotion is a futures one: the audit chain is
    verified first, and the futures criteria (no liquidation, the liquidation-distance
    breaker never at flatten, funding booked) must pass too."""
    from tradewarden.live.paper_report import futures_report, render, report
    from tradewarden.live.promotion import PromotionError, binding
    from tradewarden.live.promotion import promote as record
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
    market = "futures" if settings.futures_enabled else "spot"
    try:
        if market == "futures":
            verified = audit.verify_chain()
            if not verified.ok:  # the futures facts are read from the audit log
                raise PromotionError(f"futures facts unreadable: {verified.describe()}")
            (rep,) = futures_report(store, settings.audit_dir, [bot])
        else:
            (rep,) = report(store, [bot], settings.audit_dir)
        typer.echo(render([rep]))
        pid = record(store, key, rep, binding(bot, *specs[bot], market), current_actor())
        # the seed's gradual production restart: a newly promoted bot starts small
        SizeRamp(store, settings.restart_size_factor, settings.ramp_wins).begin(
            f"promotion of {bot}"
        )
        audit.append(
            "promoted",
            {
                "bot": bot,
                "promotion_id": pid,
                "strategy": specs[bot],
                "passed": rep.passed,
                "market": market,
            },
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


def register(app: typer.Typer) -> None:
    app.command("paper-report")(paper_report)
    app.command("promote")(promote)
