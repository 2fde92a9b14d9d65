"""The Supabase platform a project's migrations assume: bootstrap SQL and what it owns.

Every Supabase database has, before its first migration runs, the auth,
storage and realtime schemas, the API and service roles, the ``extensions``
schema on the search_path, and the ``supabase_realtime`` publication. The
bootstrap (``sql/supabase_bootstrap.sql``) gives a bare PostgreSQL the same,
so that migrations replay unchanged. The platform's own objects are never
expected in a spec: a real platform has more of them (and newer versions)
than the bootstrap, so a spec ignores them by name.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pglast.parser import ParseError, parse_sql_json

from monitor.documents import files
from monitor.schema.normalize import tree_nodes

# The tables of the platform's services, as Supabase's hosted databases hold them
# (past and present versions), by schema: never expected, never unexpected.
PLATFORM_TABLES: dict[str, tuple[str, ...]] = {
    "auth": (
        "audit_log_entries",
        "flow_state",
        "identities",
        "instances",
        "mfa_amr_claims",
        "mfa_challenges",
        "mfa_factors",
        "oauth_authorizations",
        "oauth_clients",
        "oauth_consents",
        "one_time_tokens",
        "refresh_tokens",
        "saml_providers",
        "saml_relay_states",
        "schema_migrations",
        "sessions",
        "sso_domains",
        "sso_providers",
        "users",
    ),
    "storage": (
        "buckets",
        "buckets_analytics",
        "buckets_vectors",
        "migrations",
        "objects",
        "prefixes",
        "s3_multipart_uploads",
        "s3_multipart_uploads_parts",
        "vector_indexes",
    ),
    "realtime": ("messages", "schema_migrations", "subscription"),
    "supabase_migrations": ("schema_migrations", "seed_files"),
    "vault": ("secrets",),
}

# The schemas and roles of the platform a migration may use as objects.
PLATFORM_SCHEMAS = frozenset({"auth", "storage", "realtime", "vault", "extensions"})
PLATFORM_ROLES = frozenset({"anon", "authenticated", "service_role", "supabase_admin"})
# A folder that creates one of these itself owns it: it is not a Supabase project's.
_OWNED_SCHEMAS = frozenset({"auth", "storage", "realtime"})


# A section of the bootstrap that is also an extension's stand-in (vault, graphql).
_STANDIN_SECTION = re.compile(
    r"^-- begin stand-in: (?P<name>[\w-]+)\n(?P<body>.*?)^-- end stand-in: (?P=name)$",
    re.MULTILINE | re.DOTALL,
)


def bootstrap() -> str:
    """SQL that gives plain PostgreSQL what Supabase migrations assume (one file that
    psql runs as it is, too)."""
    return resources.files("monitor.postgres.sql").joinpath("supabase_bootstrap.sql").read_text()


def standin_sections() -> dict[str, str]:
    """The bootstrap's sections that stand in for extensions, by extension name."""
    return {m["name"]: m["body"] for m in _STANDIN_SECTION.finditer(bootstrap())}


def configured_major_version(migrations_dir: Path) -> int | None:
    """``[db] major_version`` of the project's ``supabase/config.toml``, if there is one.

    InputError when the file is there but may not be read (a FIFO, a link out of the project).
    """
    version = _cli_config(migrations_dir).get("db", {}).get("major_version")
    return version if isinstance(version, int) else None


def _cli_config(migrations_dir: Path) -> dict[str, Any]:
    """The ``config.toml`` beside the folder, as TOML; empty when there is none or it is not
    TOML. InputError when it is there but may not be read."""
    project = migrations_dir.parent
    config = project / "config.toml"
    if not os.path.lexists(config):
        return {}
    data = files.read_bytes(config, "supabase config", 1024 * 1024, inside=project)
    try:
        return tomllib.loads(data.decode())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


