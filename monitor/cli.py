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
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import monitor
from monitor.clock import SYSTEM_CLOCK, Clock
from monitor.errors import ExitCode, MonitorError
from monitor.postgres.layouts import Layout
from monitor.schema.model import Severity

_EXIT_CODES = """\
exit codes (every command):
  0    no drift; the window passed; the file was written
  1    drift at or above --fail-on or an advisory at or above --fail-on-advisory
       (check), a failed criterion (report),
       drift found by a cycle (run --once)
  2    usage, config, spec or connection error; run --once: a check failed
  130  interrupted (Ctrl-C)
  141  stdout was closed by its reader (`| head`)
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        code = handler(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below
        return code
    except MonitorError as exc:
        print(f"schema-monitor: error: {exc}", file=sys.stderr)
        return ExitCode.ERROR
    except KeyboardInterrupt:
        print("schema-monitor: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): what it read is all it wanted. As the Python
        # docs advise, stdout now points at devnull so the flush at exit cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.BROKEN_PIPE


class _PrintVersion(argparse.Action):
    """`--version`: the version is looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(f"{parser.prog} {monitor.version()}")  # on stdout, as argparse's own action
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="schema-monitor",
        description="Prove that a PostgreSQL database holds what its migrations promised.",
        epilog=_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_PrintVersion)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_spec(commands)
    _add_check(commands)
    _add_run(commands)
    _add_healthcheck(commands)
    _add_report(commands)
    if monitor.demo_available():  # a source checkout: a pip install has no examples
        _add_demo(commands)
    return parser


def _add_spec(commands: Any) -> None:
    spec = commands.add_parser("spec", help="build an expected-state spec")
    spec_commands = spec.add_subparsers(dest="spec_command", required=True, metavar="COMMAND")
    _add_spec_snapshot(spec_commands)
    _add_spec_json_schema(spec_commands)
    _add_spec_build(spec_commands)


def _add_spec_snapshot(spec_commands: Any) -> None:
    snapshot = spec_commands.add_parser("snapshot", help="spec from a known-good database")
    _add_dsn(snapshot)
    _add_output(snapshot)
    _add_schemas(snapshot)
    snapshot.add_argument(
        "--ledger-table",
        default=None,
        metavar="SCHEMA.TABLE",
        help="migration ledger whose `version` column is recorded as the applied migrations"
        " (default: supabase_migrations.schema_migrations)",
    )
    snapshot.set_defaults(handler=_spec_snapshot)


def _add_spec_json_schema(spec_commands: Any) -> None:
    json_schema = spec_commands.add_parser(
        "json-schema",
        help="the JSON Schema of the spec (or the config, or the web config) format, for editors",
    )
    json_schema.add_argument(
        "--of",
        choices=("spec", "config", "web-config"),
        default="spec",
        help="which format (default: spec)",
    )
    json_schema.set_defaults(handler=_spec_json_schema)


def _add_spec_build(spec_commands: Any) -> None:
    build = spec_commands.add_parser(
        "build",
        help="spec from a migrations directory (replay)",
        description="Replay a migrations folder into a scratch database, as its deploy tool"
        " would apply it, and write the expected-state spec. The migrations run with the"
        " rights of the scratch server's user: only build folders whose code you trust.",
    )
    build.add_argument("migrations_dir", type=Path, metavar="MIGRATIONS_DIR")
    _add_output(build)
    build.add_argument(
        "--layout",
        choices=[layout.value for layout in Layout],
        help="the deploy tool the folder is written for (default: detected from file names)",
    )
    build.add_argument(
        "--ledger-table",
        metavar="SCHEMA.TABLE",
        help="the deploy tool's migration ledger (default: the layout's own)",
    )
    build.add_argument(
        "--shadow-dsn",
        help="server on which to create the scratch database (default: a private PostgreSQL"
        " from the machine's installation, else the embedded one); prefer a role that may only"
        " create databases: a superuser on a server with other databases draws a warning",
    )
    build.add_argument(
        "--postgres-version",
        type=int,
        metavar="MAJOR",
        help="major version of the target, to pick the nearest installed PostgreSQL"
        " (default: supabase/config.toml's db.major_version)",
    )
    build.add_argument(
        "--bootstrap",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="SQL file applied before the migrations (repeatable)",
    )
    _add_platform(build)
    _add_schemas(build, "default: public and every schema the migrations create")
    build.set_defaults(handler=_spec_build)


