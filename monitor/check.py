"""The one-shot check: connect, snapshot, diff, advise, and the outcome written for people or tools.

`schema-monitor check` and the demo use it; it never passes through the daemon's or the
window's rooms. Output formats: text (people), json (the contract in docs/contracts.md), sql (a
repair script), junit (CI test reports) and github (GitHub Actions annotations).
"""

from __future__ import annotations

import contextlib
import ctypes
import difflib
import os
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from monitor.documents import locate
from monitor.errors import MonitorError
from monitor.postgres import catalog, catalog_limits, db
from monitor.schema import advisors, normalize, platform_guard, repair, spec
from monitor.schema.advisors import LEVEL_RANK, Advisory, Level
from monitor.schema.compare import diff
from monitor.schema.model import Finding, Kind, Severity, State

_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True, slots=True)
class Outcome:
    findings: tuple[Finding, ...]
    advisories: tuple[Advisory, ...]
    notes: tuple[str, ...] = ()  # definitions compared by hash, over the catalog's byte cap


def run_check(expected: State, dsn: str) -> tuple[Finding, ...]:
    """One check of a live database against a spec: connect, snapshot, diff."""
    return inspect(expected, dsn, advisors.Settings(enabled=False)).findings


def inspect(expected: State, dsn: str, settings: advisors.Settings) -> Outcome:
    """Drift and advisories from one snapshot: the advisors cost no statement of their own."""
    return _outcome(expected, _snapshot(dsn, spec.Scope.of(expected)), settings)


def _snapshot(dsn: str, scope: spec.Scope) -> catalog.Snapshot:
    with db.connect(dsn) as conn:
        return catalog.snapshot(
            conn, scope.schemas, scope.ledger_table, optional=platform_guard.GUARDED_SCHEMAS
        )


def _outcome(expected: State, snap: catalog.Snapshot, settings: advisors.Settings) -> Outcome:
    live = platform_guard.spec_schemas(expected, snap.state)
    findings = diff.diff(expected, live, skipped=snap.skipped)
    findings = diff.explain_unread_ledger(findings, snap.ledger_problem)
    findings += catalog_limits.findings(snap.over_cap, snap.limits)
    guarded = platform_guard.findings(expected, snap.state, findings)
    notes = catalog_limits.notes(snap.state, snap.limits)
    return Outcome(findings + guarded, advisors.evaluate(live, settings), notes)


# A spec this large takes about as long to load as the server takes to answer.
_EARLY_SNAPSHOT_BYTES = 1024 * 1024


def load_and_inspect(
    path: Path, explicit_dsn: str | None, settings: advisors.Settings
) -> tuple[State, Outcome]:
    """``spec.load(path)``, then :func:`inspect` the database it names, as `check` does.

    The server spends most of a snapshot's time answering, the client most of
    a large spec's load reading: for a large spec, the snapshot of the scope
    its outline names starts first, on a thread, and the spec loads meanwhile.
    What is reported is what loading first would report: a spec that fails
    to load fails as before (the early snapshot is left unread), and a
    snapshot of a scope the loaded spec does not name is taken again.
    """
    _large_blocks_returned_on_free()
    expected, early = _load(path, explicit_dsn)
    dsn = db.resolve_dsn(explicit_dsn)
    scope = spec.Scope.of(expected)
    snap = early.result() if early is not None and early.scope == scope else None
    return expected, _outcome(expected, snap or _snapshot(dsn, scope), settings)


# glibc's M_MMAP_THRESHOLD, and its default: blocks at least this large get pages of their own.
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_BYTES = 128 * 1024


def _large_blocks_returned_on_free() -> None:
    """Keep glibc from raising its mmap threshold as large blocks are freed.

    Freeing the spec's text (megabytes, mapped) raises glibc's threshold to
    its size, so the rows and lists made afterwards land on the heap between
    long-lived model objects and are never given back: fixing the threshold
    at its default keeps ~13 MB off a 5,000-table check's peak RSS
    (benchmarks/catalog_scale.py). A threshold the user set is left alone.
    """
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        _glibc("mallopt", _M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)


def _free_heap_returned() -> None:
    """Give back the pages glibc's heap holds free once the spec is loaded.

    Parsing a large spec leaves megabytes free between the model's blocks,
    where glibc never returns them on its own: ``malloc_trim`` does (about
    2 MB off a 5,000-table check's peak RSS, reached at the end of the
    snapshot; a few milliseconds).
    """
    _glibc("malloc_trim", 0)


