"""Adversarial review of `tradewarden live disarm` (issue 13, 11) against a restore: a
backup taken before the disarm re-armed live when restored over the state (the disarm
record lives in the state database), so after the restore's reset the next start went
live without `tradewarden live arm`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ops.test_backup import make_state
from tradewarden.operations.backup import create_backup, restore_backup
from tradewarden.runtime.wiring import DISARM_KEY, read_disarm
from tradewarden.state.store import Store

pytestmark = pytest.mark.usefixtures("clean_env")


def _tw(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWARDEN_")}
    env["TRADEWARDEN_STATE_DIR"] = str(state)
    return subprocess.run(
        [sys.executable, "-m", "tradewarden.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_attack_a_restore_keeps_a_disarm_recorded_after_the_backup(tmp_path: Path) -> None:
    settings = make_state(tmp_path / "state")
    backup = create_backup(settings, str(tmp_path / "b"))  # before the incident
    out = _tw(settings.state_dir, "live", "disarm", "--reason", "incident 42: key leaked")
    assert out.returncode == 0, out.stderr
    assert read_disarm(settings) is not None

    restore_backup(settings, backup.location, replace=True)

    rec = read_disarm(settings)
    assert rec is not None, "the restore re-armed live: the disarm record is gone"
    assert rec["reason"] == "incident 42: key leaked"


def test_a_restore_never_arms_what_the_backup_had_disarmed(tmp_path: Path) -> None:
    """The other way round needs nothing: a disarm in the backup stays (only `live arm`
    removes it), even when the state it replaces was armed."""
    settings = make_state(tmp_path / "state")
    store = Store(settings.db_path)
    try:
        store.put(DISARM_KEY, {"reason": "in the backup", "actor": "bob", "at": 1.0})
    finally:
        store.close()
    backup = create_backup(settings, str(tmp_path / "b"))
    store = Store(settings.db_path)
    try:
        store.put(DISARM_KEY, None)
    finally:
        store.close()
    restore_backup(settings, backup.location, replace=True)
    rec = read_disarm(settings)
    assert rec is not None and rec["reason"] == "in the backup"


def test_attack_a_restore_over_an_unreadable_state_stays_disarmed(tmp_path: Path) -> None:
    """The usual reason to restore: the state database is damaged. Whether live was
    disarmed in it is unknown, so the restored state is disarmed until `live arm`."""
    settings = make_state(tmp_path / "state")
    backup = create_backup(settings, str(tmp_path / "b"))
    settings.db_path.write_bytes(b"this is not a database, it was overwritten " * 100)
    restore_backup(settings, backup.location, replace=True)
    rec = read_disarm(settings)
    assert rec is not None and "could not be read" in rec["reason"]
