"""Adversarial review of the audit chain (issue 13 defect 8): an attacker with root on the
host, but without the audit key, edits the files and the state database together."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.unit.audit.test_audit_head import (
    AUDIT_KEY,
    audit_file,
    declare,
    entries,
    rewrite,
    state,  # noqa: F401 - fixture
    verify,
)

pytestmark = pytest.mark.usefixtures("clean_env")


def roll_back_db_head(st: Path, seq: int, h: str, mac: str | None) -> None:
    """The attacker rewrites the whole head row, `signed_from` included."""
    con = sqlite3.connect(st / "tradewarden.sqlite3")
    with con:
        con.execute("UPDATE audit_head SET seq=?, hash=?, hmac=?, signed_from=NULL", (seq, h, mac))
    con.close()


def test_attack_whole_chain_rewritten_unsigned_with_the_head_rolled_back(
    state: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No key needed: drop every HMAC, re-hash from genesis as a 'legacy' chain and make the
    database agree. The key is configured, so an unsigned chain cannot be the real one."""
    monkeypatch.setenv("TRADEWARDEN_AUDIT_KEY", AUDIT_KEY)
    declare(4)
    es = entries(state)
    es[1]["data"]["amount"] = 1.0
    rewrite(state, es[:3], keep_hmac=False)
    last = json.loads(audit_file(state).read_text().splitlines()[-1])
    roll_back_db_head(state, last["seq"], last["hash"], None)
    r = verify()
    assert r.exit_code == 1, r.output
    assert "HMAC" in r.output, r.output


