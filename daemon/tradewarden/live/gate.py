"""The live-trading gate: which mode really runs, and exactly what keeps it out of live.

`decide(GateInputs) -> GateDecision` is a pure function. Live orders only when every
condition holds:

==================  ===============================================================
condition           holds when
==================  ===============================================================
mode                ``TRADEWARDEN_MODE=live`` (live was asked for)
testnet             ``BINANCE_TESTNET=false``
final_hammer        ``FINAL_HAMMER=true``
terms               ``BINANCE_TERMS_ACCEPTED=true``
secret_source       ``TRADEWARDEN_SECRET_SOURCE`` is aws or file (env is dev only)
permissions         the key-permission check passed (`tradewarden.live.key_permissions`)
promotion           every bot has a valid paper-to-live promotion (`tradewarden.live.promotion`)
profile             ``TRADEWARDEN_PROFILE`` is not dev (dev refuses live endpoints)
endpoint            the Binance URL is usable (`parse_endpoint`) and not a testnet host
key_scope           the trade key's ``scope`` is not "testnet"
armed               live was not withdrawn (``tradewarden live disarm``)
futures             futures bots only (``TRADEWARDEN_FUTURES_ENABLED=true``): the key
                    check ran with the futures rules (the trade key's ``enableFutures``
                    true, its futures account may trade) and every promotion is a
                    futures promotion; a spot bot's key check ran with the spot rules
                    (``enableFutures`` false) and its promotions are spot ones
==================  ===============================================================

So futures live needs the whole spot gate plus ``TRADEWARDEN_FUTURES_ENABLED=true``, a key
that can trade futures, and a futures promotion (`tradewarden.live.promotion`: a spot
promotion does not count for a futures bot, nor a futures one for a spot bot).

Every other combination runs **testnet** when all of these hold: testnet or live was
asked for, ``BINANCE_TESTNET=true``, the profile is not prod (prod refuses testnet
endpoints and keys), the host is a known testnet host (`TESTNET_HOSTS`; a loopback host,
the local fake exchange, only in the dev profile), and the trade key's recorded scope is
"testnet" (an unscoped key only on loopback in dev). Any other host is production: the
whole live gate or paper. Otherwise it runs **paper** (the in-process broker: no orders
leave the host). So a refused live request never lands on the live endpoint, and a
request for testnet never reaches a production host.

The URL is parsed as the HTTP client parses it (`tradewarden.core.endpoints`); a URL the
parsers could read differently is refused outright (`EndpointError`; the settings turn it
into exit 2).

`GateDecision.blockers` lists one human-readable line per failed live condition, naming
the setting; `failed` lists the same conditions by name; `fallback` says why the mode that
runs is testnet or paper. Empty blockers <=> live.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tradewarden.core.config import Mode, Profile, SecretSource, Settings
from tradewarden.core.endpoints import (
    DEFAULT_LIVE_URL,
    DEFAULT_TESTNET_URL,
    TESTNET_HOSTS,
    Endpoint,
    EndpointError,
    parse_endpoint,
)
from tradewarden.live.key_permissions import PermissionResult
from tradewarden.live.promotion import PromotionCheck


@dataclass(frozen=True)
class GateInputs:
    requested: Mode
    profile: Profile
    binance_testnet: bool
    final_hammer: bool
    terms_accepted: bool
    secret_source: SecretSource
    permissions_ok: bool
    promotion_ok: bool
    endpoint: str = ""  # "" = Binance's default URL for BINANCE_TESTNET
    key_scope: str | None = None  # the trade secret's "scope": live, testnet or None
    permission_problems: tuple[str, ...] = ()
    promotion_problems: tuple[str, ...] = ()
    disarmed: str = ""  # why live was withdrawn (`tradewarden live disarm`), "" = armed
    futures: bool = False  # TRADEWARDEN_FUTURES_ENABLED: every bot is a futures bot
    # why the run-time checks do not fit the bots' market (see `market_problems`)
    futures_problems: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        if self.endpoint:
            return self.endpoint
        return DEFAULT_TESTNET_URL if self.binance_testnet else DEFAULT_LIVE_URL


@dataclass(frozen=True)
class GateDecision:
    mode: Mode
    blockers: list[str] = field(default_factory=list)
    failed: tuple[str, ...] = ()
    fallback: str = ""

    @property
    def live(self) -> bool:
        return self.mode is Mode.LIVE

    def describe(self) -> str:
        """The start-up / status line."""
        if self.live:
            return "mode live: every live-trading gate holds"
        return f"mode {self.mode.value} ({self.fallback}); not live because: " + "; ".join(
            self.blockers
        )


def _flag(value: bool) -> str:
    return "true" if value else "false"


def decide(inp: GateInputs) -> GateDecision:
    url = inp.url
    try:
        ep: Endpoint | None = parse_endpoint(url)
        refused = ""
    except EndpointError as exc:
        ep, refused = None, str(exc)
    kind = ep.kind if ep is not None else None
    shown = ep.url if ep is not None else repr(url)
    failed: list[str] = []
    blockers: list[str] = []

    def block(condition: str, text: str) -> None:
        failed.append(condition)
        blockers.append(text)

    if inp.requested is not Mode.LIVE:
        block("mode", f"TRADEWARDEN_MODE={inp.requested.value}: live was not requested")
    if inp.binance_testnet:
        block("testnet", "BINANCE_TESTNET=true: orders go to the testnet")
    if not inp.final_hammer:
        block("final_hammer", "FINAL_HAMMER=false: the live switch is off")
    if not inp.terms_accepted:
        block("terms", "BINANCE_TERMS_ACCEPTED=false: the Binance Developer Terms are not accepted")
    if inp.secret_source is SecretSource.ENV:
        block(
            "secret_source",
            "TRADEWARDEN_SECRET_SOURCE=env: environment secrets are for development only",
        )
    if not inp.permissions_ok:
        detail = "; ".join(inp.permission_problems) or "not run or not passed"
        block("permissions", f"key-permission check: {detail}")
    if not inp.promotion_ok:
        detail = "; ".join(inp.promotion_problems) or "no valid promotion record"
        block("promotion", f"paper-to-live promotion: {detail}")
    if inp.profile is Profile.DEV:
        block("profile", "TRADEWARDEN_PROFILE=dev: the dev profile refuses live endpoints")
    if ep is None:
        block("endpoint", f"TRADEWARDEN_BINANCE_BASE_URL: {shown} is refused: {refused}")
    elif kind != "loopback" and (kind == "testnet") != inp.binance_testnet:
        what = "testnet" if kind == "testnet" else "live"
        block(
            "endpoint",
            f"TRADEWARDEN_BINANCE_BASE_URL: {shown} is a {what} endpoint but"
            f" BINANCE_TESTNET={_flag(inp.binance_testnet)}",
        )
    if inp.key_scope == "testnet":
        block("key_scope", "trade key scope is testnet: a testnet key is never used live")
    if inp.disarmed:
        block("armed", f"live disarmed: {inp.disarmed}")
    if inp.futures_problems:
        block(
            "futures",
            f"TRADEWARDEN_FUTURES_ENABLED={_flag(inp.futures)}: " + "; ".join(inp.futures_problems),
        )

    if not blockers:
        market = "futures and spot gates" if inp.futures else "gates"
        return GateDecision(Mode.LIVE, [], (), f"all {market} hold")

    testnet_refusals = []
    if inp.requested is Mode.PAPER:
        testnet_refusals.append("paper requested")
    if not inp.binance_testnet:
        testnet_refusals.append("BINANCE_TESTNET=false")
    if ep is None:
        testnet_refusals.append(f"{shown} is refused ({refused})")
    elif kind == "production":
        testnet_refusals.append(
            f"{shown} is not a testnet host (testnet mode talks only to"
            f" {', '.join(sorted(TESTNET_HOSTS))}); any other host is production"
        )
    elif kind == "loopback" and inp.profile is not Profile.DEV:
        testnet_refusals.append(
            f"{shown} is a loopback endpoint: only the dev profile (tests) may use one"
        )
    if inp.profile is Profile.PROD:
        testnet_refusals.append("TRADEWARDEN_PROFILE=prod refuses testnet endpoints and keys")
    if inp.key_scope == "live":
        testnet_refusals.append("trade key scope is live: never used on the testnet")
    elif inp.key_scope != "testnet" and not (kind == "loopback" and inp.profile is Profile.DEV):
        testnet_refusals.append(
            "the trade key has no recorded scope: testnet mode needs a key stored with"
            " scope testnet (`tradewarden secrets put trade --scope testnet`)"
        )
    if testnet_refusals:
        mode, fallback = Mode.PAPER, "paper: " + "; ".join(testnet_refusals)
    else:
        mode, fallback = Mode.TESTNET, "testnet: BINANCE_TESTNET=true"
    return GateDecision(mode, blockers, tuple(failed), fallback)


def promotion_summary(checks: Iterable[PromotionCheck] | None) -> tuple[bool, tuple[str, ...]]:
    """All bots promoted? And the reasons of those that are not."""
    items = list(checks or [])
    if not items:
        return False, ("no promotion checked",)
    bad = tuple(c.reason for c in items if not c.ok)
    return not bad, bad


def market_problems(
    futures: bool,
    permissions: Sequence[PermissionResult],
    promotions: Iterable[PromotionCheck] | None,
) -> tuple[str, ...]:
    """The run-time checks against the bots' market: a key check run with the other
    market's rules, a promotion of the other market (fail closed: the check that was run
    is not the check this bot needs)."""
    want = "futures" if futures else "spot"
    out: list[str] = []
    for p in permissions:
        if p.futures != futures:
            rules = "futures" if p.futures else "spot"
            out.append(f"the {p.role} key was checked with the {rules} rules, not the {want} rules")
    for c in promotions or ():
        if c.market != want:
            out.append(
                f"{c.reason or 'a promotion'} is a {c.market} promotion: a {want} bot needs a"
                f" {want} promotion (`tradewarden promote --bot` from a {want} paper/testnet run)"
            )
    return tuple(out)


def assumed_checks(settings: Settings) -> tuple[PermissionResult, list[PromotionCheck]]:
    """Passing run-time checks of the settings' market: what "every run-time check would
    pass" means when asking whether the checks can change the outcome."""
    market = "futures" if settings.futures_enabled else "spot"
    return (
        PermissionResult(ok=True, role="trade", futures=settings.futures_enabled),
        [PromotionCheck(True, "assumed", market)],
    )


