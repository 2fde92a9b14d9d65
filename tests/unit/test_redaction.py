"""No password of any DSN form psycopg accepts appears in any message or log line we make.

The property runs over generated passwords (every printable ASCII character,
``/``, ``@``, ``:``, quotes and backslashes included) and every way a DSN can
carry one; each example really connects (to a closed port on 127.0.0.1, so
libpq's own error text is part of what is checked).
"""

from __future__ import annotations

import io
import os
import string
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.conninfo import make_conninfo

from monitor.daemon import events
from monitor.errors import ConnectionFailed
from monitor.postgres import db
from tests.support.paths import SPEC
from tests.support.processes import run_monitor
from tests.support.waiting import free_port

# A fixed head keeps a generated password from being a word of the messages themselves
# ("reacha" is in "database_unreachable"); everything after it is free.
PASSWORDS = st.text(
    alphabet=string.ascii_letters + string.digits + string.punctuation, min_size=4, max_size=24
).map(lambda tail: f"Kx{tail}")
FORMS = ("uri-encoded", "uri-raw", "uri-query", "keywords")


def dsn_with(password: str, form: str, port: int) -> str:
    where = f"127.0.0.1:{port}/app"
    if form == "uri-encoded":
        return f"postgresql://monitor:{quote(password, safe='')}@{where}"
    if form == "uri-raw":
        return f"postgresql://monitor:{password}@{where}"
    if form == "uri-query":
        return f"postgresql://monitor@{where}?password={quote(password, safe='')}"
    return make_conninfo(
        "", host="127.0.0.1", port=str(port), dbname="app", user="monitor", password=password
    )


def connect_error(dsn: str) -> str:
    with pytest.raises(ConnectionFailed) as raised:
        db.connect(dsn, connect_timeout_s=2)
    return str(raised.value)


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    events.configure("json", stream)
    try:
        yield stream
    finally:
        structlog.reset_defaults()


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(password=PASSWORDS, form=st.sampled_from(FORMS))
def test_no_message_path_shows_a_generated_password(
    password: str, form: str, logged: io.StringIO
) -> None:
    dsn = dsn_with(password, form, free_port())
    error = connect_error(dsn)
    events.register_dsn(dsn)
    log = events.get_logger()
    log.error("database_unreachable", target="app", error=error, dsn=dsn)
    log.info("daemon_started", targets=[{"dsn": db.redact(dsn)}])
    shown = "\n".join([db.redact(dsn), error, logged.getvalue()])
    for spelling in {password, quote(password, safe="")}:
        assert spelling not in shown


def test_a_raw_slash_in_a_uri_password_is_refused_without_quoting_it() -> None:
    error = connect_error(f"postgresql://u:pa/ss0rd9@127.0.0.1:{free_port()}/app")
    assert "ss0rd9" not in error
    assert "percent-encode" in error
    assert db.redact("postgresql://u:pa/ss0rd9@host") == "postgresql://u:***@host"


def test_an_at_sign_in_a_uri_password_never_reaches_name_resolution() -> None:
    error = connect_error(f"postgresql://u:pass@Zebra77@127.0.0.1:{free_port()}/app")
    assert "Zebra77" not in error and "pass" not in error.replace("password", "")


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://u:p%40ss@h/db?sslmode=require", "postgresql://u:***@h/db?sslmode=require"),
        (
            "postgres://u@h/db?password=x%2Fy&sslmode=disable",
            "postgres://u@h/db?password=***&sslmode=disable",
        ),
        ("postgresql://h:5432/db", "postgresql://h:5432/db"),
        ("host=h password='two words' dbname=db", "password=*** dbname=db host=h"),
        ("host=h password=it\\'s dbname=db", "password=*** dbname=db host=h"),
        ("host=h dbname=db", "host=h dbname=db"),
    ],
)
def test_redact_keeps_the_form_it_was_given(dsn: str, shown: str) -> None:
    assert db.redact(dsn) == shown


def test_pgpassword_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", "Env-Secret-771")
    assert "Env-Secret-771" in db.secrets(f"host=127.0.0.1 port={free_port()}")
    assert db.without_secrets("auth failed for Env-Secret-771", "host=h") == "auth failed for ***"


def test_service_file_and_passfile_passwords_are_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = tmp_path / "pg_service.conf"
    services.write_text("[watched]\nhost=127.0.0.1\npassword=Service-Secret-42\n")
    passfile = tmp_path / "pgpass"
    passfile.write_text("127.0.0.1:*:*:monitor:Pass\\:File-Secret-9\n")
    os.chmod(passfile, 0o600)
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    found = db.secrets(f"service=watched port={free_port()}")
    assert "Service-Secret-42" in found and "Pass:File-Secret-9" in found
    error = connect_error(f"service=watched port={free_port()} user=monitor")
    assert "Secret" not in error


def test_a_percent_escape_that_is_not_utf8_is_a_clear_error_not_a_traceback() -> None:
    dsn = f"postgresql://monitor:Kx%800@127.0.0.1:{free_port()}/app"
    assert "Kx" not in db.redact(dsn)
    assert "Kx" not in connect_error(dsn)
    checked = run_monitor("check", "--spec", str(SPEC), "--dsn", dsn)
    assert checked.returncode == 2
    assert "Traceback" not in checked.stderr and "Kx" not in checked.stderr
