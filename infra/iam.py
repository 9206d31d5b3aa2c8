"""IAM, KMS, Secrets Manager and SNS policy documents, as plain dicts.

Pure functions of ARNs, so that tests can assert on exactly what each principal may do.
Components turn them into JSON once the ARNs are known.
"""

from __future__ import annotations

from typing import Any

from infra.naming import CWAGENT_NAMESPACE, HEARTBEAT_NAMESPACE, AwsContext

Document = dict[str, Any]
VERSION = "2012-10-17"

# Session Manager / Run Command channel actions. AWS gives these no resource type, so they
# can only be granted on "*"; the grant is pinned to requests from the stack's own VPC.
SSM_CHANNEL_ACTIONS: tuple[str, ...] = (
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
    "ec2messages:AcknowledgeMessage",
    "ec2messages:DeleteMessage",
    "ec2messages:FailMessage",
    "ec2messages:GetEndpoint",
    "ec2messages:GetMessages",
    "ec2messages:SendReply",
)
LOG_ACTIONS: tuple[str, ...] = (
    "logs:CreateLogStream",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
)


def document(*statements: Document) -> Document:
    return {"Version": VERSION, "Statement": list(statements)}


def assume_role_policy(service: str, account_id: str | None = None) -> Document:
    statement: Document = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if account_id:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": account_id}}
    return document(statement)


def host_role_policy(
    ctx: AwsContext,
    *,
    secret_arns: list[str],
    key_arn: str,
    topic_arn: str,
    log_group_arn: str,
    vpc_id: str,
    backup_bucket_arn: str,
    backup_prefix: str,
    approver_secrets_arn: str | None = None,
    release_object_arn: str | None = None,
) -> Document:
    """Least privilege for the trading host: its secrets, its key, its topic, SSM, metrics,
    and its backups (write and read under its own prefix; never delete: the bucket is
    versioned and its lifecycle expires old backups). The audit chain's anchor object lives
    under the same prefix. `approver_secrets_arn` (an ARN pattern, ``.../admin/approver/*``):
    the approvers' TOTP seeds, created at run time by `tradewarden approvers add` (the admin
    role writes them; the host only reads)."""
    secretsmanager = f"secretsmanager.{ctx.region}.amazonaws.com"
    sns = f"sns.{ctx.region}.amazonaws.com"
    s3 = f"s3.{ctx.region}.amazonaws.com"
    statements: list[Document] = [
        {
            "Sid": "ReadOwnSecrets",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            # the stack's secrets, then the approvers' seeds (made at run time)
            "Resource": sorted(secret_arns)
            + ([approver_secrets_arn] if approver_secrets_arn else []),
        },
        {
            "Sid": "DecryptOwnKeyViaSecretsManagerSnsAndS3",
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": [key_arn],
            "Condition": {"StringEquals": {"kms:ViaService": [secretsmanager, sns, s3]}},
        },
        {
            "Sid": "EncryptAlertsAndBackupsWithOwnKey",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey"],
            "Resource": [key_arn],
            "Condition": {"StringEquals": {"kms:ViaService": [sns, s3]}},
        },
        {
            "Sid": "PublishAlerts",
            "Effect": "Allow",
            "Action": ["sns:Publish"],
            "Resource": [topic_arn],
        },
        {
            "Sid": "SsmRegisterThisInstance",
            "Effect": "Allow",
            "Action": ["ssm:UpdateInstanceInformation"],
            "Resource": [ctx.arn("ec2", "instance/*")],
            "Condition": {"StringEquals": {"aws:SourceVpc": vpc_id}},
        },
        {
            "Sid": "SsmSessionChannelsFromOwnVpc",
            "Effect": "Allow",
            "Action": list(SSM_CHANNEL_ACTIONS),
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceVpc": vpc_id}},
        },
        {
            "Sid": "CloudWatchAgentLogs",
            "Effect": "Allow",
            "Action": list(LOG_ACTIONS),
            "Resource": [log_group_arn, f"{log_group_arn}:log-stream:*"],
        },
        {
            "Sid": "PutOwnMetricsOnly",
            "Effect": "Allow",
            "Action": ["cloudwatch:PutMetricData"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"cloudwatch:namespace": [HEARTBEAT_NAMESPACE, CWAGENT_NAMESPACE]}
            },
        },
        *backup_statements(backup_bucket_arn, backup_prefix),
    ]
    if release_object_arn:
        statements.append(
            {
                "Sid": "FetchRelease",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [release_object_arn],
            }
        )
    return document(*statements)


