"""Counting what the local servers received, by outbox id, and building settings."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSmtp
from tradewarden.alerts.outbox import Outbox
from tradewarden.core.config import Settings

FOOTER_ID = re.compile(r"\balert ([0-9a-f]{32})\b")
REGION = "eu-west-1"
ACCOUNT = "123456789012"


def slack_ids(fake: FakeSlack) -> Counter[str]:
    """Outbox ids of the accepted Slack messages (from each message's footer)."""
    out: Counter[str] = Counter()
    for msg in fake.messages:
        ids = {
            m
            for block in msg.payload.get("blocks", [])
            if block.get("type") == "context"
            for el in block["elements"]
            for m in FOOTER_ID.findall(el.get("text", ""))
        }
        assert len(ids) == 1, f"a Slack message without exactly one alert id: {msg.payload}"
        out.update(ids)
    return out


def email_ids(smtp: FakeSmtp) -> Counter[str]:
    return Counter(str(m.message["X-Tradewarden-Outbox-Id"]) for m in smtp.messages)


def console_ids(state_dir: Path) -> Counter[str]:
    path = state_dir / "alerts.jsonl"
    if not path.exists():
        return Counter()
    return Counter(json.loads(line)["outbox_id"] for line in path.read_text().splitlines())


def outbox_ids(db: Path, channel: str) -> set[str]:
    box = Outbox(db)
    try:
        return {r.id for r in box.rows(channel)}
    finally:
        box.close()


def topic_arn(name: str) -> str:
    return f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}"


class SnsSink:
    """An SQS queue subscribed to the SNS topic (created on `create()`): what SNS delivered."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.arn = topic_arn(name)
        self.seen: Counter[str] = Counter()
        self.subjects: list[str] = []
        self._queue: str | None = None

    def create(self) -> None:
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        assert sns.create_topic(Name=self.name)["TopicArn"] == self.arn
        self._queue = sqs.create_queue(QueueName=self.name + "-sink")["QueueUrl"]
        qarn = sqs.get_queue_attributes(QueueUrl=self._queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=self.arn, Protocol="sqs", Endpoint=qarn)

    def drain(self) -> Counter[str]:
        if self._queue is None:
            return self.seen
        sqs = boto3.client("sqs", region_name=REGION)
        while True:
            got = sqs.receive_message(QueueUrl=self._queue, MaxNumberOfMessages=10)
            messages = got.get("Messages", [])
            if not messages:
                return self.seen
            for m in messages:
                body = json.loads(m["Body"])
                self.seen[body["MessageAttributes"]["outbox_id"]["Value"]] += 1
                self.subjects.append(body.get("Subject", ""))
                sqs.delete_message(QueueUrl=self._queue, ReceiptHandle=m["ReceiptHandle"])


def settings_for(
    state_dir: Path,
    *,
    slack: FakeSlack | None = None,
    smtp: FakeSmtp | None = None,
    sns_arn: str | None = None,
    **extra: Any,
) -> Settings:
    kw: dict[str, Any] = {
        "state_dir": state_dir,
        "runbook_base_url": "https://runbooks.example/tw/",
        "email_from": "tradewarden@alerts.example",
    }
    if slack is not None:
        kw.update(slack_base_url=slack.api_url, slack_channel="#tw-alerts")
    if smtp is not None:
        kw.update(
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            smtp_tls=smtp.tls,
            email_to=("oncall@example.org", "desk@example.org"),
        )
    if sns_arn is not None:
        kw["sns_topic_arn"] = sns_arn
    kw.update(extra)
    return Settings(**kw)


def wait_until(check: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    """Poll `check` until it holds (bounded, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.05)
