"""`tradewarden compliance packet`: the evidence packet, built from the system itself.

``build`` writes DIR (summary.md/.pdf, controls.md/.json, attestation.md/.json,
logs/*.jsonl, terms.md, the architecture diagram when `tradewarden.compliance.diagram` is
there, packet.json, MANIFEST.sha256) and DIR.zip (the same files, the manifest included),
then sweeps every file, every zip member and the PDF's text for the values of every secret
the configured source holds. A finding deletes both and fails.

Exit codes (`Result.code`): 0 complete and every control met; 1 a control NOT MET, a
piece of the packet missing (e.g. the diagram) or a secret found by the sweep; 2 bad
input (settings, JUnit file, output directory).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from tradewarden.compliance import attest as attest_mod
from tradewarden.compliance import controls as ctl
from tradewarden.compliance import summary as summary_mod
from tradewarden.compliance.mask import Masker
from tradewarden.core.config import Settings

MANIFEST = "MANIFEST.sha256"
EXCERPT_LINES = 60
TERMS_EVENT = "terms_accepted"
DIAGRAM_DEFAULT_STACK = "prod"  # tradewarden.compliance.diagram.DEFAULT_STACK


class PacketInputError(Exception):
    """Bad input (exit 2): the message names what."""


@dataclass
class Result:
    out: Path
    zip_path: Path | None
    rows: list[ctl.Row]
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what a check found wrong now
    leaks: list[str] = field(default_factory=list)  # "file: which secret" (never the value)
    notes: list[str] = field(default_factory=list)

    @property
    def code(self) -> int:
        ok = all(r.met for r in self.rows) and not (self.missing or self.problems or self.leaks)
        return 0 if ok else 1


# --- where things are -----------------------------------------------------------------------
def repo_root(start: Path | None = None) -> Path | None:
    """The repository checkout the packet is built from (Pulumi.yaml + README.md)."""
    for d in [(start or Path.cwd()).resolve(), *(start or Path.cwd()).resolve().parents]:
        if (d / "Pulumi.yaml").is_file() and (d / "README.md").is_file():
            return d
    return None


def readme_section(root: Path | None, title: str = "Compliance") -> str | None:
    if root is None:
        return None
    text = (root / "README.md").read_text(encoding="utf-8")
    m = re.search(rf"^## {re.escape(title)}\b.*?(?=^## |\Z)", text, re.M | re.S)
    return m.group(0).rstrip() + "\n" if m else None


def stack_facts(root: Path | None, stack: str | None) -> dict[str, Any]:
    if not stack:
        return {}
    if root is None:
        return {"error": "no repository checkout found (Pulumi.yaml) from the working directory"}
    path = root / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise PacketInputError(f"--stack {stack}: no {path.name} in {root}")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        import yaml

        from infra.config import ConfigError, load_stack_config
    except ImportError as exc:
        return {"error": f"infra/ not importable here ({exc})"}
    raw = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("config") or {}
    try:
        cfg = load_stack_config(raw, stack)
    except ConfigError as exc:
        return {"error": "; ".join(exc.problems)}
    return {
        "stack": stack,
        "mode": cfg.mode,
        "egress_domains": list(cfg.network_firewall_targets),
        "dns_firewall_domains": list(cfg.dns_firewall_domains),
        "alert_emails": len(cfg.alert_emails),
        "alert_sms_numbers": len(cfg.alert_sms_numbers),
        "slack": cfg.slack,
        "backup_retention_days": cfg.backup_retention_days,
        "backup_lock_mode": cfg.backup_lock_mode,
        "backup_lock_days": cfg.backup_lock_days,
        "snapshot_retention_days": cfg.snapshot_retention_days,
        "log_retention_days": cfg.log_retention_days,
        "_account_id": cfg.account_id,  # for the sweep only; never written
    }


# --- logs -----------------------------------------------------------------------------------
def audit_lines(settings: Settings) -> list[str]:
    d = settings.audit_dir
    if not d.is_dir():
        return []
    out: list[str] = []
    for f in sorted(d.glob("audit-*.jsonl")):
        out += [ln for ln in f.read_text(encoding="utf-8", errors="replace").splitlines() if ln]
    return out


def audit_entries(lines: Iterable[str]) -> list[dict[str, Any]]:
    out = []
    for ln in lines:
        try:
            e = json.loads(ln)
        except ValueError:
            continue
        if isinstance(e, dict):
            out.append(e)
    return out


def excerpt(lines: Sequence[str], last: int = EXCERPT_LINES) -> list[str]:
    """The last `last` audit lines plus the latest line of every event kind before them
    (a run that ends in a burst of denials still shows an order, a fill, a start...)."""
    keep = set(range(max(0, len(lines) - last), len(lines)))
    seen: set[str] = set()
    for i in range(len(lines) - 1, -1, -1):
        try:
            kind = str(json.loads(lines[i]).get("event"))
        except (ValueError, AttributeError):
            continue
        if kind not in seen:
            seen.add(kind)
            keep.add(i)
    return [lines[i] for i in sorted(keep)]


def journal_lines(journal: Path | None) -> tuple[list[str], str]:
    """The daemon's JSON log lines: from a file (``journalctl -u tradewarden -o cat > F``,
    or a captured stdout), else from journalctl on this host."""
    if journal is not None:
        try:
            text = journal.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise PacketInputError(f"--journal {journal}: {exc}") from None
        return [ln for ln in text.splitlines() if ln.strip()], str(journal)
    exe = shutil.which("journalctl")
    if exe is None:
        return [], ""
    try:
        proc = subprocess.run(
            [exe, "-u", "tradewarden.service", "-o", "cat", "-n", "500", "--no-pager"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return [], ""
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    return lines, "journalctl -u tradewarden.service" if lines else ""


# --- terms ----------------------------------------------------------------------------------
def terms_record(settings: Settings, entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The acceptance the audit log records (`tradewarden compliance accept-terms`: who,
    when, which terms text) and when the daemon first ran with the flag on."""
    accepted = [e for e in entries if e.get("event") == TERMS_EVENT]
    starts = [e for e in entries if e.get("event") == "daemon_started"]
    first_on = None
    for e in starts:
        on = bool(((e.get("data") or {}).get("config") or {}).get("terms_accepted"))
        if on and first_on is None:
            first_on = e
        elif not on:
            first_on = None
    rec: dict[str, Any] = {"flag": settings.terms_accepted, "acceptance": None, "first_run": None}
    if accepted:
        last = accepted[-1]
        data = last.get("data") or {}
        rec["acceptance"] = {
            "who": last.get("actor"),
            "when": last.get("ts"),
            "terms_version": data.get("terms_version"),
            "terms_url": data.get("terms_url"),
            "terms_sha256": data.get("terms_sha256"),
            "audit_seq": last.get("seq"),
        }
    if first_on is not None:
        rec["first_run"] = {"when": first_on.get("ts"), "audit_seq": first_on.get("seq")}
    a = rec["acceptance"]
    if a:
        text = (
            f"Accepted by {a['who']} at {a['when']}, terms version {a['terms_version']!r}"
            + (f" (text SHA-256 {a['terms_sha256'][:16]}...)" if a["terms_sha256"] else "")
            + f" (audit seq {a['audit_seq']})."
        )
    else:
        text = (
            "No acceptance is recorded in the audit log (`tradewarden compliance accept-terms"
            " --version ... --text FILE` records who, when and which text)."
        )
    if rec["first_run"]:
        text += f" The daemon first ran with the flag on at {rec['first_run']['when']}."
    rec["summary"] = text
    return rec


