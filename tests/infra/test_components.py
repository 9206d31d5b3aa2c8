"""Components on their own, in the classic Pulumi unit-test style: mocks set for this
module and `@pulumi.runtime.test` functions asserting on resolved outputs."""

from __future__ import annotations

import json

import pulumi
import pytest
from pulumi.runtime import settings as pulumi_settings

from infra.components.network import plan_subnets
from infra.components.secrets import Secrets
from infra.config import load_stack_config
from infra.naming import AwsContext
from infra.offline import RecordingMocks, read_stack_file

CFG = load_stack_config(read_stack_file("dev"), "unit")
CTX = AwsContext(
    "aws",
    "eu-west-1",
    "111111111111",
    "arn:aws:sts::111111111111:assumed-role/a/b",
    ("eu-west-1a",),
)


@pytest.fixture(autouse=True)
def mocks() -> RecordingMocks:
    recording = RecordingMocks()
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(
        recording, project="tradewarden", stack="unit-components", preview=False
    )
    return recording


@pulumi.runtime.test
def test_secrets_component_encrypts_every_secret_with_its_own_key():
    secrets = Secrets("s", CFG, CTX)

    def check(args: list) -> None:
        key_arn, *kms_ids = args
        assert key_arn.startswith("arn:aws:kms:eu-west-1:111111111111:key/")
        assert kms_ids == [key_arn] * len(secrets.secrets) and len(kms_ids) == 5

    return pulumi.Output.all(
        secrets.key.arn, *[s.kms_key_id for s in secrets.secrets.values()]
    ).apply(check)


@pulumi.runtime.test
def test_secrets_component_names_follow_the_daemon_convention():
    secrets = Secrets("s", CFG, CTX)

    def check(names: list[str]) -> None:
        assert names == [
            "tradewarden/unit/binance/trade",
            "tradewarden/unit/binance/read",
            "tradewarden/unit/slack",
            "tradewarden/unit/smtp",
            "tradewarden/unit/admin",
        ]

    return pulumi.Output.all(*[s.name for s in secrets.secrets.values()]).apply(check)


def test_secrets_policy_names_the_host_role_and_admin(mocks: RecordingMocks) -> None:
    @pulumi.runtime.test
    def build():
        return Secrets("s", CFG, CTX).secret_arns

    build()
    policies = [
        r for r in mocks.resources if r.type == "aws:secretsmanager/secretPolicy:SecretPolicy"
    ]
    assert len(policies) == 5
    deny = json.loads(policies[0].inputs["policy"])["Statement"][0]
    assert deny["Condition"]["StringNotEquals"]["aws:PrincipalArn"] == [
        "arn:aws:iam::111111111111:role/tradewarden-unit-host",
        CFG.admin_role_arn,
    ]


@pytest.mark.parametrize(
    ("cidr", "firewall", "public", "private", "resolver"),
    [
        ("10.42.0.0/16", "10.42.0.0/28", "10.42.1.0/28", "10.42.2.0/24", "10.42.0.2"),
        ("192.168.8.0/22", "192.168.8.0/28", "192.168.9.0/28", "192.168.10.0/24", "192.168.8.2"),
    ],
)
def test_subnet_plan(cidr: str, firewall: str, public: str, private: str, resolver: str) -> None:
    plan = plan_subnets(cidr)
    assert (plan.firewall, plan.public, plan.private, plan.resolver_ip) == (
        firewall,
        public,
        private,
        resolver,
    )
