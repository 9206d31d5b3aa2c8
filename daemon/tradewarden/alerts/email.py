"""Alert email over SMTP (smtplib): STARTTLS, implicit TLS or plain, optional AUTH.

Each message is multipart/alternative (plain text + HTML). Its ``Message-ID`` is derived
from the outbox id, so a retried delivery carries the same id and mail systems and
humans can recognise the duplicate.
"""

from __future__ import annotations

import html
import logging
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate

from tradewarden.alerts import render
from tradewarden.alerts.model import Alert
from tradewarden.alerts.redact import GLOBAL_REDACTOR, Redactor
from tradewarden.core.net import is_loopback
from tradewarden.secrets.value import Secret

TLS_MODES = ("starttls", "ssl", "none")
DEFAULT_TIMEOUT = 10.0

log = logging.getLogger("tradewarden.alerts.email")


def message_id(outbox_id: str, sender: str) -> str:
    domain = sender.rsplit("@", 1)[-1] if "@" in sender else "tradewarden.local"
    return f"<{outbox_id or 'alert'}.tradewarden@{domain}>"


def subject(alert: Alert) -> str:
    return f"[tradewarden {render.label(alert)}] {alert.title}"


def html_body(alert: Alert, outbox_id: str = "") -> str:
    e = html.escape
    rows = "".join(
        f"<tr><th align='left'>{e(name)}</th><td>{e(text)}</td></tr>"
        for name, text in render.facts(alert) + render.details(alert)
    )
    parts = [
        "<!doctype html><html><body>",
        f"<h2 style='color:{render.colour(alert)}'>{e(render.label(alert))}: {e(alert.title)}</h2>",
    ]
    if alert.body:
        parts.append(f"<p>{e(alert.body)}</p>")
    if rows:
        parts.append(f"<table cellpadding='4'>{rows}</table>")
    if alert.reset_command:
        parts.append(f"<p>To reset after investigating:</p><pre>{e(alert.reset_command)}</pre>")
    if alert.runbook_url:
        url = e(alert.runbook_url, quote=True)
        parts.append(f"<p>Runbook: <a href='{url}'>{url}</a></p>")
    footer = f"Sent {render.timestamp(alert)} · dedup key {alert.dedup_key}"
    if outbox_id:
        footer += f" · tradewarden alert {outbox_id}"
    parts.append(f"<p style='color:#777;font-size:small'>{e(footer)}</p></body></html>")
    return "\n".join(parts)


def build_message(
    alert: Alert, sender: str, recipients: Sequence[str], outbox_id: str = ""
) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject(alert)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(alert.created_at, usegmt=True)
    msg["Message-ID"] = message_id(outbox_id, sender)
    msg["X-Tradewarden-Severity"] = alert.severity.value
    msg["X-Tradewarden-Dedup-Key"] = alert.dedup_key
    if outbox_id:
        msg["X-Tradewarden-Outbox-Id"] = outbox_id
    msg.set_content(render.plain_text(alert, outbox_id))
    msg.add_alternative(html_body(alert, outbox_id), subtype="html")
    return msg


class EmailChannel:
    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        *,
        tls: str = "starttls",
        username: str | None = None,
        password: Secret | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        redactor: Redactor = GLOBAL_REDACTOR,
    ) -> None:
        if tls not in TLS_MODES:
            raise ValueError(f"SMTP TLS mode must be one of {', '.join(TLS_MODES)}")
        if not recipients:
            raise ValueError("alert email needs at least one recipient")
        if password is not None and not isinstance(password, Secret):
            raise TypeError("the SMTP password must be a Secret")
        if password is not None and not username:
            raise ValueError("an SMTP password needs a username")
        if password is not None and tls == "none" and not is_loopback(host):
            raise ValueError("refusing to send SMTP credentials unencrypted to a remote host")
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = tuple(recipients)
        self.tls = tls
        self.username = username
        self._password = password
        self.ssl_context = ssl_context
        self.timeout = timeout
        redactor.add_secret(password)

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        if self.tls == "ssl":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._context()
            )
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.tls == "starttls":
            try:
                smtp.ehlo()
                smtp.starttls(context=self._context())
                smtp.ehlo()
            except BaseException:
                smtp.close()
                raise
        return smtp

    def send(self, alert: Alert, outbox_id: str = "") -> None:
        msg = build_message(alert, self.sender, self.recipients, outbox_id)
        smtp = self._connect()
        try:
            if self._password is not None:
                smtp.login(self.username or "", self._password.reveal())
            refused = smtp.send_message(msg, self.sender, list(self.recipients))
        finally:
            # the message is already accepted (or not): a failing QUIT changes nothing
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
        if refused:
            # the others took it: a retry would duplicate theirs, so this counts as delivered
            log.warning(
                "alert email refused for some recipients",
                extra={"refused": sorted(refused), "outbox_id": outbox_id},
            )
