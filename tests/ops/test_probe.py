"""ops/probe against a running paper daemon: the uptime probe's exit codes (0 ready, 1 up
but not ready, 2 down) and the heartbeat it feeds to CloudWatch (moto server)."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.conftest import free_port
from tests.integration.daemon.helpers import start, terminate, tw, wait_for

REPO = Path(__file__).resolve().parents[2]
PROBE = REPO / "ops/probe/uptime_probe.py"
HEARTBEAT = REPO / "ops/probe/heartbeat.py"
TIMER = REPO / "ops/systemd/tradewarden-heartbeat.timer"
SERVICE = REPO / "ops/systemd/tradewarden-heartbeat.service"

pytestmark = pytest.mark.usefixtures("clean_env")


def run_probe(port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(PROBE), "--base-url", f"http://127.0.0.1:{port}", "--timeout", "3"],
        capture_output=True,
        text=True,
        timeout=30,
    )


def heartbeat(
    port: int, stack: str = "test", alertmanager: str | None = None
) -> subprocess.CompletedProcess[str]:
    """heartbeat.py as the timer runs it; Alertmanager at `alertmanager` (default: a closed
    port, so no alert-pipeline beat)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWARDEN_")}
    env.update(
        TRADEWARDEN_STACK=stack,
        TRADEWARDEN_PROBE_URL=f"http://127.0.0.1:{port}",
        TRADEWARDEN_ALERTMANAGER_URL=alertmanager or f"http://127.0.0.1:{free_port()}",
    )
    return subprocess.run(
        [sys.executable, str(HEARTBEAT)], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture()
def daemon(tmp_path: Path) -> Iterator[tuple[Path, int, subprocess.Popen[str]]]:
    state, port = tmp_path / "state", free_port()
    # bot-scoped trips: the demo's breaker trips then leave the daemon ready (by default the
    # first trip halts everything, and a HALTED daemon is not ready), so READY can be seen
    proc = start(
        state,
        "run",
        "--follow",
        "--no-console",
        TRADEWARDEN_METRICS_PORT=str(port),
        TRADEWARDEN_TRIP_SCOPE="bot",
    )
    try:
        yield state, port, proc
    finally:
        terminate(proc)


def test_probe_exit_codes_follow_the_daemon(daemon: tuple[Path, int, subprocess.Popen]) -> None:
    state, port, proc = daemon
    assert wait_for(lambda: run_probe(port).returncode == 0, timeout=60), run_probe(port).stdout
    out = run_probe(port)
    assert out.stdout.startswith("READY: HTTP 200")

    halt = tw(state, "halt", "--reason", "probe test halt")
    assert halt.returncode == 0, halt.stderr
    out = run_probe(port)
    assert out.returncode == 1, out.stdout
    assert out.stdout.startswith("NOT READY: HTTP 503") and "HALTED: probe test halt" in out.stdout

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    out = run_probe(port)
    assert out.returncode == 2 and out.stdout.startswith("DOWN: no answer"), out.stdout


class _NotTheDaemon(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's API
        body = b"<html>hello</html>" if self.path == "/readyz" else b""
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


def test_something_else_on_the_port_is_down_not_ready() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotTheDaemon)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        out = run_probe(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
    assert out.returncode == 2 and "not the daemon's readiness JSON" in out.stdout


def datapoints(cw, name: str, stack: str) -> list[float]:  # noqa: ANN001 - boto3 client
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    stats = cw.get_metric_statistics(
        Namespace="Tradewarden",
        MetricName=name,
        Dimensions=[{"Name": "Stack", "Value": stack}],
        StartTime=now - dt.timedelta(minutes=10),
        EndTime=now + dt.timedelta(minutes=1),
        Period=60,
        Statistics=["Maximum", "SampleCount"],
    )
    return [p["Maximum"] for p in stats["Datapoints"]]


def test_heartbeat_reaches_cloudwatch_only_while_the_daemon_answers(
    daemon: tuple[Path, int, subprocess.Popen], aws_env: str
) -> None:
    state, port, proc = daemon
    cw = boto3.client("cloudwatch")
    assert wait_for(lambda: run_probe(port).returncode == 0, timeout=60)
    sent = heartbeat(port)
    assert sent.returncode == 0, sent.stderr
    assert datapoints(cw, "Heartbeat", "test") == [1.0]
    assert datapoints(cw, "Ready", "test") == [1.0]
    assert datapoints(cw, "AlertPipeline", "test") == []  # no Alertmanager here

    assert tw(state, "halt", "--reason", "heartbeat test").returncode == 0
    assert heartbeat(port, stack="halted").returncode == 0
    assert datapoints(cw, "Heartbeat", "halted") == [1.0]  # alive: the heartbeat goes on
    assert datapoints(cw, "Ready", "halted") == [0.0]  # ... but it is not ready

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    down = heartbeat(port, stack="down")
    assert down.returncode == 1 and "no heartbeat sent" in down.stderr
    assert datapoints(cw, "Heartbeat", "down") == []  # missing data: the alarm breaches

    unconfigured = heartbeat(port, stack="")
    assert unconfigured.returncode == 2 and "TRADEWARDEN_STACK" in unconfigured.stderr


def test_the_heartbeat_timer_runs_the_probe_often_enough() -> None:
    """The heartbeat-missing alarm looks at 1-minute periods: two runs a minute."""
    timer = dict(ln.split("=", 1) for ln in TIMER.read_text().splitlines() if "=" in ln)
    assert timer["OnUnitActiveSec"] == "30s" and timer["OnBootSec"]
    assert "heartbeat.py" in SERVICE.read_text()


# --- the alert pipeline's dead-man's switch (Watchdog -> heartbeat -> CloudWatch) ----------


def test_watchdog_freshness_rules() -> None:
    import datetime as dt

    sys.path.insert(0, str(HEARTBEAT.parent))
    from heartbeat import watchdog_fresh

    now = dt.datetime(2026, 12, 3, 22, 0, tzinfo=dt.UTC)

    def alert(state: str, updated: str, name: str = "Watchdog") -> dict:
        return {"labels": {"alertname": name}, "status": {"state": state}, "updatedAt": updated}

    assert watchdog_fresh([alert("active", "2026-12-03T21:59:02.733Z")], now) == ""
    assert "refreshed 360 s ago" in watchdog_fresh([alert("active", "2026-12-03T21:54:00Z")], now)
    assert "suppressed" in watchdog_fresh([alert("suppressed", "2026-12-03T21:59:59Z")], now)
    assert "no Watchdog" in watchdog_fresh([alert("active", "2026-12-03T21:59:59Z", "X")], now)
    assert "no valid updatedAt" in watchdog_fresh([alert("active", "yesterday")], now)
    assert "not a list" in watchdog_fresh({"error": "x"}, now)


def test_attack_no_pipeline_beat_while_alertmanager_cannot_deliver_pages() -> None:
    """Slack, e-mail and SNS all refuse (egress cut, expired credentials): Prometheus and
    Alertmanager run, the Watchdog is fresh, so the beat went on and alert-pipeline-dead
    never paged while every Prometheus critical (and AlertmanagerNotificationsFailing
    itself) was lost. A delivery failure at critical (30 minutes) stops the beat."""
    import datetime as dt

    sys.path.insert(0, str(HEARTBEAT.parent))
    from heartbeat import watchdog_fresh

    now = dt.datetime(2026, 12, 3, 22, 0, tzinfo=dt.UTC)
    watchdog = {
        "labels": {"alertname": "Watchdog", "severity": "none"},
        "status": {"state": "active"},
        "updatedAt": "2026-12-03T21:59:30Z",
    }

    def failing(severity: str, state: str = "active") -> dict:
        return {
            "labels": {
                "alertname": "AlertmanagerNotificationsFailing",
                "severity": severity,
                "integration": "sns",
            },
            "status": {"state": state},
            "updatedAt": "2026-12-03T21:59:30Z",
        }

    assert "cannot deliver" in watchdog_fresh([watchdog, failing("critical")], now)
    assert "sns" in watchdog_fresh([failing("critical"), watchdog], now)
    # a warning (5 minutes) still reaches the other channels; a silenced one is known
    assert watchdog_fresh([watchdog, failing("warning")], now) == ""
    assert watchdog_fresh([watchdog, failing("critical", "suppressed")], now) == ""


def test_watchdog_from_real_prometheus_becomes_the_alert_pipeline_beat(
    tmp_path: Path, aws_env: str
) -> None:
    """Real Prometheus (the repo's rules) -> real Alertmanager (the repo's routes) -> the
    heartbeat publishes AlertPipeline; the Watchdog gone (resolved) -> it stops."""
    import datetime as dt
    import time
    import urllib.request

    from tests.integration.e2e_alerting.stack import (
        alertmanager_config,
        get_json,
        post_alerts,
        prometheus_config,
        start_alertmanager,
        start_prometheus,
    )
    from tests.ops.promql import PROMETHEUS_SELF

    cw = boto3.client("cloudwatch")
    am = start_alertmanager(
        tmp_path / "am",
        alertmanager_config(
            tmp_path / "am", slack_webhook_url="http://127.0.0.1:9/x", smtp=("127.0.0.1", 9)
        ),
    )
    prom = None
    try:
        am.wait_ready()
        prom = start_prometheus(
            tmp_path / "prom",
            prometheus_config(
                tmp_path / "prom", f"127.0.0.1:{free_port()}", f"127.0.0.1:{am.port}"
            ),
            resend_delay="1s",  # the Watchdog is re-sent (and refreshed) every second
        )

        def watchdog() -> list[dict]:
            return [
                a
                for a in get_json(am.url + "/api/v2/alerts")
                if a["labels"]["alertname"] == "Watchdog"
            ]

        assert wait_for(lambda: bool(watchdog()), timeout=60), prom.output()
        (dog,) = watchdog()
        assert [r["name"] for r in dog["receivers"]] == ["deadmans-switch"]
        assert dog["status"]["state"] == "active"
        first = dog["updatedAt"]
        assert wait_for(lambda: watchdog()[0]["updatedAt"] > first, timeout=30)  # refreshed

        daemon_down = free_port()
        sent = heartbeat(daemon_down, stack="pipeline", alertmanager=am.url)
        assert sent.returncode == 0, sent.stderr  # the pipeline beat alone is a success
        assert "no heartbeat sent" in sent.stderr
        assert datapoints(cw, "AlertPipeline", "pipeline") == [1.0]
        assert datapoints(cw, "Heartbeat", "pipeline") == []

        # the rules' Prometheus self-metrics are ones this Prometheus (2.42) exports
        with urllib.request.urlopen(prom.url + "/metrics", timeout=5) as r:  # noqa: S310
            exported = r.read().decode()
        assert {n for n in PROMETHEUS_SELF if f"\n{n}" not in exported} == set()

        # Prometheus gone: Alertmanager resolves the Watchdog when its endsAt passes
        prom.stop()
        prom = None
        ended = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat()
        post_alerts(am, [{"labels": dog["labels"], "endsAt": ended}])
        assert wait_for(
            lambda: all(a["status"]["state"] != "active" for a in watchdog()), timeout=30
        )
        time.sleep(0.1)
        dead = heartbeat(daemon_down, stack="dead", alertmanager=am.url)
        assert dead.returncode == 1 and "no alert-pipeline beat sent" in dead.stderr
        assert datapoints(cw, "AlertPipeline", "dead") == []
    finally:
        if prom is not None:
            prom.stop()
        am.stop()