def terms_markdown(rec: dict[str, Any], section: str | None) -> str:
    out = [
        "# Binance Developer Terms",
        "",
        f"`BINANCE_TERMS_ACCEPTED` = **{str(rec['flag']).lower()}** in the settings the packet"
        " was built with; live trading is blocked while it is false (gate condition `terms`).",
        "",
        rec["summary"],
        "",
    ]
    if rec["acceptance"]:
        out += ["| Field | Value |", "|---|---|"]
        out += [f"| {k} | {v} |" for k, v in rec["acceptance"].items()]
        out.append("")
    out += ["## README: Compliance", ""]
    out.append(section or "**MISSING**: README.md has no `## Compliance` section.\n")
    return "\n".join(out) + "\n"


# --- the sweep ------------------------------------------------------------------------------
def secret_values(
    settings: Settings, extra: Iterable[tuple[str, str]] = ()
) -> list[tuple[str, str]]:
    """(what, value) for every secret value the configured source holds, the credential
    key(s), and `extra`. Values shorter than 8 characters are skipped (they would match
    ordinary text)."""
    from tradewarden.secrets.bundle import SecretRole, secret_fields
    from tradewarden.secrets.errors import SecretError
    from tradewarden.secrets.factory import build_source

    out = list(extra)
    try:
        source = build_source(settings)
    except SecretError:
        source = None
    if source is not None:
        for role in SecretRole:
            try:
                bundle = source.get(role.secret_id(settings), role.kind)
            except SecretError:
                continue
            for name in secret_fields(role.kind):
                s = bundle.get(name)
                if s is not None:
                    out.append((f"{role.value}.{name}", s.reveal()))
    if settings.credential_key is not None:
        for n, part in enumerate(settings.credential_key.get_secret_value().split(","), 1):
            out.append((f"BINANCE_CREDENTIAL_KEY[{n}]", part.strip()))
    return [(w, v) for w, v in out if v and len(v) >= 8]


