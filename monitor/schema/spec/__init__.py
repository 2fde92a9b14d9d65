"""The expected-state spec format: YAML text in (:mod:`.reader`), YAML text out (:mod:`.writer`),
and where each object came from in a migrations folder (:mod:`.provenance`)."""

from monitor.schema.spec.reader import (
    Reading,
    Scope,
    absent_sort_key,
    blocks_of,
    dumps,
    load,
    load_reading,
    loads,
    read,
    read_exactly,
    read_text,
)

__all__ = [
    "Reading",
    "Scope",
    "absent_sort_key",
    "blocks_of",
    "dumps",
    "load",
    "load_reading",
    "loads",
    "read",
    "read_exactly",
    "read_text",
]
