"""`tradewarden backup` / `restore` on real files and a real S3 API (moto server): the
round trip keeps every row and audit line, a damaged or tampered backup is refused before
anything is touched, a running daemon blocks a restore, and a restored state starts HALTED
through the daemon's own persistence (RiskEngine.load, SizeRamp)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from tradewarden.audit.chain import AuditLog, canonical, entry_hash
from tradewarden.audit.chain import verify as verify_audit
from tradewarden.core.config import Settings, load_settings
from tradewarden.operations.backup import (
    DB_NAME,
    MANIFEST,
    BackupError,
    create_backup,
    restore_backup,
    sha256_file,
    verify_backup,
)
from tradewarden.risk.engine import ResetScope, RiskEngine
from tradewarden.risk.ramp import SizeRamp
from tradewarden.risk.state import TradingState
from tradewarden.runtime.lock import DaemonLock
from tradewarden.state.store import Store

pytestmark = pytest.mark.usefixtures("clean_env")

BOTS = ["trend-btc", "trend-eth"]


def settings(state: Path) -> Settings:
    return load_settings(None, state_dir=state)


def make_state(state: Path, *, trades: int = 5) -> Settings:
    """A state dir written through the daemon's own store and audit log."""
    s = settings(state)
    store = Store(s.db_path)
    audit = AuditLog(s.audit_dir)
    try:
        for i in range(trades):
            store.record_trade("trend-btc", "BTCUSDT", pnl=float(i - 2), ts=1_700_000_000.0 + i)
            audit.append("trade", {"n": i})
        store.put("status_snapshot", {"state": "active", "daemon_running": True})
        store.put("size_ramp", {"factor": 1.0, "wins": 0, "why": ""})
    finally:
        audit.close()
        store.close()
    (state / "alerts.jsonl").write_text('{"alert": "example"}\n')
    return s


