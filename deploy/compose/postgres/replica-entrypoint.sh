#!/usr/bin/env bash
# Entrypoint of the postgres-replica service (postgres:15 image). On first start the data
# directory is empty: copy the primary with pg_basebackup (-R writes standby.signal and
# primary_conninfo, so the server starts as a hot standby streaming from the slot). Then hand over
# to the image's own entrypoint, which finds an existing data directory and just runs postgres.
set -euo pipefail
: "${PRIMARY_HOST:?}" "${REPLICATION_USER:?}" "${REPLICATION_PASSWORD:?}"
PGDATA=${PGDATA:-/var/lib/postgresql/data}
slot=${REPLICATION_SLOT:-replica1}
port=${PRIMARY_PORT:-5432}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  # depends_on waits for the primary's healthcheck, but a restart of both can still race.
  deadline=$((SECONDS + 120))
  until pg_isready -q -h "$PRIMARY_HOST" -p "$port"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "replica: primary $PRIMARY_HOST not ready after 120 s" >&2
      exit 1
    fi
    sleep 1
  done
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA"
  chmod 700 "$PGDATA"
  # pg_basebackup removes what it wrote if it fails, so a retry starts clean. A fast checkpoint:
  # the default spread one can keep the replica waiting for minutes on an idle primary.
  PGPASSWORD=$REPLICATION_PASSWORD gosu postgres pg_basebackup \
    --host="$PRIMARY_HOST" --port="$port" --username="$REPLICATION_USER" --no-password \
    --pgdata="$PGDATA" --checkpoint=fast --wal-method=stream --slot="$slot" --write-recovery-conf --progress
fi

# hot_standby is on by default; said here because the read URLs depend on it.
exec docker-entrypoint.sh postgres -c hot_standby=on
