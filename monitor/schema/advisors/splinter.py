"""Supabase's database linter (splinter) lint by lint: the rule of ours that answers it.

Most share its id, so an advisory here and a lint in Supabase's dashboard name the same
thing; a lint with no rule here says why (it needs what the monitor never reads).
docs/advisors.md shows this table; a test keeps the two and the registry in step.
"""

from __future__ import annotations

# splinter lint id -> our rule id, or None with the reason it has no counterpart.
SPLINTER_LINTS: dict[str, str | None] = {
    "unindexed_foreign_keys": "unindexed_foreign_keys",
    "auth_users_exposed": "auth_users_exposed",
    "auth_rls_initplan": "auth_rls_initplan",
    "no_primary_key": "no_primary_key",
    "unused_index": "unused_index",
    "multiple_permissive_policies": "multiple_permissive_policies",
    "policy_exists_rls_disabled": "policy_exists_rls_disabled",
    "rls_enabled_no_policy": "rls_enabled_no_policy",
    "duplicate_index": "duplicate_index",
    "security_definer_view": "security_definer_view",
    "function_search_path_mutable": "function_search_path_mutable",
    "auth_allow_anonymous_sign_ins": None,
    "rls_disabled_in_public": "rls_disabled_in_public",
    "extension_in_public": "extension_in_public",
    "rls_references_user_metadata": "rls_references_user_metadata",
    "materialized_view_in_api": "materialized_view_in_api",
    "foreign_table_in_api": "foreign_table_in_api",
    "unsupported_reg_types": "unsupported_reg_types",
    "insecure_queue_exposed_in_api": "insecure_queue_exposed_in_api",
    "table_bloat": None,
    "fkey_to_auth_unique": "fkey_to_auth_unique",
    "extension_versions_outdated": "extension_versions_outdated",
    "sensitive_columns_exposed": "sensitive_columns_exposed",
    "rls_policy_always_true": "rls_policy_always_true",
    # The same lint under its first name.
    "permissive_rls_policy": "rls_policy_always_true",
    "pg17_deprecated_extensions": "pg17_deprecated_extensions",
    "public_bucket_allows_listing": None,
    "pg_graphql_anon_table_exposed": "pg_graphql_anon_table_exposed",
    "pg_graphql_authenticated_table_exposed": "pg_graphql_authenticated_table_exposed",
    "anon_security_definer_function_executable": "anon_security_definer_function_executable",
    "authenticated_security_definer_function_executable": (
        "authenticated_security_definer_function_executable"
    ),
    "invalid_index": "invalid_index",
    "rls_policy_null_auth_disjunct": "rls_policy_null_auth_disjunct",
    "autovacuum_disabled": "autovacuum_disabled",
    "unused_replication_slot": None,
}
