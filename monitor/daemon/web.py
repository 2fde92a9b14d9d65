"""The HTTP endpoints: /metrics for Prometheus, /healthz and /readyz for the orchestrator.

/healthz and /readyz answer 200 while the process serves requests, whatever
the watched databases do: a sidecar must never take its application pod out
of service because the monitor cannot reach a database (that is ``up`` 0).

/metrics serves bytes rendered once per new result, off the request path
(:class:`Exposition`): a scrape writes them out with the few ``process_*``
lines, so 50 scrapes at once cost 50 socket writes, not 50 renders competing
with the checks.

TLS and basic auth come from ``--web.config.file`` (the exporter-toolkit
format, :mod:`monitor.daemon.webconfig`) or the config's ``web.tls``. The
TLS handshake happens in the request's own thread so a slow client cannot
stall the others. Probes are answered without basic auth: they disclose
nothing and the kubelet has no password.

Whoever connects, the server's cost is bounded (:class:`WebLimits`): a cap on
connections (so on threads), a deadline and a byte cap on each request's
headers (a client trickling bytes is cut off, however slowly it trickles), a
deadline on writing the answer, and bcrypt work capped
(:mod:`monitor.daemon.webauth`). When every connection is taken, the one that
has waited longest for its headers makes room: slow clients cannot keep a
real scrape out.
"""

from __future__ import annotations

import base64
import binascii
import functools
import gzip
import http.client
import io
import os
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry

from monitor.daemon import runbooks
from monitor.daemon.config import parse_listen_address
from monitor.daemon.webauth import BasicAuth, Verdict
from monitor.daemon.webconfig import WebConfig
from monitor.errors import MonitorError

# A scrape client that stops talking gets its thread back after this long.
_CLIENT_TIMEOUT_SECONDS = 10
# How often connections past their deadline are cut off.
_REAP_SECONDS = 0.25
# A new connection, every slot taken and none evictable, waits this long for one.
_SLOT_WAIT_SECONDS = 2.0
# A connection still without its headers after this long may be cut off to make room:
# a real client sends them at once, so it is never the one cut off.
_EVICTABLE_AFTER_SECONDS = 0.25
# Results change in bursts (a run updates a target several times): render once per burst.
_RENDER_SETTLE_SECONDS = 0.05
# After a rendering of t seconds the next waits RENDER_PAUSE x t at least: a fleet's
# exposition (500 targets: 20 MB) takes at most a ninth of the process, however often
# its results change, and a scrape gets bytes at most a few seconds old.
_RENDER_PAUSE = 8.0
# The first OpenMetrics scraper waits this long for its rendering, then gets the text format.
_FIRST_OPENMETRICS_WAIT_SECONDS = 5
# The process_* lines are read again when a scrape finds them older than this: 50
# scrapers at once read /proc once, and CPU time a second old is no news to Prometheus.
_PROCESS_MAX_AGE_SECONDS = 1.0
_PROBES = ("/healthz", "/readyz")
_GZIP_MEMBER = 16 + zlib.MAX_WBITS  # zlib's window bits for a gzip header and trailer


class Renders(Protocol):
    """The results' exposition in both formats (:class:`monitor.daemon.metrics.Renderer`)."""

    def pieces(self, openmetrics: bool) -> Sequence[bytes]:
        """The exposition in pieces that joined make it (OpenMetrics without ``# EOF``)."""
        ...


