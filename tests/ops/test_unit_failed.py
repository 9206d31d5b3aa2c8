"""ops/probe/unit_failed.py (tradewarden-unit-failed@.service, the OnFailure= of the daemon
and egress units) publishes a critical message to the SNS topic without the daemon: moto
SNS -> an SQS queue shows what subscribers get; one message per unit per quiet time; an
SNS it cannot reach exits 1 (the unit retries), no topic exits 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "ops/probe/unit_failed.py"
REGION = "eu-west-1"


def run(unit: str, state: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "PATH", "HOME"))}
    base.update(STATE_DIRECTORY=str(state), TRADEWARDEN_STACK="test", **env)
    return subprocess.run(
        [sys.executable, str(SCRIPT), unit],
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_failed_unit_pages_through_sns_once_per_quiet_time(aws_env: str, tmp_path: Path) -> None:
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="tw-unit-failed")["TopicArn"]
    queue = sqs.create_queue(QueueName="tw-unit-failed-sink")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn["Attributes"]["QueueArn"])

    def delivered() -> list[dict]:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        for m in got:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in got]

    env = {
        "TRADEWARDEN_SNS_TOPIC_ARN": topic,
        "MONITOR_SERVICE_RESULT": "start-limit-hit",
        "MONITOR_EXIT_CODE": "exited",
        "MONITOR_EXIT_STATUS": "1",
    }
    first = run("tradewarden.service", tmp_path, **env)
    assert first.returncode == 0, first.stderr
    (msg,) = delivered()
    assert msg["Subject"] == "[tradewarden CRITICAL] tradewarden.service failed on test"
    assert "start-limit-hit" in msg["Message"] and "runbooks/daemon-down.md" in msg["Message"]
    assert msg["MessageAttributes"]["severity"]["Value"] == "critical"

    again = run("tradewarden.service", tmp_path, **env)  # a storm of failures: one page
    assert again.returncode == 0 and "not sent again" in again.stdout
    assert delivered() == []
    egress = run("tradewarden-egress.service", tmp_path, **env)  # another unit: its own page
    assert egress.returncode == 0, egress.stderr
    (msg,) = delivered()
    assert "tradewarden-egress.service failed" in msg["Subject"]
    assert "allow-list" in msg["Message"]

    # SNS unreachable: exit 1, so the unit's Restart=on-failure sends it later
    dead = f"http://127.0.0.1:{free_port()}"
    down = run("tradewarden.service", tmp_path / "other", AWS_ENDPOINT_URL=dead, **env)
    assert down.returncode == 1 and "SNS refused" in down.stderr
    unset = run("tradewarden.service", tmp_path, **{**env, "TRADEWARDEN_SNS_TOPIC_ARN": ""})
    assert unset.returncode == 2 and "TRADEWARDEN_SNS_TOPIC_ARN" in unset.stderr


def test_attack_a_page_sent_but_not_recorded_is_not_sent_again_every_30s(
    aws_env: str, tmp_path: Path
) -> None:
    """The state file cannot be written (disk full, the very thing that may have failed the
    daemon): the page went out, so the run must not exit 1 - the unit's Restart=on-failure
    would publish it again every 30 s, an SMS storm, for as long as the disk stays full."""
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="tw-unit-failed-full")["TopicArn"]
    queue = sqs.create_queue(QueueName="tw-unit-failed-full-sink")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn["Attributes"]["QueueArn"])
    unwritable = tmp_path / "no-such-state-dir"  # every write of sent.json fails (OSError)
    sent = run("tradewarden.service", unwritable, TRADEWARDEN_SNS_TOPIC_ARN=topic)
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    assert len(got) == 1
    assert sent.returncode == 0, sent.stderr
    assert "not recorded" in sent.stderr and "Traceback" not in sent.stderr
