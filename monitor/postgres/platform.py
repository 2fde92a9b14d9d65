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

import os
import re
import tomllib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from monitor.documents import files

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

# A migration that names one of these needs the platform.
_PLATFORM_REFERENCE = re.compile(
    r"\b(?:auth|storage|realtime|vault|extensions)\s*\.\s*\"?[a-z_]"
    r"|\b(?:anon|authenticated|service_role|supabase_admin)\b",
    re.IGNORECASE,
)


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


def referenced(texts: Iterable[str]) -> bool:
    """Whether any migration names the platform's schemas or roles."""
    return any(_PLATFORM_REFERENCE.search(text) for text in texts)


def configured_major_version(migrations_dir: Path) -> int | None:
    """``[db] major_version`` of the project's ``supabase/config.toml``, if there is one.

    InputError when the file is there but may not be read (a FIFO, a link out of the project).
    """
    project = migrations_dir.parent
    config = project / "config.toml"
    if not os.path.lexists(config):
        return None
    data = files.read_bytes(config, "supabase config", 1024 * 1024, inside=project)
    try:
        document = tomllib.loads(data.decode())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    version = document.get("db", {}).get("major_version")
    return version if isinstance(version, int) else None
