"""Fixtures for the secrets tests: moto (shared and private), a Secrets Manager error
endpoint, the fake Binance, settings aimed at them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import free_port, wait_http
from tests.fakes.binance import FakeBinance
from tradewarden.core.config import Settings, load_settings
from tradewarden.secrets import scrub
from tradewarden.state.store import Store

KEY = "tw-secrets-key-1f0c"
SECRET = "tw-secrets-secret-9b7e-never-log"
NEW_KEY = "tw-secrets-newkey-77d1"
NEW_SECRET = "tw-secrets-newsecret-c4a2-never-log"
TRADE_ID = "tradewarden/test/binance/trade"
READ_ID = "tradewarden/test/binance/read"


@pytest.fixture(autouse=True)
def _scrubber_uninstalled_after() -> Iterator[None]:
    yield
    scrub.uninstall()


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "s.sqlite3", durable=False)
    yield s
    s.close()


@pytest.fixture()
def fx() -> Iterator[FakeBinance]:
    with FakeBinance(api_key=KEY, api_secret=SECRET) as fake:
        yield fake


@pytest.fixture()
def sm(aws_env: str) -> Any:
    return boto3.client("secretsmanager")


def pair(key: str = KEY, secret: str = SECRET, **extra: Any) -> str:
    return json.dumps({"api_key": key, "api_secret": secret, **extra})


def make_settings(tmp_path: Path, fx: FakeBinance | None = None, **over: Any) -> Settings:
    base: dict[str, Any] = {
        "state_dir": tmp_path / "state",
        "secret_source": "aws",
        "secret_trade_key_id": TRADE_ID,
        "secret_read_key_id": READ_ID,
        "recv_window_ms": 5000,
    }
    if fx is not None:
        base["binance_base_url"] = fx.url
    return load_settings(**(base | over))


@contextmanager
def private_moto(extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """A moto server of our own (a test may stop it, or turn on IAM auth in it)."""
    import os

    exe = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(extra_env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/moto-api/")
        yield url
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)


def sm_client(url: str, **kw: Any) -> Any:
    from botocore.config import Config

    return boto3.client(
        "secretsmanager",
        endpoint_url=url,
        region_name="eu-west-1",
        aws_access_key_id=kw.pop("key_id", "testing"),
        aws_secret_access_key=kw.pop("secret_key", "testing"),
        config=Config(
            connect_timeout=1, read_timeout=2, retries={"mode": "standard", "max_attempts": 2}
        ),
    )


def enable_iam_auth(url: str) -> None:
    """From now on moto checks every request against IAM (its /moto-api/reset-auth)."""
    req = urllib.request.Request(
        url + "/moto-api/reset-auth",
        data=b"0",
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.urlopen(req, timeout=5).close()  # noqa: S310 - local test server


class ErrorEndpoint:
    """A minimal Secrets Manager endpoint (the awsJson1.1 protocol boto3 speaks) for what
    moto does not model: KMS decryption failures, throttling, an answer without a value.
    `answer` is ``("ok", SecretString)``, ``("empty", "")`` (200 and ``{}``) or
    ``(http_status, error_code)``; `hits` counts requests; `on_hit` runs on each."""

    def __init__(self) -> None:
        self.answer: tuple[Any, str] = (400, "ThrottlingException")
        self.hits = 0
        self.on_hit: Callable[[], None] = lambda: None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.hits += 1
                outer.on_hit()
                status, what = outer.answer
                if status == "empty":
                    code, body = 200, {}
                elif status == "ok":
                    code = 200
                    body: dict[str, Any] = {
                        "ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:x",
                        "Name": TRADE_ID,
                        "VersionId": "v-1",
                        "SecretString": what,
                        "VersionStages": ["AWSCURRENT"],
                        "CreatedDate": 1_700_000_000,
                    }
                else:
                    code = int(status)
                    body = {"__type": what, "message": f"stub {what}"}
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def error_endpoint() -> Iterator[ErrorEndpoint]:
    ep = ErrorEndpoint()
    yield ep
    ep.close()


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t
