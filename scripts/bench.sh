#!/usr/bin/env bash
# Loopback benchmark of one server against the HTTP ceiling, with wrk.
#
#   scripts/bench.sh                       # SQLite, defaults below
#   DURATION=20 CONNECTIONS=64 scripts/bench.sh
#   DATABASE_URL=postgres://… REDIS_URL=redis://… scripts/bench.sh   # any backend the binary takes
#   ENDPOINTS="liveness posts" scripts/bench.sh                      # a subset of the rows
#
# First row: the ceiling, a bare axum server answering a fixed small JSON body
# (`socialscale-ceiling`, crates/loadtest/src/bin/ceiling.rs) on the same machine in the same
# minutes; every other row is also printed as a fraction of it. With `posts` among the endpoints
# a second ceiling row answers a body as large as that page, for context. Only ever targets 127.0.0.1;
# every wrk run is bounded by DURATION. Prints one table row per endpoint (requests/s, share of
# the ceiling, p50, p99, non-2xx, and the server's CPU time per request) and the server's RSS
# at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
PORT=${PORT:-3390}
USERS=${USERS:-1000}
POSTS=${POSTS:-100000}
CEILING_PORT=${CEILING_PORT:-3391}
BIN=${BIN:-target/release/socialscale}
CEILING_BIN=${CEILING_BIN:-target/release/socialscale-ceiling}
ENDPOINTS=${ENDPOINTS:-"liveness posts user_posts me post"}
[ -x "$BIN" ] || { echo "build first: cargo build --release (or set BIN)"; exit 1; }
[ -x "$CEILING_BIN" ] || cargo build --release -q -p loadtest --bin socialscale-ceiling
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk"; exit 1; }

# Refuse to measure someone else's server: waiting for the port to answer would accept it.
for p in "$PORT" "$CEILING_PORT"; do
  if curl -s -o /dev/null --max-time 1 "127.0.0.1:$p/"; then
    echo "port $p already answers: stop that server or set PORT / CEILING_PORT"; exit 1
  fi
done

