-- Supabase bootstrap for plain PostgreSQL 15+.
--
-- Gives a bare database what every Supabase project has before its first
-- migration runs, so that the project's migrations replay unchanged:
--   * the API roles anon, authenticated and service_role, and the platform's
--     roles (authenticator, supabase_admin, supabase_auth_admin ...);
--   * the auth schema: users, identities, sessions, refresh_tokens ... and
--     auth.uid(), auth.role(), auth.email(), auth.jwt(), which read the
--     request's JWT claims the way PostgREST sets them;
--   * the storage schema: buckets, objects (row level security on) and the
--     path helpers storage.foldername(), filename(), extension();
--   * the realtime schema: messages (row level security on), realtime.send()
--     and broadcast_changes(), and the supabase_realtime publication;
--   * the supabase_migrations.schema_migrations ledger of the Supabase CLI;
--   * the extensions schema, on the database's search_path, with pgcrypto,
--     uuid-ossp and pg_stat_statements where the server has them;
--   * the graphql_public and vault schemas;
--   * Supabase's default grants on schema public.
--
-- Tables here are the columns migrations commonly reference, not every column
-- of the platform's current version: a spec never expects the platform's tables.
-- The platform's vault and graphql are written once, here, between
-- "-- begin stand-in: NAME" and "-- end stand-in: NAME": a migration that
-- creates that extension on a server without it gets the same section.
--
-- Idempotent: roles are cluster-wide and this file is applied to many
-- databases of one server, so everything is created only if missing.
-- It is meant to run in one transaction (psql -1, or monitor.migrations.apply_sql).

-- Roles -------------------------------------------------------------------

DO $$
DECLARE
  wanted record;
  may_bypass_rls boolean;
BEGIN
  SELECT rolsuper OR rolbypassrls INTO may_bypass_rls
  FROM pg_catalog.pg_roles
  WHERE rolname = current_user;

  FOR wanted IN
    SELECT *
    FROM (VALUES ('anon', false, false), ('authenticated', false, false),
                 ('service_role', true, false), ('authenticator', false, true),
                 ('supabase_admin', true, true), ('supabase_auth_admin', false, true),
                 ('supabase_storage_admin', false, true),
                 ('supabase_realtime_admin', false, false),
                 ('supabase_replication_admin', false, true),
                 ('supabase_read_only_user', true, true), ('dashboard_user', false, false),
                 ('pgbouncer', false, true), ('postgres', true, true))
      AS r (name, bypass_rls, can_login)
  LOOP
    CONTINUE WHEN EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = wanted.name);
    BEGIN
      -- Only a role that bypasses RLS itself may hand that right out; without
      -- it service_role still exists for the GRANTs and policies that name it.
      EXECUTE pg_catalog.format(
        'CREATE ROLE %I %s NOINHERIT%s',
        wanted.name,
        CASE WHEN wanted.can_login THEN 'LOGIN' ELSE 'NOLOGIN' END,
        CASE WHEN wanted.bypass_rls AND may_bypass_rls THEN ' BYPASSRLS' ELSE '' END
      );
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      -- The bootstrap of another database on this server created it between
      -- our check and our CREATE ROLE: that is what we wanted.
      NULL;
    END;
  END LOOP;
  -- PostgREST's login role switches to the API roles.
  BEGIN
    GRANT anon, authenticated, service_role TO authenticator;
  EXCEPTION WHEN insufficient_privilege THEN
    NULL;  -- a shadow role that may not grant them: the roles still exist
  END;
END
$$;

-- Schema auth ---------------------------------------------------------------

CREATE SCHEMA IF NOT EXISTS auth;
COMMENT ON SCHEMA auth IS 'Supabase Auth: users and the claims of the current request.';

