#!/usr/bin/env bash
# The production shape on one machine, from Debian's packages only, everything on 127.0.0.1:
# a private PostgreSQL 15 primary and a streaming replica, Redis (one server, or a 3-node Redis
# Cluster with REDIS_CLUSTER=1), N instances of the binary reading deep pages from the replica,
# nginx in front and Prometheus scraping every instance.
#
#   deploy/local-cluster.sh up        # start it all; prints the URLs
#   deploy/local-cluster.sh smoke     # check every part; non-zero exit on any failure
#   deploy/local-cluster.sh status    # what runs where; non-zero if a part is down
#   deploy/local-cluster.sh traffic   # a little of every kind of request, for the dashboards
#   deploy/local-cluster.sh backup FILE | restore FILE   # pg_dump / pg_restore, custom format
#   deploy/local-cluster.sh env       # the cluster's addresses as shell assignments
#   deploy/local-cluster.sh down      # stop everything and drop its data; logs stay
#
# Settings (environment, read by `up`): INSTANCES (2), BIN (target/release/socialscale),
# REDIS_CLUSTER (0), LB_PORT (a free one), RATE_LIMIT_GENERAL (40/60s: small so that `smoke`
# can exhaust it; raise it for load tests), SHUTDOWN_GRACE_SECONDS (5), RUN_DIR
# (target/local-cluster: pids, ports, logs, data). Every port is picked free, and picked again if
# another process takes it before the server binds.
#
# Needs: postgresql-15 (initdb, pg_ctl, pg_basebackup; `pg_config --bindir` finds them),
# redis-server and redis-tools, nginx, prometheus, curl, jq, iproute2 (ss). As root the
# PostgreSQL servers run as the `postgres` OS user.
# shellcheck disable=SC2013 # the names in the state files are single words
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

