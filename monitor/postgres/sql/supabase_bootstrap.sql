-- Supabase bootstrap for plain PostgreSQL 15+.
--
-- Gives a bare database what every Supabase project has before its first
-- migration runs, so that the project's migrations replay unchanged:
--   * the API roles anon, authenticated and service_role;
--   * the auth schema: auth.users and auth.uid(), auth.role(), auth.email(),
--     auth.jwt(), which read the request's JWT claims the way PostgREST sets them;
--   * the supabase_migrations.schema_migrations ledger of the Supabase CLI;
--   * the extensions schema with pgcrypto and uuid-ossp where the server has them;
--   * Supabase's default grants on schema public.
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
    FROM (VALUES ('anon', false), ('authenticated', false), ('service_role', true))
      AS r (name, bypass_rls)
  LOOP
    CONTINUE WHEN EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = wanted.name);
    BEGIN
      -- Only a role that bypasses RLS itself may hand that right out; without
      -- it service_role still exists for the GRANTs and policies that name it.
      EXECUTE pg_catalog.format(
        'CREATE ROLE %I NOLOGIN NOINHERIT%s',
        wanted.name,
        CASE WHEN wanted.bypass_rls AND may_bypass_rls THEN ' BYPASSRLS' ELSE '' END
      );
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      -- The bootstrap of another database on this server created it between
      -- our check and our CREATE ROLE: that is what we wanted.
      NULL;
    END;
  END LOOP;
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
  updated_at timestamptz DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON auth.users (email);

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
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
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

-- Supabase installs its default extensions into their own schema. Not every
-- server ships the contrib modules (gen_random_uuid() is core since 13), so
-- each is installed only where it is available.
CREATE SCHEMA IF NOT EXISTS extensions;
GRANT USAGE ON SCHEMA extensions TO anon, authenticated, service_role;

DO $$
DECLARE
  available text;
BEGIN
  FOR available IN
    SELECT name
    FROM pg_catalog.pg_available_extensions
    WHERE name IN ('pgcrypto', 'uuid-ossp')
  LOOP
    EXECUTE pg_catalog.format('CREATE EXTENSION IF NOT EXISTS %I WITH SCHEMA extensions', available);
  END LOOP;
END
$$;

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
