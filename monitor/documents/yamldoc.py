"""The one strict YAML engine behind the spec and the config.

Three parts, used in this order:

- :func:`read_text` reads a file safely: only a regular file (a FIFO or a
  device is refused, never waited on), at most a size limit, UTF-8 without a
  BOM or control characters. Any byte problem is one clear :class:`Problem`.
- Parsing, two ways to the same plain Python data. :func:`fast_parse` hands
  the text to yaml-rs (native, many times faster than anything built on
  PyYAML) and keeps no positions; it declines (returns :data:`DECLINED`)
  whenever its reading could differ from PyYAML's YAML 1.1 (tags, anchors,
  merge keys, a syntax error...). :func:`compose` is exact: PyYAML's composer
  (libyaml when available), every scalar kept as written with its tag and
  line, aliases and merge keys resolved once each and capped, so that an
  alias or merge-key bomb fails at once with one clear message. It lives in
  :mod:`yamlexact`, imported only when a text is read exactly.
- :class:`Reader` walks that data into a model, collecting every problem
  with its line and a "did you mean". In ``fast`` mode (data from
  :func:`fast_parse`), the first problem or a value whose spelling the fast
  parser lost stops the walk with :class:`Retry`: the caller then reads the
  exact composition, which knows lines. A clean spec so pays for positions,
  and PyYAML, never.

Exact data: mappings are :class:`Map` (a dict with ``line`` and the key
problems found while composing), lists :class:`Seq`, scalars
:class:`Scalar` (a str as written, with ``tag`` and ``line``). Fast data:
dict, list, str, bool, int, float and None, straight from yaml-rs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import errno
import functools
import gc
import itertools
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, NoReturn, TypeVar

import yaml_rs

from monitor.errors import InputError, Problem

T = TypeVar("T")
D = TypeVar("D")

# Larger than any real spec (5,000 tables write about 7 MB).
MAX_BYTES: Final = 64 * 1024 * 1024
# Aliases and merge keys may add this many nodes to what is written, no more:
# a few aliases share fields between objects; a bomb multiplies them.
MAX_EXPANSION: Final = 1_000_000
# Nesting deeper than this is no spec or config: stop before the stack does.
MAX_DEPTH: Final = 200

_TAG = "tag:yaml.org,2002:"
NULL, BOOL, INT, FLOAT, STR, TIMESTAMP = (
    _TAG + name for name in ("null", "bool", "int", "float", "str", "timestamp")
)
MERGE = _TAG + "merge"
_SCALAR_TAGS = frozenset({NULL, BOOL, INT, FLOAT, STR, TIMESTAMP})
# YAML 1.1's booleans, as PyYAML reads them (lower-cased).
_BOOLEANS: Mapping[str, bool] = {
    "yes": True,
    "no": False,
    "true": True,
    "false": False,
    "on": True,
    "off": False,
}

# The C0 and C1 controls YAML refuses in a stream (tab, line feed, carriage
# return and NEL allowed), DEL, lone surrogates and the two non-characters.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")
_ASCII_FORBIDDEN = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
# Where a tag (`!`) or an anchor (`&`) may start; a false hit only costs speed.
_TAG_OR_ANCHOR = re.compile(r"(?:^|[\s\[\]{},])[!&]", re.MULTILINE)
# What yaml-rs reads as text but PyYAML as a merge key or the `=` value tag.
_NOT_TEXT_IN_YAML_1_1 = frozenset({"<<", "="})


# --- reading a file -------------------------------------------------------------------------


def read_text(path: Path, what: str, max_bytes: int = MAX_BYTES) -> str:
    """The text of ``path``, a regular file of UTF-8 text; one Problem otherwise.

    ``what`` names the file in messages ("spec", "config"). The file is
    checked with stat before it is opened, and opened non-blocking, so a FIFO
    or a device is refused at once instead of being waited on.
    """
    name = str(path)

    def refuse(message: str) -> NoReturn:
        raise InputError([Problem(name, None, message)])

    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            refuse(f"cannot read {what} file: it is a directory")
        if not stat.S_ISREG(info.st_mode):
            refuse(f"cannot read {what} file: not a regular file (a FIFO or device is never read)")
        if info.st_size > max_bytes:
            refuse(f"{what} file is too large: {info.st_size} bytes (at most {max_bytes})")
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):  # replaced since the stat
                refuse(f"cannot read {what} file: not a regular file")
            with os.fdopen(descriptor, "rb", closefd=False) as stream:
                data = stream.read(max_bytes + 1)
        finally:
            os.close(descriptor)
    except FileNotFoundError:
        refuse(f"{what} file not found")
    except OSError as exc:
        refuse(f"cannot read {what} file: {_reason(exc)}")
    if len(data) > max_bytes:
        refuse(f"{what} file is too large: more than {max_bytes} bytes")
    return decode(data, name, what)


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENAMETOOLONG:
        return "file name too long"
    if exc.errno == errno.EACCES:
        return "permission denied"
    return exc.strerror or type(exc).__name__


def decode(data: bytes, filename: str, what: str) -> str:
    """UTF-8 text without a BOM or control characters; one Problem naming the line otherwise."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(data) > 1 and b"\x00" in data[:2]):
        raise InputError([Problem(filename, 1, f"{what} file is UTF-16 text; save it as UTF-8")])
    if data.startswith(b"\xef\xbb\xbf"):
        raise InputError(
            [Problem(filename, 1, f"{what} file starts with a byte order mark; remove it")]
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        byte = data[exc.start : exc.start + 1].hex()
        message = f"{what} file is not UTF-8 text: {exc.reason} (byte 0x{byte})"
        raise InputError([Problem(filename, line, message)]) from None
    check_characters(text, filename, what)
    return text


# Checked a slice at a time: no copy of a large text is ever made whole.
_CHUNK: Final = 1024 * 1024


def _ascii_clean(text: str) -> bool:
    data = text.encode("ascii")
    return len(data.translate(None, _ASCII_FORBIDDEN)) == len(data)


def check_characters(text: str, filename: str, what: str) -> None:
    """Refuse the characters YAML does not allow in a stream, naming the first one's line."""
    if (
        text.isascii()
        and all(  # the usual case, checked a dozen times faster as bytes
            _ascii_clean(text[start : start + _CHUNK]) for start in range(0, len(text), _CHUNK)
        )
    ):
        return
    found = _FORBIDDEN.search(text)
    if found is not None:
        line = text.count("\n", 0, found.start()) + 1
        char = found.group()
        message = f"{what} holds a control character {char!r} (U+{ord(char):04X})"
        raise InputError([Problem(filename, line, message)])


# --- parsing --------------------------------------------------------------------------------


class Scalar(str):
    """A scalar of an exact composition: its text as written, its YAML tag and its line."""

    tag: str
    line: int

    def __new__(cls, text: str, tag: str, line: int) -> Scalar:
        scalar = super().__new__(cls, text)
        scalar.tag = tag
        scalar.line = line
        return scalar


class Map(dict[str, Any]):
    """A mapping of an exact composition; ``notes``: its key problems, read with the mapping."""

    line: int
    notes: list[tuple[int, str]]


class Seq(list[Any]):
    """A list of an exact composition."""

    line: int


# Exact data (see compose), and a 0-based line of a text -> the line of its file.
Exact = Map | Seq | Scalar | None
Lines = Callable[[int], int]


class _Declined:
    def __repr__(self) -> str:
        return "DECLINED"


DECLINED: Final = _Declined()


def may_hold_tags_or_anchors(text: str) -> bool:
    return ("!" in text or "&" in text) and _TAG_OR_ANCHOR.search(text) is not None


def fast_parse(text: str) -> Any:
    """The plain data of ``text`` by yaml-rs, or DECLINED where only :func:`compose` is exact.

    Declined: tags and anchors (yaml-rs drops tags, and reads YAML 1.2), any
    error (duplicate keys included: yaml-rs finds them), an empty text, and
    more than one document.
    """
    if may_hold_tags_or_anchors(text):
        return DECLINED
    try:
        data = yaml_rs.loads(text, parse_datetime=False)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # any refusal, a Rust panic too: the exact path says what it is
        return DECLINED
    if data is None or isinstance(data, list):  # empty, a list, or several documents
        return DECLINED
    return data


@dataclasses.dataclass(frozen=True, slots=True)
class Blocks:
    """A text whose large blocks were cut out to be parsed piece by piece.

    ``outline`` is the text with each block replaced by ``marker + index``;
    :meth:`pieces` gives the texts of that block's entries, a few hundred
    entries each, every one a YAML mapping of its own.
    """

    outline: str
    marker: str
    text: str
    # For each block, where each of its pieces starts in ``text``, then where it ends;
    # the file's line where each piece starts; and, for each cut, the outline's
    # line of its `key:` (0-based) and how many lines were cut out after it.
    bounds: list[list[int]]
    piece_lines: list[list[int]]
    cuts: list[tuple[int, int]]
    # Detached blocks (see detached): each block's pieces, each one None once read.
    owned: list[list[str | None]] | None = None

    def pieces(self, block: int) -> Iterator[tuple[str, int]]:
        """The text of each piece of ``block`` and its first line, cut only as it is read:
        the pieces never take the memory of a second copy of the text. Detached, each
        piece is given once and then freed."""
        if self.owned is not None:
            texts = self.owned[block]
            for index, line in enumerate(self.piece_lines[block]):
                text, texts[index] = texts[index], None
                if text is None:
                    raise ValueError(f"block {block} of detached blocks read twice")
                yield text, line
            return
        starts = itertools.pairwise(self.bounds[block])
        for (start, end), line in zip(starts, self.piece_lines[block], strict=True):
            yield self.text[start:end], line

    def detached(self) -> Blocks:
        """These blocks with a text of its own for each piece, the whole text not kept.

        Each piece is freed once read, so a large document leaves memory as
        what it is read into fills it; each block can be read once only.
        """
        owned: list[list[str | None]] = [
            [self.text[start:end] for start, end in itertools.pairwise(bounds)]
            for bounds in self.bounds
        ]
        return dataclasses.replace(self, text="", owned=owned)

    def outline_line(self, line: int) -> int:
        """The file's line (1-based) of the outline's 0-based ``line``."""
        return line + 1 + sum(removed for head, removed in self.cuts if head < line)


_BLANK_OR_COMMENT_LINES = re.compile(r"(?:[ ]*(?:#[^\n]*)?\n)*")


def split_blocks(
    text: str, keys: tuple[str, ...], indent: int, per_piece: int = 200
) -> Blocks | None:
    """Cut out the block mapping under each `key:` line written at ``indent``, for each
    of ``keys``.

    A large generated document is mostly such blocks (the tables of a
    spec); parsing them a piece at a time keeps the parsed data of the whole
    document from ever being in memory at once. Only plain block layout is
    cut: None (parse the whole text) when there is no such block, or when a
    tab or a line indented less than the block's entries could make the
    pieces read differently from the whole. A comment line, at whatever
    indentation, stays in the piece it is written in.
    """
    if "\t" in text or may_hold_tags_or_anchors(text):
        return None  # a tab may sit at any indentation: do not guess
    # Each pattern starts at a line's `\n`, not at `^`: a search for a literal finds
    # the candidates many times faster than trying `^` at every character.
    names = "|".join(map(re.escape, keys))
    head = re.compile(rf"\n {{{indent}}}({names}):(?:[ ]+#[^\n]*|[ ]*)\n")
    # Where each head's line starts in text, and its key.
    heads = [(found.start(), found.group(1)) for found in head.finditer("\n" + text)]
    if not heads:
        return None
    inner = indent + 2
    entry = re.compile(rf"\n {{{inner}}}(?=[^\s#])")  # a comment is no entry: never cut there
    # A block ends at its first line indented less than its entries that is not
    # blank or a comment: YAML reads a comment line at any indentation as nothing.
    outdented = re.compile(rf"\n(?! {{{inner}}}|[ ]*(?:\n|\Z|#))")
    marker = f"__block_{os.urandom(8).hex()}_"
    outline: list[str] = []
    block_bounds: list[list[int]] = []
    piece_lines: list[list[int]] = []
    cuts: list[tuple[int, int]] = []
    done = 0
    # Lines are counted once, onwards from the last place counted.
    counted, line = 0, 1

    def line_at(offset: int) -> int:
        nonlocal counted, line
        line += text.count("\n", counted, offset)
        counted = offset
        return line

    for head_start, key in heads:
        start = text.index("\n", head_start) + 1
        if start < done:
            return None
        after = outdented.search(text, start - 1)
        end = after.start() + 1 if after is not None else len(text)
        if text.startswith(" " * (indent + 1), end):
            # Indented between the key and its entries, the next line would fold into
            # the marker put in the block's place: only the whole text reads it right.
            return None
        starts = [found.start() + 1 for found in entry.finditer(text, start - 1, end)]
        if not starts or not _BLANK_OR_COMMENT_LINES.fullmatch(text, start, starts[0]):
            return None
        bounds = [start, *starts[per_piece::per_piece], end]  # leading comments: in the first
        block_bounds.append(bounds)
        head_line = line_at(head_start) - 1 - sum(removed for _, removed in cuts)
        piece_lines.append([line_at(a) for a in bounds[:-1]])
        cuts.append((head_line, line_at(end) - piece_lines[-1][0]))
        outline += [text[done:head_start], f"{' ' * indent}{key}: {marker}{len(cuts) - 1}\n"]
        done = end
    outline.append(text[done:])
    return Blocks("".join(outline), marker, text, block_bounds, piece_lines, cuts)


def compose(
    text: str, filename: str, loader: type[Any] | None = None, lines: Lines | None = None
) -> Exact:
    """The exact data of ``text`` (None when empty); InputError for broken YAML or a bomb.

    ``loader``: PyYAML's loader class to compose with (default: libyaml's).
    ``lines`` maps the 0-based line of ``text`` to the file's line, when
    ``text`` is part of it. PyYAML (:mod:`yamlexact`) is imported only here,
    when a text is read exactly.
    """
    from monitor.documents import yamlexact

    return yamlexact.compose(text, filename, loader, lines or _next_line)


def _next_line(line: int) -> int:
    return line + 1


@contextlib.contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector walks every live object again and again while millions
    are made; building a tree makes no cycle to collect. Back on afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# --- reading --------------------------------------------------------------------------------


class Retry(Exception):
    """Fast mode met a problem or a value it cannot read exactly: read the exact composition."""


class Invalid(Exception):
    """A value was rejected; its problem is already recorded."""


_MISSING: Final = object()


def is_mapping(value: Any) -> bool:
    return isinstance(value, dict)


def is_list(value: Any) -> bool:
    return isinstance(value, list)


def is_null(value: Any) -> bool:
    return value is None or (type(value) is Scalar and value.tag == NULL)


def is_bool(value: Any) -> bool:
    """A YAML boolean, as YAML 1.1 reads it (`yes` and `on` too, in exact data)."""
    return type(value) is bool or (type(value) is Scalar and value.tag == BOOL)


def is_empty_list(value: Any) -> bool:
    return isinstance(value, list) and not value


def line_of(value: Any) -> int | None:
    line: int | None = getattr(value, "line", None)
    return line


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if is_null(value):
        return "nothing"
    if type(value) is bool:
        return repr("true" if value else "false")
    return repr(str(value))


def describe(value: Any) -> str:
    """How a problem names a value: "a mapping", "a list", "nothing" or its text quoted."""
    return _describe(value)


def suggestion(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def spelling(text: str) -> str:
    """Fold case, `_` and `-` so that `SET_NULL`, `set-null` and `Set Null` are one spelling."""
    return " ".join(text.replace("_", " ").replace("-", " ").split()).lower()


@functools.lru_cache(maxsize=4096)
def plain_tag(text: str) -> str:
    """The tag YAML 1.1 gives ``text`` written plain: `yes` is a boolean, `1` a number."""
    from monitor.documents import yamlexact

    return yamlexact.plain_tag(text)


def _yaml_int(text: str) -> int:
    """A YAML 1.1 integer's value, as PyYAML's SafeConstructor reads it."""
    digits = text.replace("_", "").strip()
    sign = -1 if digits.startswith("-") else 1
    digits = digits.lstrip("+-")
    if digits.startswith("0b"):
        return sign * int(digits[2:], 2)
    if digits.startswith("0x"):
        return sign * int(digits[2:], 16)
    if ":" in digits:
        number = 0
        for part in digits.split(":"):
            number = number * 60 + int(part)
        return sign * number
    if len(digits) > 1 and digits.startswith("0"):
        return sign * int(digits, 8)
    return sign * int(digits)


@functools.lru_cache(maxsize=256)
def _key_set(known: Sequence[str]) -> frozenset[str]:
    """The keys a mapping accepts, as a set (each reader passes a constant tuple)."""
    return frozenset(known)


class Reader:
    """Walks parsed data, collecting every problem with its line (or, fast, stopping at one).

    Subclasses add the vocabulary of their document; the methods here read
    what any document has: mappings with known keys, named entries, lists,
    text, flags and choices. A read method takes ``(value, label)`` and
    returns what it read or raises :class:`Invalid` after recording why.
    """

    def __init__(self, filename: str, *, fast: bool) -> None:
        self.filename = filename
        self.fast = fast
        self.problems: list[Problem] = []

    # -- problems

    def problem(self, value: Any, message: str) -> None:
        self.problem_at(line_of(value), message)

    def problem_at(self, line: int | None, message: str) -> None:
        if self.fast:
            raise Retry
        self.problems.append(Problem(self.filename, line, message))

    def invalid(self, value: Any, message: str) -> Invalid:
        self.problem(value, message)
        return Invalid()

    def sorted_problems(self) -> list[Problem]:
        """In file order, as a person fixes them; an aliased value's problems once."""
        unique = dict.fromkeys(self.problems)
        return sorted(unique, key=lambda p: p.line or 0)

    # -- mappings

    def pairs(self, mapping: Mapping[Any, Any], what: str) -> Iterable[tuple[str, Any]]:
        """The entries of a mapping, its key problems reported under ``what``."""
        if self.fast:
            for key in mapping:
                # yaml-rs leaves merge keys to us, and keys that are not text may not
                # be read as written: the exact path decides.
                if type(key) is not str or key == "<<" or not key:
                    raise Retry
            return mapping.items()
        for line, note in getattr(mapping, "notes", ()):
            self.problem_at(line, f"{what}: {note}")
        return mapping.items()

    def fields(
        self,
        value: Any,
        what: str,
        known: Sequence[str],
        required: Sequence[str] = (),
        *,
        null_is_empty: bool = False,
        misplaced: Mapping[str, str] | None = None,
        unknown: Callable[[str], str] | None = None,
    ) -> dict[str, Any]:
        """The values of a mapping with known keys; unknown and missing keys reported.

        ``misplaced`` gives a hint for a key that belongs elsewhere;
        ``unknown`` words the problem of an unknown key (default: "did you mean").
        """
        if null_is_empty and is_null(value):
            return {}
        if not isinstance(value, dict):
            self.problem(value, f"{what} must be a mapping, not {describe(value)}")
            return {}
        if self.fast and _key_set(known).issuperset(value):
            # Every key known (so text, no merge key): nothing to check but
            # the required ones. The usual case, a key at a time costs a third of a load.
            if all(key in value for key in required):
                return value
            raise Retry
        found: dict[str, Any] = {}
        misspelt: set[str] = set()
        for key, item in self.pairs(value, what):
            if key in known:
                found[key] = item
                continue
            if unknown is not None:
                self.problem(key, f"{what}: {unknown(key)}")
                continue
            hint = (
                f" ({misplaced[key]})" if misplaced and key in misplaced else suggestion(key, known)
            )
            misspelt.update(difflib.get_close_matches(key, known, n=1, cutoff=0.6))
            self.problem(key, f"{what}: unknown key {key!r}{hint}")
        for key in required:
            if key not in found and key not in misspelt:
                self.problem(value, f"{what}: missing required key {key!r}")
        return found

    def named(self, value: Any, what: str) -> list[tuple[str, Any]]:
        """The (name, body) entries of a mapping from object name to object body."""
        if value is _MISSING or is_null(value):
            return []
        if not isinstance(value, dict):
            self.problem(value, f"{what} must be a mapping of names, not {describe(value)}")
            return []
        return list(self.pairs(value, what))

    def get(
        self,
        found: Mapping[str, Any],
        key: str,
        what: str,
        read: Callable[[Any, str], T],
        default: D,
    ) -> T | D:
        """Read one field with ``read``; its default when absent or invalid."""
        value = found.get(key, _MISSING)
        if value is _MISSING:
            return default
        try:
            return read(value, f"{what}: {key}")
        except Invalid:
            return default

    # -- scalars

    def scalar(self, value: Any, label: str, *, strip: bool = True) -> str | None:
        """A scalar's text as written (stripped unless not `strip`: a quoted name keeps its
        spaces); None for a YAML null."""
        kind = type(value)
        if kind is str:  # fast data: text, unless YAML 1.1 reads it as something else
            if value in _NOT_TEXT_IN_YAML_1_1:
                raise Retry
            text: str = value.strip() if strip else value
            return text
        if kind is Scalar:
            if value.tag == NULL:
                return None
            if value.tag not in _SCALAR_TAGS:
                raise self.invalid(value, f"{label}: unsupported YAML tag {value.tag}")
            return str.strip(value) if strip else str(value)
        if value is None:
            return None
        if isinstance(value, dict | list):
            raise self.invalid(value, f"{label} must be a single value, not {describe(value)}")
        raise Retry  # a number or boolean of fast data: its spelling is lost

    def optional_text(self, value: Any, label: str) -> str | None:
        text = self.scalar(value, label)
        if text == "":
            raise self.invalid(value, f"{label} must not be empty (leave it out instead)")
        return text

    def text(self, value: Any, label: str) -> str:
        text = self.scalar(value, label)
        if not text:
            raise self.invalid(value, f"{label} must not be empty")
        return text

    def flag(self, value: Any, label: str) -> bool:
        if type(value) is bool:
            return value
        if type(value) is Scalar and value.tag == BOOL:
            flag = _BOOLEANS.get(value.lower())  # None only for a forced `!!bool maybe`
            if flag is not None:
                return flag
        raise self.invalid(value, f"{label} must be true or false, not {describe(value)}")

    def integer(self, value: Any, label: str) -> int:
        """A YAML integer (`0x1f` and `1_000` too, as YAML 1.1 writes them)."""
        number = self.integer_value(value)
        if number is None:
            raise self.invalid(value, f"{label} must be an integer, not {describe(value)}")
        return number

    def integer_value(self, value: Any) -> int | None:
        """The number of a YAML integer; None for anything else."""
        if type(value) is int:
            return value
        if type(value) is Scalar and value.tag == INT:
            return _yaml_int(value)
        if type(value) is str and self.fast:
            raise Retry  # YAML 1.1 may read it as a number where yaml-rs did not
        return None

    def choice(self, value: Any, label: str, options: Mapping[str, T]) -> T:
        """One of ``options``, keyed by :func:`spelling`."""
        written = self.text(value, label)
        chosen = options.get(spelling(written))
        if chosen is not None:
            return chosen
        shown = {
            key: str(option) if isinstance(option, str) else key for key, option in options.items()
        }
        allowed = ", ".join(dict.fromkeys(shown.values()))
        close = difflib.get_close_matches(spelling(written), list(options), n=1, cutoff=0.6)
        hint = f" (did you mean {shown[close[0]]!r}?)" if close else ""
        raise self.invalid(value, f"{label} must be one of {allowed}, not {written!r}{hint}")

    def items(
        self,
        value: Any,
        label: str,
        read: Callable[[Any, str], T],
        *,
        single: bool = False,
        unique: bool = True,
    ) -> tuple[T, ...]:
        """A list whose entries are read one by one; a bad entry does not hide the others.

        ``single``: a lone scalar stands for a list of one.
        """
        if isinstance(value, list):
            entries: list[Any] = value
        elif single and not isinstance(value, dict) and not is_null(value):
            entries = [value]
        else:
            raise self.invalid(value, f"{label} must be a list, not {describe(value)}")
        values: list[T] = []
        first_line: dict[T, int | None] = {}
        for entry in entries:
            try:
                item = read(entry, f"{label} entry")
            except Invalid:
                continue
            if unique:
                if item in first_line:
                    where = f"first at line {first_line[item]}"
                    self.problem(entry, f"{label}: duplicate entry {item!r} ({where})")
                    continue
                first_line[item] = line_of(entry)
            values.append(item)
        return tuple(values)
