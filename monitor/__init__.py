"""schema-monitor: PostgreSQL schema drift and health monitor."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("schema-monitor")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
