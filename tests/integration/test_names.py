"""Names exactly as PostgreSQL stores them, from the catalog through the spec's text and back:
a name cut at 63 bytes that ends in a space, quotes, dots, non-ASCII."""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from monitor.check import run_check
from monitor.postgres import catalog, db
from monitor.schema import spec

# PostgreSQL cuts a name at 63 bytes: this one's 63rd byte is a space.
CUT = "Members of the organization may read the invoices of their own" + " team"
STORED = CUT.encode()[:63].decode()

SCHEMA = '''
CREATE SCHEMA "billing.v2";
CREATE TABLE "billing.v2"."Rechnungen ü" (
    id bigint PRIMARY KEY,
    "say ""hi""" text,
    "trailing " text UNIQUE,
    owner uuid
);
CREATE INDEX "índice ñ" ON "billing.v2"."Rechnungen ü" ("say ""hi""");
ALTER TABLE "billing.v2"."Rechnungen ü" ENABLE ROW LEVEL SECURITY;
CREATE POLICY "{cut}" ON "billing.v2"."Rechnungen ü" FOR SELECT USING (owner IS NOT NULL);
CREATE POLICY "a ""quoted"" one." ON "billing.v2"."Rechnungen ü" FOR UPDATE USING (true);
CREATE POLICY "日本語のポリシー" ON "billing.v2"."Rechnungen ü" FOR DELETE USING (false);
'''


def test_odd_names_survive_snapshot_spec_text_and_check(
    make_database: Callable[..., str],
) -> None:
    dsn = make_database()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA.format(cut=CUT.replace('"', '""')).encode())
    with db.connect(dsn) as conn:
        state = catalog.snapshot(conn, ["billing.v2"]).state

    text = spec.dumps(state)
    loaded = spec.loads(text, "names.yaml")

    assert STORED.endswith(" ") and len(STORED.encode()) == 63
    table = loaded.schemas[0].tables[0]
    assert table.name == "Rechnungen ü"
    assert {p.name for p in table.policies or ()} == {
        STORED,
        'a "quoted" one.',
        "日本語のポリシー",
    }
    assert [c.name for c in table.columns or ()] == ["id", 'say "hi"', "trailing ", "owner"]
    assert spec.dumps(loaded) == text
    assert run_check(loaded, dsn) == ()
