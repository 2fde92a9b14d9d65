"""What the API serves: objects in the exposed schemas (and pgmq's queues, and
pg_graphql's introspection) that API roles can read, the sensitive columns among them,
and the extensions installed where the API looks or older than the server offers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache

from monitor.schema.advisors import parsing
from monitor.schema.advisors.base import (
    API_GRANTEES,
    Advisory,
    Category,
    Context,
    Level,
    Rule,
    applies_to_api,
    granted,
    roles_sql,
    roles_text,
)
from monitor.schema.model import PUBLIC_ROLE, Extension, Grants, Table
from monitor.schema.quote import ident, qualified

EXTENSION_IN_PUBLIC = Rule(
    "extension_in_public",
    Level.WARNING,
    Category.SECURITY,
    "Extension installed in an API-exposed schema",
)
SENSITIVE_COLUMNS_EXPOSED = Rule(
    "sensitive_columns_exposed",
    Level.ERROR,
    Category.SECURITY,
    "Sensitive-looking column whose rows API roles can read",
)
MATERIALIZED_VIEW_IN_API = Rule(
    "materialized_view_in_api",
    Level.WARNING,
    Category.SECURITY,
    "Materialized view (no row level security) readable by API roles",
)
FOREIGN_TABLE_IN_API = Rule(
    "foreign_table_in_api",
    Level.WARNING,
    Category.SECURITY,
    "Foreign table (no row level security) readable by API roles",
)
INSECURE_QUEUE_EXPOSED_IN_API = Rule(
    "insecure_queue_exposed_in_api",
    Level.ERROR,
    Category.SECURITY,
    "pgmq queue table without row level security while pgmq_public is exposed",
)
PG_GRAPHQL_ANON_TABLE_EXPOSED = Rule(
    "pg_graphql_anon_table_exposed",
    Level.INFO,
    Category.SECURITY,
    "Object the anon key can see in pg_graphql's introspection",
)
PG_GRAPHQL_AUTHENTICATED_TABLE_EXPOSED = Rule(
    "pg_graphql_authenticated_table_exposed",
    Level.INFO,
    Category.SECURITY,
    "Object every signed-in user can see in pg_graphql's introspection",
)
EXTENSION_VERSIONS_OUTDATED = Rule(
    "extension_versions_outdated",
    Level.WARNING,
    Category.SECURITY,
    "Extension older than the version the server offers",
)
PG17_DEPRECATED_EXTENSIONS = Rule(
    "pg17_deprecated_extensions",
    Level.WARNING,
    Category.SECURITY,
    "Extension that PostgreSQL 17 images no longer ship",
)
RULES = (
    EXTENSION_IN_PUBLIC,
    SENSITIVE_COLUMNS_EXPOSED,
    MATERIALIZED_VIEW_IN_API,
    FOREIGN_TABLE_IN_API,
    INSECURE_QUEUE_EXPOSED_IN_API,
    PG_GRAPHQL_ANON_TABLE_EXPOSED,
    PG_GRAPHQL_AUTHENTICATED_TABLE_EXPOSED,
    EXTENSION_VERSIONS_OUTDATED,
    PG17_DEPRECATED_EXTENSIONS,
)


def extension_in_public(context: Context) -> Iterator[Advisory]:
    if not context.exposed:
        return
    for extension in context.state.extensions or ():
        if extension.schema != context.schema.name:
            continue
        yield context.advisory(
            EXTENSION_IN_PUBLIC,
            None,
            extension.name,
            f"extension {extension.name} is installed in API-exposed schema "
            f"{extension.schema}: its functions and tables are served by the API",
            f"ALTER EXTENSION {ident(extension.name)} SET SCHEMA extensions "
            "(if it supports it; else drop and create it there)",
        )


# Names that say what a column holds: Supabase's linter's list, and a few of our own
# (credential, access_key ...). Two-word names match as consecutive words of a column's
# name; a single word of five letters or more also inside a word ("passwordhash").
_SENSITIVE = (
    # credentials
    "password", "passwd", "pwd", "passphrase", "secret", "secret_key", "private_key",
    "api_key", "apikey", "auth_key", "token", "jwt", "access_token", "refresh_token",
    "oauth_token", "session_token", "bearer_token", "auth_code", "session_id", "session_key",
    "session_secret", "recovery_code", "backup_code", "verification_code", "otp",
    "two_factor", "2fa_secret", "2fa_code", "credential", "access_key",
    # personal identifiers
    "ssn", "social_security", "social_security_number", "driver_license", "drivers_license",
    "license_number", "passport_number", "passport_id", "national_id", "tax_id",
    # financial
    "credit_card", "card_number", "cvv", "cvc", "cvn", "bank_account", "account_number",
    "routing_number", "iban", "swift_code", "bic",
    # health
    "health_record", "medical_record", "patient_id", "insurance_number", "health_insurance",
    "medical_insurance", "treatment",
    # devices, keys and certificates, biometrics
    "mac_address", "macaddr", "imei", "device_uuid", "pgp_key", "gpg_key", "ssh_key",
    "certificate", "license_key", "activation_key", "facial_recognition",
)  # fmt: skip
_SENSITIVE_WORDS = tuple(tuple(pattern.split("_")) for pattern in _SENSITIVE)
_INSIDE_A_WORD = tuple(p for p in _SENSITIVE if "_" not in p and len(p) >= 5)
_WORD_BREAKS = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=16384)  # column names repeat table after table ("id", "created_at")
def looks_sensitive(column: str) -> bool:
    words = tuple(w for w in _WORD_BREAKS.split(column.lower()) if w)
    if any(word in inside for word in _INSIDE_A_WORD for inside in words):
        return True
    return any(
        words[i : i + len(pattern)] == pattern
        for pattern in _SENSITIVE_WORDS
        for i in range(len(words) - len(pattern) + 1)
    )


def _rows_reach(table: Table) -> frozenset[str]:
    """The API roles (or PUBLIC) that row level security lets read the table's rows: all
    when it is off; anon (or PUBLIC) through any permissive read policy for it; signed-in
    users through one that is always true (every user reads every row)."""
    if table.rls is not None and not table.rls.enabled:
        return API_GRANTEES
    reach: set[str] = set()
    for policy in table.policies or ():
        if not policy.permissive or policy.command not in ("ALL", "SELECT"):
            continue
        roles = applies_to_api(policy.roles)
        if PUBLIC_ROLE in roles:
            roles = API_GRANTEES
        reach |= roles & {"anon", PUBLIC_ROLE}
        if "authenticated" in roles and parsing.always_true(policy.using or "false"):
            reach.add("authenticated")
    return frozenset(reach)


def sensitive_columns_exposed(context: Context) -> Iterator[Advisory]:
    if not context.exposed:
        return
    for table in context.schema.tables:
        if table.grants is None or table.columns is None:
            continue
        reached = _rows_reach(table)
        if not reached:
            continue
        how = (
            "row level security is off"
            if table.rls is not None and not table.rls.enabled
            else "a policy lets them read the rows"
        )
        for column in table.columns:
            if not looks_sensitive(column.name):
                continue
            readers = granted(table.grants, "SELECT", reached | {PUBLIC_ROLE}, column.name)
            if not readers:
                continue
            yield context.advisory(
                SENSITIVE_COLUMNS_EXPOSED,
                table.name,
                column.name,
                f"column {context.where(table)}.{column.name} looks sensitive, "
                f"{roles_text(readers)} may SELECT it and {how}: the API serves it",
                f"REVOKE SELECT ON {context.sql_name(table)} FROM {roles_sql(readers)}; "
                f"GRANT SELECT (<the other columns>) ON {context.sql_name(table)} TO "
                f"{roles_sql(readers)}; or move the column to a table the API cannot read",
            )


def _readable(
    context: Context, rule: Rule, kind: str, name: str, grants: Grants | None
) -> Iterator[Advisory]:
    """`rule` for an object the API serves without row level security, if API roles read it."""
    readers = granted(grants, "SELECT")
    if not readers:
        return
    sql_name = qualified(context.schema.name, name)
    yield context.advisory(
        rule,
        None,
        name,
        f"{kind} {context.schema.name}.{name} is readable by {roles_text(readers)} in "
        f"API-exposed schema {context.schema.name}: a {kind} has no row level security, "
        "so every row is served",
        f"REVOKE SELECT ON {sql_name} FROM {roles_sql(readers)}; or move it to a schema the "
        "API does not expose and serve it through a view or function that filters",
    )


def materialized_view_in_api(context: Context) -> Iterator[Advisory]:
    if not context.exposed:
        return
    for view in context.schema.views or ():
        if view.materialized:
            yield from _readable(
                context, MATERIALIZED_VIEW_IN_API, "materialized view", view.name, view.grants
            )


def foreign_table_in_api(context: Context) -> Iterator[Advisory]:
    if not context.exposed:
        return
    for table in context.schema.foreign_tables or ():
        yield from _readable(
            context, FOREIGN_TABLE_IN_API, "foreign table", table.name, table.grants
        )


_GRAPHQL_ROLES = (
    (PG_GRAPHQL_ANON_TABLE_EXPOSED, "anon", "the anon key"),
    (PG_GRAPHQL_AUTHENTICATED_TABLE_EXPOSED, "authenticated", "every signed-in user"),
)


def _graphql_objects(context: Context) -> Iterator[tuple[str, str, Grants | None]]:
    for table in context.schema.tables:
        yield "table", table.name, table.grants
    for view in context.schema.views or ():
        yield "materialized view" if view.materialized else "view", view.name, view.grants


def pg_graphql_table_exposed(context: Context) -> Iterator[Advisory]:
    if context.platform:
        return
    if not any(e.name == "pg_graphql" for e in context.state.extensions or ()):
        return
    for kind, name, grants in _graphql_objects(context):
        for rule, role, who in _GRAPHQL_ROLES:
            if not granted(grants, "SELECT", frozenset({role, PUBLIC_ROLE})):
                continue
            yield context.advisory(
                rule,
                name if kind == "table" else None,
                name,
                f"pg_graphql is installed and {role} may SELECT {kind} "
                f"{context.schema.name}.{name}: its name, columns and relationships are shown "
                f"to {who} by /graphql/v1 introspection, even where row level security hides "
                "its rows",
                f"if {who} should not see it, REVOKE SELECT ON "
                f"{qualified(context.schema.name, name)} FROM {ident(role)}",
            )


CHECKS = (
    extension_in_public,
    sensitive_columns_exposed,
    materialized_view_in_api,
    foreign_table_in_api,
    pg_graphql_table_exposed,
)


# --- the database as a whole ---------------------------------------------------------------


def _database_advisory(
    rule: Rule, schema: str, obj: str, message: str, remediation: str
) -> Advisory:
    return Advisory(rule.id, rule.level, rule.category, schema, None, obj, message, remediation)


def insecure_queue_exposed_in_api(
    queues: Iterable[Table], exposed: tuple[str, ...]
) -> Iterator[Advisory]:
    if "pgmq_public" not in exposed:
        return  # the queues are reached through pgmq_public's functions only when it is
    for queue in queues:
        readers = granted(queue.grants, "SELECT")
        if queue.rls is None or queue.rls.enabled or not readers:
            continue
        name = qualified("pgmq", queue.name)
        yield _database_advisory(
            INSECURE_QUEUE_EXPOSED_IN_API,
            "pgmq",
            queue.name,
            f"queue table pgmq.{queue.name} has row level security off and "
            f"{roles_text(readers)} may read it while pgmq_public is exposed: anyone with the "
            "anon key can read, send and delete its messages through the API",
            f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY; then add policies for the roles "
            f"that should use the queue, or REVOKE ALL ON {name} FROM {roles_sql(readers)}",
        )


# Extensions Supabase's PostgreSQL 17 images no longer ship (adminpack left core in 17).
_DEPRECATED_IN_17 = frozenset({"plv8", "timescaledb", "adminpack"})


def extension_advisories(extensions: Iterable[Extension]) -> Iterator[Advisory]:
    for extension in extensions:
        name = ident(extension.name)
        default, installed = extension.default_version, extension.version
        if default is not None and installed is not None and default != installed:
            yield _database_advisory(
                EXTENSION_VERSIONS_OUTDATED,
                extension.schema,
                extension.name,
                f"extension {extension.name} is at version {installed} but the server offers "
                f"{default}: an older version may miss security fixes",
                f"ALTER EXTENSION {name} UPDATE (to {default}; read its release notes first)",
            )
        if extension.name in _DEPRECATED_IN_17:
            yield _database_advisory(
                PG17_DEPRECATED_EXTENSIONS,
                extension.schema,
                extension.name,
                f"extension {extension.name} is not shipped with PostgreSQL 17 images: the "
                "upgrade cannot keep it",
                f"move what uses it elsewhere, then DROP EXTENSION {name}, before upgrading",
            )
