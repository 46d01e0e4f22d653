#!/usr/bin/env bash
# Start-up time of the binary on the embedded default (SQLite): milliseconds from exec to the
# first 200 from GET /health/liveness, polled every ~2 ms on 127.0.0.1.
#
#   scripts/startup-time.sh              # 20 runs on a fresh database, 20 on an existing one
#   RUNS=50 scripts/startup-time.sh
#   BIN=path/to/socialscale scripts/startup-time.sh
#
# Each run is bounded by TIMEOUT_MS; the server is stopped (SIGTERM) after each run. Prints
# every run, then the median and the maximum of each case. Needs bash 5 (EPOCHREALTIME) and
# nothing else: the probe is bash's /dev/tcp, so polling forks no process.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-20}
PORT=${PORT:-3397}
TIMEOUT_MS=${TIMEOUT_MS:-5000}
BIN=${BIN:-target/release/socialscale}
[ -x "$BIN" ] || { echo "build first: cargo build --release -p server (or set BIN)"; exit 1; }

work=$(mktemp -d)
pid=
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
export HOST=127.0.0.1 PORT
export JWT_SECRET=${JWT_SECRET:-startup-secret-startup-secret-startup}
# A pipe nobody writes to: `read -t` on it is a sleep without forking /usr/bin/sleep.
exec {nap}<> <(:)

now_us() { local t=${EPOCHREALTIME/[.,]/}; echo $((10#$t)); }

# One 200 from liveness, or failure (refused, not yet answering, other status).
live() {
  { exec {probe}<>"/dev/tcp/127.0.0.1/$PORT"; } 2>/dev/null || return 1
  printf 'GET /health/liveness HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&"$probe"
  local status=
  read -r -t 1 -u "$probe" status || true
  exec {probe}>&-
  [[ $status == "HTTP/1.1 200"* ]]
}

# Starts the server on DATABASE_URL=$1, sets `ms` to the time to the first 200, stops it.
# (Not run in a subshell, so a failure's `exit` reaches the trap that kills the server.)
once() {
  local start deadline
  start=$(now_us)
  deadline=$((start + TIMEOUT_MS * 1000))
  DATABASE_URL=$1 "$BIN" >>"$work/server.log" 2>&1 &
  pid=$!
  until live; do
    if (($(now_us) > deadline)) || ! kill -0 "$pid" 2>/dev/null; then
      echo "no 200 within ${TIMEOUT_MS} ms; server log:" >&2
      tail -5 "$work/server.log" >&2
      exit 1
    fi
    read -r -t 0.002 -u "$nap" || true
  done
  local tenths=$((($(now_us) - start) / 100))
  kill -TERM "$pid"
  wait "$pid" || true
  pid=
  ms=$(printf '%d.%d' $((tenths / 10)) $((tenths % 10)))
}

summary() { # name values...
  local name=$1
  shift
  local sorted
  sorted=$(printf '%s\n' "$@" | sort -n)
  local n=$#
  local median max
  median=$(sed -n "$(((n + 1) / 2))p" <<<"$sorted")
  max=$(tail -1 <<<"$sorted")
  printf '%-9s runs %3d  median %7s ms  max %7s ms\n' "$name" "$n" "$median" "$max"
}

if { exec {probe}<>"/dev/tcp/127.0.0.1/$PORT"; } 2>/dev/null; then
  exec {probe}>&-
  echo "something already listens on 127.0.0.1:$PORT; set PORT" >&2
  exit 1
fi

fresh=()
for i in $(seq "$RUNS"); do
  once "sqlite://$work/fresh-$i.db"
  fresh+=("$ms")
done
echo "fresh:    ${fresh[*]}"

# An existing database: created and migrated by the first start, then reused.
once "sqlite://$work/existing.db"
existing=()
for _ in $(seq "$RUNS"); do
  once "sqlite://$work/existing.db"
  existing+=("$ms")
done
echo "existing: ${existing[*]}"

summary fresh "${fresh[@]}"
summary existing "${existing[@]}"
