"""The box's network: a "host" namespace (the EC2 instance, with the generated nftables
ruleset) and a "world" namespace (everything the host talks to), joined by one veth.

Servers of the test process run in the world namespace through `Namespace.executor`: a
thread that has joined the namespace with setns(2) runs the callables it is given, and the
threads they start (the fakes' server threads) inherit it. Requests to the host's own
localhost services (Prometheus, Alertmanager, the daemon's exporter) go the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import socket
import ssl
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def sh(*args: str, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: {proc.stdout}{proc.stderr}")
    return proc


def _join(name: str) -> None:
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({name}): {os.strerror(err)}")
    finally:
        os.close(fd)


@dataclass
class Namespace:
    name: str
    executor: ThreadPoolExecutor = field(init=False)

    def __post_init__(self) -> None:
        self.executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=self.name, initializer=_join, initargs=(self.name,)
        )

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` on a thread inside this namespace."""
        return self.executor.submit(fn, *args, **kwargs).result(timeout=300)

    def argv(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]


# The addresses. The VPC (as IMDS tells the refresh) is 10.231.0.0/24: the host and the
# interface endpoints (moto for Secrets Manager/SNS/S3, SES SMTP). The "internet" is
# 10.231.100.0/24: Binance, Slack, and one address nothing allows.
HOST_ADDR = "10.231.0.1"
VPC_CIDR = "10.231.0.0/24"
AWS_ADDR = "10.231.0.10"
SMTP_ADDR = "10.231.0.20"
BINANCE_ADDR = "10.231.100.2"
OTHER_ADDR = "10.231.100.3"
SLACK_ADDR = "10.231.100.4"
IMDS_ADDR = "169.254.169.254"
WORLD_ADDRS = (AWS_ADDR, SMTP_ADDR, BINANCE_ADDR, OTHER_ADDR, SLACK_ADDR)


@contextlib.contextmanager
def network(hosts: dict[str, list[str]]) -> Iterator[tuple[Namespace, Namespace]]:
    """(host, world) namespaces; `hosts` (address -> names) is the host's /etc/hosts."""
    tag = uuid.uuid4().hex[:6]
    host, world = Namespace(f"twbh-{tag}"), Namespace(f"twbw-{tag}")
    etc = Path("/etc/netns") / host.name
    try:
        sh("ip", "netns", "add", host.name)
        sh("ip", "netns", "add", world.name)
        va, vb = f"twbh{tag}", f"twbw{tag}"
        sh("ip", "link", "add", va, "type", "veth", "peer", "name", vb)
        sh("ip", "link", "set", va, "netns", host.name)
        sh("ip", "link", "set", vb, "netns", world.name)
        sh("ip", "-n", host.name, "addr", "add", f"{HOST_ADDR}/16", "dev", va)
        for addr in WORLD_ADDRS:
            sh("ip", "-n", world.name, "addr", "add", f"{addr}/16", "dev", vb)
        sh("ip", "-n", world.name, "addr", "add", f"{IMDS_ADDR}/32", "dev", vb)
        for ns, dev in ((host.name, va), (world.name, vb)):
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", host.name, "route", "add", f"{IMDS_ADDR}/32", "dev", va)
        # `ip netns exec` bind-mounts /etc/netns/<ns>/* over /etc/*: the host's name service
        etc.mkdir(parents=True)
        lines = ["127.0.0.1 localhost"] + [f"{a} {' '.join(n)}" for a, n in hosts.items()]
        (etc / "hosts").write_text("\n".join(lines) + "\n")
        # nothing answers DNS: a name not in hosts fails at once instead of timing out
        (etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions attempts:1 timeout:1\n")
        yield host, world
    finally:
        for ns in (host, world):
            ns.executor.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(etc, ignore_errors=True)
        for ns in (host, world):
            subprocess.run(["ip", "netns", "del", ns.name], capture_output=True)


class TlsForwarder:
    """TLS on `listen` (the box CA's certificate), plain TCP to `backend`: how the fakes,
    which speak HTTP, stand behind the https names the host uses."""

    def __init__(
        self, listen: tuple[str, int], backend: tuple[str, int], ctx: ssl.SSLContext
    ) -> None:
        self.listen, self.backend, self.ctx = listen, backend, ctx
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        except (ConnectionError, OSError, ssl.SSLError):
            pass
        finally:
            with contextlib.suppress(Exception):
                w.close()

    async def _handle(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            br, bw = await asyncio.open_connection(*self.backend)
        except OSError:
            cw.close()
            return
        await asyncio.gather(self._pipe(cr, bw), self._pipe(br, cw))

    def start(self) -> TlsForwarder:
        """Call on a thread inside the namespace the listener belongs to (again after
        `stop()` to come back)."""
        if self._server is not None:
            return self
        if not self._thread.is_alive():
            self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, *self.listen, ssl=self.ctx, reuse_address=True),
            self._loop,
        )
        self._server = fut.result(timeout=10)
        return self

    def stop(self) -> None:
        if self._server is not None:
            server = self._server
            self._server = None

            async def close() -> None:
                server.close()
                await server.wait_closed()

            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


class Listener:
    """A TCP listener that only counts who got through (the address nothing allows)."""

    def __init__(self, addr: tuple[str, int]) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(addr)
        self.sock.listen(16)
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()
