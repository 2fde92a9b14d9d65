"""Applying a migrations folder the short way, for tests and benchmarks that need a
database in a given state (spec build replays folders through monitor.postgres.replay)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from monitor.postgres import migrations
from monitor.postgres.layouts import Layout, Migration


def discover(directory: Path, layout: Layout | None = None) -> list[Migration]:
    """The migrations of a folder in the order its deploy tool applies them."""
    return list(migrations.plan(directory, layout).migrations)


def apply_file(conn: psycopg.Connection[Any], path: Path) -> None:
    migrations.apply_sql(conn, migrations.read(path, inside=path.parent), path.name)
