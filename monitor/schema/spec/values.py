"""The values every part of the spec reads: shared text, SQL checked by the parser, lists
of names, grants, and each distinct body read once (see :class:`SpecValues`)."""

from __future__ import annotations

import dataclasses
import marshal
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from monitor.documents import locate
from monitor.documents.reader import Reader
from monitor.documents.yamldoc import Invalid, describe
from monitor.schema import model, normalize

T = TypeVar("T")
H = TypeVar("H", bound=Hashable)

# Distinct bodies remembered at most (see remembered): a spec's own repeated bodies are
# read again after each clearing, its distinct ones cost no memory beyond this.
_MEMO_LIMIT = 4096
_GRANT_OPTION = " with grant option"
_NO_GRANTS: model.Grants = frozenset()


class _Nameless:
    """An object read from a body, kept to make equal objects under other names (each
    named model object is a dataclass with its name first)."""

    __slots__ = ("first", "rest")

    def __init__(self, first: Any) -> None:
        self.first = first
        self.rest: tuple[Any, ...] | None = None  # taken when first asked: most bodies are not

    def named(self, name: str) -> Any:
        first = self.first
        if name == first.name:
            return first
        if self.rest is None:
            self.rest = tuple(getattr(first, field) for field in _fields_after_name(type(first)))
        return type(first)(name, *self.rest)


def _fields_after_name(kind: type[Any]) -> tuple[str, ...]:
    found = _AFTER_NAME.get(kind)
    if found is None:
        name, *rest = (field.name for field in dataclasses.fields(kind))
        if name != "name":
            raise TypeError(f"{kind.__name__} does not have its name first")
        found = _AFTER_NAME[kind] = tuple(rest)
    return found


_AFTER_NAME: dict[type[Any], tuple[str, ...]] = {}