def test_attack_duplicate_keys_show_another_event_under_the_same_hash(
    state: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two different lines, one hash: JSON keeps the last of duplicate keys, so a line can
    carry a second, false `data` that `grep` and a reader see but the hash never covers."""
    monkeypatch.setenv("TRADEWARDEN_AUDIT_KEY", AUDIT_KEY)
    declare(2)
    f = audit_file(state)
    lines = f.read_text().splitlines(keepends=True)
    lines[0] = lines[0].replace('{"actor"', '{"data":{"amount":1.0},"actor"', 1)
    assert lines[0].count('"data"') == 2
    f.write_text("".join(lines))
    r = verify()
    assert r.exit_code == 1, r.output
    assert "line 1" in r.output, r.output


def test_attack_unicode_escapes_rewrite_the_line_bytes(
    state: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRADEWARDEN_AUDIT_KEY", AUDIT_KEY)
    declare(1)
    f = audit_file(state)
    text = f.read_text()
    f.write_text(text.replace('"event":"', '"event":"\\u0063', 1).replace("\\u0063c", "\\u0063", 1))
    assert f.read_text() != text
    r = verify()
    assert r.exit_code == 1, r.output


def test_a_real_prune_still_verifies_and_its_start_is_checked(tmp_path: Path) -> None:
    """The counterpart of the forged chain start: a real prune (entries older than the
    retention period) still verifies with the key and the retention check, and the start
    it leaves cannot be moved to a recent entry or continued unsigned."""
    import time

    from tradewarden.audit.chain import ANCHOR, AuditLog, canonical, entry_hash
    from tradewarden.audit.chain import verify as verify_dir

    d = tmp_path / "audit"
    log = AuditLog(d, retention_days=90, key=AUDIT_KEY)
    old = time.time() - 100 * 86400
    for i in range(3):
        log.append("old", {"i": i}, ts=old + i)
    log.append("new", {"i": 3})
    assert len(log.prune()) == 1
    log.close()
    start = json.loads((d / ANCHOR).read_text())
    assert start["entry"]["seq"] == 3
    assert verify_dir(d, key=AUDIT_KEY, retention_days=90).ok
    # a pruned start that is signed cannot be followed by an unsigned entry
    (f,) = sorted(d.glob("audit-*.jsonl"))
    e = json.loads(f.read_text())
    e.pop("hmac")
    e["hash"] = entry_hash(e)
    f.write_text(canonical(e).decode() + "\n")
    res = verify_dir(d, key=AUDIT_KEY, retention_days=90)
    assert not res.ok and "HMAC" in res.problem, res.describe()


def test_attack_a_torn_last_line_fails_closed_and_is_recoverable(
    state: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A crash in the middle of a line write (head not committed): nothing extends the
    chain, `verify` names the torn line, and the runbook's new-chain recovers it, continuing
    from the head the database recorded."""
    from typer.testing import CliRunner

    from tradewarden.cli.main import app

    monkeypatch.setenv("TRADEWARDEN_AUDIT_KEY", AUDIT_KEY)
    declare(2)
    f = audit_file(state)
    with f.open("a") as fh:
        fh.write('{"actor":"daemon","data":{"intent"')
    r = verify()
    assert r.exit_code == 1 and "mid-line" in r.output, r.output
    refused = CliRunner().invoke(
        app, ["wallet", "declare-cold", "--amount", "1", "--address", "bc1qz"]
    )
    assert refused.exit_code != 0, refused.output
    (state / "audit").rename(state / "audit.torn")
    new = CliRunner().invoke(app, ["audit", "new-chain", "--reason", "torn line INC-3"])
    assert new.exit_code == 0, new.output
    declare(1)
    ok = verify()
    assert ok.exit_code == 0 and "restarted at seq 3" in ok.output, ok.output


def test_attack_an_unsigned_remade_chain_is_blessed_by_the_next_signed_write(
    state: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The unsigned re-made chain fails `verify`; but the next CLI writer (holding the key)
    appended a signed entry on top of it, after which the chain ended signed and verified
    OK for good. A writer with the key must not extend an unsigned tail once a head is
    recorded."""
    from typer.testing import CliRunner

    from tradewarden.cli.main import app

    monkeypatch.setenv("TRADEWARDEN_AUDIT_KEY", AUDIT_KEY)
    declare(3)
    rewrite(state, entries(state)[:2], keep_hmac=False)
    last = json.loads(audit_file(state).read_text().splitlines()[-1])
    roll_back_db_head(state, last["seq"], last["hash"], None)
    extended = CliRunner().invoke(
        app, ["wallet", "declare-cold", "--amount", "7", "--address", "bc1qy"]
    )
    assert extended.exit_code != 0, extended.output
    assert "unsigned" in extended.output, extended.output
    assert verify().exit_code == 1


def test_attack_recent_files_renamed_old_are_pruned_away(tmp_path: Path) -> None:
    """Rename the recent daily files to old dates, keeping their order: the chain still
    verified, and the next prune deleted them as if they were past retention."""
    import time

    from tradewarden.audit.chain import AuditLog
    from tradewarden.audit.chain import verify as verify_dir

    d = tmp_path / "audit"
    log = AuditLog(d, retention_days=90, key=AUDIT_KEY)
    now = time.time()
    for i in range(3):
        log.append("x", {"i": i}, ts=now - (3 - i) * 86400)
    log.close()
    files = sorted(d.glob("audit-*.jsonl"))
    assert len(files) == 3
    for n, f in enumerate(files):
        f.rename(d / f"audit-2020-01-0{n + 1}.jsonl")
    res = verify_dir(d, key=AUDIT_KEY, retention_days=90)
    assert not res.ok, res.describe()
    assert "date" in res.problem, res.problem
    log = AuditLog(d, retention_days=90, key=AUDIT_KEY)
    try:
        assert log.prune() == []
    finally:
        log.close()
    assert len(list(d.glob("audit-*.jsonl"))) == 3


def test_attack_an_undecodable_argument_makes_an_unaudited_change(
    state: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A byte that is not UTF-8 on the command line (Python hands it over as a lone
    surrogate) made the audit append raise after the change was committed: the cold wallet
    was recorded with no audit entry. Every string is now recordable."""
    from typer.testing import CliRunner

    from tradewarden.cli.main import app

    monkeypatch.setenv("TRADEWARDEN_AUDIT_KEY", AUDIT_KEY)
    declare(1)
    args = ["wallet", "declare-cold", "--amount", "9", "--address", "bc1q\udcff"]
    CliRunner().invoke(app, args)  # the final echo may still fail on the odd byte
    con = sqlite3.connect(state / "tradewarden.sqlite3")
    (stored,) = con.execute("SELECT value FROM kv WHERE key='cold_wallet'").fetchone()
    con.close()
    assert json.loads(stored)["amount_usd"] == 9.0  # the change was made ...
    last = entries(state)[-1]  # ... so it must be audited
    assert last["event"] == "cold_wallet_declared", last
    assert last["data"]["address"] == "bc1q\\udcff", last
    assert verify().exit_code == 0
