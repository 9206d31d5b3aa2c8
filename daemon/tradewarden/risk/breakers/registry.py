"""The breaker registry: each breaker module registers its class; the engine builds from it.

The engine never names a breaker class: it asks the registry for every registered breaker
(in `order`, which is also the order they see an observation in and are listed in) and
builds each from the settings (`Breaker.from_settings`).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import TypeVar

from tradewarden.core.config import Settings
from tradewarden.risk.breakers.base import Breaker

B = TypeVar("B", bound=type[Breaker])


class Registry:
    def __init__(self) -> None:
        self._classes: dict[str, tuple[int, type[Breaker]]] = {}

    def register(self, *, order: int) -> Callable[[B], B]:
        """Class decorator: `@register(order=40)` on a `Breaker` subclass with a `name`."""

        def add(cls: B) -> B:
            if not cls.name:
                raise TypeError(f"{cls.__qualname__}: a registered breaker needs a name")
            known = self._classes.get(cls.name)
            if known is not None and known[1] is not cls:
                raise ValueError(f"breaker {cls.name!r} registered twice")
            self._classes[cls.name] = (order, cls)
            return cls

        return add

    def classes(self) -> list[type[Breaker]]:
        return [cls for _, cls in sorted(self._classes.values(), key=lambda oc: oc[0])]

    def build(self, settings: Settings) -> list[Breaker]:
        return [cls.from_settings(settings) for cls in self.classes()]

    @staticmethod
    def discover(package: str) -> None:
        """Import every module of `package` (each registers its breakers)."""
        pkg = importlib.import_module(package)
        for mod in pkgutil.iter_modules(pkg.__path__):
            importlib.import_module(f"{package}.{mod.name}")


BREAKERS = Registry()
register = BREAKERS.register
