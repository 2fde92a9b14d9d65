"""`schema-monitor`: the only place where the parts are wired together.

Exit codes: 0 no drift, 1 drift found, 2 usage, config or connection error.
Every error the tool expects is one clear line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from monitor import __version__
from monitor.errors import MonitorError
from monitor.model import Finding, Severity, State

EXIT_OK, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2
_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except MonitorError as exc:
        print(f"schema-monitor: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("schema-monitor: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="schema-monitor",
        description="Prove that a PostgreSQL database holds what its migrations promised.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    spec = commands.add_parser("spec", help="build an expected-state spec")
    spec_commands = spec.add_subparsers(dest="spec_command", required=True, metavar="COMMAND")
    snapshot = spec_commands.add_parser("snapshot", help="spec from a known-good database")
    _add_dsn(snapshot)
    _add_output(snapshot)
    _add_schemas(snapshot)
    snapshot.add_argument(
        "--ledger-table",
        default=None,
        help="migration ledger table (default: supabase_migrations.schema_migrations)",
    )
    snapshot.set_defaults(handler=_spec_snapshot)

    build = spec_commands.add_parser("build", help="spec from a migrations directory (replay)")
    build.add_argument("migrations_dir", type=Path, metavar="MIGRATIONS_DIR")
    _add_output(build)
    build.add_argument(
        "--shadow-dsn",
        help="server on which to create the scratch database (default: an embedded PostgreSQL)",
    )
    build.add_argument(
        "--bootstrap",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="SQL file applied before the migrations (repeatable)",
    )
    build.add_argument(
        "--no-supabase-bootstrap",
        action="store_true",
        help="do not apply the built-in Supabase bootstrap (roles, auth schema)",
    )
    _add_schemas(build)
    build.set_defaults(handler=_spec_build)

    check = commands.add_parser("check", help="compare a live database with a spec, once")
    check.add_argument("--spec", type=Path, required=True, metavar="FILE")
    _add_dsn(check)
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument(
        "--fail-on",
        choices=[s.value for s in Severity],
        default=Severity.WARNING.value,
        help="lowest severity that makes the exit code 1 (default: warning)",
    )
    check.set_defaults(handler=_check)

    run = commands.add_parser("run", help="the daemon: scheduled checks, /metrics")
    run.add_argument("--config", type=Path, required=True, metavar="FILE")
    run.add_argument("--web.listen-address", dest="listen_address", metavar="HOST:PORT")
    run.add_argument("--validate-config", action="store_true", help="validate and exit")
    run.add_argument("--once", action="store_true", help="one cycle per target, then exit")
    run.set_defaults(handler=_run)

    report = commands.add_parser("report", help="the watch-window report, now")
    report.add_argument("--config", type=Path, required=True, metavar="FILE")
    report.add_argument("--format", choices=("markdown", "json"), default="markdown")
    report.set_defaults(handler=_report)

    demo = commands.add_parser("demo", help="everything on an embedded PostgreSQL")
    demo.add_argument(
        "--drift", action="store_true", help="drop an index and alter a policy after a delay"
    )
    demo.add_argument("--web.listen-address", dest="listen_address", metavar="HOST:PORT")
    demo.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop the daemon after this long (default: until Ctrl-C on a TTY)",
    )
    demo.set_defaults(handler=_demo)
    return parser


def _add_dsn(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dsn", help="libpq URI or key=value string (default: DATABASE_URL or PG* variables)"
    )


def _add_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: stdout")


def _add_schemas(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--schema",
        dest="schemas",
        action="append",
        default=[],
        metavar="S",
        help="schema to include (repeatable; default: public)",
    )


# --- spec ------------------------------------------------------------------


def _spec_snapshot(args: argparse.Namespace) -> int:
    from monitor import catalog, db, spec
    from monitor.model import DEFAULT_LEDGER_TABLE

    dsn = db.resolve_dsn(args.dsn)
    with db.connect(dsn) as conn:
        snap = catalog.snapshot(
            conn, args.schemas or ["public"], args.ledger_table or DEFAULT_LEDGER_TABLE
        )
    if snap.skipped:
        raise MonitorError(
            "tables locked by a running migration, try again: " + ", ".join(snap.skipped)
        )
    _write(spec.dumps(snap.state), args.output)
    return EXIT_OK


def _spec_build(args: argparse.Namespace) -> int:
    from monitor import replay, spec

    interactive = sys.stderr.isatty()
    if interactive:
        print("starting a scratch database ...", file=sys.stderr, flush=True)
    state = replay.build(
        args.migrations_dir,
        shadow_dsn=args.shadow_dsn,
        bootstrap_files=args.bootstrap,
        supabase_bootstrap=not args.no_supabase_bootstrap,
        schemas=args.schemas or ["public"],
        progress=_progress if interactive else None,
    )
    _write(spec.dumps(state), args.output)
    return EXIT_OK


def _progress(number: int, total: int, name: str) -> None:
    end = "\n" if number == total else ""
    print(f"\r\033[Kapplying {number}/{total}: {name}", end=end, file=sys.stderr, flush=True)


def _write(text: str, output: Path | None) -> None:
    """Write all or nothing: a failure never leaves a half-written spec behind."""
    if output is None:
        sys.stdout.write(text)
        return
    directory = output.parent if str(output.parent) else Path(".")
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{output.name}.")
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- check -----------------------------------------------------------------


def run_check(expected: State, dsn: str) -> tuple[Finding, ...]:
    """One check of a live database against a spec: connect, snapshot, diff."""
    from monitor import catalog, db, diff

    ledger_table = expected.ledger.table if expected.ledger else None
    with db.connect(dsn) as conn:
        snap = catalog.snapshot(conn, [s.name for s in expected.schemas], ledger_table)
    return diff.diff(expected, snap.state, skipped=snap.skipped)


def _check(args: argparse.Namespace) -> int:
    from monitor import db, spec

    expected = spec.load(args.spec)
    findings = run_check(expected, db.resolve_dsn(args.dsn))
    threshold = _SEVERITY_RANK[Severity(args.fail_on)]
    failing = any(_SEVERITY_RANK[f.severity] >= threshold for f in findings)
    if args.format == "json":
        print(json.dumps(check_json(findings, ok=not failing), indent=2))
    else:
        print_findings(findings, sys.stdout)
    return EXIT_DRIFT if failing else EXIT_OK


def check_json(findings: Sequence[Finding], *, ok: bool) -> dict[str, object]:
    summary = {severity.value: 0 for severity in Severity}
    for finding in findings:
        summary[finding.severity.value] += 1
    return {"ok": ok, "findings": [f.as_json() for f in findings], "summary": summary}


_COLOURS = {Severity.CRITICAL: "\033[31m", Severity.WARNING: "\033[33m", Severity.INFO: "\033[36m"}


def print_findings(findings: Sequence[Finding], out: TextIO) -> None:
    """Findings for people: grouped by table, coloured on a terminal."""
    colour = out.isatty() and not os.environ.get("NO_COLOR")
    if not findings:
        print("no drift: the database matches the spec", file=out)
        return
    group = None
    for finding in findings:
        heading = f"{finding.schema}.{finding.table}" if finding.table else finding.schema
        if finding.kind == "migration":
            heading = "migrations"
        if heading != group:
            group = heading
            print(f"\n{heading}", file=out)
        label = f"{finding.severity.value:<8}"
        if colour:
            label = f"{_COLOURS[finding.severity]}{label}\033[0m"
        print(f"  {label} {finding.message}", file=out)
    counts = {s: sum(1 for f in findings if f.severity is s) for s in Severity}
    total = ", ".join(f"{n} {s.value}" for s, n in counts.items())
    print(f"\n{len(findings)} finding{'s' if len(findings) != 1 else ''}: {total}", file=out)


# --- daemon, report, demo ---------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    from monitor import daemon

    return daemon.run(args.config, args.listen_address, args.validate_config, args.once)


def _report(args: argparse.Namespace) -> int:
    from monitor import report

    return report.main(args.config, args.format)


def _demo(args: argparse.Namespace) -> int:
    from monitor import demo

    return demo.main(drift=args.drift, listen_address=args.listen_address, duration=args.duration)


if __name__ == "__main__":
    raise SystemExit(main())
