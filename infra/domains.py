"""Domain names: parsing the egress allow-list and the AWS names the host must resolve.

Allow-list entries come in two forms:

* an exact host name, ``api.binance.com``;
* a wildcard, ``.binance.com`` or ``*.binance.com``: the domain and all its subdomains.

A wildcard must lie inside the Binance domains (``binance.com``, ``binancefuture.com``,
``binance.vision``); anything broader (``*``, ``.com``, ``*.amazonaws.com``) is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BINANCE_BASE_DOMAINS: tuple[str, ...] = ("binance.com", "binancefuture.com", "binance.vision")
# Spot only: the daemon trades spot. `.binancefuture.com` (USD-M futures, live and testnet)
# is added only on a stack that sets tradewarden:futures.
BINANCE_LIVE_ALLOWLIST: tuple[str, ...] = (".binance.com",)
BINANCE_TESTNET_ALLOWLIST: tuple[str, ...] = (*BINANCE_LIVE_ALLOWLIST, ".binance.vision")
BINANCE_FUTURES_ALLOWLIST: tuple[str, ...] = (".binancefuture.com",)

# The Slack hosts the alert senders post to: the daemon's bot token goes to the Web API
# (https://slack.com/api/, tradewarden.alerts.slack.SlackChannel), its incoming webhook and
# Alertmanager's slack_configs (api_url_file) to https://hooks.slack.com/services/...
SLACK_HOSTS: tuple[str, ...] = ("hooks.slack.com", "slack.com")

# Amazon SES SMTP, reached only through its VPC interface endpoint (private DNS), port 587
# with STARTTLS; the host never speaks SMTP to anything else.
SES_SMTP_SERVICE = "email-smtp"
SES_SMTP_PORT = 587

# Interface endpoints the host needs so that AWS traffic never leaves the VPC.
INTERFACE_ENDPOINT_SERVICES: tuple[str, ...] = (
    "ssm",
    "ssmmessages",
    "ec2messages",
    "secretsmanager",
    "kms",
    "logs",
    "monitoring",
    "sts",
    "sns",
)

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_LABELS = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_HOSTNAME = re.compile(rf"^{_LABEL}(\.{_LABEL})*\.[a-z]{{2,63}}$")


class DomainError(ValueError):
    """An allow-list entry is not acceptable; the message says why."""


@dataclass(frozen=True)
class AllowedDomain:
    """One parsed allow-list entry."""

    name: str  # bare domain, e.g. "binance.com" or "api.binance.com"
    wildcard: bool  # True: the domain and every subdomain

    @property
    def network_firewall_target(self) -> str:
        """AWS Network Firewall domain-list syntax: a leading dot means "and subdomains"."""
        return f".{self.name}" if self.wildcard else self.name

    @property
    def dns_firewall_domains(self) -> tuple[str, ...]:
        """Route 53 DNS Firewall syntax: ``*.x`` does not match ``x`` itself, so list both."""
        return (self.name, f"*.{self.name}") if self.wildcard else (self.name,)

    @property
    def is_binance(self) -> bool:
        return any(_within(self.name, base) for base in BINANCE_BASE_DOMAINS)


def _within(name: str, base: str) -> bool:
    return name == base or name.endswith("." + base)


def parse_allowed_domain(entry: object) -> AllowedDomain:
    """Parse one allow-list entry or raise `DomainError` saying what is wrong with it."""
    if not isinstance(entry, str) or not entry.strip():
        raise DomainError(f"{entry!r} is not a domain name")
    text = entry.strip().lower().rstrip(".")
    wildcard = False
    if text.startswith("*."):
        wildcard, text = True, text[2:]
    elif text.startswith("."):
        wildcard, text = True, text[1:]
    broader = DomainError(
        f"{entry!r} is a wildcard broader than the Binance list "
        f"(wildcards must lie within {', '.join(BINANCE_BASE_DOMAINS)})"
    )
    if "*" in text or text == "":
        raise broader
    if not _LABELS.match(text):
        raise DomainError(f"{entry!r} is not a domain name")
    parsed = AllowedDomain(name=text, wildcard=wildcard)
    if wildcard and not parsed.is_binance:
        raise broader
    if not _HOSTNAME.match(text):
        raise DomainError(f"{entry!r} is not a domain name")
    return parsed


def alert_egress_hosts(slack: bool) -> tuple[AllowedDomain, ...]:
    """The alert destinations' host names outside AWS: the one place the Network Firewall's
    SNI list, the DNS Firewall's allow list and the host's nftables allow-list take them
    from (infra/components/network.py, infra/cloud_init.py -> host.env
    TRADEWARDEN_EGRESS_ALERT_HOSTS -> ops/nftables/refresh-allowlist.py). Email needs
    none: it goes to SES through the VPC endpoint."""
    return tuple(parse_allowed_domain(h) for h in SLACK_HOSTS) if slack else ()


def ses_smtp_host(region: str) -> str:
    """The SES SMTP name; the email-smtp endpoint's private DNS answers it inside the VPC."""
    return f"{SES_SMTP_SERVICE}.{region}.amazonaws.com"


def default_allowlist(testnet: bool, futures: bool = False) -> tuple[str, ...]:
    spot = BINANCE_TESTNET_ALLOWLIST if testnet else BINANCE_LIVE_ALLOWLIST
    return spot + (BINANCE_FUTURES_ALLOWLIST if futures else ())


def aws_service_domains(region: str) -> tuple[str, ...]:
    """Names the host resolves to reach AWS privately (interface and S3 gateway endpoints)."""
    names = [f"{svc}.{region}.amazonaws.com" for svc in INTERFACE_ENDPOINT_SERVICES]
    names.append(ses_smtp_host(region))
    names += [
        # S3 through the gateway endpoint: Amazon Linux package repositories and the
        # release bucket (virtual-hosted and dual-stack names).
        f"s3.{region}.amazonaws.com",
        f"*.s3.{region}.amazonaws.com",
        f"s3.dualstack.{region}.amazonaws.com",
        f"*.s3.dualstack.{region}.amazonaws.com",
        # Amazon Managed Prometheus (remote_write) through its interface endpoint
        # (infra/components/monitoring.py).
        f"aps-workspaces.{region}.amazonaws.com",
        # The instance's own private host name (reverse and forward lookups).
        f"{region}.compute.internal",
        f"*.{region}.compute.internal",
    ]
    if region == "us-east-1":
        names += ["ec2.internal", "*.ec2.internal"]
    return tuple(names)
