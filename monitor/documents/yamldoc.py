"""The one strict YAML engine behind the spec, the daemon's config and its web config.

One pipeline, used in this order:

- :func:`read_text` reads a file safely: only a regular file (a FIFO or a
  device is refused, never waited on), at most a size limit, UTF-8 without a
  BOM or control characters. Any byte problem is one clear :class:`Problem`.
- :func:`parse` reads the text once, in one dialect: YAML 1.2 as yaml-rs (a
  native parser) reads it, so `yes` is text, never a boolean. Aliases are
  capped as they are expanded, merge keys resolved after; an alias bomb, an
  alias inside its own anchor, a tag other than YAML's own or a duplicate key
  is one clear problem with its line. A large block of a spec may be parsed
  a piece at a time (:mod:`.pieces`), which reads the same as the whole.
- A :class:`monitor.documents.reader.Reader` walks the data into a model,
  recording each problem at a path; only when there is one are lines looked
  up (:mod:`.locate`).
"""

from __future__ import annotations

import contextlib
import difflib
import gc
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

import yaml_rs

from monitor.documents import files, locate, pieces
from monitor.errors import InputError, Problem

# Larger than any real spec (5,000 tables write about 8 MB).
MAX_BYTES: Final = 64 * 1024 * 1024
# Aliases and merge keys may add this many nodes to what is written, no more:
# a few aliases share fields between objects; a bomb multiplies them.
MAX_EXPANSION: Final = 1_000_000
# Nesting deeper than this is no spec or config: stop before the stack does.
MAX_DEPTH: Final = 200

# The C0 and C1 controls YAML refuses in a stream (tab, line feed, carriage
# return and NEL allowed), DEL, lone surrogates and the two non-characters.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")
_ASCII_FORBIDDEN = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
# Where a tag (`!`) or an anchor (`&`) may start; a false hit only costs a walk.
_TAG_OR_ANCHOR = re.compile(r"(?:^|[\s\[\]{},])[!&]", re.MULTILINE)
_PARSE_ERROR = re.compile(r"line (\d+), column \d+\n(?:.*\n)*?(?:\s*\|.*\n)*(.*)\Z")
_MERGE = "<<"


# --- reading a file -------------------------------------------------------------------------


def read_text(path: Path, what: str, max_bytes: int = MAX_BYTES) -> str:
    """The text of ``path``, a regular file of UTF-8 text; one Problem otherwise.

    ``what`` names the file in messages ("spec", "config"). The file is
    checked before it is opened (:mod:`.files`), so a FIFO or a device is
    refused at once instead of being waited on.
    """
    return decode(files.read_bytes(path, what, max_bytes), str(path), what)


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


def may_hold_tags_or_anchors(text: str) -> bool:
    return ("!" in text or "&" in text) and _TAG_OR_ANCHOR.search(text) is not None


def parse(text: str, filename: str, cut: pieces.Cut | None = None) -> Any:
    """The data of ``text``: dict, list, str, int, float, bool and None; InputError for
    what is not YAML, with its line.

    ``cut``: where a large document's blocks are (see :mod:`.pieces`); each such
    block is then an :class:`Entries`, parsed a piece at a time as it is read.
    """
    if may_hold_tags_or_anchors(text):
        _refuse(text, filename, locate.refusals(text, MAX_EXPANSION))
    split = pieces.split(text, cut) if cut is not None else None
    data = _load(split.outline if split else text, text, filename)
    if split is not None:
        data = _graft(data, split, text, filename)
    if _MERGE in text:
        data = _merged(data, 0)
    return data


def _load(part: str, text: str, filename: str) -> Any:
    """yaml-rs's data of ``part`` of ``text`` (a piece, the outline, or the whole)."""
    try:
        data = yaml_rs.loads(
            part, parse_datetime=False, alias_limits=_ALIAS_LIMITS, duplicate_key_policy=_ERROR
        )
    except yaml_rs.YAMLDecodeError as exc:
        _refuse(text, filename, locate.refusals(text, MAX_EXPANSION))
        if part is not text:  # the whole text words and places it, as if never cut
            _load(text, text, filename)
        raise InputError([_parse_problem(str(exc), filename)]) from None
    except RecursionError:
        raise InputError([Problem(filename, None, "invalid YAML: nested too deeply")]) from None
    except TypeError:  # yaml-rs cannot hash a key that is a mapping or a list ("? " keys)
        line = next(
            (n for n, ln in enumerate(text.splitlines(), 1) if ln.lstrip()[:2] in _COMPLEX_KEY),
            None,
        )
        message = "invalid YAML: a key must be a plain value, not a mapping or a list"
        raise InputError([Problem(filename, line, message)]) from None
    second = _second_document(text) if isinstance(data, list) else None
    if second is not None:
        raise InputError([Problem(filename, second, "invalid YAML: more than one document")])
    return data


