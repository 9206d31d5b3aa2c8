"""The policy checks, as plain functions over Pulumi property bags.

Resource checks take ``(resource_type, props)`` and return violation messages; stack checks
take the whole list of resources. Property names are Pulumi's (camelCase).

During ``pulumi preview`` values computed from other resources (ids, ARNs) are unknown.

* A resource check that reads one raises pulumi-policy's ``UnknownValueError``: the engine
  reports "can't run during preview" and runs the check during ``pulumi up`` with the real
  values, before the resource is created. Resource checks never swallow that exception.
* A stack check runs at preview and, during ``pulumi up``, only after the changes: it must
  decide at preview. Stack checks therefore link resources by the engine's property
  dependencies (known at preview), read only values the program writes literally, and
  treat an unknown id or ARN as "not a literal value" (`_get`), never as a pass.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from pulumi_policy.proxy import UnknownValueError

from infra.domains import DomainError, parse_allowed_domain
from infra.iam import AL2023_REPO_BUCKET

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
AMP_WORKSPACE = "aws:amp/workspace:Workspace"
IAM_ROLE = "aws:iam/role:Role"
IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_POLICY = "aws:iam/policy:Policy"
IAM_USER_POLICY = "aws:iam/userPolicy:UserPolicy"
IAM_GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
IAM_ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
IAM_POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
IAM_USER_POLICY_ATTACHMENT = "aws:iam/userPolicyAttachment:UserPolicyAttachment"
IAM_USER_GROUP_MEMBERSHIP = "aws:iam/userGroupMembership:UserGroupMembership"
IAM_GROUP_MEMBERSHIP = "aws:iam/groupMembership:GroupMembership"
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
RESOLVER_ENDPOINT = "aws:route53/resolverEndpoint:ResolverEndpoint"
RESOLVER_RULE = "aws:route53/resolverRule:ResolverRule"
S3_BUCKET = "aws:s3/bucket:Bucket"
S3_BUCKET_SSE = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
S3_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_BUCKET_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
S3_OBJECT_LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
S3_BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
KMS_KEY = "aws:kms/key:Key"
KMS_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
SECRET_POLICY = "aws:secretsmanager/secretPolicy:SecretPolicy"  # noqa: S105  # nosec B105
VPC_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
VPC_ENDPOINT_POLICY = "aws:ec2/vpcEndpointPolicy:VpcEndpointPolicy"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE_TABLE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
NETWORK_INTERFACE = "aws:ec2/networkInterface:NetworkInterface"
AUTOSCALING_GROUP = "aws:autoscaling/group:Group"
SPOT_INSTANCE_REQUEST = "aws:ec2/spotInstanceRequest:SpotInstanceRequest"
# Whatever places a machine or an interface in a subnet: (type, property naming the subnet).
SUBNET_PLACEMENTS = (
    (NETWORK_INTERFACE, "subnetId"),
    (SPOT_INSTANCE_REQUEST, "subnetId"),
    (AUTOSCALING_GROUP, "vpcZoneIdentifiers"),
)
PROVIDER_AWS = "pulumi:providers:aws"
# Route targets that leave the VPC without passing the Network Firewall.
BYPASS_TARGETS = (
    "natGatewayId",
    "gatewayId",
    "egressOnlyGatewayId",
    "transitGatewayId",
    "networkInterfaceId",
    "vpcPeeringConnectionId",
    "carrierGatewayId",
    "localGatewayId",
    "coreNetworkArn",
    "odbNetworkArn",
    # AWS's state of a route to an instance's interface (a NAT instance).
    "instanceId",
)
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


def _get(props: Any, key: str) -> Any:
    """A property for linking resources in a stack check; None while it is unknown."""
    try:
        return props.get(key)
    except UnknownValueError:
        return None


def _keys(props: Any) -> set[str]:
    """The property names set, known or not (iterating names reads no value)."""
    return set(iter(props)) if isinstance(props, Mapping) else set()


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


# Ports an interface endpoint may accept from another security group: HTTPS (the AWS
# APIs) and SMTP submission (Amazon SES's email-smtp endpoint, STARTTLS).
ENDPOINT_PORTS = (443, 587)


def _https_from_security_group_only(
    protocol: Any, port: int | None, sources: list[str], cidrs: list[str], self_ref: bool
) -> bool:
    return (
        _is_tcp(protocol)
        and port in ENDPOINT_PORTS
        and bool(sources)
        and not cidrs
        and not self_ref
    )


def check_no_ingress(resource_type: str, props: Props) -> list[str]:
    """No security group accepts traffic, except HTTPS (or SMTP submission, 587) from
    another security group.

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
        # The referenced group's id is unknown at preview (it is created with the stack):
        # it is a security group either way.
        referenced = (
            ["(a security group)"]
            if "referencedSecurityGroupId" in _keys(props)
            and _get(props, "referencedSecurityGroupId") is None
            else _strings(props.get("referencedSecurityGroupId"))
        )
        ok = _https_from_security_group_only(
            props.get("ipProtocol"),
            _single_port(props.get("fromPort"), props.get("toPort")),
            referenced,
            _strings(props.get("cidrIpv4"))
            + _strings(props.get("cidrIpv6"))
            + _strings(props.get("prefixListId")),
            False,
        )
        if not ok:
            out.append("ingress rule opens a security group; no ingress is allowed")
    return out


