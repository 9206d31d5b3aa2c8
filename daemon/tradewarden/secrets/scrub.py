"""The process-wide log scrubber: every registered secret value becomes ``***`` in logs.

`Secret` already renders as ``***``; this catches the value when it travels as a plain
string (an exception message from a library, a request body in a DEBUG line, an ``extra``
field). Sources register every value they load, before it is used.

    from tradewarden.secrets import scrub
    scrub.install()          # after logging is configured (setup_logging)
    scrub.register(secret)   # Secret or str; sources do this themselves

Two layers, so nothing depends on which handler is attached when:

- a log-record factory scrubs the message, its args and any traceback as each record is
  made (every logger, every handler, also handlers added later such as pytest's caplog);
  the traceback is formatted, scrubbed and kept as ``exc_text`` (``exc_info`` is cleared
  so no formatter can render the raw exception again);
- a `ScrubFilter` on the root handlers scrubs what is attached after the record is made
  (``extra=`` fields) and copies the scrubbed traceback to ``record.exc`` for the JSON
  formatter of `tradewarden.core.logs`.

Also redacted: anything after ``SecretString``/``SecretBinary`` in a record (botocore logs
Secrets Manager request and response bodies at DEBUG before our code sees the value).
Matching is literal: values are registered with their JSON-escaped and URL-quoted forms.
Values shorter than 4 characters are not registered (they would blank ordinary words).
"""

from __future__ import annotations

import json
import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

from tradewarden.secrets.value import REDACTED, Secret

MIN_LEN = 4
_AWS_MARKERS = ("SecretString", "SecretBinary")
_STD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class SecretRegistry:
    """A thread-safe set of secret strings and the scrubbing of text against it."""

    def __init__(self) -> None:
        self._values: frozenset[str] = frozenset()
        self._ordered: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def register(self, secret: Secret | str | None) -> None:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if not value or len(value) < MIN_LEN:
            return
        forms = {value, quote(value, safe=""), quote_plus(value)}
        once = json.dumps(value)[1:-1]
        forms |= {once, json.dumps(once)[1:-1]}
        forms = {f for f in forms if len(f) >= MIN_LEN}
        with self._lock:
            if forms <= self._values:
                return
            self._values = self._values | forms
            self._ordered = tuple(sorted(self._values, key=len, reverse=True))

    def __len__(self) -> int:
        return len(self._values)

    def scrub(self, text: str) -> str:
        for value in self._ordered:  # longest first, so a value inside another goes too
            if value in text:
                text = text.replace(value, REDACTED)
        for marker in _AWS_MARKERS:
            at = text.find(marker)
            if at >= 0:
                text = text[: at + len(marker)] + ": " + REDACTED + " (redacted)"
        return text

    def scrub_value(self, value: Any) -> Any:
        """Scrub strings inside `value` (str, Secret, dict, list, tuple); others unchanged
        unless their text holds a secret, in which case they become scrubbed text."""
        if isinstance(value, Secret):
            return REDACTED
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {self.scrub_value(k): self.scrub_value(v) for k, v in value.items()}
        if type(value) in (list, tuple, set, frozenset):
            return type(value)(self.scrub_value(v) for v in value)
        if value is None or isinstance(value, bool | int | float):
            return value
        try:
            text = str(value)
        except Exception:  # noqa: BLE001 - an unprintable object carries no text to leak
            return value
        clean = self.scrub(text)
        return value if clean == text else clean

    def clear(self) -> None:
        """Forget every value (tests only)."""
        with self._lock:
            self._values = frozenset()
            self._ordered = ()


REGISTRY = SecretRegistry()


def register(secret: Secret | str | None) -> None:
    """Scrub this value (and its encodings) from every log record from now on."""
    REGISTRY.register(secret)


def scrub(text: str) -> str:
    """`text` with every registered secret replaced by ``***``."""
    return REGISTRY.scrub(text)


def _format_exc(record: logging.LogRecord) -> str | None:
    if not record.exc_info or record.exc_info == (None, None, None):
        return record.exc_text
    try:
        return "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
    except Exception:  # noqa: BLE001 - never let logging fail on a strange exception
        return f"{record.exc_info[0]!r} (traceback not printable)"


def scrub_record(record: logging.LogRecord, registry: SecretRegistry = REGISTRY) -> None:
    """Scrub message, args, traceback and stack of `record` in place (idempotent)."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a malformed record is still scrubbed, not dropped
        message = f"{record.msg!s} {registry.scrub_value(record.args)!s}"
    record.msg = registry.scrub(message)
    record.args = None
    text = _format_exc(record)
    record.exc_info = None
    record.exc_text = registry.scrub(text) if text else None
    if record.stack_info:
        record.stack_info = registry.scrub(record.stack_info)


class ScrubFilter(logging.Filter):
    """Scrubs a whole record, ``extra=`` fields included. Attach to handlers."""

    def __init__(self, registry: SecretRegistry = REGISTRY) -> None:
        super().__init__()
        self.registry = registry

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record, self.registry)
        for key, value in list(record.__dict__.items()):
            if key in _STD_ATTRS or key.startswith("_"):
                continue
            record.__dict__[key] = self.registry.scrub_value(value)
        if record.exc_text:
            record.exc = record.exc_text
        return True


@dataclass
class _Installed:
    """What `install` put in place: the record factory, the one it wraps, the filter."""

    factory: Callable[..., logging.LogRecord] | None = None
    previous: Callable[..., logging.LogRecord] | None = None
    filter: ScrubFilter | None = None


_state = _Installed()
_install_lock = threading.Lock()


def install(logger: logging.Logger | None = None) -> ScrubFilter:
    """Scrub every record of the process (idempotent). Call after logging is configured;
    handlers attached to the root later still get message/args/traceback scrubbed."""
    root = logger or logging.getLogger()
    with _install_lock:
        if _state.factory is None or _state.filter is None:
            previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                record = previous(*args, **kwargs)
                scrub_record(record)
                return record

            logging.setLogRecordFactory(factory)
            _state.factory, _state.previous = factory, previous
            _state.filter = ScrubFilter()
        flt = _state.filter
        for handler in root.handlers:
            if flt not in handler.filters:
                handler.addFilter(flt)
        return flt


def uninstall(logger: logging.Logger | None = None) -> None:
    """Undo `install` (tests only)."""
    root = logger or logging.getLogger()
    with _install_lock:
        factory, flt = _state.factory, _state.filter
        if factory is None:
            return
        if logging.getLogRecordFactory() is factory and _state.previous is not None:
            logging.setLogRecordFactory(_state.previous)
        for handler in root.handlers:
            if flt is not None and flt in handler.filters:
                handler.removeFilter(flt)
        _state.factory = _state.previous = _state.filter = None