work=$(mktemp -d)
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
trap 'stop "${pid:-}"; stop "${ceiling_pid:-}"; rm -rf "$work"' EXIT
export DATABASE_URL=${DATABASE_URL:-sqlite://$work/bench.db}
export PORT HOST=127.0.0.1 LOG_LEVEL=${LOG_LEVEL:-warn}
export JWT_SECRET=${JWT_SECRET:-bench-secret-bench-secret-bench-secret}
# Limits out of the way: this measures the server, not the limiter's 429s.
export RATE_LIMIT_GENERAL=1000000000/1s RATE_LIMIT_POST=1000000000/1s
export RATE_LIMIT_LOGIN=1000000000/1s RATE_LIMIT_SIGNUP=1000000000/1s

echo "seeding $USERS users, $POSTS posts into ${DATABASE_URL%%\?*}"
seeded=$("$BIN" seed --users "$USERS" --posts "$POSTS" --follows 20 | tail -1)
echo "$seeded"
ordinary=$(sed -E 's/.*ordinary account ([^ ]+) .*/\1/' <<<"$seeded")
"$BIN" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "127.0.0.1:$PORT/health/liveness" >/dev/null && break; sleep 0.1; done
TOKEN=$(curl -sf -X POST "127.0.0.1:$PORT/auth/signup" -H 'content-type: application/json' \
  -d "{\"email\":\"bench$RANDOM@example.com\",\"password\":\"bench-password\",\"username\":\"bench$RANDOM\"}" \
  | sed -E 's/.*"token":"([^"]+)".*/\1/')
export TOKEN
# Reads use the seed's "ordinary account" (followers near the median, follows near the mean,
# has posts), so its timeline and feed are representative; the fresh account above only writes.
seed_login=$(curl -sf -X POST "127.0.0.1:$PORT/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"$ordinary\",\"password\":\"seed-password\"}")
SEED_TOKEN=$(sed -E 's/.*"token":"([^"]+)".*/\1/' <<<"$seed_login")
USER_ID=$(sed -E 's/.*"user":\{"id":"([^"]+)".*/\1/' <<<"$seed_login")

ceiling_rps=
run() { # name url [lua]
  local name=$1 url=$2 script=${3:-}
  local args=(-t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency)
  [ -n "$script" ] && args+=(-s "$script")
  local cpu_before; cpu_before=$(cpu_ticks "$target_pid")
  local out; out=$(wrk "${args[@]}" "$url")
  local cpu_after; cpu_after=$(cpu_ticks "$target_pid")
  local rps p50 p99 errors share requests cpu
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  # The server's own CPU time per request (user + system, all its threads): unlike req/s it
  # does not depend on how the two cores were shared with wrk and everything else that minute.
  cpu=$(awk -v t=$((cpu_after - cpu_before)) -v n="$requests" -v hz="$HZ" \
    'BEGIN {printf "%.1f", (n > 0 ? 1e6 * t / hz / n : 0)}')
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  [ -n "$ceiling_rps" ] || ceiling_rps=$rps
  share=$(awk -v r="$rps" -v c="$ceiling_rps" 'BEGIN {printf "%.0f%%", 100 * r / c}')
  printf '| %-28s | %10s | %5s | %8s | %8s | %6s | %6s |\n' "$name" "$rps" "$share" "$p50" "$p99" "${errors:-0}" "$cpu"
}
HZ=$(getconf CLK_TCK)
# utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/<pid>/stat; the name
# in field 2 has no spaces here).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

echo
echo "| endpoint ($CONNECTIONS conns, ${DURATION}s) | req/s | of ceiling | p50 | p99 | non-2xx | server CPU µs/req |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
# The ceiling first: the same wrk against a server that does no work of ours.
"$CEILING_BIN" "127.0.0.1:$CEILING_PORT" &
ceiling_pid=$!
target_pid=$ceiling_pid
for _ in $(seq 100); do curl -sf "127.0.0.1:$CEILING_PORT/" >/dev/null && break; sleep 0.1; done
run "ceiling (bare axum, fixed JSON)" "http://127.0.0.1:$CEILING_PORT/"
base="http://127.0.0.1:$PORT"
# For context, not a fraction anything is divided by: the ceiling answering a body as large as
# a warm page of 20 posts, so the table shows how much of a page's cost is moving its bytes.
case " $ENDPOINTS " in
  *" posts "*)
    page_bytes=$(curl -sf "$base/posts?limit=20" | wc -c)
    run "ceiling, ${page_bytes}-byte body (= GET /posts)" "http://127.0.0.1:$CEILING_PORT/bytes/$page_bytes" ;;
esac
stop "$ceiling_pid"
target_pid=$pid
for e in $ENDPOINTS; do
  case $e in
    liveness) run "GET /health/liveness" "$base/health/liveness" ;;
    posts) curl -sf "$base/posts?limit=20" >/dev/null; run "GET /posts?limit=20 (warm)" "$base/posts?limit=20" ;;
    post) run "POST /posts" "$base/posts" scripts/wrk/post.lua ;;
    user_posts) curl -sf "$base/users/$USER_ID/posts?limit=20" >/dev/null
      run "GET /users/:id/posts (warm)" "$base/users/$USER_ID/posts?limit=20" ;;
    me) TOKEN=$SEED_TOKEN run "GET /users/me (auth)" "$base/users/me" scripts/wrk/get_auth.lua ;;
    feed) TOKEN=$SEED_TOKEN run "GET /feed" "$base/feed?limit=20" scripts/wrk/get_auth.lua ;;
    *) echo "unknown endpoint $e"; exit 1 ;;
  esac
done
echo
echo "server RSS: $(( $(ps -o rss= -p "$pid") / 1024 )) MiB"
