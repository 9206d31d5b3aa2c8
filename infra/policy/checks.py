"""The policy checks, as plain functions over Pulumi property bags.

Resource checks take ``(resource_type, props)`` and return violation messages; stack checks
take the whole list of resources. Property names are Pulumi's (camelCase). During
``pulumi preview`` some values are unknown: reading one raises pulumi-policy's
``UnknownValueError`` and the engine re-runs the check at ``pulumi up`` with real values,
before the resource is created. The checks never swallow that exception.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from infra.domains import DomainError, parse_allowed_domain

Props = Mapping[str, Any]
ResourceCheck = Callable[[str, Props], list[str]]

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
VPC_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
VPC_EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
SUBNET = "aws:ec2/subnet:Subnet"
EIP = "aws:ec2/eip:Eip"
EIP_ASSOCIATION = "aws:ec2/eipAssociation:EipAssociation"
EBS_VOLUME = "aws:ebs/volume:Volume"
# A resource type token, not a secret value.
SECRET = "aws:secretsmanager/secret:Secret"  # noqa: S105  # nosec B105
TOPIC = "aws:sns/topic:Topic"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
IAM_ROLE = "aws:iam/role:Role"
IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_POLICY = "aws:iam/policy:Policy"
IAM_USER_POLICY = "aws:iam/userPolicy:UserPolicy"
IAM_GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
IAM_ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
IAM_POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
INSTANCE_PROFILE = "aws:iam/instanceProfile:InstanceProfile"
VPC = "aws:ec2/vpc:Vpc"
NFW_FIREWALL = "aws:networkfirewall/firewall:Firewall"
NFW_POLICY = "aws:networkfirewall/firewallPolicy:FirewallPolicy"
NFW_RULE_GROUP = "aws:networkfirewall/ruleGroup:RuleGroup"
DNS_DOMAIN_LIST = "aws:route53/resolverFirewallDomainList:ResolverFirewallDomainList"
DNS_RULE = "aws:route53/resolverFirewallRule:ResolverFirewallRule"
DNS_ASSOCIATION = (
    "aws:route53/resolverFirewallRuleGroupAssociation:ResolverFirewallRuleGroupAssociation"
)
DNS_CONFIG = "aws:route53/resolverFirewallConfig:ResolverFirewallConfig"
S3_BUCKET = "aws:s3/bucket:Bucket"
S3_BUCKET_SSE = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
S3_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_BUCKET_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
S3_KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
PUBLIC_ACCESS_BLOCK_FLAGS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)

ANYWHERE = ("0.0.0.0/0", "::/0")
AWS_MANAGED_KEY_PREFIX = "alias/aws/"
DROP_ACTIONS = ("aws:drop_established", "aws:drop_strict")

# Actions for which AWS offers no resource type: they can only be granted on "*", and this
# pack accepts that only when the statement also carries a Condition.
ACTIONS_WITHOUT_RESOURCE_TYPES = frozenset(
    {
        "cloudwatch:PutMetricData",
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
    }
)


# --- small helpers ------------------------------------------------------------------------


def _items(value: Any) -> list[Any]:
    """A property that should be a list (a proxy `Sequence` under the policy engine)."""
    if value is None or isinstance(value, str | bytes):
        return []
    if isinstance(value, Sequence):
        return [value[i] for i in range(len(value))]
    return []


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    return [v for v in _items(value) if isinstance(v, str) and v]


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _is_tcp(protocol: Any) -> bool:
    return str(protocol).lower() in ("tcp", "6")


def _is_udp(protocol: Any) -> bool:
    return str(protocol).lower() in ("udp", "17")


def _single_port(from_port: Any, to_port: Any) -> int | None:
    low, high = _num(from_port), _num(to_port)
    if low is None or high is None or low != high:
        return None
    return int(low)


# --- security groups ----------------------------------------------------------------------


def _https_from_security_group_only(
    protocol: Any, port: int | None, sources: list[str], cidrs: list[str], self_ref: bool
) -> bool:
    return _is_tcp(protocol) and port == 443 and bool(sources) and not cidrs and not self_ref


def check_no_ingress(resource_type: str, props: Props) -> list[str]:
    """No security group accepts traffic, except HTTPS from another security group.

    That one exception lets the host reach the VPC interface endpoints; the host's own
    security group must have no ingress at all (see `check_host_unreachable`).
    """
    out: list[str] = []
    if resource_type in (SECURITY_GROUP, DEFAULT_SECURITY_GROUP):
        for i, rule in enumerate(_items(props.get("ingress"))):
            ok = resource_type == SECURITY_GROUP and _https_from_security_group_only(
                rule.get("protocol"),
                _single_port(rule.get("fromPort"), rule.get("toPort")),
                _strings(rule.get("securityGroups")),
                _strings(rule.get("cidrBlocks"))
                + _strings(rule.get("ipv6CidrBlocks"))
                + _strings(rule.get("prefixListIds")),
                _truthy(rule.get("self")),
            )
            if not ok:
                out.append(f"ingress rule {i} opens the security group; no ingress is allowed")
    elif resource_type == SECURITY_GROUP_RULE and props.get("type") == "ingress":
        ok = _https_from_security_group_only(
            props.get("protocol"),
            _single_port(props.get("fromPort"), props.get("toPort")),
            _strings(props.get("sourceSecurityGroupId")),
            _strings(props.get("cidrBlocks"))
            + _strings(props.get("ipv6CidrBlocks"))
            + _strings(props.get("prefixListIds")),
            _truthy(props.get("self")),
        )
        if not ok:
            out.append("ingress rule opens a security group; no ingress is allowed")
    elif resource_type == VPC_INGRESS_RULE:
        ok = _https_from_security_group_only(
            props.get("ipProtocol"),
            _single_port(props.get("fromPort"), props.get("toPort")),
            _strings(props.get("referencedSecurityGroupId")),
            _strings(props.get("cidrIpv4"))
            + _strings(props.get("cidrIpv6"))
            + _strings(props.get("prefixListId")),
            False,
        )
        if not ok:
            out.append("ingress rule opens a security group; no ingress is allowed")
    return out


def _egress_problem(protocol: Any, port: int | None, destinations: list[str]) -> str | None:
    if _is_tcp(protocol) and port == 443:
        return None
    if (_is_tcp(protocol) or _is_udp(protocol)) and port == 53:
        if any(d in ANYWHERE for d in destinations) or not destinations:
            return "DNS egress must go to the VPC resolver, not anywhere"
        return None
    return f"egress {protocol} port {port if port is not None else 'range'}: only 443 and 53"


def check_egress_https_dns_only(resource_type: str, props: Props) -> list[str]:
    """Security groups may send only TCP 443, and DNS (53) to a named resolver."""
    out: list[str] = []
    if resource_type in (SECURITY_GROUP, DEFAULT_SECURITY_GROUP):
        for i, rule in enumerate(_items(props.get("egress"))):
            problem = _egress_problem(
                rule.get("protocol"),
                _single_port(rule.get("fromPort"), rule.get("toPort")),
                _strings(rule.get("cidrBlocks")) + _strings(rule.get("ipv6CidrBlocks")),
            )
            if problem:
                out.append(f"egress rule {i}: {problem}")
    elif resource_type == SECURITY_GROUP_RULE and props.get("type") == "egress":
        problem = _egress_problem(
            props.get("protocol"),
            _single_port(props.get("fromPort"), props.get("toPort")),
            _strings(props.get("cidrBlocks")) + _strings(props.get("ipv6CidrBlocks")),
        )
        if problem:
            out.append(problem)
    elif resource_type == VPC_EGRESS_RULE:
        problem = _egress_problem(
            props.get("ipProtocol"),
            _single_port(props.get("fromPort"), props.get("toPort")),
            _strings(props.get("cidrIpv4")) + _strings(props.get("cidrIpv6")),
        )
        if problem:
            out.append(problem)
    return out


# --- instances ----------------------------------------------------------------------------


def check_imdsv2(resource_type: str, props: Props) -> list[str]:
    """IMDSv2 only (session tokens required), hop limit 1 so containers cannot reach it."""
    if resource_type not in (INSTANCE, LAUNCH_TEMPLATE):
        return []
    options = props.get("metadataOptions") or {}
    out = []
    if options.get("httpTokens") != "required":
        out.append("metadataOptions.httpTokens must be 'required' (IMDSv2 only)")
    if _num(options.get("httpPutResponseHopLimit")) != 1:
        out.append("metadataOptions.httpPutResponseHopLimit must be 1")
    return out


def check_no_public_ip(resource_type: str, props: Props) -> list[str]:
    """No public address on the host: none at launch, none mapped, no EIP attached."""
    if resource_type == INSTANCE:
        if props.get("associatePublicIpAddress") is not False:
            return ["associatePublicIpAddress must be set to false"]
        for i, nic in enumerate(_items(props.get("networkInterfaces"))):
            if _truthy(nic.get("associatePublicIpAddress")):
                return [f"networkInterfaces[{i}] associates a public IP"]
    elif resource_type == LAUNCH_TEMPLATE:
        for i, nic in enumerate(_items(props.get("networkInterfaces"))):
            if _truthy(nic.get("associatePublicIpAddress")):
                return [f"networkInterfaces[{i}] associates a public IP"]
    elif resource_type == SUBNET:
        if _truthy(props.get("mapPublicIpOnLaunch")):
            return ["mapPublicIpOnLaunch must be false"]
    elif resource_type == EIP:
        if props.get("instance") or props.get("networkInterface"):
            return ["an Elastic IP must not be attached to an instance or interface"]
    elif resource_type == EIP_ASSOCIATION:
        return ["Elastic IP associations are not allowed"]
    return []


# --- encryption ---------------------------------------------------------------------------


def _customer_key(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and not value.startswith(AWS_MANAGED_KEY_PREFIX)


def _bucket_sse_problems(props: Props) -> list[str]:
    rules = _items(props.get("rules"))
    if not rules:
        return ["the bucket encryption configuration has no rule"]
    out = []
    for i, rule in enumerate(rules):
        default = rule.get("applyServerSideEncryptionByDefault") or {}
        if default.get("sseAlgorithm") not in S3_KMS_ALGORITHMS or not _customer_key(
            default.get("kmsMasterKeyId")
        ):
            out.append(
                f"rules[{i}] must encrypt with aws:kms and a customer KMS key (kmsMasterKeyId)"
            )
    return out


def check_customer_kms_encryption(resource_type: str, props: Props) -> list[str]:
    """Volumes, secrets, topics, log groups and S3 default encryption use a customer KMS key."""
    out: list[str] = []
    if resource_type == INSTANCE:
        root = props.get("rootBlockDevice") or {}
        if not _truthy(root.get("encrypted")) or not _customer_key(root.get("kmsKeyId")):
            out.append("rootBlockDevice must be encrypted with a customer KMS key (kmsKeyId)")
        for i, dev in enumerate(_items(props.get("ebsBlockDevices"))):
            if not _truthy(dev.get("encrypted")) or not _customer_key(dev.get("kmsKeyId")):
                out.append(f"ebsBlockDevices[{i}] must be encrypted with a customer KMS key")
    elif resource_type == EBS_VOLUME:
        if not _truthy(props.get("encrypted")) or not _customer_key(props.get("kmsKeyId")):
            out.append("the volume must be encrypted with a customer KMS key (kmsKeyId)")
    elif resource_type == SECRET:
        if not _customer_key(props.get("kmsKeyId")):
            out.append("the secret must be encrypted with a customer KMS key (kmsKeyId)")
    elif resource_type == TOPIC:
        if not _customer_key(props.get("kmsMasterKeyId")):
            out.append("the topic must be encrypted with a customer KMS key (kmsMasterKeyId)")
    elif resource_type == LOG_GROUP:
        if not _customer_key(props.get("kmsKeyId")):
            out.append("the log group must be encrypted with a customer KMS key (kmsKeyId)")
    elif resource_type == S3_BUCKET_SSE:
        out.extend(_bucket_sse_problems(props))
    return out


# --- IAM ----------------------------------------------------------------------------------


def _policy_documents(resource_type: str, props: Props) -> list[Any]:
    if resource_type in (IAM_ROLE_POLICY, IAM_POLICY, IAM_USER_POLICY, IAM_GROUP_POLICY):
        return [props.get("policy")]
    if resource_type == IAM_ROLE:
        return [p.get("policy") for p in _items(props.get("inlinePolicies"))]
    return []


def _broad_arn(resource: str) -> bool:
    if resource == "*":
        return True
    parts = resource.split(":", 5)
    if len(parts) < 6:
        return True  # not an ARN: treat as unscoped
    service, region, account, rest = parts[2], parts[3], parts[4], parts[5]
    return "*" in service or "*" in region or "*" in account or rest in ("*", "")


def policy_document_problems(document: Any) -> list[str]:
    """Problems of one IAM policy document (JSON text or mapping) under this pack's rules."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            return ["policy is not valid JSON"]
    if not isinstance(document, Mapping):
        return ["policy is not a JSON object"]
    statements = document.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    out: list[str] = []
    for i, st in enumerate(_items(statements)):
        if not isinstance(st, Mapping) or st.get("Effect") != "Allow":
            continue
        label = f"statement {st.get('Sid') or i}"
        if "NotAction" in st or "NotResource" in st:
            out.append(f"{label}: Allow with NotAction/NotResource grants too much")
            continue
        actions = _strings(st.get("Action"))
        resources = _strings(st.get("Resource"))
        for action in actions:
            if "*" in action:
                out.append(f"{label}: wildcard action {action!r}")
        for resource in resources:
            if not _broad_arn(resource):
                continue
            unscoped_ok = (
                resource == "*"
                and bool(st.get("Condition"))
                and bool(actions)
                and all(a in ACTIONS_WITHOUT_RESOURCE_TYPES for a in actions)
            )
            if not unscoped_ok:
                out.append(f"{label}: wildcard resource {resource!r}")
        if not resources:
            out.append(f"{label}: no Resource")
    return out


