-- Stand-in for pg_graphql: schema graphql and its resolve function (answers null).
-- schemas: graphql
CREATE SCHEMA IF NOT EXISTS graphql;
CREATE OR REPLACE FUNCTION graphql.resolve(
  query text, variables jsonb DEFAULT '{}', "operationName" text DEFAULT NULL,
  extensions jsonb DEFAULT NULL
) RETURNS jsonb LANGUAGE sql AS $$ SELECT NULL::jsonb $$;
CREATE OR REPLACE FUNCTION graphql.comment_directive(comment_ text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$ SELECT NULL::jsonb $$;
