"""What the risk engine persists, as it needs it: its breakers' state, trips and halts.

The engine decides without I/O of its own: it is handed an object with these methods (the
daemon's SQLite store, `tradewarden.state.store.Store`) and never imports the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from tradewarden.state.keys import KeyName


class Row(Protocol):
    """A persisted trip or halt, read by column name."""

    def __getitem__(self, key: str) -> Any: ...

    def keys(self) -> list[str]: ...


class RiskStore(Protocol):
    def get(self, key: KeyName, default: Any = None) -> Any: ...

    def put(self, key: KeyName, value: Any) -> None: ...

    def trip(self, breaker: str, bot: str, value: float, threshold: float, reason: str) -> None:
        """Record a breaker trip (breaker, bot) with the reading that tripped it."""
        ...

    def tripped(self) -> Sequence[Row]:
        """The trips in force, oldest first."""
        ...

    def add_halt(self, state: str, reason: str, actor: str, kind: str) -> int: ...

    def active_halts(self) -> Sequence[Row]: ...

    def clear_trips(
        self,
        actor: str,
        reason: str,
        trips: list[tuple[str, str, float]],
        halts: list[int] = ...,
        *,
        asked_at: float,
        extra_cleared: list[str] = ...,
        scope: dict[str, Any] | None = None,
    ) -> list[str]:
        """The human reset, in one transaction; returns what it cleared."""
        ...