def check_iam_no_wildcards(resource_type: str, props: Props) -> list[str]:
    """No ``*`` action and no ``*`` resource in customer IAM policies.

    The single exception: actions AWS gives no resource type (SSM session channels,
    PutMetricData) may use ``"Resource": "*"`` when the statement has a Condition.
    """
    out: list[str] = []
    for doc in _policy_documents(resource_type, props):
        out.extend(policy_document_problems(doc))
    return out


RESOURCE_CHECKS: dict[str, ResourceCheck] = {
    "no-security-group-ingress": check_no_ingress,
    "egress-https-and-dns-only": check_egress_https_dns_only,
    "imdsv2-required": check_imdsv2,
    "no-public-ip": check_no_public_ip,
    "customer-kms-encryption": check_customer_kms_encryption,
    "iam-no-wildcards": check_iam_no_wildcards,
}


# --- stack checks -------------------------------------------------------------------------


class StackResource(Protocol):
    resource_type: str
    props: Props
    urn: str
    property_dependencies: Mapping[str, Sequence[Any]]


Violation = tuple[str, str | None]  # (message, urn)


def _of(resources: Iterable[StackResource], *types: str) -> list[StackResource]:
    return [r for r in resources if r.resource_type in types]


def _ref_ids(resource: StackResource, prop: str) -> set[str]:
    return set(_strings(resource.props.get(prop)))