def backup_statements(
    bucket_arn: str, prefix: str, *, endpoint_account: str | None = None
) -> list[Document]:
    """Write and read objects under `prefix` of the backup bucket, list only that prefix.

    No s3:DeleteObject: a compromised host cannot remove backups. A failed multipart upload
    cannot be aborted by the host either; the bucket's lifecycle aborts it after a day.
    With `endpoint_account` the statements suit a VPC endpoint policy: any principal of
    that account (``aws:PrincipalAccount``), towards that account's bucket only
    (``aws:ResourceAccount``).
    """
    extra: Document = {"Principal": "*"} if endpoint_account else {}
    own = (
        {"aws:PrincipalAccount": endpoint_account, "aws:ResourceAccount": endpoint_account}
        if endpoint_account
        else {}
    )
    objects: Document = {
        "Sid": "WriteAndReadOwnBackups",
        "Effect": "Allow",
        **extra,
        "Action": ["s3:PutObject", "s3:GetObject"],
        "Resource": [f"{bucket_arn}/{prefix}*"],
    }
    if own:
        objects["Condition"] = {"StringEquals": own}
    listing: Document = {
        "Sid": "ListOwnBackups",
        "Effect": "Allow",
        **extra,
        "Action": ["s3:ListBucket"],
        "Resource": [bucket_arn],
        "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}},
    }
    if own:
        listing["Condition"]["StringEquals"] = own
    return [objects, listing]


def backup_bucket_policy(*, bucket_arn: str, key_arn: str) -> Document:
    """TLS only; objects encrypted with the stack's key and nothing else.

    Uploads without encryption headers get the bucket's default (SSE-KMS, the stack key):
    the daemon sends none. A request that names another algorithm or another KMS key, or
    a customer-provided key (SSE-C), is refused. Each Deny pairs ``Null: false`` (the
    header is present) with ``StringNotEquals``: a plain ``StringNotEquals`` or an
    ``...IfExists`` operator would also match a request without the header and so refuse
    every upload that relies on the default encryption.
    """
    objects = f"{bucket_arn}/*"

    def deny_put_unless(header: str, value: str) -> Document:
        return {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {
                "Null": {header: "false"},
                "StringNotEquals": {header: value},
            },
        }

    return document(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, objects],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "DenyEncryptionOtherThanKms",
            **deny_put_unless("s3:x-amz-server-side-encryption", "aws:kms"),
        },
        {
            "Sid": "DenyKmsKeysOtherThanTheStackKey",
            **deny_put_unless("s3:x-amz-server-side-encryption-aws-kms-key-id", key_arn),
        },
        {
            "Sid": "DenyCustomerProvidedKeys",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {"Null": {"s3:x-amz-server-side-encryption-customer-algorithm": "false"}},
        },
    )


def flow_log_role_policy(log_group_arn: str) -> Document:
    return document(
        {
            "Sid": "WriteFlowLogs",
            "Effect": "Allow",
            "Action": list(LOG_ACTIONS),
            "Resource": [log_group_arn, f"{log_group_arn}:log-stream:*"],
        }
    )


def secret_resource_policy(*, host_role_arn: str, admin_role_arn: str) -> Document:
    """Deny everyone but the host role and the admin role; the host may only read."""
    return document(
        {
            "Sid": "DenyAllButHostAndAdmin",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "secretsmanager:*",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:PrincipalArn": [host_role_arn, admin_role_arn]}},
        },
        {
            "Sid": "HostMayOnlyRead",
            "Effect": "Deny",
            "Principal": "*",
            "NotAction": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalArn": host_role_arn}},
        },
    )


