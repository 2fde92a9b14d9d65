"""Where things are in a YAML text: the one place that reads positions.

The documents engine parses a text once, without positions (:func:`yamldoc.parse`).
Lines are needed only when there is something to report, and then this module walks
the text's events (libyaml's parser when available, PyYAML's otherwise), keeping
no tree: a path (the keys and list indexes from the root) -> the line of its key
and of its value. The same walk finds what the parser refuses without a line
(a duplicate key) or what it would not refuse at all (an alias inside its own
anchor, an alias bomb, a tag other than YAML's own).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import yaml

# A path in a document: mapping keys (as text) and list indexes, from the root.
Path = tuple[str | int, ...]

_PARSER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CORE_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("null", "bool", "int", "float", "str", "map", "seq", "merge")
)
_COMPLEX_KEY = "?"


@dataclasses.dataclass(slots=True)
class _Frame:
    path: Path
    mapping: bool
    key: str | int | None = None  # a mapping's key whose value comes next; None: a key next
    index: int = 0  # a list's next index
    keys: dict[str, int] = dataclasses.field(default_factory=dict)  # key -> its line
    anchor: str | None = None
    size: int = 1


@dataclasses.dataclass(frozen=True, slots=True)
class Node:
    """A node met on the walk: its path, its line (1-based), and whether it is a key."""

    path: Path
    line: int
    key: bool
    event: Any


def walk(text: str) -> Iterator[Node]:
    """Every key and value of ``text``'s first document, in text order.

    Raises yaml.YAMLError where the text is not YAML (the parser said so first).
    """
    stack: list[_Frame] = []
    for event in yaml.parse(text, Loader=_PARSER):
        if isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            stack.pop()
            continue
        if not isinstance(event, yaml.NodeEvent):
            if isinstance(event, yaml.DocumentEndEvent):
                return
            continue
        mark = event.start_mark
        line = mark.line + 1 if mark is not None else 0
        is_key = False
        if not stack:
            path: Path = ()
        else:
            parent = stack[-1]
            if not parent.mapping:
                path = (*parent.path, parent.index)
                parent.index += 1
            elif parent.key is None:
                is_key = True
                name = event.value if isinstance(event, yaml.ScalarEvent) else _COMPLEX_KEY
                parent.key = name
                path = (*parent.path, name)
            else:
                path = (*parent.path, parent.key)
                parent.key = None
        yield Node(path, line, is_key, event)
        if isinstance(event, yaml.CollectionStartEvent) and not is_key:
            stack.append(_Frame(path, isinstance(event, yaml.MappingStartEvent)))
        elif isinstance(event, yaml.CollectionStartEvent):  # a key that is a collection
            stack.append(_Frame((*path, _COMPLEX_KEY), isinstance(event, yaml.MappingStartEvent)))


def lines(text: str, wanted: Callable[[Path], bool]) -> dict[tuple[Path, bool], int]:
    """(path, is the key) -> line, of each path ``wanted`` keeps; {} for text that is not
    YAML (its problem was reported by the parser)."""
    found: dict[tuple[Path, bool], int] = {}
    try:
        for node in walk(text):
            if wanted(node.path):
                found.setdefault((node.path, node.key), node.line)
    except yaml.YAMLError:
        pass
    return found


def line_of(found: dict[tuple[Path, bool], int], path: Path, key: bool = False) -> int | None:
    """The line of ``path`` (its key's line when ``key``), else of its nearest ancestor
    (a path into an alias or a merged mapping is not written where it is read)."""
    for depth in range(len(path), -1, -1):
        prefix = path[:depth]
        for as_key in (key, not key) if depth == len(path) else (True, False):
            line = found.get((prefix, as_key))
            if line is not None:
                return line
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class Refusal:
    """Something the fast parser does not report by line: at ``path``, on ``line``."""

    path: Path
    line: int
    message: str


def refusals(text: str, max_expansion: int) -> Iterator[Refusal]:
    """Duplicate keys; and, where the text has anchors or tags, an alias inside its own
    anchor, aliases and merge keys that expand to more than ``max_expansion`` nodes
    beyond what is written, and tags other than YAML's core ones."""
    stack: list[_Frame] = []
    sizes: dict[str, int] = {}  # anchor -> the nodes it stands for, aliases expanded
    open_anchors: set[str] = set()
    expanded = 0
    try:
        for node in walk(text):
            event = node.event
            while stack and not _is_parent(stack[-1], node):
                _close(stack.pop(), stack, sizes, open_anchors)
            if stack and stack[-1].mapping and node.key and isinstance(event, yaml.ScalarEvent):
                keys = stack[-1].keys
                if event.value in keys:
                    where = _label(node.path[:-1])
                    first = keys[event.value]
                    message = f"{where}duplicate key {event.value!r} (first at line {first})"
                    yield Refusal(node.path[:-1], node.line, message)
                keys.setdefault(event.value, node.line)
            tag = getattr(event, "tag", None)
            if tag is not None and tag not in _CORE_TAGS and tag != "!":
                message = f"{_label(node.path)}unsupported YAML tag {tag}"
                yield Refusal(node.path, node.line, message)
            size = 1
            if isinstance(event, yaml.AliasEvent):
                anchor = event.anchor or ""
                if anchor in open_anchors:
                    message = "invalid YAML: an alias refers to a node that contains it"
                    yield Refusal(node.path, node.line, message)
                    return
                size = sizes.get(anchor, 1)
                expanded += size
                if expanded > max_expansion:
                    yield Refusal(
                        node.path,
                        node.line,
                        f"aliases and merge keys expand to more than {max_expansion} nodes "
                        "(an alias bomb?); write the objects out instead",
                    )
                    return
            elif isinstance(event, yaml.ScalarEvent) and event.anchor is not None:
                sizes[event.anchor] = 1
            if stack:
                stack[-1].size += size
            if isinstance(event, yaml.CollectionStartEvent):
                path = (*node.path, _COMPLEX_KEY) if node.key else node.path
                frame = _Frame(path, isinstance(event, yaml.MappingStartEvent))
                frame.anchor = event.anchor
                if event.anchor is not None:
                    open_anchors.add(event.anchor)
                stack.append(frame)
                frame.size = 0
    except yaml.YAMLError:
        return


def _label(path: Path) -> str:
    """``schemas: public: tables: ``: where a problem found before any model is read is."""
    return "".join(f"{part}: " if isinstance(part, str) else f"[{part}]: " for part in path)


def _is_parent(frame: _Frame, node: Node) -> bool:
    return node.path[: len(frame.path)] == frame.path and len(node.path) == len(frame.path) + 1


def _close(frame: _Frame, stack: list[_Frame], sizes: dict[str, int], opened: set[str]) -> None:
    if frame.anchor is not None:
        sizes[frame.anchor] = frame.size + 1
        opened.discard(frame.anchor)
    if stack:
        stack[-1].size += frame.size
