#!/usr/bin/env bash
# Incident drills on local stand-ins (`make drill` runs both): nothing leaves this machine.
#
#   ops/drill.sh [breaker]   the breaker-trip drill (runbooks/breaker-tripped.md)
#   ops/drill.sh key-leak    the key-leak drill (runbooks/suspected-key-leak.md)
#
# Breaker drill:
# 1. starts the fake Slack (tests/fakes/slack) and a paper daemon in a temp state dir;
# 2. the shipped market scenario trips the consecutive-losses breaker of both bots (as the
#    tests do); the daemon's critical alert must reach Slack;
# 3. walks runbooks/breaker-tripped.md the way a responder would: status, diagnose, audit
#    verify, reset --reason, then status / diagnose / audit verify again;
# 4. stops the daemon cleanly. Every step prints its command, its output and [ok] or [FAIL].
#
# Key-leak drill: the fake Binance (tests/fakes/binance) holds the old key; a testnet daemon
# trades on it with the key from the encrypted credential file (secret source `file`).
# Someone uses the leaked key (a foreign order on the fake); then the runbook's commands in
# its order: halt (open orders cancelled while the key still works), revoke the key on the
# fake (signed calls with it are refused, -2015), status / audit verify / secrets check,
# a new key on the fake, `secrets rotate trade --prompt` (typed at the hidden prompts,
# verified on the fake before it becomes current), secrets check / diagnose / audit verify,
# reset; the daemon then trades with the new key only.
#
# Exit 0 when every step behaved as the runbook says, 1 otherwise.
# Settings: TRADEWARDEN_CMD (default: .venv/bin/tradewarden, else `uv run --frozen
# tradewarden`), DRILL_PYTHON (default: .venv/bin/python, else python3), DRILL_TIMEOUT
# (seconds per wait, default 90), DRILL_KEEP=1 keeps the temp dir for a look afterwards.
set -euo pipefail

SCENARIO="${1:-breaker}"
case "$SCENARIO" in
breaker | key-leak) ;;
*)
    echo "usage: ops/drill.sh [breaker|key-leak]" >&2
    exit 2
    ;;
esac

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

if [[ -n "${TRADEWARDEN_CMD:-}" ]]; then
    read -r -a TW <<<"$TRADEWARDEN_CMD"
elif [[ -x .venv/bin/tradewarden ]]; then
    TW=(.venv/bin/tradewarden)
else
    TW=(uv run --frozen tradewarden)
fi
if [[ -n "${DRILL_PYTHON:-}" ]]; then
    PY="$DRILL_PYTHON"
elif [[ -x .venv/bin/python ]]; then
    PY=.venv/bin/python
else
    PY=python3
fi
TIMEOUT="${DRILL_TIMEOUT:-90}"

# a clean environment: only what the drill sets
while read -r var; do
    unset "$var"
done < <(compgen -e | grep -E '^(TRADEWARDEN_|BINANCE_|MAX_|HOT_WALLET|FINAL_HAMMER)' || true)

WORK="$(mktemp -d -t tradewarden-drill.XXXXXX)"
export TRADEWARDEN_STATE_DIR="$WORK/state"
export TRADEWARDEN_METRICS_PORT=0
export TRADEWARDEN_MODE=paper
DAEMON_PID=""
SLACK_PID=""
FAKE_PID=""
STEP=0

