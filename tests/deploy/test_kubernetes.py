"""The Kubernetes manifests: valid against the Kubernetes schemas, consistent with each other,
with the image, and with the files they copy.

kubernetes-validate carries the core API schemas offline. ServiceMonitor and
PrometheusRule are Prometheus Operator resources it has no schema for: their
metadata and label selectors are checked against the core schemas, their
spec fields against the operator's field names, and the PrometheusRule's
groups with promtool, which is what the operator hands them to.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.deploy_files import ALERTS, require_binary
from tests.support.paths import DEPLOY, ROOT
from tests.support.processes import run_monitor

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate",
    reason="kubernetes-validate not installed (pip install kubernetes-validate)",
)
import jsonschema  # noqa: E402  (installed with kubernetes-validate)
import referencing  # noqa: E402
from kubernetes_validate.utils import schema_contents  # noqa: E402

KUBERNETES = DEPLOY / "kubernetes"
# The oldest Kubernetes still in wide use (native sidecars not needed) and the newest known.
KUBERNETES_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
CORE_KINDS = {"ConfigMap", "Deployment", "Service"}
OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}
NOT_MANIFESTS = {"kustomization.yaml", "monitor.yaml"}
DURATION = (
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)


def manifests() -> dict[str, dict[str, Any]]:
    """kind -> the one resource of that kind in deploy/kubernetes."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path.name in NOT_MANIFESTS:
            continue
        for resource in yaml.safe_load_all(path.read_text()):
            assert resource["kind"] not in found, f"two {resource['kind']} resources"
            found[resource["kind"]] = resource
    return found


def sidecar() -> dict[str, Any]:
    pod = manifests()["Deployment"]["spec"]["template"]["spec"]
    [container] = [c for c in pod["containers"] if c["name"] == "schema-monitor"]
    found: dict[str, Any] = container
    return found


def pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = manifests()["Deployment"]["spec"]["template"]["spec"]
    return spec


def k8s_monitor_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((KUBERNETES / "monitor.yaml").read_text())
    return config


def test_every_resource_kind_is_there() -> None:
    assert manifests().keys() == CORE_KINDS | OPERATOR_KINDS


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("kind", sorted(CORE_KINDS))
def test_core_resources_validate_strictly(kind: str, version: str) -> None:
    kubernetes_validate.validate(manifests()[kind], version, strict=True)


def test_strict_validation_rejects_a_misspelt_field() -> None:
    deployment = manifests()["Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][1]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


def _core_definition(name: str, version: str) -> jsonschema.protocols.Validator:
    directory = f"kubernetes-json-schema/v{version}-local-strict"
    schema = schema_contents(f"{directory}/{name}.json", version)
    definitions = schema_contents(f"{directory}/_definitions.json", version)
    registry: referencing.Registry[Any] = referencing.Registry().with_resources(
        [
            ("", referencing.Resource.from_contents(schema)),
            ("_definitions.json", referencing.Resource.from_contents(definitions)),
        ]
    )
    return jsonschema.Draft202012Validator(schema, registry=registry)


# The operator's field names for what these manifests use (monitoring.coreos.com/v1).
OPERATOR_SPECS: dict[str, dict[str, Any]] = {
    "ServiceMonitor": {
        "type": "object",
        "required": ["selector", "endpoints"],
        "additionalProperties": False,
        "properties": {
            "selector": {"type": "object"},
            "namespaceSelector": {"type": "object"},
            "jobLabel": {"type": "string"},
            "endpoints": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "port": {"type": "string"},
                        "path": {"type": "string"},
                        "scheme": {"enum": ["http", "https"]},
                        "interval": {"type": "string", "pattern": DURATION},
                        "scrapeTimeout": {"type": "string", "pattern": DURATION},
                    },
                },
            },
        },
    },
    "PrometheusRule": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "groups": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "rules"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "interval": {"type": "string", "pattern": DURATION},
                        "rules": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["expr"],
                                "additionalProperties": False,
                                "properties": {
                                    "alert": {"type": "string"},
                                    "record": {"type": "string"},
                                    "expr": {"type": "string"},
                                    "for": {"type": "string", "pattern": DURATION},
                                    "labels": {
                                        "type": "object",
                                        "additionalProperties": {"type": "string"},
                                    },
                                    "annotations": {
                                        "type": "object",
                                        "additionalProperties": {"type": "string"},
                                    },
                                },
                            },
                        },
                    },
                },
            }
        },
    },
}


@pytest.mark.parametrize("kind", sorted(OPERATOR_KINDS))
def test_operator_resources_have_valid_metadata_and_spec(kind: str) -> None:
    resource = manifests()[kind]
    version = KUBERNETES_VERSIONS[-1]
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(resource, version, strict=True)
    assert resource["apiVersion"] == "monitoring.coreos.com/v1"
    assert resource.keys() == {"apiVersion", "kind", "metadata", "spec"}
    _core_definition("objectmeta-meta-v1", version).validate(resource["metadata"])
    jsonschema.Draft202012Validator(OPERATOR_SPECS[kind]).validate(resource["spec"])
    if kind == "ServiceMonitor":
        _core_definition("labelselector-meta-v1", version).validate(resource["spec"]["selector"])


