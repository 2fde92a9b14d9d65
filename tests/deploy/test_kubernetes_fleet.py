"""deploy/kubernetes/fleet: a StatefulSet whose replicas split a fleet by their ordinal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.daemon.fleet import parse_shard
from tests.support.paths import DEPLOY

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate",
    reason="kubernetes-validate not installed (pip install kubernetes-validate)",
)

FLEET = DEPLOY / "kubernetes" / "fleet"
CORE_KINDS = ("ConfigMap", "Service", "StatefulSet")


def resources() -> dict[str, dict[str, Any]]:
    kustomization = yaml.safe_load((FLEET / "kustomization.yaml").read_text())
    found = {}
    for name in kustomization["resources"]:
        resource = yaml.safe_load((FLEET / name).read_text())
        found[resource["kind"]] = resource
    return found


@pytest.mark.parametrize("kind", CORE_KINDS)
def test_core_resources_validate_strictly(kind: str) -> None:
    kubernetes_validate.validate(resources()[kind], "1.29.0", strict=True)


def test_each_replica_shards_by_its_ordinal_and_the_count_is_the_replicas() -> None:
    statefulset = resources()["StatefulSet"]
    replicas = statefulset["spec"]["replicas"]
    [container] = statefulset["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    shard = args[args.index("--shard") + 1]
    assert shard == f"$(POD_NAME)/{replicas}"
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]}
    assert env["POD_NAME"] == "metadata.name"
    name = statefulset["metadata"]["name"]
    # What the kubelet expands it to, for each pod: replica I of N.
    shards = [parse_shard(shard.replace("$(POD_NAME)", f"{name}-{i}")) for i in range(replicas)]
    assert [(s.index, s.count) for s in shards if s is not None] == [
        (i, replicas) for i in range(replicas)
    ]


def test_the_config_reads_the_targets_file_and_the_relabeling_names_the_shard() -> None:
    config = yaml.safe_load(resources()["ConfigMap"]["data"]["monitor.yaml"])
    targets = yaml.safe_load(resources()["ConfigMap"]["data"]["targets.yaml"])
    assert Path(config["targets_file"]).name == "targets.yaml"
    assert all({"name", "dsn_file", "spec"} <= target.keys() for target in targets)
    monitor = yaml.safe_load((FLEET / "servicemonitor.yaml").read_text())
    [endpoint] = monitor["spec"]["endpoints"]
    assert {r["targetLabel"] for r in endpoint["relabelings"]} == {"shard", "instance"}
    service = resources()["Service"]
    assert service["spec"]["clusterIP"] == "None"  # every replica scraped
    assert service["metadata"]["labels"]["job"] == "schema-monitor"
