"""Fix SQL: the statements that bring a drifted database back to what the spec says.

Pure: each fix is computed from the finding and the spec's expected object,
never from the database, so the script can be reviewed (and kept with the
incident) before anyone runs it. :mod:`plan` orders every finding's
statements by what they need; :mod:`script` writes them in phases so that
running it hurts as little as possible:

0. enum labels, in a transaction of their own (a label is usable once committed);
1. one transaction for what is quick and transactional (tables, columns, RLS,
   policies, triggers, views), under a ``lock_timeout`` so that a queued lock
   never stalls the traffic behind it;
2. index builds and drops ``CONCURRENTLY``, each on its own (they refuse a
   transaction block), allowed to wait for running transactions since they
   block no reads or writes while they do;
3. one transaction for constraints (a unique or primary key one adopts the
   index built in step 2), index renames, drops, and what relies on them;
4. ``VALIDATE CONSTRAINT`` one by one: a full scan under a lock that lets
   reads and writes through (constraints are added ``NOT VALID`` in step 3).

Every statement is classed safe, locking, or able to lose or change data;
those that may lose data are written commented out unless asked otherwise,
and a narrowing type change is written so that it fails rather than truncates.
"""

from monitor.schema.repair.definitions import (
    column_definition,
    constraint_definition,
    function_definition,
    index_definition,
    policy_definition,
    trigger_definition,
)
from monitor.schema.repair.fixes import fix
from monitor.schema.repair.plan import NARROWED_NOTE, Options, Plan, plan
from monitor.schema.repair.script import script
from monitor.schema.repair.statements import (
    DEFAULT_LOCK_TIMEOUT,
    Fix,
    Phase,
    Safety,
    Statement,
    comment,
)

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "NARROWED_NOTE",
    "Fix",
    "Options",
    "Phase",
    "Plan",
    "Safety",
    "Statement",
    "column_definition",
    "comment",
    "constraint_definition",
    "fix",
    "function_definition",
    "index_definition",
    "plan",
    "policy_definition",
    "script",
    "trigger_definition",
]
