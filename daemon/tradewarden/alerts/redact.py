"""Scrubbing channel credentials out of error text and third-party log lines.

Channels register the strings that must never be shown (a Slack token, a webhook URL and
its path, an SMTP password and its AUTH encodings). Error text stored in the outbox or
logged goes through `scrub`; the logger handed to slack-sdk carries a filter that scrubs
every record it emits (slack-sdk logs request URLs, which for a webhook is the secret).
"""

from __future__ import annotations

import base64
import logging
import threading
import traceback
from urllib.parse import urlsplit

from tradewarden.secrets.value import REDACTED, Secret

MAX_ERROR_CHARS = 500


class Redactor:
    """A thread-safe set of secret strings and the scrubbing of text against it."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *values: str) -> None:
        with self._lock:
            # very short values would blank out ordinary words; tokens are never that short
            self._values.update(v for v in values if v and len(v) >= 4)

    def add_secret(self, secret: Secret | None) -> None:
        if secret is None:
            return
        value = secret.reveal()
        self.add(value, *_encodings(value))
        if value.startswith(("http://", "https://")):
            parts = urlsplit(value)
            if len(parts.path) > 1:
                self.add(parts.path, parts.path.lstrip("/"))

    def scrub(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text


def _encodings(value: str) -> list[str]:
    """Forms a password takes on the wire (AUTH PLAIN/LOGIN base64), so echoes are caught."""
    raw = value.encode()
    return [base64.b64encode(raw).decode(), base64.b64encode(b"\0" + raw).decode()]


def error_text(exc: BaseException, redactor: Redactor) -> str:
    """`Type: message`, scrubbed and shortened, for the outbox row and the log."""
    text = f"{type(exc).__name__}: {exc}"
    text = redactor.scrub(text)
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 3] + "..."
    return text


class ScrubFilter(logging.Filter):
    """Rewrites a record's message with the secrets replaced before any handler sees it."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is still scrubbed, not dropped
            message = str(record.msg)
        if record.exc_info:
            # tracebacks carry exception messages; fold them in scrubbed, never raw
            message += "\n" + "".join(traceback.format_exception(*record.exc_info))
            record.exc_info = None
            record.exc_text = None
        record.msg = self.redactor.scrub(message)
        record.args = None
        return True


# One redactor shared by every channel of the process; the slack-sdk logger scrubs with it.
GLOBAL_REDACTOR = Redactor()
SDK_LOGGER = logging.getLogger("tradewarden.alerts.sdk")
SDK_LOGGER.addFilter(ScrubFilter(GLOBAL_REDACTOR))
