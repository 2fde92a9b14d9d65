"""SQL the monitor runs, one statement per file, loaded by name."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load_query(name: str) -> str:
    """The text of ``monitor/postgres/queries/<name>.sql``."""
    return resources.files(__name__).joinpath(f"{name}.sql").read_text()
