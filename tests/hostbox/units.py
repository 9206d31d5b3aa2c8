"""Run installed systemd units without systemd (it cannot be PID 1 in a test): read the
unit file and its drop-ins from the scratch root, build the environment systemd would
(EnvironmentFile=, Environment=, STATE_/RUNTIME_/LOGS_DIRECTORY, NOTIFY_SOCKET for
Type=notify), run ExecStartPre= in order and ExecStart= in the host's network namespace.

Differences from systemd, on purpose: the unit's absolute paths under /opt, /usr/local,
/etc/tradewarden, /etc/nftables, /var/lib, /var/log and /run are the scratch root's; the
process runs as root (User=/DynamicUser= and the sandboxing directives are checked by
`systemd-analyze` in tests/ops/test_systemd.py, not applied here); Restart= is not
emulated (a unit whose main process exits has "failed").
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from tests.hostbox.net import Namespace

T = TypeVar("T")
_REWRITE = re.compile(
    r"(?<![\w./-])(/opt/|/usr/local/|/etc/tradewarden|/etc/nftables|/var/lib/|/var/log/|/run/)"
)
SYSTEMD_DIRS = {
    "StateDirectory": ("STATE_DIRECTORY", "var/lib"),
    "RuntimeDirectory": ("RUNTIME_DIRECTORY", "run"),
    "LogsDirectory": ("LOGS_DIRECTORY", "var/log"),
}


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """section -> [(key, value)] in order (keys repeat: ExecStartPre=, EnvironmentFile=)."""
    out: dict[str, list[tuple[str, str]]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            out.setdefault(section, [])
        elif "=" in line:
            key, value = line.split("=", 1)
            out.setdefault(section, []).append((key.strip(), value.strip()))
    return out


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", ";")) and "=" in line:
            k, v = line.split("=", 1)
            env[k.strip()] = v.strip().strip('"')
    return env


class NotifySocket:
    """The sd_notify datagram socket systemd gives a Type=notify service."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[str] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.extend(data.decode(errors="replace").splitlines())

    def seen(self, item: str) -> bool:
        return item in list(self.messages)

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=2)
        self.sock.close()
        with contextlib.suppress(OSError):
            self.path.unlink()


@dataclass
class Unit:
    name: str
    root: Path
    ns: Namespace
    settings: dict[str, list[tuple[str, str]]] = field(init=False)
    proc: subprocess.Popen[bytes] | None = None
    notify: NotifySocket | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        unit_dir = self.root / "etc/systemd/system"
        text = (unit_dir / self.name).read_text()
        dropins = sorted((unit_dir / f"{self.name}.d").glob("*.conf"))
        text += "".join("\n" + d.read_text() for d in dropins)
        self.settings = parse_unit(text)
        self.log = self.root / "var/log/hostbox" / f"{self.name}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)

    def values(self, key: str, section: str = "Service") -> list[str]:
        return [v for k, v in self.settings.get(section, []) if k == key]

    def path(self, p: str) -> str:
        return _REWRITE.sub(lambda m: str(self.root) + m.group(1), p)

    def env(self) -> dict[str, str]:
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        for item in self.values("EnvironmentFile"):
            optional = item.startswith("-")
            f = Path(self.path(item.lstrip("-")))
            if f.is_file():
                env.update(read_env_file(f))
            elif not optional:
                raise FileNotFoundError(f"{self.name}: EnvironmentFile {f} is missing")
        for item in self.values("Environment"):
            for pair in shlex.split(item):
                k, _, v = pair.partition("=")
                env[k] = v
        for key, (var, base) in SYSTEMD_DIRS.items():
            names = " ".join(self.values(key)).split()
            if names:
                dirs = [self.root / base / n for n in names]
                for d in dirs:
                    d.mkdir(parents=True, exist_ok=True)
                    d.chmod(0o700)
                env[var] = ":".join(str(d) for d in dirs)
        env.update(TRADEWARDEN_ROOT=str(self.root), TRADEWARDEN_NO_SYSTEMD="1")
        return env

    def argv(self, line: str) -> list[str]:
        cmd = line.lstrip("-+!@:")
        return [self.path(a) for a in shlex.split(cmd)]

    def run_pre(self, env: dict[str, str]) -> None:
        for line in self.values("ExecStartPre"):
            proc = subprocess.run(
                self.ns.argv(*self.argv(line)), env=env, capture_output=True, text=True, timeout=120
            )
            with self.log.open("a") as f:
                f.write(f"$ {line}\n{proc.stdout}{proc.stderr}")
            if proc.returncode != 0 and not line.startswith("-"):
                raise AssertionError(f"{self.name}: ExecStartPre failed: {line}\n{proc.stderr}")

    def start(self, wait: bool | None = None) -> Unit:
        """ExecStartPre=, then ExecStart= (waited for when Type=oneshot)."""
        env = self.env()
        self.run_pre(env)
        if self.values("Type") == ["notify"]:
            self.notify = NotifySocket(self.root / "run" / f"notify-{self.name}.sock")
            env["NOTIFY_SOCKET"] = str(self.notify.path)
        (start,) = self.values("ExecStart")[-1:]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.ns.argv(*self.argv(start)),
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                start_new_session=True,
            )
        if wait or (wait is None and self.values("Type") == ["oneshot"]):
            rc = self.proc.wait(timeout=120)
            if rc != 0:
                raise AssertionError(f"{self.name} exited {rc}: {self.output()}")
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else 0

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-6000:]
        return ""

    def stop(self) -> int | None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self.notify is not None:
            self.notify.close()
            self.notify = None
        return None if self.proc is None else self.proc.returncode


def wait_until(check: Callable[[], T], what: str, timeout: float = 120.0, step: float = 0.5) -> T:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(step)