def kms_key_policy(ctx: AwsContext, stack: str) -> Document:
    """Account-managed key; CloudWatch Logs and CloudWatch alarms may use it for this stack."""
    root = f"arn:{ctx.partition}:iam::{ctx.account_id}:root"
    return document(
        {
            "Sid": "AccountAdministersKeyThroughIam",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "CloudWatchLogsEncryptsStackLogGroups",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{ctx.region}.amazonaws.com"},
            "Action": [
                "kms:Decrypt",
                "kms:DescribeKey",
                "kms:Encrypt",
                "kms:GenerateDataKey*",
                "kms:ReEncrypt*",
            ],
            "Resource": "*",
            "Condition": {
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": ctx.arn(
                        "logs", f"log-group:/tradewarden/{stack}/*"
                    )
                }
            },
        },
        {
            "Sid": "CloudWatchAlarmsPublishToEncryptedTopic",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id}},
        },
    )


def topic_policy(ctx: AwsContext, topic_arn: str) -> Document:
    return document(
        {
            "Sid": "CloudWatchAlarmsPublish",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": topic_arn,
            "Condition": {
                "StringEquals": {"aws:SourceAccount": ctx.account_id},
                "ArnLike": {"aws:SourceArn": ctx.arn("cloudwatch", "alarm:*")},
            },
        },
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sns:Publish",
            "Resource": topic_arn,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    )


# Amazon's Amazon Linux 2023 package repositories (read anonymously by dnf); the policy pack
# accepts an open principal on exactly this bucket, nothing like it.
AL2023_REPO_BUCKET = "al2023-repos-{region}-de612dc2"


def s3_gateway_endpoint_policy(
    ctx: AwsContext,
    release_object_arn: str | None,
    *,
    backup_bucket_arn: str,
    backup_prefix: str,
) -> Document:
    """The S3 gateway endpoint reaches only the Amazon Linux repositories, the release, and
    the stack's own backups (the same actions and prefix as the host role)."""
    repo_bucket = f"arn:{ctx.partition}:s3:::{AL2023_REPO_BUCKET.format(region=ctx.region)}"
    resources = [f"{repo_bucket}/*"]
    if release_object_arn:
        resources.append(release_object_arn)
    return document(
        {
            "Sid": "AmazonLinuxReposAndRelease",
            "Effect": "Allow",
            "Principal": "*",
            "Action": ["s3:GetObject"],
            "Resource": resources,
        },
        *backup_statements(backup_bucket_arn, backup_prefix, endpoint_account=ctx.account_id),
    )


def interface_endpoint_policy(ctx: AwsContext) -> Document:
    """What may pass an interface endpoint (SNS, Logs, STS, Secrets Manager...): only this
    account's principals, and only towards this account's resources.

    Without it a compromised host could use another account's credentials (or write to
    another account's topic, log group or secret) and carry data out through AWS's network
    without touching the firewall. ``aws:ResourceAccount`` is absent for actions without a
    resource (``sts:GetCallerIdentity``, ``cloudwatch:PutMetricData``, the SSM message
    channels): ``IfExists`` lets those through, still only for this account's principals.
    """
    return document(
        {
            "Sid": "OwnAccountPrincipalsToOwnAccountResources",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "*",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:PrincipalAccount": ctx.account_id},
                "StringEqualsIfExists": {"aws:ResourceAccount": ctx.account_id},
            },
        }
    )


# Amazon Managed Service for Prometheus: the host writes, Grafana reads, each only there.
AMP_QUERY_ACTIONS: tuple[str, ...] = (
    "aps:QueryMetrics",
    "aps:GetSeries",
    "aps:GetLabels",
    "aps:GetMetricMetadata",
)


def amp_remote_write_policy(workspace_arn: str) -> Document:
    """The host's Prometheus may only push samples (``remote_write``) into the stack's
    workspace: no query, no other workspace, no workspace management."""
    return document(
        {
            "Sid": "RemoteWriteOwnWorkspace",
            "Effect": "Allow",
            "Action": ["aps:RemoteWrite"],
            "Resource": [workspace_arn],
        }
    )


def amp_query_policy(workspace_arn: str) -> Document:
    """Amazon Managed Grafana's workspace role: read-only queries of the stack's workspace."""
    return document(
        {
            "Sid": "QueryOwnWorkspace",
            "Effect": "Allow",
            "Action": list(AMP_QUERY_ACTIONS),
            "Resource": [workspace_arn],
        }
    )
