"""Approver seeds in AWS Secrets Manager (moto server over HTTP): enrol, approve, remove."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pyotp
import pytest

from tradewarden.audit.chain import AuditLog
from tradewarden.core.config import load_settings
from tradewarden.secrets.factory import build_source
from tradewarden.state.store import Store
from tradewarden.wallet.approvals import ApprovalError, ApprovalQueue, Approvers, approver_secret_id

T0 = 1_800_000_000.0


def test_approvers_live_in_secrets_manager(
    tmp_path: Path, aws_env: str, clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [T0]
    settings = load_settings(state_dir=tmp_path, secret_source="aws", two_approvers_usd=1000.0)
    store = Store(settings.db_path)
    audit = AuditLog(settings.audit_dir)
    try:
        approvers = Approvers(settings, store, build_source(settings), audit, lambda: clock[0])
        q = ApprovalQueue(settings, store, audit, approvers, lambda: clock[0])
        seeds = {}
        for name in ("alice", "bob"):
            seed = pyotp.parse_uri(approvers.add(name, "root").uri).secret
            approvers.confirm(name, pyotp.TOTP(seed).at(clock[0]), "root")
            seeds[name] = seed
        clock[0] += 30
        sm = boto3.client("secretsmanager")
        stored = json.loads(
            sm.get_secret_value(SecretId=approver_secret_id(settings, "alice"))["SecretString"]
        )
        assert stored == {"totp_secret": seeds["alice"]}
        pid = q.propose("transfer", 5_000.0, {"destination": "cold"}, "daemon")
        assert q.approve(pid, pyotp.TOTP(seeds["alice"]).at(clock[0]), "ok", actor="x").status == (
            "pending"
        )
        clock[0] += 30
        approvers.remove("bob", "root")  # a new version nobody has seen replaces bob's seed
        with pytest.raises(ApprovalError, match="wrong or expired"):
            q.approve(pid, pyotp.TOTP(seeds["bob"]).at(clock[0]), "ok", actor="x")
        current = json.loads(
            sm.get_secret_value(
                SecretId=approver_secret_id(settings, "bob"), VersionStage="AWSCURRENT"
            )["SecretString"]
        )
        assert current["totp_secret"] != seeds["bob"]
    finally:
        audit.close()
        store.close()
