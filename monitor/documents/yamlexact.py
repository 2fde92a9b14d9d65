"""The exact reading of :mod:`yamldoc`: PyYAML's composer, every value with its line.

Imported only when a text must be read exactly (a spec with a problem, a
config, the plain scalars of a spec being written): a clean spec's load
never pays for PyYAML. :func:`compose` keeps every scalar as written with
its tag and line, and resolves aliases and merge keys once each, capped, so
that an alias or merge-key bomb fails at once with one clear message.
"""

from __future__ import annotations

from typing import Any, NoReturn

import yaml

from monitor.documents.yamldoc import (
    MAX_DEPTH,
    MAX_EXPANSION,
    MERGE,
    Exact,
    Lines,
    Map,
    Scalar,
    Seq,
    describe,
    no_cycle_collection,
)
from monitor.errors import InputError, Problem

_RESOLVER = yaml.resolver.Resolver()
_new_str = str.__new__

_CParser: Any = getattr(getattr(yaml, "cyaml", None), "CParser", None)
LOADER: type[Any] = yaml.SafeLoader  # PyYAML without libyaml: its own parser, same results
if _CParser is not None:

    class _LibyamlComposer(yaml.composer.Composer, _CParser, yaml.resolver.Resolver):  # type: ignore[misc]
        """libyaml's parser under PyYAML's composer, whose messages name anchors and aliases."""

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.resolver.Resolver.__init__(self)

    LOADER = _LibyamlComposer
# libyaml's own composer: fastest, but its errors do not name anchors and aliases.
_FAST_LOADER: type[Any] = getattr(yaml, "CSafeLoader", LOADER)


def compose(text: str, filename: str, loader: type[Any] | None, where: Lines) -> Exact:
    """:func:`yamldoc.compose`, its defaults resolved: ``loader`` (None: libyaml's own
    composer, then PyYAML's over libyaml's parser for the wording of an error, which
    names the anchor or alias at fault) and ``where``, a 0-based line to the file's."""
    with no_cycle_collection():  # a large tree is all new objects and no cycles
        try:
            root = yaml.compose(text, Loader=loader or _FAST_LOADER)
        except yaml.MarkedYAMLError as exc:
            if loader is None and _FAST_LOADER is not LOADER:
                return compose(text, filename, LOADER, where)
            mark = exc.problem_mark or exc.context_mark
            detail = "; ".join(part for part in (exc.context, exc.problem) if part)
            line = where(mark.line) if mark is not None else None
            raise InputError([Problem(filename, line, f"invalid YAML: {detail}")]) from None
        except yaml.YAMLError as exc:
            raise InputError([Problem(filename, None, f"invalid YAML: {exc}")]) from None
        except RecursionError:
            raise InputError([Problem(filename, None, "invalid YAML: nested too deeply")]) from None
        if root is None:
            return None
        built: Exact = _Builder(filename, where).value(root, 0)
        return built


class _Builder:
    """Node tree -> exact data. Each node is built once: an alias is the same object."""

    def __init__(self, filename: str, line: Lines) -> None:
        self.filename = filename
        self.line = line  # a node's 0-based line -> the file's line
        self.built: dict[int, Any] = {}
        self.building: set[int] = set()
        # How many nodes the data holds with each alias and merge written out in place,
        # by node; and how many nodes were written.
        self.sizes: dict[int, int] = {}
        self.written = 0

    def fail(self, node: yaml.Node, message: str) -> NoReturn:
        raise InputError([Problem(self.filename, self.line(node.start_mark.line), message)])

    def value(self, node: yaml.Node, depth: int) -> Any:
        if node.__class__ is yaml.ScalarNode:  # most nodes: no memo, size 1
            self.written += 1
            scalar = _new_str(Scalar, node.value)
            scalar.tag = node.tag
            scalar.line = self.line(node.start_mark.line)
            return scalar
        key = id(node)
        if key in self.built:
            return self.built[key]
        if key in self.building:
            self.fail(node, "invalid YAML: an alias refers to a node that contains it")
        if depth > MAX_DEPTH:
            self.fail(node, f"invalid YAML: nested more than {MAX_DEPTH} levels deep")
        self.written += 1
        line = self.line(node.start_mark.line)
        self.building.add(key)
        try:
            if isinstance(node, yaml.SequenceNode):
                built: Any = self.sequence(node, line, depth)
            else:
                assert isinstance(node, yaml.MappingNode)
                built = self.mapping(node, line, depth)
        finally:
            self.building.discard(key)
        self.built[key] = built
        return built

    def size(self, node: yaml.Node) -> int:
        """The nodes ``node`` holds, each alias and merge written out in place."""
        return self.sizes.get(id(node), 1)  # a scalar is not kept: 1

    def add_size(self, node: yaml.Node, size: int) -> None:
        self.sizes[id(node)] = size
        if size - self.written > MAX_EXPANSION:
            self.fail(
                node,
                f"aliases and merge keys expand to more than {MAX_EXPANSION} nodes "
                "(an alias bomb?); write the objects out instead",
            )

    def sequence(self, node: yaml.SequenceNode, line: int, depth: int) -> Seq:
        items = Seq(self.value(item, depth + 1) for item in node.value)
        items.line = line
        self.add_size(node, 1 + sum(map(self.size, node.value)))
        return items

    def mapping(self, node: yaml.MappingNode, line: int, depth: int) -> Map:
        mapping = Map()
        mapping.line = line
        mapping.notes = []
        size = 1
        keys: dict[str, int] = {}
        merged: list[tuple[str, Any]] = []
        for key_node, value_node in node.value:
            if key_node.tag == MERGE:
                size += self.merge(mapping, value_node, merged, depth)
                continue
            value = self.value(value_node, depth + 1)
            size += 1 + self.size(value_node)
            key_line = self.line(key_node.start_mark.line)
            if not isinstance(key_node, yaml.ScalarNode):
                what = "a mapping" if isinstance(key_node, yaml.MappingNode) else "a list"
                mapping.notes.append((key_line, f"a key must be a name, not {what}"))
                continue
            name = key_node.value  # as written: a name may end in a space
            if not name:
                mapping.notes.append((key_line, "a key must not be empty"))
            elif name in keys:
                message = f"duplicate key {name!r} (first at line {keys[name]})"
                mapping.notes.append((key_line, message))
            else:
                keys[name] = key_line
                mapping[Scalar(name, key_node.tag, key_line)] = value
        # Keys written in the mapping itself win over merged ones, as in YAML.
        for name, value in merged:
            if name not in mapping:
                mapping[name] = value
        self.add_size(node, size)
        return mapping

    def merge(self, into: Map, node: yaml.Node, merged: list[tuple[str, Any]], depth: int) -> int:
        """Gather the entries `<<` merges into ``into``; the nodes they add."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        size = 0
        for source in sources:
            line = self.line(source.start_mark.line)
            if id(source) in self.building:
                into.notes.append((line, "`<<` merges a mapping into itself"))
                continue
            value = self.value(source, depth + 1)
            if not isinstance(value, Map):
                what = "a list" if isinstance(value, Seq) else describe(value)
                into.notes.append((line, f"`<<` merges a mapping, not {what}"))
                continue
            into.notes.extend(value.notes)
            merged.extend(value.items())
            size += self.size(source)
        return size


def plain_tag(text: str) -> str:
    """The tag YAML 1.1 gives ``text`` written plain: `yes` is a boolean, `1` a number."""
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return tag
