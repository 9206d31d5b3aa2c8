"""The daemon under the constraints of ops/systemd/tradewarden.service.

This container has no systemd manager (PID 1 is not systemd: `systemd-run` cannot start a
unit), so the unit's sandbox is rebuilt from kernel primitives, each one read from the unit
file where it has a value:

* User=            -> uid/gid 65534 (nobody) via setpriv, supplementary groups cleared
* NoNewPrivileges=, CapabilityBoundingSet= (empty), AmbientCapabilities= -> setpriv
* ProtectSystem=strict + StateDirectory= -> a private mount namespace where every mount is
  read-only except the state dir (a bind mount); /proc, /sys, /dev stay as they are
  (systemd also leaves the API file systems to PrivateDevices=/ProtectKernel*=)
* ProtectHome=     -> an empty tmpfs over /root, into which only the Python install the test
  runs on is bound read-only (on the host the venv is /opt/tradewarden/venv, outside /root)
* PrivateTmp=      -> stricter here: /tmp is read-only (the daemon must not need /tmp)
* SystemCallFilter=@system-service ~@privileged @resources, SystemCallErrorNumber=EPERM,
  SystemCallArchitectures=native, RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX -> a
  seccomp-BPF filter built from `systemd-analyze syscall-filter`'s own group lists and the
  kernel's x86_64 syscall table (linux-libc-dev's unistd_64.h)
* UMask=0077, STATE_DIRECTORY=, Type=notify (NOTIFY_SOCKET), WatchdogSec= (WATCHDOG_USEC)

Not reproduced (no systemd here): PrivateDevices=, PrivateUsers=, PrivateIPC=,
ProtectKernel*=, ProtectClock=, ProtectProc=, MemoryMax=, TasksMax=. A sandbox self-test
shows the reproduced constraints really bite before the daemon is judged under them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.integration.daemon import helpers

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "ops/systemd/tradewarden.service"
UNISTD = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")
NOBODY = 65534

# Installs a seccomp filter (allowed syscall numbers and address families given as JSON),
# sets the umask, then execs the command: what systemd does between fork and exec.
SECCOMP_EXEC = r"""
import ctypes, json, os, sys
spec = json.loads(sys.argv[1])
ALLOW, KILL = 0x7FFF0000, 0x80000000
ERRNO = lambda e: 0x00050000 | e
LD, JEQ, RET = 0x20, 0x15, 0x06
prog = [(LD, 0, 0, 4), (JEQ, 1, 0, 0xC000003E), (RET, 0, 0, KILL), (LD, 0, 0, 0)]
fams = spec["families"]
prog.append((JEQ, 0, len(fams) + 3, spec["socket"]))
prog.append((LD, 0, 0, 16))
for i, fam in enumerate(fams):
    prog.append((JEQ, len(fams) - i, 0, fam))
prog += [(RET, 0, 0, ERRNO(97)), (RET, 0, 0, ALLOW), (LD, 0, 0, 0)]
for nr in spec["allow"]:
    prog += [(JEQ, 0, 1, nr), (RET, 0, 0, ALLOW)]
prog.append((RET, 0, 0, ERRNO(1)))

class Insn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint)]
class Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Insn))]
arr = (Insn * len(prog))(*[Insn(*i) for i in prog])
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
    sys.exit("prctl(PR_SET_NO_NEW_PRIVS): " + os.strerror(ctypes.get_errno()))
fprog = Prog(len(prog), arr)
if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, MODE_FILTER
    sys.exit("prctl(PR_SET_SECCOMP): " + os.strerror(ctypes.get_errno()))
os.umask(int(spec["umask"], 8))
os.execve(sys.argv[2], sys.argv[2:], os.environ)
"""

# Run inside the sandbox before the daemon: the constraints are real.
SELF_TEST = r"""
import errno, json, os, socket, sys
state, repo = sys.argv[1], sys.argv[2]
out = {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups()}
status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines())
out.update({k: status[k].strip() for k in ("CapBnd", "CapEff", "NoNewPrivs", "Seccomp")})
def attempt(name, fn):
    try:
        fn(); out[name] = "ok"
    except OSError as exc:
        out[name] = errno.errorcode.get(exc.errno, str(exc.errno))
