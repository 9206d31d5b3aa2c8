"""Render the host's cloud-init user data from ``ops/cloud-init/user-data.yaml.tmpl``."""

from __future__ import annotations

from pathlib import Path
from string import Template

from infra import naming
from infra.config import StackConfig

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = REPO_ROOT / "ops" / "cloud-init" / "user-data.yaml.tmpl"
MAX_USER_DATA_BYTES = 16 * 1024  # EC2 limit (before base64)


def template_values(cfg: StackConfig, *, region: str, alert_topic_arn: str) -> dict[str, str]:
    values = {
        "stack": cfg.stack,
        "region": region,
        "profile": cfg.profile,
        "testnet": "true" if cfg.testnet else "false",
        "wheel_version": cfg.wheel_version,
        "release_bucket": cfg.release_bucket or "",
        "release_key": naming.release_object_key(cfg.wheel_version),
        "alert_topic_arn": alert_topic_arn,
        "log_group": naming.host_log_group_name(cfg.stack),
        "heartbeat_namespace": naming.HEARTBEAT_NAMESPACE,
        "heartbeat_metric": naming.HEARTBEAT_METRIC,
    }
    for key in naming.SECRET_PATHS:
        values["secret_" + key.replace("-", "_")] = naming.secret_name(cfg.stack, key)
    return values


def render_user_data(
    cfg: StackConfig, *, region: str, alert_topic_arn: str, template: Path = TEMPLATE
) -> str:
    """Substitute the stack's values; a placeholder without a value raises KeyError."""
    text = Template(template.read_text(encoding="utf-8")).substitute(
        template_values(cfg, region=region, alert_topic_arn=alert_topic_arn)
    )
    if len(text.encode()) > MAX_USER_DATA_BYTES:
        raise ValueError(f"rendered user data exceeds {MAX_USER_DATA_BYTES} bytes")
    return text
