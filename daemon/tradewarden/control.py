"""How the CLI acts on the daemon: one lock file says whether it runs.

If the daemon runs (it holds ``daemon.lock``), `halt`/`reset` are queued as control
requests in SQLite and the daemon is woken with SIGUSR1; it applies them on its own
thread, so the audit chain has one writer. If it does not run, the CLI takes the lock and
applies the action itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import signal
import time
from pathlib import Path
from typing import Any

from tradewarden.store import Store

SSM_SESSION_VARS = ("SSM_SESSION_ID", "AWS_SSM_SESSION_ID")
# the host's `sudo tradewarden` wrapper (ops/cloud-init/tradewarden-cli.py) runs the CLI as
# this service user with SUDO_USER set to the human who ran sudo
SERVICE_USER = "tradewarden"


def current_actor() -> str:
    """Who is acting, for the audit log: ``name@host uid=N`` from the process's real uid
    (``$USER`` is not believed: anyone can set it), the sudo caller when root runs through
    sudo or the host's ``sudo tradewarden`` wrapper runs the CLI as the service user, and
    the AWS SSM Session Manager session id when one is set (``SSM_SESSION_ID`` or
    ``AWS_SSM_SESSION_ID``; sudo's environment reset normally drops it)."""
    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = f"uid{uid}"
    parts = []
    sudo_user = os.environ.get("SUDO_USER", "")
    # sudo (root) or the host wrapper (the service user) set SUDO_USER; anyone else may not
    if (uid == 0 or name == SERVICE_USER) and sudo_user and sudo_user not in ("root", name):
        name = _printable(sudo_user).replace("@", "").replace(":", "") or f"uid{uid}"
        parts.append("sudo")
        sudo_uid = os.environ.get("SUDO_UID", "")
        if sudo_uid.isdigit():
            parts.append(f"sudo_uid={sudo_uid}")
    parts.insert(0, f"uid={uid}")
    for var in SSM_SESSION_VARS:
        session = os.environ.get(var, "").strip()
        if session:
            parts.append(f"ssm={_printable(session)}")
            break
    return f"{name}@{os.uname().nodename} {' '.join(parts)}"


def _printable(value: str) -> str:
    return "".join(c for c in value if c.isalnum() or c in "-_.@:")[:128]


class DaemonLock:
    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / "daemon.lock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def holder_pid(self) -> int | None:
        try:
            text = self.path.read_text().strip()
            return int(text) if text else None
        except (OSError, ValueError):
            return None

    def __enter__(self) -> DaemonLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def request_via_daemon(
    store: Store, lock: DaemonLock, action: str, reason: str, actor: str, timeout: float = 10.0
) -> dict[str, Any]:
    req_id = store.add_control(action, reason, actor)
    pid = lock.holder_pid()
    if pid:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = store.control(req_id)
        if row is not None and row["status"] != "pending":
            import json

            return {"status": row["status"], "result": json.loads(row["result"] or "null")}
        time.sleep(0.05)
    return {"status": "timeout", "result": f"the daemon (pid {pid}) did not apply request {req_id}"}