def _glibc(function: str, *arguments: int) -> None:
    """Call one of glibc's malloc functions; elsewhere (not Linux, or musl, which has
    neither mallopt nor malloc_trim) there is nothing to tune."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        getattr(ctypes.CDLL(None), function)(*arguments)


def _load(path: Path, explicit_dsn: str | None) -> tuple[State, _EarlySnapshot | None]:
    """The spec, and the snapshot started while it loads."""
    text = spec.read_text(path)
    early = _EarlySnapshot.start(text, explicit_dsn)
    expected = spec.loads(text, str(path))
    del text
    _free_heap_returned()
    return expected, early


class _EarlySnapshot:
    """A snapshot taken on a daemon thread: never waited for unless its result is used."""

    def __init__(self, dsn: str, scope: spec.Scope) -> None:
        self.scope = scope
        self.snapshot: catalog.Snapshot | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self.take, args=(dsn,), daemon=True)

    @classmethod
    def start(cls, text: str, explicit_dsn: str | None) -> _EarlySnapshot | None:
        if len(text) < _EARLY_SNAPSHOT_BYTES:
            return None
        try:
            dsn = db.resolve_dsn(explicit_dsn)
        except MonitorError:
            return None  # reported in its turn, after the spec's own problems
        scope = spec.guess_scope(text)
        if scope is None:
            return None
        early = cls(dsn, scope)
        early.thread.start()
        return early

    def take(self, dsn: str) -> None:
        try:
            self.snapshot = _snapshot(dsn, self.scope)
        except BaseException as exc:  # raised where the result is used, as if taken there
            self.error = exc

    def result(self) -> catalog.Snapshot:
        self.thread.join()
        if self.error is not None:
            raise self.error
        assert self.snapshot is not None
        return self.snapshot


def failing(findings: Iterable[Finding], threshold: Severity) -> bool:
    """Whether any finding is at or above `threshold` (`--fail-on`)."""
    rank = _SEVERITY_RANK[threshold]
    return any(_SEVERITY_RANK[f.severity] >= rank for f in findings)


def failing_advisories(advisories: Iterable[Advisory], threshold: Level | None) -> bool:
    """Whether any advisory is at or above `threshold` (`--fail-on-advisory`); never if None."""
    if threshold is None:
        return False
    rank = LEVEL_RANK[threshold]
    return any(LEVEL_RANK[a.level] >= rank for a in advisories)


# The most findings, advisories and notes one JSON answer lists (the summaries count them
# all): a catalog gone wrong in a hundred thousand places makes a report no one reads
# whole, and tens of megabytes a CI log or a pipe may not take.
JSON_ITEMS_CAP = 10_000


def check_json(
    findings: Sequence[Finding],
    *,
    ok: bool,
    advisories: Sequence[Advisory] = (),
    expected: State | None = None,
    notes: Sequence[str] = (),
) -> dict[str, object]:
    """The JSON contract; with the spec at hand, each finding carries its `fix` statements.
    Each list holds JSON_ITEMS_CAP items at most; `omitted` says how many more there were."""
    summary = {severity.value: 0 for severity in Severity}
    for finding in findings:
        summary[finding.severity.value] += 1
    advisory_summary = {level.value: 0 for level in Level}
    for advisory in advisories:
        advisory_summary[advisory.level.value] += 1
    rendered = []
    for finding in findings[:JSON_ITEMS_CAP]:
        item: dict[str, Any] = finding.as_json()
        if expected is not None:
            item["fix"] = repair.fix(finding, expected).lines()
        rendered.append(item)
    return {
        "ok": ok,
        "findings": rendered,
        "summary": summary,
        "advisories": [a.as_json() for a in advisories[:JSON_ITEMS_CAP]],
        "advisory_summary": advisory_summary,
        "notes": list(notes[:JSON_ITEMS_CAP]),
        "omitted": {
            what: max(0, len(items) - JSON_ITEMS_CAP)
            for what, items in (
                ("findings", findings),
                ("advisories", advisories),
                ("notes", notes),
            )
        },
    }


# --- text ----------------------------------------------------------------------------------

_COLOURS = {Severity.CRITICAL: "\033[31m", Severity.WARNING: "\033[33m", Severity.INFO: "\033[36m"}
_LEVEL_COLOURS = {Level.ERROR: "\033[31m", Level.WARNING: "\033[33m", Level.INFO: "\033[36m"}


def visible(text: str) -> str:
    """`text` with every character a terminal or an XML reader would act on shown as an
    escape (``\\n``, ``\\x1b``, ``\\u202e``), and ``\\`` doubled so that an escape cannot
    be forged: a name can never start a line of its own or recolour one."""
    if text.isprintable() and "\\" not in text:
        return text
    # ascii() of one character is its Python escape: '\x1b', '\u202e', '\U000e0001'.
    return "".join(_ESCAPES.get(c) or (c if c.isprintable() else ascii(c)[1:-1]) for c in text)


_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def print_findings(
    findings: Sequence[Finding], out: TextIO, advisories: Sequence[Advisory] = ()
) -> None:
    """Findings for people: grouped by table, coloured on a terminal; advisories after."""
    colour = out.isatty() and not os.environ.get("NO_COLOR")
    if not findings:
        print("no drift: the database matches the spec", file=out)
    group = None
    for finding in findings:
        heading = visible(f"{finding.schema}.{finding.table}" if finding.table else finding.schema)
        if finding.kind == "migration":
            heading = "migrations"
        if heading != group:
            group = heading
            print(f"\n{heading}", file=out)
        label = f"{finding.severity.value:<8}"
        if colour:
            label = f"{_COLOURS[finding.severity]}{label}\033[0m"
        print(f"  {label} {visible(finding.message)}", file=out)
        for line in body_diff(finding):
            print(f"  {'':<8}   {visible(line)}", file=out)
    if findings:
        counts = {s: sum(1 for f in findings if f.severity is s) for s in Severity}
        total = ", ".join(f"{n} {s.value}" for s, n in counts.items())
        print(f"\n{_plural(len(findings), 'finding')}: {total}", file=out)
    if advisories:
        _print_advisories(advisories, out, colour)


_DIFF_LINES = 60  # of a changed function body in text output; the JSON has both bodies


def body_diff(finding: Finding) -> list[str]:
    """A changed function body as a unified diff, spec to database (at most _DIFF_LINES)."""
    want, have = finding.expected, finding.actual
    if (
        finding.kind is not Kind.FUNCTION
        or not isinstance(want, dict)
        or not isinstance(have, dict)
    ):
        return []
    before, after = want.get("body"), have.get("body")
    if not isinstance(before, str) or not isinstance(after, str):
        return []
    if normalize.same_body(str(have.get("language") or "sql").lower(), before, after):
        return []  # another field changed; the bodies differ only in what does not count
    lines = list(
        difflib.unified_diff(
            before.splitlines(), after.splitlines(), "spec", "database", n=2, lineterm=""
        )
    )
    if len(lines) > _DIFF_LINES:
        lines = [*lines[:_DIFF_LINES], f"... {len(lines) - _DIFF_LINES} more lines"]
    return lines


def _print_advisories(advisories: Sequence[Advisory], out: TextIO, colour: bool) -> None:
    print("\nadvisories (not drift: what a reviewer would flag)", file=out)
    for advisory in advisories:
        label = f"{advisory.level.value:<8}"
        if colour:
            label = f"{_LEVEL_COLOURS[advisory.level]}{label}\033[0m"
        print(f"  {label} {advisory.rule}: {visible(advisory.message)}", file=out)
        print(f"  {'':<8}   fix: {visible(advisory.remediation)}", file=out)
    counts = ", ".join(
        f"{sum(1 for a in advisories if a.level is level)} {level.value}" for level in Level
    )
    print(f"\n{_plural(len(advisories), 'advisory')}: {counts}".replace("advisorys", "advisories"),
          file=out)  # fmt: skip


# --- where things are in the spec file ------------------------------------------------------

_COLLECTIONS = {
    Kind.CONSTRAINT: "constraints",
    Kind.INDEX: "indexes",
    Kind.POLICY: "policies",
    Kind.TRIGGER: "triggers",
}
_KIND_OF = {collection: str(kind) for kind, collection in _COLLECTIONS.items()}
_SCHEMA_OBJECTS = {
    "functions": str(Kind.FUNCTION),
    "views": str(Kind.VIEW),
    "types": str(Kind.TYPE),
    "sequences": str(Kind.SEQUENCE),
}


def _object_key(name: str) -> str:
    """A function's signature as the spec and a finding may space it: spaces left out."""
    return "".join(name.split()) if name.endswith(")") else name


