"""Views: dropped and created in the order their queries read each other.

A view whose columns change cannot be replaced (``CREATE OR REPLACE VIEW``
only appends columns): it is dropped and created, with the views that read
it, and its options, owner and grants come back with it. A table whose
columns are dropped or retyped takes the same path for the views over it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from monitor.schema import normalize
from monitor.schema.model import Change, Finding, Schema, State, View
from monitor.schema.quote import qualified
from monitor.schema.repair.security import grants_of, named, owner_statement
from monitor.schema.repair.statements import (
    Fix,
    Phase,
    Safety,
    Statement,
    columns_of,
    gone,
    key,
    relation,
    unread,
)


def reads(definition: str | None, schema: str) -> tuple[tuple[str, str], ...]:
    """(schema, name) of the relations a view's query reads; unqualified ones in its schema."""
    if not definition:
        return ()
    found = normalize.read_relations(definition)
    return tuple(sorted((where or schema, name) for where, name in found))


def drop_view(
    schema: str, name: str, definition: str | None, *, materialized: bool, safety: Safety
) -> Statement:
    """DROP VIEW, before whatever its query reads is dropped or reshaped."""
    keyword = "MATERIALIZED VIEW" if materialized else "VIEW"
    used = reads(definition, schema)
    return Statement(
        f"DROP {keyword} IF EXISTS {qualified(schema, name)};",
        Phase.BEFORE,
        "drop view",
        safety,
        provides=(gone(relation(schema, name)), *(unread(*r) for r in used)),
        requires=(unread(schema, name),),
    )


def create_view(schema: str, view: View) -> Iterator[Statement]:
    """CREATE VIEW with its options, owner and grants; after what it reads and their keys
    (a GROUP BY may rely on a primary key)."""
    name = qualified(schema, view.name)
    used = reads(view.definition, schema)
    needs = [gone(relation(schema, view.name))]
    for where, table in used:
        needs += [relation(where, table), columns_of(where, table), key(where, table)]
    keyword = "MATERIALIZED VIEW" if view.materialized else "VIEW"
    options = [
        f"security_invoker = {str(view.security_invoker).lower()}",
        f"security_barrier = {str(view.security_barrier).lower()}",
    ]
    if view.check_option:
        options.append(f"check_option = {view.check_option}")
    with_ = "" if view.materialized else f" WITH ({', '.join(options)})"
    definition = (view.definition or "").rstrip().rstrip(";")
    provides = (relation(schema, view.name), columns_of(schema, view.name))
    yield Statement(
        f"CREATE {keyword} {name}{with_} AS{definition};",
        step="view",
        provides=provides,
        requires=tuple(needs),
    )
    after = (relation(schema, view.name),)
    if view.owner:
        owner = owner_statement(keyword, name, view.owner)
        yield Statement(owner.sql, step="owner", requires=after)
    for grant in grants_of("TABLE", name, view.grants or ()):
        yield Statement(grant.sql, step="privilege", requires=after)


def rebuild(schema: Schema, name: str) -> list[Statement]:
    """Drop and create the spec's views that read `name` (transitively), readers first."""
    statements: list[Statement] = []
    for view in readers(schema, name):
        statements.append(
            drop_view(
                schema.name,
                view.name,
                view.definition,
                materialized=view.materialized,
                safety=Safety.SAFE,
            )
        )
        statements.extend(create_view(schema.name, view))
    return statements


def readers(schema: Schema, name: str) -> list[View]:
    """The spec's views that read `name`, directly or through one another, readers of a view
    after it."""
    direct = _direct_readers(schema)
    found: list[View] = []
    seen = {name}
    targets = [name]
    while targets:
        for view in direct.get(targets.pop(0), ()):
            if view.name not in seen:
                seen.add(view.name)
                found.append(view)
                targets.append(view.name)
    return found


def _direct_readers(schema: Schema) -> dict[str, list[View]]:
    """Relation name -> the spec's views whose query reads it (in the schema), kept per
    collection: a repair of many views asks for it many times."""
    views = schema.views or ()
    cached = _readers.get(id(views))
    if cached is not None and cached[0] is views:
        return cached[1]
    direct: dict[str, list[View]] = {}
    for view in views:
        for where, table in reads(view.definition, schema.name):
            if where == schema.name and table != view.name:
                direct.setdefault(table, []).append(view)
    if len(_readers) > 16:
        _readers.clear()
    _readers[id(views)] = (views, direct)
    return direct


_readers: dict[int, tuple[tuple[View, ...], dict[str, list[View]]]] = {}


def _drop_live(schema: str, name: str, live: dict[str, Any], safety: Safety) -> Statement:
    """The live view dropped, as the finding describes it (what its query reads)."""
    return drop_view(schema, name, live.get("definition"),
                     materialized=bool(live.get("materialized")), safety=safety)  # fmt: skip


def view_fix(finding: Finding, schema: Schema, expected: State) -> Fix:
    name = qualified(schema.name, finding.name)
    live = finding.actual if isinstance(finding.actual, dict) else {}
    if finding.change is Change.UNEXPECTED:
        return Fix((_drop_live(schema.name, finding.name, live, Safety.DATA_LOSS),))
    view = named(schema.views, finding.name)
    if view is None:
        return Fix(note="the spec does not describe this view")
    if (
        finding.change is Change.MISSING
        or (
            view.definition is not None
            and not normalize.same_view(view.definition, live.get("definition"))
        )
        or view.materialized != bool(live.get("materialized", view.materialized))
    ):
        if view.definition is None:
            return Fix(note="the spec does not hold this view's definition")
        statements = rebuild(schema, view.name)
        if finding.change is not Change.MISSING:
            statements.insert(0, _drop_live(schema.name, view.name, live, Safety.SAFE))
        statements.extend(create_view(schema.name, view))
        return Fix(tuple(statements))
    if view.materialized:
        return Fix(note="a materialized view's options are changed by hand")
    options = [
        f"security_invoker = {str(view.security_invoker).lower()}",
        f"security_barrier = {str(view.security_barrier).lower()}",
    ]
    alter = f"ALTER VIEW {name} "
    check = (
        "SET (check_option = " + f"{view.check_option})"
        if view.check_option
        else ("RESET (check_option)")
    )
    return Fix(
        (
            Statement(f"{alter}SET ({', '.join(options)});", step="view"),
            Statement(f"{alter}{check};", step="view"),
        )
    )
