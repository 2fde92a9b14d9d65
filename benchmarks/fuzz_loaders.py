"""Fuzzed configs and specs through the real CLI: how many tracebacks and hangs? Asserts nothing.

Mutates the seeds of ``tests/support/fuzz.py`` (the fuzz tests' own
mutations, drawn here from a seeded random) and hands each file to
``cli.main``, in this process, as the console script does:

- a config to ``run --config FILE --validate-config``;
- a spec to ``check --spec FILE --dsn postgresql://x@127.0.0.1:9/x`` (nothing
  listens on port 9: a spec that loads ends in a refused connection).

Each outcome is counted: exit 0, loaded (a spec that then met the refused
connection), exit 2 (a clear error about the file), a traceback (any
exception out of ``cli.main``) or a hang (no answer within ``--hang-seconds``).
Beside the CLI's time per file it prints the floor: yaml-rs parsing the same
bytes, nothing else.

    python benchmarks/fuzz_loaders.py [--configs 15000] [--specs 18000] [--seed 1]

Target (issue 12): 15,000 configs and 18,000 specs, 0 tracebacks and 0 hangs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import statistics
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

import yaml_rs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor import cli
from tests.support import fuzz


class Hang(BaseException):
    """Raised by the alarm in a file that took too long: not an Exception, so nothing catches it."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang


def outcome(args: Sequence[str], hang_seconds: float) -> str:
    sink = io.StringIO()
    signal.setitimer(signal.ITIMER_REAL, hang_seconds)
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            code = cli.main(list(args))
    except Hang:
        return "hang"
    except BaseException:  # what the console script would print as a traceback
        return "traceback:" + traceback.format_exc(limit=-1).strip().splitlines()[-1]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if code == 2 and "cannot connect to" in sink.getvalue():
        return "loaded"
    return f"exit {code}"


def floor(data: bytes) -> None:
    with contextlib.suppress(Exception):
        yaml_rs.loads(data.decode("utf-8"), parse_datetime=False)


def fuzz_one_kind(
    label: str,
    seeds: Sequence[str],
    count: int,
    args: Callable[[Path], list[str]],
    path: Path,
    seed: int,
    hang_seconds: float,
) -> None:
    choose = fuzz.RandomChoices(seed)
    outcomes: Counter[str] = Counter()
    cli_times, floor_times = [], []
    for _ in range(count):
        data = fuzz.mutated(seeds, choose)
        path.write_bytes(data)
        started = time.perf_counter()
        floor(data)
        floor_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        outcomes[outcome(args(path), hang_seconds)] += 1
        cli_times.append(time.perf_counter() - started)
    tracebacks = sum(n for what, n in outcomes.items() if what.startswith("traceback"))
    print(f"{label}: {count} files")
    print(f"  exit 0: {outcomes['exit 0']}, loaded: {outcomes['loaded']}", end="")
    print(f", exit 2: {outcomes['exit 2']}", end="")
    print(f", tracebacks: {tracebacks}, hangs: {outcomes['hang']}")
    for what, n in sorted(outcomes.items()):
        if what not in ("exit 0", "loaded", "exit 2", "hang"):
            print(f"    {n} x {what}")
    print(f"  {'ms per file':<22}{'mean':>8}{'p99':>8}{'max':>8}")
    for name, times in (("the CLI", cli_times), ("floor: yaml-rs parse", floor_times)):
        p99 = statistics.quantiles(times, n=100)[98] if len(times) > 1 else times[0]
        print(f"  {name:<22}{statistics.fmean(times) * 1000:8.2f}", end="")
        print(f"{p99 * 1000:8.2f}{max(times) * 1000:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=15000)
    parser.add_argument("--specs", type=int, default=18000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hang-seconds", type=float, default=10.0)
    options = parser.parse_args()
    os.environ.setdefault("DATABASE_URL", "postgresql://monitor@db/app")  # what the seeds name
    signal.signal(signal.SIGALRM, _alarm)
    with tempfile.TemporaryDirectory(prefix="fuzz-loaders-") as folder:
        config_path, spec_path = Path(folder) / "monitor.yaml", Path(folder) / "spec.yaml"

        def config_args(path: Path) -> list[str]:
            return ["run", "--config", str(path), "--validate-config"]

        def spec_args(path: Path) -> list[str]:
            return ["check", "--spec", str(path), "--dsn", "postgresql://x@127.0.0.1:9/x"]

        fuzz_one_kind(
            "configs", fuzz.CONFIG_SEEDS, options.configs, config_args, config_path,
            options.seed, options.hang_seconds,
        )  # fmt: skip
        fuzz_one_kind(
            "specs", fuzz.SPEC_SEEDS, options.specs, spec_args, spec_path,
            options.seed, options.hang_seconds,
        )  # fmt: skip
    print("target: 0 tracebacks and 0 hangs")


if __name__ == "__main__":
    main()
