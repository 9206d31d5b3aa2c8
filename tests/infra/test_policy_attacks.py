"""Adversarial review of the policy pack: stacks built to let the host leak a key or reach
a non-Binance destination, each the dev (or prod) stack after `pulumi up` with one thing
changed, run through every resource and stack policy. Each must be refused.

`test_attack_*_held` cases passed review on the first try (kept as regressions); the others
once passed every policy with zero violations."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from pulumi.output import Unknown
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from infra.config import ConfigError, load_stack_config
from infra.offline import OfflineRun, Recorded, read_stack_file
from infra.policy import checks as t

from .test_policy_gaps import every_violation, rewrite_policy, set_
from .test_policy_preview import analyze, edit, preview_of, previews, struct, table, urn_of

__all__ = ["previews"]  # the session fixture, shared with test_policy_preview


@pytest.fixture()
def dev(stack_runs: dict[str, OfflineRun]) -> OfflineRun:
    return stack_runs["dev"]


def extra(
    like: Recorded, typ: str, name: str, state: dict[str, Any], rid: str | None = None
) -> Recorded:
    return Recorded(
        typ,
        name,
        rid or f"{name}-id",
        dict(state),
        {**state, "id": rid or f"{name}-id"},
        urn=like.urn.rsplit("::", 1)[0].rsplit("::", 1)[0] + f"::{typ}::{name}",
    )


def policies(found: list[tuple[str, str]]) -> set[str]:
    return {p for p, _ in found}


# --- a second network interface for the host, in a subnet that skips the firewall ----------


@pytest.mark.parametrize("subnet", ["network-firewall", "network-public"])
def test_attack_second_nic_outside_the_firewalled_subnet(dev: OfflineRun, subnet: str) -> None:
    host = dev.one(t.INSTANCE)
    sn = dev.one(t.SUBNET, subnet)
    sg = host.state["vpcSecurityGroupIds"]
    nic = extra(
        host,
        "aws:ec2/networkInterface:NetworkInterface",
        "second-nic",
        {
            "subnetId": sn.id,
            "securityGroups": sg,
            "attachments": [{"instance": host.id, "deviceIndex": 1}],
        },
        rid="eni-0123456789abcdef0",
    )
    found = every_violation(dev, {}, [nic])
    assert "host-egress-through-firewall" in policies(found), found


def test_attack_nic_attachment_resource_outside_the_firewalled_subnet(dev: OfflineRun) -> None:
    host = dev.one(t.INSTANCE)
    sn = dev.one(t.SUBNET, "network-firewall")
    nic = extra(
        host,
        "aws:ec2/networkInterface:NetworkInterface",
        "second-nic",
        {"subnetId": sn.id, "securityGroups": host.state["vpcSecurityGroupIds"]},
        rid="eni-0123456789abcdef0",
    )
    attach = extra(
        host,
        "aws:ec2/networkInterfaceAttachment:NetworkInterfaceAttachment",
        "second-nic-attach",
        {"instanceId": host.id, "networkInterfaceId": nic.id, "deviceIndex": 1},
    )
    found = every_violation(dev, {}, [nic, attach])
    assert "host-egress-through-firewall" in policies(found), found


# --- routes around the firewall --------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "value"),
    [
        ("odbNetworkArn", "arn:aws:odb:eu-west-1:111111111111:odb-network/odbnet_1"),
        ("instanceId", "i-0123456789abcdef0"),
    ],
)
def test_attack_route_to_a_target_the_pack_did_not_know(
    dev: OfflineRun, target: str, value: str
) -> None:
    base = dev.one(t.ROUTE, "network-private-default-via-firewall")
    inputs = {
        "routeTableId": base.inputs["routeTableId"],
        "destinationCidrBlock": "203.0.113.0/24",
        target: value,
    }
    around = extra(base, t.ROUTE, "sneaky", inputs)
    found = every_violation(dev, {}, [around])
    assert "host-egress-through-firewall" in policies(found), found


@pytest.mark.parametrize(
    ("target", "value"),
    [
        ("egressOnlyGatewayId", "eigw-0123456789abcdef0"),
        ("transitGatewayId", "tgw-0123456789abcdef0"),
        ("vpcPeeringConnectionId", "pcx-0123456789abcdef0"),
        ("gatewayId", "igw-0123456789abcdef0"),
    ],
)
def test_attack_ipv6_default_route_around_the_firewall_held(
    dev: OfflineRun, target: str, value: str
) -> None:
    base = dev.one(t.ROUTE, "network-private-default-via-firewall")
    inputs = {
        "routeTableId": base.inputs["routeTableId"],
        "destinationIpv6CidrBlock": "::/0",
        target: value,
    }
    found = every_violation(dev, {}, [extra(base, t.ROUTE, "v6", inputs)])
    assert "host-egress-through-firewall" in policies(found), found


# --- Network Firewall ------------------------------------------------------------------------


def test_attack_stateless_group_outside_the_stack(dev: OfflineRun) -> None:
    """A stateless group this pack never sees (created by hand: `aws:pass` everything) runs
    before the stateful engine."""

    def reference(state: dict[str, Any]) -> dict[str, Any]:
        state["firewallPolicy"]["statelessRuleGroupReferences"] = [
            {
                "resourceArn": "arn:aws:network-firewall:eu-west-1:111111111111:"
                "stateless-rulegroup/pass-all",
                "priority": 1,
            }
        ]
        return state

    found = every_violation(dev, {"network-firewall-policy": reference})
    assert any("not in the stack" in m for p, m in found), found


def test_attack_stateless_pass_group_in_the_stack_held(dev: OfflineRun) -> None:
    allow = dev.one(t.NFW_RULE_GROUP)
    group = {
        "type": "STATELESS",
        "capacity": 10,
        "name": "pass-all",
        "ruleGroup": {
            "rulesSource": {
                "statelessRulesAndCustomActions": {
                    "statelessRules": [
                        {
                            "priority": 1,
                            "ruleDefinition": {
                                "actions": ["aws:pass"],
                                "matchAttributes": {"sources": [{"addressDefinition": "0/0"}]},
                            },
                        }
                    ]
                }
            }
        },
        "arn": "arn:aws:network-firewall:eu-west-1:111111111111:stateless-rulegroup/pass-all",
    }
    passer = extra(allow, t.NFW_RULE_GROUP, "pass-all", group)

    def reference(state: dict[str, Any]) -> dict[str, Any]:
        state["firewallPolicy"]["statelessRuleGroupReferences"] = [
            {"resourceArn": group["arn"], "priority": 1}
        ]
        return state

    found = every_violation(dev, {"network-firewall-policy": reference}, [passer])
    assert "nfw-rule-groups-drop-or-allowlist" in policies(found), found


@pytest.mark.parametrize(
    "change",
    [
        {"statelessDefaultActions": ["aws:pass"]},
        {"statelessFragmentDefaultActions": ["aws:pass"]},
        {"statefulEngineOptions": {"ruleOrder": "DEFAULT_ACTION_ORDER"}},
        {"statefulDefaultActions": ["aws:alert_established"]},
    ],
)
def test_attack_firewall_policy_defaults_held(dev: OfflineRun, change: dict[str, Any]) -> None:
    def apply(state: dict[str, Any]) -> dict[str, Any]:
        state["firewallPolicy"].update(change)
        return state

    found = every_violation(dev, {"network-firewall-policy": apply})
    assert found, change


# --- DNS Firewall ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    ["*.com", "*.COM.", "*binance.com", "*.com.evil.net", "*.xn--bnance-zua.com", "*.*.com"],
)
def test_attack_dns_allow_list_variants_held(dev: OfflineRun, entry: str) -> None:
    domains = [*dev.one(t.DNS_DOMAIN_LIST, "network-dns-allowed").inputs["domains"], entry]
    found = every_violation(dev, {"network-dns-allowed": set_("domains", domains)})
    assert "dns-allow-list-narrow" in policies(found), found


def test_attack_dns_allow_rule_on_a_list_outside_the_stack(dev: OfflineRun) -> None:
    """An ALLOW rule on a domain list made by hand (holding '*'): nothing in the stack says
    what it lets through."""
    found = every_violation(
        dev, {"network-dns-allow": set_("firewallDomainListId", "rslvr-fdl-0123456789abcdef")}
    )
    assert "dns-allow-list-narrow" in policies(found), found


# --- security group egress -------------------------------------------------------------------


@pytest.mark.parametrize(
    "cidrs",
    [
        ["203.0.113.7/32"],
        ["8.8.8.8/32"],
        ["0.0.0.0/1", "128.0.0.0/1"],
        ["10.42.0.2/32", "1.1.1.1/32"],
    ],
)
def test_attack_dns_egress_to_a_resolver_of_our_choosing(dev: OfflineRun, cidrs: list[str]) -> None:
    """UDP 53 to any address but the VPC resolver: the first packet of every flow passes a
    drop_established firewall, so each query carries data out."""

    def widen(state: dict[str, Any]) -> dict[str, Any]:
        state["egress"].append(
            {"protocol": "udp", "fromPort": 53, "toPort": 53, "cidrBlocks": cidrs}
        )
        return state

    found = every_violation(dev, {"host-sg": widen})
    assert "egress-https-and-dns-only" in policies(found), found


@pytest.mark.parametrize(
    "rule",
    [
        {"protocol": "udp", "fromPort": 443, "toPort": 443, "ipv6CidrBlocks": ["::/0"]},
        {"protocol": "-1", "fromPort": 0, "toPort": 0, "ipv6CidrBlocks": ["::/0"]},
        {"protocol": "tcp", "fromPort": 0, "toPort": 65535, "cidrBlocks": ["0.0.0.0/0"]},
    ],
)
def test_attack_security_group_egress_held(dev: OfflineRun, rule: dict[str, Any]) -> None:
    def widen(state: dict[str, Any]) -> dict[str, Any]:
        state["egress"].append(rule)
        return state

    found = every_violation(dev, {"host-sg": widen})
    assert "egress-https-and-dns-only" in policies(found), found


# --- endpoint policies pinned to the wrong account, or to none -------------------------------


def endpoint_condition(condition: dict[str, Any]):  # noqa: ANN201
    def apply(document: dict[str, Any]) -> None:
        document["Statement"][0]["Condition"] = condition

    return rewrite_policy("policy", apply)


THIS_ACCOUNT = "resource-policies-this-account"


@pytest.mark.parametrize(
    ("condition", "policy"),
    [
        # an attacker's account
        (
            {
                "StringEquals": {"aws:PrincipalAccount": "999999999999"},
                "StringEqualsIfExists": {"aws:ResourceAccount": "999999999999"},
            },
            THIS_ACCOUNT,
        ),
        # ours and theirs
        (
            {
                "StringEquals": {"aws:PrincipalAccount": ["111111111111", "999999999999"]},
                "StringEqualsIfExists": {"aws:ResourceAccount": "111111111111"},
            },
            THIS_ACCOUNT,
        ),
        # ArnEquals matches wildcards: every principal of every account
        (
            {
                "ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::*:*"},
                "StringEqualsIfExists": {"aws:ResourceAccount": "111111111111"},
            },
            "resource-policies-no-wildcards",
        ),
        # our credentials towards their topic / log group / secret
        (
            {
                "StringEquals": {"aws:PrincipalAccount": "111111111111"},
                "StringEqualsIfExists": {"aws:ResourceAccount": "999999999999"},
            },
            THIS_ACCOUNT,
        ),
    ],
)
def test_attack_endpoint_policy_pinned_to_another_account(
    dev: OfflineRun, condition: dict[str, Any], policy: str
) -> None:
    found = every_violation(dev, {"network-vpce-sns": endpoint_condition(condition)})
    assert policy in policies(found), found


def test_attack_provider_without_allowed_accounts(dev: OfflineRun) -> None:
    """Without allowedAccountIds the stack's account is unknown: refused, not skipped."""
    provider = dev.one("pulumi:providers:aws")

    def drop(state: dict[str, Any]) -> dict[str, Any]:
        state.pop("allowedAccountIds", None)
        return state

    found = every_violation(dev, {provider.name: drop})
    assert THIS_ACCOUNT in policies(found), found


