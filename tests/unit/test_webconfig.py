"""The web config (`--web.config.file`): read as the daemon's config is, every problem at
its line; the toolkit's options this server cannot honour refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.daemon import config, webconfig
from monitor.errors import InputError, Problem
from tests.support.paths import SPEC


def problems_of(tmp_path: Path, text: str) -> list[Problem]:
    path = tmp_path / "web.yml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        webconfig.load(path)
    return caught.value.problems


def lines_of(problems: list[Problem]) -> dict[str, int | None]:
    """Each problem's line, by the dotted path its message starts with."""
    return {p.message.split(":")[0]: p.line for p in problems}


def test_each_problem_is_reported_at_the_line_of_its_key(tmp_path: Path) -> None:
    found = problems_of(
        tmp_path,
        "tls_server_config:\n"
        "  cert_file: missing.crt\n"
        "  key_file: missing.key\n"
        "  min_version: TLS9\n"
        "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n"
        "basic_auth_users:\n"
        "  prometheus: $2b$12$abc\n"
        "  grafana: not-a-hash\n",
    )
    assert lines_of(found) == {
        "tls_server_config.cert_file": 2,
        "tls_server_config.key_file": 3,
        "tls_server_config.min_version": 4,
        "tls_server_config.cipher_suites": 5,
        "basic_auth_users.grafana": 8,
    }
    assert all(p.file == str(tmp_path / "web.yml") for p in found)


def test_a_yaml_1_1_boolean_gets_the_did_you_mean_the_daemon_config_gives(
    tmp_path: Path,
) -> None:
    (web,) = problems_of(tmp_path, "http_server_config:\n  http2: yes\n")
    daemon_config = tmp_path / "monitor.yaml"
    daemon_config.write_text(
        f"version: 1\ntargets: [{{name: app, dsn: 'host=db', spec: {SPEC}}}]\n"
        "advisors: {enabled: yes}\n"
    )
    with pytest.raises(InputError) as caught:
        config.load(daemon_config, {})
    (daemon,) = caught.value.problems
    assert (web.line, web.message) == (
        2,
        "http_server_config.http2: expected true or false, got 'yes' (did you mean true?)",
    )
    assert web.message.split(": ", 1)[1] == daemon.message.split(": ", 1)[1]


def test_an_unknown_key_and_a_refused_key_are_each_named_once(tmp_path: Path) -> None:
    found = problems_of(
        tmp_path,
        "tls_server_config:\n"
        "  cert_file: missing.crt\n"
        "  key_file: missing.key\n"
        "  colour: red\n"
        "  curve_preferences: [X25519]\n",
    )
    unknown = [p for p in found if "colour" in p.message]
    refused = [p for p in found if "curve_preferences" in p.message]
    assert [(p.line, p.message) for p in unknown] == [
        (
            4,
            "tls_server_config: unknown key 'colour' (expected one of: cert_file,"
            " key_file, client_auth_type, client_ca_file, min_version)",
        )
    ]
    assert [(p.line, p.message) for p in refused] == [
        (5, "tls_server_config.curve_preferences: not supported by schema-monitor")
    ]


def test_http2_false_is_what_the_server_does_and_true_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text("http_server_config:\n  http2: false\n  headers: {X-Frame-Options: deny}\n")
    assert webconfig.load(path).headers == {"X-Frame-Options": "deny"}
    (refused,) = problems_of(tmp_path, "http_server_config:\n  headers: {}\n  http2: true\n")
    assert refused.line == 3
    assert refused.message.startswith("http_server_config.http2: not supported by schema-monitor")


def test_a_user_without_a_hash_is_a_problem_not_an_open_endpoint(tmp_path: Path) -> None:
    found = problems_of(tmp_path, "basic_auth_users:\n  prometheus:\n  grafana: [secret]\n")
    assert [(p.line, p.message) for p in found] == [
        (2, "basic_auth_users.prometheus: expected a string"),
        (3, "basic_auth_users.grafana: expected a string"),
    ]


def test_users_and_headers_are_read_and_an_empty_tls_section_means_no_tls(
    tmp_path: Path,
) -> None:
    path = tmp_path / "web.yml"
    path.write_text(
        "tls_server_config: {}\n"
        "basic_auth_users: {prometheus: $2y$10$abc}\n"
        "http_server_config: {headers: {X-Frame-Options: deny}}\n"
    )
    assert webconfig.load(path) == webconfig.WebConfig(
        tls=None,
        basic_auth_users={"prometheus": b"$2y$10$abc"},
        headers={"X-Frame-Options": "deny"},
    )
