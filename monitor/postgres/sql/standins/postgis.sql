-- Stand-in for PostGIS: the geometry and geography types with their type modifiers
-- (geometry(Point, 4326), geography(PointZ)), spatial_ref_sys, and the common ST_
-- functions by signature. Nothing is computed. A modifier is kept as a number
-- (srid * 64 + dimensions * 16 + shape), which extensions.py spells back the way
-- PostGIS prints it: geometry(Point,4326).
CREATE FUNCTION @extschema@.postgis_typmod_in(cstring[]) RETURNS integer
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(nullif(($1)[2]::text, '')::integer, 0) * 64
    + CASE WHEN shape ~ 'ZM$' THEN 48 WHEN shape ~ 'Z$' THEN 16 WHEN shape ~ 'M$' THEN 32
      ELSE 0 END
    + array_position(ARRAY['GEOMETRY', 'POINT', 'LINESTRING', 'POLYGON', 'MULTIPOINT',
        'MULTILINESTRING', 'MULTIPOLYGON', 'GEOMETRYCOLLECTION', 'CIRCULARSTRING',
        'COMPOUNDCURVE', 'CURVEPOLYGON', 'MULTICURVE', 'MULTISURFACE', 'POLYHEDRALSURFACE',
        'TRIANGLE', 'TIN'], regexp_replace(shape, '(ZM|Z|M)$', '')) - 1
  FROM (SELECT upper(($1)[1]::text) AS shape) AS modifier
$$;
CREATE TYPE @extschema@.geometry;
CREATE FUNCTION @extschema@.geometry_in(cstring) RETURNS @extschema@.geometry LANGUAGE internal
  IMMUTABLE STRICT PARALLEL SAFE AS 'textin';
CREATE FUNCTION @extschema@.geometry_out(@extschema@.geometry) RETURNS cstring LANGUAGE internal
  IMMUTABLE STRICT PARALLEL SAFE AS 'textout';
CREATE TYPE @extschema@.geometry (INPUT = @extschema@.geometry_in,
  OUTPUT = @extschema@.geometry_out, TYPMOD_IN = @extschema@.postgis_typmod_in,
  INTERNALLENGTH = VARIABLE, STORAGE = main);
CREATE TYPE @extschema@.geography;
CREATE FUNCTION @extschema@.geography_in(cstring) RETURNS @extschema@.geography LANGUAGE internal
  IMMUTABLE STRICT PARALLEL SAFE AS 'textin';
CREATE FUNCTION @extschema@.geography_out(@extschema@.geography) RETURNS cstring
  LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'textout';
CREATE TYPE @extschema@.geography (INPUT = @extschema@.geography_in,
  OUTPUT = @extschema@.geography_out, TYPMOD_IN = @extschema@.postgis_typmod_in,
  INTERNALLENGTH = VARIABLE, STORAGE = main);
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
-- The functions migrations use most, by signature (in views, policies, defaults, checks).
CREATE FUNCTION @extschema@.st_point(double precision, double precision)
  RETURNS @extschema@.geometry LANGUAGE sql IMMUTABLE STRICT
  AS $$ SELECT @extschema@.st_makepoint($1, $2) $$;
CREATE FUNCTION @extschema@.st_point(double precision, double precision, integer)
  RETURNS @extschema@.geometry LANGUAGE sql IMMUTABLE STRICT
  AS $$ SELECT @extschema@.st_makepoint($1, $2) $$;
CREATE FUNCTION @extschema@.st_makepoint(double precision, double precision, double precision)
  RETURNS @extschema@.geometry LANGUAGE sql IMMUTABLE STRICT
  AS $$ SELECT @extschema@.st_makepoint($1, $2) $$;
CREATE FUNCTION @extschema@.st_geomfromtext(text) RETURNS @extschema@.geometry
  LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT $1::@extschema@.geometry $$;
CREATE FUNCTION @extschema@.st_geomfromtext(text, integer) RETURNS @extschema@.geometry
  LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT $1::@extschema@.geometry $$;
CREATE FUNCTION @extschema@.st_geogfromtext(text) RETURNS @extschema@.geography
  LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT $1::@extschema@.geography $$;
CREATE FUNCTION @extschema@.st_geomfromgeojson(text) RETURNS @extschema@.geometry
  LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT $1::@extschema@.geometry $$;
CREATE FUNCTION @extschema@.st_transform(@extschema@.geometry, integer)
  RETURNS @extschema@.geometry LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT $1 $$;
CREATE FUNCTION @extschema@.st_distance(@extschema@.geometry, @extschema@.geometry)
  RETURNS double precision LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT 0::double precision $$;
CREATE FUNCTION @extschema@.st_dwithin(@extschema@.geometry, @extschema@.geometry,
  double precision) RETURNS boolean LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT false $$;
