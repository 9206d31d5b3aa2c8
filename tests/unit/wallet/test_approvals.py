"""Approval queue: every approval path and every refusal, against a real SQLite store."""

from __future__ import annotations

import time
from pathlib import Path

import pyotp
import pytest

from tradewarden.approvals import ApprovalError, ApprovalQueue
from tradewarden.audit import AuditLog, verify
from tradewarden.config import load_settings
from tradewarden.secrets.value import Secret
from tradewarden.store import Store

TOTP_SECRET = pyotp.random_base32()


@pytest.fixture()
def queue(tmp_path: Path, clean_env):
    settings = load_settings(state_dir=tmp_path, two_approvers_usd=10_000.0, proposal_ttl_hours=1.0)
    store = Store(settings.db_path)
    audit = AuditLog(settings.audit_dir)
    q = ApprovalQueue(settings, store, audit, Secret(TOTP_SECRET, "totp"))
    yield q
    audit.close()
    store.close()


def code(offset_steps: int = 0) -> str:
    t = pyotp.TOTP(TOTP_SECRET)
    return t.at(time.time() + offset_steps * t.interval)


def test_single_approval_yields_instructions(queue: ApprovalQueue) -> None:
    pid = queue.propose("rebalance", 5_000.0, {"direction": "cold_to_hot"}, "daemon")
    p = queue.approve(pid, "alice", code(), "hot below 80%")
    assert p.status == "approved"
    text = p.instructions()
    assert "cannot withdraw" in text and "5,000.00" in text
    assert verify(queue.audit.dir).ok


def test_two_approvers_above_threshold(queue: ApprovalQueue) -> None:
    pid = queue.propose("transfer", 50_000.0, {"destination": "cold"}, "alice")
    with pytest.raises(ApprovalError, match="neither may be the proposer"):
        queue.approve(pid, "alice", code(), "mine")
    assert queue.approve(pid, "bob", code(), "checked").status == "pending"
    with pytest.raises(ApprovalError, match="already approved"):
        queue.approve(pid, "bob", code(1), "again")
    assert queue.approve(pid, "carol", code(-1), "checked too").status == "approved"
    with pytest.raises(ApprovalError, match="is approved"):
        queue.approve(pid, "dave", code(), "late")


def test_wrong_expired_and_replayed_codes(queue: ApprovalQueue) -> None:
    pid = queue.propose("withdrawal", 2_000.0, {"destination": "bank"}, "daemon")
    with pytest.raises(ApprovalError, match="wrong or expired"):
        queue.approve(pid, "alice", "000000" if code() != "000000" else "111111", "x")
    with pytest.raises(ApprovalError, match="wrong or expired"):
        queue.approve(pid, "alice", code(-5), "old code")
    other = queue.propose("rebalance", 100.0, {}, "daemon")
    c = code()
    queue.approve(other, "alice", c, "ok")
    with pytest.raises(ApprovalError, match="replay"):
        queue.approve(pid, "alice", c, "same code twice")
    assert queue.get(pid).status == "pending"  # nothing changed


def test_reject_expire_and_bad_input(queue: ApprovalQueue) -> None:
    pid = queue.propose("threshold_change", 0.0, {"MAX_DAILY_LOSS_PCT": 0.1}, "alice")
    assert queue.reject(pid, "bob", "no").status == "rejected"
    with pytest.raises(ApprovalError, match="rejected"):
        queue.approve(pid, "carol", code(), "x")
    with pytest.raises(ApprovalError, match="unknown proposal kind"):
        queue.propose("yolo", 1.0, {}, "alice")
    old = queue.propose("live_switch", 0.0, {"FINAL_HAMMER": True}, "alice")
    with queue.store.tx() as db:
        db.execute("UPDATE proposals SET expires_at=? WHERE id=?", (time.time() - 1, old))
    with pytest.raises(ApprovalError, match="expired"):
        queue.approve(old, "bob", code(), "too late")
    refusals = [
        line
        for f in queue.audit.dir.glob("*.jsonl")
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


def test_cli_approve_flow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env) -> None:
    from typer.testing import CliRunner

    from tradewarden.cli import app

    monkeypatch.setenv("TRADEWARDEN_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("TRADEWARDEN_TOTP_SECRET", TOTP_SECRET)
    settings = load_settings()
    store = Store(settings.db_path)
    audit = AuditLog(settings.audit_dir)
    pid = ApprovalQueue(settings, store, audit, Secret(TOTP_SECRET)).propose(
        "rebalance", 3_000.0, {"direction": "hot_to_cold"}, "daemon"
    )
    audit.close()
    store.close()
    runner = CliRunner()
    listed = runner.invoke(app, ["approvals", "list"])
    assert listed.exit_code == 0 and f"#{pid} rebalance" in listed.output
    bad = runner.invoke(app, ["approvals", "approve", str(pid), "--reason", "ok"], input="123\n")
    assert bad.exit_code == 1
    ok = runner.invoke(
        app, ["approvals", "approve", str(pid), "--reason", "ok"], input=code() + "\n"
    )
    assert ok.exit_code == 0 and "cannot withdraw" in ok.output
    assert TOTP_SECRET not in ok.output + listed.output
