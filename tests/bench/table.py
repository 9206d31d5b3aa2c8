"""One row of `make bench`'s summary table: each bench calls `row(...)` for its headline
figures; `python -m tests.bench` gathers them into one markdown table."""

from __future__ import annotations

MARK = "BENCH-ROW\t"


def row(benchmark: str, figure: str, target: str, baseline: str, met: bool) -> None:
    """Print a row: what was measured, the figure, the target, the same-run baseline/ratio."""
    cells = [benchmark, figure, target, baseline, "met" if met else "MISSED"]
    print(MARK + "\t".join(c.replace("|", "\\|").replace("\t", " ") for c in cells))


def rows_of(output: str) -> list[list[str]]:
    return [line[len(MARK) :].split("\t") for line in output.splitlines() if line.startswith(MARK)]