CREATE TABLE IF NOT EXISTS auth.users (
  instance_id uuid,
  id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  aud varchar(255),
  role varchar(255),
  email varchar(255),
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  last_sign_in_at timestamptz,
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  is_super_admin boolean,
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz DEFAULT now(),
  phone text UNIQUE,
  phone_confirmed_at timestamptz,
  confirmed_at timestamptz,
  invited_at timestamptz,
  confirmation_token varchar(255),
  recovery_token varchar(255),
  recovery_sent_at timestamptz,
  email_change varchar(255),
  banned_until timestamptz,
  reauthentication_token varchar(255),
  is_sso_user boolean NOT NULL DEFAULT false,
  deleted_at timestamptz,
  is_anonymous boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON auth.users (email);

CREATE TABLE IF NOT EXISTS auth.identities (
  provider_id text NOT NULL,
  user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  identity_data jsonb NOT NULL,
  provider text NOT NULL,
  last_sign_in_at timestamptz,
  created_at timestamptz,
  updated_at timestamptz,
  email text GENERATED ALWAYS AS (lower(identity_data ->> 'email')) STORED,
  id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  UNIQUE (provider_id, provider)
);
CREATE TABLE IF NOT EXISTS auth.sessions (
  id uuid NOT NULL PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  created_at timestamptz,
  updated_at timestamptz,
  factor_id uuid,
  aal text,
  not_after timestamptz,
  refreshed_at timestamp,
  user_agent text,
  ip inet,
  tag text
);
CREATE TABLE IF NOT EXISTS auth.refresh_tokens (
  instance_id uuid,
  id bigserial PRIMARY KEY,
  token varchar(255) UNIQUE,
  user_id varchar(255),
  revoked boolean,
  created_at timestamptz,
  updated_at timestamptz,
  parent varchar(255),
  session_id uuid REFERENCES auth.sessions (id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS auth.mfa_factors (
  id uuid NOT NULL PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  friendly_name text,
  factor_type text NOT NULL,
  status text NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  secret text
);
CREATE TABLE IF NOT EXISTS auth.audit_log_entries (
  instance_id uuid,
  id uuid NOT NULL PRIMARY KEY,
  payload json,
  created_at timestamptz,
  ip_address varchar(64) NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS auth.instances (
  id uuid NOT NULL PRIMARY KEY,
  uuid uuid,
  raw_base_config text,
  created_at timestamptz,
  updated_at timestamptz
);
CREATE TABLE IF NOT EXISTS auth.schema_migrations (version varchar(255) NOT NULL PRIMARY KEY);

-- PostgREST sets request.jwt.claims (JSON) for each request; older versions
-- set one request.jwt.claim.<name> per claim. Both are read, as Supabase does.
CREATE OR REPLACE FUNCTION auth.uid()
RETURNS uuid
LANGUAGE sql
STABLE
AS $$
  SELECT coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

CREATE OR REPLACE FUNCTION auth.role()
RETURNS text
LANGUAGE sql
STABLE
AS $$
  SELECT coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

CREATE OR REPLACE FUNCTION auth.email()
RETURNS text
LANGUAGE sql
STABLE
AS $$
  SELECT coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;

CREATE OR REPLACE FUNCTION auth.jwt()
RETURNS jsonb
LANGUAGE sql
STABLE
AS $$
  SELECT coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

-- Policies call auth.uid() as the requesting role; the users table itself
-- stays private to the database owner, as on Supabase.
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role, dashboard_user;
GRANT EXECUTE ON FUNCTION auth.uid(), auth.role(), auth.email(), auth.jwt()
  TO anon, authenticated, service_role;

-- Migration ledger of the Supabase CLI -------------------------------------

CREATE SCHEMA IF NOT EXISTS supabase_migrations;
CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (
  version text PRIMARY KEY,
  statements text[],
  name text
);

-- Extensions ----------------------------------------------------------------

-- Supabase installs its default extensions into their own schema, which is on
-- the database's search_path, so an unqualified gen_random_bytes() resolves.
-- Not every server ships the contrib modules (gen_random_uuid() is core since
-- 13), so each is installed only where it is available.
CREATE SCHEMA IF NOT EXISTS extensions;
GRANT USAGE ON SCHEMA extensions TO anon, authenticated, service_role, dashboard_user;

DO $$
DECLARE
  available text;
BEGIN
  FOR available IN
    SELECT name
    FROM pg_catalog.pg_available_extensions
    WHERE name IN ('pgcrypto', 'uuid-ossp', 'pg_stat_statements')
  LOOP
    EXECUTE pg_catalog.format('CREATE EXTENSION IF NOT EXISTS %I WITH SCHEMA extensions', available);
  END LOOP;
  -- Every later session (each migration file has its own) finds them unqualified.
  EXECUTE pg_catalog.format(
    'ALTER DATABASE %I SET search_path TO "$user", public, extensions',
    pg_catalog.current_database()
  );
END
$$;

-- Schema storage --------------------------------------------------------------

CREATE SCHEMA IF NOT EXISTS storage;
GRANT USAGE ON SCHEMA storage TO anon, authenticated, service_role, dashboard_user;

CREATE TABLE IF NOT EXISTS storage.buckets (
  id text NOT NULL PRIMARY KEY,
  name text NOT NULL,
  owner uuid,
  owner_id text,
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz DEFAULT now(),
  public boolean DEFAULT false,
  avif_autodetection boolean DEFAULT false,
  file_size_limit bigint,
  allowed_mime_types text[]
);
CREATE UNIQUE INDEX IF NOT EXISTS bname ON storage.buckets (name);

CREATE TABLE IF NOT EXISTS storage.objects (
  id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  bucket_id text REFERENCES storage.buckets (id),
  name text,
  owner uuid,
  owner_id text,
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz DEFAULT now(),
  last_accessed_at timestamptz DEFAULT now(),
  metadata jsonb,
  user_metadata jsonb,
  version text,
  path_tokens text[] GENERATED ALWAYS AS (pg_catalog.string_to_array(name, '/')) STORED
);
CREATE UNIQUE INDEX IF NOT EXISTS bucketid_objname ON storage.objects (bucket_id, name);
CREATE INDEX IF NOT EXISTS name_prefix_search ON storage.objects (name text_pattern_ops);

CREATE TABLE IF NOT EXISTS storage.migrations (
  id integer NOT NULL PRIMARY KEY,
  name varchar(100) NOT NULL UNIQUE,
  hash varchar(40) NOT NULL,
  executed_at timestamp DEFAULT CURRENT_TIMESTAMP
);

ALTER TABLE storage.buckets ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage.objects ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage.migrations ENABLE ROW LEVEL SECURITY;
GRANT ALL ON storage.buckets, storage.objects TO anon, authenticated, service_role;

-- Path helpers that storage policies use: 'avatars/u1/me.png' ->
-- foldername {avatars,u1}, filename me.png, extension png.
CREATE OR REPLACE FUNCTION storage.foldername(name text)
RETURNS text[]
LANGUAGE plpgsql
IMMUTABLE
AS $$
DECLARE
  _parts text[];
BEGIN
  SELECT pg_catalog.string_to_array(name, '/') INTO _parts;
  RETURN _parts[1:pg_catalog.array_length(_parts, 1) - 1];
END
$$;

CREATE OR REPLACE FUNCTION storage.filename(name text)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
AS $$
DECLARE
  _parts text[];
BEGIN
  SELECT pg_catalog.string_to_array(name, '/') INTO _parts;
  RETURN _parts[pg_catalog.array_length(_parts, 1)];
END
$$;

CREATE OR REPLACE FUNCTION storage.extension(name text)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
AS $$
DECLARE
  _parts text[];
  _filename text;
BEGIN
  SELECT pg_catalog.string_to_array(name, '/') INTO _parts;
  SELECT _parts[pg_catalog.array_length(_parts, 1)] INTO _filename;
  RETURN pg_catalog.reverse(pg_catalog.split_part(pg_catalog.reverse(_filename), '.', 1));
END
$$;

GRANT EXECUTE ON FUNCTION storage.foldername(text), storage.filename(text),
  storage.extension(text) TO anon, authenticated, service_role;

-- Schema realtime ---------------------------------------------------------------

CREATE SCHEMA IF NOT EXISTS realtime;
GRANT USAGE ON SCHEMA realtime TO anon, authenticated, service_role;

CREATE TABLE IF NOT EXISTS realtime.messages (
  topic text NOT NULL,
  extension text NOT NULL,
  payload jsonb,
  event text,
  private boolean DEFAULT false,
  updated_at timestamp NOT NULL DEFAULT now(),
  inserted_at timestamp NOT NULL DEFAULT now(),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  PRIMARY KEY (id, inserted_at)
);
ALTER TABLE realtime.messages ENABLE ROW LEVEL SECURITY;
GRANT SELECT, INSERT, UPDATE ON realtime.messages TO anon, authenticated, service_role;

CREATE TABLE IF NOT EXISTS realtime.schema_migrations (
  version bigint NOT NULL PRIMARY KEY,
  inserted_at timestamp(0)
);

-- The channel's topic, as Realtime sets it for a policy check.
CREATE OR REPLACE FUNCTION realtime.topic()
RETURNS text
LANGUAGE sql
STABLE
AS $$ SELECT nullif(current_setting('realtime.topic', true), '')::text $$;

CREATE OR REPLACE FUNCTION realtime.send(
  payload jsonb, event text, topic text, private boolean DEFAULT true
)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  INSERT INTO realtime.messages (payload, event, topic, private, extension)
  VALUES (payload, event, topic, private, 'broadcast');
END
$$;

CREATE OR REPLACE FUNCTION realtime.broadcast_changes(
  topic_name text, event_name text, operation text, table_name text, table_schema text,
  new record, old record, level text DEFAULT 'ROW'
)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM realtime.send(
    pg_catalog.jsonb_build_object(
      'operation', operation, 'table', table_name, 'schema', table_schema,
      'record', pg_catalog.to_jsonb(new), 'old_record', pg_catalog.to_jsonb(old)
    ),
    event_name, topic_name, true
  );
END
$$;

-- Tables a project adds to this publication stream their changes to clients.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_publication WHERE pubname = 'supabase_realtime') THEN
    CREATE PUBLICATION supabase_realtime;
  END IF;
END
$$;

-- Schemas graphql_public and vault ------------------------------------------------

-- begin stand-in: pg_graphql
-- Stand-in for pg_graphql: schema graphql and its resolve function (answers null).
-- schemas: graphql
CREATE SCHEMA IF NOT EXISTS graphql;
CREATE OR REPLACE FUNCTION graphql.resolve(
  query text, variables jsonb DEFAULT '{}', "operationName" text DEFAULT NULL,
  extensions jsonb DEFAULT NULL
) RETURNS jsonb LANGUAGE sql AS $$ SELECT NULL::jsonb $$;
CREATE OR REPLACE FUNCTION graphql.comment_directive(comment_ text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$ SELECT NULL::jsonb $$;
-- end stand-in: pg_graphql
CREATE SCHEMA IF NOT EXISTS graphql_public;
GRANT USAGE ON SCHEMA graphql_public TO anon, authenticated, service_role;
CREATE OR REPLACE FUNCTION graphql_public.graphql(
  "operationName" text DEFAULT NULL, query text DEFAULT NULL,
  variables jsonb DEFAULT NULL, extensions jsonb DEFAULT NULL
)
RETURNS jsonb
LANGUAGE sql
AS $$ SELECT graphql.resolve(query, coalesce(variables, '{}'), "operationName", extensions) $$;

-- begin stand-in: supabase_vault
-- Stand-in for Supabase Vault: schema vault, its secrets table and decrypted view,
-- create_secret and update_secret. Secrets are stored as given.
-- schemas: vault
CREATE SCHEMA IF NOT EXISTS vault;
CREATE TABLE IF NOT EXISTS vault.secrets (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text, description text NOT NULL DEFAULT '',
  secret text NOT NULL, key_id uuid, nonce bytea,
  created_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX IF NOT EXISTS secrets_name_idx ON vault.secrets (name) WHERE name IS NOT NULL;
CREATE OR REPLACE VIEW vault.decrypted_secrets AS
  SELECT s.*, s.secret AS decrypted_secret FROM vault.secrets AS s;
CREATE OR REPLACE FUNCTION vault.create_secret(
  new_secret text, new_name text DEFAULT NULL, new_description text DEFAULT '',
  new_key_id uuid DEFAULT NULL
) RETURNS uuid LANGUAGE sql AS $$
  INSERT INTO vault.secrets (secret, name, description, key_id)
  VALUES (new_secret, new_name, new_description, new_key_id) RETURNING id
$$;
CREATE OR REPLACE FUNCTION vault.update_secret(
  secret_id uuid, new_secret text DEFAULT NULL, new_name text DEFAULT NULL,
  new_description text DEFAULT NULL, new_key_id uuid DEFAULT NULL
) RETURNS void LANGUAGE sql AS $$
  UPDATE vault.secrets SET secret = coalesce(new_secret, secret), name = coalesce(new_name, name),
    description = coalesce(new_description, description), updated_at = now()
  WHERE id = secret_id
$$;
-- end stand-in: supabase_vault

-- Default grants on schema public ------------------------------------------

-- Supabase exposes every new table of schema public to the API roles and
-- lets row level security decide; migrations narrow this with REVOKE.
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
