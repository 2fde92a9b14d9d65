"""The spec: YAML to model and back, strict validation with every problem at once."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
import yaml_rs
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.documents import pieces
from monitor.errors import InputError
from monitor.schema import model, spec
from monitor.schema.model import (
    DEFAULT_LEDGER_TABLE,
    EXTRA_KINDS,
    Absent,
    Column,
    Constraint,
    ConstraintType,
    Extra,
    ExtraPolicy,
    ForeignKey,
    Index,
    Kind,
    Ledger,
    Policy,
    Rls,
    Schema,
    State,
    Table,
    Trigger,
)
from monitor.schema.spec import writer as spec_writer

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "spec.md"
PHASE3 = ROOT / "config" / "expected" / "phase3.yaml"

INTEGRATIONS = """\
version: 1
migrations:
  applied: ["20250122000000", "20250123000000"]
schemas:
  public:
    tables:
      organizations: {}
      integrations:
        migration: 20250122000000_create_integrations_table
        rls: {enabled: true}
        columns:
          - {name: id, type: uuid, nullable: false, default: gen_random_uuid()}
          - {name: organization_id, type: uuid, nullable: false}
          - integration_type: text
          - {name: is_active, type: boolean, nullable: false, default: true}
        constraints:
          integrations_pkey: {type: pk, columns: [id]}
          integrations_organization_id_fkey:
            type: fk
            columns: [organization_id]
            references: {table: organizations, columns: [id], on_delete: cascade}
        indexes:
          idx_active_integrations:
            columns: [organization_id, integration_type]
            where: is_active = true AND organization_id IS NOT NULL
            migration: 20250123000000_phase3_performance_indexes
        policies:
          Users can view organization integrations:
            command: select
            roles: [authenticated]
            using: organization_id IN (SELECT organization_id FROM organization_members)
        triggers:
          update_integrations_updated_at:
            {timing: before, events: update, level: row, function: update_updated_at_column()}
"""


def table_spec(body: str, table: str = "t") -> str:
    """A whole spec around the body of one table of schema public."""
    indented = textwrap.indent(textwrap.dedent(body), " " * 8)
    return f"version: 1\nschemas:\n  public:\n    tables:\n      {table}:\n{indented}"


def load_table(body: str) -> Table:
    state = spec.loads(table_spec(body))
    return state.schemas[0].tables[0]


def problems_of(text: str, filename: str = "spec.yaml") -> list[tuple[int | None, str]]:
    with pytest.raises(InputError) as caught:
        spec.loads(text, filename)
    return [(p.line, p.message) for p in caught.value.problems]


def only_problem(text: str) -> tuple[int | None, str]:
    problems = problems_of(text)
    assert len(problems) == 1, problems
    return problems[0]


# --- loading valid specs ---------------------------------------------------


def test_the_integrations_spec_loads_into_the_model() -> None:
    state = spec.loads(INTEGRATIONS)
    assert state.ledger == Ledger(("20250122000000", "20250123000000"), DEFAULT_LEDGER_TABLE)
    public = state.schema("public")
    assert public is not None
    assert [t.name for t in public.tables] == ["integrations", "organizations"]
    table = public.table("integrations")
    assert table is not None
    assert table.migration == "20250122000000_create_integrations_table"
    assert table.rls == Rls(enabled=True, forced=False)
    assert table.columns == (
        Column("id", "uuid", nullable=False, default="gen_random_uuid()"),
        Column("organization_id", "uuid", nullable=False),
        Column("integration_type", "text"),
        Column("is_active", "boolean", nullable=False, default="true"),
    )
    assert table.constraints == (
        Constraint(
            "integrations_organization_id_fkey",
            ConstraintType.FOREIGN_KEY,
            ("organization_id",),
            ForeignKey("public.organizations", ("id",), on_delete="CASCADE"),
        ),
        Constraint("integrations_pkey", ConstraintType.PRIMARY_KEY, ("id",)),
    )
    assert table.indexes == (
        Index(
            "idx_active_integrations",
            ("organization_id", "integration_type"),
            where="is_active = true AND organization_id IS NOT NULL",
            migration="20250123000000_phase3_performance_indexes",
        ),
    )
    assert table.policies == (
        Policy(
            "Users can view organization integrations",
            command="SELECT",
            roles=frozenset({"authenticated"}),
            using="organization_id IN (SELECT organization_id FROM organization_members)",
        ),
    )
    assert table.triggers == (
        Trigger(
            "update_integrations_updated_at",
            timing="BEFORE",
            events=("UPDATE",),
            level="ROW",
            function="update_updated_at_column()",
        ),
    )


def test_every_yaml_example_in_the_format_reference_loads() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert len(blocks) >= 5
    for block in blocks:
        if block.startswith("version: 1"):
            text = block
        elif block.startswith("schemas:"):
            text = "version: 1\n" + block
        else:
            text = table_spec(block)
        spec.loads(text, str(DOCS))


def test_the_full_example_of_the_format_reference_checks_the_integrations_table() -> None:
    block = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), re.DOTALL)[0]
    public = spec.loads(block).schema("public")
    assert public is not None
    table = public.table("integrations")
    assert table is not None
    assert table.columns is not None and len(table.columns) == 11
    assert table.policies is not None and len(table.policies) == 4
    assert table.triggers is not None and table.indexes is not None


def test_a_column_may_be_written_as_name_colon_type() -> None:
    table = load_table("columns:\n  - id: uuid\n  - type: text\n")
    assert table.columns == (Column("id", "uuid"), Column("type", "text"))


def test_a_one_key_column_called_name_is_read_as_the_long_form() -> None:
    line, message = only_problem(table_spec("columns:\n  - name: text\n"))
    assert line == 7
    assert "missing required key 'type'" in message


def test_sql_text_is_stored_as_written_only_stripped() -> None:
    table = load_table(
        """\
        columns:
          - {name: a, type: "  character varying(50)  ", default: false}
          - {name: b, type: int, default: 0}
          - {name: c, type: timestamptz, default: " now() "}
        """
    )
    assert table.columns == (
        Column("a", "character varying(50)", default="false"),
        Column("b", "int", default="0"),
        Column("c", "timestamptz", default="now()"),
    )


def test_versions_written_as_numbers_keep_their_digits() -> None:
    state = spec.loads("version: 1\nmigrations: {applied: [0001, 20250122000000]}\nschemas: {}\n")
    assert state.ledger == Ledger(("0001", "20250122000000"))


def test_friendly_constraint_spellings_are_stored_canonically() -> None:
    table = load_table(
        """\
        constraints:
          a: {type: primary_key, columns: [id]}
          b: {type: PK, columns: [id]}
          c:
            type: Foreign-Key
            columns: [x]
            references:
              table: other.t
              columns: [id]
              on_delete: set_null
              on_update: Set Default
              match: full
          d:
            type: foreign_key
            columns: [x]
            references: {table: t, columns: [id], on_update: RESTRICT}
          e: {type: FK, columns: [x], references: {table: t, columns: [id]}}
          f: {type: UNIQUE, columns: [x], deferrable: true, deferred: true}
          g: {type: Check, check: x > 0, validated: false}
          h: {type: exclude, check: "EXCLUDE USING gist (r WITH &&)"}
        """
    )
    assert table.constraints is not None
    kinds = {c.name: c.type for c in table.constraints}
    assert kinds == {
        "a": ConstraintType.PRIMARY_KEY,
        "b": ConstraintType.PRIMARY_KEY,
        "c": ConstraintType.FOREIGN_KEY,
        "d": ConstraintType.FOREIGN_KEY,
        "e": ConstraintType.FOREIGN_KEY,
        "f": ConstraintType.UNIQUE,
        "g": ConstraintType.CHECK,
        "h": ConstraintType.EXCLUDE,
    }
    by_name = {c.name: c for c in table.constraints}
    assert by_name["c"].references == ForeignKey(
        "other.t", ("id",), on_delete="SET NULL", on_update="SET DEFAULT", match="FULL"
    )
    assert by_name["d"].references == ForeignKey("public.t", ("id",), on_update="RESTRICT")
    assert by_name["e"].references == ForeignKey("public.t", ("id",))
    assert (by_name["f"].deferrable, by_name["f"].deferred) == (True, True)
    assert (by_name["g"].check, by_name["g"].validated) == ("x > 0", False)


def test_an_unqualified_referenced_table_is_in_the_constraints_own_schema() -> None:
    text = """\