RUN=${RUN_DIR:-target/local-cluster}
case $RUN in /*) ;; *) RUN=$ROOT/$RUN ;; esac
DB_NAME=socialscale

say() { printf '%s\n' "$*"; }
die() {
  if [ -n "${INTERRUPTED:-}" ]; then
    printf 'local-cluster: interrupted\n' >&2
    exit "$INTERRUPTED"
  fi
  printf 'local-cluster: %s\n' "$*" >&2
  exit 1
}

pg_bindir() {
  local dir
  dir=$(pg_config --bindir 2>/dev/null || true)
  # libpq-dev's pg_config may be absent on a server-only install; the server's own tools are
  # still under /usr/lib/postgresql/VERSION/bin.
  if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
    dir=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n1)
  fi
  if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
    die "PostgreSQL server tools not found: apt-get install postgresql-15"
  fi
  printf '%s\n' "$dir"
}

# The PostgreSQL servers refuse to run as root: as root, run their tools as `postgres`, from /
# (the postgres user may not be able to enter the working directory).
as_pg() {
  # fds 3 and 4 (up's saved output) closed: a server started here must not hold the caller's
  # terminal or pipe open after `up` returns.
  if [ "$(id -u)" = 0 ]; then
    (cd / && runuser -u postgres -- "$@" 3>&- 4>&-)
  else
    "$@" 3>&- 4>&-
  fi
}

# --- the state files ------------------------------------------------------------------------
# ports: "name port"; pids: "name pid starttime" (the start time guards against a recycled pid,
# so `down` never signals a process it did not start).

set_port() {
  local f=$RUN/ports
  touch "$f"
  grep -v "^$1 " "$f" >"$f.tmp" || true
  printf '%s %s\n' "$1" "$2" >>"$f.tmp"
  mv "$f.tmp" "$f"
}
get_port() { awk -v n="$1" '$1 == n { print $2 }' "$RUN/ports" 2>/dev/null; }

starttime() { awk '{ sub(/.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null; }

set_pid() {
  local f=$RUN/pids
  touch "$f"
  grep -v "^$1 " "$f" >"$f.tmp" || true
  printf '%s %s %s\n' "$1" "$2" "$(starttime "$2")" >>"$f.tmp"
  mv "$f.tmp" "$f"
}

# True while the process recorded under this name is the one we started and still runs.
ours_alive() {
  local pid st
  read -r pid st < <(awk -v n="$1" '$1 == n { print $2, $3 }' "$RUN/pids" 2>/dev/null) || return 1
  [ -n "$pid" ] && ! gone "$pid" && [ "$(starttime "$pid")" = "$st" ]
}
pid_of() { awk -v n="$1" '$1 == n { print $2 }' "$RUN/pids" 2>/dev/null; }

# A zombie (exited, not yet reaped by whoever adopted it) counts as gone: it holds no port.
gone() {
  local state
  state=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 0
  [ -z "$state" ] || [ "$state" = Z ]
}

listening() { ss -ltnH "( sport = :$1 )" 2>/dev/null | grep -q .; }

port_ours() { awk -v p="$1" '$2 == p { found = 1 } END { exit !found }' "$RUN/ports" 2>/dev/null; }

# A port nothing listens on and that we have not handed out; with "bus", port+10000 too (a Redis
# Cluster node also binds its cluster bus there).
free_port() {
  local p i
  for i in $(seq 200); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 30000))
    listening "$p" && continue
    port_ours "$p" && continue
    if [ "${1:-}" = bus ]; then
      listening $((p + 10000)) && continue
      port_ours $((p + 10000)) && continue
    fi
    printf '%s\n' "$p"
    return 0
  done
  return 1
}

log_of() { printf '%s/logs/%s.log\n' "$RUN" "$1"; }

INTERRUPTED=""
# Where `up` stops after a Ctrl-C or SIGTERM: every server started so far is recorded.
checkpoint() {
  [ -z "$INTERRUPTED" ] || exit "$INTERRUPTED"
}

# Polls "$@" until it succeeds, for at most $1 seconds (or until an interrupt).
wait_for() {
  local secs=$1
  shift
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] && [ -z "$INTERRUPTED" ] || return 1
    sleep 0.2
  done
}

# Starts a daemon in its own session (so a terminal's Ctrl-C or a CI step's `timeout` does not hit
# it behind the back of `down`), output to its log, and records its pid.
spawn() {
  local name=$1
  shift
  setsid "$@" >"$(log_of "$name")" 2>&1 </dev/null 3>&- 4>&- &
  set_pid "$name" $!
}

# Runs "STARTER NAME PORT" with a free port, again with another one when the server reports
# that the port was taken between the pick and its bind (anything else is a real failure).
start_on_free_port() {
  local name=$1 starter=$2 kind=${3:-} port attempt
  for attempt in 1 2 3 4 5; do
    checkpoint
    port=$(free_port "$kind") || die "no free port for $name"
    set_port "$name" "$port"
    [ "$kind" = bus ] && set_port "$name-bus" $((port + 10000))
    if "$starter" "$name" "$port"; then
      checkpoint
      return 0
    fi
    checkpoint
    if ! grep -qiE 'address already in use|could not bind|bind\(\)' "$(log_of "$name")" 2>/dev/null; then
      tail -n 20 "$(log_of "$name")" >&2 2>/dev/null || true
      die "$name did not start (log: $(log_of "$name"))"
    fi
    say "  $name: port $port was taken meanwhile (attempt $attempt); picking another"
  done
  die "$name: no port could be bound after 5 attempts"
}

stop_pid() { # name, signal (0: already sent), seconds to wait before SIGKILL
  local name=$1 sig=$2 secs=$3 pid
  ours_alive "$name" || return 0
  pid=$(pid_of "$name")
  kill "-$sig" "$pid" 2>/dev/null || true
  if ! wait_for "$secs" gone "$pid"; then
    say "  $name (pid $pid) still running ${secs}s after being asked to stop; killing it"
    # A daemon started by spawn leads its own process group; nginx's master does too and its
    # workers are in it: take the whole group, so no worker keeps the listening socket.
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    wait_for 5 gone "$pid" || true
  fi
}

# --- up -------------------------------------------------------------------------------------

start_pg() { # name port: the data directory is $PGROOT/$name
  local name=$1 port=$2 dir=$PGROOT/$1
  rm -f "$(log_of "$name")" "$PGROOT/$name.log"
  as_pg "$PG_BIN/pg_ctl" start -D "$dir" -l "$PGROOT/$name.log" -w -t 30 \
    -o "-c port=$port" >/dev/null 2>&1
  local rc=$?
  cp "$PGROOT/$name.log" "$(log_of "$name")" 2>/dev/null || true
  [ "$rc" = 0 ] || return 1
  set_pid "$name" "$(head -n1 "$dir/postmaster.pid")"
}

psql_at() { # port, sql [db]
  "$PG_BIN/psql" -X -qAt -h 127.0.0.1 -p "$1" -U postgres -d "${3:-postgres}" -c "$2"
}

standby_streams() {
  [ "$(psql_at "$PG_PORT" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" -ge 1 ] &&
    [ "$(psql_at "$REPLICA_PORT" "SELECT status FROM pg_stat_wal_receiver")" = streaming ]
}

start_redis() { # name port
  local name=$1 port=$2 dir=$RUN/$1
  mkdir -p "$dir"
  local extra=()
  if [ "$REDIS_CLUSTER" = 1 ]; then
    extra=(--cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000)
  fi
  spawn "$name" redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
    --dir "$dir" "${extra[@]}"
  wait_for 10 bash -c "[ \"\$(redis-cli -h 127.0.0.1 -p $port ping)\" = PONG ]" && return 0
  stop_pid "$name" TERM 5
  return 1
}

cluster_ok() {
  local p
  for p in "${REDIS_PORTS[@]}"; do
    redis-cli -h 127.0.0.1 -p "$p" cluster info | grep -q '^cluster_state:ok' || return 1
  done
}

start_instance() { # name port
  local name=$1 port=$2
  spawn "$name" env PORT="$port" "$BIN_ABS"
  if wait_for 30 curl -sf --max-time 2 "http://127.0.0.1:$port/health/readiness"; then
    return 0
  fi
  stop_pid "$name" KILL 5
  return 1
}

start_nginx() { # name port
  local name=$1 port=$2 upstreams="" p dir=$RUN/nginx
  mkdir -p "$dir"/{body,proxy,fastcgi,uwsgi,scgi}
  for p in "${INSTANCE_PORTS[@]}"; do
    upstreams+="server 127.0.0.1:$p max_fails=1 fail_timeout=2s; "
  done
  sed -e "s|@LISTEN@|127.0.0.1:$port|" -e "s|@UPSTREAMS@|$upstreams|" -e "s|@PREFIX@|$dir|g" \
    deploy/nginx.conf >"$dir/nginx.conf"
  rm -f "$dir/nginx.pid"
  # nginx forks its master into the background itself; -e keeps even its start-up complaints
  # out of /var/log.
  if ! nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$(log_of "$name")" 2>&1 </dev/null 3>&- 4>&-; then
    return 1
  fi
  wait_for 10 test -s "$dir/nginx.pid" || return 1
  set_pid "$name" "$(cat "$dir/nginx.pid")"
  wait_for 10 curl -sf --max-time 2 "http://127.0.0.1:$port/health/readiness" && return 0
  stop_pid "$name" QUIT 5
  return 1
}

start_prometheus() { # name port
  local name=$1 port=$2 dir=$RUN/prometheus targets="" p
  mkdir -p "$dir/data"
  for p in "${INSTANCE_PORTS[@]}"; do targets+="'127.0.0.1:$p', "; done
  sed -e "s|@TARGETS@|${targets%, }|" deploy/prometheus/prometheus.yml >"$dir/prometheus.yml"
  if [ -f deploy/prometheus/alerts.yml ]; then
    cp deploy/prometheus/alerts.yml "$dir/alerts.yml"
  else
    printf 'groups: []\n' >"$dir/alerts.yml"
  fi
  spawn "$name" prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --storage.tsdb.retention.time=1d --web.listen-address="127.0.0.1:$port"
  wait_for 30 curl -sf --max-time 2 "http://127.0.0.1:$port/-/ready" && return 0
  stop_pid "$name" KILL 5
  return 1
}

write_env() {
  local f=$RUN/env
  {
    printf 'INSTANCES=%s\nREDIS_CLUSTER=%s\nBIN=%q\n' "$INSTANCES" "$REDIS_CLUSTER" "$BIN_ABS"
    printf 'LB_URL=http://127.0.0.1:%s\n' "$LB_PORT"
    printf 'INSTANCE_PORTS="%s"\n' "${INSTANCE_PORTS[*]}"
    printf 'PG_PORT=%s\nREPLICA_PORT=%s\nPG_BIN=%q\nPGROOT=%q\n' "$PG_PORT" "$REPLICA_PORT" "$PG_BIN" "$PGROOT"
    printf 'DATABASE_URL=%s\nDATABASE_READ_URLS=%s\n' "$DATABASE_URL" "$DATABASE_READ_URLS"
    printf 'REDIS_URL=%s\nREDIS_PORTS="%s"\n' "$REDIS_URL" "${REDIS_PORTS[*]}"
    printf 'RATE_LIMIT_GENERAL=%s\n' "$RATE_LIMIT_GENERAL"
    printf 'PROM_URL=http://127.0.0.1:%s\n' "$PROM_PORT"
  } >"$f"
}

load_env() {
  [ -f "$RUN/env" ] || die "not up (no $RUN/env); run: deploy/local-cluster.sh up"
  # shellcheck disable=SC1091
  . "$RUN/env"
  read -r -a INSTANCE_PORTS <<<"$INSTANCE_PORTS"
  read -r -a REDIS_PORTS <<<"$REDIS_PORTS"
}

any_alive() {
  local name
  [ -f "$RUN/pids" ] || return 1
  while read -r name _; do
    ours_alive "$name" && return 0
  done <"$RUN/pids"
  return 1
}

cmd_up() {
  INSTANCES=${INSTANCES:-2}
  BIN=${BIN:-target/release/socialscale}
  REDIS_CLUSTER=${REDIS_CLUSTER:-0}
  RATE_LIMIT_GENERAL=${RATE_LIMIT_GENERAL:-40/60s}
  [[ $INSTANCES =~ ^[1-9][0-9]*$ ]] || die "INSTANCES must be a positive number"
  [ -x "$BIN" ] || die "no binary at $BIN: cargo build --release (or set BIN=target/debug/socialscale)"
  BIN_ABS=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
  local tool
  for tool in redis-server redis-cli nginx prometheus curl jq ss setsid; do
    command -v "$tool" >/dev/null || die "$tool is missing (Debian: redis-server redis-tools nginx prometheus curl jq iproute2)"
  done
  PG_BIN=$(pg_bindir)
  if [ "$(id -u)" = 0 ]; then id postgres >/dev/null 2>&1 || die "no postgres OS user: apt-get install postgresql-15"; fi

  if any_alive; then
    die "already up ($RUN); run: deploy/local-cluster.sh down"
  fi
  # A previous `up` killed outright (SIGKILL) may have left a server it had not yet recorded;
  # down finds those by their data directory or pid file.
  if [ -f "$RUN/pids" ]; then cmd_down >/dev/null 2>&1 || true; fi
  if [ -d "$RUN" ]; then cleanup_data; fi
  rm -rf "$RUN"
  mkdir -p "$RUN/logs"
  : >"$RUN/ports"
  : >"$RUN/pids"

  # From here on, a failure or an interrupt takes down whatever already started. An interrupt
  # only sets a flag, acted on at the next checkpoint: exiting straight from the trap could
  # happen between starting a server and recording its pid (leaving it behind), and inside a
  # command's `>/dev/null` (swallowing what the cleanup says). fds 3 and 4 keep the real output.
  exec 3>&1 4>&2
  trap 'rc=$?; exec 1>&3 2>&4; trap - EXIT INT TERM; INTERRUPTED=""; if [ "$rc" != 0 ]; then say "up failed or was interrupted; stopping what had started"; cmd_down >&2 || true; fi; exit "$rc"' EXIT
  trap 'INTERRUPTED=130' INT
  trap 'INTERRUPTED=143' TERM

  # PostgreSQL's data must belong to the user that runs it; a run directory that user cannot
  # enter (a checkout under /root) gets its data under /tmp instead, linked from here.
  PGROOT=$RUN/pg
  mkdir -p "$PGROOT"
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$PGROOT"
    if ! as_pg test -w "$PGROOT"; then
      rmdir "$PGROOT"
      local tmp
      tmp=$(mktemp -d /tmp/socialscale-cluster-pg.XXXXXX)
      chmod 755 "$tmp"
      chown postgres: "$tmp"
      ln -s "$tmp" "$PGROOT"
      # The postgres user reaches it only by its real path, not through the link.
      PGROOT=$tmp
    fi
  fi

  say "postgres: initdb (primary)"
  as_pg "$PG_BIN/initdb" -D "$PGROOT/pg-primary" -U postgres --auth=trust --no-sync -E UTF8 \
    >"$(log_of initdb)" 2>&1 || { cat "$(log_of initdb)" >&2; die "initdb failed"; }
  checkpoint
  # Loopback TCP only, no Unix socket: nothing here can collide with the machine's own server.
  cat >>"$PGROOT/pg-primary/postgresql.conf" <<'EOF'
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
wal_level = replica
max_wal_senders = 4
hot_standby = on
EOF
  start_on_free_port pg-primary start_pg
  PG_PORT=$(get_port pg-primary)
  psql_at "$PG_PORT" "CREATE DATABASE $DB_NAME" >/dev/null

  say "postgres: pg_basebackup (replica of 127.0.0.1:$PG_PORT)"
  as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PG_PORT" -U postgres -D "$PGROOT/pg-replica" \
    -R -X stream -c fast --no-sync >"$(log_of basebackup)" 2>&1 ||
    { cat "$(log_of basebackup)" >&2; die "pg_basebackup failed"; }
  checkpoint
  start_on_free_port pg-replica start_pg
  REPLICA_PORT=$(get_port pg-replica)
  wait_for 30 standby_streams || die "the replica on 127.0.0.1:$REPLICA_PORT does not stream from the primary"
  say "postgres: primary 127.0.0.1:$PG_PORT, replica 127.0.0.1:$REPLICA_PORT streaming"

  REDIS_PORTS=()
  if [ "$REDIS_CLUSTER" = 1 ]; then
    local i
    for i in 1 2 3; do
      start_on_free_port "redis-$i" start_redis bus
      REDIS_PORTS+=("$(get_port "redis-$i")")
    done
    redis-cli --cluster create "${REDIS_PORTS[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes \
      >"$(log_of redis-cluster-create)" 2>&1 ||
      { cat "$(log_of redis-cluster-create)" >&2; die "redis-cli --cluster create failed"; }
    wait_for 30 cluster_ok || die "the Redis Cluster did not reach cluster_state:ok"
    REDIS_URL=redis+cluster://$(IFS=,; echo "${REDIS_PORTS[*]/#/127.0.0.1:}")
  else
    start_on_free_port redis-1 start_redis
    REDIS_PORTS=("$(get_port redis-1)")
    REDIS_URL=redis://127.0.0.1:${REDIS_PORTS[0]}
  fi
  say "redis: $REDIS_URL"

  # One secret for all instances (a token one issues, the others accept), kept out of output.
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$RUN/jwt_secret")
  DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/$DB_NAME
  DATABASE_READ_URLS=postgres://postgres@127.0.0.1:$REPLICA_PORT/$DB_NAME
  export DATABASE_URL DATABASE_READ_URLS REDIS_URL RATE_LIMIT_GENERAL
  JWT_SECRET=$(cat "$RUN/jwt_secret")
  export JWT_SECRET
  export HOST=127.0.0.1 TRUSTED_PROXIES=127.0.0.1 LOG_LEVEL=${LOG_LEVEL:-warn}
  export SHUTDOWN_GRACE_SECONDS=${SHUTDOWN_GRACE_SECONDS:-5}
  printf '%s\n' "$SHUTDOWN_GRACE_SECONDS" >"$RUN/grace"
  "$BIN_ABS" migrate >"$(log_of migrate)" 2>&1 || { cat "$(log_of migrate)" >&2; die "migrate failed"; }
  checkpoint

  INSTANCE_PORTS=()
  local n
  for n in $(seq "$INSTANCES"); do
    start_on_free_port "instance-$n" start_instance
    INSTANCE_PORTS+=("$(get_port "instance-$n")")
  done
  say "instances: ${INSTANCE_PORTS[*]/#/127.0.0.1:}"

  if [ -n "${LB_PORT:-}" ]; then
    set_port nginx "$LB_PORT"
    start_nginx nginx "$LB_PORT" || { tail -n 5 "$RUN/nginx/error.log" >&2 || true; die "nginx did not start on $LB_PORT"; }
  else
    start_on_free_port nginx start_nginx
    LB_PORT=$(get_port nginx)
  fi
  start_on_free_port prometheus start_prometheus
  PROM_PORT=$(get_port prometheus)
  write_env
  checkpoint
  trap - EXIT INT TERM

  say ""
  say "up ($INSTANCES instances, run directory $RUN):"
  say "  balancer    http://127.0.0.1:$LB_PORT"
  say "  instances   ${INSTANCE_PORTS[*]/#/http://127.0.0.1:}"
  say "  postgres    $DATABASE_URL (replica $DATABASE_READ_URLS)"
  say "  redis       $REDIS_URL"
  say "  prometheus  http://127.0.0.1:$PROM_PORT"
  say "next: deploy/local-cluster.sh smoke | status | down"
}

# --- down -----------------------------------------------------------------------------------

cleanup_data() {
  local target
  if [ -L "$RUN/pg" ]; then
    target=$(readlink "$RUN/pg")
    case $target in /tmp/socialscale-cluster-pg.*) rm -rf "$target" ;; esac
    rm -f "$RUN/pg"
  fi
  rm -rf "$RUN/pg" "$RUN"/redis-* "$RUN/prometheus/data" "$RUN/nginx"/{body,proxy,fastcgi,uwsgi,scgi} "$RUN/jwt_secret"
}

# By the data directory, not only the recorded pid: a server whose start was interrupted before
# its pid was read is stopped too.
stop_pg() {
  local name=$1 dir
  dir=$(readlink -f "$RUN/pg" 2>/dev/null)/$name
  [ -f "$dir/postmaster.pid" ] || return 0
  as_pg "$(pg_bindir)/pg_ctl" stop -D "$dir" -m fast -w -t 20 >/dev/null 2>&1 ||
    as_pg "$(pg_bindir)/pg_ctl" stop -D "$dir" -m immediate -w -t 10 >/dev/null 2>&1 || true
  stop_pid "$name" KILL 5
}

cmd_down() {
  if [ ! -f "$RUN/pids" ]; then
    say "nothing recorded in $RUN; nothing to stop"
    return 0
  fi
  local name left=""
  # Callers first, then what they call: the instances drain against a live database and Redis.
  local instances
  instances=$(awk '$1 ~ /^instance-/ { print $1 }' "$RUN/pids")
  # All drain at once, not one after another.
  for name in $instances; do
    ours_alive "$name" && kill -TERM "$(pid_of "$name")" 2>/dev/null
  done
  for name in $instances; do
    stop_pid "$name" 0 $(($(cat "$RUN/grace" 2>/dev/null || echo 30) + 5))
  done
  # nginx writes its pid file just after `up` may have been interrupted waiting for it.
  if [ -z "$(pid_of nginx)" ] && [ -s "$RUN/nginx/nginx.pid" ]; then
    set_pid nginx "$(cat "$RUN/nginx/nginx.pid")"
  fi
  stop_pid nginx TERM 10
  stop_pid prometheus TERM 15
  for name in $(awk '$1 ~ /^redis-/ { print $1 }' "$RUN/pids"); do
    stop_pid "$name" TERM 10
  done
  stop_pg pg-replica
  stop_pg pg-primary
  while read -r name _; do
    ours_alive "$name" && left+=" $name"
  done <"$RUN/pids"
  local port busy=""
  while read -r name port; do
    listening "$port" && busy+=" $name:$port"
  done <"$RUN/ports"
  cleanup_data
  rm -f "$RUN/env"
  [ -z "$left" ] || die "still running:$left"
  # A port of ours can be busy again only if something else took it meanwhile; say so.
  [ -z "$busy" ] || say "note: ports in use again, not by this cluster:$busy"
  say "down: everything stopped (logs kept in $RUN/logs)"
}

# --- status ---------------------------------------------------------------------------------

cmd_status() {
  [ -f "$RUN/pids" ] || { say "not up ($RUN)"; return 1; }
  local name pid port bad=0
  while read -r name pid _; do
    port=$(get_port "$name")
    if ours_alive "$name"; then
      if [ -n "$port" ] && ! listening "$port"; then
        printf '%-12s pid %-7s port %-6s NOT LISTENING\n' "$name" "$pid" "$port"
        bad=1
      else
        printf '%-12s pid %-7s port %-6s up\n' "$name" "$pid" "${port:--}"
      fi
    else
      printf '%-12s pid %-7s port %-6s DOWN\n' "$name" "$pid" "${port:--}"
      bad=1
    fi
  done <"$RUN/pids"
  [ -f "$RUN/env" ] && grep -E '^(LB_URL|PROM_URL|REDIS_URL|DATABASE_URL)=' "$RUN/env"
  return "$bad"
}

# --- backup / restore -----------------------------------------------------------------------

cmd_backup() {
  local file=${1:-}
  [ -n "$file" ] || die "usage: local-cluster.sh backup FILE"
  load_env
  "$PG_BIN/pg_dump" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$DB_NAME" -Fc -f "$file"
  say "backup: $DB_NAME -> $file ($(wc -c <"$file") bytes)"
}

# Restores into the cluster's database (replacing its tables, then emptying Redis so no cache
# serves rows the restore changed), or with RESTORE_DB into that database, created if missing.
cmd_restore() {
  local file=${1:-}
  [ -f "$file" ] || die "usage: local-cluster.sh restore FILE (a pg_dump -Fc file)"
  load_env
  local db=${RESTORE_DB:-$DB_NAME}
  if [ "$(psql_at "$PG_PORT" "SELECT count(*) FROM pg_database WHERE datname = '$db'")" = 0 ]; then
    psql_at "$PG_PORT" "CREATE DATABASE \"$db\"" >/dev/null
  fi
  "$PG_BIN/pg_restore" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$db" --clean --if-exists \
    --no-owner --single-transaction --exit-on-error "$file"
  if [ "$db" = "$DB_NAME" ]; then
    local p
    for p in "${REDIS_PORTS[@]}"; do redis-cli -h 127.0.0.1 -p "$p" flushall >/dev/null; done
  fi
  say "restore: $file -> $db"
}

# --- smoke ----------------------------------------------------------------------------------

# api METHOD URL [TOKEN] [JSON] [X-Forwarded-For]: sets STATUS and BODY (never fails itself).
api() {
  local args=(-sS --max-time 10 -o "$RUN/smoke/body" -w '%{http_code}' -X "$1")
  [ -n "${3:-}" ] && args+=(-H "authorization: Bearer $3")
  [ -n "${4:-}" ] && args+=(-H 'content-type: application/json' --data "$4")
  [ -n "${5:-}" ] && args+=(-H "x-forwarded-for: $5")
  STATUS=$(curl "${args[@]}" "$2" 2>/dev/null) || STATUS=${STATUS:-000}
  BODY=$(cat "$RUN/smoke/body" 2>/dev/null || true)
}

expect() { # status, what
  [ "$STATUS" = "$1" ] && return 0
  say "    $2: expected $1, got $STATUS: $(head -c 200 <<<"$BODY" | tr '\n' ' ')"
  return 1
}

# Signs up a fresh user through the balancer; sets TOKEN and USER_ID.
signup() {
  local name
  name=$1$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
  api POST "$LB_URL/auth/signup" "" \
    "{\"email\":\"$name@example.com\",\"password\":\"password123\",\"username\":\"$name\"}" "${2:-}"
  expect 201 "signup $name" || return 1
  TOKEN=$(jq -r .token <<<"$BODY")
  USER_ID=$(jq -r .user.id <<<"$BODY")
}

post() { # token content [xff] -> POST_ID
  api POST "$LB_URL/posts" "$1" "{\"content\":\"$2\"}" "${3:-}"
  expect 201 "post" || return 1
  POST_ID=$(jq -r .id <<<"$BODY")
}

step_parts() {
  local ok=0 p
  psql_at "$PG_PORT" "SELECT 1" >/dev/null || { say "    primary does not answer"; ok=1; }
  [ "$(psql_at "$REPLICA_PORT" "SELECT pg_is_in_recovery()")" = t ] || { say "    replica is not in recovery"; ok=1; }
  standby_streams || { say "    replica does not stream"; ok=1; }
  for p in "${REDIS_PORTS[@]}"; do
    [ "$(redis-cli -h 127.0.0.1 -p "$p" ping)" = PONG ] || { say "    redis $p does not answer"; ok=1; }
  done
  if [ "$REDIS_CLUSTER" = 1 ]; then cluster_ok || { say "    redis cluster state is not ok"; ok=1; }; fi
  for p in "${INSTANCE_PORTS[@]}"; do
    api GET "http://127.0.0.1:$p/health"
    expect 200 "instance $p /health" || ok=1
    # Healthy, and really on the shared backends (an instance without REDIS_URL is "ok" too).
    jq -e '.status == "ok" and .backends.database == "postgres" and .backends.cache == "redis"
      and .backends.rateLimit == "redis" and all(.services[]; . == "healthy")' <<<"$BODY" >/dev/null 2>&1 ||
      { say "    instance $p: $BODY"; ok=1; }
  done
  api GET "$LB_URL/health/readiness"
  expect 200 "balancer /health/readiness" || ok=1
  return "$ok"
}

step_everywhere() {
  signup smkpost || return 1
  post "$TOKEN" "through the balancer" || return 1
  local p ok=0
  for p in "${INSTANCE_PORTS[@]}"; do
    api GET "http://127.0.0.1:$p/posts/$POST_ID" "$TOKEN"
    expect 200 "GET /posts/$POST_ID on instance $p" || ok=1
    [ "$STATUS" != 200 ] || [ "$(jq -r .id <<<"$BODY")" = "$POST_ID" ] || { say "    instance $p returned another post"; ok=1; }
  done
  [ "$ok" = 0 ] && say "    post $POST_ID visible on ${#INSTANCE_PORTS[@]} instances"
  return "$ok"
}

replayed() {
  local lsn
  lsn=$(psql_at "$PG_PORT" "SELECT pg_current_wal_lsn()")
  [ "$(psql_at "$REPLICA_PORT" "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")" = t ]
}

deep_page_has() { # instance port, cursor, post id: true if the page after the cursor lists it
  api GET "http://127.0.0.1:$1/users/$DEEP_USER/posts?limit=10&cursor=$2" "$DEEP_TOKEN"
  [ "$STATUS" = 200 ] || { say "    deep page on $1: $STATUS ${BODY:0:200}"; return 2; }
  jq -e --arg id "$3" 'any(.posts[]; .id == $id)' <<<"$BODY" >/dev/null
}

# A page after a cursor reads from the replica once the replica is measured to hold every row
# below it: fresh as of the cursor's time plus the write window (acquire + statement timeout + 1 s,
# 11 s with the defaults; crates/postgres/src/replicas.rs). Proof: with the standby's replay paused, a post deleted on the primary
# is still on that page, through every instance, while GET /posts/:id (primary) says 404; after
# resuming it is gone from the page.
step_replica() {
  signup smkdeep || return 1
  DEEP_TOKEN=$TOKEN DEEP_USER=$USER_ID
  local oldest p cursor ok=0 rc
  post "$DEEP_TOKEN" "deep 1" || return 1
  oldest=$POST_ID
  post "$DEEP_TOKEN" "deep 2" || return 1
  post "$DEEP_TOKEN" "deep 3" || return 1
  api GET "$LB_URL/users/$DEEP_USER/posts?limit=1" "$DEEP_TOKEN"
  expect 200 "first page" || return 1
  cursor=$(jq -r .nextCursor <<<"$BODY")
  if [ -z "$cursor" ] || [ "$cursor" = null ]; then
    say "    no nextCursor: $BODY"
    return 1
  fi
  # The cursor must age past the write window, and the replica be probed (once a second) after
  # replaying that far, before its page is routed to the replica.
  sleep 12
  wait_for 15 replayed || { say "    replica did not catch up"; return 1; }
  sleep 2
  for p in "${INSTANCE_PORTS[@]}"; do
    deep_page_has "$p" "$cursor" "$oldest" || { say "    deep page on $p misses the oldest post before the delete"; return 1; }
  done
  psql_at "$REPLICA_PORT" "SELECT pg_wal_replay_pause()" >/dev/null
  if ! wait_for 10 bash -c "[ \"\$('$PG_BIN/psql' -X -qAt -h 127.0.0.1 -p $REPLICA_PORT -U postgres -c 'SELECT pg_get_wal_replay_pause_state()')\" = paused ]"; then
    say "    replay did not pause"
    ok=1
  fi
  if [ "$ok" = 0 ]; then
    api DELETE "$LB_URL/posts/$oldest" "$DEEP_TOKEN"
    expect 204 "delete the oldest post" || ok=1
  fi
  if [ "$ok" = 0 ]; then
    for p in "${INSTANCE_PORTS[@]}"; do
      api GET "http://127.0.0.1:$p/posts/$oldest" "$DEEP_TOKEN"
      expect 404 "GET the deleted post on $p (primary)" || ok=1
      rc=0
      deep_page_has "$p" "$cursor" "$oldest" || rc=$?
      case $rc in
        0) say "    instance $p: deep page still lists the deleted post (replica, replay paused)" ;;
        1) say "    instance $p: deep page does not list the deleted post: not served by the replica"; ok=1 ;;
        *) ok=1 ;;
      esac
    done
  fi
  psql_at "$REPLICA_PORT" "SELECT pg_wal_replay_resume()" >/dev/null || { say "    could not resume replay"; ok=1; }
  [ "$ok" = 0 ] || return 1
  wait_for 15 replayed || { say "    replica did not catch up after resume"; return 1; }
  for p in "${INSTANCE_PORTS[@]}"; do
    rc=0
    deep_page_has "$p" "$cursor" "$oldest" || rc=$?
    [ "$rc" = 1 ] || { say "    instance $p: deep page still lists the deleted post after replay resumed"; ok=1; }
  done
  return "$ok"
}

# The general budget spent on the first instance is spent on all: the next request to each other
# instance is refused.
step_limits() {
  [ "${#INSTANCE_PORTS[@]}" -ge 2 ] || { say "    one instance: nothing to share (skipped)"; return 0; }
  signup smklim || return 1
  local first=${INSTANCE_PORTS[0]} limit i p ok=0 sent=0
  limit=${RATE_LIMIT_GENERAL%%/*}
  for i in $(seq $((limit + 5))); do
    api GET "http://127.0.0.1:$first/users/me" "$TOKEN"
    sent=$i
    [ "$STATUS" = 429 ] && break
    expect 200 "GET /users/me on $first" || return 1
  done
  [ "$STATUS" = 429 ] || { say "    instance $first never answered 429 within $sent requests (limit $limit)"; return 1; }
  for p in "${INSTANCE_PORTS[@]:1}"; do
    api GET "http://127.0.0.1:$p/users/me" "$TOKEN"
    if [ "$STATUS" = 429 ]; then
      say "    instance $p: 429 after the budget ($((sent - 1)) requests) was spent on instance $first"
    else
      say "    instance $p: $STATUS, not 429: the budget is not shared"
      ok=1
    fi
  done
  return "$ok"
}

targets_up() {
  local body
  body=$(curl -sf --max-time 5 "$PROM_URL/api/v1/targets?state=active") || return 1
  jq -e --argjson n "${#INSTANCE_PORTS[@]}" \
    '[.data.activeTargets[] | select(.labels.job == "socialscale" and .health == "up")] | length == $n' \
    <<<"$body" >/dev/null
}

rules_summary() {
  curl -sf --max-time 5 "$PROM_URL/api/v1/rules" |
    jq -r '[.data.groups[].rules[]] | "\(length) \([.[] | select(.health != "ok")] | length)"'
}
rules_ok() {
  local r
  r=$(rules_summary) || return 1
  [ "${r%% *}" -gt 0 ] && [ "${r##* }" = 0 ]
}

step_prometheus() {
  if ! wait_for 20 targets_up; then
    say "    not every target is up:"
    curl -sf --max-time 5 "$PROM_URL/api/v1/targets" |
      jq -r '.data.activeTargets[] | "      \(.scrapeUrl) \(.health) \(.lastError)"' || true
    return 1
  fi
  local n
  n=$(curl -sf --max-time 5 "$PROM_URL/api/v1/query" --data-urlencode 'query=sum(up{job="socialscale"})' |
    jq -r '.data.result[0].value[1]')
  [ "$n" = "${#INSTANCE_PORTS[@]}" ] || { say "    sum(up) is $n"; return 1; }
  say "    $n of ${#INSTANCE_PORTS[@]} targets up"
  # The alert rules `up` copied beside the configuration are loaded and evaluate cleanly (a
  # rule shows health "unknown" until its first evaluation, a second at most).
  if [ -f deploy/prometheus/alerts.yml ]; then
    if wait_for 10 rules_ok; then
      say "    $(rules_summary | cut -d' ' -f1) alert rules loaded, all evaluating"
    else
      say "    alert rules loaded / not evaluating cleanly: $(rules_summary | tr " " /)"
      return 1
    fi
  fi
}

counts() { # port db
  psql_at "$1" "SELECT (SELECT count(*) FROM users) || ' ' || (SELECT count(*) FROM posts) || ' ' || (SELECT count(*) FROM follows)" "$2"
}

# pg_dump of the live database, pg_restore into a scratch one, the same row counts in both.
step_backup() {
  signup smkfa || return 1
  local a=$TOKEN
  signup smkfb || return 1
  api POST "$LB_URL/users/follow/$USER_ID" "$a"
  case $STATUS in 200 | 201 | 204) ;; *) expect 201 "follow" || return 1 ;; esac
  local file=$RUN/smoke/backup.dump scratch=socialscale_restore_check before after
  psql_at "$PG_PORT" "DROP DATABASE IF EXISTS $scratch" >/dev/null 2>&1
  (cmd_backup "$file") >/dev/null || { say "    backup failed"; return 1; }
  (RESTORE_DB=$scratch && cmd_restore "$file") >/dev/null || { say "    restore failed"; return 1; }
  before=$(counts "$PG_PORT" "$DB_NAME")
  after=$(counts "$PG_PORT" "$scratch")
  psql_at "$PG_PORT" "DROP DATABASE IF EXISTS $scratch" >/dev/null
  say "    users posts follows: live $before, restored $after ($(wc -c <"$file") bytes)"
  [ "$before" = "$after" ] || return 1
  # Empty tables would compare equal without proving anything.
  [[ $before =~ ^[1-9][0-9]*\ [1-9][0-9]*\ [1-9][0-9]*$ ]] || { say "    a table is empty"; return 1; }
}

cmd_smoke() {
  load_env
  mkdir -p "$RUN/smoke"
  local fails=0 step
  for step in parts everywhere replica limits prometheus backup; do
    local desc
    case $step in
      parts) desc="every part answers (postgres primary+replica, redis, instances, balancer)" ;;
      everywhere) desc="a post made through the balancer is visible on every instance" ;;
      replica) desc="a deep page is served by the replica" ;;
      limits) desc="rate limits are shared between instances" ;;
      prometheus) desc="prometheus scrapes every instance" ;;
      backup) desc="pg_dump/pg_restore round trip keeps every row" ;;
    esac
    say "smoke: $desc"
    if "step_$step"; then
      say "  ok"
    else
      say "  FAIL"
      fails=$((fails + 1))
    fi
  done
  # Whatever failed, leave the replica replaying.
  psql_at "$REPLICA_PORT" "SELECT pg_wal_replay_resume()" >/dev/null 2>&1 || true
  if [ "$fails" = 0 ]; then
    say "smoke: 6 passed, 0 failed"
  else
    say "smoke: $((6 - fails)) passed, $fails failed"
    return 1
  fi
}

# --- traffic --------------------------------------------------------------------------------

# A little of every kind of request through the balancer (each simulated client with its own
# X-Forwarded-For, so the small general limit does not stop it), plus a burst that is refused,
# so that every dashboard panel has a series to show.
cmd_traffic() {
  load_env
  mkdir -p "$RUN/smoke"
  local users=${TRAFFIC_USERS:-8} i j tokens=() ids=() posts=() xff errs=0
  for i in $(seq "$users"); do
    xff=127.1.0.$i
    signup "trf$i" "$xff" || { errs=$((errs + 1)); continue; }
    tokens+=("$TOKEN")
    ids+=("$USER_ID")
    for j in 1 2 3; do post "$TOKEN" "traffic $i.$j" "$xff" && posts+=("$POST_ID") || errs=$((errs + 1)); done
  done
  for i in "${!tokens[@]}"; do
    xff=127.1.0.$((i + 1))
    for j in 1 2; do
      api POST "$LB_URL/users/follow/${ids[$(((i + j) % ${#ids[@]}))]}" "${tokens[$i]}" "" "$xff"
    done
    api GET "$LB_URL/feed" "${tokens[$i]}" "" "$xff"
    api GET "$LB_URL/posts?limit=5" "" "" "$xff"
    local cursor
    cursor=$(jq -r '.nextCursor // empty' <<<"$BODY" 2>/dev/null || true)
    [ -z "$cursor" ] || api GET "$LB_URL/posts?limit=5&cursor=$cursor" "" "" "$xff"
    api GET "$LB_URL/users/${ids[$i]}/posts?limit=2" "${tokens[$i]}" "" "$xff"
    for j in "${posts[@]:0:6}"; do api GET "$LB_URL/posts/$j" "${tokens[$i]}" "" "$xff"; done
    api GET "$LB_URL/users/${ids[$i]}" "" "" "$xff"
    api GET "$LB_URL/users/me" "${tokens[$i]}" "" "$xff"
    api GET "$LB_URL/posts/00000000-0000-7000-8000-000000000000" "" "" "$xff"
    api POST "$LB_URL/auth/login" "" "{\"email\":\"nobody$i@example.com\",\"password\":\"wrong-password\"}" "$xff"
  done
  # Deep pages (the replica's reads) once their cursors are old enough.
  sleep 3
  for i in "${!tokens[@]}"; do
    api GET "$LB_URL/users/${ids[$i]}/posts?limit=1" "${tokens[$i]}" "" "127.1.0.$((i + 1))"
    local c
    c=$(jq -r '.nextCursor // empty' <<<"$BODY" 2>/dev/null || true)
    [ -z "$c" ] || api GET "$LB_URL/users/${ids[$i]}/posts?limit=5&cursor=$c" "${tokens[$i]}" "" "127.1.0.$((i + 1))"
  done
  # One client over its general budget: rate-limit rejections.
  local limit=${RATE_LIMIT_GENERAL%%/*} refused=0
  for j in $(seq $((limit + 10))); do
    api GET "$LB_URL/posts?limit=1" "" "" 127.1.1.1
    [ "$STATUS" != 429 ] || refused=$((refused + 1))
  done
  say "traffic: ${#tokens[@]} users, ${#posts[@]} posts, $refused requests refused with 429, $errs errors"
  [ "$errs" = 0 ]
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e '/shellcheck/d' -e 's/^# \{0,1\}//'
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  smoke) cmd_smoke ;;
  traffic) cmd_traffic ;;
  backup) cmd_backup "${2:-}" ;;
  restore) cmd_restore "${2:-}" ;;
  env) load_env && cat "$RUN/env" ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
