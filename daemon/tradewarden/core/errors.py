"""The errors every layer shares: a broker (paper or Binance) refused or failed a request.

`tradewarden.trading.broker` (the broker interface) exports them too; they live here so
that a layer below trading (a secret source whose failure must stop an order: see
`tradewarden.secrets.errors.SecretUnavailableError`) can raise one.
"""

from __future__ import annotations


class BrokerError(Exception):
    """The broker refused or failed a request; `code` carries the exchange code if any."""

    counted = False  # already counted as a failed request (`ExchangeClient.call`)

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class OutcomeUnknownError(BrokerError):
    """The request may or may not have reached the exchange (timeout, 5xx, dropped link).

    The caller must resolve it by querying the client order id, never by resending.
    """


class RefusedLocallyError(BrokerError):
    """Refused before any request left the process: a `code` it carries is the one Binance
    would have answered, not an answer of the exchange."""
