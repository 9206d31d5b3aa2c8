"""The host the stack builds provides what the daemon's audit chain and approvers need.

* The audit chain's off-host anchor (daemon/tradewarden/audit/anchor.py): the daemon's
  environment names the stack's backup bucket and a prefix inside the host's backup
  prefix; the daemon's real anchor calls (moto) pass the host role, the S3 endpoint and the
  bucket policy, and an anchor outside the prefix is refused.
* The approvers' TOTP seeds (daemon/tradewarden/wallet/approvals.py, ``<admin id>/approver/NAME``):
  the host role reads them and nothing else there; `approvers add` (the admin role) creates
  each seed with the stack's KMS key, its tags and the same resource policy as the admin
  secret, replayed against moto.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from infra.offline import OfflineRun, read_stack_file, run_offline
from infra.policy import checks as t

from .conftest import policy_json
from .test_backups import (
    BUCKET_POLICY,
    _condition_holds,
    _glob,
    _listed,
    as_request,
    decide,
    moto_backup_bucket,
)

MOTO_ACCOUNT = "123456789012"  # moto's default account
HOST_NAME = "ip-10-0-1-23"


def daemon_env(run: OfflineRun) -> dict[str, str]:
    """/etc/tradewarden/tradewarden.env as cloud-init writes it (what the daemon reads)."""
    data = yaml.safe_load(run.one(t.INSTANCE).inputs["userData"])
    (env,) = [f for f in data["write_files"] if f["path"] == "/etc/tradewarden/tradewarden.env"]
    lines = [ln.partition("=") for ln in env["content"].splitlines() if ln.strip()]
    return {k: v for k, _, v in lines}


def test_daemon_env_names_the_anchor_bucket_and_prefix(run: OfflineRun) -> None:
    env = daemon_env(run)
    assert env["TRADEWARDEN_AUDIT_ANCHOR_BUCKET"] == run.outputs["backupBucket"]
    assert env["TRADEWARDEN_AUDIT_ANCHOR_PREFIX"] == f"{run.stack}/audit-anchor"
    # the anchor lies inside the backup prefix the host's grants cover
    assert env["TRADEWARDEN_AUDIT_ANCHOR_PREFIX"].startswith(
        run.outputs["backupUrl"].split("/", 3)[3]
    )


def test_prod_daemon_settings_from_the_host_env_have_an_anchor(
    stack_runs: dict[str, OfflineRun], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The prod daemon's own settings, loaded from the rendered env file, pass the runner's
    TRADEWARDEN_AUDIT_ANCHOR_BUCKET check and point S3Anchor at the stack's bucket."""
    from tradewarden.audit.anchor import S3Anchor
    from tradewarden.core.config import Profile, load_settings

    prod = stack_runs["prod"]
    for key, value in daemon_env(prod).items():
        monkeypatch.setenv(key, value)
    settings = load_settings(None, state_dir=tmp_path)
    assert settings.profile is Profile.PROD
    anchor = S3Anchor.from_settings(settings, host=HOST_NAME)
    assert anchor.describe() == (
        f"s3://{prod.outputs['backupBucket']}/prod/audit-anchor/{HOST_NAME}/audit-head.json"
    )


def test_deploy_document_leaves_the_anchor_settings_alone() -> None:
    """The SSM deploy document rewrites host.env lines and, in tradewarden.env, only the
    stack's mode and alert settings (each line by its key, the others left as they are:
    tests/infra/test_deploy.py); the anchor settings are never touched."""
    import re

    doc = Path(__file__).resolve().parents[2] / "ops" / "ssm" / "tradewarden-deploy.yaml"
    script = yaml.safe_load(doc.read_text())["mainSteps"][0]["inputs"]["runCommand"][0]
    written = re.findall(r"set_in tradewarden\.env (\w+) ", script)
    assert set(written) == {
        "TRADEWARDEN_PROFILE",
        "TRADEWARDEN_MODE",
        "BINANCE_TESTNET",
        "TRADEWARDEN_EMAIL_FROM",
        "TRADEWARDEN_EMAIL_TO",
        "TRADEWARDEN_SLACK_CHANNEL",
    }
    assert script.count("tradewarden.env") == len(written)
    assert "AUDIT_ANCHOR" not in script


