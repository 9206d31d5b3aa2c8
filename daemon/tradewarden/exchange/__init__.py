"""The Binance gateway: python-binance behind a process-wide rate limiter, server-time sync,
symbol filters, idempotent submits resolved by query, fill polling and reconciliation.

Paper mode uses `tradewarden.trading.paper_broker.PaperBroker`; testnet and live use
`BinanceBroker` with the base URL from the settings.
"""

from tradewarden.exchange.errors import (
    AuthError,
    ExchangeUnavailableError,
    FilterReject,
    FilterRejectedError,
    IntentMissingError,
    RateLimitedError,
    TransportError,
)
from tradewarden.exchange.gateway import BinanceBroker
from tradewarden.exchange.hooks import ExchangeMetrics, NullMetrics
from tradewarden.exchange.ratelimit import RateLimit, RateLimiter, process_limiter
from tradewarden.exchange.reconcile import BalanceMismatch, Reconciler, ReconcileReport
from tradewarden.exchange.timesync import TimeSync

__all__ = [
    "AuthError",
    "BalanceMismatch",
    "BinanceBroker",
    "ExchangeMetrics",
    "ExchangeUnavailableError",
    "FilterReject",
    "FilterRejectedError",
    "IntentMissingError",
    "NullMetrics",
    "RateLimit",
    "RateLimitedError",
    "RateLimiter",
    "ReconcileReport",
    "Reconciler",
    "TimeSync",
    "TransportError",
    "process_limiter",
]
