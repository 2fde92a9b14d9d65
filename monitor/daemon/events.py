"""Structured logs: JSON for machines, console for people, passwords for nobody.

The daemon logs state changes, not cycles: a database that stays down for a
day produces one `database_unreachable` line and one `database_recovered`
line. :class:`Events` remembers the last state per target and decides.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

from monitor.postgres import db
from monitor.schema.model import Finding, FindingKey, Severity, finding_key

# A password in a libpq URI (scheme://user:PASSWORD@host) or key=value string. The
# password runs to the last "@" of the word: it may hold "@", "/" or ":" unencoded.
_URI_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)(\S*)(@)")
_KEYWORD_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'\"]+)", re.IGNORECASE)
# Registered secrets shorter than this are too likely to match innocent text.
_MIN_SECRET_LENGTH = 4

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_dsn(dsn: str) -> None:
    """Remember a DSN's passwords so they are masked even where no pattern would spot them."""
    found = [s for s in db.secrets(dsn) if len(s) >= _MIN_SECRET_LENGTH]
    with _secrets_lock:
        _secrets.update(found)


def redact_text(text: str) -> str:
    """The text with every DSN password replaced by `***`."""
    text = _URI_PASSWORD.sub(r"\1***\3", text)
    text = _KEYWORD_PASSWORD.sub(r"\1***", text)
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(v) for v in value)
    if isinstance(value, BaseException):
        return redact_text(str(value))
    return value


def redact_passwords(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: masks passwords in every value of every event, tracebacks included."""
    for key, value in event_dict.items():
        event_dict[key] = _redact_value(value)
    return event_dict


def configure(
    log_format: str = "auto", stream: TextIO | None = None, *, level: str = "info"
) -> None:
    """Route structlog and the standard library's logging through one redacting renderer.

    `auto` renders for a console when the stream is a terminal, JSON lines otherwise;
    `level` is debug, info, warn or error (postgres_exporter's --log.level).
    """
    stream = stream if stream is not None else sys.stderr
    is_tty = stream.isatty()
    as_json = log_format == "json" or (log_format == "auto" and not is_tty)
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=is_tty)
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,  # below the level: dropped before any work
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_passwords,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING if level == "warn" else getattr(logging, level.upper()))
    # The scheduler logs every run at INFO; the daemon reports what matters itself
    # (misfires once, failures as check_failed), so only its errors get through.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


def get_logger(**context: Any) -> Any:
    return structlog.get_logger("schema-monitor", **context)


_UNKNOWN = object()


class Events:
    """Logs one event per state change of each target, never one per cycle."""

    def __init__(self, logger: Any | None = None) -> None:
        self._log = logger if logger is not None else get_logger()
        self._states: dict[tuple[str, str], object] = {}
        self._findings: dict[str, dict[FindingKey, Finding]] = {}
        self._lock = threading.Lock()

    def _swap(self, key: tuple[str, str], value: object) -> object:
        with self._lock:
            previous = self._states.get(key, _UNKNOWN)
            self._states[key] = value
            return previous

    def reachability(self, target: str, reachable: bool, error: str | None = None) -> None:
        """database_unreachable on the first failure (also at start), database_recovered after."""
        previous = self._swap((target, "reachable"), reachable)
        if previous == reachable:
            return
        if not reachable:
            self._log.error("database_unreachable", target=target, error=error)
        elif previous is False:
            self._log.info("database_recovered", target=target)

    def check_outcome(self, target: str, check: str, ok: bool, error: str | None = None) -> None:
        """check_failed when a check starts failing, check_recovered when it passes again."""
        previous = self._swap((target, f"check:{check}"), ok)
        if previous == ok:
            return
        if not ok:
            self._log.error("check_failed", target=target, check=check, error=error)
        elif previous is False:
            self._log.info("check_recovered", target=target, check=check)

    def findings(self, target: str, findings: Iterable[Finding]) -> None:
        """drift_detected for each finding not seen last cycle, drift_resolved for each gone."""
        current = {finding_key(f): f for f in findings}
        with self._lock:
            previous = self._findings.get(target, {})
            self._findings[target] = current
        for key, finding in current.items():
            if key not in previous:
                level = "error" if finding.severity is Severity.CRITICAL else "warning"
                getattr(self._log, level)("drift_detected", target=target, **finding.as_event())
        for key, finding in previous.items():
            if key not in current:
                self._log.info("drift_resolved", target=target, **finding.as_event())

    def once(self, target: str, key: str, event: str, **fields: Any) -> bool:
        """Log `event` the first time `key` happens (until :meth:`rearm`); says whether it did."""
        if self._swap((target, f"once:{key}"), True) is True:
            return False
        self._log.warning(event, target=target, **fields)
        return True

    def rearm(self, target: str, key: str) -> None:
        self._swap((target, f"once:{key}"), False)

    def forget(self, target: str) -> None:
        """Drop a target removed by a reload, so a later one of the same name starts fresh."""
        with self._lock:
            self._states = {k: v for k, v in self._states.items() if k[0] != target}
            self._findings.pop(target, None)