version: 1
schemas:
  billing:
    tables:
      invoices:
        constraints:
          invoices_customer_fkey:
            {type: fk, columns: [c], references: {table: customers, columns: [id]}}
"""
    table = spec.loads(text).schemas[0].tables[0]
    assert table.constraints is not None
    assert table.constraints[0].references == ForeignKey("billing.customers", ("id",))


def test_policy_defaults_are_all_commands_permissive_and_to_public() -> None:
    table = load_table("policies:\n  p: {}\n  q:\n")
    assert table.policies == (Policy("p"), Policy("q"))
    assert table.policies[0] == Policy(
        "p", command="ALL", permissive=True, roles=frozenset({"public"})
    )


def test_friendly_policy_spellings_are_stored_canonically() -> None:
    table = load_table(
        """\
        policies:
          a: {command: select, as: restrictive, roles: authenticated, using: "true"}
          b: {command: Insert, as: permissive, roles: [PUBLIC, anon], check: x = 1}
          c: {command: all, permissive: false, roles: [b, a], using: x = 1, with_check: x = 2}
        """
    )
    assert table.policies == (
        Policy("a", "SELECT", permissive=False, roles=frozenset({"authenticated"}), using="true"),
        Policy("b", "INSERT", roles=frozenset({"public", "anon"}), with_check="x = 1"),
        Policy("c", "ALL", False, frozenset({"a", "b"}), using="x = 1", with_check="x = 2"),
    )


def test_trigger_events_are_stored_in_canonical_order() -> None:
    table = load_table(
        """\
        triggers:
          t: {timing: after, events: [truncate, delete, Insert], function: f()}
        """
    )
    assert table.triggers is not None
    assert table.triggers[0].events == ("INSERT", "DELETE", "TRUNCATE")


def test_trigger_level_defaults_to_statement_as_in_postgresql() -> None:
    table = load_table("triggers:\n  t: {timing: AFTER, events: INSERT, function: f()}\n")
    assert table.triggers == (Trigger("t", "AFTER", ("INSERT",), "STATEMENT", "f()"),)


def test_trigger_enabled_accepts_booleans_and_the_four_states() -> None:
    table = load_table(
        """\
        triggers:
          a: {timing: before, events: [update], level: for each row, function: f(), enabled: true}
          b: {timing: before, events: [update], level: row, function: f(), enabled: false}
          c: {timing: instead_of, events: [update], level: row, function: f(), enabled: Always}
          d:
            timing: after
            events: [update]
            columns: [x, y]
            when: old.x <> new.x
            function: audit.f('t')
            enabled: replica
        """
    )
    assert table.triggers is not None
    assert [t.enabled for t in table.triggers] == ["origin", "disabled", "always", "replica"]
    assert table.triggers[2].timing == "INSTEAD OF"
    assert table.triggers[3] == Trigger(
        "d",
        "AFTER",
        ("UPDATE",),
        "STATEMENT",
        "audit.f('t')",
        enabled="replica",
        when="old.x <> new.x",
        columns=("x", "y"),
    )


def test_index_defaults_are_btree_not_unique_and_valid() -> None:
    table = load_table(
        """\
        indexes:
          a: {columns: [x]}
          b:
            columns: [lower(email), created_at DESC]
            include: [y]
            unique: true
            method: GIN
            valid: true
            constraint: b
        """
    )
    assert table.indexes == (
        Index("a", ("x",)),
        Index(
            "b",
            ("lower(email)", "created_at DESC"),
            include=("y",),
            unique=True,
            method="gin",
            constraint="b",
        ),
    )


def test_a_collection_left_out_is_not_checked_and_an_empty_one_is() -> None:
    table = load_table("columns: []\npolicies: {}\n")
    assert table.columns == ()
    assert table.policies == ()
    assert table.constraints is None
    assert table.indexes is None
    assert table.triggers is None
    assert table.rls is None


def test_a_table_with_no_body_is_only_expected_to_exist() -> None:
    state = spec.loads("version: 1\nschemas:\n  public:\n    tables:\n      t:\n      u: {}\n")
    assert state.schemas == (Schema("public", tables=(Table("t"), Table("u"))),)


def test_rls_true_is_short_for_enabled_and_not_forced() -> None:
    assert load_table("rls: true\n").rls == Rls(enabled=True, forced=False)
    assert load_table("rls: {enabled: true, forced: true}\n").rls == Rls(True, True)


def test_an_identity_column_is_not_nullable_without_saying_so() -> None:
    table = load_table("columns:\n  - {name: id, type: bigint, identity: by_default}\n")
    assert table.columns == (Column("id", "bigint", nullable=False, identity="by default"),)


def test_absent_entries_take_a_name_or_a_name_and_a_migration() -> None:
    text = """\
version: 1
schemas:
  public:
    tables:
      t:
        absent:
          columns: [old_column]
          policies: [{name: Anyone can read, migration: 20250123000002_phase3_security_hardening}]
          constraints: [t_old_check]
          triggers: [{name: t_old_trigger}]
    absent:
      tables: [old_table]
      indexes: [{name: idx_old, migration: "20250123000000"}]
