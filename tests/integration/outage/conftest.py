"""The testnet daemon trading against the fake Binance while its dependencies misbehave.

One daemon run per test walks through several outage cells in turn (docs/outage-matrix.md
says which test asserts which cell). The market is a wave on which every ma_cross round
trip loses, with ``MAX_CONSECUTIVE_LOSSES=2``: the bot trips every few seconds once reset,
so each cell has a fresh critical alert (Slack + email + SNS + console) raised *by
trading*, and the orders that led to it show that trading went on during the outage.

`deps` takes the exchange loop as an indirect parameter: ``polling`` (the default,
TRADEWARDEN_STREAMS=off) or ``streams`` (issue 19: on, 1 s klines, on a 10 s losing wave,
since 1 s klines of LOSING_WAVE, whose period is 1 s, would all close on the same price;
`daemon_extra` adds the streams settings).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.binance import FakeBinance
from tests.fakes.slack import FakeSlack, running_fake_slack
from tests.fakes.smtp import FakeSmtp
from tests.integration.alerts.helpers import REGION, SnsSink
from tests.integration.daemon.helpers import db, readyz, wait_for
from tests.integration.outage.proxy import TcpProxy
from tests.integration.testnet.conftest import LOSING_WAVE, Running, wave_exchange
from tests.integration.testnet.test_streams_daemon import LOSING_STREAM_WAVE
from tradewarden.operations.control import request_via_daemon
from tradewarden.runtime.lock import DaemonLock
from tradewarden.state.store import Store

BOT = "loser"
TRIP_KEY = f"breaker:consecutive_losses:{BOT}"
STREAM_ENV = {
    "TRADEWARDEN_STREAMS": "on",
    "TRADEWARDEN_KLINE_INTERVAL": "1s",
    "TRADEWARDEN_STREAM_STALE_SECONDS": "3",
    "TRADEWARDEN_STREAM_RECONNECT_MAX_SECONDS": "1",
}


@dataclass
class Deps:
    fx: FakeBinance
    slack: FakeSlack
    smtp: FakeSmtp
    smtp_hop: TcpProxy
    sns_hop: TcpProxy
    sink: SnsSink
    moto: str
    streams: bool = False


@pytest.fixture()
def deps(request: pytest.FixtureRequest, clean_env: None, aws_env: str) -> Iterator[Deps]:
    streams = getattr(request, "param", "polling") == "streams"
    with (
        wave_exchange(LOSING_STREAM_WAVE, 50) if streams else wave_exchange(LOSING_WAVE, 50) as fx,
        running_fake_slack() as slack,
        FakeSmtp(tls="none") as smtp,
        TcpProxy("127.0.0.1", smtp.port) as smtp_hop,
        TcpProxy("127.0.0.1", int(aws_env.rsplit(":", 1)[1])) as sns_hop,
    ):
        sink = SnsSink("tw-outage-matrix")
        sink.create()
        yield Deps(fx, slack, smtp, smtp_hop, sns_hop, sink, aws_env, streams)


def daemon_extra(deps: Deps, **more: str) -> dict[str, str]:
    """Settings for `Running` on top of the testnet helper's `daemon_env`."""
    return {
        "TRADEWARDEN_BOTS": f"{BOT}:BTCUSDT:ma_cross",
        "MAX_CONSECUTIVE_LOSSES": "2",
        "TRADEWARDEN_RECONCILE_INTERVAL_SECONDS": "30",
        # each trip in the run pages (dedup itself: tests/integration/alerts)
        "TRADEWARDEN_ALERT_DEDUP_SECONDS": "0",
        "TRADEWARDEN_SLACK_TOKEN": deps.slack.token,
        "TRADEWARDEN_SLACK_BASE_URL": deps.slack.api_url,
        "TRADEWARDEN_SMTP_HOST": "127.0.0.1",
        "TRADEWARDEN_SMTP_PORT": str(deps.smtp_hop.port),
        "TRADEWARDEN_SMTP_TLS": "none",
        "TRADEWARDEN_EMAIL_TO": "oncall@example.org",
        "TRADEWARDEN_SNS_TOPIC_ARN": deps.sink.arn,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{deps.sns_hop.port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        **(STREAM_ENV if deps.streams else {}),
        **more,
    }


# --- reading the daemon's state -----------------------------------------------------------
def query(state: Path, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    con = db(state)
    try:
        return [dict(r) for r in con.execute(sql, args)]
    finally:
        con.close()


def trip_alerts(state: Path) -> list[str]:
    """Alert ids of the loser's trip alerts, oldest first."""
    rows = query(
        state,
        "SELECT alert_id, MIN(created_at) AS t FROM alert_outbox WHERE dedup_key=?"
        " AND json_extract(alert_json, '$.resolved') = 0 GROUP BY alert_id ORDER BY t",
        (TRIP_KEY,),
    )
    return [r["alert_id"] for r in rows]


def rows_of(state: Path, alert_id: str) -> dict[str, dict[str, Any]]:
    """channel -> outbox row of one alert."""
    rows = query(state, "SELECT * FROM alert_outbox WHERE alert_id=?", (alert_id,))
    return {r["channel"]: r for r in rows}


def orders_between(state: Path, start: float, end: float) -> int:
    rows = query(
        state,
        "SELECT COUNT(*) AS n FROM orders WHERE created_at > ? AND created_at <= ?",
        (start, end),
    )
    return int(rows[0]["n"])


def undelivered(state: Path) -> int:
    return int(
        query(state, "SELECT COUNT(*) AS n FROM alert_outbox WHERE delivered_at IS NULL")[0]["n"]
    )


def ready(port: int) -> tuple[int, list[str]]:
    code, body = readyz(port)
    return code, body.get("reasons", [])


class Trader:
    """Drives the loser bot: reset it through the running daemon, wait for its next trip."""

    def __init__(self, d: Running) -> None:
        self.d = d
        self.port = d.wait_ready()

    def reset(self, why: str) -> None:
        if query(self.d.state, "SELECT 1 FROM breakers WHERE tripped=1"):
            control(self.d.state, "reset", why)

    def next_trip(self, why: str, timeout: float = 30) -> str:
        """Reset, then wait for the trip alert that trading raises next; its alert id."""
        seen = set(trip_alerts(self.d.state))
        self.reset(why)
        assert wait_for(lambda: set(trip_alerts(self.d.state)) - seen, timeout), (
            f"no new trip within {timeout}s ({why})"
        )
        (new,) = set(trip_alerts(self.d.state)) - seen
        return new


def control(state: Path, action: str, reason: str) -> Any:
    """What `tradewarden halt|reset --reason` does with a daemon running (a control request
    in SQLite, SIGUSR1), without paying for a CLI start each cell; the CLI path itself is
    tested in tests/integration/daemon and tests/peers."""
    store = Store(state / "tradewarden.sqlite3")
    try:
        payload = {"scope": {"all": True}} if action == "reset" else None
        res = request_via_daemon(
            store, DaemonLock(state), action, reason, "outage-matrix", payload=payload
        )
    finally:
        store.close()
    assert res["status"] == "done", res
    return res["result"]


def wait_delivered(state: Path, alert_id: str, channels: set[str], timeout: float = 30) -> None:
    def done() -> bool:
        rows = rows_of(state, alert_id)
        return all(rows.get(c, {}).get("delivered_at") for c in channels)

    assert wait_for(done, timeout, step=0.05), (
        f"alert {alert_id} not delivered to {sorted(channels)} within {timeout}s:"
        f" {rows_of(state, alert_id)}"
    )


def wait_failed(state: Path, alert_id: str, channel: str, timeout: float = 20) -> str:
    """The channel was tried and failed (the row is kept, with the error); the error."""

    def failed() -> bool:
        row = rows_of(state, alert_id).get(channel, {})
        return bool(row.get("last_error")) and not row.get("delivered_at")

    assert wait_for(failed, timeout, step=0.05), (
        f"{channel} never failed for {alert_id}: {rows_of(state, alert_id).get(channel)}"
    )
    return str(rows_of(state, alert_id)[channel]["last_error"])


def now() -> float:
    return time.time()
