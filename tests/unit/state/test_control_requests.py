"""Control requests (CLI -> running daemon) in SQLite: once the CLI has expired a request, or
its time-to-live has passed, the daemon can never take it (issue 13, defect 2)."""

from __future__ import annotations

import time
from pathlib import Path

from tradewarden.state.store import Store


def test_an_expired_request_can_never_be_claimed(tmp_path: Path) -> None:
    cli, daemon = Store(tmp_path / "s.db"), Store(tmp_path / "s.db")  # two processes' views
    try:
        rid = cli.add_control("reset", "r", "alice", ttl=30, payload={"scope": {"all": True}})
        assert [r["id"] for r in daemon.pending_controls()] == [rid]
        assert cli.expire_control(rid)
        assert not daemon.claim_control(rid) and not daemon.hold_control(rid)
        assert daemon.pending_controls() == []
        assert daemon.control(rid)["status"] == "expired"
    finally:
        cli.close()
        daemon.close()


def test_a_claimed_request_cannot_be_expired_under_the_daemon(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    try:
        rid = store.add_control("halt", "r", "alice", ttl=30)
        assert store.claim_control(rid)
        assert not store.expire_control(rid)  # the CLI then waits for the daemon's answer
        assert store.control(rid)["status"] == "applying"
    finally:
        store.close()


def test_past_its_ttl_a_request_is_not_applied_even_if_the_cli_died(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    try:
        rid = store.add_control("reset", "r", "alice", ttl=0.05)
        time.sleep(0.1)
        assert store.pending_controls() == [] and not store.claim_control(rid)
        assert store.expire_stale_controls() == 1  # at the next start: marked expired
        assert store.control(rid)["status"] == "expired"
    finally:
        store.close()
