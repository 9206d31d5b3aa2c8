"""Bad stacks that once passed every policy with zero violations: each is the dev stack (its
state after `pulumi up`) with one thing broken, run through every resource and stack
policy; each must now be refused, by the policy named."""

from __future__ import annotations

import json
from copy import deepcopy
from typing import Any

import pytest
from pulumi_policy import PolicyResource, ResourceValidationPolicy, StackValidationPolicy

from infra.offline import OfflineRun, Recorded
from infra.policy import checks as t

from .conftest import POLICIES, policy_resource, resource_violations, stack_violations


@pytest.fixture()
def dev(stack_runs: dict[str, OfflineRun]) -> OfflineRun:
    return stack_runs["dev"]


def every_violation(
    run: OfflineRun,
    changes: dict[str, Any],
    extra: list[Recorded] = (),  # type: ignore[assignment]
) -> list[tuple[str, str]]:
    """(policy, message) for the changed stack: every resource through every resource
    policy (its state), the whole set through every stack policy."""
    states: list[tuple[Recorded, dict[str, Any]]] = []
    for r in [*run.resources, *extra]:
        if not r.custom:
            continue
        state = deepcopy(r.state)
        if r.name in changes:
            state = changes[r.name](state)
        states.append((r, state))
    out = []
    for r, state in states:
        for name, pol in POLICIES.items():
            if isinstance(pol, ResourceValidationPolicy):
                out += [(name, m) for m in resource_violations(name, r.type, state)]
    stack: list[PolicyResource] = [policy_resource(r, s) for r, s in states]
    for name, pol in POLICIES.items():
        if isinstance(pol, StackValidationPolicy):
            out += [(name, m) for m, _ in stack_violations(name, stack)]
    return out


def test_the_unchanged_dev_stack_passes(dev: OfflineRun) -> None:
    assert every_violation(dev, {}) == []


def set_(key: str, value: Any):  # noqa: ANN201 - returns an editor
    def apply(state: dict[str, Any]) -> dict[str, Any]:
        state[key] = value
        return state

    return apply


def test_dns_allow_list_of_everything_is_refused(dev: OfflineRun) -> None:
    found = every_violation(dev, {"network-dns-allowed": set_("domains", ["*"])})
    assert ("dns-allow-list-narrow", "the DNS Firewall ALLOW rule allows every domain ('*')") in [
        (p, m) for p, m in found
    ], found


def test_dns_allow_list_with_a_broad_wildcard_is_refused(dev: OfflineRun) -> None:
    domains = [*dev.one(t.DNS_DOMAIN_LIST, "network-dns-allowed").inputs["domains"], "*.com"]
    found = every_violation(dev, {"network-dns-allowed": set_("domains", domains)})
    assert any(p == "dns-allow-list-narrow" and "'*.com'" in m for p, m in found), found


def extra_group(dev: OfflineRun, rule_group: dict[str, Any]) -> Recorded:
    allow = dev.one(t.NFW_RULE_GROUP)
    return Recorded(
        t.NFW_RULE_GROUP,
        "network-pass-all",
        "pass-all",
        {"type": "STATEFUL", "capacity": 10, "name": "pass-all", "ruleGroup": rule_group},
        {
            "type": "STATEFUL",
            "capacity": 10,
            "name": "pass-all",
            "ruleGroup": rule_group,
            "arn": allow.outputs["arn"].replace("allowlist", "pass-all"),
        },
        urn=allow.urn.replace("network-egress-allowlist", "network-pass-all"),
    )


PASS_GROUPS = [
    {"rulesSource": {"rulesString": "pass ip any any -> any any (sid:1; rev:1;)"}},
    {
        "rulesSource": {
            "statefulRules": [
                {
                    "action": "PASS",
                    "header": {
                        "protocol": "IP",
                        "source": "ANY",
                        "sourcePort": "ANY",
                        "direction": "FORWARD",
                        "destination": "ANY",
                        "destinationPort": "ANY",
                    },
                    "ruleOptions": [{"keyword": "sid", "settings": ["1"]}],
                }
            ]
        }
    },
]


@pytest.mark.parametrize("group", PASS_GROUPS)
def test_extra_rule_group_that_passes_everything_is_refused(
    dev: OfflineRun, group: dict[str, Any]
) -> None:
    passer = extra_group(dev, group)

    def reference_it_first(state: dict[str, Any]) -> dict[str, Any]:
        refs = state["firewallPolicy"]["statefulRuleGroupReferences"]
        refs.insert(0, {"resourceArn": passer.outputs["arn"], "priority": 1})
        return state

    found = every_violation(dev, {"network-firewall-policy": reference_it_first}, [passer])
    assert any(p == "nfw-rule-groups-drop-or-allowlist" for p, _ in found), found


