"""Render the host's cloud-init user data from ``ops/cloud-init/user-data.yaml.tmpl``."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from infra import naming
from infra.config import StackConfig

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = REPO_ROOT / "ops" / "cloud-init" / "user-data.yaml.tmpl"
MAX_USER_DATA_BYTES = 16 * 1024  # EC2 limit (before base64)
# The host's local backup directory (ops/systemd/tradewarden-backup.service may write it).
LOCAL_BACKUP_DIR = "/var/backups/tradewarden"
_IPV4 = re.compile(r"^([0-9]{1,3}\.){3}[0-9]{1,3}$")


def ses_smtp_host(region: str) -> str:
    """Amazon SES's SMTP endpoint in `region` (resolved to the VPC endpoint's addresses)."""
    return f"email-smtp.{region}.amazonaws.com"


def template_values(
    cfg: StackConfig,
    *,
    region: str,
    alert_topic_arn: str,
    backup_to: str = LOCAL_BACKUP_DIR,
    egress_ip: str = "",
) -> dict[str, str]:
    values = {
        "stack": cfg.stack,
        "region": region,
        "profile": cfg.profile,
        "testnet": "true" if cfg.testnet else "false",
        "wheel_version": cfg.wheel_version,
        "release_bucket": cfg.release_bucket or "",
        "release_key": naming.release_object_key(cfg.wheel_version),
        "alert_topic_arn": alert_topic_arn,
        # Alert email (the daemon and the host's Alertmanager): Amazon SES SMTP through its
        # VPC interface endpoint (private DNS), port 587 with STARTTLS.
        "smtp_host": ses_smtp_host(region),
        "alert_emails": ",".join(cfg.alert_emails),
        "log_group": naming.host_log_group_name(cfg.stack),
        "heartbeat_namespace": naming.HEARTBEAT_NAMESPACE,
        "heartbeat_metric": naming.HEARTBEAT_METRIC,
        "backup_to": backup_to,
        # The audit chain's off-host anchor: the backup bucket, under the stack's prefix
        # (no anchor without an S3 backup bucket: the ops checks render a local directory).
        "audit_anchor_bucket": naming.bucket_of(backup_to),
        "audit_anchor_prefix": naming.audit_anchor_prefix(cfg.stack),
        # The NAT's Elastic IP: what Binance sees (`tradewarden diagnose` shows it).
        "egress_ip": egress_ip,
    }
    for key in naming.SECRET_PATHS:
        values["secret_" + key.replace("-", "_")] = naming.secret_name(cfg.stack, key)
    return values


def render_user_data(
    cfg: StackConfig,
    *,
    region: str,
    alert_topic_arn: str,
    backup_to: str = LOCAL_BACKUP_DIR,
    egress_ip: str = "",
    template: Path = TEMPLATE,
) -> str:
    """Substitute the stack's values; a placeholder without a value raises KeyError.

    `backup_to` becomes the host's TRADEWARDEN_BACKUP_TO: the stack's program passes its
    backup bucket's ``s3://<bucket>/<stack>/`` (infra/components/host.py); rendering
    without a bucket (the ops checks) gives the host's local backup directory. The same
    bucket takes the audit chain's anchor (TRADEWARDEN_AUDIT_ANCHOR_BUCKET, ``..._PREFIX``
    ``<stack>/audit-anchor``); a prod daemon refuses to start without it.
    """
    if not backup_to.startswith(("s3://", "/")) or any(c.isspace() for c in backup_to):
        raise ValueError(
            f"backup_to must be s3://bucket/prefix/ or an absolute path, got {backup_to!r}"
        )
    if egress_ip and not _IPV4.match(egress_ip):
        raise ValueError(f"egress_ip must be an IPv4 address, got {egress_ip!r}")
    text = Template(template.read_text(encoding="utf-8")).substitute(
        template_values(
            cfg,
            region=region,
            alert_topic_arn=alert_topic_arn,
            backup_to=backup_to,
            egress_ip=egress_ip,
        )
    )
    if len(text.encode()) > MAX_USER_DATA_BYTES:
        raise ValueError(f"rendered user data exceeds {MAX_USER_DATA_BYTES} bytes")
    return text