def _id_of(resource: StackResource) -> str | None:
    value = resource.props.get("id")
    return value if isinstance(value, str) and value else None


def _referenced(
    resource: StackResource, prop: str, candidates: list[StackResource], *keys: str
) -> list[StackResource]:
    """Resources that `resource.prop` points at, by dependency or by id/name/arn value."""
    deps = resource.property_dependencies.get(prop) or []
    by_dep = [c for c in candidates if any(c is d for d in deps)]
    if by_dep:
        return by_dep
    wanted = _ref_ids(resource, prop)
    found = []
    for c in candidates:
        values = {_id_of(c)} | {c.props.get(k) for k in keys}
        if wanted & {v for v in values if isinstance(v, str)}:
            found.append(c)
    return found


def check_egress_firewalls_fail_closed(resources: list[StackResource]) -> list[Violation]:
    """AWS Network Firewall with a Binance domain allow-list and default drop, and a
    Route 53 Resolver DNS Firewall that blocks everything else, fail-closed, on every VPC."""
    out: list[Violation] = []
    firewalls = _of(resources, NFW_FIREWALL)
    policies = _of(resources, NFW_POLICY)
    groups = _of(resources, NFW_RULE_GROUP)
    if not firewalls:
        out.append(("no AWS Network Firewall in the stack: egress is not filtered", None))
    for fw in firewalls:
        fw_policies = _referenced(fw, "firewallPolicyArn", policies, "arn")
        if not fw_policies:
            out.append(("the Network Firewall's policy is not in the stack", fw.urn))
        for pol in fw_policies:
            out.extend(_firewall_policy_problems(pol, groups))

    vpcs = _of(resources, VPC)
    associations = _of(resources, DNS_ASSOCIATION)
    configs = _of(resources, DNS_CONFIG)
    rules = _of(resources, DNS_RULE)
    domain_lists = _of(resources, DNS_DOMAIN_LIST)
    if not vpcs:
        out.append(("no VPC in the stack", None))
    for vpc in vpcs:
        vpc_assoc = [a for a in associations if _referenced(a, "vpcId", [vpc])]
        if not vpc_assoc:
            out.append(("the VPC has no Route 53 Resolver DNS Firewall association", vpc.urn))
        vpc_configs = [c for c in configs if _referenced(c, "resourceId", [vpc])]
        if not any(c.props.get("firewallFailOpen") == "DISABLED" for c in vpc_configs):
            out.append(("the VPC's DNS Firewall must be fail-closed (failOpen DISABLED)", vpc.urn))
    block_all = [
        r
        for r in rules
        if r.props.get("action") == "BLOCK"
        and any(
            "*" in _strings(dl.props.get("domains"))
            for dl in _referenced(r, "firewallDomainListId", domain_lists)
        )
    ]
    if not block_all:
        out.append(("no DNS Firewall rule BLOCKs every other domain ('*')", None))
    return out


