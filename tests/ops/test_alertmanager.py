"""ops/alertmanager: `amtool check-config` clean, routes by severity, Slack only via
`api_url_file`, templates render, and — on a real Alertmanager with the local Slack and
SMTP servers — delivery by severity and the inhibitions."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakes.smtp import FakeSmtp
from tests.integration.e2e_alerting.stack import (
    ALERTMANAGER_DIR,
    AlertmanagerSlack,
    alertmanager_config,
    get_json,
    post_alerts,
    relay_login_prompts,
    start_alertmanager,
)
from tests.ops.promql import ALERTMANAGER_SELF, tool

CONFIG = ALERTMANAGER_DIR / "alertmanager.yml"
TEMPLATES = ALERTMANAGER_DIR / "templates"
SMTP_USER, SMTP_PASSWORD = "tradewarden-alerts", "am-smtp-CANARY-pw"  # noqa: S105 - fixture


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("amtool"), *args], capture_output=True, text=True, timeout=60, check=False
    )


def receivers() -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in yaml.safe_load(CONFIG.read_text())["receivers"]}


def test_amtool_check_config_is_clean() -> None:
    res = amtool("check-config", str(CONFIG))
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert "SUCCESS" in out and "4 inhibit rules" in out and "1 templates" in out, out


def test_amtool_check_config_catches_a_broken_route(tmp_path: Path) -> None:
    bad = tmp_path / "alertmanager.yml"
    bad.write_text(CONFIG.read_text().replace("receiver: critical\n", "receiver: nobody\n", 1))
    (tmp_path / "templates").symlink_to(TEMPLATES)
    res = amtool("check-config", str(bad))
    assert res.returncode != 0 and "nobody" in res.stdout + res.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "alertname=BreakerTripped"], "critical"),
        (["severity=warning", "alertname=ClockSkew"], "warning"),
        (["severity=info", "alertname=BotStarted"], "info"),
        (["alertname=NoSeverity"], "warning"),  # never only to Slack by accident
        (["alertname=Watchdog", "severity=none"], "deadmans-switch"),  # never to people
        (["alertname=ExchangeBan418", "severity=critical"], "critical"),
        (["alertname=StreamFallback", "severity=warning"], "warning"),  # Slack + email
    ],
)
def test_routes_by_severity(labels: list[str], receiver: str) -> None:
    res = amtool("config", "routes", "test", f"--config.file={CONFIG}", *labels)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == receiver


def test_receivers_slack_email_and_sns_by_severity_without_inline_secrets() -> None:
    """Critical pages (SNS: SMS + e-mail subscribers) as well as Slack and email; warnings
    never page; info is Slack only; the dead-man's switch reaches nobody."""
    got = {
        name: (
            bool(r.get("slack_configs")),
            bool(r.get("email_configs")),
            bool(r.get("sns_configs")),
        )
        for name, r in receivers().items()
    }
    assert got == {
        "critical": (True, True, True),
        "warning": (True, True, False),
        "info": (True, False, False),
        "deadmans-switch": (False, False, False),
    }
    assert set(receivers()["deadmans-switch"]) == {"name"}  # no integration of any kind
    text = CONFIG.read_text()
    config = yaml.safe_load(text)
    for r in receivers().values():
        for s in r.get("slack_configs", []):
            assert "api_url" not in s and s["api_url_file"].startswith("/etc/alertmanager/")
        for e in r.get("email_configs", []):
            assert "auth_password" not in e and "auth_password_file" in e
    assert not {"slack_api_url", "smtp_auth_password"} & set(config["global"])
    assert "hooks.slack.com" not in text
    # SNS signs with the instance role: no key in the file, only the host's placeholders
    (sns,) = receivers()["critical"]["sns_configs"]
    assert sns["topic_arn"] == "${alert_topic_arn}" and sns["sigv4"] == {"region": "${region}"}
    assert sns["send_resolved"] is True


def test_host_placeholders_are_the_ones_infra_renders() -> None:
    """The host's copy is rendered with string.Template from infra's values: every
    placeholder has a value there and nothing else in the file looks like one."""
    from string import Template

    from infra.cloud_init import template_values
    from infra.config import load_stack_config
    from infra.offline import read_stack_file

    values = template_values(
        load_stack_config(read_stack_file("prod"), "prod"),
        region="eu-west-1",
        alert_topic_arn="arn:aws:sns:eu-west-1:123456789012:tradewarden-prod-alerts",
    )
    rendered = yaml.safe_load(Template(CONFIG.read_text()).substitute(values))
    (sns,) = next(r for r in rendered["receivers"] if r["name"] == "critical")["sns_configs"]
    assert sns["topic_arn"] == "arn:aws:sns:eu-west-1:123456789012:tradewarden-prod-alerts"
    assert sns["sigv4"]["region"] == "eu-west-1"


