"""Exit 0 if the audit log has an entry of EVENT whose data has every KEY=VALUE; else 1.

    python ops/audit_has.py STATE_DIR/audit EVENT [KEY=VALUE ...]

Used by the drills (ops/drill_key_leak.sh): a match on the entry's own `event` and `data`
fields, not a grep for a word that also appears as a value inside other entries (the
reconciliation's security_event carries "action": "halt"; every entry carries hashes).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def has(audit_dir: Path, event: str, want: dict[str, str]) -> bool:
    for path in sorted(audit_dir.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            data = entry.get("data") or {}
            if entry.get("event") == event and all(str(data.get(k)) == v for k, v in want.items()):
                return True
    return False


def main(argv: list[str]) -> int:
    if len(argv) < 2 or any("=" not in a for a in argv[2:]):
        print(__doc__, file=sys.stderr)
        return 2
    want = dict(a.split("=", 1) for a in argv[2:])
    return 0 if has(Path(argv[0]), argv[1], want) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
