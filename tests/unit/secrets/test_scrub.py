"""The log scrubber: registered values never reach a handler, in any part of a record."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from tradewarden.core.logs import JsonFormatter
from tradewarden.secrets import scrub
from tradewarden.secrets.value import Secret

KEY = "scrubtest-APIKEY-4f9a1c"
SECRET = 'scrubtest-SECRET-77e0b2/with+odd"chars'


@pytest.fixture()
def installed() -> Iterator[tuple[logging.Logger, io.StringIO, io.StringIO]]:
    """A JSON handler and a plain handler on the root, scrubber installed after them."""
    root = logging.getLogger()
    json_out, plain_out = io.StringIO(), io.StringIO()
    jh = logging.StreamHandler(json_out)
    jh.setFormatter(JsonFormatter())
    ph = logging.StreamHandler(plain_out)
    ph.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    old_level = root.level
    root.addHandler(jh)
    root.addHandler(ph)
    root.setLevel(logging.DEBUG)
    scrub.register(Secret(KEY))
    scrub.register(SECRET)
    scrub.install()
    try:
        yield logging.getLogger("tests.scrub"), json_out, plain_out
    finally:
        scrub.uninstall()
        root.removeHandler(jh)
        root.removeHandler(ph)
        root.setLevel(old_level)


def leaks(*texts: str) -> list[str]:
    return [t for t in texts if KEY in t or SECRET in t or "77e0b2" in t]


def test_registry_scrubs_values_and_their_encodings() -> None:
    reg = scrub.SecretRegistry()
    reg.register(Secret('p@ss "word"/x'))
    assert reg.scrub('login p@ss "word"/x') == "login ***"
    assert reg.scrub(json.dumps({"pw": 'p@ss "word"/x'})) == '{"pw": "***"}'
    assert reg.scrub("pw=p%40ss%20%22word%22%2Fx") == "pw=***"
    assert reg.scrub("pw=p%40ss+%22word%22%2Fx") == "pw=***"
    inner = json.dumps(json.dumps({"pw": 'p@ss "word"/x'}))
    assert "word" not in reg.scrub(inner)


def test_short_values_are_not_registered_and_none_is_ignored() -> None:
    reg = scrub.SecretRegistry()
    reg.register("abc")
    reg.register(None)
    reg.register("")
    assert len(reg) == 0
    assert reg.scrub("abc abcd") == "abc abcd"


def test_secrets_manager_bodies_are_cut_after_the_marker() -> None:
    reg = scrub.SecretRegistry()
    body = json.dumps({"ARN": "x", "SecretString": json.dumps({"api_key": "unregistered"})})
    line = f"Response body: {body.encode()!r}"
    out = reg.scrub(line)
    assert "unregistered" not in out
    assert out.startswith('Response body: b\'{"ARN": "x"') and "SecretString: ***" in out


def test_message_args_extra_and_secret_objects(installed) -> None:
    log, json_out, plain_out = installed
    log.info("key is " + KEY)
    log.info("pair %s / %s", KEY, SECRET)
    log.info("dict arg %(k)s", {"k": SECRET})
    log.info("secret object %s %r", Secret(KEY), Secret(SECRET))
    log.warning("with extras", extra={"detail": f"sent {KEY}", "nested": {"s": [SECRET]}})
    log.warning("secret in extra", extra={"cred": Secret(SECRET)})
    text_json, text_plain = json_out.getvalue(), plain_out.getvalue()
    assert leaks(text_json, text_plain) == []
    lines = [json.loads(x) for x in text_json.splitlines()]
    assert lines[1]["msg"] == "pair *** / ***"
    assert lines[4]["detail"] == "sent ***" and lines[4]["nested"] == {"s": ["***"]}
    assert lines[5]["cred"] == "***"


def test_exception_tracebacks_are_scrubbed(installed) -> None:
    log, json_out, plain_out = installed

    def inner() -> None:
        raise ValueError(f"bad key {KEY} with secret {SECRET}")

    try:
        try:
            inner()
        except ValueError as exc:
            raise RuntimeError(f"wrapped: {exc}") from exc
    except RuntimeError:
        log.exception("request failed")
    log.error("with stack", stack_info=True)
    text_json, text_plain = json_out.getvalue(), plain_out.getvalue()
    assert leaks(text_json, text_plain) == []
    record = json.loads(text_json.splitlines()[0])
    assert "Traceback" in record["exc"]
    assert "ValueError: bad key *** with secret ***" in record["exc"]
    assert "RuntimeError: wrapped: bad key ***" in text_plain
    assert "in inner" in text_plain  # the traceback itself is kept


def test_handlers_added_after_install_still_get_scrubbed_records(
    installed, caplog: pytest.LogCaptureFixture
) -> None:
    log, _, _ = installed
    caplog.set_level(logging.DEBUG)
    log.debug("late %s", SECRET)
    try:
        raise KeyError(KEY)
    except KeyError:
        log.exception("late exc")
    assert leaks(caplog.text) == []
    assert "late ***" in caplog.text and "KeyError" in caplog.text


def test_values_registered_after_install_are_scrubbed_too(installed) -> None:
    log, json_out, _ = installed
    fresh = "scrubtest-registered-late-9c1d"
    scrub.register(fresh)
    log.info("now %s", fresh)
    assert fresh not in json_out.getvalue()


def test_uninstall_restores_the_record_factory() -> None:
    before = logging.getLogRecordFactory()
    scrub.install()
    assert logging.getLogRecordFactory() is not before
    scrub.uninstall()
    assert logging.getLogRecordFactory() is before


def test_a_malformed_record_is_scrubbed_not_dropped(installed) -> None:
    log, json_out, _ = installed
    log.info("two args %s %s", KEY)  # wrong arg count: logging would print an error
    out = json_out.getvalue()
    assert leaks(out) == [] and "two args" in out
