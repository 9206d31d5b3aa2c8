#!/opt/tradewarden/venv/bin/python
"""Publish the daemon's heartbeat to CloudWatch (tradewarden-heartbeat.timer, every 30 s).

Probes /readyz with uptime_probe.py (installed beside this file). If the daemon answers at
all (ready, or HALTED/starting) put <namespace>/<metric> = 1 (Tradewarden/Heartbeat) and
<namespace>/Ready = 1 or 0, dimension Stack=<stack>. If it is down put nothing: the
heartbeat-missing alarm treats missing data as breaching. Settings: the unit's environment
files. Exit 0 sent, 1 daemon down or CloudWatch refused, 2 not configured.
"""

from __future__ import annotations

import os
import sys

from uptime_probe import probe


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
    res = probe(base)
    if not res.alive:
        print("no heartbeat sent: " + res.detail, file=sys.stderr)
        return 1
    import boto3  # in the daemon's venv; honours AWS_REGION and AWS_ENDPOINT_URL
    from botocore.exceptions import BotoCoreError, ClientError

    dims = [{"Name": "Stack", "Value": stack}]
    data = [(metric, 1.0), ("Ready", 1.0 if res.ready else 0.0)]
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
    print("heartbeat sent (" + ns + "/" + metric + " Stack=" + stack + "): " + res.detail)
    return 0


if __name__ == "__main__":
    sys.exit(main())
