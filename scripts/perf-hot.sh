#!/usr/bin/env bash
# perf profiles of the HTTP hot path: the top symbols (self time) of the release server while
# wrk loads GET /health/liveness, then warm GET /posts?limit=20 (and of the ceiling with CEILING=1).
#
#   scripts/perf-hot.sh [OUTDIR]           # default target/perf-hot; needs perf and wrk
#
# Loopback only, each load bounded (wrk 12 s, perf 8 s). Writes <name>.top (the first 40 lines
# of `perf report --no-children --sort symbol`), <name>.wrk and <name>.data per URL.
set -eu
cd "$(dirname "$0")/.."
OUT=${1:-target/perf-hot}
BIN=${BIN:-target/release/socialscale}
CEILING_BIN=${CEILING_BIN:-target/release/socialscale-ceiling}
PORT=${PORT:-3392}
mkdir -p "$OUT"
work=$(mktemp -d)
export DATABASE_URL=sqlite://$work/perf.db PORT HOST=127.0.0.1 LOG_LEVEL=warn
export JWT_SECRET=${JWT_SECRET:-bench-secret-bench-secret-bench-secret}
export RATE_LIMIT_GENERAL=1000000000/1s RATE_LIMIT_POST=1000000000/1s
export RATE_LIMIT_LOGIN=1000000000/1s RATE_LIMIT_SIGNUP=1000000000/1s
"$BIN" seed --users 1000 --posts 20000 --follows 20 >/dev/null 2>&1

profile() { # name pid url
  wrk -t2 -c64 -d12s "$3" >"$OUT/$1.wrk" &
  local load=$!
  sleep 1
  perf record -q -g -p "$2" -o "$OUT/$1.data" -- sleep 8 2>/dev/null
  wait "$load"
  perf report -i "$OUT/$1.data" --no-children --sort symbol -g none 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | sed -E 's/ +-? +-? *$//; s/  +/ /g' | head -40 >"$OUT/$1.top" || true
  echo "$1: $(awk '/Requests\/sec/ {print $2}' "$OUT/$1.wrk") req/s under perf; top symbols in $OUT/$1.top"
}

"$BIN" >"$work/server.log" 2>&1 &
pid=$!
trap 'kill "$pid" ${ceiling:-} 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "127.0.0.1:$PORT/health/liveness" >/dev/null && break; sleep 0.1; done
curl -sf "127.0.0.1:$PORT/posts?limit=20" >/dev/null
profile liveness "$pid" "http://127.0.0.1:$PORT/health/liveness"
profile posts "$pid" "http://127.0.0.1:$PORT/posts?limit=20"
if [ "${CEILING:-0}" = 1 ]; then
  "$CEILING_BIN" "127.0.0.1:$((PORT + 1))" &
  ceiling=$!
  for _ in $(seq 100); do curl -sf "127.0.0.1:$((PORT + 1))/" >/dev/null && break; sleep 0.1; done
  profile ceiling "$ceiling" "http://127.0.0.1:$((PORT + 1))/"
fi
