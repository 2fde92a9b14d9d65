"""Walking parsed data into a model, every problem recorded at a path, lines found at the end.

A :class:`Reader` subclass adds the vocabulary of its document (the spec, the
config); the methods here read what any document has: mappings with known
keys, named entries, lists, text, flags, integers and choices. A read method
takes ``(value, label)`` and returns what it read, or raises
:class:`~monitor.documents.yamldoc.Invalid` after recording why.

A problem is recorded at the path of the value it is about: the reader keeps
the trail of entries it is inside (:meth:`named`, :meth:`items`,
:meth:`entries`), and finds a value below them by identity, only when there is
a problem. :meth:`finish` then looks every path's line up in the text, once.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Annotated, Any, Final, TypeVar

import msgspec

from monitor.documents import locate
from monitor.documents.yamldoc import Entries, Invalid, boolean_hint, describe, spelling, suggestion
from monitor.errors import InputError, Problem

T = TypeVar("T")
D = TypeVar("D")

# In a message, replaced by the line of the problem's ``first`` path.
FIRST_LINE: Final = "\x00first-line\x00"
_MISSING: Final = object()
_SEARCH_DEPTH: Final = 6


@dataclasses.dataclass(frozen=True, slots=True)
class _Recorded:
    path: locate.Path
    key: bool
    message: str
    first: locate.Path | None = None


class Reader:
    """Reads parsed data, collecting every problem at its path (see the module)."""

    def __init__(self, filename: str, root: Any) -> None:
        self.filename = filename
        self.root = root
        self.recorded: list[_Recorded] = []
        self.keys: list[str | int] = []  # the trail: keys and indexes from the root
        self.nodes: list[Any] = []  # the value at each step of the trail

    # -- the trail

    def here(self) -> locate.Path:
        return tuple(self.keys)

    def entries(self, container: Any, pairs: Iterable[tuple[Any, T]]) -> Iterator[tuple[Any, T]]:
        """``pairs`` (key or index, value) of ``container``, the reader inside each value
        while it is read."""
        keys, nodes = self.keys, self.nodes
        saved = (keys[:], nodes[:])
        depth, path, _ = self.find(container)
        del keys[depth:], nodes[depth:]
        if path:
            keys.extend(path)
            nodes.extend([None] * (len(path) - 1) + [container])
        keys.append(0)
        nodes.append(None)
        try:
            for key, value in pairs:
                keys[-1] = key if type(key) is int or type(key) is str else str(key)
                nodes[-1] = value
                yield key, value
        finally:
            keys[:], nodes[:] = saved

    def find(self, value: Any) -> tuple[int, locate.Path, bool]:
        """Where ``value`` is: the depth of the trail it is under, its path from there,
        and whether it is a key; searched from the innermost entry outwards."""
        trail = [self.root, *self.nodes]
        for depth in range(len(trail) - 1, -1, -1):
            found = _search(trail[depth], value, _SEARCH_DEPTH)
            if found is not None:
                return depth, *found
        return len(self.keys), (), False

    def where(self, value: Any) -> tuple[locate.Path, bool]:
        """The path of ``value``, and whether it is a key."""
        depth, path, key = self.find(value)
        return (*self.keys[:depth], *path), key

    # -- problems

    def problem(self, value: Any, message: str, *, first: Any = _MISSING) -> None:
        """A problem about ``value``; ``first``: the value whose line FIRST_LINE stands for."""
        path, key = self.where(value)
        first_path = None if first is _MISSING else self.where(first)[0]
        self.recorded.append(_Recorded(path, key, message, first_path))

    def report(self, path: locate.Path, message: str, *, key: bool = False) -> None:
        self.recorded.append(_Recorded(path, key, message))

    def invalid(self, value: Any, message: str) -> Invalid:
        self.problem(value, message)
        return Invalid()

    def finish(self, text: str) -> None:
        """Raise the problems recorded, if any, each with its line in ``text``, in file
        order (problems on one line in the order they were found)."""
        if not self.recorded:
            return
        wanted: set[locate.Path] = set()
        for item in self.recorded:
            for path in (item.path, item.first or ()):
                wanted.update(path[:depth] for depth in range(len(path) + 1))
        lines = locate.lines(text, wanted.__contains__)
        problems: dict[Problem, None] = {}
        for item in self.recorded:
            message = item.message
            if item.first is not None:
                message = message.replace(FIRST_LINE, str(locate.line_of(lines, item.first)))
            line = locate.line_of(lines, item.path, item.key)
            problems.setdefault(Problem(self.filename, line, message))
        raise InputError(sorted(problems, key=lambda p: p.line or 0))

    # -- mappings

    def fields(
        self,
        value: Any,
        what: str,
        known: Sequence[str] | type[msgspec.Struct],
        required: Sequence[str] | None = None,
        *,
        null_is_empty: bool = False,
        misplaced: Mapping[str, str] | None = None,
        unknown: Callable[[str], str] | None = None,
    ) -> Mapping[str, Any]:
        """The values of a mapping with known keys; unknown and missing keys reported.

        ``known``: the keys, or the declared format of the mapping (a msgspec Struct,
        whose fields without a default are the ``required`` keys unless given).
        ``misplaced`` gives a hint for a key that belongs elsewhere;
        ``unknown`` words the problem of an unknown key (default: "did you mean").
        """
        if isinstance(known, type):
            known, required = keys_of(known), required_of(known) if required is None else required
        required = required or ()
        if null_is_empty and value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(value, f"{what} must be a mapping, not {describe(value)}")
            return {}
        if _known_keys(known).issuperset(value) and all(key in value for key in required):
            return value  # the usual case: nothing to report
        path = self.where(value)[0]
        found: dict[str, Any] = {}
        misspelt: set[str] = set()
        for key, item in value.items():
            if key in known:
                found[key] = item
                continue
            written = str(key)
            if unknown is not None:
                message = f"{what}: {unknown(written)}"
            else:
                hint = f" ({misplaced[written]})" if misplaced and written in misplaced else ""
                message = f"{what}: unknown key {written!r}{hint or suggestion(written, known)}"
                misspelt.update(difflib.get_close_matches(written, known, n=1, cutoff=0.6))
            self.report((*path, written), message, key=True)
        for key in required:
            if key not in found and key not in misspelt:
                self.problem(value, f"{what}: missing required key {key!r}")
        return found

    def named(self, value: Any, what: str) -> Iterator[tuple[str, Any]]:
        """The (name, body) entries of a mapping from object name to object body."""
        if value is None or value is _MISSING:
            return iter(())
        if not isinstance(value, dict | Entries):
            self.problem(value, f"{what} must be a mapping of names, not {describe(value)}")
            return iter(())
        # A "? [a, b]" key reads as a tuple (a mapping as a frozenset): no object's name.
        # Looked for at C speed in a mapping at hand; entry by entry in a cut one.
        if isinstance(value, dict) and _PLAIN_KEYS.issuperset(map(type, value)):
            return self.entries(value, value.items())
        return self._plain_names(value, what)

    def _plain_names(self, value: Any, what: str) -> Iterator[tuple[str, Any]]:
        for name, body in self.entries(value, value.items()):
            if isinstance(name, tuple | frozenset):
                shape = "a list" if isinstance(name, tuple) else "a mapping"
                self.problem(value, f"{what}: a name must be a plain value, not {shape}")
            else:
                yield name, body

    def get(
        self,
        found: Mapping[str, Any],
        key: str,
        what: str,
        read: Callable[[Any, str], T],
        default: D,
    ) -> T | D:
        """Read one field with ``read``; its default when absent or invalid."""
        value = found.get(key, _MISSING)
        if value is _MISSING:
            return default
        try:
            return read(value, f"{what}: {key}")
        except Invalid:
            return default

    # -- scalars

    def scalar(self, value: Any, label: str) -> str | None:
        """A scalar's text, exactly as read (a number or a flag as YAML writes it); None
        for a null."""
        kind = type(value)
        if kind is str:
            text: str = value
            return text
        if value is None:
            return None
        if kind is bool:
            return "true" if value else "false"
        if kind is int or kind is float:
            return str(value)
        raise self.invalid(value, f"{label} must be a single value, not {describe(value)}")

    def optional_text(self, value: Any, label: str) -> str | None:
        text = self.scalar(value, label)
        if text is not None and not text.strip():
            raise self.invalid(value, f"{label} must not be empty (leave it out instead)")
        return text

    def text(self, value: Any, label: str) -> str:
        text = self.scalar(value, label)
        if text is None or not text.strip():
            raise self.invalid(value, f"{label} must not be empty")
        return text

    def flag(self, value: Any, label: str) -> bool:
        if type(value) is bool:
            return value
        message = f"{label} must be true or false, not {describe(value)}{boolean_hint(value)}"
        raise self.invalid(value, message)

    def integer(self, value: Any, label: str) -> int:
        if type(value) is int:
            return value
        raise self.invalid(value, f"{label} must be an integer, not {describe(value)}")

    def choice(self, value: Any, label: str, options: Mapping[str, T]) -> T:
        """One of ``options``, keyed by :func:`spelling`."""
        written = self.text(value, label)
        chosen = options.get(spelling(written))
        if chosen is not None:
            return chosen
        shown = {
            key: str(option) if isinstance(option, str) else key for key, option in options.items()
        }
        allowed = ", ".join(dict.fromkeys(shown.values()))
        close = difflib.get_close_matches(spelling(written), list(options), n=1, cutoff=0.6)
        hint = f" (did you mean {shown[close[0]]!r}?)" if close else boolean_hint(value)
        raise self.invalid(value, f"{label} must be one of {allowed}, not {written!r}{hint}")

    def items(
        self,
        value: Any,
        label: str,
        read: Callable[[Any, str], T],
        *,
        single: bool = False,
        unique: bool = True,
    ) -> tuple[T, ...]:
        """A list whose entries are read one by one; a bad entry does not hide the others.

        ``single``: a lone scalar stands for a list of one.
        """
        if isinstance(value, list):
            entries: list[Any] = value
        elif single and value is not None and not isinstance(value, dict):
            entries = [value]
        else:
            raise self.invalid(value, f"{label} must be a list, not {describe(value)}")
        values: list[T] = []
        first: dict[T, Any] = {}
        for _, entry in self.entries(entries, enumerate(entries)):
            try:
                item = read(entry, f"{label} entry")
            except Invalid:
                continue
            if unique:
                if item in first:
                    message = f"{label}: duplicate entry {item!r} (first at line {FIRST_LINE})"
                    self.problem(entry, message, first=first[item])
                    continue
                first[item] = entry
            values.append(item)
        return tuple(values)


_PLAIN_KEYS = frozenset({str, int, float, bool, type(None)})

# A key a declared format names only to refuse it: another program's option (one the
# same file may hold) that this one cannot honour. Invalid whatever its value, in the
# JSON Schema too; a reader names it as refused rather than as unknown.
Refused = Annotated[
    Any,
    msgspec.Meta(extra_json_schema={"not": {}, "description": "not supported by schema-monitor"}),
]


@functools.cache
def keys_of(doc: type[msgspec.Struct]) -> tuple[str, ...]:
    """The keys a mapping of a declared format accepts, in declared order."""
    return tuple(f.encode_name for f in msgspec.structs.fields(doc))


@functools.cache
def required_of(doc: type[msgspec.Struct]) -> tuple[str, ...]:
    """The keys a mapping of a declared format must have."""
    return tuple(f.encode_name for f in msgspec.structs.fields(doc) if f.required)


@functools.cache
def refused_of(doc: type[msgspec.Struct]) -> tuple[str, ...]:
    """The keys of a declared format that are :data:`Refused`."""
    return tuple(f.encode_name for f in msgspec.structs.fields(doc) if f.type == Refused)


def json_schema(doc: type[msgspec.Struct], title: str) -> str:
    """The JSON Schema of a declared format, as shipped in docs/schemas/ for editors."""
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        **msgspec.json.schema(doc),
    }
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


_KNOWN: dict[int, frozenset[str]] = {}


def _known_keys(known: Sequence[str]) -> frozenset[str]:
    """The keys a mapping accepts, as a set (each reader passes a constant tuple)."""
    found = _KNOWN.get(id(known))
    if found is None or not found.issuperset(known):
        found = _KNOWN[id(known)] = frozenset(known)
    return found


def _search(node: Any, value: Any, depth: int) -> tuple[locate.Path, bool] | None:
    """The path of ``value`` in ``node`` by identity (and whether it is a key); values
    before keys, nearer before deeper."""
    if node is value:
        return (), False
    if depth == 0:
        return None
    if isinstance(node, dict):
        for key, item in node.items():
            if item is value:
                return (str(key),), False
        for key in node:
            if key is value:
                return (str(key),), True
        children: Iterable[tuple[str | int, Any]] = ((str(k), v) for k, v in node.items())
    elif isinstance(node, list):
        children = enumerate(node)
    else:
        return None
    for step, child in children:
        if isinstance(child, dict | list):
            found = _search(child, value, depth - 1)
            if found is not None:
                return (step, *found[0]), found[1]
    return None
