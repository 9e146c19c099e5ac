#!/bin/sh
# First start of the database volume only (the postgres image runs this as the superuser):
# the tables' owner and the runtime role, as README "Running on PostgreSQL" creates them.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner_password="$DB_OWNER_PASSWORD" -v app_password="$DB_APP_PASSWORD" <<'SQL'
CREATE ROLE wecare_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE wecare_app LOGIN PASSWORD :'app_password';
CREATE DATABASE wecare OWNER wecare_owner;
\connect wecare
ALTER SCHEMA public OWNER TO wecare_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
