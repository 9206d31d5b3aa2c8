"""Typed, validated stack settings.

Every ``tradewarden:*`` key of a stack's ``Pulumi.<stack>.yaml`` is read and checked here,
before the program creates anything. A bad stack stops with a `ConfigError` that names each
offending key. Keys of other namespaces (``aws:region``...) belong to their providers.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.domains import (
    AllowedDomain,
    DomainError,
    alert_egress_hosts,
    default_allowlist,
    parse_allowed_domain,
)

NAMESPACE = "tradewarden"

# CloudWatch Logs accepts only these retention periods; the seeds ask for 90 days minimum.
LOG_RETENTION_CHOICES = (90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922)
MIN_LOG_RETENTION_DAYS = 90
# Backups in S3: at least a week (a bad state noticed late must still be restorable).
MIN_BACKUP_RETENTION_DAYS = 7
MAX_BACKUP_RETENTION_DAYS = 3650
# S3 Object Lock on the backups: GOVERNANCE (an admin with s3:BypassGovernanceRetention
# may still delete, so dev and staging can be torn down) or COMPLIANCE (nobody can, not
# even the account root, until the retention ends). prod is always COMPLIANCE.
LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")

_STACK_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,23}$")
# Addresses land in the host's env file (TRADEWARDEN_EMAIL_TO/FROM, systemd
# EnvironmentFile): no quotes, dollar signs or backslashes in the local part.
_EMAIL = re.compile(r"^[A-Za-z0-9._%+=-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_ROLE_ARN = re.compile(r"^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
_AMI_ID = re.compile(r"^ami-[0-9a-f]{8,17}$")
_INSTANCE_TYPE = re.compile(r"^([a-z]+)([0-9]+)([a-z-]*)\.([0-9]*[a-z]+)$")
_VERSION = re.compile(r"^[0-9]+(\.[0-9]+){1,3}([a-z0-9.+-]*)$")
_BUCKET = re.compile(r"^(?!xn--)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_AZ = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9][a-z]$")
_SLACK_CHANNEL = re.compile(r"^#[a-z0-9][a-z0-9._-]{0,79}$")
# What the daemon trades (its TRADEWARDEN_MODE): the in-process paper broker, orders on the
# Binance spot testnet, or live orders (still only when every gate of the daemon holds).
MODES = ("paper", "testnet", "live")
_GRAFANA_AUTH = re.compile(r"^(AWS_SSO|SAML)$")
_GRAFANA_GROUP = re.compile(r"^[A-Za-z0-9][\w.@=+,/ -]{0,255}$")
_HTTPS_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[^\s]*)?$")


class ConfigError(ValueError):
    """The stack's config is invalid. `problems` holds one "key: reason" line per fault."""

    def __init__(self, stack: str, problems: list[str]) -> None:
        self.stack = stack
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"invalid config for stack {stack!r} (Pulumi.{stack}.yaml); nothing was created:\n"
            f"{lines}"
        )