"""
    public = spec.loads(text).schemas[0]
    assert public.absent == (
        Absent(Kind.COLUMN, "old_column", "t"),
        Absent(Kind.CONSTRAINT, "t_old_check", "t"),
        Absent(Kind.INDEX, "idx_old", None, "20250123000000"),
        Absent(Kind.POLICY, "Anyone can read", "t", "20250123000002_phase3_security_hardening"),
        Absent(Kind.TABLE, "old_table"),
        Absent(Kind.TRIGGER, "t_old_trigger", "t"),
    )
    assert public.tables == (Table("t"),)


def test_extra_takes_one_choice_for_all_kinds_or_one_per_kind() -> None:
    every = spec.loads("version: 1\nschemas: {public: {extra: ignore}}\n").schemas[0]
    assert every.extra == ExtraPolicy(**dict.fromkeys(EXTRA_KINDS, Extra.IGNORE))
    some = spec.loads(
        "version: 1\nschemas: {public: {extra: {indexes: ignore, tables: report}}}\n"
    ).schemas[0]
    assert some.extra == ExtraPolicy(indexes=Extra.IGNORE)


def test_a_tables_extra_choice_is_read_and_written_back_as_given() -> None:
    text = (
        "version: 1\nschemas:\n  storage:\n    extra: ignore\n    tables:\n"
        "      reviews: {extra: report}\n      notes: {extra: {indexes: ignore}}\n"
        "      objects: {}\n"
    )
    storage = spec.loads(text).schemas[0]
    extras = {t.name: t.extra for t in storage.tables}
    assert extras == {
        "reviews": ExtraPolicy(),
        "notes": ExtraPolicy(indexes=Extra.IGNORE),
        "objects": None,
    }
    assert spec.loads(spec.dumps(spec.loads(text))) == spec.loads(text)


def test_ignore_globs_are_kept_sorted() -> None:
    public = spec.loads("version: 1\nschemas: {public: {ignore: [tmp_*, 'pg_?', a*]}}\n").schemas[0]
    assert public.ignore == ("a*", "pg_?", "tmp_*")


def test_yaml_anchors_and_merge_keys_share_fields_between_objects() -> None:
    table = load_table(
        """\
        policies:
          a: &base {command: update, roles: [authenticated], using: owner = auth.uid()}
          b:
            <<: *base
            command: delete
        """
    )
    assert table.policies is not None
    a, b = table.policies
    assert (a.command, b.command) == ("UPDATE", "DELETE")
    assert a.roles == b.roles == frozenset({"authenticated"})
    assert a.using == b.using == "owner = auth.uid()"


def test_schemas_and_tables_are_sorted_by_name() -> None:
    state = spec.loads("version: 1\nschemas: {b: {tables: {z: {}, a: {}}}, a: {}}\n")
    assert [s.name for s in state.schemas] == ["a", "b"]
    assert [t.name for t in state.schemas[1].tables] == ["a", "z"]


def test_load_reads_a_file_and_names_it_in_problems(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(INTEGRATIONS)
    assert spec.load(good) == spec.loads(INTEGRATIONS)
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nschemas: {public: {tables: {t: {colums: []}}}}\n")
    with pytest.raises(InputError) as caught:
        spec.load(bad)
    assert f"{bad}:2: table public.t: unknown key 'colums'" in str(caught.value)


def test_load_reports_a_missing_file_as_one_problem(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(InputError) as caught:
        spec.load(missing)
    assert [str(p) for p in caught.value.problems] == [f"{missing}: spec file not found"]


def test_load_reports_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("version: 1\nschemas: {caf\xe9: {}}\n".encode("latin-1"))
    with pytest.raises(InputError) as caught:
        spec.load(latin)
    assert "not UTF-8" in caught.value.problems[0].message


# --- problems --------------------------------------------------------------

PROBLEMS = [
    pytest.param(
        "version: 1\nschemas:\n  public:\n    tabels: {}\n",
        4,
        "schema public: unknown key 'tabels' (did you mean 'tables'?)",
        id="an unknown key is reported with the closest known key",
    ),
    pytest.param(
        table_spec("columns:\n  - {name: a, type: int, nullable: maybe}\n"),
        7,
        "column public.t.a: nullable must be true or false, not 'maybe'",
        id="a value of the wrong type is reported",
    ),
    pytest.param(
        table_spec("indexes: [a, b]\n"),
        6,
        "table public.t: indexes must be a mapping of names, not a list",
        id="a list where a mapping belongs is reported",
    ),
    pytest.param(
        table_spec("policies:\n  p: {command: SELEC}\n"),
        7,
        "policy public.t.p: command must be one of ALL, SELECT, INSERT, UPDATE, DELETE,"
        " not 'SELEC' (did you mean 'SELECT'?)",
        id="a bad choice is reported with the allowed values",
    ),
    pytest.param(
        table_spec("constraints:\n  c: {type: primary ky, columns: [id]}\n"),
        7,
        "(did you mean 'primary key'?)",
        id="a misspelt constraint type is reported with the closest spelling",
    ),
    pytest.param(
        table_spec("indexes:\n  i: {columns: [a]}\n  i: {columns: [b]}\n"),
        8,
        "schemas: public: tables: t: indexes: duplicate key 'i' (first at line 7)",
        id="a duplicate mapping key is reported although YAML accepts it",
    ),
    pytest.param(
        table_spec("rls: {enabled: true, enabled: false}\n"),
        6,
        "duplicate key 'enabled'",
        id="a duplicate field in a flow mapping is reported",
    ),
    pytest.param(
        table_spec("columns:\n  - {name: a, type: int}\n  - b: text\n  - {name: a, type: text}\n"),
        9,
        "table public.t: columns: duplicate column 'a' (first at line 7)",
        id="a duplicate column name is reported",
    ),
    pytest.param(
        table_spec("triggers:\n  t: {timing: AFTER, events: [INSERT, insert], function: f()}\n"),
        7,
        "trigger public.t.t: events: duplicate entry 'INSERT'",
        id="a duplicate list entry is reported",
    ),
    pytest.param(
        "version: 1\nmigrations: {applied: ['1', '2', '1']}\nschemas: {}\n",
        2,
        "migrations: applied: duplicate entry '1' (first at line 2)",
        id="a version applied twice is reported",
    ),
    pytest.param(
        table_spec("constraints:\n  c: {columns: [id]}\n"),
        7,
        "constraint public.t.c: missing required key 'type'",
        id="a missing required key is reported",
    ),
    pytest.param(
        table_spec("triggers:\n  t: {timing: AFTER, function: f()}\n"),
        7,
        "trigger public.t.t: missing required key 'events'",
        id="a trigger without events is reported",
    ),
    pytest.param(
        table_spec("columns:\n  - {name: a, type: timestamp with tim zone}\n"),
        7,
        "column public.t.a: type 'timestamp with tim zone' is not a valid SQL type",
        id="an unparsable type is reported",
    ),
    pytest.param(
        table_spec("indexes:\n  i:\n    columns: [a]\n    where: a = \n"),
        9,
        "index public.t.i: where 'a =' is not a valid SQL expression",
        id="an unparsable expression is reported on its own line",
    ),
    pytest.param(
        table_spec("columns:\n  - {name: a, type: int, default: 'now('}\n"),
        7,
        "column public.t.a: default 'now(' is not a valid SQL expression",
        id="an unparsable default is reported",
    ),
    pytest.param(
        table_spec("indexes:\n  i: {columns: ['a, b']}\n"),
        7,
        "index public.t.i: columns entry 'a, b' is not a valid index column",
        id="an index column holding two columns is reported",
    ),
    pytest.param(
        table_spec("triggers:\n  t: {timing: AFTER, events: INSERT, function: f}\n"),
        7,
        "trigger public.t.t: function 'f' is not a valid function call",
        id="a trigger function that is not a call is reported",
    ),
    pytest.param(
        "version: 1\nschemas:\n  public: {tables: [\n",
        3,
        "invalid YAML:",
        id="a YAML syntax error is reported with its line",
    ),
    pytest.param(
        "version: 1\nschemas:\n\tpublic: {}\n",
        3,
        "invalid YAML:",
        id="a tab in the indentation is reported with its line",
    ),
    pytest.param("", 1, "the spec is empty", id="an empty file is reported"),
    pytest.param("# nothing here\n", 1, "the spec is empty", id="a file of comments is empty"),
    pytest.param(
        "- version: 1\n",
        1,
        "the spec must be a mapping with keys version, migrations and schemas, not a list",
        id="a top level that is not a mapping is reported",
    ),
    pytest.param(
        "version: 2\nschemas: {}\n",
        1,
        "spec: version must be 1, not '2'",
        id="a version other than 1 is reported",
    ),
    pytest.param(
        "version: '1'\nschemas: {}\n",
        1,
        "spec: version must be 1, not '1'",
        id="a version given as text is reported",
    ),
    pytest.param(
        "schemas: {}\n",
        1,
        "spec: missing required key 'version'",
        id="a missing version is reported",
    ),
    pytest.param(
        table_spec("indexes:\n  i: {columns: [a], valid: false}\n"),
        7,
        "index public.t.i: a spec always expects a valid index",
        id="an index expected invalid is reported",
    ),
    pytest.param(
        table_spec("indexes:\n  i: {columns: []}\n"),
        7,
        "index public.t.i: columns must not be empty",
        id="an index without columns is reported",
    ),
    pytest.param(
        table_spec("triggers:\n"),
        6,
        "table public.t: triggers is empty; write [] or {} to expect none",
        id="a collection key with nothing after it is reported as ambiguous",
    ),
    pytest.param(
        table_spec("constraints:\n  c: {type: fk, columns: [a]}\n"),
        7,
        "constraint public.t.c: a foreign key needs references: {table, columns}",
        id="a foreign key without references is reported",
    ),
    pytest.param(
        table_spec("constraints:\n  c: {type: unique}\n"),
        7,
        "constraint public.t.c: a unique constraint needs columns",
        id="a unique constraint without columns is reported",
    ),
    pytest.param(
        table_spec(
            "constraints:\n  c: {type: unique, columns: [a], references: {table: t, columns: a}}\n"
        ),
        7,
        "constraint public.t.c: only a foreign key has references",
        id="references on another kind of constraint are reported",
    ),
    pytest.param(
        table_spec("constraints:\n  c: {type: pk, columns: []}\n"),
        7,
        "constraint public.t.c: a primary key constraint needs columns",
        id="a primary key with an empty column list is reported",
    ),
    pytest.param(
        table_spec(
            "constraints:\n  c:\n    type: fk\n    columns: [a, b]\n"
            "    references: {table: u, columns: [id]}\n"
        ),
        10,
        "constraint public.t.c: references names 1 columns for 2",
        id="a foreign key whose column counts disagree is reported",
    ),
    pytest.param(
        table_spec("constraints:\n  c: {type: unique, columns: [a], check: a > 0}\n"),
        7,
        "constraint public.t.c: check belongs to check and exclude constraints",
        id="a check expression on a unique constraint is reported",
    ),
    pytest.param(
        table_spec("indexes:\n  i: {columns: [a], method: 'gin; drop'}\n"),
        7,
        "index public.t.i: method must be an access method name like btree or gin",
        id="an access method that is not a name is reported",
    ),
    pytest.param(
        table_spec("constraints:\n  c: {type: check}\n"),
        7,
        "constraint public.t.c: a check constraint needs check: <expression>",
        id="a check constraint without its expression is reported",
    ),
    pytest.param(
        table_spec("constraints:\n  c: {type: check, check: 'x >'}\n"),
        7,
        "constraint public.t.c: check 'x >' is not a valid SQL expression",
        id="an unparsable check expression is reported",
    ),
    pytest.param(
        table_spec("constraints:\n  c: {type: unique, columns: [a], deferred: true}\n"),
        7,
        "constraint public.t.c: deferred needs deferrable: true",
        id="a deferred constraint that is not deferrable is reported",
    ),
    pytest.param(
        table_spec(
            "constraints:\n  c:\n    type: fk\n    columns: [a]\n"
            "    references: {table: u, columns: [b], on_delete: explode}\n"
        ),
        10,
        "on_delete must be one of NO ACTION, RESTRICT, CASCADE, SET NULL, SET DEFAULT,"
        " not 'explode'",
        id="an unknown referential action is reported",
    ),
    pytest.param(
        table_spec("columns:\n  - {name: a, type: int, identity: always, default: '1'}\n"),
        7,
        "column public.t.a: a column has at most one of default, identity",
        id="a column with a default and an identity is reported",
    ),
    pytest.param(
        table_spec("columns:\n  - {name: a, type: int, identity: always, nullable: true}\n"),
        7,
        "column public.t.a: an identity column is never nullable",
        id="a nullable identity column is reported",
    ),
    pytest.param(
        table_spec("columns:\n  - a: {type: int}\n"),
        7,
        "the short form is `- name: type`",
        id="a short column form holding a mapping is reported",
    ),
    pytest.param(
        table_spec("policies:\n  p: {command: insert, using: 'true'}\n"),
        7,
        "policy public.t.p: an INSERT policy has only with_check",
        id="an INSERT policy with USING is reported",
    ),
    pytest.param(
        table_spec("policies:\n  p: {command: select, check: 'true'}\n"),
        7,
        "policy public.t.p: a SELECT policy has only using, no check",
        id="a SELECT policy with WITH CHECK is reported",
    ),
    pytest.param(
        table_spec("policies:\n  p: {with_check: 'true', check: 'false'}\n"),
        7,
        "policy public.t.p: give with_check or check, not both",
        id="both spellings of with_check are reported",
    ),
    pytest.param(
        table_spec("policies:\n  p: {as: sideways}\n"),
        7,
        "policy public.t.p: as must be one of permissive, restrictive, not 'sideways'",
        id="an unknown policy kind is reported",
    ),
    pytest.param(
        table_spec("policies:\n  p: {roles: []}\n"),
        7,
        "policy public.t.p: roles must not be empty (leave it out for public)",
        id="an empty role list is reported",
    ),
    pytest.param(
        table_spec("triggers:\n  t: {timing: instead of, events: [insert], function: f()}\n"),
        7,
        "trigger public.t.t: an INSTEAD OF trigger needs level: ROW",
        id="a statement-level INSTEAD OF trigger is reported",
    ),
    pytest.param(
        table_spec(
            "triggers:\n  t: {timing: after, events: [truncate], level: row, function: f()}\n"
        ),
        7,
        "trigger public.t.t: a TRUNCATE trigger needs level: STATEMENT",
        id="a row-level TRUNCATE trigger is reported",
    ),
    pytest.param(
        table_spec(
            "triggers:\n  t: {timing: after, events: [insert], columns: [a], function: f()}\n"
        ),
        7,
        "trigger public.t.t: columns (UPDATE OF) need the UPDATE event",
        id="UPDATE OF columns without the UPDATE event are reported",
    ),
    pytest.param(
        table_spec("columns:\n  - {name: a, type: int}\nabsent:\n  columns: [a]\n"),
        9,
        "table public.t: column 'a' is both expected and absent",
        id="a column both listed and absent is reported at the absent entry",
    ),
    pytest.param(
        table_spec("absent:\n  indexes: [i]\n"),
        7,
        "table public.t: absent: unknown key 'indexes' (list it under the schema's absent)",
        id="an absent index under a table is reported with where it belongs",
    ),
    pytest.param(
        table_spec("absent:\n  columns: [a, {name: a, migration: m}]\n"),
        7,
        "table public.t: absent columns: duplicate entry 'a'",
        id="a duplicate absent entry is reported",
    ),
    pytest.param(
        table_spec("absent:\n  columns: [{migration: m}]\n"),
        7,
        "missing required key 'name'",
        id="an absent entry without a name is reported",
    ),
    pytest.param(
        "version: 1\nschemas:\n  public:\n    tables: {t: {}}\n    absent:\n      tables: [t]\n",
        6,
        "schema public: table 't' is both expected and absent",
        id="a table both listed and absent is reported",
    ),
    pytest.param(
        "version: 1\nschemas:\n  public:\n    tables:\n      t: {indexes: {i: {columns: [a]}}}\n"
        "      u: {indexes: {i: {columns: [a]}}}\n",
        6,
        "schema public: index 'i' is listed on both tables 't' and 'u'",
        id="an index name used on two tables of a schema is reported",
    ),
    pytest.param(
        "version: 1\nschemas: {public: {extra: sometimes}}\n",
        2,
        "extra must be one of report, ignore, not 'sometimes'",
        id="an unknown extra choice is reported",
    ),
    pytest.param(
        "version: 1\nschemas: {public: {extra: {indexs: ignore}}}\n",
        2,
        "schema public: extra: unknown key 'indexs' (did you mean 'indexes'?)",
        id="an unknown kind in extra is reported",
    ),
    pytest.param(
        table_spec("columns:\n  - {name: a, type: int, default: ''}\n"),
        7,
        "column public.t.a: default must not be empty (leave it out instead)",
        id="an empty text value is reported",
    ),
    pytest.param(
        table_spec("columns:\n  - {name: a, type: !!binary aGVsbG8=}\n"),
        7,
        "type: unsupported YAML tag tag:yaml.org,2002:binary",
        id="a value with an unsupported YAML tag is reported",
    ),
    pytest.param(
        "version: 1\nschemas: {public: *nowhere}\n",
        2,
        "invalid YAML: while parsing node, found unknown anchor",
        id="an alias without its anchor is reported",
    ),
    pytest.param(
        "version: 1\nschemas: {}\n---\nversion: 1\n",
        3,
        "invalid YAML: more than one document",
        id="a second document is reported",
    ),
    pytest.param(
        "version: 1\nschemas: &all\n  <<: *all\n",
        3,
        "an alias refers to a node that contains it",
        id="a mapping merged into itself is reported",
    ),
]


@pytest.mark.parametrize(("text", "line", "message"), PROBLEMS)
def test_each_problem_is_reported_with_its_line(text: str, line: int, message: str) -> None:
    problems = problems_of(text)
    assert any(found_line == line and message in found for found_line, found in problems), problems


def test_an_expression_cut_short_after_a_keyword_is_reported() -> None:
    line, message = only_problem(table_spec("indexes:\n  i: {columns: [a], where: a = 1 AND}\n"))
    assert line == 7
    assert "is not a valid SQL expression" in message


def test_every_problem_is_reported_at_once_in_line_order() -> None:
    text = table_spec(
        """\
        colums: []
        columns:
          - {name: a, type: not a type at all}
          - {name: b, type: int, nullable: perhaps}
        indexes:
          i: {columns: [a], where: "a ="}
        policies:
          p: {command: SELEC}
        triggers:
          t: {timing: whenever, events: [INSERT], function: f()}
        """
    ).replace("version: 1", "version: 3")
    problems = problems_of(text)
    assert [line for line, _ in problems] == [1, 6, 8, 9, 11, 13, 15]
    assert len(problems) == 7


def test_a_typo_is_not_also_reported_as_a_missing_required_key() -> None:
    problems = problems_of(table_spec("indexes:\n  i: {colums: [a]}\n"))
    assert problems == [
        (7, "index public.t.i: unknown key 'colums' (did you mean 'columns'?)"),
    ]


def test_the_error_message_lists_each_problem_as_file_colon_line() -> None:
    with pytest.raises(InputError) as caught:
        spec.loads("version: 2\nschemas: {public: {tabels: {}}}\n", "expected/phase3.yaml")
    assert str(caught.value) == (
        "2 problems:\n"
        "  expected/phase3.yaml:1: spec: version must be 1, not '2'\n"
        "  expected/phase3.yaml:2: schema public: unknown key 'tabels' (did you mean 'tables'?)"
    )


# --- reading a large spec table by table ----------------------------------
# Each table is read as soon as its YAML is parsed; nothing may tell.


def test_problems_on_one_line_keep_the_order_of_a_walk_of_the_whole_document() -> None:
    text = "version: 1\nschemas: {public: {extra: sometimes, tables: {t: {colums: []}}}}\n"
    assert [message for _, message in problems_of(text)] == [
        "schema public: extra must be one of report, ignore, not 'sometimes'",
        "table public.t: unknown key 'colums' (did you mean 'columns'?)",
    ]


def test_a_repeated_table_is_reported_and_its_body_not_read() -> None:
    text = "version: 1\nschemas:\n  public:\n    tables:\n      t: {}\n      t: {colums: []}\n"
    message = "schemas: public: tables: duplicate key 't' (first at line 5)"
    assert problems_of(text) == [(6, message)]


def test_tables_shared_by_two_schemas_through_an_alias_belong_to_each() -> None:
    text = """\
