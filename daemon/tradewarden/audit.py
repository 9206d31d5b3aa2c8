"""Append-only, hash-chained audit log (JSON lines).

Each line: ``{"seq", "ts", "event", "actor", "data", "prev_hash", "hash"}`` where ``hash`` is
the SHA-256 of the canonical JSON of the other fields. The chain runs across the daily
files (``audit-YYYY-MM-DD.jsonl``): the first line of a file carries the last hash of the
previous file, so deleting, editing, reordering or truncating any line is detected by
:func:`verify`. Files older than the retention period are pruned; the hash of the last
pruned line is kept in ``chain-anchor.json`` so the remaining chain still verifies.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
ANCHOR = "chain-anchor.json"


def canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(canonical(body)).hexdigest()


class AuditError(Exception):
    """The audit log cannot be written or read."""


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    lines: int
    files: int
    problem: str = ""
    file: str = ""
    line: int = 0

    def describe(self) -> str:
        if self.ok:
            return f"audit chain OK: {self.lines} entries in {self.files} file(s)"
        return f"audit chain BROKEN at {self.file} line {self.line}: {self.problem}"


class AuditLog:
    """Writer. Thread-safe. `fsync` on events that matter (trips, resets, halts)."""

    def __init__(self, directory: Path | str, retention_days: int = 90) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.retention_days = retention_days
        self._lock = threading.Lock()
        self._fh: Any = None
        self._day: str = ""
        self._lockfd = os.open(self.dir / "audit.lock", os.O_RDWR | os.O_CREAT, 0o600)
        self._seen: tuple[str, int] = ("", -1)  # (file, size) after our last write
        self._seq, self._prev = self._tail()

    def _files(self) -> list[Path]:
        return sorted(self.dir.glob("audit-*.jsonl"))

    def _tail(self) -> tuple[int, str]:
        for f in reversed(self._files()):
            last = _last_line(f)
            if last:
                try:
                    e = json.loads(last)
                    return int(e["seq"]), str(e["hash"])
                except (ValueError, KeyError, TypeError) as exc:
                    raise AuditError(
                        f"audit file {f} ends in an unreadable line; run `tradewarden audit "
                        f"verify` ({exc})"
                    ) from None
        anchor = self.dir / ANCHOR
        if anchor.exists():
            a = json.loads(anchor.read_text())
            return int(a["seq"]), str(a["hash"])
        return 0, GENESIS

    def append(
        self,
        event: str,
        data: dict[str, Any] | None = None,
        *,
        actor: str = "daemon",
        sync: bool = False,
        ts: float | None = None,
    ) -> dict[str, Any]:
        now = time.time() if ts is None else ts
        with self._lock:
            # One chain, several writers (the daemon and CLI commands): an exclusive lock
            # per append, and the tail re-read whenever another process wrote since.
            fcntl.flock(self._lockfd, fcntl.LOCK_EX)
            try:
                return self._append_locked(event, data, actor, sync, now)
            finally:
                fcntl.flock(self._lockfd, fcntl.LOCK_UN)

    def _append_locked(
        self, event: str, data: dict[str, Any] | None, actor: str, sync: bool, now: float
    ) -> dict[str, Any]:
        day = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
        if day != self._day:
            self._rotate(day)
        if (self._day, os.fstat(self._fh.fileno()).st_size) != self._seen:
            self._seq, self._prev = self._tail()  # another writer appended since our last
        entry = {
            "seq": self._seq + 1,
            "ts": datetime.fromtimestamp(now, UTC).isoformat(timespec="microseconds"),
            "event": event,
            "actor": actor,
            "data": data or {},
            "prev_hash": self._prev,
        }
        entry["hash"] = entry_hash(entry)
        try:
            self._fh.write(canonical(entry).decode() + "\n")
            self._fh.flush()
            if sync:
                os.fsync(self._fh.fileno())
        except OSError as exc:
            raise AuditError(f"cannot write audit log in {self.dir}: {exc}") from None
        self._seq, self._prev = entry["seq"], entry["hash"]
        self._seen = (self._day, os.fstat(self._fh.fileno()).st_size)
        return entry

    def _rotate(self, day: str) -> None:
        if self._fh:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
        path = self.dir / f"audit-{day}.jsonl"
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open on purpose
        os.chmod(path, 0o600)
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
                    tmp = self.dir / (ANCHOR + ".tmp")
                    tmp.write_text(json.dumps({"seq": e["seq"], "hash": e["hash"], "file": f.name}))
                    os.replace(tmp, self.dir / ANCHOR)
                f.unlink()
                removed.append(f)
        return removed


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


def verify(directory: Path | str) -> VerifyResult:
    """Walk every file and line; report the first place the chain breaks."""
    d = Path(directory)
    files = sorted(d.glob("audit-*.jsonl"))
    prev, seq = GENESIS, 0
    anchor = d / ANCHOR
    if anchor.exists():
        try:
            a = json.loads(anchor.read_text())
            prev, seq = str(a["hash"]), int(a["seq"])
        except (ValueError, KeyError, TypeError):
            return VerifyResult(False, 0, len(files), "chain anchor is unreadable", ANCHOR, 0)
    total = 0
    for f in files:
        raw = f.read_bytes()
        if raw and not raw.endswith(b"\n"):
            last_no = raw.count(b"\n") + 1
            return VerifyResult(
                False, total, len(files), "file ends mid-line (truncated)", f.name, last_no
            )
        for no, line in enumerate(raw.split(b"\n")[:-1] if raw else [], start=1):
            try:
                e = json.loads(line)
                if not isinstance(e, dict):
                    raise ValueError("not an object")
            except ValueError:
                return VerifyResult(False, total, len(files), "line is not valid JSON", f.name, no)
            if e.get("seq") != seq + 1:
                return VerifyResult(
                    False,
                    total,
                    len(files),
                    f"sequence {e.get('seq')} follows {seq} (line deleted or reordered)",
                    f.name,
                    no,
                )
            if e.get("prev_hash") != prev:
                return VerifyResult(
                    False,
                    total,
                    len(files),
                    "prev_hash does not match the previous entry",
                    f.name,
                    no,
                )
            if entry_hash(e) != e.get("hash"):
                return VerifyResult(
                    False,
                    total,
                    len(files),
                    "hash does not match the content (line edited)",
                    f.name,
                    no,
                )
            prev, seq = e["hash"], e["seq"]
            total += 1
    return VerifyResult(True, total, len(files))
