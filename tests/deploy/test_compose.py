"""docker compose: every file it mounts exists, its services find each other, and its
database init script, run against a real server, yields a database with no drift.

No Docker engine is needed: the mounts are laid out under tmp_path where the
daemon needs them, and the init script runs with psql against the test server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
import yaml
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.support.deploy_files import require_binary
from tests.support.paths import DEPLOY, ROOT
from tests.support.processes import run_monitor
from tests.support.waiting import free_port, wait_until

COMPOSE_DIR = DEPLOY / "compose"
INIT_SCRIPT = COMPOSE_DIR / "initdb" / "10-apply-migrations.sh"
SPEC = ROOT / "config" / "expected" / "phase3.yaml"


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((COMPOSE_DIR / "docker-compose.yml").read_text())
    return data


def service(name: str) -> dict[str, Any]:
    found: dict[str, Any] = compose()["services"][name]
    return found


def bind_mounts(name: str) -> dict[str, Path]:
    """Container path -> host path of a service's bind mounts (named volumes left out)."""
    mounts = {}
    for volume in service(name).get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            mounts[target] = (COMPOSE_DIR / source).resolve()
    return mounts


def secret_mounts(name: str) -> dict[str, Path]:
    secrets = compose()["secrets"]
    return {
        f"/run/secrets/{secret}": (COMPOSE_DIR / secrets[secret]["file"]).resolve()
        for secret in service(name).get("secrets", [])
    }


def monitor_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((COMPOSE_DIR / "monitor.yaml").read_text())
    return config


def test_the_stack_has_every_service() -> None:
    expected = {"postgres", "monitor", "prometheus", "alertmanager", "alert-log", "grafana"}
    assert compose()["services"].keys() == expected


def test_images_are_pinned_and_the_monitor_is_built_from_the_dockerfile() -> None:
    for name, spec in compose()["services"].items():
        if name == "monitor":
            build = spec["build"]
            assert (COMPOSE_DIR / build["context"] / build["dockerfile"]).resolve() == (
                ROOT / "Dockerfile"
            )
            continue
        image, _, tag = spec["image"].partition(":")
        assert tag and tag != "latest", f"{name}: pin {image} by tag"


def test_every_bind_mount_and_secret_exists_in_the_repository() -> None:
    for name in compose()["services"]:
        for target, source in {**bind_mounts(name), **secret_mounts(name)}.items():
            assert source.exists(), f"{name}: {source} (mounted at {target}) does not exist"
            assert ROOT in source.parents, f"{name}: {source} is outside the repository"