class Body:
    """One rendering of the results, as the renderer's pieces: joined for the scrapers that
    want it plain, and gzipped, a stream over the pieces, for those that ask (Prometheus
    does) so that a scrape moves a tenth of the bytes. Each made once, when first wanted:
    a fleet's exposition (20 MB) is never held twice, nor joined only to be compressed."""

    __slots__ = ("_gzipped", "_lock", "_pieces", "_plain")

    def __init__(self, pieces: Sequence[bytes]) -> None:
        self._pieces = tuple(pieces)
        self._plain: bytes | None = None
        self._gzipped: bytes | None = None
        self._lock = threading.Lock()

    @classmethod
    def of(cls, plain: bytes) -> Body:
        return cls((plain,))

    @property
    def plain(self) -> bytes:
        with self._lock:
            if self._plain is None:
                self._plain = b"".join(self._pieces)
            return self._plain

    @property
    def gzipped(self) -> bytes:
        with self._lock:  # 50 scrapers at once: one compresses, the others wait for it
            if self._gzipped is None:
                # zlib lets go of the GIL while it compresses: the checks keep running.
                # Level 1: a third of level 6's CPU for a fifth more bytes; on a fleet's
                # 20 MB, CPU is what the checks and the scrapes share.
                compressor = zlib.compressobj(1, zlib.DEFLATED, _GZIP_MEMBER)
                out = [compressor.compress(piece) for piece in self._pieces]
                self._gzipped = b"".join((*out, compressor.flush()))
            return self._gzipped


@dataclass(frozen=True, slots=True)
class _Negotiated:
    encoder: Callable[[CollectorRegistry], bytes]
    content_type: str
    openmetrics: bool


@functools.lru_cache(maxsize=32)
def _negotiate(accept: str) -> _Negotiated:
    """The format for an Accept header; scrapers send the same one every time."""
    encoder, content_type = choose_encoder(accept)
    openmetrics = content_type.startswith("application/openmetrics-text")
    return _Negotiated(encoder, content_type, openmetrics)


_TEXT = _negotiate("")


class Exposition:
    """The /metrics body of the latest results, rendered off the request path.

    A background thread renders `results` (and gzips it) after each
    :meth:`changed`, bursts coalesced. A scrape only picks the bytes of its
    format and adds the few ``process_*`` lines (re-read at most once a
    second), a second gzip member when the body is compressed: it never
    renders the results. OpenMetrics is rendered once some scraper has asked
    for it; that first scraper waits for the background thread to do it.
    """

    def __init__(self, results: Renders, process: CollectorRegistry) -> None:
        self._results = results
        self._process = process
        self._wake = threading.Event()
        self._stopped = False
        self._changed = False  # under _changed_lock: set by the checks, taken by the renderer
        self._changed_lock = threading.Lock()
        self._settle = _RENDER_SETTLE_SECONDS
        self._text = self._ready(Body(results.pieces(openmetrics=False)))
        self._openmetrics: Body | None = None  # rendered once someone asks for it
        self._openmetrics_wanted = False
        self._openmetrics_ready = threading.Event()
        self._process_lines: dict[tuple[str, bool], tuple[float, bytes]] = {}
        self._process_lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="exposition", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    def changed(self) -> None:
        with self._changed_lock:
            self._changed = True
        self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            if self._stopped:
                return
            if self._changed:
                time.sleep(self._settle)  # let the rest of a burst land
            self._wake.clear()  # a change from here on wakes us again
            with self._changed_lock:
                changed, self._changed = self._changed, False
            began = time.monotonic()
            self._render(changed)
            elapsed = time.monotonic() - began
            self._settle = max(_RENDER_SETTLE_SECONDS, _RENDER_PAUSE * elapsed)

    def _render(self, changed: bool) -> None:
        # Rendered outside any lock a scrape would wait on; swapping a reference is atomic.
        if changed:
            self._text = self._ready(Body(self._results.pieces(openmetrics=False)))
        if self._openmetrics_wanted and (changed or self._openmetrics is None):
            # Without its "# EOF": the process lines that follow at each scrape carry it.
            self._openmetrics = self._ready(Body(self._results.pieces(openmetrics=True)))
            self._openmetrics_ready.set()

    @staticmethod
    def _ready(body: Body) -> Body:
        """Compressed here, off the scrape path: Prometheus asks for gzip every time."""
        body.gzipped  # noqa: B018  (computed and kept)
        return body

    def _openmetrics_body(self) -> Body | None:
        if self._openmetrics is None:
            self._openmetrics_wanted = True
            self._wake.set()
            self._openmetrics_ready.wait(_FIRST_OPENMETRICS_WAIT_SECONDS)
        return self._openmetrics

    def body(self, accept: str, accept_encoding: str = "") -> tuple[tuple[bytes, bytes], str, bool]:
        """(the body's two parts, content type, gzipped) for a scrape with these headers.

        The parts are written one after the other: joining them would copy the
        whole exposition once per scrape.
        """
        negotiated = _negotiate(accept)
        rendered = self._text
        if negotiated.openmetrics:
            openmetrics = self._openmetrics_body()
            if openmetrics is None:
                negotiated = _TEXT  # not rendered in time: the text format will do
            else:
                rendered = openmetrics
        gzipped = "gzip" in accept_encoding.lower()
        process = self._process_part(negotiated, gzipped)
        return (
            (rendered.gzipped if gzipped else rendered.plain, process),
            negotiated.content_type,
            gzipped,
        )

    def _process_part(self, negotiated: _Negotiated, gzipped: bool) -> bytes:
        key = (negotiated.content_type, gzipped)
        now = time.monotonic()
        cached = self._process_lines.get(key)
        if cached is not None and now - cached[0] < _PROCESS_MAX_AGE_SECONDS:
            return cached[1]
        with self._process_lock:  # one scraper reads /proc, the others wait for its lines
            cached = self._process_lines.get(key)
            if cached is not None and now - cached[0] < _PROCESS_MAX_AGE_SECONDS:
                return cached[1]
            lines = negotiated.encoder(self._process)
            if gzipped:
                lines = gzip.compress(lines, compresslevel=1)
            self._process_lines[key] = (time.monotonic(), lines)
            return lines