def test_repeat_intervals_per_severity() -> None:
    def seconds(d: str) -> int:
        return int(d[:-1]) * {"s": 1, "m": 60, "h": 3600}[d[-1]]

    routes = {
        r["receiver"]: seconds(r["repeat_interval"])
        for r in yaml.safe_load(CONFIG.read_text())["route"]["routes"]
    }
    assert routes["critical"] < routes["warning"] < routes["info"]
    assert routes["deadmans-switch"] <= 5 * 60


def test_emergency_stop_inhibits_breaker_alerts() -> None:
    rules = yaml.safe_load(CONFIG.read_text())["inhibit_rules"]
    stop = [r for r in rules if r["source_matchers"] == ['alertname="EmergencyStop"']]
    assert stop and "BreakerTripped" in stop[0]["target_matchers"][0]
    assert stop[0]["equal"] == ["instance"]


def test_critical_hides_only_its_own_warning() -> None:
    """A critical for one channel (or filesystem, or secret) must not hide another's warning."""
    rules = yaml.safe_load(CONFIG.read_text())["inhibit_rules"]
    (rule,) = [r for r in rules if r["source_matchers"] == ['severity="critical"']]
    assert {"alertname", "instance", "secret", "integration", "mountpoint"} <= set(rule["equal"])


def test_every_inhibited_alert_name_is_a_rule() -> None:
    """A typo in a target matcher would inhibit nothing, silently."""
    import re

    from tests.ops.promql import alert_rules

    names = {r["alert"] for r in alert_rules()}
    for rule in yaml.safe_load(CONFIG.read_text())["inhibit_rules"]:
        for matcher in rule.get("source_matchers", []) + rule.get("target_matchers", []):
            m = re.fullmatch(r'alertname=~?"([^"]+)"', matcher)
            if m:
                assert set(m.group(1).split("|")) <= names, matcher


@pytest.mark.parametrize(
    "name",
    [
        "tradewarden.slack.title",
        "tradewarden.slack.text",
        "tradewarden.slack.color",
        "tradewarden.email.subject",
        "tradewarden.email.text",
        "tradewarden.email.html",
    ],
)
def test_templates_render(name: str) -> None:
    res = amtool(
        "template",
        "render",
        f"--template.glob={TEMPLATES}/*.tmpl",
        f'--template.text={{{{ template "{name}" . }}}}',
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip()


def email_text(message: Any) -> str:
    """Every text part of a received email, decoded (plain and HTML)."""
    return "\n".join(
        part.get_content() for part in message.walk() if part.get_content_maintype() == "text"
    )


def _alert(name: str, severity: str, instance: str, **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "severity": severity, "instance": instance, **labels},
        "annotations": {
            "summary": f"{name} summary on {instance}",
            "description": f"{name} description",
            "runbook_url": "https://github.com/tradewarden/tradewarden/blob/main/runbooks/alerts.md",
        },
    }


def _wait(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class TopicSink:
    """The stack's SNS topic on moto with an SQS queue subscribed: what SNS was given."""

    def __init__(self) -> None:
        import boto3

        self.sns = boto3.client("sns", region_name="eu-west-1")
        self.sqs = boto3.client("sqs", region_name="eu-west-1")
        self.arn = self.sns.create_topic(Name="tradewarden-test-alerts")["TopicArn"]
        self.queue = self.sqs.create_queue(QueueName="tradewarden-test-alerts-sink")["QueueUrl"]
        qarn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])
        self.sns.subscribe(
            TopicArn=self.arn, Protocol="sqs", Endpoint=qarn["Attributes"]["QueueArn"]
        )
        self.messages: list[dict[str, str]] = []

    def drain(self) -> list[dict[str, str]]:
        import json

        while got := self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for m in got:
                body = json.loads(m["Body"])
                self.messages.append(
                    {"subject": body.get("Subject", ""), "message": body["Message"]}
                )
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"])
        return self.messages


