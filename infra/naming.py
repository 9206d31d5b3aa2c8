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


def release_object_key(version: str) -> str:
    """Where the release pipeline puts the wheelhouse the host installs."""
    return f"{PROJECT}/{version}/{PROJECT}-{version}-wheelhouse.tar.gz"


def tags(stack: str, **extra: str) -> dict[str, str]:
    return {"Project": PROJECT, "Stack": stack, "ManagedBy": "pulumi", **extra}
