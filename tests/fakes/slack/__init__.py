"""A local Slack-compatible HTTP server for tests and the demo (see `server`)."""

from tests.fakes.slack.server import (
    DEFAULT_TOKEN,
    DEFAULT_WEBHOOK_PATH,
    FakeSlack,
    Recorded,
    running_fake_slack,
)

__all__ = ["DEFAULT_TOKEN", "DEFAULT_WEBHOOK_PATH", "FakeSlack", "Recorded", "running_fake_slack"]
