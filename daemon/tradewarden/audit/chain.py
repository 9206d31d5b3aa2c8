"""Append-only, hash-chained, HMAC-signed audit log (JSON lines).

Each line: ``{"seq", "ts", "event", "actor", "data", "prev_hash", "hash", "hmac"}``.
``hash`` is the SHA-256 of the canonical JSON of the fields other than ``hash`` and
``hmac``; ``hmac`` is HMAC-SHA256 of that hash under the audit key (the admin secret's
``audit_key`` field; ``TRADEWARDEN_AUDIT_KEY`` with the env source). The chain runs across
the daily files (``audit-YYYY-MM-DD.jsonl``): the first line of a file carries the last hash
of the previous file, so deleting, editing or reordering any line is detected by
:func:`verify`.

What the chain alone cannot show, three more records catch:

* the **head** (last seq, hash, HMAC) is written to SQLite (table ``audit_head``) at each
  append, under the same lock and in the same transaction when the caller passes its own
  (``append(..., db=conn)``): lines cut off the end of the newest file, or a tail rewritten
  with recomputed hashes, no longer match it;
* the **HMAC**: someone who rewrites the files (and even the database) without the key
  cannot make valid entries; once a chain is signed every later entry must be;
* the **off-host anchor** (:mod:`tradewarden.audit.anchor`): the head copied to S3.

Entries written before signing existed (no ``hmac``) still verify as *legacy* with a note,
but only as the chain's beginning: an unsigned entry after a signed one is a break.
Files older than the retention period are pruned; the hash of the last pruned line is kept
in ``chain-anchor.json`` so the remaining chain still verifies.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tradewarden.core.config import Settings
    from tradewarden.secrets.source import Source
    from tradewarden.secrets.value import Secret
    from tradewarden.state.store import Store

GENESIS = "0" * 64
ANCHOR = "chain-anchor.json"
PROGRESS_EVERY = 1000  # entries between two `verify` progress calls
MAC_CONTEXT = b"tradewarden-audit-v1\n"
MIN_KEY_CHARS = 32
KEY_FIELD = "audit_key"


def canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def recordable(obj: Any) -> Any:
    """`obj` with every string UTF-8 encodable: a lone surrogate (a non-UTF-8 byte from the
    command line or a file name) becomes its ``\\udcXX`` text, so any value can be
    recorded and an append never fails after the change it audits was made."""
    if isinstance(obj, str):
        try:
            obj.encode()
        except UnicodeEncodeError:
            return obj.encode("utf-8", "backslashreplace").decode()
        return obj
    if isinstance(obj, dict):
        return {recordable(k): recordable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [recordable(v) for v in obj]
    return obj


def entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k not in ("hash", "hmac")}
    return hashlib.sha256(canonical(body)).hexdigest()


def entry_mac(key: bytes, entry_hash_hex: str) -> str:
    return hmac.new(key, MAC_CONTEXT + entry_hash_hex.encode(), hashlib.sha256).hexdigest()


class AuditError(Exception):
    """The audit log cannot be written or read."""


class AuditConfigError(AuditError):
    """The audit log is misconfigured (no audit key in prod, a key too short): exit 2."""


@dataclass(frozen=True)
class Head:
    """A chain head recorded elsewhere (SQLite, the off-host anchor) to check the files by."""

    seq: int
    hash: str
    hmac: str | None = None
    source: str = "the recorded head"
    signed_from: int | None = None


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    lines: int
    files: int
    problem: str = ""
    file: str = ""
    line: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)
    last_seq: int = 0
    last_hash: str = ""

    def describe(self) -> str:
        if self.ok:
            head = f"audit chain OK: {self.lines} entries in {self.files} file(s)"
        else:
            head = f"audit chain BROKEN at {self.file} line {self.line}: {self.problem}"
        return "\n".join([head, *(f"  note: {n}" for n in self.notes)])


def _key_bytes(key: Secret | bytes | str | None) -> bytes | None:
    if key is None:
        return None
    if isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode()
    return key.reveal().encode()


class AuditLog:
    """Writer. Thread-safe; several processes may write (an flock per append).

    `key`: the audit key (entries are HMAC-signed); without it entries are unsigned, which
    only a development chain may be (`open_audit` refuses it in prod). `store`: the state
    database that records the head at each append."""

    def __init__(
        self,
        directory: Path | str,
        retention_days: int = 90,
        *,
        key: Secret | bytes | str | None = None,
        store: Store | None = None,
    ) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.retention_days = retention_days
        self.store = store
        self._key = _key_bytes(key)
        self._lock = threading.Lock()
        self._fh: Any = None
        self._day: str = ""
        self._lockfd = os.open(self.dir / "audit.lock", os.O_RDWR | os.O_CREAT, 0o600)
        self._seen: tuple[str, int] = ("", -1)  # (file, size) after our last write
        self._tail_is_entry = False
        self._seq, self._prev, self._prev_mac = self._tail()
        self._check_key(at_open=True)

    @property
    def signed(self) -> bool:
        return self._key is not None

    def _files(self) -> list[Path]:
        return sorted(self.dir.glob("audit-*.jsonl"))

    def _tail(self) -> tuple[int, str, str | None]:
        for f in reversed(self._files()):
            last = _last_line(f)
            if last:
                try:
                    e = json.loads(last)
                    self._tail_is_entry = True
                    return int(e["seq"]), str(e["hash"]), e.get("hmac")
                except (ValueError, KeyError, TypeError) as exc:
                    raise AuditError(
                        f"audit file {f} ends in an unreadable line; run `tradewarden audit "
                        f"verify` ({exc})"
                    ) from None
        self._tail_is_entry = False  # the chain start (new-chain, all files pruned) or none
        anchor = self.dir / ANCHOR
        if anchor.exists():
            a = json.loads(anchor.read_text())
            return int(a["seq"]), str(a["hash"]), a.get("hmac")
        return 0, GENESIS, None

    def _check_key(self, *, at_open: bool = False) -> None:
        """Refuse to extend a signed chain unsigned, or with another key; and (at open) to
        sign on top of an unsigned tail once the state database records a head: that
        chain was written by a head-recording writer, so with a key configured it was
        re-made without it, and a signed entry on top would hide that."""
        if self._prev_mac is None:
            if (
                at_open
                and self._key is not None
                and self._tail_is_entry
                and self.store is not None
                and self.store.audit_head() is not None
            ):
                raise AuditError(
                    f"the audit chain in {self.dir} ends in an unsigned entry (seq"
                    f" {self._seq}) although an audit key is configured and the state"
                    " database records a head: refusing to sign on top of it; run"
                    " `tradewarden audit verify` (runbooks/audit-chain-broken.md)"
                )
            return
        if self._key is None:
            raise AuditError(
                f"the audit chain in {self.dir} is HMAC-signed and this process has no audit"
                f" key (admin secret field {KEY_FIELD}; TRADEWARDEN_AUDIT_KEY with the env"
                " source): refusing to write unsigned entries"
            )
        if not hmac.compare_digest(entry_mac(self._key, self._prev), self._prev_mac):
            raise AuditError(
                f"the audit key does not match the key the chain in {self.dir} is signed"
                f" with (seq {self._seq}): refusing to write; run `tradewarden audit verify`"
            )

    def verify_chain(
        self, refs: Sequence[Head] = (), progress: Callable[[int], None] | None = None
    ) -> VerifyResult:
        """`verify` this log's directory with this log's key, as it stood at one instant
        (the file sizes are taken under the writers' lock, so an append in progress is
        not mistaken for a truncated line). `progress`: see `verify`."""
        with self._lock:
            fcntl.flock(self._lockfd, fcntl.LOCK_EX)
            try:
                sizes = {f.name: f.stat().st_size for f in self._files()}
            finally:
                fcntl.flock(self._lockfd, fcntl.LOCK_UN)
        return verify(
            self.dir,
            key=self._key,
            refs=refs,
            sizes=sizes,
            retention_days=self.retention_days,
            progress=progress,
        )

    def head(self) -> Head:
        """The chain's last entry as on disk now (other writers included)."""
        with self._lock:
            fcntl.flock(self._lockfd, fcntl.LOCK_EX)
            try:
                seq, h, mac = self._tail()
            finally:
                fcntl.flock(self._lockfd, fcntl.LOCK_UN)
        return Head(seq, h, mac, "the local chain")

    def append(
        self,
        event: str,
        data: dict[str, Any] | None = None,
        *,
        actor: str = "daemon",
        sync: bool = False,
        ts: float | None = None,
        db: sqlite3.Connection | None = None,
    ) -> dict[str, Any]:
        """Append one entry. With a store, the head is recorded in SQLite: in `db` (the
        caller's open transaction, so the entry's head commits with the state change it
        audits) or else in a transaction of its own. Lock order everywhere: SQLite write
        lock, then this object's lock, then the file lock."""
        now = time.time() if ts is None else ts
        if self.store is not None and db is None:
            with self.store.tx() as conn:
                return self._append(event, data, actor, sync, now, conn)
        return self._append(event, data, actor, sync, now, db)

    def _append(
        self,
        event: str,
        data: dict[str, Any] | None,
        actor: str,
        sync: bool,
        now: float,
        db: sqlite3.Connection | None,
    ) -> dict[str, Any]:
        with self._lock:
            # One chain, several writers (the daemon and CLI commands): an exclusive lock
            # per append, and the tail re-read whenever another process wrote since.
            fcntl.flock(self._lockfd, fcntl.LOCK_EX)
            try:
                entry = self._append_locked(event, data, actor, sync, now, db)
                if db is not None:
                    from tradewarden.state.store import Store

                    Store.put_audit_head(db, entry["seq"], entry["hash"], entry.get("hmac"), now)
                return entry
            finally:
                fcntl.flock(self._lockfd, fcntl.LOCK_UN)

    def _append_locked(
        self,
        event: str,
        data: dict[str, Any] | None,
        actor: str,
        sync: bool,
        now: float,
        db: sqlite3.Connection | None,
    ) -> dict[str, Any]:
        day = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
        if day != self._day:
            self._rotate(day)
        if (self._day, os.fstat(self._fh.fileno()).st_size) != self._seen:
            # another writer appended since our last
            self._seq, self._prev, self._prev_mac = self._tail()
            self._check_key()
        entry: dict[str, Any] = {
            "seq": self._seq + 1,
            "ts": datetime.fromtimestamp(now, UTC).isoformat(timespec="microseconds"),
            "event": recordable(event),
            "actor": recordable(actor),
            "data": recordable(data or {}),
            "prev_hash": self._prev,
        }
        entry["hash"] = entry_hash(entry)
        if self._key is not None:
            entry["hmac"] = entry_mac(self._key, entry["hash"])
        # the head committed to a durable database must never be ahead of the file on disk
        durable_head = db is not None and (self.store is None or self.store.durable)
        try:
            self._fh.write(canonical(entry).decode() + "\n")
            self._fh.flush()
            if sync or durable_head:
                os.fsync(self._fh.fileno())
        except OSError as exc:
            raise AuditError(f"cannot write audit log in {self.dir}: {exc}") from None
        self._seq, self._prev, self._prev_mac = entry["seq"], entry["hash"], entry.get("hmac")
        self._seen = (self._day, os.fstat(self._fh.fileno()).st_size)
        return entry

    def _rotate(self, day: str) -> None:
        """The new day's file opened before the old one is closed: a failure (disk or
        inodes full, the path taken) is an `AuditError` (a system critical error), and the
        log keeps its open file rather than a closed one."""
        path = self.dir / f"audit-{day}.jsonl"
        try:
            fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open on purpose
        except OSError as exc:
            raise AuditError(f"cannot open audit log {path}: {exc}") from None
        try:
            os.chmod(path, 0o600)
            if self._fh:
                self._fh.flush()
                os.fsync(self._fh.fileno())
                self._fh.close()
        except OSError as exc:
            fh.close()
            raise AuditError(f"cannot rotate audit log in {self.dir}: {exc}") from None
        self._fh = fh
        self._day = day

    def sync(self) -> None:
        with self._lock:
            if self._fh:
                self._fh.flush()
                os.fsync(self._fh.fileno())

    def close(self) -> None:
        with self._lock:
            if self._fh:
                self._fh.flush()
                os.fsync(self._fh.fileno())
                self._fh.close()
                self._fh = None
                self._day = ""

    def prune(self, today: date | None = None) -> list[Path]:
        """Delete daily files older than the retention period; keep the chain anchored."""
        today = today or datetime.now(UTC).date()
        cutoff = today - timedelta(days=self.retention_days)
        removed = []
        with self._lock:
            for f in self._files():
                try:
                    day = date.fromisoformat(f.stem.removeprefix("audit-"))
                except ValueError:
                    continue
                if day >= cutoff or f.name == f"audit-{self._day}.jsonl":
                    continue
                last = _last_line(f)
                if last:
                    e = json.loads(last)
                    if str(e.get("ts", ""))[:10] >= cutoff.isoformat():
                        continue  # a recent entry under an old name: never delete it
                    _write_chain_start(
                        self.dir, e["seq"], e["hash"], e.get("hmac"), f.name, entry=e
                    )
                f.unlink()
                removed.append(f)
        return removed


