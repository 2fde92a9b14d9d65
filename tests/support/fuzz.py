"""Mutated spec and config files, as editors, merges and bad copies make them.

Shared by the loaders' fuzz tests (Hypothesis draws the choices, and shrinks
them) and ``benchmarks/fuzz_loaders.py`` (a seeded random draws them, by the
ten thousand). Each example starts from a valid file: bytes flipped, lines
dropped or repeated, indentation moved, YAML fragments (anchors, merge keys,
tags, flow brackets, documents) dropped in; some are no UTF-8 at all.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol, TypeVar

from tests.support.paths import ROOT

T = TypeVar("T")
SPEC = ROOT / "config" / "expected" / "phase3.yaml"

SPEC_SEEDS = [
    SPEC.read_text()[:6000],  # the first tables of the committed spec
    """\
version: 1
migrations: {applied: ['1', '2']}
schemas:
  public:
    extra: {indexes: ignore}
    tables:
      t: &t
        rls: {enabled: true}
        columns:
          - {name: id, type: uuid, nullable: false, default: gen_random_uuid()}
          - org: uuid
        constraints:
          t_pkey: {type: pk, columns: [id]}
        indexes:
          i: {columns: [org], where: org IS NOT NULL}
        policies:
          p: {command: select, roles: [authenticated], using: org = auth.uid()}
        triggers:
          g: {timing: before, events: update, level: row, function: touch()}
      u: {<<: *t, migration: m}
    absent: {indexes: [old]}
""",
]
CONFIG_SEEDS = [
    (ROOT / "config" / "monitor.yaml").read_text(),
    f"""\
version: 1
web: {{listen_address: "127.0.0.1:9568"}}
intervals: {{drift: 30s, stats: 1m}}
watch_window: {{start: 2025-01-23T10:00:00Z, duration: 24h, after: exit}}
limits: {{other_indexes: 5}}
targets:
  - name: app
    dsn: postgresql://monitor@db/app
    spec: {SPEC}
    schemas: [public]
""",
]
FRAGMENTS = [
    "&a ", "*a", "<<: *a", "<<: [*a, *a]", "!!binary ", "!!str ", "!foo ", "? ", "- ", ": ",
    "{", "}", "[", "]", "'", '"', "\t", "\n---\n", "%YAML 1.1\n", "~", "yes", "0x1f", "1e3",
    "\\", "#", "|", ">", "\u2028", "\x85", "\ufeff", "😀", "\x00", "\x7f", "  ", "\r",
]  # fmt: skip


class Choices(Protocol):
    """Where a mutation's choices come from."""

    def integer(self, low: int, high: int) -> int: ...

    def one_of(self, items: Sequence[T]) -> T: ...

    def binary(self, max_size: int) -> bytes: ...


class RandomChoices:
    """Choices from a seeded random: the same examples on every run."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def integer(self, low: int, high: int) -> int:
        return self._random.randint(low, high)

    def one_of(self, items: Sequence[T]) -> T:
        return self._random.choice(items)

    def binary(self, max_size: int) -> bytes:
        return self._random.randbytes(self._random.randint(0, max_size))


def mutated(seeds: Sequence[str], choose: Choices) -> bytes:
    """A seed with a few mutations, as bytes."""
    lines = choose.one_of(seeds).encode().split(b"\n")
    for _ in range(choose.integer(1, 4)):
        at = choose.integer(0, max(len(lines) - 1, 0))
        how = choose.one_of(["flip", "drop", "repeat", "indent", "fragment", "random"])
        line = lines[at] if lines else b""
        if how == "flip" and line:
            i = choose.integer(0, len(line) - 1)
            line = line[:i] + bytes([choose.integer(0, 255)]) + line[i + 1 :]
        elif how == "drop" and lines:
            del lines[at]
            continue
        elif how == "repeat":
            lines.insert(at, line)
        elif how == "indent":
            change = choose.integer(-4, 4)
            line = b" " * max(change, 0) + line[max(-change, 0) :]
        elif how == "fragment":
            i = choose.integer(0, len(line))
            line = line[:i] + choose.one_of(FRAGMENTS).encode() + line[i:]
        else:
            line = choose.binary(40)
        if lines:
            lines[at] = line
        else:
            lines = [line]
    return b"\n".join(lines)
