"""Network: a VPC the host can leave only through AWS Network Firewall, towards Binance.

Layout (one availability zone, the host's):

* private subnet (host, interface endpoints): default route -> firewall endpoint;
  S3 through a gateway endpoint (AL2023 repositories, the release, the stack's backups);
  no internet gateway route.
* firewall subnet (Network Firewall endpoint): default route -> NAT gateway.
* public subnet (NAT gateway only, no instances): default route -> internet gateway;
  return route to the private subnet -> firewall endpoint (symmetric inspection).

The firewall passes TLS (SNI) and HTTP (Host) to the allow-listed domains and drops the
rest; Route 53 Resolver DNS Firewall answers only the allowed names and the AWS service
names, fail-closed. Flow logs and firewall alerts go to KMS-encrypted CloudWatch Logs.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import iam, naming
from infra.config import StackConfig
from infra.domains import (
    INTERFACE_ENDPOINT_SERVICES,
    SES_SMTP_PORT,
    SES_SMTP_SERVICE,
    aws_service_domains,
)
from infra.naming import AwsContext

STATEFUL_DEFAULT_ACTIONS = ["aws:drop_established", "aws:alert_established"]
DOMAIN_TARGET_TYPES = ["TLS_SNI", "HTTP_HOST"]


@dataclass(frozen=True)
class SubnetPlan:
    firewall: str
    public: str
    private: str
    resolver_ip: str


def plan_subnets(vpc_cidr: str) -> SubnetPlan:
    """Carve the VPC: /28 for the firewall and the NAT, a /24 for the host."""
    net = ipaddress.IPv4Network(vpc_cidr)
    blocks = list(net.subnets(new_prefix=24))
    return SubnetPlan(
        firewall=str(next(blocks[0].subnets(new_prefix=28))),
        public=str(next(blocks[1].subnets(new_prefix=28))),
        private=str(blocks[2]),
        # The Amazon-provided DNS resolver sits at the VPC base address plus two.
        resolver_ip=str(net.network_address + 2),
    )


def first_endpoint_id(statuses: list) -> str:
    """The firewall endpoint's VPC endpoint id, from the firewall's sync states."""
    return statuses[0].sync_states[0].attachments[0].endpoint_id


class Network(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        ctx: AwsContext,
        *,
        availability_zone: str,
        kms_key_arn: pulumi.Input[str],
        backup_bucket_arn: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("tradewarden:infra:Network", name, None, opts)
        # One of each per stack, many with fixed names (or singletons like a route or an
        # endpoint's private DNS): a replacement must delete the old one first.
        child = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
        protected = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=cfg.protect))
        tags = naming.tags(cfg.stack)
        plan = plan_subnets(cfg.vpc_cidr)
        self.plan = plan

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=cfg.vpc_cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={**tags, "Name": f"tradewarden-{cfg.stack}"},
            opts=child,
        )
        # Adopt the default security group and strip its rules, so nothing can use it.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=self.vpc.id,
            ingress=[],
            egress=[],
            tags={**tags, "Name": f"tradewarden-{cfg.stack}-default-unused"},
            opts=child,
        )

        def subnet(role: str, cidr: str) -> aws.ec2.Subnet:
            return aws.ec2.Subnet(
                f"{name}-{role}",
                vpc_id=self.vpc.id,
                cidr_block=cidr,
                availability_zone=availability_zone,
                map_public_ip_on_launch=False,
                tags={**tags, "Name": f"tradewarden-{cfg.stack}-{role}"},
                opts=child,
            )

        self.private_subnet = subnet("private", plan.private)
        self.firewall_subnet = subnet("firewall", plan.firewall)
        self.public_subnet = subnet("public", plan.public)

        # --- internet edge: IGW + NAT in the public subnet (no instance ever lives there)
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id, tags=tags, opts=child)
        # The address Binance sees: API keys are IP-whitelisted to it (protected in prod:
        # losing it means rebinding every key).
        nat_ip = aws.ec2.Eip(
            f"{name}-nat-ip",
            domain="vpc",
            tags={**tags, "Name": f"tradewarden-{cfg.stack}-egress"},
            opts=protected,
        )
        self.nat_public_ip: pulumi.Output[str] = nat_ip.public_ip
        nat = aws.ec2.NatGateway(
            f"{name}-nat",
            allocation_id=nat_ip.allocation_id,
            subnet_id=self.public_subnet.id,
            connectivity_type="public",
            tags=tags,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[igw])),
        )

        # --- Network Firewall with the domain allow-list (+ the alert hosts), default drop
        self.allowed_targets = list(cfg.network_firewall_targets)
        rule_group = aws.networkfirewall.RuleGroup(
            f"{name}-egress-allowlist",
            name=f"tradewarden-{cfg.stack}-egress-allowlist",
            type="STATEFUL",
            capacity=100,
            # Unchanged since the alert hosts joined the targets: an existing stack keeps its
            # group as it is (the firewall policy references it).
            description="Binance-only egress: TLS SNI / HTTP Host allow-list",
            rule_group={
                "rules_source": {
                    "rules_source_list": {
                        "generated_rules_type": "ALLOWLIST",
                        "target_types": DOMAIN_TARGET_TYPES,
                        "targets": self.allowed_targets,
                    }
                },
                "stateful_rule_options": {"rule_order": "STRICT_ORDER"},
            },
            tags=tags,
            opts=child,
        )
        firewall_policy = aws.networkfirewall.FirewallPolicy(
            f"{name}-firewall-policy",
            name=f"tradewarden-{cfg.stack}-egress",
            firewall_policy={
                "stateless_default_actions": ["aws:forward_to_sfe"],
                "stateless_fragment_default_actions": ["aws:forward_to_sfe"],
                "stateful_engine_options": {
                    "rule_order": "STRICT_ORDER",
                    "stream_exception_policy": "DROP",
                },
                "stateful_default_actions": STATEFUL_DEFAULT_ACTIONS,
                "stateful_rule_group_references": [
                    {"resource_arn": rule_group.arn, "priority": 100}
                ],
            },
            tags=tags,
            opts=child,
        )
        self.firewall = aws.networkfirewall.Firewall(
            f"{name}-firewall",
            name=f"tradewarden-{cfg.stack}",
            vpc_id=self.vpc.id,
            firewall_policy_arn=firewall_policy.arn,
            subnet_mappings=[{"subnet_id": self.firewall_subnet.id}],
            delete_protection=cfg.protect,
            subnet_change_protection=cfg.protect,
            tags=tags,
            opts=child,
        )
        firewall_endpoint = self.firewall.firewall_statuses.apply(first_endpoint_id)

        alert_logs = self._log_group(name, cfg, "network-firewall", kms_key_arn)
        aws.networkfirewall.LoggingConfiguration(
            f"{name}-firewall-logging",
            firewall_arn=self.firewall.arn,
            logging_configuration={
                "log_destination_configs": [
                    {
                        "log_destination": {"logGroup": alert_logs.name},
                        "log_destination_type": "CloudWatchLogs",
                        "log_type": "ALERT",
                    }
                ]
            },
            opts=child,
        )

        # --- routes
        private_rt = aws.ec2.RouteTable(
            f"{name}-private-rt", vpc_id=self.vpc.id, tags=tags, opts=child
        )
        aws.ec2.Route(
            f"{name}-private-default-via-firewall",
            route_table_id=private_rt.id,
            destination_cidr_block="0.0.0.0/0",
            vpc_endpoint_id=firewall_endpoint,
            opts=child,
        )
        firewall_rt = aws.ec2.RouteTable(
            f"{name}-firewall-rt", vpc_id=self.vpc.id, tags=tags, opts=child
        )
        aws.ec2.Route(
            f"{name}-firewall-default-via-nat",
            route_table_id=firewall_rt.id,
            destination_cidr_block="0.0.0.0/0",
            nat_gateway_id=nat.id,
            opts=child,
        )
        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt", vpc_id=self.vpc.id, tags=tags, opts=child
        )
        aws.ec2.Route(
            f"{name}-public-default-via-igw",
            route_table_id=public_rt.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id,
            opts=child,
        )
        aws.ec2.Route(
            f"{name}-public-return-via-firewall",
            route_table_id=public_rt.id,
            destination_cidr_block=plan.private,
            vpc_endpoint_id=firewall_endpoint,
            opts=child,
        )
        for role, rt, sn in (
            ("private", private_rt, self.private_subnet),
            ("firewall", firewall_rt, self.firewall_subnet),
            ("public", public_rt, self.public_subnet),
        ):
            aws.ec2.RouteTableAssociation(
                f"{name}-{role}-rta", route_table_id=rt.id, subnet_id=sn.id, opts=child
            )

        # --- VPC endpoints: AWS traffic stays inside the VPC
        self.endpoint_sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints-sg",
            vpc_id=self.vpc.id,
            description="VPC interface endpoints: HTTPS from the host security group only",
            egress=[],
            tags={**tags, "Name": f"tradewarden-{cfg.stack}-endpoints"},
            opts=child,
        )
        self.interface_endpoints = {
            svc: aws.ec2.VpcEndpoint(
                f"{name}-vpce-{svc}",
                vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{ctx.region}.{svc}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[self.private_subnet.id],
                security_group_ids=[self.endpoint_sg.id],
                # Only this account's principals, only this account's resources: stolen
                # credentials of another account cannot carry data out through here.
                policy=json.dumps(iam.interface_endpoint_policy(ctx)),
                tags={**tags, "Name": f"tradewarden-{cfg.stack}-{svc}"},
                opts=child,
            )
            for svc in INTERFACE_ENDPOINT_SERVICES
        }
        # Amazon SES SMTP for alert email: its own endpoint and security group, which accepts
        # only 587 from the host (infra/components/host.py); private DNS answers
        # email-smtp.<region>.amazonaws.com with the endpoint's addresses, so SMTP never
        # leaves the VPC. SES SMTP endpoints take no endpoint policy: the SMTP user's IAM
        # policy (infra/components/email.py) is what limits the sending.
        self.smtp_endpoint_sg = aws.ec2.SecurityGroup(
            f"{name}-smtp-endpoint-sg",
            vpc_id=self.vpc.id,
            description=f"SES SMTP endpoint: {SES_SMTP_PORT} from the host security group only",
            egress=[],
            tags={**tags, "Name": f"tradewarden-{cfg.stack}-smtp-endpoint"},
            opts=child,
        )
        self.smtp_endpoint = aws.ec2.VpcEndpoint(
            f"{name}-vpce-{SES_SMTP_SERVICE}",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{ctx.region}.{SES_SMTP_SERVICE}",
            vpc_endpoint_type="Interface",
            private_dns_enabled=True,
            subnet_ids=[self.private_subnet.id],
            security_group_ids=[self.smtp_endpoint_sg.id],
            tags={**tags, "Name": f"tradewarden-{cfg.stack}-{SES_SMTP_SERVICE}"},
            opts=child,
        )
        release_arn = (
            f"arn:{ctx.partition}:s3:::{cfg.release_bucket}/"
            f"{naming.release_object_key(cfg.wheel_version)}"
            if cfg.release_bucket
            else None
        )
        self.release_object_arn = release_arn
        aws.ec2.VpcEndpoint(
            f"{name}-vpce-s3",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{ctx.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[private_rt.id],
            policy=pulumi.Output.from_input(backup_bucket_arn).apply(
                lambda bucket_arn: json.dumps(
                    iam.s3_gateway_endpoint_policy(
                        ctx,
                        release_arn,
                        backup_bucket_arn=bucket_arn,
                        backup_prefix=naming.backup_prefix(cfg.stack),
                    )
                )
            ),
            tags={**tags, "Name": f"tradewarden-{cfg.stack}-s3"},
            opts=child,
        )

        # --- Route 53 Resolver DNS Firewall: allow-list, BLOCK the rest, fail closed
        self.dns_allowed_domains = sorted(
            set(cfg.dns_firewall_domains) | set(aws_service_domains(ctx.region))
        )
        allowed = aws.route53.ResolverFirewallDomainList(
            f"{name}-dns-allowed",
            name=f"tradewarden-{cfg.stack}-allowed",
            domains=self.dns_allowed_domains,
            tags=tags,
            opts=child,
        )
        everything = aws.route53.ResolverFirewallDomainList(
            f"{name}-dns-everything",
            name=f"tradewarden-{cfg.stack}-everything",
            domains=["*"],
            tags=tags,
            opts=child,
        )
        self.dns_block_list = everything
        dns_rules = aws.route53.ResolverFirewallRuleGroup(
            f"{name}-dns-rules", name=f"tradewarden-{cfg.stack}", tags=tags, opts=child
        )
        self.dns_rule_group = dns_rules
        aws.route53.ResolverFirewallRule(
            f"{name}-dns-allow",
            name="allow-listed",
            action="ALLOW",
            firewall_domain_list_id=allowed.id,
            firewall_rule_group_id=dns_rules.id,
            priority=100,
            # S3, Binance's CDN and others answer through CNAME chains whose targets are not
            # on the list (the default INSPECT_REDIRECTION_DOMAIN would check every name in
            # the chain and the BLOCK '*' rule would answer NXDOMAIN for them). Trust the
            # chain of an allowed name: where traffic may go is still decided by the Network
            # Firewall's SNI/Host allow-list, and the host's own nftables filter.
            firewall_domain_redirection_action="TRUST_REDIRECTION_DOMAIN",
            opts=child,
        )
        aws.route53.ResolverFirewallRule(
            f"{name}-dns-block-rest",
            name="block-everything-else",
            action="BLOCK",
            block_response="NXDOMAIN",
            firewall_domain_list_id=everything.id,
            firewall_rule_group_id=dns_rules.id,
            priority=200,
            opts=child,
        )
        aws.route53.ResolverFirewallRuleGroupAssociation(
            f"{name}-dns-association",
            name=f"tradewarden-{cfg.stack}",
            firewall_rule_group_id=dns_rules.id,
            vpc_id=self.vpc.id,
            priority=101,
            # prod: nobody can disassociate it outside Pulumi; dev/staging: off, or
            # `pulumi destroy` could not remove it.
            mutation_protection="ENABLED" if cfg.protect else "DISABLED",
            tags=tags,
            opts=child,
        )
        aws.route53.ResolverFirewallConfig(
            f"{name}-dns-fail-closed",
            resource_id=self.vpc.id,
            firewall_fail_open="DISABLED",
            opts=child,
        )

        # --- resolver query logs: every name the host asked for, allowed or blocked
        query_logs = self._log_group(name, cfg, "dns-query", kms_key_arn)
        query_log_config = aws.route53.ResolverQueryLogConfig(
            f"{name}-dns-query-log-config",
            name=f"tradewarden-{cfg.stack}",
            destination_arn=query_logs.arn,
            tags=tags,
            opts=child,
        )
        aws.route53.ResolverQueryLogConfigAssociation(
            f"{name}-dns-query-log-association",
            resolver_query_log_config_id=query_log_config.id,
            resource_id=self.vpc.id,
            opts=child,
        )

        # --- flow logs
        flow_logs = self._log_group(name, cfg, "vpc-flow", kms_key_arn)
        flow_role = aws.iam.Role(
            f"{name}-flow-logs-role",
            assume_role_policy=json.dumps(
                iam.assume_role_policy("vpc-flow-logs.amazonaws.com", ctx.account_id)
            ),
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs-policy",
            role=flow_role.id,
            policy=flow_logs.arn.apply(lambda arn: json.dumps(iam.flow_log_role_policy(arn))),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=flow_logs.arn,
            iam_role_arn=flow_role.arn,
            max_aggregation_interval=60,
            tags=tags,
            opts=child,
        )

        self.register_outputs(
            {
                "vpcId": self.vpc.id,
                "privateSubnetId": self.private_subnet.id,
                "firewallArn": self.firewall.arn,
                "allowedDomains": self.allowed_targets,
            }
        )

    def _log_group(
        self, name: str, cfg: StackConfig, what: str, kms_key_arn: pulumi.Input[str]
    ) -> aws.cloudwatch.LogGroup:
        return aws.cloudwatch.LogGroup(
            f"{name}-{what}-logs",
            name=f"/tradewarden/{cfg.stack}/{what}",
            retention_in_days=cfg.log_retention_days,
            kms_key_id=kms_key_arn,
            tags=naming.tags(cfg.stack),
            # prod's logs are evidence: protected like the key and the instance.
            opts=pulumi.ResourceOptions(
                parent=self, protect=cfg.protect, delete_before_replace=True
            ),
        )