def _firewall_policy_problems(
    policy: StackResource, groups: list[StackResource]
) -> list[Violation]:
    out: list[Violation] = []
    body = policy.props.get("firewallPolicy") or {}
    stateful_default = _strings(body.get("statefulDefaultActions"))
    if not any(a in DROP_ACTIONS for a in stateful_default):
        out.append(("the firewall policy must drop by default (aws:drop_established)", policy.urn))
    for prop in ("statelessDefaultActions", "statelessFragmentDefaultActions"):
        if "aws:pass" in _strings(body.get(prop)):
            out.append((f"{prop} must not pass traffic around the stateful engine", policy.urn))
    referenced_arns = {
        r.get("resourceArn") for r in _items(body.get("statefulRuleGroupReferences"))
    }
    deps = policy.property_dependencies.get("firewallPolicy") or []
    allow_lists = [
        g
        for g in groups
        if (any(g is d for d in deps) or g.props.get("arn") in referenced_arns)
        and _is_domain_allowlist(g)
    ]
    if not allow_lists:
        out.append(("the firewall policy has no stateful domain ALLOWLIST rule group", policy.urn))
    for group in allow_lists:
        out.extend((msg, group.urn) for msg in _allowlist_target_problems(group))
    return out


def _source_list(group: StackResource) -> Mapping[str, Any]:
    body = group.props.get("ruleGroup") or {}
    source = body.get("rulesSource") or {}
    return source.get("rulesSourceList") or {}


