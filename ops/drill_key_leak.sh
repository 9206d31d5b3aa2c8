# Key-leak drill: sourced by ops/drill.sh (`ops/drill.sh key-leak`, `make drill`); uses its
# helpers (run, tw, ok, fail, wait_for, start_daemon, stop_daemon) and its $WORK, $PY, $TW.
# Walks runbooks/suspected-key-leak.md in its order on the fake Binance and the encrypted
# credential file: halt, revoke, diagnose, new key, rotate (prompted, verified), verify, reset.
# The keys below are made up for the fake; they are not secrets.

OLD_KEY="drill-old-key-$(printf 'k%.0s' {1..40})"
OLD_SECRET="drill-old-secret-$(printf 's%.0s' {1..40})"
NEW_KEY="drill-new-key-$(printf 'n%.0s' {1..40})"
NEW_SECRET="drill-new-secret-$(printf 't%.0s' {1..40})"

# ctl <name> [json]: the fake Binance's control API (what the Binance web UI does here)
ctl() {
    local body="${2:-}"
    [[ -n "$body" ]] || body='{}'
    "$PY" - "$FAKE" "$1" "$body" <<'PY'
import json, sys, urllib.request
url, name, body = sys.argv[1:4]
req = urllib.request.Request(f"{url}/_control/{name}", data=body.encode(), method="POST",
                             headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=10) as r:
    print(json.dumps(json.loads(r.read())))
PY
}

# signed_account <key> <secret>: a signed GET /api/v3/account on the fake; prints
# "<http status> <binance code>"
signed_account() {
    "$PY" - "$FAKE" "$1" "$2" <<'PY'
import hashlib, hmac, json, sys, time, urllib.error, urllib.request
url, key, secret = sys.argv[1:4]
query = f"timestamp={int(time.time() * 1000)}&recvWindow=5000"
sig = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
req = urllib.request.Request(f"{url}/api/v3/account?{query}&signature={sig}",
                             headers={"X-MBX-APIKEY": key})
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        print(r.status, 0)
except urllib.error.HTTPError as e:
    print(e.code, json.loads(e.read() or b"{}").get("code"))
PY
}

# fp <key>: how the fake's request log names a key
fp() { "$PY" -c 'import hashlib,sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest()[:12])' "$1"; }
OLD_FP="$(fp "$OLD_KEY")"
NEW_FP="$(fp "$NEW_KEY")"

# orders_by <fp> [since]: POST /api/v3/order accepted (200) for that key since a request index
orders_by() {
    ctl requests | "$PY" -c 'import json,sys
reqs = json.loads(sys.stdin.read())
fp, since = sys.argv[1], int(sys.argv[2])
print(sum(1 for r in reqs[since:] if r["method"] == "POST" and r["path"] == "/api/v3/order"
          and r["status"] == 200 and r.get("api_key_fp") == fp))' "$1" "${2:-0}"
}
# audited <event> [key=value ...]: the audit log has such an entry (ops/audit_has.py)
audited() { "$PY" ops/audit_has.py "$TRADEWARDEN_STATE_DIR/audit" "$@"; }
traded_with() { (("$(orders_by "$1" "${2:-0}")" >= 1)); } # for wait_for (evaluated each try)
no_open_orders() { (("$(open_on_fake)" == 0)); }
request_count() { ctl requests | "$PY" -c 'import json,sys; print(len(json.loads(sys.stdin.read())))'; }
open_on_fake() { ctl open_orders | "$PY" -c 'import json,sys; print(len(json.loads(sys.stdin.read())))'; }

echo "tradewarden key-leak drill (testnet on the fake Binance, local stand-ins) in $WORK"
echo

STEP=1
echo "== step 1: the fake Binance with the old key, the old key in the credential file, a testnet daemon"
"$PY" -m tests.fakes.binance --port 0 --api-key "$OLD_KEY" --api-secret "$OLD_SECRET" \
    --symbols '{"BTCUSDT": {"price": 30000.0, "tick": 0.01, "step": 0.00001, "min_qty": 0.00001, "min_notional": 5.0}}' \
    --balances '{"USDT": 10000.0, "BTC": 0.0}' >"$WORK/fake.log" 2>&1 &
