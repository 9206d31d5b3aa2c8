"""`make bench`: run every benchmark in tests/bench/ in its own process and print one table.

Each bench is a module with `main() -> int` that prints its own figures (and the baseline
measured in the same run, as `table.row` lines). Each one runs alone as
`python -m tests.bench.<name>`, so no figure carries another bench's leftovers: the soak's
RSS is the soak's (in one shared process it read 123 MB, alone ~60 MB), a cold start is not
slowed by a previous bench's threads. The runner collects each module's rows, exit code,
wall time and peak RSS (the child's own `wait4` rusage) and ends with one markdown table.

    uv run --frozen python -m tests.bench                  # every bench, then the table
    uv run --frozen python -m tests.bench bench_risk soak  # only these
"""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench.table import MARK, rows_of

SOAK_SECONDS = "120"  # `make bench` runs a short soak for the RSS figure; SOAK_SECONDS=1800 alone
HERE = Path(__file__).parent
REPO = HERE.parent.parent


@dataclass
class Result:
    name: str
    returncode: int
    seconds: float
    peak_rss_mb: float
    rows: list[list[str]] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.returncode == 0:
            return "met"
        if self.returncode == 1 and self.rows:  # it measured and a target was missed
            return "MISSED"
        return f"FAILED (exit {self.returncode}, no figures)"


def bench_names() -> list[str]:
    names = sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name.startswith("bench_"))
    return [*names, "soak"]


def run_one(name: str) -> tuple[Result, str]:
    """`python -m tests.bench.<name>` in a fresh interpreter; its stdout is collected, its
    stderr goes straight through; the process is reaped with `wait4` for its own rusage."""
    env = {**os.environ, "SOAK_SECONDS": os.environ.get("SOAK_SECONDS", SOAK_SECONDS)}
    start = time.monotonic()
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter on our own module
        [sys.executable, "-m", f"tests.bench.{name}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    seconds = time.monotonic() - start
    # ru_maxrss is in KiB on Linux: the peak of this child alone (the runner's is not in it)
    result = Result(name, proc.returncode, seconds, usage.ru_maxrss / 1024, rows_of(out))
    return result, out.strip()


def print_table(results: list[Result]) -> None:
    print(
        "| Benchmark | Figure (this machine, this run) | Target | Baseline / ratio (same run) | |"
    )
    print("|---|---|---|---|---|")
    for res in results:
        for cells in res.rows:
            print("| " + " | ".join(cells) + " |")
    print()
    print("| bench module (own process) | targets | wall time | peak RSS of its process |")
    print("|---|---|---|---|")
    for res in results:
        print(f"| {res.name} | {res.verdict} | {res.seconds:.1f} s | {res.peak_rss_mb:.1f} MB |")


def main(argv: list[str]) -> int:
    known = bench_names()
    names = argv or known
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"unknown bench {', '.join(unknown)}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    results: list[Result] = []
    for name in names:
        res, out = run_one(name)
        print("\n".join(x for x in out.splitlines() if not x.startswith(MARK)) + "\n", flush=True)
        results.append(res)
    print_table(results)
    return 0 if all(r.returncode == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