def _is_domain_allowlist(group: StackResource) -> bool:
    return (
        group.props.get("type") == "STATEFUL"
        and _source_list(group).get("generatedRulesType") == "ALLOWLIST"
    )


def _allowlist_target_problems(group: StackResource) -> list[str]:
    source = _source_list(group)
    out = []
    types = set(_strings(source.get("targetTypes")))
    if not {"TLS_SNI", "HTTP_HOST"} <= types:
        out.append("the allow-list must inspect both TLS_SNI and HTTP_HOST")
    targets = _strings(source.get("targets"))
    if not targets:
        out.append("the allow-list is empty")
    for target in targets:
        try:
            parse_allowed_domain(target)
        except DomainError as exc:
            out.append(f"allow-list target {exc}")
    return out


def _instance_security_groups(
    instance: StackResource, resources: list[StackResource]
) -> list[StackResource]:
    groups = _of(resources, SECURITY_GROUP)
    return _referenced(instance, "vpcSecurityGroupIds", groups)


def check_host_unreachable(resources: list[StackResource]) -> list[Violation]:
    """The host's security groups have no ingress at all, inline or as separate rules."""
    out: list[Violation] = []
    for instance in _of(resources, INSTANCE):
        sgs = _instance_security_groups(instance, resources)
        if not sgs:
            out.append(("the host's security groups are not in the stack", instance.urn))
        for sg in sgs:
            if _items(sg.props.get("ingress")):
                out.append(("the host's security group has ingress rules", sg.urn))
            for rule in _of(resources, VPC_INGRESS_RULE, SECURITY_GROUP_RULE):
                is_rule = rule.resource_type == SECURITY_GROUP_RULE
                if is_rule and rule.props.get("type") != "ingress":
                    continue
                if _referenced(rule, "securityGroupId", [sg]):
                    out.append(("an ingress rule targets the host's security group", rule.urn))
    return out


