#!/usr/bin/env bash
# Writes at 64 clients, all in the same minutes: the yardstick and the server.
#
#   1. pgbench, single-row INSERTs into a posts-shaped table (uuid id, uuid author, text,
#      timestamptz; primary key and (author, id) index) in a scratch database it creates and
#      drops: what the machine's PostgreSQL does with one transaction per row;
#   2. wrk POST /posts against the release binary on PostgreSQL (a fresh database);
#   3. the same on SQLite.
#
#   scripts/bench-writes.sh
#   DURATION=20 CLIENTS=64 BIN=target/release/socialscale scripts/bench-writes.sh
#
# Loopback only (PG_ADMIN_URL must name 127.0.0.1 or localhost); every run is bounded by
# DURATION. Prints one row per run with req/s (or tps) and its ratio to pgbench.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-64}
BIN=${BIN:-target/release/socialscale}
# Its own default, so it can run beside bench.sh (3390) and startup-time.sh (3397).
PORT=${PORT:-3398}
case $PG_ADMIN_URL in
  *@127.0.0.1[:/]* | *@localhost[:/]* | *//127.0.0.1[:/]* | *//localhost[:/]*) ;;
  *) echo "PG_ADMIN_URL must point at loopback"; exit 1 ;;
esac
for tool in pgbench psql wrk; do
  command -v $tool >/dev/null || { echo "$tool is needed"; exit 1; }
done
[ -x "$BIN" ] || { echo "build first: cargo build --release -p server (or set BIN)"; exit 1; }

work=$(mktemp -d)
dbs=()
cleanup() {
  for db in "${dbs[@]}"; do
    psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
scratch() { # creates a database (dropped on exit) and sets $url to it; not in a subshell
  local name="bench_writes_$(date +%s)_$RANDOM"
  psql -q "$PG_ADMIN_URL" -c "CREATE DATABASE $name" >/dev/null
  dbs+=("$name")
  url="${PG_ADMIN_URL%/*}/$name"
}

# 1. pgbench
scratch
pgurl=$url
psql -q "$pgurl" <<'SQL'
CREATE TABLE posts (
    id         uuid        PRIMARY KEY,
    author_id  uuid        NOT NULL,
    content    text        NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX posts_author_id_id_idx ON posts (author_id, id);
SQL
cat >"$work/insert.sql" <<'SQL'
INSERT INTO posts (id, author_id, content, created_at)
VALUES (gen_random_uuid(), '00000000-0000-7000-8000-000000000001', 'benchmark post', now());
SQL
tps=$(pgbench -n -c "$CLIENTS" -j 2 -T "$DURATION" -f "$work/insert.sql" "$pgurl" 2>/dev/null \
  | awk '/^tps/ {print $3; exit}')

# 2 and 3: bench.sh, POST /posts only, on a small seed (the writes do not need a big one).
post_rps() { # prints "req/s p99 non-2xx" of the POST /posts row of one bench.sh run
  if curl -s -o /dev/null "127.0.0.1:$PORT/"; then echo "port $PORT is taken" >&2; exit 1; fi
  PORT=$PORT USERS=100 POSTS=1000 ENDPOINTS=post CONNECTIONS=$CLIENTS DURATION=$DURATION BIN=$BIN \
    scripts/bench.sh 2>/dev/null | awk -F'|' '/POST \/posts/ {gsub(/ /, ""); print $3, $6, $7}'
}
scratch
read -r pg_rps pg_p99 pg_err <<<"$(DATABASE_URL=$url post_rps)"
read -r sqlite_rps sqlite_p99 sqlite_err <<<"$(DATABASE_URL="sqlite://$work/bench.db" post_rps)"

ratio() { awk -v a="$1" -v b="$tps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo "machine: $(nproc) cores, $(uname -r); ${DURATION}s per run, $CLIENTS clients/connections"
echo
echo "| run | req/s (tps) | ratio to pgbench | p99 | non-2xx |"
echo "| --- | ---: | ---: | ---: | ---: |"
printf '| pgbench single-row INSERT | %.0f | 1.00 | - | - |\n' "$tps"
printf '| POST /posts, PostgreSQL | %.0f | %s | %s | %s |\n' "$pg_rps" "$(ratio "$pg_rps")" "$pg_p99" "$pg_err"
printf '| POST /posts, SQLite | %.0f | %s | %s | %s |\n' "$sqlite_rps" "$(ratio "$sqlite_rps")" "$sqlite_p99" "$sqlite_err"
