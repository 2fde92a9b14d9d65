"""The daemon's configuration file: strict loading that reports every problem at once.

Read through the documents engine the spec uses (:mod:`monitor.documents`):
parsed once as YAML 1.2, every problem recorded at its path and given its
line at the end. Unknown keys are errors: a misspelt option silently falling
back to its default is how monitors end up watching nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from monitor.daemon import configdoc
from monitor.daemon.configvalues import ConfigValues
from monitor.daemon.configvalues import parse_duration as parse_duration  # re-exported
from monitor.daemon.configvalues import parse_listen_address as parse_listen_address
from monitor.daemon.fleet import DEFAULT_MAX_CONCURRENT_CHECKS, Shard, parse_shard
from monitor.documents import yamldoc
from monitor.errors import InputError, MonitorError, Problem
from monitor.postgres import db
from monitor.schema import spec
from monitor.schema.advisors import RULES as ADVISOR_RULES
from monitor.schema.advisors import Settings as AdvisorSettings
from monitor.schema.model import State

DEFAULT_LISTEN_ADDRESS = "0.0.0.0:9568"
SYSTEM_STATE_DIR = Path("/var/lib/schema-monitor")


def default_state_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """/var/lib/schema-monitor for root or where it is writable (the image), else the user's
    state directory (XDG_STATE_HOME, else ~/.local/state) so a first run needs no sudo."""
    if SYSTEM_STATE_DIR.is_dir() and os.access(SYSTEM_STATE_DIR, os.W_OK):
        return SYSTEM_STATE_DIR
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return SYSTEM_STATE_DIR
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "schema-monitor"


DEFAULT_STATE_DIR = default_state_dir()
LOG_FORMATS = ("auto", "json", "console")
LOG_LEVELS = ("debug", "info", "warn", "error")
AFTER_WINDOW = ("continue", "exit")
# Shortest interval accepted: below this the monitor itself becomes load.
MIN_INTERVAL_SECONDS = 1.0
# A run may use this share of its interval; the rest is slack so runs never pile up.
RUN_BUDGET_SHARE = 0.9
DEFAULT_STATEMENT_TIMEOUT_SECONDS = 10.0

_TARGET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True, slots=True)
class Tls:
    cert_file: Path
    key_file: Path


@dataclass(frozen=True, slots=True)
class Web:
    listen_address: str = DEFAULT_LISTEN_ADDRESS
    tls: Tls | None = None


@dataclass(frozen=True, slots=True)
class Intervals:
    drift: float = 60.0
    stats: float = 60.0
    # The catalog fingerprint lets a quiet cycle skip the full snapshot; this
    # bounds how long that shortcut may be trusted (renamed roles or functions
    # change deparsed text without touching the watched catalogs).
    full_drift: float = 900.0


@dataclass(frozen=True, slots=True)
class Timeouts:
    lock: float = 0.2
    statement: float = DEFAULT_STATEMENT_TIMEOUT_SECONDS
    connect: float = 5.0


@dataclass(frozen=True, slots=True)
class Reconnect:
    initial_delay: float = 1.0
    max_delay: float = 60.0


@dataclass(frozen=True, slots=True)
class WatchWindow:
    start: datetime | None = None  # None: "auto", the first start, persisted in state_dir
    duration: float = 48 * 3600.0
    after: str = "continue"  # continue | exit
    # Spec indexes whose migration version is >= this count as "new" in the
    # report; None: every spec index that does not back a constraint.
    new_indexes_since: str | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    other_indexes: int = 20  # per-index series beyond the spec's: the top N by scans
    # Per-index and per-table series of the spec's own indexes and tables (each).
    spec_relations: int = 500
    present_objects: int = 2000  # expected_object_present series; missing ones always shown
    # The catalog read's own caps (monitor.postgres.catalog_limits).
    definition_bytes: int = 1024 * 1024  # a longer body, query or expression: by hash
    objects_per_kind: int = 50_000  # more of a kind in the watched schemas: not compared


@dataclass(frozen=True, slots=True)
class Statements:
    """Query evidence from pg_stat_statements (docs/deploy.md#query-evidence)."""

    top: int = 20  # per-statement series: the statements on the spec's tables with most time
    probes: int = 20  # plan probes per stats cycle: the top statements on tables with a new index
    # A new index that no probed top statement plans through is advised about after this long.
    unplanned_after: float = 3600.0
    slower_ratio: float = 1.5  # mean time since the window started over mean time before it


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    dsn: str = field(repr=False)  # may hold a password: never printed
    dsn_source: str  # "inline", "env:NAME" or "file:/path": safe to show
    spec: Path
    schemas: tuple[str, ...] = ("public",)


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    targets: tuple[Target, ...]
    state_dir: Path = DEFAULT_STATE_DIR
    log_format: str = "auto"
    log_level: str = "info"
    targets_file: Path | None = None  # more targets, re-read when it changes
    shard: Shard | None = None  # None: every target
    max_concurrent_checks: int = DEFAULT_MAX_CONCURRENT_CHECKS
    web: Web = field(default_factory=Web)
    intervals: Intervals = field(default_factory=Intervals)
    timeouts: Timeouts = field(default_factory=Timeouts)
    reconnect: Reconnect = field(default_factory=Reconnect)
    watch_window: WatchWindow = field(default_factory=WatchWindow)
    limits: Limits = field(default_factory=Limits)
    advisors: AdvisorSettings = field(default_factory=AdvisorSettings)
    statements: Statements = field(default_factory=Statements)

    def run_budget(self, check: str) -> float:
        """Seconds one run of `check` may take before its query is cancelled."""
        interval = self.intervals.drift if check == "drift" else self.intervals.stats
        return interval * RUN_BUDGET_SHARE

    def target(self, name: str) -> Target | None:
        return next((t for t in self.targets if t.name == name), None)


def load(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file; raises InputError listing every problem.

    Never anything else, whatever the file holds: the daemon reloads it on
    SIGHUP, and a bad byte there must not stop it.
    """
    text = yamldoc.read_text(path, "config")
    return loads(text, path, os.environ if environ is None else environ)


def load_specs(config: Config) -> dict[str, State]:
    """Every target's spec; the problems of all of them in one error."""
    specs: dict[str, State] = {}
    loaded: dict[Path, State | None] = {}  # a fleet shares a few specs: each is read once
    problems = []
    for target in config.targets:
        if target.spec not in loaded:
            loaded[target.spec] = None
            try:
                loaded[target.spec] = spec.load(target.spec)
            except InputError as exc:
                problems.extend(exc.problems)
            except MonitorError as exc:
                raise MonitorError(f"{target.spec}: {exc}") from None
        state = loaded[target.spec]
        if state is not None:
            specs[target.name] = state
    if problems:
        raise InputError(problems)
    return specs


def loads(text: str, path: Path, environ: Mapping[str, str]) -> Config:
    filename = str(path)
    yamldoc.check_characters(text, filename, "config")
    reader = _Reader(filename, yamldoc.parse(text, filename), path.resolve().parent, environ)
    config = reader.config(reader.root, path)
    try:
        reader.finish(text)
    except InputError as exc:
        raise InputError([*exc.problems, *reader.targets_file_problems]) from None
    if reader.targets_file_problems:
        raise InputError(reader.targets_file_problems)
    if config is None:
        raise InputError([Problem(filename, None, "empty config")])
    return config


def timing_problems(config: Config) -> Iterator[tuple[str, str]]:
    """The rules across sections: (the section at fault, the problem) of each broken one."""
    timeouts, intervals, reconnect = config.timeouts, config.intervals, config.reconnect
    budget = min(intervals.drift, intervals.stats) * RUN_BUDGET_SHARE
    if timeouts.statement >= budget:
        yield (
            "timeouts",
            f"timeouts.statement: {timeouts.statement:g}s must be shorter than the run budget "
            f"({RUN_BUDGET_SHARE:g} x the shortest interval = {budget:g}s)",
        )
    if timeouts.lock >= timeouts.statement:
        yield (
            "timeouts",
            f"timeouts.lock: {timeouts.lock:g}s must be shorter than timeouts.statement "
            f"({timeouts.statement:g}s)",
        )
    if intervals.full_drift < intervals.drift:
        yield "intervals", "intervals.full_drift: must not be shorter than intervals.drift"
    if reconnect.initial_delay > reconnect.max_delay:
        yield "reconnect", "reconnect.initial_delay: must not be longer than reconnect.max_delay"


class _TargetsReader(ConfigValues):
    """The targets: inline, from a targets file, and this replica's share of them."""

    def all_targets(self, keys: Mapping[str, Any], file: Path | None) -> tuple[Target, ...]:
        """`targets:` and the targets file's (YAML or JSON: a list of targets, as in
        `targets:`), whose problems name that file and its lines."""
        inline = self.targets(keys.get("targets"))
        if file is None:
            return inline
        try:
            text = yamldoc.read_text(file, "targets file")
            yamldoc.check_characters(text, str(file), "targets file")
            reader = _Reader(
                str(file), yamldoc.parse(text, str(file)), file.resolve().parent, self.environ
            )
            listed = reader.targets(reader.root)
            reader.finish(text)
        except InputError as exc:
            self.targets_file_problems.extend(exc.problems)
            return inline
        for name in sorted({t.name for t in inline} & {t.name for t in listed}):
            self.problem(keys["targets_file"], f"targets_file: {name!r} is also in `targets:`")
        return inline + listed

    def shard(self, node: Any, where: str) -> Shard | None:
        text = self.scalar_text(node, where, "I/N")
        shard = parse_shard(text) if text is not None else None
        if text is not None and shard is None:
            self.problem(node, f"{where}: {text!r} is not I/N with 0 <= I < N (e.g. 0/3)")
        return shard

    def targets(self, node: Any | None) -> tuple[Target, ...]:
        if node is None:
            return ()
        if not isinstance(node, list) or not node:
            self.problem(node, "targets: expected a non-empty list of targets")
            return ()
        targets = tuple(
            t
            for i, item in self.entries(node, enumerate(node))
            if (t := self.target(item, f"targets[{i}]")) is not None
        )
        seen: dict[str, Any] = {}
        for item, target in zip(node, targets, strict=False):
            if target.name in seen:
                self.problem(item, f"targets: duplicate target name {target.name!r}")
            seen[target.name] = item
        return targets

    def target(self, node: Any, where: str) -> Target | None:
        keys = self.mapping(node, where, configdoc.Target)
        if keys is None:
            return None
        name = self.string(keys.get("name"), f"{where}.name")
        if name is not None and not _TARGET_NAME.fullmatch(name):
            self.problem(
                keys["name"], f"{where}.name: {name!r} must be letters, digits, '_', '.' or '-'"
            )
            name = None
        dsn = self.dsn(node, keys, where)
        spec = self.readable_file(keys.get("spec"), f"{where}.spec")
        default_schemas: tuple[str, ...] = ("public",)
        schemas = self.optional(
            keys.get("schemas"), f"{where}.schemas", self.strings, default_schemas
        )
        if name is None or dsn is None or spec is None:
            return None
        return Target(name=name, dsn=dsn[0], dsn_source=dsn[1], spec=spec, schemas=schemas)

    def dsn(self, node: Any, keys: Mapping[str, Any], where: str) -> tuple[str, str] | None:
        given = [k for k in ("dsn", "dsn_env", "dsn_file") if k in keys]
        if len(given) != 1:
            self.problem(
                node,
                f"{where}: give exactly one of dsn, dsn_env, dsn_file"
                + (f" (found {', '.join(given)})" if given else ""),
            )
            return None
        key = given[0]
        value_node = keys[key]
        value = self.string(value_node, f"{where}.{key}")
        if value is None:
            return None
        if key == "dsn":
            dsn, source = value, "inline"
        elif key == "dsn_env":
            try:
                from_environment = db.secret_from_environment(value, self.environ)
            except MonitorError as exc:
                self.problem(value_node, f"{where}.dsn_env: {exc}")
                return None
            if from_environment is None:
                self.problem(
                    value_node,
                    f"{where}.dsn_env: environment variable {value} is not set (nor {value}_FILE)",
                )
                return None
            dsn, source = from_environment, f"env:{value}"
        else:
            path = self.resolve(value)
            try:
                dsn = yamldoc.read_text(path, "dsn").strip()
            except InputError as exc:
                reason = exc.problems[0].message
                self.problem(value_node, f"{where}.dsn_file: cannot read {path}: {reason}")
                return None
            source = f"file:{path}"
        try:
            db.parse_dsn(dsn)
        except psycopg.ProgrammingError:
            # The parser's message may quote the string, password and all: say less.
            self.problem(value_node, f"{where}.{key}: not a valid libpq connection string")
            return None
        return dsn, source


class _Reader(_TargetsReader):
    """Reads the parsed config, collecting problems instead of stopping at the first."""

    # -- the document -------------------------------------------------------

    def config(self, root: Any, path: Path) -> Config | None:
        if root is None:
            self.problem(None, "the config is empty; it needs at least `version: 1` and `targets:`")
            return None
        keys = self.mapping(root, "config", configdoc.Config)
        if keys is None:
            return None
        version = self.count(keys.get("version"), "version", minimum=1)
        if version is not None and version != 1:
            self.problem(keys["version"], f"version: unsupported version {version}; expected 1")
        intervals = self.section(keys.get("intervals"), "intervals", Intervals(), self.intervals)
        # Without an explicit statement timeout, the default fits inside the shortest run budget.
        shortest_budget = min(intervals.drift, intervals.stats) * RUN_BUDGET_SHARE
        default_timeouts = Timeouts(
            statement=min(DEFAULT_STATEMENT_TIMEOUT_SECONDS, shortest_budget / 2)
        )
        timeouts = self.section(keys.get("timeouts"), "timeouts", default_timeouts, self.timeouts)
        targets_file = self.optional(keys.get("targets_file"), "targets_file", self.path, None)
        if "targets" not in keys and targets_file is None:
            self.problem(root, "config: give `targets:`, `targets_file:` or both")
        config = Config(
            path=path,
            targets=self.all_targets(keys, targets_file),
            targets_file=targets_file,
            shard=self.optional(keys.get("shard"), "shard", self.shard, None),
            max_concurrent_checks=self.optional(
                keys.get("max_concurrent_checks"),
                "max_concurrent_checks",
                lambda n, w: self.count(n, w, minimum=1),
                DEFAULT_MAX_CONCURRENT_CHECKS,
            ),
            state_dir=self.optional(
                keys.get("state_dir"), "state_dir", self.path, DEFAULT_STATE_DIR
            ),
            log_format=self.optional(
                keys.get("log_format"),
                "log_format",
                lambda n, w: self.one_of(n, w, LOG_FORMATS),
                "auto",
            ),
            log_level=self.optional(
                keys.get("log_level"),
                "log_level",
                lambda n, w: self.one_of(n, w, LOG_LEVELS),
                "info",
            ),
            web=self.section(keys.get("web"), "web", Web(), self.web),
            intervals=intervals,
            timeouts=timeouts,
            reconnect=self.section(keys.get("reconnect"), "reconnect", Reconnect(), self.reconnect),
            watch_window=self.section(
                keys.get("watch_window"), "watch_window", WatchWindow(), self.watch_window
            ),
            limits=self.section(keys.get("limits"), "limits", Limits(), self.limits),
            advisors=self.section(
                keys.get("advisors"), "advisors", AdvisorSettings(), self.advisors
            ),
            statements=self.section(
                keys.get("statements"), "statements", Statements(), self.statements
            ),
        )
        for section, message in timing_problems(config):
            self.report((section,) if section in keys else (), message)
        return config

    def web(self, node: Any, where: str, default: Web) -> Web:
        keys = self.mapping(node, where, configdoc.Web)
        if keys is None:
            return default
        tls = None
        if "tls" in keys:
            tls_keys = self.mapping(keys["tls"], f"{where}.tls", configdoc.Tls)
            if tls_keys is not None:
                cert = self.readable_file(tls_keys.get("cert_file"), f"{where}.tls.cert_file")
                key = self.readable_file(tls_keys.get("key_file"), f"{where}.tls.key_file")
                tls = Tls(cert, key) if cert is not None and key is not None else None
        return Web(
            listen_address=self.optional(
                keys.get("listen_address"),
                f"{where}.listen_address",
                self.listen_address,
                default.listen_address,
            ),
            tls=tls,
        )

    def intervals(self, node: Any, where: str, default: Intervals) -> Intervals:
        keys = self.mapping(node, where, configdoc.Intervals)
        if keys is None:
            return default
        return Intervals(
            drift=self.interval(keys.get("drift"), f"{where}.drift", default.drift),
            stats=self.interval(keys.get("stats"), f"{where}.stats", default.stats),
            full_drift=self.interval(
                keys.get("full_drift"), f"{where}.full_drift", default.full_drift
            ),
        )

    def interval(self, node: Any | None, where: str, default: float) -> float:
        seconds = self.optional(node, where, self.duration, default)
        if seconds < MIN_INTERVAL_SECONDS:
            self.problem(node, f"{where}: must be at least {MIN_INTERVAL_SECONDS:g}s")
        return seconds

    def timeouts(self, node: Any, where: str, default: Timeouts) -> Timeouts:
        keys = self.mapping(node, where, configdoc.Timeouts)
        if keys is None:
            return default
        connect = self.optional(
            keys.get("connect"), f"{where}.connect", self.duration, default.connect
        )
        if connect < 1:
            # libpq's connect_timeout counts whole seconds; below 2 it uses 2.
            self.problem(keys.get("connect"), f"{where}.connect: must be at least 1s")
        return Timeouts(
            lock=self.optional(keys.get("lock"), f"{where}.lock", self.duration, default.lock),
            statement=self.optional(
                keys.get("statement"), f"{where}.statement", self.duration, default.statement
            ),
            connect=connect,
        )

    def reconnect(self, node: Any, where: str, default: Reconnect) -> Reconnect:
        keys = self.mapping(node, where, configdoc.Reconnect)
        if keys is None:
            return default
        return Reconnect(
            initial_delay=self.optional(
                keys.get("initial_delay"),
                f"{where}.initial_delay",
                self.duration,
                default.initial_delay,
            ),
            max_delay=self.optional(
                keys.get("max_delay"), f"{where}.max_delay", self.duration, default.max_delay
            ),
        )

    def watch_window(self, node: Any, where: str, default: WatchWindow) -> WatchWindow:
        keys = self.mapping(node, where, configdoc.WatchWindow)
        if keys is None:
            return default
        return WatchWindow(
            start=self.window_start(keys.get("start"), f"{where}.start"),
            duration=self.optional(
                keys.get("duration"), f"{where}.duration", self.duration, default.duration
            ),
            after=self.optional(
                keys.get("after"),
                f"{where}.after",
                lambda n, w: self.one_of(n, w, AFTER_WINDOW),
                default.after,
            ),
            new_indexes_since=self.optional(
                keys.get("new_indexes_since"), f"{where}.new_indexes_since", self.string, None
            ),
        )

    def window_start(self, node: Any | None, where: str) -> datetime | None:
        text = self.optional(node, where, self.string, "auto")
        if text == "auto":
            return None
        try:
            start = datetime.fromisoformat(text)
        except ValueError:
            self.problem(node, f"{where}: expected `auto` or an RFC 3339 timestamp, got {text!r}")
            return None
        if start.tzinfo is None:
            self.problem(node, f"{where}: the timestamp needs a timezone, e.g. {text}Z")
            return None
        return start

    def limits(self, node: Any, where: str, default: Limits) -> Limits:
        keys = self.mapping(node, where, configdoc.Limits)
        if keys is None:
            return default

        def count(key: str, fallback: int, minimum: int = 0) -> int:
            return self.optional(
                keys.get(key),
                f"{where}.{key}",
                lambda n, w: self.count(n, w, minimum=minimum),
                fallback,
            )

        return Limits(
            other_indexes=count("other_indexes", default.other_indexes),
            spec_relations=count("spec_relations", default.spec_relations),
            present_objects=count("present_objects", default.present_objects),
            definition_bytes=count("definition_bytes", default.definition_bytes, minimum=1),
            objects_per_kind=count("objects_per_kind", default.objects_per_kind, minimum=1),
        )

    def statements(self, node: Any, where: str, default: Statements) -> Statements:
        keys = self.mapping(node, where, configdoc.Statements)
        if keys is None:
            return default

        def count(key: str, fallback: int) -> int:
            read = lambda n, w: self.count(n, w, minimum=0)  # noqa: E731
            return self.optional(keys.get(key), f"{where}.{key}", read, fallback)

        return Statements(
            top=count("top", default.top),
            probes=count("probes", default.probes),
            unplanned_after=self.optional(
                keys.get("unplanned_after"),
                f"{where}.unplanned_after",
                self.duration,
                default.unplanned_after,
            ),
            slower_ratio=self.optional(
                keys.get("slower_ratio"), f"{where}.slower_ratio", self.ratio, default.slower_ratio
            ),
        )

    def advisors(self, node: Any, where: str, default: AdvisorSettings) -> AdvisorSettings:
        keys = self.mapping(node, where, configdoc.Advisors)
        if keys is None:
            return default
        none: tuple[str, ...] = ()
        disabled = self.optional(keys.get("disable"), f"{where}.disable", self.strings, none)
        for rule in disabled:
            if rule not in ADVISOR_RULES:
                known = ", ".join(sorted(ADVISOR_RULES))
                self.problem(keys["disable"], f"{where}.disable: unknown rule {rule!r} ({known})")
        return AdvisorSettings(
            enabled=self.optional(keys.get("enabled"), f"{where}.enabled", self.boolean, True),
            exposed_schemas=self.optional(
                keys.get("exposed_schemas"),
                f"{where}.exposed_schemas",
                self.strings,
                default.exposed_schemas,
            ),
            disabled_rules=frozenset(disabled),
            ignore=self.optional(keys.get("ignore"), f"{where}.ignore", self.strings, none),
            unused_index_after_seconds=self.optional(
                keys.get("unused_index_after"),
                f"{where}.unused_index_after",
                self.duration,
                default.unused_index_after_seconds,
            ),
        )
