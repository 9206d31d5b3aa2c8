"""The executive summary (Markdown and PDF), written from the settings, the state
directory, the checks the packet ran and the controls matrix: every sentence names where
its fact came from, nothing is boilerplate."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradewarden import __version__
from tradewarden.core.config import Settings


@dataclass
class Facts:
    """What the summary states, gathered by `packet.build`."""

    settings: Settings
    generated_at: float
    stack: str | None
    gate: Any  # tradewarden.live.gate.GateDecision
    gate_inputs_note: str
    last_run: dict[str, Any]  # the last daemon_started audit entry's data (or {})
    risk_state: dict[str, Any]  # operator.read_status() subset, {} without a state database
    attestation: Any  # attest.Attestation
    audit_check: str
    audit_ok: bool | None
    outbox: dict[str, Any]
    stack_facts: dict[str, Any]
    rows: list[Any]  # controls.Row
    test_run: str
    terms: dict[str, Any]
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _routes() -> list[tuple[str, tuple[str, ...]]]:
    from tradewarden.alerts.routing import ROUTES

    return [(str(sev.value), chans) for sev, chans in ROUTES.items()]


def _pct(x: float) -> str:
    return f"{x * 100:g}%"


def markdown(f: Facts) -> str:
    s = f.settings
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(f.generated_at))
    met = sum(r.met for r in f.rows)
    lines: list[str] = [
        "# tradewarden: executive summary",
        "",
        f"Generated {when} by `tradewarden compliance packet` (tradewarden {__version__})"
        f" from the settings of profile `{s.profile.value}`"
        + (f", stack `{f.stack}`" if f.stack else "")
        + f", the state directory `{s.state_dir.name}` and the test run of"
        f" {f.test_run or 'no JUnit report'}.",
        "",
        "## What the system does",
        "",
        f"tradewarden runs {len(s.bots)} trading bot(s) on Binance spot"
        f" ({', '.join(b.split(':')[0] + ' on ' + b.split(':')[1] for b in s.bots)}),"
        f" symbols allowed: {', '.join(s.symbols)}. It trades paper (in-process broker),"
        " testnet or live; live needs every gate below. Its key can never withdraw: cold-wallet"
        " moves and transfers become proposals that humans approve.",
        "",
        "## Mode and the live gate",
        "",
        f"- Requested mode: `{s.mode.value}`; the gate decides **{f.gate.mode.value}**"
        f" ({f.gate_inputs_note}).",
    ]
    if f.gate.live:
        lines.append("- Every live-trading condition holds.")
    else:
        lines.append("- Not live because:")
        lines += [f"  - {b}" for b in f.gate.blockers]
        if f.gate.fallback:
            lines.append(f"  - runs {f.gate.fallback}")
    if f.last_run:
        lines.append(
            f"- Last daemon start in this state directory: mode `{f.last_run.get('mode')}`,"
            f" state `{f.last_run.get('state')}`, config SHA-256"
            f" `{str(f.last_run.get('config_sha256', ''))[:16]}...` (audit `daemon_started`)."
        )
    else:
        lines.append("- No daemon start is recorded in this state directory's audit log.")
    lines += [
        "",
        "## Circuit breakers and pre-trade limits (from the settings)",
        "",
        f"- Consecutive losses: {s.max_consecutive_losses}; daily loss:"
        f" {_pct(s.max_daily_loss_pct)}; bot drawdown: {_pct(s.max_bot_drawdown_pct)};"
        f" portfolio drawdown (emergency stop): {_pct(s.max_portfolio_drawdown_pct)}.",
        f"- A trip stops `{s.trip_scope.value}` bots, is sticky (persisted) and only"
        " `tradewarden reset --reason ...` clears it; warning at"
        f" {_pct(s.approach_warn_ratio)} of a threshold; flatten on emergency stop:"
        f" {str(s.flatten_on_emergency).lower()}; close positions on every trip:"
        f" {str(s.close_positions_on_trip).lower()}.",
        f"- Pre-trade: at most {s.max_notional_per_order:,.0f} per order,"
        f" {s.max_open_orders} open orders, {s.max_orders_per_minute} orders a minute;"
        f" directional entries blocked in zones {', '.join(f'Z{z}' for z in s.blocked_zones)}.",
        f"- Profile `{s.profile.value}`: "
        + (
            "limits are bounded (staging/prod refuse a limit outside the seed band)."
            if s.profile.value != "dev"
            else "dev: the seed bands are not enforced (staging/prod enforce them)."
        ),
    ]
    if f.risk_state:
        trips = f.risk_state.get("trips") or []
        lines.append(
            f"- Trading state now: `{f.risk_state.get('state')}`"
            + (
                f"; {len(trips)} trip(s) recorded: "
                + ", ".join(f"{t['breaker']} on {t['bot']}" for t in trips)
                if trips
                else "; no breaker tripped"
            )
            + " (state database)."
        )
    lines += [
        "",
        "## Funds",
        "",
        f"- Hot share target {_pct(s.hot_wallet_percentage)}; transfers above"
        f" ${s.transfer_approval_usd:,.0f} need a human approval, above"
        f" ${s.two_approvers_usd:,.0f} two different approvers (TOTP).",
        "",
        "## Keys and secrets",
        "",
        f"- Secret source: `{s.secret_source.value}`"
        + (" (development only; the gate refuses live)" if s.secret_source.value == "env" else "")
        + ".",
    ]
    at = f.attestation
    if at.keys:
        for k in at.keys:
            verdict = "acceptable" if k.read and k.ok else "NOT acceptable"
            lines.append(
                f"- {k.role} key: {verdict} (apiRestrictions read now: withdrawals"
                f" {k.flags.get('enableWithdrawals')}, spot trading"
                f" {k.flags.get('enableSpotAndMarginTrading')}, IP-restricted"
                f" {k.flags.get('ipRestrict')})."
            )
    else:
        lines.append(f"- Key permissions: {at.not_read or 'no key read'}.")
    lines.append(f"- IP whitelist: {at.ip_statement}.")
    if at.ages:
        lines.append(
            "- Secret ages: "
            + "; ".join(
                f"{a['role']} {a['status']}"
                + (f" ({a['age_days']:.0f} d)" if a["age_days"] is not None else "")
                for a in at.ages
            )
            + " (rotation due at 90 days)."
        )
    elif at.ages_error:
        lines.append(f"- Secret ages: not readable ({at.ages_error}).")
    lines += ["", "## Audit, alerting, egress, backups", ""]
    lines.append(
        f"- Audit log: hash-chained JSON lines (HMAC-signed with the audit key), retention"
        f" {s.audit_retention_days} days; off-host anchor "
        + ("configured" if s.audit_anchor_bucket else "not configured")
        + f". Verified now: {' '.join(f.audit_check.split())}."
    )
    chans = f.outbox.get("configured") or []
    delivered = f.outbox.get("delivered_by_channel") or {}
    lines.append(
        "- Alert channels configured: "
        + (", ".join(chans) or "none")
        + "; delivered from this state's outbox: "
        + (", ".join(f"{c} {n}" for c, n in sorted(delivered.items())) or "nothing")
        + f"; pending: {f.outbox.get('depth', 0)}. Routing (alerts/routing.py): "
        + "; ".join(f"{sev} to {', '.join(ch)}" for sev, ch in _routes())
        + "; an undeliverable alert stays in the outbox and is retried, never dropped."
    )
    sf = f.stack_facts
    if sf.get("error"):
        lines.append(f"- Stack `{f.stack}`: its config could not be read: {sf['error']}.")
    elif sf:
        lines.append(
            f"- Egress (stack `{f.stack}`, Network Firewall + DNS Firewall + host nftables):"
            f" only {', '.join(sf['egress_domains'])}; everything else is blocked."
        )
        lines.append(
            f"- Backups: nightly to S3, retention {sf['backup_retention_days']} days, object"
            f" lock {sf['backup_lock_mode']} {sf['backup_lock_days']} days; EBS snapshots"
            f" kept {sf['snapshot_retention_days']} days; logs kept"
            f" {sf['log_retention_days']} days."
        )
    else:
        lines.append(
            f"- Egress: the daemon talks to `{s.effective_binance_url}`; no stack was given"
            " (--stack), so the deployed allow-list and backups are not described here."
        )
    lines += [
        "",
        "## Terms",
        "",
        f"- BINANCE_TERMS_ACCEPTED is **{str(s.terms_accepted).lower()}**. {f.terms['summary']}",
        "",
        "## Controls",
        "",
        f"**{met} of {len(f.rows)} controls met** in the test run of"
        f" {f.test_run or 'no JUnit report'}"
        " (controls.md: each control, where it is implemented, the tests that prove it).",
    ]
    bad = [r for r in f.rows if not r.met]
    if bad:
        lines.append("")
        lines.append("NOT MET:")
        lines += [f"- {r.control.id}: {r.short_why}" for r in bad]
    if f.problems:
        lines += ["", "## Problems found by the checks run for this packet", ""]
        lines += [f"- {p}" for p in f.problems]
    if f.missing:
        lines += ["", "## Missing from this packet", ""]
        lines += [f"- {m}" for m in f.missing]
    return "\n".join(lines) + "\n"


def _latin1(text: str) -> str:
    repl = {"\u2014": "-", "\u2013": "-", "\u2019": "'", "\u201c": '"', "\u201d": '"'}
    for a, b in repl.items():
        text = text.replace(a, b)
    return text.encode("latin-1", "replace").decode("latin-1")


def write_pdf(md: str, path: Path) -> None:
    """A plain PDF of the Markdown summary (headings, bullets, paragraphs) with fpdf2."""
    try:
        from fpdf import FPDF
    except ImportError as exc:  # the packet is built from a checkout with the dev group
        raise RuntimeError(
            "fpdf2 is not installed: build the packet from the repository"
            " (`uv sync --group dev`), not on the trading host"
        ) from exc

    pdf = FPDF(format="A4")
    pdf.set_title("tradewarden executive summary")
    pdf.set_creator(f"tradewarden {__version__}")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    for raw in md.splitlines():
        line = _latin1(raw.replace("`", "").replace("**", ""))
        if line.startswith("# "):
            pdf.set_font("Helvetica", "B", 16)
            pdf.multi_cell(width, 8, line[2:], align="L", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        elif line.startswith("## "):
            pdf.ln(2)
            pdf.set_font("Helvetica", "B", 12)
            pdf.multi_cell(width, 6, line[3:], align="L", new_x="LMARGIN", new_y="NEXT")
        elif not line.strip():
            pdf.ln(2)
        else:
            indent = len(line) - len(line.lstrip())
            text = line.strip()
            bullet = text.startswith("- ")
            if bullet:
                text = text[2:]
            pdf.set_font("Helvetica", "", 9)
            pdf.set_x(pdf.l_margin + (4 + indent * 2 if bullet else 0))
            pdf.multi_cell(
                width - (4 + indent * 2 if bullet else 0),
                4.6,
                ("- " if bullet else "") + text,
                align="L",
                new_x="LMARGIN",
                new_y="NEXT",
            )
    pdf.output(str(path))
