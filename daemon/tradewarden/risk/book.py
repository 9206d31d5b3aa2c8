"""The read-only face of the risk engine's in-memory book.

The engine keeps a mutable `BookView` (open orders, free balances, positions, recent
submits, symbols blocked by an order of unknown outcome) for its pre-trade checks; every
other module sees it through `ReadOnlyBook` and changes it only through the engine's
methods (`RiskEngine.set_balances`, `set_position`, `note_order_sent`, `order_opened`,
`orders_closed`, `set_open_orders`, `block_symbol`, `unblock_symbols`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from tradewarden.risk.checks import BookView


class ReadOnlyBook:
    """A live, read-only view of a `BookView`: no attribute can be set and the mappings
    and sets it hands out cannot be changed."""

    __slots__ = ("_book",)
    _book: BookView

    def __init__(self, book: BookView) -> None:
        object.__setattr__(self, "_book", book)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"the risk book is read-only: use the engine's methods ({name})")

    @property
    def open_orders(self) -> int:
        return self._book.open_orders

    @property
    def free(self) -> Mapping[str, float]:
        return MappingProxyType(self._book.free)

    @property
    def positions(self) -> Mapping[tuple[str, str], float]:
        return MappingProxyType(self._book.positions)

    @property
    def recent_orders(self) -> tuple[float, ...]:
        return tuple(self._book.recent_orders)

    @property
    def unknown_symbols(self) -> frozenset[str]:
        return frozenset(self._book.unknown_symbols)
