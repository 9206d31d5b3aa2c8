"""Soak: the daemon (paper) for N seconds at a high simulated market rate.

    SOAK_SECONDS=1800 uv run --frozen python -m tests.bench.soak     # the 30-minute run
    uv run --frozen python -m tests.bench.soak                        # 120 s (what CI runs)

Samples RSS, open fds, SQLite size and alert outbox depth every 2 s, fits a line to the
second half (after warm-up) and fails on a growth trend: RSS must stay <= 100 MB with a
slope of ~0 (< 0.5 MB/min); fds must not grow. Writes var/soak.png (matplotlib) and prints
the figures.
"""

from __future__ import annotations

import io
import logging
import math
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from tests.bench.table import row
from tradewarden.alerts.factory import build_dispatcher
from tradewarden.core.config import Mode, load_settings
from tradewarden.core.models import Tick
from tradewarden.runtime.daemon import Daemon, LiveDecision

SAMPLE_EVERY = 2.0


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def market(stop: threading.Event) -> Iterator[Tick]:
    """An endless random walk with regime changes, 1-minute candles for two symbols."""
    rng = random.Random(7)
    px = {"BTCUSDT": 42_000.0, "ETHUSDT": 2_300.0}
    ts = 1_767_571_200.0
    i = 0
    while not stop.is_set():
        vol = 0.002 if (i // 3000) % 4 else 0.008
        for sym in px:
            o = px[sym]
            c = o * math.exp(rng.gauss(0, vol))
            w = abs(rng.gauss(0, vol / 2))
            yield Tick(ts, sym, o, max(o, c) * (1 + w), min(o, c) * (1 - w), c, 10.0)
            px[sym] = c
        ts += 60
        i += 1


def slope_per_min(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    if n < 3:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    return (
        (sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den) * 60 if den else 0.0
    )


def main() -> int:
    logging.disable(logging.WARNING)
    seconds = float(os.environ.get("SOAK_SECONDS", "120"))
    with tempfile.TemporaryDirectory() as d:
        settings = load_settings(
            state_dir=Path(d),
            replay_speed=5000.0,
            max_consecutive_losses=10_000,
            max_bot_drawdown_pct=1.0,
            max_daily_loss_pct=1.0,
            max_portfolio_drawdown_pct=1.0,
        )
        dispatcher = build_dispatcher(
            settings, {}, settings.db_path, console=True, console_stream=io.StringIO()
        )
        daemon = Daemon(settings, notifier=dispatcher, decision=LiveDecision(Mode.PAPER, ["soak"]))
        daemon.outbox_stats = dispatcher.stats
        dispatcher.start()
        stop = threading.Event()
        runner = threading.Thread(target=daemon.replay, args=(market(stop),), daemon=True)
        t0 = time.monotonic()
        runner.start()
        samples: list[tuple[float, float, int, float]] = []
        depths: list[int] = []
        while time.monotonic() - t0 < seconds:
            time.sleep(SAMPLE_EVERY)
            db = settings.db_path.stat().st_size / 2**20
            wal = Path(str(settings.db_path) + "-wal")
            db += wal.stat().st_size / 2**20 if wal.exists() else 0
            samples.append((time.monotonic() - t0, rss_mb(), fds(), db))
            depths.append(dispatcher.stats().depth)
        stop.set()
        daemon.request_stop()
        runner.join(timeout=30)
        events = daemon.trader.ticks
        orders = daemon.store.order_count()
        daemon.close()
        dispatcher.stop(5.0)
        dispatcher.close(0)
    half = samples[len(samples) // 2 :]
    xs = [s[0] for s in half]
    rss_slope = slope_per_min(xs, [s[1] for s in half])
    fd_slope = slope_per_min(xs, [float(s[2]) for s in half])
    db_slope = slope_per_min(xs, [s[3] for s in half])
    peak = max(s[1] for s in samples)
    print("## soak")
    print(
        f"{seconds:.0f} s, {events:,} market events ({events / seconds:,.0f}/s), {orders:,} orders"
    )
    print(
        f"RSS: peak {peak:.1f} MB, slope {rss_slope:+.3f} MB/min over the second half "
        "(target <= 100 MB, slope ~0)"
    )
    print(
        f"open fds: {samples[-1][2]} (slope {fd_slope:+.3f}/min); SQLite {samples[-1][3]:.1f} MB "
        f"(+{db_slope:.2f} MB/min, grows with the order history by design); alert outbox "
        f"depth max {max(depths, default=0)}, last {depths[-1] if depths else 0}"
    )
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.plot([s[0] for s in samples], [s[1] for s in samples], label="RSS MB")
        ax.plot([s[0] for s in samples], [s[3] for s in samples], label="SQLite MB")
        ax.set_xlabel("seconds")
        ax.legend()
        ax.set_title(f"tradewarden soak: RSS slope {rss_slope:+.3f} MB/min")
        out = Path("var/soak.png")
        out.parent.mkdir(exist_ok=True)
        fig.savefig(out, dpi=90, bbox_inches="tight")
        print(f"plot: {out}")
    except ImportError:
        print("matplotlib missing: no plot")
    ok = peak <= 100 and rss_slope < 0.5 and fd_slope <= 0.5
    row(
        f"RSS at steady state (soak {seconds:.0f} s, {events / seconds:,.0f} events/s)",
        f"peak {peak:.1f} MB, slope {rss_slope:+.2f} MB/min; fds {samples[-1][2]}",
        "≤ 100 MB, flat",
        f"first sample {samples[0][1]:.1f} MB",
        ok,
    )
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
