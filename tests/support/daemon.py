"""The daemon in this process: a config for one test database, started, scraped, stopped."""

from __future__ import annotations

import threading
from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from monitor.clock import SYSTEM_CLOCK, Clock
from monitor.daemon import runner as daemon
from tests.support.exposition import Samples, parse
from tests.support.paths import SPEC
from tests.support.waiting import fetch, wait_until


def write_config(
    directory: Path,
    dsn: str,
    *,
    extra: str = "",
    name: str = "app",
    listen: str = "127.0.0.1:0",
    intervals: str = "{drift: 1s, stats: 1s}",
    spec: Path = SPEC,
    timeouts: str | None = "{lock: 200ms, statement: 800ms, connect: 2s}",
) -> Path:
    """A config for one target; ``timeouts=None`` leaves the daemon's defaults."""
    path = directory / "monitor.yaml"
    path.write_text(
        f"""\
version: 1
state_dir: {directory / "state"}
log_format: json
web: {{listen_address: "{listen}"}}
intervals: {intervals}
{f"timeouts: {timeouts}" if timeouts is not None else ""}
reconnect: {{initial_delay: 200ms, max_delay: 1s}}
{extra}
targets:
  - name: {name}
    dsn: "{dsn}"
    spec: {spec}
"""
    )
    return path


class Running:
    """A daemon started in this process, serving on a free port, with its own serve() thread."""

    def __init__(self, config_path: Path, clock: Clock) -> None:
        config, specs = daemon.load(config_path)
        self.config_path = config_path
        self.daemon = daemon.Daemon(config, specs, clock=clock)
        self.daemon.start()
        self.exit_code: int | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.exit_code = self.daemon.serve()

    @property
    def url(self) -> str:
        url = self.daemon.url
        assert url is not None
        return url

    def scrape(self) -> Samples:
        status, text = fetch(f"{self.url}/metrics")
        assert status == 200
        return parse(text)

    def value(self, name: str, **labels: str) -> float | None:
        labels.setdefault("target", "app")
        return self.scrape().get((f"schema_monitor_{name}", frozenset(labels.items())))

    def present(self, kind: str, relname: str, name: str) -> float | None:
        return self.value(
            "expected_object_present", kind=kind, schemaname="public", relname=relname, object=name
        )

    def wait_ready(self) -> None:
        wait_until(
            lambda: (
                self.value("check_success", check="drift") == 1
                and self.value("check_success", check="stats") == 1
            ),
            what="both checks succeed",
        )

    def stop(self) -> None:
        self.daemon.request_stop()
        self._thread.join(timeout=10)
        assert not self._thread.is_alive()

    def finished(self) -> bool:
        return not self._thread.is_alive()


@contextmanager
def running(config_path: Path, clock: Clock = SYSTEM_CLOCK) -> Iterator[Running]:
    started = Running(config_path, clock)
    try:
        yield started
    finally:
        if not started.finished():
            started.stop()


def dbname(dsn: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(dsn)["dbname"])


def events_named(
    logs: Sequence[MutableMapping[str, Any]], event: str
) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == event]
