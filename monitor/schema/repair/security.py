"""Repairs of the security surface: privileges, default privileges and owners."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from monitor.schema.model import Finding, Grant, Schema, State
from monitor.schema.quote import ident
from monitor.schema.repair.definitions import object_name, role
from monitor.schema.repair.statements import Fix, Phase, Statement, relation

_GRANT_TARGETS = {
    "table": "TABLE",
    "view": "TABLE",
    "sequence": "SEQUENCE",
    "function": "FUNCTION",
    "type": "TYPE",
    "schema": "SCHEMA",
}
_DEFAULT_PRIVILEGES = re.compile(r"\(default privileges on (\w+) of (.+)\)")


def _held(privileges: Iterable[str]) -> dict[str, bool]:
    """["SELECT", "UPDATE WITH GRANT OPTION"] -> {"SELECT": False, "UPDATE": True}."""
    held: dict[str, bool] = {}
    for text in privileges:
        privilege, grantable, _ = text.partition(" WITH GRANT OPTION")
        held[privilege] = bool(grantable) or held.get(privilege, False)
    return held


def privilege_fix(finding: Finding, schema: Schema, expected: State) -> Fix:
    want = finding.expected if isinstance(finding.expected, dict) else {}
    have = finding.actual if isinstance(finding.actual, dict) else {}
    object_type = str(want.get("object_type") or have.get("object_type") or "")
    grantee = role(str(want.get("grantee") or have.get("grantee") or finding.name))
    column = want.get("column") or have.get("column")
    wanted, held = _held(want.get("privileges") or ()), _held(have.get("privileges") or ())
    columns = f" ({ident(str(column))})" if column else ""
    if object_type == "default privileges":
        match = _DEFAULT_PRIVILEGES.fullmatch(finding.table or "")
        if match is None:
            return Fix(note="the default privileges this finding is about cannot be told")
        on, owner = match.groups()
        prefix = f"ALTER DEFAULT PRIVILEGES FOR ROLE {ident(owner)} IN SCHEMA {ident(schema.name)} "
        target = on.upper()
    else:
        keyword = _GRANT_TARGETS.get(object_type)
        if keyword is None:
            return Fix(note=f"no repair is known for privileges on a {object_type}")
        prefix = ""
        target = f"{keyword} {object_name(object_type, schema.name, want or have)}"
    needs = _needs(object_type, schema.name, finding.table)
    statements = []
    for privilege, option in sorted(held.items()):
        if privilege not in wanted:
            sql = f"{prefix}REVOKE {privilege}{columns} ON {target} FROM {grantee};"
        elif option and not wanted[privilege]:
            sql = (
                f"{prefix}REVOKE GRANT OPTION FOR {privilege}{columns} ON {target} FROM {grantee};"
            )
        else:
            continue
        statements.append(Statement(sql, Phase.BEFORE, "privilege", requires=needs))
    for privilege, option in sorted(wanted.items()):
        if privilege in held and held[privilege] >= option:
            continue
        grant_option = " WITH GRANT OPTION" if option else ""
        sql = f"{prefix}GRANT {privilege}{columns} ON {target} TO {grantee}{grant_option};"
        statements.append(Statement(sql, Phase.BEFORE, "privilege", requires=needs))
    return Fix(tuple(statements))


_ALTER_OWNER = {
    "table": "TABLE",
    "view": "VIEW",
    "sequence": "SEQUENCE",
    "function": "FUNCTION",
    "type": "TYPE",
    "schema": "SCHEMA",
}


def owner_fix(finding: Finding, schema: Schema, expected: State) -> Fix:
    want = finding.expected if isinstance(finding.expected, dict) else {}
    object_type, owner = str(want.get("object_type", "")), want.get("owner")
    keyword = _ALTER_OWNER.get(object_type)
    if keyword is None or not owner:
        return Fix(note=f"no repair is known for the owner of a {object_type}")
    if object_type == "view" and any(
        v.materialized and v.name == finding.table for v in schema.views or ()
    ):
        keyword = "MATERIALIZED VIEW"
    name = object_name(object_type, schema.name, want)
    sql = f"ALTER {keyword} {name} OWNER TO {ident(str(owner))};"
    # The new owner took over the ACL entries of the old; a role that held grants and
    # then owned the object loses them when ownership goes back: grant them again.
    grants = spec_grants(object_type, finding.table, schema) or frozenset()
    target = _GRANT_TARGETS[object_type]
    again = grants_of(target, name, (g for g in grants if g.grantee != owner), "grant after owner")
    needs = _needs(object_type, schema.name, finding.table)
    return Fix((Statement(sql, Phase.BEFORE, "owner", requires=needs), *again))


def owner_statement(keyword: str, name: str, owner: str) -> Statement:
    return Statement(f"ALTER {keyword} {name} OWNER TO {ident(owner)};", Phase.BEFORE, "owner")


def _needs(object_type: str, schema: str, name: str | None) -> tuple[str, ...]:
    """A table's or view's grants and owner wait for it, when the script (re-)creates it."""
    if object_type in ("table", "view") and name:
        return (relation(schema, name),)
    return ()


def spec_grants(object_type: str, name: str | None, schema: Schema) -> frozenset[Grant] | None:
    if object_type == "schema":
        return schema.grants
    collections: dict[str, Iterable[Any] | None] = {
        "table": schema.tables,
        "view": schema.views,
        "function": schema.functions,
        "type": schema.types,
        "sequence": schema.sequences,
    }
    found = named(collections.get(object_type), name or "", normalize_signature=True)
    grants: frozenset[Grant] | None = getattr(found, "grants", None)
    return grants


def grants_of(
    keyword: str, name: str, grants: Iterable[Grant], step: str = "privilege"
) -> Iterator[Statement]:
    by_grantee: dict[str, dict[str, bool]] = {}
    for grant in grants:
        held = by_grantee.setdefault(grant.grantee, {})
        key = f"{grant.privilege}" + (f" ({ident(grant.column)})" if grant.column else "")
        held[key] = held.get(key, False) or grant.grantable
    for grantee, held in sorted(by_grantee.items()):
        for option in (False, True):
            privileges = sorted(p for p, o in held.items() if o is option)
            if privileges:
                suffix = " WITH GRANT OPTION" if option else ""
                to = f"{role(grantee)}{suffix}"
                yield Statement(
                    f"GRANT {', '.join(privileges)} ON {keyword} {name} TO {to};",
                    Phase.BEFORE,
                    step,
                )


def named(items: Iterable[Any] | None, name: str, *, normalize_signature: bool = False) -> Any:
    """The item called `name` (a function by its signature, however spaced or cased)."""
    if items is None:
        return None
    index = _indexes.get((id(items), normalize_signature))
    if index is None or index[0] is not items:
        if len(_indexes) > 64:
            _indexes.clear()
        index = (
            items,
            {_key(item.name, normalize_signature): item for item in reversed(list(items))},
        )
        _indexes[(id(items), normalize_signature)] = index
    return index[1].get(_key(name, normalize_signature))


def _key(text: str, normalize_signature: bool) -> str:
    return "".join(text.split()).lower() if normalize_signature else text


# A spec's collections, by name: a repair of thousands of findings looks each up once.
_indexes: dict[tuple[int, bool], tuple[Any, dict[str, Any]]] = {}
