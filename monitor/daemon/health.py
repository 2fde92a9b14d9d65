"""`schema-monitor healthcheck`: is the daemon on this machine alive? For a HEALTHCHECK.

It asks ``/healthz`` on the loopback address at the daemon's port, over plain
HTTP and, when that finds a TLS server (``--web.config.file`` or ``web.tls``),
over HTTPS without verifying the certificate: the question is liveness on
localhost, not identity. Probes need no basic auth. Exit 0 alive, 2 not.
"""

from __future__ import annotations

import http.client
import ssl
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from monitor.daemon import config as config_module
from monitor.errors import ExitCode, MonitorError

TIMEOUT_SECONDS = 4.0


class EnvironmentWithoutDsns(Mapping[str, str]):
    """The environment, where a variable that is not set reads as a DSN no one will use:
    commands that never connect (report, healthcheck) must not need the secrets."""

    _UNUSED = "host=/nonexistent/not-connected"

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def __getitem__(self, name: str) -> str:
        return self._environ.get(name) or self._UNUSED

    def __iter__(self) -> Iterator[str]:
        return iter(self._environ)

    def __len__(self) -> int:
        return len(self._environ)


def check(config_path: Path | None, listen_address: str | None, environ: Mapping[str, str]) -> int:
    address = listen_address or config_module.DEFAULT_LISTEN_ADDRESS
    if listen_address is None and config_path is not None:
        config = config_module.load(config_path, EnvironmentWithoutDsns(environ))
        address = config.web.listen_address
    parsed = config_module.parse_listen_address(address)
    if parsed is None:
        raise MonitorError(f"--web.listen-address: {address!r} is not HOST:PORT")
    host, port = parsed
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    try:
        status = _status(http.client.HTTPConnection(host, port, timeout=TIMEOUT_SECONDS))
    except (http.client.RemoteDisconnected, ConnectionResetError, http.client.BadStatusLine):
        # A TLS server drops a plain request: ask again in its language.
        unverified = ssl._create_unverified_context()
        try:
            status = _status(
                http.client.HTTPSConnection(host, port, timeout=TIMEOUT_SECONDS, context=unverified)
            )
        except OSError as exc:
            return _unhealthy(f"https://{host}:{port}/healthz: {exc}")
    except OSError as exc:
        return _unhealthy(f"http://{host}:{port}/healthz: {exc}")
    return ExitCode.OK if status == 200 else _unhealthy(f"/healthz answered {status}")


def _status(connection: http.client.HTTPConnection) -> int:
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status
    finally:
        connection.close()


def _unhealthy(reason: str) -> int:
    print(f"schema-monitor: unhealthy: {reason}", file=sys.stderr)
    return ExitCode.ERROR
