#!/usr/bin/python3
"""Freshness of the host's background jobs, for node_exporter's textfile collector.

    job_stamp.py JOB                   JOB succeeded now (a unit's ExecStartPost=)
    job_stamp.py JOB --mtime PATH      JOB last succeeded when PATH was last written
    job_stamp.py --reboot-required     node_reboot_required 1 or 0 (dnf needs-restarting -r)

JOB is one of JOBS below; the gauge is tradewarden_<JOB>_last_success_timestamp_seconds in
<dir>/tradewarden_<JOB>.prom, written atomically (a temporary file renamed into place, so
node_exporter never reads half a file). <dir> is /var/lib/node_exporter/textfile
(node_exporter --collector.textfile.directory), or TRADEWARDEN_TEXTFILE_DIR. The alerts
BackupStale, EgressRefreshStale, HeartbeatPublishStale and JournalExportStale
(ops/prometheus/rules/alerts.yml) fire when a stamp gets old. Runs with the system Python
(no third-party module). Exit 0 written, 1 not written (the reason on stderr), 2 bad usage.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

TEXTFILE_DIR = "/var/lib/node_exporter/textfile"

# job -> what it is (the metric's HELP); the units name these on their command line
JOBS = {
    "backup": "the nightly tradewarden backup (tradewarden-backup.service)",
    "egress_refresh": "the egress allow-list refresh (tradewarden-egress.service)",
    "heartbeat": "the CloudWatch heartbeat put (tradewarden-heartbeat.service)",
    "journal_export": "the journal export's last write (tradewarden-journal-export.service)",
}
REBOOT_METRIC = "node_reboot_required"


def metric_name(job: str) -> str:
    return f"tradewarden_{job}_last_success_timestamp_seconds"


def textfile_dir() -> str:
    return os.environ.get("TRADEWARDEN_TEXTFILE_DIR") or TEXTFILE_DIR


def write_textfile(stem: str, name: str, help_text: str, value: float, directory: str) -> str:
    """<directory>/<stem>.prom holding one gauge `name`; returns the path."""
    os.makedirs(directory, mode=0o755, exist_ok=True)
    path = os.path.join(directory, stem + ".prom")
    body = f"# HELP {name} {help_text}\n# TYPE {name} gauge\n{name} {value:.3f}\n"
    # a name node_exporter ignores (*.prom only) until the rename
    fd, tmp = tempfile.mkstemp(prefix="." + stem + ".", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(body)
        os.chmod(tmp, 0o644)  # node_exporter runs as another user
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def reboot_required() -> int:
    """1 if `dnf needs-restarting -r` says a reboot is needed (exit 1), 0 if not (exit 0)."""
    res = subprocess.run(
        ["dnf", "-q", "needs-restarting", "-r"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if res.returncode not in (0, 1):
        raise RuntimeError("dnf needs-restarting -r failed: " + (res.stderr or res.stdout).strip())
    return res.returncode


def main(argv: list[str]) -> int:
    directory = textfile_dir()
    try:
        if argv == ["--reboot-required"]:
            value = reboot_required()
            write_textfile(
                REBOOT_METRIC,
                REBOOT_METRIC,
                "1 if installed updates need a reboot (dnf needs-restarting -r), else 0.",
                value,
                directory,
            )
            print(f"{REBOOT_METRIC} {value}")
            return 0
        if len(argv) == 1 and argv[0] in JOBS:
            job, when = argv[0], time.time()
        elif len(argv) == 3 and argv[0] in JOBS and argv[1] == "--mtime":
            job, when = argv[0], os.stat(argv[2]).st_mtime
        else:
            print(
                "usage: job_stamp.py JOB [--mtime PATH] | --reboot-required; JOB: "
                + ", ".join(sorted(JOBS)),
                file=sys.stderr,
            )
            return 2
        path = write_textfile(
            "tradewarden_" + job,
            metric_name(job),
            f"Unix time {JOBS[job]} last succeeded.",
            when,
            directory,
        )
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        print(f"error: no stamp written: {exc}", file=sys.stderr)
        return 1
    print(f"{metric_name(job)} {when:.0f} -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
