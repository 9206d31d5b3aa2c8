"""Start-up that survives an outage: wait NOT READY instead of exiting.

`tradewarden run` needs the secret source (audit key, alert channels, trade key) and, with
an exchange, Binance (time sync, exchangeInfo, the first reconciliation; in live mode the
key-permission check) before it may trade. When one of them cannot be reached at start the
daemon does not exit (systemd would restart it a few times and then give up, leaving the
host without a daemon after a short outage). It stays up NOT READY instead:

- READY=1 is never sent until every start-up step has passed; no order can leave (the
  trading loop has not started);
- ``/readyz`` answers 503 with the reason, e.g. ``exchange unreachable at start: <error>,
  retry 4 in 8s`` (the metrics server starts at the first wait);
- the step is retried with capped exponential back-off (`alerts.backoff.Backoff`); a 418
  ban or a 429 is waited out until its Retry-After (the gateway also refuses to send
  anything before that), never hammered;
- the systemd watchdog is fed (WATCHDOG=1), STATUS= says what it waits for and
  EXTEND_TIMEOUT_USEC= keeps TimeoutStartSec= from ending a start that waits on purpose
  (a hung main loop stops extending it, and systemd restarts the unit); a slow step that
  makes progress (the audit chain's verification, a first reconciliation against a slow
  exchange) extends it too, on each sign of progress (`Service.extending`);
- SIGTERM while waiting stops cleanly (exit 0).

Only what can heal by itself is waited out (`heals_by_itself`): a network error, a 5xx or
maintenance answer, a 429/418, the secret source unreachable (AWS credentials not found
yet or expired included: the instance metadata service answers again, the role's
credentials refresh). Bad configuration still
exits 2 naming the setting, and a refused key or a missing secret still exits 1: waiting
would not fix them.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from tradewarden.alerts.backoff import Backoff
from tradewarden.core.config import Settings
from tradewarden.exchange import RateLimitedError
from tradewarden.runtime.exchange_loop import ExchangeStartError
from tradewarden.runtime.metrics import Metrics, MetricsServer, start_http_server
from tradewarden.runtime.systemd import Service
from tradewarden.secrets import scrub
from tradewarden.secrets.errors import SecretUnavailableError
from tradewarden.trading.broker import OutcomeUnknownError

if TYPE_CHECKING:
    from tradewarden.runtime.daemon import Daemon

log = logging.getLogger(__name__)
T = TypeVar("T")
BACKOFF = Backoff(base=1.0, cap=60.0)  # 1, 2, 4 ... 60 s between tries (jittered down to half)
STEP_S = 0.2  # housekeeping, watchdog and stop checks while waiting


class StartupStopped(Exception):  # noqa: N818 - a request, not an error
    """A stop (SIGTERM/SIGINT) was asked for while waiting to start."""


class MetricsPortError(Exception):
    """The metrics server cannot listen (TRADEWARDEN_METRICS_PORT taken): exit 1."""

    def __init__(self, host: str, port: int, exc: OSError) -> None:
        super().__init__(
            f"TRADEWARDEN_METRICS_PORT: cannot serve metrics on {host}:{port}:"
            f" {exc.strerror or exc}"
        )


class StartupUnreachableError(Exception):
    """A start-up step failed for a reason that heals by itself (see `heals_by_itself`);
    `cause` is the original error."""

    def __init__(self, message: str, cause: BaseException) -> None:
        super().__init__(message)
        self.cause = cause


def heals_by_itself(exc: BaseException) -> tuple[str, float] | None:
    """(what is unreachable, the least wait before the next try) when `exc` can go away
    without a human: the network, a 5xx or maintenance answer, a rate limit or ban (wait
    at least its Retry-After), the secret source unreachable. None otherwise (bad key,
    missing secret, anything unknown): the caller handles it as before."""
    cause = getattr(exc, "cause", None)
    if isinstance(exc, StartupUnreachableError | ExchangeStartError) and cause is not None:
        return heals_by_itself(cause)
    if isinstance(exc, SecretUnavailableError):
        return "secret source unreachable at start", 0.0
    if isinstance(exc, RateLimitedError):
        what = "banned by the exchange (HTTP 418)" if exc.code == 418 else "rate limited"
        return f"{what} at start", max(0.0, float(exc.retry_after))
    if isinstance(exc, OutcomeUnknownError):  # no answer, 5xx, maintenance (-1016)
        return "exchange unreachable at start", 0.0
    return None


class StartupWait:
    """Runs the start-up steps, waiting NOT READY while one cannot be done yet."""

    def __init__(
        self,
        settings: Settings,
        service: Service,
        *,
        backoff: Backoff = BACKOFF,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.service = service
        self.backoff = backoff
        self.clock = clock
        self.stopping = threading.Event()
        self.failures = 0  # failed tries of the current step
        self.why = ""  # what is unreachable and the error, while waiting
        self.next_try = 0.0
        self.metrics = Metrics()  # served until the daemon's own metrics exist
        self.server: MetricsServer | None = None
        self.daemon: Daemon | None = None  # set by `attach`; its housekeeping runs while waiting
        self._daemon_readiness: Callable[[], tuple[bool, list[str]]] | None = None

    # --- signals and the daemon -------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT before the daemon exists: stop waiting, exit cleanly."""
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())

    def attach(self, daemon: Daemon) -> None:
        """The daemon is built: its signal handlers, stop event and readiness from now on
        (the wait's reason stays among its readiness reasons)."""
        daemon.install_signal_handlers()
        if self.stopping.is_set():
            daemon.request_stop()
        self.stopping = daemon.stopping
        self.daemon = daemon
        daemon.readiness_checks.append(self.reasons)
        self._daemon_readiness = daemon.readiness
        if self.server is not None:
            self.server.serve(daemon.metrics)

    # --- readiness --------------------------------------------------------------------------
    def reasons(self) -> list[str]:
        if not self.why:
            return []
        left = max(0.0, self.next_try - self.clock())
        return [f"{self.why}, retry {self.failures + 1} in {left:.0f}s"]

    def readiness(self) -> tuple[bool, list[str]]:
        if self._daemon_readiness is not None:
            return self._daemon_readiness()
        self.metrics.ready.set(0.0)
        return False, self.reasons() or ["starting"]

    def start_server(self) -> MetricsServer:
        """The metrics server (/metrics, /healthz, /readyz); `MetricsPortError` if the port
        is taken. Started at the first wait, or once the daemon is ready."""
        if self.server is None:
            metrics = self.daemon.metrics if self.daemon is not None else self.metrics
            host, port = self.settings.metrics_host, self.settings.metrics_port
            try:
                self.server = start_http_server(metrics, host, port, self.readiness)
            except OSError as exc:
                raise MetricsPortError(host, port, exc) from None
        return self.server

    # --- the steps --------------------------------------------------------------------------
    def until_ok(self, step: Callable[[], T]) -> T:
        """`step()` until it succeeds; a failure that heals by itself is waited out NOT
        READY (capped exponential back-off, at least a ban's Retry-After); any other error
        propagates. Raises `StartupStopped` when a stop is asked for while waiting, and
        `MetricsPortError` when the metrics port cannot be opened for the wait."""
        self.failures = 0
        while not self.stopping.is_set():
            try:
                result = step()
            except Exception as exc:
                heal = heals_by_itself(exc)
                if heal is None:
                    raise
                what, least = heal
                self.failures += 1
                delay = max(self.backoff.delay(self.failures), least)
                self.why = f"{what}: {scrub.scrub(str(exc))}"
                self.next_try = self.clock() + delay
                self._announce(delay)
                self._pause()
                continue
            if self.why:
                log.info("start-up step passed after waiting", extra={"tries": self.failures + 1})
            self.why = ""
            return result
        raise StartupStopped("stop requested while waiting to start")

    def _announce(self, delay: float) -> None:
        first = self.server is None
        server = self.start_server()  # MetricsPortError: the caller exits 1
        log.warning(
            "not ready: waiting to start",
            extra={
                "reason": self.why,
                "retry": self.failures + 1,
                "retry_in_seconds": round(delay, 1),
                "metrics_port": server.port,
                "first": first,
            },
        )

    def _pause(self) -> None:
        while not self.stopping.is_set():
            left = self.next_try - self.clock()
            if left <= 0:
                return
            reasons = self.reasons()
            self.service.waiting("NOT READY: " + (reasons[0] if reasons else "starting"))
            if self.daemon is not None:
                self.daemon.housekeeping()  # halt/reset requests, status snapshot, metrics
            self.stopping.wait(min(left, STEP_S))
