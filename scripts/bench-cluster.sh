#!/usr/bin/env bash
# The load tool's `mix` through nginx against 1, 2 and 3 instances of the local cluster
# (deploy/local-cluster.sh: PostgreSQL primary + streaming replica serving deep pages, Redis,
# nginx), one cluster per instance count, each seeded the same way. Alongside the load it
# samples the replica's replay lag as the primary sees it (pg_stat_replication.replay_lag, once a
# second) and counts the transactions each server ran during the load (pg_stat_database), which
# gives the share of database work the replica took.
#
#   scripts/bench-cluster.sh                                  # rate 800 req/s, 20 s, 1 2 3
#   RATE=1200 DURATION=30s COUNTS="1 3" scripts/bench-cluster.sh
#
# Needs a release build (cargo build --release -p server -p loadtest) and what the cluster needs.
# Loopback only, every run bounded: DURATION of load per instance count, then `down`.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-target/release/socialscale}
LOAD=${LOAD:-target/release/socialscale-load}
RATE=${RATE:-800}
DURATION=${DURATION:-20s}
COUNTS=${COUNTS:-1 2 3}
PRESET=${PRESET:-10k}
SEED_USERS=${SEED_USERS:-10000}
OUT=${OUT:-bench-results/cluster}
mkdir -p "$OUT"
[ -x "$BIN" ] && [ -x "$LOAD" ] || { echo "build first: cargo build --release -p server -p loadtest"; exit 1; }

# The limits measure the limiter, not the server, if left at their defaults.
export RATE_LIMIT_GENERAL=1000000/30s RATE_LIMIT_POST=1000000/30s
export RATE_LIMIT_LOGIN=1000000/60s RATE_LIMIT_SIGNUP=1000000/60s LOG_LEVEL=warn
sampler=
cleanup() {
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null || true
  deploy/local-cluster.sh down >/dev/null 2>&1 || true
}
trap cleanup EXIT

sql() { # port, query
  psql -qAt -h 127.0.0.1 -p "$1" -U postgres -d socialscale -c "$2"
}

printf '| instances | req/s sent | req/s answered | p50 ms | p99 ms | errors | feed p99 ms | freshness p99 ms | replica share of transactions | replay lag p50 / max ms |\n'
printf '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
for n in $COUNTS; do
  INSTANCES=$n BIN=$BIN deploy/local-cluster.sh up >"$OUT/up-$n.log" 2>&1
  # shellcheck disable=SC1090 # the cluster's own addresses, as shell assignments
  . <(deploy/local-cluster.sh env)
  DATABASE_URL=$DATABASE_URL "$BIN" seed --preset "$PRESET" --seed 1 >"$OUT/seed-$n.log" 2>&1
  # The replica must have the seed before it can serve it.
  deadline=$((SECONDS + 120))
  until [ "$(sql "$PG_PORT" "SELECT bool_and(replay_lsn >= pg_current_wal_lsn()) FROM pg_stat_replication")" = t ]; do
    [ $SECONDS -lt $deadline ] || { echo "replica did not catch up"; exit 1; }
    sleep 0.5
  done
  q="SELECT xact_commit FROM pg_stat_database WHERE datname = 'socialscale'"
  p0=$(sql "$PG_PORT" "$q"); r0=$(sql "$REPLICA_PORT" "$q")
  : >"$OUT/lag-$n.txt"
  (while :; do
    sql "$PG_PORT" "SELECT COALESCE(EXTRACT(EPOCH FROM max(replay_lag)) * 1000, 0) FROM pg_stat_replication" \
      >>"$OUT/lag-$n.txt" 2>/dev/null || true
    sleep 1
  done) &
  sampler=$!
  "$LOAD" mix --url "$LB_URL" --seed 1 --seed-users "$SEED_USERS" --pool 200 \
    --rate "$RATE" --duration "$DURATION" --quiet --json "$OUT/mix-$n.json" >"$OUT/mix-$n.txt" 2>&1 || true
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  sampler=
  p1=$(sql "$PG_PORT" "$q"); r1=$(sql "$REPLICA_PORT" "$q")
  python3 - "$OUT/mix-$n.json" "$OUT/lag-$n.txt" "$n" "$RATE" "$((p1 - p0))" "$((r1 - r0))" <<'PY'
import json, sys, statistics
report, lagfile, n, rate, dp, dr = sys.argv[1:]
r = json.load(open(report))
def step(name):
    return next((s for s in r["steps"] if s["name"] == name), {"latency": {}})
t = r["total"]
fresh = (r.get("freshness") or {}).get("latency", {})
lags = [float(x) for x in open(lagfile).read().split() if x]
share = int(dr) / max(1, int(dp) + int(dr))
print(f"| {n} | {rate} | {t['rps']:.0f} | {t['latency'].get('p50_ms', 0):.1f} | {t['latency'].get('p99_ms', 0):.1f} "
      f"| {t['errors']} | {step('feed')['latency'].get('p99_ms', 0):.1f} | {fresh.get('p99_ms', 0):.0f} "
      f"| {share:.0%} | {statistics.median(lags) if lags else 0:.1f} / {max(lags) if lags else 0:.1f} |")
PY
  deploy/local-cluster.sh down >/dev/null 2>&1
done
