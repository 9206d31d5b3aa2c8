"""The interface every broker (paper, Binance testnet/live) implements.

Nothing calls a broker's ``submit`` directly: bots get a
:class:`tradewarden.trading.order_gate.OrderGate`, which runs the risk checks and records the intent
in SQLite before it hands the request to the broker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from tradewarden.core.errors import BrokerError, OutcomeUnknownError, RefusedLocallyError
from tradewarden.core.models import Fill, Order, OrderRequest

__all__ = ["Broker", "BrokerError", "OutcomeUnknownError", "RefusedLocallyError"]


@runtime_checkable
class Broker(Protocol):
    name: str

    def submit(self, req: OrderRequest) -> Order:
        """Place an order whose `client_order_id` is already recorded locally."""
        ...

    def cancel(self, symbol: str, client_order_id: str) -> Order: ...

    def cancel_all(self, symbol: str) -> list[Order]: ...

    def query(self, symbol: str, client_order_id: str) -> Order | None:
        """The order as the exchange knows it, or None if it never arrived."""
        ...

    def open_orders(self, symbol: str | None = None) -> list[Order]: ...

    def balances(self) -> dict[str, float]:
        """Free balance per asset."""
        ...

    def poll_fills(self) -> list[Fill]:
        """Fills that happened since the last call."""
        ...


class ServerClock(Protocol):
    """The exchange's clock as this process estimates it (`exchange.timesync.TimeSync`)."""

    def server_ms(self) -> float: ...


class AssetPair(Protocol):
    """The two assets of a symbol (`exchange.filters.SymbolFilters` has them)."""

    @property
    def base_asset(self) -> str: ...

    @property
    def quote_asset(self) -> str: ...


@runtime_checkable
class ExchangeBroker(Broker, Protocol):
    """A broker in front of a real exchange: what reconciliation (`exchange.reconcile`), the
    exchange loop (`runtime.exchange_loop`) and the live key check use besides the order
    calls of `Broker`.
    `exchange.gateway.BinanceBroker` implements it; the paper broker does not need to.

    The hook lists: `on_wait` is called while a request waits in the rate limiter,
    `on_progress` when a request ends, `before_send(req)` right before an order leaves (a
    `BrokerError` from it stops the order)."""

    on_wait: list[Callable[[], None]]
    on_progress: list[Callable[[], None]]
    before_send: list[Callable[[OrderRequest], None]]

    @property
    def timesync(self) -> ServerClock: ...

    def start(self) -> None:
        """Sync the clock and load the symbol filters; raises `BrokerError` if it cannot."""
        ...

    def sync_time(self) -> int: ...

    def load_exchange_info(self) -> None: ...

    def filters(self, symbol: str) -> AssetPair: ...

    def symbol_status(self, symbol: str) -> str | None:
        """TRADING, HALT, BREAK... as of the last exchange info; None if not loaded."""
        ...

    def in_flight(self) -> frozenset[str]:
        """Client order ids whose submit is running right now in this process."""
        ...

    def sent_at_ms(self, client_order_id: str) -> float | None:
        """When this process last sent that order (exchange clock, ms), if it did."""
        ...

    def total_balances(self) -> dict[str, float]:
        """Free + locked balance per asset."""
        ...

    def ticker_price(self, symbol: str) -> float: ...

    # the live key check (`live.key_permissions.check_broker_keys`) asks about its keys
    @property
    def key_roles(self) -> tuple[str, ...]:
        """The keys it signs with: ``("trade",)`` or ``("trade", "read")``."""
        ...

    def api_restrictions(self, key: str = "trade") -> dict[str, Any]: ...
