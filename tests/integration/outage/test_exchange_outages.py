"""Binance and the trade key's Secrets Manager down, slow or erroring while the testnet
daemon trades (``TRADEWARDEN_SECRET_SOURCE=aws``: the key pair lives in moto, reached
through a TCP hop we can break), alone and in pairs:

- Binance unreachable, slow past the timeout or answering 5xx: no order goes out, /readyz
  says why, nothing is sent twice, trading resumes by itself once it answers again; an
  order booked but never answered is resolved by query and its symbol trades again;
- Secrets Manager down, slow or erroring: the cached key is used until TTL + grace; past
  that nothing is signed, no order goes out and /readyz says the trade key is unavailable;
  trading resumes once the secret can be read. Down at start: up NOT READY, nothing
  traded, until it answers (startup.py).

One daemon run walks through the cells in turn. Rate limits (429/418) and maintenance
(-1016) are asserted in tests/integration/testnet/test_daemon_on_fake_exchange.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.alerts.helpers import slack_ids
from tests.integration.daemon.helpers import status, tw, wait_for
from tests.integration.outage.conftest import Deps, control, daemon_extra, query, ready
from tests.integration.outage.proxy import TcpProxy
from tests.integration.testnet.conftest import (
    KEY,
    SECRET,
    Running,
    assert_one_to_one,
    local_orders,
    posts,
)

ORDER = {"path": "/api/v3/order"}
TRADE_ID = "tradewarden/outage/binance/trade"
SLACK_ID = "tradewarden/outage/slack"
TTL_S, GRACE_S = 1.0, 3.0
UNREACHABLE = "exchange unreachable or erroring"
KEY_GONE = "trade key unavailable from the secret source"
QUIET_S = 1.2  # more than a wave half-period: the strategy would have traded in it


@pytest.fixture()
def sm_hop(deps: Deps) -> Iterator[TcpProxy]:
    sm = boto3.client("secretsmanager")
    sm.create_secret(Name=TRADE_ID, SecretString=json.dumps({"api_key": KEY, "api_secret": SECRET}))
    sm.create_secret(Name=SLACK_ID, SecretString=json.dumps({"bot_token": deps.slack.token}))
    with TcpProxy("127.0.0.1", int(deps.moto.rsplit(":", 1)[1])) as hop:
        yield hop


def aws_env(deps: Deps, hop: TcpProxy) -> dict[str, str]:
    return daemon_extra(
        deps,
        MAX_CONSECUTIVE_LOSSES="1000",  # no trips: keep trading
        TRADEWARDEN_SECRET_SOURCE="aws",
        TRADEWARDEN_SECRET_TRADE_KEY_ID=TRADE_ID,
        TRADEWARDEN_SECRET_READ_KEY_ID=TRADE_ID,
        TRADEWARDEN_SECRET_SLACK_ID=SLACK_ID,
        TRADEWARDEN_SECRET_TTL_SECONDS=str(TTL_S),
        TRADEWARDEN_SECRET_GRACE_SECONDS=str(GRACE_S),
        TRADEWARDEN_BINANCE_API_KEY="",
        TRADEWARDEN_BINANCE_API_SECRET="",
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{hop.port}",  # Secrets Manager through the hop
        TRADEWARDEN_SNS_TOPIC_ARN="",  # SNS: tests/integration/outage/test_alert_outages.py
    )


def orders_after(fx: FakeBinance, after_ms: float) -> int:
    return sum(1 for o in fx.orders() if o["time"] > after_ms)


def answered_posts(fx: FakeBinance, after_ms: float) -> int:
    return sum(1 for p in posts(fx) if p["ts"] > after_ms and p["status"] == 200)


def sample_ready(port: int, seconds: float) -> set[int]:
    codes = set()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        codes.add(ready(port)[0])
        time.sleep(0.2)
    return codes


def stopped_cell(
    port: int,
    fx: FakeBinance,
    name: str,
    brk: Callable[[], None],
    heal: Callable[[], None],
    reason: str,
    within: float = 20,
) -> str:
    """Break; not ready (with `reason`) and no order answered while broken; heal; ready
    again and a new order placed. Returns the table row."""
    brk()
    assert wait_for(lambda: any(reason in r for r in ready(port)[1]), within), (
        f"{name}: {ready(port)}"
    )
    reasons = ready(port)[1]
    stopped_ms = fx.server_time_ms()
    time.sleep(QUIET_S)
    sent = answered_posts(fx, stopped_ms)
    assert sent == 0, f"{name}: {sent} orders answered while broken"
    heal()
    healed, healed_ms = time.monotonic(), fx.server_time_ms()
    assert wait_for(lambda: ready(port)[0] == 200, 40), f"{name}: not ready again"
    back = time.monotonic() - healed
    assert wait_for(lambda: orders_after(fx, healed_ms) >= 1, 40), f"{name}: no trading after"
    return f"| {name} | 503: {reasons[0][:48]}... | 0 orders | ready {back:.1f}s after heal |"


def test_secrets_manager_down_at_start_waits_not_ready(
    tmp_path: Path, deps: Deps, sm_hop: TcpProxy
) -> None:
    """Secrets Manager unreachable at start: up NOT READY (the secret's id in the reason,
    never its value), nothing traded; it starts and trades once the secret can be read.
    It used to exit 1, which systemd turned into a failed unit after five restarts."""
    sm_hop.down()
    d = Running(tmp_path / "state", deps.fx, **aws_env(deps, sm_hop))
    try:
        waiting = "not ready: waiting to start"
        assert wait_for(lambda: d.said(waiting) or d.proc.poll() is not None, 60)
        assert d.proc.poll() is None, d.stop_output()
        rec = next(r for r in d.logs() if r.get("msg") == waiting)
        code, reasons = ready(int(rec["metrics_port"]))
        assert code == 503, reasons
        assert any(
            "secret source unreachable at start" in r and "tradewarden/" in r for r in reasons
        )
        assert not d.said("daemon ready") and posts(deps.fx) == []
        sm_hop.up()
        port = d.wait_ready()
        assert wait_for(lambda: ready(port)[0] == 200, 30), ready(port)
        assert wait_for(lambda: len(posts(deps.fx)) >= 1, 60), "no trading once the secret was read"
        assert d.stop() == 0, d.err
    finally:
        d.stop()
    assert SECRET not in "".join(d.lines) + d.err


def test_binance_and_secrets_manager_outages_while_trading(
    tmp_path: Path, deps: Deps, sm_hop: TcpProxy
) -> None:
    fx, hop = deps.fx, sm_hop
    d = Running(tmp_path / "state", fx, **aws_env(deps, hop))
    table = [
        "| cell | readiness | orders while broken | recovery | took |",
        "|---|---|---|---|---|",
    ]
    t_cell = time.monotonic()

    def row(text: str) -> None:
        nonlocal t_cell
        table.extend([f"{text} {time.monotonic() - t_cell:.1f}s |"])
        t_cell = time.monotonic()

    try:
        port = d.wait_ready()
        assert wait_for(lambda: len(fx.orders()) >= 2, 30), "no trading to begin with"
        for name, kind, params in (
            ("Binance down (connections dropped)", "drop_connection", {}),
            ("Binance slow (1.5 s, timeout 1 s)", "latency", {"ms": 1500}),
            ("Binance erroring (HTTP 500 to everything)", "error_after_accept", {"status": 500}),
        ):
            row(
                stopped_cell(
                    port,
                    fx,
                    name,
                    lambda k=kind, p=params: fx.fault(k, path="/api/*", count=None, **p),
                    fx.clear_faults,
                    UNREACHABLE,
                )
            )
        row(slow_order_cell(d, fx))
        row(cached_key_cells(port, fx, hop))
        row(
            stopped_cell(
                port,
                fx,
                "Secrets Manager erroring (HTTP 500) past TTL + grace",
                lambda: hop.http_error(500),
                hop.fine,
                KEY_GONE,
                within=TTL_S + GRACE_S + 15,
            )
        )
        row(key_gone_while_binance_down(port, fx, hop))
        row(halt_while_binance_and_slack_down(d, port, deps))
    except BaseException:
        d.stop()
        print("\n".join(table), "\n--- daemon log (tail) ---\n" + "".join(d.lines[-80:]) + d.err)
        audit = "".join(p.read_text() for p in sorted((d.state / "audit").glob("*.jsonl")))
        print("--- audit (tail) ---\n" + "\n".join(audit.splitlines()[-40:]))
        raise
    finally:
        rc = d.stop()
    print("\n" + "\n".join(table))
    assert rc == 0, "".join(d.lines[-20:]) + d.err
    assert_one_to_one(fx, d.state)
    assert len(posts(fx)) == len(fx.orders()), "an order was sent twice"
    stuck = [c for c, o in local_orders(d.state).items() if o["status"] in ("PENDING", "UNKNOWN")]
    assert stuck == []
    assert tw(d.state, "audit", "verify").returncode == 0


def slow_order_cell(d: Running, fx: FakeBinance) -> str:
    """The next order is booked but not answered within the timeout, and the exchange
    cannot be asked about it either: the gateway gives up asking (UNKNOWN, the symbol
    blocked); once the exchange answers again the order is resolved by query, never resent,
    and trading on the symbol resumes by itself."""
    n_posts = len(posts(fx))
    # only the queries of *that* order fail: a blanket GET-order fault would also fail the
    # fill poll of the order before it if one is still being booked (that round, and every
    # round after it, fails closed: no order at all, as it should be, but not this cell)
    fx.fault("timeout_after_accept", ms=1500, method="POST", count=1, queries="drop", **ORDER)
    assert wait_for(lambda: len(posts(fx)) > n_posts, 30), "no order went out"
    unknown = lambda: query(d.state, "SELECT * FROM orders WHERE status='UNKNOWN'")  # noqa: E731
    assert wait_for(lambda: bool(unknown()), 10), "the unanswered order never became UNKNOWN"
    (row,) = unknown()
    cid = row["client_order_id"]
    assert wait_for(lambda: given_up(d.state, cid), 30), "the gateway never gave up asking"
    fx.clear_faults()
    healed, healed_ms = time.monotonic(), fx.server_time_ms()
    assert wait_for(lambda: local_orders(d.state)[cid]["status"] == "FILLED", 30)
    assert wait_for(lambda: orders_after(fx, healed_ms) >= 1, 40), (
        "trading did not resume after the unknown order was resolved"
    )
    resumed = time.monotonic() - healed
    assert [o["clientOrderId"] for o in fx.orders()].count(cid) == 1
    return (
        "| Binance slow on one order (booked, no answer in time; queries fail) |"
        f" UNKNOWN, {row['symbol']} blocked | 0 resends | resolved by query, trading"
        f" {resumed:.1f}s after heal |"
    )


def given_up(state: Path, cid: str) -> bool:
    """The order gate recorded the outcome as unknown (`order_unknown` in the audit log)."""
    for path in sorted((state / "audit").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if '"order_unknown"' in line and cid in line:
                return True
    return False


def cached_key_cells(port: int, fx: FakeBinance, hop: TcpProxy) -> str:
    """Secrets Manager down for less than TTL + grace, then slow: trading goes on."""
    t_ms = fx.server_time_ms()
    hop.down()
    codes = sample_ready(port, TTL_S + 0.5)
    down_orders = orders_after(fx, t_ms)
    hop.up()
    assert codes == {200}, f"not ready while the cached key was valid: {codes}"
    assert down_orders >= 1, "no order on the cached key"
    time.sleep(TTL_S + 0.5)  # let a re-read succeed: the next cell starts on a fresh key
    # slow (0.5 s a reply, under the 5 s read timeout): the key is re-read on the request
    # path once per TTL (counted from the answer), so each re-read stalls that round only
    t_ms = fx.server_time_ms()
    hop.slow(0.5)
    codes = sample_ready(port, TTL_S + 3.0)
    hop.fine()
    polls = [r["ts"] for r in fx.requests() if r["ts"] > t_ms and "ticker" in r["path"]]
    gap = max((b - a for a, b in zip(polls, polls[1:], strict=False)), default=0) / 1000
    assert codes == {200}, f"not ready while Secrets Manager was only slow: {codes}"
    # a loop stuck on Secrets Manager would poll once at most; how many more depends on the
    # machine's load, so only "kept going" is asserted (the count goes into the table)
    assert len(polls) >= 3, f"the trading loop stopped: {len(polls)} price polls"
    return (
        f"| Secrets Manager down {TTL_S + 0.5:.1f}s (< TTL {TTL_S}s + grace {GRACE_S}s);"
        f" then slow (0.5 s a reply) | 200 throughout | {down_orders} orders on the cached key;"
        f" slow: {len(polls)} price polls in {TTL_S + 3.0:.1f}s, a re-read stalls the loop"
        f" {gap:.1f}s | — |"
    )


def key_gone_while_binance_down(port: int, fx: FakeBinance, hop: TcpProxy) -> str:
    """Both down; the cached key runs out meanwhile; Binance back first changes nothing."""
    hop.down()
    fx.fault("drop_connection", path="/api/*", count=None)
    assert wait_for(lambda: ready(port)[0] == 503, 20)
    time.sleep(TTL_S + GRACE_S)
    fx.clear_faults()
    assert wait_for(lambda: any(KEY_GONE in r for r in ready(port)[1]), 30), ready(port)
    back_ms = fx.server_time_ms()
    time.sleep(QUIET_S)
    assert answered_posts(fx, back_ms) == 0
    hop.up()
    assert wait_for(lambda: ready(port)[0] == 200, 40), ready(port)
    healed_ms = fx.server_time_ms()
    assert wait_for(lambda: orders_after(fx, healed_ms) >= 1, 40)
    return (
        "| Secrets Manager + Binance down; Binance back first | 503 (exchange), then 503"
        " (trade key unavailable) | 0 orders until the key is readable | trading once both"
        " are back |"
    )


def halt_while_binance_and_slack_down(d: Running, port: int, deps: Deps) -> str:
    """Binance and Slack down together; an operator halts: the halt applies at once (the
    cancel fails and is audited), its alert waits for Slack; nothing trades until reset."""
    fx, slack = deps.fx, deps.slack
    fx.fault("drop_connection", path="/api/*", count=None)
    slack.set_down(True)
    assert wait_for(lambda: ready(port)[0] == 503, 20)
    control(d.state, "halt", "outage matrix: exchange and Slack down")
    assert status(d.state)["state"] == "halted"
    slack_row = lambda: query(  # noqa: E731
        d.state, "SELECT * FROM alert_outbox WHERE dedup_key='manual-halt' AND channel='slack'"
    )
    assert wait_for(lambda: bool(slack_row()) and bool(slack_row()[0]["last_error"]), 20)
    fx.clear_faults()
    healed_ms = fx.server_time_ms()
    assert wait_for(lambda: "HALTED" in " ".join(ready(port)[1]), 30)
    time.sleep(QUIET_S)
    assert orders_after(fx, healed_ms) == 0, "orders while HALTED"
    slack.set_down(False)
    assert wait_for(lambda: bool(slack_row()[0]["delivered_at"]), 30)
    assert slack_ids(slack)[slack_row()[0]["id"]] == 1
    audit = "".join(p.read_text() for p in sorted((d.state / "audit").glob("*.jsonl")))
    assert '"cancel_failed"' in audit
    control(d.state, "reset", "outage matrix: both back")
    assert wait_for(lambda: ready(port)[0] == 200, 30)
    reset_ms = fx.server_time_ms()
    assert wait_for(lambda: orders_after(fx, reset_ms) >= 1, 40)
    return (
        "| Binance + Slack down, operator halts | 503: HALTED | 0 orders (cancel failed,"
        " audited) | halt alert delivered once when Slack is back; trades after reset |"
    )
