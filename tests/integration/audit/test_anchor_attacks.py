"""Adversarial review of the audit chain's off-host anchor (issue 13 defect 8), moto in
server mode: an attacker with root on the host edits the audit files and the state database
but cannot write the S3 anchor."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.integration.audit.test_anchor import (
    AUDIT_KEY,
    BUCKET,
    anchor_object,
    audit_files,
    declare,
    entries,
    s3,  # noqa: F401 - fixture
    state,
)
from tradewarden.cli.main import app

runner = CliRunner()


def verify_anchor() -> Any:
    return runner.invoke(app, ["audit", "verify", "--anchor"])


@pytest.mark.parametrize("beyond", [0, 50])
def test_attack_every_file_deleted_behind_a_forged_chain_start(
    s3: Any,  # noqa: F811
    tmp_path: Path,
    beyond: int,
) -> None:
    """Delete every audit file and write a `chain-anchor.json` (unsigned, no key needed)
    that claims the files were pruned up to the anchored head (or beyond it): the whole
    history is gone; neither the database head nor the S3 anchor may be fooled by it."""
    declare(4)
    assert runner.invoke(app, ["audit", "anchor"]).exit_code == 0
    st = state(tmp_path)
    last = entries(st)[-1]
    for f in audit_files(st):
        f.unlink()
    (st / "audit" / "chain-anchor.json").write_text(
        json.dumps(
            {
                "seq": last["seq"] + beyond,
                "hash": last["hash"] if not beyond else "f" * 64,
                "hmac": last["hmac"],
                "file": "audit-2020-01-01.jsonl",
            }
        )
    )
    r = verify_anchor()
    assert r.exit_code == 1, r.output


def test_attack_a_recent_entry_claimed_pruned(s3: Any, tmp_path: Path) -> None:  # noqa: F811
    """The chain start may carry a real, signed entry; but entries inside the retention
    period are never pruned, so one of today's entries cannot be where the files begin."""
    declare(4)
    assert runner.invoke(app, ["audit", "anchor"]).exit_code == 0
    st = state(tmp_path)
    last = entries(st)[-1]
    for f in audit_files(st):
        f.unlink()
    (st / "audit" / "chain-anchor.json").write_text(
        json.dumps(
            {
                "seq": last["seq"],
                "hash": last["hash"],
                "hmac": last["hmac"],
                "file": "audit-2020-01-01.jsonl",
                "entry": last,
            }
        )
    )
    r = verify_anchor()
    assert r.exit_code == 1, r.output
    assert "retention" in r.output, r.output


def test_attack_the_daemon_anchor_job_blesses_a_cut_chain(
    s3: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The anchor job trusted its own last anchor: cut the chain under a running daemon and
    roll the database head back with it, and the next tick moved the anchor backwards to
    the cut chain, after which `verify --anchor` said OK."""
    from tradewarden.audit.anchor import AnchorJob, S3Anchor
    from tradewarden.audit.chain import AuditLog, recorded_head, verify
    from tradewarden.state.store import Store

    st = tmp_path / "st"
    st.mkdir()
    store = Store(st / "db.sqlite3")
    log = AuditLog(st / "audit", key=AUDIT_KEY, store=store)
    job = AnchorJob(log, S3Anchor(BUCKET, "audit", "host-a"), 3600)
    try:
        for i in range(4):
            log.append("x", {"i": i})
        assert job.tick() and anchor_object(s3)["seq"] == 4
        (f,) = sorted((st / "audit").glob("audit-*.jsonl"))
        lines = f.read_text().splitlines(keepends=True)
        f.write_text("".join(lines[:2]))
        cut = json.loads(lines[1])
        con = sqlite3.connect(st / "db.sqlite3")
        with con:
            con.execute(
                "UPDATE audit_head SET seq=?, hash=?, hmac=?",
                (cut["seq"], cut["hash"], cut["hmac"]),
            )
        con.close()
        job.tick()
        a = anchor_object(s3)
        assert a["seq"] == 4, "the anchor moved backwards to the cut chain"
        head = recorded_head(store)
        assert head is not None
        remote = S3Anchor(BUCKET, "audit", "host-a").read()
        assert remote is not None
        res = verify(st / "audit", key=AUDIT_KEY, refs=[head, remote.as_head("s3")])
        assert not res.ok, res.describe()
    finally:
        job.stop(final=False)
        log.close()
        store.close()


def critical_alerts(tmp_path: Path) -> list[Any]:
    from tradewarden.alerts.outbox import Outbox

    box = Outbox(state(tmp_path) / "tradewarden.sqlite3")
    try:
        return [r.alert for r in box.rows() if r.alert.severity.value == "critical"]
    finally:
        box.close()


def test_attack_force_reason_moves_the_anchor_back_unseen(
    s3: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Whoever holds the host and the key cuts the chain and runs `audit anchor
    --force-reason`: the anchor (the one record off the host) follows the cut chain. The
    only trace was an entry in the very chain they control, by the actor "operator".
    Now the entry names who ran it and a critical alert leaves the host."""
    from tradewarden.core.actor import current_actor

    declare(3)
    assert runner.invoke(app, ["audit", "anchor"]).exit_code == 0
    forced = runner.invoke(app, ["audit", "anchor", "--force-reason", "nothing to see"])
    assert forced.exit_code == 0, forced.output
    replaced = entries(state(tmp_path))[-1]
    assert replaced["event"] == "audit_anchor_replaced"
    assert replaced["actor"] == current_actor()
    alerts = critical_alerts(tmp_path)
    assert any("anchor" in a.title and "nothing to see" in a.body for a in alerts), alerts
    assert all(AUDIT_KEY not in a.to_json() for a in alerts)


def test_attack_new_chain_launders_history_silently(
    s3: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """`audit new-chain` after the directory is moved away: `verify --anchor` passes (the
    new chain continues from the anchored head). It must say so on every verify and
    raise a critical alert when it happens."""
    declare(3)
    assert runner.invoke(app, ["audit", "anchor"]).exit_code == 0
    st = state(tmp_path)
    (st / "audit").rename(tmp_path / "gone")
    r = runner.invoke(app, ["audit", "new-chain", "--reason", "INC-9"])
    assert r.exit_code == 0, r.output
    ok = verify_anchor()
    assert ok.exit_code == 0, ok.output
    assert "restarted at seq 4" in ok.output and "INC-9" in ok.output, ok.output
    alerts = critical_alerts(tmp_path)
    assert any("new audit chain" in a.title and "INC-9" in a.body for a in alerts), alerts


def test_attack_the_daemon_starts_on_a_chain_cut_behind_the_anchor(
    s3: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Cut the chain and roll the database head back (key held): the daemon started and
    traded on it, its anchor job only logging 'audit anchor failed' every interval. The
    anchor is read at start; a chain that does not contain it is refused like a broken
    one (an S3 outage is not: that is logged and the job retries)."""
    from tests.builders import LogNotifier
    from tests.integration.audit.test_anchor import rewrite_with_the_key
    from tradewarden.core.config import load_settings
    from tradewarden.runtime.daemon import Daemon, StartupError

    declare(4)
    assert runner.invoke(app, ["audit", "anchor"]).exit_code == 0
    st = state(tmp_path)
    rewrite_with_the_key(st, entries(st)[:2])
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0  # locally consistent
    with pytest.raises(StartupError, match="off-host anchor"):
        d = Daemon(load_settings(), notifier=LogNotifier())
        d.close()
