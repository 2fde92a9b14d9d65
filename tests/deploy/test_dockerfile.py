"""The container image recipe: hadolint-clean, hardened, and buildable from its own context.

No Docker engine is needed: the build context is worked out from
.dockerignore the way Docker does, and the builder stage's `pip wheel` is run
on a copy of it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.deploy_files import require_binary
from tests.support.paths import ROOT

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPILERS = ("gcc", "g++", "clang", "build-essential", "make", "libpq-dev", "python3-dev")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    pairs = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(DOCKERFILE.read_text()):
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


def only(stage: list[tuple[str, str]], keyword: str) -> str:
    found = [rest for kw, rest in stage if kw == keyword]
    assert len(found) == 1, f"expected one {keyword} in the final stage, found {found}"
    return found[0]


def test_hadolint_finds_nothing() -> None:
    hadolint = require_binary("hadolint")
    result = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_complain_about_a_careless_dockerfile(tmp_path: Path) -> None:
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python\nRUN apt-get install curl\nCMD python app.py\n")
    result = subprocess.run(
        [require_binary("hadolint"), str(careless)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "DL3006" in result.stdout  # untagged base image


def test_two_stages_on_a_pinned_slim_python() -> None:
    bases = [stage[0][1].split()[0] for stage in stages()]
    assert len(bases) >= 2, "a builder stage and a final stage"
    for base in bases:
        name, _, tag = base.partition(":")
        assert name == "python" and tag and tag != "latest", base
        assert re.match(r"\d+\.\d+\.\d+-slim", tag), f"{base}: pin the patch version"


def test_final_stage_installs_wheels_only_and_no_compiler() -> None:
    final = stages()[-1]
    text = " ".join(rest for _, rest in final)
    assert "--mount=type=bind,from=builder" in text
    assert "--no-index" in text, "the final stage must not reach a package index"
    assert not [kw for kw, rest in final if kw in ("COPY", "ADD")], "no source in the final image"
    for compiler in COMPILERS:
        assert not re.search(rf"\b{re.escape(compiler)}\b", text), compiler


def test_final_stage_runs_as_a_numeric_non_root_user() -> None:
    user = only(stages()[-1], "USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) > 0, f"USER {user}: numeric, so runAsNonRoot can verify it"


def test_healthcheck_asks_the_daemon_with_its_own_config_without_curl() -> None:
    # `schema-monitor healthcheck` speaks HTTPS when the daemon serves TLS
    # (tests/integration/test_fleet.py runs it against both).
    check = only(stages()[-1], "HEALTHCHECK")
    command = json.loads(check.split(" CMD ", 1)[1])
    assert command == [
        "schema-monitor",
        "healthcheck",
        "--config",
        "/etc/schema-monitor/monitor.yaml",
    ]
    assert "curl" not in check and "wget" not in check


def test_entrypoint_is_the_cli_and_runs_the_daemon_by_default() -> None:
    final = stages()[-1]
    assert json.loads(only(final, "ENTRYPOINT")) == ["schema-monitor"]
    assert json.loads(only(final, "CMD")) == ["run", "--config", "/etc/schema-monitor/monitor.yaml"]
    assert only(final, "EXPOSE") == "9568"


def test_healthcheck_command_fails_when_nothing_listens() -> None:
    command = [
        sys.executable,
        "-m",
        "monitor",
        "healthcheck",
        "--web.listen-address",
        "127.0.0.1:9",
    ]
    result = subprocess.run(command, capture_output=True, timeout=30, cwd=ROOT)
    assert result.returncode == 2 and b"Traceback" not in result.stderr


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Go's filepath.Match plus `**`, the way Docker reads it."""
    parts = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            parts.append(".*")
            i += 2
            if pattern.startswith("/", i):
                parts[-1] = "(?:.*/)?"
                i += 1
        elif pattern[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            parts.append("[^/]")
            i += 1
        else:
            parts.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(parts) + "$")


def _ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        rules.append((keep, _pattern_regex(line.lstrip("!").strip("/"))))
    return rules


def _excluded(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """The last rule matching the path or one of its parent directories decides."""
    parents = [path] + ["/".join(path.split("/")[:n]) for n in range(1, path.count("/") + 1)]
    excluded = False
    for keep, regex in rules:
        if any(regex.match(p) for p in parents):
            excluded = not keep
    return excluded


def build_context() -> list[str]:
    """Files of the repository that Docker would send as the build context."""
    rules = _ignore_rules()
    files = []
    for directory, subdirectories, names in os.walk(ROOT):
        relative = Path(directory).relative_to(ROOT).as_posix()
        # Never descend into the big trees nothing could re-include.
        subdirectories[:] = [d for d in subdirectories if d not in (".git", ".venv")]
        for name in names:
            path = name if relative == "." else f"{relative}/{name}"
            if not _excluded(path, rules):
                files.append(path)
    return sorted(files)


def test_build_context_holds_the_package_and_nothing_else() -> None:
    context = build_context()
    assert "pyproject.toml" in context
    assert "README.md" in context, "pyproject.toml names README.md: the build needs it"
    assert "LICENSE" in context, "pyproject.toml names LICENSE in license-files"
    assert "monitor/cli.py" in context
    assert any(
        path.startswith("monitor/postgres/queries/") and path.endswith(".sql") for path in context
    )
    for path in context:
        assert path in ("pyproject.toml", "README.md", "LICENSE") or path.startswith("monitor/"), (
            path
        )
        assert "__pycache__" not in path, path


@pytest.mark.slow
def test_builder_stage_builds_the_wheel_from_the_context(tmp_path: Path) -> None:
    context = tmp_path / "context"
    for path in build_context():
        (context / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, context / path)
    wheels = tmp_path / "wheels"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(context)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [wheel] = wheels.glob("schema_monitor-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "schema-monitor = monitor.cli:main" in archive.read(entry_points).decode()
    assert "monitor/cli.py" in names
    assert "monitor/postgres/sql/supabase_bootstrap.sql" in names
    assert any(n.startswith("monitor/postgres/queries/") and n.endswith(".sql") for n in names)
