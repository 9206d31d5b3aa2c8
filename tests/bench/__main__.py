"""`make bench`: run every benchmark script in tests/bench/ and report each one's verdict.

Each bench is a module with `main() -> int` that prints its own figures (and the baseline
measured in the same run); this runner collects their output and exit codes.
"""

from __future__ import annotations

import importlib
import io
import os
import pkgutil
import sys
from contextlib import redirect_stdout
from pathlib import Path

from tests.bench.table import MARK, rows_of

SOAK_SECONDS = "120"  # `make bench` runs a short soak for the RSS figure; SOAK_SECONDS=1800 alone


def main() -> int:
    here = Path(__file__).parent
    os.environ.setdefault("SOAK_SECONDS", SOAK_SECONDS)
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    names.append("soak")
    rows, table, failed = [], [], 0
    for name in names:
        mod = importlib.import_module(f"tests.bench.{name}")
        buf = io.StringIO()
        with redirect_stdout(buf):
            rc = mod.main()
        out = buf.getvalue().strip()
        table.extend(rows_of(out))
        print("\n".join(x for x in out.splitlines() if not x.startswith(MARK)) + "\n")
        rows.append((name, "met" if rc == 0 else "MISSED"))
        failed += rc != 0
    print(
        "| Benchmark | Figure (this machine, this run) | Target | Baseline / ratio (same run) | |"
    )
    print("|---|---|---|---|---|")
    for cells in table:
        print("| " + " | ".join(cells) + " |")
    print()
    print("| bench module | targets |\n|---|---|")
    for name, verdict in rows:
        print(f"| {name} | {verdict} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
