-- Stand-in for citext: the type (text underneath, compared as text, not folded),
-- its casts and its default btree and hash operator classes.
CREATE TYPE @extschema@.citext;
CREATE FUNCTION @extschema@.citextin(cstring) RETURNS @extschema@.citext LANGUAGE internal
  IMMUTABLE STRICT PARALLEL SAFE AS 'textin';
CREATE FUNCTION @extschema@.citextout(@extschema@.citext) RETURNS cstring LANGUAGE internal
  IMMUTABLE STRICT PARALLEL SAFE AS 'textout';
CREATE TYPE @extschema@.citext (INPUT = @extschema@.citextin, OUTPUT = @extschema@.citextout,
  INTERNALLENGTH = VARIABLE, STORAGE = extended, CATEGORY = 'S', COLLATABLE = true);
CREATE CAST (@extschema@.citext AS text) WITHOUT FUNCTION AS IMPLICIT;
CREATE CAST (@extschema@.citext AS varchar) WITHOUT FUNCTION AS IMPLICIT;
CREATE CAST (text AS @extschema@.citext) WITHOUT FUNCTION AS ASSIGNMENT;
CREATE CAST (varchar AS @extschema@.citext) WITHOUT FUNCTION AS ASSIGNMENT;
CREATE FUNCTION @extschema@.citext_eq(@extschema@.citext, @extschema@.citext) RETURNS boolean
  LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'texteq';
CREATE FUNCTION @extschema@.citext_ne(@extschema@.citext, @extschema@.citext) RETURNS boolean
  LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'textne';
CREATE FUNCTION @extschema@.citext_lt(@extschema@.citext, @extschema@.citext) RETURNS boolean
  LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'text_lt';
CREATE FUNCTION @extschema@.citext_le(@extschema@.citext, @extschema@.citext) RETURNS boolean
  LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'text_le';
CREATE FUNCTION @extschema@.citext_gt(@extschema@.citext, @extschema@.citext) RETURNS boolean
  LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'text_gt';
CREATE FUNCTION @extschema@.citext_ge(@extschema@.citext, @extschema@.citext) RETURNS boolean
  LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'text_ge';
CREATE FUNCTION @extschema@.citext_cmp(@extschema@.citext, @extschema@.citext) RETURNS integer
  LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'bttextcmp';
CREATE FUNCTION @extschema@.citext_hash(@extschema@.citext) RETURNS integer
  LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'hashtext';
CREATE OPERATOR @extschema@.= (LEFTARG = @extschema@.citext, RIGHTARG = @extschema@.citext,
  FUNCTION = @extschema@.citext_eq, COMMUTATOR = =, NEGATOR = <>, HASHES, MERGES);
CREATE OPERATOR @extschema@.<> (LEFTARG = @extschema@.citext, RIGHTARG = @extschema@.citext,
  FUNCTION = @extschema@.citext_ne, COMMUTATOR = <>, NEGATOR = =);
CREATE OPERATOR @extschema@.< (LEFTARG = @extschema@.citext, RIGHTARG = @extschema@.citext,
  FUNCTION = @extschema@.citext_lt);
CREATE OPERATOR @extschema@.<= (LEFTARG = @extschema@.citext, RIGHTARG = @extschema@.citext,
  FUNCTION = @extschema@.citext_le);
CREATE OPERATOR @extschema@.> (LEFTARG = @extschema@.citext, RIGHTARG = @extschema@.citext,
  FUNCTION = @extschema@.citext_gt);
CREATE OPERATOR @extschema@.>= (LEFTARG = @extschema@.citext, RIGHTARG = @extschema@.citext,
  FUNCTION = @extschema@.citext_ge);
CREATE OPERATOR CLASS @extschema@.citext_ops DEFAULT FOR TYPE @extschema@.citext USING btree AS
  OPERATOR 1 @extschema@.<, OPERATOR 2 @extschema@.<=, OPERATOR 3 @extschema@.=,
  OPERATOR 4 @extschema@.>=, OPERATOR 5 @extschema@.>,
  FUNCTION 1 @extschema@.citext_cmp(@extschema@.citext, @extschema@.citext);
CREATE OPERATOR CLASS @extschema@.citext_hash_ops DEFAULT FOR TYPE @extschema@.citext USING hash AS
  OPERATOR 1 @extschema@.=, FUNCTION 1 @extschema@.citext_hash(@extschema@.citext);
