-- Stand-in for pgsql-http: its types and request functions. Nothing is sent.
CREATE DOMAIN @extschema@.http_method AS text;
CREATE DOMAIN @extschema@.content_type AS text;
CREATE TYPE @extschema@.http_header AS (field varchar, value varchar);
CREATE TYPE @extschema@.http_request AS (
  method @extschema@.http_method, uri varchar, headers @extschema@.http_header[],
  content_type varchar, content varchar
);
CREATE TYPE @extschema@.http_response AS (
  status integer, content_type varchar, headers @extschema@.http_header[], content varchar
);
CREATE FUNCTION @extschema@.http_header(field varchar, value varchar)
RETURNS @extschema@.http_header LANGUAGE sql AS $$ SELECT ROW($1, $2)::@extschema@.http_header $$;
CREATE FUNCTION @extschema@.http(request @extschema@.http_request)
RETURNS @extschema@.http_response LANGUAGE sql AS $$ SELECT NULL::@extschema@.http_response $$;
CREATE FUNCTION @extschema@.http_get(uri varchar)
RETURNS @extschema@.http_response LANGUAGE sql AS $$ SELECT NULL::@extschema@.http_response $$;
CREATE FUNCTION @extschema@.http_get(uri varchar, data jsonb)
RETURNS @extschema@.http_response LANGUAGE sql AS $$ SELECT NULL::@extschema@.http_response $$;
CREATE FUNCTION @extschema@.http_post(uri varchar, content varchar, content_type varchar)
RETURNS @extschema@.http_response LANGUAGE sql AS $$ SELECT NULL::@extschema@.http_response $$;
CREATE FUNCTION @extschema@.http_post(uri varchar, data jsonb)
RETURNS @extschema@.http_response LANGUAGE sql AS $$ SELECT NULL::@extschema@.http_response $$;
CREATE FUNCTION @extschema@.http_put(uri varchar, content varchar, content_type varchar)
RETURNS @extschema@.http_response LANGUAGE sql AS $$ SELECT NULL::@extschema@.http_response $$;
CREATE FUNCTION @extschema@.http_patch(uri varchar, content varchar, content_type varchar)
RETURNS @extschema@.http_response LANGUAGE sql AS $$ SELECT NULL::@extschema@.http_response $$;
CREATE FUNCTION @extschema@.http_delete(uri varchar)
RETURNS @extschema@.http_response LANGUAGE sql AS $$ SELECT NULL::@extschema@.http_response $$;
CREATE FUNCTION @extschema@.http_head(uri varchar)
RETURNS @extschema@.http_response LANGUAGE sql AS $$ SELECT NULL::@extschema@.http_response $$;
CREATE FUNCTION @extschema@.urlencode(string varchar) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT $1::text $$;
CREATE FUNCTION @extschema@.urlencode(data jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT $1::text $$;
CREATE FUNCTION @extschema@.http_set_curlopt(curlopt varchar, value varchar) RETURNS boolean
LANGUAGE sql AS $$ SELECT true $$;
CREATE FUNCTION @extschema@.http_reset_curlopt() RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
