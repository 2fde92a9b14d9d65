"""A corpus of schema pairs for the repair script: database A, database B, both as SQL.

Each pair is checked both ways (the spec taken from B and A checked against
it, then the reverse), so a pair that adds an object in B also drops it from
A. Together they cover every kind the model knows and every ordering hazard
a repair meets: sequences before the tables whose defaults use them, keys
before the views that rely on them, dependents dropped before what they
depend on, constraints with their indexes, tables replaced by views, view
columns that change, enum to enum through text, partitions and inheritance,
identity columns, narrowings and data-losing changes.

Written for this project, modelled on what migrations of real projects do.
"""

from __future__ import annotations

from dataclasses import dataclass

# Roles the pairs grant to and own with: cluster-wide, made once per run.
ROLES = ("corpus_reader", "corpus_writer", "corpus_owner")


@dataclass(frozen=True, slots=True)
class Pair:
    name: str
    a: str  # setup of database A
    b: str  # setup of database B
    fast: bool = False  # one of the representative pairs that run with the fast suite


ORGS = "CREATE TABLE public.orgs (id bigint PRIMARY KEY, name text NOT NULL);\n"
ITEMS = (
    "CREATE TABLE public.items (id bigint PRIMARY KEY, org_id bigint NOT NULL,"
    " title varchar(200), price numeric(10,2), created_at timestamptz DEFAULT now());\n"
)
BASE = ORGS + ITEMS
FN_TOUCH = """
CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.created_at = now(); RETURN NEW; END $$;
"""
FN_IS_ADMIN = """
CREATE FUNCTION public.is_admin() RETURNS boolean LANGUAGE sql STABLE
SET search_path = '' AS $$ SELECT current_user = 'postgres' $$;
"""
ENUMS = (
    "CREATE TYPE public.status AS ENUM ('draft', 'live');\n"
    "CREATE TYPE public.state AS ENUM ('draft', 'live', 'gone');\n"
)
PARTITIONED = """
CREATE TABLE public.events (id bigint NOT NULL, at date NOT NULL, body text)
  PARTITION BY RANGE (at);
CREATE TABLE public.events_2025 PARTITION OF public.events
  FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
"""
INHERITED = """
CREATE TABLE public.vehicles (id bigint, name text, wheels int);
CREATE TABLE public.trucks (payload int) INHERITS (public.vehicles);
"""


def _pair(name: str, a: str, b: str, *, fast: bool = False) -> Pair:
    return Pair(name, a, b, fast)


