"""The values of the daemon's config: durations, addresses, names, files, choices.

Read methods of :class:`ConfigValues` take ``(node, where)`` and give None (the
problem recorded at the node's path) for what they refuse; :mod:`.config`
reads the sections with them.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from msgspec import Struct

from monitor.documents import yamldoc
from monitor.documents.reader import Reader, keys_of, refused_of
from monitor.errors import Problem

T = TypeVar("T")

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_LISTEN_ADDRESS = re.compile(
    r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]]*)):(?P<port>\d{1,5})"
)


def parse_listen_address(text: str) -> tuple[str, int] | None:
    """("host", port) from "host:port", "[::1]:port" or ":port"; None when malformed."""
    match = _LISTEN_ADDRESS.fullmatch(text)
    if match is None or int(match["port"]) > 65535:
        return None
    host = match["ipv6"] if match["ipv6"] is not None else match["host"]
    return host or "0.0.0.0", int(match["port"])


def parse_duration(text: str) -> float | None:
    """Seconds from "60s", "5m", "48h", "1h30m", "200ms", "2d"; None when malformed."""
    text = text.strip()
    if not text or _DURATION_PART.sub("", text):
        return None
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long, a NUL in it...
        return False


class ConfigValues(Reader):
    """The values of a config: durations, names, files, choices; each read method takes
    ``(node, where)`` and gives None (the problem recorded) for what it refuses."""

    def __init__(
        self, filename: str, root: Any, base_dir: Path, environ: Mapping[str, str]
    ) -> None:
        super().__init__(filename, root)
        self.base_dir = base_dir
        self.environ = environ
        self.targets_file_problems: list[Problem] = []  # with that file's name and lines

    def section(
        self,
        node: Any | None,
        where: str,
        default: T,
        read: Callable[[Any, str, T], T],
    ) -> T:
        return default if node is None else read(node, where, default)

    def optional(
        self,
        node: Any | None,
        where: str,
        read: Callable[[Any, str], T | None],
        default: T,
    ) -> T:
        if node is None:
            return default
        value = read(node, where)
        return default if value is None else value

    def mapping(self, node: Any, where: str, doc: type[Struct]) -> Mapping[str, Any] | None:
        """The mapping's keys and values; unknown, duplicate, missing and refused keys
        (:data:`~monitor.documents.reader.Refused`) are problems."""
        if not isinstance(node, dict):
            self.problem(node, f"{where}: expected a mapping")
            return None
        refused = refused_of(doc)
        expected = ", ".join(key for key in keys_of(doc) if key not in refused)
        keys = self.fields(
            node,
            where,
            doc,
            unknown=lambda key: f"unknown key {key!r} (expected one of: {expected})",
        )
        for key in refused:
            if key in keys:
                self.refuse(node, key, f"{where}.{key}: not supported by schema-monitor")
        return keys

    def refuse(self, node: Any, key: str, message: str) -> None:
        """A problem at ``key`` of the mapping ``node`` (found by the mapping: a value such
        as ``true`` is one object wherever it is written)."""
        self.report((*self.where(node)[0], key), message, key=True)

    def scalar_text(self, node: Any, where: str, what: str) -> str | None:
        """A scalar's text as written, whatever YAML reads it as; None (reported) otherwise."""
        if isinstance(node, dict | list) or node is None:
            self.problem(node, f"{where}: expected {what}")
            return None
        return str(node)

    def boolean(self, node: Any, where: str) -> bool | None:
        value = self.scalar_text(node, where, "true or false")
        if value is None:
            return None
        if value.lower() not in ("true", "false"):
            hint = yamldoc.boolean_hint(value)
            self.problem(node, f"{where}: expected true or false, got {value!r}{hint}")
            return None
        return value.lower() == "true"

    def string(self, node: Any | None, where: str) -> str | None:
        if node is None:
            return None
        value = self.scalar_text(node, where, "a string")
        if value is not None and not value.strip():
            self.problem(node, f"{where}: must not be empty")
            return None
        return value

    def strings(self, node: Any, where: str) -> tuple[str, ...] | None:
        if not isinstance(node, list) or not node:
            self.problem(node, f"{where}: expected a non-empty list of strings")
            return None
        values = [self.string(item, f"{where}[{i}]") for i, item in enumerate(node)]
        clean = tuple(v for v in values if v is not None)
        return clean if len(clean) == len(values) else None

    def count(self, node: Any, where: str, minimum: int) -> int | None:
        if node is None:
            return None
        value = node if type(node) is int else None
        if value is None:
            self.problem(node, f"{where}: expected an integer")
            return None
        if value < minimum:
            self.problem(node, f"{where}: must be at least {minimum}")
            return None
        return value

    def duration(self, node: Any, where: str) -> float | None:
        text = self.scalar_text(node, where, "a duration such as 60s, 5m or 48h")
        if text is None:
            return None
        seconds = parse_duration(text)
        if seconds is None or not math.isfinite(seconds):
            hint = " (a unit is required)" if text.strip().replace(".", "", 1).isdigit() else ""
            self.problem(node, f"{where}: {text!r} is not a duration such as 60s, 5m or 48h{hint}")
            return None
        if seconds <= 0:
            self.problem(node, f"{where}: must be longer than zero")
            return None
        return seconds

    def ratio(self, node: Any, where: str) -> float | None:
        """A number of at least 1, such as 1.5."""
        text = self.scalar_text(node, where, "a ratio such as 1.5")
        if text is None:
            return None
        value = float(text) if _NUMBER.fullmatch(text) else math.nan
        if not math.isfinite(value) or value < 1:
            self.problem(
                node, f"{where}: expected a ratio of at least 1, such as 1.5; got {text!r}"
            )
            return None
        return value

    def one_of(self, node: Any, where: str, choices: tuple[str, ...]) -> str | None:
        value = self.scalar_text(node, where, f"one of {', '.join(choices)}")
        if value is not None and value not in choices:
            self.problem(node, f"{where}: {value!r} is not one of {', '.join(choices)}")
            return None
        return value

    def listen_address(self, node: Any, where: str) -> str | None:
        value = self.scalar_text(node, where, "HOST:PORT")
        if value is not None and parse_listen_address(value) is None:
            self.problem(node, f"{where}: {value!r} is not HOST:PORT (e.g. 0.0.0.0:9568)")
            return None
        return value

    def resolve(self, text: str) -> Path:
        """Relative paths are relative to the config file, not to wherever the daemon started."""
        path = Path(text)
        with contextlib.suppress(RuntimeError):  # `~user` of a user unknown here
            path = path.expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def path(self, node: Any, where: str) -> Path | None:
        text = self.string(node, where)
        return self.resolve(text) if text is not None else None

    def readable_file(self, node: Any | None, where: str) -> Path | None:
        if node is None:
            return None
        path = self.path(node, where)
        if path is not None and not _is_file(path):
            self.problem(node, f"{where}: file not found: {path}")
            return None
        return path