SpecKey = tuple[str, str | None, str | None, str | None]  # schema, table, kind, name


def spec_lines(text: str) -> dict[SpecKey, int]:
    """Line of each schema, table and object of a spec, for annotations that point at it."""
    lines: dict[SpecKey, int] = {}
    try:
        for node in locate.walk(text):
            key = _spec_key(node)
            if key is not None:
                lines.setdefault(key, node.line)
    except yaml.YAMLError:
        return {}
    return lines


def _spec_key(node: locate.Node) -> SpecKey | None:
    """The object a spec's key (or a column's name) names, if any."""
    path = node.path
    if node.key and path == ("migrations",):
        return ("", None, str(Kind.MIGRATION), None)
    if len(path) < 2 or path[0] != "schemas" or not isinstance(path[1], str):
        return None
    schema, rest = path[1], path[2:]
    if node.key and not rest:
        return (schema, None, None, None)
    if node.key and len(rest) == 2 and rest[0] in _SCHEMA_OBJECTS and isinstance(rest[1], str):
        # A function, view, type or sequence: its findings name it as their table too.
        name = _object_key(rest[1])
        return (schema, name, _SCHEMA_OBJECTS[rest[0]], name)
    if len(rest) < 2 or rest[0] != "tables" or not isinstance(rest[1], str):
        return None
    table, inner = rest[1], rest[2:]
    if node.key and not inner:
        return (schema, table, None, None)
    if node.key and inner == ("rls",):
        return (schema, table, str(Kind.RLS), table)
    if len(inner) == 3 and inner[0] == "columns" and inner[2] == "name" and not node.key:
        return (schema, table, str(Kind.COLUMN), str(node.event.value))
    if node.key and len(inner) == 2 and isinstance(inner[1], str) and inner[0] in _KIND_OF:
        return (schema, table, _KIND_OF[inner[0]], inner[1])
    return None


