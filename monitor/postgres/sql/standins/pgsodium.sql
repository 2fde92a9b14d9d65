-- Stand-in for pgsodium: schema pgsodium, its key table and the functions
-- migrations commonly call. Nothing is encrypted.
-- schemas: pgsodium pgsodium_masks
CREATE SCHEMA IF NOT EXISTS pgsodium;
CREATE SCHEMA IF NOT EXISTS pgsodium_masks;
CREATE TABLE IF NOT EXISTS pgsodium.key (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(), status text DEFAULT 'valid',
  created timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP, expires timestamptz,
  key_type text, key_id bigint, key_context bytea DEFAULT 'pgsodium', name text UNIQUE,
  associated_data text DEFAULT 'associated', raw_key bytea, raw_key_nonce bytea,
  parent_key uuid, comment text, user_data text
);
CREATE OR REPLACE FUNCTION pgsodium.create_key(
  key_type text DEFAULT 'aead-det', name text DEFAULT NULL, raw_key bytea DEFAULT NULL,
  raw_key_nonce bytea DEFAULT NULL, parent_key uuid DEFAULT NULL,
  key_context bytea DEFAULT 'pgsodium', expires timestamptz DEFAULT NULL,
  associated_data text DEFAULT ''
) RETURNS pgsodium.key LANGUAGE sql AS $$
  INSERT INTO pgsodium.key (key_type, name) VALUES (key_type, name) RETURNING *
$$;
CREATE OR REPLACE FUNCTION pgsodium.randombytes_buf(size integer) RETURNS bytea
LANGUAGE sql AS $$ SELECT ''::bytea $$;
CREATE OR REPLACE FUNCTION pgsodium.crypto_aead_det_encrypt(
  message bytea, additional bytea, key_uuid uuid, nonce bytea DEFAULT NULL
) RETURNS bytea LANGUAGE sql AS $$ SELECT message $$;
CREATE OR REPLACE FUNCTION pgsodium.crypto_aead_det_decrypt(
  message bytea, additional bytea, key_uuid uuid, nonce bytea DEFAULT NULL
) RETURNS bytea LANGUAGE sql AS $$ SELECT message $$;
CREATE OR REPLACE FUNCTION pgsodium.crypto_secretbox_keygen() RETURNS bytea
LANGUAGE sql AS $$ SELECT ''::bytea $$;
