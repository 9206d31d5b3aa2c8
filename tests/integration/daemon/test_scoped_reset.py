"""Issue 13 defect 5: `reset` says what it will clear and clears only what it is pointed at.

One `reset --reason` used to clear every bot's trips, a colleague's manual halt and the
drawdown peaks. Now: `--bot`, `--breaker` or `--all` (confirmed, or `--yes` when not
interactive); a manual halt set by someone else needs `--include-manual-halt`; peaks are kept
unless `--rebase-peaks`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.daemon.helpers import db, status, tw

pytestmark = pytest.mark.usefixtures("clean_env")
# Two people on the host: the actor is the OS user plus the SSM session (never $USER), so bob
# and alice are two SSM sessions of the same OS user here.
BOB = {"SSM_SESSION_ID": "bob-0a1b2c3d4e5f"}
ALICE = {"SSM_SESSION_ID": "alice-0a1b2c3d4e5f"}


def peaks(state: Path) -> dict:
    with db(state) as con:
        rows = con.execute("SELECT key, value FROM kv WHERE key LIKE 'breaker:%drawdown'")
        return {r["key"]: json.loads(r["value"]) for r in rows}


def trips(state: Path) -> set[str]:
    return {f"{t['breaker']}:{t['bot']}" for t in status(state)["trips"]}


def test_reset_clears_only_what_it_is_pointed_at(tmp_path: Path) -> None:
    state = tmp_path / "state"
    # bot-scoped trips, so both bots trip on losses (by default the first trip stops both)
    assert tw(state, "run", "--no-console", TRADEWARDEN_TRIP_SCOPE="bot").returncode == 0
    assert trips(state) == {"consecutive_losses:trend-btc", "consecutive_losses:trend-eth"}
    halt = tw(state, "halt", "--reason", "bob investigating the venue", **BOB)
    assert halt.returncode == 0, halt.stderr
    peaks_before = peaks(state)
    assert peaks_before

    # no scope: nothing cleared, and it says what there is and how to point at it
    bare = tw(state, "reset", "--reason", "all fine", **ALICE)
    assert bare.returncode == 2, bare.stdout
    assert "--bot" in bare.stderr and "--all" in bare.stderr
    assert trips(state) == {"consecutive_losses:trend-btc", "consecutive_losses:trend-eth"}

    one = tw(
        state,
        "reset",
        "--bot",
        "trend-btc",
        "--reason",
        "btc reviewed",
        **ALICE,
    )
    assert one.returncode == 0, one.stderr
    assert "consecutive_losses:trend-btc" in one.stdout
    st = status(state)
    assert trips(state) == {"consecutive_losses:trend-eth"}  # only trend-btc's trip cleared
    # each bot's effective state: bob's manual halt still holds every bot
    assert st["bots"] == {"trend-btc": "halted", "trend-eth": "halted"}
    assert st["state"] == "halted" and "bob investigating" in st["state_reason"]

    # --all needs a confirmation listing every trip and halt and who set it
    unconfirmed = tw(
        state,
        "reset",
        "--all",
        "--reason",
        "everything reviewed",
        **ALICE,
    )
    assert unconfirmed.returncode == 2
    assert "consecutive_losses:trend-eth" in unconfirmed.stdout
    assert "bob" in unconfirmed.stdout and "--yes" in unconfirmed.stderr
    assert trips(state) == {"consecutive_losses:trend-eth"}

    everything = tw(
        state,
        "reset",
        "--all",
        "--yes",
        "--reason",
        "reviewed",
        **ALICE,
    )
    assert everything.returncode == 0, everything.stderr
    assert "--include-manual-halt" in everything.stdout  # bob's halt is kept, and it says so
    st = status(state)
    assert st["trips"] == [] and st["state"] == "halted"

    unasked = tw(
        state,
        "reset",
        "--include-manual-halt",
        "--reason",
        "x",
        **ALICE,
    )
    assert unasked.returncode == 2 and "--yes" in unasked.stderr  # a colleague's halt: asks
    assert status(state)["state"] == "halted"

    with_halt = tw(
        state,
        "reset",
        "--all",
        "--yes",
        "--include-manual-halt",
        "--reason",
        "bob agreed on the phone",
        **ALICE,
    )
    assert with_halt.returncode == 0, with_halt.stderr
    assert status(state)["state"] == "active"
    assert peaks(state) == peaks_before  # kept: no --rebase-peaks


def test_reset_help_shows_the_scope_options(tmp_path: Path) -> None:
    out = tw(tmp_path, "reset", "--help", COLUMNS="200").stdout
    for opt in ("--bot", "--breaker", "--all", "--include-manual-halt", "--rebase-peaks", "--yes"):
        assert opt in out, opt


def test_a_scope_naming_no_known_bot_or_breaker_is_refused(tmp_path: Path) -> None:
    bad = tw(tmp_path, "reset", "--bot", "nope", "--reason", "x")
    assert bad.returncode == 2 and "nope" in bad.stderr
    bad = tw(tmp_path, "reset", "--breaker", "nope", "--reason", "x")
    assert bad.returncode == 2 and "nope" in bad.stderr
