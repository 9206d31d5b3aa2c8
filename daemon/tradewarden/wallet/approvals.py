"""The human approval queue: rebalances, transfers over the threshold, withdrawals,
runtime changes of breaker thresholds or the live switch.

A proposal is stored and audited. Approving it needs a TOTP code from an *enrolled
approver*: every approver has their own TOTP seed, enrolled with `tradewarden approvers
add NAME` and kept in the secret source (``<TRADEWARDEN_SECRET_ADMIN_ID>/approver/NAME``);
the approver is the one whose seed verifies the code, never a name from the environment.
Above ``TRADEWARDEN_TWO_APPROVERS_USD`` two different enrolled approvers are needed; the
proposer never approves. A code is used once: the replay guard is keyed by the approver and
the time step (a code is spent everywhere once used) and by the proposal and the time step
(one code, one approval, per proposal); two approvals of one proposal from the same SSM
session (``ssm=`` in the actor) or the same personal login behind sudo are refused. Wrong
codes are counted per proposal and lock it after `MAX_WRONG_CODES` within
`WRONG_CODE_WINDOW_S`, and across all proposals and vouching
(`MAX_WRONG_CODES_ALL`: rejecting a locked proposal gives no fresh guesses). Once two
approvers have been confirmed, every new seed (``add``, ``add --replace``) needs a code from
another active approver who vouches for it; a vouched seed and its vouchers do not count as
two approvers of one proposal for `VOUCH_COOLOFF_S`. Proposals expire. An approved
proposal yields instructions for a human: the daemon's key has no withdrawal right and
this code base has no withdrawal call.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import json
import os
import re
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyotp

from tradewarden.audit.chain import AuditLog
from tradewarden.core.config import Settings
from tradewarden.secrets import scrub
from tradewarden.secrets.bundle import SecretKind
from tradewarden.secrets.errors import SecretError, SecretNotFoundError
from tradewarden.secrets.source import Source, WritableSource
from tradewarden.secrets.value import Secret
from tradewarden.state.store import Store

KINDS = ("rebalance", "transfer", "withdrawal", "threshold_change", "live_switch")
NAME_RE = re.compile(r"^[a-z][a-z0-9._-]{0,31}$")
RESERVED_NAMES = frozenset({"daemon", "root", "unknown", "system", "ssm-user"})
ISSUER = "tradewarden"
DRIFT_STEPS = (0, -1, 1)  # one 30 s step of clock drift either way
MAX_WRONG_CODES = 5
MAX_WRONG_CODES_ALL = 10  # across every proposal and vouching: no fresh guesses by rejecting
WRONG_CODE_WINDOW_S = 900.0
# the seed's two-approver line: a setting may lower it, never raise it (a process's own
# environment cannot turn a two-approver proposal into a one-approver one)
TWO_APPROVERS_MAX_USD = 10_000.0
VOUCH_COOLOFF_S = 72 * 3600.0  # a vouched seed and its voucher(s) do not co-approve this long

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
    decided_reason TEXT,
    needs INTEGER NOT NULL DEFAULT 2
);
CREATE TABLE IF NOT EXISTS approvers (
    name TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    secret_id TEXT NOT NULL,
    enrolled_at REAL NOT NULL,
    enrolled_by TEXT NOT NULL,
    confirmed_at REAL,
    removed_at REAL,
    removed_by TEXT,
    vouched_by TEXT,
    vouched_at REAL,
    seed_version TEXT,
    seed_source TEXT,
    seed_digest TEXT
);
CREATE TABLE IF NOT EXISTS totp_steps (
    approver TEXT NOT NULL,
    step INTEGER NOT NULL,
    proposal_id INTEGER NOT NULL,
    used_at REAL NOT NULL,
    PRIMARY KEY (approver, step)
);
CREATE UNIQUE INDEX IF NOT EXISTS totp_steps_proposal ON totp_steps (proposal_id, step)
    WHERE proposal_id > 0;
CREATE TABLE IF NOT EXISTS approver_meta (
    key TEXT PRIMARY KEY,
    value REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS approval_wrong_codes (
    proposal_id INTEGER NOT NULL,
    ts REAL NOT NULL
)
"""


