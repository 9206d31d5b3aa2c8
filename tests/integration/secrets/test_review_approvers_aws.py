"""Review attack on approver seeds in AWS Secrets Manager (moto server over HTTP): a seed
rewritten with PutSecretValue behind `tradewarden approvers` does not approve."""

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


def test_attack_put_secret_value_on_an_approver_seed_is_not_trusted(
    tmp_path: Path, aws_env: str, clean_env: None
) -> None:
    clock = [T0]
    settings = load_settings(state_dir=tmp_path, secret_source="aws")
    store = Store(settings.db_path)
    audit = AuditLog(settings.audit_dir)
    try:
        approvers = Approvers(settings, store, build_source(settings), audit, lambda: clock[0])
        q = ApprovalQueue(settings, store, audit, approvers, lambda: clock[0])
        seed = pyotp.parse_uri(approvers.add("alice", "root").uri).secret
        approvers.confirm("alice", pyotp.TOTP(seed).at(clock[0]), "root")
        clock[0] += 30
        mine = pyotp.random_base32(32)
        boto3.client("secretsmanager").put_secret_value(
            SecretId=approver_secret_id(settings, "alice"),
            SecretString=json.dumps({"totp_secret": mine}),
        )
        approvers.source.invalidate()  # type: ignore[union-attr]
        pid = q.propose("rebalance", 500.0, {}, "daemon")
        with pytest.raises(ApprovalError, match="wrong or expired"):
            q.approve(pid, pyotp.TOTP(mine).at(clock[0]), "ok", actor="m")
    finally:
        audit.close()
        store.close()
