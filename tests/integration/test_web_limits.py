"""What clients can cost the /metrics server, on real sockets: slow clients, oversized
headers, password guessing, long passwords and unknown user names."""

from __future__ import annotations

import base64
import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager

import bcrypt
import pytest
from prometheus_client.registry import CollectorRegistry

from monitor.daemon.web import Exposition, WebLimits, WebServer
from monitor.daemon.webconfig import WebConfig

USER, PASSWORD = "prometheus", "scrape-Secret-1"


class StaticRenders:
    def pieces(self, openmetrics: bool) -> Sequence[bytes]:
        return [b"thing 1.0\n"]


@contextmanager
def server(limits: WebLimits, *, rounds: int = 4) -> Iterator[WebServer]:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=rounds))
    exposition = Exposition(StaticRenders(), CollectorRegistry(auto_describe=False))
    web = WebServer(
        "127.0.0.1:0", exposition, WebConfig(basic_auth_users={USER: hashed}), limits=limits
    )
    web.start()
    try:
        yield web
    finally:
        web.stop()


def scrape(web: WebServer, user: str = USER, password: str = PASSWORD, timeout: float = 5) -> int:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=timeout)
    try:
        connection.request("GET", "/metrics", headers={"Authorization": f"Basic {token}"})
        return connection.getresponse().status
    finally:
        connection.close()


def slow_client(web: WebServer, stack: ExitStack) -> socket.socket:
    """A connection that has sent half a request and trickles the rest, a byte at a time."""
    client = stack.enter_context(socket.create_connection(("127.0.0.1", web.port)))
    client.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    return client


def trickle(clients: list[socket.socket], stop: threading.Event) -> None:
    while not stop.wait(0.1):
        for client in clients:
            with contextlib.suppress(OSError):  # cut off by the server: what we want
                client.send(b"a")


def closed_by_server(client: socket.socket, within: float) -> bool:
    client.settimeout(within)
    try:
        while data := client.recv(4096):
            if b"\r\n\r\n" in data:
                continue  # an error page before the close is fine
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_slow_clients_never_keep_a_real_scrape_out_nor_grow_threads() -> None:
    limits = WebLimits(max_connections=8, header_seconds=30)
    before = threading.active_count()
    with server(limits) as web, ExitStack() as stack:
        clients = [slow_client(web, stack) for _ in range(40)]
        stop = threading.Event()
        trickling = threading.Thread(target=trickle, args=(clients, stop), daemon=True)
        trickling.start()
        try:
            time.sleep(0.5)
            started = time.monotonic()
            statuses = [scrape(web, timeout=3) for _ in range(5)]
            took = time.monotonic() - started
            threads = threading.active_count()
        finally:
            stop.set()
            trickling.join()
    assert statuses == [200] * 5
    assert took < 3.0  # five scrapes among forty trickling clients
    # The server's own threads (listener, deadlines, exposition, trickler) and the capped ones.
    assert threads <= before + limits.max_connections + 4


def test_headers_trickled_past_the_deadline_are_cut_off() -> None:
    with server(WebLimits(header_seconds=1.0)) as web, ExitStack() as stack:
        client = slow_client(web, stack)
        stop = threading.Event()
        trickling = threading.Thread(target=trickle, args=([client], stop), daemon=True)
        trickling.start()
        try:
            started = time.monotonic()
            assert closed_by_server(client, within=5.0)
            assert time.monotonic() - started < 2.5  # not the 10 s of a quiet socket
        finally:
            stop.set()
            trickling.join()


def test_headers_over_the_byte_cap_get_431() -> None:
    with server(WebLimits(header_bytes=4096)) as web:
        connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=5)
        connection.request("GET", "/metrics", headers={"X-Big": "a" * 20_000})
        assert connection.getresponse().status == 431


def test_many_bad_guesses_in_parallel_do_not_time_out_real_scrapes() -> None:
    with server(WebLimits(), rounds=10) as web:
        assert scrape(web) == 200  # remembered from here on: no bcrypt for the real scraper
        stop = threading.Event()
        answers: list[int] = []

        def guess(number: int) -> None:
            while not stop.is_set():
                try:
                    answers.append(scrape(web, password=f"guess-{number}", timeout=10))
                except (http.client.HTTPException, OSError):
                    answers.append(0)  # refused: every slot was taken

        guessers = [threading.Thread(target=guess, args=(n,), daemon=True) for n in range(64)]
        for guesser in guessers:
            guesser.start()
        try:
            time.sleep(0.5)
            slowest = 0.0
            for _ in range(10):
                started = time.monotonic()
                assert scrape(web, timeout=2) == 200
                slowest = max(slowest, time.monotonic() - started)
                time.sleep(0.1)
        finally:
            stop.set()
            for guesser in guessers:
                guesser.join(timeout=15)
        assert web.auth is not None
        assert slowest < 2.0
        assert set(answers) <= {0, 401, 503} and 401 in answers


def test_an_unknown_user_costs_a_bcrypt_run_like_a_known_one() -> None:
    with server(WebLimits()) as web:
        assert web.auth is not None
        runs = web.auth.verifications
        assert scrape(web, user="nobody", password="wrong") == 401
        assert web.auth.verifications == runs + 1
        assert scrape(web, password="wrong") == 401
        assert web.auth.verifications == runs + 2


@pytest.mark.parametrize("length", [72, 73, 100, 4000])
def test_any_password_gets_a_401_never_a_dropped_connection(length: int) -> None:
    with server(WebLimits()) as web:
        assert scrape(web, password="p" * length) == 401
        assert scrape(web, password=PASSWORD + "é" * length) == 401
        assert scrape(web) == 200