attempt("write_repo", lambda: open(os.path.join(repo, ".hardened-probe"), "w"))
attempt("write_tmp", lambda: open("/tmp/.hardened-probe", "w"))
attempt("write_state", lambda: open(os.path.join(state, "probe"), "w").close())
attempt("netlink", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0))
attempt("packet", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0))
attempt("inet", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close())
attempt("setpriority", lambda: os.nice(1))
out["mode_state_file"] = oct(os.stat(os.path.join(state, "probe")).st_mode & 0o777)
out["root_listing"] = sorted(os.listdir("/root"))
os.unlink(os.path.join(state, "probe"))
print(json.dumps(out))
"""


def unit_settings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


def seconds(value: str) -> float:
    m = re.fullmatch(r"(\d+)(s|min)?", value)
    assert m, f"unsupported time span {value!r} in the test"
    return int(m.group(1)) * (60 if m.group(2) == "min" else 1)


def syscall_groups() -> dict[str, list[str]]:
    text = subprocess.run(
        ["systemd-analyze", "syscall-filter", "--no-pager"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    groups: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("@"):
            current = line.strip()
            groups[current] = []
        elif line.strip() and not line.strip().startswith("#") and current:
            groups[current].append(line.strip())
    return groups


def expand(name: str, groups: dict[str, list[str]]) -> set[str]:
    if not name.startswith("@"):
        return {name}
    return set().union(*(expand(m, groups) for m in groups[name]))


def seccomp_spec(settings: dict[str, list[str]]) -> dict[str, object]:
    if os.uname().machine != "x86_64":
        pytest.skip(f"the seccomp emulation knows x86_64 only, not {os.uname().machine}")
    if not UNISTD.is_file():
        pytest.skip(f"{UNISTD} (Debian package linux-libc-dev) is missing: no syscall table")
    numbers = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"#define __NR_(\w+) (\d+)", UNISTD.read_text())
    }
    groups = syscall_groups()
    allowed: set[str] = set()
    for entry in settings["SystemCallFilter"]:
        deny = entry.startswith("~")
        names = set().union(*(expand(n, groups) for n in entry.lstrip("~").split()))
        allowed = (allowed - names) if deny else (allowed | names)
    assert settings["SystemCallErrorNumber"] == ["EPERM"]
    assert settings["SystemCallArchitectures"] == ["native"]
    fams = {"AF_UNIX": socket.AF_UNIX, "AF_INET": socket.AF_INET, "AF_INET6": socket.AF_INET6}
    (restrict,) = settings["RestrictAddressFamilies"]
    return {
        "allow": sorted(numbers[n] for n in allowed if n in numbers),
        "socket": numbers["socket"],
        "families": [int(fams[f]) for f in restrict.split()],
        "umask": settings["UMask"][0],
    }


def needed_paths() -> list[Path]:
    """What the sandboxed daemon must read: the interpreter, the venv, the checkout."""
    pyhome = Path(os.path.realpath(sys.executable)).parent.parent
    return [pyhome, Path(sys.prefix).resolve(), REPO]


def hide_and_expose(work: Path) -> str:
    """Shell steps: an empty tmpfs over /root and /home (ProtectHome=) and over any
    directory nobody may not traverse (a 0700 checkout parent, say), with only the needed
    paths bound back into it, read-only like the rest."""
    needed = needed_paths()
    hide = {Path(p) for p in ("/root", "/home") if Path(p).is_dir()}
    for path in needed:
        for anc in reversed(path.parents):
            if anc != Path("/") and not anc.stat().st_mode & 0o001:
                hide.add(anc)
                break
    hide = {h for h in hide if not any(h != o and h.is_relative_to(o) for o in hide)}
    steps = []
    for i, top in enumerate(sorted(hide)):
        keep = [p for p in needed if p.is_relative_to(top)]
        keep = [p for p in keep if not any(p != o and p.is_relative_to(o) for o in keep)]
        for j, p in enumerate(keep):
            steps += [f"mkdir -p {work}/keep{i}-{j}", f"mount --bind {p} {work}/keep{i}-{j}"]
        steps.append(f"mount -t tmpfs -o mode=0755,size=1m tmpfs {top}")
        for j, p in enumerate(keep):
            steps += [f"mkdir -p {p}", f"mount --move {work}/keep{i}-{j} {p}"]
    return "\n".join(steps)


@dataclass
class Sandbox:
    work: Path
    state: Path
    notify: Path
    spec: dict[str, object]

    def command(self, *argv: str) -> list[str]:
        setup = f"""
set -eu
{hide_and_expose(self.work)}
mount --bind {self.state} {self.state}
awk '{{print $5}}' /proc/self/mountinfo | sort -u | while read -r mp; do
  case "$mp" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|{self.state}) continue;; esac
  mount -o remount,bind,ro "$mp" 2>/dev/null || true
done
exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups --no-new-privs \
  --bounding-set=-all --inh-caps=-all --ambient-caps=-all -- "$@"
