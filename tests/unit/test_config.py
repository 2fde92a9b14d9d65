"""The daemon's config file: strict validation, every problem at once, with its line."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.daemon import config
from monitor.errors import InputError
from monitor.schema.advisors import Settings as AdvisorSettings
from tests.support.processes import run_monitor

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "config" / "expected" / "phase3.yaml"


def load_text(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> config.Config:
    path = tmp_path / "monitor.yaml"
    path.write_text(text)
    return config.load(path, environ or {})


def problems_of(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(InputError) as caught:
        load_text(tmp_path, text, environ)
    return [str(p) for p in caught.value.problems]


def minimal(target: str = "") -> str:
    return f"""\
version: 1
targets:
  - name: app
    dsn: postgresql://monitor@db/app
    spec: {SPEC}
{target}"""


def test_the_smallest_config_gets_every_default(tmp_path: Path) -> None:
    loaded = load_text(tmp_path, minimal())
    assert loaded.state_dir == config.DEFAULT_STATE_DIR
    assert loaded.web.listen_address == "0.0.0.0:9568"
    assert (loaded.intervals.drift, loaded.intervals.stats) == (60.0, 60.0)
    assert loaded.watch_window == config.WatchWindow(start=None, duration=48 * 3600.0)
    assert loaded.limits.other_indexes == 20
    assert loaded.targets[0].schemas == ("public",)
    assert loaded.targets[0].dsn_source == "inline"


def test_every_section_is_read(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("x")
    (tmp_path / "key.pem").write_text("x")
    (tmp_path / "dsn").write_text("postgresql://monitor:pw@db/app\n")
    loaded = load_text(
        tmp_path,
        f"""\
version: 1
state_dir: state
log_format: json
web:
  listen_address: "[::1]:9999"
  tls: {{cert_file: cert.pem, key_file: key.pem}}
intervals: {{drift: 30s, stats: 1m, full_drift: 1h30m}}
timeouts: {{lock: 150ms, statement: 5s, connect: 3s}}
reconnect: {{initial_delay: 2s, max_delay: 2m}}
watch_window:
  start: 2025-01-23T10:00:00Z
  duration: 24h
  after: exit
  new_indexes_since: "20250123000000"
limits: {{other_indexes: 5, spec_relations: 50, present_objects: 100}}
targets:
  - name: from-file
    dsn_file: dsn
    spec: {SPEC}
    schemas: [public, billing]
  - name: from-env
    dsn_env: APP_DSN
    spec: {SPEC}
""",
        {"APP_DSN": "host=db dbname=app"},
    )
    assert loaded.state_dir == tmp_path / "state"  # relative to the config file
    assert loaded.log_format == "json"
    assert loaded.web.listen_address == "[::1]:9999"
    assert loaded.web.tls == config.Tls(tmp_path / "cert.pem", tmp_path / "key.pem")
    assert loaded.intervals == config.Intervals(drift=30.0, stats=60.0, full_drift=5400.0)
    assert loaded.timeouts == config.Timeouts(lock=0.15, statement=5.0, connect=3.0)
    assert loaded.reconnect == config.Reconnect(initial_delay=2.0, max_delay=120.0)
    assert loaded.watch_window == config.WatchWindow(
        start=datetime(2025, 1, 23, 10, tzinfo=UTC),
        duration=86400.0,
        after="exit",
        new_indexes_since="20250123000000",
    )
    assert loaded.limits == config.Limits(other_indexes=5, spec_relations=50, present_objects=100)
    from_file, from_env = loaded.targets
    assert from_file.dsn == "postgresql://monitor:pw@db/app"  # newline stripped
    assert from_file.dsn_source == f"file:{tmp_path / 'dsn'}"
    assert from_file.schemas == ("public", "billing")
    assert from_env.dsn == "host=db dbname=app"
    assert from_env.dsn_source == "env:APP_DSN"


def test_every_problem_is_reported_at_once_with_its_line(tmp_path: Path) -> None:
    found = problems_of(
        tmp_path,
        """\
version: 1
state_dir: /tmp/x
log_fromat: json
intervals: {drift: 60, stats: soon}
web: {listen_address: "nohost"}
watch_window: {start: yesterday, after: stop}
limits: {other_indexes: -1}
targets:
  - name: "bad name!"
    dsn: postgresql://db/app
    dsn_env: APP_DSN
    spec: /nonexistent/spec.yaml
  - name: ok
    spec: /nonexistent/other.yaml
