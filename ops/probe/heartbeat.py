#!/opt/tradewarden/venv/bin/python
"""Publish the daemon's heartbeat and the alert pipeline's to CloudWatch
(tradewarden-heartbeat.timer, every 30 s).

Daemon: probes /readyz with uptime_probe.py (installed beside this file). If the daemon
answers at all (ready, or HALTED/starting) put <namespace>/<metric> = 1
(Tradewarden/Heartbeat) and <namespace>/Ready = 1 or 0. If it is down put neither: the
heartbeat-missing alarm treats missing data as breaching.

Alert pipeline (the dead-man's switch): put <namespace>/AlertPipeline = 1 only while
Alertmanager's API (/api/v2/alerts) shows the always-firing `Watchdog` alert active (not
silenced, not inhibited) and refreshed by Prometheus within the last 5 minutes
(Prometheus re-sends firing alerts every minute; Alertmanager records each as updatedAt).
Prometheus down, not evaluating rules, unable to reach Alertmanager, Alertmanager down or
a silence over everything: no datapoint, and the alert-pipeline-dead alarm pages over SNS.
Likewise while AlertmanagerNotificationsFailing is active at critical (an integration has
been failing for 30 minutes: with Slack, e-mail and SNS all refusing, every Prometheus
alert would be lost, that one included, while the Watchdog stays fresh).

Every metric has the dimension Stack=<stack>. Settings: the unit's environment files
(TRADEWARDEN_STACK; optional TRADEWARDEN_HEARTBEAT_NAMESPACE, ..._METRIC,
TRADEWARDEN_PROBE_URL, TRADEWARDEN_ALERTMANAGER_URL, default http://127.0.0.1:9093).
Exit 0 CloudWatch took what was measured, 1 nothing to send or CloudWatch refused,
2 not configured.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from uptime_probe import probe

WATCHDOG = "Watchdog"
DELIVERY_FAILING = "AlertmanagerNotificationsFailing"
PIPELINE_METRIC = "AlertPipeline"
READY_METRIC = "Ready"
WATCHDOG_MAX_AGE_SECONDS = 300.0


def watchdog_fresh(alerts: Any, now: dt.datetime, max_age: float = WATCHDOG_MAX_AGE_SECONDS) -> str:
    """'' if `alerts` (Alertmanager's /api/v2/alerts answer) holds an active Watchdog
    updated within `max_age` seconds of `now` and no active critical
    AlertmanagerNotificationsFailing; else why not."""
    if not isinstance(alerts, list):
        return "Alertmanager's answer is not a list of alerts"
    for a in alerts:
        labels = a.get("labels", {}) if isinstance(a, dict) else {}
        if (
            labels.get("alertname") == DELIVERY_FAILING
            and labels.get("severity") == "critical"
            and (a.get("status") or {}).get("state") == "active"
        ):
            return f"Alertmanager cannot deliver over {labels.get('integration', '?')}"
    seen = [
        a
        for a in alerts
        if isinstance(a, dict) and a.get("labels", {}).get("alertname") == WATCHDOG
    ]
    if not seen:
        return "no Watchdog alert in Alertmanager"
    why = ""
    for alert in seen:
        state = (alert.get("status") or {}).get("state")
        if state != "active":
            why = f"Watchdog is {state}"
            continue
        try:
            updated = dt.datetime.fromisoformat(str(alert.get("updatedAt")))
        except ValueError:
            why = "Watchdog has no valid updatedAt"
            continue
        age = (now - updated).total_seconds()
        if age <= max_age:
            return ""
        why = f"Watchdog last refreshed {age:.0f} s ago"
    return why


def alert_pipeline(am_url: str, timeout: float = 5.0) -> str:
    """'' if the Watchdog is alive in Alertmanager at `am_url` and it delivers; else why not."""
    query = urllib.parse.urlencode({"filter": f'alertname=~"{WATCHDOG}|{DELIVERY_FAILING}"'})
    url = am_url.rstrip("/") + "/api/v2/alerts?" + query
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - localhost
            alerts = json.loads(r.read())
    except (OSError, urllib.error.URLError, ValueError) as exc:
        return f"Alertmanager unreachable at {am_url}: {exc}"
    return watchdog_fresh(alerts, dt.datetime.now(dt.UTC))


def main() -> int:
    env = os.environ
    stack = env.get("TRADEWARDEN_STACK", "")
    if not stack:
        print("error: TRADEWARDEN_STACK is not set (/etc/tradewarden/host.env)", file=sys.stderr)
        return 2
    ns = env.get("TRADEWARDEN_HEARTBEAT_NAMESPACE", "Tradewarden")
    metric = env.get("TRADEWARDEN_HEARTBEAT_METRIC", "Heartbeat")
    base = env.get(
        "TRADEWARDEN_PROBE_URL", "http://127.0.0.1:" + env.get("TRADEWARDEN_METRICS_PORT", "9108")
    )
    am_url = env.get("TRADEWARDEN_ALERTMANAGER_URL", "http://127.0.0.1:9093")

    data: list[tuple[str, float]] = []
    res = probe(base)
    if res.alive:
        data += [(metric, 1.0), (READY_METRIC, 1.0 if res.ready else 0.0)]
    else:
        print("no heartbeat sent: " + res.detail, file=sys.stderr)
    pipeline_down = alert_pipeline(am_url)
    if pipeline_down:
        print("no alert-pipeline beat sent: " + pipeline_down, file=sys.stderr)
    else:
        data.append((PIPELINE_METRIC, 1.0))
    if not data:
        return 1

    import boto3  # in the daemon's venv; honours AWS_REGION and AWS_ENDPOINT_URL
    from botocore.exceptions import BotoCoreError, ClientError

    dims = [{"Name": "Stack", "Value": stack}]
    try:
        boto3.client("cloudwatch").put_metric_data(
            Namespace=ns,
            MetricData=[
                {"MetricName": n, "Dimensions": dims, "Value": v, "Unit": "Count"} for n, v in data
            ],
        )
    except (BotoCoreError, ClientError) as exc:
        print("error: CloudWatch refused the heartbeat: " + str(exc), file=sys.stderr)
        return 1
    sent = ", ".join(f"{ns}/{n}={v:g}" for n, v in data)
    print(f"sent {sent} (Stack={stack}); daemon: {res.detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
