"""From one statistics sample to the usage results /metrics shows: pure, capped."""

from __future__ import annotations

from datetime import datetime

from monitor.daemon import config as config_module
from monitor.daemon.results import Health, IndexUsage, TableUsage, UsageResult
from monitor.postgres import stats
from monitor.schema.model import State
from monitor.window import watch


class SpecRelations:
    """(schema, name) of the spec's tables and indexes: their series are always shown."""

    def __init__(self, expected: State) -> None:
        self.tables = frozenset(
            (schema.name, table.name) for schema in expected.schemas for table in schema.tables
        )
        self.indexes = frozenset(
            (schema.name, index.name)
            for schema in expected.schemas
            for table in schema.tables
            for index in table.indexes or ()
        )


def usage_result(
    sample: stats.Sample,
    state: watch.WatchState,
    spec: SpecRelations,
    limits: config_module.Limits,
    now: datetime,
) -> UsageResult:
    chosen = stats.select_indexes(
        sample.indexes,
        spec.indexes,
        watched_cap=limits.spec_relations,
        others_cap=limits.other_indexes,
    )
    shown_tables = {(i.schemaname, i.relname) for i in chosen}
    mine = [t for t in sample.tables if (t.schemaname, t.relname) in spec.tables]
    tables = mine[: limits.spec_relations] + [
        t
        for t in sample.tables
        if (t.schemaname, t.relname) in shown_tables
        and (t.schemaname, t.relname) not in spec.tables
    ]
    database = sample.database
    return UsageResult(
        datname=database.datname,
        stats_reset=database.stats_reset,
        indexes=tuple(
            IndexUsage(
                schemaname=i.schemaname,
                relname=i.relname,
                indexrelname=i.indexrelname,
                scans=i.scans,
                size_bytes=i.size_bytes,
                valid=i.valid,
                building=i.building,
                scans_since_watch_start=watch.scans_since_start(
                    state, i.schemaname, i.indexrelname
                ),
            )
            for i in chosen
        ),
        tables=tuple(
            TableUsage(t.schemaname, t.relname, t.seq_scans, t.index_scans) for t in tables
        ),
        health=Health(
            connections=database.connections,
            lock_waiting_sessions=database.lock_waiting_sessions,
            longest_transaction_seconds=database.longest_transaction_seconds,
            deadlocks_since_watch_start=state.deadlocks.since,
            rollbacks_since_watch_start=state.rollbacks.since,
        ),
        sampled_at=now,
    )
