from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.slack import FakeSlack, running_fake_slack
from tests.fakes.smtp import FakeSmtp

SMTP_USER = "tw-alerts"
SMTP_PASSWORD = "smtp-pw-CANARY-5c1e9b"  # noqa: S105 - a planted canary, not a credential
SLACK_TOKEN = "test-slack-CANARY-8d2f-4a61-token"  # noqa: S105 - a planted canary


@pytest.fixture()
def fake_slack() -> Iterator[FakeSlack]:
    with running_fake_slack(token=SLACK_TOKEN) as fake:
        yield fake


@pytest.fixture()
def smtp() -> Iterator[FakeSmtp]:
    with FakeSmtp(tls="starttls", auth=(SMTP_USER, SMTP_PASSWORD)) as server:
        yield server
