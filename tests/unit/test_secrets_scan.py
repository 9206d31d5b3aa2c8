"""`make secrets-scan` (part of `make test`): detect-secrets with the reviewed baseline.

The command is taken from the Makefile itself (``make -n``) and pointed at a small tree
holding the repository's baseline, so what is checked here is what the build runs."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BASELINE = REPO / ".secrets.baseline"
# Built at run time: the literal values in this file would be findings themselves.
FAKE_KEY_ID = "AKIA" + "IOSFODNN7" + "EXAMPLE"
FAKE_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
REVIEWED_FIXTURE = "tests/fakes/binance/server.py"  # in the baseline, is_secret false


def makefile_command() -> list[str]:
    assert shutil.which("make"), "make is needed to read the Makefile's recipe"
    out = subprocess.run(
        ["make", "-s", "-n", "secrets-scan"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()
    assert ".ci/secrets_scan.py" in out and "\n" not in out, out
    return shlex.split(out)


def scan(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*makefile_command(), "--root", str(root), "--baseline", str(root / ".secrets.baseline")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """The repository's baseline, one reviewed fixture (moved down two lines), a venv and a
    var directory that are not scanned."""
    shutil.copy(BASELINE, tmp_path / ".secrets.baseline")
    fixture = tmp_path / REVIEWED_FIXTURE
    fixture.parent.mkdir(parents=True)
    fixture.write_text("\n\n" + (REPO / REVIEWED_FIXTURE).read_text(encoding="utf-8"))
    for skipped in (".venv/lib/leak.py", "var/demo/leak.env"):
        (tmp_path / skipped).parent.mkdir(parents=True)
        (tmp_path / skipped).write_text(f'aws_access_key_id = "{FAKE_KEY_ID}"\n')
    return tmp_path


def test_make_test_runs_the_secret_scan() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    test_line = next(line for line in makefile.splitlines() if line.startswith("test:"))
    assert "secrets-scan" in test_line.split("##")[0].split()


def test_the_baseline_is_reviewed_and_excludes_generated_trees() -> None:
    data = json.loads(BASELINE.read_text(encoding="utf-8"))
    entries = [e for found in data["results"].values() for e in found]
    assert entries and all(e.get("is_secret") is False for e in entries)
    patterns = next(
        f["pattern"]
        for f in data["filters_used"]
        if f["path"] == "detect_secrets.filters.regex.should_exclude_file"
    )
    assert {r"(^|/)\.venv/", "^var/", r"^uv\.lock$"} <= set(patterns)


def test_a_planted_aws_key_fails_the_scan(tree: Path) -> None:
    clean = scan(tree)
    assert clean.returncode == 0, clean.stderr  # the reviewed fixture, moved, still passes
    assert "secrets-scan: clean (1 files" in clean.stdout  # not .venv, var, the baseline

    (tree / "daemon").mkdir()
    (tree / "daemon" / "settings_local.py").write_text(
        f'AWS_ACCESS_KEY_ID = "{FAKE_KEY_ID}"\n' + "aws_" + f'secret_access_key = "{FAKE_SECRET}"\n'
    )
    found = scan(tree)
    assert found.returncode == 1, found.stdout + found.stderr
    assert "daemon/settings_local.py:1: AWS Access Key: new secret-looking string" in found.stderr
    assert "daemon/settings_local.py:2: Secret Keyword" in found.stderr
    assert FAKE_KEY_ID not in found.stdout + found.stderr  # never the value
    assert FAKE_SECRET not in found.stdout + found.stderr


def test_an_unreviewed_or_real_baseline_entry_fails(tree: Path) -> None:
    data = json.loads((tree / ".secrets.baseline").read_text(encoding="utf-8"))
    entry = data["results"][REVIEWED_FIXTURE][0]
    for verdict in (None, True):
        if verdict is None:
            entry.pop("is_secret", None)
        else:
            entry["is_secret"] = verdict
        (tree / ".secrets.baseline").write_text(json.dumps(data, indent=2))
        proc = scan(tree)
        assert proc.returncode == 1, (verdict, proc.stdout)
        expected = "not reviewed" if verdict is None else "reviewed as a REAL secret"
        assert f"{REVIEWED_FIXTURE}:" in proc.stderr and expected in proc.stderr
