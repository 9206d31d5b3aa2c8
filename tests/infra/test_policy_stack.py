"""The whole mocked stack through every policy (0 violations), and the stack policies'
non-compliant cases made by breaking one thing in an otherwise compliant stack."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import pytest
from pulumi_policy import PolicyResource

from infra.offline import OfflineRun
from infra.policy import checks as t

from .conftest import OPTS, all_violations, mutate, policy_resource, stack_violations


def test_mocked_stack_has_zero_violations(run: OfflineRun) -> None:
    assert len(run.resources) > 60
    assert all_violations(run) == []


@pytest.fixture()
def dev(stack_runs: dict[str, OfflineRun]) -> OfflineRun:
    return stack_runs["dev"]


def drop(_: dict[str, Any]) -> None:
    return None


def edit(path: list[str | int], value: Any):  # noqa: ANN201 - returns an editor
    def apply(state: dict[str, Any]) -> dict[str, Any]:
        target: Any = state
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return state

    return apply


FIREWALL = "egress-firewalls-fail-closed"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"network-firewall": drop}, "no AWS Network Firewall"),
        ({"network-firewall-policy": drop}, "policy is not in the stack"),
        (
            {"network-firewall-policy": edit(["firewallPolicy", "statefulDefaultActions"], [])},
            "drop by default",
        ),
        (
            {
                "network-firewall-policy": edit(
                    ["firewallPolicy", "statelessDefaultActions"], ["aws:pass"]
                )
            },
            "must not pass traffic",
        ),
        ({"network-egress-allowlist": drop}, "no stateful domain ALLOWLIST"),
        (
            {
                "network-egress-allowlist": edit(
                    ["ruleGroup", "rulesSource", "rulesSourceList", "generatedRulesType"],
                    "DENYLIST",
                )
            },
            "no stateful domain ALLOWLIST",
        ),
        (
            {
                "network-egress-allowlist": edit(
                    ["ruleGroup", "rulesSource", "rulesSourceList", "targets"],
                    [".binance.com", ".com"],
                )
            },
            "broader than the Binance list",
        ),
        (
            {
                "network-egress-allowlist": edit(
                    ["ruleGroup", "rulesSource", "rulesSourceList", "targetTypes"], ["HTTP_HOST"]
                )
            },
            "TLS_SNI and HTTP_HOST",
        ),
        ({"network-dns-association": drop}, "no Route 53 Resolver DNS Firewall association"),
        ({"network-dns-fail-closed": edit(["firewallFailOpen"], "ENABLED")}, "fail-closed"),
        ({"network-dns-fail-closed": drop}, "fail-closed"),
        ({"network-dns-block-rest": drop}, "BLOCKs every other domain"),
        ({"network-dns-block-rest": edit(["action"], "ALERT")}, "BLOCKs every other domain"),
        (
            {"network-dns-everything": edit(["domains"], ["*.example.com"])},
            "BLOCKs every other domain",
        ),
    ],
)
def test_egress_firewalls_fail_closed_non_compliant(
    dev: OfflineRun, changes: dict[str, Any], expected: str
) -> None:
    found = stack_violations(FIREWALL, mutate(dev, changes))
    assert any(expected in msg for msg, _ in found), found


def test_egress_firewalls_compliant(dev: OfflineRun) -> None:
    assert stack_violations(FIREWALL, mutate(dev, {})) == []


def host_sg_id(run: OfflineRun) -> str:
    return run.one(t.SECURITY_GROUP, "host-sg").id


def test_host_unreachable_compliant(dev: OfflineRun) -> None:
    assert stack_violations("host-unreachable", mutate(dev, {})) == []


def test_host_unreachable_inline_ingress(dev: OfflineRun) -> None:
    # Allowed by the resource policy (HTTPS from a security group) but never on the host.
    rule = {"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "securityGroups": ["sg-x"]}
    found = stack_violations(
        "host-unreachable", mutate(dev, {"host-sg": edit(["ingress"], [rule])})
    )
    assert found == [
        ("the host's security group has ingress rules", dev.one(t.SECURITY_GROUP, "host-sg").urn)
    ]


def test_host_unreachable_separate_ingress_rule(dev: OfflineRun) -> None:
    found = stack_violations(
        "host-unreachable",
        mutate(dev, {"host-endpoints-from-host": edit(["securityGroupId"], host_sg_id(dev))}),
    )
    assert [m for m, _ in found] == ["an ingress rule targets the host's security group"]


def test_host_unreachable_resolves_references_by_dependency(dev: OfflineRun) -> None:
    """At preview ids are unknown; the engine's property dependencies link the resources."""
    sg = dev.one(t.SECURITY_GROUP, "host-sg")
    sg_state = deepcopy(sg.state)
    del sg_state["id"]
    sg_state["ingress"] = [{"protocol": "tcp", "fromPort": 22.0, "toPort": 22.0}]
    sg_res = policy_resource(sg, sg_state)
    inst = dev.one(t.INSTANCE)
    inst_state = deepcopy(inst.state)
    inst_state.pop("vpcSecurityGroupIds")
    inst_res = PolicyResource(
        inst.type,
        inst_state,
        inst.urn,
        inst.name,
        OPTS,
        None,
        None,
        [sg_res],
        {"vpcSecurityGroupIds": [sg_res]},
    )
    found = stack_violations("host-unreachable", [inst_res, sg_res])
    assert [m for m, _ in found] == ["the host's security group has ingress rules"]


