"""The policy pack during ``pulumi preview`` of a new stack, fed as the engine feeds it.

The program runs under the mocks with ``preview=True``: ids and computed outputs stay
unknown, so every input built from them is unknown too, and the engine sends those as its
unknown sentinel, with the property dependencies that say which resource an input came
from. Each resource goes through ``Analyze`` and the whole set through ``AnalyzeStack`` of
the running policy pack (gRPC, as the CLI does).

A MANDATORY diagnostic at preview stops ``pulumi preview`` and the preview ``pulumi up``
runs first: nothing is created. An ADVISORY "can't run ... during preview" means the check
read an unknown value and did not decide: a resource policy then decides during ``up``,
before that resource is created; a stack policy during ``up`` runs only after the changes.
So every check that must stop a deploy has to decide here, at preview, from known inputs.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass, replace
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.output import Unknown
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from infra.offline import OfflineRun, Recorded, engine_value, read_stack_file, run_offline
from infra.policy import checks as t

from .conftest import STACKS

CANNOT_RUN = "during preview"


@dataclass(frozen=True)
class Diagnostic:
    policy: str
    mandatory: bool
    message: str
    resource: str  # the resource's name, "" for a stack-level diagnostic without a urn


@pytest.fixture(scope="session")
def previews() -> dict[str, OfflineRun]:
    return {s: run_offline(s, read_stack_file(s), preview=True) for s in STACKS}


def struct(props: dict[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(engine_value(props), struct_pb2.Struct())


def analyze(
    analyzer: analyzer_pb2_grpc.AnalyzerStub, resources: list[Recorded]
) -> list[Diagnostic]:
    names = {r.urn: r.name for r in resources}
    out: list[Diagnostic] = []

    def collect(response: analyzer_pb2.AnalyzeResponse, name: str = "") -> None:
        for d in response.diagnostics:
            out.append(
                Diagnostic(
                    d.policyName,
                    d.enforcementLevel == analyzer_pb2.MANDATORY,
                    d.message,
                    names.get(d.urn, name),
                )
            )

    custom = [r for r in resources if r.custom]
    for r in custom:
        collect(
            analyzer.Analyze(
                analyzer_pb2.AnalyzeRequest(
                    type=r.type, properties=struct(r.inputs), urn=r.urn, name=r.name
                )
            ),
            r.name,
        )
    stack = [
        analyzer_pb2.AnalyzerResource(
            type=r.type,
            properties=struct(r.inputs),
            urn=r.urn,
            name=r.name,
            propertyDependencies={
                k: analyzer_pb2.AnalyzerPropertyDependencies(urns=v)
                for k, v in r.property_dependencies.items()
            },
        )
        for r in custom
    ]
    collect(analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=stack)))
    return out


def table(diagnostics: list[Diagnostic]) -> str:
    """What a reader of `pulumi preview` sees, one line per policy and resource."""
    lines = sorted(
        {
            f"{'BLOCKS   ' if d.mandatory else 'advisory '} {d.policy:<40} {d.resource or '-'}"
            for d in diagnostics
        }
    )
    return "\n".join(lines) or "(no diagnostics)"


@pytest.mark.parametrize("stack", STACKS)
def test_compliant_stack_at_preview_every_stack_policy_decides(
    stack: str, previews: dict[str, OfflineRun], analyzer: analyzer_pb2_grpc.AnalyzerStub
) -> None:
    run = previews[stack]
    assert any(isinstance(v, Unknown) for r in run.resources for v in r.inputs.values())
    found = analyze(analyzer, run.resources)
    print(f"\npreview of {stack}, compliant:\n{table(found)}")
    assert [d for d in found if d.mandatory] == []
    stack_policies = set(t.STACK_CHECKS)
    undecided = sorted({d.policy for d in found if d.policy in stack_policies})
    assert undecided == [], "stack policies that cannot decide at preview"


def edit(path: list[str | int], value: Any):  # noqa: ANN201 - returns an editor
    def apply(inputs: dict[str, Any]) -> dict[str, Any]:
        target: Any = inputs
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return inputs

    return apply


def preview_of(run: OfflineRun, changes: dict[str, Any]) -> list[Recorded]:
    out = []
    for r in run.resources:
        if r.name in changes:
            change = changes[r.name]
            if change is None:
                continue
            r = replace(r, inputs=change(deepcopy(r.inputs)))
        out.append(r)
    return out


def urn_of(run: OfflineRun, name: str) -> str:
    (found,) = [r.urn for r in run.resources if r.name == name]
    return found


def route_to_nat(run: OfflineRun) -> Recorded:
    """The host subnet's default route pointed straight at the NAT gateway."""
    route = next(r for r in run.resources if r.name == "network-private-default-via-firewall")
    inputs = {k: v for k, v in route.inputs.items() if k != "vpcEndpointId"}
    deps = {k: v for k, v in route.property_dependencies.items() if k != "vpcEndpointId"}
    inputs["natGatewayId"] = Unknown()
    deps["natGatewayId"] = [urn_of(run, "network-nat")]
    return replace(route, inputs=inputs, property_dependencies=deps)


