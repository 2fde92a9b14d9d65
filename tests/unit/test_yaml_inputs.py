"""Hostile files, through the real CLI: one clear problem and exit 2, never a traceback or a hang.

Each case is tried on a spec (`check --spec FILE`), on a config
(`run --config FILE --validate-config`) and on a web config
(`run ... --web.config.file FILE`); the file is refused before any database
is contacted. The cases run through ``cli.main`` in this process, except
those in THROUGH_A_PROCESS, which run `python -m monitor` under a timeout: a
FIFO that were read would wait for ever, and one case per kind shows the
whole chain down to the process's exit status and stderr.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor import cli
from monitor.documents import yamldoc
from monitor.errors import ExitCode, InputError
from monitor.schema import spec
from tests.support.processes import run_monitor

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "config" / "expected" / "phase3.yaml"
VALID_SPEC = "version: 1\nschemas: {public: {tables: {t: {}}}}\n"
VALID_CONFIG = f"version: 1\ntargets:\n  - {{name: app, dsn: 'host=db', spec: {SPEC}}}\n"
VALID_WEB_CONFIG = "http_server_config: {headers: {X-Frame-Options: deny}}\n"
VALID = {"spec": VALID_SPEC, "config": VALID_CONFIG, "web config": VALID_WEB_CONFIG}
# Far longer than the file to make: a command still running then is a hang.
TIMEOUT_SECONDS = 60


THROUGH_A_PROCESS = frozenset({"a FIFO", "invalid UTF-8"})


def cli_args(kind: str, path: Path) -> list[str]:
    if kind == "spec":
        # Port 9 on 127.0.0.1: nothing listens; the spec is read before any connection.
        args = ["check", "--spec", str(path), "--dsn", "postgresql://x@127.0.0.1:9/x"]
    elif kind == "config":
        args = ["run", "--config", str(path), "--validate-config"]
    else:
        config = path.parent.parent / "monitor.yaml"
        config.write_text(VALID_CONFIG)
        args = ["run", "--config", str(config), "--web.config.file", str(path), "--validate-config"]
    return args


def run_process(args: list[str]) -> tuple[int, str]:
    """The exit status and stderr of `python -m monitor ARGS`."""
    done = run_monitor(*args, timeout=TIMEOUT_SECONDS)
    return done.returncode, done.stderr


def run_in_process(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The exit status and stderr of ``cli.main(ARGS)``; an escaping exception fails the test."""
    capsys.readouterr()
    code = cli.main(args)
    return code, capsys.readouterr().err


def merge_key_bomb() -> str:
    """Each level merges the one below twice: naively expanded, 2**30 entries in 1 KB."""
    lines = ["version: 1", "m0: &m0 {a: 1}"]
    lines += [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}]}}" for i in range(1, 31)]
    lines.append("schemas: {public: {tables: {t: *m30}}}")
    return "\n".join(lines) + "\n"


