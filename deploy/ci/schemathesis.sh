#!/usr/bin/env bash
# The OpenAPI document against the server it describes: schemathesis (PyPI, pinned in
# deploy/ci/schemathesis-requirements.txt, installed into target/schemathesis-venv) runs every
# check and all four phases — examples, coverage, fuzzing, stateful — against a release build
# started here on a free loopback port with a fresh SQLite database, signed in as a user this
# script signs up (deploy/ci/schemathesis.toml). Any failure fails the run.
#
#   deploy/ci/schemathesis.sh                              # builds target/release/socialscale
#   BIN=target/debug/socialscale deploy/ci/schemathesis.sh # any binary, nothing built
#   MAX_EXAMPLES=200 SEED=42 deploy/ci/schemathesis.sh     # more cases; replay a run's seed
#
# The rate limits are raised far above what the run sends, so that it tests the API rather
# than the limiter (the 429s are in the document all the same), and so is the password-hashing
# wait, so that a burst of signups queues instead of being answered 503.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=${VENV:-target/schemathesis-venv}
REQUIREMENTS=deploy/ci/schemathesis-requirements.txt
MAX_EXAMPLES=${MAX_EXAMPLES:-30}
# Bounds the whole schemathesis run, whatever it meets.
RUN_TIMEOUT=${RUN_TIMEOUT:-900}

log() { printf 'schemathesis.sh: %s\n' "$*"; }
fail() {
  printf 'schemathesis.sh: FAIL: %s\n' "$*" >&2
  exit 1
}

# ---- the tool ---------------------------------------------------------------------------------
if ! cmp -s "$REQUIREMENTS" "$VENV/requirements.txt" 2>/dev/null; then
  python3 -c 'import ensurepip' 2>/dev/null || {
    # Debian's python3 ships venv without ensurepip; python3-venv adds it.
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  }
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  cp "$REQUIREMENTS" "$VENV/requirements.txt"
fi
log "$("$VENV/bin/st" --version)"

# ---- the server -------------------------------------------------------------------------------
if [ -z "${BIN:-}" ]; then
  cargo build --release --locked -p server --bin socialscale
  BIN=target/release/socialscale
fi
[ -x "$BIN" ] || fail "no binary at $BIN"

tmp=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    # The drain waits for requests in flight; none are left by now.
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  if [ -n "${KEEP_SERVER_LOG:-}" ]; then cp "$tmp/server.log" "$KEEP_SERVER_LOG"; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
generous=1000000/1s
env HOST=127.0.0.1 PORT="$port" APP_ENV=development \
  DATABASE_URL="sqlite://$tmp/schemathesis.db" \
  JWT_SECRET="$(head -c 48 /dev/urandom | base64 | tr -d '\n')" \
  LOG_LEVEL=${SERVER_LOG_LEVEL:-warn} LOG_FORMAT=json SHUTDOWN_GRACE_SECONDS=5 \
  RATE_LIMIT_GENERAL=$generous RATE_LIMIT_POST=$generous RATE_LIMIT_LOGIN=$generous \
  RATE_LIMIT_SIGNUP=$generous RATE_LIMIT_API_KEY=$generous \
  RATE_LIMIT_LOGIN_FAILURES=$generous RATE_LIMIT_LOGIN_FAILURES_ACCOUNT=$generous \
  HASH_QUEUE=100000 HASH_WAIT_MS=600000 \
  "$BIN" serve >"$tmp/server.log" 2>&1 &
server_pid=$!

ready=
for _ in $(seq 150); do
  kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log" >&2; fail "the server exited at start-up"; }
  if curl -fsS -m 2 "$base/health/readiness" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.2
done
[ -n "$ready" ] || { cat "$tmp/server.log" >&2; fail "the server was not ready within 30 s"; }
log "server $BIN ready on $base"

# The user whose token the run uses (deploy/ci/schemathesis.toml logs in as it).
export SCHEMATHESIS_EMAIL=schemathesis@example.com
SCHEMATHESIS_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '\n')
export SCHEMATHESIS_PASSWORD
signup=$(python3 -c 'import json, os; print(json.dumps({"email": os.environ["SCHEMATHESIS_EMAIL"],
  "password": os.environ["SCHEMATHESIS_PASSWORD"], "username": "schemathesis", "name": "Schemathesis"}))')
status=$(curl -sS -m 30 -o "$tmp/signup.json" -w '%{http_code}' -H 'content-type: application/json' \
  -d "$signup" "$base/auth/signup")
[ "$status" = 201 ] || fail "signup answered $status: $(cat "$tmp/signup.json")"

# ---- the run ----------------------------------------------------------------------------------
seed_args=()
[ -z "${SEED:-}" ] || seed_args=(--seed "$SEED")
started=$SECONDS
rc=0
timeout --kill-after=10 "$RUN_TIMEOUT" \
  "$VENV/bin/st" --config-file deploy/ci/schemathesis.toml run "$base/openapi.json" \
  --checks all --phases "${PHASES:-examples,coverage,fuzzing,stateful}" \
  --max-examples "$MAX_EXAMPLES" --workers 1 --request-timeout 30 \
  --report junit --report-junit-path "$tmp/junit.xml" \
  --no-color "${seed_args[@]}" || rc=$?
log "the run took $((SECONDS - started)) s"

if [ -f "$tmp/junit.xml" ]; then
  # One JUnit test case per operation and phase; a case with a failure or error failed.
  "$VENV/bin/python" - "$tmp/junit.xml" <<'PY'
import sys
import xml.etree.ElementTree as ET

cases = ET.parse(sys.argv[1]).getroot().iter("testcase")
passed = failed = skipped = 0
for case in cases:
    if case.find("failure") is not None or case.find("error") is not None:
        failed += 1
    elif case.find("skipped") is not None:
        skipped += 1
    else:
        passed += 1
print(f"schemathesis: {passed} passed, {failed} failed, {skipped} skipped")
PY
fi
if ! kill -0 "$server_pid" 2>/dev/null; then
  cat "$tmp/server.log" >&2
  fail "the server died during the run"
fi
if grep -q '"level":"ERROR"' "$tmp/server.log"; then
  grep '"level":"ERROR"' "$tmp/server.log" | head -20 >&2
  fail "the server logged errors during the run"
fi
if [ "$rc" != 0 ]; then
  log "the server's log (warnings and errors), last 40 lines:"
  tail -n 40 "$tmp/server.log" >&2
fi
case $rc in
  0) log "0 failures" ;;
  124 | 137) fail "schemathesis did not finish within ${RUN_TIMEOUT} s" ;;
  *) fail "schemathesis exited $rc (failures above)" ;;
esac
