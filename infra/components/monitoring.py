"""Monitoring off the host: Amazon Managed Service for Prometheus (AMP) and Managed Grafana.

* `ManagedPrometheus`: the stack's AMP workspace (encrypted with the stack key, its logs in
  a KMS-encrypted log group) and an interface endpoint ``aps-workspaces`` in the host's
  subnet, so the host's Prometheus ``remote_write`` (SigV4, instance role) stays inside the
  VPC. Always created: the metrics history outlives the host even without Grafana.
* `PrometheusHostAccess`: HTTPS from the host's security group to that endpoint (only from
  there), and an inline policy on the host role allowing only ``aps:RemoteWrite`` on the
  workspace. Separate from the above because the host needs the workspace's URL in its
  user data before its own security group and role exist.
* `Grafana` (only with ``tradewarden:grafanaEnabled``): an Amazon Managed Grafana workspace
  whose role may only query the AMP workspace, a short-lived service-account token for
  Pulumi, and through the ``pulumiverse_grafana`` provider the Prometheus data source
  (SigV4) and the dashboards of ``ops/grafana/dashboards``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumiverse_grafana as grafana

from infra import iam, naming
from infra.config import StackConfig
from infra.naming import AwsContext

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = REPO_ROOT / "ops" / "grafana" / "dashboards"
# ops/grafana/provisioning/datasources/prometheus.yml uses the same uid.
DATASOURCE_UID = "tradewarden-prometheus"
GRAFANA_VERSION = "10.4"
# Pulumi's service-account token: named after the UTC hour it was made in and valid for two
# hours, so every `pulumi up` in a new hour mints a fresh one (the old one is deleted) and a
# run that starts late in the hour still finishes with a valid token. A leaked state file
# holds a token that is dead within two hours.
TOKEN_TTL_SECONDS = 2 * 3600


def remote_write_url(prometheus_endpoint: str) -> str:
    """AMP's ``prometheusEndpoint`` (``https://aps-workspaces.<region>.amazonaws.com/
    workspaces/ws-.../``) plus the remote-write path."""
    return prometheus_endpoint.rstrip("/") + "/api/v1/remote_write"


def token_name(now: datetime) -> str:
    return "pulumi-" + now.astimezone(UTC).strftime("%Y%m%d%H")


def dashboard_files(directory: Path = DASHBOARD_DIR) -> list[Path]:
    return sorted(directory.glob("*.json"))


def dashboard_json(path: Path, datasource_uid: str) -> str:
    """A dashboard file for the Grafana API: the ``datasource`` variable defaults to the
    provisioned data source, and no numeric id (Grafana assigns it; the uid identifies)."""
    board: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    board.pop("id", None)
    found = False
    for var in board.get("templating", {}).get("list", []):
        if var.get("type") == "datasource" and var.get("query") == "prometheus":
            var["current"] = {"text": "Prometheus", "value": datasource_uid}
            found = True
    if not found:
        raise ValueError(f"{path.name}: no 'datasource' variable of type prometheus to wire")
    return json.dumps(board, sort_keys=True)


@dataclass(frozen=True)
class ManagedPrometheusArgs:
    vpc_id: pulumi.Input[str]
    subnet_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]


class ManagedPrometheus(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        ctx: AwsContext,
        args: ManagedPrometheusArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("tradewarden:infra:ManagedPrometheus", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
        tags = naming.tags(cfg.stack)

        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/tradewarden/{cfg.stack}/amp",
            retention_in_days=cfg.log_retention_days,
            kms_key_id=args.kms_key_arn,
            tags=tags,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=cfg.protect)),
        )
        self.workspace = aws.amp.Workspace(
            f"{name}-workspace",
            alias=f"tradewarden-{cfg.stack}",
            kms_key_arn=args.kms_key_arn,
            logging_configuration={
                "log_group_arn": self.log_group.arn.apply(lambda arn: f"{arn}:*"),
            },
            tags=tags,
            # prod's metrics history is evidence like its logs.
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=cfg.protect)),
        )
        self.workspace_arn: pulumi.Output[str] = self.workspace.arn
        self.query_url: pulumi.Output[str] = self.workspace.prometheus_endpoint
        self.remote_write_url: pulumi.Output[str] = self.workspace.prometheus_endpoint.apply(
            remote_write_url
        )

        # The endpoint's own security group: ingress comes from `PrometheusHostAccess`.
        self.endpoint_sg = aws.ec2.SecurityGroup(
            f"{name}-endpoint-sg",
            vpc_id=args.vpc_id,
            description="aps-workspaces endpoint: HTTPS from the host security group only",
            ingress=[],
            egress=[],
            tags={**tags, "Name": f"tradewarden-{cfg.stack}-aps-workspaces"},
            opts=child,
        )
        self.endpoint = aws.ec2.VpcEndpoint(
            f"{name}-vpce-aps-workspaces",
            vpc_id=args.vpc_id,
            service_name=f"com.amazonaws.{ctx.region}.aps-workspaces",
            vpc_endpoint_type="Interface",
            private_dns_enabled=True,
            subnet_ids=[args.subnet_id],
            security_group_ids=[self.endpoint_sg.id],
            policy=json.dumps(iam.interface_endpoint_policy(ctx)),
            tags={**tags, "Name": f"tradewarden-{cfg.stack}-aps-workspaces"},
            opts=child,
        )
        self.register_outputs(
            {
                "workspaceId": self.workspace.id,
                "workspaceArn": self.workspace_arn,
                "remoteWriteUrl": self.remote_write_url,
            }
        )


@dataclass(frozen=True)
class PrometheusHostAccessArgs:
    host_security_group_id: pulumi.Input[str]
    host_role_id: pulumi.Input[str]
    endpoint_security_group_id: pulumi.Input[str]
    workspace_arn: pulumi.Input[str]


class PrometheusHostAccess(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        args: PrometheusHostAccessArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("tradewarden:infra:PrometheusHostAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
        self.ingress = aws.vpc.SecurityGroupIngressRule(
            f"{name}-endpoint-from-host",
            security_group_id=args.endpoint_security_group_id,
            referenced_security_group_id=args.host_security_group_id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description="the host's Prometheus remote_write to the aps-workspaces endpoint",
            tags=naming.tags(cfg.stack),
            opts=child,
        )
        self.policy = aws.iam.RolePolicy(
            f"{name}-remote-write",
            name="tradewarden-host-amp-remote-write",
            role=args.host_role_id,
            policy=pulumi.Output.from_input(args.workspace_arn).apply(
                lambda arn: json.dumps(iam.amp_remote_write_policy(arn))
            ),
            opts=child,
        )
        self.register_outputs({})


@dataclass(frozen=True)
class GrafanaArgs:
    amp_workspace_arn: pulumi.Input[str]
    amp_query_url: pulumi.Input[str]
    dashboards: list[Path] = field(default_factory=dashboard_files)
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


class Grafana(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        ctx: AwsContext,
        args: GrafanaArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        if not cfg.grafana_enabled:
            raise ValueError("Grafana is built only for a stack with tradewarden:grafanaEnabled")
        super().__init__("tradewarden:infra:Grafana", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
        tags = naming.tags(cfg.stack)

        # --- the workspace's own role: query the stack's AMP workspace, nothing else
        self.role = aws.iam.Role(
            f"{name}-role",
            name=f"tradewarden-{cfg.stack}-grafana",
            description=f"tradewarden {cfg.stack} Managed Grafana: read the AMP workspace",
            assume_role_policy=json.dumps(
                iam.assume_role_policy("grafana.amazonaws.com", ctx.account_id)
            ),
            force_detach_policies=True,
            tags=tags,
            opts=child,
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            name="tradewarden-grafana-amp-query",
            role=self.role.id,
            policy=pulumi.Output.from_input(args.amp_workspace_arn).apply(
                lambda arn: json.dumps(iam.amp_query_policy(arn))
            ),
            opts=child,
        )
        self.workspace = aws.grafana.Workspace(
            f"{name}-workspace",
            name=f"tradewarden-{cfg.stack}",
            description=f"tradewarden {cfg.stack} dashboards",
            account_access_type="CURRENT_ACCOUNT",
            authentication_providers=list(cfg.grafana_auth_providers),
            permission_type="SERVICE_MANAGED",
            data_sources=["PROMETHEUS"],
            role_arn=self.role.arn,
            grafana_version=GRAFANA_VERSION,
            configuration=json.dumps(
                {
                    "plugins": {"pluginAdminEnabled": False},
                    "unifiedAlerting": {"enabled": False},  # alerts go through Alertmanager
                }
            ),
            tags=tags,
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[role_policy])
            ),
        )
        admin = cfg.grafana_admin_group or ""
        if "AWS_SSO" in cfg.grafana_auth_providers:
            aws.grafana.RoleAssociation(
                f"{name}-admins",
                workspace_id=self.workspace.id,
                role="ADMIN",
                group_ids=[admin],
                opts=child,
            )
        if "SAML" in cfg.grafana_auth_providers:
            aws.grafana.WorkspaceSamlConfiguration(
                f"{name}-saml",
                workspace_id=self.workspace.id,
                idp_metadata_url=cfg.grafana_saml_metadata_url,
                role_assertion="groups",
                admin_role_values=[admin],
                editor_role_values=[admin],
                opts=child,
            )

        # --- Pulumi's own access: an admin service account, a token that dies in two hours
        account = aws.grafana.WorkspaceServiceAccount(
            f"{name}-pulumi",
            name="pulumi",
            grafana_role="ADMIN",
            workspace_id=self.workspace.id,
            opts=child,
        )
        token = aws.grafana.WorkspaceServiceAccountToken(
            f"{name}-pulumi-token",
            name=token_name(args.now()),
            seconds_to_live=TOKEN_TTL_SECONDS,
            service_account_id=account.service_account_id,
            workspace_id=self.workspace.id,
            # the new token exists before the old one goes (the provider switches over)
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["key"]),
        )
        self.url: pulumi.Output[str] = self.workspace.endpoint.apply(lambda e: f"https://{e}")
        self.provider = grafana.Provider(
            f"{name}-provider",
            url=self.url,
            auth=pulumi.Output.secret(token.key),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # Fixed uids: a replacement must delete the old one first (creating its twin first
        # would overwrite it, and the old one's deletion would then remove the new).
        on_grafana = pulumi.ResourceOptions(
            parent=self, provider=self.provider, delete_before_replace=True
        )

        self.data_source = grafana.oss.DataSource(
            f"{name}-amp",
            name="Prometheus",
            uid=DATASOURCE_UID,
            type="prometheus",
            url=args.amp_query_url,
            is_default=True,
            json_data_encoded=json.dumps(
                {
                    "httpMethod": "POST",
                    "sigV4Auth": True,
                    # Managed Grafana's default credentials are the workspace role.
                    "sigV4AuthType": "ec2_iam_role",
                    "sigV4Region": ctx.region,
                    "timeInterval": "15s",
                },
                sort_keys=True,
            ),
            opts=on_grafana,
        )
        folder = grafana.oss.Folder(
            f"{name}-folder", title="tradewarden", uid="tradewarden", opts=on_grafana
        )
        self.dashboards = {
            path.stem: grafana.oss.Dashboard(
                f"{name}-dashboard-{path.stem}",
                folder=folder.uid,
                config_json=self.data_source.uid.apply(
                    lambda uid, path=path: dashboard_json(path, uid)
                ),
                overwrite=True,
                message="provisioned by Pulumi from ops/grafana/dashboards",
                opts=on_grafana,
            )
            for path in args.dashboards
        }
        self.register_outputs({"url": self.url, "workspaceId": self.workspace.id})
