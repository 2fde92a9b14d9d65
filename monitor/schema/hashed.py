"""Definition texts over the catalog's byte cap, kept as their MD5 and length.

A function body, a view's query or a policy's expression can be any size: a
50 MB body read whole would cost the monitor hundreds of megabytes. Over the
cap (``limits.definition_bytes``), the catalog read asks the server for the
text's MD5 and length instead of the text (the ``text_cap`` of the catalog
queries), and the model holds a marker, ``hashed:md5:<hex>:<bytes>``. Such a
text is compared byte for byte, by hash: with a spec that holds the marker
(a spec written from a capped read) or the whole text (hashed here the same
way). Whitespace and comments then count, unlike in the parse-tree
comparison of texts under the cap.

A real definition that reads exactly like a marker (64 characters of this
shape, in a language whose body is a bare string) would be compared as one:
the prefix is there to make that a deliberate act, never an accident.
"""

from __future__ import annotations

import hashlib
import re

PREFIX = "hashed:md5:"
_MARKER = re.compile(r"hashed:md5:([0-9a-f]{32}):([0-9]+)\Z")


def marker(md5: str, size: int) -> str:
    return f"{PREFIX}{md5}:{size}"


def of(text: str) -> str:
    """The marker of `text` (as the server computes it over its UTF-8 bytes)."""
    data = text.encode()
    return marker(hashlib.md5(data, usedforsecurity=False).hexdigest(), len(data))


def size(text: str) -> int | None:
    """The byte length a marker stands for; None for a text that is no marker."""
    found = _MARKER.match(text) if text.startswith(PREFIX) else None
    return int(found.group(2)) if found is not None else None


def same(expected: str, actual: str) -> bool | None:
    """Whether two texts are the same bytes, when either is a marker; None when neither is
    (the caller compares them as usual)."""
    expected_size, actual_size = size(expected), size(actual)
    if expected_size is None and actual_size is None:
        return None
    return (expected if expected_size is not None else of(expected)) == (
        actual if actual_size is not None else of(actual)
    )
