"""Host: the trading instance, reachable by nobody, reaching only HTTPS (and DNS).

* Amazon Linux 2023 (SSM agent preinstalled), IMDSv2 only with hop limit 1, no key pair,
  no public IP, root volume encrypted with the stack's KMS key, detailed monitoring.
* Security group: no ingress at all; egress TCP 443 (filtered by the Network Firewall),
  DNS to the VPC resolver and TCP 587 inside the VPC. The host may reach the VPC endpoints
  on 443 and the SES email-smtp endpoint on 587 (nothing else accepts 587 in the VPC).
* Instance role: exactly the permissions in `infra.iam.host_role_policy`, inline only.
* Nightly backups go to the stack's backup bucket (``TRADEWARDEN_BACKUP_TO`` in the user
  data is the `Backups` component's ``s3://<bucket>/<stack>/``).
* Daily EBS snapshots by Data Lifecycle Manager, kept for ``snapshotRetentionDays``.
"""

from __future__ import annotations

import json
import re

import pulumi
import pulumi_aws as aws
import yaml

from infra import iam, naming
from infra.cloud_init import REPO_ROOT, render_user_data
from infra.config import StackConfig
from infra.domains import SES_SMTP_PORT
from infra.naming import AwsContext

AMI_NAME_PATTERN = "al2023-ami-2023.*-kernel-*-{arch}"
SNAPSHOT_TAG = "tradewarden:snapshot"


DEPLOY_DOCUMENT = REPO_ROOT / "ops" / "ssm" / "tradewarden-deploy.yaml"


def deploy_document_content(cfg: StackConfig, egress_ip: str) -> str:
    """The SSM deploy document (ops/ssm/tradewarden-deploy.yaml) with this stack's defaults."""
    doc = yaml.safe_load(DEPLOY_DOCUMENT.read_text(encoding="utf-8"))
    doc["parameters"]["version"]["default"] = cfg.wheel_version
    doc["parameters"]["egressIp"]["default"] = egress_ip
    # What user data wrote at creation, as the stack says it now; each pinned to its value.
    for name, value in stack_env_values(cfg).items():
        doc["parameters"][name]["default"] = value
        doc["parameters"][name]["allowedPattern"] = "^" + re.escape(value) + "$"
    return json.dumps(doc, indent=2)


def stack_env_values(cfg: StackConfig) -> dict[str, str]:
    """The deploy document's pinned parameters: the host env settings that follow the stack
    (the same values `infra.cloud_init.template_values` renders into the user data)."""
    return {
        "mode": cfg.mode,
        "binanceTestnet": "true" if cfg.testnet else "false",
        "profile": cfg.profile,
        "emailFrom": cfg.alert_email_from,
        "emailTo": ",".join(cfg.alert_emails),
        "slackChannel": cfg.slack_channel or "",
        "alertHosts": ",".join(cfg.host_alert_hosts),
    }


def lookup_ami(cfg: StackConfig, invoke: pulumi.InvokeOptions | None = None) -> str:
    """The newest Amazon Linux 2023 AMI for the instance's architecture (or the pinned one)."""
    if cfg.ami_id:
        return cfg.ami_id
    arch = cfg.architecture
    ami = aws.ec2.get_ami(
        most_recent=True,
        owners=["amazon"],
        filters=[
            {"name": "name", "values": [AMI_NAME_PATTERN.format(arch=arch)]},
            {"name": "architecture", "values": [arch]},
            {"name": "virtualization-type", "values": ["hvm"]},
            {"name": "root-device-type", "values": ["ebs"]},
        ],
        opts=invoke,
    )
    return ami.id


