"""Attacks on the streams mode (issue 19) with a real daemon process: the WebSocket API
subscription signs with the HMAC key, so every way its key or signature could surface is
looked at after resubscribes (terminate, serverShutdown, drop) and a refused subscription:
the daemon's log, stderr, /readyz, /metrics, `status` and `diagnose`."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.fakes.binance import FakeBinance
from tests.integration.daemon.helpers import readyz, tw, wait_for
from tests.integration.testnet.conftest import KEY, SECRET, Running, daemon_env
from tests.integration.testnet.test_streams_daemon import (  # noqa: F401 - fixtures
    healthy,
    metric,
    metrics,
    stream_env,
    streamed,
    streams_of,
    sx,
)


def _leaks(text: str) -> list[str]:
    found = [name for name, s in (("key", KEY), ("secret", SECRET)) if s in text]
    found += [f"{name} part" for name, s in (("key", KEY), ("secret", SECRET)) if s[:20] in text]
    return found + (["an apiKey parameter"] if '"apiKey"' in text else [])


def test_no_key_or_signature_surfaces_from_the_user_stream(
    sx: FakeBinance,  # noqa: F811
    streamed: Callable[..., Running],  # noqa: F811
) -> None:
    d = streamed()
    port = d.wait_ready()
    assert wait_for(lambda: healthy(port), timeout=30), streams_of(port)
    seen: list[str] = []
    for kind in ("terminate", "shutdown", "drop"):  # each one a fresh signed subscription
        before = metric(port, 'tradewarden_stream_reconnects_total{stream="user"}') or 0
        sx.stream_fault(kind, stream="user", count=1)
        assert wait_for(
            lambda b=before: (
                (metric(port, 'tradewarden_stream_reconnects_total{stream="user"}') or 0) > b
            ),
            timeout=60,
        ), (kind, streams_of(port))
        seen.append(json.dumps(readyz(port)[1]))
    # the key revoked: the next subscription is refused, its reason kept in last_error
    sx.remove_key(KEY)
    sx.stream_fault("drop", stream="user", count=1)
    assert wait_for(
        lambda: "refused" in str(streams_of(port)["user"]["last_error"] or ""), timeout=60
    ), streams_of(port)
    refused = json.dumps(readyz(port)[1])
    assert "subscription refused" in refused and "-2015" in refused, refused
    seen.append(refused)
    seen.append(metrics(port))
    seen.append(tw(d.state, "status", "--json").stdout)
    seen.append(tw(d.state, "diagnose", **daemon_env(sx, **stream_env())).stdout)
    sx.add_key(KEY, SECRET)
    d.stop()
    seen.append("".join(d.lines))
    seen.append(d.err)
    for text in seen:
        assert not _leaks(text), (_leaks(text), text[:2000])
