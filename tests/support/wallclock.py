"""A process whose wall clock a test can step, without touching the machine's clock.

``wallclock_shift.c`` is built with the C compiler into the test's directory and
preloaded into the process (what libfaketime does, reduced to one shift read
from a file). Tests that need it skip where no C compiler is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SOURCE = Path(__file__).with_name("wallclock_shift.c")


class ShiftedWallClock:
    """The environment that shifts a process's wall clock, and the means to step it."""

    def __init__(self, directory: Path) -> None:
        compiler = shutil.which("cc") or shutil.which("gcc")
        if compiler is None:
            pytest.skip("no C compiler to build the wall-clock shift")
        self.library = directory / "wallclock_shift.so"
        subprocess.run(
            [compiler, "-shared", "-fPIC", "-O2", "-o", str(self.library), str(SOURCE), "-ldl"],
            check=True,
            capture_output=True,
        )
        self.file = directory / "wallclock_shift"
        self.shift = 0.0
        self.step(0.0)

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "LD_PRELOAD": str(self.library),
            "WALLCLOCK_SHIFT_FILE": str(self.file),
        }

    def step(self, seconds: float) -> None:
        """Step the process's wall clock by `seconds` (negative: back), at once."""
        self.shift += seconds
        temporary = self.file.with_suffix(".new")
        temporary.write_text(f"{self.shift}\n")
        os.replace(temporary, self.file)  # never read half written
