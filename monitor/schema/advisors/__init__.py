"""Advisors: what a reviewer would flag in a database, whatever the spec says.

Drift answers "is the database what the migrations say?"; advisors answer "is
what they say safe and fast?". Each rule is a pure function of the same
:class:`State` the drift check compares (the live snapshot, or a spec), so an
advisor costs no catalog statement of its own. Rule ids and levels follow
Supabase's database linter (splinter), so a finding here reads the same as in
Supabase's dashboard (:mod:`.splinter` maps its lints to these rules);
docs/advisors.md lists every rule with its reasoning.

Levels: ``error`` (data is exposed or protection is silently off), ``warning``
(risky or slow, to fix soon), ``info`` (worth a look; sometimes deliberate).
Advisories never fail a check unless asked (``--fail-on-advisory LEVEL``).

The rules live by area: :mod:`.rls` (row level security and policies),
:mod:`.indexes` (keys and indexes), :mod:`.security` (functions, views, keys to
the platform, column types), :mod:`.exposure` (what the API serves, extensions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from monitor.schema.advisors import exposure, indexes, rls, security
from monitor.schema.advisors.base import (
    LEVEL_RANK,
    SUPABASE_EXPOSED_SCHEMAS,
    UNUSED_INDEX_AFTER_SECONDS,
    Advisory,
    Category,
    Context,
    IndexActivity,
    Level,
    Rule,
    Settings,
)
from monitor.schema.model import State

__all__ = [
    "LEVEL_RANK",
    "RULES",
    "SUPABASE_EXPOSED_SCHEMAS",
    "UNUSED_INDEX_AFTER_SECONDS",
    "Advisory",
    "Category",
    "IndexActivity",
    "Level",
    "Rule",
    "Settings",
    "evaluate",
]

RULES: dict[str, Rule] = {
    rule.id: rule for rule in (*rls.RULES, *indexes.RULES, *security.RULES, *exposure.RULES)
}

# Rules of one schema at a time.
_CHECKS: tuple[Callable[[Context], Iterable[Advisory]], ...] = (
    *rls.CHECKS,
    *indexes.CHECKS,
    *security.CHECKS,
    *exposure.CHECKS,
)


_EVERY_RULE = Settings()


def evaluate(
    state: State, settings: Settings = _EVERY_RULE, activity: IndexActivity | None = None
) -> tuple[Advisory, ...]:
    """Every advisory on `state`, worst first. `activity` (daemon only) enables unused_index."""
    if not settings.enabled:
        return ()
    found: list[Advisory] = []
    for schema in state.schemas:
        exposed = schema.name in settings.exposed_schemas
        context = Context(schema, exposed, settings, activity, state)
        for check in _CHECKS:
            found.extend(check(context))
    found.extend(exposure.extension_advisories(state.extensions or ()))
    found.extend(
        exposure.insecure_queue_exposed_in_api(state.queues or (), settings.exposed_schemas)
    )
    kept = {a for a in found if not settings.ignores(a)}
    return tuple(sorted(kept, key=_sort_key))


def _sort_key(advisory: Advisory) -> tuple[int, str, str, str, str]:
    return (
        -LEVEL_RANK[advisory.level],
        advisory.schema,
        advisory.table or "",
        advisory.rule,
        advisory.object,
    )