def _texts(path: Path, shown: str) -> Iterable[tuple[str, bytes]]:
    data = path.read_bytes()
    yield shown, data
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                member = z.read(info)
                yield f"{path.name}:{info.filename}", member
                if info.filename.endswith(".pdf"):
                    yield from _pdf_text(f"{path.name}:{info.filename}", member)
    elif path.suffix == ".pdf":
        yield from _pdf_text(path.name, data)


def _pdf_text(name: str, data: bytes) -> Iterable[tuple[str, bytes]]:
    exe = shutil.which("pdftotext")
    if exe is None:
        raise RuntimeError("pdftotext (poppler-utils) is needed to sweep the PDF's text")
    proc = subprocess.run([exe, "-", "-"], input=data, capture_output=True, check=True, timeout=60)
    yield f"{name} (text)", proc.stdout


def encoded_forms(value: str) -> set[str]:
    """`value` as a file may carry it: as-is, JSON-escaped (once and twice), HTML-escaped
    (the diagram's .dot labels and .svg), URL-quoted (a request URL, a form body) and
    base64 at each of the three byte alignments, standard and URL-safe (HTTP Basic
    ``user:password``, SMTP ``AUTH PLAIN``), only the characters that depend on the value
    alone."""
    once = json.dumps(value)[1:-1]
    forms = {value, once, json.dumps(once)[1:-1], quote(value, safe=""), quote_plus(value)}
    forms |= {html.escape(value), html.escape(value, quote=False)}  # the .dot and .svg
    raw = value.encode()
    for k, start in ((0, 0), (1, 2), (2, 3)):  # k bytes before it: skip the chars they touch
        end = (k + len(raw)) // 3 * 4  # the last group mixes in what follows: stop before
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            form = enc(b"\0" * k + raw).decode()[start:end]
            if len(form) >= 8:
                forms.add(form)
    return forms


def sweep(
    paths: Iterable[Path], values: Sequence[tuple[str, str]], base: Path | None = None
) -> list[str]:
    """Every place a secret value occurs (as-is or in one of its `encoded_forms`): "file:
    what"; files are named relative to `base`."""
    findings = []
    needles = [(what, f.encode()) for what, v in values for f in encoded_forms(v)]
    for p in paths:
        shown = p.relative_to(base).as_posix() if base and p.is_relative_to(base) else p.name
        for where, blob in _texts(p, shown):
            for what, needle in needles:
                if needle in blob:
                    findings.append(f"{where}: {what}")
    return sorted(set(findings))


# --- build ----------------------------------------------------------------------------------
def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _gate(settings: Settings, at: attest_mod.Attestation) -> tuple[Any, str]:
    """`gate.decide` on the settings and the checks run now: the key permissions just read,
    the promotions verified with the promotion key, the key's recorded scope, a disarm."""
    from tradewarden.live.gate import live_gate
    from tradewarden.live.key_permissions import PermissionResult
    from tradewarden.runtime.wiring import disarm_text, promotions, read_disarm
    from tradewarden.secrets.credentials import binance_keys
    from tradewarden.secrets.errors import SecretError
    from tradewarden.secrets.factory import build_source

    perms = [
        PermissionResult(
            ok=k.read and k.ok,
            role=k.role,
            problems=tuple(k.problems) if k.read else (f"not readable: {k.error}",),
            futures=settings.futures_enabled,  # attest.read_keys applied the stack's rules
        )
        for k in at.keys
    ] or None
    notes = ["key permissions read now" if perms else f"key permissions not read ({at.not_read})"]
    promos = None
    scope = None
    try:
        source = build_source(settings)
        if settings.db_path.exists():
            promos = promotions(settings, source)
            n = len(settings.bot_specs())
            ok = sum(p.ok for p in promos) if len(promos) == n else 0
            notes.append(f"{ok} of {n} bots promoted (promotion records verified now)")
        try:
            scope = binance_keys(settings, source).trade.scope
        except SecretError:
            notes.append("no trade key stored")
    except SecretError as exc:
        notes.append(f"secret source unusable: {type(exc).__name__}")
    disarmed = disarm_text(read_disarm(settings)) if settings.db_path.exists() else ""
    decision = live_gate(
        settings, permissions=perms, promotions=promos, key_scope=scope, disarmed=disarmed
    )
    return decision, "gate.decide with " + "; ".join(notes)


