"""Spans: character offsets into a text, tokens, and WRENCH's token-indexed spans.

A span is a half-open range ``[start, end)`` of **characters** of the text as stored,
with a label (an entity type, or ``"O"``: no entity here). Texts are never
normalised, so an offset means the same thing everywhere: in the workspace, in a
labeling function, in review. Tokens come from spaCy's tokenizer
(``spacy.blank(lang)``) with their character offsets kept; label models work on
token-indexed spans ``(start_token, end_token_exclusive, label)``, WRENCH's form,
converted with ``to_token_spans`` and ``to_char_spans``.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl

from labelkit.errors import InputError

# A token's character offsets in its text, [start, end).
Offsets = tuple[int, int]
# A span over tokens, WRENCH's form: [start_token, end_token), label.
TokenSpan = tuple[int, int, str]


@dataclass(frozen=True, order=True)
class Span:
    """A labeled range ``[start, end)`` of characters of a text.

    Examples
    --------
    >>> text = "the battery life is short"
    >>> span = Span(4, 16, "TERM")
    >>> text[span.start : span.end]
    'battery life'
    """

    start: int
    end: int
    label: str

    def to_json(self) -> list[Any]:
        """The span as stored in JSON: ``[start, end, label]``.

        Examples
        --------
        >>> Span(4, 16, "TERM").to_json()
        [4, 16, 'TERM']
        """
        return [self.start, self.end, self.label]


def spans_json(spans: Iterable[Span | Sequence[Any]]) -> str:
    """Spans as the workspace stores them: a JSON array of ``[start, end, label]``,
    sorted and without repeats.

    Examples
    --------
    >>> spans_json([Span(4, 16, "TERM"), (0, 3, "O")])
    '[[0, 3, "O"], [4, 16, "TERM"]]'
    """
    unique = sorted({s if isinstance(s, Span) else Span(*s) for s in spans})
    return json.dumps([span.to_json() for span in unique])


@cache
def _tokenizer(lang: str) -> Any:
    import spacy

    try:
        return split_after_accents(spacy.blank(lang)).tokenizer
    except (ImportError, OSError, KeyError, ValueError) as error:
        raise InputError(f"language {lang!r}: spacy.blank({lang!r}) fails ({error})") from None


# A period after a combining accent: spaCy's suffix rules split a final period off a
# word after a letter, and in NFD text a word may end in its accent ("açaí." as
# "i" + U+0301 + "."), which kept the period in the word's token (trial 45). After
# a capital they split it only after two capitals, which an accent between breaks
# ("JALAPEÑO." as "N" + U+0303 + "O" + ".": trial 65b).
_PERIOD_AFTER_ACCENT = r"(?:(?<=[\u0300-\u036f])|(?<=[A-Z][\u0300-\u036f][A-Z]))\."


def split_after_accents(nlp: Any) -> Any:
    """``nlp`` with its tokenizer splitting a final period off a word that ends in a
    combining accent (NFD text) as it does off one that ends in a letter, where the
    tokenizer works by spaCy's suffix rules.

    Examples
    --------
    >>> import spacy, unicodedata
    >>> text = unicodedata.normalize("NFD", "Add açaí.")
    >>> [t.text for t in split_after_accents(spacy.blank("en"))(text)][-1]
    '.'
    """
    import re

    search = getattr(nlp.tokenizer, "suffix_search", None)
    if search is None:
        return nlp  # a tokenizer of its own (Chinese, Japanese): no suffix rules to extend
    pattern = search.__self__.pattern
    nlp.tokenizer.suffix_search = re.compile(f"{pattern}|{_PERIOD_AFTER_ACCENT}$").search
    return nlp


def tokenize(texts: Iterable[str], lang: str = "en") -> list[list[Offsets]]:
    """The character offsets ``(start, end)`` of each text's tokens, from spaCy's
    tokenizer for ``lang``; whitespace beyond one space between tokens is a token of
    its own, as in spaCy.

    Examples
    --------
    >>> tokenize(["big  screen\\r\\n"])
    [[(0, 3), (4, 5), (5, 11), (11, 13)]]
    """
    return [
        [(token.idx, token.idx + len(token)) for token in doc]
        for doc in _tokenizer(lang).pipe(texts)
    ]


def to_token_spans(
    spans: Iterable[Span], tokens: Sequence[Offsets]
) -> tuple[list[TokenSpan], list[Span]]:
    """Character spans as token spans ``(start_token, end_token_exclusive, label)``
    over ``tokens`` (one text's, from ``tokenize``), and the spans that did not fall on
    token boundaries: those snap outward to the tokens they touch, and one that touches
    no token (only whitespace between tokens) is left out.

    Examples
    --------
    >>> tokens = tokenize(["the battery life"])[0]
    >>> to_token_spans([Span(4, 16, "TERM"), Span(5, 9, "TERM")], tokens)
    ([(1, 3, 'TERM'), (1, 2, 'TERM')], [Span(start=5, end=9, label='TERM')])
    """
    starts = [start for start, _ in tokens]
    ends = [end for _, end in tokens]
    converted, off = [], []
    for span in spans:
        # The tokens it touches: the first that ends after its start, up to the last
        # that starts before its end.
        first = bisect.bisect_right(ends, span.start)
        last = bisect.bisect_left(starts, span.end) - 1
        if first <= last:
            converted.append((first, last + 1, span.label))
            if (starts[first], ends[last]) == (span.start, span.end):
                continue
        off.append(span)
    return converted, off


def to_char_spans(spans: Iterable[Sequence[Any]], tokens: Sequence[Offsets]) -> list[Span]:
    """Token spans ``(start_token, end_token_exclusive, label)`` as character spans of
    the text ``tokens`` came from.

    Examples
    --------
    >>> to_char_spans([(1, 3, "TERM")], tokenize(["the battery life"])[0])
    [Span(start=4, end=16, label='TERM')]
    """
    chars = []
    for start, end, label in spans:
        if not 0 <= start < end <= len(tokens):
            raise InputError(
                f"token span {[start, end, label]} is outside the text's {len(tokens)} tokens"
            )
        chars.append(Span(tokens[start][0], tokens[end - 1][1], label))
    return chars


def joined_offsets(tokens: Sequence[str]) -> list[Offsets]:
    """The character offsets of ``tokens`` in ``" ".join(tokens)``.

    Examples
    --------
    >>> joined_offsets(["a", "bc", "d"])
    [(0, 1), (2, 4), (5, 6)]
    """
    offsets, at = [], 0
    for token in tokens:
        offsets.append((at, at + len(token)))
        at += len(token) + 1
    return offsets


@dataclass(frozen=True)
class WrenchSpans:
    """A WRENCH sequence-tagging file read as character spans.

    ``frame`` has ``id`` (``<file stem>:<key>``, as ``ingest`` gives them), ``text``
    (the tokens joined by single spaces), ``gold`` (JSON ``[[start, end, label]]``)
    and ``split`` (from the file name; ``valid`` is ``dev``). ``weak_labels`` has one
    row per labeling-function span: ``id, lf, start, end, label`` (``lf`` its position
    in the record's ``weak_labels``); ``lfs`` names the labeling functions and
    ``labels`` the entity types, from ``meta.json`` beside the file where there is
    one (else ``()`` and None).
    """

    frame: pl.DataFrame
    weak_labels: pl.DataFrame
    n_lfs: int
    lfs: tuple[str, ...]
    labels: tuple[str, ...] | None


def read_wrench_spans(path: str | Path) -> WrenchSpans:
    """Read a WRENCH span file (``{key: {"data": {"text": [tokens]}, "label": [[s, e,
    type]], "weak_labels": [[[s, e, type]], ...]}}``, token spans ``[s, e)``) into
    character spans over the tokens joined by single spaces.

    Examples
    --------
    >>> laptops = read_wrench_spans(bundled_dataset("laptops") / "valid.json")
    >>> laptops.frame.row(0, named=True)["split"], laptops.labels
    ('dev', ('TERM',))
    """
    path = Path(path)
    return wrench_spans_of(read_wrench_json(path), path)


def read_wrench_json(path: Path) -> object:
    """A WRENCH file, parsed; a missing file, or one that is not JSON, is an
    ``InputError`` naming it.

    Examples
    --------
    >>> read_wrench_json(Path("nope.json"))
    Traceback (most recent call last):
    labelkit.errors.InputError: nope.json: no such file
    """
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: cannot read as WRENCH JSON: {error}") from None


def wrench_spans_of(data: object, path: Path) -> WrenchSpans:
    """``read_wrench_spans`` of a WRENCH file already parsed (``data``, read from
    ``path``, which names it in errors and locates its ``meta.json``).

    Examples
    --------
    >>> record = {"data": {"text": ["big", "screen"]}, "label": [[1, 2, "TERM"]]}
    >>> wrench_spans_of({"0": record}, Path("train.json")).frame["gold"].to_list()
    ['[[4, 10, "TERM"]]']
    """
    if not isinstance(data, dict) or not data:
        raise InputError(f"{path}: expected a WRENCH object of id -> record")
    lfs, labels = wrench_meta(path)
    from labelkit.tables import wrench_split

    rows, weak_rows, widths = [], [], set()
    for key, record in data.items():
        where = f"{path} record {key!r}"
        tokens = _wrench_tokens(record)
        if not isinstance(tokens, list) or not all(isinstance(t, str) and t for t in tokens):
            raise InputError(f"{where}: data.text is not a list of tokens")
        offsets = joined_offsets(tokens)
        example_id = f"{path.stem}:{key}"
        gold = record.get("label")
        weak = record.get("weak_labels", [])
        if not isinstance(weak, list):
            raise InputError(f"{where}: weak_labels is not a list")
        widths.add(len(weak))
        rows.append(
            (
                example_id,
                " ".join(tokens),
                None if gold is None else spans_json(_char_spans(gold, offsets, f"{where} label")),
            )
        )
        weak_rows += [
            (example_id, j, span.start, span.end, span.label)
            for j, spans in enumerate(weak)
            for span in sorted(set(_char_spans(spans, offsets, f"{where} weak_labels[{j}]")))
        ]
    if len(widths) > 1:
        raise InputError(f"{path}: records have {sorted(widths)} weak_labels each")
    frame = pl.DataFrame(
        rows, schema=dict.fromkeys(("id", "text", "gold"), pl.String), orient="row"
    ).with_columns(pl.lit(wrench_split(path), pl.String).alias("split"))
    weak_labels = pl.DataFrame(
        weak_rows,
        schema={
            "id": pl.String,
            "lf": pl.Int64,
            "start": pl.Int64,
            "end": pl.Int64,
            "label": pl.String,
        },
        orient="row",
    )
    return WrenchSpans(
        frame=frame,
        weak_labels=weak_labels,
        n_lfs=widths.pop(),
        lfs=lfs,
        labels=labels,
    )


def misplaced(start: int, end: int, length: int, text: str | None = None) -> str | None:
    """What is wrong with the character offsets ``[start, end)`` in a text of ``length``
    characters, or None where they mark a span of it. Given the ``text``, a span past
    its end in a text with emoji is said to be likely counted in UTF-16 units.

    Examples
    --------
    >>> misplaced(15, 7, 20), misplaced(3, 25, 20), misplaced(3, 7, 20)
    ('is backwards: it ends (7) before it starts (15)', 'ends at 25, after the text (20 characters)', None)
    """
    if end < start:
        return f"is backwards: it ends ({end}) before it starts ({start})"
    if end == start:
        return f"is empty: it starts and ends at {start}"
    if start < 0:
        return f"starts at {start}, before the text"
    if end > length:
        wide = sum(ord(char) > 0xFFFF for char in text or "")
        return f"ends at {end}, after the text ({length} characters)" + (
            f"; offsets count characters (code points, as Python does), and this text has "
            f"{wide} (emoji, say) that UTF-16, as JavaScript tools count, makes two"
            if wide and end <= length + wide
            else ""
        )
    return None


def span_triples(value: object) -> list[list[Any]] | None:
    """``value`` (parsed JSON, or a polars list of structs as Python objects) as a list
    of ``[start, end, label]``, or None where it is no list of spans. A span may also be
    an object with ``start``, ``end`` and ``label`` (Prodigy's form; its other keys,
    such as ``token_start``, are left). A span whose two offsets are both strings of
    digits is read with them as numbers: polars reads ``[21, 24, "SKILL"]`` from JSON
    lines as three strings (trial 56a).

    Examples
    --------
    >>> span_triples([{"start": 4, "end": 16, "label": "TERM", "token_start": 1}])
    [[4, 16, 'TERM']]
    >>> span_triples([[4, 16, "TERM"]]), span_triples([["4", "16", "TERM"]]), span_triples("TERM")
    ([[4, 16, 'TERM']], [[4, 16, 'TERM']], None)
    """
    if isinstance(value, list) and all(
        isinstance(s, dict) and {"start", "end", "label"} <= s.keys() for s in value
    ):
        value = [[s["start"], s["end"], s["label"]] for s in value]
    if isinstance(value, list):
        # Both offsets strings, as polars makes them; a list that mixes is a file's error.
        value = [
            [int(s[0]), int(s[1]), *s[2:]]
            if isinstance(s, list) and len(s) >= 2 and _digits(s[0]) and _digits(s[1])
            else s
            for s in value
        ]
    return value if is_span_list(value) else None  # type: ignore[return-value]


def _digits(value: object) -> bool:
    return isinstance(value, str) and value.isascii() and value.isdigit()


def is_span_list(value: object) -> bool:
    """Whether ``value`` (parsed JSON) is a list of ``[start, end, label]`` with whole
    numbers (not booleans, not floats) for offsets.

    Examples
    --------
    >>> is_span_list([[4, 16, "TERM"]]), is_span_list([[4, 16.0, "TERM"]])
    (True, False)
    """
    return isinstance(value, list) and all(
        isinstance(s, list)
        and len(s) == 3
        and type(s[0]) is int
        and type(s[1]) is int
        and isinstance(s[2], str)
        for s in value
    )


def _char_spans(spans: object, offsets: Sequence[Offsets], where: str) -> list[Span]:
    if not is_span_list(spans):
        raise InputError(f"{where}: expected a list of [start_token, end_token, label]")
    try:
        return to_char_spans(spans, offsets)
    except InputError as error:
        raise InputError(f"{where}: {error}") from None


def wrench_meta(path: Path) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
    """The labeling functions and entity types that ``meta.json`` beside a WRENCH span
    file names (``()`` and None without one)."""
    meta = path.with_name("meta.json")
    if not meta.is_file():
        return (), None
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
        lfs = tuple(str(name) for name in data.get("lf", []))
        types = data.get("entity_types")
    except (OSError, ValueError, AttributeError) as error:
        raise InputError(f"{meta}: cannot read WRENCH meta.json: {error}") from None
    return lfs, tuple(types) if types else None


def is_wrench_spans(record: object) -> bool:
    """Whether a WRENCH record is a sequence-tagging one (its text a list of tokens)."""
    return isinstance(_wrench_tokens(record), list)


def _wrench_tokens(record: object) -> object:
    """A WRENCH record's ``data.text``, None where it has none."""
    data = record.get("data") if isinstance(record, dict) else None
    return data.get("text") if isinstance(data, dict) else None