@dataclass(frozen=True)
class StackConfig:
    """Everything the program needs to know about one stack."""

    stack: str
    mode: str
    testnet: bool
    instance_type: str
    vpc_cidr: str
    allowed_domains: tuple[AllowedDomain, ...]
    alert_emails: tuple[str, ...]
    alert_email_from: str
    slack: bool
    admin_role_arn: str
    wheel_version: str
    availability_zone: str
    release_bucket: str
    slack_channel: str | None = None
    alert_sms_numbers: tuple[str, ...] = ()
    ami_id: str | None = None
    root_volume_size_gb: int = 30
    snapshot_retention_days: int = 14
    backup_retention_days: int = 35
    log_retention_days: int = 90
    cpu_alarm_threshold_percent: int = 80
    heartbeat_missing_minutes: int = 3
    protect: bool = False
    futures: bool = False
    backup_lock_mode: str = "GOVERNANCE"
    backup_lock_days: int = 35
    # Amazon Managed Grafana (infra/components/monitoring.py); see _grafana_problems.
    grafana_enabled: bool = False
    grafana_auth_providers: tuple[str, ...] = ()
    grafana_admin_group: str | None = None
    grafana_saml_metadata_url: str | None = None

    @property
    def account_id(self) -> str:
        """The account the stack belongs to: the admin role's (the provider refuses others)."""
        return self.admin_role_arn.split(":")[4]

    @property
    def architecture(self) -> str:
        """Graviton families carry a ``g`` after the generation digit (t4g, m7g, c7gn)."""
        match = _INSTANCE_TYPE.match(self.instance_type)
        suffix = match.group(3) if match else ""
        return "arm64" if "g" in suffix.split("-")[0] else "x86_64"

    @property
    def profile(self) -> str:
        """The daemon's TRADEWARDEN_PROFILE for this stack."""
        if self.stack in ("dev", "staging", "prod"):
            return self.stack
        return "dev" if self.testnet else "prod"

    @property
    def egress_domains(self) -> tuple[AllowedDomain, ...]:
        """allowedDomains plus the alert hosts (`infra.domains.alert_egress_hosts`)."""
        extra = [d for d in self.alert_domains if d not in self.allowed_domains]
        return (*self.allowed_domains, *extra)

    @property
    def network_firewall_targets(self) -> tuple[str, ...]:
        return tuple(d.network_firewall_target for d in self.egress_domains)

    @property
    def dns_firewall_domains(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for d in self.egress_domains for n in d.dns_firewall_domains))

    @property
    def non_binance_domains(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.allowed_domains if not d.is_binance)

    @property
    def alert_domains(self) -> tuple[AllowedDomain, ...]:
        """The alert services' host names every egress layer must let through."""
        return alert_egress_hosts(self.slack)

    @property
    def host_alert_hosts(self) -> tuple[str, ...]:
        """What the host's refresh resolves into the nftables set alert_v4 (host.env)."""
        return tuple(d.name for d in self.alert_domains)

    @property
    def email_sender_domain(self) -> str:
        """The SES identity alert email is sent from (the sender address's domain)."""
        return self.alert_email_from.rsplit("@", 1)[1].lower()


# --- value parsers: each returns the typed value or raises ValueError with a reason --------


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"must be true or false, got {value!r}")


def _as_int(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError(f"must be a whole number, got {value!r}")
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValueError(f"must be a whole number, got {value!r}") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}, got {number}")
        return number

    return parse


def _as_list(value: Any) -> list[Any]:
    # Pulumi hands structured config to the program as a JSON string.
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError("must be a YAML list") from None
    if not isinstance(value, list):
        raise ValueError("must be a YAML list")
    return value


