"""Print a stack's resource inventory, built offline through the mocks, for review.

    python -m infra.inventory dev            # table: type, name, key properties
    python -m infra.inventory prod --json    # the same as JSON

Nothing talks to AWS: the program runs against `infra.offline.RecordingMocks`, with the
stack's ``Pulumi.<stack>.yaml`` as config and its admin role as the deployer.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from infra.offline import REPO_ROOT, OfflineRun, Recorded, read_stack_file, run_offline


def _rules(rules: Any) -> str:
    parts = []
    for r in rules or []:
        port = f"{int(r.get('fromPort', 0))}"
        dest = ",".join(r.get("cidrBlocks") or r.get("securityGroups") or []) or "-"
        parts.append(f"{r.get('protocol')}/{port}->{dest}")
    return " ".join(parts) or "none"


def _statement_summary(policy: Any) -> str:
    try:
        doc = json.loads(policy) if isinstance(policy, str) else policy
    except json.JSONDecodeError:
        return "?"
    return ", ".join(s.get("Sid", "?") for s in doc.get("Statement", []))


DESCRIBE: dict[str, Callable[[dict[str, Any]], str]] = {
    "aws:ec2/instance:Instance": lambda p: (
        f"type={p.get('instanceType')} ami={p.get('ami')} "
        f"publicIp={p.get('associatePublicIpAddress')} "
        f"imds={p.get('metadataOptions', {}).get('httpTokens')}"
        f"/hop{int(p.get('metadataOptions', {}).get('httpPutResponseHopLimit', 0))} "
        f"ebsEncrypted={p.get('rootBlockDevice', {}).get('encrypted')} "
        f"monitoring={p.get('monitoring')} keyPair={p.get('keyName') or 'none'}"
    ),
    "aws:ec2/securityGroup:SecurityGroup": lambda p: (
        f"ingress={_rules(p.get('ingress'))} egress={_rules(p.get('egress'))}"
    ),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": lambda p: (
        f"ingress={_rules(p.get('ingress'))} egress={_rules(p.get('egress'))}"
    ),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": lambda p: (
        f"{p.get('ipProtocol')}/{int(p.get('fromPort', 0))} "
        f"from sg {p.get('referencedSecurityGroupId')}"
    ),
    "aws:ec2/vpc:Vpc": lambda p: f"cidr={p.get('cidrBlock')}",
    "aws:ec2/subnet:Subnet": lambda p: (
        f"cidr={p.get('cidrBlock')} az={p.get('availabilityZone')} "
        f"publicIpOnLaunch={p.get('mapPublicIpOnLaunch')}"
    ),
    "aws:ec2/route:Route": lambda p: (
        f"{p.get('destinationCidrBlock')} -> "
        + next(
            (f"{k}={p[k]}" for k in ("vpcEndpointId", "natGatewayId", "gatewayId") if p.get(k)),
            "?",
        )
    ),
    "aws:ec2/vpcEndpoint:VpcEndpoint": lambda p: (
        f"{p.get('vpcEndpointType')} {p.get('serviceName')} privateDns={p.get('privateDnsEnabled')}"
    ),
    "aws:networkfirewall/ruleGroup:RuleGroup": lambda p: (
        "allow "
        + " ".join(p["ruleGroup"]["rulesSource"]["rulesSourceList"]["targets"])
        + " on "
        + "+".join(p["ruleGroup"]["rulesSource"]["rulesSourceList"]["targetTypes"])
    ),
    "aws:networkfirewall/firewallPolicy:FirewallPolicy": lambda p: (
        "default " + ",".join(p["firewallPolicy"]["statefulDefaultActions"])
    ),
    "aws:route53/resolverFirewallDomainList:ResolverFirewallDomainList": lambda p: (
        f"{len(p.get('domains', []))} domains: "
        + " ".join(p.get("domains", [])[:6])
        + (" ..." if len(p.get("domains", [])) > 6 else "")
    ),
    "aws:route53/resolverFirewallRule:ResolverFirewallRule": lambda p: (
        f"priority {int(p.get('priority', 0))} {p.get('action')}"
    ),
    "aws:route53/resolverFirewallConfig:ResolverFirewallConfig": lambda p: (
        f"failOpen={p.get('firewallFailOpen')}"
    ),
    "aws:secretsmanager/secret:Secret": lambda p: f"{p.get('name')} (empty, customer KMS key)",
    "aws:sns/topic:Topic": lambda p: f"{p.get('name')} kms={bool(p.get('kmsMasterKeyId'))}",
    "aws:sns/topicSubscription:TopicSubscription": lambda p: (
        f"{p.get('protocol')} {p.get('endpoint')}"
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": lambda p: (
        f"{p.get('namespace')}/{p.get('metricName')} missing={p.get('treatMissingData')}"
    ),
    "aws:cloudwatch/logGroup:LogGroup": lambda p: (
        f"{p.get('name')} retention={int(p.get('retentionInDays', 0))}d"
    ),
    "aws:iam/role:Role": lambda p: f"{p.get('name', '(auto-named)')}",
    "aws:iam/rolePolicy:RolePolicy": lambda p: _statement_summary(p.get("policy")),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": lambda p: f"{p.get('policyArn')}",
    "aws:kms/key:Key": lambda p: f"rotation={p.get('enableKeyRotation')}",
    "aws:dlm/lifecyclePolicy:LifecyclePolicy": lambda p: (
        f"daily, keep {int(p['policyDetails']['schedules'][0]['retainRule']['interval'])} days"
    ),
}


def describe(resource: Recorded) -> str:
    fn = DESCRIBE.get(resource.type)
    return fn(resource.inputs) if fn else ""


def rows(run: OfflineRun) -> list[dict[str, str]]:
    return [
        {"type": r.type, "name": r.name, "properties": describe(r)}
        for r in sorted(run.resources, key=lambda r: (r.type, r.name))
        if r.id  # component resources are grouping only
    ]


def render_table(run: OfflineRun) -> str:
    table = rows(run)
    width_t = max(len(r["type"]) for r in table)
    width_n = max(len(r["name"]) for r in table)
    lines = [
        f"stack {run.stack}: {len(table)} resources (offline, through the mocks)",
        f"{'TYPE':<{width_t}}  {'NAME':<{width_n}}  KEY PROPERTIES",
    ]
    lines += [f"{r['type']:<{width_t}}  {r['name']:<{width_n}}  {r['properties']}" for r in table]
    lines.append("")
    lines.append("outputs:")
    lines += [f"  {k}: {json.dumps(v)}" for k, v in sorted(run.outputs.items())]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.inventory", description=__doc__)
    parser.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--stack-dir",
        type=Path,
        default=REPO_ROOT,
        help="directory holding Pulumi.<stack>.yaml (default: the repository root)",
    )
    args = parser.parse_args(argv)

    import pulumi

    try:
        run = run_offline(args.stack, read_stack_file(args.stack, args.stack_dir))
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except pulumi.RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"stack": run.stack, "resources": rows(run), "outputs": run.outputs}))
    else:
        print(render_table(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
