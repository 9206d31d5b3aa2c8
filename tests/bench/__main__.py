"""`make bench`: run every benchmark script in tests/bench/ and report each one's verdict.

Each bench is a module with `main() -> int` that prints its own figures (and the baseline
measured in the same run); this runner collects their output and exit codes.
"""

from __future__ import annotations

import importlib
import io
import pkgutil
import sys
from contextlib import redirect_stdout
from pathlib import Path

SKIP = {"soak"}  # long-running; run on its own


def main() -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    rows, failed = [], 0
    for name in names:
        if name in SKIP:
            continue
        mod = importlib.import_module(f"tests.bench.{name}")
        buf = io.StringIO()
        with redirect_stdout(buf):
            rc = mod.main()
        out = buf.getvalue().strip()
        print(out + "\n")
        rows.append((name, "met" if rc == 0 else "MISSED"))
        failed += rc != 0
    print("| benchmark | targets |\n|---|---|")
    for name, verdict in rows:
        print(f"| {name} | {verdict} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
