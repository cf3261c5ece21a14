#!/bin/sh
# One-shot (compose service temporal-schema, image temporalio/admin-tools): create Temporal's two PostgreSQL
# databases and bring their schemas to the version the admin-tools image ships. Safe to run again: existing
# databases are kept and update-schema only applies missing versions.
set -eu
: "${POSTGRES_SEEDS:=postgresql}"
: "${DB_PORT:=5432}"
: "${POSTGRES_USER:=temporal}"
: "${SQL_PASSWORD:?SQL_PASSWORD (the PostgreSQL password) is not set}"
SCHEMA=/etc/temporal/schema/postgresql/v12

tool() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"
}

for db in temporal:temporal temporal_visibility:visibility; do
  name=${db%%:*}
  dir=${db#*:}
  tool --db "$name" create || echo "database $name exists"
  tool --db "$name" setup-schema -v 0.0
  tool --db "$name" update-schema -d "$SCHEMA/$dir/versioned"
done
echo "Temporal schemas are up to date"