def allowed_for_host(run: OfflineRun, operation: str, params: dict[str, Any]) -> bool:
    """Host role, S3 gateway endpoint and bucket policy of `run` on one S3 call made by a
    principal of the stack's own account (test_backups.allowed_for_host is for dev's)."""
    action, resource, context = as_request(operation, params)
    own = run.outputs["kmsKeyArn"].split(":")[4]
    # the caller and the bucket both belong to the stack's own account
    context["aws:PrincipalAccount"] = context["aws:ResourceAccount"] = own
    host = policy_json(run.one(t.IAM_ROLE_POLICY, "host-role-policy"))
    endpoint = json.loads(
        run.one("aws:ec2/vpcEndpoint:VpcEndpoint", "network-vpce-s3").inputs["policy"]
    )
    bucket = policy_json(run.one(BUCKET_POLICY))
    return (
        decide(host, action, resource, context) == "allow"
        and decide(endpoint, action, resource, context) == "allow"
        and decide(bucket, action, resource, context) != "deny"
    )


@pytest.mark.usefixtures("clean_env")
def test_daemon_anchor_calls_fit_the_grants_and_leaving_the_prefix_is_refused(
    tmp_path: Path,
    aws_env: str,
    monkeypatch: pytest.MonkeyPatch,
    stack_runs: dict[str, OfflineRun],
) -> None:
    from tradewarden.audit.anchor import S3Anchor, publish
    from tradewarden.audit.chain import AuditLog

    prod = stack_runs["prod"]
    env = daemon_env(prod)
    bucket = moto_backup_bucket(prod)
    assert env["TRADEWARDEN_AUDIT_ANCHOR_BUCKET"] == bucket

    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    boto3.setup_default_session()
    boto3.DEFAULT_SESSION.events.register(
        "before-parameter-build.s3",
        lambda params, model, **_: calls.append((model.name, dict(params))),
    )

    audit = AuditLog(tmp_path / "audit", key=b"k" * 32)
    try:
        audit.append("daemon_started", {"n": 1}, sync=True)
        remote = S3Anchor(bucket, env["TRADEWARDEN_AUDIT_ANCHOR_PREFIX"], HOST_NAME)
        first = publish(audit, remote)  # no anchor yet: read, then write
        audit.append("trade", {"n": 2}, sync=True)
        second = publish(audit, remote, last=first)
        assert remote.read() == second and second.seq > first.seq
    finally:
        audit.close()

    operations = [op for op, _ in calls]
    assert operations.count("PutObject") == 2 and "GetObject" in operations
    refused = [(op, p) for op, p in calls if not allowed_for_host(prod, op, p)]
    assert refused == []
    head = boto3.client("s3").head_object(Bucket=bucket, Key=remote.key)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == prod.outputs["kmsKeyArn"]

    # The same calls for an anchor outside the stack's prefix are refused.
    for prefix in ("tradewarden/audit-anchor", "dev/audit-anchor", "audit-anchor"):
        elsewhere = S3Anchor(bucket, prefix, HOST_NAME).key
        for op, params in calls:
            moved = {**params, ("Key" if "Key" in params else "Prefix"): elsewhere}
            assert not allowed_for_host(prod, op, moved), (op, moved)


@pytest.mark.usefixtures("clean_env")
def test_reading_a_missing_anchor_needs_no_404(
    aws_env: str, monkeypatch: pytest.MonkeyPatch, stack_runs: dict[str, OfflineRun]
) -> None:
    """Before the first anchor there is no object. S3 answers GetObject on a missing key
    with 404 only to a caller allowed s3:ListBucket on the whole bucket; the host may list
    its prefix only (an ``s3:prefix`` condition, absent from a GetObject), so it would get
    403 AccessDenied and the daemon would never write the first anchor. The daemon must
    find out that there is none by listing its prefix, which the host may do."""
    from tradewarden.audit.anchor import S3Anchor

    prod = stack_runs["prod"]
    env = daemon_env(prod)
    bucket = moto_backup_bucket(prod)
    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    boto3.setup_default_session()
    boto3.DEFAULT_SESSION.events.register(
        "before-parameter-build.s3",
        lambda params, model, **_: calls.append((model.name, dict(params))),
    )
    remote = S3Anchor(bucket, env["TRADEWARDEN_AUDIT_ANCHOR_PREFIX"], HOST_NAME)
    assert remote.read() is None
    assert [op for op, _ in calls if op in ("GetObject", "HeadObject")] == []
    assert calls and all(allowed_for_host(prod, op, p) for op, p in calls)


