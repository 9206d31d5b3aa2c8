"""The backup bucket: the component on its own (mocks), in every stack, the host's and the S3
endpoint's grants, the user data, the config, and the daemon's real backup and restore calls
(against a moto S3 server) checked against the grants the stack writes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
import pulumi
import pytest
from pulumi.runtime import settings as pulumi_settings

from infra.components.backups import Backups
from infra.config import ConfigError, load_stack_config
from infra.naming import AwsContext
from infra.offline import OfflineRun, RecordingMocks, read_stack_file, run_offline
from infra.policy import checks as t

from .conftest import policy_json

ACCOUNT = "111111111111"
CTX = AwsContext(
    "aws", "eu-west-1", ACCOUNT, f"arn:aws:sts::{ACCOUNT}:assumed-role/a/b", ("eu-west-1a",)
)
KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-0000-4000-8000-000000000000"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
OBJECT_LOCK = t.S3_OBJECT_LOCK


def raw_config(**overrides: Any) -> dict[str, Any]:
    raw = read_stack_file("dev")
    raw.update({f"tradewarden:{k}": v for k, v in overrides.items()})
    return raw


# --- the component on its own -----------------------------------------------------------------


@pytest.fixture()
def component(request: pytest.FixtureRequest) -> tuple[dict[str, str], list]:
    """Backups("b") for stack "unit" with backupRetentionDays=90: (outputs, resources)."""
    cfg = load_stack_config(raw_config(backupRetentionDays="90"), "unit")
    mocks = RecordingMocks()
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project="tradewarden", stack="unit-backups", preview=False)
    outputs: dict[str, str] = {}

    @pulumi.runtime.test
    def build() -> pulumi.Output[None]:
        backups = Backups("b", cfg, CTX, kms_key_arn=KEY)
        return pulumi.Output.all(
            name=backups.bucket.bucket, arn=backups.bucket_arn, url=backups.url
        ).apply(outputs.update)

    build()
    return outputs, mocks.resources


def one(resources: list, typ: str) -> Any:
    (found,) = [r for r in resources if r.type == typ]
    return found


def test_component_outputs_name_arn_and_url(component: tuple[dict[str, str], list]) -> None:
    outputs, _ = component
    assert outputs == {
        "name": "tradewarden-unit-backups-111111111111",
        "arn": "arn:aws:s3:::tradewarden-unit-backups-111111111111",
        "url": "s3://tradewarden-unit-backups-111111111111/unit/",
    }


def test_component_encrypts_with_the_given_key(component: tuple[dict[str, str], list]) -> None:
    _, resources = component
    sse = one(resources, t.S3_BUCKET_SSE).inputs
    assert sse == {
        "bucket": "tradewarden-unit-backups-111111111111",
        "rules": [
            {
                "applyServerSideEncryptionByDefault": {
                    "sseAlgorithm": "aws:kms",
                    "kmsMasterKeyId": KEY,
                },
                "bucketKeyEnabled": True,
            }
        ],
    }


def test_component_is_versioned_private_and_owner_enforced(
    component: tuple[dict[str, str], list],
) -> None:
    _, resources = component
    bucket = "tradewarden-unit-backups-111111111111"
    assert one(resources, t.S3_BUCKET_VERSIONING).inputs == {
        "bucket": bucket,
        "versioningConfiguration": {"status": "Enabled"},
    }
    assert one(resources, t.S3_PUBLIC_ACCESS_BLOCK).inputs == {
        "bucket": bucket,
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    assert one(resources, OWNERSHIP).inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    assert one(resources, t.S3_BUCKET).inputs["forceDestroy"] is False


def test_component_lifecycle_takes_the_retention_from_config(
    component: tuple[dict[str, str], list],
) -> None:
    _, resources = component
    (rule,) = one(resources, LIFECYCLE).inputs["rules"]
    assert rule["status"] == "Enabled" and rule["filter"] == {}
    assert rule["expiration"] == {"days": 90}
    assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": 7}
    assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 1}


def test_component_bucket_policy_denies_plain_http_and_other_keys(
    component: tuple[dict[str, str], list],
) -> None:
    _, resources = component
    arn = "arn:aws:s3:::tradewarden-unit-backups-111111111111"
    statements = {s["Sid"]: s for s in policy_json(one(resources, BUCKET_POLICY))["Statement"]}
    assert {s["Effect"] for s in statements.values()} == {"Deny"}
    tls = statements["DenyInsecureTransport"]
    assert (tls["Principal"], tls["Action"], tls["Resource"]) == ("*", "s3:*", [arn, f"{arn}/*"])
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    kms_key_header = "s3:x-amz-server-side-encryption-aws-kms-key-id"
    assert statements["DenyKmsKeysOtherThanTheStackKey"]["Condition"] == {
        "Null": {kms_key_header: "false"},
        "StringNotEquals": {kms_key_header: KEY},
    }
    assert statements["DenyEncryptionOtherThanKms"]["Condition"] == {
        "Null": {"s3:x-amz-server-side-encryption": "false"},
        "StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"},
    }
    assert statements["DenyCustomerProvidedKeys"]["Condition"] == {
        "Null": {"s3:x-amz-server-side-encryption-customer-algorithm": "false"}
    }
    for sid in (
        "DenyKmsKeysOtherThanTheStackKey",
        "DenyEncryptionOtherThanKms",
        "DenyCustomerProvidedKeys",
    ):
        assert statements[sid]["Action"] == "s3:PutObject"
        assert statements[sid]["Resource"] == f"{arn}/*"


# --- every stack ------------------------------------------------------------------------------


def test_stack_bucket_uses_the_stack_key_and_default_retention(run: OfflineRun) -> None:
    bucket = run.outputs["backupBucket"]
    assert bucket == f"tradewarden-{run.stack}-backups-{run.outputs['kmsKeyArn'].split(':')[4]}"
    (rule,) = run.one(t.S3_BUCKET_SSE).inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": run.outputs["kmsKeyArn"],
    }
    assert rule["bucketKeyEnabled"] is True
    assert run.one(t.S3_BUCKET_VERSIONING).inputs["versioningConfiguration"]["status"] == "Enabled"
    for sub in (t.S3_BUCKET_SSE, t.S3_BUCKET_VERSIONING, t.S3_PUBLIC_ACCESS_BLOCK, LIFECYCLE):
        assert run.one(sub).inputs["bucket"] == bucket
    (lifecycle,) = run.one(LIFECYCLE).inputs["rules"]
    assert lifecycle["expiration"] == {"days": 35}  # no stack file sets backupRetentionDays


def s3_grants(document: dict[str, Any]) -> dict[str, tuple[list[str], Any]]:
    """The backup grants (the release's own s3:GetObject, Sid FetchRelease, left out)."""
    out = {}
    for st in document["Statement"]:
        if st.get("Sid") == "FetchRelease":
            continue
        for action in st["Action"] if isinstance(st["Action"], list) else [st["Action"]]:
            if action.lower().startswith("s3:"):
                out[action] = (st["Resource"], st.get("Condition"))
    return out


def test_host_may_put_get_and_list_its_prefix_and_never_delete(run: OfflineRun) -> None:
    bucket_arn = f"arn:aws:s3:::{run.outputs['backupBucket']}"
    policy = policy_json(run.one(t.IAM_ROLE_POLICY, "host-role-policy"))
    assert s3_grants(policy) == {
        "s3:PutObject": ([f"{bucket_arn}/{run.stack}/*"], None),
        "s3:GetObject": ([f"{bucket_arn}/{run.stack}/*"], None),
        "s3:ListBucket": ([bucket_arn], {"StringLike": {"s3:prefix": [f"{run.stack}/*"]}}),
    }
    s3_actions = [a for st in policy["Statement"] for a in st["Action"] if a.startswith("s3:")]
    # GetObject twice: the backups (above) and the one release object (FetchRelease).
    assert sorted(s3_actions) == ["s3:GetObject", "s3:GetObject", "s3:ListBucket", "s3:PutObject"]
    (release,) = [st for st in policy["Statement"] if st.get("Sid") == "FetchRelease"]
    assert release["Action"] == ["s3:GetObject"] and len(release["Resource"]) == 1
    assert release["Resource"][0].endswith("-wheelhouse.tar.gz")
    kms = {a: st for st in policy["Statement"] for a in st["Action"] if a.startswith("kms:")}
    assert set(kms) == {"kms:Decrypt", "kms:GenerateDataKey"}
    for statement in kms.values():
        assert statement["Resource"] == [run.outputs["kmsKeyArn"]]
        via = statement["Condition"]["StringEquals"]["kms:ViaService"]
        assert "s3.eu-west-1.amazonaws.com" in via


def test_s3_endpoint_reaches_the_backup_prefix_with_the_same_actions(run: OfflineRun) -> None:
    endpoint = run.one("aws:ec2/vpcEndpoint:VpcEndpoint", "network-vpce-s3").inputs
    document = json.loads(endpoint["policy"])
    host = policy_json(run.one(t.IAM_ROLE_POLICY, "host-role-policy"))
    grants = s3_grants(document)
    bucket_arn = f"arn:aws:s3:::{run.outputs['backupBucket']}"
    own = run.outputs["kmsKeyArn"].split(":")[4]
    account = {"aws:PrincipalAccount": own, "aws:ResourceAccount": own}
    # The same resources and conditions, only this account's principals, to its bucket.
    assert grants["s3:PutObject"] == (
        s3_grants(host)["s3:PutObject"][0],
        {"StringEquals": account},
    )
    host_list = s3_grants(host)["s3:ListBucket"]
    assert grants["s3:ListBucket"] == (host_list[0], {**host_list[1], "StringEquals": account})
    backup_get = [
        st
        for st in document["Statement"]
        if "s3:GetObject" in st["Action"] and f"{bucket_arn}/{run.stack}/*" in st["Resource"]
    ]
    assert len(backup_get) == 1
    endpoint_actions = {a for st in document["Statement"] for a in st["Action"]}
    assert endpoint_actions == {"s3:GetObject", "s3:PutObject", "s3:ListBucket"}


def test_user_data_points_the_nightly_backup_at_the_bucket(run: OfflineRun) -> None:
    text = run.one(t.INSTANCE).inputs["userData"]
    url = f"s3://{run.outputs['backupBucket']}/{run.stack}/"
    assert run.outputs["backupUrl"] == url
    assert re.findall(r"^\s*TRADEWARDEN_BACKUP_TO=(.*)$", text, re.M) == [url]


def test_backups_are_object_locked_compliance_in_prod(run: OfflineRun) -> None:
    lock = run.one(OBJECT_LOCK)
    assert lock.inputs["bucket"] == run.outputs["backupBucket"]
    assert lock.inputs["objectLockEnabled"] == "Enabled"
    mode = "COMPLIANCE" if run.stack == "prod" else "GOVERNANCE"
    assert lock.inputs["rule"] == {"defaultRetention": {"mode": mode, "days": 35}}
    # the host can neither delete nor unlock: no s3:Delete*, no retention or bypass rights
    host = json.dumps(policy_json(run.one(t.IAM_ROLE_POLICY, "host-role-policy")))
    for action in ("s3:Delete", "s3:PutObjectRetention", "s3:BypassGovernanceRetention"):
        assert action not in host


# --- config -----------------------------------------------------------------------------------


def test_lock_days_follow_config_and_stay_within_the_retention() -> None:
    run = run_offline("lock", raw_config(backupRetentionDays=90, backupLockDays=60))
    assert run.one(OBJECT_LOCK).inputs["rule"]["defaultRetention"] == {
        "mode": "GOVERNANCE",
        "days": 60,
    }
    with pytest.raises(ConfigError) as info:
        load_stack_config(raw_config(backupLockDays=36), "dev")
    assert info.value.problems == [
        "tradewarden:backupLockDays: must not exceed backupRetentionDays (35), got 36"
    ]


def test_prod_backups_cannot_be_locked_in_governance_mode() -> None:
    raw = read_stack_file("prod")
    raw["tradewarden:backupLockMode"] = "GOVERNANCE"
    with pytest.raises(ConfigError) as info:
        load_stack_config(raw, "prod")
    assert info.value.problems == [
        "tradewarden:backupLockMode: a live-capable stack locks its backups in COMPLIANCE "
        "mode, got GOVERNANCE"
    ]
    cfg = load_stack_config(raw_config(backupLockMode="COMPLIANCE"), "dev")
    assert cfg.backup_lock_mode == "COMPLIANCE"


def test_retention_setting_reaches_the_lifecycle() -> None:
    run = run_offline("retention", raw_config(backupRetentionDays=400))
    (rule,) = run.one(LIFECYCLE).inputs["rules"]
    assert rule["expiration"] == {"days": 400}


@pytest.mark.parametrize("days", ["3", "6", "3651", "0"])
def test_retention_out_of_range_stops_the_program(days: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_stack_config(raw_config(backupRetentionDays=days), "dev")
    assert info.value.problems == [
        f"tradewarden:backupRetentionDays: must be between 7 and 3650, got {int(days)}"
    ]
    mocks = RecordingMocks()
    with pytest.raises(pulumi.RunError, match="tradewarden:backupRetentionDays: must be between"):
        run_offline("bad-retention", raw_config(backupRetentionDays=days), mocks=mocks)
    assert mocks.resources == [] and mocks.calls == []


@pytest.mark.parametrize("days", ["7", "3650"])
def test_retention_bounds_are_accepted(days: str) -> None:
    cfg = load_stack_config(raw_config(backupRetentionDays=days), "dev")
    assert cfg.backup_retention_days == int(days)


# --- the daemon's real S3 calls against the stack's grants -------------------------------------
#
# A small evaluator for the policy elements these documents use (Allow/Deny, Action and
# Resource globs, the condition operators below); anything else fails the test rather
# than passing silently.


def _glob(pattern: str, value: str, *, case: bool = True) -> bool:
    regex = "^" + ".*".join(re.escape(p).replace(r"\?", ".") for p in pattern.split("*")) + "$"
    return re.match(regex, value, 0 if case else re.IGNORECASE) is not None


def _listed(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def _condition_holds(condition: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, tests in condition.items():
        for key, expected in tests.items():
            wanted, present = _listed(expected), key in context
            actual = context.get(key, "")
            if operator == "StringEquals":
                ok = present and actual in wanted
            elif operator == "StringLike":
                ok = present and any(_glob(w, actual) for w in wanted)
            elif operator == "StringEqualsIfExists":
                ok = not present or actual in wanted
            elif operator in ("StringNotEquals", "StringNotEqualsIfExists"):
                # negated operators match a request without the key
                ok = not present or actual not in wanted
            elif operator == "Bool":
                ok = present and actual.lower() in [w.lower() for w in wanted]
            elif operator == "Null":
                ok = (not present) == (wanted == ["true"])
            else:
                raise AssertionError(f"the test evaluator does not know {operator}")
            if not ok:
                return False
    return True


def decide(document: dict[str, Any], action: str, resource: str, context: dict[str, str]) -> str:
    """ "deny", "allow" or "neutral" (no statement applies)."""
    verdict = "neutral"
    for st in document["Statement"]:
        assert "NotAction" not in st and "NotResource" not in st
        if not any(_glob(a, action, case=False) for a in _listed(st["Action"])):
            continue
        if not any(_glob(r, resource) for r in _listed(st["Resource"])):
            continue
        if not _condition_holds(st.get("Condition", {}), context):
            continue
        if st["Effect"] == "Deny":
            return "deny"
        verdict = "allow"
    return verdict


OBJECT_ACTIONS = {
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "DeleteObject": "s3:DeleteObject",
}
BUCKET_ACTIONS = {"ListObjectsV2": "s3:ListBucket", "ListObjects": "s3:ListBucket"}


def as_request(operation: str, params: dict[str, Any]) -> tuple[str, str, dict[str, str]]:
    """(IAM action, resource ARN, condition context) of one S3 API call over HTTPS."""
    # The backup bucket is the stack's: S3 gives its owner as aws:ResourceAccount.
    context = {
        "aws:SecureTransport": "true",
        "aws:PrincipalAccount": ACCOUNT,
        "aws:ResourceAccount": ACCOUNT,
    }
    headers = {
        "ServerSideEncryption": "s3:x-amz-server-side-encryption",
        "SSEKMSKeyId": "s3:x-amz-server-side-encryption-aws-kms-key-id",
        "SSECustomerAlgorithm": "s3:x-amz-server-side-encryption-customer-algorithm",
    }
    context.update({k: params[p] for p, k in headers.items() if params.get(p)})
    bucket_arn = f"arn:aws:s3:::{params['Bucket']}"
    if operation in OBJECT_ACTIONS:
        return OBJECT_ACTIONS[operation], f"{bucket_arn}/{params['Key']}", context
    if operation in BUCKET_ACTIONS:
        if "Prefix" in params:
            context["s3:prefix"] = params["Prefix"]
        return BUCKET_ACTIONS[operation], bucket_arn, context
    raise AssertionError(f"the daemon called {operation}: map it to its IAM action here")


def allowed_for_host(run: OfflineRun, operation: str, params: dict[str, Any]) -> bool:
    action, resource, context = as_request(operation, params)
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


def test_the_evaluator_refuses_what_the_grants_leave_out(
    stack_runs: dict[str, OfflineRun],
) -> None:
    dev = stack_runs["dev"]
    bucket = dev.outputs["backupBucket"]
    key = "dev/tradewarden-20250101T000000000000Z/manifest.json"
    assert allowed_for_host(dev, "PutObject", {"Bucket": bucket, "Key": key})
    assert allowed_for_host(dev, "ListObjectsV2", {"Bucket": bucket, "Prefix": "dev/"})
    refused = [
        ("DeleteObject", {"Bucket": bucket, "Key": key}),
        ("PutObject", {"Bucket": bucket, "Key": "prod/x"}),
        ("PutObject", {"Bucket": bucket, "Key": "x"}),
        ("GetObject", {"Bucket": "someone-elses-bucket", "Key": key}),
        ("ListObjectsV2", {"Bucket": bucket}),
        ("ListObjectsV2", {"Bucket": bucket, "Prefix": "prod/"}),
        ("PutObject", {"Bucket": bucket, "Key": key, "ServerSideEncryption": "AES256"}),
        (
            "PutObject",
            {
                "Bucket": bucket,
                "Key": key,
                "ServerSideEncryption": "aws:kms",
                "SSEKMSKeyId": "arn:aws:kms:eu-west-1:999999999999:key/other",
            },
        ),
        ("PutObject", {"Bucket": bucket, "Key": key, "SSECustomerAlgorithm": "AES256"}),
    ]
    for operation, params in refused:
        assert not allowed_for_host(dev, operation, params), (operation, params)
    # plain HTTP is refused by the bucket policy even for an otherwise allowed request
    bucket_policy = policy_json(dev.one(BUCKET_POLICY))
    action, resource, context = as_request("GetObject", {"Bucket": bucket, "Key": key})
    context["aws:SecureTransport"] = "false"
    assert decide(bucket_policy, action, resource, context) == "deny"


def make_state(state: Path) -> Any:
    from tradewarden.audit.chain import AuditLog
    from tradewarden.core.config import load_settings
    from tradewarden.state.store import Store

    settings = load_settings(None, state_dir=state)
    store, audit = Store(settings.db_path), AuditLog(settings.audit_dir)
    try:
        store.put("status_snapshot", {"state": "active", "daemon_running": True})
        audit.append("trade", {"n": 1})
    finally:
        audit.close()
        store.close()
    return settings


def moto_backup_bucket(run: OfflineRun) -> str:
    """The stack's backup bucket on moto, configured from `run`'s recorded inputs
    (encryption, versioning, Object Lock); its name."""
    bucket = run.outputs["backupBucket"]
    (rule,) = run.one(t.S3_BUCKET_SSE).inputs["rules"]
    default = rule["applyServerSideEncryptionByDefault"]
    s3 = boto3.client("s3")
    s3.create_bucket(
        Bucket=bucket,
        CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
        ObjectLockEnabledForBucket=True,
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": default["sseAlgorithm"],
                        "KMSMasterKeyID": default["kmsMasterKeyId"],
                    },
                    "BucketKeyEnabled": rule["bucketKeyEnabled"],
                }
            ]
        },
    )
    s3.put_bucket_versioning(
        Bucket=bucket,
        VersioningConfiguration={
            "Status": run.one(t.S3_BUCKET_VERSIONING).inputs["versioningConfiguration"]["status"]
        },
    )
    lock = run.one(OBJECT_LOCK).inputs
    retention = lock["rule"]["defaultRetention"]
    s3.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": lock["objectLockEnabled"],
            "Rule": {
                "DefaultRetention": {"Mode": retention["mode"], "Days": int(retention["days"])}
            },
        },
    )
    return bucket


