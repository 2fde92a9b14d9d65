"""Reading a repair script the way psql runs it."""

from __future__ import annotations

import re

# The choice the script leaves to psql (see monitor/schema/repair/script.py): a SELECT that
# sets a variable, then \if (the statement for a partitioned table) \else (for a plain one).
_CHOICE = re.compile(
    r"SELECT coalesce\(.*? AS schema_monitor_instead \\gset\n"
    r"\\if :schema_monitor_instead\n.*?\n\\else\n(?P<plain>.*?)\n\\endif\n",
    re.DOTALL,
)


def on_plain_tables(script: str) -> str:
    """The SQL psql runs from `script` where no table is partitioned: of each choice the
    ``\\else`` branch, without the psql lines and the SELECT that sets it."""
    return _CHOICE.sub(lambda match: match["plain"] + "\n", script)
