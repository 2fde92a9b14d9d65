"""What `check` prints for tools: JSON with fixes and advisories, JUnit XML, GitHub annotations."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ElementTree

from monitor import check
from monitor.schema import spec
from monitor.schema.advisors import Advisory, Category, Level
from monitor.schema.model import Change, Finding, Kind, Severity

SPEC_TEXT = """\
version: 1
migrations:
  applied: ["20250122000000"]
schemas:
  public:
    tables:
      integrations:
        rls: {enabled: true}
        columns:
          - {name: id, type: uuid, nullable: false}
          - {name: status, type: text}
        indexes:
          idx_status:
            columns: [status]
            where: status <> 'gone'
        policies:
          Users can view:
            {command: SELECT, roles: [authenticated], using: "true"}
"""
EXPECTED = spec.loads(SPEC_TEXT, "phase3.yaml")
MISSING = Finding(
    Kind.INDEX,
    Change.MISSING,
    Severity.CRITICAL,
    "public",
    "integrations",
    "idx_status",
    "index public.integrations.idx_status is missing",
)
EXTRA = Finding(
    Kind.TABLE,
    Change.UNEXPECTED,
    Severity.WARNING,
    "public",
    "scratch",
    "scratch",
    "table public.scratch is not in the spec",
)
PENDING = Finding(
    Kind.MIGRATION,
    Change.PENDING,
    Severity.INFO,
    "supabase_migrations",
    "schema_migrations",
    "20250122000000",
    "migration 20250122000000 is pending",
)
NO_RLS = Advisory(
    "rls_disabled_in_public",
    Level.ERROR,
    Category.SECURITY,
    "public",
    "scratch",
    "scratch",
    "table public.scratch is in API-exposed schema public but row level security is disabled",
    "ALTER TABLE public.scratch ENABLE ROW LEVEL SECURITY",
)
SLOW = Advisory(
    "auth_rls_initplan",
    Level.WARNING,
    Category.PERFORMANCE,
    "public",
    "integrations",
    "Users can view",
    "policy 'Users can view' calls auth.uid(), per row",
    "write (select auth.uid())",
)


def test_json_carries_each_findings_fix_and_the_advisories_beside_them() -> None:
    report = check.check_json(
        [MISSING, EXTRA], ok=False, advisories=[NO_RLS, SLOW], expected=EXPECTED
    )
    findings = report["findings"]
    assert isinstance(findings, list)
    missing, extra = findings
    assert missing["fix"] == [
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_status ON public.integrations (status)"
        " WHERE status <> 'gone';"
    ]
    assert extra["fix"] == [
        "-- DROP TABLE IF EXISTS public.scratch;  -- destructive: review, then uncomment"
    ]
    assert report["summary"] == {"critical": 1, "warning": 1, "info": 0}
    assert report["advisories"] == [NO_RLS.as_json(), SLOW.as_json()]
    assert report["advisory_summary"] == {"error": 1, "warning": 1, "info": 0}


def test_advisories_fail_the_gate_only_when_asked() -> None:
    assert not check.failing_advisories([NO_RLS, SLOW], None)
    assert check.failing_advisories([SLOW], Level.WARNING)
    assert not check.failing_advisories([SLOW], Level.ERROR)
    assert check.failing_advisories([NO_RLS], Level.INFO)


def test_text_prints_advisories_after_the_findings_with_their_fix() -> None:
    out = io.StringIO()
    check.print_findings([], out, [NO_RLS])
    lines = out.getvalue().splitlines()
    assert lines[0] == "no drift: the database matches the spec"
    assert "  error    rls_disabled_in_public: table public.scratch is in API-exposed" in (
        "\n".join(lines)
    )
    assert "fix: ALTER TABLE public.scratch ENABLE ROW LEVEL SECURITY" in out.getvalue()
    assert lines[-1] == "1 advisory: 1 error, 0 warning, 0 info"


def test_junit_has_a_case_per_expected_object_failing_with_its_finding_and_fix() -> None:
    xml = check.junit_xml(
        EXPECTED, [MISSING, EXTRA, PENDING], [NO_RLS, SLOW],
        fail_on=Severity.WARNING, fail_on_advisory=Level.ERROR,
    )  # fmt: skip
    root = ElementTree.fromstring(xml)
    drift, advisors = root.findall("testsuite")
    cases = {(c.get("classname"), c.get("name")): c for c in drift.findall("testcase")}
    assert set(cases) == {
        ("supabase_migrations.schema_migrations", "migration 20250122000000"),
        ("public.integrations", "table integrations"),
        ("public.integrations", "rls integrations"),
        ("public.integrations", "column id"),
        ("public.integrations", "column status"),
        ("public.integrations", "index idx_status"),
        ("public.integrations", "policy Users can view"),
        ("public.scratch", "table scratch"),  # a finding about an object the spec lacks
    }
    failure = cases[("public.integrations", "index idx_status")].find("failure")
    assert failure is not None and failure.get("type") == "critical"
    assert "CREATE INDEX CONCURRENTLY" in (failure.text or "")
    # Info is below --fail-on warning: reported, not failed.
    pending = cases[("supabase_migrations.schema_migrations", "migration 20250122000000")]
    assert pending.find("failure") is None and pending.find("system-out") is not None
    assert (drift.get("tests"), drift.get("failures")) == ("8", "2")
    assert (advisors.get("tests"), advisors.get("failures")) == ("2", "1")
    assert (root.get("tests"), root.get("failures")) == ("10", "3")


def test_github_annotations_point_at_the_spec_line_of_the_object() -> None:
    text = check.github_annotations(
        [MISSING, EXTRA, PENDING], [SLOW], "spec/phase3.yaml", SPEC_TEXT
    )
    lines = text.splitlines()
    assert lines[0] == (
        "::error file=spec/phase3.yaml,line=13,title=schema drift%3A index missing"
        "::index public.integrations.idx_status is missing"
    )
    # An object the spec does not list: its schema's line.
    assert lines[1].startswith("::warning file=spec/phase3.yaml,line=5,title=")
    assert lines[2].startswith("::notice file=spec/phase3.yaml,line=2,title=")
    # An advisory about a policy points at the policy.
    assert lines[3].startswith(
        "::warning file=spec/phase3.yaml,line=17,title=schema advisor%3A auth_rls_initplan::"
    )


def test_annotation_text_is_escaped_as_workflow_commands_require() -> None:
    odd = Finding(Kind.TABLE, Change.MISSING, Severity.CRITICAL, "public", "a,b", "a,b",
                  "50% gone\nreally")  # fmt: skip
    (line, *_) = check.github_annotations([odd], [], "x:y.yaml", "").splitlines()
    assert (
        line == "::error file=x%3Ay.yaml,title=schema drift%3A table missing::50%25 gone%0Areally"
    )


def test_spec_lines_cover_tables_columns_collections_and_rls() -> None:
    lines = check.spec_lines(SPEC_TEXT)
    assert lines[("public", "integrations", "column", "status")] == 11
    assert lines[("public", "integrations", "policy", "Users can view")] == 17
    assert lines[("public", "integrations", "rls", "integrations")] == 8
    assert check.spec_lines("{not: [yaml") == {}


# Every C0 control, DEL and C1 controls, and the bidi override that reverses text.
CONTROLS = "".join(map(chr, [*range(0x20), 0x7F, 0x85, 0x9B])) + "\u202e"
FORGED = "x\nno drift: the database matches the spec"


def hostile(name: str) -> Finding:
    return Finding(
        Kind.TABLE, Change.UNEXPECTED, Severity.WARNING, "public", name, name,
        f"table public.{name} is not in the spec",
    )  # fmt: skip


def test_text_shows_control_characters_in_names_as_escapes_and_never_forges_a_line() -> None:
    out = io.StringIO()
    advisory = Advisory(
        "rls_disabled_in_public", Level.ERROR, Category.SECURITY, "public", CONTROLS, CONTROLS,
        f"table {CONTROLS} is exposed", f"ALTER TABLE {CONTROLS} ENABLE ROW LEVEL SECURITY",
    )  # fmt: skip
    check.print_findings([hostile(FORGED), hostile(CONTROLS)], out, [advisory])
    text = out.getvalue()
    assert "no drift: the database matches the spec" not in text.splitlines()
    assert "public.x\\nno drift: the database matches the spec" in text
    printed_controls = {c for c in text if not c.isprintable()} - {"\n"}
    assert printed_controls == set(), printed_controls
    assert "\\x1b" in text and "\\u202e" in text and "\\x00" in text
    # A name holding a backslash cannot pass for an escape.
    assert check.visible("a\\nb") == "a\\\\nb" != check.visible("a\nb")


def test_junit_stays_valid_xml_with_any_control_character_in_a_name() -> None:
    advisory = Advisory(
        "rls_disabled_in_public", Level.ERROR, Category.SECURITY, "public", CONTROLS, CONTROLS,
        f"table {CONTROLS} is exposed", f"ALTER TABLE {CONTROLS} ENABLE ROW LEVEL SECURITY",
    )  # fmt: skip
    xml = check.junit_xml(
        EXPECTED, [hostile(CONTROLS), hostile(FORGED)], [advisory],
        fail_on=Severity.WARNING, fail_on_advisory=Level.ERROR,
    )  # fmt: skip
    root = ElementTree.fromstring(xml)  # raises on a character XML 1.0 forbids
    names = {c.get("classname") for c in root.iter("testcase")}
    assert f"public.{check.visible(CONTROLS)}" in names
    assert "public.x\\nno drift: the database matches the spec" in names


def test_json_lists_are_capped_and_say_how_many_were_left_out() -> None:
    findings = [
        Finding(Kind.POLICY, Change.UNEXPECTED, Severity.WARNING, "public", "t", f"p{n}", "m")
        for n in range(check.JSON_ITEMS_CAP + 7)
    ]
    notes = [f"note {n}" for n in range(3)]
    report = check.check_json(findings, ok=False, notes=notes)
    assert len(report["findings"]) == check.JSON_ITEMS_CAP  # type: ignore[arg-type]
    assert report["summary"] == {"critical": 0, "warning": check.JSON_ITEMS_CAP + 7, "info": 0}
    assert report["omitted"] == {"findings": 7, "advisories": 0, "notes": 0}
    assert report["notes"] == notes


FUNCTION_SPEC = """\
version: 1
schemas:
  public:
    tables: {}
    functions:
      is_admin():
        returns: boolean
        language: sql
        body: SELECT true
      grant_role(target uuid, role text):
        returns: void
        language: plpgsql
        body: BEGIN NULL; END
