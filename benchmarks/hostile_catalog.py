"""The sidecar's documented limits against a hostile catalog: prints figures, asserts nothing.

Builds, in a scratch database, 100,000 row level security policies (on 100
tables) and one function whose body is 50 MB, writes a spec of that catalog,
then runs each of these in a cgroup that holds the sidecar's limits (200m CPU,
256 MiB: ``cpu.max "20000 100000"`` and ``memory.max 256M`` on cgroup v2, or
``cpu.cfs_quota_us``/``cpu.cfs_period_us`` and ``memory.limit_in_bytes`` on
v1; a child of the benchmark's own cgroup, removed at the end):

- ``schema-monitor run --once``: exit code, peak RSS, killed or not;
- ``schema-monitor run`` for a few drift cycles: ``up``, ``check_success``
  and the cap's finding as /metrics shows them, peak RSS;
- ``schema-monitor check --format json``: exit code, peak RSS, output bytes;

and beside them the floors of the same run: the peak RSS of the interpreter
importing the monitor and doing nothing, and the time psql takes to ask the
server what the capped catalog read asks (the body's MD5, the objects'
counts). Without a writable cgroup it says so and runs unconfined.

    python benchmarks/hostile_catalog.py [--policies 100000] [--body-mb 50] [--cycles 3]

Without ``--dsn`` it uses MONITOR_TEST_DSN, else an embedded pgserver.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.postgres import catalog, db
from monitor.schema import spec
from tests.support.daemon import write_config
from tests.support.exposition import parse, value
from tests.support.postgres import server
from tests.support.waiting import fetch, free_port, http_get

CPU_QUOTA = (20_000, 100_000)  # 200m: 20 ms of CPU every 100 ms
MEMORY_BYTES = 256 * 1024 * 1024
TABLES = 100


# --- the cgroup ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Cgroup:
    """Child cgroups of this process's own, one per controller (v1) or one (v2)."""

    directories: tuple[Path, ...]

    def enter(self) -> None:
        """In the child, before exec: move this process into the limited cgroups."""
        for directory in self.directories:
            (directory / "cgroup.procs").write_text("0\n")


def _own_cgroup(controller: str) -> Path | None:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return Path("/sys/fs/cgroup", controller, path.lstrip("/"))
        if controllers == "" and controller == "unified":
            return Path("/sys/fs/cgroup", path.lstrip("/"))
    return None


@contextlib.contextmanager
def limited() -> Iterator[Cgroup | None]:
    """The sidecar's limits as a cgroup; None (the reason printed) where none can be made."""
    name = f"schema-monitor-bench-{os.getpid()}"
    made: list[Path] = []
    try:
        unified = _own_cgroup("unified")
        if (
            unified is not None
            and (unified / "cgroup.controllers").exists()
            and ({"cpu", "memory"} <= set((unified / "cgroup.controllers").read_text().split()))
        ):
            group = unified / name
            group.mkdir()
            made.append(group)
            (group / "cpu.max").write_text(f"{CPU_QUOTA[0]} {CPU_QUOTA[1]}\n")
            (group / "memory.max").write_text(f"{MEMORY_BYTES}\n")
            (group / "memory.swap.max").write_text("0\n")
        else:
            cpu, memory = _own_cgroup("cpu"), _own_cgroup("memory")
            if cpu is None or memory is None:
                raise OSError("no cpu or memory cgroup controller")
            for parent in (cpu, memory):
                made.append(parent / name)
                (parent / name).mkdir()
            (cpu / name / "cpu.cfs_period_us").write_text(f"{CPU_QUOTA[1]}\n")
            (cpu / name / "cpu.cfs_quota_us").write_text(f"{CPU_QUOTA[0]}\n")
            (memory / name / "memory.limit_in_bytes").write_text(f"{MEMORY_BYTES}\n")
            with contextlib.suppress(OSError):  # without swap accounting there is no such file
                (memory / name / "memory.memsw.limit_in_bytes").write_text(f"{MEMORY_BYTES}\n")
        print(f"cgroup: {', '.join(str(p) for p in made)} (200m CPU, 256 MiB)")
        yield Cgroup(tuple(made))
    except OSError as exc:
        print(f"cgroup: none ({exc}); the runs below are NOT limited")
        yield None
    finally:
        for directory in reversed(made):
            with contextlib.suppress(OSError):
                directory.rmdir()


# --- the hostile catalog ---------------------------------------------------------------------