def line_of(
    lines: dict[SpecKey, int], schema: str, table: str | None, kind: str, name: str
) -> int | None:
    """The line of the object, else of its table (or the function, view, type or sequence
    a privilege or owner finding is about), else of its schema."""
    table = _object_key(table) if table else table
    for key in (
        (schema, table, kind, _object_key(name)),
        (schema, table, None, None),
        *((schema, table, object_kind, table) for object_kind in _SCHEMA_OBJECTS.values()),
        (schema, None, None, None),
    ):
        if key in lines:
            return lines[key]
    if kind == Kind.MIGRATION:
        return lines.get(("", None, str(Kind.MIGRATION), None))
    return None


# --- GitHub Actions annotations --------------------------------------------------------------

_GITHUB_COMMANDS = {
    Severity.CRITICAL: "error",
    Severity.WARNING: "warning",
    Severity.INFO: "notice",
}
_GITHUB_ADVISORY = {Level.ERROR: "error", Level.WARNING: "warning", Level.INFO: "notice"}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _annotation(command: str, file: str, line: int | None, title: str, message: str) -> str:
    properties = [f"file={_escape_property(file)}"]
    if line is not None:
        properties.append(f"line={line}")
    properties.append(f"title={_escape_property(title)}")
    return f"::{command} {','.join(properties)}::{_escape_data(message)}"


def github_annotations(
    findings: Sequence[Finding], advisories: Sequence[Advisory], spec_file: str, spec_text: str
) -> str:
    """One workflow command per finding and advisory, pointing at the spec line when known."""
    lines = spec_lines(spec_text)
    out = []
    for finding in findings:
        line = line_of(lines, finding.schema, finding.table, str(finding.kind), finding.name)
        title = f"schema drift: {finding.kind} {finding.change}"
        out.append(_annotation(_GITHUB_COMMANDS[finding.severity], spec_file, line, title,
                               finding.message))  # fmt: skip
    for advisory in advisories:
        # An advisory names its object, not its kind: the first kind the spec lists it as.
        line = next(
            (
                lines[key]
                for kind in _COLLECTIONS.values()
                if (key := (advisory.schema, advisory.table, _KIND_OF[kind], advisory.object))
                in lines
            ),
            line_of(lines, advisory.schema, advisory.table, "", advisory.object),
        )
        message = f"{advisory.message}. Fix: {advisory.remediation}"
        out.append(_annotation(_GITHUB_ADVISORY[advisory.level], spec_file, line,
                               f"schema advisor: {advisory.rule}", message))  # fmt: skip
    if not findings:
        out.append("no drift: the database matches the spec")
    return "\n".join(out) + "\n"


