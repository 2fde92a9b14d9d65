#!/bin/sh
# Runs once, when the postgres container starts on an empty data volume
# (docker-entrypoint-initdb.d): the Supabase bootstrap, then each example
# migration in file-name order, each in its own transaction and recorded in
# the Supabase CLI ledger the way `supabase db push` records it. Last, the
# login role schema-monitor connects as (see docs/deploy.md).
#
# The variables below default to what docker-compose.yml mounts and sets;
# tests/deploy/test_compose.py runs this script against a test server.
set -eu

BOOTSTRAP_FILE=${BOOTSTRAP_FILE:-/schema-monitor/supabase_bootstrap.sql}
MIGRATIONS_DIR=${MIGRATIONS_DIR:-/schema-monitor/migrations}
MONITOR_ROLE=${MONITOR_ROLE:-schema_monitor}

# The migrations' "does not exist, skipping" notices would bury real output.
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

run_psql() {
  psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet \
    --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" "$@"
}

run_psql --single-transaction --file "$BOOTSTRAP_FILE"

for file in "$MIGRATIONS_DIR"/*.sql; do
  name=$(basename "$file" .sql)
  echo "applying migration $name"
  # The ledger row goes in the same transaction as the migration.
  run_psql --single-transaction --file "$file" --file - \
    --set version="${name%%_*}" --set name="${name#*_}" <<'SQL'
INSERT INTO supabase_migrations.schema_migrations (version, name) VALUES (:'version', :'name');
SQL
done

# Read-only by construction: pg_monitor reads the statistics views; the
# catalogs are readable by every role; the ledger needs its own grant.
run_psql --set role="$MONITOR_ROLE" --set password="$MONITOR_PASSWORD" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password' IN ROLE pg_monitor;
GRANT USAGE ON SCHEMA supabase_migrations TO :"role";
GRANT SELECT ON supabase_migrations.schema_migrations TO :"role";
SQL
