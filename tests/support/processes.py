"""Real processes for end-to-end tests: the daemon, Prometheus, Alertmanager, a webhook.

Each process gets a free loopback port, its output in a log file under the
test's tmp_path, and is ended when the test ends. Their configurations are
the project's own deploy files with only addresses, intervals, the webhook
and the waits a test cannot sit out changed. Every wait is bounded and fails
with the processes' logs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
import yaml

from tests.support.paths import DEPLOY, ROOT, SPEC
from tests.support.waiting import answers_200, free_port, http_get, wait_until


class Processes:
    """Starts processes with their output in log files, and ends every one of them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self, name: str, command: Sequence[str], env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.directory / f"{name}.log").open("wb")
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=self.directory, env=env
        )
        log.close()  # the child holds its own descriptor
        self.started[name] = process
        return process

    def logs(self, lines: int = 25) -> str:
        parts = []
        for name, process in self.started.items():
            tail = (
                (self.directory / f"{name}.log").read_text(errors="replace").splitlines()[-lines:]
            )
            state = "running" if process.poll() is None else f"exited {process.returncode}"
            parts.append(f"--- {name} ({state}) ---\n" + "\n".join(tail))
        return "\n".join(parts)

    def stop_all(self) -> None:
        for process in self.started.values():
            if process.poll() is None:
                process.terminate()
        for process in self.started.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop_all()
        running = [name for name, p in self.started.items() if p.poll() is None]
        assert not running, f"still running after the test: {running}"


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    with Processes(tmp_path) as started:
        yield started


def _write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_monitor(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`python -m monitor ARGS` run to its end from the repository's root, output
    captured and no stdin; ``timeout`` only turns a hang into a failure."""
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def monitor_command() -> list[str]:
    """The installed console script (the image's ENTRYPOINT), else `python -m monitor`."""
    script = Path(sys.executable).parent / "schema-monitor"
    return [str(script)] if script.exists() else [sys.executable, "-m", "monitor"]


def start_monitor(
    processes: Processes, dsn: str, interval: str = "1s", settings: Mapping[str, Any] | None = None
) -> str:
    """`schema-monitor run` with deploy/compose/monitor.yaml pointed at `dsn`, its top-level
    `settings` replaced; its base URL."""
    config = yaml.safe_load((DEPLOY / "compose" / "monitor.yaml").read_text())
    config.update(settings or {})
    port = free_port()
    config["state_dir"] = str(processes.directory / "monitor-state")
    config["web"]["listen_address"] = f"127.0.0.1:{port}"
    config["intervals"] = {"drift": interval, "stats": interval}
    [target] = config["targets"]
    del target["dsn_file"]
    target.update(dsn=dsn, spec=str(SPEC))
    path = _write_yaml(processes.directory / "monitor.yaml", config)
    processes.start("monitor", [*monitor_command(), "run", "--config", str(path)])
    url = f"http://127.0.0.1:{port}"
    wait_until(
        answers_200(f"{url}/readyz"), timeout=30, what="the daemon's /readyz", processes=processes
    )
    return url


def start_alertmanager(processes: Processes, binary: str, webhook_url: str) -> str:
    """Alertmanager from deploy/compose/alertmanager.yml, notifying `webhook_url` at once."""
    config = yaml.safe_load((DEPLOY / "compose" / "alertmanager.yml").read_text())
    route = config["route"]
    route.update(group_wait="1s", group_interval="1s", repeat_interval="1h")
    [receiver] = [r for r in config["receivers"] if r["name"] == route["receiver"]]
    [webhook] = receiver["webhook_configs"]
    webhook["url"] = webhook_url
    path = _write_yaml(processes.directory / "alertmanager.yml", config)
    port = free_port()
    processes.start(
        "alertmanager",
        [
            binary,
            f"--config.file={path}",
            f"--storage.path={processes.directory / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip: one instance, no port to find
        ],
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(answers_200(f"{url}/-/ready"), timeout=30, what="Alertmanager", processes=processes)
    return url


def start_prometheus(
    processes: Processes, binary: str, monitor_url: str, alertmanager_url: str
) -> str:
    """Prometheus from deploy/prometheus/prometheus.yml and its alerts.yml, every second."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = [str(DEPLOY / "prometheus" / name) for name in config["rule_files"]]
    [alertmanagers] = config["alerting"]["alertmanagers"]
    alertmanagers["static_configs"] = [
        {"targets": [urllib.parse.urlsplit(alertmanager_url).netloc]}
    ]
    [job] = config["scrape_configs"]
    job["static_configs"] = [{"targets": [urllib.parse.urlsplit(monitor_url).netloc]}]
    path = _write_yaml(processes.directory / "prometheus.yml", config)
    port = free_port()
    processes.start(
        "prometheus",
        [
            binary,
            f"--config.file={path}",
            f"--storage.tsdb.path={processes.directory / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(answers_200(f"{url}/-/ready"), timeout=30, what="Prometheus", processes=processes)
    return url


def prometheus_api(url: str, path: str, **params: str) -> Any:
    """The `data` of a Prometheus HTTP API answer; fails the test on an error answer."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    answer = http_get(f"{url}/api/v1/{path}{query}", timeout=10)
    assert answer is not None, f"Prometheus did not answer /api/v1/{path}"
    body = json.loads(answer[1])
    assert body["status"] == "success", f"/api/v1/{path} {params}: {body}"
    return body["data"]


def instant_query(url: str, expr: str) -> list[dict[str, Any]]:
    data = prometheus_api(url, "query", query=expr)
    result: list[dict[str, Any]] = data["result"]
    return result


class Webhook:
    """An Alertmanager webhook receiver on loopback that keeps every alert it is sent."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with received._lock:
                    received.alerts.extend(body["alerts"])
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the test asserts on what arrives."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def find(self, alertname: str, status: str) -> dict[str, Any] | None:
        with self._lock:
            for alert in self.alerts:
                if alert["labels"].get("alertname") == alertname and alert["status"] == status:
                    return alert
        return None

    def __enter__(self) -> Webhook:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
