"""The web endpoint over real HTTP and TLS: --web.config.file, probes, headers, served bytes."""

from __future__ import annotations

import base64
import gzip
import http.client
import ssl
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import bcrypt
import pytest
from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.registry import Collector, CollectorRegistry

from monitor.daemon import runner as daemon
from monitor.daemon import webconfig
from monitor.daemon.web import Exposition, WebServer
from monitor.errors import InputError
from tests.support.daemon import write_config
from tests.support.processes import run_monitor
from tests.support.waiting import wait_until


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def certificate(directory: Path, name: str, *, ca: Path | None = None) -> tuple[Path, Path]:
    """A key and certificate for 127.0.0.1, self-signed or signed by `ca` (its key beside it)."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subject = ["-subj", f"/CN={name}", "-addext", "subjectAltName=IP:127.0.0.1"]
    if ca is None:
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", *subject,
                "-keyout", str(key), "-out", str(cert))  # fmt: skip
        return cert, key
    request = directory / f"{name}.csr"
    openssl("req", "-newkey", "rsa:2048", "-nodes", *subject, "-keyout", str(key),
            "-out", str(request))  # fmt: skip
    signer = ["-CA", str(ca), "-CAkey", str(ca.with_suffix(".key")), "-CAcreateserial"]
    openssl("x509", "-req", "-in", str(request), *signer, "-days", "1", "-out", str(cert))
    return cert, key


def get(
    url: str, *, context: ssl.SSLContext | None = None, auth: tuple[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def serving(phase3_dsn: str, tmp_path: Path) -> Iterator[Callable[..., str]]:
    started: list[daemon.Daemon] = []

    def start(web_config: Path | None = None) -> str:
        config, specs = daemon.load(write_config(tmp_path, phase3_dsn))
        loaded = webconfig.load(web_config) if web_config is not None else None
        monitor = daemon.Daemon(config, specs, web_config=loaded)
        monitor.start()
        started.append(monitor)
        assert monitor.url is not None
        return monitor.url

    yield start
    for monitor in started:
        monitor.stop()


def test_the_server_header_names_no_python_version(serving: Callable[..., str]) -> None:
    url = serving()
    status, headers, _ = get(f"{url}/metrics")
    assert status == 200
    assert headers["Server"] == "schema-monitor"


def test_basic_auth_with_bcrypt_hashes_guards_metrics_but_not_the_probes(
    serving: Callable[..., str],
    tmp_path: Path,
) -> None:
    hashed = bcrypt.hashpw(b"scrape-Secret-1", bcrypt.gensalt(rounds=4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  prometheus: '{hashed}'\n")
    url = serving(web)
    status, headers, _ = get(f"{url}/metrics")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
    assert get(f"{url}/metrics", auth=("prometheus", "wrong"))[0] == 401
    assert get(f"{url}/metrics", auth=("nobody", "scrape-Secret-1"))[0] == 401
    status, _, body = get(f"{url}/metrics", auth=("prometheus", "scrape-Secret-1"))
    assert status == 200 and b"schema_monitor_build_info" in body
    assert b'schema_monitor_web_info{scheme="http"} 1.0' in body  # the runbook links' scheme
    assert get(f"{url}/healthz")[0] == 200 and get(f"{url}/readyz")[0] == 200


def test_client_certificates_are_required_when_the_web_config_says_so(
    serving: Callable[..., str],
    tmp_path: Path,
) -> None:
    server_cert, server_key = certificate(tmp_path, "server")
    ca, _ = certificate(tmp_path, "clients-ca")
    client_cert, client_key = certificate(tmp_path, "client", ca=ca)
    web = tmp_path / "web.yml"
    web.write_text(
        "tls_server_config:\n"
        f"  cert_file: {server_cert.name}\n  key_file: {server_key.name}\n"
        "  client_auth_type: RequireAndVerifyClientCert\n"
        f"  client_ca_file: {ca.name}\n"
    )
    url = serving(web)
    assert url.startswith("https://")
    anonymous = ssl.create_default_context(cafile=str(server_cert))
    with pytest.raises((ssl.SSLError, OSError)):
        get(f"{url}/metrics", context=anonymous)
    known = ssl.create_default_context(cafile=str(server_cert))
    known.load_cert_chain(str(client_cert), str(client_key))
    status, _, body = get(f"{url}/metrics", context=known)
    assert status == 200 and b"schema_monitor_up" in body
    assert b'schema_monitor_web_info{scheme="https"} 1.0' in body  # the runbook links' scheme


def test_a_bad_web_config_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text(
        "tls_server_config:\n  cert_file: missing.crt\n  client_auth_type: RequireAnyClientCert\n"
        "basic_auth_users:\n  prometheus: clear-text-password\n"
        "http_server_config:\n  http2: true\n"
    )
    with pytest.raises(InputError) as raised:
        webconfig.load(web)
    text = str(raised.value)
    assert "cert_file: file not found" in text
    assert "tls_server_config: missing required key 'key_file'" in text
    assert "RequireAnyClientCert" in text
    assert "basic_auth_users.prometheus: not a bcrypt hash" in text
    assert "clear-text-password" not in text
    assert "http_server_config.http2: not supported by schema-monitor" in text
    # Each problem names its line, as the spec's and the config's do.
    lines = {p.message.split(":")[0]: p.line for p in raised.value.problems}
    assert lines["tls_server_config.cert_file"] == 2
    assert lines["basic_auth_users.prometheus"] == 5
    assert all(p.line is not None for p in raised.value.problems)
    config = write_config(tmp_path, "postgresql://monitor@127.0.0.1:1/app")
    done = run_monitor("run", "--config", str(config), "--web.config.file", str(web), timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "not a bcrypt hash" in done.stderr


class CountingCollector(Collector):
    def __init__(self) -> None:
        self.collected = 0
        self.value = 0.0

    def collect(self) -> Iterable[Metric]:
        self.collected += 1
        yield GaugeMetricFamily("thing", "A thing.", value=self.value)


class RegistryRenders:
    """A registry rendered by prometheus_client's exposition, each call a collect."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def pieces(self, openmetrics: bool) -> tuple[bytes, ...]:
        if not openmetrics:
            return (generate_latest(self._registry),)
        rendered: bytes = generate_openmetrics(self._registry)  # type: ignore[no-untyped-call]
        return (rendered.removesuffix(b"# EOF\n"),)