version: 1
schemas:
  a:
    tables: &tables
      t:
        constraints:
          t_u_fkey: {type: fk, columns: [u_id], references: {table: u, columns: [id]}}
  b:
    tables: *tables
"""
    references = [
        schema.tables[0].constraints[0].references  # type: ignore[index]
        for schema in spec.loads(text).schemas
    ]
    assert references == [ForeignKey("a.u", ("id",)), ForeignKey("b.u", ("id",))]


def test_a_table_body_may_be_aliased_and_merged_into_other_tables() -> None:
    text = table_spec("columns: [{id: uuid}]\nrls: true\n").replace("t:\n", "t: &body\n")
    text += "      u: *body\n      v: {<<: *body, migration: m}\n"
    t, u, v = spec.loads(text).schemas[0].tables
    assert (u.columns, u.rls) == (v.columns, v.rls) == (t.columns, t.rls)
    assert (u.name, v.name, v.migration) == ("u", "v", "m")


def test_a_yaml_error_after_a_broken_table_is_the_only_problem() -> None:
    text = "version: 1\nschemas:\n  public:\n    tables:\n      t: {colums: []}\n      u: [\n"
    [(line, message)] = problems_of(text)
    assert line == 6  # where the unclosed bracket opens
    assert message.startswith("invalid YAML:")


def test_yaml_nested_too_deeply_is_a_problem_not_a_crash() -> None:
    text = "version: 1\nschemas: " + "{a: " * 2000 + "{}" + "}" * 2000 + "\n"
    [(_, message)] = problems_of(text)
    assert message.startswith("invalid YAML:")


def test_load_reports_a_yaml_error_late_in_the_file_and_a_file_it_cannot_read(
    tmp_path: Path,
) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(INTEGRATIONS + "---\nversion: 1\n")
    with pytest.raises(InputError) as caught:
        spec.load(path)
    [problem] = caught.value.problems
    assert (problem.file, problem.line) == (str(path), INTEGRATIONS.count("\n") + 1)
    assert "more than one document" in problem.message
    with pytest.raises(InputError, match="cannot read spec file"):
        spec.load(tmp_path)


# --- dumping ---------------------------------------------------------------


def test_dumps_writes_the_committed_phase3_spec_byte_for_byte() -> None:
    assert spec.dumps(spec.load(PHASE3)) == PHASE3.read_text(encoding="utf-8")


def test_dumps_writes_the_integrations_spec_in_a_fixed_order() -> None:
    assert spec.dumps(spec.loads(INTEGRATIONS)) == textwrap.dedent(
        """\
        version: 1
        migrations:
          table: supabase_migrations.schema_migrations
          applied:
          - '20250122000000'
          - '20250123000000'
        schemas:
          public:
            tables:
              integrations:
                migration: 20250122000000_create_integrations_table
                rls: {enabled: true}
                columns:
                - {name: id, type: uuid, nullable: false, default: gen_random_uuid()}
                - {name: organization_id, type: uuid, nullable: false}
                - {name: integration_type, type: text}
                - {name: is_active, type: boolean, nullable: false, default: 'true'}
                constraints:
                  integrations_organization_id_fkey:
                    type: foreign key
                    columns: [organization_id]
                    references: {table: public.organizations, columns: [id], on_delete: CASCADE}
                  integrations_pkey: {type: primary key, columns: [id]}
                indexes:
                  idx_active_integrations:
                    columns: [organization_id, integration_type]
                    where: is_active = true AND organization_id IS NOT NULL
                    migration: 20250123000000_phase3_performance_indexes
                policies:
                  Users can view organization integrations:
                    command: SELECT
                    roles: [authenticated]
                    using: organization_id IN (SELECT organization_id FROM organization_members)
                triggers:
                  update_integrations_updated_at:
                    timing: BEFORE
                    events: [UPDATE]
                    level: ROW
                    function: update_updated_at_column()
              organizations: {}
        """
    )


def test_dumps_leaves_out_values_equal_to_their_defaults() -> None:
    state = State(
        schemas=(
            Schema(
                "public",
                tables=(
                    Table(
                        "t",
                        columns=(Column("a", "int"),),
                        constraints=(Constraint("c", ConstraintType.UNIQUE, ("a",)),),
                        indexes=(Index("i", ("a",)),),
                        policies=(Policy("p"),),
                        triggers=(Trigger("g", "AFTER", ("INSERT",), "ROW", "f()"),),
                        rls=Rls(enabled=False),
                    ),
                ),
            ),
        )
    )
    assert spec.dumps(state) == textwrap.dedent(
        """\
        version: 1
        schemas:
          public:
            tables:
              t:
                rls: {enabled: false}
                columns:
                - {name: a, type: int}
                constraints:
                  c: {type: unique, columns: [a]}
                indexes:
                  i: {columns: [a]}
                policies:
                  p: {}
                triggers:
                  g: {timing: AFTER, events: [INSERT], level: ROW, function: f()}
        """
    )


def test_dumps_sorts_schemas_tables_objects_and_roles_but_keeps_column_order() -> None:
    columns = (Column("z", "int"), Column("a", "int"))
    state = State(
        schemas=(
            Schema("b", tables=(Table("y"), Table("x"))),
            Schema(
                "a",
                tables=(
                    Table(
                        "t",
                        columns=columns,
                        indexes=(Index("i2", ("a",)), Index("i1", ("z",))),
                        policies=(Policy("p", roles=frozenset({"b", "a", "c"})),),
                    ),
                ),
            ),
        )
    )
    text = spec.dumps(state)
    order = ["  a:", "- {name: z", "- {name: a", "i1:", "i2:", "  b:", "x: {}", "y: {}"]
    positions = [text.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert "roles: [a, b, c]" in text
    assert spec.loads(text).schemas[0].tables[0].columns == columns


def test_dumps_keeps_a_long_expression_on_one_line() -> None:
    using = " AND ".join(f"column_{n} IS NOT NULL" for n in range(40))
    state = State(
        schemas=(Schema("public", tables=(Table("t", policies=(Policy("p", using=using),)),)),)
    )
    text = spec.dumps(state)
    assert f"using: {using}\n" in text
    assert spec.loads(text) == state


def test_dumps_keeps_the_lines_of_a_multi_line_expression() -> None:
    using = "(organization_id IN ( SELECT om.organization_id\n   FROM organization_members om))"
    state = State(
        schemas=(Schema("public", tables=(Table("t", policies=(Policy("p", using=using),)),)),)
    )
    text = spec.dumps(state)
    assert "using: |-\n" in text
    assert spec.loads(text) == state


def test_dumps_quotes_sql_string_literals_with_double_quotes() -> None:
    state = State(
        schemas=(
            Schema(
                "public",
                tables=(Table("t", columns=(Column("c", "jsonb", default="'{}'::jsonb"),)),),
            ),
        )
    )
    assert """default: "'{}'::jsonb\"""" in spec.dumps(state)


