"""The pack's policies: each check of `checks` wrapped as a mandatory CrossGuard policy.

Constructing policies is side-effect free; only `infra/policy/__main__.py` builds the
`PolicyPack` (which starts the analyzer server Pulumi talks to).
"""

from __future__ import annotations

from collections.abc import Callable

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra.policy import checks

PACK_NAME = "tradewarden-guardrails"

DESCRIPTIONS: dict[str, str] = {
    "no-security-group-ingress": (
        "Security groups accept no ingress (only HTTPS, or SMTP submission 587, from another "
        "security group, for the VPC endpoints)."
    ),
    "egress-https-and-dns-only": (
        "Security groups send only TCP 443, DNS to the resolver, and TCP 587 inside the VPC "
        "(the SES SMTP endpoint)."
    ),
    "imdsv2-required": "Instances require IMDSv2 tokens with a hop limit of 1.",
    "no-public-ip": "No public IP on instances, no public subnets by default, no attached EIP.",
    "customer-kms-encryption": (
        "EBS volumes, secrets, SNS topics, log groups, Prometheus (AMP) workspaces and S3 "
        "default encryption use a customer-managed KMS key."
    ),
    "iam-no-wildcards": (
        "IAM policies have no '*' action and no '*' resource; SES sending names every "
        "recipient; IAM users take no managed policy or group."
    ),
    "egress-firewall-resources-fail-closed": (
        "Each egress-firewall resource fails closed on its own: the firewall policy drops by "
        "default in strict order, the DNS Firewall config is fail-closed, domain lists are "
        "no wider than the allow-list."
    ),
    "nfw-rule-groups-drop-or-allowlist": (
        "Network Firewall rule groups never pass traffic, except the Binance domain allow-list."
    ),
    "s3-bucket-settings-locked-down": (
        "Bucket settings: all four public access blocks, versioning Enabled, Object Lock with "
        "a default retention."
    ),
    "resource-policies-no-wildcards": (
        "KMS key, bucket, secret, topic and VPC endpoint policies allow no wildcard principal "
        "or action unless pinned to this account (aws:PrincipalAccount/aws:ResourceAccount)."
    ),
    "resource-policies-this-account": (
        "KMS key, bucket, secret, topic and VPC endpoint policies name no account but the "
        "stack's (the AWS provider's allowedAccountIds) in principals and account conditions."
    ),
    "no-destructive-grants": (
        "No IAM, key, bucket, secret or topic policy grants erasing history (backups, Object "
        "Lock, logs, the key, snapshots, the AMP workspace) or changing the host's egress "
        "(firewalls, DNS Firewall, routes, security groups, IAM)."
    ),
    "dns-allow-list-narrow": (
        "No DNS Firewall ALLOW or ALERT rule covers '*' or a wildcard wider than the "
        "allow-list, or a domain list outside the stack."
    ),
    "host-egress-through-firewall": (
        "The host's subnet routes everything leaving the VPC through the Network Firewall "
        "endpoint: no route to a NAT or gateway around it."
    ),
    "egress-firewalls-fail-closed": (
        "Network Firewall with a Binance domain allow-list and default drop, and a fail-closed "
        "DNS Firewall that blocks every other name, are present."
    ),
    "host-unreachable": "The host's security groups have no ingress at all.",
    "host-role-inline-policies-only": (
        "The host role has no managed policies: all its permissions are auditable inline."
    ),
    "s3-buckets-private-encrypted-versioned": (
        "Every S3 bucket (the backups) has customer-KMS default encryption, all four public "
        "access blocks on, and versioning enabled."
    ),
}


ResourceValidator = Callable[[ResourceValidationArgs, ReportViolation], None]
StackValidator = Callable[[StackValidationArgs, ReportViolation], None]


def resource_validator(check: checks.ResourceCheck) -> ResourceValidator:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in check(args.resource_type, args.props):
            report_violation(message, None)

    return validate


def stack_validator(check: checks.StackCheck) -> StackValidator:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for message, urn in check(args.resources):
            report_violation(message, urn)

    return validate


def resource_policies_validator() -> ResourceValidator:
    """`resource-policies-no-wildcards`, plus the accounts named, checked against the
    resource's provider's allowedAccountIds (known when the resource is; so a policy text
    unknown at preview is still checked before the resource is created)."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in checks.check_resource_policies(args.resource_type, args.props):
            report_violation(message, None)
        provider = args.provider.props if args.provider is not None else None
        accounts = checks.provider_accounts(provider)
        for message in checks.check_resource_policy_accounts(
            args.resource_type, args.props, accounts
        ):
            report_violation(message, None)

    return validate


def build_policies() -> list[ResourceValidationPolicy | StackValidationPolicy]:
    policies: list[ResourceValidationPolicy | StackValidationPolicy] = []
    for name, check in checks.RESOURCE_CHECKS.items():
        policies.append(
            ResourceValidationPolicy(
                name=name,
                description=DESCRIPTIONS[name],
                validate=(
                    resource_policies_validator()
                    if name == "resource-policies-no-wildcards"
                    else resource_validator(check)
                ),
                enforcement_level=EnforcementLevel.MANDATORY,
            )
        )
    for name, stack_check in checks.STACK_CHECKS.items():
        policies.append(
            StackValidationPolicy(
                name=name,
                description=DESCRIPTIONS[name],
                validate=stack_validator(stack_check),
                enforcement_level=EnforcementLevel.MANDATORY,
            )
        )
    return policies
