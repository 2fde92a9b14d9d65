"""The spec's security surface: friendly spellings in, stable text out, problems with lines."""

from __future__ import annotations

import textwrap

import pytest

from monitor.errors import InputError
from monitor.schema import spec
from monitor.schema.compare.diff import diff
from monitor.schema.model import (
    TABLE_PRIVILEGES,
    Attribute,
    DefaultPrivilege,
    DomainConstraint,
    EventTrigger,
    Extension,
    Function,
    Grant,
    Index,
    OwnerPolicy,
    Publication,
    Schema,
    Sequence,
    State,
    Table,
    Type,
    View,
)

HAND_WRITTEN = """
version: 1
owners:
  roles: {postgres: supabase_admin}
extensions:
  pg_trgm: {schema: extensions}
publications:
  supabase_realtime: {tables: [messages]}
event_triggers:
  note_ddl: {event: DDL_COMMAND_END, function: note_ddl}
schemas:
  public:
    owner: pg_database_owner
    grants: {PUBLIC: usage, anon: [USAGE]}
    default_privileges:
      postgres:
        tables: {service_role: [all privileges]}
    tables:
      integrations:
        owner: postgres
        grants: {authenticated: [select, Insert], service_role: [ALL WITH GRANT OPTION]}
        column_grants:
          credentials: {service_role: [SELECT]}
    functions:
      get_organization_members(target uuid):
        returns: TABLE(user_id uuid)
        language: SQL
        volatility: stable
        security_definer: true
        settings: {search_path: ''}
        grants: {authenticated: EXECUTE}
        body: SELECT 1
      add(int, varchar): {}
    views:
      counts:
        materialized: true
        indexes:
          counts_org: {columns: [organization_id], unique: true}
        definition: SELECT 1 AS one
    types:
      mood: {enum: [happy, sad]}
      positive: {domain: int, nullable: false, constraints: {positive_check: VALUE > 0}}
      pair: {composite: {a: int, b: text}}
    sequences:
      invoice_numbers: {increment: 10, cycle: true, owned_by: invoices.number}
"""


def test_a_hand_written_spec_reads_its_friendly_spellings() -> None:
    state = spec.loads(textwrap.dedent(HAND_WRITTEN))
    public = state.schema("public")
    assert public is not None
    assert state.owners == OwnerPolicy(roles=(("postgres", "supabase_admin"),))
    assert state.extensions == (Extension("pg_trgm", "extensions"),)
    assert state.publications == (Publication("supabase_realtime", tables=("public.messages",)),)
    assert state.event_triggers == (
        EventTrigger("note_ddl", "ddl_command_end", "public.note_ddl()"),
    )
    assert public.grants == frozenset({Grant("public", "USAGE"), Grant("anon", "USAGE")})
    assert public.default_privileges == (
        DefaultPrivilege(
            "postgres", "tables", frozenset(Grant("service_role", p) for p in TABLE_PRIVILEGES)
        ),
    )
    table = public.table("integrations")
    assert table is not None and table.grants is not None
    assert {Grant("authenticated", "SELECT"), Grant("authenticated", "INSERT")} < table.grants
    assert Grant("service_role", "TRUNCATE", grantable=True) in table.grants
    assert Grant("service_role", "SELECT", column="credentials") in table.grants
    assert public.functions == (
        Function("add(int, varchar)"),
        Function(
            "get_organization_members(target uuid)",
            returns="TABLE(user_id uuid)",
            language="sql",
            body="SELECT 1",
            volatility="stable",
            security_definer=True,
            settings=(("search_path", ""),),
            grants=frozenset({Grant("authenticated", "EXECUTE")}),
        ),
    )
    assert public.views == (
        View(
            "counts",
            definition="SELECT 1 AS one",
            materialized=True,
            indexes=(Index("counts_org", ("organization_id",), unique=True),),
        ),
    )
    assert public.types == (
        Type("mood", "enum", labels=("happy", "sad")),
        Type("pair", "composite", attributes=(Attribute("a", "int"), Attribute("b", "text"))),
        Type(
            "positive",
            "domain",
            base="int",
            nullable=False,
            constraints=(DomainConstraint("positive_check", "VALUE > 0"),),
        ),
    )
    assert public.sequences == (
        Sequence("invoice_numbers", increment=10, cycle=True, owned_by="invoices.number"),
    )