def test_real_alertmanager_delivers_by_severity_and_inhibits(tmp_path: Path, aws_env: str) -> None:
    """Critical to Slack, email and SNS; warning to Slack and email (never SNS); info to
    Slack; the inhibitions (emergency stop, critical over warning, the exchange ban)."""
    topic = TopicSink()
    with (
        relay_login_prompts(),
        AlertmanagerSlack() as slack,
        FakeSmtp(tls="starttls", auth=(SMTP_USER, SMTP_PASSWORD)) as smtp,
    ):
        config = alertmanager_config(
            tmp_path,
            slack_webhook_url=slack.webhook_url,
            smtp=(smtp.host, smtp.port),
            smtp_password=SMTP_PASSWORD,
            smtp_ca_file=smtp.cert_path,
            sns=(aws_env, topic.arn),
        )
        am = start_alertmanager(tmp_path, config)
        try:
            post_alerts(
                am,
                [
                    _alert("EmergencyStop", "critical", "host-a"),
                    _alert("ExchangeBan418", "critical", "host-d"),
                ],
            )
            _wait(lambda: len(get_json(am.url + "/api/v2/alerts")) == 2, "the sources")
            post_alerts(
                am,
                [
                    _alert("BreakerTripped", "critical", "host-a", bot="b1", breaker="x"),
                    _alert("BreakerTripped", "critical", "host-b", bot="b2", breaker="x"),
                    _alert("ClockSkew", "critical", "host-c"),
                    _alert("ClockSkew", "warning", "host-c"),
                    _alert("BotStarted", "info", "host-c"),
                    # what the ban causes on host-d, and the same warnings on host-e (no ban)
                    *(
                        _alert(name, "warning", host)
                        for host in ("host-d", "host-e")
                        for name in (
                            "RateLimitNearBudget",
                            "ExchangeRateLimited",
                            "DaemonNotReady",
                            "ReconciliationStale",
                            "ExchangeErrorRate",
                        )
                    ),
                ],
            )

            def slack_summaries() -> str:
                return "\n".join(" ".join(m.texts()) for m in slack.webhook_messages())

            def subjects() -> list[str]:
                return [str(m.message["Subject"]) for m in smtp.messages]

            wanted = (
                "EmergencyStop summary on host-a",
                "BreakerTripped summary on host-b",
                "ClockSkew summary on host-c",
                "BotStarted summary on host-c",
                "ExchangeBan418 summary on host-d",
                "ReconciliationStale summary on host-e",
            )
            _wait(lambda: all(w in slack_summaries() for w in wanted), "Slack notifications")
            _wait(lambda: len(subjects()) >= 9, "nine emails")
            _wait(lambda: len(topic.drain()) >= 4, "four SNS messages")
            states = {
                (a["labels"]["alertname"], a["labels"]["instance"], a["labels"]["severity"]): a[
                    "status"
                ]
                for a in get_json(am.url + "/api/v2/alerts")
            }
            with urllib.request.urlopen(am.url + "/metrics", timeout=5) as r:  # noqa: S310
                am_metrics = r.read().decode()
        finally:
            am.stop()
        texts = slack_summaries()
        mails = subjects()
        bodies = [email_text(m.message) for m in smtp.messages]
        pages = topic.drain()
        auth = {m.authenticated_as for m in smtp.messages}
        tls = {m.tls for m in smtp.messages}
    # inhibited: the per-bot breaker under the emergency stop, the warning under its critical
    assert states[("BreakerTripped", "host-a", "critical")]["state"] == "suppressed"
    assert states[("BreakerTripped", "host-a", "critical")]["inhibitedBy"]
    assert states[("ClockSkew", "host-c", "warning")]["state"] == "suppressed"
    assert states[("BreakerTripped", "host-b", "critical")]["state"] == "active"
    assert "BreakerTripped summary on host-a" not in texts
    # info goes to Slack only; critical to Slack and email
    criticals = [
        "[FIRING] critical: EmergencyStop (host-a) - tradewarden",
        "[FIRING] critical: ExchangeBan418 (host-d) - tradewarden",
        "[FIRING] critical: BreakerTripped on b2 (host-b) - tradewarden",
        "[FIRING] critical: ClockSkew (host-c) - tradewarden",
    ]
    warnings_e = [
        f"[FIRING] warning: {name} (host-e) - tradewarden"
        for name in (
            "RateLimitNearBudget",
            "ExchangeRateLimited",
            "DaemonNotReady",
            "ReconciliationStale",
            "ExchangeErrorRate",
        )
    ]
    assert sorted(mails) == sorted(criticals + warnings_e), mails
    # the ban inhibits what it causes on its own instance only
    for name in ("RateLimitNearBudget", "DaemonNotReady", "ReconciliationStale"):
        assert states[(name, "host-d", "warning")]["state"] == "suppressed", name
        assert states[(name, "host-e", "warning")]["state"] == "active", name
        assert f"{name} summary on host-d" not in texts
    # SNS pages the criticals only (SMS-sized: summary and runbook), never a warning
    assert sorted(p["subject"] for p in pages) == sorted(criticals), pages
    assert all(
        p["message"].startswith("FIRING critical: ") and "Runbook: https://" in p["message"]
        for p in pages
    ), pages
    # the alert rules' Alertmanager self-metrics exist, per integration
    for name in ALERTMANAGER_SELF:
        assert f"\n{name}" in am_metrics, name
    assert 'alertmanager_notifications_total{integration="sns"} 4' in am_metrics
    assert not any("BotStarted" in s for s in mails)
    # STARTTLS, then SMTP AUTH with the password read from auth_password_file
    assert auth == {SMTP_USER} and tls == {True}
    assert all("Runbook: https://github.com/tradewarden/" in b for b in bodies), bodies[0]
    assert all('<a href="https://github.com/tradewarden/' in b for b in bodies)
