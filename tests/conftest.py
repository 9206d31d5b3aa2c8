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


@pytest.fixture(scope="session", autouse=True)
def _junit_records_the_code(request: pytest.FixtureRequest) -> None:
    """With --junitxml: the code fingerprint of the checkout this run tests, as a testsuite
    property; the compliance packet shows no control met from a report of other code."""
    if not getattr(request.config.option, "xmlpath", None):
        return
    from tradewarden.compliance.controls import CODE_PROPERTY, code_fingerprint

    code = code_fingerprint(REPO)
    if code is not None:
        request.getfixturevalue("record_testsuite_property")(CODE_PROPERTY, code)


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