"""
        return [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            setup,
            "sandbox",
            sys.executable,
            "-c",
            SECCOMP_EXEC,
            json.dumps(self.spec),
            *argv,
        ]

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "STATE_DIRECTORY": str(self.state),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        env.update(extra)
        return env


@pytest.fixture()
def sandbox() -> Iterator[Sandbox]:
    if os.geteuid() != 0:
        pytest.skip("needs root to build the sandbox (mount namespace, setpriv)")
    for tool in ("unshare", "setpriv", "systemd-analyze"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed")
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"mount namespaces are not permitted here: {probe.stderr.strip()}")
    # not under pytest's /tmp/pytest-of-root (0700): nobody must reach the state dir
    work = Path(tempfile.mkdtemp(prefix="tw-hardened-", dir="/tmp"))
    try:
        work.chmod(0o711)
        state = work / "state"
        state.mkdir(mode=0o700)
        os.chown(state, NOBODY, NOBODY)
        yield Sandbox(work, state, work / "notify.sock", seccomp_spec(unit_settings()))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_the_sandbox_enforces_the_units_constraints(sandbox: Sandbox) -> None:
    proc = subprocess.run(
        sandbox.command(sys.executable, "-c", SELF_TEST, str(sandbox.state), str(REPO)),
        env=sandbox.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert (got["uid"], got["gid"], got["groups"]) == (NOBODY, NOBODY, [])
    assert got["CapBnd"] == got["CapEff"] == "0000000000000000"
    assert got["NoNewPrivs"] == "1" and got["Seccomp"] == "2"
    assert got["write_repo"] == "EROFS" and got["write_tmp"] == "EROFS"
    assert got["write_state"] == "ok" and got["mode_state_file"] == "0o600"  # UMask=0077
    assert got["netlink"] == got["packet"] == "EAFNOSUPPORT" and got["inet"] == "ok"
    assert got["setpriority"] == "EPERM"  # @resources is denied with EPERM
    # ProtectHome=: /root is empty but for what the test's own interpreter needs
    visible = {p.relative_to("/root").parts[0] for p in needed_paths() if p.is_relative_to("/root")}
    assert set(got["root_listing"]) == visible
    assert not (REPO / ".hardened-probe").exists()


def readyz(port: int) -> tuple[int, dict[str, object]]:
    return helpers.readyz(port, timeout=2)


def proc_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, v in (ln.split(":", 1) for ln in lines)}


def test_daemon_runs_notifies_and_stops_cleanly_under_the_unit(sandbox: Sandbox) -> None:
    unit = unit_settings()
    assert unit["Type"] == ["notify"]
    stop_timeout = seconds(unit["TimeoutStopSec"][0])
    assert seconds(unit["WatchdogSec"][0]) > 0
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sandbox.notify))
    sandbox.notify.chmod(0o666)  # systemd's notify socket is writable by every service user
    sock.settimeout(60)
    port = free_port()
    proc = subprocess.Popen(
        sandbox.command(sys.executable, "-m", "tradewarden.cli", "run", "--follow", "--no-console"),
        env=sandbox.env(
            NOTIFY_SOCKET=str(sandbox.notify),
            # the unit's WatchdogSec is 30 s (a ping every 10 s); a short one keeps this fast
            WATCHDOG_USEC="600000",
            TRADEWARDEN_METRICS_PORT=str(port),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    got: list[str] = []
    try:
        while not any("READY=1" in m for m in got):
            try:
                got.append(sock.recv(4096).decode())
            except TimeoutError:
                proc.kill()
                raise AssertionError(f"no READY=1; daemon said: {proc.communicate()}") from None
        ready = got[-1]
        assert f"MAINPID={proc.pid}" in ready and "paper" in ready, ready
        st = proc_status(proc.pid)
        assert st["Uid"].split()[:2] == [str(NOBODY)] * 2 and st["Groups"] == ""
        assert st["CapBnd"] == "0000000000000000" and st["NoNewPrivs"] == "1"
        assert st["Seccomp"] == "2"

        watchdogs = 0
        while watchdogs < 2:
            msg = sock.recv(4096).decode()
            got.append(msg)
            watchdogs += msg.startswith("WATCHDOG=1")
        code, body = readyz(port)
        assert code in (200, 503) and "ready" in body  # AF_INET on localhost is allowed
        files = {p.name: p.stat() for p in sandbox.state.rglob("*")}
        assert "tradewarden.sqlite3" in files and "daemon.lock" in files
        assert all(s.st_uid == NOBODY for s in files.values())
        assert all(s.st_mode & 0o077 == 0 for s in files.values()), "UMask=0077 not honoured"

        proc.send_signal(signal.SIGTERM)
        while not any("STOPPING=1" in m for m in got):
            got.append(sock.recv(4096).decode())
        assert proc.wait(timeout=stop_timeout) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        sock.close()
    err = proc.stderr.read() if proc.stderr else ""
    assert "Traceback" not in err and "Operation not permitted" not in err, err
    verify = subprocess.run(
        [sys.executable, "-m", "tradewarden.cli", "audit", "verify", "--json"],
        env={**os.environ, "TRADEWARDEN_STATE_DIR": str(sandbox.state)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(verify.stdout)["ok"], verify.stdout
    events = [
        json.loads(line)["event"]
        for f in sorted((sandbox.state / "audit").glob("audit-*.jsonl"))
        for line in f.read_text().splitlines()
    ]
    assert events[0] == "daemon_started" and events[-1] == "daemon_stopped"
