"""A real SMTP server for tests (aiosmtpd) that records what it accepts.

    with FakeSmtp(tls="starttls", auth=("alerts", "pw")) as smtp:
        ...  # send to smtp.host:smtp.port, trusting smtp.client_context()
        smtp.messages             # accepted messages (`Received`: envelope, message, auth, tls)
        smtp.refuse_next(2, 451)  # answer DATA with 451 (or 554, ...) for the next 2 messages
        smtp.refused              # the messages that were refused

TLS: ``"none"``, ``"starttls"`` (STARTTLS offered and required before AUTH/MAIL) or
``"ssl"`` (implicit TLS). The certificate is self-signed for 127.0.0.1/localhost,
generated with `cryptography` into a temporary directory; `client_context()` trusts it.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import socket
import ssl
import tempfile
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_self_signed_cert(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """Write ``cert.pem`` and ``key.pem`` for `host` (+ localhost) into `directory`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tradewarden test smtp")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(host))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    authenticated_as: str | None
    tls: bool


class _Handler:
    def __init__(self, owner: FakeSmtp) -> None:
        self.owner = owner

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        o = self.owner
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        with o._lock:
            o.data_calls += 1
            if o._refuse_remaining > 0:
                o._refuse_remaining -= 1
                o._refused.append(message)  # type: ignore[arg-type]
                code = o._refuse_code
                text = "4.3.0 try again later" if code < 500 else "5.7.1 message refused"
                return f"{code} {text}"
        auth = session.auth_data
        rec = Received(
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            message=message,  # type: ignore[arg-type]
            authenticated_as=auth.login.decode() if isinstance(auth, LoginPassword) else None,
            tls=o.tls == "ssl" or session.ssl is not None,
        )
        with o._lock:
            o._messages.append(rec)
        return "250 2.0.0 OK: queued"


class FakeSmtp:
    def __init__(
        self,
        *,
        tls: str = "none",
        auth: tuple[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
    ) -> None:
        if tls not in ("none", "starttls", "ssl"):
            raise ValueError("tls must be none, starttls or ssl")
        self.tls = tls
        self.auth = auth
        self.host = host
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._messages: list[Received] = []
        self._refused: list[EmailMessage] = []
        self._refuse_remaining = 0
        self._refuse_code = 451
        self.data_calls = 0
        self.auth_failures = 0
        self._tmp = tempfile.TemporaryDirectory(prefix="fake-smtp-")
        self.cert_path, self.key_path = make_self_signed_cert(Path(self._tmp.name), host)
        self._controller: Controller | None = None

    # --- TLS --------------------------------------------------------------------------------
    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert_path, self.key_path)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts this server's self-signed certificate."""
        return ssl.create_default_context(cafile=str(self.cert_path))

    # --- auth -------------------------------------------------------------------------------
    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            self.auth is not None
            and isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.auth[0]
            and auth_data.password.decode() == self.auth[1]
        )
        if not ok:
            with self._lock:
                self.auth_failures += 1
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    # --- faults and records -----------------------------------------------------------------
    def refuse_next(self, n: int, code: int = 451) -> None:
        with self._lock:
            self._refuse_remaining = n
            self._refuse_code = code

    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._messages)

    @property
    def refused(self) -> list[EmailMessage]:
        """Messages answered with a refusal (what the client tried to send)."""
        with self._lock:
            return list(self._refused)

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> FakeSmtp:
        kwargs: dict[str, Any] = {}
        if self.auth is not None:
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=True,
                # aiosmtpd only knows about STARTTLS; implicit TLS is encrypted from the start
                auth_require_tls=self.tls == "starttls",
            )
        if self.tls == "starttls":
            kwargs.update(tls_context=self.server_context(), require_starttls=True)
        self._controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            ssl_context=self.server_context() if self.tls == "ssl" else None,
            server_hostname=self.host,
            **kwargs,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        self._tmp.cleanup()

    def __enter__(self) -> FakeSmtp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
