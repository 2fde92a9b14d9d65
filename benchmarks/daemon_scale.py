"""How the daemon scales with the catalog: prints figures, asserts nothing.

On the synthetic catalog of ``benchmarks/catalog_scale.py`` (by default 5,000
tables, each with 4 indexes, 2 policies, RLS and a trigger), with a spec that
lists all of it (the worst case: every object is watched), it measures:

- in a fresh process: a full drift cycle (probe + snapshot + diff), a
  steady-state drift cycle when nothing changed (the probe's fingerprint has
  not moved, so the last findings stand), a stats cycle, and the statements
  each one sends; rendering /metrics from the results in memory (CPU time:
  the MetricFamily reference beside the direct renderer, cold and per new result);
- the daemon itself (``python -m monitor run``) with the default caps: the
  /metrics scrape time over HTTP (target < 100 ms), the series it serves,
  and its resident memory after several cycles (target <= 100 MB);
- 50 clients scraping at once, with Prometheus's headers (OpenMetrics, gzip),
  for ``--scrape-seconds`` each way while the checks run: in bursts (50
  requests released together on kept-alive connections, a pause, again: the
  latency of 50 at once, target p99 < 100 ms) and back to back (each client
  again as soon as it has its answer, on a new connection: a throughput test,
  where on two cores the client's own 50 threads weigh more than the server);
  the check errors in that time (target 0); each beside the raw floor: the
  same bytes, plain or gzipped, served by a bare ThreadingHTTPServer (the
  daemon's HTTP stack) that renders nothing.

    python benchmarks/daemon_scale.py [--tables 5000] [--dsn postgresql://...]
    python benchmarks/daemon_scale.py --tables 2000   # the issue's figure

Without ``--dsn`` it uses MONITOR_TEST_DSN, else an embedded pgserver.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from catalog_scale import build_catalog, scratch_database

from monitor.daemon import events as log
from monitor.daemon import runner as daemon
from monitor.postgres import catalog, db
from monitor.schema import spec
from tests.support.postgres import server
from tests.support.waiting import free_port

DRIFT_INTERVAL_SECONDS = 20  # long enough for a full cycle on 5,000 tables
SCRAPES = 20
CONCURRENT_SCRAPERS = 50
BURST_PAUSE_SECONDS = 0.2  # between rounds of 50 at once: the checks get the machine too
# What Prometheus sends: OpenMetrics preferred, gzip accepted.
PROMETHEUS_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
}
# The floor: the same HTTP stack serving a fixed body, no rendering at all.
STATIC_SERVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = open(sys.argv[1], "rb").read()
GZIPPED = open(sys.argv[1] + ".gz", "rb").read()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        gzipped = "gzip" in self.headers.get("Accept-Encoding", "")
        body = GZIPPED if gzipped else BODY
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # as the daemon's


Server(("127.0.0.1", int(sys.argv[2])), Handler).serve_forever()
"""


class CountingCursor(psycopg.Cursor[Any]):
    statements = 0

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        CountingCursor.statements += 1
        return super().execute(*args, **kwargs)


def write_setup(dsn: str, directory: Path) -> Path:
    """A spec of the whole synthetic catalog and a daemon config watching it."""
    with db.connect(dsn, statement_timeout_ms=120_000) as conn:
        state = catalog.snapshot(conn).state
    spec_path = directory / "spec.yaml"
    spec_path.write_text(spec.dumps(state))
    config = directory / "monitor.yaml"
    config.write_text(
        f"""\
version: 1
state_dir: {directory / "state"}
log_format: json
web: {{listen_address: "127.0.0.1:{free_port()}"}}
intervals: {{drift: {DRIFT_INTERVAL_SECONDS}s, stats: {DRIFT_INTERVAL_SECONDS}s}}
timeouts: {{statement: 15s}}
targets:
  - name: bench
    dsn: "{dsn}"
    spec: {spec_path}
"""
    )
    return config


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def counted(action: Callable[[], Any]) -> tuple[float, int]:
    before = CountingCursor.statements
    seconds = timed(action)
    return seconds, CountingCursor.statements - before


# --- in a fresh process: the cycles one by one -------------------------------------------------