def test_dumps_refuses_an_absent_column_of_a_table_the_schema_does_not_list() -> None:
    state = State(schemas=(Schema("public", absent=(Absent(Kind.COLUMN, "c", "t"),)),))
    with pytest.raises(ValueError, match="does not list"):
        spec.dumps(state)


# --- the round trip --------------------------------------------------------

identifiers = st.from_regex(r"[a-z][a-z0-9]{0,8}_[a-z0-9]{0,4}", fullmatch=True)
# Names that YAML would read as something else, or that need quoting.
awkward_names = st.sampled_from(
    [
        "Users can view organization integrations",
        "yes",
        "null",
        "~",
        "true",
        "1",
        "0x1f",
        "2025-01-23",
        "a: b",
        "#hash",
        "- dash",
        "'quoted'",
        'say "hi"',
        "{brace}",
        "* star",
        "café",
        "x" * 140,
    ]
)
names = identifiers | awkward_names
expressions = st.one_of(
    st.builds(lambda c, n: f"{c} = {n}", identifiers, st.integers(0, 999)),
    st.sampled_from(
        [
            "now()",
            "gen_random_uuid()",
            "'{}'::jsonb",
            "true",
            "null",
            "0",
            "status IN ('pending', 'connected')",
            "role = ANY (ARRAY['owner'::text, 'admin'::text])",
            "(organization_id IN ( SELECT om.organization_id\n   FROM organization_members om))",
            "a = 1 -- note",
            "'a # b' = c",
            "x = 'it''s'",
            "E'\\\\n' = y",
        ]
    ),
)
types = st.sampled_from(
    [
        "uuid",
        "text",
        "int",
        "boolean",
        "jsonb",
        "timestamp with time zone",
        "character varying(50)",
        "text[]",
        "numeric(10,2)",
    ]
)
index_columns = identifiers | st.sampled_from(
    ["created_at DESC", "lower(email)", "name text_pattern_ops", "a NULLS FIRST", "(a + b)"]
)
migrations = st.none() | st.sampled_from(
    ["20250122000000_create_integrations_table", "20250123000000", "0001", "m"]
)
column_lists = st.lists(identifiers, min_size=1, max_size=3, unique=True).map(tuple)


