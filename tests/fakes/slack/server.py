"""A local Slack stand-in: the Web API's ``chat.postMessage`` and incoming webhooks.

It answers like Slack (``{"ok": true, ...}`` from the Web API, ``ok`` from a webhook),
checks the ``Authorization: Bearer`` token and the webhook path, and records every
accepted message. Faults on demand, from Python or over HTTP (``POST /_control``):

- ``fail_next(n, status=429, retry_after=1)``: answer the next n calls with that status
  (a 429 carries ``Retry-After``)
- ``set_down(True)`` / ``down_next(n)``: read the request, then close the connection
  without answering (the client sees the peer disconnect)
- ``slow_next(n, seconds)``: answer the next n calls only after a delay

Nothing here is a mock of the code under test: slack-sdk talks HTTP to it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

DEFAULT_TOKEN = "test-slack-fake-token"  # noqa: S105 - a test fixture value
DEFAULT_WEBHOOK_PATH = "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"


@dataclass(frozen=True)
class Recorded:
    """One accepted message: ``kind`` is ``chat.postMessage`` or ``webhook``."""

    kind: str
    path: str
    payload: dict[str, Any]
    headers: dict[str, str]
    at: float = field(default_factory=time.time)

    def texts(self) -> list[str]:
        """Every text string anywhere in the payload (blocks, attachments, fallback)."""
        out: list[str] = []

        def walk(v: Any) -> None:
            if isinstance(v, str):
                out.append(v)
            elif isinstance(v, list):
                for x in v:
                    walk(x)
            elif isinstance(v, dict):
                for x in v.values():
                    walk(x)

        walk(self.payload)
        return out


class _State:
    def __init__(self, token: str, webhook_path: str) -> None:
        self.token = token
        self.webhook_path = webhook_path
        self.lock = threading.Lock()
        self.messages: list[Recorded] = []
        self.calls = 0
        self.fail_status = 0
        self.fail_remaining = 0
        self.retry_after: float | None = None
        self.down = False
        self.down_remaining = 0
        self.slow_remaining = 0
        self.slow_seconds = 0.0

    def next_fault(self) -> tuple[str, Any]:
        """Decide this call's fate under the lock: ('down'|'fail'|'slow'|'ok', detail)."""
        with self.lock:
            self.calls += 1
            if self.down:
                return "down", None
            if self.down_remaining > 0:
                self.down_remaining -= 1
                return "down", None
            if self.fail_remaining > 0:
                self.fail_remaining -= 1
                return "fail", (self.fail_status, self.retry_after)
            if self.slow_remaining > 0:
                self.slow_remaining -= 1
                return "slow", self.slow_seconds
            return "ok", None


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: tests read .messages, not access logs

    # --- helpers ----------------------------------------------------------------------------
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        if isinstance(body, dict | list):
            data = json.dumps(body).encode()
            ctype = "application/json; charset=utf-8"
        else:
            data = str(body).encode()
            ctype = "text/html; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    @staticmethod
    def _parse(body: bytes, ctype: str) -> dict[str, Any] | None:
        if "application/json" in ctype:
            try:
                data = json.loads(body or b"{}")
            except ValueError:
                return None
            return data if isinstance(data, dict) else None
        form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
        for key in ("blocks", "attachments", "metadata"):
            if isinstance(form.get(key), str):
                try:
                    form[key] = json.loads(form[key])
                except ValueError:
                    return None
        return form

    # --- routes -----------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        state = self.server.state
        if self.path == "/_messages":
            with state.lock:
                data = [m.payload | {"_kind": m.kind} for m in state.messages]
            self._send(200, data)
        else:
            self._send(200, {"ok": True, "service": "fake-slack"})

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        state = self.server.state
        body = self._body()
        path = self.path.split("?", 1)[0]
        if path == "/_control":
            self.server.owner.control(json.loads(body or b"{}"))
            self._send(200, {"ok": True})
            return
        is_api = path.endswith("/chat.postMessage")
        is_hook = path.startswith("/services/")
        if not (is_api or is_hook):
            self._send(404, {"ok": False, "error": "unknown_method"})
            return
        fate, detail = state.next_fault()
        if fate == "down":
            self._hang_up()
            return
        if fate == "fail":
            status, retry_after = detail
            headers = {}
            if status == 429:
                headers["Retry-After"] = f"{retry_after if retry_after is not None else 1:g}"
                self._send(status, {"ok": False, "error": "ratelimited"}, headers)
            elif is_hook:
                self._send(status, "internal_error", headers)
            else:
                self._send(status, "<html><body>Internal Server Error</body></html>", headers)
            return
        if fate == "slow":
            time.sleep(detail)
        ctype = self.headers.get("Content-Type", "")
        payload = self._parse(body, ctype)
        if is_hook:
            self._webhook(path, payload)
        else:
            self._post_message(path, payload)

    def _webhook(self, path: str, payload: dict[str, Any] | None) -> None:
        state = self.server.state
        if path != state.webhook_path:
            self._send(404, "no_service")
            return
        if not payload or not (payload.get("text") or payload.get("blocks")):
            self._send(400, "invalid_payload")
            return
        self._record("webhook", path, payload)
        self._send(200, "ok")

    def _post_message(self, path: str, payload: dict[str, Any] | None) -> None:
        state = self.server.state
        auth = self.headers.get("Authorization", "")
        if not auth:
            self._send(200, {"ok": False, "error": "not_authed"})
            return
        if auth != f"Bearer {state.token}":
            self._send(200, {"ok": False, "error": "invalid_auth"})
            return
        if payload is None:
            self._send(200, {"ok": False, "error": "invalid_json"})
            return
        if not payload.get("channel"):
            self._send(200, {"ok": False, "error": "channel_not_found"})
            return
        if not (payload.get("text") or payload.get("blocks")):
            self._send(200, {"ok": False, "error": "no_text"})
            return
        rec = self._record("chat.postMessage", path, payload)
        ts = f"{rec.at:.6f}"
        self._send(
            200,
            {
                "ok": True,
                "channel": "C0FAKE0001",
                "ts": ts,
                "message": {"type": "message", "text": payload.get("text", ""), "ts": ts},
            },
        )

    def _record(self, kind: str, path: str, payload: dict[str, Any]) -> Recorded:
        headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
        rec = Recorded(kind, path, payload, headers)
        with self.server.state.lock:
            self.server.state.messages.append(rec)
        return rec


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], state: _State, owner: FakeSlack) -> None:
        super().__init__(addr, _Handler)
        self.state = state
        self.owner = owner


