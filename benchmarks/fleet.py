"""A fleet in one daemon: many databases of the examples' schema, one `schema-monitor run`.

It starts a private PostgreSQL of its own (the machine's installation, on a Unix
socket only, ``max_connections`` sized for the fleet: the daemon keeps one session
per target), deploys the example migrations into a template, creates the
targets' databases from it, lists them in a targets file and runs the daemon at
60 s intervals for two and a half intervals, scraping /metrics every half second
all along. It prints, beside each target:

- the time until every target is up (target: within one interval; the floor is
  the spread of the first runs, half the interval);
- checks skipped as misfired (``check_misfired`` events; target 0);
- /metrics latency, p50/p99/max, during the first interval and after (target:
  p99 under 100 ms), beside the same bytes served by a bare ThreadingHTTPServer;
- the daemon's resident memory, now and at its peak (target: at most 200 MB),
  beside a bare interpreter's;
- the sessions it holds and the series per target.

    python benchmarks/fleet.py [--targets 500] [--interval 60]

Nothing of the machine's own PostgreSQL is touched; the private cluster is
removed at the end.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from daemon_scale import STATIC_SERVER, percentiles, process_memory_mb

from monitor.daemon.fleet import SPREAD_SHARE
from monitor.postgres import migrations, scratch
from tests.support.waiting import free_port

EXAMPLES = ROOT / "examples" / "supabase" / "migrations"
SPEC = ROOT / "config" / "expected" / "phase3.yaml"
SCRAPE_EVERY_SECONDS = 0.5
# What Prometheus sends: the body comes gzipped.
PROMETHEUS_HEADERS = {"Accept-Encoding": "gzip", "Accept": "text/plain;version=0.0.4"}


@contextmanager
def private_cluster(max_connections: int) -> Iterator[Path]:
    """A throwaway cluster listening on a socket in its own directory; yields that directory."""
    install = scratch.choose(scratch.installations(embedded=False), None)
    directory = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
    uid, gid = (owner.pw_uid, owner.pw_gid) if owner else (None, None)  # never as root
    if owner:
        os.chown(directory, owner.pw_uid, owner.pw_gid)
    data = directory / "data"
    subprocess.run(
        [install.bindir / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync"],
        check=True, capture_output=True, user=uid, group=gid,
    )  # fmt: skip
    settings = {
        "listen_addresses": "",
        "max_connections": str(max_connections),
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "shared_buffers": "128MB",
    }
    command = [str(install.bindir / "postgres"), "-D", str(data), "-k", str(directory)]
    for name, value in settings.items():
        command += ["-c", f"{name}={value}"]
    log = (directory / "server.log").open("wb")
    server = subprocess.Popen(command, stdout=log, stderr=log, user=uid, group=gid)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(f"host={directory} user=postgres dbname=postgres").close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield directory
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
        shutil.rmtree(directory, ignore_errors=True)


def create_fleet(socket_dir: Path, count: int) -> list[str]:
    admin = f"host={socket_dir} user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CREATE DATABASE fleet_template")
    migrations.deploy(f"host={socket_dir} user=postgres dbname=fleet_template", EXAMPLES)
    names = [f"customer_{n:03d}" for n in range(count)]
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in names:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE fleet_template STRATEGY FILE_COPY")
    return names


def write_config(directory: Path, socket_dir: Path, names: list[str], interval: int) -> Path:
    targets = directory / "targets.json"
    targets.write_text(
        json.dumps(
            [
                {"name": name, "dsn": f"host={socket_dir} user=postgres dbname={name}",
                 "spec": str(SPEC)}
                for name in names
            ]
        )
    )  # fmt: skip
    config = directory / "monitor.yaml"
    config.write_text(
        f"version: 1\nstate_dir: {directory / 'state'}\nlog_format: json\n"
        f"targets_file: {targets}\nintervals: {{drift: {interval}s, stats: {interval}s}}\n"
        f'web: {{listen_address: "127.0.0.1:{free_port()}"}}\n'
    )
    return config


class Scraper(threading.Thread):
    """Scrapes /metrics every half second: (seconds since start, latency, targets up)."""

    def __init__(self, url: str, started: float) -> None:
        super().__init__(daemon=True)
        self.started = started
        self.request = urllib.request.Request(url, headers=PROMETHEUS_HEADERS)
        self.samples: list[tuple[float, float, int]] = []
        self.body = b""
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(SCRAPE_EVERY_SECONDS):
            began = time.perf_counter()
            try:
                with urllib.request.urlopen(self.request, timeout=30) as response:
                    compressed = response.read()
            except OSError:
                continue
            latency = time.perf_counter() - began
            body = gzip.decompress(compressed)
            up = sum(
                1
                for line in body.splitlines()
                if line.startswith(b"schema_monitor_up{") and line.endswith(b" 1.0")
            )
            self.body = body
            self.samples.append((time.monotonic() - self.started, latency, up))


@dataclass(frozen=True)
class Figures:
    all_up_s: float | None
    misfired: int
    failed: int
    first_interval: dict[str, float]
    after: dict[str, float] | None
    rss_mb: float
    peak_rss_mb: float
    sessions: int
    series_per_target: float
    body: bytes


def run_daemon(config: Path, admin: str, names: list[str], seconds: float) -> Figures:
    url = "http://" + config.read_text().split('listen_address: "', 1)[1].split('"', 1)[0]
    interval = seconds  # the first interval's end, for the split below
    log_path = config.parent / "daemon.log"
    with log_path.open("wb") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config", str(config)],
            stdout=log, stderr=log, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
    started = time.monotonic()
    scraper = Scraper(f"{url}/metrics", started)
    memory: list[tuple[float, float]] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/readyz", timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"the daemon did not start; see {log_path}") from None
                time.sleep(0.1)
        scraper.start()
        while time.monotonic() - started < RUN_INTERVALS * seconds:
            memory.append(process_memory_mb(daemon.pid))
            time.sleep(1)
        with psycopg.connect(admin, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'schema-monitor'"
            ).fetchone()
    finally:
        scraper.stop.set()
        scraper.join(timeout=30)
        daemon.terminate()
        daemon.wait(timeout=30)
    lines = log_path.read_text().splitlines()
    events = [json.loads(line) for line in lines if line.startswith("{")]
    first = [latency for t, latency, _ in scraper.samples if t <= interval]
    after = [latency for t, latency, _ in scraper.samples if t > interval]
    series = sum(1 for line in scraper.body.splitlines() if line.startswith(b"schema_monitor_"))
    return Figures(
        all_up_s=next((t for t, _, up in scraper.samples if up == len(names)), None),
        misfired=sum(1 for e in events if e.get("event") == "check_misfired"),
        failed=sum(1 for e in events if e.get("event") == "check_failed"),
        first_interval=percentiles(first),
        after=percentiles(after) if after else None,
        rss_mb=memory[-1][0],
        peak_rss_mb=max(peak for _, peak in memory),
        sessions=int(row[0]) if row else 0,
        series_per_target=series / len(names),
        body=scraper.body,
    )


def bare_server(body: bytes, directory: Path) -> dict[str, float]:
    """The same scraping (one client, one request after the other, gzip) of the same bytes
    from a ThreadingHTTPServer that holds them and does nothing else."""
    body_path = directory / "static-body"
    body_path.write_bytes(body)
    Path(f"{body_path}.gz").write_bytes(gzip.compress(body, mtime=0))  # the server reads both
    port = free_port()
    floor = subprocess.Popen([sys.executable, "-c", STATIC_SERVER, str(body_path), str(port)])
    latencies: list[float] = []
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 10
        while len(latencies) < 100:
            began = time.perf_counter()
            try:
                request = urllib.request.Request(url, headers=PROMETHEUS_HEADERS)
                with urllib.request.urlopen(request, timeout=5) as response:
                    response.read()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
                continue
            latencies.append(time.perf_counter() - began)
    finally:
        floor.terminate()
        floor.wait(timeout=10)
    return percentiles(latencies)


def bare_interpreter_mb() -> float:
    probe = subprocess.run(
        [sys.executable, "-c", "import psycopg, prometheus_client, apscheduler, structlog;"
         "print(open('/proc/self/status').read())"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    line = next(x for x in probe.stdout.splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def milliseconds(figures: dict[str, float]) -> str:
    return (
        f"p50 {figures['p50_s'] * 1000:.1f} ms, p99 {figures['p99_s'] * 1000:.1f} ms,"
        f" max {figures['max_s'] * 1000:.1f} ms over {figures['scrapes']:.0f} scrapes"
    )


def report(targets: int, interval: int, figures: Figures, floor: dict[str, float]) -> None:
    up = f"{figures.all_up_s:.1f}s" if figures.all_up_s is not None else "never"
    print(f"targets {targets}, intervals {interval}s, ran {RUN_INTERVALS * interval:.0f}s")
    print(
        f"  all up after         {up}  (target <= {interval}s; floor: the first runs are"
        f" spread over {SPREAD_SHARE * interval:.0f}s)"
    )
    print(f"  checks misfired      {figures.misfired}  (target 0); checks failed {figures.failed}")
    print(f"  /metrics 1st interval {milliseconds(figures.first_interval)}  (target p99 < 100 ms)")
    if figures.after is not None:
        print(f"  /metrics after       {milliseconds(figures.after)}  (target p99 < 100 ms)")
    print(f"  /metrics floor       {milliseconds(floor)}  (the same bytes, a bare server)")
    print(
        f"  RSS                  {figures.rss_mb:.0f} MB, peak {figures.peak_rss_mb:.0f} MB"
        f"  (target <= 200 MB; floor: an interpreter with the libraries,"
        f" {bare_interpreter_mb():.0f} MB)"
    )
    print(f"  sessions held        {figures.sessions}  (one per target)")
    print(f"  series per target    {figures.series_per_target:.0f}")  # fmt: skip


RUN_INTERVALS = 2.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=500)
    parser.add_argument("--interval", type=int, default=60, help="seconds (default: 60)")
    args = parser.parse_args()
    with private_cluster(args.targets + 40) as socket_dir, tempfile.TemporaryDirectory() as work:
        began = time.perf_counter()
        names = create_fleet(socket_dir, args.targets)
        took = time.perf_counter() - began
        print(f"{len(names)} databases from the example template in {took:.0f}s")
        config = write_config(Path(work), socket_dir, names, args.interval)
        admin = f"host={socket_dir} user=postgres dbname=postgres"
        figures = run_daemon(config, admin, names, args.interval)
        # Before the cluster's removal, which takes minutes of disk time for 500 databases.
        report(args.targets, args.interval, figures, bare_server(figures.body, Path(work)))


if __name__ == "__main__":
    main()
