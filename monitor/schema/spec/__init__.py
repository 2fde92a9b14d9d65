"""The expected-state spec format: YAML text in (:mod:`.reader`), YAML text out (:mod:`.writer`),
and where each object came from in a migrations folder (:mod:`.provenance`)."""

from monitor.schema.spec.reader import (
    Scope,
    absent_sort_key,
    dumps,
    guess_scope,
    load,
    loads,
    read_text,
)

__all__ = ["Scope", "absent_sort_key", "dumps", "guess_scope", "load", "loads", "read_text"]
