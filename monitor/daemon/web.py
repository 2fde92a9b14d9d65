"""The HTTP endpoints: /metrics for Prometheus, /healthz and /readyz for the orchestrator.

/healthz answers 200 while the process serves requests. /readyz answers 200
once at least one check has completed on some target, 503 before. Optional
TLS wraps the listening socket; the handshake happens in the request's own
thread so a slow client cannot stall the others.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry

from monitor.daemon.config import Tls, parse_listen_address
from monitor.errors import MonitorError

# A scrape client that stops talking gets its thread back after this long.
_CLIENT_TIMEOUT_SECONDS = 10


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    registry: CollectorRegistry
    ready: Callable[[], bool]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up or fails its TLS handshake is its own problem, not a traceback."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = _CLIENT_TIMEOUT_SECONDS
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            self.request.do_handshake()
        super().setup()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
            self._send(200, encoder(self.server.registry), content_type)
        elif path == "/healthz":
            self._send(200, b"ok\n")
        elif path == "/readyz":
            ready = self.server.ready()
            self._send(
                200 if ready else 503, b"ready\n" if ready else b"no check has completed yet\n"
            )
        elif path == "/":
            page = b'<html><body><a href="/metrics">/metrics</a></body></html>\n'
            self._send(200, page, "text/html; charset=utf-8")
        else:
            self._send(404, b"not found\n")

    def do_HEAD(self) -> None:
        self.do_GET()

    def _send(
        self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8"
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a line per scrape is noise; the daemon logs state changes only."""


class WebServer:
    """Serves the endpoints on a background thread until :meth:`stop`."""

    def __init__(
        self,
        listen_address: str,
        registry: CollectorRegistry,
        ready: Callable[[], bool],
        tls: Tls | None = None,
    ) -> None:
        parsed = parse_listen_address(listen_address)
        if parsed is None:
            raise MonitorError(f"invalid listen address {listen_address!r}: expected HOST:PORT")
        host, port = parsed
        server_class = _server_class(host)
        try:
            self._server = server_class((host, port), _Handler)
        except OSError as exc:
            raise MonitorError(
                f"cannot listen on {listen_address}: {exc.strerror or exc}"
            ) from None
        self._server.registry = registry
        self._server.ready = ready
        if tls is not None:
            self._server.socket = _tls_context(tls).wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="schema-monitor-web", daemon=True
        )
        self.scheme = "https" if tls is not None else "http"

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    @property
    def url(self) -> str:
        host = str(self._server.server_address[0])
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
        return f"{self.scheme}://{shown}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _server_class(host: str) -> type[_Server]:
    if ":" not in host:
        return _Server

    class _Server6(_Server):
        address_family = socket.AF_INET6

    return _Server6


def _tls_context(tls: Tls) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    except (OSError, ssl.SSLError) as exc:
        raise MonitorError(f"cannot load TLS certificate {tls.cert_file}: {exc}") from None
    return context