def measure_cycles(config_path: Path) -> dict[str, Any]:

    log.configure("json", sys.stderr)  # stdout carries the figures
    figures: dict[str, Any] = {"rss_start_mb": peak_rss_mb()}
    started = time.perf_counter()
    config, specs = daemon.load(config_path)
    figures["load_s"] = time.perf_counter() - started
    monitor = daemon.Daemon(config, specs)
    runner = monitor.runners["bench"]
    runner.run_stats()  # opens the session, so its statements can be counted from here on
    conn = runner.session.connection
    assert conn is not None, "the stats cycle could not connect"
    conn.cursor_factory = CountingCursor
    figures["stats_s"], figures["stats_statements"] = counted(runner.run_stats)
    figures["full_s"], figures["full_statements"] = counted(runner.run_drift)
    latest = monitor.store.latest().targets[0]
    assert latest.drift is not None and latest.drift.full and latest.drift_check.ok
    figures["findings"] = len(latest.drift.findings)
    quiet = [counted(runner.run_drift) for _ in range(5)]
    latest = monitor.store.latest().targets[0]
    assert latest.drift is not None and not latest.drift.full
    figures["steady_s"] = statistics.median(seconds for seconds, _ in quiet)
    figures["steady_statements"] = quiet[0][1]
    figures.update(measure_render(monitor.store.latest, runner.run_stats))
    figures["rss_peak_mb"] = peak_rss_mb()
    runner.close()
    return figures


def measure_render(latest: Callable[[], Any], next_result: Callable[[], Any]) -> dict[str, Any]:
    """CPU time of one rendering: the MetricFamily reference (the way it used to be
    done) and the direct renderer, per new result as the exposition thread meets them:
    after a stats cycle (new usage values), both formats, then gzip (GIL released)."""
    from prometheus_client import generate_latest
    from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

    from monitor.daemon.metrics import Renderer
    from monitor.daemon.web import Body
    from tests.support import metrics_reference

    reference = metrics_reference.registry(latest)
    text = generate_latest(reference)
    figures: dict[str, Any] = {
        "series": sum(1 for line in text.splitlines() if not line.startswith(b"#")),
        "reference_render_s": min(
            cpu(lambda: (generate_latest(reference), generate_openmetrics(reference)))  # type: ignore[no-untyped-call]
            for _ in range(3)
        ),
    }
    renderer = Renderer(latest)
    figures["render_cold_s"] = cpu(lambda: (renderer.text(), renderer.openmetrics()))
    renders, gzips = [], []
    for _ in range(5):
        next_result()
        started = time.process_time()
        both = (renderer.text(), renderer.openmetrics())
        renders.append(time.process_time() - started)
        started = time.process_time()
        for body in both:
            Body.of(body).gzipped  # noqa: B018  (compressed when asked for)
        gzips.append(time.process_time() - started)
    figures["render_s"] = statistics.median(renders)
    figures["gzip_s"] = statistics.median(gzips)
    return figures


def cpu(action: Callable[[], Any]) -> float:
    """CPU seconds of this process: a loaded machine stretches wall time, not this."""
    started = time.process_time()
    action()
    return time.process_time() - started


def peak_rss_mb() -> float:
    # VmHWM, not getrusage's ru_maxrss: that one survives exec() and so reports the
    # peak of the benchmark process this one was forked from.
    return process_memory_mb(os.getpid())[1]


# --- the daemon as deployed --------------------------------------------------------------------