def rows(db: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def audit_events(audit_dir: Path) -> list[dict]:
    return [
        json.loads(line)
        for f in sorted(audit_dir.glob("audit-*.jsonl"))
        for line in f.read_text().splitlines()
    ]


def test_local_round_trip_restores_everything_and_starts_halted(tmp_path: Path) -> None:
    src = make_state(tmp_path / "src")
    b = create_backup(src, str(tmp_path / "backups"))
    root = Path(b.location)
    assert root.parent == tmp_path / "backups" and root.name.startswith("tradewarden-")
    assert (root / MANIFEST).is_file() and not list(root.parent.glob(".*partial"))
    listed = {f["path"] for f in b.manifest["files"]}
    assert DB_NAME in listed and "alerts.jsonl" in listed
    assert any(p.startswith("audit/audit-") for p in listed)
    assert b.manifest["database_integrity"] == "ok" and b.manifest["audit_chain_ok"] is True
    for f in b.manifest["files"]:
        assert sha256_file(root / f["path"]) == f["sha256"]
    assert oct(root.stat().st_mode & 0o777) == "0o700"

    dst = settings(tmp_path / "dst")
    res = restore_backup(dst, b.location)
    assert res["state"] == "halted" and b.location in res["reason"]
    assert rows(dst.db_path, "SELECT bot, pnl, ts FROM trades ORDER BY id") == rows(
        src.db_path, "SELECT bot, pnl, ts FROM trades ORDER BY id"
    )
    assert (dst.state_dir / "alerts.jsonl").read_text() == '{"alert": "example"}\n'

    chain = verify_audit(dst.audit_dir)
    assert chain.ok, chain.describe()
    events = audit_events(dst.audit_dir)
    assert [e["event"] for e in events[:5]] == ["trade"] * 5
    assert events[-1]["event"] == "restored" and events[-1]["data"]["from"] == b.location

    # The daemon's own persistence sees the halt and the ramp: nothing new needed in it.
    store = Store(dst.db_path)
    try:
        risk = RiskEngine(dst, store, BOTS)
        assert risk.state is TradingState.HALTED
        assert "restored from backup" in risk.state_reason and b.location in risk.state_reason
        ramp = SizeRamp(store, dst.restart_size_factor, dst.ramp_wins)
        assert ramp.factor == dst.restart_size_factor < 1.0
        risk.reset("reconciled after restore", "tester@host", ResetScope(all=True))
        assert risk.state is TradingState.ACTIVE
    finally:
        store.close()


def test_backup_while_a_writer_holds_the_database_is_consistent(tmp_path: Path) -> None:
    """The online backup copies committed data even with an open write transaction and WAL."""
    src = make_state(tmp_path / "src")
    writer = Store(src.db_path)
    try:
        writer.put("marker", "committed")
        con = sqlite3.connect(src.db_path, timeout=5)
        con.execute("BEGIN IMMEDIATE")
        con.execute("INSERT INTO kv VALUES ('uncommitted', '1')")
        try:
            b = create_backup(src, str(tmp_path / "b"))
        finally:
            con.execute("ROLLBACK")
            con.close()
    finally:
        writer.close()
    copy = Path(b.location) / DB_NAME
    keys = {r[0] for r in rows(copy, "SELECT key FROM kv")}
    assert "marker" in keys and "uncommitted" not in keys
    assert rows(copy, "PRAGMA journal_mode") == [("delete",)]  # one self-contained file


def test_restore_refuses_while_the_daemon_holds_its_lock(tmp_path: Path) -> None:
    src = make_state(tmp_path / "src")
    b = create_backup(src, str(tmp_path / "b"))
    dst = settings(tmp_path / "dst")
    lock = DaemonLock(dst.state_dir)
    assert lock.acquire()
    try:
        with pytest.raises(BackupError, match="daemon is running"):
            restore_backup(dst, b.location)
    finally:
        lock.release()
    assert not dst.db_path.exists()


def test_restore_over_existing_state_needs_replace_and_keeps_the_old_state(
    tmp_path: Path,
) -> None:
    src = make_state(tmp_path / "src", trades=3)
    b = create_backup(src, str(tmp_path / "b"))
    dst = make_state(tmp_path / "dst", trades=7)
    with pytest.raises(BackupError, match="--replace"):
        restore_backup(dst, b.location)
    assert len(rows(dst.db_path, "SELECT * FROM trades")) == 7  # untouched
    res = restore_backup(dst, b.location, replace=True)
    kept = Path(res["previous_state_kept_in"])
    assert kept.parent == dst.state_dir and kept.name.startswith("pre-restore-")
    assert len(rows(kept / DB_NAME, "SELECT * FROM trades")) == 7
    assert verify_audit(kept / "audit").ok
    assert len(rows(dst.db_path, "SELECT * FROM trades")) == 3


def tamper_audit_line(root: Path) -> Path:
    f = next((root / "audit").glob("audit-*.jsonl"))
    lines = f.read_text().splitlines()
    e = json.loads(lines[1])
    e["data"] = {"n": 999}
    lines[1] = json.dumps(e)
    f.write_text("\n".join(lines) + "\n")
    return f


def test_a_file_that_does_not_match_the_manifest_is_refused(tmp_path: Path) -> None:
    src = make_state(tmp_path / "src")
    b = create_backup(src, str(tmp_path / "b"))
    tamper_audit_line(Path(b.location))
    dst = settings(tmp_path / "dst")
    with pytest.raises(BackupError, match="does not match the manifest") as exc:
        restore_backup(dst, b.location)
    assert "audit/audit-" in str(exc.value)
    assert not dst.db_path.exists() and not dst.audit_dir.exists()


def test_a_broken_audit_chain_is_refused_even_with_a_matching_manifest(tmp_path: Path) -> None:
    """Someone who edits an audit line and rewrites the manifest still fails the chain."""
    src = make_state(tmp_path / "src")
    b = create_backup(src, str(tmp_path / "b"))
    root = Path(b.location)
    f = tamper_audit_line(root)
    manifest = json.loads((root / MANIFEST).read_text())
    rel = f"audit/{f.name}"
    for item in manifest["files"]:
        if item["path"] == rel:
            item["sha256"], item["size"] = sha256_file(f), f.stat().st_size
    (root / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BackupError, match="audit chain BROKEN"):
        verify_backup(b.location)
    with pytest.raises(BackupError, match="audit chain BROKEN"):
        restore_backup(settings(tmp_path / "dst"), b.location)


def test_a_rehashed_audit_line_still_breaks_the_chain(tmp_path: Path) -> None:
    """Recomputing the edited line's own hash breaks the next line's prev_hash."""
    src = make_state(tmp_path / "src")
    b = create_backup(src, str(tmp_path / "b"))
    root = Path(b.location)
    f = next((root / "audit").glob("audit-*.jsonl"))
    lines = f.read_text().splitlines()
    e = json.loads(lines[0])
    e["data"] = {"n": -1}
    e["hash"] = entry_hash(e)
    lines[0] = canonical(e).decode()  # canonical: only the chain can tell
    f.write_text("\n".join(lines) + "\n")
    manifest = json.loads((root / MANIFEST).read_text())
    for item in manifest["files"]:
        if item["path"] == f"audit/{f.name}":
            item["sha256"], item["size"] = sha256_file(f), f.stat().st_size
    (root / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BackupError, match="prev_hash"):
        verify_backup(b.location)


def test_a_corrupt_database_is_refused(tmp_path: Path) -> None:
    src = make_state(tmp_path / "src", trades=200)
    b = create_backup(src, str(tmp_path / "b"))
    root = Path(b.location)
    db = root / DB_NAME
    raw = bytearray(db.read_bytes())
    raw[4096 : 4096 * 3] = b"\xa5" * 8192  # scribble over pages 2 and 3 (b-tree pages)
    db.write_bytes(bytes(raw))
    manifest = json.loads((root / MANIFEST).read_text())
    for item in manifest["files"]:
        if item["path"] == DB_NAME:
            item["sha256"] = sha256_file(db)
    (root / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BackupError, match="integrity"):
        verify_backup(b.location)


def test_an_incomplete_backup_is_refused_with_the_complete_ones_named(tmp_path: Path) -> None:
    src = make_state(tmp_path / "src")
    b = create_backup(src, str(tmp_path / "b"))
    with pytest.raises(BackupError, match="not a complete backup") as exc:
        restore_backup(settings(tmp_path / "dst"), str(tmp_path / "b"))
    assert b.location in str(exc.value)  # the parent dir: the hint names the backup in it
    (Path(b.location) / MANIFEST).unlink()
    with pytest.raises(BackupError, match="not a complete backup"):
        verify_backup(b.location)


@pytest.mark.parametrize(
    "path",
    ["../../etc/passwd", "/etc/passwd", "audit/../../x", "secrets.json", "audit/audit-x.jsonl"],
)
def test_a_manifest_naming_an_unexpected_path_is_refused(tmp_path: Path, path: str) -> None:
    src = make_state(tmp_path / "src")
    b = create_backup(src, str(tmp_path / "b"))
    root = Path(b.location)
    manifest = json.loads((root / MANIFEST).read_text())
    manifest["files"].append({"path": path, "sha256": "0" * 64, "size": 1})
    (root / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BackupError, match="unexpected path"):
        restore_backup(settings(tmp_path / "dst"), b.location)
    assert not (tmp_path / "dst" / DB_NAME).exists()


def test_a_queued_reset_in_the_backup_is_never_replayed(tmp_path: Path) -> None:
    """A `reset` the CLI queued for the old daemon would clear the restore's halt at start."""
    src = make_state(tmp_path / "src")
    store = Store(src.db_path)
    try:
        store.add_control("reset", "queued before the backup", "old@host")
    finally:
        store.close()
    b = create_backup(src, str(tmp_path / "b"))
    dst = settings(tmp_path / "dst")
    restore_backup(dst, b.location)
    store = Store(dst.db_path)
    try:
        assert store.pending_controls() == []
        (row,) = store.query("SELECT status, result FROM control_requests")
        assert row["status"] == "failed" and "restored" in row["result"]
    finally:
        store.close()


def test_no_database_means_no_backup(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="nothing to back up"):
        create_backup(settings(tmp_path / "empty"), str(tmp_path / "b"))
    assert not (tmp_path / "b").exists() or not list((tmp_path / "b").iterdir())


# --- S3 (moto server) --------------------------------------------------------------------------
def test_s3_round_trip_and_tamper_detection(tmp_path: Path, aws_env: str) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(
        Bucket="tw-backups", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    src = make_state(tmp_path / "src")
    b = create_backup(src, "s3://tw-backups/prod/host-a")
    assert b.location.startswith("s3://tw-backups/prod/host-a/tradewarden-")
    key_base = b.location.removeprefix("s3://tw-backups/")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="tw-backups")["Contents"]}
    assert f"{key_base}/{MANIFEST}" in keys and f"{key_base}/{DB_NAME}" in keys

    assert verify_backup(b.location)["audit_chain_ok"] is True
    with pytest.raises(BackupError, match="not a complete backup") as exc:
        verify_backup("s3://tw-backups/prod/host-a")
    assert b.location in str(exc.value)

    dst = settings(tmp_path / "dst")
    res = restore_backup(dst, b.location)
    assert res["files"] == len(b.manifest["files"])
    assert rows(dst.db_path, "SELECT COUNT(*) FROM trades") == [(5,)]

    # tamper with the copy in the bucket: refused, nothing written
    obj = next(k for k in keys if "/audit/audit-" in k)
    body = s3.get_object(Bucket="tw-backups", Key=obj)["Body"].read().replace(b'"n":1', b'"n":7')
    s3.put_object(Bucket="tw-backups", Key=obj, Body=body)
    other = settings(tmp_path / "other")
    with pytest.raises(BackupError, match="does not match the manifest"):
        restore_backup(other, b.location)
    assert not other.db_path.exists()