def test_the_daemon_accepts_its_config_as_mounted(tmp_path: Path) -> None:
    """Lay the monitor's mounts out under tmp_path and let the daemon validate the config."""
    mounts = {**bind_mounts("monitor"), **secret_mounts("monitor")}
    for target, source in mounts.items():
        copy = tmp_path / target.lstrip("/")
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(source.read_text())
    config = tmp_path / "etc" / "schema-monitor" / "monitor.yaml"
    text = config.read_text()
    for target in mounts:
        text = text.replace(target, str(tmp_path / target.lstrip("/")))
    config.write_text(text.replace("/var/lib/schema-monitor", str(tmp_path / "state")))
    assert service("monitor")["read_only"] is True
    result = run_monitor("run", "--config", str(config), "--validate-config", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_monitor_connects_to_the_compose_database_as_its_own_role() -> None:
    [target] = monitor_config()["targets"]
    dsn = secret_mounts("monitor")[target["dsn_file"]].read_text().strip()
    parts = conninfo_to_dict(dsn)
    environment = service("postgres")["environment"]
    assert parts["host"] == "postgres" and "postgres" in compose()["services"]
    assert parts["dbname"] == environment["POSTGRES_DB"]
    assert parts["user"] == "schema_monitor"  # the role the init script creates
    assert parts["password"] == environment["MONITOR_PASSWORD"]


def test_prometheus_scrapes_the_monitor_and_alerts_alertmanager() -> None:
    assert bind_mounts("prometheus")["/etc/prometheus"] == DEPLOY / "prometheus"
    assert "--config.file=/etc/prometheus/prometheus.yml" in service("prometheus")["command"]
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    listen_port = monitor_config()["web"]["listen_address"].rsplit(":", 1)[1]
    assert job["job_name"] == "schema-monitor"
    assert job["static_configs"] == [{"targets": [f"monitor:{listen_port}"]}]
    [alertmanagers] = config["alerting"]["alertmanagers"]
    assert alertmanagers["static_configs"] == [{"targets": ["alertmanager:9093"]}]


def test_alertmanager_config_is_valid_and_notifies_alert_log() -> None:
    result = subprocess.run(
        [require_binary("amtool"), "check-config", str(COMPOSE_DIR / "alertmanager.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((COMPOSE_DIR / "alertmanager.yml").read_text())
    [receiver] = [r for r in config["receivers"] if r["name"] == config["route"]["receiver"]]
    [webhook] = receiver["webhook_configs"]
    assert webhook["send_resolved"] is True
    url = urlsplit(webhook["url"])
    assert url.hostname == "alert-log"
    assert str(url.port) == service("alert-log")["command"][-1]


@pytest.fixture
def init_target(make_database: Callable[..., str]) -> Iterator[tuple[str, str]]:
    """An empty database and the name of a monitor role for the init script to create."""
    dsn = make_database()
    role = f"sm_monitor_{uuid.uuid4().hex[:8]}"
    yield dsn, role
    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


def test_init_script_yields_a_database_without_drift(init_target: tuple[str, str]) -> None:
    dsn, role = init_target
    parts = conninfo_to_dict(dsn)
    environment = {
        **os.environ,
        "PGHOST": str(parts.get("host", "")),
        "PGPORT": str(parts.get("port", "5432")),
        "POSTGRES_USER": str(parts.get("user", "postgres")),
        "POSTGRES_DB": str(parts["dbname"]),
        "BOOTSTRAP_FILE": str(ROOT / "monitor" / "postgres" / "sql" / "supabase_bootstrap.sql"),
        "MIGRATIONS_DIR": str(ROOT / "examples" / "supabase" / "migrations"),
        "MONITOR_ROLE": role,
        "MONITOR_PASSWORD": "test-only",
    }
    require_binary("psql")
    applied = subprocess.run(
        ["sh", str(INIT_SCRIPT)], env=environment, capture_output=True, text=True, timeout=120
    )
    assert applied.returncode == 0, applied.stdout + applied.stderr

    # As the role the monitor logs in with: it reads all it needs, and finds nothing amiss.
    as_monitor = make_conninfo(dsn, user=role, password="test-only")
    command = ["check", "--spec", str(SPEC), "--dsn", as_monitor, "--format", "json"]
    checked = run_monitor(*command, timeout=120)
    report = json.loads(checked.stdout)
    assert report["findings"] == [], report
    assert checked.returncode == 0, checked.stderr


def test_alert_log_prints_each_notification() -> None:
    port = free_port()
    printer = subprocess.Popen(
        [sys.executable, str(COMPOSE_DIR / "alert-log.py"), str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        notification = {
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "SchemaIndexMissing", "severity": "critical"},
                    "annotations": {"summary": "Index idx_active_integrations is missing"},
                }
            ],
        }
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/", data=json.dumps(notification).encode(), method="POST"
        )
        answer = wait_until(
            lambda: _post(request), timeout=15, what="alert-log to accept a notification"
        )
        assert answer == 200
    finally:
        printer.terminate()
        output, _ = printer.communicate(timeout=10)
    assert output.splitlines() == [
        "FIRING   SchemaIndexMissing [critical] Index idx_active_integrations is missing"
    ]


def _post(request: urllib.request.Request) -> int | None:
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            status: int = response.status
            return status
    except OSError:
        return None
