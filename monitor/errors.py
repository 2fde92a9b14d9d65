"""Exit codes and a small error hierarchy. The CLI turns any error into one clear line and
exit 2."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Every command's exit code: `check`, `run --once`, `report` and `spec` alike."""

    OK = 0  # no drift, the window passed, the file was written
    DRIFT = 1  # drift found at or above --fail-on, or a window criterion failed
    ERROR = 2  # usage, config, spec, migration or connection error
    INTERRUPTED = 130  # Ctrl-C
    BROKEN_PIPE = 141  # the reader of stdout went away (`| head`), as a SIGPIPE exit says


class MonitorError(Exception):
    """Base for every error the CLI reports without a traceback."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in an input file, located as precisely as we can."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}"


class InputError(MonitorError):
    """A spec or config file with one or more problems; all are listed at once."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        what = "problem" if len(problems) == 1 else "problems"
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{len(problems)} {what}:\n{lines}")


class ConnectionFailed(MonitorError):
    """The database could not be reached or refused us; the message never holds a password."""


class CatalogError(MonitorError):
    """A catalog query failed (timeout, unknown schema, permission)."""


class MigrationFailed(MonitorError):
    """A migration file failed to apply during `spec build`."""

    def __init__(self, file: str, line: int | None, server_message: str) -> None:
        self.file = file
        self.line = line
        self.server_message = server_message
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"migration failed at {where}: {server_message}")