def test_attack_endpoint_policy_not_principal_held(dev: OfflineRun) -> None:
    def apply(document: dict[str, Any]) -> None:
        st = document["Statement"][0]
        st["NotPrincipal"] = st.pop("Principal")

    found = every_violation(dev, {"network-vpce-sns": rewrite_policy("policy", apply)})
    assert "resource-policies-no-wildcards" in policies(found), found


# --- backups ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rule",
    [
        {"defaultRetention": {"mode": "GOVERNANCE", "days": 0}},
        {"defaultRetention": {"days": 35}},
        {},
    ],
)
def test_attack_object_lock_without_retention_held(dev: OfflineRun, rule: dict[str, Any]) -> None:
    found = every_violation(dev, {"backups-object-lock": set_("rule", rule)})
    assert "s3-bucket-settings-locked-down" in policies(found), found


def test_attack_endpoint_policies_are_json(dev: OfflineRun) -> None:
    """Sanity for the endpoint attacks above: the stack's own endpoint policy is JSON with
    one statement whose Condition they replace."""
    document = json.loads(dev.one(t.VPC_ENDPOINT, "network-vpce-sns").state["policy"])
    assert len(document["Statement"]) == 1


@pytest.mark.parametrize(
    "statement",
    [
        # write to a bucket of the attacker's, with the attacker's credentials, through the
        # S3 gateway endpoint (no firewall on that path)
        {"Action": "s3:PutObject", "Resource": "arn:aws:s3:::exfil-bucket/*"},
        {"Action": "s3:PutObject", "Resource": "arn:aws:s3:::exfil-bucket/drop"},
        # read from one: the key itself carries the data (the attacker's access logs)
        {"Action": "s3:GetObject", "Resource": "arn:aws:s3:::exfil-bucket/*"},
        # a look-alike of Amazon's repository bucket (bucket names are first come)
        {"Action": "s3:GetObject", "Resource": "arn:aws:s3:::al2023-repos-eu-west-1-00000000/*"},
    ],
)
def test_attack_s3_endpoint_open_principal_to_a_foreign_bucket(
    dev: OfflineRun, statement: dict[str, Any]
) -> None:
    from .test_policy_gaps import add_statement

    st = {"Effect": "Allow", "Principal": "*", **statement}
    found = every_violation(dev, {"network-vpce-s3": rewrite_policy("policy", add_statement(st))})
    assert "resource-policies-no-wildcards" in policies(found), found