PREVIEW_BAD = [
    (
        "network-firewall-policy",
        edit(["firewallPolicy", "statefulDefaultActions"], ["aws:pass"]),
        "drop by default",
    ),
    (
        "network-firewall-policy",
        edit(["firewallPolicy", "statelessDefaultActions"], ["aws:pass"]),
        "must not pass traffic",
    ),
    (
        "network-egress-allowlist",
        edit(["ruleGroup", "rulesSource", "rulesSourceList", "targets"], [".com"]),
        "broader than the Binance list",
    ),
    ("network-dns-fail-closed", edit(["firewallFailOpen"], "ENABLED"), "fail-closed"),
    ("network-dns-block-rest", edit(["action"], "ALERT"), "BLOCKs every other domain"),
    ("network-dns-allowed", edit(["domains"], ["*"]), "allows every domain"),
    ("backups-versioning", edit(["versioningConfiguration", "status"], "Suspended"), "versioned"),
    ("backups-public-access-block", edit(["blockPublicPolicy"], False), "all four"),
    (
        "backups-encryption",
        edit(["rules", 0, "applyServerSideEncryptionByDefault"], {"sseAlgorithm": "AES256"}),
        "customer KMS key",
    ),
    (
        "host-sg",
        edit(["ingress"], [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "self": True}]),
        "no ingress",
    ),
    (
        "network-vpce-sns",
        edit(
            ["policy"],
            '{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}',
        ),
        "wildcard",
    ),
]


@pytest.mark.parametrize(("name", "change", "expected"), PREVIEW_BAD)
def test_bad_change_is_blocked_at_preview(
    name: str,
    change: Any,
    expected: str,
    previews: dict[str, OfflineRun],
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    found = analyze(analyzer, preview_of(previews["dev"], {name: change}))
    blocking = [d for d in found if d.mandatory and expected in d.message]
    print(f"\npreview of dev with {name} changed:\n{table(found)}")
    assert blocking, found


def test_route_to_the_nat_is_blocked_at_preview(
    previews: dict[str, OfflineRun], analyzer: analyzer_pb2_grpc.AnalyzerStub
) -> None:
    run = previews["dev"]
    resources = [
        route_to_nat(run) if r.name == "network-private-default-via-firewall" else r
        for r in run.resources
    ]
    found = analyze(analyzer, resources)
    assert [d for d in found if d.mandatory and "bypass" in d.message], table(found)


def test_extra_pass_everything_rule_group_is_blocked_at_preview(
    previews: dict[str, OfflineRun], analyzer: analyzer_pb2_grpc.AnalyzerStub
) -> None:
    run = previews["dev"]
    allow = next(r for r in run.resources if r.name == "network-egress-allowlist")
    passer = replace(
        allow,
        name="network-pass-all",
        urn=allow.urn.replace("network-egress-allowlist", "network-pass-all"),
        inputs={
            "type": "STATEFUL",
            "capacity": 10,
            "name": "pass-all",
            "ruleGroup": {"rulesSource": {"rulesString": "pass ip any any -> any any (sid:1;)"}},
        },
        property_dependencies={},
    )
    found = analyze(analyzer, [*run.resources, passer])
    assert [d for d in found if d.mandatory and d.resource == "network-pass-all"], table(found)
