"""Slack, SMTP and SNS down, slow or erroring — alone and in pairs — while the testnet daemon
trades: trading never waits for an alert channel; a failed delivery stays in the outbox and
is retried; once the channel is back every alert arrives exactly once, on every channel.

One daemon run walks through the cells in turn (about 3-4 s each). Each cell: break the
channel(s), reset the bot, let trading trip it again (a critical alert, routed to Slack,
email, SNS and the console), check the orders that led to the trip went out during the
outage and that the broken channel failed (row kept, error recorded) while the others
delivered; then heal and check delivery. Slow cells also check that orders went out
while the slow send was in progress. At the end: nothing pending, and each receiver saw
each of its outbox rows exactly once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tests.integration.alerts.helpers import console_ids, email_ids, outbox_ids, slack_ids
from tests.integration.daemon.helpers import tw, wait_for
from tests.integration.outage.conftest import (
    Deps,
    Trader,
    daemon_extra,
    now,
    orders_between,
    rows_of,
    undelivered,
    wait_delivered,
    wait_failed,
)
from tests.integration.testnet.conftest import Running

ALL = {"slack", "email", "sns", "console"}
SLOW_S = 2.5

Fault = tuple[Callable[[], None], Callable[[], None]]  # (break, heal)


def faults(deps: Deps) -> dict[tuple[str, str], Fault]:
    s, smtp, sh, nh = deps.slack, deps.smtp, deps.smtp_hop, deps.sns_hop
    return {
        ("slack", "down"): (lambda: s.set_down(True), lambda: s.set_down(False)),
        ("slack", "slow"): (lambda: s.slow_next(1000, SLOW_S), lambda: s.slow_next(0, 0)),
        ("slack", "500"): (lambda: s.fail_next(1000, 500), lambda: s.fail_next(0)),
        ("slack", "429"): (lambda: s.fail_next(1000, 429, 1), lambda: s.fail_next(0)),
        ("email", "down"): (sh.down, sh.up),
        ("email", "slow"): (lambda: sh.slow(0.5), sh.fine),  # ~7 replies: ~3.5 s a mail
        ("email", "451"): (lambda: smtp.refuse_next(1000, 451), lambda: smtp.refuse_next(0)),
        ("email", "554"): (lambda: smtp.refuse_next(1000, 554), lambda: smtp.refuse_next(0)),
        ("sns", "down"): (nh.down, nh.up),
        ("sns", "slow"): (lambda: nh.slow(SLOW_S / 2), nh.fine),  # 1-2 replies a publish
        ("sns", "500"): (lambda: nh.http_error(500), nh.fine),
    }


# (cell name, {channel: fault}) in the order they run
CELLS: list[tuple[str, dict[str, str]]] = [
    ("Slack down", {"slack": "down"}),
    ("Slack slow", {"slack": "slow"}),
    ("Slack erroring (HTTP 500)", {"slack": "500"}),
    ("SMTP down", {"email": "down"}),
    ("SMTP slow", {"email": "slow"}),
    ("SMTP erroring (451)", {"email": "451"}),
    ("SNS down", {"sns": "down"}),
    ("SNS slow", {"sns": "slow"}),
    ("SNS erroring (HTTP 500)", {"sns": "500"}),
    ("Slack + SMTP down", {"slack": "down", "email": "down"}),
    ("SMTP erroring (554) + SNS erroring (500)", {"email": "554", "sns": "500"}),
    ("Slack rate-limited (429) + SNS down", {"slack": "429", "sns": "down"}),
]


def run_cell(
    t: Trader, state: Path, name: str, bad: dict[str, str], table: list[str], f: dict
) -> None:
    start = now()
    for ch, kind in bad.items():
        f[(ch, kind)][0]()
    alert = t.next_trip(f"outage matrix: {name}")
    created = min(r["created_at"] for r in rows_of(state, alert).values())
    placed = orders_between(state, start, created)
    assert placed >= 2, f"{name}: only {placed} orders while the channel was bad"
    slow = {ch for ch, kind in bad.items() if kind == "slow"}
    errors = []
    if slow:
        t.reset(f"outage matrix: {name}, trading during the slow send")
    else:
        for ch in bad:
            errors.append(f"{ch}: {wait_failed(state, alert, ch)[:60]}")
        wait_delivered(state, alert, ALL - set(bad))  # the other channels are not held up
        assert not any(rows_of(state, alert)[ch]["delivered_at"] for ch in bad)
    if slow:  # a slow channel delivers by itself; heal once nothing is in flight (healing
        # cuts the hop's connections: a send cut after the server took it is sent again)
        assert wait_for(lambda: undelivered(state) == 0, 30)
    healed = now()
    for ch, kind in bad.items():
        f[(ch, kind)][1]()
    wait_delivered(state, alert, ALL)
    rows = rows_of(state, alert)
    for ch in slow:
        took = rows[ch]["delivered_at"] - rows[ch]["created_at"]
        assert took >= SLOW_S / 2, f"{name}: the {ch} send was not slow ({took:.1f}s)"
        during = orders_between(state, rows[ch]["created_at"], rows[ch]["delivered_at"])
        assert during >= 1, f"{name}: no order while the {ch} send was in progress"
        errors.append(f"{ch} send took {took:.1f}s; {during} order(s) meanwhile")
    assert wait_for(lambda: undelivered(state) == 0, 30)  # the next cell starts drained
    after = max(rows[ch]["delivered_at"] for ch in bad) - (healed if not slow else created)
    attempts = {ch: rows[ch]["attempts"] for ch in bad}
    table.append(
        f"| {name} | {placed} orders during | attempts {attempts} | delivered"
        f" {after:.1f}s after {'heal' if not slow else 'trip'} | {'; '.join(errors)} |"
    )


def test_alert_channels_down_slow_erroring_while_trading(tmp_path: Path, deps: Deps) -> None:
    env = daemon_extra(deps, MAX_CONSECUTIVE_LOSSES="1")
    d = Running(tmp_path / "state", deps.fx, **env)
    table = ["| cell | trading | delivery attempts | recovery | detail |", "|---|---|---|---|---|"]
    try:
        t = Trader(d)
        f = faults(deps)
        for name, bad in CELLS:
            run_cell(t, d.state, name, bad, table, f)
        assert wait_for(lambda: undelivered(d.state) == 0, 30)
    finally:
        rc = d.stop()
    print("\n" + "\n".join(table))
    assert rc == 0, "".join(d.lines[-20:]) + d.err
    db = d.state / "tradewarden.sqlite3"
    seen = {
        "slack": slack_ids(deps.slack),
        "email": email_ids(deps.smtp),
        "sns": deps.sink.drain(),
        "console": console_ids(d.state),
    }
    for channel, got in seen.items():
        rows = outbox_ids(db, channel)
        assert len(rows) >= len(CELLS), f"{channel}: only {len(rows)} alerts"
        assert got == Counter({r: 1 for r in rows}), f"{channel}: not exactly once"
    assert tw(d.state, "audit", "verify").returncode == 0
