"""Paper-to-live promotion records: signed (HMAC-SHA256) and bound to what was promoted.

`promote` records a promotion only when every seed criterion passes; `is_promoted` is what
the live gate asks. A record is bound to the bot's symbol, its strategy's name and
parameters, and a hash of the whole strategy package (every file under
``tradewarden/strategy/`` but ``__pycache__``: the strategy, its base class, the volatility
zones, a data file or an extension module...) and of every project module it imports
(``tradewarden/core/models.py``...). Trading another symbol, other parameters, any change in
these files, or an edited record (the signature) invalidates it: promote again from a fresh
paper record.

A promotion is also bound to its market (issue 20): a futures bot
(``TRADEWARDEN_FUTURES_ENABLED=true``) needs a futures promotion, recorded from a futures
paper/testnet run whose report passed the futures criteria too
(`tradewarden.live.paper_report.futures_report`: no liquidation, the liquidation-distance
breaker never at its flatten level, funding booked); a spot promotion does not count for
it, nor a futures promotion for a spot bot. The market is part of the signed binding (a
spot binding's canonical form is unchanged, so spot records from before stay valid).
"""

from __future__ import annotations

import ast
import hashlib
import hmac
import inspect
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import tradewarden.strategy
from tradewarden.live.paper_report import BotReport
from tradewarden.secrets.value import Secret
from tradewarden.state.store import Store

SCHEMA = """CREATE TABLE IF NOT EXISTS promotions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bot TEXT NOT NULL, strategy TEXT NOT NULL, code_hash TEXT NOT NULL,
    ts REAL NOT NULL, actor TEXT NOT NULL, report TEXT NOT NULL, signature TEXT NOT NULL)"""

STRATEGY_PACKAGE = Path(tradewarden.strategy.__file__).parent


class PromotionError(Exception):
    pass


@dataclass(frozen=True)
class PromotionCheck:
    ok: bool
    reason: str
    market: str = "spot"  # the market the bot was checked for: spot or futures


