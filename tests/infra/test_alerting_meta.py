"""The meta-monitoring alarms (issue 17), built offline through the mocks: the alert
pipeline's dead-man's switch, the daemon up but not ready, disk and memory — each on the
metric and dimensions its publisher really uses (ops/probe/heartbeat.py, the CloudWatch
agent's configuration in the rendered user data)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from infra.components import alerting
from infra.offline import OfflineRun
from infra.policy import checks as t

REPO = Path(__file__).resolve().parents[2]


def alarms(run: OfflineRun) -> dict[str, dict[str, Any]]:
    return {
        a.inputs["name"].removeprefix(f"tradewarden-{run.stack}-"): a.inputs
        for a in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    }


def test_alert_pipeline_dead_mans_switch_pages_when_the_beat_stops(run: OfflineRun) -> None:
    a = alarms(run)["alert-pipeline-dead"]
    assert (a["namespace"], a["metricName"]) == ("Tradewarden", "AlertPipeline")
    assert a["dimensions"] == {"Stack": run.stack}
    assert a["treatMissingData"] == "breaching"  # no beat at all is the alarm
    assert a["statistic"] == "SampleCount" and a["comparisonOperator"] == "LessThanThreshold"
    assert a["period"] * a["evaluationPeriods"] == 600
    assert a["datapointsToAlarm"] == a["evaluationPeriods"]
    assert a["alarmActions"] == [run.outputs["alertTopicArn"]]
    assert a["okActions"] == [run.outputs["alertTopicArn"]]
    assert "runbooks/alert-pipeline.md" in a["alarmDescription"]


def test_daemon_up_but_not_ready_too_long(run: OfflineRun) -> None:
    a = alarms(run)["daemon-not-ready"]
    assert (a["namespace"], a["metricName"]) == ("Tradewarden", "Ready")
    assert a["dimensions"] == {"Stack": run.stack}
    # Ready is 0 or 1: the best of each 5 minutes below 1, three times = 15 minutes not ready
    assert a["statistic"] == "Maximum" and a["threshold"] == 1
    assert a["comparisonOperator"] == "LessThanThreshold"
    assert a["period"] * a["evaluationPeriods"] == 15 * 60
    # a daemon that does not answer publishes no Ready: heartbeat-missing pages for that
    assert a["treatMissingData"] == "notBreaching"
    assert a["alarmActions"] == [run.outputs["alertTopicArn"]]


def test_disk_and_memory_alarms_read_the_agents_own_dimensions(run: OfflineRun) -> None:
    a = alarms(run)
    disk, mem = a["disk-used-high"], a["memory-high"]
    assert (disk["namespace"], disk["metricName"]) == ("CWAgent", "disk_used_percent")
    assert disk["dimensions"] == {"Stack": run.stack, "path": "/"}
    assert (mem["namespace"], mem["metricName"]) == ("CWAgent", "mem_used_percent")
    assert mem["dimensions"] == {"Stack": run.stack}
    for x in (disk, mem):
        assert x["comparisonOperator"] == "GreaterThanThreshold" and 80 <= x["threshold"] < 100
        assert x["alarmActions"] == [run.outputs["alertTopicArn"]]

    # the agent on this stack's host publishes exactly those dimension sets
    data = yaml.safe_load(run.one(t.INSTANCE).inputs["userData"])
    files = {f["path"]: f for f in data["write_files"]}
    cw = json.loads(files["/opt/aws/amazon-cloudwatch-agent/etc/tradewarden.json"]["content"])
    collected = cw["metrics"]["metrics_collected"]
    assert cw["metrics"]["namespace"] == "CWAgent"
    assert "used_percent" in collected["disk"]["measurement"]  # -> disk_used_percent
    assert "/" in collected["disk"]["resources"]
    assert "mem_used_percent" in collected["mem"]["measurement"]
    for plugin in ("disk", "mem"):
        assert collected[plugin]["append_dimensions"] == {"Stack": run.stack}
    rollups = cw["metrics"]["aggregation_dimensions"]
    assert sorted(disk["dimensions"]) in rollups and sorted(mem["dimensions"]) in rollups


def test_the_heartbeat_publishes_the_metrics_the_alarms_read() -> None:
    sys.path.insert(0, str(REPO / "ops/probe"))
    import heartbeat

    assert heartbeat.PIPELINE_METRIC == alerting.ALERT_PIPELINE_METRIC
    assert heartbeat.READY_METRIC == alerting.READY_METRIC


def test_a_deploy_mutes_only_the_alarms_a_daemon_restart_trips(run: OfflineRun) -> None:
    names = set(alarms(run))
    assert set(alerting.DEPLOY_MUTED) <= names
    never = {
        "instance-status-check-failed",
        "system-status-check-failed",
        "alert-pipeline-dead",
        "egress-firewall-drops",
        "dns-firewall-blocks",
    }
    assert never <= names and not never & set(alerting.DEPLOY_MUTED)
    # the deploy runbook disables and re-enables exactly these
    book = (REPO / "runbooks/deploy-rollback.md").read_text()
    for what in alerting.DEPLOY_MUTED:
        assert f"tradewarden-$STACK-{what}" in book, what