class ApprovalError(Exception):
    """Refused: the reason says why; nothing was changed."""


def _schema(store: Store) -> None:
    with store.tx() as db:
        for stmt in filter(None, (s.strip() for s in SCHEMA.split(";"))):
            db.execute(stmt)
        if "needs" not in {r[1] for r in db.execute("PRAGMA table_info(proposals)")}:
            # proposals filed before this column: two approvers, whatever their amount
            db.execute("ALTER TABLE proposals ADD COLUMN needs INTEGER NOT NULL DEFAULT 2")
        cols = {r[1] for r in db.execute("PRAGMA table_info(approvers)")}
        for col, typ in (
            ("vouched_by", "TEXT"),
            ("vouched_at", "REAL"),
            ("seed_version", "TEXT"),
            ("seed_source", "TEXT"),
            ("seed_digest", "TEXT"),
        ):
            if col not in cols:
                db.execute(f"ALTER TABLE approvers ADD COLUMN {col} {typ}")


def _reserve_attempt(store: Store, pid: int, now: float) -> int | str:
    """Count this attempt as a wrong code *before* its code is checked, in one transaction
    with the lockout counts (so guesses made in parallel see each other); the caller
    forgets it (`_forget_attempt`) once the code verifies. `pid` 0 is vouching. Returns the
    attempt's row id, or why attempts are locked out."""
    since, minutes = now - WRONG_CODE_WINDOW_S, f"{WRONG_CODE_WINDOW_S / 60:.0f}"
    with store.tx() as db:
        (everywhere,) = db.execute(
            "SELECT COUNT(*) FROM approval_wrong_codes WHERE ts>=?", (since,)
        ).fetchone()
        (here,) = db.execute(
            "SELECT COUNT(*) FROM approval_wrong_codes WHERE proposal_id=? AND ts>=?",
            (pid, since),
        ).fetchone()
        if everywhere >= MAX_WRONG_CODES_ALL:
            return (
                f"{everywhere} wrong codes across all proposals and vouching in the last"
                f" {minutes} minutes: approving and enrolling are locked; try later"
            )
        if here >= MAX_WRONG_CODES:
            if pid == 0:
                return (
                    f"{here} wrong vouching codes in the last {minutes} minutes: locked; try later"
                )
            return (
                f"{here} wrong codes for #{pid} in the last {minutes} minutes: locked;"
                " try later or reject it"
            )
        cur = db.execute("INSERT INTO approval_wrong_codes VALUES (?, ?)", (pid, now))
        return int(cur.lastrowid or 0)


def _forget_attempt(store: Store, attempt: int) -> None:
    with store.tx() as db:
        db.execute("DELETE FROM approval_wrong_codes WHERE rowid=?", (attempt,))


def source_identity(source: Source) -> str:
    """Which secret source this is (an encrypted file by its real path): a seed is trusted
    only from the source it was enrolled in, not one the approving process was pointed at."""
    path = getattr(source, "path", None)
    return f"file {os.path.realpath(path)}" if path is not None else source.describe()


def seed_digest(name: str, seed: str) -> str:
    """SHA-256 of the approver's name and seed, kept in SQLite to recognise the enrolled
    seed: a 160-bit random seed cannot be found from it."""
    return hashlib.sha256(f"tradewarden-approver-seed\0{name}\0{seed}".encode()).hexdigest()


def approver_secret_id(settings: Settings, name: str) -> str:
    return f"{settings.secret_admin_id}/approver/{name}"