_ALIAS_LIMITS = yaml_rs.AliasLimits(max_total_replayed_events=MAX_EXPANSION)
_ERROR = yaml_rs.DuplicateKeyPolicy.Error
_COMPLEX_KEY = ("? ", "?")


_DOCUMENT_START = re.compile(r"^---(?:[ \t]|$)", re.MULTILINE)
_CONTENT = re.compile(r"^[^#\s]", re.MULTILINE)


def _second_document(text: str) -> int | None:
    """The line where a second document starts, if any (yaml-rs reads several as a list)."""
    starts = [found.start() for found in _DOCUMENT_START.finditer(text)]
    content = _CONTENT.search(text)
    if content is not None and content.start() < (starts[0] if starts else len(text)):
        starts.insert(0, 0)  # a first document without its `---`
    return text.count("\n", 0, starts[1]) + 1 if len(starts) > 1 else None


def _refuse(text: str, filename: str, refusals: Iterable[locate.Refusal]) -> None:
    """Raise the refusals found, if any, each with its line."""
    found = [Problem(filename, r.line, r.message) for r in refusals]
    if found:
        raise InputError(found)


def _parse_problem(message: str, filename: str) -> Problem:
    found = _PARSE_ERROR.search(message)
    if found is None:
        return Problem(filename, None, f"invalid YAML: {message.splitlines()[0]}")
    return Problem(filename, int(found[1]), f"invalid YAML: {found[2].strip()}")


class Entries:
    """A block mapping cut out of a large text (see :mod:`.pieces`): its entries,
    parsed a piece at a time as they are read, each piece's data freed after."""

    __slots__ = ("filename", "pieces", "text")

    def __init__(self, text: str, filename: str, texts: Iterable[str]) -> None:
        self.text, self.filename, self.pieces = text, filename, texts

    def items(self) -> Iterator[tuple[str, Any]]:
        seen: set[Any] = set()
        for piece in self.pieces:
            data = _load(piece, self.text, self.filename)
            if not isinstance(data, dict):  # pieces are cut only where they read the same
                raise AssertionError("a piece is not a mapping")
            if _MERGE in piece:
                data = _merged(data, 0)
            if not seen.isdisjoint(data):
                _refuse(self.text, self.filename, locate.refusals(self.text, MAX_EXPANSION))
            seen.update(data)
            yield from data.items()


def _graft(data: Any, split: pieces.Split, text: str, filename: str) -> Any:
    """The outline's data with each block's marker replaced by its :class:`Entries`."""
    blocks = iter(split.blocks)

    def graft(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: graft(value) for key, value in node.items()}
        if isinstance(node, str) and node.startswith(split.marker):
            _, texts = next(blocks)
            return Entries(text, filename, texts)
        return node

    return graft(data)


def _merged(node: Any, depth: int) -> Any:
    """``node`` with each merge key (`<<`) resolved as YAML 1.1 defines it: the merged
    mappings' entries added, keys written beside `<<` winning. Aliases were expanded and
    capped by the parser, so merging adds nothing it did not already count."""
    if depth > MAX_DEPTH:
        return node
    if isinstance(node, list):
        return [_merged(item, depth + 1) for item in node]
    if not isinstance(node, dict):
        return node
    resolved = {key: _merged(value, depth + 1) for key, value in node.items() if key != _MERGE}
    if _MERGE not in node:
        return resolved
    sources = node[_MERGE] if isinstance(node[_MERGE], list) else [node[_MERGE]]
    for source in sources:
        if isinstance(source, dict):
            for key, value in _merged(source, depth + 1).items():
                resolved.setdefault(key, value)
        else:
            resolved[_MERGE] = node[_MERGE]  # reported by the reader as a key it does not know
    return resolved


@contextlib.contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector walks every live object again and again while millions
    are made; building a model makes no cycle to collect. Back on afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# --- words ----------------------------------------------------------------------------------


class Invalid(Exception):
    """A value was rejected; its problem is already recorded."""


def describe(value: Any) -> str:
    """How a problem names a value: "a mapping", "a list", "nothing" or its text quoted."""
    if isinstance(value, dict | Entries):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    if type(value) is bool:
        return repr("true" if value else "false")
    return repr(str(value))


def suggestion(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def spelling(text: str) -> str:
    """Fold case, `_` and `-` so that `SET_NULL`, `set-null` and `Set Null` are one spelling."""
    return " ".join(text.replace("_", " ").replace("-", " ").split()).lower()


# What YAML 1.1 read as a boolean and YAML 1.2 reads as text: worth a "did you mean".
YAML_1_1_BOOLEANS: Final = {"yes": True, "no": False, "on": True, "off": False}


def boolean_hint(value: Any) -> str:
    """`` (did you mean true?)`` for a YAML 1.1 spelling of a boolean, else ``""``."""
    if isinstance(value, str) and value.lower() in YAML_1_1_BOOLEANS:
        return f" (did you mean {str(YAML_1_1_BOOLEANS[value.lower()]).lower()}?)"
    return ""