# Where a VPC's resolver can be: VPC address space (RFC 1918, RFC 6598) and the link-local
# Route 53 Resolver addresses.
_RESOLVER_SPACES = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "169.254.169.253/32",
        "fd00:ec2::253/128",
    )
)


def _private_host(cidr: str) -> bool:
    """One private address (a /32 or /128), where the VPC resolver lives."""
    try:
        net = ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        return False
    return net.num_addresses == 1 and any(
        net.version == space.version and net.subnet_of(space)  # type: ignore[arg-type]
        for space in _RESOLVER_SPACES
    )


def _in_vpc_space(cidr: str) -> bool:
    """A range inside RFC 1918 / RFC 6598 space: never routed to the internet."""
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    return any(
        net.version == space.version and net.subnet_of(space)  # type: ignore[arg-type]
        for space in _RESOLVER_SPACES[:4]
    )


def _egress_problem(protocol: Any, port: int | None, destinations: list[str]) -> str | None:
    if _is_tcp(protocol) and port == 443:
        return None
    if _is_tcp(protocol) and port == 587:
        # SMTP submission only inside the VPC (the SES email-smtp endpoint): 587 to the
        # internet would be a general mail relay path around the firewall's SNI list.
        if destinations and all(_in_vpc_space(d) for d in destinations):
            return None
        return "SMTP (587) egress must stay inside the VPC (the SES endpoint), not anywhere"
    if (_is_tcp(protocol) or _is_udp(protocol)) and port == 53:
        if any(d in ANYWHERE for d in destinations) or not destinations:
            return "DNS egress must go to the VPC resolver, not anywhere"
        # A resolver of one's choosing is a channel out: the first packet of every flow
        # passes a drop_established firewall. Only single private addresses (the VPC's
        # resolver at base+2, or 169.254.169.253 / fd00:ec2::253) are a resolver.
        others = [d for d in destinations if not _private_host(d)]
        if others:
            return f"DNS egress must go to the VPC resolver, not {others[0]}"
        return None
    return (
        f"egress {protocol} port {port if port is not None else 'range'}: only 443, 53 "
        "and 587 inside the VPC"
    )