""",
    )
    where = str(tmp_path / "monitor.yaml")
    assert found == [
        f"{where}:3: config: unknown key 'log_fromat' (expected one of: version, targets, "
        "state_dir, log_format, web, intervals, timeouts, reconnect, watch_window, limits, "
        "advisors, targets_file, shard, max_concurrent_checks, log_level, statements)",
        f"{where}:4: intervals.drift: '60' is not a duration such as 60s, 5m or 48h"
        " (a unit is required)",
        f"{where}:4: intervals.stats: 'soon' is not a duration such as 60s, 5m or 48h",
        f"{where}:5: web.listen_address: 'nohost' is not HOST:PORT (e.g. 0.0.0.0:9568)",
        f"{where}:6: watch_window.start: expected `auto` or an RFC 3339 timestamp, got 'yesterday'",
        f"{where}:6: watch_window.after: 'stop' is not one of continue, exit",
        f"{where}:7: limits.other_indexes: must be at least 0",
        f"{where}:9: targets[0].name: 'bad name!' must be letters, digits, '_', '.' or '-'",
        f"{where}:9: targets[0]: give exactly one of dsn, dsn_env, dsn_file (found dsn, dsn_env)",
        f"{where}:12: targets[0].spec: file not found: /nonexistent/spec.yaml",
        f"{where}:13: targets[1]: give exactly one of dsn, dsn_env, dsn_file",
        f"{where}:14: targets[1].spec: file not found: /nonexistent/other.yaml",
    ]


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("intervals: {drift: 500ms}", "intervals.drift: must be at least 1s"),
        (
            "timeouts: {statement: 2m}",
            "timeouts.statement: 120s must be shorter than the run budget",
        ),
        ("timeouts: {lock: 20s}", "timeouts.lock: 20s must be shorter than timeouts.statement"),
        ("intervals: {drift: 5m, full_drift: 1m}", "intervals.full_drift: must not be shorter"),
        ("reconnect: {initial_delay: 5m}", "reconnect.initial_delay: must not be longer"),
        ("watch_window: {start: '2025-01-23T10:00:00'}", "the timestamp needs a timezone"),
        ("watch_window: {duration: 0s}", "watch_window.duration: must be longer than zero"),
        ("web: {tls: {cert_file: /nonexistent.pem}}", "web.tls: missing required key 'key_file'"),
        ("limits: {other_indexes: many}", "limits.other_indexes: expected an integer"),
        ("version: 2", "version: unsupported version 2; expected 1"),
        ("intervals: {drift: 1m, drift: 2m}", "intervals: duplicate key 'drift'"),
    ],
)
def test_rules_across_and_within_sections(tmp_path: Path, snippet: str, message: str) -> None:
    text = minimal().replace("version: 1\n", "") if snippet.startswith("version") else minimal()
    found = problems_of(tmp_path, f"{snippet}\n{text}")
    assert any(message in problem for problem in found), found


def test_a_missing_environment_variable_or_dsn_file_is_a_problem(tmp_path: Path) -> None:
    found = problems_of(
        tmp_path,
        f"""\
version: 1
targets:
  - {{name: a, dsn_env: NOT_SET, spec: {SPEC}}}
  - {{name: b, dsn_file: secrets/dsn, spec: {SPEC}}}
  - {{name: c, dsn: "host='unterminated", spec: {SPEC}}}
