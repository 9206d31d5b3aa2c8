"""Injected faults: what they do, which requests they hit and for how long.

A fault has a ``kind``, an optional ``path`` (exact, or a prefix when it ends in ``*``,
e.g. ``"/api/v3/order"`` or ``"/api/*"``), an optional ``method`` (``"POST"``...), a
``count`` (the next N matching requests; ``None`` = until cleared) and parameters:

==========================  ===================================================================
kind                        effect (parameters, defaults)
==========================  ===================================================================
``latency``                 wait ``ms`` (default 1000) before handling the request
``timeout_after_accept``    handle the request fully (an order IS booked), then hang ``ms``
                            (default 60000, longer than python-binance's 10 s) and close the
                            connection without answering (``then="respond"`` answers late);
                            ``queries="drop"``: from then on every request naming that order
                            (``origClientOrderId``) is dropped too, until faults are cleared
``error_after_accept``      handle the request fully (order booked), then answer ``status``
                            (500/502/503, default 503) instead; ``body`` overrides the text
``drop_connection``         close the socket without a response; nothing is handled/booked
``clock_skew``              the server's clock reads ``ms`` later (negative: earlier) for the
                            matching requests: timestamps, recvWindow checks, /time
``ban``                     answer HTTP 418, code -1003, ``Retry-After: retry_after``
                            (default 120 s); nothing is handled
``maintenance``             answer HTTP 503 code -1016 "This service is no longer available."
                            (``msg`` overrides, e.g. "Service unavailable"); nothing handled
``html_503_after_accept``   handle the request fully (an order IS booked), then answer HTTP 503
                            with an HTML "Service Temporarily Unavailable" page (not JSON)
``code_after_accept``       handle the request fully (order booked), then answer ``{"code":
                            code, "msg": ...}`` with ``code`` -1006 or -1007 (default -1007,
                            errors.md: "execution status unknown") and HTTP ``status`` (default
                            500; Binance does not document it: any 4xx/5xx is allowed)
``late_visible``            handle the request fully and answer it; the order it booked is
                            not shown to reads (GET order -> -2013, openOrders, myTrades) until
                            ``seconds`` (default 5) have passed on the limits clock (manual
                            clock: `advance_clock`); it fills and can be cancelled meanwhile
``reject``                  answer HTTP ``status`` (default 400) with ``{"code": code, "msg":
                            msg}`` (default -2010 "Account has insufficient balance for
                            requested action."): the exchange refuses; nothing is handled
``waf_403``                 answer HTTP 403 with an HTML page (rest-api.md: a WAF rule was
                            violated); nothing is handled
==========================  ===================================================================

Faults never apply to the ``/_control`` API. Several faults may hit one request: latency
and skew add up; the first of drop/maintenance/ban/waf_403/reject wins; then after-accept ones
(timeout, then html_503, then code, then error); ``late_visible`` combines with any.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = (
    "latency",
    "timeout_after_accept",
    "error_after_accept",
    "drop_connection",
    "clock_skew",
    "ban",
    "maintenance",
    "html_503_after_accept",
    "code_after_accept",
    "late_visible",
    "waf_403",
    "reject",
)


@dataclass
class Fault:
    kind: str
    path: str | None = None
    method: str | None = None
    count: int | None = 1  # None = until cleared
    params: dict[str, Any] = field(default_factory=dict)
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        if self.path:
            if self.path.endswith("*"):
                return path.startswith(self.path[:-1])
            return path == self.path
        return True

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "method": self.method,
            "count": self.count,
            "params": self.params,
            "hits": self.hits,
        }


def make_fault(spec: dict[str, Any]) -> Fault:
    """A fault from its control-API JSON: ``{"kind", "path", "method", "count", ...}``."""
    spec = dict(spec)
    kind = spec.pop("kind", None)
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(FAULT_KINDS)}")
    count = spec.pop("count", 1)
    if count is not None and (not isinstance(count, int) or count < 1):
        raise ValueError("count must be a positive integer or null (until cleared)")
    method = spec.pop("method", None)
    path = spec.pop("path", None)
    if kind == "error_after_accept" and int(spec.get("status", 503)) not in {500, 502, 503, 504}:
        raise ValueError("error_after_accept status must be 500, 502, 503 or 504")
    if kind == "code_after_accept":
        if int(spec.get("code", -1007)) not in {-1006, -1007}:
            raise ValueError("code_after_accept code must be -1006 or -1007")
        if not 400 <= int(spec.get("status", 500)) <= 599:
            raise ValueError("code_after_accept status must be a 4xx or 5xx")
    if kind == "reject":
        if int(spec.get("code", -2010)) >= 0 or not 400 <= int(spec.get("status", 400)) <= 499:
            raise ValueError("reject needs a negative Binance code and a 4xx status")
    if kind == "late_visible" and float(spec.get("seconds", 5)) <= 0:
        raise ValueError("late_visible seconds must be > 0")
    return Fault(
        kind=kind,
        path=path,
        method=method.upper() if method else None,
        count=count,
        params=spec,
    )


class FaultSet:
    """The active faults; `take` picks (and uses up) those hitting one request."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.fired: dict[str, int] = {}
        # orders that cannot be asked about (``queries="drop"``): client order ids
        self.unreachable_orders: set[str] = set()

    def add(self, fault: Fault) -> None:
        self.faults.append(fault)

    def clear(self) -> None:
        self.faults.clear()
        self.unreachable_orders.clear()

    def take(self, method: str, path: str) -> list[Fault]:
        hit = [f for f in self.faults if f.matches(method, path)]
        for f in hit:
            f.hits += 1
            self.fired[f.kind] = self.fired.get(f.kind, 0) + 1
            if f.count is not None:
                f.count -= 1
        self.faults = [f for f in self.faults if f.count is None or f.count > 0]
        return hit