@st.composite
def column_strategy(draw: st.DrawFn, name: str) -> Column:
    extra = draw(st.sampled_from(["none", "default", "identity", "generated"]))
    identity = draw(st.sampled_from(["always", "by default"])) if extra == "identity" else None
    return Column(
        name=name,
        type=draw(types),
        nullable=False if identity else draw(st.booleans()),
        default=draw(expressions) if extra == "default" else None,
        identity=identity,
        generated=draw(expressions) if extra == "generated" else None,
        migration=draw(migrations),
    )


@st.composite
def constraint_strategy(draw: st.DrawFn, name: str, schema: str) -> Constraint:
    kind = draw(st.sampled_from(list(ConstraintType)))
    needs_columns = kind not in (ConstraintType.CHECK, ConstraintType.EXCLUDE)
    columns = draw(column_lists if needs_columns else st.just(()) | column_lists)
    references = None
    if kind is ConstraintType.FOREIGN_KEY:
        referenced = st.lists(
            identifiers, min_size=len(columns), max_size=len(columns), unique=True
        )
        references = ForeignKey(
            table=f"{draw(st.sampled_from([schema, 'other']))}.{draw(identifiers)}",
            columns=tuple(draw(referenced)),
            on_delete=draw(st.sampled_from(["NO ACTION", "RESTRICT", "CASCADE", "SET NULL"])),
            on_update=draw(st.sampled_from(["NO ACTION", "SET DEFAULT"])),
            match=draw(st.sampled_from(["SIMPLE", "FULL"])),
        )
    check = None
    if kind is ConstraintType.CHECK:
        check = draw(expressions)
    elif kind is ConstraintType.EXCLUDE:
        check = draw(st.none() | st.just("EXCLUDE USING gist (during WITH &&)"))
    deferrable = draw(st.booleans())
    return Constraint(
        name=name,
        type=kind,
        columns=columns,
        references=references,
        check=check,
        deferrable=deferrable,
        deferred=deferrable and draw(st.booleans()),
        validated=draw(st.booleans()),
        migration=draw(migrations),
    )


@st.composite
def index_strategy(draw: st.DrawFn, name: str) -> Index:
    return Index(
        name=name,
        columns=draw(st.lists(index_columns, min_size=1, max_size=3).map(tuple)),
        include=draw(st.lists(identifiers, max_size=2, unique=True).map(tuple)),
        where=draw(st.none() | expressions),
        unique=draw(st.booleans()),
        method=draw(st.sampled_from(["btree", "gin", "gist", "hash", "brin"])),
        constraint=draw(st.none() | st.just(name)),
        migration=draw(migrations),
    )


@st.composite
def policy_strategy(draw: st.DrawFn, name: str) -> Policy:
    command = draw(st.sampled_from(["ALL", "SELECT", "INSERT", "UPDATE", "DELETE"]))
    roles = st.sampled_from(["public", "authenticated", "anon", "service_role", "Mixed Case"])
    return Policy(
        name=name,
        command=command,
        permissive=draw(st.booleans()),
        roles=draw(st.frozensets(roles, min_size=1)),
        using=None if command == "INSERT" else draw(st.none() | expressions),
        with_check=None if command in ("SELECT", "DELETE") else draw(st.none() | expressions),
        migration=draw(migrations),
    )


@st.composite
def trigger_strategy(draw: st.DrawFn, name: str) -> Trigger:
    timing = draw(st.sampled_from(["BEFORE", "AFTER", "INSTEAD OF"]))
    level = "ROW" if timing == "INSTEAD OF" else draw(st.sampled_from(["ROW", "STATEMENT"]))
    allowed = ["INSERT", "UPDATE", "DELETE"] + (["TRUNCATE"] if level == "STATEMENT" else [])
    chosen = draw(st.sets(st.sampled_from(allowed), min_size=1))
    events = tuple(e for e in ("INSERT", "UPDATE", "DELETE", "TRUNCATE") if e in chosen)
    return Trigger(
        name=name,
        timing=timing,
        events=events,
        level=level,
        function=draw(st.sampled_from(["update_updated_at_column()", "audit.log('t', 1)"])),
        enabled=draw(st.sampled_from(["origin", "always", "replica", "disabled"])),
        when=draw(st.none() | expressions),
        columns=draw(column_lists) if "UPDATE" in events and draw(st.booleans()) else (),
        migration=draw(migrations),
    )


def unique_names(draw: st.DrawFn, taken: set[str], max_size: int = 3) -> list[str]:
    """Names not yet taken (index names are unique across the tables of a schema)."""
    chosen = draw(st.lists(names.filter(lambda n: n not in taken), max_size=max_size, unique=True))
    taken.update(chosen)
    return sorted(chosen)


