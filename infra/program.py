"""The Pulumi program: look up where we are, check who deploys, wire the components.

`main()` is what ``infra/__main__.py`` runs; it returns the stack outputs it exported.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra import naming
from infra.components.alerting import Alerting
from infra.components.backups import Backups
from infra.components.email import AlertEmail
from infra.components.host import Host
from infra.components.monitoring import (
    Grafana,
    GrafanaArgs,
    ManagedPrometheus,
    ManagedPrometheusArgs,
    PrometheusHostAccess,
    PrometheusHostAccessArgs,
)
from infra.components.network import Network
from infra.components.secrets import Secrets
from infra.config import ConfigError, StackConfig, load_from_pulumi, ses_identity_clashes
from infra.domains import SES_SMTP_SERVICE
from infra.naming import AwsContext


def aws_provider(cfg: StackConfig) -> aws.Provider:
    """The one AWS provider every resource and lookup uses (the stack files disable the
    default one): the stack's region, only the stack's account, and the project's tags on
    everything it creates."""
    return aws.Provider(
        "aws",
        region=pulumi.Config("aws").require("region"),
        allowed_account_ids=[cfg.account_id],
        default_tags={"tags": naming.tags(cfg.stack)},
    )


def aws_context(provider: aws.Provider) -> AwsContext:
    invoke = pulumi.InvokeOptions(provider=provider)
    identity = aws.get_caller_identity(opts=invoke)
    region = aws.get_region(opts=invoke)
    zones = aws.get_availability_zones(state="available", opts=invoke)
    smtp = aws.ec2.get_vpc_endpoint_service(
        service_name=f"com.amazonaws.{region.region}.{SES_SMTP_SERVICE}", opts=invoke
    )
    return AwsContext(
        partition=identity.arn.split(":")[1],
        region=region.region,
        account_id=identity.account_id,
        caller_arn=identity.arn,
        availability_zones=tuple(zones.names),
        ses_smtp_zones=tuple(smtp.availability_zones or ()),
    )


def preflight(cfg: StackConfig, ctx: AwsContext) -> str:
    """Checks that need AWS answers; returns the availability zone to use."""
    problems: list[str] = []
    admin_account = cfg.admin_role_arn.split(":")[4]
    admin_role = cfg.admin_role_arn.rsplit("/", 1)[-1]
    if admin_account != ctx.account_id:
        problems.append(
            f"tradewarden:adminRoleArn: account {admin_account} is not the account being "
            f"deployed to ({ctx.account_id})"
        )
    else:
        parts = ctx.caller_arn.split(":", 5)[-1].split("/")
        caller_role = parts[1] if parts[0] == "assumed-role" and len(parts) > 2 else None
        if caller_role != admin_role:
            # The secrets' resource policy denies everyone but the host and the admin role:
            # deploying as anybody else would lock Pulumi out of the secrets it manages.
            problems.append(
                f"tradewarden:adminRoleArn: run Pulumi as {cfg.admin_role_arn} "
                f"(current identity {ctx.caller_arn}); the secrets deny every other principal"
            )
    zone = cfg.availability_zone
    if zone not in ctx.availability_zones:
        problems.append(
            f"tradewarden:availabilityZone: {zone!r} is not an available zone in {ctx.region} "
            f"({', '.join(ctx.availability_zones) or 'none'})"
        )
    elif ctx.ses_smtp_zones is not None and zone not in ctx.ses_smtp_zones:
        # The host would be created, then the email-smtp endpoint would fail: a trading
        # host whose alert email never leaves.
        problems.append(
            f"tradewarden:availabilityZone: {zone!r} has no SES SMTP endpoint "
            f"(com.amazonaws.{ctx.region}.{SES_SMTP_SERVICE}); alert email needs one of: "
            f"{', '.join(ctx.ses_smtp_zones) or 'none'}"
        )
    problems += ses_identity_clashes(cfg.stack, cfg, ctx.account_id, ctx.region)
    if problems:
        raise ConfigError(cfg.stack, problems)
    return zone


def build(cfg: StackConfig, ctx: AwsContext, provider: aws.Provider) -> dict[str, object]:
    """Create every resource of the stack; returns the stack outputs."""
    zone = preflight(cfg, ctx)
    for host in cfg.non_binance_domains:
        pulumi.log.warn(f"egress allow-list includes a non-Binance host: {host}")
    opts = pulumi.ResourceOptions(providers={"aws": provider})

    secrets = Secrets("secrets", cfg, ctx, opts=opts)
    backups = Backups("backups", cfg, ctx, kms_key_arn=secrets.key.arn, opts=opts)
    network = Network(
        "network",
        cfg,
        ctx,
        availability_zone=zone,
        kms_key_arn=secrets.key.arn,
        backup_bucket_arn=backups.bucket_arn,
        opts=opts,
    )
    prometheus = ManagedPrometheus(
        "prometheus",
        cfg,
        ctx,
        ManagedPrometheusArgs(
            vpc_id=network.vpc.id,
            subnet_id=network.private_subnet.id,
            kms_key_arn=secrets.key.arn,
        ),
        opts=opts,
    )
    host = Host(
        "host",
        cfg,
        ctx,
        vpc_id=network.vpc.id,
        subnet_id=network.private_subnet.id,
        resolver_ip=network.plan.resolver_ip,
        endpoint_sg_id=network.endpoint_sg.id,
        smtp_endpoint_sg_id=network.smtp_endpoint_sg.id,
        kms_key_arn=secrets.key.arn,
        secret_arns=secrets.secret_arns,
        release_object_arn=network.release_object_arn,
        backup_bucket_arn=backups.bucket_arn,
        backup_url=backups.url,
        egress_ip=network.nat_public_ip,
        amp_remote_write_url=prometheus.remote_write_url,
        invoke=pulumi.InvokeOptions(provider=provider),
        opts=opts,
    )
    email = AlertEmail("email", cfg, ctx, smtp_secret_id=secrets.secrets["smtp"].id, opts=opts)
    PrometheusHostAccess(
        "prometheus-host",
        cfg,
        PrometheusHostAccessArgs(
            host_security_group_id=host.security_group.id,
            host_role_id=host.role.id,
            endpoint_security_group_id=prometheus.endpoint_sg.id,
            workspace_arn=prometheus.workspace_arn,
        ),
        opts=opts,
    )
    # Grafana only where the stack enables it; AMP and the host's remote_write always.
    grafana = (
        Grafana(
            "grafana",
            cfg,
            ctx,
            GrafanaArgs(
                amp_workspace_arn=prometheus.workspace_arn, amp_query_url=prometheus.query_url
            ),
            opts=opts,
        )
        if cfg.grafana_enabled
        else None
    )
    alerting = Alerting(
        "alerting",
        cfg,
        ctx,
        kms_key_arn=secrets.key.arn,
        instance_id=host.instance.id,
        firewall_name=network.firewall.name,
        availability_zone=zone,
        dns_rule_group_id=network.dns_rule_group.id,
        dns_block_list_id=network.dns_block_list.id,
        snapshot_policy_id=host.snapshot_policy.id,
        opts=opts,
    )
    return {
        "instanceId": host.instance.id,
        "ssmSessionCommand": host.instance.id.apply(
            lambda i: f"aws ssm start-session --target {i} --region {ctx.region}"
        ),
        "secretArns": secrets.secret_arns,
        "secretNames": {k: naming.secret_name(cfg.stack, k) for k in naming.SECRET_PATHS},
        "alertTopicArn": alerting.topic.arn,
        "kmsKeyArn": secrets.key.arn,
        "hostRoleArn": host.role.arn,
        "vpcId": network.vpc.id,
        "egressAllowList": network.allowed_targets,
        "backupBucket": backups.bucket.bucket,
        "backupUrl": backups.url,
        "natPublicIp": network.nat_public_ip,
        "deployDocument": host.deploy_document.name,
        "testnet": cfg.testnet,
        "mode": cfg.mode,
        "alertEgressHosts": list(cfg.host_alert_hosts),
        "sesDkimRecords": email.dkim_records,
        "ampWorkspaceId": prometheus.workspace.id,
        "ampRemoteWriteUrl": prometheus.remote_write_url,
        "grafanaUrl": grafana.url if grafana else "",
    }


def main() -> dict[str, object]:
    """Validate the stack config (before anything is created), build, export."""
    try:
        cfg = load_from_pulumi()
        provider = aws_provider(cfg)
        ctx = aws_context(provider)
        outputs = build(cfg, ctx, provider)
    except ConfigError as exc:
        raise pulumi.RunError(str(exc)) from exc
    for key, value in outputs.items():
        pulumi.export(key, value)
    return outputs