def test_rendered_manifests_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(KUBERNETES / "render.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_runbook_links_follow_a_base_given_at_render_time(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(KUBERNETES / "render.py"),
            "--runbook-base",
            "https://wiki.internal/ops/schema-monitor/runbooks/",
            "--output-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("prometheusrule.yaml", "alerts.yml"):
        text = (tmp_path / name).read_text()
        links = [link.strip("'") for link in re.findall(r"runbook_url: (\S+)", text)]
        assert links and all(
            link.startswith("https://wiki.internal/ops/schema-monitor/runbooks#") for link in links
        ), name


def test_configmap_carries_the_config_and_the_spec_verbatim() -> None:
    data = manifests()["ConfigMap"]["data"]
    assert data["monitor.yaml"] == (KUBERNETES / "monitor.yaml").read_text()
    assert data["phase3.yaml"] == (ROOT / "config" / "expected" / "phase3.yaml").read_text()


def test_prometheusrule_carries_the_alerts_and_promtool_accepts_them(tmp_path: Path) -> None:
    spec = manifests()["PrometheusRule"]["spec"]
    assert spec == yaml.safe_load(ALERTS.read_text())
    rules = tmp_path / "prometheusrule-groups.yml"
    rules.write_text(yaml.safe_dump(spec))
    result = subprocess.run(
        [require_binary("promtool"), "check", "rules", str(rules)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_sidecar_runs_the_released_image_as_the_daemon() -> None:
    container = sidecar()
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert container["image"].endswith(f"/schema-monitor:{version}")
    assert container["args"] == ["run", "--config", "/etc/schema-monitor/monitor.yaml"]
    [port] = container["ports"]
    listen_port = int(k8s_monitor_config()["web"]["listen_address"].rsplit(":", 1)[1])
    assert (port["name"], port["containerPort"]) == ("metrics", listen_port)


def test_sidecar_is_probed_and_bounded() -> None:
    container = sidecar()
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= container["resources"][bound].keys(), bound


def test_sidecar_is_locked_down_and_matches_the_image_user() -> None:
    context = sidecar()["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    user = re.search(r"^USER (\d+):(\d+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert user, "the Dockerfile sets a numeric USER"
    assert (context["runAsUser"], context["runAsGroup"]) == (int(user[1]), int(user[2]))
    # The projected Secret is mode 0440: readable through the pod's fsGroup.
    assert pod_spec()["securityContext"]["fsGroup"] == int(user[2])


def mounted_files() -> dict[str, tuple[str, str]]:
    """Path in the sidecar -> (ConfigMap or Secret, key) of every projected file."""
    volumes = {v["name"]: v for v in pod_spec()["volumes"]}
    files = {}
    for mount in sidecar()["volumeMounts"]:
        volume = volumes[mount["name"]]
        for source in volume.get("projected", {}).get("sources", []):
            for kind, ref in source.items():
                for item in ref["items"]:
                    files[f"{mount['mountPath']}/{item['path']}"] = (kind, item["key"])
    return files


def test_the_config_finds_everything_it_names_in_the_mounts() -> None:
    files = mounted_files()
    configmap_keys = manifests()["ConfigMap"]["data"].keys()
    assert files["/etc/schema-monitor/monitor.yaml"] == ("configMap", "monitor.yaml")
    [target] = k8s_monitor_config()["targets"]
    assert files[target["spec"]] == ("configMap", "phase3.yaml")
    assert files[target["dsn_file"]] == ("secret", "dsn")
    assert {key for kind, key in files.values() if kind == "configMap"} <= configmap_keys
    writable = {m["mountPath"] for m in sidecar()["volumeMounts"] if not m.get("readOnly")}
    assert k8s_monitor_config()["state_dir"] in writable


def test_the_daemon_accepts_the_configmap_as_mounted(tmp_path: Path) -> None:
    """Lay the projected volume out under tmp_path and let the daemon validate the config."""
    data = manifests()["ConfigMap"]["data"]
    etc = tmp_path / "etc" / "schema-monitor"
    for path, (kind, key) in mounted_files().items():
        file = etc / Path(path).relative_to("/etc/schema-monitor")
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(data[key] if kind == "configMap" else "postgresql://monitor@db/app\n")
    config = etc / "monitor.yaml"
    text = config.read_text().replace("/etc/schema-monitor", str(etc))
    config.write_text(text.replace("/var/lib/schema-monitor", str(tmp_path / "state")))
    result = run_monitor("run", "--config", str(config), "--validate-config", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_service_and_servicemonitor_reach_the_sidecar() -> None:
    resources = manifests()
    service, monitor = resources["Service"], resources["ServiceMonitor"]
    pod_labels = resources["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    [port] = service["spec"]["ports"]
    assert port["targetPort"] == "metrics"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [port["name"]]
    # Prometheus names the job after the Service; SchemaMonitorDown looks for this job.
    assert service["metadata"]["name"] == "schema-monitor"
    assert 'up{job="schema-monitor"}' in ALERTS.read_text()


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    files = {p.name for p in KUBERNETES.glob("*.yaml")} - NOT_MANIFESTS
    assert sorted(kustomization["resources"]) == sorted(files)