""",
    )
    assert (
        "targets[0].dsn_env: environment variable NOT_SET is not set (nor NOT_SET_FILE)"
        in (found[0])
    )
    assert f"targets[1].dsn_file: cannot read {tmp_path / 'secrets/dsn'}" in found[1]
    assert found[2].endswith("targets[2].dsn: not a valid libpq connection string")


def test_a_target_name_may_appear_once(tmp_path: Path) -> None:
    found = problems_of(tmp_path, minimal() + minimal().split("targets:\n", 1)[1])
    assert found == [f"{tmp_path / 'monitor.yaml'}:6: targets: duplicate target name 'app'"]


def test_yaml_syntax_errors_name_their_line(tmp_path: Path) -> None:
    found = problems_of(tmp_path, "version: 1\ntargets: [\n  - {name: a\n")
    assert len(found) == 1 and found[0].startswith(f"{tmp_path / 'monitor.yaml'}:")
    assert "invalid YAML" in found[0]


def test_an_empty_file_says_what_it_needs(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "") == [
        f"{tmp_path / 'monitor.yaml'}: the config is empty; it needs at least `version: 1` and "
        "`targets:`"
    ]


def test_the_statement_timeout_defaults_inside_the_run_budget(tmp_path: Path) -> None:
    loaded = load_text(tmp_path, "intervals: {drift: 2s, stats: 1m}\n" + minimal())
    assert loaded.timeouts.statement == pytest.approx(0.9)
    assert loaded.run_budget("drift") == pytest.approx(1.8)
    assert loaded.run_budget("stats") == pytest.approx(54.0)


def test_a_dsn_never_shows_in_the_config_repr(tmp_path: Path) -> None:
    loaded = load_text(tmp_path, minimal().replace("monitor@db", "monitor:hunter22@db"))
    assert "hunter22" not in repr(loaded)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("60s", 60.0),
        ("5m", 300.0),
        ("48h", 172800.0),
        ("1h30m", 5400.0),
        ("200ms", 0.2),
        ("2d", 172800.0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert config.parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "60", "5 minutes", "m5", "1h-2m", "s"])
def test_not_durations(text: str) -> None:
    assert config.parse_duration(text) is None


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("0.0.0.0:9568", ("0.0.0.0", 9568)),
        (":9568", ("0.0.0.0", 9568)),
        ("[::]:9568", ("::", 9568)),
        ("localhost:0", ("localhost", 0)),
        ("host", None),
        ("host:99999", None),
        ("[::1:80", None),
    ],
)
def test_listen_addresses(text: str, parsed: tuple[str, int] | None) -> None:
    assert config.parse_listen_address(text) == parsed


def test_validate_config_exits_2_listing_problems_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text("version: 1\nbogus: 1\ntargets:\n  - {name: a, dsn: x=1, spec: nope.yaml}\n")
    done = run_monitor("run", "--config", str(path), "--validate-config", timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"{path}:2: config: unknown key 'bogus'" in done.stderr
    assert f"{path}:4: targets[0].spec: file not found: {tmp_path / 'nope.yaml'}" in done.stderr


def test_validate_config_also_validates_the_specs(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("version: 1\nschemas: {public: {tables: {t: {colums: []}}}}\n")
    path = tmp_path / "monitor.yaml"
    path.write_text(f"version: 1\ntargets:\n  - {{name: a, dsn: 'host=db', spec: {spec}}}\n")
    done = run_monitor("run", "--config", str(path), "--validate-config", timeout=60)
    assert done.returncode == 2
    assert f"{spec}:2:" in done.stderr and "colums" in done.stderr


def test_validate_config_accepts_the_example_config(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor",
            "run",
            "--config",
            str(ROOT / "config" / "monitor.yaml"),
            "--validate-config",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgresql://monitor@db/app"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("ok (1 targets)")


def test_the_advisors_section_is_read(tmp_path: Path) -> None:
    loaded = load_text(
        tmp_path,
        minimal()
        + """\
advisors:
  exposed_schemas: [public, api]
  disable: [no_primary_key]
  ignore: ["rls_enabled_no_policy:public.audit_*"]
  unused_index_after: 6h
""",
    )
    assert loaded.advisors == AdvisorSettings(
        exposed_schemas=("public", "api"),
        disabled_rules=frozenset({"no_primary_key"}),
        ignore=("rls_enabled_no_policy:public.audit_*",),
        unused_index_after_seconds=6 * 3600.0,
    )
    assert load_text(tmp_path, minimal()).advisors == AdvisorSettings()
    assert not load_text(tmp_path, minimal() + "advisors: {enabled: false}\n").advisors.enabled


def test_an_unknown_advisor_rule_or_option_is_a_problem_with_its_line(tmp_path: Path) -> None:
    found = problems_of(
        tmp_path,
        minimal() + "advisors:\n  disable: [no_such_rule]\n  enabled: maybe\n  colour: red\n",
    )
    assert any(":7: advisors.disable: unknown rule 'no_such_rule'" in p for p in found), found
    assert any(":8: advisors.enabled: expected true or false" in p for p in found), found
    assert any("colour" in p for p in found), found


def test_a_yaml_1_1_boolean_says_what_was_meant_as_in_the_spec(tmp_path: Path) -> None:
    found = problems_of(tmp_path, minimal() + "advisors: {enabled: yes}\n")
    assert any(
        ":6: advisors.enabled: expected true or false, got 'yes' (did you mean true?)" in p
        for p in found
    ), found


def test_the_statements_section_is_read_and_checked(tmp_path: Path) -> None:
    assert load_text(tmp_path, minimal()).statements == config.Statements()
    loaded = load_text(
        tmp_path,
        minimal() + "statements: {top: 5, probes: 0, unplanned_after: 6h, slower_ratio: 2}\n",
    )
    assert loaded.statements == config.Statements(
        top=5, probes=0, unplanned_after=6 * 3600.0, slower_ratio=2.0
    )
    found = problems_of(
        tmp_path,
        minimal() + "statements:\n  top: -1\n  unplanned_after: 10\n  slower_ratio: 0.5\n",
    )
    assert any(":7: statements.top: must be at least 0" in p for p in found), found
    assert any(":8: statements.unplanned_after: '10' is not a duration" in p for p in found)
    assert any(":9: statements.slower_ratio: expected a ratio of at least 1" in p for p in found)
    for ratio in ("nan", "inf", "1e999", "x"):
        found = problems_of(tmp_path, minimal() + f"statements: {{slower_ratio: {ratio}}}\n")
        assert any("statements.slower_ratio" in p for p in found), (ratio, found)
