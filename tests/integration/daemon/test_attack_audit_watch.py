"""Adversarial review (issue 17): the running daemon's periodic audit verification failing
(an audit file that cannot be read) is a system critical error: the real daemon HALTs and
pages, instead of logging a warning and trading on (the old behaviour)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.builders import alert_env, flat_prices
from tests.fakes.slack.server import FakeSlack
from tests.fakes.smtp import FakeSmtp
from tests.integration.daemon.helpers import start, status, terminate, wait_for

pytestmark = pytest.mark.usefixtures("clean_env")
TOKEN = "test-slack-attack-audit-watch"  # noqa: S105 - a fake Slack's token


def test_attack_unreadable_audit_file_halts_the_running_daemon(
    tmp_path: Path, stand_ins: tuple[FakeSlack, FakeSmtp]
) -> None:
    slack, smtp = stand_ins
    state = tmp_path / "state"
    env = {
        **alert_env(slack, smtp, TOKEN),
        "TRADEWARDEN_SCENARIO": str(flat_prices(tmp_path / "1h.csv", 1)),
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
