"""A TCP port in front of PostgreSQL: stopping it is the database going away for the monitor."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import suppress
from typing import Any

import psycopg
import pytest


class TcpProxy:
    """A port in front of PostgreSQL; stopping it is the database going away for the monitor."""

    def __init__(self, upstream_dsn: str) -> None:
        params = psycopg.conninfo.conninfo_to_dict(upstream_dsn)
        host, port = str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)
        self._upstream: Any = f"{host}/.s.PGSQL.{port}" if host.startswith("/") else (host, port)
        self._family = socket.AF_UNIX if host.startswith("/") else socket.AF_INET
        probe = socket.create_server(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.dsn = psycopg.conninfo.make_conninfo(
            upstream_dsn, host="127.0.0.1", port=str(self.port)
        )
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._forwarding = threading.Event()
        self._forwarding.set()

    def stall(self) -> None:
        """Stop forwarding without closing anything: the peer goes silent, no RST, no FIN.

        Our kernel still acknowledges what the monitor sends and answers its
        keepalives: only the monitor's own deadlines can notice.
        """
        self._forwarding.clear()

    def resume(self) -> None:
        self._forwarding.set()

    def start(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def stop(self) -> None:
        self._forwarding.set()  # let stalled pumps see their sockets close
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            with suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            for sock in self._open:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.socket(self._family, socket.SOCK_STREAM)
            server.connect(self._upstream)
            with self._lock:
                self._open += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._forwarding.wait()  # held, not dropped, while stalled
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with suppress(OSError):
                sink.shutdown(socket.SHUT_WR)


@pytest.fixture
def tcp_proxy() -> Iterator[Callable[[str], TcpProxy]]:
    """Factory: a started proxy in front of a DSN; every proxy is stopped after the test."""
    started: list[TcpProxy] = []

    def make(upstream_dsn: str) -> TcpProxy:
        proxy = TcpProxy(upstream_dsn)
        proxy.start()
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()