def _audit_check(settings: Settings) -> tuple[str, bool | None]:
    from tradewarden.audit.chain import AuditError, audit_key, recorded_head, verify
    from tradewarden.secrets import scrub
    from tradewarden.secrets.errors import SecretError
    from tradewarden.secrets.factory import build_source
    from tradewarden.state.store import Store

    if not settings.audit_dir.is_dir():
        return "no audit directory in this state directory", None
    try:
        key = audit_key(settings, build_source(settings))
    except (AuditError, SecretError) as exc:
        return f"audit key unusable: {scrub.scrub(str(exc))}", False
    refs = []
    if settings.db_path.exists():
        store = Store(settings.db_path)
        try:
            head = recorded_head(store)
        finally:
            store.close()
        if head is not None:
            refs.append(head)
    res = verify(
        settings.audit_dir, key=key, refs=refs, retention_days=settings.audit_retention_days
    )
    note = "" if key is not None else " (no audit key configured: hashes only, dev)"
    return res.describe() + note, res.ok


def _outbox(settings: Settings) -> dict[str, Any]:
    from tradewarden.operations.diagnose import read_outbox
    from tradewarden.secrets.bundle import SecretKind
    from tradewarden.secrets.errors import SecretError
    from tradewarden.secrets.factory import build_source
    from tradewarden.state.store import Store

    configured = ["console"]
    if settings.smtp_host and settings.email_to:
        configured.append(f"email ({len(settings.email_to)} recipient(s))")
    if settings.sns_topic_arn:
        configured.append("sns")
    try:
        build_source(settings).get(settings.secret_slack_id, SecretKind.SLACK)
        configured.append(f"slack ({settings.slack_channel}; its secret is stored)")
    except SecretError:
        pass  # no Slack secret: the daemon sends nothing to Slack
    out: dict[str, Any] = {"configured": configured}
    if settings.db_path.exists():
        store = Store(settings.db_path)
        try:
            view = read_outbox(store, time.time())
        finally:
            store.close()
        if view is not None:
            out.update(
                depth=view.depth, stuck=view.stuck, delivered_by_channel=view.delivered_by_channel
            )
    return out


def _risk_state(settings: Settings) -> dict[str, Any]:
    if not settings.db_path.exists():
        return {}
    import typer

    from tradewarden.operations.actions import read_status

    try:
        st = read_status(settings)
    except typer.Exit:
        return {}
    return {k: st.get(k) for k in ("state", "state_reason", "trips", "mode")}


def _diagram(out: Path, stack: str | None) -> tuple[list[Path], str]:
    try:
        from tradewarden.compliance.diagram import render_architecture  # c21b's module
    except ImportError as exc:
        return [], f"architecture diagram: tradewarden.compliance.diagram not available ({exc})"
    (out / "diagram").mkdir(parents=True, exist_ok=True)
    try:
        files = [Path(p) for p in render_architecture(out / "diagram", stack)]
    except Exception as exc:  # any failure of the renderer: reported, never papered over
        return [], f"architecture diagram: render_architecture failed: {type(exc).__name__}: {exc}"
    absent = [p.name for p in files if not p.is_file() or not p.resolve().is_relative_to(out)]
    kinds = {p.suffix for p in files}
    if absent or not {".svg", ".png"} <= kinds:
        return [], (
            "architecture diagram: render_architecture did not write an SVG and a PNG inside"
            f" the packet (got {sorted(p.name for p in files)}, absent {absent})"
        )
    return files, ""


