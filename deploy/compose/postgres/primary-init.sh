#!/usr/bin/env bash
# Run once by the postgres image's entrypoint (docker-entrypoint-initdb.d) when the primary's data
# directory is first created: makes it ready to be copied by the replica's pg_basebackup.
# The names and password come from the environment (deploy/.env), never from this file.
set -euo pipefail
: "${REPLICATION_USER:?}" "${REPLICATION_PASSWORD:?}"

# psql variables (:"name", :'value') quote the role name and password, so any characters work.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --set=repl_user="$REPLICATION_USER" --set=repl_password="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE :"repl_user" WITH REPLICATION LOGIN PASSWORD :'repl_password';
-- A slot keeps the WAL the replica has not received yet, so a replica that was down for a while
-- catches up instead of needing a new base backup (at the cost of disk on the primary).
SELECT pg_create_physical_replication_slot('replica1');
SQL

# The image's pg_hba.conf accepts password logins to databases, but a replication connection
# matches only lines naming `replication`.
echo "host replication $REPLICATION_USER all scram-sha-256" >>"$PGDATA/pg_hba.conf"
