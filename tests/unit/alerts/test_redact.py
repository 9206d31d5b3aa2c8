from __future__ import annotations

import base64
import logging

import pytest

from tradewarden.alerts.redact import MAX_ERROR_CHARS, Redactor, ScrubFilter, error_text
from tradewarden.secrets.value import Secret

HOOK = "https://hooks.slack.com/services/T0CANARY/B0CANARY/canaryCANARYcanary"


def test_webhook_url_and_its_path_are_scrubbed() -> None:
    r = Redactor()
    r.add_secret(Secret(HOOK))
    assert r.scrub(f"POST {HOOK} failed") == "POST *** failed"
    assert "canaryCANARY" not in r.scrub("path /services/T0CANARY/B0CANARY/canaryCANARYcanary")


def test_password_wire_encodings_are_scrubbed() -> None:
    r = Redactor()
    r.add_secret(Secret("hunter2-canary"))
    plain = base64.b64encode(b"\0hunter2-canary").decode()
    assert "hunter2" not in r.scrub("AUTH PLAIN " + plain)
    assert r.scrub(base64.b64encode(b"hunter2-canary").decode()) == "***"


def test_short_values_are_not_registered() -> None:
    r = Redactor()
    r.add("ab")
    assert r.scrub("ab abc") == "ab abc"


def test_error_text_is_scrubbed_and_bounded() -> None:
    r = Redactor()
    r.add("test-slack-canary-token")
    exc = RuntimeError("bad token test-slack-canary-token " + "x" * 1000)
    text = error_text(exc, r)
    assert text.startswith("RuntimeError: bad token ***")
    assert len(text) == MAX_ERROR_CHARS


def test_log_filter_scrubs_args_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    r = Redactor()
    r.add("test-slack-canary-token")
    logger = logging.getLogger("tests.redact.filter")
    logger.addFilter(ScrubFilter(r))
    caplog.set_level(logging.DEBUG, logger="tests.redact.filter")
    logger.info("sending with %s", "test-slack-canary-token")
    try:
        raise ValueError("test-slack-canary-token rejected")
    except ValueError:
        logger.exception("failed")
    assert "test-slack-canary-token" not in caplog.text
    assert caplog.records[0].getMessage() == "sending with ***"
    assert "ValueError: *** rejected" in caplog.records[1].getMessage()
