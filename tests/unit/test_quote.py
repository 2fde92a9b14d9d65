"""Function signatures taken apart for SQL: one name and its argument types, or NotAName."""

from __future__ import annotations

import pytest

from monitor.schema.quote import NotAName, function_parts, function_signature


@pytest.mark.parametrize(
    ("text", "name", "types"),
    [
        ("f()", "f", ()),
        ("public.f(integer, text)", "f", ("integer", "text")),
        ('"a(b"(integer)', "a(b", ("integer",)),
        ('"say ""hi"""(numeric(10,2), text[])', 'say "hi"', ("numeric(10, 2)", "text[]")),
        ("Upper(uuid)", "upper", ("uuid",)),
        ("f (character varying)", "f", ("varchar",)),
        ("audit.f", "f", ()),  # a name alone: the one function of that name
    ],
)
def test_a_signature_comes_apart_into_its_name_and_types(
    text: str, name: str, types: tuple[str, ...]
) -> None:
    assert function_parts(text) == (name, types)


@pytest.mark.parametrize(
    "text",
    [
        "f(integer); DROP TABLE x; --",
        "x); DROP TABLE y; SELECT f(",
        "f(integer), g(text)",
        '"abc(integer)',
        "(integer)",
        "f; DROP TABLE x",
        "f(integer)x",
    ],
)
def test_anything_but_one_signature_is_not_a_name(text: str) -> None:
    with pytest.raises(NotAName):
        function_parts(text)


def test_functions_sharing_an_argument_list_each_keep_their_own_name() -> None:
    assert function_signature("app", '"My f"(integer, text)') == 'app."My f"(integer, text)'
    assert function_signature("app", "g(integer, text)") == "app.g(integer, text)"


def test_a_parenthesis_in_a_comment_is_not_where_the_arguments_start() -> None:
    assert function_parts("f/* ( */(integer)") == ("f", ("integer",))
