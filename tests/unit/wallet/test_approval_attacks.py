"""Issue 13, defect 7: one person must not satisfy the two-approver rule.

Each test is an attack that worked on bf1cd40: `USER=alice` then `USER=bob` with the same
code from the one shared TOTP seed approved a $50,000 proposal.
"""

from __future__ import annotations

import time
from pathlib import Path

import pyotp
import pytest
from typer.testing import CliRunner

from tradewarden.audit.chain import AuditLog
from tradewarden.core.config import load_settings
from tradewarden.state.store import Store
from tradewarden.wallet.approvals import ApprovalQueue


def _propose(amount: float) -> int:
    settings = load_settings()
    store = Store(settings.db_path)
    audit = AuditLog(settings.audit_dir)
    try:
        return ApprovalQueue(settings, store, audit).propose(
            "transfer", amount, {"destination": "cold"}, "daemon"
        )
    finally:
        audit.close()
        store.close()


def _status(pid: int) -> str:
    settings = load_settings()
    store = Store(settings.db_path)
    try:
        (row,) = store.query("SELECT status FROM proposals WHERE id=?", (pid,))
        return str(row["status"])
    finally:
        store.close()


def test_user_variable_and_a_shared_seed_do_not_make_two_approvers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    from tradewarden.cli.main import app

    shared = pyotp.random_base32()
    monkeypatch.setenv("TRADEWARDEN_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("TRADEWARDEN_TOTP_SECRET", shared)  # the old shared admin seed
    monkeypatch.setenv("TRADEWARDEN_TWO_APPROVERS_USD", "10000")
    pid = _propose(50_000.0)
    code = pyotp.TOTP(shared).now()
    runner = CliRunner()
    for user in ("alice", "bob"):
        monkeypatch.setenv("USER", user)
        runner.invoke(app, ["approvals", "approve", str(pid), "--reason", "ok"], input=code + "\n")
    assert _status(pid) == "pending", "one person with one shared code approved $50,000"


def test_one_code_cannot_approve_a_proposal_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    """The replay guard is keyed by the proposal and the time step, not by a name the
    caller chooses: the same code replayed under another name is refused."""
    from tradewarden.cli.main import app

    shared = pyotp.random_base32()
    monkeypatch.setenv("TRADEWARDEN_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("TRADEWARDEN_TOTP_SECRET", shared)
    pid = _propose(50_000.0)
    t = pyotp.TOTP(shared)
    runner = CliRunner()
    for user, offset in (("alice", 0), ("bob", -1)):
        monkeypatch.setenv("USER", user)
        runner.invoke(
            app,
            ["approvals", "approve", str(pid), "--reason", "ok"],
            input=t.at(time.time() + offset * t.interval) + "\n",
        )
    assert _status(pid) == "pending"
