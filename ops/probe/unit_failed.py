#!/opt/tradewarden/venv/bin/python
"""A systemd unit failed: tell a human through SNS (tradewarden-unit-failed@.service).

    unit_failed.py <unit>        e.g. tradewarden.service, tradewarden-egress.service

Run by ``OnFailure=tradewarden-unit-failed@%n.service`` of tradewarden.service and
tradewarden-egress.service. It needs neither the daemon nor its state: it publishes one
critical message to the stack's SNS topic (``TRADEWARDEN_SNS_TOPIC_ARN``, the topic the
daemon's critical alerts and the CloudWatch alarms use: email and SMS subscribers) with
boto3 from the daemon's venv, using the instance role. systemd (>= 251) passes the failed
unit's result and exit status as ``MONITOR_SERVICE_RESULT`` / ``MONITOR_EXIT_CODE`` /
``MONITOR_EXIT_STATUS``; they go into the message.

Storms are stopped, failures are not dropped: one message per unit per
``TRADEWARDEN_UNIT_FAILED_QUIET_SECONDS`` (default 1800; state in ``$STATE_DIRECTORY``), and
a publish that fails exits 1 so the unit's ``Restart=on-failure`` tries again; one that went
out exits 0 even when it cannot be recorded (a full disk would otherwise repeat it every 30 s).
Exit 0 sent (or within the quiet time), 1 SNS refused or unreachable, 2 not configured.
Runbook: runbooks/daemon-down.md.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

RUNBOOK = "runbooks/daemon-down.md"
SMS_MAX = 160
SUBJECT_MAX = 100
HINTS = {
    "tradewarden.service": "systemd restarted the daemon until its start limit and gave up:"
    " nothing trades and nothing restarts it by itself now.",
    "tradewarden-egress.service": "The egress allow-list refresh failed: the nftables sets keep"
    " their last addresses (empty after a boot) until a refresh succeeds; the daemon says"
    " NOT READY while Binance is unreachable.",
}


def message(unit: str, env: os._Environ[str] | dict[str, str]) -> tuple[str, str, str]:
    """(subject, full text, SMS text) for a failed `unit`."""
    stack = env.get("TRADEWARDEN_STACK", "?")
    result = env.get("MONITOR_SERVICE_RESULT", "unknown")
    code = env.get("MONITOR_EXIT_CODE", "")
    status = env.get("MONITOR_EXIT_STATUS", "")
    how = f"result {result}" + (f", {code} {status}".rstrip() if code else "")
    host = socket.gethostname()
    subject = f"[tradewarden CRITICAL] {unit} failed on {stack}"
    text = (
        f"CRITICAL: systemd unit {unit} failed on host {host} (stack {stack}): {how}.\n"
        f"{HINTS.get(unit, 'See why it failed, fix it, then start it again.')}\n"
        f"Look: sudo systemctl status {unit}; sudo journalctl -u {unit} -n 200\n"
        f"Runbook: {RUNBOOK}"
    )
    sms = f"TW CRITICAL: {unit} failed on {stack} ({how})"[:SMS_MAX]
    return subject, text, sms


def quiet(state: Path, unit: str, seconds: float, now: float) -> bool:
    """True when `unit` was alerted less than `seconds` ago (then nothing is sent)."""
    try:
        last = json.loads(state.read_text()).get(unit, 0.0)
    except (OSError, ValueError, AttributeError):
        return False
    return now - float(last) < seconds


def remember(state: Path, unit: str, now: float) -> None:
    try:
        seen = json.loads(state.read_text())
    except (OSError, ValueError):
        seen = {}
    seen[unit] = now
    tmp = state.with_suffix(".tmp")
    tmp.write_text(json.dumps(seen))
    tmp.replace(state)


def main(argv: list[str]) -> int:
    env = os.environ
    if len(argv) != 2 or not argv[1]:
        print("usage: unit_failed.py <unit>", file=sys.stderr)
        return 2
    unit = argv[1]
    topic = env.get("TRADEWARDEN_SNS_TOPIC_ARN", "")
    if not topic:
        print(
            f"error: {unit} failed but TRADEWARDEN_SNS_TOPIC_ARN is not set"
            " (/etc/tradewarden/tradewarden.env): no alert sent",
            file=sys.stderr,
        )
        return 2
    state = Path(env.get("STATE_DIRECTORY", "/var/lib/tradewarden-unit-failed")) / "sent.json"
    window = float(env.get("TRADEWARDEN_UNIT_FAILED_QUIET_SECONDS", "1800"))
    now = time.time()
    if quiet(state, unit, window, now):
        print(f"{unit} failed again; alerted less than {window:.0f}s ago: not sent again")
        return 0
    subject, text, sms = message(unit, env)
    import boto3  # in the daemon's venv; honours AWS_REGION and AWS_ENDPOINT_URL
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    region = topic.split(":")[3] if topic.count(":") >= 5 else None
    # quick: the unit's Restart=on-failure retries a failed publish every 30 s
    config = Config(connect_timeout=5, read_timeout=10, retries={"total_max_attempts": 2})
    try:
        boto3.client("sns", region_name=region, config=config).publish(
            TopicArn=topic,
            Subject=subject[:SUBJECT_MAX],
            Message=json.dumps({"default": text, "sms": sms}),
            MessageStructure="json",
            MessageAttributes={
                "severity": {"DataType": "String", "StringValue": "critical"},
                "dedup_key": {"DataType": "String", "StringValue": f"unit_failed:{unit}"},
            },
        )
    except (BotoCoreError, ClientError) as exc:
        print(f"error: SNS refused the alert for {unit} (retried): {exc}", file=sys.stderr)
        return 1
    print(f"alert sent to {topic}: {subject}")
    try:
        remember(state, unit, now)
    except OSError as exc:
        # sent: exit 0 all the same, or Restart=on-failure would send it again every 30 s
        # (a disk that is full stays full); only the quiet time is lost for the next failure
        print(f"warning: alert sent but not recorded in {state}: {exc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
