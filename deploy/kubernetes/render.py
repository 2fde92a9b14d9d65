"""Write the Kubernetes manifests that copy files kept elsewhere in the repository.

    python deploy/kubernetes/render.py          # rewrite them
    python deploy/kubernetes/render.py --check  # exit 1 if one is out of date
    python deploy/kubernetes/render.py --runbook-base URL --output-dir DIR

--runbook-base points every alert's runbook_url at your copy of
docs/runbooks.md (a wiki, your fork's web view) instead of the repository
path the committed files carry; the manifests and alerts.yml (for a plain
Prometheus's rule_files) go to DIR.

configmap.yaml embeds monitor.yaml (beside this script) and the expected-state
spec config/expected/phase3.yaml; prometheusrule.yaml carries the groups of
deploy/prometheus/alerts.yml. Text is copied verbatim, comments included, so
the manifests read like their sources. tests/deploy/test_kubernetes.py runs
the check.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NAME = "schema-monitor"
LABELS = f"  labels:\n    app.kubernetes.io/name: {NAME}\n"
HEADER = "# Rendered by deploy/kubernetes/render.py from {sources}: do not edit.\n"
# What every runbook_url of deploy/prometheus/alerts.yml starts with (but SchemaMonitorDown's,
# which has the instance as a label): the daemon that watches the alert's target serves them.
RUNBOOK_BASE = (
    '\'{{ with printf "schema_monitor_up{target=%q}" $labels.target | query }}'
    '{{ $instance := . | first | label "instance" }}'
    '{{ with printf "schema_monitor_web_info{instance=%q}" $instance | query }}'
    '{{ . | first | label "scheme" }}{{ else }}http{{ end }}://{{ $instance }}{{ end }}/runbooks'
)
_DOWN_BASE = "'http://{{ $labels.instance }}/runbooks"


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


def alerts(runbook_base: str = RUNBOOK_BASE) -> str:
    """deploy/prometheus/alerts.yml with its runbook links rebased."""
    text = (ROOT / "deploy" / "prometheus" / "alerts.yml").read_text()
    if runbook_base == RUNBOOK_BASE:
        return text
    for base in (RUNBOOK_BASE, _DOWN_BASE):
        text = text.replace(f"runbook_url: {base}#", f"runbook_url: '{runbook_base}#")
    return text


def prometheusrule(runbook_base: str = RUNBOOK_BASE) -> str:
    alerts_text = alerts(runbook_base)
    # Everything from `groups:` on; the comments above it describe the file itself.
    start = alerts_text.index("\ngroups:\n") + 1
    return (
        HEADER.format(sources="deploy/prometheus/alerts.yml")
        + "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\n"
        + f"metadata:\n  name: {NAME}\n{LABELS}spec:\n"
        + indent(alerts_text[start:], 2)
    )


OUTPUTS = {"configmap.yaml": configmap, "prometheusrule.yaml": prometheusrule}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="render.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is out of date")
    parser.add_argument("--runbook-base", default=RUNBOOK_BASE, metavar="URL")
    parser.add_argument("--output-dir", type=Path, default=HERE, metavar="DIR")
    args = parser.parse_args(argv)
    check = args.check
    if check and args.runbook_base != RUNBOOK_BASE:
        parser.error("--check compares with the committed files: leave out --runbook-base")
    base = args.runbook_base.rstrip("/")
    output = args.output_dir
    if output != HERE:
        output.mkdir(parents=True, exist_ok=True)
        (output / "alerts.yml").write_text(alerts(base))
    stale = []
    for name, render in OUTPUTS.items():
        path = output / name
        text = render() if name != "prometheusrule.yaml" else prometheusrule(base)
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