CREATE FUNCTION @extschema@.st_intersects(@extschema@.geometry, @extschema@.geometry)
  RETURNS boolean LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT false $$;
CREATE FUNCTION @extschema@.st_intersects(@extschema@.geography, @extschema@.geography)
  RETURNS boolean LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT false $$;
CREATE FUNCTION @extschema@.st_contains(@extschema@.geometry, @extschema@.geometry)
  RETURNS boolean LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT false $$;
CREATE FUNCTION @extschema@.st_within(@extschema@.geometry, @extschema@.geometry)
  RETURNS boolean LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT false $$;
CREATE FUNCTION @extschema@.st_buffer(@extschema@.geometry, double precision)
  RETURNS @extschema@.geometry LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT $1 $$;
CREATE FUNCTION @extschema@.st_buffer(@extschema@.geography, double precision)
  RETURNS @extschema@.geography LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT $1 $$;
CREATE FUNCTION @extschema@.st_centroid(@extschema@.geometry) RETURNS @extschema@.geometry
  LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT $1 $$;
CREATE FUNCTION @extschema@.st_x(@extschema@.geometry) RETURNS double precision
  LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT 0::double precision $$;
CREATE FUNCTION @extschema@.st_y(@extschema@.geometry) RETURNS double precision
  LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT 0::double precision $$;
CREATE FUNCTION @extschema@.st_srid(@extschema@.geometry) RETURNS integer
  LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT 0 $$;
CREATE FUNCTION @extschema@.st_area(@extschema@.geometry) RETURNS double precision
  LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT 0::double precision $$;
CREATE FUNCTION @extschema@.st_area(@extschema@.geography, boolean DEFAULT true)
  RETURNS double precision LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT 0::double precision $$;
CREATE FUNCTION @extschema@.st_length(@extschema@.geometry) RETURNS double precision
  LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT 0::double precision $$;
CREATE FUNCTION @extschema@.st_astext(@extschema@.geometry) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT $1::text $$;
CREATE FUNCTION @extschema@.st_asgeojson(@extschema@.geography) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT '{}'::text $$;
CREATE FUNCTION @extschema@.st_makeenvelope(double precision, double precision,
  double precision, double precision, integer DEFAULT 0) RETURNS @extschema@.geometry
  LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT 'POLYGON EMPTY'::@extschema@.geometry $$;
CREATE FUNCTION @extschema@.st_isvalid(@extschema@.geometry) RETURNS boolean
  LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT true $$;
CREATE FUNCTION @extschema@.st_geometrytype(@extschema@.geometry) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT 'ST_Geometry'::text $$;
-- Operators: equality (for indexes) and the bounding box overlap (&&).
CREATE FUNCTION @extschema@.geometry_eq(@extschema@.geometry, @extschema@.geometry)
  RETURNS boolean LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'byteaeq';
CREATE FUNCTION @extschema@.geography_eq(@extschema@.geography, @extschema@.geography)
  RETURNS boolean LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'byteaeq';
CREATE OPERATOR @extschema@.= (LEFTARG = @extschema@.geometry,
  RIGHTARG = @extschema@.geometry, FUNCTION = @extschema@.geometry_eq);
CREATE OPERATOR @extschema@.= (LEFTARG = @extschema@.geography,
  RIGHTARG = @extschema@.geography, FUNCTION = @extschema@.geography_eq);
CREATE FUNCTION @extschema@.geometry_overlaps(@extschema@.geometry, @extschema@.geometry)
  RETURNS boolean LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT false $$;
CREATE OPERATOR @extschema@.&& (LEFTARG = @extschema@.geometry,
  RIGHTARG = @extschema@.geometry, FUNCTION = @extschema@.geometry_overlaps);
-- GiST indexes on geometry and geography: a stand-in method (hash underneath) that
-- extensions.py creates them with and names back as gist.
CREATE FUNCTION @extschema@.geometry_hash(@extschema@.geometry) RETURNS integer
  LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'hashvarlena';
CREATE FUNCTION @extschema@.geography_hash(@extschema@.geography) RETURNS integer
  LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'hashvarlena';
DO $standin$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_am WHERE amname = 'postgis_standin_gist') THEN
    CREATE ACCESS METHOD postgis_standin_gist TYPE INDEX HANDLER pg_catalog.hashhandler;
  END IF;
END
$standin$;
CREATE OPERATOR CLASS @extschema@.gist_geometry_ops_2d DEFAULT FOR TYPE @extschema@.geometry
  USING postgis_standin_gist AS OPERATOR 1 @extschema@.=,
  FUNCTION 1 @extschema@.geometry_hash(@extschema@.geometry);
CREATE OPERATOR CLASS @extschema@.gist_geography_ops DEFAULT FOR TYPE @extschema@.geography
  USING postgis_standin_gist AS OPERATOR 1 @extschema@.=,
  FUNCTION 1 @extschema@.geography_hash(@extschema@.geography);
