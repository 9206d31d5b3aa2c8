"""The real alert chain once: the paper daemon trips a breaker -> its exporter -> Debian's
`prometheus` (1 s scrape and evaluation, the repository's rules with `for` shortened) ->
`prometheus-alertmanager` (the repository's routes and templates) -> the local Slack and
SMTP servers. The daemon itself has no Slack or email configured, so whatever arrives there
came through Prometheus and Alertmanager."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.smtp import FakeSmtp
from tests.integration.daemon.helpers import env_for, terminate
from tests.integration.e2e_alerting.stack import (
    AlertmanagerSlack,
    Server,
    get_json,
    relay_login_prompts,
    start_alerting,
)

pytestmark = pytest.mark.usefixtures("clean_env")
SMTP_USER, SMTP_PASSWORD = "tradewarden-alerts", "e2e-smtp-CANARY-pw"  # noqa: S105 - fixture
DEADLINE = 120.0  # a busy 2-core CI box; the chain normally takes a few seconds


def wait_for(check: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def start_daemon(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """`tradewarden run --follow` on the shipped scenario: trend-btc trips consecutive_losses
    (which stops every bot) within a second or two, then the daemon idles with the trip
    held (sticky)."""
    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tradewarden.cli", "run", "--follow", "--no-console"],
            env=env_for(tmp_path / "state"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, log


def metrics_port(proc: subprocess.Popen[bytes], log: Path) -> int:
    def ready() -> int | None:
        assert proc.poll() is None, log.read_text()
        for line in log.read_text().splitlines():
            if '"daemon ready"' in line:
                return int(json.loads(line)["metrics_port"])
        return None

    return int(wait_for(ready, "the daemon to be ready", 60))


def test_breaker_trip_reaches_slack_and_email_through_prometheus_and_alertmanager(
    tmp_path: Path,
) -> None:
    servers: list[Server] = []
    proc, log = start_daemon(tmp_path)
    try:
        with (
            relay_login_prompts(),
            AlertmanagerSlack() as slack,
            FakeSmtp(tls="starttls", auth=(SMTP_USER, SMTP_PASSWORD)) as smtp,
        ):
            target = f"127.0.0.1:{metrics_port(proc, log)}"
            _, prom = start_alerting(tmp_path, target, slack, smtp, SMTP_PASSWORD, servers)

            def breaker_in_slack() -> list[str]:
                return [
                    " ".join(m.texts())
                    for m in slack.webhook_messages()
                    if "BreakerTripped" in " ".join(m.texts())
                ]

            def breaker_mail() -> list[Any]:
                return [m for m in smtp.messages if "BreakerTripped" in str(m.message["Subject"])]

            texts = wait_for(breaker_in_slack, "BreakerTripped in Slack (via Alertmanager)")
            mails = wait_for(breaker_mail, "BreakerTripped by email (via Alertmanager)")
            firing = get_json(prom.url + "/api/v1/alerts")["data"]["alerts"]
            # the BreakerTripped message's attachments (other alerts, e.g. a warning about
            # the halted state, may reach Slack first)
            attachments = next(
                m.payload["attachments"]
                for m in slack.webhook_messages()
                if "BreakerTripped" in " ".join(m.texts())
            )
    finally:
        for s in reversed(servers):
            s.stop()
        terminate(proc)
    assert proc.returncode == 0, log.read_text()[-3000:]
    text = texts[0]
    assert "Breaker consecutive_losses tripped on trend-" in text
    assert "runbooks/breaker-tripped.md" in text and "tradewarden diagnose" in text
    assert "[FIRING:1] BreakerTripped (critical)" in text
    assert any(a.get("color") == "danger" for a in attachments)
    subject = str(mails[0].message["Subject"])
    assert subject.startswith("[FIRING] critical: BreakerTripped on trend-")
    assert subject.endswith(f"({target}) - tradewarden")
    assert mails[0].authenticated_as == SMTP_USER and mails[0].tls
    assert mails[0].message["To"] == "oncall@example.org"
    names = {(a["labels"]["alertname"], a["state"]) for a in firing}
    assert ("BreakerTripped", "firing") in names
    bots = {a["labels"].get("bot") for a in firing if a["labels"]["alertname"] == "BreakerTripped"}
    assert bots == {"trend-btc"}  # its trip stopped trend-eth before it could trip too
