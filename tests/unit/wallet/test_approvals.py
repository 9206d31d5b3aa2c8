"""Approval queue and approvers: every approval path and every refusal, against a real
SQLite store, a real Fernet credential file (the approvers' seeds) and a stepped clock."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyotp
import pytest
from cryptography.fernet import Fernet

from tests.builders import ApprovalDesk
from tradewarden.audit.chain import AuditLog, verify
from tradewarden.core.config import load_settings
from tradewarden.secrets.bundle import SecretKind
from tradewarden.secrets.factory import build_source
from tradewarden.state.store import Store
from tradewarden.wallet.approvals import (
    MAX_WRONG_CODES,
    ApprovalError,
    ApprovalQueue,
    Approvers,
    approver_secret_id,
)


def test_single_approval_yields_instructions(desk: ApprovalDesk) -> None:
    desk.enrol("alice")
    pid = desk.q.propose("rebalance", 5_000.0, {"direction": "cold_to_hot"}, "daemon")
    p = desk.q.approve(pid, desk.code("alice"), "hot below 80%", actor="alice@host uid=1000")
    assert p.status == "approved" and p.approvals[0]["approver"] == "alice"
    assert p.approvals[0]["actor"] == "alice@host uid=1000"
    text = p.instructions()
    assert "cannot withdraw" in text and "5,000.00" in text
    assert verify(desk.audit.dir).ok


def test_only_an_approved_rebalance_is_recorded_executed_once(desk: ApprovalDesk) -> None:
    """Issue 17: `wallet declare-cold --proposal ID` records the rebalance done (audited);
    the daemon announces what `executed` lists."""
    desk.enrol("alice")
    pid = desk.q.propose("rebalance", 5_000.0, {"direction": "cold_to_hot"}, "daemon")
    with pytest.raises(ApprovalError, match="pending, not approved"):
        desk.q.mark_executed(pid, "bob@host uid=1001", "too early")
    desk.q.approve(pid, desk.code("alice"), "hot below 80%", actor="alice@host uid=1000")
    assert desk.q.executed("rebalance") == []
    p = desk.q.mark_executed(pid, "bob@host uid=1001", "moved by hand, tx 0xabc")
    assert p.status == "executed"
    assert [x.id for x in desk.q.executed("rebalance")] == [pid]
    assert desk.q.executed("rebalance", after=pid) == []
    with pytest.raises(ApprovalError, match="executed, not approved"):
        desk.q.mark_executed(pid, "bob@host uid=1001", "twice")
    with pytest.raises(ApprovalError, match="no proposal #999"):
        desk.q.mark_executed(999, "bob@host uid=1001", "none")
    assert verify(desk.audit.dir).ok
    events = [
        json.loads(x)["event"]
        for x in desk.audit.dir.joinpath(sorted(f.name for f in desk.audit.dir.glob("*.jsonl"))[0])
        .read_text()
        .splitlines()
    ]
    assert "rebalance_executed" in events


def test_two_distinct_enrolled_approvers_above_threshold(desk: ApprovalDesk) -> None:
    desk.enrol("alice")
    desk.enrol("bob")
    desk.enrol("carol")
    pid = desk.q.propose("transfer", 50_000.0, {"destination": "cold"}, "alice@host uid=1000")
    with pytest.raises(ApprovalError, match="proposer cannot approve"):
        desk.q.approve(pid, desk.code("alice"), "mine", actor="x")
    assert desk.q.approve(pid, desk.code("bob"), "checked", actor="x").status == "pending"
    desk.clock.step()
    with pytest.raises(ApprovalError, match="already approved"):
        desk.q.approve(pid, desk.code("bob"), "again", actor="x")
    desk.clock.step()
    p = desk.q.approve(pid, desk.code("carol", -1), "checked too", actor="x")
    assert p.status == "approved" and [a["approver"] for a in p.approvals] == ["bob", "carol"]
    desk.clock.step()
    with pytest.raises(ApprovalError, match="is approved"):
        desk.q.approve(pid, desk.code("alice"), "late", actor="x")


def test_the_proposer_never_approves_even_below_the_threshold(desk: ApprovalDesk) -> None:
    desk.enrol("alice")
    pid = desk.q.propose("threshold_change", 0.0, {"MAX_DAILY_LOSS_PCT": 0.04}, "alice")
    with pytest.raises(ApprovalError, match="proposer cannot approve"):
        desk.q.approve(pid, desk.code("alice"), "mine", actor="x")
    assert desk.q.get(pid).status == "pending"


def test_the_approver_is_whose_seed_verifies_the_code(desk: ApprovalDesk) -> None:
    desk.enrol("alice")
    desk.enrol("bob")
    pid = desk.q.propose("transfer", 50_000.0, {}, "daemon")
    # whatever name is claimed on the command line, alice's code is alice's approval
    with pytest.raises(ApprovalError, match="wrong or expired"):
        desk.q.approve(pid, desk.code("alice"), "as bob", actor="x", approver="bob")
    p = desk.q.approve(pid, desk.code("alice"), "ok", actor="bob@host uid=1001")
    assert p.approvals[0]["approver"] == "alice"
    desk.clock.step()
    with pytest.raises(ApprovalError, match="already approved"):  # alice again, not "bob"
        desk.q.approve(pid, desk.code("alice"), "second", actor="bob@host uid=1001")
    assert desk.q.get(pid).status == "pending"


def test_two_approvals_from_one_ssm_session_are_refused(desk: ApprovalDesk) -> None:
    desk.enrol("alice")
    desk.enrol("bob")
    pid = desk.q.propose("transfer", 50_000.0, {}, "daemon")
    session = "ssm-user@host uid=0 sudo sudo_uid=1001 ssm=alice-0a1b2c3d4e5f67890"
    desk.q.approve(pid, desk.code("alice"), "ok", actor=session)
    desk.clock.step()
    with pytest.raises(ApprovalError, match="same SSM session|from SSM session"):
        desk.q.approve(pid, desk.code("bob"), "ok", actor=session)
    other = "ssm-user@host uid=0 sudo sudo_uid=1001 ssm=bob-0f9e8d7c6b5a43210"
    assert desk.q.approve(pid, desk.code("bob"), "ok", actor=other).status == "approved"


def test_replay_guard_by_approver_step_and_by_proposal_step(desk: ApprovalDesk) -> None:
    desk.enrol("alice")
    desk.enrol("bob")
    a = desk.q.propose("rebalance", 100.0, {}, "daemon")
    b = desk.q.propose("rebalance", 100.0, {}, "daemon")
    c = desk.code("alice")
    desk.q.approve(a, c, "ok", actor="x")
    with pytest.raises(ApprovalError, match="replay"):  # the same code on another proposal
        desk.q.approve(b, c, "same code twice", actor="x")
    assert desk.q.get(b).status == "pending"
    big = desk.q.propose("transfer", 50_000.0, {}, "daemon")
    desk.clock.step()
    desk.q.approve(big, desk.code("alice"), "ok", actor="x")
    with pytest.raises(ApprovalError, match="replay"):  # same proposal, same time step
        desk.q.approve(big, desk.code("bob"), "same step", actor="x")
    desk.clock.step()
    assert desk.q.approve(big, desk.code("bob"), "next step", actor="x").status == "approved"


def test_wrong_expired_codes_and_the_lockout(desk: ApprovalDesk) -> None:
    desk.enrol("alice")
    pid = desk.q.propose("withdrawal", 2_000.0, {"destination": "bank"}, "daemon")
    with pytest.raises(ApprovalError, match="wrong or expired"):
        desk.q.approve(pid, desk.code("alice", -5), "old code", actor="x")
    right = desk.code("alice")
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(MAX_WRONG_CODES - 1):
        with pytest.raises(ApprovalError, match="wrong or expired"):
            desk.q.approve(pid, wrong, "guess", actor="x")
    with pytest.raises(ApprovalError, match="locked"):
        desk.q.approve(pid, right, "right code, too late", actor="x")
    desk.clock.t += 901
    assert desk.q.approve(pid, desk.code("alice"), "ok", actor="x").status == "approved"


def test_pending_and_removed_approvers_cannot_approve(desk: ApprovalDesk) -> None:
    e = desk.approvers.add("dave", "root")
    seed = pyotp.parse_uri(e.uri).secret
    pid = desk.q.propose("rebalance", 100.0, {}, "daemon")
    with pytest.raises(ApprovalError, match="wrong or expired"):  # not confirmed yet
        desk.q.approve(pid, desk.code(seed), "x", actor="x")
    with pytest.raises(ApprovalError, match="does not match"):
        desk.approvers.confirm("dave", "000000" if desk.code(seed) != "000000" else "1", "root")
    desk.approvers.confirm("dave", desk.code(seed), "root")
    desk.clock.step()
    desk.approvers.remove("dave", "root")
    # the seed in the source was overwritten: the old one is gone for good
    stored = desk.source.get(approver_secret_id(desk.settings, "dave"), SecretKind.ADMIN)
    assert stored["totp_secret"].reveal() != seed
    with pytest.raises(ApprovalError, match="wrong or expired"):
        desk.q.approve(pid, desk.code(seed), "x", actor="x")
    assert [r["name"] for r in desk.approvers.list()] == []
    assert [r["status"] for r in desk.approvers.list(include_removed=True)] == ["removed"]


def test_enrolment_rules(desk: ApprovalDesk) -> None:
    desk.enrol("alice")
    with pytest.raises(ApprovalError, match="already enrolled"):
        desk.approvers.add("alice", "root")
    old = desk.seeds["alice"]
    e = desk.approvers.add("alice", "root", replace=True)  # lost phone: a new seed
    assert pyotp.parse_uri(e.uri).secret != old
    for bad in ("daemon", "Alice", "a b", "", "x" * 40, "../admin"):
        with pytest.raises(ApprovalError, match="approver name"):
            desk.approvers.add(bad, "root")
    # seeds are in the encrypted file, never in SQLite or the audit log
    blob = desk.settings.db_path.read_bytes() + b"".join(
        f.read_bytes() for f in desk.audit.dir.glob("*")
    )
    assert old.encode() not in blob and pyotp.parse_uri(e.uri).secret.encode() not in blob


def test_env_source_cannot_hold_approvers(tmp_path: Path, clean_env: None) -> None:
    settings = load_settings(state_dir=tmp_path)
    store = Store(settings.db_path)
    try:
        with pytest.raises(ApprovalError, match="cannot store approver seeds"):
            Approvers(settings, store, build_source(settings)).add("alice", "root")
    finally:
        store.close()


def test_reject_expire_and_bad_input(desk: ApprovalDesk) -> None:
    desk.enrol("carol")
    pid = desk.q.propose("threshold_change", 0.0, {"MAX_DAILY_LOSS_PCT": 0.1}, "alice")
    assert desk.q.reject(pid, "bob", "no").status == "rejected"
    with pytest.raises(ApprovalError, match="rejected"):
        desk.q.approve(pid, desk.code("carol"), "x", actor="x")
    with pytest.raises(ApprovalError, match="unknown proposal kind"):
        desk.q.propose("yolo", 1.0, {}, "alice")
    old = desk.q.propose("live_switch", 0.0, {"FINAL_HAMMER": True}, "alice")
    desk.clock.t += 3601
    with pytest.raises(ApprovalError, match="expired"):
        desk.q.approve(old, desk.code("carol"), "too late", actor="x")
    refusals = [
        line
        for f in desk.audit.dir.glob("*.jsonl")
        for line in f.read_text().splitlines()
        if "approval_refused" in line
    ]
    assert refusals  # every refusal is audited


def test_the_gateway_layer_has_no_withdrawal_call() -> None:
    import tradewarden

    root = Path(tradewarden.__file__).parent
    src = "\n".join(p.read_text() for p in root.rglob("*.py"))
    for forbidden in (
        "withdraw(",
        "/sapi/v1/capital/withdraw",
        "universal_transfer(",
        "make_universal_transfer",
        "/sapi/v1/asset/transfer",
    ):
        assert forbidden not in src, forbidden
    # and the gateway objects themselves expose nothing that moves funds off the exchange
    from tradewarden.exchange import BinanceBroker
    from tradewarden.exchange.client import ExchangeClient

    for cls in (BinanceBroker, ExchangeClient):
        names = [n.lower() for n in dir(cls)]
        assert not [n for n in names if "withdraw" in n or "transfer" in n], cls


def test_cli_enrol_list_approve_remove(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    from typer.testing import CliRunner

    from tradewarden.cli.main import app

    monkeypatch.setenv("TRADEWARDEN_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("TRADEWARDEN_SECRET_SOURCE", "file")
    monkeypatch.setenv("TRADEWARDEN_CREDENTIAL_FILE", str(tmp_path / "creds.enc"))
    monkeypatch.setenv("BINANCE_CREDENTIAL_KEY", Fernet.generate_key().decode())
    runner = CliRunner()
    added = runner.invoke(app, ["approvers", "add", "alice"], input="\n")
    assert added.exit_code == 0, added.output
    (uri,) = [ln for ln in added.output.splitlines() if ln.startswith("otpauth://")]
    seed = pyotp.parse_uri(uri).secret
    assert "pending" in added.output
    listed = runner.invoke(app, ["approvers", "list", "--json"])
    assert [(r["name"], r["status"]) for r in json.loads(listed.output)] == [("alice", "pending")]
    assert seed not in listed.output
    totp = pyotp.TOTP(seed)
    ok = runner.invoke(app, ["approvers", "confirm", "alice"], input=totp.now() + "\n")
    assert ok.exit_code == 0 and "confirmed" in ok.output
    settings = load_settings()
    store = Store(settings.db_path)
    audit = AuditLog(settings.audit_dir)
    pid = ApprovalQueue(settings, store, audit).propose(
        "rebalance", 3_000.0, {"direction": "hot_to_cold"}, "daemon"
    )
    audit.close()
    store.close()
    bad = runner.invoke(app, ["approvals", "approve", str(pid), "--reason", "ok"], input="123\n")
    assert bad.exit_code == 1
    # the confirmation code's step is spent: use the next one
    code = totp.at(time.time() + totp.interval)
    done = runner.invoke(
        app, ["approvals", "approve", str(pid), "--reason", "ok"], input=code + "\n"
    )
    assert done.exit_code == 0, done.output
    assert "cannot withdraw" in done.output
    removed = runner.invoke(app, ["approvers", "remove", "alice", "--yes"])
    assert removed.exit_code == 0 and "removed" in removed.output
    assert "no approvers enrolled" in runner.invoke(app, ["approvers", "list"]).output
    assert seed not in done.output + removed.output