@st.composite
def table_strategy(
    draw: st.DrawFn, name: str, schema: str, index_names: set[str]
) -> tuple[Table, list[Absent]]:
    def objects(
        make: Callable[[str], st.SearchStrategy[T]], taken: set[str]
    ) -> tuple[T, ...] | None:
        if draw(st.booleans()):
            return None  # not specified: not checked
        return tuple(draw(make(n)) for n in unique_names(draw, taken))

    column_names = draw(st.lists(names, max_size=4, unique=True))
    columns = draw(st.none() | st.tuples(*(column_strategy(n) for n in column_names)))
    constraints = objects(lambda n: constraint_strategy(n, schema), set())
    indexes = objects(index_strategy, index_names)
    policies = objects(policy_strategy, set())
    triggers = objects(trigger_strategy, set())
    table = Table(
        name=name,
        columns=columns,
        constraints=constraints,
        indexes=indexes,
        policies=policies,
        triggers=triggers,
        rls=draw(st.none() | st.builds(Rls, st.booleans(), st.booleans())),
        migration=draw(migrations),
    )
    absent = []
    listed: dict[Kind, tuple[Any, ...]] = {
        Kind.COLUMN: table.columns or (),
        Kind.CONSTRAINT: table.constraints or (),
        Kind.POLICY: table.policies or (),
        Kind.TRIGGER: table.triggers or (),
    }
    for kind, present in listed.items():
        taken = {item.name for item in present}
        absent += [Absent(kind, n, name, draw(migrations)) for n in unique_names(draw, taken, 2)]
    return table, absent


@st.composite
def schema_strategy(draw: st.DrawFn, name: str) -> Schema:
    index_names: set[str] = set()
    tables: list[Table] = []
    absent: list[Absent] = []
    for table_name in unique_names(draw, set()):
        table, table_absent = draw(table_strategy(table_name, name, index_names))
        tables.append(table)
        absent += table_absent
    table_names = {t.name for t in tables}
    absent += [
        Absent(Kind.TABLE, n, None, draw(migrations)) for n in unique_names(draw, table_names, 2)
    ]
    absent += [
        Absent(Kind.INDEX, n, None, draw(migrations)) for n in unique_names(draw, index_names, 2)
    ]
    globs = st.sampled_from(["tmp_*", "pg_?", "x[ab]", "*", "yes"])
    return Schema(
        name=name,
        tables=tuple(tables),
        absent=tuple(sorted(absent, key=spec.absent_sort_key)),
        extra=ExtraPolicy(**{k: draw(st.sampled_from(list(Extra))) for k in EXTRA_KINDS}),
        ignore=tuple(sorted(draw(st.sets(globs, max_size=3)))),
    )


@st.composite
def state_strategy(draw: st.DrawFn) -> State:
    ledger = draw(
        st.none()
        | st.builds(
            Ledger,
            applied=st.lists(
                st.from_regex(r"[0-9]{1,14}", fullmatch=True) | identifiers,
                max_size=4,
                unique=True,
            ).map(tuple),
            table=st.sampled_from([DEFAULT_LEDGER_TABLE, "public.schema_migrations"]),
        )
    )
    schemas = tuple(draw(schema_strategy(n)) for n in unique_names(draw, set(), 2))
    return State(schemas=schemas, ledger=ledger)


@given(state_strategy())
def test_a_dumped_state_loads_back_equal_and_dumps_to_the_same_text(state: State) -> None:
    text = spec.dumps(state)
    assert spec.loads(text) == state
    assert spec.dumps(spec.loads(text)) == text
    assert spec.dumps(state) == text


# --- the writer: whatever it writes reads back the same ----------------------
# dumps writes YAML itself (for speed, in a few lines): any document it is
# given must read back as the same data through PyYAML (YAML 1.1, the exact
# path) and yaml-rs (YAML 1.2, the fast path) alike.


def plain(document: object) -> object:
    """The data a document stands for: flow and one-line markers are presentation."""
    if isinstance(document, spec_writer._OneLineIfFits):
        return plain(document.body)
    if isinstance(document, dict):
        return {key: plain(value) for key, value in document.items()}
    if isinstance(document, list):
        return [plain(item) for item in document]
    return document