def build(dsn: str, policies: int, body_mb: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        for n in range(TABLES):
            conn.execute(
                f"CREATE TABLE public.t{n} (id bigint PRIMARY KEY, owner text);"
                f" ALTER TABLE public.t{n} ENABLE ROW LEVEL SECURITY"
            )
        per_table = -(-policies // TABLES)
        for n in range(TABLES):
            count = min(per_table, policies - n * per_table)
            statement = f"CREATE POLICY p%s ON public.t{n} USING (owner = current_user OR id > %s)"
            conn.execute(
                f"DO $$ BEGIN FOR i IN 1..{count} LOOP EXECUTE format('{statement}', i, i);"
                " END LOOP; END $$"
            )
        conn.execute(
            "DO $$ BEGIN EXECUTE 'CREATE FUNCTION public.big() RETURNS int LANGUAGE sql AS '"
            f" || quote_literal('SELECT 1; -- ' || repeat('x', {body_mb} * 1024 * 1024)); END $$"
        )
    return time.perf_counter() - started


def write_spec(dsn: str, directory: Path) -> Path:
    """The catalog as the monitor reads it (policies over the cap: not in the spec)."""
    with db.connect(dsn) as conn:
        snap = catalog.snapshot(conn, ["public"], None)
    path = directory / "spec.yaml"
    path.write_text(spec.dumps(snap.state))
    return path


# --- runs ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    exit_code: int
    peak_rss_mb: float
    seconds: float
    output: bytes = b""

    @property
    def killed(self) -> bool:
        return self.exit_code == -signal.SIGKILL


def monitor(*args: str) -> list[str]:
    return [sys.executable, "-m", "monitor", *args]


def run(command: Sequence[str], group: Cgroup | None, timeout: float = 1800) -> Outcome:
    """`command` to its end in the cgroup: exit code, its own peak RSS (wait4), stdout."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.DEVNULL,
            preexec_fn=group.enter if group is not None else None,
        )
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
            time.sleep(0.05)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    return Outcome(
        process.returncode, usage.ru_maxrss / 1024, time.perf_counter() - started, output
    )


def serve(config: Path, port: int, group: Cgroup | None, seconds: float) -> dict[str, Any]:
    """The daemon for `seconds`; what /metrics said at the end, its peak RSS."""
    url = f"http://127.0.0.1:{port}/metrics"
    process = subprocess.Popen(
        monitor("run", "--config", str(config)),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=group.enter if group is not None else None,
    )
    seen: dict[str, Any] = {"up": None, "drift_success": None, "policies_over_cap": None}
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(2)
            if http_get(url, timeout=5) is None:
                continue
            samples = parse(fetch(url)[1])
            seen = {
                "up": value(samples, "up", target="hostile"),
                "drift_success": value(samples, "check_success", target="hostile", check="drift"),
                "policies_over_cap": value(
                    samples,
                    "drift_objects",
                    target="hostile",
                    kind="policy",
                    change="invalid",
                    severity="warning",
                ),
            }
        alive = process.poll() is None
        peak = _vm_hwm_mb(process.pid) if alive else None
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        _, status, usage = os.wait4(process.pid, 0)
    return {
        **seen,
        "alive_at_end": alive,
        "exit_code": os.waitstatus_to_exitcode(status),
        "peak_rss_mb": peak if peak is not None else usage.ru_maxrss / 1024,
    }


def _vm_hwm_mb(pid: int) -> float | None:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def floors(dsn: str, group: Cgroup | None) -> dict[str, float]:
    """The interpreter with the monitor imported, doing nothing; psql asking what the capped
    read asks of the big objects."""
    idle = run([sys.executable, "-c", "import monitor.cli, monitor.daemon.runner"], group)
    query = (
        "SELECT md5(prosrc), octet_length(prosrc) FROM pg_proc WHERE proname = 'big';"
        " SELECT count(*) FROM pg_policy;"
    )
    started = time.perf_counter()
    subprocess.run(["psql", dsn, "-qAt", "-c", query], check=True, stdout=subprocess.DEVNULL)
    return {"import_rss_mb": idle.peak_rss_mb, "psql_seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--policies", type=int, default=100_000)
    parser.add_argument("--body-mb", type=int, default=50)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--interval", type=int, default=30, help="drift and stats, seconds")
    parser.add_argument("--dsn", default=os.environ.get("MONITOR_TEST_DSN"))
    args = parser.parse_args()
    with server(args.dsn) as admin, tempfile.TemporaryDirectory() as scratch:
        name = f"sm_hostile_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        dsn = psycopg.conninfo.make_conninfo(admin, dbname=name)
        try:
            built = build(dsn, args.policies, args.body_mb)
            print(f"catalog: {args.policies:,} policies, a {args.body_mb} MB body ({built:.0f} s)")
            directory = Path(scratch)
            spec_path = write_spec(dsn, directory)
            port = free_port()
            config = write_config(
                directory,
                dsn,
                name="hostile",
                listen=f"127.0.0.1:{port}",
                intervals=f"{{drift: {args.interval}s, stats: {args.interval}s}}",
                spec=spec_path,
                timeouts=None,  # the daemon's own
            )
            with limited() as group:
                floor = floors(dsn, group)
                once = run(monitor("run", "--config", str(config), "--once"), group)
                served = serve(config, port, group, args.cycles * args.interval + 30)
                checked = run(
                    monitor("check", "--spec", str(spec_path), "--dsn", dsn, "--format", "json"),
                    group,
                )
            report(floor, once, served, checked, args.interval)
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def report(
    floor: dict[str, float],
    once: Outcome,
    served: dict[str, Any],
    checked: Outcome,
    interval: int,
) -> None:
    def outcome(result: Outcome) -> str:
        return "OOM-killed" if result.killed else f"exit {result.exit_code}"

    print(
        f"floor: interpreter + imports {floor['import_rss_mb']:.0f} MB peak RSS; psql asking"
        f" for the body's MD5 and the policy count {floor['psql_seconds']:.2f} s"
    )
    print(f"run --once: {outcome(once)}, peak RSS {once.peak_rss_mb:.0f} MB,"
          f" {once.seconds:.1f} s")  # fmt: skip
    print(
        f"run ({interval} s intervals): alive {served['alive_at_end']}, up {served['up']},"
        f" drift check_success {served['drift_success']}, policies over the cap"
        f" {served['policies_over_cap']}, peak RSS {served['peak_rss_mb']:.0f} MB"
    )
    answer: dict[str, Any] = {}
    with contextlib.suppress(ValueError):
        answer = json.loads(checked.output)
    print(
        f"check --format json: {outcome(checked)}, peak RSS {checked.peak_rss_mb:.0f} MB,"
        f" {len(checked.output) / 1024:.0f} kB of JSON, {checked.seconds:.1f} s;"
        f" notes: {answer.get('notes')}"
    )


if __name__ == "__main__":
    main()
