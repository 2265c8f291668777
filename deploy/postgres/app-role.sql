-- The application's database role: reads and writes rows, owns nothing, is no superuser.
--
-- Migrations run as the owner role (compose: intellilog; k8s: the migrate job's secret). The web, worker and
-- beat processes connect as intellilog_app, which cannot ALTER TABLE ... DISABLE TRIGGER (only an owner or a
-- superuser can), so the append-only triggers of the audit and governance tables hold against the application
-- itself. TRUNCATE is not granted either. Run once per database, as the owner, before the first migrate:
--   psql "$OWNER_DATABASE_URL" -v app_password="'...'" -f deploy/postgres/app-role.sql
-- (compose runs it from /docker-entrypoint-initdb.d on the first start of the postgres volume.)
\set ON_ERROR_STOP on
SELECT format('CREATE ROLE intellilog_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD %L', :app_password)
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'intellilog_app') \gexec
GRANT CONNECT ON DATABASE intellilog TO intellilog_app;
GRANT USAGE ON SCHEMA public TO intellilog_app;
-- Tables and sequences the owner creates from now on (every migration) are usable, not owned, by the app.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO intellilog_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO intellilog_app;
-- And those that already exist, when this runs on a database migrated before.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO intellilog_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO intellilog_app;