def test_host_role_inline_only_compliant_despite_dlm_managed_policy(dev: OfflineRun) -> None:
    # The DLM service role carries an AWS managed policy: allowed, it is not the host role.
    assert dev.of_type(t.IAM_ROLE_POLICY_ATTACHMENT)
    assert stack_violations("host-role-inline-policies-only", mutate(dev, {})) == []


def test_host_role_with_managed_policy_is_refused(dev: OfflineRun) -> None:
    host_role = dev.one(t.IAM_ROLE, "host-role").outputs["name"]
    changes = {"host-dlm-role-policy": edit(["role"], host_role)}
    found = stack_violations("host-role-inline-policies-only", mutate(dev, changes))
    assert [m for m, _ in found] == ["a managed policy is attached to the host role"]
    changes = {
        "host-role": edit(["managedPolicyArns"], ["arn:aws:iam::aws:policy/AdministratorAccess"])
    }
    found = stack_violations("host-role-inline-policies-only", mutate(dev, changes))
    assert [m for m, _ in found] == ["the host role has managed policies attached"]


BUCKETS = "s3-buckets-private-encrypted-versioned"


def test_backup_bucket_compliant(dev: OfflineRun) -> None:
    assert dev.one(t.S3_BUCKET, "backups-bucket")
    assert stack_violations(BUCKETS, mutate(dev, {})) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"backups-encryption": drop}, "no default encryption with a customer KMS key"),
        (
            {
                "backups-encryption": edit(
                    ["rules", 0, "applyServerSideEncryptionByDefault"], {"sseAlgorithm": "AES256"}
                )
            },
            "no default encryption with a customer KMS key",
        ),
        (
            {
                "backups-encryption": edit(
                    ["rules", 0, "applyServerSideEncryptionByDefault", "kmsMasterKeyId"],
                    "alias/aws/s3",
                )
            },
            "no default encryption with a customer KMS key",
        ),
        # Encryption of another bucket does not count for this one.
        (
            {"backups-encryption": edit(["bucket"], "someone-elses-bucket")},
            "no default encryption with a customer KMS key",
        ),
        ({"backups-public-access-block": drop}, "all four settings true"),
        ({"backups-public-access-block": edit(["blockPublicPolicy"], False)}, "all four"),
        ({"backups-public-access-block": edit(["restrictPublicBuckets"], False)}, "all four"),
        ({"backups-versioning": drop}, "must be versioned"),
        (
            {"backups-versioning": edit(["versioningConfiguration", "status"], "Suspended")},
            "must be versioned",
        ),
    ],
)
def test_backup_bucket_non_compliant(
    dev: OfflineRun, changes: dict[str, Any], expected: str
) -> None:
    found = stack_violations(BUCKETS, mutate(dev, changes))
    bucket = dev.one(t.S3_BUCKET, "backups-bucket")
    assert len(found) == 1, found
    message, urn = found[0]
    assert expected in message and urn == bucket.urn