class FakeSlack:
    """The server plus its Python control surface. Use `running_fake_slack()` in tests."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = DEFAULT_TOKEN,
        webhook_path: str = DEFAULT_WEBHOOK_PATH,
    ) -> None:
        self.state = _State(token, webhook_path)
        self._server = _Server((host, port), self.state, self)
        self.host, self.port = self._server.server_address[:2]
        self._thread: threading.Thread | None = None

    # --- addresses --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def api_url(self) -> str:
        """The Web API base URL (slack-sdk's ``base_url``)."""
        return self.url + "api/"

    @property
    def webhook_url(self) -> str:
        return self.url.rstrip("/") + self.state.webhook_path

    @property
    def token(self) -> str:
        return self.state.token

    # --- what it saw ------------------------------------------------------------------------
    @property
    def messages(self) -> list[Recorded]:
        with self.state.lock:
            return list(self.state.messages)

    @property
    def calls(self) -> int:
        with self.state.lock:
            return self.state.calls

    @property
    def slow_pending(self) -> int:
        """How many of the `slow_next` calls have not started yet."""
        with self.state.lock:
            return self.state.slow_remaining

    # --- faults -----------------------------------------------------------------------------
    def fail_next(self, n: int, status: int = 500, retry_after: float | None = None) -> None:
        with self.state.lock:
            self.state.fail_remaining = n
            self.state.fail_status = status
            self.state.retry_after = retry_after

    def set_down(self, down: bool = True) -> None:
        with self.state.lock:
            self.state.down = down

    def down_next(self, n: int) -> None:
        with self.state.lock:
            self.state.down_remaining = n

    def slow_next(self, n: int, seconds: float) -> None:
        with self.state.lock:
            self.state.slow_remaining = n
            self.state.slow_seconds = seconds

    def reset(self) -> None:
        with self.state.lock:
            self.state.messages.clear()
            self.state.calls = 0
            self.state.fail_remaining = self.state.down_remaining = self.state.slow_remaining = 0
            self.state.down = False

    def control(self, command: dict[str, Any]) -> None:
        """The HTTP control endpoint's body: any of fail_next/status/retry_after, down,
        down_next, slow_next/slow_seconds, reset."""
        if command.get("reset"):
            self.reset()
        if "fail_next" in command:
            self.fail_next(
                int(command["fail_next"]),
                int(command.get("status", 500)),
                command.get("retry_after"),
            )
        if "down" in command:
            self.set_down(bool(command["down"]))
        if "down_next" in command:
            self.down_next(int(command["down_next"]))
        if "slow_next" in command:
            self.slow_next(int(command["slow_next"]), float(command.get("slow_seconds", 1.0)))

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> FakeSlack:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-slack", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def running_fake_slack(**kwargs: Any) -> Iterator[FakeSlack]:
    """Start a fake Slack on a free port in a thread; stop it afterwards."""
    with FakeSlack(**kwargs) as fake:
        yield fake