def test_s3_failures_are_reported_not_half_claimed(tmp_path: Path, aws_env: str) -> None:
    src = make_state(tmp_path / "src")
    with pytest.raises(BackupError, match="upload to s3://no-such-bucket/x/tradewarden-"):
        create_backup(src, "s3://no-such-bucket/x")
    with pytest.raises(BackupError, match="s3://bucket/prefix"):
        create_backup(src, "s3:///nobucket")
    # a missing bucket is an error to read, not "no backup here"
    with pytest.raises(BackupError, match="cannot read s3://no-such-bucket/x/.*NoSuchBucket"):
        verify_backup("s3://no-such-bucket/x/tradewarden-20250101T000000000000Z")


# --- the CLI ---------------------------------------------------------------------------------
def cli(state: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWARDEN_")}
    full.update(TRADEWARDEN_STATE_DIR=str(state), **env)
    return subprocess.run(
        [sys.executable, "-m", "tradewarden.cli.main", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_backup_check_restore_and_failure_codes(tmp_path: Path) -> None:
    make_state(tmp_path / "src")
    out = cli(tmp_path / "src", "backup", "--to", str(tmp_path / "b"), "--json")
    assert out.returncode == 0, out.stderr
    location = json.loads(out.stdout)["location"]
    human = cli(tmp_path / "src", "backup", "--to", str(tmp_path / "b"))
    assert human.returncode == 0 and "restore with: tradewarden restore --from" in human.stdout

    check = cli(tmp_path / "dst", "restore", "--from", location, "--check")
    assert check.returncode == 0 and "verified" in check.stdout, check.stderr
    assert not (tmp_path / "dst" / DB_NAME).exists()

    done = cli(tmp_path / "dst", "restore", "--from", location)
    assert done.returncode == 0, done.stderr
    assert "HALTED" in done.stdout and "tradewarden reset --reason" in done.stdout
    st = json.loads(cli(tmp_path / "dst", "status", "--json").stdout)
    assert st["state"] == "halted" and "restored from backup" in st["state_reason"]
    assert st["size_factor"] == 0.25

    again = cli(tmp_path / "dst", "restore", "--from", location)
    assert again.returncode == 1 and "--replace" in again.stderr
    missing = cli(tmp_path / "x", "restore", "--from", str(tmp_path / "nope"))
    assert missing.returncode == 1 and "not a complete backup" in missing.stderr
    nothing = cli(tmp_path / "empty", "backup", "--to", str(tmp_path / "b2"))
    assert nothing.returncode == 1 and "nothing to back up" in nothing.stderr
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    unwritable = cli(tmp_path / "src", "backup", "--to", str(blocker / "sub"))
    assert unwritable.returncode == 1 and unwritable.stderr.startswith("error: ")
    assert "Traceback" not in unwritable.stderr
