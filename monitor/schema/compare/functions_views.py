"""What decides a changed function or view, and how severe an unexpected one is. Pure.

Critical (the default severities of docs/contracts.md): a function made SECURITY
DEFINER or a definer that lost its fixed search_path; a SECURITY DEFINER function
whose body, search_path or settings changed; an unexpected definer the API roles
may execute; and a view that reads a table with row level security, bypasses its
policies (no security_invoker) and is readable by the API roles. Warning otherwise.
"""

from __future__ import annotations

from typing import Any

from monitor.schema import normalize
from monitor.schema.compare.context import Verdict, verdict
from monitor.schema.compare.privileges import api_can
from monitor.schema.model import Function, Severity, View


def _text(value: str | None) -> str | None:
    return None if value is None else normalize.token_key(value)


def _settings(function: Function) -> dict[str, str]:
    return {name.lower(): normalize.setting_key(name, value) for name, value in function.settings}


def compare_function(expected: Function, actual: Function) -> Verdict:
    changed: list[str] = []
    widened: list[str] = []
    narrowed: list[str] = []
    if expected.kind != actual.kind:
        changed.append("kind")
    if _text(expected.returns) != _text(actual.returns) and not (
        expected.returns
        and actual.returns
        and normalize.same_type(expected.returns, actual.returns)
    ):
        changed.append("returns")
    if expected.arguments is not None and _text(expected.arguments) != _text(actual.arguments):
        changed.append("arguments")
    language = (actual.language or expected.language or "sql").lower()
    if expected.language is not None and expected.language.lower() != language:
        changed.append("language")
    if expected.body is not None and not normalize.same_body(language, expected.body, actual.body):
        changed.append("body")
    for field in ("volatility", "strict"):
        if getattr(expected, field) != getattr(actual, field):
            changed.append(field)
    if expected.security_definer != actual.security_definer:
        (widened if actual.security_definer else narrowed).append("security_definer")
    if expected.leakproof != actual.leakproof:
        (widened if actual.leakproof else narrowed).append("leakproof")
    wanted, have = _settings(expected), _settings(actual)
    if wanted != have:
        if "search_path" in wanted and "search_path" not in have:
            widened.append("search_path")  # a mutable search_path can be hijacked
        elif wanted.get("search_path") != have.get("search_path"):
            changed.append("search_path")
        if {k: v for k, v in wanted.items() if k != "search_path"} != {
            k: v for k, v in have.items() if k != "search_path"
        }:
            changed.append("settings")
    definer = expected.security_definer or actual.security_definer
    critical = bool(widened) and (
        "security_definer" in widened or ("search_path" in widened and definer)
    )
    critical |= definer and any(f in changed for f in ("body", "search_path", "settings"))
    return verdict(changed, widened, narrowed, critical)


def unexpected_function(function: Function) -> Severity:
    if function.security_definer and api_can(function.grants, "EXECUTE"):
        return Severity.CRITICAL
    return Severity.WARNING


def definer(expected: Any, actual: Any) -> bool:
    """A SECURITY DEFINER function runs with its owner's rights: a new owner is critical."""
    return bool(expected.security_definer or actual.security_definer)


def compare_view(expected: View, actual: View) -> Verdict:
    changed: list[str] = []
    widened: list[str] = []
    narrowed: list[str] = []
    if expected.materialized != actual.materialized:
        changed.append("materialized")
    if expected.definition is not None and not normalize.same_view(
        expected.definition, actual.definition
    ):
        changed.append("definition")
    for field in ("security_invoker", "security_barrier"):
        if getattr(expected, field) != getattr(actual, field):
            # Without them the view reads as its owner, or leaks through a leaky function.
            (narrowed if getattr(actual, field) else widened).append(field)
    if (expected.check_option or "") != (actual.check_option or ""):
        (narrowed if actual.check_option else widened).append("check_option")
    critical = "security_invoker" in widened and _bypasses_rls_for_api(actual)
    return verdict(changed, widened, narrowed, critical)


def _bypasses_rls_for_api(view: View) -> bool:
    """The view reads a table with RLS as its owner, and the API roles may read the view."""
    return bool(view.rls_tables) and not view.security_invoker and api_can(view.grants, "SELECT")


def unexpected_view(view: View) -> Severity:
    return Severity.CRITICAL if _bypasses_rls_for_api(view) else Severity.WARNING