def _as_str(pattern: re.Pattern[str], what: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or not pattern.match(value.strip()):
            raise ValueError(f"must be {what}, got {value!r}")
        return value.strip()

    return parse


def _as_cidr(value: Any) -> str:
    try:
        net = ipaddress.IPv4Network(str(value), strict=True)
    except ValueError:
        raise ValueError(f"must be an IPv4 network like 10.42.0.0/16, got {value!r}") from None
    if not net.is_private:
        raise ValueError(f"must be a private (RFC 1918) range, got {value}")
    if not 16 <= net.prefixlen <= 22:
        raise ValueError(f"prefix must be /16 to /22, got /{net.prefixlen}")
    return str(net)


def _as_log_retention(value: Any) -> int:
    days = _as_int(1, 3653)(value)
    if days < MIN_LOG_RETENTION_DAYS:
        raise ValueError(f"must be at least {MIN_LOG_RETENTION_DAYS} days (seed), got {days}")
    if days not in LOG_RETENTION_CHOICES:
        raise ValueError(f"must be one of {', '.join(map(str, LOG_RETENTION_CHOICES))}")
    return days


def _as_list_of(
    item: Callable[[Any], Any], *, non_empty: bool, max_items: int = 50
) -> Callable[[Any], tuple[Any, ...]]:
    def parse(value: Any) -> tuple[Any, ...]:
        items = _as_list(value)
        if non_empty and not items:
            raise ValueError("must list at least one entry")
        if len(items) > max_items:
            raise ValueError(f"lists {len(items)} entries; at most {max_items}")
        out, errors = [], []
        for i, entry in enumerate(items):
            try:
                out.append(item(entry))
            except ValueError as exc:
                errors.append(f"entry [{i}]: {exc}")
        if errors:
            raise ValueError("; ".join(errors))
        if len(set(out)) != len(out):
            raise ValueError("lists the same entry twice")
        return tuple(out)

    return parse


def _as_domain(entry: Any) -> AllowedDomain:
    try:
        return parse_allowed_domain(entry)
    except DomainError as exc:
        raise ValueError(str(exc)) from None


@dataclass(frozen=True)
class _Key:
    attr: str
    parse: Callable[[Any], Any]
    required: bool = False


KEYS: dict[str, _Key] = {
    # The one source of truth for what the host trades (TRADEWARDEN_MODE on the host).
    "mode": _Key(
        "mode", _as_str(re.compile(rf"^({'|'.join(MODES)})$"), "paper, testnet or live"), True
    ),
    # Which Binance network: implied by mode testnet (true) and live (false); a paper stack
    # must say it (paper against the testnet's or the live market data). When set next to a
    # mode that implies it, the two must agree.
    "testnet": _Key("testnet", _as_bool),
    "instanceType": _Key(
        "instance_type", _as_str(_INSTANCE_TYPE, "an EC2 instance type like t3.small")
    ),
    "availabilityZone": _Key(
        "availability_zone",
        _as_str(_AZ, "an availability zone name like eu-west-1a"),
        required=True,
    ),
    "vpcCidr": _Key("vpc_cidr", _as_cidr),
    # The firewall's rule group has a fixed capacity of 100 (two target types per domain).
    "allowedDomains": _Key(
        "allowed_domains", _as_list_of(_as_domain, non_empty=True, max_items=25)
    ),
    "alertEmails": _Key(
        "alert_emails",
        _as_list_of(_as_str(_EMAIL, "an e-mail address"), non_empty=True),
        required=True,
    ),
    # The sender of alert email (Amazon SES, through the VPC's email-smtp endpoint); its
    # domain becomes the stack's SES identity (DKIM records: stack output sesDkimRecords).
    "alertEmailFrom": _Key("alert_email_from", _as_str(_EMAIL, "an e-mail address"), required=True),
    # Slack on or off, said explicitly: on adds slack.com and hooks.slack.com to every
    # egress layer. The webhook URL / bot token live in the stack's slack secret, never here.
    "slack": _Key("slack", _as_bool, required=True),
    # The channel the daemon posts to with a bot token (TRADEWARDEN_SLACK_CHANNEL); required
    # with slack: true.
    "slackChannel": _Key(
        "slack_channel", _as_str(_SLACK_CHANNEL, "a Slack channel like #tradewarden-alerts")
    ),
    "alertSmsNumbers": _Key(
        "alert_sms_numbers",
        _as_list_of(_as_str(_E164, "an E.164 phone number like +447700900123"), non_empty=False),
    ),
    "adminRoleArn": _Key("admin_role_arn", _as_str(_ROLE_ARN, "an IAM role ARN"), required=True),
    "wheelVersion": _Key(
        "wheel_version", _as_str(_VERSION, "a release version like 0.1.0"), required=True
    ),
    # Where ops/cloud-init/build_release.py's bundle is uploaded; the host installs from it.
    "releaseBucket": _Key("release_bucket", _as_str(_BUCKET, "an S3 bucket name"), required=True),
    "amiId": _Key("ami_id", _as_str(_AMI_ID, "an AMI id like ami-0123456789abcdef0")),
    "rootVolumeSizeGb": _Key("root_volume_size_gb", _as_int(8, 1024)),
    "snapshotRetentionDays": _Key("snapshot_retention_days", _as_int(1, 365)),
    # Days a backup stays current in the backup bucket (S3 lifecycle expiration).
    "backupRetentionDays": _Key(
        "backup_retention_days", _as_int(MIN_BACKUP_RETENTION_DAYS, MAX_BACKUP_RETENTION_DAYS)
    ),
    "logRetentionDays": _Key("log_retention_days", _as_log_retention),
    "cpuAlarmThresholdPercent": _Key("cpu_alarm_threshold_percent", _as_int(1, 100)),
    "heartbeatMissingMinutes": _Key("heartbeat_missing_minutes", _as_int(1, 60)),
    "protect": _Key("protect", _as_bool),
    # Binance USD-M futures: adds .binancefuture.com to the default allow-list.
    "futures": _Key("futures", _as_bool),
    "backupLockMode": _Key(
        "backup_lock_mode",
        _as_str(re.compile(r"^(GOVERNANCE|COMPLIANCE)$"), "GOVERNANCE or COMPLIANCE"),
    ),
    # Days each backup version is locked (S3 Object Lock default retention); at most the
    # backup retention. Default: backupRetentionDays.
    "backupLockDays": _Key("backup_lock_days", _as_int(1, MAX_BACKUP_RETENTION_DAYS)),
    # --- Amazon Managed Grafana (checked together by _grafana_problems) ---
    "grafanaEnabled": _Key("grafana_enabled", _as_bool),
    "grafanaAuthProviders": _Key(
        "grafana_auth_providers",
        _as_list_of(_as_str(_GRAFANA_AUTH, "AWS_SSO or SAML"), non_empty=True, max_items=2),
    ),
    # AWS_SSO: an IAM Identity Center group id; SAML: the role assertion value of admins.
    "grafanaAdminGroup": _Key(
        "grafana_admin_group", _as_str(_GRAFANA_GROUP, "a group id or SAML role value")
    ),
    "grafanaSamlMetadataUrl": _Key(
        "grafana_saml_metadata_url", _as_str(_HTTPS_URL, "an https:// URL of the IdP metadata")
    ),
}

DEFAULTS: dict[str, Any] = {
    "instance_type": "t3.small",
    "vpc_cidr": "10.42.0.0/16",
}


def load_stack_config(raw: Mapping[str, Any], stack: str) -> StackConfig:
    """Validate a stack's raw config (keys like ``tradewarden:alertEmails``).

    Collects every problem, then raises one `ConfigError` naming each offending key.
    """
    problems: list[str] = []
    if not _STACK_NAME.match(stack):
        problems.append(
            f"stack name {stack!r}: must be 1-24 lowercase letters, digits or dashes "
            "(it is part of every secret and alarm name)"
        )
    prefix = NAMESPACE + ":"
    ours = {k[len(prefix) :]: v for k, v in raw.items() if k.startswith(prefix)}
    values: dict[str, Any] = dict(DEFAULTS)
    for key in sorted(ours):
        if key not in KEYS:
            known = ", ".join(sorted(KEYS))
            problems.append(f"{prefix}{key}: unknown key (known keys: {known})")
            continue
        spec = KEYS[key]
        try:
            values[spec.attr] = spec.parse(ours[key])
        except ValueError as exc:
            problems.append(f"{prefix}{key}: {exc}")
    for key, spec in KEYS.items():
        if spec.required and key not in ours:
            problems.append(f"{prefix}{key}: required but not set")
    problems += _mode_problems(stack, values, "testnet" in ours)
    problems += _slack_problems(values)
    if "testnet" in values:  # (unknown with a bad or missing mode)
        problems += _lock_problems(stack, values)
        if _live_capable(stack, values):
            problems += [
                f"{prefix}{key}: a live-capable stack sets it explicitly (no default in prod)"
                for key in PROD_EXPLICIT_KEYS
                if key not in ours
            ]
    problems += _grafana_problems(values, problems)
    if problems:
        raise ConfigError(stack, problems)
    if "allowed_domains" not in values:
        values["allowed_domains"] = tuple(
            parse_allowed_domain(d)
            for d in default_allowlist(values["testnet"], values.get("futures", False))
        )
    return StackConfig(stack=stack, **values)


# Keys with a default that a live-capable stack (prod, or any stack on the live network)
# must still write out: what runs with real money is read from its stack file, not from
# this module's defaults.
PROD_EXPLICIT_KEYS = (
    "instanceType",
    "vpcCidr",
    "rootVolumeSizeGb",
    "snapshotRetentionDays",
    "backupRetentionDays",
    "backupLockMode",
    "backupLockDays",
    "logRetentionDays",
    "cpuAlarmThresholdPercent",
    "heartbeatMissingMinutes",
    "protect",
)


def _live_capable(stack: str, values: dict[str, Any]) -> bool:
    return stack == "prod" or not values["testnet"]


# The Binance network each mode implies (paper: either, the stack must say which).
_MODE_TESTNET = {"testnet": True, "live": False}


def _mode_problems(stack: str, values: dict[str, Any], testnet_set: bool) -> list[str]:
    """`mode` decides; `testnet` follows from it (or is given for paper) and must agree."""
    mode = values.get("mode")
    if mode is None:
        return []  # reported as required
    implied = _MODE_TESTNET.get(mode)
    if implied is None and not testnet_set:
        return [
            f"{NAMESPACE}:testnet: required with {NAMESPACE}:mode paper (paper trades "
            "against the Binance testnet's market data (true) or the live one (false))"
        ]
    if implied is not None and "testnet" in values and values["testnet"] is not implied:
        return [
            f"{NAMESPACE}:mode / {NAMESPACE}:testnet: mode {mode} means testnet "
            f"{str(implied).lower()}, but testnet is {str(values['testnet']).lower()} "
            "(drop testnet: the mode decides)"
        ]
    if implied is not None:
        values.setdefault("testnet", implied)
    if mode == "live" and stack == "dev":
        # The dev profile refuses live endpoints: the daemon would never trade live.
        return [f"{NAMESPACE}:mode: live on stack dev (the dev profile refuses live)"]
    if mode == "testnet" and stack == "prod":
        # The prod profile refuses testnet endpoints and keys (tradewarden.live.gate): the daemon
        # would fall back to paper while the stack says testnet.
        return [
            f"{NAMESPACE}:mode: testnet on stack prod (the prod profile refuses testnet: "
            "the host would trade paper)"
        ]
    return []


def _slack_problems(values: dict[str, Any]) -> list[str]:
    if values.get("slack") is True and not values.get("slack_channel"):
        return [
            f"{NAMESPACE}:slackChannel: required with {NAMESPACE}:slack true "
            "(the channel the daemon posts to)"
        ]
    if values.get("slack") is False and values.get("slack_channel"):
        return [f"{NAMESPACE}:slackChannel: set but {NAMESPACE}:slack is false"]
    return []


def _lock_problems(stack: str, values: dict[str, Any]) -> list[str]:
    """Fill the Object Lock defaults; prod cannot weaken them or its resource protection
    (safety limits)."""
    prod = _live_capable(stack, values)
    values.setdefault("backup_lock_mode", "COMPLIANCE" if prod else "GOVERNANCE")
    retention = values.get("backup_retention_days", StackConfig.backup_retention_days)
    values.setdefault("backup_lock_days", retention)
    out = []
    if prod and values.get("protect") is not True:
        # The NAT address the keys are bound to, the KMS key, the log groups (the audit
        # history), the firewall's delete protection: not to be switched off in prod.
        out.append(
            f"{NAMESPACE}:protect: a live-capable stack must set protect: true (got "
            f"{values.get('protect', 'unset')})"
        )
    if prod and values["backup_lock_mode"] != "COMPLIANCE":
        out.append(
            f"{NAMESPACE}:backupLockMode: a live-capable stack locks its backups in COMPLIANCE "
            f"mode, got {values['backup_lock_mode']}"
        )
    if values["backup_lock_days"] > retention:
        out.append(
            f"{NAMESPACE}:backupLockDays: must not exceed backupRetentionDays ({retention}), "
            f"got {values['backup_lock_days']}"
        )
    return out


def _grafana_problems(values: dict[str, Any], found: list[str]) -> list[str]:
    """An enabled Grafana needs its sign-in (AWS_SSO and/or SAML) and its admin group; SAML
    needs the IdP's metadata. With grafanaEnabled false (the default) the other grafana*
    keys are ignored and nothing Grafana-related is created (the Amazon Managed Prometheus
    workspace and the host's remote_write are always there)."""
    if not values.get("grafana_enabled"):
        return []
    out: list[str] = []
    said = " ".join(found)  # a key already reported as malformed is not also "missing"
    providers = values.get("grafana_auth_providers", ())
    if not providers and f"{NAMESPACE}:grafanaAuthProviders:" not in said:
        out.append(
            f"{NAMESPACE}:grafanaAuthProviders: required when grafanaEnabled is true "
            "(AWS_SSO and/or SAML)"
        )
    if not values.get("grafana_admin_group") and f"{NAMESPACE}:grafanaAdminGroup:" not in said:
        out.append(
            f"{NAMESPACE}:grafanaAdminGroup: required when grafanaEnabled is true (the IAM "
            "Identity Center group id, or the SAML role value, of Grafana's admins)"
        )
    saml_url_said = f"{NAMESPACE}:grafanaSamlMetadataUrl:" in said
    if "SAML" in providers and not values.get("grafana_saml_metadata_url") and not saml_url_said:
        out.append(
            f"{NAMESPACE}:grafanaSamlMetadataUrl: required when grafanaAuthProviders lists SAML"
        )
    return out


# Where the stack files live (the project root); `infra.offline` points it elsewhere for
# stacks that exist only in a test.
STACK_FILE_DIR = Path(__file__).resolve().parent.parent


def stack_file_keys(stack: str, directory: Path | None = None) -> set[str]:
    """The ``tradewarden:*`` keys ``Pulumi.<stack>.yaml`` sets (to name a misspelt one)."""
    import yaml

    path = (directory or STACK_FILE_DIR) / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        return set()
    config = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("config") or {}
    return {k for k in config if isinstance(k, str) and k.startswith(NAMESPACE + ":")}


def ses_identity_clashes(
    stack: str, cfg: StackConfig, account: str, region: str, directory: Path | None = None
) -> list[str]:
    """The other stack files (next to this one) that send alert email from the same domain
    in the same account and region. An SES identity exists once there: the second stack's
    `pulumi up` fails on it (after creating its host), and destroying either stack deletes
    the identity the other sends from."""
    import yaml

    out = []
    for path in sorted((directory or STACK_FILE_DIR).glob("Pulumi.*.yaml")):
        other = path.name[len("Pulumi.") : -len(".yaml")]
        if other == stack:
            continue
        try:
            config = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("config")
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(config, dict):
            continue
        sender, role = (
            config.get(f"{NAMESPACE}:alertEmailFrom"),
            config.get(f"{NAMESPACE}:adminRoleArn"),
        )
        if not isinstance(sender, str) or not isinstance(role, str) or "@" not in sender:
            continue
        parts = role.split(":")
        if len(parts) < 5 or parts[4] != account or config.get("aws:region") != region:
            continue
        if sender.strip().rsplit("@", 1)[1].lower() == cfg.email_sender_domain:
            out.append(
                f"{NAMESPACE}:alertEmailFrom: the domain {cfg.email_sender_domain} is also the "
                f"SES identity of stack {other} in account {account} ({region}); an identity "
                "belongs to one stack (give each its own sender domain, e.g. a subdomain)"
            )
    return out


def load_from_pulumi() -> StackConfig:
    """The current stack's validated config, read through `pulumi.Config`.

    Every known key is read with ``pulumi.Config("tradewarden").get``; a key the stack file
    sets that this program does not know is reported as unknown (a typo must not silently
    fall back to a default).
    """
    import pulumi

    stack = pulumi.get_stack()
    config = pulumi.Config(NAMESPACE)
    raw: dict[str, Any] = {}
    for key in KEYS:
        value = config.get(key)
        if value is not None:
            raw[f"{NAMESPACE}:{key}"] = value
    for key in stack_file_keys(stack):
        raw.setdefault(key, config.get(key.split(":", 1)[1]))
    return load_stack_config(raw, stack)
