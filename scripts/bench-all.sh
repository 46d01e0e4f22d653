#!/usr/bin/env bash
# Every backend configuration back to back in one session, so the figures compare as ratios:
# SQLite (cache on/off), PostgreSQL (cache on/off), Redis shared tier (L1+L2, L2 only).
#
#   scripts/bench-all.sh > bench-results/run.md
#
# Needs the machine's PostgreSQL (PG_ADMIN_URL) and Redis (REDIS_BENCH_URL) on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
REDIS_BENCH_URL=${REDIS_BENCH_URL:-redis://127.0.0.1:6379}
export USERS=${USERS:-1000} POSTS=${POSTS:-50000} DURATION=${DURATION:-10}
all="liveness posts post user_posts feed"

section() { echo; echo "### $1"; echo; }
pg_db() { # creates a fresh database, prints its URL
  local name="bench_$(date +%s)_$RANDOM"
  psql -q "$PG_ADMIN_URL" -c "CREATE DATABASE $name" >/dev/null
  echo "${PG_ADMIN_URL%/*}/$name"
}
pg_drop() { psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS ${1##*/} WITH (FORCE)" >/dev/null; }

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
echo "data: $USERS users, $POSTS posts, 20 follows each; ${DURATION}s per row, 64 connections, 2 wrk threads"

section "SQLite, in-process cache and limits (the default)"
ENDPOINTS="$all" scripts/bench.sh | grep -v '^seed'
section "SQLite, cache disabled (CACHE_ENABLED=false)"
CACHE_ENABLED=false ENDPOINTS="posts user_posts" scripts/bench.sh | grep -v '^seed'

url=$(pg_db)
section "PostgreSQL, in-process cache and limits"
DATABASE_URL=$url ENDPOINTS="$all" scripts/bench.sh | grep -v '^seed'
pg_drop "$url"
url=$(pg_db)
section "PostgreSQL, cache disabled"
DATABASE_URL=$url CACHE_ENABLED=false ENDPOINTS="posts user_posts" scripts/bench.sh | grep -v '^seed'
pg_drop "$url"

section "SQLite + Redis shared tier: L1 + L2, limits in Redis"
REDIS_URL=$REDIS_BENCH_URL REDIS_KEY_PREFIX="bench$RANDOM:" ENDPOINTS="liveness posts post user_posts" scripts/bench.sh | grep -v '^seed'
section "SQLite + Redis shared tier: L2 only (REDIS_L1_TTL_MS=0), limits in Redis"
REDIS_URL=$REDIS_BENCH_URL REDIS_KEY_PREFIX="bench$RANDOM:" REDIS_L1_TTL_MS=0 ENDPOINTS="posts" scripts/bench.sh | grep -v '^seed'