@pytest.mark.usefixtures("clean_env")
def test_daemon_backup_and_restore_check_fit_the_grants(
    tmp_path: Path,
    aws_env: str,
    monkeypatch: pytest.MonkeyPatch,
    stack_runs: dict[str, OfflineRun],
) -> None:
    """`tradewarden backup --to <backupUrl>` and `restore --from ... --check` as the host runs
    them, on a moto bucket configured from the dev stack's recorded inputs (encryption,
    versioning): every S3 call the daemon makes is allowed by the host role and the S3
    endpoint and not denied by the bucket policy; every object lands under the stack's
    prefix, SSE-KMS with the stack's key (the bucket default; the daemon sends no header)."""
    from tradewarden.operations.backup import BackupError, create_backup, verify_backup

    dev = stack_runs["dev"]
    bucket, url = dev.outputs["backupBucket"], dev.outputs["backupUrl"]
    moto_backup_bucket(dev)
    s3 = boto3.client("s3")  # made before the recording session below, as the bucket was
    # No bucket policy in moto: it applies a policy's Deny statements without the request's
    # condition context (even `aws:SecureTransport` false denies every call there). The
    # bucket policy is evaluated on the daemon's recorded calls below instead.

    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    boto3.setup_default_session()
    boto3.DEFAULT_SESSION.events.register(
        "before-parameter-build.s3",
        lambda params, model, **_: calls.append((model.name, dict(params))),
    )

    backup = create_backup(make_state(tmp_path / "state"), url)
    assert backup.location.startswith(f"{url}tradewarden-")
    assert verify_backup(backup.location)["audit_chain_ok"] is True
    with pytest.raises(BackupError, match="not a complete backup"):
        verify_backup(url)  # the prefix, not a backup: the daemon lists it for a hint

    operations = {op for op, _ in calls}
    assert {"PutObject", "GetObject", "ListObjectsV2"} <= operations
    refused = [(op, p) for op, p in calls if not allowed_for_host(dev, op, p)]
    assert refused == []

    objects = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert len(objects) == len(backup.manifest["files"]) + 1  # + manifest.json
    for obj in objects:
        assert obj["Key"].startswith("dev/tradewarden-")
        head = s3.head_object(Bucket=bucket, Key=obj["Key"])
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == dev.outputs["kmsKeyArn"]
        # Object Lock: every version the daemon wrote is locked; deleting it is refused.
        assert head["ObjectLockMode"] == "GOVERNANCE"
        with pytest.raises(s3.exceptions.ClientError, match="AccessDenied"):
            s3.delete_object(Bucket=bucket, Key=obj["Key"], VersionId=head["VersionId"])
