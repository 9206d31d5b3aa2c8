"""The interface endpoints' policies: only this account's principals, only this account's
resources. The daemon's real Secrets Manager and SNS calls (against a moto server, the
stack built for moto's account) are replayed against the endpoint and host-role policies
the stack writes: each is allowed; the same calls with another account's resource or
credentials are refused at the endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.client
import pytest

from infra.domains import INTERFACE_ENDPOINT_SERVICES
from infra.offline import OfflineRun, read_stack_file, run_offline
from infra.policy import checks as t

from .conftest import policy_json
from .test_backups import decide

MOTO_ACCOUNT = "123456789012"  # moto's default account: the stack is built for it
OTHER_ACCOUNT = "999999999999"
SERVICE_PREFIX = {"secretsmanager": "secretsmanager", "sns": "sns", "cloudwatch": "monitoring"}


@pytest.fixture(scope="module")
def moto_stack() -> OfflineRun:
    raw = read_stack_file("dev")
    raw["tradewarden:adminRoleArn"] = f"arn:aws:iam::{MOTO_ACCOUNT}:role/tradewarden-admin"
    return run_offline("dev", raw)


def endpoint_policy(run: OfflineRun, service: str) -> dict[str, Any]:
    (endpoint,) = [
        e
        for e in run.of_type(t.VPC_ENDPOINT)
        if e.inputs["serviceName"] == f"com.amazonaws.eu-west-1.{service}"
    ]
    return json.loads(endpoint.inputs["policy"])


def test_every_interface_endpoint_is_pinned_to_the_account(run: OfflineRun) -> None:
    account = run.outputs["kmsKeyArn"].split(":")[4]
    for service in INTERFACE_ENDPOINT_SERVICES:
        (statement,) = endpoint_policy(run, service)["Statement"]
        assert statement["Effect"] == "Allow"
        assert statement["Condition"] == {
            "StringEquals": {"aws:PrincipalAccount": account},
            "StringEqualsIfExists": {"aws:ResourceAccount": account},
        }


@pytest.fixture()
def recorded_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str, dict]]]:
    """(service, operation, params) of every AWS API call made through botocore."""
    calls: list[tuple[str, str, dict]] = []
    real = botocore.client.BaseClient._make_api_call

    def record(self: Any, operation: str, params: dict) -> Any:
        calls.append((self.meta.service_model.endpoint_prefix, operation, dict(params)))
        return real(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    yield calls


def request_of(run: OfflineRun, service: str, operation: str, params: dict) -> tuple[str, str]:
    """(IAM action, resource ARN) of a call the daemon made."""
    if service == "secretsmanager" and operation == "GetSecretValue":
        names = {
            a.rsplit(":", 1)[-1].rsplit("-", 1)[0]: a for a in run.outputs["secretArns"].values()
        }
        arn = params["SecretId"]
        return "secretsmanager:GetSecretValue", arn if arn.startswith("arn:") else names[arn]
    if service == "sns" and operation == "Publish":
        return "sns:Publish", params["TopicArn"]
    raise AssertionError(f"the daemon called {service}:{operation}: map it here")


def endpoint_decision(
    run: OfflineRun, service: str, action: str, resource: str, principal_account: str
) -> str:
    context = {"aws:PrincipalAccount": principal_account}
    if resource.startswith("arn:"):
        context["aws:ResourceAccount"] = resource.split(":")[4]
    return decide(endpoint_policy(run, service), action, resource, context)


@pytest.mark.usefixtures("clean_env")
def test_daemon_secret_and_alert_calls_pass_the_endpoints_and_nothing_else_does(
    aws_env: str, moto_stack: OfflineRun, recorded_calls: list[tuple[str, str, dict]]
) -> None:
    from tradewarden.alerts import catalogue as cat
    from tradewarden.alerts.sns import SnsChannel
    from tradewarden.secrets.aws import AwsSecretsManagerSource
    from tradewarden.secrets.bundle import SecretKind

    run = moto_stack
    topic_arn = run.outputs["alertTopicArn"]
    assert topic_arn.split(":")[4] == MOTO_ACCOUNT
    secret_name = "tradewarden/dev/binance/trade"
    boto3.client("sns").create_topic(Name=topic_arn.rsplit(":", 1)[-1])
    boto3.client("secretsmanager").create_secret(
        Name=secret_name, SecretString=json.dumps({"api_key": "k" * 64, "api_secret": "s" * 64})
    )
    recorded_calls.clear()

    AwsSecretsManagerSource().get(secret_name, SecretKind.BINANCE)
    SnsChannel(topic_arn, timeout=2).send(cat.emergency_stop("endpoint replay"))

    made = {(s, op) for s, op, _ in recorded_calls}
    assert made == {("secretsmanager", "GetSecretValue"), ("sns", "Publish")}
    host = policy_json(run.one(t.IAM_ROLE_POLICY, "host-role-policy"))
    for service, operation, params in recorded_calls:
        action, resource = request_of(run, service, operation, params)
        assert decide(host, action, resource, {}) == "allow", (action, resource)
        assert endpoint_decision(run, service, action, resource, MOTO_ACCOUNT) == "allow"
        # another account's resource (exfiltration through AWS), or its credentials
        elsewhere = resource.replace(f":{MOTO_ACCOUNT}:", f":{OTHER_ACCOUNT}:")
        assert endpoint_decision(run, service, action, elsewhere, MOTO_ACCOUNT) != "allow"
        assert endpoint_decision(run, service, action, resource, OTHER_ACCOUNT) != "allow"


@pytest.mark.parametrize("service", ["sts", "monitoring", "logs"])
def test_calls_without_a_resource_pass_only_for_own_principals(
    moto_stack: OfflineRun, service: str
) -> None:
    action = {
        "sts": "sts:GetCallerIdentity",
        "monitoring": "cloudwatch:PutMetricData",
        "logs": "logs:PutLogEvents",
    }[service]
    assert endpoint_decision(moto_stack, service, action, "*", MOTO_ACCOUNT) == "allow"
    assert endpoint_decision(moto_stack, service, action, "*", OTHER_ACCOUNT) != "allow"
