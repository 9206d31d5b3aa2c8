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

from tradewarden.core.config import LIVE_PROFILE_BOUNDS, Settings
from tradewarden.risk.breakers.base import EQUITY, MARK, TRADE, Breaker

B = TypeVar("B", bound=type[Breaker])
KINDS = frozenset({TRADE, EQUITY, MARK})  # the observations the engine feeds breakers


class Registry:
    def __init__(self) -> None:
        self._classes: dict[str, tuple[int, type[Breaker]]] = {}

    def register(self, *, order: int) -> Callable[[B], B]:
        """Class decorator: `@register(order=40)` on a `Breaker` subclass with a `name`."""

        def add(cls: B) -> B:
            if not cls.name:
                raise TypeError(f"{cls.__qualname__}: a registered breaker needs a name")
            # refused at import (the daemon does not start) rather than silently off: a
            # breaker the engine never feeds never trips, and a threshold without a
            # live-profile band can be set to a never-tripping value in prod
            if not cls.observes or not cls.observes <= KINDS:
                raise TypeError(
                    f"{cls.__qualname__}: `observes` must name what it reads, some of"
                    f" {sorted(KINDS)} (got {sorted(cls.observes)})"
                )
            if cls.setting and cls.setting not in LIVE_PROFILE_BOUNDS:
                raise TypeError(
                    f"{cls.__qualname__}: its threshold {cls.setting} needs a band in"
                    " core.config.LIVE_PROFILE_BOUNDS (a safety limit prod cannot switch off)"
                )
            known = self._classes.get(cls.name)
            if known is not None and known[1] is not cls:
                raise ValueError(f"breaker {cls.name!r} registered twice")
            # the order breakers see an observation in decides which reason a mark that
            # trips two of them leaves: never left to the order files are imported in
            tie = [c.name for o, c in self._classes.values() if o == order and c is not cls]
            if tie:
                raise ValueError(f"breaker {cls.name!r}: order {order} is taken by {tie[0]!r}")
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
