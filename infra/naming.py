"""Names and ARNs that are fixed by convention, so that components can refer to each other.

The daemon's config takes the secret names; the host role's policy and the secrets'
resource policies refer to each other's ARNs, so those names are decided here, once.
"""

from __future__ import annotations

from dataclasses import dataclass

PROJECT = "tradewarden"
HEARTBEAT_NAMESPACE = "Tradewarden"
HEARTBEAT_METRIC = "Heartbeat"
CWAGENT_NAMESPACE = "CWAgent"

# Secret key -> path suffix under tradewarden/<stack>/ (the daemon's config takes the names).
SECRET_PATHS: dict[str, str] = {
    "binance-trade": "binance/trade",
    "binance-read": "binance/read",
    "slack": "slack",
    "smtp": "smtp",
    "admin": "admin",  # promotion HMAC key + approvals TOTP seed
}


@dataclass(frozen=True)
class AwsContext:
    """Where the stack is deployed, from the provider's data sources."""

    partition: str
    region: str
    account_id: str
    caller_arn: str
    availability_zones: tuple[str, ...]
    # Zones offering the SES SMTP interface endpoint (None: not asked, e.g. in unit tests).
    ses_smtp_zones: tuple[str, ...] | None = None

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        region = self.region if regional else ""
        return f"arn:{self.partition}:{service}:{region}:{self.account_id}:{resource}"


def secret_name(stack: str, key: str) -> str:
    return f"{PROJECT}/{stack}/{SECRET_PATHS[key]}"


def host_role_name(stack: str) -> str:
    return f"{PROJECT}-{stack}-host"


def host_role_arn(ctx: AwsContext, stack: str) -> str:
    return f"arn:{ctx.partition}:iam::{ctx.account_id}:role/{host_role_name(stack)}"


def alert_topic_name(stack: str) -> str:
    return f"{PROJECT}-{stack}-alerts"


def alert_topic_arn(ctx: AwsContext, stack: str) -> str:
    return ctx.arn("sns", alert_topic_name(stack))


def host_log_group_name(stack: str) -> str:
    return f"/{PROJECT}/{stack}/host"


def log_group_arn(ctx: AwsContext, name: str) -> str:
    return ctx.arn("logs", f"log-group:{name}")


def alarm_name(stack: str, what: str) -> str:
    return f"{PROJECT}-{stack}-{what}"


def backup_bucket_name(stack: str, account_id: str) -> str:
    """S3 bucket names are global: the account id keeps each account's stacks apart.

    At most 57 characters (stack names have at most 24), within S3's 63.
    """
    return f"{PROJECT}-{stack}-backups-{account_id}"


def s3_bucket_arn(partition: str, bucket: str) -> str:
    return f"arn:{partition}:s3:::{bucket}"


def backup_prefix(stack: str) -> str:
    """The key prefix the stack's host writes its backups under (the host may touch no other)."""
    return f"{stack}/"


def backup_url(bucket: str, stack: str) -> str:
    """What the host's TRADEWARDEN_BACKUP_TO holds: ``tradewarden backup --to <url>``."""
    return f"s3://{bucket}/{backup_prefix(stack)}"


def audit_anchor_prefix(stack: str) -> str:
    """TRADEWARDEN_AUDIT_ANCHOR_PREFIX on the host: the audit chain head is anchored to
    ``s3://<backup bucket>/<stack>/audit-anchor/<host>/audit-head.json``, inside the
    backup prefix, so the host's backup grants (put and get, never delete) cover it and the
    bucket's versioning and Object Lock keep every anchor it ever wrote."""
    return f"{backup_prefix(stack)}audit-anchor"


def bucket_of(url: str) -> str:
    """The bucket of an ``s3://bucket/prefix`` URL ("" for anything else)."""
    if not url.startswith("s3://"):
        return ""
    return url.removeprefix("s3://").split("/", 1)[0]


def approver_secret_pattern(stack: str) -> str:
    """Secret names of the approvers' TOTP seeds: `tradewarden approvers add NAME` creates
    ``<admin secret>/approver/NAME`` at run time (daemon/tradewarden/wallet/approvals.py)."""
    return f"{secret_name(stack, 'admin')}/approver/*"


def release_object_key(version: str) -> str:
    """Where the release pipeline puts the wheelhouse the host installs."""
    return f"{PROJECT}/{version}/{PROJECT}-{version}-wheelhouse.tar.gz"


def tags(stack: str, **extra: str) -> dict[str, str]:
    return {"Project": PROJECT, "Stack": stack, "ManagedBy": "pulumi", **extra}