# --- approvers' seeds ---------------------------------------------------------------------------


def secret_arn(run: OfflineRun, name: str, account: str | None = None) -> str:
    account = account or run.outputs["kmsKeyArn"].split(":")[4]
    return f"arn:aws:secretsmanager:eu-west-1:{account}:secret:{name}-AbC123"


def test_host_reads_approver_seeds_of_its_stack_only(run: OfflineRun) -> None:
    host = policy_json(run.one(t.IAM_ROLE_POLICY, "host-role-policy"))
    admin = f"tradewarden/{run.stack}/admin"
    seed = secret_arn(run, f"{admin}/approver/alice")
    assert decide(host, "secretsmanager:GetSecretValue", seed, {}) == "allow"
    for action in (
        "secretsmanager:PutSecretValue",
        "secretsmanager:CreateSecret",
        "secretsmanager:UpdateSecretVersionStage",
        "secretsmanager:DeleteSecret",
    ):
        assert decide(host, action, seed, {}) == "neutral", action
    other = "staging" if run.stack != "staging" else "dev"
    for name in (
        f"tradewarden/{other}/admin/approver/alice",
        f"{admin}/approverx/alice",
        f"{admin}-other",
    ):
        assert decide(host, "secretsmanager:GetSecretValue", secret_arn(run, name), {}) == (
            "neutral"
        ), name


def resource_policy_decision(document: dict[str, Any], action: str, principal: str) -> str:
    """The secrets' resource policy (Deny statements with Action or NotAction) for one
    principal: "deny" or "neutral" (it grants nothing; IAM does)."""
    context = {"aws:PrincipalArn": principal}
    for st in document["Statement"]:
        assert st["Effect"] == "Deny" and st["Resource"] == "*"
        if "NotAction" in st:
            if any(_glob(a, action, case=False) for a in _listed(st["NotAction"])):
                continue
        elif not any(_glob(a, action, case=False) for a in _listed(st["Action"])):
            continue
        if _condition_holds(st.get("Condition", {}), context):
            return "deny"
    return "neutral"


@pytest.fixture(scope="module")
def moto_stack() -> OfflineRun:
    raw = read_stack_file("prod")
    raw["tradewarden:adminRoleArn"] = f"arn:aws:iam::{MOTO_ACCOUNT}:role/tradewarden-admin"
    return run_offline("prod", raw)


def _stack_admin_secret(run: OfflineRun) -> tuple[str, str, dict[str, Any]]:
    """The admin secret on moto as the stack makes it: (name, KMS key id, resource policy)."""
    (admin,) = [
        r for r in run.of_type("aws:secretsmanager/secret:Secret") if r.name.endswith("-admin")
    ]
    name = admin.inputs["name"]
    (policy_res,) = [
        r
        for r in run.of_type("aws:secretsmanager/secretPolicy:SecretPolicy")
        if r.name.endswith("-admin-policy")
    ]
    policy = json.loads(policy_res.inputs["policy"])
    kms = boto3.client("kms")
    key_id = kms.create_key(Description="stack key")["KeyMetadata"]["Arn"]
    sm = boto3.client("secretsmanager")
    sm.create_secret(
        Name=name,
        KmsKeyId=key_id,
        SecretString=json.dumps({"promotion_key": "p" * 40, "audit_key": "a" * 40}),
        Tags=[{"Key": k, "Value": v} for k, v in admin.inputs["tags"].items()],
    )
    sm.put_resource_policy(SecretId=name, ResourcePolicy=json.dumps(policy))
    return name, key_id, policy


