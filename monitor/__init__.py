"""schema-monitor: PostgreSQL schema drift and health monitor."""

import functools
from pathlib import Path
from typing import Any

# What `demo` runs on: the example migrations and their spec, in a source checkout only
# (a pip install carries neither, and does not offer `demo`).
SOURCE_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_MIGRATIONS = SOURCE_ROOT / "examples" / "supabase" / "migrations"
EXAMPLE_SPEC = SOURCE_ROOT / "config" / "expected" / "phase3.yaml"


def demo_available() -> bool:
    return EXAMPLE_MIGRATIONS.is_dir() and EXAMPLE_SPEC.is_file()


@functools.cache
def version() -> str:
    """The installed version; importlib.metadata is imported only when asked (it costs
    about 25 ms at every start, a tenth of a one-shot `check`'s imports)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("schema-monitor")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        return version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