def build(
    settings: Settings,
    out: Path,
    *,
    stack: str | None = None,
    junit: Path | None = None,
    journal: Path | None = None,
    egress_ip: str | None = None,
    host_env: Path | None = None,
    extra_secrets: Iterable[tuple[str, str]] = (),
    root: Path | None = None,
) -> Result:
    import importlib.util

    if importlib.util.find_spec("fpdf") is None:
        raise PacketInputError(
            "fpdf2 is not installed: build the packet from a repository checkout with the dev"
            " dependencies (`uv sync --group dev`), not on the trading host"
        )
    if shutil.which("pdftotext") is None:
        raise PacketInputError(
            "pdftotext is missing (Debian package poppler-utils): the"
            " packet's PDF could not be swept for secrets"
        )
    out = out.resolve()
    zpath = out.with_name(out.name + ".zip")
    if out.exists() and any(out.iterdir()):
        raise PacketInputError(f"--out {out}: exists and is not empty")
    for p in (zpath, zpath.with_name(zpath.name + ".sha256")):
        if p.exists() or p.is_symlink():  # a dangling link too: we would write through it
            raise PacketInputError(f"{p} exists: move it away first")
    report = None
    if junit is not None:
        if not junit.is_file():
            raise PacketInputError(f"--junit {junit}: no such file")
        try:
            report = ctl.read_junit(junit)
        except ValueError as exc:
            raise PacketInputError(f"--junit: {exc}") from None
    root = root or repo_root()
    if report is not None:
        here = ctl.code_fingerprint(root) if root is not None else None
        if report.code is None:
            report.stale = (
                f"the JUnit report records no {ctl.CODE_PROPERTY} (which code it ran on);"
                " run `make pytest` from this checkout"
            )
        elif here is None:
            report.stale = "no git checkout here to compare the JUnit report's code with"
        elif report.code != here:
            report.stale = (
                f"the JUnit report is a run of other code ({ctl.CODE_PROPERTY}"
                f" {report.code[:12]}..., this checkout {here[:12]}...): run `make pytest` again"
            )
    facts_stack = stack_facts(root, stack)
    out.mkdir(parents=True, exist_ok=True)
    now = time.time()
    missing: list[str] = []
    notes: list[str] = []
    source_values = secret_values(settings)
    if not source_values:  # a sweep with nothing to look for proves nothing
        missing.append(
            "canary sweep: no secret value could be read from the secret source"
            f" ({settings.secret_source.value}); build the packet where the source is readable"
        )
    if report is None:
        missing.append("test results: no --junit report given (every control shows NOT MET)")

    rows = ctl.evaluate(report)
    _write(out / "controls.md", ctl.matrix_markdown(rows, report))
    _write(out / "controls.json", json.dumps(ctl.matrix_json(rows, report), indent=2) + "\n")

    at = attest_mod.attest(settings, egress_ip=egress_ip, host_env=host_env, now=now)
    problems = [
        f"{k.role} key NOT ACCEPTABLE: " + "; ".join(k.problems)
        for k in at.keys
        if k.read and not k.ok
    ]
    if report is not None and report.stale:
        problems.append(f"test results: {report.stale} (every control shows NOT MET)")
    _write(out / "attestation.md", attest_mod.markdown(at))
    _write(out / "attestation.json", json.dumps(at.as_dict(), indent=2, default=str) + "\n")

    masker = Masker()
    a_lines = audit_lines(settings)
    entries = audit_entries(a_lines)
    j_lines, j_source = journal_lines(journal)
    _write(
        out / "logs" / "audit-excerpt.jsonl",
        "".join(masker.line(ln) + "\n" for ln in excerpt(a_lines)),
    )
    _write(
        out / "logs" / "journal-excerpt.jsonl",
        "".join(masker.line(ln) + "\n" for ln in j_lines[-EXCERPT_LINES:]),
    )
    j_shown = "from " + Path(j_source).name if j_source else "none"
    counts = ", ".join(f"{k} {n}" for k, n in sorted(masker.counts.items()))
    if not a_lines:
        missing.append(f"audit excerpt: no audit lines in {settings.audit_dir}")
    if not j_lines:
        missing.append("journal excerpt: no JSON log lines (--journal FILE, or journalctl)")
    _write(
        out / "logs" / "README.md",
        "# Anonymised log excerpts\n\n"
        f"- `audit-excerpt.jsonl`: {len(excerpt(a_lines))} of {len(a_lines)} audit entries"
        f" ({settings.audit_dir.name}/ of the state directory): the last {EXCERPT_LINES} and"
        " the latest of every other event kind.\n"
        f"- `journal-excerpt.jsonl`: the last {min(len(j_lines), EXCERPT_LINES)} of"
        f" {len(j_lines)} daemon log lines ({j_shown}).\n\n"
        "Account ids, order ids, client order ids, trade ids, addresses, IPs, e-mail"
        " addresses and amounts are replaced by `<kind:token>`: the same value has the same"
        " token in every file of this packet (HMAC-SHA256 under a key made for this packet"
        " and never written down), so one order can be followed across lines. Values under"
        " secret-like keys and credential-shaped text (webhooks, tokens, URL passwords,"
        " access keys) read `***`. The audit lines' hashes are kept: the masked lines no"
        " longer verify; the chain itself was verified when the packet was built (see"
        " summary.md).\n\n"
        f"Masked: {counts or 'nothing'}.\n",
    )

    terms = terms_record(settings, entries)
    section = readme_section(root)
    if section is None:
        missing.append("README.md `## Compliance` section: not found")
    _write(out / "terms.md", terms_markdown(terms, section))

    diagram_files, why = _diagram(out, stack)
    if why:
        missing.append(why)

    audit_text, audit_ok = _audit_check(settings)
    if audit_ok is False:
        problems.append(f"audit chain: {' '.join(audit_text.split())}")
    decision, gate_note = _gate(settings, at)
    facts = summary_mod.Facts(
        settings=settings,
        generated_at=now,
        stack=stack,
        gate=decision,
        gate_inputs_note=gate_note,
        last_run=next(
            (e.get("data") or {} for e in reversed(entries) if e.get("event") == "daemon_started"),
            {},
        ),
        risk_state=_risk_state(settings),
        attestation=at,
        audit_check=audit_text,
        audit_ok=audit_ok,
        outbox=_outbox(settings),
        stack_facts={k: v for k, v in facts_stack.items() if not k.startswith("_")},
        rows=rows,
        test_run=ctl.run_date(report),
        terms=terms,
        missing=missing,
        problems=problems,
    )
    md = summary_mod.markdown(facts)
    _write(out / "summary.md", md)
    summary_mod.write_pdf(md, out / "summary.pdf")

    index = {
        "generated_at": now,
        "stack": stack,
        "mode_decided": decision.mode.value,
        "controls_met": sum(r.met for r in rows),
        "controls_total": len(rows),
        "not_met": [r.control.id for r in rows if not r.met],
        "missing": missing,
        "problems": problems,
        "diagram": [p.relative_to(out).as_posix() for p in diagram_files],
    }
    _write(out / "packet.json", json.dumps(index, indent=2) + "\n")

    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != MANIFEST)
    lines = [f"{_sha256(p)}  {p.relative_to(out).as_posix()}" for p in files]
    _write(out / MANIFEST, "\n".join(lines) + "\n")
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for p in [*files, out / MANIFEST]:
            z.write(p, f"{out.name}/{p.relative_to(out).as_posix()}")
    _write(zpath.with_name(zpath.name + ".sha256"), f"{_sha256(zpath)}  {zpath.name}\n")

    values = source_values + [(w, v) for w, v in extra_secrets if v and len(v) >= 8]
    if facts_stack.get("_account_id"):
        values.append(("AWS account id", str(facts_stack["_account_id"])))
    if not stack:  # the diagram draws the default stack: its account id is swept too
        try:
            drawn = stack_facts(root, DIAGRAM_DEFAULT_STACK)
        except PacketInputError:
            drawn = {}
        if drawn.get("_account_id"):
            values.append(("AWS account id", str(drawn["_account_id"])))
    every = [p for p in out.rglob("*") if p.is_file()] + [zpath]
    leaks = sweep(every, values, out.parent)
    if leaks:  # fail closed: nothing that holds a secret stays on disk
        shutil.rmtree(out)
        zpath.unlink()
        zpath.with_name(zpath.name + ".sha256").unlink()
        return Result(out, None, rows, missing, problems, leaks, notes)
    notes.append(f"canary sweep: {len(values)} secret value(s) checked, none found")
    return Result(out, zpath, rows, missing, problems, [], notes)


def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    with p.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_manifest(out: Path) -> list[str]:
    """Problems with DIR against its MANIFEST.sha256 (empty = every file matches, none extra)."""
    listed = {}
    for ln in (out / MANIFEST).read_text(encoding="utf-8").splitlines():
        digest, _, name = ln.partition("  ")
        listed[name] = digest
    actual = {
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != MANIFEST
    }
    problems = [f"not in the manifest: {n}" for n in sorted(actual - set(listed))]
    problems += [f"listed but absent: {n}" for n in sorted(set(listed) - actual)]
    problems += [
        f"digest differs: {n}"
        for n in sorted(actual & set(listed))
        if _sha256(out / n) != listed[n]
    ]
    return problems
