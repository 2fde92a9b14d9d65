"""Fuzzing the spec and config loaders: whatever the bytes, only InputError (or another
MonitorError) comes out, and it comes out soon.

Each example starts from a valid file and mutates it as editors, merges and
bad copies do: bytes flipped, lines dropped or repeated, indentation moved,
YAML fragments (anchors, merge keys, tags, flow brackets, documents) dropped
in. 2,000 examples each in CI (CI=true), fewer locally.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.daemon import config
from monitor.errors import InputError, MonitorError
from monitor.schema import spec, yamldoc

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "config" / "expected" / "phase3.yaml"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

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
EXAMPLES = 2000 if IN_CI else 150
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=20),  # a hang detector, not a timing assertion
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def mutated(draw: st.DrawFn, seeds: list[str]) -> bytes:
    """A seed with a few mutations, as bytes: some of them are no UTF-8 at all."""
    lines = draw(st.sampled_from(seeds)).encode().split(b"\n")
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(len(lines) - 1, 0)))
        how = draw(st.sampled_from(["flip", "drop", "repeat", "indent", "fragment", "random"]))
        line = lines[at] if lines else b""
        if how == "flip" and line:
            i = draw(st.integers(0, len(line) - 1))
            line = line[:i] + bytes([draw(st.integers(0, 255))]) + line[i + 1 :]
        elif how == "drop" and lines:
            del lines[at]
            continue
        elif how == "repeat":
            lines.insert(at, line)
        elif how == "indent":
            change = draw(st.integers(-4, 4))
            line = b" " * max(change, 0) + line[max(-change, 0) :]
        elif how == "fragment":
            i = draw(st.integers(0, len(line)))
            piece = draw(st.sampled_from(FRAGMENTS)).encode()
            line = line[:i] + piece + line[i:]
        else:
            line = draw(st.binary(max_size=40))
        if lines:
            lines[at] = line
        else:
            lines = [line]
    return b"\n".join(lines)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="loader-fuzz-") as folder:
        yield Path(folder)


@FUZZ
@given(data=mutated(SPEC_SEEDS))
def test_the_spec_loader_only_ever_raises_input_errors(scratch: Path, data: bytes) -> None:
    path = scratch / "spec.yaml"
    path.write_bytes(data)
    try:
        spec.load(path)
    except InputError as error:
        assert error.problems
        assert all(p.file == str(path) for p in error.problems)
    except MonitorError:
        pass


@FUZZ
@given(data=mutated(CONFIG_SEEDS))
def test_the_config_loader_only_ever_raises_input_errors(scratch: Path, data: bytes) -> None:
    path = scratch / "monitor.yaml"
    path.write_bytes(data)
    try:
        config.load(path, {"DATABASE_URL": "postgresql://monitor@db/app"})
    except InputError as error:
        assert error.problems
    except MonitorError:
        pass


@settings(max_examples=EXAMPLES // 4, deadline=None)
@given(data=mutated(SPEC_SEEDS))
def test_the_fast_path_reads_exactly_what_the_exact_path_reads(data: bytes) -> None:
    """Where the native parser accepts a spec, reading it exactly gives the same state,
    and where it finds a problem the exact reading finds one too."""
    try:
        text = yamldoc.decode(data, "spec.yaml", "spec")
    except InputError:
        return
    exact: object
    try:
        exact = spec.read_exactly(text, "spec.yaml")
    except InputError as error:
        exact = [str(p) for p in error.problems]
    fast: object
    try:
        fast = spec.loads(text, "spec.yaml")
    except InputError as error:
        fast = [str(p) for p in error.problems]
    assert fast == exact
