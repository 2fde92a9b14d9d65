-- Stand-in for PostGIS: the geometry and geography types (no type modifiers:
-- geometry(Point, 4326) needs the real extension), spatial_ref_sys, and a few
-- constructors. Nothing is computed.
CREATE TYPE @extschema@.geometry;
CREATE FUNCTION @extschema@.geometry_in(cstring) RETURNS @extschema@.geometry LANGUAGE internal
  IMMUTABLE STRICT PARALLEL SAFE AS 'textin';
CREATE FUNCTION @extschema@.geometry_out(@extschema@.geometry) RETURNS cstring LANGUAGE internal
  IMMUTABLE STRICT PARALLEL SAFE AS 'textout';
CREATE TYPE @extschema@.geometry (INPUT = @extschema@.geometry_in,
  OUTPUT = @extschema@.geometry_out, INTERNALLENGTH = VARIABLE, STORAGE = main);
CREATE TYPE @extschema@.geography;
CREATE FUNCTION @extschema@.geography_in(cstring) RETURNS @extschema@.geography LANGUAGE internal
  IMMUTABLE STRICT PARALLEL SAFE AS 'textin';
CREATE FUNCTION @extschema@.geography_out(@extschema@.geography) RETURNS cstring
  LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'textout';
CREATE TYPE @extschema@.geography (INPUT = @extschema@.geography_in,
  OUTPUT = @extschema@.geography_out, INTERNALLENGTH = VARIABLE, STORAGE = main);
CREATE TABLE @extschema@.spatial_ref_sys (
  srid integer NOT NULL PRIMARY KEY, auth_name varchar(256), auth_srid integer,
  srtext varchar(2048), proj4text varchar(2048)
);
CREATE FUNCTION @extschema@.st_makepoint(double precision, double precision)
  RETURNS @extschema@.geometry LANGUAGE sql IMMUTABLE STRICT
  AS $$ SELECT ('POINT(' || $1 || ' ' || $2 || ')')::@extschema@.geometry $$;
CREATE FUNCTION @extschema@.st_setsrid(@extschema@.geometry, integer)
  RETURNS @extschema@.geometry LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT $1 $$;
CREATE FUNCTION @extschema@.st_distance(@extschema@.geography, @extschema@.geography)
  RETURNS double precision LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT 0::double precision $$;
CREATE FUNCTION @extschema@.st_dwithin(@extschema@.geography, @extschema@.geography,
  double precision) RETURNS boolean LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT false $$;
CREATE FUNCTION @extschema@.st_asgeojson(@extschema@.geometry) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT '{}'::text $$;
CREATE CAST (@extschema@.geometry AS @extschema@.geography) WITH INOUT AS IMPLICIT;
CREATE CAST (@extschema@.geography AS @extschema@.geometry) WITH INOUT AS ASSIGNMENT;
