"""SMS for critical alerts through an SNS topic (boto3; honours ``AWS_ENDPOINT_URL``).

The publish uses ``MessageStructure=json``: SMS subscribers get a short text, every other
protocol (email, SQS, HTTPS) gets the full plain-text alert.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from tradewarden.alerts import render
from tradewarden.alerts.model import Alert

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import MessageAttributeValueTypeDef

SMS_MAX = 160
SUBJECT_MAX = 100


def region_of(topic_arn: str) -> str | None:
    parts = topic_arn.split(":")
    return parts[3] if len(parts) >= 6 and parts[0] == "arn" and parts[3] else None


def sms_text(alert: Alert, outbox_id: str = "") -> str:
    """At most 160 characters (one SMS): severity, title, the reading, a short reference."""
    ref = f" ref {outbox_id[:8]}" if outbox_id else ""
    head = f"TW {render.label(alert)}: {alert.title}"
    vt = render.value_vs_threshold(alert)
    text = f"{head} ({vt})" if vt else head
    room = SMS_MAX - len(ref)
    if len(text) > room:
        text = text[: room - 3] + "..."
    return text + ref


class SnsChannel:
    name = "sns"

    def __init__(
        self,
        topic_arn: str,
        *,
        region: str | None = None,
        timeout: float = 10.0,
        client: SNSClient | None = None,
    ) -> None:
        self.topic_arn = topic_arn
        self.region = region or region_of(topic_arn)
        self.timeout = timeout
        self._client = client
        self._lock = threading.Lock()

    def _sns(self) -> SNSClient:
        with self._lock:
            if self._client is None:
                config = Config(
                    connect_timeout=self.timeout,
                    read_timeout=self.timeout,
                    # the outbox retries with its own back-off; one quick retry is enough here
                    retries={"mode": "standard", "total_max_attempts": 2},
                )
                self._client = boto3.session.Session().client(
                    "sns", region_name=self.region, config=config
                )
            return self._client

    def send(self, alert: Alert, outbox_id: str = "") -> None:
        message = {
            "default": render.plain_text(alert, outbox_id),
            "sms": sms_text(alert, outbox_id),
        }
        subject = f"[tradewarden {render.label(alert)}] {alert.title}"
        attributes: dict[str, MessageAttributeValueTypeDef] = {
            "severity": {"DataType": "String", "StringValue": alert.severity.value},
            "dedup_key": {"DataType": "String", "StringValue": alert.dedup_key},
        }
        if outbox_id:
            attributes["outbox_id"] = {"DataType": "String", "StringValue": outbox_id}
        self._sns().publish(
            TopicArn=self.topic_arn,
            Message=json.dumps(message),
            MessageStructure="json",
            Subject=_subject(subject),
            MessageAttributes=attributes,
        )


def _subject(text: str) -> str:
    # SNS subjects: ASCII printable, no newlines, at most 100 characters
    clean = "".join(c if 32 <= ord(c) < 127 else "?" for c in text)
    return clean[:SUBJECT_MAX]
