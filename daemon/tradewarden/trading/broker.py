"""The interface every broker (paper, Binance testnet/live) implements.

Nothing calls a broker's ``submit`` directly: bots get a
:class:`tradewarden.trading.order_gate.OrderGate`, which runs the risk checks and records the intent
in SQLite before it hands the request to the broker.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

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
