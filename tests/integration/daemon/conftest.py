"""Shared stand-ins of the daemon tests: the local Slack server and an SMTP server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.slack.server import FakeSlack, running_fake_slack
from tests.fakes.smtp import FakeSmtp


@pytest.fixture()
def stand_ins(request: pytest.FixtureRequest) -> Iterator[tuple[FakeSlack, FakeSmtp]]:
    """A fake Slack (accepting the test module's `TOKEN`) and a plain SMTP server."""
    with (
        running_fake_slack(token=request.module.TOKEN) as slack,
        FakeSmtp(tls="none") as smtp,
    ):
        yield slack, smtp
