"""Secret scanning for `make test` (target ``secrets-scan``): detect-secrets over the tree.

    python .ci/secrets_scan.py [--root DIR] [--baseline FILE]

Scans every file under the root (tracked or not: a file not yet added is scanned too),
with the plugins and filters recorded in the reviewed baseline (``.secrets.baseline``,
including its ``--exclude-files`` pattern: .venv, var, uv.lock, caches). Fails (exit 1) when

- a finding is not in the baseline (a new secret-looking string; an inline
  ``# pragma: allowlist secret`` does not exempt it), or
- a baseline entry is not reviewed (no ``is_secret``) or was judged a real secret
  (``is_secret: true``: a real secret is removed and rotated, never baselined).

Findings are matched by file, type and hash, not by line, so moving a reviewed fixture
does not fail the build. Only file, line and type are printed, never the value.

Add a reviewed finding: ``detect-secrets scan --all-files --baseline .secrets.baseline``
(updates the baseline with the repository's settings, keeping the reviews), then
``detect-secrets audit .secrets.baseline`` and answer each new entry.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from detect_secrets.core import baseline as ds_baseline
from detect_secrets.core.secrets_collection import SecretsCollection
from detect_secrets.settings import get_settings, transient_settings

BASELINE = ".secrets.baseline"
EXCLUDE_FILTER = "detect_secrets.filters.regex.should_exclude_file"
INLINE_ALLOWLIST = "detect_secrets.filters.allowlist.is_line_allowlisted"


def exclude_patterns() -> list[re.Pattern[str]]:
    """The baseline's ``--exclude-files`` patterns (the configured settings)."""
    raw = get_settings().filters.get(EXCLUDE_FILTER, {}).get("pattern", [])
    return [re.compile(p) for p in raw]


def files_under(root: Path, patterns: list[re.Pattern[str]]) -> list[str]:
    """Every regular file under `root` as a relative path; excluded directories are not
    walked (the patterns are tried on ``dir/``)."""
    found: list[str] = []
    for here, dirs, files in os.walk(root):
        rel_dir = os.path.relpath(here, root)
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirs[:] = sorted(d for d in dirs if not any(p.search(f"{rel_dir}{d}/") for p in patterns))
        for name in sorted(files):
            rel = f"{rel_dir}{name}"
            path = Path(here, name)
            if path.is_symlink() or not path.is_file():
                continue
            if not any(p.search(rel) for p in patterns):
                found.append(rel)
    return found


def check(root: Path, baseline_file: Path) -> tuple[list[str], int]:
    """The problems found (empty: clean) and how many files were scanned."""
    data = ds_baseline.load_from_file(str(baseline_file))
    problems = []
    for filename, entries in sorted(data.get("results", {}).items()):
        for entry in entries:
            where = f"{filename}:{entry.get('line_number')}: {entry.get('type')}"
            if "is_secret" not in entry:
                problems.append(f"{where}: in the baseline but not reviewed (is_secret unset)")
            elif entry["is_secret"]:
                problems.append(f"{where}: reviewed as a REAL secret: remove and rotate it")
    with transient_settings({}):
        known = ds_baseline.load(data, str(baseline_file))
        # An inline `# pragma: allowlist secret` would let a line skip the review: every
        # finding has to be in the reviewed baseline.
        get_settings().disable_filters(INLINE_ALLOWLIST)
        patterns = exclude_patterns()
        previous = Path.cwd()
        os.chdir(root)  # results and the exclude patterns are relative to the root
        try:
            files = files_under(Path("."), patterns)
            found = SecretsCollection()
            found.scan_files(*files)
        finally:
            os.chdir(previous)
    for filename, secret in sorted(found - known, key=lambda fs: (fs[0], fs[1].line_number)):
        problems.append(
            f"{filename}:{secret.line_number}: {secret.type}: new secret-looking string"
        )
    return problems, len(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path("."), help="tree to scan")
    parser.add_argument(
        "--baseline", type=Path, default=None, help=f"reviewed baseline (default ROOT/{BASELINE})"
    )
    args = parser.parse_args(argv)
    root = args.root.resolve()
    baseline_file = (args.baseline or root / BASELINE).resolve()
    if not baseline_file.is_file():
        print(f"secrets-scan: no baseline {baseline_file}", file=sys.stderr)
        return 2
    problems, scanned = check(root, baseline_file)
    if problems:
        print("secrets-scan: potential secrets (file:line: type):", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        print(
            "secrets-scan: remove the value (and rotate it if it was real); a reviewed false "
            f"positive goes into {BASELINE} (see .ci/secrets_scan.py)",
            file=sys.stderr,
        )
        return 1
    print(f"secrets-scan: clean ({scanned} files, baseline {baseline_file.name})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
