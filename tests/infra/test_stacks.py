"""All three stacks, built offline through the mocks: every resource's properties."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from infra import naming
from infra.config import load_stack_config
from infra.domains import INTERFACE_ENDPOINT_SERVICES, aws_service_domains
from infra.iam import SSM_CHANNEL_ACTIONS
from infra.offline import OfflineRun, Recorded, read_stack_file, run_offline
from infra.policy import checks as t

from .conftest import policy_json


def cfg_of(run: OfflineRun):
    return load_stack_config(read_stack_file(run.stack), run.stack)


def by_id(run: OfflineRun, rid: str) -> Recorded:
    (found,) = [r for r in run.resources if r.id == rid]
    return found


def host_sg(run: OfflineRun) -> Recorded:
    return run.one(t.SECURITY_GROUP, "host-sg")


# --- every stack builds ---------------------------------------------------------------------


def test_stack_builds_with_all_outputs(run: OfflineRun) -> None:
    out = run.outputs
    instance = run.one(t.INSTANCE)
    assert out["instanceId"] == instance.id and instance.id.startswith("i-")
    assert (
        out["ssmSessionCommand"]
        == f"aws ssm start-session --target {instance.id} --region eu-west-1"
    )
    assert set(out["secretArns"]) == {"binance-trade", "binance-read", "slack", "smtp", "admin"}
    assert out["alertTopicArn"] == run.one(t.TOPIC).outputs["arn"]
    assert out["kmsKeyArn"] == run.one("aws:kms/key:Key").outputs["arn"]
    account = out["kmsKeyArn"].split(":")[4]
    bucket = f"tradewarden-{run.stack}-backups-{account}"
    assert out["backupBucket"] == bucket
    assert out["backupUrl"] == f"s3://{bucket}/{run.stack}/"


def test_every_cloud_resource_is_parented_to_a_component(run: OfflineRun) -> None:
    components = {r.type for r in run.resources if not r.id}
    assert components == {
        "tradewarden:infra:Network",
        "tradewarden:infra:Secrets",
        "tradewarden:infra:Host",
        "tradewarden:infra:Alerting",
        "tradewarden:infra:Backups",
        "tradewarden:infra:AlertEmail",
        "tradewarden:infra:ManagedPrometheus",
        "tradewarden:infra:PrometheusHostAccess",
    }
    for r in run.resources:
        if r.id and r.type != "pulumi:providers:aws":  # the provider belongs to the stack
            parent_type = r.urn.split("::")[2].split("$")[0]
            assert parent_type in components, r.urn


def test_stacks_differ_as_the_issue_asks(stack_runs: dict[str, OfflineRun]) -> None:
    types = {s: r.one(t.INSTANCE).inputs["instanceType"] for s, r in stack_runs.items()}
    assert types["dev"] == "t3.small" and types["staging"] == types["prod"]
    assert stack_runs["prod"].outputs["testnet"] is False
    assert stack_runs["staging"].outputs["testnet"] is True
    assert stack_runs["prod"].one(t.INSTANCE).inputs["disableApiTermination"] is True
    assert stack_runs["dev"].one(t.INSTANCE).inputs["disableApiTermination"] is False


# --- host -----------------------------------------------------------------------------------


def test_host_has_no_ingress_at_all(run: OfflineRun) -> None:
    sg = host_sg(run)
    assert sg.inputs["ingress"] == []
    assert run.one(t.INSTANCE).inputs["vpcSecurityGroupIds"] == [sg.id]
    for rule in run.of_type(t.VPC_INGRESS_RULE) + run.of_type(t.SECURITY_GROUP_RULE):
        assert rule.inputs.get("securityGroupId") != sg.id
    # The only ingress rules in the stack let the host reach the VPC endpoints: HTTPS to
    # the AWS APIs' endpoints (the shared group, and the aps-workspaces endpoint's own),
    # SMTP submission (587) to the SES endpoint.
    rules = sorted(
        (
            r.inputs["securityGroupId"],
            r.inputs["referencedSecurityGroupId"],
            r.inputs["ipProtocol"],
            r.inputs["fromPort"],
            r.inputs["toPort"],
        )
        for r in run.of_type(t.VPC_INGRESS_RULE)
    )
    assert rules == sorted(
        [
            (run.one(t.SECURITY_GROUP, "network-endpoints-sg").id, sg.id, "tcp", 443, 443),
            (run.one(t.SECURITY_GROUP, "prometheus-endpoint-sg").id, sg.id, "tcp", 443, 443),
            (run.one(t.SECURITY_GROUP, "network-smtp-endpoint-sg").id, sg.id, "tcp", 587, 587),
        ]
    )
    default_sg = run.one(t.DEFAULT_SECURITY_GROUP)
    assert default_sg.inputs["ingress"] == [] and default_sg.inputs["egress"] == []


def test_host_egress_is_https_dns_to_the_resolver_and_smtp_in_the_vpc_only(
    run: OfflineRun,
) -> None:
    resolver = {"dev": "10.42.0.2/32", "staging": "10.43.0.2/32", "prod": "10.44.0.2/32"}
    rules = {
        (e["protocol"], int(e["fromPort"]), int(e["toPort"]), tuple(e["cidrBlocks"]))
        for e in host_sg(run).inputs["egress"]
    }
    assert rules == {
        ("tcp", 443, 443, ("0.0.0.0/0",)),
        ("udp", 53, 53, (resolver[run.stack],)),
        ("tcp", 53, 53, (resolver[run.stack],)),
        # SES's email-smtp endpoint; nothing else in the VPC accepts 587
        ("tcp", 587, 587, (cfg_of(run).vpc_cidr,)),
    }


def test_host_instance_is_locked_down(run: OfflineRun) -> None:
    inst = run.one(t.INSTANCE).inputs
    key_arn = run.outputs["kmsKeyArn"]
    assert inst["metadataOptions"]["httpTokens"] == "required"
    assert inst["metadataOptions"]["httpPutResponseHopLimit"] == 1
    assert inst["associatePublicIpAddress"] is False
    assert "keyName" not in inst
    assert inst["monitoring"] is True
    root = inst["rootBlockDevice"]
    assert root["encrypted"] is True and root["kmsKeyId"] == key_arn
    assert inst["subnetId"] == run.one(t.SUBNET, "network-private").id
    profile = run.one(t.INSTANCE_PROFILE)
    assert inst["iamInstanceProfile"] == profile.outputs["name"]
    assert profile.inputs["role"] == f"tradewarden-{run.stack}-host"


def test_ami_is_looked_up_for_amazon_linux_2023(run: OfflineRun) -> None:
    (args,) = [a for tok, a in run.calls if tok == "aws:ec2/getAmi:getAmi"]
    assert args["owners"] == ["amazon"] and args["mostRecent"] is True
    filters = {f["name"]: f["values"] for f in args["filters"]}
    assert filters["name"] == ["al2023-ami-2023.*-kernel-*-x86_64"]
    assert run.one(t.INSTANCE).inputs["ami"] == "ami-0a1b2c3d4e5f60718"


def test_user_data_is_rendered_cloud_init_without_secrets(run: OfflineRun) -> None:
    text = run.one(t.INSTANCE).inputs["userData"]
    assert text.startswith("#cloud-config") and "${" not in text
    doc = yaml.safe_load(text)
    env = doc["write_files"][0]["content"]
    assert f"TRADEWARDEN_SECRET_TRADE_KEY_ID=tradewarden/{run.stack}/binance/trade" in env
    assert f"TRADEWARDEN_SNS_TOPIC_ARN={run.outputs['alertTopicArn']}" in env
    assert f"BINANCE_TESTNET={'false' if run.stack == 'prod' else 'true'}" in env
    assert "TRADEWARDEN_SECRET_SOURCE=aws" in env
    host_env = doc["write_files"][1]["content"]
    assert f"TRADEWARDEN_BACKUP_TO={run.outputs['backupUrl']}\n" in host_env
    assert "/var/backups" not in host_env


def grants(document: dict[str, Any]) -> dict[str, Any]:
    """action -> (resources, condition) over the Allow statements; an action granted by two
    statements (s3:GetObject: the release and the backups) -> the set of both."""
    out: dict[str, Any] = {}
    for st in document["Statement"]:
        assert st["Effect"] == "Allow"
        resources = st["Resource"] if isinstance(st["Resource"], str) else tuple(st["Resource"])
        for action in st["Action"]:
            grant = (resources, json.dumps(st.get("Condition"), sort_keys=True))
            if action in out:
                before = out[action] if isinstance(out[action], frozenset) else {out[action]}
                assert grant not in before, f"{action} granted twice alike"
                out[action] = frozenset({*before, grant})
            else:
                out[action] = grant
    return out


def test_host_role_grants_only_the_listed_actions_on_the_listed_arns(run: OfflineRun) -> None:
    role = run.one(t.IAM_ROLE, "host-role")
    policies = [p for p in run.of_type(t.IAM_ROLE_POLICY) if p.inputs["role"] == role.id]
    # the host's own policy, and remote_write to the AMP workspace (infra/components/monitoring)
    assert sorted(p.name for p in policies) == ["host-role-policy", "prometheus-host-remote-write"]
    assert not [a for a in run.of_type(t.IAM_ROLE_POLICY_ATTACHMENT) if a.inputs["role"] == role.id]
    key = run.outputs["kmsKeyArn"]
    vpc = run.outputs["vpcId"]
    log_group = (
        f"arn:aws:logs:eu-west-1:{key.split(':')[4]}:log-group:/tradewarden/{run.stack}/host"
    )
    via = json.dumps(
        {
            "StringEquals": {
                "kms:ViaService": [
                    "secretsmanager.eu-west-1.amazonaws.com",
                    "sns.eu-west-1.amazonaws.com",
                    "s3.eu-west-1.amazonaws.com",
                ]
            }
        },
        sort_keys=True,
    )
    bucket_arn = f"arn:aws:s3:::{run.outputs['backupBucket']}"
    own_prefix = json.dumps({"StringLike": {"s3:prefix": [f"{run.stack}/*"]}}, sort_keys=True)
    in_vpc = json.dumps({"StringEquals": {"aws:SourceVpc": vpc}}, sort_keys=True)
    expected = {
        "secretsmanager:GetSecretValue": (
            (
                *sorted(run.outputs["secretArns"].values()),
                f"arn:aws:secretsmanager:eu-west-1:{key.split(':')[4]}:secret:"
                f"tradewarden/{run.stack}/admin/approver/*",
            ),
            "null",
        ),
        "kms:Decrypt": ((key,), via),
        "kms:GenerateDataKey": (
            (key,),
            json.dumps(
                {
                    "StringEquals": {
                        "kms:ViaService": [
                            "sns.eu-west-1.amazonaws.com",
                            "s3.eu-west-1.amazonaws.com",
                        ]
                    }
                },
                sort_keys=True,
            ),
        ),
        "s3:PutObject": ((f"{bucket_arn}/{run.stack}/*",), "null"),
        "s3:GetObject": frozenset(
            {((f"{bucket_arn}/{run.stack}/*",), "null"), ((release_arn(run),), "null")}
        ),
        "s3:ListBucket": ((bucket_arn,), own_prefix),
        "sns:Publish": ((run.outputs["alertTopicArn"],), "null"),
        "ssm:UpdateInstanceInformation": (
            (f"arn:aws:ec2:eu-west-1:{key.split(':')[4]}:instance/*",),
            in_vpc,
        ),
        **{a: ("*", in_vpc) for a in SSM_CHANNEL_ACTIONS},
        **{
            a: ((log_group, f"{log_group}:log-stream:*"), "null")
            for a in ("logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents")
        },
        "cloudwatch:PutMetricData": (
            "*",
            json.dumps(
                {"StringEquals": {"cloudwatch:namespace": ["Tradewarden", "CWAgent"]}},
                sort_keys=True,
            ),
        ),
        "aps:RemoteWrite": ((run.one("aws:amp/workspace:Workspace").outputs["arn"],), "null"),
    }
    granted: dict[str, Any] = {}
    for policy in policies:
        for action, grant in grants(policy_json(policy)).items():
            assert action not in granted, f"{action} granted twice"
            granted[action] = grant
    assert granted == expected


def release_arn(run: OfflineRun) -> str:
    cfg = cfg_of(run)
    return f"arn:aws:s3:::{cfg.release_bucket}/{naming.release_object_key(cfg.wheel_version)}"


def test_daily_snapshots_keep_the_configured_days(run: OfflineRun) -> None:
    dlm = run.one("aws:dlm/lifecyclePolicy:LifecyclePolicy").inputs
    (schedule,) = dlm["policyDetails"]["schedules"]
    assert schedule["createRule"] == {"interval": 24, "intervalUnit": "HOURS", "times": "03:00"}
    assert schedule["retainRule"]["interval"] == cfg_of(run).snapshot_retention_days
    assert schedule["retainRule"]["intervalUnit"] == "DAYS"
    root_tags = run.one(t.INSTANCE).inputs["rootBlockDevice"]["tags"]
    for key, value in dlm["policyDetails"]["targetTags"].items():
        assert root_tags[key] == value
    assert {"dev": 7, "staging": 14, "prod": 30}[run.stack] == schedule["retainRule"]["interval"]


# --- network --------------------------------------------------------------------------------


def test_firewall_allowlist_is_exactly_the_configured_domains(run: OfflineRun) -> None:
    source = run.one(t.NFW_RULE_GROUP).inputs["ruleGroup"]["rulesSource"]["rulesSourceList"]
    expected = [".binance.com"]  # spot only: no stack sets tradewarden:futures
    if run.stack != "prod":
        expected.append(".binance.vision")
    expected += ["hooks.slack.com", "slack.com"]  # every stack sets tradewarden:slack true
    assert source["targets"] == expected
    assert source["generatedRulesType"] == "ALLOWLIST"
    assert source["targetTypes"] == ["TLS_SNI", "HTTP_HOST"]
    policy = run.one(t.NFW_POLICY).inputs["firewallPolicy"]
    assert policy["statefulDefaultActions"] == ["aws:drop_established", "aws:alert_established"]
    assert policy["statefulEngineOptions"]["ruleOrder"] == "STRICT_ORDER"
    assert policy["statelessDefaultActions"] == ["aws:forward_to_sfe"]
    assert (
        policy["statefulRuleGroupReferences"][0]["resourceArn"]
        == run.one(t.NFW_RULE_GROUP).outputs["arn"]
    )


def test_custom_allowlist_reaches_both_firewalls_exactly() -> None:
    raw = read_stack_file("dev")
    raw["tradewarden:allowedDomains"] = [
        "api.binance.com",
        "*.binancefuture.com",
        "status.example.org",
    ]
    raw["tradewarden:slack"] = False
    del raw["tradewarden:slackChannel"]
    run = run_offline("custom-allowlist", raw)
    source = run.one(t.NFW_RULE_GROUP).inputs["ruleGroup"]["rulesSource"]["rulesSourceList"]
    assert source["targets"] == ["api.binance.com", ".binancefuture.com", "status.example.org"]
    dns = run.one(t.DNS_DOMAIN_LIST, "network-dns-allowed").inputs["domains"]
    assert set(dns) == {
        "api.binance.com",
        "binancefuture.com",
        "*.binancefuture.com",
        "status.example.org",
        *aws_service_domains("eu-west-1"),
    }
    assert run.outputs["egressAllowList"] == source["targets"]


def test_dns_firewall_allows_the_list_and_blocks_the_rest_fail_closed(run: OfflineRun) -> None:
    allowed = run.one(t.DNS_DOMAIN_LIST, "network-dns-allowed")
    everything = run.one(t.DNS_DOMAIN_LIST, "network-dns-everything")
    assert everything.inputs["domains"] == ["*"]
    assert (
        "*.binance.com" in allowed.inputs["domains"] and "binance.com" in allowed.inputs["domains"]
    )
    assert "secretsmanager.eu-west-1.amazonaws.com" in allowed.inputs["domains"]
    assert not [d for d in allowed.inputs["domains"] if d in ("*", "*.com", "*.amazonaws.com")]
    rules = {r.inputs["action"]: r.inputs for r in run.of_type(t.DNS_RULE)}
    assert rules["ALLOW"]["firewallDomainListId"] == allowed.id
    assert rules["BLOCK"]["firewallDomainListId"] == everything.id
    assert rules["BLOCK"]["blockResponse"] == "NXDOMAIN"
    assert rules["ALLOW"]["priority"] < rules["BLOCK"]["priority"]
    vpc = run.one(t.VPC)
    assoc = run.one(t.DNS_ASSOCIATION).inputs
    assert assoc["vpcId"] == vpc.id
    assert assoc["mutationProtection"] == ("ENABLED" if run.stack == "prod" else "DISABLED")
    config = run.one(t.DNS_CONFIG).inputs
    assert config == {"resourceId": vpc.id, "firewallFailOpen": "DISABLED"}


def test_host_subnet_routes_only_through_the_firewall(run: OfflineRun) -> None:
    private = run.one(t.SUBNET, "network-private")
    (assoc,) = [
        a
        for a in run.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
        if a.inputs["subnetId"] == private.id
    ]
    routes = [
        r.inputs
        for r in run.of_type("aws:ec2/route:Route")
        if r.inputs["routeTableId"] == assoc.inputs["routeTableId"]
    ]
    endpoint = run.one(t.NFW_FIREWALL).outputs["firewallStatuses"][0]["syncStates"][0][
        "attachments"
    ][0]["endpointId"]
    assert routes == [
        {
            "routeTableId": assoc.inputs["routeTableId"],
            "destinationCidrBlock": "0.0.0.0/0",
            "vpcEndpointId": endpoint,
        }
    ]
    for subnet in run.of_type(t.SUBNET):
        assert subnet.inputs["mapPublicIpOnLaunch"] is False
    # Return traffic from the NAT comes back through the firewall too.
    public_return = run.one("aws:ec2/route:Route", "network-public-return-via-firewall").inputs
    assert public_return["destinationCidrBlock"] == private.inputs["cidrBlock"]
    assert public_return["vpcEndpointId"] == endpoint


def test_aws_traffic_stays_in_the_vpc(run: OfflineRun) -> None:
    endpoints = {
        e.inputs["serviceName"]: e.inputs for e in run.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    }
    interface = {k for k, v in endpoints.items() if v["vpcEndpointType"] == "Interface"}
    assert interface == {
        f"com.amazonaws.eu-west-1.{s}"
        for s in (*INTERFACE_ENDPOINT_SERVICES, "email-smtp", "aps-workspaces")
    }
    assert {
        "ssm",
        "ssmmessages",
        "ec2messages",
        "secretsmanager",
        "kms",
        "logs",
        "monitoring",
        "sts",
    } <= set(INTERFACE_ENDPOINT_SERVICES)
    for name in interface:
        assert endpoints[name]["privateDnsEnabled"] is True
        assert endpoints[name]["subnetIds"] == [run.one(t.SUBNET, "network-private").id]
    s3 = endpoints["com.amazonaws.eu-west-1.s3"]
    assert s3["vpcEndpointType"] == "Gateway"
    repos, objects, listing = json.loads(s3["policy"])["Statement"]
    assert repos["Action"] == ["s3:GetObject"]
    assert repos["Resource"] == [
        "arn:aws:s3:::al2023-repos-eu-west-1-de612dc2/*",
        release_arn(run),
    ]
    bucket_arn = f"arn:aws:s3:::{run.outputs['backupBucket']}"
    account = run.outputs["kmsKeyArn"].split(":")[4]
    own = {"aws:PrincipalAccount": account, "aws:ResourceAccount": account}
    assert (objects["Principal"], objects["Action"], objects["Resource"]) == (
        "*",
        ["s3:PutObject", "s3:GetObject"],
        [f"{bucket_arn}/{run.stack}/*"],
    )
    assert objects["Condition"] == {"StringEquals": own}
    assert (listing["Action"], listing["Resource"], listing["Condition"]) == (
        ["s3:ListBucket"],
        [bucket_arn],
        {"StringLike": {"s3:prefix": [f"{run.stack}/*"]}, "StringEquals": own},
    )


def test_flow_logs_go_to_encrypted_cloudwatch_logs(run: OfflineRun) -> None:
    flow = run.one("aws:ec2/flowLog:FlowLog").inputs
    group = run.one(t.LOG_GROUP, "network-vpc-flow-logs")
    assert flow["vpcId"] == run.one(t.VPC).id and flow["trafficType"] == "ALL"
    assert flow["logDestination"] == group.outputs["arn"]
    for lg in run.of_type(t.LOG_GROUP):
        assert lg.inputs["kmsKeyId"] == run.outputs["kmsKeyArn"]
        assert lg.inputs["retentionInDays"] == cfg_of(run).log_retention_days


# --- secrets --------------------------------------------------------------------------------


def test_secrets_are_named_for_the_daemon_encrypted_and_empty_but_smtp(run: OfflineRun) -> None:
    names = sorted(s.inputs["name"] for s in run.of_type(t.SECRET))
    s = run.stack
    assert names == sorted(
        [
            f"tradewarden/{s}/binance/trade",
            f"tradewarden/{s}/binance/read",
            f"tradewarden/{s}/slack",
            f"tradewarden/{s}/smtp",
            f"tradewarden/{s}/admin",
        ]
    )
    for secret in run.of_type(t.SECRET):
        assert secret.inputs["kmsKeyId"] == run.outputs["kmsKeyArn"]
    # The one value Pulumi writes: the SES SMTP credentials it creates (a Pulumi secret,
    # test_email.py); the others are put with `tradewarden secrets put`.
    (version,) = [
        r for r in run.resources if r.type == "aws:secretsmanager/secretVersion:SecretVersion"
    ]
    assert version.inputs["secretId"] == run.outputs["secretArns"]["smtp"]
    for r in run.resources:  # no other secret value anywhere in the program's inputs
        if r is not version:
            assert "secretString" not in r.inputs and "secretBinary" not in r.inputs


def test_secret_policy_denies_everyone_but_host_and_admin(run: OfflineRun) -> None:
    admin = cfg_of(run).admin_role_arn
    policies = run.of_type("aws:secretsmanager/secretPolicy:SecretPolicy")
    assert {p.inputs["secretArn"] for p in policies} == set(run.outputs["secretArns"].values())
    for p in policies:
        deny_all, host_read_only = policy_json(p)["Statement"]
        assert deny_all["Effect"] == "Deny" and deny_all["Principal"] == "*"
        assert deny_all["Condition"]["StringNotEquals"]["aws:PrincipalArn"] == [
            run.outputs["hostRoleArn"],
            admin,
        ]
        assert host_read_only["NotAction"] == [
            "secretsmanager:GetSecretValue",
            "secretsmanager:DescribeSecret",
        ]
        assert p.inputs["blockPublicPolicy"] is True


def test_kms_key_rotates(run: OfflineRun) -> None:
    key = run.one("aws:kms/key:Key").inputs
    assert key["enableKeyRotation"] is True
    sids = [s["Sid"] for s in json.loads(key["policy"])["Statement"]]
    assert "CloudWatchAlarmsPublishToEncryptedTopic" in sids


# --- alerting -------------------------------------------------------------------------------


def test_alerts_reach_people(run: OfflineRun) -> None:
    cfg = cfg_of(run)
    topic = run.one(t.TOPIC)
    assert topic.inputs["kmsMasterKeyId"] == run.outputs["kmsKeyArn"]
    subs = {
        (s.inputs["protocol"], s.inputs["endpoint"])
        for s in run.of_type("aws:sns/topicSubscription:TopicSubscription")
    }
    assert subs == {("email", e) for e in cfg.alert_emails} | {
        ("sms", n) for n in cfg.alert_sms_numbers
    }
    if run.stack == "prod":
        assert ("sms", "+447700900123") in subs


def test_alarms_cover_status_cpu_and_heartbeat(run: OfflineRun) -> None:
    topic = run.outputs["alertTopicArn"]
    alarms = {
        a.inputs["metricName"]: a.inputs
        for a in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    }
    assert set(alarms) == {
        "StatusCheckFailed_Instance",
        "StatusCheckFailed_System",
        "CPUUtilization",
        "Heartbeat",
        # meta-monitoring: tests/infra/test_alerting_meta.py
        "AlertPipeline",
        "Ready",
        "disk_used_percent",
        "mem_used_percent",
        # egress and snapshots: tests/infra/test_stack_lifecycle.py
        "DroppedPackets",
        "FirewallRuleQueryVolume",
        "SnapshotsCreateFailed",
    }
    for alarm in alarms.values():
        assert topic in alarm["alarmActions"]
    instance_id = run.outputs["instanceId"]
    for name in ("StatusCheckFailed_Instance", "StatusCheckFailed_System", "CPUUtilization"):
        assert alarms[name]["dimensions"] == {"InstanceId": instance_id}
    assert (
        "arn:aws:automate:eu-west-1:ec2:recover"
        in alarms["StatusCheckFailed_System"]["alarmActions"]
    )
    heartbeat = alarms["Heartbeat"]
    assert heartbeat["namespace"] == "Tradewarden"
    assert heartbeat["treatMissingData"] == "breaching"
    assert heartbeat["comparisonOperator"] == "LessThanThreshold"
    assert heartbeat["dimensions"] == {"Stack": run.stack}


@pytest.mark.parametrize("stack", ["dev"])
def test_topic_arn_the_host_may_publish_to_is_the_topic_created(
    stack: str, stack_runs: dict[str, OfflineRun]
) -> None:
    run = stack_runs[stack]
    policy = policy_json(run.one(t.IAM_ROLE_POLICY, "host-role-policy"))
    (publish,) = [s for s in policy["Statement"] if s["Action"] == ["sns:Publish"]]
    assert publish["Resource"] == [run.one(t.TOPIC).outputs["arn"]]
