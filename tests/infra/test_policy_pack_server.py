"""The policy pack as Pulumi runs it: ``infra/policy`` started as a program, spoken to over
gRPC (the analyzer protocol the Pulumi CLI uses), fed the mocked stack's resources."""

from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from infra.offline import OfflineRun
from infra.policy import checks as t
from infra.policy.policies import PACK_NAME


def struct(props: dict[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(props, struct_pb2.Struct())


def test_pack_announces_every_policy_as_mandatory(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == PACK_NAME
    assert {p.name for p in info.policies} == set(t.RESOURCE_CHECKS) | set(t.STACK_CHECKS)
    assert {p.enforcementLevel for p in info.policies} == {analyzer_pb2.MANDATORY}


def test_pack_rejects_a_public_imdsv1_instance(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    props = {
        "associatePublicIpAddress": True,
        "metadataOptions": {"httpTokens": "optional", "httpPutResponseHopLimit": 2},
        "rootBlockDevice": {"encrypted": False},
    }
    response = analyzer.Analyze(
        analyzer_pb2.AnalyzeRequest(
            type=t.INSTANCE,
            properties=struct(props),
            urn="urn:pulumi:x::tradewarden::aws:ec2/instance:Instance::bad",
            name="bad",
        )
    )
    assert {d.policyName for d in response.diagnostics} == {
        "imdsv2-required",
        "no-public-ip",
        "customer-kms-encryption",
    }
    assert {d.enforcementLevel for d in response.diagnostics} == {analyzer_pb2.MANDATORY}


def analyzer_resources(run: OfflineRun, skip: str = "") -> list[analyzer_pb2.AnalyzerResource]:
    return [
        analyzer_pb2.AnalyzerResource(
            type=r.type, properties=struct(r.state), urn=r.urn, name=r.name
        )
        for r in run.resources
        if r.id and r.name != skip
    ]


def test_pack_passes_the_mocked_stack(
    analyzer: analyzer_pb2_grpc.AnalyzerStub, stack_runs: dict[str, OfflineRun]
) -> None:
    for run in stack_runs.values():
        for r in run.resources:
            if not r.id:
                continue
            response = analyzer.Analyze(
                analyzer_pb2.AnalyzeRequest(
                    type=r.type, properties=struct(r.inputs), urn=r.urn, name=r.name
                )
            )
            assert list(response.diagnostics) == [], (r.name, response.diagnostics)
        stack = analyzer.AnalyzeStack(
            analyzer_pb2.AnalyzeStackRequest(resources=analyzer_resources(run))
        )
        assert list(stack.diagnostics) == []


def test_pack_fails_a_stack_without_the_network_firewall(
    analyzer: analyzer_pb2_grpc.AnalyzerStub, stack_runs: dict[str, OfflineRun]
) -> None:
    resources = analyzer_resources(stack_runs["dev"], skip="network-firewall")
    response = analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources))
    # No firewall: nothing filters egress, and the host's route leads nowhere it should.
    assert sorted({d.policyName for d in response.diagnostics}) == [
        "egress-firewalls-fail-closed",
        "host-egress-through-firewall",
    ]