class SpecValues(Reader):
    """The vocabulary of the spec's read methods; each takes ``(value, label)``."""

    def __init__(self, filename: str, root: Any) -> None:
        super().__init__(filename, root)
        self.memo: dict[Hashable, Any] = {}  # see remembered
        # One object per distinct value (see shared).
        self.values: dict[Hashable, Any] = {}
        # The path of each index and absent entry, by (what, owner, name), to place
        # problems found later by comparing objects with each other.
        self.places: dict[tuple[str, str, str], locate.Path] = {}

    def remembered(self, kind: Hashable, value: Any, read: Callable[[], T]) -> T:
        """``read()``, or what it gave for an equal ``value`` of this kind with no problem.

        A large spec repeats the same bodies table after table (its columns,
        policies, triggers, grants...). Parsed data is plain, so its marshal bytes
        are a faithful key (they keep `true` apart from `1`); a reading that met a
        problem is never remembered, so every copy of a bad body is reported.
        """
        key = (kind, marshal.dumps(value))
        if key in self.memo:
            kept: T = self.memo[key]
            return kept
        problems = len(self.recorded)
        result = read()
        if len(self.recorded) == problems:
            if len(self.memo) >= _MEMO_LIMIT:
                self.memo.clear()
            self.memo[key] = result
        return result

    def named_object(
        self, kind: Hashable, name: str, body: Any, what: str, read: Callable[[str, Any, str], T]
    ) -> T:
        """``read(name, body, what)`` of an object in a mapping of names, its body read
        once per distinct body (see remembered), the name set on each copy."""
        made = self.remembered(kind, body, lambda: _Nameless(read(name, body, what)))
        named: T = made.named(name)
        return named

    def report_at(self, body: Any, problems: Iterable[tuple[str | None, str]]) -> None:
        """Record the problems of a check of :mod:`.checks` about the object read from
        ``body``: each at the field it names, or at the object."""
        for key, message in problems:
            path = self.where(body)[0]
            self.report(path if key is None else (*path, key), message)

    def sql(self, value: Any, label: str) -> str:
        """SQL text (a type, an expression): the spaces around it never count."""
        return self.text(value, label).strip()

    def optional_sql(self, value: Any, label: str) -> str | None:
        text = self.optional_text(value, label)
        return None if text is None else text.strip()

    def read_entries(self, value: Any, what: str, read: Callable[[str, Any], T]) -> list[T]:
        """``read(name, body)`` of each entry of a mapping of objects; the spec's reader
        reads a large one a piece at a time."""
        return [read(name, body) for name, body in self.named(value, what)]

    def named_objects(
        self,
        found: Mapping[str, Any],
        key: str,
        what: str,
        read: Callable[[str, Any, str], T],
    ) -> tuple[T, ...] | None:
        """A mapping of objects by name, sorted; None when the key is left out."""
        if key not in found:
            return None
        node = found[key]
        if node is None:
            self.problem(node, f"{what}: {key} is empty; write {{}} to expect none")
            return ()
        noun = key.rstrip("s").replace("_", " ")

        def read_named(name: str, body: Any) -> T:
            return read(name, body, f"{noun} {what}.{name}" if what else f"{noun} {name}")

        read_objects = self.read_entries(node, f"{what}: {key}" if what else key, read_named)
        return tuple(sorted(read_objects, key=lambda item: str(getattr(item, "name", ""))))

    @staticmethod
    def role_name(name: str) -> str:
        # PUBLIC is a keyword, not a role name: any case means the same pseudo-role.
        return model.PUBLIC_ROLE if name.lower() == model.PUBLIC_ROLE else name

    def grants(
        self, value: Any, label: str, every: Sequence[str], column: str | None = None
    ) -> model.Grants:
        """``{grantee: [privilege, ...]}`` as a set of grants."""
        # Every table (function, view) of a generated spec grants the same: read once.
        return self.remembered(
            ("grants", tuple(every), column),
            value,
            lambda: self.read_grants(value, label, every, column),
        )

    def read_grants(
        self, value: Any, label: str, every: Sequence[str], column: str | None
    ) -> model.Grants:
        if not isinstance(value, dict):
            raise self.invalid(
                value, f"{label} must be a mapping of grantees, not {describe(value)}"
            )
        found: set[model.Grant] = set()
        for grantee, privileges in self.named(value, label):
            role = self.role_name(grantee)

            def privilege(node: Any, entry: str) -> tuple[tuple[str, bool], ...]:
                return self.privilege(node, entry, every)

            for words in self.items(privileges, f"{label}: {grantee}", privilege, single=True):
                for name, grantable in words:
                    found.add(model.Grant(role, name, grantable, column))
        return frozenset(found)

    def privilege(
        self, value: Any, label: str, every: Sequence[str]
    ) -> tuple[tuple[str, bool], ...]:
        """``SELECT``, ``all``, ``UPDATE WITH GRANT OPTION`` -> ((privilege, grantable), ...)."""
        written = self.text(value, label)
        word = " ".join(written.split()).lower()
        grantable = word.endswith(_GRANT_OPTION)
        if grantable:
            word = word[: -len(_GRANT_OPTION)].strip()
        if word in ("all", "all privileges"):
            return tuple((name, grantable) for name in every)
        name = word.upper()
        if name not in every:
            allowed = ", ".join((*every, "ALL"))
            raise self.invalid(value, f"{label} must be one of {allowed}, not {written!r}")
        return ((name, grantable),)

    def relation_grants(
        self, found: Mapping[str, Any], what: str, every: Sequence[str]
    ) -> model.Grants | None:
        """A table's or view's ``grants`` and ``column_grants``; None when neither is given."""
        if "grants" not in found and "column_grants" not in found:
            return None
        grants = self.get(found, "grants", what, lambda v, lbl: self.grants(v, lbl, every), None)
        columns: set[model.Grant] = set()
        for column, body in self.named(found.get("column_grants"), f"{what}: column_grants"):
            label = f"{what}: column_grants: {column}"
            try:
                columns |= self.grants(body, label, model.COLUMN_PRIVILEGES, column)
            except Invalid:
                continue
        if not columns:  # the shared set read once for every equal table, not a copy each
            return grants if grants is not None else _NO_GRANTS
        return (grants or frozenset()) | columns

    def shared(self, value: H) -> H:
        """The first equal ``value`` read: a large spec repeats its types,
        expressions, column lists and whole columns (`id`, `created_at`)
        table after table, and the model is immutable."""
        kept: H = self.values.setdefault(value, value)
        return kept

    def scalar(self, value: Any, label: str) -> str | None:
        text = super().scalar(value, label)
        return None if text is None else self.shared(text)

    def checked(self, value: Any, label: str, text: str, error: str | None, noun: str) -> str:
        """``text`` unless the SQL parser found an ``error`` in it."""
        if error is not None:
            raise self.invalid(value, f"{label} {text!r} is not a valid {noun}: {error}")
        return text

    def expression(self, value: Any, label: str) -> str | None:
        text = self.optional_sql(value, label)
        if text is None:
            return None
        error = normalize.expression_error(text)
        return self.checked(value, label, text, error, "SQL expression")

    def names(self, value: Any, label: str, *, single: bool = False) -> tuple[str, ...]:
        return self.shared(self.items(value, label, self.text, single=single))
