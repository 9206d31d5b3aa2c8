"""Amazon Managed Prometheus and Managed Grafana (infra/components/monitoring.py), built by
the whole program through the recording mocks: what is created and with which arguments,
who may write and read the metrics, the dashboards provisioned, preview-time unknowns, a
stack without Grafana, and the policy pack over all of it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime import settings as pulumi_settings

from infra.cloud_init import render_user_data
from infra.components.monitoring import (
    DATASOURCE_UID,
    TOKEN_TTL_SECONDS,
    Grafana,
    GrafanaArgs,
    ManagedPrometheus,
    ManagedPrometheusArgs,
    dashboard_files,
    dashboard_json,
    token_name,
)
from infra.config import ConfigError, load_stack_config
from infra.iam import AMP_QUERY_ACTIONS
from infra.naming import AwsContext
from infra.offline import (
    UNKNOWN,
    OfflineRun,
    RecordingMocks,
    engine_value,
    read_stack_file,
    run_offline,
)
from infra.policy import checks as t

from .conftest import all_violations, policy_json, resource_violations
from .test_backups import decide
from .test_policy_preview import analyze
from .test_schema import args_class, unknown_keys

AMP_WORKSPACE = "aws:amp/workspace:Workspace"
GRAFANA_WORKSPACE = "aws:grafana/workspace:Workspace"
TOKEN = "aws:grafana/workspaceServiceAccountToken:WorkspaceServiceAccountToken"
DASHBOARD = "grafana:oss/dashboard:Dashboard"
DATA_SOURCE = "grafana:oss/dataSource:DataSource"
GRAFANA_PROVIDER = "pulumi:providers:grafana"
SECRET_SIG, SECRET_MARK = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"
ADMIN_GROUP = "9067e4c1f2-1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"
GRAFANA = {
    "tradewarden:grafanaEnabled": True,
    "tradewarden:grafanaAuthProviders": ["AWS_SSO"],
    "tradewarden:grafanaAdminGroup": ADMIN_GROUP,
}


def account_of(run: OfflineRun) -> str:
    return run.outputs["kmsKeyArn"].split(":")[4]


def with_grafana(stack: str = "staging", **extra: Any) -> dict[str, Any]:
    return {**read_stack_file(stack), **GRAFANA, **extra}


@pytest.fixture(scope="module")
def gr() -> OfflineRun:
    """staging with Grafana enabled, as `pulumi up` would build it."""
    return run_offline("staging", with_grafana())


def endpoint_of(run: OfflineRun, service: str) -> Any:
    (endpoint,) = [
        e
        for e in run.of_type(t.VPC_ENDPOINT)
        if e.inputs["serviceName"] == f"com.amazonaws.eu-west-1.{service}"
    ]
    return endpoint


def by_id(run: OfflineRun, rid: str) -> Any:
    (found,) = [r for r in run.resources if r.id == rid]
    return found


# --- Amazon Managed Prometheus: always there --------------------------------------------------


def test_amp_workspace_encrypted_with_the_stack_key_and_logging(run: OfflineRun) -> None:
    ws = run.one(AMP_WORKSPACE)
    assert ws.inputs["kmsKeyArn"] == run.outputs["kmsKeyArn"]
    assert ws.inputs["alias"] == f"tradewarden-{run.stack}"
    logs = run.one(t.LOG_GROUP, "prometheus-logs")
    assert logs.inputs["name"] == f"/tradewarden/{run.stack}/amp"
    assert logs.inputs["kmsKeyId"] == run.outputs["kmsKeyArn"]
    assert ws.inputs["loggingConfiguration"] == {"logGroupArn": logs.outputs["arn"] + ":*"}
    assert run.outputs["ampWorkspaceId"] == ws.id
    assert run.outputs["ampRemoteWriteUrl"] == (
        f"https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/{ws.id}/api/v1/remote_write"
    )
    protect = run.stack == "prod"
    assert ws.options["protect"] is protect and logs.options["protect"] is protect


def test_the_host_gets_the_remote_write_url_and_the_dns_firewall_resolves_it(
    run: OfflineRun,
) -> None:
    text = run.one(t.INSTANCE).inputs["userData"]
    host_env = text.split("path: /etc/tradewarden/host.env", 1)[1].split("- path:", 1)[0]
    assert f"TRADEWARDEN_AMP_REMOTE_WRITE_URL={run.outputs['ampRemoteWriteUrl']}\n" in host_env
    assert "TRADEWARDEN_AMP_REGION=eu-west-1\n" in host_env
    allowed = run.one(t.DNS_DOMAIN_LIST, "network-dns-allowed").inputs["domains"]
    assert "aps-workspaces.eu-west-1.amazonaws.com" in allowed


def test_the_user_data_takes_only_an_amp_remote_write_url() -> None:
    cfg = load_stack_config(read_stack_file("dev"), "dev")
    good = "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1a2b/api/v1/remote_write"
    text = render_user_data(cfg, region="eu-west-1", alert_topic_arn="x", amp_remote_write_url=good)
    assert f"TRADEWARDEN_AMP_REMOTE_WRITE_URL={good}\n" in text
    for bad in ("http://evil.example/api/v1/write", good + "\n", good + "\nTRADEWARDEN_MODE=live"):
        with pytest.raises(ValueError, match="amp_remote_write_url"):
            render_user_data(cfg, region="eu-west-1", alert_topic_arn="x", amp_remote_write_url=bad)


def test_the_aps_endpoint_sits_in_the_host_subnet_pinned_to_the_account(
    run: OfflineRun,
) -> None:
    endpoint = endpoint_of(run, "aps-workspaces")
    assert endpoint.inputs["vpcEndpointType"] == "Interface"
    assert endpoint.inputs["privateDnsEnabled"] is True
    assert endpoint.inputs["subnetIds"] == [run.one(t.SUBNET, "network-private").id]
    assert endpoint.inputs["vpcId"] == run.outputs["vpcId"]
    (statement,) = json.loads(endpoint.inputs["policy"])["Statement"]
    assert statement["Condition"] == {
        "StringEquals": {"aws:PrincipalAccount": account_of(run)},
        "StringEqualsIfExists": {"aws:ResourceAccount": account_of(run)},
    }


def test_the_aps_endpoint_takes_https_from_the_host_security_group_only(run: OfflineRun) -> None:
    endpoint = endpoint_of(run, "aps-workspaces")
    (sg_id,) = endpoint.inputs["securityGroupIds"]
    sg = by_id(run, sg_id)
    assert sg.name == "prometheus-endpoint-sg"
    assert sg.inputs["ingress"] == [] and sg.inputs["egress"] == []
    host_sg = run.one(t.SECURITY_GROUP, "host-sg")
    rules = [r for r in run.of_type(t.VPC_INGRESS_RULE) if r.inputs["securityGroupId"] == sg_id]
    assert [(r.name, r.inputs) for r in rules] == [
        (
            "prometheus-host-endpoint-from-host",
            {
                "securityGroupId": sg_id,
                "referencedSecurityGroupId": host_sg.id,
                "ipProtocol": "tcp",
                "fromPort": 443,
                "toPort": 443,
                "description": rules[0].inputs["description"],
                "tags": rules[0].inputs["tags"],
            },
        )
    ]
    # not the network's shared endpoint group: the aps endpoint has its own
    assert sg_id != run.one(t.SECURITY_GROUP, "network-endpoints-sg").id


def test_the_host_role_may_only_remote_write_to_its_workspace(run: OfflineRun) -> None:
    ws_arn = run.one(AMP_WORKSPACE).outputs["arn"]
    host_role = run.one(t.IAM_ROLE, "host-role")
    policies = [p for p in run.of_type(t.IAM_ROLE_POLICY) if p.inputs["role"] == host_role.id]
    assert sorted(p.name for p in policies) == ["host-role-policy", "prometheus-host-remote-write"]
    amp = policy_json(run.one(t.IAM_ROLE_POLICY, "prometheus-host-remote-write"))
    assert amp["Statement"] == [
        {
            "Sid": "RemoteWriteOwnWorkspace",
            "Effect": "Allow",
            "Action": ["aps:RemoteWrite"],
            "Resource": [ws_arn],
        }
    ]
    other_ws = ws_arn.rsplit("/", 1)[0] + "/ws-00000000-0000-4000-8000-000000000000"
    for doc in (amp, policy_json(run.one(t.IAM_ROLE_POLICY, "host-role-policy"))):
        assert decide(doc, "aps:RemoteWrite", other_ws, {}) == "neutral"
        for action in (*AMP_QUERY_ACTIONS, "aps:DeleteWorkspace", "aps:CreateWorkspace"):
            assert decide(doc, action, ws_arn, {}) == "neutral", action
    assert decide(amp, "aps:RemoteWrite", ws_arn, {}) == "allow"


def test_a_stack_without_grafana_creates_nothing_of_grafana(run: OfflineRun) -> None:
    assert not [
        r.name for r in run.resources if "grafana" in r.type.lower() or r.name.startswith("grafana")
    ]
    assert run.outputs["grafanaUrl"] == ""


# --- Managed Grafana ----------------------------------------------------------------------------


def test_grafana_workspace_reads_amp_through_its_own_read_only_role(gr: OfflineRun) -> None:
    ws = gr.one(GRAFANA_WORKSPACE)
    role = gr.one(t.IAM_ROLE, "grafana-role")
    assert ws.inputs["authenticationProviders"] == ["AWS_SSO"]
    assert ws.inputs["permissionType"] == "SERVICE_MANAGED"
    assert ws.inputs["accountAccessType"] == "CURRENT_ACCOUNT"
    assert ws.inputs["dataSources"] == ["PROMETHEUS"]
    assert ws.inputs["roleArn"] == role.outputs["arn"]
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "grafana.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": account_of(gr)}}
    amp_arn = gr.one(AMP_WORKSPACE).outputs["arn"]
    (policy,) = [p for p in gr.of_type(t.IAM_ROLE_POLICY) if p.inputs["role"] == role.id]
    assert policy_json(policy)["Statement"] == [
        {
            "Sid": "QueryOwnWorkspace",
            "Effect": "Allow",
            "Action": list(AMP_QUERY_ACTIONS),
            "Resource": [amp_arn],
        }
    ]
    assert decide(policy_json(policy), "aps:RemoteWrite", amp_arn, {}) == "neutral"
    (admins,) = gr.of_type("aws:grafana/roleAssociation:RoleAssociation")
    assert admins.inputs == {"workspaceId": ws.id, "role": "ADMIN", "groupIds": [ADMIN_GROUP]}
    assert gr.outputs["grafanaUrl"] == f"https://{ws.outputs['endpoint']}"


def test_pulumi_reaches_grafana_with_a_short_lived_secret_token(gr: OfflineRun) -> None:
    ws = gr.one(GRAFANA_WORKSPACE)
    (account,) = gr.of_type("aws:grafana/workspaceServiceAccount:WorkspaceServiceAccount")
    token = gr.one(TOKEN)
    assert account.inputs["grafanaRole"] == "ADMIN"
    assert token.inputs["secondsToLive"] == TOKEN_TTL_SECONDS <= 3 * 3600
    assert token.inputs["serviceAccountId"] == account.outputs["serviceAccountId"]
    assert token.inputs["workspaceId"] == account.inputs["workspaceId"] == ws.id
    provider = gr.one(GRAFANA_PROVIDER)
    assert provider.inputs["url"] == f"https://{ws.outputs['endpoint']}"
    # the token reaches the provider as a secret (the engine's secret wrapper)
    assert provider.inputs["auth"] == {SECRET_SIG: SECRET_MARK, "value": token.outputs["key"]}
    assert token.outputs["key"] not in json.dumps(gr.outputs)
    grafana_side = [r for r in gr.resources if r.type.startswith("grafana:")]
    assert len(grafana_side) >= 5
    for r in grafana_side:
        assert r.options["provider"].startswith(provider.urn + "::"), r.name
        assert r.options["deleteBeforeReplace"], r.name  # fixed uids
    for r in [*grafana_side, provider, token, ws]:
        assert r.urn.split("::")[2].startswith("tradewarden:infra:Grafana$"), r.urn


def test_token_names_rotate_every_hour() -> None:
    assert token_name(datetime(2026, 12, 3, 22, 59, tzinfo=UTC)) == "pulumi-2026120322"
    assert token_name(datetime(2026, 12, 3, 23, 0, tzinfo=UTC)) == "pulumi-2026120323"
    assert TOKEN_TTL_SECONDS > 3600  # outlives the hour it is named after


def test_the_prometheus_data_source_signs_with_sigv4_to_the_amp_query_url(gr: OfflineRun) -> None:
    ds = gr.one(DATA_SOURCE)
    amp = gr.one(AMP_WORKSPACE)
    assert ds.inputs["type"] == "prometheus"
    assert ds.inputs["uid"] == DATASOURCE_UID
    assert ds.inputs["url"] == amp.outputs["prometheusEndpoint"]
    assert ds.inputs["url"].startswith("https://aps-workspaces.eu-west-1.amazonaws.com/")
    data = json.loads(ds.inputs["jsonDataEncoded"])
    assert data["sigV4Auth"] is True
    assert data["sigV4AuthType"] == "ec2_iam_role"
    assert data["sigV4Region"] == "eu-west-1"


def test_every_dashboard_file_becomes_a_dashboard_wired_to_the_data_source(
    gr: OfflineRun,
) -> None:
    files = dashboard_files()
    assert len(files) >= 3
    boards = {r.name.removeprefix("grafana-dashboard-"): r for r in gr.of_type(DASHBOARD)}
    assert sorted(boards) == sorted(p.stem for p in files)
    folder = gr.one("grafana:oss/folder:Folder")
    uid = gr.one(DATA_SOURCE).outputs["uid"]
    for path in files:
        board = boards[path.stem]
        source = json.loads(path.read_text(encoding="utf-8"))
        config = json.loads(board.inputs["configJson"])
        assert (config["uid"], config["title"]) == (source["uid"], source["title"])
        assert config["panels"] == source["panels"]
        (var,) = [v for v in config["templating"]["list"] if v["type"] == "datasource"]
        assert var["current"]["value"] == uid
        assert board.inputs["folder"] == folder.outputs["uid"]


def test_the_data_source_uid_is_wired_not_assumed(tmp_path: Path) -> None:
    src = dashboard_files()[0]
    board = json.loads(dashboard_json(src, "some-other-uid"))
    (var,) = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
    assert var["current"]["value"] == "some-other-uid"
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"title": "x", "templating": {"list": []}}), encoding="utf-8")
    with pytest.raises(ValueError, match="plain.json: no 'datasource' variable"):
        dashboard_json(plain, DATASOURCE_UID)


def test_preview_of_a_new_stack_with_grafana_does_not_crash(analyzer: Any) -> None:
    """`pulumi preview` of a new stack: no workspace endpoint, no token, no AMP URL yet;
    the running policy pack blocks nothing."""
    run = run_offline("staging", with_grafana(), preview=True)
    found = analyze(analyzer, run.resources)
    assert [d for d in found if d.mandatory] == []
    assert ("customer-kms-encryption", "prometheus-workspace") in {
        (d.policy, d.resource) for d in found
    }  # decided during `up`, once the key's ARN is known
    provider = run.one(GRAFANA_PROVIDER)
    assert engine_value(provider.inputs.get("url")) in (UNKNOWN, None)
    assert len(run.of_type(DASHBOARD)) == len(dashboard_files())
    assert engine_value(run.one(DATA_SOURCE).inputs["url"]) in (UNKNOWN, None)
    for board in run.of_type(DASHBOARD):
        assert json.loads(board.inputs["configJson"])["uid"].startswith("tradewarden-")


def test_saml_sign_in_gets_its_idp_and_admin_role_value() -> None:
    run = run_offline(
        "dev",
        with_grafana(
            "dev",
            **{
                "tradewarden:grafanaAuthProviders": ["SAML"],
                "tradewarden:grafanaAdminGroup": "grafana-admins",
                "tradewarden:grafanaSamlMetadataUrl": "https://idp.example.com/metadata.xml",
            },
        ),
    )
    (saml,) = run.of_type("aws:grafana/workspaceSamlConfiguration:WorkspaceSamlConfiguration")
    assert saml.inputs["idpMetadataUrl"] == "https://idp.example.com/metadata.xml"
    assert saml.inputs["adminRoleValues"] == ["grafana-admins"]
    assert not run.of_type("aws:grafana/roleAssociation:RoleAssociation")


# --- config ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {"tradewarden:grafanaEnabled": True},
            [
                "tradewarden:grafanaAuthProviders: required when grafanaEnabled is true",
                "tradewarden:grafanaAdminGroup: required when grafanaEnabled is true",
            ],
        ),
        (
            {**GRAFANA, "tradewarden:grafanaAuthProviders": ["SAML"]},
            ["tradewarden:grafanaSamlMetadataUrl: required when grafanaAuthProviders lists SAML"],
        ),
        (
            {**GRAFANA, "tradewarden:grafanaAuthProviders": ["OKTA"]},
            ["tradewarden:grafanaAuthProviders: entry [0]: must be AWS_SSO or SAML"],
        ),
        (
            {**GRAFANA, "tradewarden:grafanaSamlMetadataUrl": "http://idp/x"},
            ["tradewarden:grafanaSamlMetadataUrl: must be an https:// URL"],
        ),
        ({"tradewarden:grafanaEnabled": "yes"}, ["tradewarden:grafanaEnabled: must be true"]),
    ],
)
def test_bad_grafana_config_names_the_key(extra: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_stack_config({**read_stack_file("dev"), **extra}, "dev")
    assert len(info.value.problems) == len(expected)
    for problem, start in zip(info.value.problems, expected, strict=True):
        assert problem.startswith(start), problem


def test_grafana_is_off_unless_enabled() -> None:
    cfg = load_stack_config(read_stack_file("dev"), "dev")
    assert cfg.grafana_enabled is False
    # the other keys alone do not switch it on (and are not an error)
    cfg = load_stack_config(
        {**read_stack_file("dev"), **GRAFANA, "tradewarden:grafanaEnabled": False}, "dev"
    )
    assert cfg.grafana_enabled is False and cfg.grafana_auth_providers == ("AWS_SSO",)


# --- the policy pack over the whole stack with Grafana ------------------------------------------


def test_stack_with_grafana_passes_every_policy_and_the_provider_schema(gr: OfflineRun) -> None:
    assert all_violations(gr) == []
    problems = []
    for r in gr.resources:
        if r.custom and r.type.startswith("aws:"):
            problems += unknown_keys(args_class(r.type), r.inputs, r.name)
    assert problems == []


def test_an_amp_workspace_without_the_stack_key_is_refused(gr: OfflineRun) -> None:
    ws = gr.one(AMP_WORKSPACE).inputs
    assert resource_violations("customer-kms-encryption", AMP_WORKSPACE, ws) == []
    for bad in ({k: v for k, v in ws.items() if k != "kmsKeyArn"}, {**ws, "kmsKeyArn": ""}):
        assert resource_violations("customer-kms-encryption", AMP_WORKSPACE, bad) == [
            "the Prometheus workspace must be encrypted with a customer KMS key (kmsKeyArn)"
        ]


@pytest.mark.parametrize(
    "action", ["aps:DeleteWorkspace", "aps:DeleteLoggingConfiguration", "aps:Delete*", "aps:*"]
)
def test_no_policy_may_grant_erasing_the_metrics_history(gr: OfflineRun, action: str) -> None:
    """The AMP workspace is history like the logs: deleting it (or its logging) is for the
    admin role, outside the stack."""
    policy = gr.one(t.IAM_ROLE_POLICY, "prometheus-host-remote-write")
    document = policy_json(policy)
    document["Statement"][0]["Action"] = ["aps:RemoteWrite", action]
    found = resource_violations(
        "no-destructive-grants",
        t.IAM_ROLE_POLICY,
        {**policy.inputs, "policy": json.dumps(document)},
    )
    assert len(found) == 1 and "erasing history" in found[0], found
    assert resource_violations("no-destructive-grants", t.IAM_ROLE_POLICY, policy.inputs) == []


# --- the components on their own (classic set_mocks unit style) --------------------------------


def component_mocks(preview: bool) -> RecordingMocks:
    recording = RecordingMocks(preview=preview)
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(
        recording, project="tradewarden", stack="unit-monitoring", preview=preview
    )
    return recording


UNIT_CTX = AwsContext(
    "aws",
    "eu-west-1",
    "111111111111",
    "arn:aws:sts::111111111111:assumed-role/a/b",
    ("eu-west-1a",),
)


def test_grafana_component_takes_its_clock_and_dashboards_from_its_args(tmp_path: Path) -> None:
    mocks = component_mocks(preview=False)
    cfg = load_stack_config({**read_stack_file("dev"), **GRAFANA}, "unit")
    for stem in ("a", "b"):
        board = json.loads(dashboard_files()[0].read_text(encoding="utf-8"))
        board["uid"] = f"unit-{stem}"
        (tmp_path / f"{stem}.json").write_text(json.dumps(board), encoding="utf-8")
    args = GrafanaArgs(
        amp_workspace_arn="arn:aws:aps:eu-west-1:111111111111:workspace/ws-1",
        amp_query_url="https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/",
        dashboards=dashboard_files(tmp_path),
        now=lambda: datetime(2026, 12, 3, 22, 30, tzinfo=UTC),
    )

    @pulumi.runtime.test
    def build() -> Any:
        return Grafana("g", cfg, UNIT_CTX, args).url

    build()
    (token,) = [r for r in mocks.resources if r.type == TOKEN]
    assert token.inputs["name"] == "pulumi-2026120322"
    boards = [r for r in mocks.resources if r.type == DASHBOARD]
    assert sorted(json.loads(b.inputs["configJson"])["uid"] for b in boards) == [
        "unit-a",
        "unit-b",
    ]
    disabled = load_stack_config(read_stack_file("dev"), "unit")
    with pytest.raises(ValueError, match="grafanaEnabled"):
        Grafana("off", disabled, UNIT_CTX, args)


def test_managed_prometheus_at_preview_leaves_the_url_unknown() -> None:
    mocks = component_mocks(preview=True)
    cfg = load_stack_config(read_stack_file("dev"), "unit")
    seen: dict[str, Any] = {}

    @pulumi.runtime.test
    def build() -> Any:
        amp = ManagedPrometheus(
            "p",
            cfg,
            UNIT_CTX,
            ManagedPrometheusArgs(vpc_id="vpc-1", subnet_id="subnet-1", kms_key_arn="arn:k"),
        )
        return amp.remote_write_url.apply(lambda url: seen.setdefault("url", url))

    build()
    assert "url" not in seen  # unknown at preview: the apply never ran
    (endpoint,) = [r for r in mocks.resources if r.type == t.VPC_ENDPOINT]
    assert endpoint.inputs["serviceName"] == "com.amazonaws.eu-west-1.aps-workspaces"
