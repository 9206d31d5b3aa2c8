"""Shared pytest fixtures: real local servers the daemon talks to over the network."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def pytest_sessionstart(session: pytest.Session) -> None:
    """With --junitxml: the code fingerprint of the checkout this run tests, as a testsuite
    property; the compliance packet shows no control met from a report of other code.
    Written by the process that writes the XML (the xdist controller, or the only process):
    the ``record_testsuite_property`` fixture is a no-op inside an xdist worker."""
    config = session.config
    if hasattr(config, "workerinput") or not getattr(config.option, "xmlpath", None):
        return
    from _pytest.junitxml import xml_key

    from tradewarden.compliance.controls import CODE_PROPERTY, code_fingerprint

    xml = config.stash.get(xml_key, None)
    code = code_fingerprint(REPO)
    if xml is not None and code is not None:
        xml.add_global_property(CODE_PROPERTY, code)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - local test server
                return
        except Exception as exc:  # noqa: BLE001 - retry until the server is up
            last = exc
            time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not come up: {last}")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A real moto server (AWS API over HTTP) on a free localhost port; yields its URL."""
    exe = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/moto-api/")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture()
def aws_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 at the moto server with throwaway credentials; resets moto state."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    req = urllib.request.Request(moto_server + "/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=5).close()  # noqa: S310 - local test server
    return moto_server


@pytest.fixture()
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every tradewarden/Binance setting from the environment for the test."""
    for key in list(os.environ):
        if key.startswith(("TRADEWARDEN_", "BINANCE_", "MAX_", "HOT_WALLET", "FINAL_HAMMER")):
            monkeypatch.delenv(key, raising=False)


# --- Test kinds: `make test-fast` leaves out every test that starts a process or a server ---
#
# The markers are applied here, not by hand in each file: by directory, then by what the
# test's code and its fixtures' code (and the tests.* helpers they call) reference. A new
# test that calls subprocess.run or builds a FakeBinance is marked without anyone noticing.

KIND_MARKERS = {
    "subprocess": "starts a process (the daemon, the CLI, moto, promtool, kill -9 ...)",
    "server": "starts a local server: fake Binance, moto, aiosmtpd, fake Slack, Prometheus ...",
    "hostbox": "the host box: root, network namespaces, systemd units; runs serially",
}
# directory under tests/ -> the kinds every test in it has
DIR_KINDS = {
    "hostbox": {"hostbox"},
    "integration": {"server"},  # each directory's conftest stands up a real counterpart
    "chaos": {"subprocess"},  # kill -9 of a daemon process, the soak in its own process
}
# names (globals or attributes) whose use means the code starts a process / a server
SUBPROCESS_NAMES = frozenset(
    {
        "subprocess",
        "Popen",
        "executable",  # sys.executable: this interpreter, as a child
        "create_subprocess_exec",
        "create_subprocess_shell",
        "fork",
        "multiprocessing",
        "ProcessPoolExecutor",
    }
)
SERVER_NAMES = frozenset(
    {
        "FakeBinance",
        "FakeSlack",
        "FakeSmtp",
        "Controller",  # aiosmtpd
        "HTTPServer",
        "ThreadingHTTPServer",
        "TCPServer",
        "make_server",
        "start_http_server",  # prometheus_client
        "serve_forever",
        "moto_server",
        "ThreadedMotoServer",
    }
)
# `make pytest` runs with pytest-xdist (`--dist loadgroup`): tests under one of these paths
# run on one worker, one after another: the infra tests share one session's offline stack
# runs and policy-analyzer server; the nftables tests switch kernel-wide netfilter logging;
# the host box (root, network namespaces, systemd units) is also run on its own by make.
XDIST_GROUPS = {
    ("infra",): "infra",
    ("ops", "test_nftables.py"): "netns",
    ("hostbox",): "hostbox",
}
_KINDS_OF_CODE: dict[object, frozenset[str]] = {}


def _kinds_of(obj: object, depth: int = 0) -> frozenset[str]:
    """Kinds of a function/class (and what it references from tests.*), by its code's names."""
    code = getattr(obj, "__code__", None)
    if code is None and isinstance(obj, type):
        if not obj.__module__.startswith("tests.") or depth > 4:
            return frozenset()
        if obj not in _KINDS_OF_CODE:
            _KINDS_OF_CODE[obj] = frozenset()  # recursion guard
            found: set[str] = set()
            for member in vars(obj).values():
                member = getattr(member, "__func__", member)  # static/class methods
                found |= _kinds_of(getattr(member, "fget", member), depth + 1)
            _KINDS_OF_CODE[obj] = frozenset(found)
        return _KINDS_OF_CODE[obj]
    if code is None or depth > 4:
        return frozenset()
    if code in _KINDS_OF_CODE:
        return _KINDS_OF_CODE[code]
    _KINDS_OF_CODE[code] = frozenset()  # recursion guard
    found = set()
    glb = getattr(obj, "__globals__", {})
    stack = [code]
    while stack:
        c = stack.pop()
        names = set(c.co_names)
        if names & SUBPROCESS_NAMES:
            found.add("subprocess")
        if names & SERVER_NAMES:
            found.add("server")
        stack.extend(k for k in c.co_consts if hasattr(k, "co_names"))  # inner functions
        for name in names:
            ref = glb.get(name)
            mod = getattr(ref, "__module__", None) or ""
            if ref is not None and ref is not obj and mod.startswith("tests."):
                found |= _kinds_of(ref, depth + 1)
    _KINDS_OF_CODE[code] = frozenset(found)
    return _KINDS_OF_CODE[code]


def pytest_configure(config: pytest.Config) -> None:
    for name, text in KIND_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests_dir = Path(__file__).parent
    xdist = config.pluginmanager.hasplugin("xdist")
    for item in items:
        kinds: set[str] = set()
        try:
            parts = item.path.relative_to(tests_dir).parts
        except ValueError:
            parts = ("",)
        kinds |= DIR_KINDS.get(parts[0], set())
        if xdist:
            for prefix, group in XDIST_GROUPS.items():
                if parts[: len(prefix)] == prefix:
                    item.add_marker(pytest.mark.xdist_group(group))
        if isinstance(item, pytest.Function):
            kinds |= _kinds_of(item.function)
            if SERVER_NAMES & set(item.fixturenames):
                kinds.add("server")
            for defs in item._fixtureinfo.name2fixturedefs.values():
                for fixturedef in defs:
                    kinds |= _kinds_of(fixturedef.func)
        for kind in sorted(kinds - {m.name for m in item.iter_markers()}):
            item.add_marker(kind)
