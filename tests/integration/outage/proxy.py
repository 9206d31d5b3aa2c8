"""A TCP hop in front of a real local server, to make it down, slow or erroring on demand.

    with TcpProxy("127.0.0.1", smtp.port) as hop:   # the daemon talks to hop.port
        hop.down()          # connection refused (nothing listens on the port)
        hop.up()            # listening again, passing bytes through
        hop.slow(0.5)       # every chunk from the server delayed by 0.5 s
        hop.http_error(500) # HTTP servers only: answer every request 500, then close
        hop.fine()          # plain pass-through

Used where the fake itself has no such fault (SMTP slow/down, SNS on moto down/slow/
erroring). It forwards bytes; it does not interpret or change what the server says.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.host = host
        self.port = 0
        self.mode = "pass"
        self.delay = 0.0
        self.status = 500
        self.connections = 0
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()

    # --- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> TcpProxy:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def up(self) -> None:
        """Listen (on the same port as before, once one was chosen) and pass through."""
        if self._listener is not None:
            return
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.listen(64)
        self.port = s.getsockname()[1]
        self._listener = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def down(self) -> None:
        """Connection refused from now on; open connections are cut."""
        s, self._listener = self._listener, None
        if s is not None:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self._cut()

    def _cut(self) -> None:
        """Close every open connection, so that clients (keep-alive pools) reconnect and get
        the behaviour now in force."""
        with self._lock:
            conns, self._open = list(self._open), set()
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                c.close()

    # --- behaviour (each change applies to new connections; open ones are cut) -----------------
    def fine(self) -> None:
        self.mode, self.delay = "pass", 0.0
        self._cut()

    def slow(self, seconds: float) -> None:
        self.mode, self.delay = "pass", seconds
        self._cut()

    def http_error(self, status: int = 500) -> None:
        self.mode, self.status = "http_error", status
        self._cut()

    # --- plumbing -------------------------------------------------------------------------------
    def _track(self, *socks: socket.socket) -> None:
        with self._lock:
            self._open.update(socks)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        self._track(client)
        if self.mode == "http_error":
            self._answer_error(client)
            return
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            client.close()
            return
        self._track(upstream)
        delay = self.delay
        threading.Thread(target=self._pump, args=(client, upstream, 0.0), daemon=True).start()
        self._pump(upstream, client, delay)

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, delay: float) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if delay:
                    time.sleep(delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def _answer_error(self, client: socket.socket) -> None:
        """Read one HTTP request (headers and body), answer `status`, close."""
        try:
            client.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = client.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip() or 0)
            while len(body) < length:
                chunk = client.recv(65536)
                if not chunk:
                    break
                body += chunk
            text = b"<html><body>Internal Server Error</body></html>"
            client.sendall(
                b"HTTP/1.1 %d Error\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
                b"Connection: close\r\n\r\n%s" % (self.status, len(text), text)
            )
        except OSError:
            pass
        finally:
            client.close()