FAKE_PID=$!
wait_for "the fake Binance" grep -q "^fake binance: http" "$WORK/fake.log"
FAKE="$(sed -n 's/^fake binance: \(http[^ ]*\) .*/\1/p' "$WORK/fake.log")"
WAVE="$("$PY" -c 'import json, math
print(json.dumps([round(30000 * (1 + 0.01 * math.sin(2 * math.pi * i / 60)), 2) for i in range(60)]))')"
ctl price_path "{\"symbol\": \"BTCUSDT\", \"prices\": $WAVE, \"loop\": true}" >/dev/null
ctl auto_step '{"interval_ms": 100}' >/dev/null
export TRADEWARDEN_MODE=testnet
export TRADEWARDEN_BINANCE_BASE_URL="$FAKE"
export TRADEWARDEN_SYMBOLS=BTCUSDT
export TRADEWARDEN_BOTS=b1:BTCUSDT:ma_cross
export TRADEWARDEN_POLL_INTERVAL_SECONDS=0.1
# streams are on by default: the strategy decides on closed klines, so 1s candles keep the
# drill short (the default 1m would leave it waiting minutes for its first order)
export TRADEWARDEN_KLINE_INTERVAL=1s
export TRADEWARDEN_RECONCILE_INTERVAL_SECONDS=1
export TRADEWARDEN_REQUEST_TIMEOUT_SECONDS=1
export TRADEWARDEN_RECV_WINDOW_MS=1000
export TRADEWARDEN_SECRET_SOURCE=file
export TRADEWARDEN_CREDENTIAL_FILE="$WORK/credentials.enc"
BINANCE_CREDENTIAL_KEY="$("$PY" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
export BINANCE_CREDENTIAL_KEY
printf '{"api_key": "%s", "api_secret": "%s"}' "$OLD_KEY" "$OLD_SECRET" |
    "${TW[@]}" secrets put trade --scope testnet >"$WORK/put.log" 2>&1 || fail "secrets put: $(cat "$WORK/put.log")"
start_daemon
wait_for "the daemon trading with the old key" traded_with "$OLD_FP"
ok "daemon pid $DAEMON_PID ready on $FAKE, $(orders_by "$OLD_FP") order(s) placed with the old key (fp $OLD_FP)"

STEP=2
echo "== step 2 (symptom): someone uses the leaked key: an order we did not place"
ctl foreign_order '{"symbol": "BTCUSDT", "side": "BUY", "qty": 0.001, "price": 20000.0}' | sed 's/^/    /'
# both lines: the daemon logs the finding before its console prints the alert, and the
# alert line is what is shown below (under load the two can be a moment apart)
alerted() {
    grep -q "was not placed by tradewarden" "$WORK/daemon.log" &&
        grep -q 'ALERT \[CRITICAL\] Security: ' "$WORK/daemon.log"
}
wait_for "the foreign-order alert" alerted
grep -m1 -o 'ALERT \[CRITICAL\] Security: [^|]*' "$WORK/daemon.log" | sed 's/^/    /'
ok "the daemon raised the critical foreign-order alert (the runbook's symptom)"

STEP=3
echo "== step 3 (runbook, first five minutes 1): halt first, while the key still cancels"
# DRILL_HALT_FAULT='{"kind": ..., "path": ...}': a fake-Binance fault from the halt on (a
# rehearsal of a halt whose cancel does not get through: the drill must fail here)
[[ -z "${DRILL_HALT_FAULT:-}" ]] || ctl fault "$DRILL_HALT_FAULT" >/dev/null
BEFORE_HALT="$(request_count)"
run 0 tw halt --reason "drill: suspected key leak"
[[ "$OUT" == *"applied by the running daemon"* ]] || fail "the running daemon did not apply the halt"
# The halt's own cancel, not an earlier one: the reconciliation may already have halted and
# cancelled the foreign order, so "Open orders: 0" alone proves nothing. Every DELETE
# /api/v3/openOrders since the halt was signed with the old key and answered: 200 or -2011
# (nothing open to cancel).
CANCELS="$(ctl requests | "$PY" -c 'import json,sys
reqs = json.loads(sys.stdin.read())[int(sys.argv[1]):]
dels = [r for r in reqs if r["method"] == "DELETE" and r["path"] == "/api/v3/openOrders"]
good = [r for r in dels if r.get("api_key_fp") == sys.argv[2]
        and (r["status"] == 200 or r.get("code") == -2011)]
print(len(dels), len(good))' "$BEFORE_HALT" "$OLD_FP")"
read -r N_CANCELS N_ANSWERED <<<"$CANCELS"
echo "    the halt's cancel-all: $N_CANCELS request(s) to DELETE /api/v3/openOrders, $N_ANSWERED answered"
((N_CANCELS >= 1 && N_CANCELS == N_ANSWERED)) ||
    fail "the halt's cancel-all did not get through ($N_ANSWERED of $N_CANCELS answered)"
run 0 tw status
[[ "$OUT" == *"State:       HALTED"* ]] || fail "status is not HALTED"
[[ "$OUT" == *"Open orders: 0"* ]] || fail "open orders remain after the halt"
wait_for "no open order on the exchange" no_open_orders
HALTED_AT="$(request_count)"
ok "HALTED; the halt's cancel-all answered with the key still working; no open order left"

