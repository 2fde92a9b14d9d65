"""The daemon's config file format, declared once: its sections, their keys, what each
key takes and which keys are required.

:mod:`.config` reads a config with the keys of each mapping taken from here,
and ``schema-monitor spec json-schema --of config`` writes the JSON Schema of
this format for editors (docs/schemas/config.schema.json). Durations are text
such as ``60s``, ``5m`` or ``48h``. A new option is one field here and its
read in :mod:`.config`.
"""

from __future__ import annotations

from msgspec import Struct

Duration = str
Names = list[str]


class _Doc(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A mapping of the config: unknown keys are problems."""


class Tls(_Doc):
    cert_file: str
    key_file: str


class Web(_Doc):
    listen_address: str | None = None  # HOST:PORT
    tls: Tls | None = None


class Intervals(_Doc):
    drift: Duration | None = None
    stats: Duration | None = None
    full_drift: Duration | None = None


class Timeouts(_Doc):
    lock: Duration | None = None
    statement: Duration | None = None
    connect: Duration | None = None


class Reconnect(_Doc):
    initial_delay: Duration | None = None
    max_delay: Duration | None = None


class WatchWindow(_Doc):
    start: str | None = None  # auto, or an RFC 3339 timestamp with its timezone
    duration: Duration | None = None
    after: str | None = None  # continue | exit
    new_indexes_since: str | None = None


class Limits(_Doc):
    other_indexes: int | None = None
    spec_relations: int | None = None
    present_objects: int | None = None
    definition_bytes: int | None = None
    objects_per_kind: int | None = None


class Advisors(_Doc):
    enabled: bool | None = None
    exposed_schemas: Names | None = None
    disable: Names | None = None
    ignore: Names | None = None
    unused_index_after: Duration | None = None


class Statements(_Doc):
    top: int | None = None
    probes: int | None = None
    unplanned_after: Duration | None = None
    slower_ratio: float | None = None  # at least 1


class Target(_Doc):
    name: str
    spec: str
    dsn: str | None = None  # exactly one of dsn, dsn_env, dsn_file
    dsn_env: str | None = None
    dsn_file: str | None = None
    schemas: Names | None = None


class Config(_Doc):
    """The whole document."""

    version: int
    targets: list[Target] | None = None  # targets, targets_file or both
    state_dir: str | None = None
    log_format: str | None = None  # auto | json | console
    web: Web | None = None
    intervals: Intervals | None = None
    timeouts: Timeouts | None = None
    reconnect: Reconnect | None = None
    watch_window: WatchWindow | None = None
    limits: Limits | None = None
    advisors: Advisors | None = None
    targets_file: str | None = None  # a list of targets (YAML or JSON), re-read when it changes
    shard: str | None = None  # I/N: replica I (from 0) of N watches its share of the targets
    max_concurrent_checks: int | None = None
    log_level: str | None = None  # debug | info | warn | error
    statements: Statements | None = None