def billion_laughs() -> str:
    """Ten aliases of ten aliases, nine levels deep: 10**10 strings in 700 bytes."""
    lines = ["version: 1", "l0: &l0 [" + ", ".join(["lol"] * 10) + "]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 10)]
    lines.append("schemas: {public: {ignore: *l9}}")
    return "\n".join(lines) + "\n"


def write(text: str | bytes) -> Callable[[Path, str], Path]:
    def make(folder: Path, valid: str) -> Path:
        path = folder / "input.yaml"
        data = text.encode() if isinstance(text, str) else text
        path.write_bytes(data.replace(b"VALID", valid.encode()))
        return path

    return make


def fifo(folder: Path, valid: str) -> Path:
    path = folder / "input.yaml"
    os.mkfifo(path)  # nobody ever writes: reading it would wait for ever
    return path


def huge(folder: Path, valid: str) -> Path:
    path = folder / "input.yaml"
    with path.open("wb") as stream:
        stream.write(valid.encode())
        stream.truncate(yamldoc.MAX_BYTES + 1)  # sparse: costs no disk
    return path


def overlong_name(folder: Path, valid: str) -> Path:
    return folder / ("x" * 300 + ".yaml")


def directory(folder: Path, valid: str) -> Path:
    return folder


def missing(folder: Path, valid: str) -> Path:
    return folder / "nowhere.yaml"


CASES = {
    "invalid UTF-8": (write(b"VALID# caf\xe9\n"), "not UTF-8 text"),
    "a NUL byte": (write(b"VALID\x00\n"), "control character"),
    "a control character": (write(b"VALID# \x07\n"), "control character"),
    "a byte order mark": (write(b"\xef\xbb\xbfVALID"), "byte order mark"),
    "UTF-16 text": (lambda f, v: write(v.encode("utf-16"))(f, v), "UTF-16"),
    "a file name too long": (overlong_name, "file name too long"),
    "a directory": (directory, "it is a directory"),
    "a FIFO": (fifo, "not a regular file"),
    "a file too large": (huge, "too large"),
    "a missing file": (missing, "not found"),
    "a merge-key bomb": (write(merge_key_bomb()), "expand to more than"),
    "a billion laughs": (write(billion_laughs()), "expand to more than"),
}


@pytest.mark.parametrize("kind", list(VALID))
@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_file_is_one_clear_problem_and_exit_2(
    kind: str, case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, expected = CASES[case]
    folder = tmp_path / "input"
    folder.mkdir()
    path = make(folder, VALID[kind])
    args = cli_args(kind, path)
    code, stderr = run_process(args) if case in THROUGH_A_PROCESS else run_in_process(args, capsys)
    assert code == ExitCode.ERROR, stderr
    assert "Traceback" not in stderr
    assert "1 problem:" in stderr
    assert expected in stderr
    assert str(path) in stderr  # the message names the file


def test_the_bombs_fail_in_the_loader_with_the_line_of_the_alias(tmp_path: Path) -> None:
    for text in (merge_key_bomb(), billion_laughs()):
        with pytest.raises(InputError) as caught:
            spec.loads(text, "bomb.yaml")
        [problem] = caught.value.problems
        assert problem.line is not None and problem.line > 1
        assert "aliases and merge keys expand to more than" in problem.message


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    with pytest.raises(InputError, match="refers to a node that contains it"):
        spec.loads("version: 1\nschemas: &s {public: {ignore: *s}}\n")


@pytest.mark.parametrize("line", [2, 30_000, 59_999])
def test_a_control_character_anywhere_in_a_large_text_is_found_with_its_line(line: int) -> None:
    # A large text is checked a slice at a time: the slices leave no character out.
    lines = ["version: 1"] + [f"# comment {n:040}" for n in range(2, 60_001)]
    lines[line - 1] += "\x07"
    with pytest.raises(InputError) as raised:
        spec.loads("\n".join(lines) + "\n", "large.yaml")
    [problem] = raised.value.problems
    assert (problem.line, "control character" in problem.message) == (line, True)


@pytest.mark.parametrize(("key", "shape"), [("[a, b]", "a list"), ("{a: 1}", "a mapping")])
def test_an_object_named_by_a_list_or_a_mapping_is_a_problem_not_a_crash(
    key: str, shape: str
) -> None:
    text = f"version: 1\nschemas:\n  public: {{}}\n  ? {key}\n  : {{}}\n"
    with pytest.raises(InputError) as raised:
        spec.loads(text, "spec.yaml")
    (problem,) = raised.value.problems
    assert problem.message == f"schemas: a name must be a plain value, not {shape}"
    assert problem.line is not None


def test_a_key_that_is_a_mapping_is_a_problem_with_its_line() -> None:
    text = "version: 1\n? migrations:\n  applied: ['1']\nschemas: {}\n"
    with pytest.raises(InputError) as raised:
        spec.loads(text, "spec.yaml")
    (problem,) = raised.value.problems
    assert problem.line == 2
    assert "a key must be a plain value" in problem.message
