"""schema-monitor: PostgreSQL schema drift and health monitor."""

import functools
from typing import Any


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