@dataclass(frozen=True, slots=True)
class WebLimits:
    """What one client, or many, can cost the server (documented in docs/deploy.md)."""

    max_connections: int = 64
    header_seconds: float = 10.0  # request line and headers, from connect or the last answer
    header_bytes: int = 16 * 1024
    write_seconds: float = 30.0  # for the whole answer, once the headers are in
    verifications: int = 1  # bcrypt runs at once: guessing takes one core at most
    verification_wait_seconds: float = 0.5  # then 503 "busy", not a queue


class _Deadlines:
    """Every open connection with the time it must be done by; cuts off the late ones.

    Cutting off is a shutdown of the socket from this thread: the connection's
    own thread wakes from its read or write with an error and ends.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # connection -> (deadline, when it began waiting for headers, or None while answering)
        self._open: dict[socket.socket, tuple[float, float | None]] = {}

    def waiting(self, connection: socket.socket, seconds: float) -> None:
        now = time.monotonic()
        with self._lock:
            self._open[connection] = (now + seconds, now)

    def answering(self, connection: socket.socket, seconds: float) -> None:
        with self._lock:
            self._open[connection] = (time.monotonic() + seconds, None)

    def forget(self, connection: socket.socket) -> None:
        with self._lock:
            self._open.pop(connection, None)

    def cut_late(self) -> None:
        now = time.monotonic()
        with self._lock:
            late = [c for c, (deadline, _) in self._open.items() if deadline <= now]
        for connection in late:
            _cut(connection)

    def cut_longest_waiting(self) -> bool:
        """Cut off the connection that has waited longest (and long) for its headers; False if
        none has."""
        evictable = time.monotonic() - _EVICTABLE_AFTER_SECONDS
        with self._lock:
            waiting = [
                (since, c)
                for c, (_, since) in self._open.items()
                if since is not None and since <= evictable
            ]
            if not waiting:
                return False
            _, connection = min(waiting, key=lambda pair: pair[0])
            self._open[connection] = (0.0, None)  # cut once, never chosen again
        _cut(connection)
        return True


def _cut(connection: socket.socket) -> None:
    """Shut a connection down under its thread (on a duplicate: never close a number in use)."""
    try:
        with socket.socket(fileno=os.dup(connection.fileno())) as duplicate:
            duplicate.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already gone


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver listens with a backlog of 5: a burst of scrapers (several
    # Prometheus replicas, a federation, people) overflows it and the dropped SYNs
    # come back one and three seconds later, the whole of the p99.
    request_queue_size = 128
    exposition: Exposition
    auth: BasicAuth | None
    headers: Mapping[str, str]
    limits: WebLimits
    deadlines: _Deadlines
    slots: threading.BoundedSemaphore

    def process_request(self, request: Any, client_address: Any) -> None:
        """A thread for the connection, if one of the capped slots is free or can be freed."""
        if not self._slot():
            self.shutdown_request(request)
            return
        self.deadlines.waiting(request, self.limits.header_seconds)
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release(request)
            raise

    def _slot(self) -> bool:
        """Take a connection slot, cutting off a client slow with its headers if need be."""
        give_up = time.monotonic() + _SLOT_WAIT_SECONDS
        while not self.slots.acquire(blocking=False):
            left = give_up - time.monotonic()
            if left <= 0:
                return False
            self.deadlines.cut_longest_waiting()  # its thread ends and frees its slot
            if self.slots.acquire(timeout=min(_REAP_SECONDS, left)):
                break
        return True

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release(request)

    def _release(self, request: Any) -> None:
        self.deadlines.forget(request)
        self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up or fails its TLS handshake is its own problem, not a traceback."""


