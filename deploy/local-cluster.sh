#!/usr/bin/env bash
# The scale-out configuration on one machine: N stateless instances of the same binary sharing
# PostgreSQL and Redis, behind nginx. Everything listens on 127.0.0.1 only.
#
#   deploy/local-cluster.sh            # 2 instances behind http://127.0.0.1:8080, Ctrl-C stops all
#   INSTANCES=3 LB_PORT=8081 deploy/local-cluster.sh
#
# Needs: a release build (cargo build --release), nginx (apt-get install nginx), and the
# PostgreSQL and Redis named by PG_ADMIN_URL / REDIS_URL (defaults: this machine's).
set -euo pipefail
cd "$(dirname "$0")/.."

INSTANCES=${INSTANCES:-2}
LB_PORT=${LB_PORT:-8080}
FIRST_PORT=${FIRST_PORT:-3401}
BIN=${BIN:-target/release/socialscale}
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB_NAME=${DB_NAME:-socialscale_cluster}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
export REDIS_KEY_PREFIX=${REDIS_KEY_PREFIX:-cluster:}
[ -x "$BIN" ] || { echo "build first: cargo build --release (or set BIN)"; exit 1; }
command -v nginx >/dev/null || { echo "nginx is needed: apt-get install nginx"; exit 1; }

# One secret for all instances: a token issued by one must be accepted by the others.
export JWT_SECRET=${JWT_SECRET:-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}
export DATABASE_URL=${PG_ADMIN_URL%/*}/$DB_NAME
export TRUSTED_PROXIES=127.0.0.1 HOST=127.0.0.1 LOG_LEVEL=${LOG_LEVEL:-warn}
psql -q "$PG_ADMIN_URL" -tc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1 \
  || psql -q "$PG_ADMIN_URL" -c "CREATE DATABASE $DB_NAME" >/dev/null
"$BIN" migrate >/dev/null

run=$(mktemp -d)
pids=()
stop() {
  nginx -p "$run" -c "$run/nginx.conf" -s quit 2>/dev/null || true
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$run"
}
trap stop EXIT INT TERM

upstreams=""
for i in $(seq 0 $((INSTANCES - 1))); do
  port=$((FIRST_PORT + i))
  PORT=$port "$BIN" >"$run/instance-$port.log" 2>&1 &
  pids+=($!)
  upstreams+="server 127.0.0.1:$port max_fails=1 fail_timeout=2s; "
done
for i in $(seq 0 $((INSTANCES - 1))); do
  port=$((FIRST_PORT + i))
  for _ in $(seq 100); do curl -sf "127.0.0.1:$port/health/readiness" >/dev/null && break; sleep 0.1; done
done
mkdir -p "$run"/{body,proxy,fastcgi,uwsgi,scgi}
sed -e "s|@LISTEN@|127.0.0.1:$LB_PORT|" -e "s|@UPSTREAMS@|$upstreams|" -e "s|@PREFIX@|$run|g" \
  deploy/nginx.conf >"$run/nginx.conf"
nginx -p "$run" -c "$run/nginx.conf"

echo "$INSTANCES instances on ports $FIRST_PORT.. behind http://127.0.0.1:$LB_PORT"
echo "database $DATABASE_URL, redis $REDIS_URL (prefix $REDIS_KEY_PREFIX); logs in $run"
echo "Ctrl-C stops everything."
if [ -n "${SMOKE:-}" ]; then
  # Non-interactive check: sign up through the balancer, post, and read it back from every
  # instance directly.
  token=$(curl -sf -X POST "127.0.0.1:$LB_PORT/auth/signup" -H 'content-type: application/json' \
    -d "{\"email\":\"lb$RANDOM@example.com\",\"password\":\"password123\",\"username\":\"lb$RANDOM\"}" \
    | sed -E 's/.*"token":"([^"]+)".*/\1/')
  id=$(curl -sf -X POST "127.0.0.1:$LB_PORT/posts" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d '{"content":"through the balancer"}' \
    | sed -E 's/^\{"id":"([^"]+)".*/\1/')
  for i in $(seq 0 $((INSTANCES - 1))); do
    port=$((FIRST_PORT + i))
    curl -sf "127.0.0.1:$port/posts?limit=1" | grep -q "$id" \
      && echo "instance $port: sees the new post" || { echo "instance $port: does not"; exit 1; }
  done
  exit 0
fi
wait "${pids[0]}"
