"""Write the Kubernetes manifests that copy files kept elsewhere in the repository.

    python deploy/kubernetes/render.py          # rewrite them
    python deploy/kubernetes/render.py --check  # exit 1 if one is out of date

configmap.yaml embeds monitor.yaml (beside this script) and the expected-state
spec config/expected/phase3.yaml; prometheusrule.yaml carries the groups of
deploy/prometheus/alerts.yml. Text is copied verbatim, comments included, so
the manifests read like their sources. tests/deploy/test_kubernetes.py runs
the check.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NAME = "schema-monitor"
LABELS = f"  labels:\n    app.kubernetes.io/name: {NAME}\n"
HEADER = "# Rendered by deploy/kubernetes/render.py from {sources}: do not edit.\n"


def indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "".join(pad + line if line.strip() else line for line in text.splitlines(True))


def literal_block(key: str, text: str) -> str:
    """`key: |` followed by the text, which must end in exactly one newline to survive."""
    if not text.endswith("\n") or text.endswith("\n\n"):
        raise ValueError(f"{key}: the file must end with exactly one newline")
    return f"  {key}: |\n{indent(text, 4)}"


def configmap() -> str:
    monitor = HERE / "monitor.yaml"
    spec = ROOT / "config" / "expected" / "phase3.yaml"
    return (
        HEADER.format(sources="deploy/kubernetes/monitor.yaml and config/expected/phase3.yaml")
        + f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {NAME}\n{LABELS}data:\n"
        + literal_block("monitor.yaml", monitor.read_text())
        + literal_block("phase3.yaml", spec.read_text())
    )


def prometheusrule() -> str:
    alerts = (ROOT / "deploy" / "prometheus" / "alerts.yml").read_text()
    # Everything from `groups:` on; the comments above it describe the file itself.
    start = alerts.index("\ngroups:\n") + 1
    return (
        HEADER.format(sources="deploy/prometheus/alerts.yml")
        + "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\n"
        + f"metadata:\n  name: {NAME}\n{LABELS}spec:\n"
        + indent(alerts[start:], 2)
    )


OUTPUTS = {"configmap.yaml": configmap, "prometheusrule.yaml": prometheusrule}


def main(argv: list[str]) -> int:
    check = argv == ["--check"]
    if argv and not check:
        print("usage: render.py [--check]", file=sys.stderr)
        return 2
    stale = []
    for name, render in OUTPUTS.items():
        path = HERE / name
        text = render()
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    for name in stale:
        print(f"deploy/kubernetes/{name} is out of date: run deploy/kubernetes/render.py")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
