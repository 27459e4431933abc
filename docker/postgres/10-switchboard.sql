-- Runs once, when the `postgresql` service initialises an empty data volume
-- (mounted into /docker-entrypoint-initdb.d). Temporal's own databases (temporal,
-- temporal_visibility) are created by the temporal-schema job; this adds Switchboard's database,
-- whose schema the switchboard processes migrate themselves (Store.open).
-- The credentials match SWITCHBOARD_DATABASE_URL in docker-compose.yml: change both together.
-- An existing volume is not re-initialised: `docker compose down -v` starts from scratch.
CREATE ROLE switchboard LOGIN PASSWORD 'switchboard';
CREATE DATABASE switchboard OWNER switchboard;
