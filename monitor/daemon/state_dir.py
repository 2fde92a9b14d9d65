"""The daemon's state_dir: writable, and held by one daemon at a time.

Two daemons on one state_dir would write the same window files over each
other; the second one to start is refused, naming the first (pid and host,
as written in the lock file). The lock is an exclusive ``flock`` on
``state_dir/.lock``, released by the kernel when its holder exits, however it
exits: a stale lock file left by a killed daemon never blocks the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from monitor.errors import MonitorError

LOCK_FILE = ".lock"


def prepare(state_dir: Path) -> None:
    """Create `state_dir` if needed and prove it writable, or say why not."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        probe = state_dir / ".writable"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise MonitorError(f"state_dir {state_dir} is not writable: {exc.strerror}") from None


@contextlib.contextmanager
def held(state_dir: Path) -> Iterator[None]:
    """Hold `state_dir` for the duration; MonitorError (exit 2) naming the holder if taken."""
    path = state_dir / LOCK_FILE
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise MonitorError(f"state_dir {state_dir}: cannot open {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 200, 0).decode(errors="replace").strip()
            raise MonitorError(
                f"state_dir {state_dir} is in use by another schema-monitor daemon"
                f" ({holder or 'holder unknown'}; lock file {path}):"
                " give each daemon a state_dir of its own"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"pid {os.getpid()} on host {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)  # releases the lock