def _matching_steps(seed: Secret, code: str, now: float) -> int | None:
    totp = pyotp.TOTP(seed.reveal())
    for offset in DRIFT_STEPS:
        t = now + offset * totp.interval
        if pyotp.utils.strings_equal(code, totp.at(t)):
            return int(t // totp.interval)
    return None


@dataclass(frozen=True)
class Enrollment:
    name: str
    uri: str = field(repr=False)  # otpauth:// provisioning URI: shown once, holds the seed
    secret_id: str


class Approvers:
    """Enrolled approvers: names and status in SQLite, each one's TOTP seed in the secret
    source. A name without its seed in the source cannot approve; a seed without an active
    name is never tried; a seed that is not the one `add` made (another version, another
    source, or another seed: SQLite keeps a SHA-256 of it) is never tried either (audited
    ``approver_seed_changed``).
    Without a source (`None`) only `list` works."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        source: Source | None,
        audit: AuditLog | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings, self.store, self.source, self.audit = settings, store, source, audit
        self._clock = clock
        _schema(store)

    # --- enrolment --------------------------------------------------------------------------
    def _writable(self) -> WritableSource:
        if self.source is None:
            raise ApprovalError("no secret source: approver seeds live there")
        if not isinstance(self.source, WritableSource):
            raise ApprovalError(
                f"the secret source ({self.source.describe()}) cannot store approver seeds:"
                " set TRADEWARDEN_SECRET_SOURCE=file or aws"
            )
        return self.source

    def _row(self, name: str) -> sqlite3.Row | None:
        rows = self.store.query("SELECT * FROM approvers WHERE name=?", (name,))
        return rows[0] if rows else None

    def needs_voucher(self, name: str) -> bool:
        """Whether enrolling (or re-seeding) `name` needs a code from another active
        approver: always once two approvers have ever been confirmed (the bootstrap is
        over), and for a new seed of a name while another active approver exists. Whoever
        runs `add` sees the new seed, so without this one person with shell access could
        re-seed every approver (``--replace``) or enrol names of their own."""
        others = [r for r in self.list() if r["status"] == "active" and r["name"] != name]
        return self._bootstrap_over() or (self._row(name) is not None and bool(others))

    def _bootstrap_over(self) -> bool:
        """Two approvers have been confirmed at some time (kept: a re-seeded approver being
        pending again does not reopen the enrolment without a voucher)."""
        (row,) = self.store.query(
            "SELECT COUNT(*) AS n FROM approvers WHERE confirmed_at IS NOT NULL"
        )
        done = self.store.query("SELECT 1 FROM approver_meta WHERE key='bootstrap_over'")
        return bool(done) or int(row["n"]) >= 2

    def _vouch(self, name: str, code: str | None, actor: str) -> str:
        """The active approver (not `name`) whose seed verifies `code`; the code is spent.
        Wrong vouching codes count against the same lockout as approvals (proposal 0)."""
        now = self._clock()
        if not (code or "").strip():
            if not any(r["status"] == "active" and r["name"] != name for r in self.list()):
                raise ApprovalError(
                    f"enrolling {name} needs another active approver to vouch with their code,"
                    " and there is none (see runbooks/approvers.md)"
                )
            raise ApprovalError(
                f"enrolling {name} needs a code from another active approver who vouches for"
                " it (they are recorded and audited)"
            )
        attempt = _reserve_attempt(self.store, 0, now)
        if isinstance(attempt, str):
            self._audit("approver_vouch_refused", {"name": name, "why": "locked"}, actor)
            raise ApprovalError(attempt)
        matches = [(n, st) for n, st in self.identify(code or "") if n != name]
        if len(matches) != 1:
            self._audit("approver_vouch_refused", {"name": name, "why": "wrong code"}, actor)
            raise ApprovalError(
                f"the vouching code for {name} is wrong, expired or ambiguous"
                " (the voucher's current code)"
            )
        _forget_attempt(self.store, attempt)
        voucher, step = matches[0]
        try:
            with self.store.tx() as db:
                db.execute("INSERT INTO totp_steps VALUES (?, ?, 0, ?)", (voucher, step, now))
        except sqlite3.IntegrityError:
            self._audit("approver_vouch_refused", {"name": name, "why": "replay"}, actor)
            raise ApprovalError(
                "the vouching code was already used (replay): wait for the next code"
            ) from None
        return voucher

    def lineage(self, name: str, now: float | None = None) -> set[str]:
        """`name` and whoever vouched for its current seed within `VOUCH_COOLOFF_S`, and
        so on up the chain: names that one person may hold together."""
        now = self._clock() if now is None else now
        out, cur = {name}, name
        while True:
            row = self._row(cur)
            if row is None or not row["vouched_by"] or row["vouched_at"] is None:
                return out
            if now - row["vouched_at"] > VOUCH_COOLOFF_S or row["vouched_by"] in out:
                return out
            cur = row["vouched_by"]
            out.add(cur)

    def add(
        self,
        name: str,
        actor: str,
        *,
        replace: bool = False,
        voucher_code: str | None = None,
    ) -> Enrollment:
        """Make a new seed for `name`, store it in the secret source, and record the name as
        pending until `confirm` sees a code from it. Returns the provisioning URI (show it
        once; it is not kept anywhere else). Past the bootstrap (`needs_voucher`), another
        active approver vouches with their current code; the seed they vouched for does not
        co-approve with them for `VOUCH_COOLOFF_S`."""
        if not NAME_RE.match(name) or name in RESERVED_NAMES:
            raise ApprovalError(
                f"approver name {name!r}: use 1-32 characters a-z 0-9 . _ - starting with a"
                f" letter, not one of {', '.join(sorted(RESERVED_NAMES))}"
            )
        row = self._row(name)
        if row is not None and row["status"] != "removed" and not replace:
            raise ApprovalError(
                f"approver {name} is already enrolled ({row['status']}); --replace gives a new"
                " seed (the old one stops working)"
            )
        source = self._writable()
        voucher = self._vouch(name, voucher_code, actor) if self.needs_voucher(name) else None
        seed = pyotp.random_base32(32)
        scrub.register(seed)
        sid = approver_secret_id(self.settings, name)
        try:
            # the admin secret's KMS key, tags and resource policy (host reads, admin writes)
            version, _previous = source.put(
                sid, SecretKind.ADMIN, {"totp_secret": seed}, like=self.settings.secret_admin_id
            )
            source.invalidate(sid)
        except SecretError as exc:
            raise ApprovalError(f"could not store {name}'s seed: {exc}") from None
        now = self._clock()
        with self.store.tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO approvers (name, status, secret_id, enrolled_at,"
                " enrolled_by, vouched_by, vouched_at, seed_version, seed_source, seed_digest)"
                " VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    sid,
                    now,
                    actor,
                    voucher,
                    now if voucher else None,
                    version,
                    source_identity(source),
                    seed_digest(name, seed),
                ),
            )
        self._audit(
            "approver_enrolled",
            {"name": name, "secret_id": sid, "replace": row is not None, "vouched_by": voucher},
            actor,
        )
        uri = pyotp.TOTP(seed).provisioning_uri(name=name, issuer_name=ISSUER)
        return Enrollment(name, uri, sid)

    def confirm(self, name: str, code: str, actor: str) -> None:
        """Activate a pending approver with a code from their authenticator."""
        row = self._row(name)
        if row is None or row["status"] != "pending":
            status = "not enrolled" if row is None else row["status"]
            raise ApprovalError(f"approver {name} is {status}, not pending confirmation")
        seed = self._seed(name)
        now = self._clock()
        step = _matching_steps(seed, code.strip(), now) if seed is not None else None
        if step is None:
            self._audit("approver_confirm_refused", {"name": name}, actor)
            raise ApprovalError(f"the code does not match {name}'s new seed")
        with self.store.tx() as db:
            db.execute("INSERT OR IGNORE INTO totp_steps VALUES (?, ?, 0, ?)", (name, step, now))
            db.execute(
                "UPDATE approvers SET status='active', confirmed_at=? WHERE name=?", (now, name)
            )
            (confirmed,) = db.execute(
                "SELECT COUNT(*) FROM approvers WHERE confirmed_at IS NOT NULL"
            ).fetchone()
            if confirmed >= 2:
                db.execute(
                    "INSERT OR IGNORE INTO approver_meta VALUES ('bootstrap_over', ?)", (now,)
                )
        self._audit("approver_confirmed", {"name": name}, actor)

    def remove(self, name: str, actor: str) -> None:
        """Stop `name` approving: the name is marked removed and the seed in the secret
        source is overwritten with a random one nobody has seen."""
        row = self._row(name)
        if row is None or row["status"] == "removed":
            raise ApprovalError(f"approver {name} is not enrolled")
        source = self._writable()
        try:
            source.put(
                row["secret_id"],
                SecretKind.ADMIN,
                {"totp_secret": pyotp.random_base32(32)},
                like=self.settings.secret_admin_id,
            )
            source.invalidate(row["secret_id"])
        except SecretError as exc:
            raise ApprovalError(f"could not revoke {name}'s seed: {exc}") from None
        with self.store.tx() as db:
            db.execute(
                "UPDATE approvers SET status='removed', removed_at=?, removed_by=? WHERE name=?",
                (self._clock(), actor, name),
            )
        self._audit("approver_removed", {"name": name}, actor)

    def list(self, include_removed: bool = False) -> list[dict[str, Any]]:
        rows = self.store.query("SELECT * FROM approvers ORDER BY name")
        out = [dict(r) for r in rows]
        return out if include_removed else [r for r in out if r["status"] != "removed"]

    # --- verification -----------------------------------------------------------------------
    def _seed(self, name: str) -> Secret | None:
        row = self._row(name)
        if row is None or self.source is None:
            return None
        why = None
        if row["seed_source"] is not None and row["seed_source"] != source_identity(self.source):
            why = f"asked of {self.source.describe()}, enrolled in another secret source"
        else:
            try:
                bundle = self.source.get(row["secret_id"], SecretKind.ADMIN)
            except SecretNotFoundError:
                return None
            seed = bundle.get("totp_secret")
            if row["seed_version"] is not None and bundle.version != row["seed_version"]:
                why = "not the version `approvers add` wrote"  # a rewrite behind `approvers`
            elif row["seed_digest"] is not None and (
                seed is None
                or not hmac.compare_digest(seed_digest(name, seed.reveal()), row["seed_digest"])
            ):
                why = "not the seed `approvers add` made"
        if why is not None:  # never tried
            self._audit(
                "approver_seed_changed",
                {"name": name, "secret_id": row["secret_id"], "why": why},
                "tradewarden",
            )
            return None
        return seed

    def identify(self, code: str, only: str | None = None) -> builtins.list[tuple[str, int]]:
        """Every active approver (or just `only`) whose seed verifies `code` now, with the
        time step it matched."""
        code = code.strip()
        if not (code.isdigit() and len(code) == 6):
            return []
        names = [r["name"] for r in self.list() if r["status"] == "active"]
        if only is not None:
            names = [n for n in names if n == only]
        now = self._clock()
        out = []
        for name in names:
            seed = self._seed(name)
            step = _matching_steps(seed, code, now) if seed is not None else None
            if step is not None:
                out.append((name, step))
        return out

    def _audit(self, event: str, data: dict[str, Any], actor: str) -> None:
        if self.audit is not None:
            self.audit.append(event, data, actor=actor, sync=True)


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
    required: int = 2  # recorded when it was filed

    def needs(self, settings: Settings) -> int:
        """Approvers needed: what was recorded when it was filed, or more if the settings of
        whoever asks now say so; the threshold never counts above `TWO_APPROVERS_MAX_USD`."""
        return max(self.required, required_approvers(self.amount_usd, settings))

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


def required_approvers(amount_usd: float, settings: Settings) -> int:
    threshold = min(settings.two_approvers_usd, TWO_APPROVERS_MAX_USD)
    return 2 if amount_usd > threshold else 1


def _proposal(r: Mapping[str, Any] | sqlite3.Row, now: float) -> Proposal:
    status = r["status"]
    if status == "pending" and now > r["expires_at"]:
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
        int(r["needs"]),
    )


def is_proposer(approver: str, proposer: str) -> bool:
    """Whether `approver` made the proposal (the proposer is a name or an actor string
    ``name@host ...``)."""
    head = proposer.strip().split()[0] if proposer.strip() else ""
    return approver in (proposer.strip(), head, head.split("@", 1)[0])


SHARED_LOGINS = frozenset({"root", "ssm-user", "ec2-user", "ubuntu", "admin", "tradewarden"})


def personal_login(actor: str) -> str | None:
    """The human's own login behind ``sudo`` in an actor string (`control.current_actor`:
    ``alice@host uid=N sudo ...``), unless it is a shared account that says nothing about
    who is typing (``ssm-user``...)."""
    fields = actor.split()
    if not fields or "sudo" not in fields[1:]:
        return None
    name = fields[0].split("@", 1)[0]
    return None if not name or name in SHARED_LOGINS else name


def ssm_session(actor: str) -> str | None:
    """The ``ssm=`` session id in an actor string (`control.current_actor`), if any."""
    for part in actor.split():
        if part.startswith("ssm=") and len(part) > 4:
            return part[4:]
    return None


class ApprovalQueue:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        audit: AuditLog,
        approvers: Approvers | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings, self.store, self.audit = settings, store, audit
        self.approvers = approvers
        self._clock = clock
        _schema(store)

    def propose(self, kind: str, amount_usd: float, payload: dict[str, Any], proposer: str) -> int:
        if kind not in KINDS:
            raise ApprovalError(f"unknown proposal kind {kind!r} (one of {', '.join(KINDS)})")
        if not amount_usd >= 0:
            raise ApprovalError("amount must be >= 0")
        now = self._clock()
        with self.store.tx() as db:
            cur = db.execute(
                "INSERT INTO proposals (kind, amount_usd, payload, proposer, created_at,"
                " expires_at, status, needs) VALUES (?,?,?,?,?,?, 'pending', ?)",
                (
                    kind,
                    amount_usd,
                    json.dumps(payload),
                    proposer,
                    now,
                    now + self.settings.proposal_ttl_hours * 3600,
                    required_approvers(amount_usd, self.settings),
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
        return _proposal(rows[0], self._clock())

    def list(self, include_closed: bool = False) -> list[Proposal]:
        rows = self.store.query("SELECT id FROM proposals ORDER BY id")
        out = [self.get(r["id"]) for r in rows]
        return out if include_closed else [p for p in out if p.status == "pending"]

    def _refuse(self, pid: int, actor: str, why: str, **extra: Any) -> ApprovalError:
        self.audit.append(
            "approval_refused", {"id": pid, "why": why, **extra}, actor=actor, sync=True
        )
        return ApprovalError(why)

    def approve(
        self, pid: int, code: str, reason: str, *, actor: str, approver: str | None = None
    ) -> Proposal:
        """Approve #pid with a TOTP code. The approver is the enrolled name whose seed
        verifies the code (`approver` narrows the search to that name); `actor` is who runs
        the command (the OS identity, `control.current_actor()`), recorded with it."""
        p = self.get(pid)
        if p.status != "pending":
            raise self._refuse(pid, actor, f"proposal #{pid} is {p.status}")
        if not reason.strip():
            raise self._refuse(pid, actor, "a reason is required")
        if self.approvers is None:
            raise self._refuse(pid, actor, "no approver seeds available: cannot approve")
        attempt = _reserve_attempt(self.store, pid, self._clock())
        if isinstance(attempt, str):
            raise self._refuse(pid, actor, attempt)
        matches = self.approvers.identify(code, approver)
        if not matches:  # the attempt stays counted as a wrong code
            raise self._refuse(pid, actor, "TOTP code is wrong or expired")
        _forget_attempt(self.store, attempt)
        if len(matches) > 1:  # two seeds gave the same 6 digits: do not guess who it is
            raise self._refuse(pid, actor, "the code is ambiguous: wait for the next code")
        (name, step), now = matches[0], self._clock()
        if is_proposer(name, p.proposer):
            raise self._refuse(pid, name, f"{name} proposed #{pid}: the proposer cannot approve")
        needs = p.needs(self.settings)
        try:
            with self.store.tx() as db:
                (row,) = db.execute("SELECT * FROM proposals WHERE id=?", (pid,)).fetchall()
                current = _proposal(row, now)
                if current.status != "pending":
                    raise ApprovalError(f"proposal #{pid} is {current.status}")
                (state,) = db.execute(
                    "SELECT status FROM approvers WHERE name=?", (name,)
                ).fetchone() or ("gone",)
                if state != "active":  # removed or re-seeded while the code was checked
                    raise ApprovalError(f"approver {name} is {state}, not active")
                if any(a["approver"] == name for a in current.approvals):
                    raise ApprovalError(f"{name} already approved #{pid}")
                mine = self.approvers.lineage(name, now)
                for a in current.approvals:
                    shared = mine & self.approvers.lineage(a["approver"], now)
                    if shared:
                        raise ApprovalError(
                            f"{name} and {a['approver']} cannot both approve #{pid}: one seed"
                            f" was vouched for by {', '.join(sorted(shared))} less than"
                            f" {VOUCH_COOLOFF_S / 3600:.0f} h ago (another approver approves)"
                        )
                login = personal_login(actor)
                if login and any(
                    personal_login(a.get("actor", "")) == login for a in current.approvals
                ):
                    raise ApprovalError(
                        f"#{pid} was already approved from the login {login}: the second"
                        " approver approves from their own login"
                    )
                session = ssm_session(actor)
                if session and any(
                    ssm_session(a.get("actor", "")) == session for a in current.approvals
                ):
                    raise ApprovalError(
                        f"#{pid} was already approved from SSM session {session}: the second"
                        " approver approves from their own session"
                    )
                try:
                    db.execute("INSERT INTO totp_steps VALUES (?, ?, ?, ?)", (name, step, pid, now))
                except sqlite3.IntegrityError:
                    raise ApprovalError(
                        "TOTP code already used (replay): one code approves once; wait for"
                        " the next code"
                    ) from None
                approvals = [
                    *current.approvals,
                    {"approver": name, "actor": actor, "reason": reason, "ts": now, "step": step},
                ]
                status = "approved" if len(approvals) >= needs else "pending"
                db.execute(
                    "UPDATE proposals SET approvals=?, status=? WHERE id=?",
                    (json.dumps(approvals), status, pid),
                )
        except ApprovalError as exc:
            raise self._refuse(pid, name, str(exc), by=actor) from None
        self.audit.append(
            "proposal_approved" if status == "approved" else "proposal_approval_added",
            {"id": pid, "reason": reason, "approvals": len(approvals), "needs": needs, "by": actor},
            actor=name,
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

    def mark_executed(self, pid: int, actor: str, note: str) -> Proposal:
        """A human moved the funds of an approved rebalance/transfer by hand: record it done
        (``executed``, audited); the daemon then raises the ``rebalance_executed`` info
        alert for a rebalance. Only an approved proposal can be executed, once."""
        with self.store.tx() as db:
            rows = db.execute("SELECT * FROM proposals WHERE id=?", (pid,)).fetchall()
            if not rows:
                raise ApprovalError(f"no proposal #{pid}")
            p = _proposal(rows[0], self._clock())
            if p.kind not in ("rebalance", "transfer"):
                raise ApprovalError(f"proposal #{pid} is a {p.kind}, not a rebalance or transfer")
            if p.status != "approved":
                raise ApprovalError(f"proposal #{pid} is {p.status}, not approved")
            db.execute(
                "UPDATE proposals SET status='executed', decided_reason=? WHERE id=?", (note, pid)
            )
        self.audit.append(
            f"{p.kind}_executed",
            {"id": pid, "amount_usd": p.amount_usd, "payload": p.payload, "note": note},
            actor=actor,
            sync=True,
        )
        return self.get(pid)

    def executed(self, kind: str, after: int = 0) -> builtins.list[Proposal]:
        """Proposals of `kind` recorded executed, with an id above `after`, oldest first."""
        rows = self.store.query(
            "SELECT id FROM proposals WHERE kind=? AND status='executed' AND id>? ORDER BY id",
            (kind, after),
        )
        return [self.get(r["id"]) for r in rows]