def _add_platform(build: argparse.ArgumentParser) -> None:
    """--platform and its two older spellings, one of them at most."""
    platform = build.add_mutually_exclusive_group()
    platform.add_argument(
        "--platform",
        choices=("supabase", "none"),
        default=None,
        help="the platform the migrations run on: supabase applies the built-in Supabase"
        " bootstrap first (default: decided from the folder's structure, said on stderr: a"
        " Supabase CLI project, or migrations that use auth.users, auth.uid(), storage.objects"
        " ...; never a folder that creates schema auth or storage itself)",
    )
    platform.add_argument(
        "--supabase-bootstrap",
        dest="platform",
        action="store_const",
        const="supabase",
        help="the same as --platform supabase",
    )
    platform.add_argument(
        "--no-supabase-bootstrap",
        dest="platform",
        action="store_const",
        const="none",
        help="the same as --platform none",
    )


def _add_check(commands: Any) -> None:
    check = _command(commands, "check", "compare a live database with a spec, once")
    check.add_argument(
        "--spec",
        type=Path,
        required=True,
        metavar="FILE",
        help="expected-state spec (YAML) from `spec build` or `spec snapshot`",
    )
    _add_dsn(check)
    check.add_argument(
        "--format",
        choices=("text", "json", "sql", "junit", "github"),
        default="text",
        help="text for people; json for tools (ok, findings, advisories, summary); sql (a "
        "repair script); junit (CI test report); github (GitHub Actions annotations)",
    )
    check.add_argument(
        "--fail-on",
        choices=[s.value for s in Severity],
        default=Severity.WARNING.value,
        help="lowest severity that makes the exit code 1 (default: warning)",
    )
    _add_advisor_options(check)
    check.set_defaults(handler=_check)


def _add_run(commands: Any) -> None:
    run = _command(commands, "run", "the daemon: scheduled checks, /metrics")
    run.add_argument(
        "--config", type=Path, required=True, metavar="FILE", help="daemon configuration (YAML)"
    )
    run.add_argument(
        "--web.listen-address",
        dest="listen_address",
        metavar="HOST:PORT",
        help="where /metrics listens (default: web.listen_address, else 0.0.0.0:9568)",
    )
    run.add_argument(
        "--web.config.file",
        dest="web_config_file",
        type=Path,
        metavar="FILE",
        help="TLS and basic auth, in the Prometheus exporter-toolkit format",
    )
    run.add_argument(
        "--shard",
        metavar="I/N",
        help="watch only the targets of replica I of N (0-based, e.g. a StatefulSet's pod"
        " index): N replicas watch each target exactly once (default: the config's shard,"
        " else every target)",
    )
    run.add_argument(
        "--log.level",
        dest="log_level",
        choices=("debug", "info", "warn", "error"),
        help="least severe level logged (default: the config's log_level, else info)",
    )
    run.add_argument("--validate-config", action="store_true", help="validate and exit")
    run.add_argument(
        "--once",
        action="store_true",
        help="one cycle per target, then exit: 0 clean, 1 drift, 2 a check failed;"
        " reads the watch window's files but never starts a window nor writes one",
    )
    run.set_defaults(handler=_run)


def _add_healthcheck(commands: Any) -> None:
    health = commands.add_parser(
        "healthcheck",
        help="exit 0 when the local daemon answers /healthz (for a container HEALTHCHECK)",
        description="Ask the daemon on this machine for /healthz, over HTTPS when it serves"
        " TLS (the certificate is not verified: this proves liveness only). Exit 0 alive, 2"
        " not.",
    )
    health.add_argument(
        "--web.listen-address",
        dest="listen_address",
        metavar="HOST:PORT",
        help="the daemon's listen address (default: the config's, else 0.0.0.0:9568)",
    )
    health.add_argument("--config", type=Path, metavar="FILE", help="the daemon's configuration")
    health.set_defaults(handler=_healthcheck)


