#!/usr/bin/env bash
# The original project's user journey at VUS virtual users on the embedded default (SQLite),
# with and without its auth steps, and the server's memory through it (issue #10: login
# storms and memory).
#
#   scripts/bench-journey.sh                          # 1,000 VUs, both modes, current settings
#   VUS=200 MODES=auth scripts/bench-journey.sh       # smaller, the journey with auth only
#   SERVER_ENV="HASH_NICE=0 HASH_CONCURRENCY=1" LABEL=one-thread scripts/bench-journey.sh
#   BIN=/path/to/older/socialscale LABEL=before scripts/bench-journey.sh
#
# Modes: `auth` is the journey as the original project ran it (each VU signs two accounts up
# and logs in, then loops); `noauth` is the same journey with `--no-auth-steps` (the accounts
# are made before the stages, so the load has no password hashing): the baseline the
# non-auth steps' p99 is compared with. Per mode it prints every step's p50/p99 and errors,
# and the server's RSS before the load, at its peak (VmHWM) and SETTLE seconds after the
# load; RSS is also sampled every half second into $OUT/<label>-<mode>-rss.tsv.
# Only ever targets 127.0.0.1; every run is bounded by the stages plus the load tool's drain.
set -euo pipefail
cd "$(dirname "$0")/.."

VUS=${VUS:-1000}
# k6-basic's ramp, hold, ramp down, scaled to the VU count (as scripts/bench-scale.sh).
STAGES=${STAGES:-"30s:$VUS,1m:$VUS,30s:0"}
MODES=${MODES:-"auth noauth"}
PORT=${PORT:-3392}
SETTLE=${SETTLE:-10}
LABEL=${LABEL:-current}
SERVER_ENV=${SERVER_ENV:-}
BIN=${BIN:-target/release/socialscale}
LOAD=${LOAD:-target/release/socialscale-load}
OUT=${OUT:-bench-results/journey-$(date -u +%Y%m%dT%H%M%SZ)}
for tool in "$BIN" "$LOAD"; do
  [ -x "$tool" ] || { echo "build first: cargo build --release -p server -p loadtest"; exit 1; }
done
command -v jq >/dev/null || { echo "jq is needed: apt-get install jq"; exit 1; }
# Refuse to measure someone else's server: waiting for the port to answer would accept it.
if curl -s -o /dev/null --max-time 1 "127.0.0.1:$PORT/"; then
  echo "port $PORT already answers: stop that server or set PORT"; exit 1
fi
mkdir -p "$OUT"
# Every virtual user holds a socket on each side of loopback.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

pid= sampler=
# Not `[ -n ] && …`: under `set -e` a false test ends the EXIT trap early, exit status 1 and the
# database left behind.
stop() { if [ -n "$1" ]; then kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; fi; }
trap 'stop "$sampler"; stop "$pid"; rm -f "$OUT"/journey.db*' EXIT
status_kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.0f MiB", k / 1024}'; }
# The allocator's figures from /metrics (process_heap_bytes), to tell what the server holds
# (allocated) from what the allocator keeps (resident) and from memory outside it (RSS).
heap() {
  curl -sf "127.0.0.1:$PORT/metrics" | awk '/^process_heap_bytes\{kind="(allocated|resident)"\}/ {
    split($1, a, "\""); printf "%s %.0f MiB ", a[2], $2 / 1048576 }'
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)"
echo "binary: $BIN; settings: ${SERVER_ENV:-defaults}; results in $OUT"
for mode in $MODES; do
  rm -f "$OUT"/journey.db*
  # shellcheck disable=SC2086 # SERVER_ENV is a list of VAR=value words on purpose
  env $SERVER_ENV PORT="$PORT" HOST=127.0.0.1 LOG_LEVEL=warn TRUSTED_PROXIES=127.0.0.1 \
    DATABASE_URL="sqlite://$OUT/journey.db" JWT_SECRET=bench-secret-bench-secret-bench-secret \
    RATE_LIMIT_GENERAL=100000000/30s RATE_LIMIT_POST=100000000/30s \
    RATE_LIMIT_LOGIN=100000000/60s RATE_LIMIT_SIGNUP=100000000/60s \
    "$BIN" >"$OUT/server-$LABEL-$mode.log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do curl -sf "127.0.0.1:$PORT/health/liveness" >/dev/null && break; sleep 0.1; done
  curl -sf "127.0.0.1:$PORT/health/liveness" >/dev/null || { echo "server did not start"; exit 1; }
  baseline=$(status_kib VmRSS)
  heap_before=$(heap)
  (while kill -0 "$pid" 2>/dev/null; do
     printf '%s\t%s\n' "$(date +%s.%N | cut -c1-14)" "$(status_kib VmRSS)"; sleep 0.5
   done) >"$OUT/$LABEL-$mode-rss.tsv" 2>/dev/null &
  sampler=$!
  flags=()
  [ "$mode" = noauth ] && flags+=(--no-auth-steps --login-concurrency 8 --setup-timeout 10m)
  echo "== $(date -u +%H:%M:%S) $LABEL, $mode: journey $STAGES"
  "$LOAD" journey --url "http://127.0.0.1:$PORT" --stages "$STAGES" --quiet \
    "${flags[@]}" --json "$OUT/$LABEL-$mode.json" >"$OUT/$LABEL-$mode.txt" 2>&1 || true
  peak=$(status_kib VmHWM)
  sleep "$SETTLE"
  after=$(status_kib VmRSS) after_anon=$(status_kib RssAnon) after_file=$(status_kib RssFile)
  heap_after=$(heap)
  stop "$sampler"; sampler=
  stop "$pid"; pid=
  jq -r '"req/s \(.total.rps | floor), errors \(.total.errors) of \(.total.count)",
    (.steps[] | select(.count > 0) |
      "  \(.name): \(.count) requests, p50 \(.latency.p50_ms) ms, p99 \(.latency.p99_ms) ms, errors \(.errors) \(.errors_by_status)")' \
    "$OUT/$LABEL-$mode.json"
  echo "  server RSS: $(mib "$baseline") before, $(mib "$peak") peak, $(mib "$after") ${SETTLE}s after ($(mib "$after_anon") anonymous, $(mib "$after_file") file-backed: the binary's code pages)"
  echo "  heap: ${heap_before:-n/a}before; ${heap_after:-n/a}${SETTLE}s after"
done
if [[ " $MODES " == *" auth "* && " $MODES " == *" noauth "* ]]; then
  echo "non-auth steps' p99 with the auth steps / without:"
  jq -rn --slurpfile a "$OUT/$LABEL-auth.json" --slurpfile n "$OUT/$LABEL-noauth.json" '
    ($n[0].steps | map({key: .name, value: .latency.p99_ms}) | from_entries) as $base
    | $a[0].steps[]
    | select(.phase == "load" and .count > 0 and (.name | IN("signup", "login") | not))
    | select($base[.name] > 0)
    | "  \(.name): \(.latency.p99_ms) / \($base[.name]) ms = \(.latency.p99_ms / $base[.name] * 100 | round / 100)x"'
fi