# --- JUnit XML -------------------------------------------------------------------------------


def _expected_objects(expected: State) -> Iterator[tuple[str, str | None, str, str]]:
    """(schema, table, kind, name) of every object the spec lists."""
    if expected.ledger is not None:
        ledger_schema, _, ledger_table = expected.ledger.table.rpartition(".")
        for version in expected.ledger.applied:
            yield ledger_schema, ledger_table, str(Kind.MIGRATION), version
    for schema in expected.schemas:
        for table in schema.tables:
            yield schema.name, table.name, str(Kind.TABLE), table.name
            if table.rls is not None:
                yield schema.name, table.name, str(Kind.RLS), table.name
            for column in table.columns or ():
                yield schema.name, table.name, str(Kind.COLUMN), column.name
            for kind, collection in _COLLECTIONS.items():
                for item in getattr(table, collection) or ():
                    yield schema.name, table.name, str(kind), item.name


def junit_xml(
    expected: State,
    findings: Sequence[Finding],
    advisories: Sequence[Advisory],
    *,
    fail_on: Severity,
    fail_on_advisory: Level | None,
) -> str:
    """One test case per expected object (and per finding about an unlisted one); advisories
    in a suite of their own, failing only at or above `fail_on_advisory`."""
    import xml.etree.ElementTree as ElementTree  # only for this format

    by_object: dict[tuple[str, str | None, str, str], list[Finding]] = {}
    for finding in findings:
        by_object.setdefault(
            (finding.schema, finding.table, str(finding.kind), finding.name), []
        ).append(finding)
    root = ElementTree.Element("testsuites", name="schema-monitor")
    drift = ElementTree.SubElement(root, "testsuite", name="schema drift")
    cases = list(dict.fromkeys(_expected_objects(expected)))
    cases += [key for key in by_object if key not in set(cases)]
    threshold = _SEVERITY_RANK[fail_on]
    failures = 0
    for key in cases:
        schema, table, kind, name = key
        case = ElementTree.SubElement(
            drift,
            "testcase",
            classname=visible(".".join(p for p in (schema, table) if p)),
            name=visible(f"{kind} {name}"),
        )
        for finding in by_object.get(key, ()):
            if _SEVERITY_RANK[finding.severity] >= threshold:
                failures += 1
                message = visible(finding.message)
                failure = ElementTree.SubElement(
                    case, "failure", message=message, type=str(finding.severity)
                )
                # The script's own line breaks are kept; anything else is escaped.
                fix_lines = [
                    "\n".join(map(visible, line.split("\n")))
                    for line in repair.fix(finding, expected).lines()
                ]
                failure.text = "\n".join([message, *fix_lines])
            else:
                ElementTree.SubElement(case, "system-out").text = visible(finding.message)
    drift.set("tests", str(len(cases)))
    drift.set("failures", str(failures))
    drift.set("errors", "0")
    suite = ElementTree.SubElement(root, "testsuite", name="schema advisors")
    advisory_failures = 0
    for advisory in advisories:
        case = ElementTree.SubElement(
            suite,
            "testcase",
            classname=visible(".".join(p for p in (advisory.schema, advisory.table) if p)),
            name=visible(f"{advisory.rule} {advisory.object}"),
        )
        text = f"{visible(advisory.message)}\nfix: {visible(advisory.remediation)}"
        if failing_advisories((advisory,), fail_on_advisory):
            advisory_failures += 1
            ElementTree.SubElement(
                case, "failure", message=visible(advisory.message), type=str(advisory.level)
            ).text = text
        else:
            ElementTree.SubElement(case, "system-out").text = text
    suite.set("tests", str(len(advisories)))
    suite.set("failures", str(advisory_failures))
    suite.set("errors", "0")
    root.set("tests", str(len(cases) + len(advisories)))
    root.set("failures", str(failures + advisory_failures))
    ElementTree.indent(root)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + ElementTree.tostring(root, encoding="unicode")
        + "\n"
    )
