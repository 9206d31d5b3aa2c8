"""The human approval queue: rebalances, transfers over the threshold, withdrawals,
runtime changes of breaker thresholds or the live switch.

A proposal is stored and audited; approving it needs a TOTP code (second factor) from the
approver, and two different approvers (neither the proposer) above the second threshold.
Codes cannot be replayed; proposals expire. An approved proposal yields instructions for a
human: the daemon's key has no withdrawal right and this code base has no withdrawal call.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import pyotp

from tradewarden.audit import AuditLog
from tradewarden.config import Settings
from tradewarden.secrets.value import Secret
from tradewarden.store import Store

KINDS = ("rebalance", "transfer", "withdrawal", "threshold_change", "live_switch")

SCHEMA = """
CREATE TABLE IF NOT EXISTS proposals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    amount_usd REAL NOT NULL,
    payload TEXT NOT NULL,
    proposer TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    status TEXT NOT NULL,
    approvals TEXT NOT NULL DEFAULT '[]',
    decided_reason TEXT
);
CREATE TABLE IF NOT EXISTS totp_used (
    approver TEXT NOT NULL,
    step INTEGER NOT NULL,
    PRIMARY KEY (approver, step)
);
"""


class ApprovalError(Exception):
    """Refused: the reason says why; nothing was changed."""


@dataclass(frozen=True)
class Proposal:
    id: int
    kind: str
    amount_usd: float
    payload: dict[str, Any]
    proposer: str
    created_at: float
    expires_at: float
    status: str
    approvals: list[dict[str, Any]]

    def needs(self, settings: Settings) -> int:
        return 2 if self.amount_usd > settings.two_approvers_usd else 1

    def instructions(self) -> str:
        p = self.payload
        if self.kind in ("rebalance", "transfer", "withdrawal"):
            return (
                f"Approved {self.kind} #{self.id}: move {self.amount_usd:,.2f} USD "
                f"({p.get('direction', p.get('destination', 'see payload'))}). Do it by hand "
                "from the exchange UI / cold wallet; this daemon's key cannot withdraw or "
                "transfer. Record the transaction id in the ticket."
            )
        return f"Approved {self.kind} #{self.id}: apply {json.dumps(p)} via config and restart."


class ApprovalQueue:
    def __init__(
        self, settings: Settings, store: Store, audit: AuditLog, totp_secret: Secret | None = None
    ) -> None:
        self.settings, self.store, self.audit = settings, store, audit
        self._totp = totp_secret
        with store.tx() as db:
            for stmt in filter(None, (s.strip() for s in SCHEMA.split(";"))):
                db.execute(stmt)

    def propose(self, kind: str, amount_usd: float, payload: dict[str, Any], proposer: str) -> int:
        if kind not in KINDS:
            raise ApprovalError(f"unknown proposal kind {kind!r} (one of {', '.join(KINDS)})")
        if not amount_usd >= 0:
            raise ApprovalError("amount must be >= 0")
        now = time.time()
        with self.store.tx() as db:
            cur = db.execute(
                "INSERT INTO proposals (kind, amount_usd, payload, proposer, created_at,"
                " expires_at, status) VALUES (?,?,?,?,?,?, 'pending')",
                (
                    kind,
                    amount_usd,
                    json.dumps(payload),
                    proposer,
                    now,
                    now + self.settings.proposal_ttl_hours * 3600,
                ),
            )
            pid = int(cur.lastrowid or 0)
        self.audit.append(
            "proposal_created",
            {"id": pid, "kind": kind, "amount_usd": amount_usd, "payload": payload},
            actor=proposer,
            sync=True,
        )
        return pid

    def pending_of_kind(self, kind: str) -> list[Proposal]:
        return [p for p in self.list() if p.kind == kind]

    def get(self, pid: int) -> Proposal:
        rows = self.store.query("SELECT * FROM proposals WHERE id=?", (pid,))
        if not rows:
            raise ApprovalError(f"no proposal #{pid}")
        r = rows[0]
        status = r["status"]
        if status == "pending" and time.time() > r["expires_at"]:
            status = "expired"
        return Proposal(
            r["id"],
            r["kind"],
            r["amount_usd"],
            json.loads(r["payload"]),
            r["proposer"],
            r["created_at"],
            r["expires_at"],
            status,
            json.loads(r["approvals"]),
        )

    def list(self, include_closed: bool = False) -> list[Proposal]:
        rows = self.store.query("SELECT id FROM proposals ORDER BY id")
        out = [self.get(r["id"]) for r in rows]
        return out if include_closed else [p for p in out if p.status == "pending"]

    def _refuse(self, pid: int, actor: str, why: str) -> ApprovalError:
        self.audit.append("approval_refused", {"id": pid, "why": why}, actor=actor, sync=True)
        return ApprovalError(why)

    def _check_code(self, approver: str, code: str, pid: int) -> None:
        if self._totp is None:
            raise self._refuse(pid, approver, "no TOTP secret configured: cannot approve")
        totp = pyotp.TOTP(self._totp.reveal())
        now = time.time()
        step = None
        for offset in (0, -1, 1):  # one step of clock drift either way
            t = now + offset * totp.interval
            if code.strip() == totp.at(t):
                step = int(t // totp.interval)
                break
        if step is None:
            raise self._refuse(pid, approver, "TOTP code is wrong or expired")
        with self.store.tx() as db:
            cur = db.execute("INSERT OR IGNORE INTO totp_used VALUES (?,?)", (approver, step))
            if cur.rowcount != 1:
                raise self._refuse(pid, approver, "TOTP code already used (replay)")

    def approve(self, pid: int, approver: str, code: str, reason: str) -> Proposal:
        p = self.get(pid)
        if p.status != "pending":
            raise self._refuse(pid, approver, f"proposal #{pid} is {p.status}")
        if not reason.strip():
            raise self._refuse(pid, approver, "a reason is required")
        needs = p.needs(self.settings)
        if any(a["approver"] == approver for a in p.approvals):
            raise self._refuse(pid, approver, f"{approver} already approved #{pid}")
        if needs == 2 and approver == p.proposer:
            raise self._refuse(
                pid, approver, "two approvers are required and neither may be the proposer"
            )
        self._check_code(approver, code, pid)
        approvals = [*p.approvals, {"approver": approver, "reason": reason, "ts": time.time()}]
        status = "approved" if len(approvals) >= needs else "pending"
        with self.store.tx() as db:
            db.execute(
                "UPDATE proposals SET approvals=?, status=? WHERE id=?",
                (json.dumps(approvals), status, pid),
            )
        self.audit.append(
            "proposal_approved" if status == "approved" else "proposal_approval_added",
            {"id": pid, "reason": reason, "approvals": len(approvals), "needs": needs},
            actor=approver,
            sync=True,
        )
        return self.get(pid)

    def reject(self, pid: int, actor: str, reason: str) -> Proposal:
        p = self.get(pid)
        if p.status != "pending":
            raise self._refuse(pid, actor, f"proposal #{pid} is {p.status}")
        with self.store.tx() as db:
            db.execute(
                "UPDATE proposals SET status='rejected', decided_reason=? WHERE id=?", (reason, pid)
            )
        self.audit.append(
            "proposal_rejected", {"id": pid, "reason": reason}, actor=actor, sync=True
        )
        return self.get(pid)