def _add_report(commands: Any) -> None:
    report = _command(
        commands, "report", "the watch-window report, now (reads state files, not the database)"
    )
    report.add_argument(
        "--config",
        type=Path,
        required=True,
        metavar="FILE",
        help="the daemon's configuration: its state_dir and specs",
    )
    report.add_argument(
        "--format", choices=("markdown", "json"), default="markdown", help="default: markdown"
    )
    report.set_defaults(handler=_report)


def _add_demo(commands: Any) -> None:
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


def _command(commands: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    """A subcommand whose --help ends with the exit codes."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=help_text,
        epilog=_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def _add_advisor_options(check: argparse.ArgumentParser) -> None:
    from monitor.schema.advisors import RULES, SUPABASE_EXPOSED_SCHEMAS, Level

    advice = check.add_argument_group("advisors (docs/advisors.md)")
    advice.add_argument(
        "--fail-on-advisory",
        choices=[level.value for level in Level],
        default=None,
        help="lowest advisory level that makes the exit code 1 (default: advisories never do)",
    )
    advice.add_argument("--no-advisors", action="store_true", help="do not run the advisors")
    advice.add_argument(
        "--exposed-schema",
        dest="exposed_schemas",
        action="append",
        default=None,
        metavar="S",
        help="schema the API serves (repeatable; default: "
        + ", ".join(SUPABASE_EXPOSED_SCHEMAS)
        + ")",
    )
    advice.add_argument(
        "--disable-advisor",
        dest="disabled_advisors",
        action="append",
        default=[],
        choices=sorted(RULES),
        metavar="RULE",
        help="switch a rule off (repeatable)",
    )
    advice.add_argument(
        "--ignore-advisory",
        dest="ignored_advisories",
        action="append",
        default=[],
        metavar="[RULE:]GLOB",
        help="leave out objects whose schema.table.object matches (repeatable)",
    )
    repair = check.add_argument_group("repair script (--format sql)")
    repair.add_argument(
        "--allow-data-loss",
        action="store_true",
        help="write the statements that may lose or change data (drops, narrowing type "
        "changes, identity changes) instead of commenting them out; a narrowing still fails "
        "rather than truncates",
    )
    repair.add_argument(
        "--restore-narrowed",
        action="store_true",
        help="restore privileges, policies and settings narrower than the spec (by default "
        "they are left, as a hand hardening, and listed)",
    )
    repair.add_argument(
        "--lock-timeout",
        default="5s",
        metavar="DURATION",
        help="lock_timeout the script sets before its transactions (default: 5s)",
    )


def _add_dsn(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dsn", help="libpq URI or key=value string (default: DATABASE_URL or PG* variables)"
    )


def _add_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: stdout")


def _add_schemas(parser: argparse.ArgumentParser, default: str = "default: public") -> None:
    parser.add_argument(
        "--schema",
        dest="schemas",
        action="append",
        default=[],
        metavar="S",
        help=f"schema to include (repeatable; {default})",
    )


# --- spec ------------------------------------------------------------------


def _spec_snapshot(args: argparse.Namespace) -> int:
    from monitor.postgres import catalog, db, platform
    from monitor.schema import spec
    from monitor.schema.compare import layout
    from monitor.schema.model import DEFAULT_LEDGER_TABLE
    from monitor.schema.spec import provenance_platform

    dsn = db.resolve_dsn(args.dsn)
    asked = args.schemas or ["public"]
    with db.connect(dsn) as conn:
        snap = catalog.snapshot(
            conn,
            asked,
            args.ledger_table or DEFAULT_LEDGER_TABLE,
            optional=("auth", "storage"),  # to tell a Supabase database
        )
    if snap.skipped:
        raise MonitorError(
            "tables locked by a running migration, try again: " + ", ".join(snap.skipped)
        )
    if snap.ledger_problem is not None:
        raise MonitorError(f"--ledger-table: {snap.ledger_problem}")
    if snap.missing_schemas:
        raise MonitorError(
            "; ".join(f'schema "{name}" does not exist' for name in snap.missing_schemas)
        )
    state, supabase = provenance_platform.live_spec(snap.state, asked, platform.PLATFORM_TABLES)
    if supabase:
        print(
            "schema-monitor: platform: supabase (auth.users and storage.objects exist): the"
            " platform's own objects are left out",
            file=sys.stderr,
        )
    _write(spec.dumps(layout.with_schema_policy(state)), args.output)
    return ExitCode.OK


def json_schemas() -> dict[str, str]:
    """The JSON Schema of each document format, by the file docs/schemas/ ships it in."""
    from monitor.daemon import configdoc, webconfigdoc
    from monitor.documents.reader import json_schema
    from monitor.schema.spec import document

    return {
        "spec": json_schema(document.Spec, "schema-monitor expected-state spec"),
        "config": json_schema(configdoc.Config, "schema-monitor daemon config"),
        "web-config": json_schema(webconfigdoc.WebConfig, "schema-monitor web config"),
    }


def _spec_json_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(json_schemas()[args.of])
    return ExitCode.OK


def _spec_build(args: argparse.Namespace) -> int:
    from monitor.postgres import replay
    from monitor.schema import spec

    interactive = sys.stderr.isatty()
    notes: list[str] = []

    def notice(message: str) -> None:
        notes.append(message)
        print(f"schema-monitor: {message}", file=sys.stderr, flush=True)

    state = replay.build(
        args.migrations_dir,
        shadow_dsn=args.shadow_dsn,
        bootstrap_files=args.bootstrap,
        supabase_bootstrap=None if args.platform is None else args.platform == "supabase",
        schemas=args.schemas,
        layout=Layout(args.layout) if args.layout else None,
        ledger_table=args.ledger_table,
        postgres_version=args.postgres_version,
        progress=_progress if interactive else _LogProgress(),
        notice=notice,
    )
    standins = [n for n in notes if n.startswith("stand-ins used")]
    header = "".join(f"# {line}\n" for line in standins)
    text = spec.dumps(state)
    if len(text) > _LARGE_SPEC_BYTES:
        print(f"schema-monitor: writing the spec ({len(text) // 1024} KiB)", file=sys.stderr)
    _write(header + text, args.output)
    return ExitCode.OK


_LARGE_SPEC_BYTES = 1024 * 1024


def _progress(number: int, total: int, name: str) -> None:
    end = "\n" if number == total else ""
    print(f"\r\033[Kapplying {number}/{total}: {name}", end=end, file=sys.stderr, flush=True)


class _LogProgress:
    """Progress for CI logs (no terminal): a line every few seconds or every 50 files."""

    EVERY_FILES = 50
    EVERY_SECONDS = 5.0

    def __init__(self) -> None:
        self.last = time.monotonic()

    def __call__(self, number: int, total: int, name: str) -> None:
        now = time.monotonic()
        if (
            number == total
            or number % self.EVERY_FILES == 0
            or now - self.last >= self.EVERY_SECONDS
        ):
            self.last = now
            print(f"schema-monitor: applying {number}/{total}: {name}", file=sys.stderr, flush=True)


def _write(text: str, output: Path | None) -> None:
    """Write all or nothing: a failure never leaves a half-written spec behind."""
    if output is None:
        sys.stdout.write(text)
        return
    directory = output.parent if str(output.parent) else Path(".")
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{output.name}.")
    try:
        # mkstemp makes the file 0600; a spec is no secret: the mode open() would give it.
        os.fchmod(descriptor, 0o666 & ~_umask())
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: set it straight back
    os.umask(mask)
    return mask


# --- check -----------------------------------------------------------------


def _check(args: argparse.Namespace) -> int:
    from monitor import check
    from monitor.schema import advisors, repair

    settings = advisors.Settings(
        enabled=not args.no_advisors,
        exposed_schemas=tuple(args.exposed_schemas or advisors.SUPABASE_EXPOSED_SCHEMAS),
        disabled_rules=frozenset(args.disabled_advisors),
        ignore=tuple(args.ignored_advisories),
    )
    expected, outcome = check.load_and_inspect(args.spec, args.dsn, settings)
    findings, advisories = outcome.findings, outcome.advisories
    advisory_level = advisors.Level(args.fail_on_advisory) if args.fail_on_advisory else None
    failing = check.failing(findings, Severity(args.fail_on)) or check.failing_advisories(
        advisories, advisory_level
    )
    if args.format == "json":
        report = check.check_json(
            findings, ok=not failing, advisories=advisories, expected=expected, notes=outcome.notes
        )
        print(json.dumps(report, indent=2))
    elif args.format == "sql":
        sys.stdout.write(
            repair.script(
                findings,
                expected,
                source=str(args.spec),
                options=repair.Options(
                    allow_data_loss=args.allow_data_loss,
                    restore_narrowed=args.restore_narrowed,
                    fail_on=Severity(args.fail_on),
                    lock_timeout=args.lock_timeout,
                ),
            )
        )
    elif args.format == "junit":
        sys.stdout.write(
            check.junit_xml(
                expected,
                findings,
                advisories,
                fail_on=Severity(args.fail_on),
                fail_on_advisory=advisory_level,
            )
        )
    elif args.format == "github":
        text = args.spec.read_text(errors="replace")
        sys.stdout.write(check.github_annotations(findings, advisories, str(args.spec), text))
    else:
        check.print_findings(findings, sys.stdout, advisories)
    for note in outcome.notes:
        print(f"note: {check.visible(note)}", file=sys.stderr)
    return ExitCode.DRIFT if failing else ExitCode.OK


# --- daemon, report, demo ---------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    from monitor.daemon import runner as daemon

    return daemon.run(
        args.config,
        args.listen_address,
        args.validate_config,
        args.once,
        web_config_file=args.web_config_file,
        shard=args.shard,
        log_level=args.log_level,
    )


def _healthcheck(args: argparse.Namespace) -> int:
    from monitor.daemon import health

    return health.check(args.config, args.listen_address, os.environ)


def _report(args: argparse.Namespace) -> int:
    return report_command(args.config, args.format)


def report_command(config_path: Path, fmt: str, *, clock: Clock = SYSTEM_CLOCK) -> int:
    """Print the report of every target; 0 when every criterion passes, 1 otherwise."""
    from monitor.daemon import config as config_module
    from monitor.daemon.health import EnvironmentWithoutDsns
    from monitor.window import report
    from monitor.window.watch import CorruptStateFile, StateFiles

    # The report reads state files only: an unset dsn_env variable must not stop it.
    config = config_module.load(config_path, EnvironmentWithoutDsns(os.environ))
    specs = config_module.load_specs(config)
    now = clock.now()
    try:
        reports = [
            report.for_target(
                StateFiles(config.state_dir, target.name),
                specs[target.name],
                duration_seconds=config.watch_window.duration,
                new_indexes_since=config.watch_window.new_indexes_since,
                now=now,
            )
            for target in config.targets
        ]
    except CorruptStateFile as exc:
        raise MonitorError(
            f"{exc} (the daemon sets such a file aside when it reads it, and starts afresh)"
        ) from None
    if fmt == "json":
        print(json.dumps({"targets": [report.to_json(r) for r in reports]}, indent=2))
    else:
        sys.stdout.write("\n".join(report.to_markdown(r) for r in reports))
    return ExitCode.OK if all(r.passed for r in reports) else ExitCode.DRIFT


def _demo(args: argparse.Namespace) -> int:
    from monitor import demo

    return demo.main(drift=args.drift, listen_address=args.listen_address, duration=args.duration)


if __name__ == "__main__":
    raise SystemExit(main())