STEP=4
echo "== step 4 (runbook, first five minutes 2): revoke the key on Binance (API Management: delete)"
echo "\$ # on the fake Binance: POST /_control/remove_key"
ctl remove_key "{\"api_key\": \"$OLD_KEY\"}" | sed 's/^/    /'
read -r HTTP CODE <<<"$(signed_account "$OLD_KEY" "$OLD_SECRET")"
echo "    a signed GET /api/v3/account with the old key now answers $HTTP, code $CODE"
[[ "$HTTP" == 401 && "$CODE" == -2015 ]] || fail "the old key still works ($HTTP $CODE)"
ok "the old key is refused by the exchange (-2015)"

STEP=5
echo "== step 5 (runbook, diagnosis): status --json, audit verify, secrets check"
run 0 tw status --json
run 0 tw audit verify
run 0 tw secrets check
[[ "$OUT" == *"fp $(printf %s "$OLD_KEY" | sha256sum | cut -c61-64)"* ]] || fail "secrets check does not show the old key's fingerprint"
ok "state, chain and the (old) key's fingerprint read"

STEP=6
echo "== step 6 (runbook, fix 1): create a new key on Binance"
echo "\$ # on the fake Binance: POST /_control/add_key"
ctl add_key "{\"api_key\": \"$NEW_KEY\", \"api_secret\": \"$NEW_SECRET\"}" | sed 's/^/    /'
ok "the new key exists on the exchange"

STEP=7
echo "== step 7 (runbook, fix 2): tradewarden secrets rotate trade --prompt (hidden prompts)"
# setsid: no controlling terminal, so the hidden prompts read the typed lines from stdin
SHOW="tradewarden secrets rotate trade --prompt --scope testnet   # key and secret typed at the prompts"
run 0 setsid -w "${TW[@]}" secrets rotate trade --prompt --scope testnet \
    <<<"$(printf '%s\n%s\n' "$NEW_KEY" "$NEW_SECRET")"
[[ "$OUT" == *"verified: account readable at $FAKE"* ]] || fail "rotate did not verify the new key on the exchange"
[[ "$OUT" != *"$NEW_SECRET"* && "$OUT" != *"$NEW_KEY"* ]] || fail "rotate printed the key or secret"
NEW4="$(printf %s "$NEW_KEY" | sha256sum | cut -c61-64)"
[[ "$OUT" == *"key fp $NEW4"* ]] || fail "rotate does not name the new key's fingerprint $NEW4"
ok "the new key was verified on the exchange, then made current (fp $NEW4)"

STEP=8
echo "== step 8 (runbook, fix 3): secrets check, diagnose, audit verify"
run 0 tw secrets check
[[ "$OUT" == *"fp $NEW4"* ]] || fail "secrets check does not show the new fingerprint"
run 1 tw diagnose
[[ "$OUT" == *"FAIL  trading state"* ]] || fail "diagnose does not show the halt"
run 0 tw audit verify
audited secret_rotated role=trade "fingerprint=$NEW4" || fail "the rotation is not in the audit log"
[[ "$(orders_by "$OLD_FP" "$HALTED_AT")$(orders_by "$NEW_FP" "$HALTED_AT")" == 00 ]] ||
    fail "an order was placed while HALTED"
ok "new fingerprint current, the rotation audited, nothing placed while halted"

STEP=9
echo "== step 9 (runbook, fix 4): reset after the order review"
BEFORE_RESET="$(request_count)"
run 0 tw reset --reason "drill: key leak: old key revoked, new key verified, orders reviewed" --all --yes
[[ "$OUT" == *"applied by the running daemon"* ]] || fail "the running daemon did not apply the reset"
wait_for "an order with the new key" traded_with "$NEW_FP" "$BEFORE_RESET"
[[ "$(orders_by "$OLD_FP" "$BEFORE_RESET")" == 0 ]] || fail "an order went out with the old key"
ok "trading again, with the new key only ($(orders_by "$NEW_FP" "$BEFORE_RESET") order(s), fp $NEW_FP)"

STEP=10
echo "== step 10 (runbook, verify): status, audit verify shows halt, rotation and reset"
run 0 tw status
[[ "$OUT" == *"State:       ACTIVE"* ]] || fail "not ACTIVE after the reset"
run 0 tw audit verify
audited halt "reason=drill: suspected key leak" || fail "no halt entry for the responder's halt"
audited secret_rotated "fingerprint=$NEW4" || fail "no secret_rotated entry"
audited reset || fail "no reset entry"
ok "ACTIVE; the audit chain holds the halt, the rotation and the reset"

STEP=11
echo "== step 11: stop the daemon (SIGTERM)"
stop_daemon
ok "daemon stopped cleanly"

echo "key-leak drill passed: $STEP steps"
