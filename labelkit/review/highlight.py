"""Where in a text the labeling functions fired: spans for reviewers to see at a glance.

The matches are found by polars, with the same Rust regex engine (linear in the text)
that applied the labeling functions: Python's backtracking ``re`` can take minutes on a
pattern such as ``(\\w+\\s?)+$``, and a reviewer's screen must never wait on that. A
spaCy pattern LF's matches come from its own matchers, on the text's tokens.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from typing import Any

import polars as pl

from labelkit.lf.core import declared_definition, whole_words
from labelkit.lf.patterns import PatternLF, build_matchers, load_pipeline
from labelkit.workspace import Workspace


@dataclass(frozen=True)
class Span:
    """Characters ``start:end`` of a text that made labeling function ``source`` fire."""

    start: int
    end: int
    source: str
    label: str


def lf_spans(
    workspace: Workspace, example_id: str, text: str, *, attribute: str | None = None
) -> list[Span]:
    """The matches of the keyword and regex LFs that voted on an example (on its
    ``attribute``, when given), in text order.

    spaCy pattern LFs' matches are found by their matchers on the text's tokens.
    Other kinds (lengths, lookups, Python functions) fire on the whole text and have
    no span to show.

    Examples
    --------
    >>> [(s.source, text[s.start : s.end]) for s in lf_spans(ws, "a1", text)]
    [('keyword_subscribe', 'subscribe'), ('keyword_my', 'my')]
    """
    fired = workspace.sql(
        """SELECT s.name, s.definition, v.label FROM votes v JOIN sources s ON s.name = v.source
           WHERE v.example_id = ? AND s.kind = 'lf' AND (?::VARCHAR IS NULL OR v.attribute = ?)
           ORDER BY s.name""",
        [example_id, attribute, attribute],
    )
    spans = []
    for source, definition, label in fired.iter_rows():
        pattern = _pattern(definition)
        if pattern is not None:
            spans += [Span(start, end, source, label) for start, end in matches(pattern, text)]
        spec = declared_definition(definition)
        if spec is not None and spec.get("kind") == "spacy_patterns":
            # Trial 52b: the phrases a pattern LF voted for were not shown.
            model = spec.get("model") or f"blank:{workspace.task.lang}"
            spans += [
                Span(start, end, source, label)
                for start, end in _pattern_matches(source, json.dumps(spec), model, text)
            ]
    return sorted(spans, key=lambda span: (span.start, span.end))


def _pattern_matches(name: str, spec: str, model: str, text: str) -> list[tuple[int, int]]:
    """Start and end (in characters) of a pattern LF's matches in ``text``."""
    nlp, matchers = _matchers(name, spec, model)
    doc = nlp.make_doc(text)
    found = {
        (doc[start].idx, doc[end - 1].idx + len(doc[end - 1]))
        for matcher in matchers
        for _, start, end in matcher(doc)
    }
    return sorted(found)


@lru_cache(maxsize=64)
def _matchers(name: str, spec: str, model: str) -> tuple[Any, list[Any]]:
    """A pattern LF's pipeline and matchers, built once per review session."""
    declared = json.loads(spec)
    lf = PatternLF(
        name=name,
        label=declared["labels"][0],
        phrases=tuple(declared["phrases"]),
        token_patterns=json.dumps(declared["token_patterns"]),
        attr=declared["attr"],
        model=declared.get("model"),
    )
    nlp = load_pipeline(model)
    return nlp, build_matchers([lf], nlp, probe=False)


def matches(pattern: str, text: str) -> list[tuple[int, int]]:
    """Start and end (in characters) of the non-empty matches of a Rust regex, in order.

    polars has no match positions, so every match is wrapped in two characters the text
    lacks and the marked text is split on them. A pattern polars refuses has no matches.

    Examples
    --------
    >>> matches(r"(?i)\\bmy\\b", "My channel, my rules")
    [(0, 2), (12, 14)]
    """
    opening, closing = islice((c for c in map(chr, range(0xE000, 0xF900)) if c not in text), 2)
    try:
        marked = pl.Series([text]).str.replace_all(pattern, f"{opening}${{0}}{closing}").item()
    except pl.exceptions.PolarsError:
        return []
    head, *pieces = marked.split(opening)
    found, position = [], len(head)
    for piece in pieces:
        match, _, rest = piece.partition(closing)
        if match:
            found.append((position, position + len(match)))
        position += len(match) + len(rest)
    return found


def _pattern(definition: str) -> str | None:
    """The regex an LF's definition applies to the text, with its flags; None for others."""
    spec = declared_definition(definition)
    if spec is None:
        return None
    flags = "" if spec.get("case_sensitive") else "(?i)"
    if spec.get("kind") == "keywords":
        return flags + whole_words(
            spec["keywords"],
            spec.get("accents", True),
            case_sensitive=bool(spec.get("case_sensitive")),
        )
    if spec.get("kind") == "regex":
        return flags + spec["pattern"]
    return None
