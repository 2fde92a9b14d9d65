-- Stand-in for pgcrypto: its functions' signatures; digests are md5, nothing is encrypted.
CREATE FUNCTION @extschema@.gen_random_bytes(integer) RETURNS bytea LANGUAGE sql VOLATILE
  AS $$ SELECT pg_catalog.decode(pg_catalog.repeat('00', $1), 'hex') $$;
CREATE FUNCTION @extschema@.gen_random_uuid() RETURNS uuid LANGUAGE sql VOLATILE
  AS $$ SELECT pg_catalog.gen_random_uuid() $$;
CREATE FUNCTION @extschema@.digest(text, text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT
  AS $$ SELECT pg_catalog.decode(pg_catalog.md5($1), 'hex') $$;
CREATE FUNCTION @extschema@.digest(bytea, text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT
  AS $$ SELECT pg_catalog.decode(pg_catalog.md5($1), 'hex') $$;
CREATE FUNCTION @extschema@.hmac(text, text, text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT
  AS $$ SELECT pg_catalog.decode(pg_catalog.md5($1 || $2), 'hex') $$;
CREATE FUNCTION @extschema@.hmac(bytea, bytea, text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT
  AS $$ SELECT pg_catalog.decode(pg_catalog.md5($1 || $2), 'hex') $$;
CREATE FUNCTION @extschema@.crypt(text, text) RETURNS text LANGUAGE sql IMMUTABLE STRICT
  AS $$ SELECT pg_catalog.md5($1 || $2) $$;
CREATE FUNCTION @extschema@.gen_salt(text) RETURNS text LANGUAGE sql VOLATILE STRICT
  AS $$ SELECT '$' || $1 || '$' $$;
CREATE FUNCTION @extschema@.gen_salt(text, integer) RETURNS text LANGUAGE sql VOLATILE STRICT
  AS $$ SELECT '$' || $1 || '$' $$;
CREATE FUNCTION @extschema@.encrypt(bytea, bytea, text) RETURNS bytea LANGUAGE sql IMMUTABLE
  STRICT AS $$ SELECT $1 $$;
CREATE FUNCTION @extschema@.decrypt(bytea, bytea, text) RETURNS bytea LANGUAGE sql IMMUTABLE
  STRICT AS $$ SELECT $1 $$;
CREATE FUNCTION @extschema@.pgp_sym_encrypt(text, text) RETURNS bytea LANGUAGE sql STRICT
  AS $$ SELECT pg_catalog.convert_to($1, 'UTF8') $$;
CREATE FUNCTION @extschema@.pgp_sym_encrypt(text, text, text) RETURNS bytea LANGUAGE sql STRICT
  AS $$ SELECT pg_catalog.convert_to($1, 'UTF8') $$;
CREATE FUNCTION @extschema@.pgp_sym_decrypt(bytea, text) RETURNS text LANGUAGE sql STRICT
  AS $$ SELECT pg_catalog.convert_from($1, 'UTF8') $$;
CREATE FUNCTION @extschema@.pgp_sym_decrypt(bytea, text, text) RETURNS text LANGUAGE sql STRICT
  AS $$ SELECT pg_catalog.convert_from($1, 'UTF8') $$;
CREATE FUNCTION @extschema@.armor(bytea) RETURNS text LANGUAGE sql IMMUTABLE STRICT
  AS $$ SELECT pg_catalog.encode($1, 'base64') $$;
CREATE FUNCTION @extschema@.dearmor(text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT
  AS $$ SELECT pg_catalog.decode($1, 'base64') $$;
