"""Adversarial review (issue 17): the running daemon's periodic audit verification failing
(an audit file that cannot be read) is a system critical error: the real daemon HALTs and
pages, instead of logging a warning and trading on (the old behaviour)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.slack.server import FakeSlack
from tests.fakes.smtp import FakeSmtp
from tests.integration.daemon.helpers import start, status, terminate, wait_for
from tests.integration.daemon.test_halt_and_emergency_alerts import flat_hours

pytestmark = pytest.mark.usefixtures("clean_env")
TOKEN = "test-slack-attack-audit-watch"  # noqa: S105 - a fake Slack's token


def test_attack_unreadable_audit_file_halts_the_running_daemon(
    tmp_path: Path, stand_ins: tuple[FakeSlack, FakeSmtp]
) -> None:
    slack, smtp = stand_ins
    state = tmp_path / "state"
    env = {
        "TRADEWARDEN_SLACK_TOKEN": TOKEN,
        "TRADEWARDEN_SLACK_BASE_URL": slack.api_url,
        "TRADEWARDEN_SMTP_HOST": smtp.host,
        "TRADEWARDEN_SMTP_PORT": str(smtp.port),
        "TRADEWARDEN_SMTP_TLS": "none",
        "TRADEWARDEN_EMAIL_TO": "oncall@example.org",
        "TRADEWARDEN_SCENARIO": str(flat_hours(tmp_path / "1h.csv", 1)),
        "TRADEWARDEN_AUDIT_VERIFY_SECONDS": "1",
    }
    proc = start(state, "run", "--follow", "--no-console", **env)
    try:
        assert wait_for(lambda: status(state, **env).get("daemon_running") is True, 60)
        (state / "audit" / "audit-2000-01-01.jsonl").mkdir()  # an old day, unreadable
        assert wait_for(lambda: status(state, **env)["state"] == "halted", 30)
        assert wait_for(
            lambda: any("could not be verified" in str(m.message) for m in smtp.messages), 30
        )
    finally:
        terminate(proc)
    subjects = [str(m.message["Subject"]) for m in smtp.messages]
    assert any("EMERGENCY STOP" in s for s in subjects), subjects
