"""Render the host's cloud-init user data from ``ops/cloud-init/user-data.yaml.tmpl``."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from infra import naming
from infra.config import StackConfig
from infra.domains import SES_SMTP_PORT, ses_smtp_host

__all__ = ["render_user_data", "ses_smtp_host", "template_values"]

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = REPO_ROOT / "ops" / "cloud-init" / "user-data.yaml.tmpl"
MAX_USER_DATA_BYTES = 16 * 1024  # EC2 limit (before base64)
# The host's local backup directory (ops/systemd/tradewarden-backup.service may write it).
LOCAL_BACKUP_DIR = "/var/backups/tradewarden"
_IPV4 = re.compile(r"^([0-9]{1,3}\.){3}[0-9]{1,3}$")
_AMP_URL = re.compile(
    r"^https://aps-workspaces\.[a-z0-9-]+\.amazonaws\.com/workspaces/ws-[A-Za-z0-9-]+"
    r"/api/v1/remote_write$"
)


def template_values(
    cfg: StackConfig,
    *,
    region: str,
    alert_topic_arn: str,
    backup_to: str = LOCAL_BACKUP_DIR,
    egress_ip: str = "",
    amp_remote_write_url: str = "",
) -> dict[str, str]:
    values = {
        "stack": cfg.stack,
        "region": region,
        "profile": cfg.profile,
        "mode": cfg.mode,
        "testnet": "true" if cfg.testnet else "false",
        # tradewarden:futures (issue 20): the daemon's futures bots and the host's egress
        # refresh resolving the futures testnet hosts (ops/nftables/refresh-allowlist.py)
        "futures": "true" if cfg.futures else "false",
        # Alert email: SES SMTP through the VPC's email-smtp endpoint, STARTTLS on 587.
        "smtp_host": ses_smtp_host(region),
        "smtp_port": str(SES_SMTP_PORT),
        "email_from": cfg.alert_email_from,
        "email_to": ",".join(cfg.alert_emails),
        "slack_channel": cfg.slack_channel or "",
        # The alert hosts the egress refresh resolves into nftables (the same list the
        # Network Firewall and the DNS Firewall get: infra.domains.alert_egress_hosts).
        "egress_alert_hosts": ",".join(cfg.host_alert_hosts),
        "wheel_version": cfg.wheel_version,
        "release_bucket": cfg.release_bucket,
        "release_key": naming.release_object_key(cfg.wheel_version),
        "alert_topic_arn": alert_topic_arn,
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
        # The host Prometheus's remote_write (SigV4) target: the stack's AMP workspace.
        "amp_remote_write_url": amp_remote_write_url,
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
    amp_remote_write_url: str = "",
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
    if amp_remote_write_url and not _AMP_URL.fullmatch(amp_remote_write_url):
        raise ValueError(f"amp_remote_write_url is not an AMP URL: {amp_remote_write_url!r}")
    text = Template(template.read_text(encoding="utf-8")).substitute(
        template_values(
            cfg,
            region=region,
            alert_topic_arn=alert_topic_arn,
            backup_to=backup_to,
            egress_ip=egress_ip,
            amp_remote_write_url=amp_remote_write_url,
        )
    )
    if len(text.encode()) > MAX_USER_DATA_BYTES:
        raise ValueError(f"rendered user data exceeds {MAX_USER_DATA_BYTES} bytes")
    return text
