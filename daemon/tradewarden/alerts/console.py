"""The local channel: one human line on stderr and a JSON line in ``state_dir/alerts.jsonl``.

Used by the demo (`make run`, no cloud) and kept on in production as the host's own record
of every alert the daemon raised.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import IO

from tradewarden.alerts import render
from tradewarden.alerts.model import Alert

JSONL_NAME = "alerts.jsonl"


class ConsoleChannel:
    name = "console"

    def __init__(self, state_dir: Path | str, stream: IO[str] | None = None) -> None:
        self.path = Path(state_dir) / JSONL_NAME
        self.stream = stream
        self._lock = threading.Lock()

    def send(self, alert: Alert, outbox_id: str = "") -> None:
        record = {"outbox_id": outbox_id, **alert.to_dict()}
        line = json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            stream = self.stream or sys.stderr
            print(
                f"{render.emoji(alert)} ALERT {render.summary_line(alert)}", file=stream, flush=True
            )
