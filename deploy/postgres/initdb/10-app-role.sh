#!/bin/sh
# First start of the compose postgres volume: create the application role (deploy/postgres/app-role.sql).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app_password="'${APP_DB_PASSWORD}'" -f /app-role.sql
