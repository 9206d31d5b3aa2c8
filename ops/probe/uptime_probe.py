#!/usr/bin/env python3
"""Uptime probe (the seed's "System Down: check monitoring"): is the daemon alive and ready?

    python3 ops/probe/uptime_probe.py --base-url http://127.0.0.1:9108

Calls the daemon's ``/readyz`` (200 ``{"ready": true}``; 503 lists the reasons: HALTED with
its reason, starting, waiting at start for an unreachable exchange or secret source,
stopping) and prints one line. Exit codes, for any monitor:

    0  ready: the daemon answers and may trade
    1  alive but not ready (HALTED, starting, stopping): the process is up
    2  down: nothing answers, or what answers is not the daemon's readiness JSON

On the host, tradewarden-heartbeat.timer runs heartbeat.py every 30 s, which uses this
module and turns the answer into the CloudWatch heartbeat. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass

READY, NOT_READY, DOWN = 0, 1, 2


@dataclass(frozen=True)
class Probe:
    code: int  # READY, NOT_READY or DOWN
    detail: str

    @property
    def alive(self) -> bool:
        return self.code != DOWN

    @property
    def ready(self) -> bool:
        return self.code == READY


def probe(base_url: str, timeout: float = 5.0) -> Probe:
    url = base_url.rstrip("/") + "/readyz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - operator URL
            status, body = int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        status, body = int(exc.code), exc.read()
    except (urllib.error.URLError, OSError) as exc:
        return Probe(DOWN, f"no answer from {url}: {getattr(exc, 'reason', exc)}")
    try:
        doc = json.loads(body)
        ready, reasons = doc["ready"], doc.get("reasons") or []
        if not isinstance(ready, bool) or not isinstance(reasons, list):
            raise TypeError("unexpected field types")
    except (ValueError, KeyError, TypeError, AttributeError):
        return Probe(DOWN, f"HTTP {status} from {url} is not the daemon's readiness JSON")
    if status == 200 and ready:
        return Probe(READY, f"HTTP 200 from {url}: ready")
    if status == 503 and not ready:
        why = "; ".join(str(r) for r in reasons) or "no reason given"
        return Probe(NOT_READY, f"HTTP 503 from {url}: not ready: {why}")
    return Probe(DOWN, f"HTTP {status} from {url} with ready={ready}: not the daemon's answer")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="tradewarden uptime probe (/readyz)")
    p.add_argument("--base-url", default="http://127.0.0.1:9108", help="the metrics endpoint")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer")
    args = p.parse_args(argv)
    res = probe(args.base_url, args.timeout)
    label = {READY: "READY", NOT_READY: "NOT READY", DOWN: "DOWN"}[res.code]
    print(f"{label}: {res.detail}")
    return res.code


if __name__ == "__main__":
    sys.exit(main())
