#!/bin/sh
# One-shot: creates Temporal's two PostgreSQL databases and brings their schemas to this server
# release's version, with the temporal-sql-tool of the temporalio/admin-tools image (the
# `temporal-schema` service of docker-compose.yml; the server image does not set up schemas).
#
# Idempotent: a database that exists is kept, and a schema already set up is only updated
# (`update-schema` applies the versions it lacks), so every `docker compose up` runs it again.
# An upgrade of the server image is an upgrade of admin-tools too: this script then migrates.
#
# Environment: POSTGRES_SEEDS (host), DB_PORT (default 5432), POSTGRES_USER, POSTGRES_PWD.
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS names the PostgreSQL host}"
: "${POSTGRES_USER:?POSTGRES_USER is required}"
export SQL_PASSWORD="${POSTGRES_PWD:-}"
schemas="${TEMPORAL_HOME:-/etc/temporal}/schema/postgresql/v12"

sql() {
    db="$1"
    shift
    temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "${DB_PORT:-5432}" -u "$POSTGRES_USER" \
        --db "$db" "$@"
}

for pair in temporal:temporal temporal_visibility:visibility; do
    db="${pair%%:*}"
    dir="$schemas/${pair#*:}/versioned"
    sql "$db" create-database 2>/dev/null || echo "temporal-schema: database $db exists"
    if ! sql "$db" update-schema -d "$dir"; then  # no schema yet: set up version 0.0, then update
        sql "$db" setup-schema -v 0.0
        sql "$db" update-schema -d "$dir"
    fi
    echo "temporal-schema: $db is at the schema of $dir"
done