def test_firewall_policy_referencing_a_group_outside_the_stack_is_refused(
    dev: OfflineRun,
) -> None:
    def reference_managed(state: dict[str, Any]) -> dict[str, Any]:
        state["firewallPolicy"]["statefulRuleGroupReferences"].insert(
            0,
            {
                "resourceArn": "arn:aws:network-firewall:eu-west-1:aws-managed:"
                "stateful-rulegroup/AttackInfrastructureStrictOrder",
                "priority": 1,
            },
        )
        return state

    found = every_violation(dev, {"network-firewall-policy": reference_managed})
    assert any(p == "egress-firewalls-fail-closed" and "not in the stack" in m for p, m in found), (
        found
    )


def test_private_default_route_straight_to_the_nat_is_refused(dev: OfflineRun) -> None:
    nat = dev.one("aws:ec2/natGateway:NatGateway")

    def to_nat(state: dict[str, Any]) -> dict[str, Any]:
        del state["vpcEndpointId"]
        state["natGatewayId"] = nat.id
        return state

    found = every_violation(dev, {"network-private-default-via-firewall": to_nat})
    assert any(p == "host-egress-through-firewall" and "bypass" in m for p, m in found), found


def test_extra_route_around_the_firewall_is_refused(dev: OfflineRun) -> None:
    nat = dev.one("aws:ec2/natGateway:NatGateway")
    base = dev.one("aws:ec2/route:Route", "network-private-default-via-firewall")
    inputs = {
        "routeTableId": base.inputs["routeTableId"],
        "destinationCidrBlock": "0.0.0.0/1",
        "natGatewayId": nat.id,
    }
    around = Recorded(base.type, "sneaky", "r-sneaky", inputs, dict(inputs), urn="urn:x::sneaky")
    found = every_violation(dev, {}, [around])
    assert any(p == "host-egress-through-firewall" for p, _ in found), found


def rewrite_policy(key: str, mutate: Any):  # noqa: ANN201 - returns an editor
    def apply(state: dict[str, Any]) -> dict[str, Any]:
        document = json.loads(state[key])
        mutate(document)
        state[key] = json.dumps(document)
        return state

    return apply


def add_statement(statement: dict[str, Any]):  # noqa: ANN201
    return lambda document: document["Statement"].append(statement)


ANYONE_ANYTHING = {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}


@pytest.mark.parametrize(
    ("name", "key", "statement"),
    [
        ("secrets-key", "policy", {**ANYONE_ANYTHING, "Action": "kms:Decrypt"}),
        ("secrets-key", "policy", {**ANYONE_ANYTHING, "Principal": {"AWS": "*"}}),
        (
            "secrets-key",
            "policy",
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111111111111:role/x"},
                "Action": "kms:*",
                "Resource": "*",
            },
        ),
        ("backups-policy", "policy", {**ANYONE_ANYTHING, "Action": "s3:GetObject"}),
        ("secrets-binance-trade-policy", "policy", ANYONE_ANYTHING),
        ("network-vpce-s3", "policy", ANYONE_ANYTHING),
        ("network-vpce-sns", "policy", ANYONE_ANYTHING),
    ],
)
def test_wildcards_in_resource_policies_are_refused(
    dev: OfflineRun, name: str, key: str, statement: dict[str, Any]
) -> None:
    if "policy" not in dev.one(dev_type(dev, name), name).state:
        pytest.fail(f"{name} has no policy to widen")
    found = every_violation(dev, {name: rewrite_policy(key, add_statement(statement))})
    assert any(p == "resource-policies-no-wildcards" for p, _ in found), found


def dev_type(dev: OfflineRun, name: str) -> str:
    return next(r.type for r in dev.resources if r.name == name)


def test_route_table_state_as_aws_reports_it(dev: OfflineRun) -> None:
    """After `up`, the route table's own `routes` list every target key ("" when unused);
    the VPC's local route and gateway-endpoint routes are not a bypass, a NAT route is."""
    endpoint = dev.one(t.NFW_FIREWALL).outputs["firewallStatuses"][0]["syncStates"][0][
        "attachments"
    ][0]["endpointId"]
    blank = dict.fromkeys((*t.BYPASS_TARGETS, "vpcEndpointId"), "")

    def with_routes(*routes: dict[str, Any]):  # noqa: ANN202
        return set_("routes", [{**blank, **r} for r in routes])

    ok = with_routes(
        {"cidrBlock": "0.0.0.0/0", "vpcEndpointId": endpoint},
        {"cidrBlock": "10.42.0.0/16", "gatewayId": "local"},
        {"destinationPrefixListId": "pl-6da54004", "gatewayId": "vpce-0123456789abcdef0"},
    )
    found = every_violation(dev, {"network-private-rt": ok})
    assert [m for p, m in found if p == "host-egress-through-firewall"] == []
    nat = dev.one("aws:ec2/natGateway:NatGateway").id
    bad = with_routes(
        {"cidrBlock": "0.0.0.0/0", "vpcEndpointId": endpoint},
        {"cidrBlock": "8.8.8.8/32", "natGatewayId": nat},
    )
    found = every_violation(dev, {"network-private-rt": bad})
    assert any(p == "host-egress-through-firewall" and "natGatewayId" in m for p, m in found)