# --- whether a folder is written for the platform ---------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether the Supabase platform is set up before the migrations, and why (printed)."""

    supabase: bool
    reason: str

    def describe(self) -> str:
        return f"platform: {'supabase' if self.supabase else 'none'} ({self.reason})"


@dataclass(slots=True)
class _Uses:
    """What the migrations' parse trees say about the platform."""

    created_schemas: dict[str, tuple[str, bool]]  # schema -> (file, IF NOT EXISTS)
    created_roles: set[str]
    used: dict[str, str]  # object or role -> the first file that uses it


def decide(directory: Path, sources: Sequence[tuple[str, str]]) -> Decision:
    """The platform a folder is written for, from its structure, never its text.

    `sources` are (file name, SQL as its tool runs it). A folder that creates the
    platform's schemas itself owns them: no platform. A Supabase CLI project
    (``supabase/migrations``, or a ``config.toml`` of the CLI beside the folder)
    gets the platform; so does a folder whose statements, parsed, use the
    platform's tables, functions or roles as objects (comments and strings do
    not count).
    """
    uses = _uses(sources)
    project = _supabase_project(directory)
    owned = {
        schema: file
        for schema, (file, if_not_exists) in sorted(uses.created_schemas.items())
        if schema in _OWNED_SCHEMAS and not (project and if_not_exists)
    }
    if owned:
        schema, file = next(iter(owned.items()))
        return Decision(False, f"{file} creates schema {schema} itself, so the folder owns it")
    if project:
        return Decision(True, f"a Supabase CLI project ({project})")
    for name, file in uses.used.items():
        role = name in PLATFORM_ROLES
        created = name in uses.created_roles if role else name.split(".")[0] in uses.created_schemas
        if not created:
            what = "role" if role else "object"
            return Decision(True, f"{file} uses the platform's {what} {name}")
    return Decision(False, "no statement uses the platform's schemas or roles")


def _supabase_project(directory: Path) -> str | None:
    folder = directory.resolve()
    if folder.name == "migrations" and folder.parent.name == "supabase":
        return "supabase/migrations"
    document = _cli_config(folder)
    if "project_id" in document or {"api", "db"} <= document.keys():
        return f"{folder.parent.name}/config.toml"
    return None


def _uses(sources: Sequence[tuple[str, str]]) -> _Uses:
    uses = _Uses({}, set(), {})
    for file, text in sources:
        try:
            tree = json.loads(parse_sql_json(text))
        except (ParseError, ValueError):
            continue  # the replay reports the syntax error with its line
        _walk(tree, file, uses)
    return uses


def _walk(node: Any, file: str, uses: _Uses) -> None:
    """Every platform schema, function, relation and role a parse tree names."""
    for item in tree_nodes(node):
        if (schema := item.get("CreateSchemaStmt", {}).get("schemaname")) is not None:
            first = uses.created_schemas.get(schema, (file, True))
            if_not_exists = bool(item["CreateSchemaStmt"].get("if_not_exists"))
            uses.created_schemas[schema] = (first[0], first[1] and if_not_exists)
        if (role := item.get("CreateRoleStmt", {}).get("role")) is not None:
            uses.created_roles.add(role)
        schema = item.get("schemaname")
        if "relname" in item and schema in PLATFORM_SCHEMAS:
            uses.used.setdefault(f"{schema}.{item['relname']}", file)
        for key in ("funcname", "names"):
            name = _qualified(item.get(key))
            if name is not None and name.split(".", 1)[0] in PLATFORM_SCHEMAS:
                uses.used.setdefault(name, file)
        if item.get("rolename") in PLATFORM_ROLES:
            uses.used.setdefault(item["rolename"], file)


def _qualified(parts: Any) -> str | None:
    """``schema.name`` of a two-part name list of a parse tree."""
    if not isinstance(parts, list) or len(parts) != 2:
        return None
    words = [p.get("String", {}).get("sval") if isinstance(p, dict) else None for p in parts]
    return None if None in words else ".".join(str(w) for w in words)
