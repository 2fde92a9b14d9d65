"""/runbooks: docs/runbooks.md served by the daemon, so an alert's link works out of the box.

The alert rules build each ``runbook_url`` from the instance that watches the
target (``http://INSTANCE/runbooks#schemaindexmissing``). The page is the
markdown as written, in HTML with an anchor per heading (GitHub's spelling of
them, so links into the repository's copy and into this one agree); the raw
text is at /runbooks.md. Read once from the package, where it is package data.
"""

from __future__ import annotations

import functools
import html
import re
from importlib import resources

_HEADING = re.compile(r"(#{1,6}) +(.*)")


@functools.cache
def markdown() -> bytes:
    return resources.files("monitor.daemon").joinpath("runbooks.md").read_bytes()


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@functools.cache
def page() -> bytes:
    """The runbooks as HTML: headings with their anchors, everything else as preformatted
    text (code, tables and lists read as they were written)."""
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>schema-monitor runbooks"
             "</title><style>body{max-width:60em;margin:auto;font-family:sans-serif}"
             "pre{white-space:pre-wrap}</style></head><body>"]  # fmt: skip
    block: list[str] = []
    fenced = False

    def flush() -> None:
        if "".join(block).strip():
            parts.append("<pre>" + html.escape("\n".join(block).strip("\n")) + "</pre>")
        block.clear()

    for line in markdown().decode().splitlines():
        fenced ^= line.startswith("```")
        heading = None if fenced else _HEADING.fullmatch(line)
        if heading is None:
            block.append(line)
            continue
        flush()
        level, text = len(heading[1]), heading[2]
        parts.append(f'<h{level} id="{anchor(text)}">{html.escape(text)}</h{level}>')
    flush()
    parts.append("</body></html>\n")
    return "".join(parts).encode()