def _write_chain_start(
    d: Path,
    seq: int,
    h: str,
    mac: str | None,
    origin: str,
    *,
    entry: dict[str, Any] | None = None,
) -> None:
    """Where the kept chain begins: after pruning, the whole last pruned `entry` (so
    `verify` can check its hash, its HMAC and that it is older than the retention period);
    after `audit new-chain`, `origin` is ``new-chain`` and the first kept entry must be
    the signed ``chain_restarted`` entry continuing from (seq, hash)."""
    tmp = d / (ANCHOR + ".tmp")
    rec: dict[str, Any] = {"seq": seq, "hash": h, "hmac": mac, "file": origin}
    if entry is not None:
        rec["entry"] = entry
    tmp.write_text(json.dumps(rec))
    os.replace(tmp, d / ANCHOR)


def _last_line(path: Path) -> str:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        block = b""
        pos = size
        while pos > 0:
            step = min(4096, pos)
            pos -= step
            fh.seek(pos)
            block = fh.read(step) + block
            if block.rstrip(b"\n").count(b"\n") >= 1:
                break
    lines = [ln for ln in block.split(b"\n") if ln.strip()]
    return lines[-1].decode("utf-8", "replace") if lines else ""


def _span(first: int, last: int) -> str:
    return f"seq {first}" if first == last else f"seq {first}..{last}"


