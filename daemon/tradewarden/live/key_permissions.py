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

Futures bots (``TRADEWARDEN_FUTURES_ENABLED=true``, issue 20) turn one rule around: the
trade key's ``enableFutures`` must be **true** (a key that cannot trade futures would have
its orders refused, and its futures right is what the bot needs), and the key's futures
account is asked on the futures API (``GET /fapi/v2/account``: ``canTrade`` true) when the
broker can ask it; a broker that cannot ask the futures API leaves that check failed (fail
closed). Every other rule holds unchanged (no withdrawals, transfers, margin, portfolio
margin, options; IP-restricted). A spot-only bot's key keeps the spot rule: ``enableFutures``
false. `PermissionResult.futures` records which rule set was applied, and the live gate
refuses a result checked under the other one.

A flag missing from the answer, a non-boolean value, or no answer at all is a problem too
(fail closed). The read key is checked for the same dangerous rights; that it can trade is
reported as a warning (least privilege), not a problem.

Run it at start and every hour in live mode (`check_key_permissions(broker)`). The spot
testnet has no ``/sapi`` endpoints; the live gate does not need this check for testnet.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, cast

from tradewarden.core.config import Settings
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
FUTURES_FLAG = "enableFutures"
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
    # checked with the futures rules (TRADEWARDEN_FUTURES_ENABLED=true) or the spot rules
    futures: bool = False

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
            "rules": "futures" if self.futures else "spot",
        }


def evaluate_restrictions(
    flags: Mapping[str, Any],
    role: str = "trade",
    *,
    now: float | None = None,
    futures: bool = False,
) -> PermissionResult:
    """Pure: the apiRestrictions answer -> the list of problems. `futures`: the key is a
    futures bot's (``TRADEWARDEN_FUTURES_ENABLED=true``): the trade key's ``enableFutures``
    must be true instead of false (a read key's may be either)."""
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
        if futures and name == FUTURES_FLAG:
            continue
        if flag(name) is True:
            if name == FUTURES_FLAG:
                why += "; TRADEWARDEN_FUTURES_ENABLED=false: a spot-only bot's key must have it off"
            problems.append(f"{name} is true ({why})")
    if futures:
        can_trade_futures = flag(FUTURES_FLAG)
        if role == "trade" and can_trade_futures is False:
            problems.append(
                f"{FUTURES_FLAG} is false (TRADEWARDEN_FUTURES_ENABLED=true: the futures"
                " bot's trade key cannot trade futures)"
            )
        if role != "trade":  # a read key may have futures on or off
            problems = [p for p in problems if not p.startswith(FUTURES_FLAG)]
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
        futures=futures,
    )


def check_key_permissions(
    reader: RestrictionsReader, role: str = "trade", *, futures: bool | None = None
) -> PermissionResult:
    """Ask the exchange (``BinanceBroker.api_restrictions()``) and evaluate; an error or an
    unusable answer fails the check (never raises for exchange errors). `futures`: the
    futures rules (default: the reader's settings, `futures_of`)."""
    if futures is None:
        futures = futures_of(reader)
    try:
        flags = reader.api_restrictions()
    except BrokerError as exc:
        return PermissionResult(
            ok=False,
            role=role,
            problems=(f"GET /sapi/v1/account/apiRestrictions failed: {exc}",),
            checked_at=time.time(),
            error=exc,
            futures=futures,
        )
    if not isinstance(flags, Mapping):
        return PermissionResult(
            ok=False,
            role=role,
            problems=("GET /sapi/v1/account/apiRestrictions: the answer is not an object",),
            checked_at=time.time(),
            futures=futures,
        )
    return evaluate_restrictions(flags, role, futures=futures)


FUTURES_ACCOUNT = "GET /fapi/v2/account"


class FuturesAccountReader(Protocol):
    """What the futures-side check needs (the futures gateway): the futures account
    (python-binance ``futures_account``, ``GET /fapi/v2/account``)."""

    def futures_account(self) -> dict[str, Any]: ...