cleanup() {
    local rc=$?
    set +e
    [[ -n "$DAEMON_PID" ]] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
    [[ -n "$SLACK_PID" ]] && kill "$SLACK_PID" 2>/dev/null && wait "$SLACK_PID" 2>/dev/null
    [[ -n "$FAKE_PID" ]] && kill "$FAKE_PID" 2>/dev/null && wait "$FAKE_PID" 2>/dev/null
    if [[ "${DRILL_KEEP:-0}" == 1 ]]; then
        echo "kept: $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT

fail() {
    echo "[FAIL] step $STEP: $*"
    if [[ -f "$WORK/daemon.log" ]]; then
        echo "--- daemon log (last 20 lines)"
        tail -n 20 "$WORK/daemon.log"
    fi
    if [[ -n "${FAKE:-}" ]]; then
        echo "--- fake Binance: the last requests"
        ctl requests 2>/dev/null | "$PY" -c 'import json,sys
for r in json.loads(sys.stdin.read())[-5:]: print(r)' || true
    fi
    echo "drill FAILED"
    exit 1
}

ok() {
    echo "[ok] step $STEP: $*"
    echo
}

# run: <expected exit code> <command...>; prints the command and its output into $OUT
run() {
    local expect="$1"
    shift
    local shown=()
    for arg in "$@"; do
        [[ "$arg" == tw && ${#shown[@]} -eq 0 ]] && arg=tradewarden
        [[ "$arg" == *" "* ]] && arg="\"$arg\""
        shown+=("$arg")
    done
    echo "\$ ${SHOW:-${shown[*]}}"
    SHOW=""
    set +e
    OUT="$("$@" 2>&1)"
    RC=$?
    set -e
    sed 's/^/    /' <<<"$OUT"
    [[ "$RC" == "$expect" ]] || fail "exit code $RC, expected $expect"
}

# wait_for <what> <command...>: retry until the command succeeds or DRILL_TIMEOUT passes
wait_for() {
    local what="$1"
    shift
    local deadline=$((SECONDS + TIMEOUT))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || fail "timed out after ${TIMEOUT}s waiting for $what"
        sleep 0.2
    done
}

tw() { "${TW[@]}" "$@"; }
http_get() { "$PY" -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"; }

start_slack() {
    "$PY" -m tests.fakes.slack --port 0 >"$WORK/slack.log" 2>&1 &
    SLACK_PID=$!
    wait_for "the fake Slack" grep -q "Web API" "$WORK/slack.log"
    SLACK_API="$(sed -n 's/.*Web API \(http[^ ]*\) .*/\1/p' "$WORK/slack.log")"
    SLACK_URL="${SLACK_API%api/}"
    export TRADEWARDEN_SLACK_BASE_URL="$SLACK_API"
    export TRADEWARDEN_SLACK_TOKEN="test-slack-fake-token" # the fake's default; not a real secret
}

# start_daemon: `tradewarden run` in the background; sets DAEMON_PID and PORT once ready
start_daemon() {
    "${TW[@]}" run --follow --no-console >"$WORK/daemon.log" 2>&1 &
    DAEMON_PID=$!
    local deadline=$((SECONDS + TIMEOUT))
    until ready; do
        ((SECONDS < deadline)) || fail "the daemon was not ready after ${TIMEOUT}s"
        sleep 0.2
    done
    PORT="$("$PY" -c 'import json,sys
for line in open(sys.argv[1]):
    if "\"daemon ready\"" in line: print(json.loads(line)["metrics_port"]); break' "$WORK/daemon.log")"
}
ready() {
    kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon exited: $(tail -n 5 "$WORK/daemon.log")"
    grep -q '"daemon ready"' "$WORK/daemon.log"
}

stop_daemon() {
    kill -TERM "$DAEMON_PID"
    set +e
    wait "$DAEMON_PID"
    RC=$?
    set -e
    DAEMON_PID=""
    [[ "$RC" == 0 ]] || fail "the daemon exited $RC on SIGTERM"
}

if [[ "$SCENARIO" == key-leak ]]; then
    # shellcheck source=ops/drill_key_leak.sh
    . "$REPO/ops/drill_key_leak.sh"
    exit 0
fi

echo "tradewarden breaker-trip drill (paper, local stand-ins) in $WORK"
echo

STEP=1
echo "== step 1: start the fake Slack and a paper daemon"
start_slack
start_daemon
ok "daemon pid $DAEMON_PID ready, metrics on 127.0.0.1:$PORT, fake Slack at $SLACK_URL"

STEP=2
echo "== step 2: the market scenario trips a breaker"
tripped_metric() { http_get "http://127.0.0.1:$PORT/metrics" | grep -q '^tradewarden_breaker_tripped{.*} 1.0$'; }
wait_for "a tripped breaker in /metrics" tripped_metric
echo "\$ curl -s localhost:$PORT/metrics | grep tradewarden_breaker_tripped"
http_get "http://127.0.0.1:$PORT/metrics" | grep '^tradewarden_breaker_tripped{' | sed 's/^/    /'
ok "tradewarden_breaker_tripped is 1 for the tripped breakers"

STEP=3
echo "== step 3: the critical alert reached Slack"
in_slack() { http_get "${SLACK_URL}_messages" | grep -q "Breaker tripped: consecutive_losses"; }
wait_for "the trip alert in Slack" in_slack
echo "\$ curl -s ${SLACK_URL}_messages   # what the fake Slack received"
TRIPS="$(http_get "${SLACK_URL}_messages" | grep -o 'Breaker tripped: [a-z_]* on [a-z-]*' | sort -u)"
sed 's/^/    /' <<<"$TRIPS"
ok "Slack has $(wc -l <<<"$TRIPS") breaker alert(s)"

STEP=4
echo "== step 4 (runbook, first five minutes): tradewarden status"
run 0 tw status
[[ "$OUT" == *TRIPPED* ]] || fail "status does not show the trip"
[[ "$OUT" == *"Open orders: 0"* ]] || fail "open orders remain after the trip"
ok "status shows the trip and no open orders"

STEP=5
echo "== step 5 (runbook): tradewarden diagnose"
run 1 tw diagnose
[[ "$OUT" == *"FAIL  breakers"* ]] || fail "diagnose does not fail the breakers line"
[[ "$OUT" == *"PASS  daemon"* ]] || fail "diagnose does not see the running daemon"
ok "diagnose exits 1 and names the tripped breakers"

STEP=6
echo "== step 6 (runbook): tradewarden audit verify"
run 0 tw audit verify
ok "audit chain intact"

STEP=7
echo "== step 7 (runbook, fix): tradewarden reset --reason ... --breaker consecutive_losses"
run 0 tw reset --reason "drill: reviewed the consecutive_losses trips on the paper scenario" --breaker consecutive_losses
[[ "$OUT" == *"applied by the running daemon"* ]] || fail "the running daemon did not apply the reset"
ok "reset applied by the running daemon"

STEP=8
echo "== step 8 (runbook, verify): tradewarden status"
run 0 tw status
[[ "$OUT" != *"TRIPPED"* ]] || fail "a breaker is still tripped after the reset"
[[ "$OUT" == *"State:       ACTIVE"* ]] || fail "not ACTIVE after the reset"
ok "no trips, state ACTIVE"

STEP=9
echo "== step 9 (runbook, verify): tradewarden diagnose"
run 0 tw diagnose
ok "every diagnose check passes"

STEP=10
echo "== step 10 (runbook, verify): tradewarden audit verify, and the reset is in it"
run 0 tw audit verify
grep -h '"reset"' "$TRADEWARDEN_STATE_DIR"/audit/*.jsonl | grep -q "drill: reviewed" ||
    fail "the reset and its reason are not in the audit log"
ok "audit chain intact and it records the reset with its reason"

STEP=11
echo "== step 11: stop the daemon (SIGTERM)"
stop_daemon
ok "daemon stopped cleanly"

echo "drill passed: $STEP steps"