def measure_daemon(config_path: Path, scrape_seconds: float) -> dict[str, Any]:
    config, _ = daemon.load(config_path)
    url = f"http://{config.web.listen_address}/metrics"
    log_path = config_path.parent / "daemon.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config", str(config_path)],
            cwd=ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        # Three drift cycles: the full one and two quiet ones, each followed by scrapes.
        wait_for_cycles(url, 3, timeout=4 * DRIFT_INTERVAL_SECONDS + 60)
        scrapes = []
        body = b""
        for _ in range(SCRAPES):
            started = time.perf_counter()
            with urllib.request.urlopen(url, timeout=30) as response:
                body = response.read()
            scrapes.append(time.perf_counter() - started)
        rss_before_scrapers, _ = process_memory_mb(process.pid)
        errors_before = check_errors(url)
        concurrent = scrape_concurrently(url, scrape_seconds)
        bursts = scrape_in_bursts(url, scrape_seconds)
        errors_after = check_errors(url)
        rss, peak = process_memory_mb(process.pid)
        floor, floor_bursts = static_floor(body, config_path.parent, scrape_seconds)
        return {
            "concurrent": concurrent,
            "floor": floor,
            "bursts": bursts,
            "floor_bursts": floor_bursts,
            "check_errors_while_scraped": errors_after - errors_before,
            "scrape_median_s": statistics.median(scrapes),
            "scrape_max_s": max(scrapes),
            "scrape_bytes": len(body),
            "scrape_series": sum(1 for line in body.splitlines() if not line.startswith(b"#")),
            "rss_before_scrapers_mb": rss_before_scrapers,
            "rss_mb": rss,
            "rss_peak_mb": peak,
        }
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def scrape_concurrently(url: str, seconds: float) -> dict[str, float]:
    """CONCURRENT_SCRAPERS clients scraping back to back for `seconds`: latency percentiles."""
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def scraper() -> None:
        nonlocal failures
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                request = urllib.request.Request(url, headers=PROMETHEUS_HEADERS)
                with urllib.request.urlopen(request, timeout=30) as response:
                    body = response.read()
                if response.headers.get("Content-Encoding") == "gzip":
                    gzip.decompress(body)  # as Prometheus does
            except OSError:
                with lock:
                    failures += 1
                continue
            with lock:
                latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=scraper) for _ in range(CONCURRENT_SCRAPERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {**percentiles(latencies), "failures": failures}


def scrape_in_bursts(url: str, seconds: float) -> dict[str, float]:
    """Rounds of CONCURRENT_SCRAPERS scrapes released at once for `seconds`, each client on
    its own kept-alive connection as a Prometheus keeps one: the latency of 50 at once.

    The bodies are decompressed between rounds (Prometheus does it on its own CPU), not
    in the timed part: there, 50 client threads sharing one GIL on the daemon's two cores
    would time the client. The first round opens the connections and is not counted.
    """
    target = urllib.parse.urlsplit(url)
    latencies: list[float] = []
    failures = 0
    received: list[tuple[bytes, bool]] = [(b"", False)] * CONCURRENT_SCRAPERS
    lock = threading.Lock()
    release = threading.Barrier(CONCURRENT_SCRAPERS + 1)
    finished = threading.Barrier(CONCURRENT_SCRAPERS + 1)
    measuring, stopping = threading.Event(), threading.Event()

    def scraper(slot: int) -> None:
        nonlocal failures
        connection = http.client.HTTPConnection(target.netloc, timeout=30)
        while True:
            release.wait()
            if stopping.is_set():
                connection.close()
                return
            started = time.perf_counter()
            try:
                connection.request("GET", target.path, headers=PROMETHEUS_HEADERS)
                with connection.getresponse() as response:
                    body = response.read()
                    ok = response.status == 200
                    gzipped = response.headers.get("Content-Encoding") == "gzip"
            except (OSError, http.client.HTTPException):
                connection.close()  # the next request connects again
                body, ok, gzipped = b"", False, False
            elapsed = time.perf_counter() - started
            received[slot] = (body, gzipped)
            with lock:
                if not ok:
                    failures += 1
                elif measuring.is_set():
                    latencies.append(elapsed)
            finished.wait()

    threads = [threading.Thread(target=scraper, args=(n,)) for n in range(CONCURRENT_SCRAPERS)]
    for thread in threads:
        thread.start()
    rounds = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        release.wait()
        finished.wait()
        if measuring.is_set():
            rounds += 1
        measuring.set()
        for body, gzipped in received:
            if gzipped:
                gzip.decompress(body)  # as Prometheus does, outside the timed part
        time.sleep(BURST_PAUSE_SECONDS)
    stopping.set()
    release.wait()
    for thread in threads:
        thread.join()
    return {**percentiles(latencies), "failures": failures, "rounds": rounds}


def percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "scrapes": len(ordered),
        "p50_s": ordered[len(ordered) // 2],
        "p99_s": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max_s": ordered[-1],
    }


def static_floor(
    body: bytes, directory: Path, seconds: float
) -> tuple[dict[str, float], dict[str, float]]:
    """The same scraping (back to back, in bursts) against a server that holds the body
    as bytes and does nothing else."""
    body_path = directory / "static-body"
    body_path.write_bytes(body)
    Path(f"{body_path}.gz").write_bytes(gzip.compress(body, compresslevel=6, mtime=0))
    port = free_port()
    floor = subprocess.Popen([sys.executable, "-c", STATIC_SERVER, str(body_path), str(port)])
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    response.read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        return scrape_concurrently(url, seconds), scrape_in_bursts(url, seconds)
    finally:
        floor.terminate()
        floor.wait(timeout=10)


def check_errors(url: str) -> float:
    with urllib.request.urlopen(url, timeout=30) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "schema_monitor_check_errors_total"
    )


def wait_for_cycles(url: str, cycles: int, timeout: float) -> None:
    """Until `cycles` drift runs have succeeded (their last-success time moved that often)."""
    seen: set[float] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < cycles:
        if time.monotonic() > deadline:
            raise SystemExit(
                f"the daemon did not complete {cycles} drift cycles in {timeout:g}s; see its log"
            )
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                text = response.read().decode()
        except OSError:
            text = ""
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "schema_monitor_check_last_success_timestamp_seconds" and (
                    sample.labels == {"target": "bench", "check": "drift"} and sample.value > 0
                ):
                    seen.add(sample.value)
        time.sleep(1)


