"""Alert email against a real SMTP server (aiosmtpd): STARTTLS + AUTH, SSL, refusals."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.fakes.smtp import FakeSmtp
from tests.integration.alerts.conftest import SMTP_PASSWORD, SMTP_USER
from tests.integration.alerts.helpers import email_ids
from tests.unit.alerts.doubles import FakeClock
from tradewarden.alerts import catalogue as cat
from tradewarden.alerts.backoff import Backoff
from tradewarden.alerts.dispatcher import Dispatcher
from tradewarden.alerts.email import EmailChannel
from tradewarden.alerts.outbox import Outbox
from tradewarden.secrets.value import Secret

RCPTS = ["oncall@example.org", "desk@example.org"]


def channel(smtp: FakeSmtp, password: str = SMTP_PASSWORD, **kw: object) -> EmailChannel:
    return EmailChannel(
        smtp.host,
        smtp.port,
        "tradewarden@alerts.example",
        RCPTS,
        tls=smtp.tls,
        username=SMTP_USER if smtp.auth else None,
        password=Secret(password) if smtp.auth else None,
        ssl_context=smtp.client_context(),
        **kw,  # type: ignore[arg-type]
    )


def dispatcher(tmp_path: Path, ch: EmailChannel, clock: FakeClock) -> Dispatcher:
    return Dispatcher(
        Outbox(tmp_path / "tw.sqlite3", clock=clock), [ch], backoff=Backoff(2.0, 60.0)
    )


def trip() -> object:
    return cat.breaker_tripped("daily_loss", "trend-btc", 0.052, 0.05, orders_cancelled=["tw-1"])


def test_starttls_and_auth_deliver_a_two_part_message(tmp_path: Path, smtp: FakeSmtp) -> None:
    d = dispatcher(tmp_path, channel(smtp), FakeClock())
    rid = d.enqueue(trip()).row_ids["email"]  # type: ignore[arg-type]
    assert d.deliver_due().delivered == {"email": 1}
    (got,) = smtp.messages
    assert got.tls and got.authenticated_as == SMTP_USER
    assert got.mail_from == "tradewarden@alerts.example" and list(got.rcpt_tos) == RCPTS
    msg = got.message
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Message-ID"] == f"<{rid}.tradewarden@alerts.example>"
    assert "5.20% vs threshold 5.00%" in msg.get_body(("plain",)).get_content()
    assert "breaker-tripped.md" in msg.get_body(("html",)).get_content()


# aiosmtpd cannot tell that an implicit-TLS connection is encrypted, and warns about AUTH
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls_works(tmp_path: Path) -> None:
    with FakeSmtp(tls="ssl", auth=(SMTP_USER, SMTP_PASSWORD)) as server:
        d = dispatcher(tmp_path, channel(server), FakeClock())
        rid = d.enqueue(trip()).row_ids["email"]  # type: ignore[arg-type]
        d.deliver_due()
        assert email_ids(server) == {rid: 1}
        assert server.messages[0].tls and server.messages[0].authenticated_as == SMTP_USER


def test_refusals_are_retried_and_the_retry_is_recognisable(
    tmp_path: Path, smtp: FakeSmtp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tradewarden.alerts")
    clock = FakeClock()
    d = dispatcher(tmp_path, channel(smtp), clock)
    rids = [d.enqueue(cat.low_balance(a, 1.0, 100.0)).row_ids["email"] for a in ("USDT", "BTC")]
    smtp.refuse_next(2, 451)
    d.deliver_due()
    clock.advance(61)
    d.deliver_due()
    smtp.refuse_next(1, 554)
    clock.advance(61)
    d.deliver_due()
    assert smtp.messages == [] and len(smtp.refused) == 3
    errors = [r.error for r in caplog.records if r.getMessage() == "alert delivery failed"]
    assert [e.split(" ")[:2] for e in errors] == [
        ["SMTPDataError:", "(451,"],
        ["SMTPDataError:", "(451,"],
        ["SMTPDataError:", "(554,"],
    ]
    clock.advance(61)
    d.deliver_due()
    clock.advance(3600)
    d.deliver_due()
    assert email_ids(smtp) == {r: 1 for r in rids}
    # every attempt of a row carried the same Message-ID
    final = {m.message["X-Tradewarden-Outbox-Id"]: m.message["Message-ID"] for m in smtp.messages}
    for refused in smtp.refused:
        assert refused["Message-ID"] == final[refused["X-Tradewarden-Outbox-Id"]]


def test_a_wrong_password_fails_without_showing_it(tmp_path: Path, smtp: FakeSmtp) -> None:
    d = dispatcher(tmp_path, channel(smtp, password="wrong-CANARY-pw"), FakeClock())
    d.enqueue(trip())  # type: ignore[arg-type]
    assert d.deliver_due().failed == {"email": 1}
    (row,) = d.outbox.rows()
    assert row.last_error is not None and row.last_error.startswith("SMTPAuthenticationError")
    assert "wrong-CANARY-pw" not in row.last_error
    assert smtp.auth_failures >= 1 and smtp.messages == []


def test_credentials_are_never_sent_in_clear_to_a_remote_host() -> None:
    with pytest.raises(ValueError, match="unencrypted"):
        EmailChannel(
            "smtp.example.org",
            25,
            "a@b.c",
            ["x@y.z"],
            tls="none",
            username="u",
            password=Secret("p4ss-word"),
        )
    with pytest.raises(TypeError):
        EmailChannel("localhost", 25, "a@b.c", ["x@y.z"], username="u", password="plain")  # type: ignore[arg-type]