def evaluate_futures_account(account: Any, role: str = "trade") -> tuple[str, ...]:
    """Pure: the futures account answer -> problems (``canTrade`` must be true)."""
    if not isinstance(account, Mapping):
        return (f"{FUTURES_ACCOUNT}: the answer is not an object",)
    can_trade = account.get("canTrade")
    if not isinstance(can_trade, bool):
        return (f"{FUTURES_ACCOUNT}: canTrade missing or not a boolean",)
    if role == "trade" and not can_trade:
        return (
            f"{FUTURES_ACCOUNT}: canTrade is false (TRADEWARDEN_FUTURES_ENABLED=true: the"
            " futures account does not accept orders from this key)",
        )
    return ()


def check_futures_account(
    base: PermissionResult, reader: FuturesAccountReader | None
) -> PermissionResult:
    """`base` (the apiRestrictions check with the futures rules) plus the futures-side
    check: the key's futures account answers and may trade. No reader (no futures gateway
    to ask) is a problem: the futures right stays unverified (fail closed)."""
    extra: tuple[str, ...]
    error: BrokerError | None = base.error
    if reader is None:
        extra = (
            f"{FUTURES_ACCOUNT} not asked: no futures gateway to verify the key's futures"
            " trading on the futures API",
        )
    else:
        try:
            extra = evaluate_futures_account(reader.futures_account(), base.role)
        except BrokerError as exc:
            extra = (f"{FUTURES_ACCOUNT} failed: {exc}",)
            error = error or exc
        except Exception as exc:  # noqa: BLE001 - any failure leaves the right unverified
            # (fail closed, never an exception out of the hourly check); the type only
            extra = (f"{FUTURES_ACCOUNT} failed: {type(exc).__name__}",)
    problems = base.problems + extra
    return replace(base, ok=not problems, problems=problems, futures=True, error=error)


def futures_of(broker: object) -> bool:
    """Whether `broker` trades for futures bots: its settings' TRADEWARDEN_FUTURES_ENABLED
    (a broker without settings: spot, whose rule refuses a futures-enabled key)."""
    settings = getattr(broker, "settings", None)
    return isinstance(settings, Settings) and settings.futures_enabled


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


def check_trade_key(
    reader: RestrictionsReader,
    *,
    futures: bool | None = None,
    futures_account: FuturesAccountReader | None = None,
) -> PermissionResult:
    """The trade key as the live gate checks it, wherever it is checked (start, the hourly
    check, a rotated key before it signs, `tradewarden secrets rotate`): apiRestrictions
    with the market's rules and, for a futures bot, its futures account through
    `futures_account` (default: `reader` itself when it has ``futures_account``; none: the
    check fails, `check_futures_account`). `futures` default: `futures_of(reader)`."""
    if futures is None:
        futures = futures_of(reader)
    trade = check_key_permissions(reader, "trade", futures=futures)
    if futures and trade.error is None:
        if futures_account is None and callable(getattr(reader, "futures_account", None)):
            futures_account = cast(FuturesAccountReader, reader)
        trade = check_futures_account(trade, futures_account)
    return trade


def check_broker_keys(
    broker: KeyedBroker,
    *,
    futures: bool | None = None,
    futures_account: FuturesAccountReader | None = None,
) -> PermissionResult:
    """The trade key (trading on, no withdrawal/transfer, IP-restricted) and, when the
    broker has a separate read key, that one too (the same rules; trading on is only a
    warning there). The first key that fails is the result; else the trade key's.

    `futures` (default: the broker's settings, `futures_of`): the futures rules, and the
    trade key's futures account asked through `futures_account` (default: the broker
    itself when it has ``futures_account``; else that check fails)."""
    if futures is None:
        futures = futures_of(broker)
    trade = check_trade_key(broker, futures=futures, futures_account=futures_account)
    if not trade.ok or "read" not in broker.key_roles:
        return trade
    read = check_key_permissions(_ReadKeyView(broker), "read", futures=futures)
    return trade if read.ok else read