def _project_imports(path: Path, project: Path) -> set[Path]:
    """The project (``tradewarden``) modules a source file imports, with the packages'
    ``__init__.py`` files an import runs; `project` is the ``tradewarden`` directory."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError):
        return set()  # the file's bytes are hashed anyway; a broken file imports nothing
    here = path.relative_to(project).with_suffix("").parts
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the file's package upwards
                base = here[: len(here) - node.level]
                module = ".".join(("tradewarden", *base, *([node.module] if node.module else [])))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{a.name}" for a in node.names)
    out: set[Path] = set()
    for name in names:
        parts = name.split(".")
        if parts[0] != project.name:
            continue
        # every package on the way runs its __init__; not ``tradewarden/__init__.py`` (the
        # release version: a release that changes nothing here keeps the promotions)
        for depth in range(2, len(parts) + 1):
            sub = project.joinpath(*parts[1:depth])
            for candidate in (sub / "__init__.py", sub.with_suffix(".py")):
                if candidate.is_file():
                    out.add(candidate)
    return out


def package_hash(root: Path | None = None) -> str:
    """SHA-256 over every file of the strategy package (not ``__pycache__``: a data file or
    an extension module that would be imported instead of a ``.py`` counts) and every
    project module the package imports, directly or not (``tradewarden/core/models.py``...), by
    path relative to the ``tradewarden`` directory and bytes."""
    root = (root or STRATEGY_PACKAGE).resolve()
    project = root.parent
    files = {p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    todo = [p for p in files if p.suffix == ".py"]
    while todo:
        for dep in _project_imports(todo.pop(), project):
            if dep not in files:
                files.add(dep)
                todo.append(dep)
    h = hashlib.sha256()
    for f in sorted(files):
        data = f.read_bytes()
        h.update(f.relative_to(project).as_posix().encode() + b"\0")
        h.update(len(data).to_bytes(8, "big") + data)
    return h.hexdigest()


def strategy_params(strategy: str) -> dict[str, Any]:
    """The parameters a bot's strategy instance runs with (its constructor's arguments)."""
    from tradewarden.strategy.registry import build_strategy

    instance = build_strategy(strategy)
    names = [n for n in inspect.signature(type(instance).__init__).parameters if n != "self"]
    return {n: getattr(instance, n) for n in names if hasattr(instance, n)}


@dataclass(frozen=True)
class Binding:
    """What a promotion is valid for."""

    bot: str
    symbol: str
    strategy: str
    params: dict[str, Any] = field(default_factory=dict)
    package_hash: str = ""
    market: str = "spot"  # spot or futures

    def canonical(self) -> str:
        body = asdict(self)
        if self.market == "spot":  # spot's form as before the market was bound
            del body["market"]
        return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)


MARKETS = ("spot", "futures")


def binding(bot: str, symbol: str, strategy: str, market: str = "spot") -> Binding:
    """The binding of a configured bot (``name:SYMBOL:strategy``) as the code stands now;
    `market`: "futures" for a futures bot (``TRADEWARDEN_FUTURES_ENABLED=true``)."""
    if market not in MARKETS:
        raise ValueError(f"unknown market {market!r}")
    return Binding(bot, symbol, strategy, strategy_params(strategy), package_hash(), market)


def _payload(
    bot: str, strategy: str, code_hash: str, ts: float, actor: str, report: str, bound: str
) -> bytes:
    return json.dumps(
        [bot, strategy, code_hash, ts, actor, report, bound], separators=(",", ":")
    ).encode()


def _sign(key: Secret, payload: bytes) -> str:
    return hmac.new(key.reveal().encode(), payload, hashlib.sha256).hexdigest()


def _ensure(store: Store) -> None:
    with store.tx() as db:
        db.execute(SCHEMA)
        cols = {r[1] for r in db.execute("PRAGMA table_info(promotions)")}
        if "binding" not in cols:  # records before the binding have none: not valid
            db.execute("ALTER TABLE promotions ADD COLUMN binding TEXT")


def promote(store: Store, key: Secret, report: BotReport, bound: Binding, actor: str) -> int:
    if not report.passed:
        failed = ", ".join(c.name for c in report.criteria if not c.passed)
        raise PromotionError(f"{report.bot} does not meet the promotion criteria: {failed}")
    if report.bot != bound.bot:
        raise PromotionError(f"the report is for {report.bot}, not {bound.bot}")
    applied = getattr(report, "market", "spot")  # the criteria the report applied
    if applied != bound.market:
        raise PromotionError(
            f"{report.bot}'s report applied the {applied} criteria: a {bound.market}"
            f" promotion needs a {bound.market} paper/testnet report"
        )
    _ensure(store)
    ts = time.time()
    body = json.dumps(report.as_dict(), sort_keys=True, default=str)
    canon = bound.canonical()
    sig = _sign(
        key, _payload(bound.bot, bound.strategy, bound.package_hash, ts, actor, body, canon)
    )
    with store.tx() as db:
        cur = db.execute(
            "INSERT INTO promotions (bot, strategy, code_hash, ts, actor, report, signature,"
            " binding) VALUES (?,?,?,?,?,?,?,?)",
            (bound.bot, bound.strategy, bound.package_hash, ts, actor, body, sig, canon),
        )
        return int(cur.lastrowid or 0)


def is_promoted(store: Store, key: Secret, bound: Binding) -> PromotionCheck:
    check = _is_promoted(store, key, bound)
    return PromotionCheck(check.ok, check.reason, bound.market)


def _is_promoted(store: Store, key: Secret, bound: Binding) -> PromotionCheck:
    bot = bound.bot
    _ensure(store)
    rows = store.query("SELECT * FROM promotions WHERE bot=? ORDER BY id DESC LIMIT 1", (bot,))
    if not rows:
        return PromotionCheck(
            False, f"no paper-to-live {_kind(bound.market)}promotion record for bot {bot}"
        )
    r = rows[0]
    if not r["binding"]:
        return PromotionCheck(
            False,
            f"{bot}'s promotion record predates the symbol/parameter/package binding:"
            " promote it again (`tradewarden promote --bot`)",
        )
    expected = _sign(
        key,
        _payload(
            r["bot"], r["strategy"], r["code_hash"], r["ts"], r["actor"], r["report"], r["binding"]
        ),
    )
    if not hmac.compare_digest(expected, r["signature"]):
        return PromotionCheck(False, f"promotion record of {bot} has a bad signature")
    rec = json.loads(r["binding"])
    market = rec.get("market", "spot")
    if market != bound.market:
        return PromotionCheck(
            False,
            f"{bot} holds a {market} promotion: a {bound.market} bot needs a {bound.market}"
            f" promotion (a {market} one does not count)",
        )
    if bound.market == "futures":
        report = json.loads(r["report"])
        if report.get("market") != "futures" or report.get("passed") is not True:
            return PromotionCheck(
                False, f"{bot}'s futures promotion was not recorded from a passed futures report"
            )
    if rec.get("symbol") != bound.symbol:
        return PromotionCheck(
            False, f"{bot} was promoted to trade {rec.get('symbol')}, not {bound.symbol}"
        )
    if rec.get("strategy") != bound.strategy or r["strategy"] != bound.strategy:
        return PromotionCheck(
            False, f"{bot} was promoted with strategy {rec.get('strategy')}, not {bound.strategy}"
        )
    if rec.get("params") != json.loads(json.dumps(bound.params, default=str)):
        return PromotionCheck(
            False, f"{bot}'s strategy parameters changed since its promotion ({rec.get('params')})"
        )
    if rec.get("package_hash") != bound.package_hash or r["code_hash"] != bound.package_hash:
        return PromotionCheck(
            False, f"{bot}'s strategy code (tradewarden/strategy/) changed since its promotion"
        )
    return PromotionCheck(
        True, f"{bot} {_kind(bound.market)}promoted by {r['actor']} for {bound.symbol}"
    )


def _kind(market: str) -> str:
    return "futures " if market == "futures" else ""
