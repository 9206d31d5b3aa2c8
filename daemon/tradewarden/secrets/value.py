"""`Secret`: a value wrapper that never shows its content except through `reveal()`."""

from __future__ import annotations

import hashlib
from typing import Any, NoReturn

REDACTED = "***"


class Secret:
    """Holds a secret string. Every textual form is redacted; only `reveal()` gives the value.

    A short fingerprint (last 4 hex chars of SHA-256 of the value) may be shown so operators
    can tell two versions apart without seeing either.
    """

    __slots__ = ("_value", "_name")
    _value: str
    _name: str

    def __init__(self, value: str, name: str = "secret") -> None:
        if not isinstance(value, str):
            raise TypeError(f"secret {name!r} must be a string")
        object.__setattr__(self, "_value", value)
        object.__setattr__(self, "_name", name)

    def __setattr__(self, key: str, value: Any) -> NoReturn:
        raise AttributeError("Secret is immutable")

    @property
    def name(self) -> str:
        return self._name

    def reveal(self) -> str:
        """The plain value. Call only at the point of use (signing, SMTP login, ...)."""
        return self._value

    def fingerprint(self) -> str:
        return hashlib.sha256(self._value.encode()).hexdigest()[-4:]

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __str__(self) -> str:
        return REDACTED

    def __repr__(self) -> str:
        return f"Secret({self._name!r}, {REDACTED}, fp={self.fingerprint()})"

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __reduce__(self) -> NoReturn:
        raise TypeError("Secret values cannot be pickled")

    def __getstate__(self) -> NoReturn:
        raise TypeError("Secret values cannot be pickled")