def process_memory_mb(pid: int) -> tuple[float, float]:
    """Resident and peak resident memory from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


# --- report ------------------------------------------------------------------------------------


def report(tables: int, build_s: float, cycles: dict[str, Any], served: dict[str, Any]) -> None:
    def line(label: str, value: str) -> None:
        print(f"  {label:<48} {value}")

    print(f"catalog: {tables} tables, built in {build_s:.1f} s; the spec lists all of it")
    print("cycles (in a fresh process, warm server):")
    line("load config and spec", f"{cycles['load_s']:.1f} s")
    line(
        "full drift cycle (probe + snapshot + diff)",
        f"{cycles['full_s']:.3f} s, "
        f"{cycles['full_statements']} SELECTs ({cycles['findings']} findings, expected 0)",
    )
    line(
        "steady-state drift cycle (nothing changed)",
        f"{cycles['steady_s']:.3f} s, {cycles['steady_statements']} SELECT"
        f"  ({cycles['full_s'] / cycles['steady_s']:.0f}x cheaper)",
    )
    line("stats cycle", f"{cycles['stats_s']:.3f} s, {cycles['stats_statements']} SELECTs")
    line(
        "render /metrics, MetricFamily reference (before)",
        f"{cycles['reference_render_s'] * 1000:.1f} ms CPU, both formats,"
        f" {cycles['series']} series",
    )
    line(
        "render /metrics, direct: first rendering",
        f"{cycles['render_cold_s'] * 1000:.1f} ms CPU, both formats",
    )
    line(
        "  per new result (after a stats cycle)",
        f"{cycles['render_s'] * 1000:.1f} ms CPU + gzip {cycles['gzip_s'] * 1000:.1f} ms"
        " (GIL released)",
    )
    line("peak RSS of that process", f"{cycles['rss_peak_mb']:.1f} MB")
    print("the daemon (python -m monitor run, default caps), after 3 drift cycles:")
    line(
        f"/metrics scrape over HTTP (median of {SCRAPES})",
        f"{served['scrape_median_s'] * 1000:.1f} ms (max {served['scrape_max_s'] * 1000:.1f} ms)"
        "  target < 100 ms",
    )
    line("series served", f"{served['scrape_series']} ({served['scrape_bytes'] / 1024:.0f} KiB)")

    def scraping(label: str, figures: dict[str, float], target: str = "") -> None:
        line(
            label,
            f"{figures['p50_s'] * 1000:.1f} / {figures['p99_s'] * 1000:.1f} ms"
            f" (max {figures['max_s'] * 1000:.0f} ms, {figures['scrapes']:.0f} scrapes,"
            f" {figures.get('failures', 0):.0f} failed){target}",
        )

    scraping(
        f"{CONCURRENT_SCRAPERS} scrapers at once, in bursts: p50 / p99",
        served["bursts"],
        "  target p99 < 100 ms",
    )
    scraping("  floor: same bytes, bare server: p50 / p99", served["floor_bursts"])
    scraping(f"{CONCURRENT_SCRAPERS} scrapers back to back: p50 / p99", served["concurrent"])
    scraping("  floor: same bytes, bare server: p50 / p99", served["floor"])
    line(
        "  render per new result (off the request path)",
        f"{cycles['render_s'] * 1000:.1f} ms CPU + gzip {cycles['gzip_s'] * 1000:.1f} ms",
    )
    line(
        "check errors while scraped",
        f"{served['check_errors_while_scraped']:.0f}  target 0",
    )
    line(
        "resident memory",
        f"{served['rss_mb']:.1f} MB after the scrapers, {served['rss_before_scrapers_mb']:.1f}"
        f" before (peak {served['rss_peak_mb']:.1f} MB)  target <= 100 MB",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=5000, help="tables to create (5000)")
    parser.add_argument("--dsn", help="server to use (default: MONITOR_TEST_DSN or embedded)")
    parser.add_argument(
        "--scrape-seconds",
        type=float,
        default=2 * DRIFT_INTERVAL_SECONDS,
        help="how long the concurrent scrapers run (default: two drift intervals)",
    )
    parser.add_argument("--measure-cycles", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_cycles:
        print(json.dumps(measure_cycles(args.measure_cycles)))
        return
    with (
        server(args.dsn) as server_dsn,
        scratch_database(server_dsn) as dsn,
        tempfile.TemporaryDirectory(prefix="schema-monitor-daemon-bench-") as directory,
    ):
        print(f"building {args.tables} tables in {db.redact(dsn)} ...", flush=True)
        build_s = build_catalog(dsn, args.tables)
        config = write_setup(dsn, Path(directory))
        cycles = json.loads(
            subprocess.run(
                [sys.executable, __file__, "--measure-cycles", str(config)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        served = measure_daemon(config, args.scrape_seconds)
        report(args.tables, build_s, cycles, served)


if __name__ == "__main__":
    main()
