"""Sqitch projects: ``sqitch.plan`` read as Sqitch reads it (the plan read as the migrations
are: a regular file inside the project, of a bounded size).

A plan holds ``%name=value`` pragmas, change lines
(``name [dependencies] timestamp planner <email> # note``), tag lines
(``@tag timestamp planner <email> # note``) and blank or ``#`` comment
lines. Changes deploy in plan order from ``deploy/<name>.sql``; a change
reworked after a tag appears again, and its earlier appearance deploys from
``deploy/<name>@<tag>.sql``, the first tag after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from monitor.documents import files
from monitor.errors import InputError, Problem

SQITCH_PLAN = "sqitch.plan"
_MAX_PLAN_BYTES = 16 * 1024 * 1024

_NAME = r"[^\s@:#\[\]]+"
_CHANGE = re.compile(rf"^(?P<name>{_NAME})(?:\s+\[(?P<requires>[^\]]*)\])?(?:\s|$)")
_TAG = re.compile(rf"^@(?P<name>{_NAME})(?:\s|$)")


@dataclass(frozen=True, slots=True)
class Change:
    name: str  # as the registry records it (sqitch.changes.change)
    stamp: str  # the provenance stamp: the name, with @tag for a reworked change's earlier script
    script: Path
    requires: tuple[str, ...]


def scripts(directory: Path) -> list[Path]:
    """The deploy scripts, in byte order of their names."""
    deploy = directory / "deploy"
    if not deploy.is_dir():
        return []
    return sorted(deploy.glob("*.sql"), key=lambda p: p.name.encode())


def changes(directory: Path, problems: list[Problem]) -> list[Change]:
    """The plan's changes in deploy order; an unreadable line or missing script a problem."""
    plan = directory / SQITCH_PLAN
    try:
        text = files.read_bytes(plan, "sqitch plan", _MAX_PLAN_BYTES, inside=directory).decode(
            "utf-8-sig"
        )
    except InputError as refused:
        problems.extend(refused.problems)
        return []
    except UnicodeDecodeError as exc:
        problems.append(Problem(str(plan), None, f"not UTF-8 text: {exc.reason}"))
        return []
    entries: list[tuple[str, tuple[str, ...], int]] = []  # (change name, requires, line)
    tags_after: dict[int, str] = {}  # index of a change -> the first tag that follows it
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "%")):
            continue
        if tag := _TAG.match(line):
            for index in range(len(entries) - 1, -1, -1):
                if index in tags_after:
                    break
                tags_after[index] = tag["name"]
            continue
        change = _CHANGE.match(line)
        if change is None:
            problems.append(Problem(SQITCH_PLAN, number, f"not a change or tag line: {line!r}"))
            continue
        requires = tuple((change["requires"] or "").split())
        entries.append((change["name"], requires, number))
    last = {name: index for index, (name, _, _) in enumerate(entries)}
    found = []
    for index, (name, requires, number) in enumerate(entries):
        stamp = name
        if last[name] != index:  # reworked later: this one's script carries the tag
            if index not in tags_after:
                problems.append(Problem(SQITCH_PLAN, number, f"{name} reworked without a tag"))
                continue
            stamp = f"{name}@{tags_after[index]}"
        script = directory / "deploy" / f"{stamp}.sql"
        if not script.is_file():
            problems.append(Problem(SQITCH_PLAN, number, f"no deploy script deploy/{stamp}.sql"))
            continue
        found.append(Change(name, stamp, script, requires))
    return found
