#!/usr/bin/env bash
# The cluster test: deploy/local-cluster.sh up, smoke, some traffic and the dashboard-query check
# (deploy/ci/dashboard-queries.sh, when it exists), then down — always, even after a failure or
# an interrupt — and finally that nothing it started still runs or listens.
#
#   deploy/ci/cluster.sh                       # BIN defaults to target/debug/socialscale
#   REDIS_CLUSTER=1 deploy/ci/cluster.sh       # the same on a 3-node Redis Cluster
#
# Installs what it needs from Debian's packages when missing. Each step has its own timeout, so
# a hung step fails the run instead of holding it.
set -euo pipefail
cd "$(dirname "$0")/../.."

export BIN=${BIN:-target/debug/socialscale}
# Its own run directory: a developer's cluster in target/local-cluster is left alone.
export RUN_DIR=${RUN_DIR:-target/local-cluster-ci}
CLUSTER=deploy/local-cluster.sh
started=$SECONDS

missing=()
need() { command -v "$1" >/dev/null || missing+=("$2"); }
need nginx nginx
need prometheus prometheus
need redis-server redis-server
need redis-cli redis-tools
need jq jq
need ss iproute2
need curl curl
need setsid util-linux
[ -n "$(find /usr/lib/postgresql -maxdepth 3 -name initdb 2>/dev/null)" ] || missing+=(postgresql-15)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "cluster: installing ${missing[*]}"
  # The packages would start their own services (nginx on :80, a system Prometheus) and leave
  # them running; a policy-rc.d that refuses, when the machine has none, prevents that.
  own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  installed=0
  apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    installed=$?
  [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d
  [ "$installed" = 0 ] || { echo "cluster: apt-get install ${missing[*]} failed"; exit 1; }
fi
[ -x "$BIN" ] || { echo "cluster: no binary at $BIN (cargo build -p server)"; exit 1; }
if command -v shellcheck >/dev/null; then
  shellcheck deploy/local-cluster.sh deploy/ci/cluster.sh
fi

step() { # seconds, description, command...
  local secs=$1 what=$2
  shift 2
  echo "== $what"
  local t=$SECONDS rc=0
  # In the background and waited for, so that an interrupt reaches the trap at once (a
  # foreground child would delay it to the end of the step); the trap passes it on.
  timeout --kill-after=10 "$secs" "$@" &
  STEP_PID=$!
  wait "$STEP_PID" || rc=$?
  STEP_PID=""
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "cluster: '$what' took longer than ${secs}s"
  fi
  echo "   ($((SECONDS - t))s, exit $rc)"
  return "$rc"
}

# What `up` recorded: every port it bound and every pid it started, checked after `down`.
STEP_PID=""
finish() {
  local rc=$? ports="" pids="" leftover=0
  trap - EXIT INT TERM
  if [ -n "$STEP_PID" ]; then
    # Interrupted mid-step: timeout hands the signal to the step (an interrupted `up` stops
    # what it started), and the step gets a bounded time to finish.
    kill -TERM "$STEP_PID" 2>/dev/null || true
    wait "$STEP_PID" 2>/dev/null || true
  fi
  [ -f "$RUN_DIR/ports" ] && ports=$(awk '{ print $2 }' "$RUN_DIR/ports")
  [ -f "$RUN_DIR/pids" ] && pids=$(awk '{ print $2 }' "$RUN_DIR/pids")
  step 90 "down" "$CLUSTER" down || rc=1
  local p listeners
  listeners=$(ss -ltnpH)
  for p in $ports; do
    if grep -qE "127\.0\.0\.1:$p\b|\*:$p\b|\]:$p\b" <<<"$listeners"; then
      echo "cluster: port $p still listening after down: $(grep -E ":$p\b" <<<"$listeners")"
      leftover=1
    fi
  done
  for p in $pids; do
    # A zombie has exited and holds nothing; anything else with that pid is still running. The
    # state is read once: a zombie reaped between two reads leaves nothing to read, which is gone.
    # A process still tearing down its threads gets a few seconds to finish.
    local state
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      state=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$p/stat" 2>/dev/null || true)
      { [ -z "$state" ] || [ "$state" = Z ]; } && break
      sleep 0.5
    done
    if [ -n "$state" ] && [ "$state" != Z ]; then
      echo "cluster: pid $p ($state) still running after down: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"
      leftover=1
    fi
    if grep -q "pid=$p," <<<"$listeners"; then
      echo "cluster: pid $p still listening after down"
      leftover=1
    fi
  done
  if [ "$leftover" = 0 ]; then
    echo "cluster: after down, none of $(wc -w <<<"$ports") ports listens and none of $(wc -w <<<"$pids") processes runs"
  else
    rc=1
  fi
  if [ "$rc" != 0 ]; then
    echo "cluster: FAILED; last lines of each log in $RUN_DIR/logs:"
    for p in "$RUN_DIR"/logs/*.log; do
      [ -s "$p" ] || continue
      echo "--- $p"
      tail -n 15 "$p"
    done
  fi
  echo "cluster: $((SECONDS - started))s in all"
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step 150 "up (${INSTANCES:-2} instances, REDIS_CLUSTER=${REDIS_CLUSTER:-0}, $BIN)" "$CLUSTER" up
step 120 "smoke" "$CLUSTER" smoke
step 60 "traffic" "$CLUSTER" traffic
if [ -x deploy/ci/dashboard-queries.sh ] || [ -f deploy/ci/dashboard-queries.sh ]; then
  PROM_URL=$(awk -F= '$1 == "PROM_URL" { print $2 }' "$RUN_DIR/env")
  # rate() over a range needs two scrapes after the traffic; the scrape interval is 1s.
  sleep 3
  step 90 "dashboard queries against $PROM_URL" bash deploy/ci/dashboard-queries.sh "$PROM_URL"
else
  echo "== dashboard queries: deploy/ci/dashboard-queries.sh not present, skipped"
fi