def inputs_from_settings(
    settings: Settings,
    *,
    permissions: PermissionResult | Sequence[PermissionResult] | None,
    promotions: Iterable[PromotionCheck] | None,
    key_scope: str | None = None,
    disarmed: str = "",
) -> GateInputs:
    """Gate inputs from the settings plus the run-time checks (None = not run: fails)."""
    if isinstance(permissions, PermissionResult):
        permissions = [permissions]
    perms = list(permissions or [])
    perm_ok = bool(perms) and all(p.ok for p in perms)
    perm_problems = tuple(f"{p.role}: {x}" for p in perms for x in p.problems)
    promos = None if promotions is None else list(promotions)
    promo_ok, promo_problems = promotion_summary(promos)
    futures = settings.futures_enabled
    return GateInputs(
        requested=settings.mode,
        profile=settings.profile,
        binance_testnet=settings.binance_testnet,
        final_hammer=settings.final_hammer,
        terms_accepted=settings.terms_accepted,
        secret_source=settings.secret_source,
        permissions_ok=perm_ok,
        promotion_ok=promo_ok,
        endpoint=settings.effective_binance_url,
        key_scope=key_scope,
        permission_problems=perm_problems,
        promotion_problems=promo_problems,
        disarmed=disarmed,
        futures=futures,
        futures_problems=market_problems(futures, perms, promos),
    )


def live_gate(
    settings: Settings,
    *,
    permissions: PermissionResult | Sequence[PermissionResult] | None = None,
    promotions: Iterable[PromotionCheck] | None = None,
    key_scope: str | None = None,
    disarmed: str = "",
) -> GateDecision:
    """`decide` on the settings and the run-time checks."""
    return decide(
        inputs_from_settings(
            settings,
            permissions=permissions,
            promotions=promotions,
            key_scope=key_scope,
            disarmed=disarmed,
        )
    )


def wants_live_checks(settings: Settings) -> bool:
    """Whether the run-time checks (key permissions, promotions) can change the outcome:
    only when every static live condition already holds. Saves a /sapi call otherwise."""
    perms, promos = assumed_checks(settings)
    static = decide(inputs_from_settings(settings, permissions=[perms], promotions=promos))
    return static.live
