-- Stand-in for pgjwt: its functions, returning empty tokens.
CREATE OR REPLACE FUNCTION @extschema@.url_encode(data bytea) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT translate(encode(data, 'base64'), E'+/=\n', '-_') $$;
CREATE OR REPLACE FUNCTION @extschema@.url_decode(data text) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$ SELECT ''::bytea $$;
CREATE OR REPLACE FUNCTION @extschema@.algorithm_sign(signables text, secret text, algorithm text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT ''::text $$;
CREATE OR REPLACE FUNCTION @extschema@.sign(payload json, secret text, algorithm text DEFAULT 'HS256')
RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT ''::text $$;
CREATE OR REPLACE FUNCTION @extschema@.try_cast_double(inp text) RETURNS double precision
LANGUAGE sql IMMUTABLE AS $$ SELECT NULL::double precision $$;
CREATE OR REPLACE FUNCTION @extschema@.verify(token text, secret text, algorithm text DEFAULT 'HS256')
RETURNS TABLE (header json, payload json, valid boolean)
LANGUAGE sql IMMUTABLE AS $$ SELECT NULL::json, NULL::json, false $$;
