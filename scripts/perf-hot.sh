#!/usr/bin/env bash
# perf profiles of the HTTP hot path: the top symbols (self time) of the release server while
# wrk loads each of issue 9's four reads in turn: GET /health/liveness, warm GET /posts?limit=20,
# warm GET /users/:id/posts and GET /users/me with a token (and the ceiling with CEILING=1).
#
#   scripts/perf-hot.sh [OUTDIR]           # default target/perf-hot; needs perf and wrk
#   ENDPOINTS="liveness me" scripts/perf-hot.sh
#
# Loopback only, each load bounded (wrk 12 s, perf 8 s). Writes <name>.top (the first 40 lines
# of `perf report --no-children --sort symbol`), <name>.wrk and <name>.data per URL.
set -euo pipefail
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
seeded=$("$BIN" seed --users 1000 --posts 20000 --follows 20 2>/dev/null | tail -1)
ordinary=$(sed -E 's/.*ordinary account ([^ ]+) .*/\1/' <<<"$seeded")

profile() { # name pid url [wrk script]
  wrk -t2 -c64 -d12s ${4:+-s "$4"} "$3" >"$OUT/$1.wrk" &
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
base="http://127.0.0.1:$PORT"
# The seed's "ordinary account" reads, as in bench.sh.
login=$(curl -sf -X POST "$base/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"$ordinary\",\"password\":\"seed-password\"}")
export TOKEN; TOKEN=$(sed -E 's/.*"token":"([^"]+)".*/\1/' <<<"$login")
user=$(sed -E 's/.*"user":\{"id":"([^"]+)".*/\1/' <<<"$login")
for e in ${ENDPOINTS:-liveness posts user_posts me}; do
  case $e in
    liveness) profile liveness "$pid" "$base/health/liveness" ;;
    posts) curl -sf "$base/posts?limit=20" >/dev/null; profile posts "$pid" "$base/posts?limit=20" ;;
    user_posts) curl -sf "$base/users/$user/posts?limit=20" >/dev/null
      profile user_posts "$pid" "$base/users/$user/posts?limit=20" ;;
    me) profile me "$pid" "$base/users/me" scripts/wrk/get_auth.lua ;;
    *) echo "unknown endpoint $e"; exit 1 ;;
  esac
done
if [ "${CEILING:-0}" = 1 ]; then
  "$CEILING_BIN" "127.0.0.1:$((PORT + 1))" &
  ceiling=$!
  for _ in $(seq 100); do curl -sf "127.0.0.1:$((PORT + 1))/" >/dev/null && break; sleep 0.1; done
  profile ceiling "$ceiling" "http://127.0.0.1:$((PORT + 1))/"
fi