class _HeaderBudget(io.BufferedIOBase):
    """The request's reader, allowed `limit` bytes of request line and headers per request."""

    def __init__(self, raw: io.BufferedIOBase, limit: int) -> None:
        super().__init__()
        self._raw = raw
        self._limit = limit
        self._left = limit

    def refill(self) -> None:
        self._left = self._limit

    def readline(self, size: int | None = -1) -> bytes:
        if self._left <= 0:
            # parse_request answers it with 431 Request Header Fields Too Large.
            raise http.client.LineTooLong(f"request headers over {self._limit} bytes")
        wanted = self._left if size is None or size < 0 else min(size, self._left)
        line = self._raw.readline(wanted)
        self._left -= len(line)
        return line

    def close(self) -> None:
        self._raw.close()  # the socket's file: left open, the descriptor outlives the request
        super().close()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = _CLIENT_TIMEOUT_SECONDS
    protocol_version = "HTTP/1.1"
    server_version = "schema-monitor"

    def version_string(self) -> str:
        """No Python version in the Server header: it only helps someone pick an exploit."""
        return self.server_version

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            self.request.do_handshake()
        super().setup()
        self.rfile = self._headers = _HeaderBudget(self.rfile, self.server.limits.header_bytes)

    def handle_one_request(self) -> None:
        # The header deadline and byte budget start again for every request on the connection.
        self.server.deadlines.waiting(self.request, self.server.limits.header_seconds)
        self._headers.refill()
        super().handle_one_request()

    def parse_request(self) -> bool:
        parsed = super().parse_request()
        if parsed:
            self.server.deadlines.answering(self.request, self.server.limits.write_seconds)
        return parsed

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        verdict = Verdict.ALLOWED if path in _PROBES else self._authorized()
        if verdict is Verdict.BUSY:
            self._send(503, b"busy checking credentials\n", extra={"Retry-After": "1"})
        elif verdict is Verdict.DENIED:
            self._send(401, b"unauthorized\n", extra={"WWW-Authenticate": 'Basic realm="metrics"'})
        elif path == "/metrics":
            body, content_type, gzipped = self.server.exposition.body(
                self.headers.get("Accept", ""), self.headers.get("Accept-Encoding", "")
            )
            self._send(
                200, body, content_type, extra={"Content-Encoding": "gzip"} if gzipped else None
            )
        elif path == "/healthz":
            self._send(200, b"ok\n")
        elif path == "/readyz":
            self._send(200, b"ready\n")
        elif path == "/runbooks":
            self._send(200, runbooks.page(), "text/html; charset=utf-8")
        elif path == "/runbooks.md":
            self._send(200, runbooks.markdown(), "text/markdown; charset=utf-8")
        elif path == "/":
            page = b'<html><body><a href="/metrics">/metrics</a></body></html>\n'
            self._send(200, page, "text/html; charset=utf-8")
        else:
            self._send(404, b"not found\n")

    def do_HEAD(self) -> None:
        self.do_GET()

    def _authorized(self) -> Verdict:
        auth = self.server.auth
        if auth is None:
            return Verdict.ALLOWED
        scheme, _, encoded = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            return Verdict.DENIED
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return Verdict.DENIED
        user, has_password, password = decoded.partition(":")
        return auth.check(user, password) if has_password else Verdict.DENIED

    def _send(
        self,
        status: int,
        body: bytes | tuple[bytes, ...],
        content_type: str = "text/plain; charset=utf-8",
        extra: Mapping[str, str] | None = None,
    ) -> None:
        parts = (body,) if isinstance(body, bytes) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(sum(len(part) for part in parts)))
        for name, value in {**self.server.headers, **(extra or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            for part in parts:
                self.wfile.write(part)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a line per scrape is noise; the daemon logs state changes only."""


class WebServer:
    """Serves the endpoints on a background thread until :meth:`stop`."""

    def __init__(
        self,
        listen_address: str,
        exposition: Exposition,
        web_config: WebConfig | None = None,
        limits: WebLimits = WebLimits(),
    ) -> None:
        parsed = parse_listen_address(listen_address)
        if parsed is None:
            raise MonitorError(f"invalid listen address {listen_address!r}: expected HOST:PORT")
        host, port = parsed
        web_config = web_config or WebConfig()
        try:
            context = web_config.tls.context() if web_config.tls is not None else None
        except (OSError, ssl.SSLError) as exc:
            raise MonitorError(f"cannot load the TLS certificate or key: {exc}") from None
        try:
            self._server = _server_class(host)((host, port), _Handler)
        except OSError as exc:
            raise MonitorError(
                f"cannot listen on {listen_address}: {exc.strerror or exc}"
            ) from None
        self._server.exposition = exposition
        self._server.auth = (
            BasicAuth(
                web_config.basic_auth_users,
                concurrent=limits.verifications,
                wait_seconds=limits.verification_wait_seconds,
            )
            if web_config.basic_auth_users
            else None
        )
        self._server.headers = web_config.headers
        self._server.limits = limits
        self._server.deadlines = _Deadlines()
        self._server.slots = threading.BoundedSemaphore(limits.max_connections)
        self._stopped = threading.Event()
        if context is not None:
            self._server.socket = context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._exposition = exposition
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="schema-monitor-web", daemon=True
        )
        self._reaper = threading.Thread(target=self._reap, name="web-deadlines", daemon=True)
        self.scheme = web_config.scheme

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    @property
    def url(self) -> str:
        host = str(self._server.server_address[0])
        shown = (
            "127.0.0.1"
            if host in ("0.0.0.0", "")
            else "[::1]"
            if host == "::"
            else f"[{host}]"
            if ":" in host
            else host
        )
        return f"{self.scheme}://{shown}:{self.port}"

    @property
    def auth(self) -> BasicAuth | None:
        return self._server.auth

    def start(self) -> None:
        self._exposition.start()
        self._thread.start()
        self._reaper.start()

    def _reap(self) -> None:
        while not self._stopped.wait(_REAP_SECONDS):
            self._server.deadlines.cut_late()

    def stop(self) -> None:
        self._stopped.set()
        self._exposition.stop()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _server_class(host: str) -> type[_Server]:
    if ":" not in host:
        return _Server

    class _Server6(_Server):
        address_family = socket.AF_INET6

    return _Server6
