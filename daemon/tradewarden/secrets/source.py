"""The interface every secret source implements (AWS Secrets Manager, Fernet file, env)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from tradewarden.core.config import SecretSource
from tradewarden.secrets.bundle import SecretBundle, SecretKind


@runtime_checkable
class Source(Protocol):
    """Reads secrets by id. `get` may serve a cached value; `invalidate` makes the next
    `get` ask the backing store again (after Binance rejected a key, for instance)."""

    kind: SecretSource

    def get(self, secret_id: str, kind: SecretKind = SecretKind.BINANCE) -> SecretBundle: ...

    def invalidate(self, secret_id: str | None = None) -> None: ...

    def describe(self) -> str:
        """Where the secrets live, for messages (never a value)."""
        ...


@runtime_checkable
class WritableSource(Source, Protocol):
    """A source the CLI can write to (Secrets Manager, the Fernet file)."""

    def exists(self, secret_id: str) -> bool: ...

    def put(
        self,
        secret_id: str,
        kind: SecretKind,
        payload: Mapping[str, str],
        *,
        like: str | None = None,
    ) -> tuple[str, str | None]:
        """Store a new current version; returns (new version, previous version or None).
        `like`: an existing secret whose protection (KMS key, tags, resource policy) a
        secret made at run time takes (Secrets Manager; the file source ignores it)."""
        ...
