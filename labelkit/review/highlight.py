"""Where in a text the labeling functions fired: spans for reviewers to see at a glance."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from labelkit.lf.core import whole_words
from labelkit.workspace import Workspace


@dataclass(frozen=True)
class Span:
    """Characters ``start:end`` of a text that made labeling function ``source`` fire."""

    start: int
    end: int
    source: str
    label: str


def lf_spans(workspace: Workspace, example_id: str, text: str) -> list[Span]:
    """The matches of the keyword and regex LFs that voted on an example, in text order.

    Other kinds (lengths, lookups, Python functions) fire on the whole text and have
    no span to show.

    Examples
    --------
    >>> [(s.source, text[s.start : s.end]) for s in lf_spans(ws, "a1", text)]
    [('keyword_subscribe', 'subscribe'), ('keyword_my', 'my')]
    """
    fired = workspace.sql(
        """SELECT s.name, s.definition, v.label FROM votes v JOIN sources s ON s.name = v.source
           WHERE v.example_id = ? AND s.kind = 'lf' ORDER BY s.name""",
        [example_id],
    )
    spans = []
    for source, definition, label in fired.iter_rows():
        pattern = _pattern(definition)
        if pattern is None:
            continue
        spans += [Span(m.start(), m.end(), source, label) for m in pattern.finditer(text)]
    return sorted(spans, key=lambda span: (span.start, span.end))


def _pattern(definition: str) -> re.Pattern[str] | None:
    try:
        spec = json.loads(definition)
    except ValueError:
        return None  # a Python LF: its definition is source code
    flags = 0 if spec.get("case_sensitive") else re.IGNORECASE
    if spec.get("kind") == "keywords":
        source = whole_words(spec["keywords"])
    elif spec.get("kind") == "regex":
        source = spec["pattern"]
    else:
        return None
    try:
        return re.compile(source, flags)
    except re.error:
        return None  # Rust-only syntax: the vote stands, only the highlight is lost