def test_the_friendly_spec_checks_clean_against_the_catalogs_spelling() -> None:
    expected = spec.loads(textwrap.dedent(HAND_WRITTEN))
    public = expected.schema("public")
    assert public is not None
    catalog_spelling = Function(
        "get_organization_members(uuid)",
        returns="TABLE(user_id uuid)",
        language="sql",
        body="\n  select 1 -- the same\n",
        arguments="target uuid",
        volatility="stable",
        security_definer=True,
        settings=(("search_path", '""'),),
        owner="supabase_admin",
        grants=frozenset({Grant("authenticated", "EXECUTE")}),
    )
    live = State(
        schemas=(
            Schema(
                "public",
                functions=(
                    catalog_spelling,
                    Function("add(integer, character varying)", language="sql", body="x"),
                ),
                types=(
                    Type("mood", "enum", labels=("happy", "sad")),
                    Type(
                        "pair",
                        "composite",
                        attributes=(Attribute("a", "integer"), Attribute("b", "text")),
                    ),
                    Type(
                        "positive",
                        "domain",
                        base="integer",
                        nullable=False,
                        constraints=(DomainConstraint("positive_check", "VALUE > 0"),),
                    ),
                ),
                sequences=(
                    Sequence(
                        "invoice_numbers",
                        increment=10,
                        cycle=True,
                        owned_by="invoices.number",
                        minimum=1,
                        maximum=2**63 - 1,
                        start=1,
                    ),
                ),
            ),
        ),
    )
    narrowed = State(
        schemas=(
            Schema(
                "public",
                functions=public.functions,
                types=public.types,
                sequences=public.sequences,
            ),
        ),
    )
    assert diff(narrowed, live) == ()


def test_a_rich_state_dumps_stably_and_loads_back_equal() -> None:
    state = spec.loads(textwrap.dedent(HAND_WRITTEN))
    text = spec.dumps(state)
    assert spec.loads(text) == state
    assert spec.dumps(spec.loads(text)) == text
    assert (
        "grants: {authenticated: [SELECT, INSERT], service_role: [ALL WITH GRANT OPTION]}" in text
    )
    assert "      mood: {enum: [happy, sad]}" in text


def test_a_function_body_keeps_every_character_through_yaml() -> None:
    body = "\n  SELECT coalesce(x, 'a''b')  -- note\n\n"
    state = State(schemas=(Schema("public", functions=(Function("f()", body=body),)),))
    assert spec.loads(spec.dumps(state)) == state


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        (
            "tables: {t: {grants: {anon: [SELEKT]}}}",
            "must be one of SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER, ALL",
        ),
        ("functions: {not a signature: {}}", "not a function signature"),
        ("types: {t: {enum: [a], domain: int}}", "give exactly one of enum, domain"),
        ("views: {v: {indexes: {i: {columns: [a]}}}}", "only a materialized view has indexes"),
        ("sequences: {s: {increment: 0}}", "increment must not be zero"),
        ("functions: {'f()': {volatility: sometimes}}", "must be one of immutable, stable"),
    ],
)
def test_a_wrong_security_entry_is_a_problem_with_its_line(snippet: str, message: str) -> None:
    text = f"version: 1\nschemas:\n  public:\n    {snippet}\n"
    with pytest.raises(InputError) as raised:
        spec.loads(text, "spec.yaml")
    problems = [str(p) for p in raised.value.problems]
    assert any(message in p and "spec.yaml:4" in p for p in problems), problems


def test_owners_can_be_ignored_and_mapped() -> None:
    state = spec.loads("version: 1\nowners: {ignore: true}\nschemas: {}\n")
    assert state.owners.ignore
    expected = State(
        schemas=(Schema("public", tables=(Table("t", owner="postgres"),)),),
        owners=OwnerPolicy(roles=(("postgres", "supabase_admin"),)),
    )

    def owned_by(owner: str) -> State:
        return State(schemas=(Schema("public", tables=(Table("t", owner=owner),)),))

    assert diff(expected, owned_by("supabase_admin")) == ()
    assert [str(f.kind) for f in diff(expected, owned_by("anon"))] == ["owner"]