def test_scrapes_serve_the_rendered_bytes_and_a_change_renders_once(tmp_path: Path) -> None:
    collector = CountingCollector()
    results = CollectorRegistry(auto_describe=False)
    results.register(collector)
    exposition = Exposition(RegistryRenders(results), CollectorRegistry(auto_describe=False))
    server = WebServer("127.0.0.1:0", exposition)
    server.start()
    try:
        rendered = collector.collected
        scrapes = [threading.Thread(target=get, args=(f"{server.url}/metrics",)) for _ in range(20)]
        for scrape in scrapes:
            scrape.start()
        for scrape in scrapes:
            scrape.join()
        assert collector.collected == rendered  # twenty scrapes, no render
        collector.value = 7.0
        exposition.changed()
        wait_until(lambda: b"thing 7.0" in get(f"{server.url}/metrics")[2], what="new bytes")
        assert collector.collected == rendered + 1
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        connection.request("GET", "/metrics", headers={"Accept": "application/openmetrics-text"})
        body = connection.getresponse().read()
        assert body.endswith(b"# EOF\n") and body.count(b"# EOF") == 1
        connection.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
        response = connection.getresponse()
        assert response.headers["Content-Encoding"] == "gzip"
        assert b"thing 7.0" in gzip.decompress(response.read())
        assert collector.collected == rendered + 2  # OpenMetrics, once; gzip costs no render
    finally:
        server.stop()
