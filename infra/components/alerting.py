"""Alerting: an encrypted SNS topic that reaches people, and the host's CloudWatch alarms.

Alarms: instance status check, system status check (with EC2 auto-recover), CPU, and the
daemon's heartbeat (``Tradewarden/Heartbeat`` with dimension ``Stack=<stack>``), where
missing data counts as breaching: a silent daemon is an alert. Meta-monitoring (issue 17):
the alert pipeline's dead-man's switch (``Tradewarden/AlertPipeline``, published by
ops/probe/heartbeat.py only while Prometheus keeps the Watchdog alert active in
Alertmanager; missing data breaches), the daemon up but not ready for too long
(``Tradewarden/Ready``), and the host's disk and memory (CWAgent, dimension ``Stack``:
ops/cloud-init/cloudwatch-agent.json).
E-mail subscriptions must be confirmed by their recipients (SNS sends a link).
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import iam, naming
from infra.config import StackConfig
from infra.naming import AwsContext

RUNBOOK_BASE = "https://github.com/tradewarden/tradewarden/blob/main/runbooks/"
# published by ops/probe/heartbeat.py (same namespace and dimension as the heartbeat)
READY_METRIC = "Ready"
ALERT_PIPELINE_METRIC = "AlertPipeline"
ALERT_PIPELINE_MISSING_MINUTES = 10  # the heartbeat timer publishes it every 30 s
NOT_READY_MINUTES = 15  # up but not trading (HALTED, exchange unreachable, ...) this long
DISK_USED_PERCENT = 85
MEMORY_USED_PERCENT = 90
# A planned deploy restarts the daemon: these alarms' actions are disabled for its window
# (runbooks/deploy-rollback.md). Never the status checks, the egress/DNS firewall alarms or
# the alert pipeline: a deploy does not touch them.
DEPLOY_MUTED = ("heartbeat-missing", "daemon-not-ready", "cpu-high")


class Alerting(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        ctx: AwsContext,
        *,
        kms_key_arn: pulumi.Input[str],
        instance_id: pulumi.Input[str],
        firewall_name: pulumi.Input[str],
        availability_zone: str,
        dns_rule_group_id: pulumi.Input[str],
        dns_block_list_id: pulumi.Input[str],
        snapshot_policy_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("tradewarden:infra:Alerting", name, None, opts)
        # Fixed names (topic, alarms): a replacement deletes the old one first.
        child = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
        tags = naming.tags(cfg.stack)
        topic_arn = naming.alert_topic_arn(ctx, cfg.stack)

        self.topic = aws.sns.Topic(
            f"{name}-topic",
            name=naming.alert_topic_name(cfg.stack),
            display_name=f"tradewarden {cfg.stack}",
            kms_master_key_id=kms_key_arn,
            tags=tags,
            opts=child,
        )
        aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=self.topic.arn,
            policy=json.dumps(iam.topic_policy(ctx, topic_arn)),
            opts=child,
        )
        for i, email in enumerate(cfg.alert_emails):
            aws.sns.TopicSubscription(
                f"{name}-email-{i}",
                topic=self.topic.arn,
                protocol="email",
                endpoint=email,
                opts=child,
            )
        for i, number in enumerate(cfg.alert_sms_numbers):
            aws.sns.TopicSubscription(
                f"{name}-sms-{i}",
                topic=self.topic.arn,
                protocol="sms",
                endpoint=number,
                opts=child,
            )

        notify = [self.topic.arn]
        ec2_dims = {"InstanceId": instance_id}

        def alarm(what: str, description: str, runbook: str, **kwargs: object) -> None:
            aws.cloudwatch.MetricAlarm(
                f"{name}-{what}",
                name=naming.alarm_name(cfg.stack, what),
                alarm_description=f"{description} Runbook: {RUNBOOK_BASE}{runbook}",
                ok_actions=notify,
                tags=tags,
                opts=child,
                **kwargs,  # type: ignore[arg-type]
            )

        alarm(
            "instance-status-check-failed",
            "The host failed its instance status check (OS unreachable, or stopped).",
            "host-down.md",
            namespace="AWS/EC2",
            metric_name="StatusCheckFailed_Instance",
            dimensions=ec2_dims,
            statistic="Maximum",
            period=60,
            evaluation_periods=2,
            threshold=1,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="breaching",
            alarm_actions=notify,
        )
        alarm(
            "system-status-check-failed",
            "AWS hardware under the host failed; EC2 auto-recover moves the instance.",
            "host-down.md",
            namespace="AWS/EC2",
            metric_name="StatusCheckFailed_System",
            dimensions=ec2_dims,
            statistic="Maximum",
            period=60,
            evaluation_periods=2,
            threshold=1,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="missing",
            alarm_actions=[f"arn:{ctx.partition}:automate:{ctx.region}:ec2:recover", *notify],
        )
        alarm(
            "cpu-high",
            f"Host CPU above {cfg.cpu_alarm_threshold_percent}% for 15 minutes.",
            "host-cpu-high.md",
            namespace="AWS/EC2",
            metric_name="CPUUtilization",
            dimensions=ec2_dims,
            statistic="Average",
            period=300,
            evaluation_periods=3,
            threshold=cfg.cpu_alarm_threshold_percent,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="missing",
            alarm_actions=notify,
        )
        alarm(
            "heartbeat-missing",
            f"The daemon published no heartbeat for {cfg.heartbeat_missing_minutes} minute(s).",
            "heartbeat-missing.md",
            namespace=naming.HEARTBEAT_NAMESPACE,
            metric_name=naming.HEARTBEAT_METRIC,
            dimensions={"Stack": cfg.stack},
            statistic="SampleCount",
            period=60,
            evaluation_periods=cfg.heartbeat_missing_minutes,
            datapoints_to_alarm=cfg.heartbeat_missing_minutes,
            threshold=1,
            comparison_operator="LessThanThreshold",
            treat_missing_data="breaching",
            alarm_actions=notify,
        )

        # --- meta-monitoring: the alert pipeline, the daemon not ready, disk and memory
        alarm(
            "alert-pipeline-dead",
            "The alert pipeline's dead-man's switch: no Watchdog beat from the host for "
            f"{ALERT_PIPELINE_MISSING_MINUTES} minutes (Prometheus, Alertmanager or the "
            "heartbeat timer is down, or everything is silenced).",
            "alert-pipeline.md",
            namespace=naming.HEARTBEAT_NAMESPACE,
            metric_name=ALERT_PIPELINE_METRIC,
            dimensions={"Stack": cfg.stack},
            statistic="SampleCount",
            period=60,
            evaluation_periods=ALERT_PIPELINE_MISSING_MINUTES,
            datapoints_to_alarm=ALERT_PIPELINE_MISSING_MINUTES,
            threshold=1,
            comparison_operator="LessThanThreshold",
            treat_missing_data="breaching",
            alarm_actions=notify,
        )
        alarm(
            "daemon-not-ready",
            f"The daemon answers but has not been ready for {NOT_READY_MINUTES} minutes "
            "(halted, exchange unreachable, rate-limit pause or stale reconciliation).",
            "daemon-down.md",
            namespace=naming.HEARTBEAT_NAMESPACE,
            metric_name=READY_METRIC,
            dimensions={"Stack": cfg.stack},
            statistic="Maximum",
            period=300,
            evaluation_periods=NOT_READY_MINUTES // 5,
            datapoints_to_alarm=NOT_READY_MINUTES // 5,
            threshold=1,
            comparison_operator="LessThanThreshold",
            # no datapoint = the daemon does not answer at all: heartbeat-missing pages
            treat_missing_data="notBreaching",
            alarm_actions=notify,
        )
        alarm(
            "disk-used-high",
            f"The host's root filesystem is more than {DISK_USED_PERCENT}% full.",
            "host-disk.md",
            namespace=naming.CWAGENT_NAMESPACE,
            metric_name="disk_used_percent",
            dimensions={"Stack": cfg.stack, "path": "/"},
            statistic="Maximum",
            period=300,
            evaluation_periods=3,
            threshold=DISK_USED_PERCENT,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="missing",
            alarm_actions=notify,
        )
        alarm(
            "memory-high",
            f"The host's memory is more than {MEMORY_USED_PERCENT}% used for 15 minutes.",
            "host-memory-high.md",
            namespace=naming.CWAGENT_NAMESPACE,
            metric_name="mem_used_percent",
            dimensions={"Stack": cfg.stack},
            statistic="Average",
            period=300,
            evaluation_periods=3,
            threshold=MEMORY_USED_PERCENT,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="missing",
            alarm_actions=notify,
        )
        self.deploy_muted_alarm_names = [naming.alarm_name(cfg.stack, w) for w in DEPLOY_MUTED]

        # --- egress and snapshots: the firewalls refusing something, DLM failing
        # one occurrence in a period is enough; no data is nothing happened
        any_event: dict[str, Any] = {
            "statistic": "Sum",
            "evaluation_periods": 1,
            "threshold": 1,
            "comparison_operator": "GreaterThanOrEqualToThreshold",
            "treat_missing_data": "notBreaching",
            "alarm_actions": notify,
        }
        alarm(
            "egress-firewall-drops",
            "The Network Firewall dropped traffic from the host (not on the allow-list): "
            "something on the host tried to reach a place it must not.",
            "host-compromise.md",
            namespace="AWS/NetworkFirewall",
            metric_name="DroppedPackets",
            dimensions={
                "FirewallName": firewall_name,
                "AvailabilityZone": availability_zone,
                "Engine": "Stateful",
            },
            period=300,
            **any_event,
        )
        alarm(
            "dns-firewall-blocks",
            "The DNS Firewall blocked a name the host asked for (not on the allow-list).",
            "host-compromise.md",
            namespace="AWS/Route53Resolver",
            metric_name="FirewallRuleQueryVolume",
            dimensions={
                "FirewallRuleGroupId": dns_rule_group_id,
                "FirewallDomainListId": dns_block_list_id,
            },
            period=300,
            **any_event,
        )
        alarm(
            "snapshot-failed",
            "Data Lifecycle Manager failed to create the host's daily snapshot.",
            "host-down.md",
            namespace="AWS/DataLifecycleManager",
            metric_name="SnapshotsCreateFailed",
            dimensions={"DLMPolicyId": snapshot_policy_id},
            period=3600,
            **any_event,
        )

        self.register_outputs({"topicArn": self.topic.arn})
