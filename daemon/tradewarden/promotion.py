"""Paper-to-live promotion records: signed (HMAC-SHA256) and bound to the strategy's code.

`promote` records a promotion only when every seed criterion passes; `is_promoted` is what
the live gate asks. Changing the strategy's source (its code hash) or editing the record
(the signature) invalidates it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass

from tradewarden.paper_report import BotReport
from tradewarden.secrets.value import Secret
from tradewarden.store import Store

SCHEMA = """CREATE TABLE IF NOT EXISTS promotions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bot TEXT NOT NULL, strategy TEXT NOT NULL, code_hash TEXT NOT NULL,
    ts REAL NOT NULL, actor TEXT NOT NULL, report TEXT NOT NULL, signature TEXT NOT NULL)"""


class PromotionError(Exception):
    pass


@dataclass(frozen=True)
class PromotionCheck:
    ok: bool
    reason: str


def _payload(bot: str, strategy: str, code_hash: str, ts: float, actor: str, report: str) -> bytes:
    return json.dumps([bot, strategy, code_hash, ts, actor, report], separators=(",", ":")).encode()


def _sign(key: Secret, payload: bytes) -> str:
    return hmac.new(key.reveal().encode(), payload, hashlib.sha256).hexdigest()


def _ensure(store: Store) -> None:
    with store.tx() as db:
        db.execute(SCHEMA)


def promote(
    store: Store, key: Secret, report: BotReport, strategy: str, code_hash: str, actor: str
) -> int:
    if not report.passed:
        failed = ", ".join(c.name for c in report.criteria if not c.passed)
        raise PromotionError(f"{report.bot} does not meet the promotion criteria: {failed}")
    _ensure(store)
    ts = time.time()
    body = json.dumps(report.as_dict(), sort_keys=True, default=str)
    sig = _sign(key, _payload(report.bot, strategy, code_hash, ts, actor, body))
    with store.tx() as db:
        cur = db.execute(
            "INSERT INTO promotions (bot, strategy, code_hash, ts, actor, report, signature)"
            " VALUES (?,?,?,?,?,?,?)",
            (report.bot, strategy, code_hash, ts, actor, body, sig),
        )
        return int(cur.lastrowid or 0)


def is_promoted(
    store: Store, key: Secret, bot: str, strategy: str, code_hash: str
) -> PromotionCheck:
    _ensure(store)
    rows = store.query("SELECT * FROM promotions WHERE bot=? ORDER BY id DESC LIMIT 1", (bot,))
    if not rows:
        return PromotionCheck(False, f"no paper-to-live promotion record for bot {bot}")
    r = rows[0]
    expected = _sign(
        key, _payload(r["bot"], r["strategy"], r["code_hash"], r["ts"], r["actor"], r["report"])
    )
    if not hmac.compare_digest(expected, r["signature"]):
        return PromotionCheck(False, f"promotion record of {bot} has a bad signature")
    if r["strategy"] != strategy or r["code_hash"] != code_hash:
        return PromotionCheck(False, f"{bot}'s strategy code changed since its promotion")
    return PromotionCheck(True, f"{bot} promoted by {r['actor']}")
