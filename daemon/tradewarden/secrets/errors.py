"""Errors of the secret sources. Every message names the secret id (or the setting), never a
value; `secret_id` carries the id for callers that want it separately.

- `SecretConfigError`: the source itself is misconfigured (file mode, malformed Fernet key,
  no AWS region, env source in prod). Fix the configuration.
- `SecretNotFoundError`: no such secret (or it is scheduled for deletion).
- `SecretFormatError`: the secret exists but is not the expected JSON shape, or a value is
  empty.
- `SecretAccessError`: the reader may not read it (IAM / KMS denied, decryption failed,
  wrong Fernet key).
- `SecretUnavailableError`: the source could not be asked (unreachable, throttled, 5xx, no
  AWS credentials found yet or expired ones: the instance role's come back) and
  no cached value is usable any more. It is also a `BrokerError`, so when the gateway's
  credential provider raises it mid-request the gateway fails closed (nothing is sent, the
  order is REJECTED); the daemon loop should catch it first and HALT.
"""

from __future__ import annotations

from tradewarden.core.errors import BrokerError


class SecretError(Exception):
    """A secret could not be provided. The message never contains a secret value."""

    def __init__(self, message: str, secret_id: str | None = None) -> None:
        super().__init__(message)
        self.secret_id = secret_id


class SecretConfigError(SecretError):
    """The secret source is misconfigured; the message names the setting."""


class SecretNotFoundError(SecretError):
    """The secret does not exist in the source."""


class SecretFormatError(SecretError):
    """The secret exists but has the wrong shape (not JSON, missing or empty field)."""


class SecretAccessError(SecretError):
    """Reading or decrypting the secret was denied (IAM, KMS, wrong Fernet key)."""


class SecretUnavailableError(SecretError, BrokerError):
    """The source cannot be reached and no cached value may be used: stop trading."""

    def __init__(self, message: str, secret_id: str | None = None) -> None:
        SecretError.__init__(self, message, secret_id)
        self.code = None
