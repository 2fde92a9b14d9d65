"""Cutting a large document's blocks into pieces, so that its data is never whole in memory.

A pure function of the text, with one property: the entries of the pieces read
the same as the block they were cut from (tests/unit/test_spec.py holds it
to that). A spec of 5,000 tables parsed whole takes about 90 MB of Python data
at once; cut, each piece's data is freed as the model takes it. Nothing else
knows of pieces: problems and lines are the whole text's.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
from collections.abc import Iterator

_BLANK_OR_COMMENT_LINES = re.compile(r"(?:[ ]*(?:#[^\n]*)?\n)*")
_TAG_OR_ANCHOR = re.compile(r"(?:^|[\s\[\]{},])[!&]", re.MULTILINE)


@dataclasses.dataclass(frozen=True, slots=True)
class Cut:
    """The blocks to cut: the block mapping under each `key:` line written at ``indent``."""

    keys: tuple[str, ...]
    indent: int
    per_piece: int = 200


@dataclasses.dataclass(frozen=True, slots=True)
class Split:
    """``outline``: the text with each block replaced by ``marker``; ``blocks``: each
    block's key and its pieces' texts, in outline order (cut only as they are read)."""

    outline: str
    marker: str
    blocks: list[tuple[str, Iterator[str]]]


def split(text: str, cut: Cut) -> Split | None:
    """The blocks of ``text`` that ``cut`` names, cut out; None (parse the whole text)
    where there is none, or where the plain block layout is not certain: a tab, a tag
    or an anchor, or a line indented less than the block's entries that is not blank or
    a comment. A comment line, at whatever indentation, stays in its piece."""
    if "\t" in text or (("!" in text or "&" in text) and _TAG_OR_ANCHOR.search(text)):
        return None
    names = "|".join(map(re.escape, cut.keys))
    # Each pattern starts at a line's `\n`, not at `^`: a literal is found many times faster.
    head = re.compile(rf"\n {{{cut.indent}}}({names}):(?:[ ]+#[^\n]*|[ ]*)\n")
    heads = [(found.start(), found.group(1)) for found in head.finditer("\n" + text)]
    if not heads:
        return None
    inner = cut.indent + 2
    # An entry of the mapping; a comment is none (never cut there), nor a list's `- `.
    entry = re.compile(rf"\n {{{inner}}}(?=[^\s#])(?!-[ \n])")
    outdented = re.compile(rf"\n(?! {{{inner}}}|[ ]*(?:\n|\Z|#))")
    marker = f"__block_{os.urandom(8).hex()}_"
    outline: list[str] = []
    blocks: list[tuple[str, Iterator[str]]] = []
    done = 0
    for head_start, key in heads:
        start = text.index("\n", head_start) + 1
        if start < done:
            return None
        after = outdented.search(text, start - 1)
        end = after.start() + 1 if after is not None else len(text)
        if text.startswith(" " * (cut.indent + 1), end):
            # Indented between the key and its entries, the next line would fold into
            # the marker put in the block's place: only the whole text reads it right.
            return None
        starts = [found.start() + 1 for found in entry.finditer(text, start - 1, end)]
        if not starts or not _BLANK_OR_COMMENT_LINES.fullmatch(text, start, starts[0]):
            continue  # not a mapping of entries (a list, say): left in the outline
        bounds = [start, *starts[cut.per_piece :: cut.per_piece], end]
        blocks.append((key, _texts(text, bounds)))
        outline += [text[done:head_start], f"{' ' * cut.indent}{key}: {marker}{len(blocks)}\n"]
        done = end
    if not blocks:
        return None
    outline.append(text[done:])
    return Split("".join(outline), marker, blocks)


def _texts(text: str, bounds: list[int]) -> Iterator[str]:
    for start, end in itertools.pairwise(bounds):
        yield text[start:end]
