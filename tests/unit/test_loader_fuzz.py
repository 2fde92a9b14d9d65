"""Fuzzing the spec and config loaders: whatever the bytes, only InputError (or another
MonitorError) comes out, and it comes out soon.

Each example starts from a valid file and mutates it as editors, merges and
bad copies do (tests/support/fuzz.py). 2,000 examples each in CI (CI=true),
fewer locally; ``benchmarks/fuzz_loaders.py`` runs tens of thousands.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.daemon import config
from monitor.documents import pieces, yamldoc
from monitor.errors import InputError, MonitorError
from monitor.schema import spec
from tests.support import fuzz
from tests.support.fuzz import CONFIG_SEEDS, SPEC_SEEDS

T = TypeVar("T")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

EXAMPLES = 2000 if IN_CI else 150
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=20),  # a hang detector, not a timing assertion
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class _Drawn:
    """The mutations' choices drawn by Hypothesis, which can then shrink them."""

    def __init__(self, draw: st.DrawFn) -> None:
        self._draw = draw

    def integer(self, low: int, high: int) -> int:
        return self._draw(st.integers(low, high))

    def one_of(self, items: Sequence[T]) -> T:
        return self._draw(st.sampled_from(items))

    def binary(self, max_size: int) -> bytes:
        return self._draw(st.binary(max_size=max_size))


@st.composite
def mutated(draw: st.DrawFn, seeds: list[str]) -> bytes:
    return fuzz.mutated(seeds, _Drawn(draw))


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
def test_a_spec_cut_into_pieces_reads_the_same_as_the_whole(data: bytes) -> None:
    """Cutting a large spec's blocks into pieces is invisible: the same data, or the
    same problems."""
    try:
        text = yamldoc.decode(data, "spec.yaml", "spec")
    except InputError:
        return
    assert _parsed(text, spec.reader.PIECES) == _parsed(text, None)


def _parsed(text: str, cut: pieces.Cut | None) -> object:
    def whole(node: object) -> object:
        if isinstance(node, yamldoc.Entries):
            return {key: whole(value) for key, value in node.items()}
        if isinstance(node, dict):
            return {key: whole(value) for key, value in node.items()}
        return node

    try:
        return whole(yamldoc.parse(text, "spec.yaml", cut))
    except InputError as error:
        return [str(p) for p in error.problems]
