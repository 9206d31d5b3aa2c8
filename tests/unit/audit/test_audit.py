"""The audit hash chain catches edit, delete, reorder and truncation."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradewarden.audit.chain import AuditError, AuditLog, verify
from tradewarden.cli.main import app

DAY = 86_400
T0 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()


def write(d: Path, n: int = 6, days: int = 1) -> Path:
    log = AuditLog(d)
    for i in range(n):
        log.append("order_intent", {"i": i}, ts=T0 + (i * days * DAY) // max(n, 1))
    log.close()
    return d


def lines(f: Path) -> list[str]:
    return f.read_text().splitlines(keepends=True)


def only_file(d: Path) -> Path:
    (f,) = sorted(d.glob("audit-*.jsonl"))
    return f


def test_untouched_chain_verifies(tmp_path: Path) -> None:
    write(tmp_path)
    res = verify(tmp_path)
    assert res.ok and res.lines == 6


def test_edit_is_caught(tmp_path: Path) -> None:
    f = only_file(write(tmp_path))
    ls = lines(f)
    ls[2] = ls[2].replace('"i":2', '"i":9')
    f.write_text("".join(ls))
    res = verify(tmp_path)
    assert not res.ok and res.line == 3 and "edited" in res.problem


def test_edit_with_recomputed_hash_is_caught_by_the_next_line(tmp_path: Path) -> None:
    from tradewarden.audit.chain import canonical, entry_hash

    f = only_file(write(tmp_path))
    ls = lines(f)
    e = json.loads(ls[2])
    e["data"]["i"] = 99
    e["hash"] = entry_hash(e)
    ls[2] = canonical(e).decode() + "\n"
    f.write_text("".join(ls))
    res = verify(tmp_path)
    assert not res.ok and res.line == 4 and "prev_hash" in res.problem


def test_deletion_is_caught(tmp_path: Path) -> None:
    f = only_file(write(tmp_path))
    ls = lines(f)
    del ls[3]
    f.write_text("".join(ls))
    res = verify(tmp_path)
    assert not res.ok and res.line == 4 and "deleted or reordered" in res.problem


def test_reorder_is_caught(tmp_path: Path) -> None:
    f = only_file(write(tmp_path))
    ls = lines(f)
    ls[1], ls[2] = ls[2], ls[1]
    f.write_text("".join(ls))
    res = verify(tmp_path)
    assert not res.ok and res.line == 2


def test_truncation_mid_line_is_caught(tmp_path: Path) -> None:
    f = only_file(write(tmp_path))
    data = f.read_bytes()
    f.write_bytes(data[: len(data) - 20])
    res = verify(tmp_path)
    assert not res.ok and "truncated" in res.problem


def test_truncation_of_an_earlier_file_is_caught(tmp_path: Path) -> None:
    write(tmp_path, n=6, days=3)  # spread over several daily files
    files = sorted(tmp_path.glob("audit-*.jsonl"))
    assert len(files) >= 2
    ls = lines(files[0])
    files[0].write_text("".join(ls[:-1]))  # cut the last whole line of the first day
    res = verify(tmp_path)
    assert not res.ok and res.file == files[1].name


def test_chain_continues_across_restart_and_files(tmp_path: Path) -> None:
    write(tmp_path, n=4, days=2)
    log = AuditLog(tmp_path)
    log.append("daemon_started", {}, ts=T0 + 5 * DAY)
    log.close()
    assert verify(tmp_path).ok and verify(tmp_path).lines == 5


def test_prune_keeps_the_remaining_chain_verifiable(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, retention_days=90)
    for i in range(5):
        log.append("e", {"i": i}, ts=T0 + i * 40 * DAY)  # files 40 days apart
    removed = log.prune(today=date(2026, 3, 1).fromordinal(date(2026, 3, 1).toordinal() + 170))
    log.close()
    assert len(removed) == 2
    res = verify(tmp_path)
    assert res.ok and res.lines == 3


def test_unreadable_tail_refuses_to_continue(tmp_path: Path) -> None:
    f = only_file(write(tmp_path))
    f.write_text(f.read_text() + "garbage\n")
    with pytest.raises(AuditError, match="unreadable"):
        AuditLog(tmp_path)


def test_cli_exit_codes(tmp_path: Path) -> None:
    write(tmp_path)
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--dir", str(tmp_path)])
    assert ok.exit_code == 0 and "OK" in ok.output
    f = only_file(tmp_path)
    ls = lines(f)
    del ls[0]
    f.write_text("".join(ls))
    bad = runner.invoke(app, ["audit", "verify", "--dir", str(tmp_path)])
    assert bad.exit_code == 1 and "BROKEN" in bad.output and "line 1" in bad.output


def test_two_writers_keep_one_valid_chain(tmp_path: Path) -> None:
    # the daemon and a CLI command (approve, declare-cold...) append to the same chain
    a, b = AuditLog(tmp_path), AuditLog(tmp_path)
    for i in range(20):
        (a if i % 3 else b).append("e", {"i": i})
    a.close()
    b.close()
    res = verify(tmp_path)
    assert res.ok and res.lines == 20


def test_two_processes_append_concurrently(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys; from tradewarden.audit.chain import AuditLog; log = AuditLog(sys.argv[1]);"
        "[log.append('p', {'n': n}) for n in range(300)]; log.close()"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)]) for _ in range(3)]
    assert all(p.wait(timeout=60) == 0 for p in procs)
    res = verify(tmp_path)
    assert res.ok and res.lines == 900, res.describe()
