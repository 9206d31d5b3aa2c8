"""`infra.resource_graph`: the stack's resources, parents and dependencies as plain data
(what the compliance packet's architecture diagram is drawn from)."""

from __future__ import annotations

import json

from infra.offline import OfflineRun
from infra.resource_graph import graph_of


def test_every_recorded_resource_carries_its_own_urn(stack_runs: dict[str, OfflineRun]) -> None:
    # Two resources may share a name (the subnet and the firewall are both
    # "network-firewall"); each must get its own URN and registration.
    for stack, run in stack_runs.items():
        urns = [r.urn for r in run.resources]
        assert len(set(urns)) == len(urns), stack
        for r in run.resources:
            assert r.urn.endswith(f"{r.type}::{r.name}"), (stack, r.type, r.name, r.urn)


def test_graph_holds_every_resource_with_its_component(stack_runs: dict[str, OfflineRun]) -> None:
    for stack, run in stack_runs.items():
        g = graph_of(run)
        json.dumps(g)  # plain data
        by_urn = {r["urn"]: r for r in g["resources"]}
        assert len(by_urn) == len(run.resources), stack
        components = {c["name"]: c for c in g["components"]}
        for r in g["resources"]:
            if r["custom"] and r["type"] != "pulumi:providers:aws":
                # every AWS resource sits in one of the program's ComponentResources
                assert r["component"] in components, (stack, r["name"])
                assert r["name"] in components[r["component"]]["resources"]
            for dep in r["dependencies"]:
                assert dep in by_urn, (stack, r["name"], dep)
        subnet = next(
            r
            for r in g["resources"]
            if r["type"] == "aws:ec2/subnet:Subnet" and r["name"] == "network-firewall"
        )
        assert subnet["component"] == "network"
        vpc = next(r for r in g["resources"] if r["name"] == "network-vpc")
        assert vpc["urn"] in subnet["dependencies"]
        instance = next(r for r in g["resources"] if r["name"] == "host-instance")
        profile = next(r for r in g["resources"] if r["name"] == "host-profile")
        assert profile["urn"] in instance["dependencies"]


def test_graph_summarises_what_the_program_declares(stack_runs: dict[str, OfflineRun]) -> None:
    for run in stack_runs.values():
        g = graph_of(run)
        rule_group = run.one("aws:networkfirewall/ruleGroup:RuleGroup")
        targets = rule_group.inputs["ruleGroup"]["rulesSource"]["rulesSourceList"]["targets"]
        assert g["egress"]["network_firewall"] == targets == run.outputs["egressAllowList"]
        assert g["egress"]["alert_hosts"] == run.outputs["alertEgressHosts"]
        allowed = run.one(
            "aws:route53/resolverFirewallDomainList:ResolverFirewallDomainList",
            "network-dns-allowed",
        )
        assert g["egress"]["dns_firewall"] == allowed.inputs["domains"]
        assert g["egress"]["nat_public_ip"] == run.outputs["natPublicIp"]
        (sg,) = [
            r for r in run.of_type("aws:ec2/securityGroup:SecurityGroup") if r.name == "host-sg"
        ]
        assert g["host"]["security_group"]["ingress"] == []
        assert {e["port"] for e in g["host"]["security_group"]["egress"]} == {
            int(e["fromPort"]) for e in sg.inputs["egress"]
        }
        assert sorted(e["service"] for e in g["vpc_endpoints"]) == sorted(
            r.inputs["serviceName"] for r in run.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        )
        assert sorted(s["name"] for s in g["secrets"]) == sorted(
            r.inputs["name"] for r in run.of_type("aws:secretsmanager/secret:Secret")
        )
        topic = run.one("aws:sns/topic:Topic")
        assert g["alerting"]["topic"] == topic.inputs["name"]
        subs = run.of_type("aws:sns/topicSubscription:TopicSubscription")
        assert sum(g["alerting"]["subscriptions"].values()) == len(subs)
        # endpoints (addresses, phone numbers) are not carried: only protocols and counts
        assert not any(s.inputs["endpoint"] in json.dumps(g) for s in subs)
        assert sorted(g["alerting"]["alarms"]) == sorted(
            r.inputs["name"] for r in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        )
        assert g["mode"] == run.outputs["mode"]
        assert g["monitoring"]["grafana"] == bool(run.of_type("aws:grafana/workspace:Workspace"))
