"""Backup and restore of the state directory (the seed's "System Recovery").

A backup is a directory (local, or ``s3://bucket/prefix/``) named
``tradewarden-<UTC time>`` holding:

* ``tradewarden.sqlite3`` — a consistent copy taken with SQLite's online backup API, so it
  can be taken while the daemon runs;
* ``audit/audit-*.jsonl`` (+ ``chain-anchor.json``) — copied under the audit log's own lock,
  so no half-written line is copied;
* ``alerts.jsonl`` when present (the local alert record);
* ``manifest.json`` — SHA-256 and size of every file, written last: a backup without a
  manifest is incomplete and is never restored.

A restore refuses while the daemon runs, refuses any file whose hash does not match the
manifest, any unexpected path, a database that fails its integrity check and an audit
chain that does not verify. The current state (if any) is kept in
``<state dir>/pre-restore-<time>/``. The restore goes through the daemon's own persistence,
so the unchanged daemon honours it: a manual HALTED state whose reason names the backup
(sticky until a human has reconciled and run ``tradewarden reset``), the gradual-restart
size ramp started, any halt/reset still queued in the backup expired (never replayed), and
a ``restored`` entry appended to the restored audit chain.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from tradewarden import __version__
from tradewarden.audit.chain import AuditError, Head
from tradewarden.audit.chain import verify as verify_audit
from tradewarden.core.actor import current_actor
from tradewarden.core.config import Settings
from tradewarden.risk.ramp import SizeRamp
from tradewarden.runtime.lock import DaemonLock
from tradewarden.state.keys import StateKey
from tradewarden.state.store import StateError, Store

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MANIFEST = "manifest.json"
FORMAT = 1
DB_NAME = "tradewarden.sqlite3"
ALERTS_NAME = "alerts.jsonl"
PREFIX = "tradewarden-"
# Only these paths may appear in a manifest (no absolute paths, no "..").
ALLOWED = re.compile(
    r"^(tradewarden\.sqlite3|alerts\.jsonl|audit/(audit-\d{4}-\d{2}-\d{2}\.jsonl|chain-anchor\.json))$"
)
_CHUNK = 1 << 20


class BackupError(Exception):
    """A backup cannot be taken or restored; the message says why and what to do."""


@dataclass(frozen=True)
class Backup:
    location: str
    manifest: dict[str, Any]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _now_utc() -> datetime:
    return datetime.now(UTC)


# --- destinations ------------------------------------------------------------------------
def _is_s3(location: str) -> bool:
    return location.startswith("s3://")


def _split_s3(location: str) -> tuple[str, str]:
    rest = location[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise BackupError(f"{location!r}: an S3 location looks like s3://bucket/prefix")
    return bucket, prefix.strip("/")


def _join(location: str, name: str) -> str:
    return location.rstrip("/") + "/" + name


def _s3_client() -> S3Client:
    import boto3  # honours AWS_ENDPOINT_URL, AWS_REGION and the instance role

    return boto3.client("s3")


# --- backup -------------------------------------------------------------------------------
def _copy_database(src: Path, dst: Path) -> str:
    """SQLite online backup: a consistent snapshot even while the daemon writes."""
    if not src.is_file():
        raise BackupError(f"no state database at {src}: nothing to back up")
    try:
        source = sqlite3.connect(src, timeout=30)
        try:
            target = sqlite3.connect(dst)
            try:
                source.backup(target)
                result = str(target.execute("PRAGMA integrity_check").fetchone()[0])
                target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            finally:
                target.close()
        finally:
            source.close()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot back up {src}: {exc}") from None
    if result != "ok":
        raise BackupError(f"the copy of {src} failed its integrity check: {result}")
    return result


@contextlib.contextmanager
def _audit_locked(audit_dir: Path) -> Iterator[None]:
    """Hold the audit log's writer lock: appends wait, so no line is copied half-written."""
    fd = os.open(audit_dir / "audit.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _copy_audit(audit_dir: Path, dst: Path) -> list[str]:
    if not audit_dir.is_dir():
        return []
    dst.mkdir(parents=True, exist_ok=True)
    copied = []
    with _audit_locked(audit_dir):
        for f in sorted(audit_dir.iterdir()):
            rel = f"audit/{f.name}"
            if f.is_file() and ALLOWED.match(rel):
                shutil.copy2(f, dst / f.name)
                copied.append(rel)
    return copied


def _stage(settings: Settings, staging: Path) -> dict[str, Any]:
    """Write the backup's files into `staging` and return its manifest."""
    started = _now_utc()
    integrity = _copy_database(settings.db_path, staging / DB_NAME)
    rels = [DB_NAME, *_copy_audit(settings.audit_dir, staging / "audit")]
    alerts = settings.state_dir / ALERTS_NAME
    if alerts.is_file():
        shutil.copy2(alerts, staging / ALERTS_NAME)
        rels.append(ALERTS_NAME)
    chain = verify_audit(staging / "audit") if (staging / "audit").is_dir() else None
    return {
        "format": FORMAT,
        "created_at": started.isoformat(timespec="seconds"),
        "created_by": current_actor(),
        "host": socket.gethostname(),
        "version": __version__,
        "state_dir": str(settings.state_dir),
        "database_integrity": integrity,
        "audit_chain": None if chain is None else chain.describe(),
        "audit_chain_ok": None if chain is None else chain.ok,
        "files": [
            {
                "path": rel,
                "sha256": sha256_file(staging / rel),
                "size": (staging / rel).stat().st_size,
            }
            for rel in rels
        ],
    }


def create_backup(settings: Settings, destination: str) -> Backup:
    """Back up the state dir into a new ``tradewarden-<time>`` directory under `destination`."""
    with tempfile.TemporaryDirectory(prefix="tradewarden-backup-") as tmp:
        staging = Path(tmp)
        manifest = _stage(settings, staging)
        name = PREFIX + _now_utc().strftime("%Y%m%dT%H%M%S%fZ")
        body = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
        if _is_s3(destination):
            bucket, prefix = _split_s3(destination)
            key_base = f"{prefix}/{name}" if prefix else name
            s3 = _s3_client()
            try:
                for f in manifest["files"]:
                    s3.upload_file(str(staging / f["path"]), bucket, f"{key_base}/{f['path']}")
                s3.put_object(Bucket=bucket, Key=f"{key_base}/{MANIFEST}", Body=body)
            except Exception as exc:  # botocore's errors: report, never half-claim success
                raise BackupError(f"upload to s3://{bucket}/{key_base}/ failed: {exc}") from None
            return Backup(f"s3://{bucket}/{key_base}", manifest)
        root = Path(destination)
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        final = root / name
        partial = root / f".{name}.partial"
        shutil.copytree(staging, partial)
        (partial / MANIFEST).write_bytes(body)
        for p in [partial, *partial.rglob("*")]:
            with contextlib.suppress(OSError):
                os.chmod(p, 0o700 if p.is_dir() else 0o600)
        os.replace(partial, final)  # appears complete or not at all
        return Backup(str(final), manifest)


# --- fetch and verify ---------------------------------------------------------------------
def _list_backups(location: str) -> list[str]:
    if _is_s3(location):
        bucket, prefix = _split_s3(location)
        s3 = _s3_client()
        try:
            resp = s3.list_objects_v2(
                Bucket=bucket, Prefix=f"{prefix}/" if prefix else "", Delimiter="/"
            )
        except Exception:  # an unreadable location has nothing to suggest
            return []
        found = [
            cp["Prefix"].rstrip("/").rsplit("/", 1)[-1] for cp in resp.get("CommonPrefixes", [])
        ]
        return sorted(n for n in found if n.startswith(PREFIX))
    p = Path(location)
    if not p.is_dir():
        return []
    return sorted(
        c.name for c in p.iterdir() if c.name.startswith(PREFIX) and (c / MANIFEST).is_file()
    )


def _no_manifest(location: str) -> BackupError:
    options = _list_backups(location)
    hint = (
        " Backups found under it: " + ", ".join(_join(location, n) for n in options[-5:])
        if options
        else ""
    )
    return BackupError(
        f"{location} is not a complete backup (no {MANIFEST}).{hint} Pass one backup directory."
    )


def _parse_manifest(raw: bytes, location: str) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads(raw)
        files = manifest["files"]
        if manifest.get("format") != FORMAT or not isinstance(files, list):
            raise ValueError(f"unsupported format {manifest.get('format')!r}")
        for f in files:
            if not ALLOWED.match(str(f["path"])):
                raise ValueError(f"unexpected path {f['path']!r}")
            if not re.fullmatch(r"[0-9a-f]{64}", str(f["sha256"])):
                raise ValueError(f"bad sha256 for {f['path']!r}")
            if not isinstance(f.get("size"), int) or f["size"] < 0:
                raise ValueError(f"bad size for {f['path']!r}")
        paths = [f["path"] for f in files]
        if len(set(paths)) != len(paths):
            raise ValueError("a path is listed twice")
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{location}/{MANIFEST} is not a valid manifest: {exc}") from None
    if not any(f["path"] == DB_NAME for f in files):
        raise BackupError(f"{location}/{MANIFEST} lists no {DB_NAME}")
    return manifest


def fetch_backup(location: str, into: Path) -> dict[str, Any]:
    """Copy the backup at `location` into `into` and return its manifest (not yet verified)."""
    location = location.rstrip("/")
    if _is_s3(location):
        bucket, key_base = _split_s3(location)
        s3 = _s3_client()
        try:
            raw = s3.get_object(Bucket=bucket, Key=f"{key_base}/{MANIFEST}")["Body"].read()
        except Exception as exc:  # botocore's errors
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404"):
                raise _no_manifest(location) from None
            raise BackupError(f"cannot read {location}/{MANIFEST}: {exc}") from None
        manifest = _parse_manifest(raw, location)
        for f in manifest["files"]:
            target = into / PurePosixPath(f["path"])
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                s3.download_file(bucket, f"{key_base}/{f['path']}", str(target))
            except Exception as exc:
                raise BackupError(f"cannot download {location}/{f['path']}: {exc}") from None
        return manifest
    src = Path(location)
    if not (src / MANIFEST).is_file():
        raise _no_manifest(location)
    manifest = _parse_manifest((src / MANIFEST).read_bytes(), location)
    for f in manifest["files"]:
        s = src / PurePosixPath(f["path"])
        if not s.is_file():
            raise BackupError(f"{location}: {f['path']} is listed in the manifest but missing")
        target = into / PurePosixPath(f["path"])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(s, target)
    return manifest


def verify_files(root: Path, manifest: dict[str, Any], location: str) -> None:
    """Every listed file has the manifest's size and SHA-256; the copies are usable."""
    bad = []
    for f in manifest["files"]:
        p = root / PurePosixPath(f["path"])
        if not p.is_file():
            bad.append(f"{f['path']}: missing")
        elif p.stat().st_size != f.get("size") or sha256_file(p) != f["sha256"]:
            bad.append(f"{f['path']}: size or SHA-256 does not match the manifest")
    if bad:
        raise BackupError(
            f"backup {location} is damaged or tampered with ({'; '.join(bad)}); refusing to "
            "restore it. Keep it as evidence and restore an older backup."
        )
    head: list[Head] = []
    try:
        con = sqlite3.connect(f"file:{root / DB_NAME}?mode=ro", uri=True)
        try:
            result = str(con.execute("PRAGMA integrity_check").fetchone()[0])
            with contextlib.suppress(sqlite3.OperationalError):  # backups from before the head
                for seq, h, mac, signed_from in con.execute(
                    "SELECT seq, hash, hmac, signed_from FROM audit_head"
                ):
                    head.append(Head(seq, h, mac, "the backup's state database", signed_from))
        finally:
            con.close()
    except sqlite3.Error as exc:
        result = str(exc)
    if result != "ok":
        raise BackupError(f"backup {location}: the database fails its integrity check: {result}")
    if (root / "audit").is_dir() or head:
        chain = verify_audit(root / "audit", refs=head)
        if not chain.ok:
            raise BackupError(
                f"backup {location}: {chain.describe()}; the daemon would refuse it. Restore "
                "an older backup (and see runbooks/audit-chain-broken.md)."
            )


def verify_backup(location: str) -> dict[str, Any]:
    """Fetch and verify a backup without touching any state (for drills and checks)."""
    with tempfile.TemporaryDirectory(prefix="tradewarden-verify-") as tmp:
        manifest = fetch_backup(location, Path(tmp))
        verify_files(Path(tmp), manifest, location)
        return manifest


# --- restore ------------------------------------------------------------------------------
def _existing_state(state_dir: Path) -> list[Path]:
    names = [DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", ALERTS_NAME, "audit"]
    return [state_dir / n for n in names if (state_dir / n).exists()]


def _replaced_disarm(db_path: Path) -> dict[str, Any] | None:
    """The `tradewarden live disarm` record of the state a restore replaces (None: armed or
    no state). A state that cannot be read gives a disarm record of its own: whether live
    was withdrawn is unknown, so it stays withdrawn until `tradewarden live arm`."""
    from tradewarden.runtime.wiring import DISARM_KEY

    if not db_path.exists():
        return None
    try:
        con = sqlite3.connect(db_path)
        try:
            row = con.execute("SELECT value FROM kv WHERE key=?", (DISARM_KEY,)).fetchone()
        finally:
            con.close()
        rec = json.loads(row[0]) if row else None
    except (sqlite3.Error, ValueError):
        return {
            "reason": f"restored over a state database that could not be read ({db_path}):"
            " whether live was disarmed is unknown",
            "actor": current_actor(),
            "at": time.time(),
        }
    return rec if isinstance(rec, dict) else None


def _halt_restored(
    settings: Settings,
    root: Path,
    manifest: dict[str, Any],
    location: str,
    reason: str,
    disarm: dict[str, Any] | None = None,
) -> None:
    """Through the daemon's own persistence: a manual HALTED state naming the backup, the
    gradual-restart ramp started, every halt/reset still queued in the backup expired
    (a stale queued `reset` would otherwise clear the restore's halt at the next start),
    and a live disarm of the replaced state kept (`disarm`: a backup from before it must
    not re-arm live; only `tradewarden live arm` does)."""
    from tradewarden.runtime.wiring import DISARM_KEY

    try:
        store = Store(root / DB_NAME)
    except StateError as exc:
        raise BackupError(str(exc)) from None
    try:
        if disarm is not None and not isinstance(store.get(DISARM_KEY), dict):
            store.put(DISARM_KEY, disarm)
        store.put(
            StateKey.MANUAL_STATE,
            {
                "state": "HALTED",
                "reason": reason,
                "actor": current_actor(),
                "ts": time.time(),
                "restored_from": location,
                "backup_created_at": manifest.get("created_at"),
            },
        )
        for row in store.pending_controls():
            store.finish_control(row["id"], "failed", "expired: state restored from backup")
        SizeRamp(store, settings.restart_size_factor, settings.ramp_wins).begin(
            f"restore: {location}"
        )
        snap = store.get(StateKey.STATUS_SNAPSHOT)
        if snap:  # `status` before the next start must not show the backup's old view
            snap.update(
                state="halted",
                state_reason=reason,
                daemon_running=False,
                size_factor=settings.restart_size_factor,
            )
            snap["snapshot_ts"] = time.time()
            store.put(StateKey.STATUS_SNAPSHOT, snap)
    finally:
        store.close()  # the last connection: SQLite checkpoints and removes the WAL
    for suffix in ("-wal", "-shm"):
        (root / f"{DB_NAME}{suffix}").unlink(missing_ok=True)


def _append_restored(
    audit_dir: Path,
    settings: Settings,
    manifest: dict[str, Any],
    location: str,
    kept: Path | None,
) -> None:
    """The restore is the first new entry of the restored audit chain (signed with the
    audit key like every entry)."""
    from tradewarden.audit.chain import open_audit
    from tradewarden.secrets.errors import SecretError

    try:
        audit = open_audit(settings, directory=audit_dir)
    except (AuditError, SecretError) as exc:
        raise BackupError(f"cannot write the restored audit chain: {exc}") from None
    try:
        audit.append(
            "restored",
            {
                "from": location,
                "backup_created_at": manifest.get("created_at"),
                "backup_host": manifest.get("host"),
                "files": [f["path"] for f in manifest["files"]],
                "previous_state_kept_in": str(kept) if kept else None,
                "state": "HALTED",
            },
            actor=current_actor(),
            sync=True,
        )
    finally:
        audit.close()


def restore_backup(settings: Settings, location: str, *, replace: bool = False) -> dict[str, Any]:
    """Restore the backup at `location` into the state dir; the daemon starts HALTED."""
    state_dir = settings.state_dir
    lock = DaemonLock(state_dir)
    if not lock.acquire():
        raise BackupError(
            f"the daemon is running (pid {lock.holder_pid()} holds {lock.path}); stop it first "
            "(`systemctl stop tradewarden`), then restore"
        )
    try:
        existing = _existing_state(state_dir)
        if existing and not replace:
            raise BackupError(
                f"{state_dir} already holds state ({', '.join(p.name for p in existing)}); "
                "pass --replace to restore over it (the current state is kept in "
                f"{state_dir}/pre-restore-<time>/)"
            )
        with tempfile.TemporaryDirectory(prefix=".restore-", dir=state_dir) as tmp:
            staged = Path(tmp)
            manifest = fetch_backup(location, staged)
            verify_files(staged, manifest, location)
            now = _now_utc()
            reason = (
                f"restored from backup {location} at {now.isoformat(timespec='seconds')}; "
                "reconcile then reset"
            )
            # HALT the staged copy before it takes the state's place: whenever this
            # process stops, the state dir holds either the old state or a halted one.
            disarm = _replaced_disarm(settings.db_path)
            _halt_restored(settings, staged, manifest, location, reason, disarm)
            kept = None
            if existing:
                kept = state_dir / f"pre-restore-{now.strftime('%Y%m%dT%H%M%SZ')}"
                kept.mkdir(mode=0o700)
                for p in existing:
                    os.replace(p, kept / p.name)
            _append_restored(staged / "audit", settings, manifest, location, kept)
            os.replace(staged / "audit", settings.audit_dir)
            if (staged / ALERTS_NAME).is_file():
                os.replace(staged / ALERTS_NAME, state_dir / ALERTS_NAME)
            os.replace(staged / DB_NAME, settings.db_path)
        return {
            "restored_from": location,
            "backup_created_at": manifest.get("created_at"),
            "files": len(manifest["files"]),
            "previous_state_kept_in": str(kept) if kept else None,
            "state": "halted",
            "reason": reason,
        }
    finally:
        lock.release()
