"""The SQL that creates each kind of object as the spec describes it."""

from __future__ import annotations

from typing import Any

from monitor.schema.model import (
    PUBLIC_ROLE,
    Column,
    Constraint,
    ConstraintType,
    Function,
    Index,
    Policy,
    Trigger,
)
from monitor.schema.quote import function_call as quoted_call
from monitor.schema.quote import (
    function_parts,
    function_signature,
    ident,
    literal,
    qualified,
    table_name,
)


def collation_clause(collation: str | None) -> str:
    """`` COLLATE "C"`` for a column whose collation is not its type's; empty otherwise."""
    return f" COLLATE {table_name(collation)}" if collation else ""


def column_definition(column: Column) -> str:
    parts = [ident(column.name), column.type + collation_clause(column.collation)]
    if column.generated is not None:
        parts.append(f"GENERATED ALWAYS AS ({column.generated}) STORED")
    if column.identity is not None:
        parts.append(f"GENERATED {column.identity.upper()} AS IDENTITY")
    if column.default is not None:
        parts.append(f"DEFAULT {column.default}")
    if not column.nullable:
        parts.append("NOT NULL")
    return " ".join(parts)


def constraint_definition(constraint: Constraint) -> str:
    columns = ", ".join(ident(c) for c in constraint.columns)
    kind = constraint.type
    if kind is ConstraintType.PRIMARY_KEY:
        text = f"PRIMARY KEY ({columns})"
    elif kind is ConstraintType.UNIQUE:
        text = f"UNIQUE ({columns})"
    elif kind is ConstraintType.CHECK:
        text = f"CHECK ({constraint.check})"
    elif kind is ConstraintType.EXCLUDE:
        text = constraint.check or ""
    else:
        text = f"FOREIGN KEY ({columns})" + _references(constraint)
    if constraint.deferrable:
        text += " DEFERRABLE"
        if constraint.deferred:
            text += " INITIALLY DEFERRED"
    return text


def _references(constraint: Constraint) -> str:
    target = constraint.references
    if target is None:
        return ""
    text = f" REFERENCES {table_name(target.table)}"
    if target.columns:
        text += " (" + ", ".join(ident(c) for c in target.columns) + ")"
    if target.match.upper() != "SIMPLE":
        text += f" MATCH {target.match.upper()}"
    if target.on_update.upper() != "NO ACTION":
        text += f" ON UPDATE {target.on_update.upper()}"
    if target.on_delete.upper() != "NO ACTION":
        text += f" ON DELETE {target.on_delete.upper()}"
    return text


def index_definition(schema: str, table: str, index: Index, *, concurrently: bool) -> str:
    unique = "UNIQUE " if index.unique else ""
    how = "CONCURRENTLY " if concurrently else ""
    method = "" if index.method.lower() == "btree" else f" USING {ident(index.method.lower())}"
    text = (
        f"CREATE {unique}INDEX {how}IF NOT EXISTS {ident(index.name)} ON "
        f"{qualified(schema, table)}{method} ({', '.join(index.columns)})"
    )
    if index.include:
        text += f" INCLUDE ({', '.join(index.include)})"
    if index.where is not None:
        text += f" WHERE {index.where}"
    return text + ";"


def policy_definition(where: str, policy: Policy) -> str:
    roles = ", ".join(
        "PUBLIC" if role.lower() == "public" else ident(role) for role in sorted(policy.roles)
    )
    kind = "PERMISSIVE" if policy.permissive else "RESTRICTIVE"
    text = (
        f"CREATE POLICY {ident(policy.name)} ON {where} AS {kind} FOR {policy.command} TO {roles}"
    )
    if policy.using is not None:
        text += f"\n    USING ({policy.using})"
    if policy.with_check is not None:
        text += f"\n    WITH CHECK ({policy.with_check})"
    return text + ";"


ENABLE = {
    "origin": "ENABLE TRIGGER",
    "always": "ENABLE ALWAYS TRIGGER",
    "replica": "ENABLE REPLICA TRIGGER",
    "disabled": "DISABLE TRIGGER",
}


def trigger_definition(where: str, trigger: Trigger) -> str:
    events = []
    for event in trigger.events:
        spelled = event.upper()
        if spelled == "UPDATE" and trigger.columns:
            spelled = "UPDATE OF " + ", ".join(ident(c) for c in trigger.columns)
        events.append(spelled)
    text = (
        f"CREATE TRIGGER {ident(trigger.name)} {trigger.timing.upper()} {' OR '.join(events)}"
        f" ON {where} FOR EACH {trigger.level.upper()}"
    )
    if trigger.when is not None:
        text += f" WHEN ({trigger.when})"
    return text + f" EXECUTE FUNCTION {function_call(trigger.function)};"


def function_call(function: str) -> str:
    """The spec writes public functions unqualified; the script must not rely on search_path."""
    return quoted_call(function if function.rstrip().endswith(")") else f"{function}()")


def role(name: str) -> str:
    return "PUBLIC" if name.lower() == PUBLIC_ROLE else ident(name)


def object_name(object_type: str, schema: str, target: dict[str, Any]) -> str:
    """The object of a finding's ``object`` field (``schema.name``) for SQL, never cut at a
    dot or a parenthesis: a function is rebuilt from its signature's parts."""
    if object_type == "schema":
        return ident(schema)
    name = str(target.get("object") or "").removeprefix(f"{schema}.")
    if object_type == "function":
        return function_signature(schema, name)
    return qualified(schema, name)


def _dollar_quoted(body: str, tag: str = "$fn$") -> str:
    while tag in body:
        tag = f"${tag.strip('$')}_$"
    return f"{tag}{body}{tag}"


def guarded(sql: str, condition: str, message: str, *, level: str = "NOTICE") -> str:
    """`sql` in a DO block that, on `condition`, says `message` and lets the script go on
    (the statement's effects undone): for what the catalog snapshot cannot foresee."""
    handler = f"RAISE {level} '%', {literal(message)};"
    body = f" BEGIN\n  {sql}\nEXCEPTION WHEN {condition} THEN {handler}\nEND "
    return f"DO {_dollar_quoted(body, '$repair$')};"


def _setting(key: str, value: str) -> str:
    if key == "search_path":
        # proconfig keeps the list as SQL would write it, but '' as a quoted empty name.
        return f"SET search_path = {value}" if value != '""' else "SET search_path = ''"
    return f"SET {ident(key)} = {literal(value)}"


def function_definition(schema: str, function: Function) -> str:
    name, types = function_parts(function.name)
    arguments = function.arguments if function.arguments is not None else ", ".join(types)
    procedure = function.kind == "procedure"
    lines = [
        f"CREATE OR REPLACE {'PROCEDURE' if procedure else 'FUNCTION'} "
        f"{qualified(schema, name)}({arguments})"
    ]
    if not procedure and function.returns:
        lines.append(f"RETURNS {function.returns}")
    lines.append(f"LANGUAGE {function.language}")
    if not procedure:
        lines.append(function.volatility.upper())
        if function.strict:
            lines.append("STRICT")
        if function.leakproof:
            lines.append("LEAKPROOF")
    lines.append("SECURITY DEFINER" if function.security_definer else "SECURITY INVOKER")
    lines += [_setting(key, value) for key, value in function.settings]
    body = function.body or ""
    atomic = body.lstrip().upper().startswith("BEGIN ATOMIC")
    lines.append(body if atomic else f"AS {_dollar_quoted(body)}")
    return "\n".join(lines) + ";"
