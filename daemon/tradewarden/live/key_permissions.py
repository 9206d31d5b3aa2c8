"""Key-permission check: what the Binance key may do, from
``GET /sapi/v1/account/apiRestrictions``.

Refuse to trade (the caller HALTs with `PermissionResult.summary()` as the reason) when:

- ``enableWithdrawals`` is true (a leaked key could move funds off the exchange),
- ``enableInternalTransfer`` or ``permitsUniversalTransfer`` is true (it could move funds
  between accounts / wallets),
- ``enableFutures``, ``enableMargin``, ``enablePortfolioMarginTrading`` or
  ``enableVanillaOptions`` is true (a leaked spot key could open leveraged positions),
- ``ipRestrict`` is false (usable from any address),
- ``enableSpotAndMarginTrading`` is false on the trade key (orders would be refused).

A flag missing from the answer, a non-boolean value, or no answer at all is a problem too
(fail closed). The read key is checked for the same dangerous rights; that it can trade is
reported as a warning (least privilege), not a problem.

Run it at start and every hour in live mode (`check_key_permissions(broker)`). The spot
testnet has no ``/sapi`` endpoints; the live gate does not need this check for testnet.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from tradewarden.trading.broker import BrokerError

MUST_BE_FALSE: dict[str, str] = {
    "enableWithdrawals": "withdrawals are enabled: the key could move funds off the exchange",
    "enableInternalTransfer": "internal transfers are enabled: funds could move between accounts",
    "permitsUniversalTransfer": "universal transfer is permitted: funds could move between wallets",
    # a spot key must not be able to open leveraged positions if it leaks
    "enableFutures": "futures trading is enabled: the key could open leveraged positions",
    "enableMargin": "margin trading is enabled: the key could borrow and open leveraged positions",
    "enablePortfolioMarginTrading": (
        "portfolio margin trading is enabled: the key could open leveraged positions"
    ),
    "enableVanillaOptions": "options trading is enabled: the key could open leveraged positions",
}
IP_RESTRICT = "ipRestrict"
TRADING = "enableSpotAndMarginTrading"
CHECKED_FLAGS = (*MUST_BE_FALSE, IP_RESTRICT, TRADING)


class RestrictionsReader(Protocol):
    """What the check needs from the gateway (`BinanceBroker` has it)."""

    def api_restrictions(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class PermissionResult:
    ok: bool
    role: str
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    flags: Mapping[str, Any] = field(default_factory=dict)
    checked_at: float = 0.0
    # the exchange could not be asked (this error): startup.py waits it out at start
    error: BrokerError | None = field(default=None, compare=False, repr=False)

    def summary(self) -> str:
        if self.ok:
            return f"{self.role} key permissions ok"
        return f"{self.role} key permission check failed: " + "; ".join(self.problems)

    @property
    def bad_flags(self) -> dict[str, Any]:
        """The flags that make the key unacceptable, with their values (for the
        ``key_permissions_changed`` alert); missing ones as None."""
        out: dict[str, Any] = {}
        for name in CHECKED_FLAGS:
            if any(p.startswith(name + " ") for p in self.problems):
                out[name] = self.flags.get(name)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "role": self.role,
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "flags": dict(self.flags),
            "bad_flags": self.bad_flags,
            "checked_at": self.checked_at,
        }


def evaluate_restrictions(
    flags: Mapping[str, Any], role: str = "trade", *, now: float | None = None
) -> PermissionResult:
    """Pure: the apiRestrictions answer -> the list of problems."""
    problems: list[str] = []
    warnings: list[str] = []
    kept = {k: flags[k] for k in CHECKED_FLAGS if k in flags}

    def flag(name: str) -> bool | None:
        if name not in flags:
            problems.append(f"{name} missing from the apiRestrictions answer")
            return None
        value = flags[name]
        if not isinstance(value, bool):
            problems.append(f"{name} is not a boolean in the apiRestrictions answer")
            return None
        return value

    for name, why in MUST_BE_FALSE.items():
        if flag(name) is True:
            problems.append(f"{name} is true ({why})")
    if flag(IP_RESTRICT) is False:
        problems.append(f"{IP_RESTRICT} is false (the key works from any IP address)")
    trading = flag(TRADING)
    if role == "trade" and trading is False:
        problems.append(f"{TRADING} is false (the trade key cannot place spot orders)")
    if role != "trade" and trading is True:
        warnings.append(f"{TRADING} is true on the {role} key (least privilege: read only)")
    if role != "trade":  # a missing trading flag does not matter for a read key
        problems = [p for p in problems if not p.startswith(TRADING)]
    return PermissionResult(
        ok=not problems,
        role=role,
        problems=tuple(problems),
        warnings=tuple(warnings),
        flags=kept,
        checked_at=time.time() if now is None else now,
    )


def check_key_permissions(reader: RestrictionsReader, role: str = "trade") -> PermissionResult:
    """Ask the exchange (``BinanceBroker.api_restrictions()``) and evaluate; an error or an
    unusable answer fails the check (never raises for exchange errors)."""
    try:
        flags = reader.api_restrictions()
    except BrokerError as exc:
        return PermissionResult(
            ok=False,
            role=role,
            problems=(f"GET /sapi/v1/account/apiRestrictions failed: {exc}",),
            checked_at=time.time(),
            error=exc,
        )
    if not isinstance(flags, Mapping):
        return PermissionResult(
            ok=False,
            role=role,
            problems=("GET /sapi/v1/account/apiRestrictions: the answer is not an object",),
            checked_at=time.time(),
        )
    return evaluate_restrictions(flags, role)


class KeyedBroker(Protocol):
    """What `check_broker_keys` needs from the gateway (`BinanceBroker` has it): the keys
    it signs with and each key's restrictions."""

    @property
    def key_roles(self) -> tuple[str, ...]: ...

    def api_restrictions(self, key: str = "trade") -> dict[str, Any]: ...


class _ReadKeyView:
    """The read key's side of a broker, for `check_key_permissions`."""

    def __init__(self, broker: KeyedBroker) -> None:
        self.broker = broker

    def api_restrictions(self) -> dict[str, Any]:
        return dict(self.broker.api_restrictions("read"))


def check_broker_keys(broker: KeyedBroker) -> PermissionResult:
    """The trade key (trading on, no withdrawal/transfer, IP-restricted) and, when the
    broker has a separate read key, that one too (the same rules; trading on is only a
    warning there). The first key that fails is the result; else the trade key's."""
    trade = check_key_permissions(broker, "trade")
    if not trade.ok or "read" not in broker.key_roles:
        return trade
    read = check_key_permissions(_ReadKeyView(broker), "read")
    return trade if read.ok else read
