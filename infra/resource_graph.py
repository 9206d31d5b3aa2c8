"""A stack's resources as plain data: what the program declares, grouped and linked.

    python -m infra.resource_graph prod      # JSON on stdout

Runs the Pulumi program offline (`infra.offline.run_offline`, the recording mocks the
tests use; nothing talks to AWS) and returns a JSON-ready dict:

- ``resources``: every registered resource with its URN, type, name, parent URN, the
  ComponentResource it belongs to and the URNs it depends on (explicit ``dependsOn`` and
  input dependencies, as the engine is told them);
- ``components``: the program's ComponentResources and the resources each holds;
- summaries read from the resources' inputs: the egress allow-lists (Network Firewall SNI
  list, DNS Firewall list, alert hosts, the host security group's rules, the NAT address),
  the VPC endpoints, the secrets, the alert topic (subscription protocols and counts only,
  never the addresses), the alarms, monitoring and backups.

The compliance packet's architecture diagram (`tradewarden.compliance.diagram`) is drawn
from it, so a resource added to the program shows up there.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from infra.offline import REPO_ROOT, OfflineRun, Recorded, read_stack_file, run_offline

COMPONENT_PREFIX = "tradewarden:infra:"
# The host's own egress filter and monitoring, as the release installs them (ops/).
NFT_RULES = Path("ops/nftables/tradewarden.nft")
NFT_REFRESH = Path("ops/nftables/refresh-allowlist.py")
PROMETHEUS_CONFIG = Path("ops/prometheus/prometheus.yml")
ALERTMANAGER_CONFIG = Path("ops/alertmanager/alertmanager.yml")
SYSTEMD_DIR = Path("ops/systemd")
_NFT_ACCEPT = re.compile(
    r"^\s*ip daddr @(?P<set>\w+) tcp dport (?P<port>\d+) accept comment \"(?P<why>[^\"]*)\"",
    re.M,
)


def _rules(rules: Any) -> list[dict[str, Any]]:
    out = []
    for r in rules or []:
        dest = list(r.get("cidrBlocks") or []) + list(r.get("securityGroups") or [])
        dest += list(r.get("prefixListIds") or [])
        out.append(
            {
                "protocol": str(r.get("protocol")),
                "port": int(r.get("fromPort", 0)),
                "to_port": int(r.get("toPort", 0)),
                "to": dest,
                "description": str(r.get("description", "")),
            }
        )
    return out


def _one(run: OfflineRun, typ: str, name: str | None = None) -> Recorded | None:
    found = [r for r in run.of_type(typ) if name is None or r.name == name]
    return found[0] if len(found) == 1 else None


def graph_of(run: OfflineRun) -> dict[str, Any]:
    """The plain-data graph of one offline run (see the module docstring)."""
    by_urn = {r.urn: r for r in run.resources if r.urn}
    components = [r for r in run.resources if r.type.startswith(COMPONENT_PREFIX)]
    comp_by_urn = {c.urn: c for c in components}

    def component_of(r: Recorded) -> str | None:
        parent = r.options.get("parent", "")
        seen = set()
        while parent and parent not in seen:
            seen.add(parent)
            if parent in comp_by_urn:
                return comp_by_urn[parent].name
            up = by_urn.get(parent)
            parent = up.options.get("parent", "") if up else ""
        return None

    resources = []
    for r in run.resources:
        deps = set(r.options.get("dependencies") or [])
        for urns in r.property_dependencies.values():
            deps.update(urns)
        deps.discard(r.urn)
        parent = r.options.get("parent") or ""
        resources.append(
            {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "custom": r.custom,
                "parent": parent if parent in by_urn else None,
                "component": component_of(r),
                "dependencies": sorted(d for d in deps if d in by_urn),
            }
        )
    comp_list = [
        {
            "name": c.name,
            "type": c.type,
            "resources": [x["name"] for x in resources if x["component"] == c.name],
        }
        for c in components
    ]

    rule_group = _one(run, "aws:networkfirewall/ruleGroup:RuleGroup")
    sni: list[str] = (
        list(rule_group.inputs["ruleGroup"]["rulesSource"]["rulesSourceList"]["targets"])
        if rule_group
        else []
    )
    sni_types: list[str] = (
        list(rule_group.inputs["ruleGroup"]["rulesSource"]["rulesSourceList"]["targetTypes"])
        if rule_group
        else []
    )
    dns_lists = run.of_type("aws:route53/resolverFirewallDomainList:ResolverFirewallDomainList")
    dns_rules = run.of_type("aws:route53/resolverFirewallRule:ResolverFirewallRule")
    dns_config = _one(run, "aws:route53/resolverFirewallConfig:ResolverFirewallConfig")
    allow_list_ids = {
        rule.inputs.get("firewallDomainListId")
        for rule in dns_rules
        if rule.inputs.get("action") == "ALLOW"
    }
    allowed_dns = [d for d in dns_lists if d.id in allow_list_ids] or [
        d for d in dns_lists if d.name.endswith("-allowed")
    ]
    host_sg = next(
        (
            r
            for r in run.of_type("aws:ec2/securityGroup:SecurityGroup")
            if component_of(r) == "host"
        ),
        None,
    )
    instance = _one(run, "aws:ec2/instance:Instance")
    topic = _one(run, "aws:sns/topic:Topic")
    subs = Counter(
        str(s.inputs.get("protocol"))
        for s in run.of_type("aws:sns/topicSubscription:TopicSubscription")
    )
    bucket = _one(run, "aws:s3/bucket:Bucket")
    amp = _one(run, "aws:amp/workspace:Workspace")
    return {
        "stack": run.stack,
        "mode": run.outputs.get("mode"),
        "testnet": run.outputs.get("testnet"),
        "region": _region(run),
        "resources": resources,
        "components": comp_list,
        "egress": {
            "network_firewall": sni,
            "network_firewall_inspects": sni_types,
            "dns_firewall": sorted(d for lst in allowed_dns for d in lst.inputs.get("domains", [])),
            "dns_firewall_fail_open": (
                dns_config.inputs.get("firewallFailOpen") if dns_config else None
            ),
            "alert_hosts": list(run.outputs.get("alertEgressHosts") or []),
            "nat_public_ip": run.outputs.get("natPublicIp"),
        },
        "host": {
            "instance": instance.name if instance else None,
            "instance_type": instance.inputs.get("instanceType") if instance else None,
            "imds_tokens": (instance.inputs.get("metadataOptions") or {}).get("httpTokens")
            if instance
            else None,
            "public_ip": bool(instance.inputs.get("associatePublicIpAddress"))
            if instance
            else None,
            "security_group": {
                "name": host_sg.name if host_sg else None,
                "ingress": _rules(host_sg.inputs.get("ingress")) if host_sg else [],
                "egress": _rules(host_sg.inputs.get("egress")) if host_sg else [],
            },
        },
        "vpc_endpoints": [
            {
                "name": e.name,
                "service": e.inputs.get("serviceName"),
                "kind": e.inputs.get("vpcEndpointType"),
            }
            for e in run.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        ],
        "secrets": [
            {"resource": s.name, "name": s.inputs.get("name")}
            for s in run.of_type("aws:secretsmanager/secret:Secret")
        ],
        "kms_keys": [
            {"resource": k.name, "rotation": bool(k.inputs.get("enableKeyRotation"))}
            for k in run.of_type("aws:kms/key:Key")
        ],
        "alerting": {
            "topic": topic.inputs.get("name") if topic else None,
            "topic_encrypted": bool(topic.inputs.get("kmsMasterKeyId")) if topic else None,
            "subscriptions": dict(sorted(subs.items())),
            "alarms": [
                a.inputs.get("name") for a in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
            ],
        },
        "monitoring": {
            "amp_workspace": amp.name if amp else None,
            "grafana": bool(run.of_type("aws:grafana/workspace:Workspace")),
            "log_groups": [
                g.inputs.get("name") or g.name
                for g in run.of_type("aws:cloudwatch/logGroup:LogGroup")
            ],
        },
        "backups": {"bucket": bucket.inputs.get("bucket") if bucket else None},
    }


def _region(run: OfflineRun) -> str | None:
    provider = _one(run, "pulumi:providers:aws")
    return str(provider.inputs.get("region")) if provider else None


def host_side(testnet: bool, root: Path = REPO_ROOT) -> dict[str, Any]:
    """What the release sets up on the host, read from ``ops/``: the nftables output rules
    (set -> port, why) and the Binance host names the refresh fills in, Prometheus' scrape
    jobs and Alertmanager's receivers with their kinds of destination, the systemd units."""
    spec = importlib.util.spec_from_file_location("_refresh_allowlist", root / NFT_REFRESH)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(root / NFT_REFRESH)
    refresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(refresh)
    nft = (root / NFT_RULES).read_text(encoding="utf-8")
    rules = [
        {"set": m["set"], "port": int(m["port"]), "why": m["why"]}
        for m in _NFT_ACCEPT.finditer(nft)
    ]
    prom = yaml.safe_load((root / PROMETHEUS_CONFIG).read_text(encoding="utf-8"))
    scrapes = [
        {"job": j["job_name"], "targets": [t for sc in j["static_configs"] for t in sc["targets"]]}
        for j in prom.get("scrape_configs", [])
    ]
    am = yaml.safe_load((root / ALERTMANAGER_CONFIG).read_text(encoding="utf-8"))
    receivers = {
        r["name"]: sorted(k.removesuffix("_configs") for k in r if k.endswith("_configs"))
        for r in am.get("receivers", [])
    }
    return {
        "nftables": {
            "policy": "drop",
            "rules": rules,
            "binance_hosts": list(refresh.LIVE_HOSTS)
            + (list(refresh.TESTNET_HOSTS) if testnet else []),
        },
        "prometheus": {"scrapes": scrapes},
        "alertmanager": {"receivers": receivers},
        "units": sorted(p.name for p in (root / SYSTEMD_DIR).glob("*.service")),
    }


def resource_graph(stack: str, root: Path = REPO_ROOT) -> dict[str, Any]:
    """Run `stack` (``Pulumi.<stack>.yaml`` in `root`) offline and return its graph, with
    the host side (`host_side`) under ``host_services``."""
    graph = graph_of(run_offline(stack, read_stack_file(stack, root)))
    graph["host_services"] = host_side(bool(graph["testnet"]), root)
    return graph


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.resource_graph", description=__doc__)
    parser.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    args = parser.parse_args(argv)
    try:
        graph = resource_graph(args.stack)
    except FileNotFoundError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    json.dump(graph, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
