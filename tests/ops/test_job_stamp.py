"""ops/probe/job_stamp.py: the background jobs' freshness stamps, written as the units run
them and read by a real node_exporter's textfile collector (Debian's
prometheus-node-exporter), and every stamp watched by an alert."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port
from tests.ops.promql import alert_rules, metric_names

REPO = Path(__file__).resolve().parents[2]
STAMP = REPO / "ops/probe/job_stamp.py"
SYSTEMD = REPO / "ops/systemd"
LIBEXEC = "/usr/local/libexec/tradewarden/job_stamp.py"

sys.path.insert(0, str(STAMP.parent))
import job_stamp  # noqa: E402 - ops/probe is not a package


def stamp_commands() -> dict[str, list[str]]:
    """unit file -> the job_stamp.py command lines it runs (prefixes stripped)."""
    out: dict[str, list[str]] = {}
    for unit in sorted(SYSTEMD.iterdir()):
        for line in unit.read_text().splitlines():
            m = re.match(r"^Exec\w+=[-+!@:]*(.*job_stamp\.py.*)$", line)
            if m:
                out.setdefault(unit.name, []).append(m.group(1))
    return out


def run(argv: list[str], textfiles: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        env={**os.environ, "TRADEWARDEN_TEXTFILE_DIR": str(textfiles), **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def as_the_unit_runs_it(cmdline: str) -> list[str]:
    words = shlex.split(cmdline)
    assert words[0] == "/usr/bin/python3" and words[1] == LIBEXEC, cmdline
    return [sys.executable, str(STAMP), *words[2:]]


def read_textfile(path: Path) -> dict[str, float]:
    return {
        s.name: s.value
        for fam in text_string_to_metric_families(path.read_text())
        for s in fam.samples
    }


def test_every_job_is_stamped_by_its_unit_and_watched_by_an_alert() -> None:
    cmds = stamp_commands()
    jobs = {shlex.split(c)[2] for lines in cmds.values() for c in lines}
    assert jobs == set(job_stamp.JOBS) | {"--reboot-required"}
    assert "backup" in " ".join(cmds["tradewarden-backup.service"])
    assert "egress_refresh" in " ".join(cmds["tradewarden-egress.service"])
    assert "heartbeat" in " ".join(cmds["tradewarden-heartbeat.service"])
    watched = set().union(*(metric_names(r["expr"]) for r in alert_rules()))
    for job in job_stamp.JOBS:
        assert job_stamp.metric_name(job) in watched, job
    assert job_stamp.REBOOT_METRIC in watched


def test_the_units_stamp_lines_write_what_node_exporter_reads(tmp_path: Path) -> None:
    textfiles = tmp_path / "textfile"  # created by the first stamp
    export = tmp_path / "host.log"
    export.write_text("journal line\n")
    os.utime(export, (1_700_000_000, 1_700_000_000))
    before = time.time()
    for unit, lines in stamp_commands().items():
        for line in lines:
            if "--reboot-required" in line:
                continue  # needs dnf: below
            argv = as_the_unit_runs_it(
                line.replace("/var/log/journal-export/host.log", str(export))
            )
            res = run(argv, textfiles)
            assert res.returncode == 0, (unit, res.stderr)
    files = sorted(p.name for p in textfiles.iterdir())
    assert files == sorted(f"tradewarden_{job}.prom" for job in job_stamp.JOBS)  # no temp left
    for job in job_stamp.JOBS:
        path = textfiles / f"tradewarden_{job}.prom"
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # node_exporter is another user
        (value,) = read_textfile(path).values()
        if job == "journal_export":
            assert value == 1_700_000_000  # the export's last write, not now
        else:
            assert before - 1 <= value <= time.time() + 1

    # node_exporter 1.5's textfile collector reads them without an error
    exporter = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    assert exporter, "Debian's prometheus-node-exporter is missing"
    port = free_port()
    proc = subprocess.Popen(
        [
            exporter,
            f"--web.listen-address=127.0.0.1:{port}",
            "--collector.disable-defaults",
            "--collector.textfile",
            f"--collector.textfile.directory={textfiles}",
            "--collector.filesystem",
            "--collector.timex",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:  # noqa: S310
                    body = r.read().decode()
                break
            except OSError:
                assert time.monotonic() < deadline, "node_exporter did not start"
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    scraped = {s.name: s.value for fam in text_string_to_metric_families(body) for s in fam.samples}
    assert scraped["node_textfile_scrape_error"] == 0
    # the names the host alerts read are this node_exporter's (systemd's needs a system bus:
    # node_systemd_unit_state is checked on the host, not here)
    for name in (
        "process_start_time_seconds",
        "node_filesystem_avail_bytes",
        "node_filesystem_size_bytes",
        "node_filesystem_readonly",
        "node_timex_sync_status",
        "node_timex_maxerror_seconds",
        "node_timex_offset_seconds",
    ):
        assert name in scraped, name
    for job in job_stamp.JOBS:
        assert scraped[job_stamp.metric_name(job)] > 0, job


def test_reboot_required_follows_dnf(tmp_path: Path) -> None:
    (line,) = stamp_commands()["dnf-automatic-reboot-required.conf"]
    argv = as_the_unit_runs_it(line)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_dnf = bin_dir / "dnf"
    path = f"{bin_dir}:{os.environ['PATH']}"
    textfiles = tmp_path / "textfile"
    for code, want in ((1, 1.0), (0, 0.0)):
        fake_dnf.write_text(
            f"#!/bin/sh\n[ \"$*\" = '-q needs-restarting -r' ] || exit 9\nexit {code}\n"
        )
        fake_dnf.chmod(0o755)
        res = run(argv, textfiles, PATH=path)
        assert res.returncode == 0, res.stderr
        assert read_textfile(textfiles / "node_reboot_required.prom") == {
            "node_reboot_required": want
        }
    fake_dnf.write_text("#!/bin/sh\necho 'rpmdb broken' >&2\nexit 3\n")
    res = run(argv, textfiles, PATH=path)
    assert res.returncode == 1 and "rpmdb broken" in res.stderr
    # the last good value stays; nothing half-written
    assert read_textfile(textfiles / "node_reboot_required.prom") == {"node_reboot_required": 0.0}


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["nightly"], 2, "usage"),
        ([], 2, "usage"),
        (["backup", "--mtime"], 2, "usage"),
        (["journal_export", "--mtime", "/nonexistent/host.log"], 1, "no stamp written"),
    ],
)
def test_bad_use_and_missing_files_write_nothing(
    tmp_path: Path, argv: list[str], code: int, message: str
) -> None:
    res = run([sys.executable, str(STAMP), *argv], tmp_path / "textfile")
    assert res.returncode == code and message in res.stderr
    assert not (tmp_path / "textfile").exists() or not list((tmp_path / "textfile").iterdir())


def test_an_unwritable_directory_fails_the_job(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    res = run([sys.executable, str(STAMP), "backup"], blocked)
    assert res.returncode == 1 and "no stamp written" in res.stderr