class Host(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        ctx: AwsContext,
        *,
        vpc_id: pulumi.Input[str],
        subnet_id: pulumi.Input[str],
        resolver_ip: str,
        endpoint_sg_id: pulumi.Input[str],
        smtp_endpoint_sg_id: pulumi.Input[str],
        kms_key_arn: pulumi.Input[str],
        secret_arns: pulumi.Input[dict[str, str]],
        release_object_arn: str | None,
        backup_bucket_arn: pulumi.Input[str],
        backup_url: pulumi.Input[str],
        egress_ip: pulumi.Input[str],
        amp_remote_write_url: pulumi.Input[str] = "",
        invoke: pulumi.InvokeOptions | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("tradewarden:infra:Host", name, None, opts)
        # Fixed names, and one host: a replacement deletes the old one first (two
        # instances must never run the daemon at once).
        child = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
        tags = naming.tags(cfg.stack)
        topic_arn = naming.alert_topic_arn(ctx, cfg.stack)

        # --- security groups
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=vpc_id,
            # (the description is immutable: changing it would replace the group)
            description="tradewarden host: no ingress; egress HTTPS and DNS to the VPC resolver",
            ingress=[],
            egress=[
                {
                    "description": "HTTPS; the Network Firewall lets only the allow-list through",
                    "protocol": "tcp",
                    "from_port": 443,
                    "to_port": 443,
                    "cidr_blocks": ["0.0.0.0/0"],
                },
                # Security groups do not filter the Amazon DNS resolver; these rules
                # document the intent and keep any other DNS server out.
                {
                    "description": "DNS to the VPC resolver (UDP)",
                    "protocol": "udp",
                    "from_port": 53,
                    "to_port": 53,
                    "cidr_blocks": [f"{resolver_ip}/32"],
                },
                {
                    "description": "DNS to the VPC resolver (TCP)",
                    "protocol": "tcp",
                    "from_port": 53,
                    "to_port": 53,
                    "cidr_blocks": [f"{resolver_ip}/32"],
                },
                # Inside the VPC only; the SES endpoint's group is the only one accepting it.
                {
                    "description": "SMTP submission to the SES email-smtp endpoint (in the VPC)",
                    "protocol": "tcp",
                    "from_port": SES_SMTP_PORT,
                    "to_port": SES_SMTP_PORT,
                    "cidr_blocks": [cfg.vpc_cidr],
                },
            ],
            tags={**tags, "Name": f"tradewarden-{cfg.stack}-host"},
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-endpoints-from-host",
            security_group_id=endpoint_sg_id,
            referenced_security_group_id=self.security_group.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description="the host reaches the VPC interface endpoints",
            tags=tags,
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-smtp-endpoint-from-host",
            security_group_id=smtp_endpoint_sg_id,
            referenced_security_group_id=self.security_group.id,
            ip_protocol="tcp",
            from_port=SES_SMTP_PORT,
            to_port=SES_SMTP_PORT,
            description="the host submits alert email to SES (STARTTLS)",
            tags=tags,
            opts=child,
        )

        # --- logs the CloudWatch agent ships
        log_group_name = naming.host_log_group_name(cfg.stack)
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=log_group_name,
            retention_in_days=cfg.log_retention_days,
            kms_key_id=kms_key_arn,
            tags=tags,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=cfg.protect)),
        )

        # --- instance role: inline least-privilege policy, no managed policies
        self.role = aws.iam.Role(
            f"{name}-role",
            name=naming.host_role_name(cfg.stack),
            description=(
                f"tradewarden {cfg.stack} host: own secrets, key, topic, SSM, metrics, backups"
            ),
            assume_role_policy=json.dumps(iam.assume_role_policy("ec2.amazonaws.com")),
            max_session_duration=3600,
            force_detach_policies=True,
            tags=tags,
            opts=child,
        )
        self.policy_document: pulumi.Output[str] = pulumi.Output.all(
            secrets=secret_arns, key=kms_key_arn, vpc=vpc_id, backups=backup_bucket_arn
        ).apply(
            lambda a: json.dumps(
                iam.host_role_policy(
                    ctx,
                    secret_arns=list(a["secrets"].values()),
                    key_arn=a["key"],
                    topic_arn=topic_arn,
                    log_group_arn=naming.log_group_arn(ctx, log_group_name),
                    vpc_id=a["vpc"],
                    backup_bucket_arn=a["backups"],
                    backup_prefix=naming.backup_prefix(cfg.stack),
                    approver_secrets_arn=ctx.arn(
                        "secretsmanager", f"secret:{naming.approver_secret_pattern(cfg.stack)}"
                    ),
                    release_object_arn=release_object_arn,
                )
            )
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            name="tradewarden-host-least-privilege",
            role=self.role.id,
            policy=self.policy_document,
            opts=child,
        )
        profile = aws.iam.InstanceProfile(
            f"{name}-profile", role=self.role.name, tags=tags, opts=child
        )

        # --- the instance
        user_data = pulumi.Output.all(backup_url, egress_ip, amp_remote_write_url).apply(
            lambda a: render_user_data(
                cfg,
                region=ctx.region,
                alert_topic_arn=topic_arn,
                backup_to=a[0],
                egress_ip=a[1],
                amp_remote_write_url=a[2],
            )
        )
        self.instance = aws.ec2.Instance(
            f"{name}-instance",
            ami=lookup_ami(cfg, invoke),
            instance_type=cfg.instance_type,
            subnet_id=subnet_id,
            vpc_security_group_ids=[self.security_group.id],
            iam_instance_profile=profile.name,
            associate_public_ip_address=False,
            monitoring=True,
            ebs_optimized=True,
            disable_api_termination=cfg.protect,
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",
                "http_put_response_hop_limit": 1,
                "instance_metadata_tags": "disabled",
            },
            root_block_device={
                "encrypted": True,
                "kms_key_id": kms_key_arn,
                "volume_type": "gp3",
                "volume_size": cfg.root_volume_size_gb,
                "delete_on_termination": True,
                "tags": {**tags, SNAPSHOT_TAG: cfg.stack},
            },
            user_data=user_data,
            user_data_replace_on_change=False,
            tags={**tags, "Name": f"tradewarden-{cfg.stack}"},
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=cfg.protect,
                delete_before_replace=True,
                depends_on=[role_policy],
                # A new AL2023 release must not replace a running trading host; roll the
                # AMI deliberately (`pulumi up --replace <urn>` or pin tradewarden:amiId).
                # User data runs once, at first boot; changing it would stop and start the
                # instance: releases go through the SSM deploy document instead.
                ignore_changes=["userData"] if cfg.ami_id else ["ami", "userData"],
            ),
        )

        # --- releases: a controlled daemon restart through SSM Run Command
        self.deploy_document = aws.ssm.Document(
            f"{name}-deploy",
            name=f"tradewarden-{cfg.stack}-deploy",
            document_type="Command",
            document_format="JSON",
            target_type="/AWS::EC2::Instance",
            content=pulumi.Output.from_input(egress_ip).apply(
                lambda ip: deploy_document_content(cfg, ip)
            ),
            tags=tags,
            opts=child,
        )

        # --- daily snapshots of the host's volume
        dlm_role = aws.iam.Role(
            f"{name}-dlm-role",
            assume_role_policy=json.dumps(
                iam.assume_role_policy("dlm.amazonaws.com", ctx.account_id)
            ),
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-dlm-role-policy",
            role=dlm_role.name,
            policy_arn=f"arn:{ctx.partition}:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole",
            opts=child,
        )
        self.snapshot_policy = aws.dlm.LifecyclePolicy(
            f"{name}-snapshots",
            description=f"tradewarden {cfg.stack}: daily host volume snapshots",
            execution_role_arn=dlm_role.arn,
            state="ENABLED",
            policy_details={
                "resource_types": ["VOLUME"],
                "target_tags": {SNAPSHOT_TAG: cfg.stack},
                "schedules": [
                    {
                        "name": "daily",
                        "create_rule": {"interval": 24, "interval_unit": "HOURS", "times": "03:00"},
                        "retain_rule": {
                            "interval": cfg.snapshot_retention_days,
                            "interval_unit": "DAYS",
                        },
                        "copy_tags": True,
                    }
                ],
            },
            tags=tags,
            opts=child,
        )

        self.register_outputs(
            {
                "instanceId": self.instance.id,
                "roleArn": self.role.arn,
                "securityGroupId": self.security_group.id,
            }
        )