PAIRS: tuple[Pair, ...] = (
    # --- tables and sequences -----------------------------------------------------------------
    _pair("serial table", BASE,
          BASE + "CREATE TABLE public.tags (id serial PRIMARY KEY, label text NOT NULL);",
          fast=True),
    _pair("identity table", BASE,
          BASE + "CREATE TABLE public.logs (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
          " line text);"),
    _pair("table with everything", BASE + FN_TOUCH + FN_IS_ADMIN,
          BASE + FN_TOUCH + FN_IS_ADMIN + """
CREATE TABLE public.notes (id bigint PRIMARY KEY, org_id bigint NOT NULL REFERENCES public.orgs(id)
  ON DELETE CASCADE, body text CHECK (body <> ''), created_at timestamptz DEFAULT now());
CREATE INDEX notes_org ON public.notes (org_id) WHERE body IS NOT NULL;
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY notes_admin ON public.notes FOR ALL TO corpus_reader USING (public.is_admin());
CREATE TRIGGER notes_touch BEFORE INSERT ON public.notes FOR EACH ROW
  EXECUTE FUNCTION public.touch();
GRANT SELECT ON public.notes TO corpus_reader;
"""),
    _pair("two tables with a foreign key between them", ORGS,
          ORGS + """
CREATE TABLE public.projects (id int PRIMARY KEY, org_id bigint REFERENCES public.orgs(id));
CREATE TABLE public.tasks (id int PRIMARY KEY, project_id int REFERENCES public.projects(id));
"""),
    _pair("sequence owned by a column", BASE + "CREATE SEQUENCE public.item_numbers;",
          BASE + "CREATE SEQUENCE public.item_numbers OWNED BY public.items.id;"),
    _pair("sequence changed", BASE + "CREATE SEQUENCE public.invoice_no;",
          BASE + "CREATE SEQUENCE public.invoice_no INCREMENT BY 10 MAXVALUE 100000 CYCLE;"),
    _pair("default from a sequence", BASE,
          BASE + "CREATE SEQUENCE public.item_ids;"
          " ALTER TABLE public.items ALTER COLUMN id SET DEFAULT nextval('public.item_ids');"),
    _pair("sequence owned by a table the other side lacks", BASE,
          BASE + "CREATE TABLE public.counters (n serial, label text);"),
    _pair("table holding rows", BASE + "INSERT INTO public.orgs VALUES (1, 'acme');",
          BASE + "INSERT INTO public.orgs VALUES (1, 'acme');"
          " CREATE TABLE public.scratch (id int); INSERT INTO public.scratch VALUES (1);"),
    # --- columns ------------------------------------------------------------------------------
    _pair("column added", BASE, BASE + "ALTER TABLE public.items ADD COLUMN sku text;"),
    _pair("varchar narrowed", BASE,
          BASE + "ALTER TABLE public.items ALTER COLUMN title TYPE varchar(120);", fast=True),
    _pair("varchar to text", BASE, BASE + "ALTER TABLE public.items ALTER COLUMN title TYPE text;"),
    _pair("integer widened", BASE + "CREATE TABLE public.counts (n integer, m smallint);",
          BASE + "CREATE TABLE public.counts (n bigint, m integer);"),
    _pair("numeric precision", BASE,
          BASE + "ALTER TABLE public.items ALTER COLUMN price TYPE numeric(12,3);"),
    _pair("text to integer", BASE + "CREATE TABLE public.codes (code text);",
          BASE + "CREATE TABLE public.codes (code integer);"),
    _pair("timestamp to timestamptz", BASE + "CREATE TABLE public.times (at timestamp);",
          BASE + "CREATE TABLE public.times (at timestamptz);"),
    _pair("NOT NULL set", BASE,
          BASE + "ALTER TABLE public.items ALTER COLUMN title SET NOT NULL;"),
    _pair("default changed", BASE,
          BASE + "ALTER TABLE public.items ALTER COLUMN created_at SET DEFAULT clock_timestamp();"),
    _pair("default dropped", BASE,
          BASE + "ALTER TABLE public.items ALTER COLUMN created_at DROP DEFAULT;"),
    _pair("identity on a plain column", BASE + "CREATE TABLE public.runs (id bigint NOT NULL);",
          BASE + "CREATE TABLE public.runs (id bigint GENERATED BY DEFAULT AS IDENTITY);"),
    _pair("identity always and by default",
          BASE + "CREATE TABLE public.runs (id bigint GENERATED ALWAYS AS IDENTITY);",
          BASE + "CREATE TABLE public.runs (id bigint GENERATED BY DEFAULT AS IDENTITY);"),
    _pair("generated column expression",
          BASE + "CREATE TABLE public.boxes (w int, h int,"
          " area int GENERATED ALWAYS AS (w * h) STORED);",
          BASE + "CREATE TABLE public.boxes (w int, h int,"
          " area int GENERATED ALWAYS AS (w + h) STORED);"),
    _pair("column order", BASE + "CREATE TABLE public.pairs (a int, b int);",
          BASE + "CREATE TABLE public.pairs (b int, a int);"),
    _pair("enum column to another enum", BASE + ENUMS
          + "CREATE TABLE public.posts (id int, s public.status DEFAULT 'draft');",
          BASE + ENUMS + "CREATE TABLE public.posts (id int, s public.state DEFAULT 'draft');",
          fast=True),
    _pair("column of a new enum", BASE,
          BASE + "CREATE TYPE public.mood AS ENUM ('ok', 'meh');"
          " ALTER TABLE public.items ADD COLUMN mood public.mood DEFAULT 'ok';"),
    _pair("column with a view over it retyped",
          BASE + "CREATE VIEW public.titles AS SELECT id, title FROM public.items;",
          BASE + "ALTER TABLE public.items ALTER COLUMN title TYPE text;"
          " CREATE VIEW public.titles AS SELECT id, title FROM public.items;"),
    _pair("column with a view over it narrowed",
          BASE + "CREATE VIEW public.titles AS SELECT id, title FROM public.items;",
          BASE + "ALTER TABLE public.items ALTER COLUMN title TYPE varchar(50);"
          " CREATE VIEW public.titles AS SELECT id, title FROM public.items;"),
    _pair("column read by a view the other side lacks", BASE,
          BASE + "ALTER TABLE public.items ADD COLUMN note text;"
          " CREATE VIEW public.notes_v AS SELECT id, note FROM public.items;"),
    # --- constraints and indexes --------------------------------------------------------------
    _pair("primary key over a nullable column", BASE + "CREATE TABLE public.pk (id int, v text);",
          BASE + "CREATE TABLE public.pk (id int PRIMARY KEY, v text);", fast=True),
    _pair("unique constraint and its index", BASE,
          BASE + "ALTER TABLE public.items ADD CONSTRAINT items_title_key UNIQUE (title);"),
    _pair("foreign key needing a key", BASE + "CREATE TABLE public.refs (org bigint);",
          BASE + "CREATE TABLE public.refs (org bigint REFERENCES public.orgs(id));"),
    _pair("foreign key and its target key", "CREATE TABLE public.p (id int);"
          " CREATE TABLE public.c (pid int);",
          "CREATE TABLE public.p (id int PRIMARY KEY);"
          " CREATE TABLE public.c (pid int REFERENCES public.p(id));"),
    _pair("foreign key action changed", BASE
          + "ALTER TABLE public.items ADD CONSTRAINT items_org FOREIGN KEY (org_id)"
          " REFERENCES public.orgs(id);",
          BASE + "ALTER TABLE public.items ADD CONSTRAINT items_org FOREIGN KEY (org_id)"
          " REFERENCES public.orgs(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;"),
    _pair("check constraint changed", BASE
          + "ALTER TABLE public.items ADD CONSTRAINT price_ok CHECK (price >= 0);",
          BASE + "ALTER TABLE public.items ADD CONSTRAINT price_ok CHECK (price > 0);"),
    _pair("check constraint not valid", BASE,
          BASE + "ALTER TABLE public.items ADD CONSTRAINT title_ok CHECK (title <> '') NOT VALID;"),
    _pair("exclusion constraint", BASE + "CREATE TABLE public.rooms (b box);",
          BASE + "CREATE TABLE public.rooms (b box, EXCLUDE USING gist (b WITH &&));"),
    _pair("unique key changed columns", BASE
          + "ALTER TABLE public.items ADD CONSTRAINT items_u UNIQUE (org_id);",
          BASE + "ALTER TABLE public.items ADD CONSTRAINT items_u UNIQUE (org_id, title);"),
    _pair("index partial and expression", BASE,
          BASE + "CREATE INDEX items_lower ON public.items (lower(title)) WHERE price > 0;"
          " CREATE INDEX items_org ON public.items USING hash (org_id);"),
    _pair("index changed", BASE + "CREATE INDEX items_org ON public.items (org_id);",
          BASE + "CREATE INDEX items_org ON public.items (org_id, created_at DESC);"),
    # --- views --------------------------------------------------------------------------------
    _pair("views over views", BASE,
          BASE + "CREATE VIEW public.v1 AS SELECT id, title FROM public.items;"
          " CREATE VIEW public.v2 AS SELECT id FROM public.v1;"
          " CREATE VIEW public.v3 AS SELECT count(*) AS n FROM public.v2;"),
    _pair("table replaced by a view", BASE + "CREATE TABLE public.catalog (id bigint, title text);",
          BASE + "CREATE VIEW public.catalog AS SELECT id, title FROM public.items;", fast=True),
    _pair("view columns change", BASE + "CREATE VIEW public.cards AS SELECT id FROM public.items;",
          BASE + "CREATE VIEW public.cards AS SELECT title, id FROM public.items;", fast=True),
    _pair("view read by another view changes",
          BASE + "CREATE VIEW public.base_v AS SELECT id FROM public.items;"
          " CREATE VIEW public.top_v AS SELECT id FROM public.base_v;",
          BASE + "CREATE VIEW public.base_v AS SELECT id, title FROM public.items;"
          " CREATE VIEW public.top_v AS SELECT id FROM public.base_v;"),
    _pair("view relying on a primary key", "CREATE TABLE public.t (id int, name text);",
          "CREATE TABLE public.t (id int PRIMARY KEY, name text);"
          " CREATE VIEW public.by_id AS SELECT t.id, t.name, count(*) AS n FROM public.t"
          " GROUP BY t.id;", fast=True),
    _pair("view options", BASE + "CREATE VIEW public.safe AS SELECT id FROM public.items;",
          BASE + "CREATE VIEW public.safe WITH (security_invoker = true, security_barrier = true)"
          " AS SELECT id FROM public.items;"),
    _pair("view check option", BASE + "CREATE VIEW public.cheap AS"
          " SELECT * FROM public.items WHERE price < 10;",
          BASE + "CREATE VIEW public.cheap AS SELECT * FROM public.items WHERE price < 10"
          " WITH CASCADED CHECK OPTION;"),
    _pair("materialized view", BASE,
          BASE + "CREATE MATERIALIZED VIEW public.totals AS SELECT org_id, count(*) AS n"
          " FROM public.items GROUP BY org_id;"),
    _pair("view with grants", BASE,
          BASE + "CREATE VIEW public.open_items AS SELECT id FROM public.items;"
          " GRANT SELECT ON public.open_items TO corpus_reader;"),
    # --- types --------------------------------------------------------------------------------
    _pair("enum labels appended", BASE + "CREATE TYPE public.level AS ENUM ('low', 'high');",
          BASE + "CREATE TYPE public.level AS ENUM ('low', 'mid', 'high', 'max');", fast=True),
    _pair("domain", BASE,
          BASE + "CREATE DOMAIN public.positive AS integer NOT NULL CHECK (VALUE > 0);"),
    _pair("domain constraint changed",
          BASE + "CREATE DOMAIN public.percent AS numeric CHECK (VALUE >= 0);",
          BASE + "CREATE DOMAIN public.percent AS numeric CHECK (VALUE >= 0 AND VALUE <= 100);"),
    _pair("composite type", BASE,
          BASE + "CREATE TYPE public.money_pair AS (amount numeric, currency text);"),
    # --- functions ----------------------------------------------------------------------------
    _pair("function body", BASE + FN_IS_ADMIN,
          BASE + FN_IS_ADMIN.replace("'postgres'", "'admin'")),
    _pair("function return type", BASE
          + "CREATE FUNCTION public.item_count() RETURNS integer LANGUAGE sql"
          " AS $$ SELECT count(*)::int FROM public.items $$;",
          BASE + "CREATE FUNCTION public.item_count() RETURNS bigint LANGUAGE sql"
          " AS $$ SELECT count(*) FROM public.items $$;"),
    _pair("security definer with search_path", BASE
          + "CREATE FUNCTION public.purge() RETURNS void LANGUAGE sql SECURITY DEFINER"
          " AS $$ DELETE FROM public.items WHERE false $$;",
          BASE + "CREATE FUNCTION public.purge() RETURNS void LANGUAGE sql SECURITY DEFINER"
          " SET search_path = '' AS $$ DELETE FROM public.items WHERE false $$;"),
    _pair("function used by a default", BASE,
          BASE + "CREATE FUNCTION public.new_code() RETURNS text LANGUAGE sql"
          " AS $$ SELECT md5(random()::text) $$;"
          " CREATE TABLE public.vouchers (code text DEFAULT public.new_code());"),
    _pair("function and the trigger using it", BASE,
          BASE + FN_TOUCH + "CREATE TRIGGER items_touch BEFORE UPDATE ON public.items"
          " FOR EACH ROW EXECUTE FUNCTION public.touch();"),
    _pair("function used by a policy", BASE,
          BASE + FN_IS_ADMIN + "ALTER TABLE public.items ENABLE ROW LEVEL SECURITY;"
          " CREATE POLICY admins ON public.items FOR SELECT USING (public.is_admin());"),
    # --- row level security, policies, triggers -----------------------------------------------
    _pair("row level security", BASE,
          BASE + "ALTER TABLE public.items ENABLE ROW LEVEL SECURITY;"
          " ALTER TABLE public.items FORCE ROW LEVEL SECURITY;"),
    _pair("policy widened to more roles", BASE
          + "ALTER TABLE public.items ENABLE ROW LEVEL SECURITY;"
          " CREATE POLICY readers ON public.items FOR SELECT TO corpus_reader USING (price > 0);",
          BASE + "ALTER TABLE public.items ENABLE ROW LEVEL SECURITY;"
          " CREATE POLICY readers ON public.items FOR SELECT TO corpus_reader, corpus_writer"
          " USING (price > 0);"),
    _pair("policy command and kind", BASE
          + "CREATE POLICY writers ON public.items FOR INSERT WITH CHECK (true);",
          BASE + "CREATE POLICY writers ON public.items AS RESTRICTIVE FOR ALL USING (true);"),
    _pair("trigger changed and disabled", BASE + FN_TOUCH
          + "CREATE TRIGGER t1 BEFORE INSERT ON public.items FOR EACH ROW"
          " EXECUTE FUNCTION public.touch();",
          BASE + FN_TOUCH + "CREATE TRIGGER t1 BEFORE INSERT OR UPDATE OF title ON public.items"
          " FOR EACH ROW WHEN (NEW.title IS NOT NULL) EXECUTE FUNCTION public.touch();"
          " ALTER TABLE public.items DISABLE TRIGGER t1;"),
    # --- privileges and owners ----------------------------------------------------------------
    _pair("table grant widened", BASE,
          BASE + "GRANT SELECT, INSERT ON public.items TO corpus_writer;"),
    _pair("column grant", BASE,
          BASE + "GRANT SELECT (id, title) ON public.items TO corpus_reader;"),
    _pair("function executable by a role", BASE + FN_IS_ADMIN,
          BASE + FN_IS_ADMIN + "REVOKE EXECUTE ON FUNCTION public.is_admin() FROM PUBLIC;"
          " GRANT EXECUTE ON FUNCTION public.is_admin() TO corpus_reader;"),
    _pair("default privileges hardened", BASE,
          BASE + "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES"
          " TO corpus_reader;", fast=True),
    _pair("schema usage", BASE, BASE + "GRANT USAGE ON SCHEMA public TO corpus_reader;"),
    _pair("owner of a table", BASE, BASE + "ALTER TABLE public.items OWNER TO corpus_owner;"),
    _pair("sequence grant", BASE + "CREATE SEQUENCE public.tickets;",
          BASE + "CREATE SEQUENCE public.tickets; GRANT USAGE ON SEQUENCE public.tickets"
          " TO corpus_writer;"),
    # --- database-wide objects ----------------------------------------------------------------
    _pair("extension", BASE, BASE + "CREATE EXTENSION IF NOT EXISTS citext SCHEMA public;"),
    _pair("publication of tables", BASE + "CREATE PUBLICATION corpus_feed FOR TABLE public.orgs;",
          BASE + "CREATE PUBLICATION corpus_feed FOR TABLE public.orgs, public.items;"),
    # --- partitions and inheritance -----------------------------------------------------------
    _pair("column added to a partitioned table", BASE + PARTITIONED,
          BASE + PARTITIONED + "ALTER TABLE public.events ADD COLUMN kind text;", fast=True),
    _pair("index on a partitioned table", BASE + PARTITIONED,
          BASE + PARTITIONED + "CREATE INDEX events_at ON public.events (at);"),
    _pair("partition missing", BASE + PARTITIONED,
          BASE + PARTITIONED + "CREATE TABLE public.events_2026 PARTITION OF public.events"
          " FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');"),
    _pair("partition detached", BASE + PARTITIONED
          + "ALTER TABLE public.events DETACH PARTITION public.events_2025;",
          BASE + PARTITIONED),
    _pair("table made unlogged", BASE, BASE + "ALTER TABLE public.items SET UNLOGGED;"),
    _pair("column collation", BASE,
          BASE + 'ALTER TABLE public.items ALTER COLUMN title TYPE varchar(200) COLLATE "C";'),
    _pair("inherited column", BASE + INHERITED,
          BASE + INHERITED + "ALTER TABLE public.vehicles DROP COLUMN wheels;"),
    # --- several at once ----------------------------------------------------------------------
    _pair("a release's worth of changes", BASE + ENUMS + FN_TOUCH,
          BASE + ENUMS + FN_TOUCH + """
ALTER TABLE public.items ADD COLUMN status public.status DEFAULT 'draft';
ALTER TABLE public.items ALTER COLUMN title TYPE text;
CREATE INDEX items_status ON public.items (status) WHERE status = 'live';
CREATE VIEW public.live_items AS SELECT id, title FROM public.items WHERE status = 'live';
CREATE TRIGGER items_touch BEFORE INSERT ON public.items FOR EACH ROW
  EXECUTE FUNCTION public.touch();
GRANT SELECT ON public.live_items TO corpus_reader;
""", fast=True),
)  # fmt: skip
