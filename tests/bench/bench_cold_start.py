"""Benchmark: cold start to READY, paper and testnet (against the fake Binance).

    uv run --frozen python -m tests.bench.bench_cold_start

Each run spawns `tradewarden run` on a fresh state directory and measures, from the spawn:
- READY: the ``READY=1`` datagram on a local ``NOTIFY_SOCKET`` (what systemd waits for);
- /readyz 200: the metrics endpoint answering ready (what a probe or load balancer sees).
Testnet READY includes the work done before it: time sync, exchangeInfo, the first
reconciliation (balances, open orders) and the balance refresh, over HTTP to the fake.
Baseline in the same run: spawning ``python -c "import tradewarden"`` and the imports
the daemon needs (``import tradewarden.runtime.runner``). Median of RUNS; target <= 1.5 s.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.bench.table import row
from tests.conftest import free_port
from tests.fakes.binance import FakeBinance
from tests.integration.daemon.helpers import env_for
from tests.integration.testnet.conftest import KEY, SECRET, SPEC, WAVE, daemon_env

RUNS = 7
TARGET_S = 1.5
DEADLINE_S = 30.0


def ready_code(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:  # noqa: S310
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except OSError:
        return 0


def one_start(tmp: Path, n: int, extra: dict[str, str], args: list[str]) -> tuple[float, float]:
    """(seconds to READY=1, seconds to /readyz 200) for one cold start."""
    sock_path = tmp / f"notify-{n}.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.setblocking(False)
    port = free_port()
    env = env_for(
        tmp / f"state-{n}",
        TRADEWARDEN_METRICS_PORT=str(port),
        NOTIFY_SOCKET=str(sock_path),
        **extra,
    )
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradewarden.cli.main", "run", "--no-console", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    t_ready = t_http = None
    try:
        while (t_ready is None or t_http is None) and time.perf_counter() - t0 < DEADLINE_S:
            if t_ready is None:
                with contextlib.suppress(BlockingIOError):
                    if b"READY=1" in sock.recv(4096):
                        t_ready = time.perf_counter() - t0
            if t_http is None and ready_code(port) == 200:
                t_http = time.perf_counter() - t0
            if proc.poll() is not None and (t_ready is None or t_http is None):
                raise RuntimeError(f"the daemon exited ({proc.returncode}) before READY")
            time.sleep(0.002)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        sock.close()
    if t_ready is None or t_http is None:
        raise RuntimeError(f"not READY within {DEADLINE_S:.0f}s")
    return t_ready, t_http


def spawn(code: str) -> float:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH")}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return time.perf_counter() - t0


def main() -> int:
    results: dict[str, list[tuple[float, float]]] = {"paper": [], "testnet": []}
    base: dict[str, list[float]] = {
        "import tradewarden": [],
        "import tradewarden.runtime.runner": [],
    }
    with (
        tempfile.TemporaryDirectory() as tmpdir,
        FakeBinance(api_key=KEY, api_secret=SECRET, symbols={"BTCUSDT": SPEC}) as fx,
    ):
        tmp = Path(tmpdir)
        fx.set_price_path("BTCUSDT", WAVE, loop=True)
        testnet = {
            k: v for k, v in daemon_env(fx).items() if k != "TRADEWARDEN_POLL_INTERVAL_SECONDS"
        }
        for n in range(RUNS):  # interleaved, so drift hits every series alike
            base["import tradewarden"].append(spawn("import tradewarden"))
            base["import tradewarden.runtime.runner"].append(
                spawn("import tradewarden.runtime.runner")
            )
            results["paper"].append(one_start(tmp, 2 * n, {}, ["--follow"]))
            results["testnet"].append(one_start(tmp, 2 * n + 1, testnet, []))
    floor = statistics.median(base["import tradewarden"])
    imports = statistics.median(base["import tradewarden.runtime.runner"])
    print("## bench_cold_start")
    print(f"cold start, spawn -> READY (median of {RUNS}; target <= {TARGET_S} s):")
    print(
        "| mode | READY=1 (sd_notify) | /readyz 200 | min / max READY |"
        " ratio to `import tradewarden` | READY minus `import tradewarden.runtime.runner` |"
    )
    print("|---|---|---|---|---|---|")
    ok = True
    for mode, runs in results.items():
        ready = statistics.median(r[0] for r in runs)
        http = statistics.median(r[1] for r in runs)
        lo, hi = min(r[0] for r in runs), max(r[0] for r in runs)
        met = ready <= TARGET_S and http <= TARGET_S
        ok &= met
        row(
            f"cold start to READY, {mode}",
            f"{ready:.2f} s READY=1, {http:.2f} s /readyz (median of {RUNS})",
            f"≤ {TARGET_S} s",
            f"`import tradewarden` {floor:.3f} s → {ready / floor:.0f}×;"
            f" the daemon's imports alone {imports:.2f} s",
            met,
        )
        print(
            f"| {mode} | {ready:.3f} s | {http:.3f} s | {lo:.3f} / {hi:.3f} s |"
            f" {ready / floor:.1f}x | {(ready - imports) * 1000:+.0f} ms |"
        )
    for name, times in base.items():
        t = statistics.median(times)
        print(f'| baseline: `python -c "{name}"` | {t:.3f} s | | | | |')
    print(
        "The daemon's imports (pydantic, boto3, slack-sdk, python-binance, ...) are the cold"
        " start; the import baseline also pays interpreter exit, so the last column can be"
        " negative."
    )
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