def check_host_role_inline_only(resources: list[StackResource]) -> list[Violation]:
    """The host role carries only inline policies this pack can read (no managed policies)."""
    out: list[Violation] = []
    profiles = _of(resources, INSTANCE_PROFILE)
    roles = _of(resources, IAM_ROLE)
    attachments = _of(resources, IAM_ROLE_POLICY_ATTACHMENT)
    for instance in _of(resources, INSTANCE):
        if not instance.props.get("iamInstanceProfile"):
            continue
        for profile in _referenced(instance, "iamInstanceProfile", profiles, "name", "arn"):
            for role in _referenced(profile, "role", roles, "name", "arn"):
                if _strings(role.props.get("managedPolicyArns")):
                    out.append(("the host role has managed policies attached", role.urn))
                for att in attachments:
                    if _referenced(att, "role", [role], "name"):
                        out.append(("a managed policy is attached to the host role", att.urn))
                for att in _of(resources, IAM_POLICY_ATTACHMENT):
                    if _referenced(att, "roles", [role], "name"):
                        out.append(("a managed policy is attached to the host role", att.urn))
    return out


def check_buckets_private_encrypted_versioned(resources: list[StackResource]) -> list[Violation]:
    """Every S3 bucket (the backups) has, as separate resources: default encryption with a
    customer KMS key, a public access block with all four settings on, versioning Enabled."""
    out: list[Violation] = []

    def of_bucket(bucket: StackResource, typ: str) -> list[StackResource]:
        return [c for c in _of(resources, typ) if _referenced(c, "bucket", [bucket], "bucket")]

    for bucket in _of(resources, S3_BUCKET):
        encryption = of_bucket(bucket, S3_BUCKET_SSE)
        if not any(not _bucket_sse_problems(c.props) for c in encryption):
            out.append(("the bucket has no default encryption with a customer KMS key", bucket.urn))
        blocks = of_bucket(bucket, S3_PUBLIC_ACCESS_BLOCK)
        if not any(all(_truthy(b.props.get(f)) for f in PUBLIC_ACCESS_BLOCK_FLAGS) for b in blocks):
            out.append(
                ("the bucket's public access block must set all four settings true", bucket.urn)
            )
        versioning = of_bucket(bucket, S3_BUCKET_VERSIONING)
        if not any(
            (v.props.get("versioningConfiguration") or {}).get("status") == "Enabled"
            for v in versioning
        ):
            out.append(("the bucket must be versioned (status Enabled)", bucket.urn))
    return out


StackCheck = Callable[[list[StackResource]], list[Violation]]

STACK_CHECKS: dict[str, StackCheck] = {
    "egress-firewalls-fail-closed": check_egress_firewalls_fail_closed,
    "host-unreachable": check_host_unreachable,
    "host-role-inline-policies-only": check_host_role_inline_only,
    "s3-buckets-private-encrypted-versioned": check_buckets_private_encrypted_versioned,
}
