"""The controls matrix: every control the three seeds require -> where it is implemented
-> the tests that prove it -> their result in a JUnit XML (pytest ``--junitxml``).

A control is MET only when it names at least one test and every one of its tests passed
in the JUnit file, and that file is a run of the code the packet describes (its
`CODE_PROPERTY`, written by tests/conftest.py, equals the checkout's `code_fingerprint`).
A test that failed, errored, was skipped or is absent from the file makes the control
NOT MET, with the reason. ``tests/unit/compliance/test_compliance.py`` checks that every
test id and every path named here exists, so a rename cannot orphan a row.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PASSED, FAILED, ERROR, SKIPPED, MISSING = "passed", "failed", "error", "skipped", "missing"
STALE = "stale"  # passed, but in a run of other code than the checkout the packet describes
# The testsuite property tests/conftest.py writes into a `pytest --junitxml` report: the
# `code_fingerprint` of the checkout the run tested.
CODE_PROPERTY = "tradewarden_code_sha256"
CODE_PATHS = ("daemon", "infra", "ops", "tests", "pyproject.toml", "uv.lock", "Makefile")

BINANCE = "binance-compliance-guide.md"
PETS = "pets-security-guidelines.md"
CRYPTOPULSE = "cryptopulse-security-and-compliance.md"


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    requirement: str  # what the seed asks, in its words where short
    seeds: tuple[str, ...]
    implemented_in: tuple[str, ...]  # repository paths (files or directories)
    tests: tuple[str, ...]  # pytest node ids


CONTROLS: tuple[Control, ...] = (
    Control(
        "key-scope",
        "API key scope: no withdrawals or transfers, IP-restricted",
        "Read + spot trade only; withdrawals disabled at the API level; IP whitelisting",
        (BINANCE, CRYPTOPULSE),
        ("daemon/tradewarden/live/key_permissions.py", "daemon/tradewarden/runtime/wiring.py"),
        (
            "tests/unit/live/test_permissions_eval.py::test_each_problem_is_listed_alone",
            "tests/unit/live/test_permissions_eval.py::test_leverage_rights_fail_the_check",
            "tests/integration/secrets/test_permissions_fake.py::test_withdrawals_enabled",
            "tests/integration/secrets/test_permissions_fake.py::test_no_ip_restriction",
        ),
    ),
    Control(
        "key-separation",
        "Separate read and trade keys (least privilege)",
        "Separate keys for price-fetch (read-only) versus trade-execution",
        (CRYPTOPULSE,),
        ("daemon/tradewarden/secrets/credentials.py", "daemon/tradewarden/exchange/client.py"),
        (
            "tests/integration/exchange/test_read_key.py::test_reads_use_the_read_key_and_only_orders_the_trade_key",
            "tests/integration/exchange/test_read_key.py::test_the_key_check_covers_both_keys",
        ),
    ),
    Control(
        "egress-allow-list",
        "Egress only to Binance (and the alert services)",
        "Allow outbound traffic exclusively to *.binance.com, *.binancefuture.com and"
        " approved telemetry endpoints",
        (BINANCE,),
        ("infra/components/network.py", "infra/domains.py", "infra/policy"),
        (
            "tests/infra/test_stacks.py::test_firewall_allowlist_is_exactly_the_configured_domains",
            "tests/infra/test_stacks.py::test_dns_firewall_allows_the_list_and_blocks_the_rest_fail_closed",
            "tests/infra/test_policy_resources.py::test_egress_non_compliant",
        ),
    ),
    Control(
        "host-hardening",
        "Host: no ingress, no public IP, IMDSv2, SSM only",
        "Firewall configured (only required ports); SSH key-based only (here: no SSH at all)",
        (PETS,),
        ("infra/components/host.py", "infra/policy"),
        (
            "tests/infra/test_stacks.py::test_host_has_no_ingress_at_all",
            "tests/infra/test_stacks.py::test_host_instance_is_locked_down",
            "tests/infra/test_policy_resources.py::test_ingress_non_compliant",
        ),
    ),
    Control(
        "tls-endpoints",
        "HTTPS only to the exchange; hostile URLs refused",
        "All network traffic encrypted (HTTPS/TLS for API calls)",
        (CRYPTOPULSE, BINANCE),
        ("daemon/tradewarden/live/gate.py",),
        ("tests/unit/live/test_gate.py::test_parse_endpoint_refuses_or_parses_any_text",),
    ),
    Control(
        "secrets-storage",
        "Secrets encrypted at rest (Secrets Manager / Fernet file), never plaintext",
        "Keys in a secrets manager; Fernet-encrypted at rest; never hard-coded",
        (BINANCE, CRYPTOPULSE, PETS),
        (
            "daemon/tradewarden/secrets/aws.py",
            "daemon/tradewarden/secrets/fernet_file.py",
            "infra/components/secrets.py",
        ),
        (
            "tests/unit/secrets/test_fernet_file.py::test_put_get_roundtrip_file_is_0600_and_ciphertext",
            "tests/unit/secrets/test_env_source.py::test_prod_refuses_the_env_source",
            "tests/infra/test_components.py::test_secrets_component_encrypts_every_secret_with_its_own_key",
        ),
    ),
    Control(
        "secrets-rotation",
        "Key rotation without restart; 90-day age alerts",
        "Rotate secrets every 90 days; revoke and replace a compromised key instantly",
        (CRYPTOPULSE, PETS, BINANCE),
        (
            "daemon/tradewarden/operations/key_rotation.py",
            "daemon/tradewarden/secrets/age.py",
            "daemon/tradewarden/cli/secrets.py",
        ),
        (
            "tests/unit/secrets/test_fernet_file.py::test_multifernet_old_key_still_reads_and_rekey_moves_to_the_newest",
            "tests/unit/secrets/test_age.py::test_thresholds",
            "tests/integration/exchange/test_credentials.py::test_rotation_is_picked_up_without_restart",
        ),
    ),
    Control(
        "secrets-never-logged",
        "Secrets never in logs, errors, alerts or state",
        "Private keys NEVER logged, printed or displayed; secrets redacted from logs",
        (PETS, BINANCE),
        ("daemon/tradewarden/secrets/scrub.py", "daemon/tradewarden/secrets/value.py"),
        (
            "tests/unit/secrets/test_scrub.py::test_exception_tracebacks_are_scrubbed",
            "tests/integration/secrets/test_canary.py::test_no_canary_anywhere",
            "tests/integration/alerts/test_canary_secrets.py::test_canaries_never_leak",
        ),
    ),
    Control(
        "rate-limiting",
        "Weighted rate limiter shared by every bot; 429/418 back-off",
        "Use official endpoints with proper rate limiting",
        (BINANCE, PETS),
        ("daemon/tradewarden/exchange/ratelimit.py",),
        (
            "tests/unit/exchange/test_ratelimit.py::test_sustained_demand_never_exceeds_any_fixed_window_and_uses_the_budget",
            "tests/integration/exchange/test_limits.py::test_418_stops_all_traffic_of_the_process",
            "tests/integration/exchange/test_limits.py::test_429_pauses_and_headers_correct_the_budget",
        ),
    ),
    Control(
        "circuit-breakers",
        "Circuit breakers at the seed thresholds",
        "Max consecutive losses 3, daily loss 5%, bot drawdown 25%, portfolio drawdown 40%"
        " (emergency stop)",
        (PETS,),
        ("daemon/tradewarden/risk/breakers", "daemon/tradewarden/risk/engine.py"),
        (
            "tests/unit/risk/test_breakers.py::test_consecutive_losses_threshold",
            "tests/unit/risk/test_breakers.py::test_daily_loss_threshold",
            "tests/unit/risk/test_breakers.py::test_bot_drawdown_threshold_from_peak",
            "tests/unit/risk/test_breakers.py::test_portfolio_drawdown_is_the_emergency_stop",
            "tests/unit/core/test_config.py::test_seed_defaults",
        ),
    ),
    Control(
        "breakers-not-disablable",
        "Breakers cannot be switched off in staging/prod",
        "NEVER disable circuit breakers in production",
        (PETS,),
        ("daemon/tradewarden/core/config.py",),
        (
            "tests/unit/core/test_config.py::test_live_profiles_refuse_a_limit_outside_its_band",
            "tests/unit/core/test_config.py::test_cli_run_in_prod_exits_2_naming_the_setting",
        ),
    ),
    Control(
        "emergency-stop",
        "Emergency stop: block, cancel, flatten, alert",
        "Stop all bots immediately; close positions (configurable); send alerts; emergency"
        " stop ready",
        (PETS,),
        ("daemon/tradewarden/risk/engine.py", "daemon/tradewarden/operations/actions.py"),
        (
            "tests/unit/risk/test_engine.py::test_trip_blocks_synchronously_and_persists",
            "tests/unit/risk/test_engine.py::test_emergency_stop_cancels_flattens_then_halts",
            "tests/unit/risk/test_engine.py::test_halted_blocks_every_submit_path",
        ),
    ),
    Control(
        "manual-reset",
        "A trip is sticky until a human resets it (with a reason)",
        "Require manual reset",
        (PETS,),
        ("daemon/tradewarden/risk/engine.py", "daemon/tradewarden/cli/main.py"),
        (
            "tests/unit/risk/test_engine.py::test_only_reset_clears_and_is_recorded",
            "tests/integration/daemon/test_sticky_restart.py::test_trip_is_sticky_across_a_process_restart_until_reset",
            "tests/integration/daemon/test_sticky_restart.py::test_reset_requires_a_reason",
        ),
    ),
    Control(
        "pre-trade-checks",
        "Pre-trade checks; Z4-Z5 directional entries blocked",
        "Z4-Z5 directional trades blocked; alert thresholds set",
        (PETS,),
        ("daemon/tradewarden/risk/checks.py",),
        (
            "tests/unit/risk/test_checks.py::test_each_denial_has_its_reason",
            "tests/unit/risk/test_checks.py::test_zone_rule_only_blocks_directional_entries",
        ),
    ),
    Control(
        "approvals",
        "Human approval for cold-wallet moves, transfers > $1,000; no withdrawal path",
        "Manual approval required: all cold wallet operations, transfers > $1,000, withdrawals",
        (PETS,),
        ("daemon/tradewarden/wallet/approvals.py", "daemon/tradewarden/cli/approvals.py"),
        (
            "tests/unit/wallet/test_approvals.py::test_single_approval_yields_instructions",
            "tests/unit/wallet/test_approvals.py::test_two_distinct_enrolled_approvers_above_threshold",
            "tests/unit/wallet/test_approvals.py::test_the_gateway_layer_has_no_withdrawal_call",
        ),
    ),
    Control(
        "hot-cold-split",
        "Hot/cold split 10-20% (default 15%), rebalance signal at 80%/120%",
        "Hot/cold split configured (10-20% hot)",
        (PETS,),
        ("daemon/tradewarden/wallet",),
        ("tests/unit/wallet/test_split.py::test_rebalance_boundaries",),
    ),
    Control(
        "audit-log",
        "Tamper-evident audit log (hash chain, HMAC, off-host anchor)",
        "All security-relevant events logged (JSON, timestamp, event, user); immutable audit logs",
        (PETS, CRYPTOPULSE, BINANCE),
        ("daemon/tradewarden/audit/chain.py", "daemon/tradewarden/audit/anchor.py"),
        (
            "tests/unit/audit/test_audit.py::test_edit_is_caught",
            "tests/unit/audit/test_audit.py::test_deletion_is_caught",
            "tests/unit/audit/test_audit_head.py::test_rewritten_tail_with_a_forged_head_fails_on_the_hmac",
        ),
    ),
    Control(
        "audit-retention",
        "Audit retention: 90 days, pruning keeps the chain verifiable",
        "Log retention: 90 days minimum",
        (PETS,),
        ("daemon/tradewarden/audit/chain.py", "daemon/tradewarden/core/config.py"),
        (
            "tests/unit/audit/test_audit.py::test_prune_keeps_the_remaining_chain_verifiable",
            "tests/unit/audit/test_audit_attacks.py::test_attack_recent_files_renamed_old_are_pruned_away",
        ),
    ),
    Control(
        "alerting",
        "Alerts by severity to Slack, email and SNS; never dropped",
        "Critical: Slack + Email + SMS; warning: Slack + Email; info: Slack; alert delivery tested",
        (PETS, CRYPTOPULSE),
        ("daemon/tradewarden/alerts", "ops/alertmanager"),
        (
            "tests/unit/alerts/test_routing.py::test_seed_routing_table",
            "tests/unit/alerts/test_dispatcher.py::test_an_alert_is_never_dropped_only_reported_stuck",
            "tests/integration/daemon/test_daemon_alerts.py::test_trip_alert_delivered_to_slack_and_email_without_leaking",
        ),
    ),
    Control(
        "monitoring",
        "Prometheus metrics and rules; every alert with a runbook",
        "Prometheus metrics configured; alert thresholds set",
        (PETS,),
        ("daemon/tradewarden/runtime/metrics.py", "ops/prometheus"),
        (
            "tests/ops/test_prometheus_rules.py::test_every_alert_is_tested_firing_and_not_firing",
            "tests/ops/test_prometheus_rules.py::test_rules_read_only_metrics_that_exist",
        ),
    ),
    Control(
        "backups",
        "Backups with a SHA-256 manifest, verified restore; object-locked in prod",
        "Backups configured; backup current state; restore from last known good state",
        (PETS,),
        ("daemon/tradewarden/operations/backup.py", "infra/components/backups.py"),
        (
            "tests/ops/test_backup.py::test_local_round_trip_restores_everything_and_starts_halted",
            "tests/ops/test_backup.py::test_a_file_that_does_not_match_the_manifest_is_refused",
            "tests/infra/test_backups.py::test_backups_are_object_locked_compliance_in_prod",
        ),
    ),
    Control(
        "terms-acceptance",
        "Live blocked until BINANCE_TERMS_ACCEPTED (and every other live gate)",
        "BINANCE_TERMS_ACCEPTED must be set after accepting the Developer Terms;"
        " non-testnet trading blocked until then",
        (BINANCE,),
        ("daemon/tradewarden/live/gate.py", "daemon/tradewarden/core/config.py"),
        (
            "tests/unit/live/test_gate.py::test_truth_table",
            "tests/unit/live/test_gate.py::test_the_table_covers_every_combination",
        ),
    ),
    Control(
        "live-gate",
        "Testnet by default; live only behind FINAL_HAMMER and every gate",
        "BINANCE_TESTNET=1 keeps paper mode; FINAL_HAMMER=FALSE prevents live orders; the"
        " flag is checked right before live execution",
        (BINANCE,),
        ("daemon/tradewarden/live/gate.py", "daemon/tradewarden/runtime/wiring.py"),
        (
            "tests/unit/runtime/test_live_guard.py::test_final_hammer_withdrawn_in_the_config_file",
            "tests/integration/daemon/test_cli_daemon.py::test_live_without_its_gates_runs_paper_and_says_why",
        ),
    ),
    Control(
        "paper-first",
        "Paper trading before live: signed promotion record per bot",
        "Paper trading completed; win rate, profit factor, max drawdown validated; never"
        " deploy without paper trading first",
        (PETS,),
        ("daemon/tradewarden/live/promotion.py", "daemon/tradewarden/live/paper_report.py"),
        (
            "tests/unit/live/test_promotion.py::test_promotion_only_when_all_criteria_pass",
            "tests/unit/live/test_promotion.py::test_changed_code_wrong_key_or_edited_record_invalidate",
        ),
    ),
    Control(
        "unknown-outcome",
        "An unknown order outcome is queried, never resent",
        "Error handling (rate-limit compliance and error handling evidence)",
        (BINANCE,),
        ("daemon/tradewarden/exchange/gateway.py", "daemon/tradewarden/exchange/reconcile.py"),
        (
            "tests/integration/exchange/test_unknown_outcomes.py::test_503_after_booking_is_resolved_by_query_not_rejected",
            "tests/integration/exchange/test_faults.py::test_timeout_after_accept_resolves_to_the_one_booked_order",
        ),
    ),
    Control(
        "mnemonic-recovery",
        "Cold-wallet mnemonic recovery check (words never echoed)",
        "Recovery process tested; validate mnemonic before use",
        (PETS,),
        ("daemon/tradewarden/wallet/recovery.py",),
        (
            "tests/unit/wallet/test_recovery.py::test_official_vectors",
            "tests/unit/wallet/test_recovery.py::test_cli_never_echoes_the_words",
        ),
    ),
)


# --- JUnit -------------------------------------------------------------------------------
@dataclass(frozen=True)
class TestResult:
    node_id: str
    status: str  # passed | failed | error | skipped | missing
    detail: str = ""
    cases: int = 0  # testcases matched (parametrised tests match several)


def code_fingerprint(root: Path) -> str | None:
    """SHA-256 over the names and contents of the code a test run tests (`CODE_PATHS`:
    tracked and untracked files, not git-ignored ones) in the checkout at `root`; None when
    `root` is not a git checkout."""
    git = shutil.which("git")
    if git is None:
        return None
    proc = subprocess.run(
        [git, "-C", str(root), "ls-files", "-z", "-co", "--exclude-standard", "--", *CODE_PATHS],
        capture_output=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        return None
    h = hashlib.sha256()
    for name in sorted(set(proc.stdout.decode("utf-8", "surrogateescape").split("\0")) - {""}):
        p = root / name
        if p.is_file() and not p.is_symlink():
            h.update(name.encode("utf-8", "surrogateescape") + b"\0")
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


@dataclass
class JUnitReport:
    path: str
    timestamp: str  # the run's start (testsuite timestamp), "" if unknown
    code: str | None = None  # the run's CODE_PROPERTY, None if it has none
    stale: str = ""  # why this run does not prove anything about the code described
    cases: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    # (classname, name without parameters) -> statuses; details alongside
    details: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    total: int = 0

    def result(self, node_id: str) -> TestResult:
        key = node_key(node_id)
        statuses = self.cases.get(key)
        if not statuses:
            return TestResult(node_id, MISSING, "not in the JUnit report (not run)")
        if self.stale:
            return TestResult(node_id, STALE, self.stale, len(statuses))
        for bad in (ERROR, FAILED, SKIPPED):
            if bad in statuses:
                detail = next(
                    (d for s, d in zip(statuses, self.details[key], strict=True) if s == bad), ""
                )
                return TestResult(node_id, bad, detail, len(statuses))
        return TestResult(node_id, PASSED, "", len(statuses))


def node_key(node_id: str) -> tuple[str, str]:
    """``tests/a/test_b.py::C::test_d[x]`` -> (``tests.a.test_b.C``, ``test_d``): how pytest
    names the testcase in its JUnit XML (classname, name)."""
    file, _, rest = node_id.partition("::")
    parts = rest.split("::") if rest else []
    if not parts:
        raise ValueError(f"{node_id!r} is not a pytest node id (file.py::test)")
    module = file.removesuffix(".py").replace("/", ".")
    name = parts[-1].split("[", 1)[0]
    return (".".join([module, *parts[:-1]]), name)


def read_junit(path: Path) -> JUnitReport:
    """Parse a pytest JUnit XML (``--junitxml``); raises ValueError for an unreadable file."""
    from defusedxml import ElementTree

    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError) as exc:
        raise ValueError(f"{path}: not a readable JUnit XML file ({exc})") from None
    if root is None:
        raise ValueError(f"{path}: an empty JUnit XML file")
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    if not suites:
        raise ValueError(f"{path}: no <testsuite> in the JUnit XML")
    stamp = min((s.get("timestamp") or "" for s in suites), default="")
    codes = {
        p.get("value") or ""
        for s in suites
        for p in s.iter("property")
        if p.get("name") == CODE_PROPERTY
    }
    rep = JUnitReport(str(path), stamp, codes.pop() if len(codes) == 1 else None)
    for case in root.iter("testcase"):
        cls, name = case.get("classname") or "", (case.get("name") or "").split("[", 1)[0]
        status, detail = PASSED, ""
        for child in case:
            if child.tag in (FAILED, "failure"):
                status, detail = FAILED, child.get("message") or ""
            elif child.tag == ERROR:
                status, detail = ERROR, child.get("message") or ""
            elif child.tag == SKIPPED and status == PASSED:
                status, detail = SKIPPED, child.get("message") or ""
            if status in (FAILED, ERROR):
                break
        rep.cases.setdefault((cls, name), []).append(status)
        rep.details.setdefault((cls, name), []).append(detail[:300])
        rep.total += 1
    return rep


# --- the matrix --------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    control: Control
    results: tuple[TestResult, ...]

    @property
    def met(self) -> bool:
        return bool(self.results) and all(r.status == PASSED for r in self.results)

    @property
    def why_not(self) -> str:
        if not self.results:
            return "no test proves it"
        bad = [f"{r.node_id}: {r.status}" for r in self.results if r.status != PASSED]
        return "; ".join(bad)

    @property
    def short_why(self) -> str:
        """ "3 of 4 tests missing, 1 failed" (controls.md names each)."""
        if not self.results:
            return "no test proves it"
        counts: dict[str, int] = {}
        for r in self.results:
            if r.status != PASSED:
                counts[r.status] = counts.get(r.status, 0) + 1
        n = len(self.results)
        return ", ".join(f"{k} of {n} tests {s}" for s, k in sorted(counts.items()))

    def as_dict(self, run_date: str) -> dict[str, Any]:
        c = self.control
        return {
            "id": c.id,
            "title": c.title,
            "requirement": c.requirement,
            "seeds": list(c.seeds),
            "implemented_in": list(c.implemented_in),
            "tests": [
                {"id": r.node_id, "result": r.status, "detail": r.detail, "cases": r.cases}
                for r in self.results
            ],
            "status": "MET" if self.met else "NOT MET",
            "why_not_met": "" if self.met else self.why_not,
            "date": run_date,
        }


def evaluate(report: JUnitReport | None, controls: Sequence[Control] = CONTROLS) -> list[Row]:
    rows = []
    for c in controls:
        if report is None:
            results = tuple(TestResult(t, MISSING, "no JUnit report given") for t in c.tests)
        else:
            results = tuple(report.result(t) for t in c.tests)
        rows.append(Row(c, results))
    return rows


def run_date(report: JUnitReport | None) -> str:
    if report is None or not report.timestamp:
        return ""
    try:
        dt = datetime.fromisoformat(report.timestamp)
    except ValueError:
        return report.timestamp
    if dt.tzinfo is None:
        dt = dt.astimezone()  # pytest writes the local time without an offset
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def matrix_json(rows: Iterable[Row], report: JUnitReport | None) -> dict[str, Any]:
    rows = list(rows)
    date = run_date(report)
    return {
        "junit": None if report is None else report.path,
        "junit_testcases": 0 if report is None else report.total,
        "stale": "" if report is None else report.stale,
        "test_run": date,
        "controls": [r.as_dict(date) for r in rows],
        "met": sum(r.met for r in rows),
        "not_met": sum(not r.met for r in rows),
    }


def matrix_markdown(rows: Iterable[Row], report: JUnitReport | None) -> str:
    rows = list(rows)
    date = run_date(report) or "no test run"
    src = "no JUnit report given" if report is None else f"`{Path(report.path).name}`"
    out = [
        "# Controls matrix",
        "",
        f"Test results from {src} ({0 if report is None else report.total} test cases),"
        f" run {date}. A control is MET only when every test it names passed in that run;"
        " a failed, erroring, skipped or missing test shows it as **NOT MET**, and so does"
        " every test of a run of other code than this checkout (stale).",
        "",
        *(
            [f"**The test run does not prove this code:** {report.stale}", ""]
            if report and report.stale
            else []
        ),
        f"**{sum(r.met for r in rows)} of {len(rows)} controls met.**",
        "",
        "| Control | Seed requirement | Implemented in | Tests | Result | Date |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        c = r.control
        tests = "<br>".join(f"`{t.node_id}` {t.status}" for t in r.results) or "none"
        where = "<br>".join(f"`{p}`" for p in c.implemented_in)
        seeds = ", ".join(s.removesuffix(".md") for s in c.seeds)
        status = "MET" if r.met else f"**NOT MET** ({r.why_not})"
        out.append(
            f"| **{c.id}**: {c.title} | {c.requirement} ({seeds}) | {where} | {tests} |"
            f" {status} | {date} |"
        )
    return "\n".join(out) + "\n"
