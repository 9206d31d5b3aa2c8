"""Small interfaces the gateway is given: credentials and (optional) metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from tradewarden.secrets.value import Secret

CredentialProvider = Callable[[], tuple[Secret, Secret]]
"""Returns (api_key, api_secret) as they are now; re-read after an auth error."""

AuthErrorHook = Callable[[int], None]
"""Called with the Binance code (-2014, -2015, -1022) so the provider refreshes the secret."""


class ExchangeMetrics(Protocol):
    def observe_latency(self, endpoint: str, seconds: float) -> None: ...

    def set_weight(self, used: int, limit: int) -> None: ...

    def count_response(self, code: int) -> None:
        """HTTP status of an answer; 0 when none came (timeout, dropped connection)."""
        ...

    def count_error(self, kind: str) -> None:
        """One failed request (`client.error_kind`): rate_limited, maintenance, exchange..."""
        ...


class NullMetrics:
    def observe_latency(self, endpoint: str, seconds: float) -> None:
        return None

    def set_weight(self, used: int, limit: int) -> None:
        return None

    def count_response(self, code: int) -> None:
        return None

    def count_error(self, kind: str) -> None:
        return None
