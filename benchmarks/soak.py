"""Soak: the daemon at a 1 s interval for minutes, scraped all along; does its memory stay flat?

Runs ``python -m monitor run`` on a scratch database holding the example
migrations (``config/expected/phase3.yaml``), both checks every second, with a
scraper at 5 Hz, and prints resident memory after the warm-up (start), at the
end and at its peak, with the growth per hour beside the floor: the resident
memory of a Python process that only imports the daemon. It also prints the
checks run and failed, and how many state files the window wrote.

    python benchmarks/soak.py [--minutes 10] [--dsn postgresql://...]

Without ``--dsn`` it uses MONITOR_TEST_DSN, else a private PostgreSQL.
Target (issue 12): flat RSS over 10 minutes, 0 check errors.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from catalog_scale import scratch_database
from daemon_scale import process_memory_mb
from prometheus_client.parser import text_string_to_metric_families

from monitor.postgres.migrations import deploy
from tests.support.daemon import write_config
from tests.support.paths import EXAMPLE_MIGRATIONS
from tests.support.postgres import server
from tests.support.waiting import free_port

WARM_UP_SECONDS = 30.0
SAMPLE_SECONDS = 5.0
SCRAPES_PER_SECOND = 5


def checks(url: str) -> dict[str, float]:
    """check_errors_total and the number of series, from one scrape."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    figures = {"errors": 0.0, "series": 0.0, "up": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            figures["series"] += 1
            if sample.name == "schema_monitor_check_errors_total":
                figures["errors"] += sample.value
            if sample.name == "schema_monitor_up":
                figures["up"] = sample.value
    return figures


def floor_rss_mb() -> float:
    """Resident memory of a process that imports the daemon and does nothing else."""
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import monitor.daemon.runner, pathlib;"
            "print(pathlib.Path('/proc/self/status').read_text())",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    for line in probe.stdout.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no VmRSS in /proc/self/status")


def soak(config: Path, url: str, minutes: float) -> None:
    log = (config.parent / "daemon.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(config)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    stop = threading.Event()
    scrapes = 0

    def scraper() -> None:
        nonlocal scrapes
        while not stop.wait(1 / SCRAPES_PER_SECOND):
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    response.read()
                scrapes += 1
            except OSError:
                pass

    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if checks(url)["up"] == 1:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the daemon did not come up; see {log.name}")
            time.sleep(0.5)
        threading.Thread(target=scraper, daemon=True).start()
        time.sleep(WARM_UP_SECONDS)
        start_rss, _ = process_memory_mb(process.pid)
        start_errors = checks(url)["errors"]
        started = time.monotonic()
        samples = [start_rss]
        end = started + minutes * 60
        while time.monotonic() < end:
            time.sleep(min(SAMPLE_SECONDS, max(0.0, end - time.monotonic())))
            samples.append(process_memory_mb(process.pid)[0])
        elapsed = time.monotonic() - started
        end_rss, peak_rss = process_memory_mb(process.pid)
        final = checks(url)
        stop.set()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        log.close()
    floor = floor_rss_mb()
    per_hour = (end_rss - start_rss) / elapsed * 3600
    state_files = len(list((config.parent / "state" / "soak").iterdir()))

    def line(label: str, value: str) -> None:
        print(f"  {label:<44} {value}")

    print(f"soak: {elapsed / 60:.1f} min at a 1 s interval, scraped {scrapes} times")
    line("RSS after the warm-up (start)", f"{start_rss:.1f} MB")
    line("RSS at the end", f"{end_rss:.1f} MB")
    line("RSS peak (VmHWM, whole run)", f"{peak_rss:.1f} MB")
    line("RSS lowest / highest sample", f"{min(samples):.1f} / {max(samples):.1f} MB")
    line("growth", f"{end_rss - start_rss:+.1f} MB ({per_hour:+.1f} MB/h)  target: flat")
    line("floor: a process that imports the daemon", f"{floor:.1f} MB")
    line("check errors during the soak", f"{final['errors'] - start_errors:.0f}  target 0")
    line("series served", f"{final['series']:.0f}; state files: {state_files}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="soak length (10)")
    parser.add_argument("--dsn", help="server to use (default: MONITOR_TEST_DSN or private)")
    args = parser.parse_args()
    with (
        server(args.dsn) as server_dsn,
        scratch_database(server_dsn) as dsn,
        tempfile.TemporaryDirectory(prefix="schema-monitor-soak-") as directory,
    ):
        deploy(dsn, EXAMPLE_MIGRATIONS)
        port = free_port()
        soak(
            write_config(Path(directory), dsn, name="soak", listen=f"127.0.0.1:{port}"),
            f"http://127.0.0.1:{port}/metrics",
            args.minutes,
        )


if __name__ == "__main__":
    main()
