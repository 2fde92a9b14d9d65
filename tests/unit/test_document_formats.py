"""The declared document formats: the JSON Schemas shipped for editors are the ones the
formats generate, and every document the project writes is valid under them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml_rs
from hypothesis import given, settings

from monitor import cli
from monitor.schema import spec
from monitor.schema.model import Policy, Schema, State, Table
from tests.support.paths import ROOT
from tests.support.strategies import states

SHIPPED = ROOT / "docs" / "schemas"


def parsed(text: str) -> Any:
    return yaml_rs.loads(text, parse_datetime=False)


def shipped(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SHIPPED / f"{name}.schema.json").read_text())
    return schema


@pytest.mark.parametrize("name", ["spec", "config", "web-config"])
def test_the_shipped_json_schema_is_the_one_the_format_generates(name: str) -> None:
    # Regenerate with: schema-monitor spec json-schema --of NAME > docs/schemas/NAME.schema.json
    assert (SHIPPED / f"{name}.schema.json").read_text() == cli.json_schemas()[name]


def test_spec_json_schema_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["spec", "json-schema", "--of", "config"]) == 0
    assert capsys.readouterr().out == cli.json_schemas()["config"]


def test_the_committed_spec_and_config_are_valid_under_their_schemas() -> None:
    jsonschema.validate(parsed((ROOT / "config/expected/phase3.yaml").read_text()), shipped("spec"))
    jsonschema.validate(parsed((ROOT / "config/monitor.yaml").read_text()), shipped("config"))


@settings(max_examples=30, deadline=None)
@given(states())
def test_every_spec_the_writer_writes_is_valid_under_the_schema(state: State) -> None:
    jsonschema.validate(parsed(spec.dumps(state)), shipped("spec"))


def test_a_misspelt_key_is_invalid_under_the_schema() -> None:
    text = "version: 1\nschemas: {public: {tables: {t: {colums: []}}}}\n"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(parsed(text), shipped("spec"))


def test_the_web_config_of_the_deploy_guide_is_valid_under_its_schema() -> None:
    guide = (ROOT / "docs" / "deploy.md").read_text()
    example = guide.split("exporter-toolkit format:\n\n```yaml\n", 1)[1].split("```", 1)[0]
    assert "tls_server_config" in example and "basic_auth_users" in example
    jsonschema.validate(parsed(example), shipped("web-config"))


def test_a_web_config_the_server_refuses_is_invalid_under_the_schema_too() -> None:
    valid = "basic_auth_users: {prometheus: $2b$12$abc}\nhttp_server_config: {http2: false}\n"
    jsonschema.validate(parsed(valid), shipped("web-config"))
    for refused in (
        "tls_server_config: {cert_file: a, key_file: b, cipher_suites: [x]}",
        "tls_server_config: {cert_file: a, key_file: b, client_auth_type: RequireAnyClientCert}",
        "basic_auth_users: {prometheus: clear-text}",
        "http_server_config: {http2: true}",
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(parsed(refused), shipped("web-config"))


def test_a_name_of_63_bytes_ending_in_a_space_round_trips(tmp_path: Path) -> None:
    # PostgreSQL cuts names at 63 bytes, so a cut name may end in a space.
    name = "Members can view the integrations of their own organization "
    name += "x" * (62 - len(name)) + " "
    assert len(name.encode()) == 63
    table = Table("t", policies=(Policy(name, command="SELECT", using="true"),))
    state = State(schemas=(Schema("public", tables=(table,)),))
    path = tmp_path / "spec.yaml"
    path.write_text(spec.dumps(state))
    assert spec.load(path) == state
