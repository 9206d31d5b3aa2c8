"""Every resource policy: fails its non-compliant cases, passes the compliant ones.

The policies are called as the policy engine calls them: a `ResourceValidationArgs` with
the props wrapped in pulumi-policy's unknown-checking proxy.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from infra import iam
from infra.naming import AwsContext
from infra.policy import checks as t

from .conftest import POLICIES, resource_violations

CTX = AwsContext("aws", "eu-west-1", "111111111111", "arn:aws:sts::111111111111:x", ("eu-west-1a",))
KEY = "arn:aws:kms:eu-west-1:111111111111:key/0000"
HOST_SG_EGRESS = [
    {"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrBlocks": ["0.0.0.0/0"]},
    {"protocol": "udp", "fromPort": 53.0, "toPort": 53.0, "cidrBlocks": ["10.42.0.2/32"]},
]
GOOD_INSTANCE: dict[str, Any] = {
    "associatePublicIpAddress": False,
    "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1.0},
    "rootBlockDevice": {"encrypted": True, "kmsKeyId": KEY},
}


def sse_rule(algorithm: str, key: str | None = None) -> dict[str, Any]:
    default: dict[str, Any] = {"sseAlgorithm": algorithm}
    if key:
        default["kmsMasterKeyId"] = key
    return {"applyServerSideEncryptionByDefault": default, "bucketKeyEnabled": True}


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**json.loads(json.dumps(base)), **changes}


def test_every_policy_is_mandatory_and_covered_here() -> None:
    from pulumi_policy import EnforcementLevel

    assert {p.enforcement_level for p in POLICIES.values()} == {EnforcementLevel.MANDATORY}
    assert set(POLICIES) == set(t.RESOURCE_CHECKS) | set(t.STACK_CHECKS)


# --- no-security-group-ingress ------------------------------------------------------------

COMPLIANT_INGRESS = [
    (t.SECURITY_GROUP, {"ingress": [], "egress": HOST_SG_EGRESS}),
    (t.SECURITY_GROUP, {"egress": []}),
    (t.DEFAULT_SECURITY_GROUP, {"ingress": [], "egress": []}),
    (
        t.VPC_INGRESS_RULE,
        {
            "ipProtocol": "tcp",
            "fromPort": 443.0,
            "toPort": 443.0,
            "referencedSecurityGroupId": "sg-host",
            "securityGroupId": "sg-vpce",
        },
    ),
    (
        t.SECURITY_GROUP_RULE,
        {
            "type": "egress",
            "protocol": "tcp",
            "fromPort": 443.0,
            "toPort": 443.0,
            "cidrBlocks": ["0.0.0.0/0"],
        },
    ),
]
NON_COMPLIANT_INGRESS = [
    (
        t.SECURITY_GROUP,
        {
            "ingress": [
                {"protocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrBlocks": ["0.0.0.0/0"]}
            ]
        },
    ),
    (
        t.SECURITY_GROUP,
        {
            "ingress": [
                {
                    "protocol": "tcp",
                    "fromPort": 443.0,
                    "toPort": 443.0,
                    "cidrBlocks": ["10.0.0.0/8"],
                }
            ]
        },
    ),
    (
        t.SECURITY_GROUP,
        {"ingress": [{"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "self": True}]},
    ),
    (
        t.SECURITY_GROUP,
        {
            "ingress": [
                {"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "securityGroups": ["sg-x"]}
            ]
        },
    ),
    (
        t.DEFAULT_SECURITY_GROUP,
        {"ingress": [{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "self": True}]},
    ),
    (
        t.SECURITY_GROUP_RULE,
        {
            "type": "ingress",
            "protocol": "tcp",
            "fromPort": 443.0,
            "toPort": 443.0,
            "cidrBlocks": ["0.0.0.0/0"],
        },
    ),
    (
        t.VPC_INGRESS_RULE,
        {"ipProtocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrIpv4": "0.0.0.0/0"},
    ),
    (
        t.VPC_INGRESS_RULE,
        {
            "ipProtocol": "tcp",
            "fromPort": 22.0,
            "toPort": 22.0,
            "referencedSecurityGroupId": "sg-bastion",
        },
    ),
]


@pytest.mark.parametrize(("typ", "props"), COMPLIANT_INGRESS)
def test_ingress_compliant(typ: str, props: dict[str, Any]) -> None:
    assert resource_violations("no-security-group-ingress", typ, props) == []


@pytest.mark.parametrize(("typ", "props"), NON_COMPLIANT_INGRESS)
def test_ingress_non_compliant(typ: str, props: dict[str, Any]) -> None:
    assert resource_violations("no-security-group-ingress", typ, props)


# --- egress-https-and-dns-only ----------------------------------------------------------


@pytest.mark.parametrize(
    ("typ", "props"),
    [
        (t.SECURITY_GROUP, {"egress": HOST_SG_EGRESS}),
        (t.SECURITY_GROUP, {"egress": []}),
        (
            t.VPC_EGRESS_RULE,
            {"ipProtocol": "udp", "fromPort": 53.0, "toPort": 53.0, "cidrIpv4": "10.42.0.2/32"},
        ),
        (
            t.SECURITY_GROUP_RULE,
            {
                "type": "egress",
                "protocol": "6",
                "fromPort": 443.0,
                "toPort": 443.0,
                "cidrBlocks": ["0.0.0.0/0"],
            },
        ),
    ],
)
def test_egress_compliant(typ: str, props: dict[str, Any]) -> None:
    assert resource_violations("egress-https-and-dns-only", typ, props) == []


@pytest.mark.parametrize(
    ("typ", "props"),
    [
        (
            t.SECURITY_GROUP,
            {
                "egress": [
                    {"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["0.0.0.0/0"]}
                ]
            },
        ),
        (
            t.SECURITY_GROUP,
            {
                "egress": [
                    {
                        "protocol": "tcp",
                        "fromPort": 80.0,
                        "toPort": 80.0,
                        "cidrBlocks": ["0.0.0.0/0"],
                    }
                ]
            },
        ),
        (
            t.SECURITY_GROUP,
            {
                "egress": [
                    {
                        "protocol": "tcp",
                        "fromPort": 0.0,
                        "toPort": 65535.0,
                        "cidrBlocks": ["0.0.0.0/0"],
                    }
                ]
            },
        ),
        (
            t.SECURITY_GROUP,
            {
                "egress": [
                    {
                        "protocol": "udp",
                        "fromPort": 53.0,
                        "toPort": 53.0,
                        "cidrBlocks": ["0.0.0.0/0"],
                    }
                ]
            },
        ),
        (
            t.DEFAULT_SECURITY_GROUP,
            {
                "egress": [
                    {"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["0.0.0.0/0"]}
                ]
            },
        ),
        (
            t.VPC_EGRESS_RULE,
            {"ipProtocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrIpv4": "0.0.0.0/0"},
        ),
        (
            t.SECURITY_GROUP_RULE,
            {
                "type": "egress",
                "protocol": "udp",
                "fromPort": 123.0,
                "toPort": 123.0,
                "cidrBlocks": ["0.0.0.0/0"],
            },
        ),
    ],
)
def test_egress_non_compliant(typ: str, props: dict[str, Any]) -> None:
    assert resource_violations("egress-https-and-dns-only", typ, props)


# --- imdsv2-required ---------------------------------------------------------------------


def test_imdsv2_compliant() -> None:
    assert resource_violations("imdsv2-required", t.INSTANCE, GOOD_INSTANCE) == []
    assert resource_violations("imdsv2-required", t.LAUNCH_TEMPLATE, GOOD_INSTANCE) == []


@pytest.mark.parametrize(
    "metadata",
    [
        {"httpTokens": "optional", "httpPutResponseHopLimit": 1.0},
        {"httpTokens": "required", "httpPutResponseHopLimit": 2.0},
        {"httpTokens": "required"},
        None,
    ],
)
def test_imdsv2_non_compliant(metadata: dict[str, Any] | None) -> None:
    props = with_(GOOD_INSTANCE, metadataOptions=metadata)
    if metadata is None:
        del props["metadataOptions"]
    assert resource_violations("imdsv2-required", t.INSTANCE, props)


# --- no-public-ip ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typ", "props"),
    [
        (t.INSTANCE, GOOD_INSTANCE),
        (t.SUBNET, {"mapPublicIpOnLaunch": False}),
        (t.EIP, {"domain": "vpc"}),
    ],
)
def test_no_public_ip_compliant(typ: str, props: dict[str, Any]) -> None:
    assert resource_violations("no-public-ip", typ, props) == []


@pytest.mark.parametrize(
    ("typ", "props"),
    [
        (t.INSTANCE, with_(GOOD_INSTANCE, associatePublicIpAddress=True)),
        (t.INSTANCE, {k: v for k, v in GOOD_INSTANCE.items() if k != "associatePublicIpAddress"}),
        (
            t.INSTANCE,
            with_(GOOD_INSTANCE, networkInterfaces=[{"associatePublicIpAddress": "true"}]),
        ),
        (t.LAUNCH_TEMPLATE, {"networkInterfaces": [{"associatePublicIpAddress": "true"}]}),
        (t.SUBNET, {"mapPublicIpOnLaunch": True}),
        (t.EIP, {"domain": "vpc", "instance": "i-123"}),
        (t.EIP_ASSOCIATION, {"instanceId": "i-123", "allocationId": "eipalloc-1"}),
    ],
)
def test_no_public_ip_non_compliant(typ: str, props: dict[str, Any]) -> None:
    assert resource_violations("no-public-ip", typ, props)


# --- customer-kms-encryption -------------------------------------------------------------


@pytest.mark.parametrize(
    ("typ", "props"),
    [
        (t.INSTANCE, GOOD_INSTANCE),
        (t.EBS_VOLUME, {"encrypted": True, "kmsKeyId": KEY}),
        (t.SECRET, {"kmsKeyId": KEY}),
        (t.TOPIC, {"kmsMasterKeyId": "alias/tradewarden-dev"}),
        (t.LOG_GROUP, {"kmsKeyId": KEY}),
        (t.S3_BUCKET_SSE, {"bucket": "b", "rules": [sse_rule("aws:kms", KEY)]}),
        (t.S3_BUCKET_SSE, {"bucket": "b", "rules": [sse_rule("aws:kms:dsse", KEY)]}),
    ],
)
def test_kms_compliant(typ: str, props: dict[str, Any]) -> None:
    assert resource_violations("customer-kms-encryption", typ, props) == []


@pytest.mark.parametrize(
    ("typ", "props"),
    [
        (t.INSTANCE, with_(GOOD_INSTANCE, rootBlockDevice={"encrypted": False})),
        (t.INSTANCE, with_(GOOD_INSTANCE, rootBlockDevice={"encrypted": True})),
        (
            t.INSTANCE,
            with_(GOOD_INSTANCE, rootBlockDevice={"encrypted": True, "kmsKeyId": "alias/aws/ebs"}),
        ),
        (t.INSTANCE, with_(GOOD_INSTANCE, ebsBlockDevices=[{"encrypted": False}])),
        (t.EBS_VOLUME, {"encrypted": True}),
        (t.SECRET, {}),
        (t.SECRET, {"kmsKeyId": "alias/aws/secretsmanager"}),
        (t.TOPIC, {}),
        (t.TOPIC, {"kmsMasterKeyId": "alias/aws/sns"}),
        (t.LOG_GROUP, {"retentionInDays": 90.0}),
        (t.S3_BUCKET_SSE, {"bucket": "b", "rules": []}),
        (t.S3_BUCKET_SSE, {"bucket": "b", "rules": [sse_rule("AES256")]}),
        (t.S3_BUCKET_SSE, {"bucket": "b", "rules": [sse_rule("aws:kms")]}),
        (t.S3_BUCKET_SSE, {"bucket": "b", "rules": [sse_rule("aws:kms", "alias/aws/s3")]}),
        (
            t.S3_BUCKET_SSE,
            {"bucket": "b", "rules": [sse_rule("aws:kms", KEY), sse_rule("AES256")]},
        ),
    ],
)
def test_kms_non_compliant(typ: str, props: dict[str, Any]) -> None:
    assert resource_violations("customer-kms-encryption", typ, props)


# --- iam-no-wildcards --------------------------------------------------------------------


def host_policy() -> dict[str, Any]:
    return iam.host_role_policy(
        CTX,
        secret_arns=[
            "arn:aws:secretsmanager:eu-west-1:111111111111:secret:tradewarden/dev/slack-AbC123"
        ],
        key_arn=KEY,
        topic_arn="arn:aws:sns:eu-west-1:111111111111:tradewarden-dev-alerts",
        log_group_arn="arn:aws:logs:eu-west-1:111111111111:log-group:/tradewarden/dev/host",
        vpc_id="vpc-1",
        backup_bucket_arn="arn:aws:s3:::tradewarden-dev-backups-111111111111",
        backup_prefix="dev/",
        release_object_arn="arn:aws:s3:::releases/tradewarden/0.1.0/x.tar.gz",
    )


def statement(**fields: Any) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **fields}]})


@pytest.mark.parametrize(
    ("typ", "props"),
    [
        (t.IAM_ROLE_POLICY, {"role": "r", "policy": json.dumps(host_policy())}),
        (
            t.IAM_ROLE_POLICY,
            {
                "policy": json.dumps(
                    iam.flow_log_role_policy(
                        "arn:aws:logs:eu-west-1:111111111111:log-group:/tradewarden/dev/vpc-flow"
                    )
                )
            },
        ),
        (
            t.IAM_POLICY,
            {"policy": statement(Action="sns:Publish", Resource="arn:aws:sns:eu-west-1:1:t")},
        ),
        (
            t.IAM_ROLE,
            {
                "inlinePolicies": [
                    {"name": "x", "policy": statement(Action=["kms:Decrypt"], Resource=[KEY])}
                ]
            },
        ),
        # Deny statements may use wildcards freely.
        (
            t.IAM_POLICY,
            {
                "policy": json.dumps(
                    {"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
                )
            },
        ),
    ],
)
def test_iam_compliant(typ: str, props: dict[str, Any]) -> None:
    assert resource_violations("iam-no-wildcards", typ, props) == []


@pytest.mark.parametrize(
    "fields",
    [
        {"Action": "*", "Resource": KEY},
        {"Action": "s3:*", "Resource": "arn:aws:s3:::bucket/*"},
        {"Action": ["kms:Decrypt*"], "Resource": [KEY]},
        {"Action": "secretsmanager:GetSecretValue", "Resource": "*"},
        {
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "arn:aws:secretsmanager:*:*:secret:x",
        },
        {"Action": "sns:Publish", "Resource": "arn:aws:sns:eu-west-1:111111111111:*"},
        # An action without resource types on "*" still needs a Condition.
        {"Action": "cloudwatch:PutMetricData", "Resource": "*"},
        # A Condition does not excuse "*" for an action that has resource types.
        {
            "Action": ["cloudwatch:PutMetricData", "sns:Publish"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-1"}},
        },
        {"NotAction": "iam:*", "Resource": KEY},
        {"Action": "kms:Decrypt", "NotResource": KEY},
        {"Action": "kms:Decrypt"},
    ],
)
def test_iam_non_compliant(fields: dict[str, Any]) -> None:
    assert resource_violations(
        "iam-no-wildcards", t.IAM_ROLE_POLICY, {"policy": statement(**fields)}
    )


def test_iam_inline_role_policy_is_checked_too() -> None:
    props = {"inlinePolicies": [{"name": "x", "policy": statement(Action="*", Resource="*")}]}
    assert len(resource_violations("iam-no-wildcards", t.IAM_ROLE, props)) == 2


def test_unknown_policy_at_preview_is_not_a_pass() -> None:
    """During preview an unknown policy must defer the check (to `pulumi up`), not pass."""
    with pytest.raises(UnknownValueError):
        resource_violations("iam-no-wildcards", t.IAM_ROLE_POLICY, {"policy": UNKNOWN_STRING_VALUE})


def test_unrelated_resource_types_are_ignored() -> None:
    for name in t.RESOURCE_CHECKS:
        assert (
            resource_violations(name, "aws:s3/bucket:Bucket", {"ingress": [{"protocol": "-1"}]})
            == []
        )


# --- resource-policies-no-wildcards -----------------------------------------------------------

ACCOUNT_PINNED = {
    "StringEquals": {"aws:PrincipalAccount": "111111111111"},
    "StringEqualsIfExists": {"aws:ResourceAccount": "111111111111"},
}


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.mark.parametrize(
    ("typ", "statement"),
    [
        # the default key policy: the account root administers the key through IAM
        (
            "aws:kms/key:Key",
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
        ),
        # an interface endpoint pinned to the account
        (
            t.VPC_ENDPOINT,
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "*",
                "Resource": "*",
                "Condition": ACCOUNT_PINNED,
            },
        ),
        # a gateway endpoint naming exact objects (dnf reads the repositories anonymously)
        (
            t.VPC_ENDPOINT,
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject"],
                "Resource": ["arn:aws:s3:::al2023-repos-eu-west-1-de612dc2/*"],
            },
        ),
        # denies may be as wide as they like
        (
            t.S3_BUCKET_POLICY,
            {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"},
        ),
        # an action family is not a wildcard action
        (
            "aws:kms/key:Key",
            {
                "Effect": "Allow",
                "Principal": {"Service": "logs.amazonaws.com"},
                "Action": ["kms:GenerateDataKey*"],
                "Resource": "*",
            },
        ),
    ],
)
def test_resource_policy_compliant(typ: str, statement: dict[str, Any]) -> None:
    assert (
        resource_violations("resource-policies-no-wildcards", typ, {"policy": doc(statement)}) == []
    )


@pytest.mark.parametrize(
    ("typ", "statement", "fragment"),
    [
        (
            t.S3_BUCKET_POLICY,
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::b/*",
            },
            "wildcard principal",
        ),
        (
            t.SECRET_POLICY,
            {
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "*",
            },
            "wildcard principal",
        ),
        (
            "aws:kms/key:Key",
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::1:role/x"},
                "Action": "kms:*",
                "Resource": "*",
            },
            "wildcard action",
        ),
        (
            t.VPC_ENDPOINT,
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "*",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalAccount": "1"}},
            },
            "aws:ResourceAccount",
        ),
        (
            t.VPC_ENDPOINT,
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:*"],
                "Resource": ["arn:aws:s3:::b/*"],
            },
            "wildcard",
        ),
        (
            t.TOPIC_POLICY,
            {
                "Effect": "Allow",
                "NotPrincipal": {"AWS": "x"},
                "Action": "sns:Publish",
                "Resource": "*",
            },
            "NotPrincipal",
        ),
    ],
)
def test_resource_policy_non_compliant(typ: str, statement: dict[str, Any], fragment: str) -> None:
    found = resource_violations("resource-policies-no-wildcards", typ, {"policy": doc(statement)})
    assert any(fragment in m for m in found), found


# --- nfw-rule-groups-drop-or-allowlist ----------------------------------------------------------


def test_rule_groups_that_only_drop_are_fine() -> None:
    drop = {
        "type": "STATEFUL",
        "ruleGroup": {
            "rulesSource": {
                "rulesString": (
                    'drop tls any any -> any any (tls.sni; content:"evil"; sid:1;)\n'
                    "# pass lines in comments do not count\n"
                )
            }
        },
    }
    assert resource_violations("nfw-rule-groups-drop-or-allowlist", t.NFW_RULE_GROUP, drop) == []


def test_stateless_pass_rule_is_refused() -> None:
    group = {
        "type": "STATELESS",
        "ruleGroup": {
            "rulesSource": {
                "statelessRulesAndCustomActions": {
                    "statelessRules": [
                        {
                            "priority": 1,
                            "ruleDefinition": {"actions": ["aws:pass"], "matchAttributes": {}},
                        }
                    ]
                }
            }
        },
    }
    found = resource_violations("nfw-rule-groups-drop-or-allowlist", t.NFW_RULE_GROUP, group)
    assert found == ["stateless rule 0 passes traffic around the stateful engine"]


# --- SMTP submission to the SES email-smtp endpoint (587), nothing wider -------------------

EGRESS, INGRESS, ENDPOINT = (
    "egress-https-and-dns-only",
    "no-security-group-ingress",
    "resource-policies-no-wildcards",
)
VPC = "10.42.0.0/16"


def sg_out(port: float = 587.0, **rule: Any) -> dict[str, Any]:
    return {"egress": [{"protocol": "tcp", "fromPort": port, "toPort": port, **rule}]}


def rule_in(port: float = 587.0, **rule: Any) -> dict[str, Any]:
    return {"ipProtocol": "tcp", "fromPort": port, "toPort": port, **rule}


def endpoint(service: str) -> dict[str, Any]:
    return {"serviceName": f"com.amazonaws.eu-west-1.{service}", "vpcEndpointType": "Interface"}


@pytest.mark.parametrize(
    ("policy", "typ", "props", "ok"),
    [
        # the host may submit to the VPC (only the SES endpoint listens there) ...
        (EGRESS, t.SECURITY_GROUP, sg_out(cidrBlocks=[VPC]), True),
        # ... never to the internet, nor to a group, nor on 25/465
        (EGRESS, t.SECURITY_GROUP, sg_out(cidrBlocks=["0.0.0.0/0"]), False),
        (EGRESS, t.SECURITY_GROUP, sg_out(cidrBlocks=[VPC, "8.8.8.0/24"]), False),
        (EGRESS, t.SECURITY_GROUP, sg_out(securityGroups=["sg-x"]), False),
        (EGRESS, t.SECURITY_GROUP, sg_out(25.0, cidrBlocks=[VPC]), False),
        (EGRESS, t.VPC_EGRESS_RULE, rule_in(465.0, cidrIpv4=VPC), False),
        # the endpoint accepts 587 from the host's group only
        (INGRESS, t.VPC_INGRESS_RULE, rule_in(referencedSecurityGroupId="sg-host"), True),
        (INGRESS, t.VPC_INGRESS_RULE, rule_in(cidrIpv4=VPC), False),
        (INGRESS, t.VPC_INGRESS_RULE, rule_in(25.0, referencedSecurityGroupId="sg-host"), False),
        # SES's SMTP endpoint takes no endpoint policy; any other endpoint still needs one
        (ENDPOINT, t.VPC_ENDPOINT, endpoint("email-smtp"), True),
        (ENDPOINT, t.VPC_ENDPOINT, endpoint("email"), False),
        (ENDPOINT, t.VPC_ENDPOINT, endpoint("email-smtp.evil"), False),
    ],
)
def test_smtp_only_to_the_ses_endpoint(
    policy: str, typ: str, props: dict[str, Any], ok: bool
) -> None:
    found = resource_violations(policy, typ, props)
    assert (found == []) is ok, found
