"""ops/alertmanager: `amtool check-config` clean, routes by severity, Slack only via
`api_url_file`, templates render, and — on a real Alertmanager with the local Slack and
SMTP servers — delivery by severity and the inhibitions."""

from __future__ import annotations

import subprocess
import time
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
from tests.ops.promql import tool

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
    assert "SUCCESS" in out and "3 inhibit rules" in out and "1 templates" in out, out


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
    ],
)
def test_routes_by_severity(labels: list[str], receiver: str) -> None:
    res = amtool("config", "routes", "test", f"--config.file={CONFIG}", *labels)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == receiver


def test_receivers_slack_and_email_by_severity_without_inline_secrets() -> None:
    got = {
        name: (bool(r.get("slack_configs")), bool(r.get("email_configs")))
        for name, r in receivers().items()
    }
    assert got == {
        "critical": (True, True),
        "warning": (True, True),
        "info": (True, False),
    }
    text = CONFIG.read_text()
    config = yaml.safe_load(text)
    for r in receivers().values():
        for s in r.get("slack_configs", []):
            assert "api_url" not in s and s["api_url_file"].startswith("/etc/alertmanager/")
        for e in r.get("email_configs", []):
            assert "auth_password" not in e and "auth_password_file" in e
    assert not {"slack_api_url", "smtp_auth_password"} & set(config["global"])
    assert "hooks.slack.com" not in text


def test_emergency_stop_inhibits_breaker_alerts() -> None:
    rules = yaml.safe_load(CONFIG.read_text())["inhibit_rules"]
    stop = [r for r in rules if r["source_matchers"] == ['alertname="EmergencyStop"']]
    assert stop and "BreakerTripped" in stop[0]["target_matchers"][0]
    assert stop[0]["equal"] == ["instance"]


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


def test_real_alertmanager_delivers_by_severity_and_inhibits(tmp_path: Path) -> None:
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
        )
        am = start_alertmanager(tmp_path, config)
        try:
            post_alerts(am, [_alert("EmergencyStop", "critical", "host-a")])
            _wait(lambda: len(get_json(am.url + "/api/v2/alerts")) == 1, "the emergency stop")
            post_alerts(
                am,
                [
                    _alert("BreakerTripped", "critical", "host-a", bot="b1", breaker="x"),
                    _alert("BreakerTripped", "critical", "host-b", bot="b2", breaker="x"),
                    _alert("ClockSkew", "critical", "host-c"),
                    _alert("ClockSkew", "warning", "host-c"),
                    _alert("BotStarted", "info", "host-c"),
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
            )
            _wait(lambda: all(w in slack_summaries() for w in wanted), "Slack notifications")
            _wait(lambda: len(subjects()) >= 3, "three emails")
            states = {
                (a["labels"]["alertname"], a["labels"]["instance"], a["labels"]["severity"]): a[
                    "status"
                ]
                for a in get_json(am.url + "/api/v2/alerts")
            }
        finally:
            am.stop()
        texts = slack_summaries()
        mails = subjects()
        bodies = [email_text(m.message) for m in smtp.messages]
        auth = {m.authenticated_as for m in smtp.messages}
        tls = {m.tls for m in smtp.messages}
    # inhibited: the per-bot breaker under the emergency stop, the warning under its critical
    assert states[("BreakerTripped", "host-a", "critical")]["state"] == "suppressed"
    assert states[("BreakerTripped", "host-a", "critical")]["inhibitedBy"]
    assert states[("ClockSkew", "host-c", "warning")]["state"] == "suppressed"
    assert states[("BreakerTripped", "host-b", "critical")]["state"] == "active"
    assert "BreakerTripped summary on host-a" not in texts
    # info goes to Slack only; critical to Slack and email
    assert sorted(mails) == sorted(
        [
            "[FIRING] critical: EmergencyStop (host-a) - tradewarden",
            "[FIRING] critical: BreakerTripped on b2 (host-b) - tradewarden",
            "[FIRING] critical: ClockSkew (host-c) - tradewarden",
        ]
    ), mails
    assert not any("BotStarted" in s for s in mails)
    # STARTTLS, then SMTP AUTH with the password read from auth_password_file
    assert auth == {SMTP_USER} and tls == {True}
    assert all("Runbook: https://github.com/tradewarden/" in b for b in bodies), bodies[0]
    assert all('<a href="https://github.com/tradewarden/' in b for b in bodies)