# --- the same attacks as `pulumi preview` of a new stack sees them (gRPC pack, unknowns) ------

SNS_TO_OTHER_ACCOUNT = json.dumps(
    {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "*",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:PrincipalAccount": "999999999999"},
                    "StringEqualsIfExists": {"aws:ResourceAccount": "999999999999"},
                },
            }
        ]
    }
)

PREVIEW_ATTACKS = [
    ("network-vpce-sns", edit(["policy"], SNS_TO_OTHER_ACCOUNT), "999999999999"),
    (
        "network-firewall-policy",
        edit(
            ["firewallPolicy", "statelessRuleGroupReferences"],
            [
                {
                    "resourceArn": "arn:aws:network-firewall:eu-west-1:111111111111:"
                    "stateless-rulegroup/pass-all",
                    "priority": 1,
                }
            ],
        ),
        "stateless rule group not in the stack",
    ),
    (
        "host-sg",
        edit(
            ["egress", 1, "cidrBlocks"],
            ["8.8.8.8/32"],
        ),
        "not 8.8.8.8/32",
    ),
]


@pytest.mark.parametrize(("name", "change", "expected"), PREVIEW_ATTACKS)
def test_attack_blocked_at_preview(
    name: str,
    change: Any,
    expected: str,
    previews: dict[str, OfflineRun],
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    found = analyze(analyzer, preview_of(previews["dev"], {name: change}))
    assert [d for d in found if d.mandatory and expected in d.message], table(found)


def test_attack_dns_allow_rule_on_a_foreign_list_blocked_at_preview(
    previews: dict[str, OfflineRun], analyzer: analyzer_pb2_grpc.AnalyzerStub
) -> None:
    run = previews["dev"]
    rule = next(r for r in run.resources if r.name == "network-dns-allow")
    foreign = replace(
        rule,
        inputs={**rule.inputs, "firewallDomainListId": "rslvr-fdl-0123456789abcdef"},
        property_dependencies={
            k: v for k, v in rule.property_dependencies.items() if k != "firewallDomainListId"
        },
    )
    found = analyze(analyzer, [foreign if r is rule else r for r in run.resources])
    assert [d for d in found if d.mandatory and "domain list is not in the stack" in d.message], (
        table(found)
    )


@pytest.mark.parametrize("subnet", ["network-firewall", "network-public"])
def test_attack_second_nic_blocked_at_preview(
    subnet: str, previews: dict[str, OfflineRun], analyzer: analyzer_pb2_grpc.AnalyzerStub
) -> None:
    run = previews["dev"]
    host = next(r for r in run.resources if r.name == "host-instance")
    nic = replace(
        host,
        type="aws:ec2/networkInterface:NetworkInterface",
        name="second-nic",
        urn=host.urn.replace(
            "aws:ec2/instance:Instance", "aws:ec2/networkInterface:NetworkInterface"
        ).replace("host-instance", "second-nic"),
        inputs={
            "subnetId": Unknown(),
            "securityGroups": [Unknown()],
            "attachments": [{"instance": Unknown(), "deviceIndex": 1}],
        },
        property_dependencies={
            "subnetId": [
                next(r.urn for r in run.resources if r.type == t.SUBNET and r.name == subnet)
            ],
            "securityGroups": [urn_of(run, "host-sg")],
            "attachments": [host.urn],
        },
    )
    found = analyze(analyzer, [*run.resources, nic])
    assert [d for d in found if d.mandatory and d.policy == "host-egress-through-firewall"], table(
        found
    )


# --- config: prod's protection switched off --------------------------------------------------


@pytest.mark.parametrize("value", [False, "false", None])
def test_attack_prod_without_protect(value: Any) -> None:
    """`protect` keeps the NAT address keys are bound to, the KMS key, the log groups (the
    audit history), the firewall and the DNS Firewall association from `pulumi destroy` and
    console changes: a live-capable stack cannot switch it off (or leave it unset)."""
    raw = read_stack_file("prod")
    if value is None:
        del raw["tradewarden:protect"]
    else:
        raw["tradewarden:protect"] = value
    with pytest.raises(ConfigError) as info:
        load_stack_config(raw, "prod")
    assert any(p.startswith("tradewarden:protect:") for p in info.value.problems), info.value


def test_attack_live_stack_under_another_name_without_protect() -> None:
    raw = read_stack_file("dev")
    raw["tradewarden:mode"] = "live"
    with pytest.raises(ConfigError) as info:
        load_stack_config(raw, "live")
    assert any(p.startswith("tradewarden:protect:") for p in info.value.problems), info.value


# --- sharing the key or the backups with another account --------------------------------------

FOREIGN_READER = {
    "Sid": "Friend",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
}


@pytest.mark.parametrize(
    ("typ", "statement"),
    [
        (t.KMS_KEY, {**FOREIGN_READER, "Action": "kms:Decrypt", "Resource": "*"}),
        (
            t.S3_BUCKET_POLICY,
            {
                **FOREIGN_READER,
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::tradewarden-dev-backups-111111111111/*",
            },
        ),
    ],
)
def test_attack_key_or_backups_shared_with_another_account(
    dev: OfflineRun, analyzer: analyzer_pb2_grpc.AnalyzerStub, typ: str, statement: dict
) -> None:
    """The key and bucket policies are built from the stack's ARNs: unknown at preview, so
    the check runs during `up`, before the resource is created or updated, on the real text
    (as here, with the resource's provider as the engine sends it)."""
    (resource,) = [r for r in dev.resources if r.type == typ]
    document = json.loads(resource.inputs["policy"])
    document["Statement"].append(statement)
    provider = dev.one("pulumi:providers:aws")
    response = analyzer.Analyze(
        analyzer_pb2.AnalyzeRequest(
            type=resource.type,
            properties=struct({**resource.inputs, "policy": json.dumps(document)}),
            urn=resource.urn,
            name=resource.name,
            provider=analyzer_pb2.AnalyzerProviderResource(
                type=provider.type,
                properties=struct(provider.inputs),
                urn=provider.urn,
                name=provider.name,
            ),
        )
    )
    blocking = [
        d.message
        for d in response.diagnostics
        if d.enforcementLevel == analyzer_pb2.MANDATORY and "999999999999" in d.message
    ]
    assert blocking, list(response.diagnostics)


# --- DNS Firewall: ALERT lets a name through ---------------------------------------------------


def test_attack_dns_alert_rule_on_everything(dev: OfflineRun) -> None:
    """ALERT answers the query (and logs it), like ALLOW: an ALERT rule on the '*' list ahead
    of the BLOCK rule resolves every name, though the BLOCK rule is still there."""
    block = dev.one(t.DNS_RULE, "network-dns-block-rest")
    state = {
        k: v for k, v in block.state.items() if k not in ("id", "arn", "blockResponse", "name")
    }
    state.update(action="ALERT", priority=1, name="alert-everything")
    alert = extra(block, t.DNS_RULE, "alert-everything", state)
    found = every_violation(dev, {}, [alert])
    assert "dns-allow-list-narrow" in policies(found), found


# --- grants that let the host erase history or open its own egress ----------------------------

BACKUP_OBJECTS = "arn:aws:s3:::tradewarden-dev-backups-111111111111/dev/*"
LOG_GROUP_ARN = "arn:aws:logs:eu-west-1:111111111111:log-group:/tradewarden/dev/host"


@pytest.mark.parametrize(
    ("actions", "resource"),
    [
        (["s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"], BACKUP_OBJECTS),
        (["s3:PutObjectRetention"], BACKUP_OBJECTS),
        (["s3:PutLifecycleConfiguration"], "arn:aws:s3:::tradewarden-dev-backups-111111111111"),
        (["logs:DeleteLogGroup"], LOG_GROUP_ARN),
        (["logs:PutRetentionPolicy"], LOG_GROUP_ARN),
        (["kms:ScheduleKeyDeletion"], "arn:aws:kms:eu-west-1:111111111111:key/k"),
        (["ec2:DeleteSnapshot"], "arn:aws:ec2:eu-west-1::snapshot/snap-0123456789abcdef0"),
        (
            ["network-firewall:UpdateRuleGroup"],
            "arn:aws:network-firewall:eu-west-1:111111111111:stateful-rulegroup/x",
        ),
        (
            ["route53resolver:DisassociateFirewallRuleGroup"],
            "arn:aws:route53resolver:eu-west-1:111111111111:firewall-rule-group-association/x",
        ),
        (["ec2:ReplaceRoute"], "arn:aws:ec2:eu-west-1:111111111111:route-table/rtb-0123456789"),
        (["iam:PutRolePolicy"], "arn:aws:iam::111111111111:role/tradewarden-dev-host"),
    ],
)
def test_attack_host_role_may_erase_history_or_open_egress(
    dev: OfflineRun, actions: list[str], resource: str
) -> None:
    from .test_policy_gaps import add_statement

    st = {"Effect": "Allow", "Action": actions, "Resource": resource}
    found = every_violation(dev, {"host-role-policy": rewrite_policy("policy", add_statement(st))})
    assert "no-destructive-grants" in policies(found), found


def test_attack_bucket_policy_lets_the_host_delete_versions(dev: OfflineRun) -> None:
    from .test_policy_gaps import add_statement

    host_role = dev.one(t.IAM_ROLE, "host-role").outputs["arn"]
    st = {
        "Effect": "Allow",
        "Principal": {"AWS": host_role},
        "Action": ["s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"],
        "Resource": BACKUP_OBJECTS,
    }
    found = every_violation(dev, {"backups-policy": rewrite_policy("policy", add_statement(st))})
    assert "no-destructive-grants" in policies(found), found


# --- another machine with the host's role, in a subnet that skips the firewall ----------------


@pytest.mark.parametrize(
    ("typ", "props"),
    [
        ("aws:autoscaling/group:Group", {"maxSize": 1, "minSize": 1, "vpcZoneIdentifiers": None}),
        ("aws:ec2/spotInstanceRequest:SpotInstanceRequest", {"subnetId": None}),
    ],
)
def test_attack_autoscaled_or_spot_host_outside_the_firewalled_subnet(
    dev: OfflineRun, typ: str, props: dict[str, Any]
) -> None:
    host = dev.one(t.INSTANCE)
    subnet = dev.one(t.SUBNET, "network-firewall").id
    state = {
        k: ([subnet] if k == "vpcZoneIdentifiers" else subnet) if v is None else v
        for k, v in props.items()
    }
    if typ.endswith("SpotInstanceRequest"):
        state["iamInstanceProfile"] = host.state["iamInstanceProfile"]
    found = every_violation(dev, {}, [extra(host, typ, "second-host", state)])
    assert "host-egress-through-firewall" in policies(found), found


def test_attack_endpoint_pin_that_anonymous_requests_skip(dev: OfflineRun) -> None:
    """`...IfExists` on aws:PrincipalAccount is true for an anonymous request (it has no
    principal account): a public-writable bucket of the attacker's takes the data."""
    from .test_policy_gaps import add_statement

    st = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::exfil-bucket/*",
        "Condition": {"StringEqualsIfExists": {"aws:PrincipalAccount": "111111111111"}},
    }
    found = every_violation(dev, {"network-vpce-s3": rewrite_policy("policy", add_statement(st))})
    assert "resource-policies-no-wildcards" in policies(found), found


@pytest.mark.parametrize(
    "principal", ["*", {"AWS": "arn:aws:iam::111111111111:role/tradewarden-dev-host"}]
)
def test_attack_s3_endpoint_lets_own_credentials_write_to_a_foreign_bucket(
    dev: OfflineRun, principal: Any
) -> None:
    """Our own account's credentials (the host role) writing to the attacker's bucket (whose
    bucket policy accepts them): the endpoint must pin the resource's account too."""
    from .test_policy_gaps import add_statement

    st = {
        "Effect": "Allow",
        "Principal": principal,
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::exfil-bucket/*",
        "Condition": {"StringEquals": {"aws:PrincipalAccount": "111111111111"}},
    }
    found = every_violation(dev, {"network-vpce-s3": rewrite_policy("policy", add_statement(st))})
    assert "resource-policies-no-wildcards" in policies(found), found


@pytest.mark.parametrize(
    "rules",
    [
        "pass\ttls any any -> any any (sid:1; rev:1;)",
        "  PASS  ip any any -> any any (sid:1; rev:1;)",
        "alert ip any any -> any any (sid:2;)\npass\tip any any -> any any (sid:1;)",
    ],
)
def test_attack_suricata_pass_with_other_whitespace(dev: OfflineRun, rules: str) -> None:
    """Suricata splits a rule on any whitespace: a tab after `pass` is still a pass rule."""
    allow = dev.one(t.NFW_RULE_GROUP)
    group = {
        "type": "STATEFUL",
        "capacity": 10,
        "name": "tabbed",
        "ruleGroup": {"rulesSource": {"rulesString": rules}},
        "arn": "arn:aws:network-firewall:eu-west-1:111111111111:stateful-rulegroup/tabbed",
    }
    passer = extra(allow, t.NFW_RULE_GROUP, "tabbed", group)

    def reference(state: dict[str, Any]) -> dict[str, Any]:
        state["firewallPolicy"]["statefulRuleGroupReferences"].insert(
            0, {"resourceArn": group["arn"], "priority": 1}
        )
        return state

    found = every_violation(dev, {"network-firewall-policy": reference}, [passer])
    assert "nfw-rule-groups-drop-or-allowlist" in policies(found), found


# --- DNS forwarded to a resolver of the attacker's ----------------------------------------------


@pytest.mark.parametrize(
    ("typ", "props"),
    [
        (
            "aws:route53/resolverEndpoint:ResolverEndpoint",
            {
                "direction": "OUTBOUND",
                "securityGroupIds": ["sg-0123456789abcdef0"],
                "ipAddresses": [{"subnetId": "subnet-0123456789abcdef0"}],
            },
        ),
        (
            "aws:route53/resolverRule:ResolverRule",
            {
                "domainName": "binance.com",
                "ruleType": "FORWARD",
                "resolverEndpointId": "rslvr-out-0123456789abcdef0",
                "targetIps": [{"ip": "203.0.113.53", "port": 53}],
            },
        ),
    ],
)
def test_attack_dns_forwarded_to_an_outside_resolver(
    dev: OfflineRun, typ: str, props: dict[str, Any]
) -> None:
    """Allowed names (`<data>.binance.com`) forwarded to a resolver of the attacker's carry
    data out in every query, past the DNS Firewall that allowed them."""
    vpc = dev.one(t.VPC)
    found = every_violation(dev, {}, [extra(vpc, typ, "forwarder", props)])
    assert "egress-firewall-resources-fail-closed" in policies(found), found


@pytest.mark.parametrize(
    "target",
    [".binance.com.evil.net", ".evilbinance.com", "*.xn--binance-5za.com", ".com", "*"],
)
def test_attack_network_firewall_allow_list_variants_held(dev: OfflineRun, target: str) -> None:
    def widen(state: dict[str, Any]) -> dict[str, Any]:
        state["ruleGroup"]["rulesSource"]["rulesSourceList"]["targets"].append(target)
        return state

    found = every_violation(dev, {"network-egress-allowlist": widen})
    assert found, target


# --- an endpoint without a policy (AWS's default: anyone, anything) ---------------------------


@pytest.mark.parametrize(
    ("service", "kind"), [("dynamodb", "Gateway"), ("sqs", "Interface"), ("s3", "Interface")]
)
def test_attack_endpoint_without_a_policy(dev: OfflineRun, service: str, kind: str) -> None:
    """Without a policy AWS attaches one allowing every principal every action: another
    account's table, queue or bucket, reached through the endpoint past the firewall."""
    s3 = dev.one(t.VPC_ENDPOINT, "network-vpce-s3")
    props = {k: v for k, v in s3.state.items() if k not in ("policy", "id", "arn", "routeTableIds")}
    props.update(serviceName=f"com.amazonaws.eu-west-1.{service}", vpcEndpointType=kind)
    if kind == "Gateway":
        props["routeTableIds"] = s3.state["routeTableIds"]
    found = every_violation(dev, {}, [extra(s3, t.VPC_ENDPOINT, f"vpce-{service}", props)])
    assert "resource-policies-no-wildcards" in policies(found), found


@pytest.mark.parametrize(
    "rule",
    [
        # 587 "inside the VPC" by its CIDR, and to a customer-managed prefix list that may
        # hold 0.0.0.0/0: SMTP submission to any mail server on the internet.
        {
            "protocol": "tcp",
            "fromPort": 587,
            "toPort": 587,
            "cidrBlocks": ["10.42.0.0/16"],
            "prefixListIds": ["pl-0123456789abcdef0"],
        },
        # The same trick for DNS: the VPC resolver, and a prefix list of one's own resolvers.
        {
            "protocol": "udp",
            "fromPort": 53,
            "toPort": 53,
            "cidrBlocks": ["10.42.0.2/32"],
            "prefixListIds": ["pl-0123456789abcdef0"],
        },
    ],
)
def test_attack_smtp_or_dns_egress_to_a_prefix_list_next_to_a_vpc_cidr(
    dev: OfflineRun, rule: dict[str, Any]
) -> None:
    def widen(state: dict[str, Any]) -> dict[str, Any]:
        state["egress"].append(rule)
        return state

    found = every_violation(dev, {"host-sg": widen})
    assert "egress-https-and-dns-only" in policies(found), found
    # The separate rule resources: the same, by prefix list alone or next to a CIDR.
    sgr = {k: v for k, v in rule.items() if k != "cidrBlocks"} | {"type": "egress"}
    assert t.check_egress_https_dns_only(
        t.SECURITY_GROUP_RULE, sgr | {"cidrBlocks": rule["cidrBlocks"]}
    )
    assert t.check_egress_https_dns_only(
        t.VPC_EGRESS_RULE,
        {
            "ipProtocol": rule["protocol"],
            "fromPort": rule["fromPort"],
            "toPort": rule["toPort"],
            "destinationPrefixListId": "pl-0123456789abcdef0",
        },
    )


# --- the SES SMTP user: its password is on the host, so its grants are a channel out -------


def _mail_anyone(state: dict[str, Any]) -> dict[str, Any]:
    doc = json.loads(state["policy"])
    for st in doc["Statement"]:
        st["Condition"].pop("ForAllValues:StringEquals", None)
    state["policy"] = json.dumps(doc)
    return state


def _recipients_like_anything(state: dict[str, Any]) -> dict[str, Any]:
    doc = json.loads(state["policy"])
    for st in doc["Statement"]:
        st["Condition"]["ForAllValues:StringLike"] = {"ses:Recipients": ["*"]}
        st["Condition"].pop("ForAllValues:StringEquals", None)
    state["policy"] = json.dumps(doc)
    return state


@pytest.mark.parametrize("change", [_mail_anyone, _recipients_like_anything])
def test_attack_smtp_user_mails_any_recipient(dev: OfflineRun, change: Any) -> None:
    """The SMTP user's inline policy without its recipient pin: whoever holds the host
    sends anything to anyone through SES, around the egress firewalls."""
    found = every_violation(dev, {"email-smtp-user-policy": change})
    assert "iam-no-wildcards" in policies(found), found


@pytest.mark.parametrize(
    ("typ", "state"),
    [
        (
            "aws:iam/userPolicyAttachment:UserPolicyAttachment",
            {
                "user": "tradewarden-dev-ses-smtp",
                "policyArn": "arn:aws:iam::aws:policy/AmazonSESFullAccess",
            },
        ),
        (
            t.IAM_POLICY_ATTACHMENT,
            {
                "name": "x",
                "users": ["tradewarden-dev-ses-smtp"],
                "policyArn": "arn:aws:iam::aws:policy/AmazonSESFullAccess",
            },
        ),
        (
            "aws:iam/userGroupMembership:UserGroupMembership",
            {"user": "tradewarden-dev-ses-smtp", "groups": ["ses-senders"]},
        ),
    ],
)
def test_attack_smtp_user_gets_a_managed_policy_or_a_group(
    dev: OfflineRun, typ: str, state: dict[str, Any]
) -> None:
    """A managed policy (AmazonSESFullAccess: ses:* on *) or a group next to the pinned
    inline policy: IAM grants the union, and the SMTP password mails anyone again."""
    like = dev.one("aws:iam/userPolicy:UserPolicy")
    found = every_violation(dev, {}, [extra(like, typ, "grant", state)])
    assert "iam-no-wildcards" in policies(found), found