def check_egress_https_dns_only(resource_type: str, props: Props) -> list[str]:
    """Security groups may send only TCP 443, DNS (53) to a named resolver and SMTP
    submission (587) inside the VPC.

    A managed prefix list is a destination too (it may hold 0.0.0.0/0): never a resolver,
    never "inside the VPC", so a 53 or 587 rule naming one is refused, even next to a
    VPC address."""
    out: list[str] = []
    if resource_type in (SECURITY_GROUP, DEFAULT_SECURITY_GROUP):
        for i, rule in enumerate(_items(props.get("egress"))):
            problem = _egress_problem(
                rule.get("protocol"),
                _single_port(rule.get("fromPort"), rule.get("toPort")),
                _strings(rule.get("cidrBlocks"))
                + _strings(rule.get("ipv6CidrBlocks"))
                + _strings(rule.get("prefixListIds")),
            )
            if problem:
                out.append(f"egress rule {i}: {problem}")
    elif resource_type == SECURITY_GROUP_RULE and props.get("type") == "egress":
        problem = _egress_problem(
            props.get("protocol"),
            _single_port(props.get("fromPort"), props.get("toPort")),
            _strings(props.get("cidrBlocks"))
            + _strings(props.get("ipv6CidrBlocks"))
            + _strings(props.get("prefixListIds")),
        )
        if problem:
            out.append(problem)
    elif resource_type == VPC_EGRESS_RULE:
        problem = _egress_problem(
            props.get("ipProtocol"),
            _single_port(props.get("fromPort"), props.get("toPort")),
            _strings(props.get("cidrIpv4"))
            + _strings(props.get("cidrIpv6"))
            + _strings(props.get("destinationPrefixListId")),
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
    """Volumes, secrets, topics, log groups, Prometheus (AMP) workspaces and S3 default
    encryption use a customer KMS key."""
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
    elif resource_type == AMP_WORKSPACE:
        if not _customer_key(props.get("kmsKeyArn")):
            out.append(
                "the Prometheus workspace must be encrypted with a customer KMS key (kmsKeyArn)"
            )
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
        out.extend(_ses_send_problems(label, actions, st.get("Condition")))
    return out


# SES sending: whoever holds the credentials (the SMTP password is on the host) can mail
# anything out around the egress firewalls, unless every recipient is pinned.
_SES_SEND = re.compile(r"^ses:Send", re.IGNORECASE)


def _ses_send_problems(label: str, actions: list[str], condition: Any) -> list[str]:
    if not any(_SES_SEND.match(a) for a in actions):
        return []
    pinned = (condition or {}).get("ForAllValues:StringEquals") or {}
    recipients = _strings(pinned.get("ses:Recipients")) if isinstance(pinned, Mapping) else []
    if not recipients or any(c in r for r in recipients for c in "*?$"):
        return [
            f"{label}: SES sending to any recipient (pin ses:Recipients with "
            "ForAllValues:StringEquals to the alert addresses)"
        ]
    return []


def check_iam_no_wildcards(resource_type: str, props: Props) -> list[str]:
    """No ``*`` action and no ``*`` resource in customer IAM policies.

    The single exception: actions AWS gives no resource type (SSM session channels,
    PutMetricData) may use ``"Resource": "*"`` when the statement has a Condition. SES
    sending names every recipient (``ses:Recipients``, no wildcard); IAM users get no
    managed policy and no group.
    """
    out: list[str] = []
    for doc in _policy_documents(resource_type, props):
        out.extend(policy_document_problems(doc))
    # IAM users (the SES SMTP user) hold only their inline policy, checked above: IAM
    # grants the union, so a managed policy or a group would widen it unseen.
    if resource_type == IAM_USER_POLICY_ATTACHMENT or (
        resource_type == IAM_POLICY_ATTACHMENT and _strings(props.get("users"))
    ):
        out.append("a managed policy is attached to an IAM user: users take inline policies only")
    if resource_type in (IAM_USER_GROUP_MEMBERSHIP, IAM_GROUP_MEMBERSHIP):
        out.append("an IAM user is put into a group: users take inline policies only")
    return out


# --- egress firewalls, per resource (decided before each resource is created) ----------------


def _firewall_policy_body_problems(body: Any) -> list[str]:
    out = []
    if not any(a in DROP_ACTIONS for a in _strings(body.get("statefulDefaultActions"))):
        out.append("the firewall policy must drop by default (aws:drop_established)")
    for prop in ("statelessDefaultActions", "statelessFragmentDefaultActions"):
        if "aws:pass" in _strings(body.get(prop)):
            out.append(f"{prop} must not pass traffic around the stateful engine")
    engine = body.get("statefulEngineOptions") or {}
    if engine.get("ruleOrder") != "STRICT_ORDER":
        out.append("the firewall policy must evaluate stateful rules in STRICT_ORDER")
    return out


def _suricata_passes(rules: str) -> list[str]:
    # Suricata splits a rule on any whitespace (a tab after `pass` too).
    return [
        line.strip()
        for line in rules.splitlines()
        if line.split() and line.split()[0].lower() == "pass"
    ]


def _rule_group_problems(props: Props) -> list[str]:
    """A stateful group is the domain ALLOWLIST (within Binance) or only drops/alerts; a
    stateless group never passes traffic around the stateful engine."""
    body = props.get("ruleGroup") or {}
    source = body.get("rulesSource") or {}
    out: list[str] = []
    if props.get("type") == "STATEFUL":
        listed = source.get("rulesSourceList")
        if listed:
            if listed.get("generatedRulesType") == "ALLOWLIST":
                out.extend(_targets_problems(listed))
        rules_string = source.get("rulesString")
        if isinstance(rules_string, str):
            for rule in _suricata_passes(rules_string):
                out.append(f"stateful rule group passes traffic ({rule[:60]!r}); only drop/alert")
        for i, rule in enumerate(_items(source.get("statefulRules"))):
            if str(rule.get("action")).upper() == "PASS":
                out.append(f"stateful rule {i} passes traffic; only the domain allow-list may")
    else:
        stateless = source.get("statelessRulesAndCustomActions") or {}
        for i, rule in enumerate(_items(stateless.get("statelessRules"))):
            definition = rule.get("ruleDefinition") or {}
            if "aws:pass" in _strings(definition.get("actions")):
                out.append(f"stateless rule {i} passes traffic around the stateful engine")
    return out


_AWS_DNS_WILDCARD = re.compile(
    r"^\*\.(s3(\.dualstack)?\.[a-z0-9-]+\.amazonaws\.com|[a-z0-9-]+\.compute\.internal"
    r"|ec2\.internal)$"
)


def broad_dns_entries(domains: list[str]) -> list[str]:
    """DNS Firewall list entries that are wider than Binance names, exact host names and
    the AWS names the host needs (S3 of the region, the instance's own name)."""
    out = []
    for entry in domains:
        if "*" not in entry or _AWS_DNS_WILDCARD.match(entry):
            continue
        try:
            parse_allowed_domain(entry)
        except DomainError:
            out.append(entry)
    return out


def check_egress_firewall_resources(resource_type: str, props: Props) -> list[str]:
    """The parts of the egress firewalls each resource carries itself."""
    if resource_type == NFW_POLICY:
        return _firewall_policy_body_problems(props.get("firewallPolicy") or {})
    # Forwarding queries out of AWS (an outbound resolver endpoint, a FORWARD rule) hands
    # every allowed name, `<data>.binance.com` too, to a resolver the stack does not control.
    if resource_type == RESOLVER_ENDPOINT and str(props.get("direction")).upper() != "INBOUND":
        return ["an outbound Route 53 Resolver endpoint forwards DNS out of the VPC"]
    if resource_type == RESOLVER_RULE and str(props.get("ruleType")).upper() == "FORWARD":
        return ["a FORWARD resolver rule sends DNS queries to a resolver outside AWS"]
    if resource_type == DNS_CONFIG:
        if props.get("firewallFailOpen") != "DISABLED":
            return ["the VPC's DNS Firewall must be fail-closed (failOpen DISABLED)"]
    if resource_type == DNS_DOMAIN_LIST:
        domains = _strings(props.get("domains"))
        if "*" in domains and len(domains) > 1:
            return ["'*' belongs alone in the BLOCK-everything list"]
        return [
            f"domain list entry {d!r} is broader than the allow-list"
            for d in broad_dns_entries([d for d in domains if d != "*"])
        ]
    return []


def check_bucket_settings(resource_type: str, props: Props) -> list[str]:
    """S3 settings that must hold on the backups: all four public access blocks, versioning
    Enabled, Object Lock enabled with a default retention."""
    if resource_type == S3_PUBLIC_ACCESS_BLOCK:
        if not all(_truthy(props.get(f)) for f in PUBLIC_ACCESS_BLOCK_FLAGS):
            return ["the bucket's public access block must set all four settings true"]
    if resource_type == S3_BUCKET_VERSIONING:
        if (props.get("versioningConfiguration") or {}).get("status") != "Enabled":
            return ["the bucket must be versioned (status Enabled)"]
    if resource_type == S3_OBJECT_LOCK:
        return _object_lock_problems(props)
    return []


def _object_lock_problems(props: Props) -> list[str]:
    retention = (props.get("rule") or {}).get("defaultRetention") or {}
    out = []
    if props.get("objectLockEnabled") != "Enabled":
        out.append("Object Lock must be Enabled on the bucket")
    if retention.get("mode") not in ("GOVERNANCE", "COMPLIANCE"):
        out.append("Object Lock needs a default retention mode (GOVERNANCE or COMPLIANCE)")
    days, years = _num(retention.get("days")), _num(retention.get("years"))
    if not ((days or 0) >= 1 or (years or 0) >= 1):
        out.append("Object Lock needs a default retention of at least a day")
    return out


# --- resource policies (KMS, S3, Secrets Manager, SNS, VPC endpoints) -----------------------

_RESOURCE_POLICY_PROP = {
    KMS_KEY: "policy",
    KMS_KEY_POLICY: "policy",
    S3_BUCKET_POLICY: "policy",
    SECRET_POLICY: "policy",
    VPC_ENDPOINT: "policy",
    VPC_ENDPOINT_POLICY: "policy",
    TOPIC_POLICY: "policy",
}
# Condition keys that pin a wildcard principal to this account.
_ACCOUNT_KEYS = ("aws:principalaccount", "aws:principalarn", "aws:principalorgid")


def _principal_is_wildcard(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return "*" in _strings(principal.get("AWS"))
    return False


def _condition_keys(statement: Mapping[str, Any], *operators: str) -> set[str]:
    out: set[str] = set()
    condition = statement.get("Condition") or {}
    for op, tests in condition.items():
        if not operators or op in operators:
            out |= {str(k).lower() for k in (tests or {})}
    return out


def _account_root(principal: Any) -> bool:
    if not isinstance(principal, Mapping):
        return False
    arns = _strings(principal.get("AWS"))
    return bool(arns) and all(re.match(r"^arn:aws[a-z-]*:iam::[0-9]{12}:root$", a) for a in arns)


_PIN_KEYS = (*_ACCOUNT_KEYS, "aws:resourceaccount")
_REGION = r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]"


def _pin_values(statement: Mapping[str, Any]) -> list[str]:
    """The values the account-pinning condition keys are compared with."""
    out: list[str] = []
    condition = statement.get("Condition") or {}
    if not isinstance(condition, Mapping):
        return out
    for tests in condition.values():
        if not isinstance(tests, Mapping):
            continue
        for key, value in tests.items():
            if str(key).lower() in _PIN_KEYS:
                out += [str(v) for v in ([value] if isinstance(value, str) else _items(value))]
    return out


def _open_endpoint_read(actions: list[str], resources: list[str], region: str | None) -> bool:
    """What an endpoint may let anyone (any account's credentials) do: read Amazon's
    package repositories, or one exact object (the release). Writing, or reading under a
    wildcard, of a bucket that is not ours is a channel out: the key carries the data."""
    if not actions or any(a != "s3:GetObject" for a in actions) or not resources:
        return False
    repo = re.escape(AL2023_REPO_BUCKET).replace(re.escape("{region}"), region or _REGION)
    repo_objects = re.compile(rf"^arn:aws[a-z-]*:s3:::{repo}/\*$")
    return all(
        repo_objects.match(r) or ("*" not in r and "?" not in r and not _broad_arn(r))
        for r in resources
    )


def resource_policy_problems(
    resource_type: str, document: Any, region: str | None = None
) -> list[str]:
    """Wildcard principals and actions in a resource policy.

    * ``"*"`` (or ``{"AWS": "*"}``) as the principal of an Allow needs a condition that pins
      the caller to this account (``aws:PrincipalAccount``...); a VPC endpoint policy may
      instead name exact resources without wildcards (the S3 gateway endpoint: Amazon's
      package repositories, read anonymously by dnf).
    * A wildcard action (``*``, ``svc:*``) in an Allow needs ``aws:PrincipalAccount`` and
      ``aws:ResourceAccount`` (an endpoint reaching only this account), except the key
      policy's ``kms:*`` for the account root (IAM decides, the AWS default).
    """
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
    endpoint = resource_type in (VPC_ENDPOINT, VPC_ENDPOINT_POLICY)
    out = []
    for i, st in enumerate(_items(statements)):
        if not isinstance(st, Mapping) or st.get("Effect") != "Allow":
            continue
        label = f"statement {st.get('Sid') or i}"
        principal = st.get("Principal")
        actions = _strings(st.get("Action"))
        resources = _strings(st.get("Resource"))
        keys = _condition_keys(st, "StringEquals", "StringEqualsIfExists", "ArnEquals")
        # A pin compares with literal account ids (`ArnEquals` matches wildcards, so
        # "arn:aws:iam::*:*" would pin nothing), and not with `...IfExists`: an anonymous
        # request has no principal account and would pass.
        principal_keys = _condition_keys(st, "StringEquals", "ArnEquals")
        pinned = any(k in principal_keys for k in _ACCOUNT_KEYS) and not any(
            "*" in v or "?" in v for v in _pin_values(st)
        )
        if "NotPrincipal" in st or "NotAction" in st or "NotResource" in st:
            out.append(f"{label}: Allow with NotPrincipal/NotAction/NotResource grants too much")
            continue
        open_read = endpoint and _open_endpoint_read(actions, resources, region)
        if _principal_is_wildcard(principal) and not pinned and not open_read:
            out.append(f"{label}: wildcard principal without an account condition")
        # Through an endpoint, this account's own credentials (the host's) must not reach
        # another account's resources either (a bucket whose policy accepts them).
        if endpoint and not open_read and "aws:resourceaccount" not in keys:
            out.append(f"{label}: an endpoint statement without aws:ResourceAccount")
        # `*` and `svc:*`; an action family like `kms:GenerateDataKey*` names its actions.
        wild = [a for a in actions if a == "*" or a.endswith(":*")]
        if wild and not (_account_root(principal) and wild == ["kms:*"]):
            if not (pinned and "aws:resourceaccount" in keys):
                out.append(
                    f"{label}: wildcard action {wild[0]!r} without aws:PrincipalAccount "
                    "and aws:ResourceAccount"
                )
    return out


def _smtp_only_endpoint(props: Props) -> bool:
    """Amazon SES's SMTP endpoint (``com.amazonaws.<region>.email-smtp``) speaks SMTP, not
    the AWS API: it takes no endpoint policy. What it may send is limited by the SMTP
    user's IAM policy (one identity, one sender address) and who reaches it by its
    security group (587 from the host)."""
    name = props.get("serviceName")
    return (
        isinstance(name, str)
        and re.fullmatch(r"com\.amazonaws\.[a-z0-9-]+\.email-smtp", name) is not None
    )


def check_resource_policies(resource_type: str, props: Props) -> list[str]:
    prop = _RESOURCE_POLICY_PROP.get(resource_type)
    if (
        resource_type == VPC_ENDPOINT
        and (prop not in _keys(props) or props.get(prop) in (None, ""))
        and not _smtp_only_endpoint(props)
    ):
        # AWS then attaches its default: every principal, every action, every resource.
        return ["a VPC endpoint without a policy lets any account's credentials through"]
    if not prop or prop not in _keys(props):
        return []
    document = props.get(prop)
    if document is None or document == "":
        return []
    region = None
    if resource_type == VPC_ENDPOINT:
        service = _get(props, "serviceName")
        match = re.match(rf"^com\.amazonaws\.({_REGION})\.", service or "")
        region = match.group(1) if match else None
    return resource_policy_problems(resource_type, document, region)


# What no policy of the stack may grant (the admin role, outside the stack, does this work):
# erasing history (backups, their lock, logs, the key, snapshots, flow logs) or opening the
# host's own way out (firewalls, DNS Firewall, routes, security groups, NICs, IAM itself).
DESTRUCTIVE_ACTIONS: tuple[str, ...] = (
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:BypassGovernanceRetention",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketVersioning",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:DeleteBucket",
    "s3:PutReplicationConfiguration",
    "logs:DeleteLogGroup",
    "logs:DeleteLogStream",
    "logs:PutRetentionPolicy",
    "logs:DisassociateKmsKey",
    "logs:DeleteSubscriptionFilter",
    "logs:PutSubscriptionFilter",
    # Amazon Managed Prometheus: the metrics history and its log (monitoring.py)
    "aps:DeleteWorkspace",
    "aps:DeleteLoggingConfiguration",
    "kms:ScheduleKeyDeletion",
    "kms:DisableKey",
    "kms:PutKeyPolicy",
    "kms:CreateGrant",
    "ec2:DeleteSnapshot",
    "ec2:DeleteFlowLogs",
    "ec2:CreateRoute",
    "ec2:ReplaceRoute",
    "ec2:DeleteRoute",
    "ec2:AssociateRouteTable",
    "ec2:ReplaceRouteTableAssociation",
    "ec2:AuthorizeSecurityGroupEgress",
    "ec2:ModifySecurityGroupRules",
    "ec2:ModifyInstanceAttribute",
    "ec2:AttachNetworkInterface",
    "ec2:AssociateAddress",
    "dlm:*",
    "network-firewall:*",
    "route53resolver:*",
    "iam:*",
    "cloudtrail:*",
    "ssm:SendCommand",
    "ssm:StartSession",
)


def _destructive(action: str) -> str | None:
    """The destructive action (or family) a granted action or action pattern covers."""
    granted = action.lower()
    for bad in DESTRUCTIVE_ACTIONS:
        pattern = bad.lower()
        if fnmatch.fnmatchcase(granted, pattern) or fnmatch.fnmatchcase(pattern, granted):
            return bad
        # A family (`iam:*`) is also covered by any pattern inside it (`iam:Put*`).
        if pattern.endswith(":*") and granted.startswith(pattern[:-1]):
            return bad
    return None


def destructive_grant_problems(document: Any) -> list[str]:
    out = []
    for i, st in enumerate(_statements(document)):
        if not isinstance(st, Mapping) or st.get("Effect") != "Allow":
            continue
        # The key policy's account root (`kms:*`: IAM decides, and IAM policies are checked
        # here) is the one principal that may hold these.
        if _account_root(st.get("Principal")):
            continue
        label = f"statement {st.get('Sid') or i}"
        if "NotAction" in st:
            out.append(f"{label}: Allow with NotAction grants destructive actions")
            continue
        for action in _strings(st.get("Action")):
            bad = _destructive(action)
            if bad:
                out.append(
                    f"{label}: {action!r} grants {bad}: erasing history or opening egress is "
                    "for the admin role, outside the stack"
                )
    return out


def check_no_destructive_grants(resource_type: str, props: Props) -> list[str]:
    """No IAM policy of the stack, and no key, bucket, secret or topic policy, grants actions
    that erase history (backups, Object Lock, logs, the key, snapshots, the Prometheus
    workspace) or change the host's
    egress (Network Firewall, DNS Firewall, routes, security groups, IAM)."""
    out: list[str] = []
    for doc in _policy_documents(resource_type, props):
        out.extend(destructive_grant_problems(doc))
    if resource_type in (KMS_KEY, KMS_KEY_POLICY, S3_BUCKET_POLICY, SECRET_POLICY, TOPIC_POLICY):
        if "policy" in _keys(props):
            document = props.get("policy")
            if document:
                out.extend(destructive_grant_problems(document))
    return out


RESOURCE_CHECKS: dict[str, ResourceCheck] = {
    "no-security-group-ingress": check_no_ingress,
    "egress-https-and-dns-only": check_egress_https_dns_only,
    "imdsv2-required": check_imdsv2,
    "no-public-ip": check_no_public_ip,
    "customer-kms-encryption": check_customer_kms_encryption,
    "iam-no-wildcards": check_iam_no_wildcards,
    "egress-firewall-resources-fail-closed": check_egress_firewall_resources,
    "nfw-rule-groups-drop-or-allowlist": lambda t, p: (
        _rule_group_problems(p) if t == NFW_RULE_GROUP else []
    ),
    "s3-bucket-settings-locked-down": check_bucket_settings,
    "resource-policies-no-wildcards": check_resource_policies,
    "no-destructive-grants": check_no_destructive_grants,
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
    value = _get(resource.props, prop)
    if isinstance(value, str):
        return {value} if value else set()
    try:
        return set(_strings(value))
    except UnknownValueError:
        return set()


def _id_of(resource: StackResource) -> str | None:
    value = _get(resource.props, "id")
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
        values = {_id_of(c)} | {_get(c.props, k) for k in keys}
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
    body = policy.props.get("firewallPolicy") or {}
    out: list[Violation] = [(m, policy.urn) for m in _firewall_policy_body_problems(body)]
    deps = policy.property_dependencies.get("firewallPolicy") or []
    referenced: list[StackResource] = []
    for ref in _items(body.get("statefulRuleGroupReferences")):
        arn = _get(ref, "resourceArn")
        if arn is None:  # unknown: the ARN of a group created with the stack (preview)
            continue
        matched = [g for g in groups if _get(g.props, "arn") == arn]
        if not matched:
            out.append(
                (f"the firewall policy references a rule group not in the stack: {arn}", policy.urn)
            )
        referenced += matched
    # Stateless groups run before the stateful engine: one the pack cannot read (made by
    # hand, `aws:pass` on everything) would take traffic around the allow-list.
    for ref in _items(body.get("statelessRuleGroupReferences")):
        arn = _get(ref, "resourceArn")
        if arn is None:
            continue
        matched = [g for g in groups if _get(g.props, "arn") == arn]
        if not matched:
            out.append(
                (
                    f"the firewall policy references a stateless rule group not in the stack: "
                    f"{arn}",
                    policy.urn,
                )
            )
        referenced += matched
    referenced += [g for g in groups if any(g is d for d in deps) and g not in referenced]
    allow_lists = [g for g in referenced if _is_domain_allowlist(g)]
    if not allow_lists:
        out.append(("the firewall policy has no stateful domain ALLOWLIST rule group", policy.urn))
    for group in allow_lists:
        out.extend((msg, group.urn) for msg in _targets_problems(_source_list(group)))
    for group in referenced:
        if group not in allow_lists:
            out.extend((msg, group.urn) for msg in _rule_group_problems(group.props))
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


def _targets_problems(source: Mapping[str, Any]) -> list[str]:
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


def check_dns_allow_list_narrow(resources: list[StackResource]) -> list[Violation]:
    """No DNS Firewall ALLOW rule answers for every name ('*') or a wildcard wider than
    the allow-list: the BLOCK-everything rule would never see those names."""
    out: list[Violation] = []
    lists = _of(resources, DNS_DOMAIN_LIST)
    for rule in _of(resources, DNS_RULE):
        # ALERT answers the query too (and logs it): it lets names through like ALLOW.
        action = str(rule.props.get("action") or "").upper()
        if action not in ("ALLOW", "ALERT"):
            continue
        rule_lists = _referenced(rule, "firewallDomainListId", lists)
        if not rule_lists:
            out.append(
                (
                    f"the DNS Firewall {action} rule's domain list is not in the stack: what "
                    "it allows cannot be checked",
                    rule.urn,
                )
            )
        for dl in rule_lists:
            domains = _strings(dl.props.get("domains"))
            if "*" in domains:
                out.append((f"the DNS Firewall {action} rule allows every domain ('*')", rule.urn))
            for entry in broad_dns_entries([d for d in domains if d != "*"]):
                out.append((f"the DNS Firewall {action} rule allows {entry!r}", rule.urn))
    return out


def check_host_egress_through_firewall(resources: list[StackResource]) -> list[Violation]:
    """The host's subnet sends everything leaving the VPC to the Network Firewall endpoint:
    no route (default or narrower) to a NAT, internet gateway or anything else."""
    out: list[Violation] = []
    subnets = _of(resources, SUBNET)
    tables = _of(resources, ROUTE_TABLE)
    firewalls = _of(resources, NFW_FIREWALL)
    endpoint_ids: set[str] = set()
    for fw in firewalls:
        for status in _items(_get(fw.props, "firewallStatuses")):
            for sync in _items(_get(status, "syncStates")):
                for att in _items(_get(sync, "attachments")):
                    if isinstance(_get(att, "endpointId"), str):
                        endpoint_ids.add(att.get("endpointId"))
    # The host's subnets: its own, and that of any network interface in the stack (one
    # attached to the host in the firewall's or NAT's subnet would skip the firewall).
    checked: list[StackResource] = []
    for instance in _of(resources, INSTANCE):
        host_subnets = _referenced(instance, "subnetId", subnets)
        if not host_subnets:
            out.append(("the host's subnet is not in the stack", instance.urn))
        checked += [s for s in host_subnets if s not in checked]
    # Any other machine (an auto scaling group, a spot request) or interface of the stack
    # could carry the host's role, or be the host's second interface.
    for typ, prop in SUBNET_PLACEMENTS:
        for placed in _of(resources, typ):
            placed_subnets = _referenced(placed, prop, subnets)
            if not placed_subnets:
                out.append(
                    (f"the subnet of {typ.rsplit(':', 1)[-1]} is not in the stack", placed.urn)
                )
            checked += [s for s in placed_subnets if s not in checked]
    for subnet in checked:
        host_tables = [
            t
            for a in _of(resources, ROUTE_TABLE_ASSOCIATION)
            if _referenced(a, "subnetId", [subnet])
            for t in _referenced(a, "routeTableId", tables)
        ]
        if not host_tables:
            out.append(("the host's subnet has no route table of the stack", subnet.urn))
        for table in host_tables:
            out.extend(_route_table_problems(table, resources, firewalls, endpoint_ids))
    return out


def _is_internal_gateway(value: Any) -> bool:
    return isinstance(value, str) and (value == "local" or value.startswith("vpce-"))


def _route_table_problems(
    table: StackResource,
    resources: list[StackResource],
    firewalls: list[StackResource],
    endpoint_ids: set[str],
) -> list[Violation]:
    out: list[Violation] = []
    routes = [r for r in _of(resources, ROUTE) if _referenced(r, "routeTableId", [table])]
    via_firewall = False
    entries = [(r.props, r.urn, r.property_dependencies.get("vpcEndpointId") or []) for r in routes]
    entries += [(inline, table.urn, []) for inline in _items(_get(table.props, "routes"))]
    for props, urn, deps in entries:
        keys = _keys(props)
        # AWS's state lists every target key ("" when unused); the VPC's own `local` route
        # and gateway-endpoint routes (`vpce-...` on a prefix list) stay inside AWS.
        bypass = [
            k
            for k in BYPASS_TARGETS
            if k in keys
            and _get(props, k) != ""
            and not (k == "gatewayId" and _is_internal_gateway(_get(props, k)))
        ]
        if bypass:
            out.append(
                (
                    f"a route of the host's subnet goes to {bypass[0]}: it would bypass "
                    "the Network Firewall",
                    urn,
                )
            )
            continue
        if "vpcEndpointId" in keys and _get(props, "vpcEndpointId") != "":
            endpoint = _get(props, "vpcEndpointId")
            to_firewall = any(d is fw for d in deps for fw in firewalls) or (
                endpoint in endpoint_ids
            )
            if not to_firewall:
                out.append(
                    (
                        "a route of the host's subnet goes to an endpoint that is not "
                        "the Network Firewall's: it would bypass it",
                        urn,
                    )
                )
            elif "0.0.0.0/0" in (_get(props, "destinationCidrBlock"), _get(props, "cidrBlock")):
                via_firewall = True
    if not via_firewall:
        out.append(
            ("the host's subnet has no default route through the Network Firewall", table.urn)
        )
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
        if "iamInstanceProfile" not in _keys(instance.props):
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


def _sse_with_stack_key(sse: StackResource, keys: list[StackResource]) -> bool:
    """Default encryption with a customer key: a known key ARN, or (at preview, unknown) the
    ARN of a KMS key of the stack (`customer-kms-encryption` checks it before creation)."""
    rules = _items(sse.props.get("rules"))
    if not rules:
        return False
    for rule in rules:
        default = rule.get("applyServerSideEncryptionByDefault") or {}
        if default.get("sseAlgorithm") not in S3_KMS_ALGORITHMS:
            return False
        key = _get(default, "kmsMasterKeyId")
        if key is None:
            deps = sse.property_dependencies.get("rules") or []
            if not any(d is k for d in deps for k in keys):
                return False
        elif not _customer_key(key):
            return False
    return True


def check_buckets_private_encrypted_versioned(resources: list[StackResource]) -> list[Violation]:
    """Every S3 bucket (the backups) has, as separate resources: default encryption with a
    customer KMS key, a public access block with all four settings on, versioning Enabled,
    Object Lock with a default retention."""
    out: list[Violation] = []
    keys = _of(resources, KMS_KEY)

    def of_bucket(bucket: StackResource, typ: str) -> list[StackResource]:
        return [c for c in _of(resources, typ) if _referenced(c, "bucket", [bucket], "bucket")]

    for bucket in _of(resources, S3_BUCKET):
        encryption = of_bucket(bucket, S3_BUCKET_SSE)
        if not any(_sse_with_stack_key(c, keys) for c in encryption):
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
        locks = of_bucket(bucket, S3_OBJECT_LOCK)
        if not any(not _object_lock_problems(lock.props) for lock in locks):
            out.append(("the bucket has no Object Lock with a default retention", bucket.urn))
    return out


def provider_accounts(props: Any) -> set[str]:
    """The accounts an AWS provider may touch (its `allowedAccountIds`; empty if unknown)."""
    value = _get(props, "allowedAccountIds") if props is not None else None
    if isinstance(value, str):  # provider inputs reach the engine as JSON text
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = [value]
    return set(_strings(value))


def _stack_accounts(resources: list[StackResource]) -> set[str]:
    out: set[str] = set()
    for provider in _of(resources, PROVIDER_AWS):
        out |= provider_accounts(provider.props)
    return out


def _statements(document: Any) -> list[Any]:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            return []  # `resource-policies-no-wildcards` refuses it
    statements = document.get("Statement") if isinstance(document, Mapping) else None
    if isinstance(statements, Mapping):
        statements = [statements]
    return _items(statements)


def foreign_account_problems(document: Any, accounts: set[str]) -> list[str]:
    """Allow statements naming an account (principal, account condition) not in `accounts`."""
    out = []
    for i, st in enumerate(_statements(document)):
        if not isinstance(st, Mapping) or st.get("Effect") != "Allow":
            continue
        for account in _foreign_accounts(st, accounts):
            out.append(
                f"statement {st.get('Sid') or i} names account {account!r}, not the "
                f"stack's ({', '.join(sorted(accounts))})"
            )
    return out


def check_resource_policy_accounts(
    resource_type: str, props: Props, accounts: set[str]
) -> list[str]:
    """The resource-level form of `resource-policies-this-account`, given the accounts of
    the resource's provider: decides during `up` before creation when the policy text is
    unknown at preview (built from the stack's ARNs)."""
    prop = _RESOURCE_POLICY_PROP.get(resource_type)
    if not accounts or not prop or prop not in _keys(props):
        return []
    document = props.get(prop)
    if document is None or document == "":
        return []
    return foreign_account_problems(document, accounts)


def _account_of(value: str) -> str:
    """The account id a condition value or principal names (an id, or an ARN's)."""
    parts = value.split(":")
    return parts[4] if value.startswith("arn:") and len(parts) > 4 else value


def _foreign_accounts(statement: Mapping[str, Any], accounts: set[str]) -> list[str]:
    named = [_account_of(v) for v in _pin_values(statement)]
    principal = statement.get("Principal")
    if isinstance(principal, Mapping):
        named += [_account_of(v) for v in _strings(principal.get("AWS")) if v != "*"]
    return [a for a in named if a not in accounts]


def check_resource_policies_this_account(resources: list[StackResource]) -> list[Violation]:
    """Resource policies name only the stack's own account (the provider's allowedAccountIds)
    in their account conditions and principals: an endpoint pinned to another account lets
    that account's credentials, or its resources, carry data out."""
    accounts = _stack_accounts(resources)
    if not accounts:
        return [
            ("the AWS provider names no allowedAccountIds: the stack's account is unknown", None)
        ]
    out: list[Violation] = []
    for resource in _of(resources, *_RESOURCE_POLICY_PROP):
        document = _get(resource.props, "policy")
        if not isinstance(document, str) or not document:
            # Unknown at preview (built from the stack's ARNs): `resource-policies-no-
            # wildcards` checks the accounts with the resource's provider, before creation.
            continue
        out += [(m, resource.urn) for m in foreign_account_problems(document, accounts)]
    return out


StackCheck = Callable[[list[StackResource]], list[Violation]]

STACK_CHECKS: dict[str, StackCheck] = {
    "egress-firewalls-fail-closed": check_egress_firewalls_fail_closed,
    "host-unreachable": check_host_unreachable,
    "host-role-inline-policies-only": check_host_role_inline_only,
    "s3-buckets-private-encrypted-versioned": check_buckets_private_encrypted_versioned,
    "dns-allow-list-narrow": check_dns_allow_list_narrow,
    "host-egress-through-firewall": check_host_egress_through_firewall,
    "resource-policies-this-account": check_resource_policies_this_account,
}
