"""Exceptions of the Binance gateway. All are `BrokerError`s, so callers that only know the
`Broker` protocol still handle them; the subclasses say what the daemon should do next.

No message ever carries a key, a secret or a signed query string.
"""

from __future__ import annotations

from enum import StrEnum

from tradewarden.core.errors import BrokerError, OutcomeUnknownError, RefusedLocallyError

__all__ = [
    "AuthError",
    "BrokerError",
    "ExchangeUnavailableError",
    "FilterReject",
    "FilterRejectedError",
    "IntentMissingError",
    "OutcomeUnknownError",
    "RateLimitedError",
    "TransportError",
]


class FilterReject(StrEnum):
    """Why an order was refused locally, before any request (exchangeInfo filters)."""

    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    NOT_TRADING = "NOT_TRADING"
    NO_REFERENCE_PRICE = "NO_REFERENCE_PRICE"
    MIN_QTY = "MIN_QTY"
    MAX_QTY = "MAX_QTY"
    MIN_PRICE = "MIN_PRICE"
    MAX_PRICE = "MAX_PRICE"
    MIN_NOTIONAL = "MIN_NOTIONAL"
    MAX_NOTIONAL = "MAX_NOTIONAL"
    PERCENT_PRICE = "PERCENT_PRICE"  # futures: a LIMIT price too far from the mark price


class FilterRejectedError(RefusedLocallyError):
    """The order breaks a symbol filter; nothing was sent (Binance would answer -1013)."""

    def __init__(self, reason: FilterReject, detail: str) -> None:
        super().__init__(f"{reason}: {detail}", code=-1013)
        self.reason = reason


class IntentMissingError(RefusedLocallyError):
    """`submit` was called for a client order id with no PENDING intent in the store.

    Fail closed: an order that is not recorded first is never sent."""


class RateLimitedError(BrokerError):
    """429/418 (or a local pause still running): nothing more is sent until `retry_after`."""

    def __init__(self, message: str, code: int | None, retry_after: float) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class ExchangeUnavailableError(OutcomeUnknownError):
    """Maintenance or service unavailable (-1016 / 503): place no new orders, retry later.

    An `OutcomeUnknownError`: Binance documents every 5xx as "execution status UNKNOWN"
    (rest-api.md), so an order placement answered this way is resolved by query."""


class AuthError(BrokerError):
    """-2014 / -2015 / -1022: bad key, permissions, IP or signature. `on_auth_error` ran."""


class TransportError(OutcomeUnknownError):
    """No usable answer (timeout, dropped connection, 5xx, unreadable body).

    For a request that changes state the outcome is unknown and must be resolved by a query.
    """

    def __init__(self, message: str, code: int | None = None, status: int | None = None) -> None:
        super().__init__(message, code=code)
        self.status = status
