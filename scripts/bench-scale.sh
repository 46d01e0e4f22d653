#!/usr/bin/env bash
# The "at scale" measurements of docs/BENCHMARKS.md, in one run on this machine:
#   seed   --preset 100k into SQLite and --preset 1m into PostgreSQL, timed;
#   journey at 1,000 and 10,000 virtual users, SQLite default and PostgreSQL + Redis;
#   mix    on the 1m database (PostgreSQL + Redis) at rising arrival rates, to find the highest
#          rate with p99 < 50 ms and no errors.
#
#   cargo build --release -p server -p loadtest && scripts/bench-scale.sh   # about 45 minutes
#   PARTS="seed mix" scripts/bench-scale.sh                                 # some parts only
#   JOURNEY_VUS="1000" RATES="100 200" scripts/bench-scale.sh
#   PARTS=mix MIX_DATABASE_URL=postgres://…/db RATES="1500 1750" scripts/bench-scale.sh
#                                  # the mix on a database already seeded with --preset 1m
#
# Needs psql, PostgreSQL on PG_ADMIN (a role that may CREATE DATABASE) and Redis on REDIS_URL.
# Every load targets 127.0.0.1 and ends by itself. Results (the tool's JSON and the printed
# tables) go to $OUT (default bench-results/scale-<time>/).
set -euo pipefail
cd "$(dirname "$0")/.."

PARTS=${PARTS:-"seed journey mix"}
JOURNEY_VUS=${JOURNEY_VUS:-"1000 10000"}
# The journey's shape: k6-basic's ramp, hold, ramp down, scaled to the VU count.
JOURNEY_STAGES=${JOURNEY_STAGES:-"30s:%d,1m:%d,30s:0"}
RATES=${RATES:-"100 200 400 700 1000 1500 2000 3000"}
MIX_STAGES=${MIX_STAGES:-"5s:%d,30s:%d"}
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
REDIS=${REDIS_URL:-redis://127.0.0.1:6379}
PORT=${PORT:-3391}
BIN=${BIN:-target/release/socialscale}
LOAD=${LOAD:-target/release/socialscale-load}
OUT=${OUT:-bench-results/scale-$(date -u +%Y%m%dT%H%M%SZ)}
for tool in "$BIN" "$LOAD"; do
  [ -x "$tool" ] || { echo "build first: cargo build --release -p server -p loadtest"; exit 1; }
done
command -v psql >/dev/null || { echo "psql is needed (PostgreSQL client)"; exit 1; }
mkdir -p "$OUT"
# 10,000 virtual users hold 10,000 sockets on each side of loopback.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

pg_root=${PG_ADMIN%/*}
pg_db() { # name: a fresh, empty database; prints its URL
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null
  echo "$pg_root/$1"
}
stamp() { date -u +%H:%M:%S; }

pid=
stop_server() {
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
}
trap stop_server EXIT

start_server() { # label, then VAR=value… for the server
  local label=$1; shift
  env "$@" PORT="$PORT" HOST=127.0.0.1 LOG_LEVEL=warn TRUSTED_PROXIES=127.0.0.1 \
    JWT_SECRET=bench-secret-bench-secret-bench-secret \
    RATE_LIMIT_GENERAL=100000000/30s RATE_LIMIT_POST=100000000/30s \
    RATE_LIMIT_LOGIN=100000000/60s RATE_LIMIT_SIGNUP=100000000/60s \
    REDIS_KEY_PREFIX="scale$RANDOM:" "$BIN" >"$OUT/server-$label.log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do
    curl -sf "127.0.0.1:$PORT/health/liveness" >/dev/null && return 0
    sleep 0.1
  done
  echo "server $label did not start; see $OUT/server-$label.log"; exit 1
}

peak_rss() { awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$pid/status"; }

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr); results in $OUT"

if [[ " $PARTS " == *" seed "* ]]; then
  echo "== $(stamp) seed --preset 100k into SQLite"
  rm -f "$OUT"/seed-100k.db*
  /usr/bin/time -f "wall %e s, peak RSS %M KiB" "$BIN" seed --preset 100k \
    --database-url "sqlite://$OUT/seed-100k.db" 2>&1 | tee "$OUT/seed-100k.txt"
  rm -f "$OUT"/seed-100k.db*
fi
url_1m=${MIX_DATABASE_URL:-}
if [[ " $PARTS " == *" seed "* || ( " $PARTS " == *" mix "* && -z "$url_1m" ) ]]; then
  # The mix runs on this database, seeded here unless MIX_DATABASE_URL names one.
  url_1m=$(pg_db ss_scale_1m)
  echo "== $(stamp) seed --preset 1m into PostgreSQL"
  /usr/bin/time -f "wall %e s, peak RSS %M KiB" "$BIN" seed --preset 1m \
    --database-url "$url_1m" 2>&1 | tee "$OUT/seed-1m.txt"
  psql "$url_1m" -Atc "SELECT pg_size_pretty(pg_database_size(current_database()))" \
    | sed 's/^/database size: /'
fi

if [[ " $PARTS " == *" journey "* ]]; then
  for vus in $JOURNEY_VUS; do
    # shellcheck disable=SC2059 # the stages are a printf template on purpose
    stages=$(printf "$JOURNEY_STAGES" "$vus" "$vus")
    for backend in sqlite postgres-redis; do
      label="journey-$vus-$backend"
      rm -f "$OUT"/journey.db*
      if [ "$backend" = sqlite ]; then
        start_server "$label" DATABASE_URL="sqlite://$OUT/journey.db"
      else
        start_server "$label" DATABASE_URL="$(pg_db ss_scale_journey)" REDIS_URL="$REDIS" \
          DB_MAX_CONNECTIONS=16
      fi
      echo "== $(stamp) journey $vus VUs on $backend, stages $stages"
      "$LOAD" journey --url "http://127.0.0.1:$PORT" --stages "$stages" --quiet \
        --max-in-flight 20000 --json "$OUT/$label.json" 2>&1 | tee "$OUT/$label.txt" || true
      echo "server peak RSS: $(peak_rss)" | tee -a "$OUT/$label.txt"
      stop_server
    done
  done
  rm -f "$OUT"/journey.db*
fi

if [[ " $PARTS " == *" mix "* ]]; then
  start_server mix DATABASE_URL="$url_1m" REDIS_URL="$REDIS" DB_MAX_CONNECTIONS=16
  best=none
  for rate in $RATES; do
    # shellcheck disable=SC2059
    stages=$(printf "$MIX_STAGES" "$rate" "$rate")
    echo "== $(stamp) mix at $rate req/s on the 1m database (PostgreSQL + Redis), $stages"
    if "$LOAD" mix --url "http://127.0.0.1:$PORT" --seed 1 --seed-users 1000000 --pool 1000 \
      --stages "$stages" --quiet --threshold 'p99<50ms' --threshold 'errors<=0%' \
      --json "$OUT/mix-$rate.json" 2>&1 | tee "$OUT/mix-$rate.txt"; then
      best=$rate
    else
      echo "-- $rate req/s broke p99 < 50 ms or had errors: stopping the climb"
      break
    fi
  done
  echo "server peak RSS: $(peak_rss)"
  echo "highest arrival rate with p99 < 50 ms and no errors: $best req/s"
  stop_server
fi
echo "== $(stamp) done; results in $OUT"