# Text that YAML quotes, escapes, reads as something else or writes on several lines.
awkward_texts = st.text(
    alphabet=st.sampled_from(
        list("ab 1:#-?{}[],&*!|>'\"%@`\\~.\n\r\t\x85\u2028\u2029\ufeff\x07é😀")
    ),
    max_size=10,
) | st.sampled_from(["", "yes", "null", "0x1f", "1e3", "---", "x" * 122, "x" * 123, " \n", "a\n\n"])
scalars = awkward_texts | st.booleans() | st.integers(-3, 3)
flow_nodes = st.recursive(
    scalars,
    lambda inner: (
        st.dictionaries(awkward_texts, inner, max_size=3).map(spec_writer._Flow)
        | st.lists(inner, max_size=3).map(spec_writer._Inline)
    ),
    max_leaves=6,
)
block_nodes = st.recursive(
    flow_nodes
    | st.builds(
        spec_writer._OneLineIfFits,
        st.dictionaries(awkward_texts, flow_nodes, max_size=3),
        st.integers(0, 20),
        st.integers(5, 60),
    ),
    lambda inner: st.dictionaries(awkward_texts, inner, max_size=3) | st.lists(inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=5 * settings().max_examples)  # small and cheap: many
@given(st.dictionaries(awkward_texts, block_nodes, min_size=1, max_size=4))
def test_the_writer_writes_any_document_so_that_both_parsers_read_it_back(
    document: dict[str, object],
) -> None:
    text = spec_writer._Writer().text(document)
    assert yaml.safe_load(text) == plain(document)
    assert yaml_rs.loads(text, parse_datetime=False) == plain(document)


# --- a large spec, parsed a piece at a time --------------------------------


def test_a_large_generated_spec_reads_the_same_in_pieces_and_whole() -> None:
    tables = tuple(
        Table(f"t{n:03}", columns=(Column("id", "uuid", nullable=False),), rls=Rls(enabled=True))
        for n in range(450)  # three pieces of tables
    )
    state = State(schemas=(Schema("a", tables=tables), Schema("b", tables=tables[:5])))
    text = spec.dumps(state)
    assert spec.loads(text) == state  # cut into pieces, read as the whole


def test_a_large_spec_reads_its_functions_and_views_the_same_in_pieces_and_whole() -> None:
    tables = tuple(Table(f"t{n:03}", rls=Rls(enabled=True)) for n in range(250))
    functions = tuple(
        model.Function(
            f"f{n:03}(integer)",
            returns="integer",
            language="plpgsql",
            body=f"\nBEGIN\n  RETURN $1 + {n};\nEND\n",
            security_definer=n % 5 == 0,
        )
        for n in range(450)  # three pieces of functions
    )
    views = tuple(
        model.View(f"v{n:03}", definition=f" SELECT t{n:03}.id FROM t{n:03}") for n in range(250)
    )
    state = State(schemas=(Schema("a", tables=tables, functions=functions, views=views),))
    text = spec.dumps(state)
    assert spec.loads(text) == state  # cut into pieces, read as the whole


def test_a_problem_in_a_large_spec_file_is_reported_with_its_line(
    tmp_path: Path,
) -> None:
    body = "".join(f"      t{n:03}: {{}}\n" for n in range(450))
    path = tmp_path / "large.yaml"
    path.write_text("version: 1\nschemas:\n  public:\n    tables:\n" + body)
    path.write_text(path.read_text().replace("t420: {}", "t420: {rls: maybe}"))
    with pytest.raises(InputError) as caught:
        spec.load(path)
    assert [(p.file, p.line, p.message) for p in caught.value.problems] == [
        (str(path), 425, "table public.t420: rls must be a mapping, not 'maybe'")
    ]


@pytest.mark.parametrize(
    ("first", "second"),
    [("true", "1"), ("true", "1.0"), ("false", "0"), ("false", "0.0")],
)
def test_a_flag_written_as_a_number_is_a_problem_in_every_table(first: str, second: str) -> None:
    # True == 1 == 1.0 in Python: nothing that compares bodies may conflate them.
    tables = "".join(
        f"      t{n}:\n        indexes:\n          i{n}: {{columns: [c], unique: {flag}}}\n"
        for n, flag in enumerate((first, second))
    )
    text = "version: 1\nschemas:\n  public:\n    tables:\n" + tables
    message = f"index public.t1.i1: unique must be true or false, not {second!r}"
    assert problems_of(text) == [(10, message)]


def test_a_line_indented_between_tables_and_its_entries_is_a_problem_not_a_traceback() -> None:
    # Indented between `tables:` and its entries, the last line continues the plain
    # scalar that stands for the cut-out block in the outline (found by fuzzing).
    text = "version: 1\nschemas:\n  public:\n    tables:\n      t: {}\n     i\n"
    assert pieces.split(text, spec.reader.PIECES) is None  # read whole, never cut
    assert problems_of(text) == [
        (6, "invalid YAML: while parsing a block mapping, did not find expected key")
    ]


@pytest.mark.parametrize(
    ("section", "entry", "where"),
    [
        ("tables", "t{}", "schemas: public: tables"),
        ("functions", "'f{}()'", "schemas: public: functions"),
    ],
)
def test_an_entry_repeated_across_pieces_is_reported_with_its_line(
    section: str, entry: str, where: str
) -> None:
    body = "".join(f"      {entry.format(n)}: {{}}\n" for n in (*range(300), 7))
    text = f"version: 1\nschemas:\n  public:\n    {section}:\n" + body
    repeated = entry.format(7).strip("'")
    assert problems_of(text) == [(305, f"{where}: duplicate key {repeated!r} (first at line 12)")]


def test_problems_in_a_large_spec_read_in_pieces_name_their_lines() -> None:
    body = "".join(f"      t{n:03}: {{}}\n" for n in range(450))
    text = "version: 1\nschemas:\n  public:\n    tables:\n" + body + "  other: {tabels: {}}\n"
    text = text.replace("t001: {}", "t001: {colums: []}").replace("t420: {}", "t420: {rls: maybe}")
    assert problems_of(text) == [
        (6, "table public.t001: unknown key 'colums' (did you mean 'columns'?)"),
        (425, "table public.t420: rls must be a mapping, not 'maybe'"),
        (455, "schema other: unknown key 'tabels' (did you mean 'tables'?)"),
    ]


# What can go wrong in one table of a large spec, as written in its piece: problems
# within the table, across tables (an index name, a table written twice), and
# spellings only YAML 1.1 reads (a flag `yes`), which are no problem at all.
_TABLE_EDITS = (
    ("{t}: {{}}", "{t}: {{colums: []}}"),
    ("{t}: {{}}", "{t}: {{rls: maybe}}"),
    ("{t}: {{}}", "{t}: {{rls: {{enabled: yes}}}}"),
    ("{t}: {{}}", "{t}: {{rls: {{enabled: 1}}}}"),
    ("{t}: {{}}", "{t}: {{indexes: {{shared_name: {{columns: [id]}}}}}}"),
    ("{t}: {{}}", "{t}: {{}}\n      t007: {{}}"),
)


def test_an_index_name_on_tables_of_two_pieces_is_reported_with_its_line() -> None:
    body = "".join(f"      t{n:03}: {{}}\n" for n in range(450))  # three pieces
    index = "{indexes: {shared_name: {columns: [id]}}}"
    text = "version: 1\nschemas:\n  public:\n    tables:\n" + body
    text = text.replace("t010: {}", f"t010: {index}").replace("t300: {}", f"t300: {index}")
    message = "schema public: index 'shared_name' is listed on both tables 't010' and 't300'"
    assert problems_of(text) == [(305, message)]


_COMMENTS = st.tuples(
    st.integers(0, 12), st.sampled_from(["#", "# tables:", "#      t001: {}", "# - a: b", ""])
)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2000), _COMMENTS), max_size=6),
    st.lists(st.integers(0, 2000), max_size=6),
    st.booleans(),
)
def test_comments_anywhere_in_a_large_spec_change_nothing_it_reads(
    lines: list[tuple[int, tuple[int, str]]], trailing: list[int], typo: bool
) -> None:
    # A large spec is cut into pieces as it is read; a comment line, at any
    # indentation, or a comment after a line, must read as nothing wherever it falls.
    tables = tuple(
        Table(f"t{n:03}", indexes=(Index(f"i{n:03}", ("id",)),), rls=Rls(enabled=True))
        for n in range(450)  # three pieces
    )
    state = State(schemas=(Schema("a", tables=tables), Schema("b", tables=tables[:3])))
    text = spec.dumps(state)
    if typo:
        text = text.replace("      t300:\n", "      t300:\n        colums: []\n", 1)
    written = text.splitlines()
    for at in sorted(set(trailing), reverse=True):
        if at < len(written) and written[at].strip():
            written[at] += "  # a note"
    for at, (indent, comment) in sorted(lines, reverse=True):
        written.insert(min(at, len(written)), " " * indent + comment)
    commented = "\n".join(written) + "\n"
    split = pieces.split(commented, spec.reader.PIECES)
    assert split is not None  # still cut into pieces: every table is in one
    assert not re.search(r"^ {6}t\d", split.outline, re.MULTILINE)
    if not typo:
        assert spec.loads(commented) == state
        return
    line = written.index("        colums: []") + 1
    message = "table a.t300: unknown key 'colums' (did you mean 'columns'?)"
    assert problems_of(commented) == [(line, message)]


def test_problems_after_several_blocks_of_tables_name_their_lines() -> None:
    # Lines are counted onwards as each block is cut out: every block shifts the next.
    body = "".join(f"      t{n:03}: {{}}\n" for n in range(250))
    text = (
        "version: 1\nschemas:\n  a:\n    tables:\n"
        + body
        + "  b:\n    owner: ''\n    tables:\n"
        + body.replace("t240: {}", "t240: {rls: maybe}")
        + "  c: {tabels: {}}\n"
    )
    assert problems_of(text) == [
        (256, "schema b: owner must not be empty"),
        (498, "table b.t240: rls must be a mapping, not 'maybe'"),
        (508, "schema c: unknown key 'tabels' (did you mean 'tables'?)"),
    ]


PUBLIC_TABLES = "schemas:\n  public:\n    tables:\n      t: {}\n"


@pytest.mark.parametrize(
    ("text", "scope"),
    [
        (
            "version: 1\nmigrations: {table: app.ledger, applied: []}\nschemas:\n"
            "  b:\n    tables:\n      t: {}\n  a:\n    functions:\n      'f()': {}\n",
            spec.Scope(("a", "b"), "app.ledger"),
        ),
        (
            f"version: 1\nmigrations: {{applied: []}}\n{PUBLIC_TABLES}",
            spec.Scope(("public",), model.DEFAULT_LEDGER_TABLE),
        ),
        (f"version: 1\n{PUBLIC_TABLES}", spec.Scope(("public",), None)),
        ("version: 1\nschemas: {public: {tables: {t: {}}}}\n", None),  # no block to cut out
        ("'text\n    tables:\n      t: {}\n  x'\n", None),  # not a mapping
        (f"version: 1\n{PUBLIC_TABLES}  public: {{}}\n", None),  # a duplicate key
    ],
)
def test_the_scope_of_a_spec_is_guessed_from_its_outline(
    text: str, scope: spec.Scope | None, tmp_path: Path
) -> None:
    assert spec.guess_scope(text) == scope
    if scope is not None:
        assert spec.Scope.of(spec.loads(text)) == scope


@pytest.mark.parametrize(("written", "meant"), [("yes", "true"), ("off", "false"), ("On", "true")])
def test_a_yaml_1_1_boolean_is_a_problem_that_says_what_was_meant(written: str, meant: str) -> None:
    # YAML 1.2 reads `yes` as text; the spec never guesses that it meant a boolean.
    line, message = only_problem(
        table_spec(f"columns:\n  - {{name: a, type: int, nullable: {written}}}\n")
    )
    assert line == 7
    expected = f"nullable must be true or false, not {written!r} (did you mean {meant}?)"
    assert message == f"column public.t.a: {expected}"