"""


def function_finding(name: str, before: str, after: str) -> Finding:
    return Finding(
        Kind.FUNCTION, Change.CHANGED, Severity.CRITICAL, "public", name, name,
        f"function public.{name} is changed: body",
        {"name": name, "language": "plpgsql", "body": before},
        {"name": name, "language": "plpgsql", "body": after},
    )  # fmt: skip


def test_github_annotations_for_a_function_point_at_the_function_not_its_schema() -> None:
    body = function_finding("grant_role(target uuid,role text)", "BEGIN NULL; END", "x")
    grant = Finding(Kind.PRIVILEGE, Change.WIDENED, Severity.CRITICAL, "public", "is_admin()",
                    "anon", "anon may execute public.is_admin()")  # fmt: skip
    first, second = check.github_annotations(
        [body, grant], [], "s.yaml", FUNCTION_SPEC
    ).splitlines()
    assert ",line=10," in first  # the signature, spaced otherwise in the spec
    assert ",line=6," in second  # a privilege on a function: the function's line


def test_text_shows_a_changed_function_body_as_a_unified_diff() -> None:
    before = "BEGIN\n  RETURN NEW;\nEND"
    after = "BEGIN\n  NEW.owner = auth.uid();\n  RETURN NEW;\nEND"
    out = io.StringIO()
    check.print_findings([function_finding("stamp()", before, after)], out)
    text = out.getvalue()
    assert "--- spec\n" in text and "+++ database\n" in text
    assert "+  NEW.owner = auth.uid();" in text and "   RETURN NEW;" in text
    # Bodies the same but for spacing: no diff (another field changed).
    quiet = io.StringIO()
    check.print_findings([function_finding("stamp()", before, before.replace("\n", "\n "))], quiet)
    assert "--- spec" not in quiet.getvalue()
