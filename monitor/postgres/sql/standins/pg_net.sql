-- Stand-in for pg_net: schema net, its queue and response tables, the request
-- functions. Nothing is sent; each request returns id 0.
-- schemas: net
CREATE SCHEMA IF NOT EXISTS net;
CREATE TABLE IF NOT EXISTS net.http_request_queue (
  id bigserial NOT NULL, method text NOT NULL, url text NOT NULL, headers jsonb NOT NULL,
  body bytea, timeout_milliseconds integer NOT NULL
);
CREATE TABLE IF NOT EXISTS net._http_response (
  id bigint, status_code integer, content_type text, headers jsonb, content text,
  timed_out boolean, error_msg text, created timestamptz NOT NULL DEFAULT now()
);
CREATE OR REPLACE FUNCTION net.http_get(
  url text, params jsonb DEFAULT '{}', headers jsonb DEFAULT '{}',
  timeout_milliseconds integer DEFAULT 5000
) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
CREATE OR REPLACE FUNCTION net.http_post(
  url text, body jsonb DEFAULT '{}', params jsonb DEFAULT '{}',
  headers jsonb DEFAULT '{"Content-Type": "application/json"}',
  timeout_milliseconds integer DEFAULT 5000
) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
CREATE OR REPLACE FUNCTION net.http_delete(
  url text, params jsonb DEFAULT '{}', headers jsonb DEFAULT '{}',
  timeout_milliseconds integer DEFAULT 5000
) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