@pytest.mark.usefixtures("clean_env")
def test_approver_seed_inherits_key_tags_and_policy_and_the_host_reads_it(
    tmp_path: Path,
    aws_env: str,
    monkeypatch: pytest.MonkeyPatch,
    moto_stack: OfflineRun,
) -> None:
    """`approvers add` (as the admin role), then `confirm` and approving (the host's reads):
    the daemon's real Secrets Manager calls on moto."""
    import botocore.client
    import pyotp

    from tradewarden.core.config import load_settings
    from tradewarden.secrets.aws import AwsSecretsManagerSource
    from tradewarden.state.store import Store
    from tradewarden.wallet.approvals import Approvers

    run = moto_stack
    admin_id, key_id, policy = _stack_admin_secret(run)
    monkeypatch.setenv("TRADEWARDEN_SECRET_ADMIN_ID", admin_id)
    monkeypatch.setenv("TRADEWARDEN_SECRET_SOURCE", "aws")
    settings = load_settings(None, state_dir=tmp_path)

    calls: list[tuple[str, dict[str, Any]]] = []
    real = botocore.client.BaseClient._make_api_call

    def record(self: Any, operation: str, params: dict) -> Any:
        if self.meta.service_model.endpoint_prefix == "secretsmanager":
            calls.append((operation, dict(params)))
        return real(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)

    store = Store(settings.db_path)
    try:
        approvers = Approvers(settings, store, AwsSecretsManagerSource())
        enrolled = approvers.add("alice", actor="ops")
        admin_calls, calls[:] = list(calls), []
        seed = pyotp.parse_uri(enrolled.uri).secret
        host_view = Approvers(settings, store, AwsSecretsManagerSource())
        host_view.confirm("alice", pyotp.TOTP(seed).now(), actor="alice")
        host_calls = list(calls)
    finally:
        store.close()

    sm = boto3.client("secretsmanager")
    seed_name = f"{admin_id}/approver/alice"
    described = sm.describe_secret(SecretId=seed_name)
    assert described["KmsKeyId"] == key_id
    parent_tags = {t["Key"]: t["Value"] for t in sm.describe_secret(SecretId=admin_id)["Tags"]}
    tags = {t["Key"]: t["Value"] for t in described["Tags"]}
    assert tags["Project"] == parent_tags["Project"] and tags["Stack"] == parent_tags["Stack"]
    assert json.loads(sm.get_resource_policy(SecretId=seed_name)["ResourcePolicy"]) == policy

    admin_role = f"arn:aws:iam::{MOTO_ACCOUNT}:role/tradewarden-admin"
    host_role = f"arn:aws:iam::{MOTO_ACCOUNT}:role/tradewarden-prod-host"
    someone = f"arn:aws:iam::{MOTO_ACCOUNT}:role/developer"
    made = {op for op, _ in admin_calls}
    assert {"CreateSecret", "PutResourcePolicy"} <= made
    for op, _ in admin_calls:
        assert resource_policy_decision(policy, f"secretsmanager:{op}", admin_role) == "neutral"
        assert resource_policy_decision(policy, f"secretsmanager:{op}", someone) == "deny"
    host = policy_json(run.one(t.IAM_ROLE_POLICY, "host-role-policy"))
    assert {op for op, _ in host_calls} == {"GetSecretValue"}
    for op, params in host_calls:
        action = f"secretsmanager:{op}"
        assert params["SecretId"] == seed_name
        arn = secret_arn(run, params["SecretId"], MOTO_ACCOUNT)
        assert decide(host, action, arn, {}) == "allow"
        assert resource_policy_decision(policy, action, host_role) == "neutral"
    # the host may not write a seed (only read): the resource policy refuses it
    for op in ("CreateSecret", "PutSecretValue", "UpdateSecretVersionStage"):
        assert resource_policy_decision(policy, f"secretsmanager:{op}", host_role) == "deny"
        assert decide(host, f"secretsmanager:{op}", secret_arn(run, seed_name), {}) == "neutral"
    assert re.fullmatch(r"tradewarden/prod/admin/approver/alice", seed_name)
