"""An embedded PostgreSQL (pgserver) in a temporary directory, for `demo` and `spec build`."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from monitor.errors import MonitorError


@contextmanager
def embedded_server() -> Iterator[str]:
    """Start a private PostgreSQL server; yield a superuser DSN; remove it all afterwards."""
    # pgserver asks platformdirs for a runtime directory on import; a container may have none.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = Path(tempfile.gettempdir()) / f"schema-monitor-runtime-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    # pgserver narrates every pg_ctl call at INFO; only its problems are ours to show.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    try:
        import pgserver
    except ImportError as exc:  # pragma: no cover - pgserver is a declared dependency
        raise MonitorError(f"embedded PostgreSQL is not available: {exc}") from None
    datadir = tempfile.mkdtemp(prefix="schema-monitor-pg-")
    try:
        server = pgserver.get_server(datadir, cleanup_mode="stop")
    except Exception as exc:
        shutil.rmtree(datadir, ignore_errors=True)
        raise MonitorError(f"cannot start the embedded PostgreSQL: {exc}") from None
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()
        shutil.rmtree(datadir, ignore_errors=True)
