#!/usr/bin/env bash
# Live streams (issue #13): $STREAMS open GET /stream connections on ONE instance, every one a
# follower of one author, on the embedded default (SQLite, the live log in the process) and on
# PostgreSQL with REDIS_URL (the live log in a Redis stream). Per backend, socialscale-streams
# reports the server's RSS per open stream and the latency from each of $POSTS posts' 201 to
# its `post` event on every stream (p50/p99/max over all deliveries, and per post the last
# stream's).
#
#   cargo build --release -p server -p loadtest && scripts/bench-stream.sh   # about 5 minutes
#   STREAMS=1000 scripts/bench-stream.sh
#   BACKENDS=postgres KEEP_DB=1 scripts/bench-stream.sh
#   CONNS=20000 scripts/bench-stream.sh                  # HTTP_MAX_CONNECTIONS
#
# The followers are seeded in bulk (`socialscale seed --users $STREAMS --follows 0 --posts 0`,
# no argon2 per account); the tool signs up the author and makes each follower follow it
# through the API with a token signed with the server's JWT_SECRET. Needs sqlite3, psql,
# redis-cli and curl; PostgreSQL on PG_ADMIN (a role that may CREATE DATABASE; a fresh database
# per run, dropped unless KEEP_DB=1) and Redis on REDIS_URL (keys under a prefix unique to the
# run, deleted at the end; never flushed). Everything targets 127.0.0.1; every run of the tool
# is bounded by RUN_TIMEOUT seconds and the server is stopped after each backend.
set -euo pipefail
cd "$(dirname "$0")/.."

STREAMS=${STREAMS:-10000}
POSTS=${POSTS:-20}
INTERVAL=${INTERVAL:-500ms}
BATCH=${BATCH:-250}
BACKENDS=${BACKENDS:-"sqlite postgres"}
RUN_TIMEOUT=${RUN_TIMEOUT:-900}
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
REDIS=${REDIS_URL:-redis://127.0.0.1:6379}
PORT=${PORT:-3394}
BIN=${BIN:-target/release/socialscale}
TOOL=${TOOL:-target/release/socialscale-streams}
RUN=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-bench-results/streams-$RUN}
PREFIX="streams${RUN}x$RANDOM:"
SECRET=bench-secret-bench-secret-bench-secret
for tool in "$BIN" "$TOOL"; do
  [ -x "$tool" ] || { echo "build first: cargo build --release -p server -p loadtest"; exit 1; }
done
for tool in sqlite3 psql redis-cli curl timeout; do
  command -v "$tool" >/dev/null || { echo "$tool is needed"; exit 1; }
done
# Both ends hold one descriptor per stream: the server (which raises its own soft limit to
# what HTTP_MAX_CONNECTIONS needs) and the tool run from this shell.
ulimit -n "$(ulimit -Hn)"
# The stream cap is the number of streams; the connection cap leaves 1,000 more for the author,
# probes and setup (the server refuses a stream cap not below it), and the server keeps 256
# more descriptors for itself (crates/server/src/listener/fd_limit.rs).
CONNS=${CONNS:-$((STREAMS + 1000))}
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((CONNS + 256)) ]; then
  echo "the open-file hard limit $(ulimit -Hn) is below the $((CONNS + 256)) that $STREAMS streams need"
  exit 1
fi
mkdir -p "$OUT"
work=$(mktemp -d)
URL="http://127.0.0.1:$PORT"

pid=
made_db=
stop_server() {
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
}
drop_db() {
  [ -n "$made_db" ] || return 0
  if [ -n "${KEEP_DB:-}" ]; then
    echo "database kept: ${PG_ADMIN%/*}/$made_db"
  else
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $made_db WITH (FORCE)" >/dev/null || true
  fi
  made_db=
}
cleanup() {
  stop_server
  drop_db
  redis-cli -u "$REDIS" --scan --pattern "${PREFIX}*" 2>/dev/null \
    | xargs -r -n 500 redis-cli -u "$REDIS" unlink >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

start_server() { # label database-url [redis-url]
  local label=$1 db=$2 redis=${3:-}
  if curl -s -o /dev/null "$URL/health/liveness"; then
    echo "something already listens on 127.0.0.1:$PORT; set PORT"
    exit 1
  fi
  env PORT="$PORT" HOST=127.0.0.1 LOG_LEVEL=warn DATABASE_URL="$db" JWT_SECRET=$SECRET \
    ${redis:+REDIS_URL="$redis" REDIS_KEY_PREFIX="$PREFIX"} \
    HTTP_MAX_CONNECTIONS=$CONNS STREAM_MAX_CONNECTIONS=$STREAMS SHUTDOWN_GRACE_SECONDS=5 \
    RATE_LIMIT_GENERAL=100000000/30s RATE_LIMIT_POST=100000000/30s \
    RATE_LIMIT_SIGNUP=100000000/60s "$BIN" >"$OUT/server-$label.log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do
    curl -sf "$URL/health/liveness" >/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "server $label did not start; see $OUT/server-$label.log"
  tail -5 "$OUT/server-$label.log"
  exit 1
}

measure() { # label: runs the tool against the running server; its exit status is reported
  local label=$1 status=0
  timeout -k 10 "$RUN_TIMEOUT" "$TOOL" --url "$URL" --followers "$work/followers-$label.txt" \
    --secret "$SECRET" --pid "$pid" --posts "$POSTS" --interval "$INTERVAL" --batch "$BATCH" \
    --label "$label, $STREAMS streams" --json "$OUT/$label.json" \
    2>"$OUT/tool-$label.log" | tee "$OUT/$label.txt" || status=$?
  [ "$status" = 0 ] || echo "socialscale-streams exited $status; see $OUT/tool-$label.log"
  curl -s "$URL/metrics" | grep -E '^(stream_|http_connections_refused|process_)' \
    >"$OUT/metrics-$label.txt" || true
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr); the tool" \
  "runs on the same cores; open files $(ulimit -n); results in $OUT"

for backend in $BACKENDS; do
  case $backend in
  sqlite)
    db="sqlite://$work/streams.db"
    "$BIN" seed --users "$STREAMS" --follows 0 --posts 0 --database-url "$db" \
      >"$OUT/seed-sqlite.txt" 2>&1
    sqlite3 "$work/streams.db" "SELECT id FROM users" >"$work/followers-sqlite.txt"
    start_server sqlite "$db"
    measure sqlite
    stop_server
    ;;
  postgres)
    made_db=ss_streams_$(date -u +%H%M%S)_$RANDOM
    psql "$PG_ADMIN" -qc "CREATE DATABASE $made_db" >/dev/null
    db="${PG_ADMIN%/*}/$made_db"
    "$BIN" seed --users "$STREAMS" --follows 0 --posts 0 --database-url "$db" \
      >"$OUT/seed-postgres.txt" 2>&1
    psql "$db" -Atqc "SELECT id FROM users" >"$work/followers-postgres.txt"
    start_server postgres "$db" "$REDIS"
    measure postgres
    stop_server
    drop_db
    ;;
  *)
    echo "unknown backend $backend (sqlite, postgres)"
    exit 1
    ;;
  esac
done