def verify(
    directory: Path | str,
    *,
    key: Secret | bytes | str | None = None,
    refs: Sequence[Head] = (),
    sizes: dict[str, int] | None = None,
    retention_days: int | None = None,
    today: date | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyResult:
    """Walk every file and line; report the first place the chain breaks.

    `key`: the audit key; each entry's HMAC is checked with it (without it, signed entries
    are checked by hash only, and a note says so). `refs`: heads recorded elsewhere (the
    SQLite head, the off-host anchor): the chain must reach each one's seq with the same
    hash (and HMAC); a chain that ends before it was truncated, one that differs was
    rewritten. A ref's `signed_from` says from which seq every entry must be signed.
    `sizes`: verify only these files up to these sizes (`AuditLog.verify_chain`).
    `progress(entries checked so far)`: called per file and every `PROGRESS_EVERY` entries
    (the daemon extends systemd's start timeout from it while a long chain is verified).

    Each line must be exactly the canonical JSON of its entry (no duplicate keys, escapes
    or spacing that show a reader something the hash does not cover). With a key, the
    chain must end in a signed entry once a head was recorded (a chain re-made unsigned
    from genesis is a rewrite). The chain start (`chain-anchor.json`) is checked: a pruned
    start must carry the pruned entry, hash- and HMAC-valid and older than
    `retention_days`; a new-chain start must be followed by its ``chain_restarted``
    entry."""
    d = Path(directory)
    k = _key_bytes(key)
    files = sorted(d.glob("audit-*.jsonl"))
    if sizes is not None:  # a snapshot: only what existed then, up to its size then
        files = [f for f in files if f.name in sizes]
    prev, seq, start_mac = GENESIS, 0, None
    anchor = d / ANCHOR
    restarted: tuple[int, str] | None = None
    start_notes: list[str] = []
    if anchor.exists():
        try:
            a = json.loads(anchor.read_text())
            prev, seq, start_mac = str(a["hash"]), int(a["seq"]), a.get("hmac")
        except (ValueError, KeyError, TypeError):
            return VerifyResult(False, 0, len(files), "chain anchor is unreadable", ANCHOR, 0)
        if a.get("file") == "new-chain":
            restarted = (seq, prev)
        else:
            problem = _check_pruned_start(a, k, retention_days, today)
            if problem.startswith("note: "):
                start_notes.append(problem.removeprefix("note: "))
            elif problem:
                return VerifyResult(False, 0, len(files), problem, ANCHOR, 0, last_seq=seq)
    start_seq, start_hash = seq, prev
    must_sign_from = min((r.signed_from for r in refs if r.signed_from), default=None)
    wanted = {r.seq for r in refs}
    found: dict[int, tuple[str, str | None, str, int]] = {}
    legacy: list[int] = []
    first_signed: int | None = start_seq if start_mac else None
    last_mac: str | None = start_mac
    unchecked = 0
    total = 0
    last_file, last_no = (files[-1].name if files else ""), 0

    def broken(problem: str, fname: str, no: int) -> VerifyResult:
        return VerifyResult(False, total, len(files), problem, fname, no, last_seq=seq)

    for f in files:
        if progress is not None:
            progress(total)
        raw = f.read_bytes()
        if sizes is not None:
            raw = raw[: sizes[f.name]]
        if raw and not raw.endswith(b"\n"):
            return broken("file ends mid-line (truncated)", f.name, raw.count(b"\n") + 1)
        no = 0
        fday: str | None = f.stem.removeprefix("audit-")
        try:
            date.fromisoformat(fday or "")
        except ValueError:
            fday = None
        for no, line in enumerate(raw.split(b"\n")[:-1] if raw else [], start=1):
            try:
                e = json.loads(line)
                if not isinstance(e, dict):
                    raise ValueError("not an object")
            except ValueError:
                return broken("line is not valid JSON", f.name, no)
            try:
                exact = canonical(e) == line
            except (UnicodeEncodeError, TypeError, ValueError):
                exact = False
            if not exact:
                return broken(
                    "line is not the canonical JSON of its entry (duplicate keys, escapes or"
                    " spacing: edited)",
                    f.name,
                    no,
                )
            if restarted is not None and e.get("seq") == restarted[0] + 1:
                d_ = e.get("data")
                cont = d_.get("continues_from") if isinstance(d_, dict) else None
                if e.get("event") != "chain_restarted" or cont != {
                    "seq": restarted[0],
                    "hash": restarted[1],
                }:
                    return broken(
                        "the chain start says `audit new-chain`, but its first entry is not"
                        " the chain_restarted entry continuing from it (history deleted?)",
                        f.name,
                        no,
                    )
                if k is not None and "hmac" not in e:
                    return broken(
                        "the chain_restarted entry carries no HMAC (forged without the key?)",
                        f.name,
                        no,
                    )
                start_notes.append(
                    f"the chain was restarted at seq {e['seq']} ({e['ts']}, by {e.get('actor')},"
                    f" reason: {d_.get('reason') if isinstance(d_, dict) else ''}): entries"
                    f" before seq {e['seq']} are not in this directory"
                )
            if e.get("seq") != seq + 1:
                return broken(
                    f"sequence {e.get('seq')} follows {seq} (line deleted or reordered)",
                    f.name,
                    no,
                )
            if e.get("prev_hash") != prev:
                return broken("prev_hash does not match the previous entry", f.name, no)
            if entry_hash(e) != e.get("hash"):
                return broken("hash does not match the content (line edited)", f.name, no)
            if fday is not None and str(e.get("ts", ""))[:10] != fday:
                return broken(
                    f"entry dated {str(e.get('ts', ''))[:10]} is in the file for {fday} (file"
                    " renamed or moved: pruning goes by the file's date)",
                    f.name,
                    no,
                )
            mac = e.get("hmac")
            if mac is None:
                signed_from = first_signed or must_sign_from
                if signed_from is not None and e["seq"] >= signed_from:
                    return broken(
                        f"seq {e['seq']} has no HMAC but the chain is HMAC-signed from seq"
                        f" {signed_from} (rewritten without the audit key?)",
                        f.name,
                        no,
                    )
                legacy.append(e["seq"])
            else:
                if first_signed is None:
                    first_signed = e["seq"]
                if k is None:
                    unchecked += 1
                elif not isinstance(mac, str) or not hmac.compare_digest(
                    entry_mac(k, e["hash"]), mac
                ):
                    return broken(
                        f"HMAC of seq {e['seq']} does not match (entry rewritten without the"
                        " audit key, or verified with a different key)",
                        f.name,
                        no,
                    )
            if e["seq"] in wanted:
                found[e["seq"]] = (e["hash"], mac, f.name, no)
            prev, seq, last_mac = e["hash"], e["seq"], mac
            total += 1
            if progress is not None and total % PROGRESS_EVERY == 0:
                progress(total)
        last_file, last_no = f.name, no
    if restarted is not None and seq == restarted[0]:
        return broken(
            "the chain start says `audit new-chain` but no chain_restarted entry follows it",
            last_file or ANCHOR,
            last_no + 1,
        )
    if k is not None and refs and seq > 0 and last_mac is None:
        return broken(
            f"the newest entry (seq {seq}) carries no HMAC although an audit key is configured"
            f" and {refs[0].source} records a head: every writer with the key signs, so the"
            " chain was re-made without the key (writers refuse to sign on top of it; see"
            " runbooks/audit-chain-broken.md)",
            last_file or ANCHOR,
            last_no,
        )
    for r in sorted(refs, key=lambda r: r.seq):
        if r.seq > seq:
            return VerifyResult(
                False,
                total,
                len(files),
                f"{'entry' if r.seq == seq + 1 else 'entries'} {_span(seq + 1, r.seq)}"
                f" {'is' if r.seq == seq + 1 else 'are'} missing: {r.source} records the chain"
                f" head at seq {r.seq}, the files end at seq {seq} (truncated, or entries"
                " deleted and the hashes recomputed)",
                last_file,
                last_no + 1,
                last_seq=seq,
            )
        if r.seq < start_seq:
            continue  # pruned: the chain-anchor's continuity is what remains to check
        got = (start_hash, start_mac, ANCHOR, 0) if r.seq == start_seq else found[r.seq]
        if got[0] != r.hash or (r.hmac is not None and got[1] is not None and got[1] != r.hmac):
            return VerifyResult(
                False,
                total,
                len(files),
                f"entry seq {r.seq} differs from {r.source} (the chain was rewritten)",
                got[2],
                got[3],
                last_seq=seq,
            )
    notes = list(start_notes)
    if legacy:
        notes.append(
            f"{len(legacy)} legacy entries ({_span(legacy[0], legacy[-1])}) carry no HMAC"
            " (written before audit signing, or in development without an audit key):"
            " they are checked by the hash chain only"
        )
    if unchecked:
        notes.append(f"{unchecked} HMACs not checked: no audit key given to verify")
    for r in refs:
        if r.seq < start_seq:
            notes.append(f"{r.source} (seq {r.seq}) predates the oldest kept entry (pruned)")
    return VerifyResult(True, total, len(files), notes=tuple(notes), last_seq=seq, last_hash=prev)


def _check_pruned_start(
    a: dict[str, Any], key: bytes | None, retention_days: int | None, today: date | None
) -> str:
    """The problem with a pruned chain start ("" if none; "note: ..." to only report)."""
    e = a.get("entry")
    if not isinstance(e, dict):
        if key is not None:
            return (
                "chain anchor names no pruned entry (seq and hash only): nothing shows the"
                " files before it were pruned rather than deleted"
            )
        return "note: the chain start (chain-anchor.json) carries no pruned entry: unchecked"
    if (
        e.get("seq") != a.get("seq")
        or e.get("hash") != a.get("hash")
        or e.get("hmac") != a.get("hmac")
    ):
        return "chain anchor differs from the pruned entry it carries (edited)"
    try:
        ok_hash = entry_hash(e) == e.get("hash")
    except (UnicodeEncodeError, TypeError, ValueError):
        ok_hash = False
    if not ok_hash:
        return "the pruned entry in the chain anchor does not match its hash (edited)"
    mac = e.get("hmac")
    if key is not None and mac is not None:
        if not isinstance(mac, str) or not hmac.compare_digest(entry_mac(key, e["hash"]), mac):
            return "HMAC of the pruned entry in the chain anchor does not match (forged)"
    if retention_days is not None:
        try:
            when = datetime.fromisoformat(str(e.get("ts"))).astimezone(UTC).date()
        except ValueError:
            return "the pruned entry in the chain anchor has no readable time"
        cutoff = (today or datetime.now(UTC).date()) - timedelta(days=retention_days)
        if when >= cutoff:
            return (
                f"the chain anchor says entries up to seq {e.get('seq')} ({when}) were pruned,"
                f" but the retention period ({retention_days} days) keeps everything since"
                f" {cutoff}: the files were deleted, not pruned"
            )
    return ""


# --- wiring: the key from the secret source, the head from the state database ---------------
def audit_key(settings: Settings, source: Source) -> Secret | None:
    """The audit HMAC key: the admin secret's ``audit_key`` field. Missing: None in
    development (entries unsigned, and `verify` says so), `AuditConfigError` in prod."""
    from tradewarden.core.config import Profile
    from tradewarden.secrets.credentials import admin_secret
    from tradewarden.secrets.errors import SecretNotFoundError

    secret_id = settings.secret_admin_id
    try:
        exists = getattr(source, "exists", None)  # the Fernet file may not exist yet
        if exists is not None and not exists(secret_id):
            raise SecretNotFoundError(f"secret {secret_id}: not found", secret_id)
        key = admin_secret(settings, source, KEY_FIELD)
    except SecretNotFoundError as exc:
        if settings.profile is Profile.PROD:
            raise AuditConfigError(
                f"{exc}: the audit log's HMAC key is required with TRADEWARDEN_PROFILE=prod"
                f" (store it with `tradewarden secrets put admin`, field {KEY_FIELD})"
            ) from None
        return None
    if len(key.reveal()) < MIN_KEY_CHARS:
        raise AuditConfigError(
            f"secret {settings.secret_admin_id}: {KEY_FIELD} is shorter than"
            f" {MIN_KEY_CHARS} characters"
        )
    return key


class _Unset:
    pass


UNSET: Any = _Unset()


def open_audit(
    settings: Settings,
    store: Store | None = None,
    *,
    key: Secret | None = UNSET,
    source: Source | None = None,
    directory: Path | None = None,
) -> AuditLog:
    """The audit log as every writer opens it: signed with the audit key (read from the
    secret source unless given) and recording its head in `store`. Raises
    `AuditConfigError` (no key in prod), `SecretError` (the source cannot be read) or
    `AuditError` (the chain is signed and the key is missing or different)."""
    from tradewarden.core.config import Profile

    if key is UNSET:
        if source is None:
            from tradewarden.secrets.factory import build_source

            source = build_source(settings)
        key = audit_key(settings, source)
    elif key is None and settings.profile is Profile.PROD:
        raise AuditConfigError(
            f"the audit log's HMAC key (secret {settings.secret_admin_id}, field {KEY_FIELD})"
            " is required with TRADEWARDEN_PROFILE=prod"
        )
    return AuditLog(
        directory or settings.audit_dir, settings.audit_retention_days, key=key, store=store
    )


def recorded_head(store: Store) -> Head | None:
    row = store.audit_head()
    if row is None:
        return None
    return Head(
        int(row["seq"]),
        str(row["hash"]),
        row["hmac"],
        "the state database",
        row["signed_from"],
    )
