"""Span labeling functions: they mark character spans of a text with an entity type.

Phrase lists and gazetteers match through spaCy's ``PhraseMatcher``, token patterns
through its ``Matcher``, regular expressions through Python's ``re`` on the text as
stored, and Python functions return spans of their own. All of them run in one
``nlp.pipe`` pass per pipeline (by default a blank tokenizer of the task's
language), and every span is snapped outward to whole tokens, so that label models
can read them as token spans. Their votes go to the workspace's ``span_votes``.

An LF may also vote ``"O"`` over a stretch of text: "no entity here".
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, overload

import duckdb
import polars as pl

from labelkit.errors import InputError
from labelkit.lf.core import (
    ERRORS_SCHEMA,
    Example,
    LabelingFunction,
    describe_error,
    python_definition,
    read_list,
)
from labelkit.lf.patterns import TokenPattern, build_matchers, load_pipeline
from labelkit.spans import Span, misplaced
from labelkit.task import OUTSIDE, Task
from labelkit.workspace import Workspace


class SpanLF(LabelingFunction):
    """Base of the labeling functions that vote spans (for a ``spans`` task)."""

    model: str | None

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels it may vote (empty: any of the task's, a Python LF's choice)."""
        raise NotImplementedError


@dataclass(frozen=True)
class SpanPatternLF(SpanLF):
    """Votes ``label`` on every span its phrases, token patterns or regular expression
    match; see ``phrase_span_lf``, ``token_span_lf`` and ``regex_span_lf``.

    Where one LF's matches overlap, the longest is kept (``spacy.util.filter_spans``).
    """

    name: str
    label: str
    phrases: tuple[str, ...] = ()
    token_patterns: str = "[]"  # JSON, so that the LF stays hashable
    regex: str = ""
    attr: str = "LOWER"
    case_sensitive: bool = False
    model: str | None = None
    group: int | str = 0

    @property
    def labels(self) -> tuple[str, ...]:
        return (self.label,)

    @property
    def definition(self) -> str:
        return json.dumps(
            {
                "kind": "span_patterns",
                "labels": [self.label],
                "phrases": self.phrases,
                "token_patterns": json.loads(self.token_patterns),
                "regex": self.regex,
                "attr": self.attr,
                "case_sensitive": self.case_sensitive,
                "model": self.model,
            }
            # Only where set: the LFs written before it keep their definitions (no rerun).
            | ({"group": self.group} if self.group else {})
        )


@dataclass(frozen=True)
class SpanExample(Example):
    """What a Python span LF receives: ``x.text``, ``x.id``, ``x.meta`` and ``x.doc``,
    the spaCy ``Doc`` of the text (tokens with their character offsets)."""

    doc: Any = None


# What a Python span LF may return: spans as (start, end, label) character offsets,
# (start, end) with the LF's default label, spaCy Span objects, or None.
SpanVotes = Iterable[tuple[int, int, str] | tuple[int, int] | Any] | None


@dataclass(frozen=True)
class PythonSpanLF(SpanLF):
    """A Python function of a ``SpanExample`` that returns spans; see
    ``span_labeling_function``."""

    name: str
    func: Callable[[SpanExample], SpanVotes] = field(repr=False)
    label: str | None = None
    model: str | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return () if self.label is None else (self.label,)

    @property
    def definition(self) -> str:
        return python_definition(self.func)


def phrase_span_lf(
    name: str,
    label: str,
    phrases: Iterable[str] | str | Path,
    *,
    attr: str = "LOWER",
    model: str | None = None,
) -> SpanPatternLF:
    """Vote ``label`` on every occurrence of a phrase of a list or gazetteer (a file with
    one phrase per line), matched on whole tokens by spaCy's ``PhraseMatcher``.

    ``attr`` is the token attribute compared: ``"LOWER"`` (the default) ignores case,
    ``"ORTH"`` does not. Each phrase matches in NFC and in NFD, whichever form the
    texts came in. ``model`` tokenizes (see ``pattern_lf``).

    Examples
    --------
    >>> parts = phrase_span_lf("parts", "TERM", ["battery life", "keyboard", "screen"])
    """
    if isinstance(phrases, (str, Path)):
        phrases = read_list(phrases, f"span LF {name!r}")
    listed = tuple(dict.fromkeys(phrases))
    if not listed or any(not phrase.strip() for phrase in listed):
        raise InputError(f"span LF {name!r} needs phrases, none of them blank")
    return _checked(SpanPatternLF(name=name, label=label, phrases=listed, attr=attr, model=model))


def token_span_lf(
    name: str, label: str, patterns: Sequence[TokenPattern], *, model: str | None = None
) -> SpanPatternLF:
    """Vote ``label`` on every span a spaCy ``Matcher`` token pattern matches.

    Examples
    --------
    >>> sizes = token_span_lf("screen_size", "TERM", [[{"LIKE_NUM": True}, {"LOWER": "inch"}]])
    """
    if not patterns:
        raise InputError(f"span LF {name!r} needs token patterns")
    lf = SpanPatternLF(
        name=name,
        label=label,
        token_patterns=json.dumps([list(pattern) for pattern in patterns]),
        model=model,
    )
    return _checked(lf)


def regex_span_lf(
    name: str,
    pattern: str,
    label: str,
    *,
    case_sensitive: bool = False,
    model: str | None = None,
    group: int | str = 0,
) -> SpanPatternLF:
    """Vote ``label`` on every match of a Python regular expression in the text as
    stored, snapped outward to whole tokens (``"ram"`` inside ``"8GB RAM,"`` marks the
    token ``RAM``; a match of whitespace alone marks nothing). ``group`` marks one
    group of each match (its number or name) instead of the whole match (trial 56a:
    ``years of ([A-Z]\\w*)`` marked "6 years of Terraform", where "Terraform" was meant).

    Examples
    --------
    >>> memory = regex_span_lf("memory", r"\\b\\d+\\s?gb\\b", "TERM")
    >>> skill = regex_span_lf("years_of", r"\\d+ years of ([A-Z][\\w+#]*)", "SKILL", group=1)
    """
    if not pattern:
        raise InputError(f"span LF {name!r} needs a pattern")
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise InputError(f"span LF {name!r}: invalid pattern {pattern!r}: {error}") from None
    if group and group not in (*range(1, compiled.groups + 1), *compiled.groupindex):
        named = f", named {', '.join(compiled.groupindex)}" if compiled.groupindex else ""
        raise InputError(
            f"span LF {name!r}: its pattern has no group {group!r} (it has "
            f"{compiled.groups}{named})"
        )
    lf = SpanPatternLF(
        name=name,
        label=label,
        regex=pattern,
        case_sensitive=case_sensitive,
        model=model,
        group=group,
    )
    return _checked(lf)


@overload
def span_labeling_function(func: Callable[[SpanExample], SpanVotes], /) -> PythonSpanLF: ...
@overload
def span_labeling_function(
    *, name: str | None = None, label: str | None = None, model: str | None = None
) -> Callable[[Callable[[SpanExample], SpanVotes]], PythonSpanLF]: ...


def span_labeling_function(
    func: Callable[[SpanExample], SpanVotes] | None = None,
    /,
    *,
    name: str | None = None,
    label: str | None = None,
    model: str | None = None,
) -> PythonSpanLF | Callable[[Callable[[SpanExample], SpanVotes]], PythonSpanLF]:
    """Turn a function of a ``SpanExample`` into a span LF. It returns spans: ``(start,
    end, label)`` character offsets, ``(start, end)`` or spaCy ``Span`` objects without
    a label when ``label`` is given, spaCy ``Span`` objects of ``x.doc`` with their
    ``label_``, or None. Offsets snap outward to whole tokens.

    Python span LFs run in the one ``nlp.pipe`` pass with the pattern LFs (no time
    budget); a row where one raises or returns something else is an error row, as
    for other Python LFs.

    Examples
    --------
    >>> @span_labeling_function(label="TERM")
    ... def capitalised_after_the(x):
    ...     return [x.doc[t.i : t.i + 1] for t in x.doc[1:] if x.doc[t.i - 1].lower_ == "the"
    ...             and t.text[:1].isupper()]
    """

    def wrap(f: Callable[[SpanExample], SpanVotes]) -> PythonSpanLF:
        return PythonSpanLF(name=name or f.__name__, func=f, label=label, model=model)

    return wrap(func) if func is not None else wrap


def _checked(lf: SpanPatternLF) -> SpanPatternLF:
    # Checks the patterns now; any tokenizer does, and English needs nothing installed.
    _matchers([lf], load_pipeline("blank:en"), probe=False)
    return lf


def _matchers(lfs: Sequence[SpanPatternLF], nlp: Any, probe: bool = True) -> list[Any]:
    # Texts are matched as stored, so each phrase is added in NFC and in NFD.
    return build_matchers(lfs, nlp, forms=("NFC", "NFD"), what="span LF", probe=probe)


def compute_span_votes(
    lfs: Sequence[SpanLF], examples: pl.DataFrame, task: Task, batch_size: int = 1000
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The spans ``lfs`` vote on a frame with ``id`` and ``text`` (and optional
    ``meta``) columns: ``example_id, source, start, end, label`` (character offsets,
    on token boundaries), and the rows where a Python span LF failed (``lf,
    example_id, text, error``; it abstains there).

    Every LF that uses one pipeline shares one ``nlp.pipe`` pass over the texts.

    Examples
    --------
    >>> frame = pl.DataFrame({"id": ["r1"], "text": ["Great Battery life!"]})
    >>> spans, errors = compute_span_votes([parts], frame, Task(("TERM",), kind="spans"))
    >>> spans.select("start", "end").row(0)
    (6, 18)
    """
    allowed = (*task.labels, OUTSIDE)
    ids, texts = examples["id"].to_list(), examples["text"].to_list()
    metas = examples["meta"].to_list() if "meta" in examples.columns else [None] * len(ids)
    by_model: dict[str, list[SpanLF]] = {}
    for lf in lfs:
        by_model.setdefault(lf.model or f"blank:{task.lang}", []).append(lf)
    found: list[tuple[str, str, int, int, str]] = []
    failures: list[tuple[str, str, str, str]] = []
    for model, group in by_model.items():
        nlp = load_pipeline(model)
        patterns = [lf for lf in group if isinstance(lf, SpanPatternLF)]
        matchers = _matchers(patterns, nlp)
        regexes = [
            (lf, re.compile(lf.regex, 0 if lf.case_sensitive else re.IGNORECASE))
            for lf in patterns
            if lf.regex
        ]
        functions = [lf for lf in group if isinstance(lf, PythonSpanLF)]
        name_of = {nlp.vocab.strings[lf.name]: lf.name for lf in patterns}
        labels = {lf.name: lf.label for lf in patterns}
        for i, doc in enumerate(nlp.pipe(texts, batch_size=batch_size)):
            matched: dict[str, list[Any]] = {}
            for matcher in matchers:
                for match_id, start, end in matcher(doc):
                    matched.setdefault(name_of[match_id], []).append(doc[start:end])
            for lf, regex in regexes:
                # texts[i] is doc.text, which spaCy would build again from the tokens.
                for match in regex.finditer(texts[i]):
                    if match.start(lf.group) < 0:
                        continue  # the group took no part in this match
                    span = doc.char_span(
                        match.start(lf.group), match.end(lf.group), alignment_mode="expand"
                    )
                    if span is not None and len(span) and not span.text.isspace():
                        matched.setdefault(lf.name, []).append(span)
            found += _longest(matched, labels, ids[i])
            for lf in functions:
                x = SpanExample(
                    id=ids[i], text=texts[i], meta=json.loads(metas[i]) if metas[i] else {}, doc=doc
                )
                try:
                    spans = _returned_spans(lf, lf.func(x), doc, texts[i], allowed)
                except NotAVoteError as error:
                    # As a classification LF's: "returned ..." rows of an LF that never
                    # votes stop the run unless failing LFs are allowed (trial 45).
                    failures.append((lf.name, ids[i], texts[i], str(error)))
                    continue
                except (Exception, SystemExit) as error:
                    failures.append((lf.name, ids[i], texts[i], describe_error(error)))
                    continue
                found += [(ids[i], lf.name, s.start, s.end, s.label) for s in spans]
    spans = pl.DataFrame(
        found,
        schema={
            "example_id": pl.String,
            "source": pl.String,
            "start": pl.Int64,
            "end": pl.Int64,
            "label": pl.String,
        },
        orient="row",
    ).unique(maintain_order=True)
    return spans, pl.DataFrame(failures, schema=ERRORS_SCHEMA, orient="row")


def _longest(
    matched: dict[str, list[Any]], labels: dict[str, str], example_id: str
) -> list[tuple[str, str, int, int, str]]:
    """Each LF's matches with overlaps resolved to the longest, as votes."""
    from spacy.util import filter_spans

    return [
        (example_id, name, span.start_char, span.end_char, labels[name])
        for name, spans in matched.items()
        for span in filter_spans(spans)
    ]


class NotAVoteError(ValueError):
    """What a Python span LF returned on a row is not a vote; the message starts with
    ``returned``, as a classification LF's reason for the same does."""


def _returned_spans(
    lf: PythonSpanLF, returned: SpanVotes, doc: Any, text: str, allowed: tuple[str, ...]
) -> set[Span]:
    """What a Python span LF returned as spans snapped to the tokens of ``doc`` (of
    ``text``); ``NotAVoteError`` says what is wrong with what is not a vote: a span
    outside the text, of an unknown type, or overlapping another it returned (a
    source marks each token once)."""
    if returned is None:
        return set()
    if isinstance(returned, str | bytes):
        raise NotAVoteError(
            f"returned {returned!r}, not spans: return (start, end, label) character "
            "offsets, (start, end) with the LF's label, or spaCy Span objects"
        )
    # Each snapped span and the first span returned that snapped onto it.
    spans: dict[Span, tuple[int, int, str]] = {}
    for item in returned if isinstance(returned, Iterable) else [returned]:
        if hasattr(item, "start_char") and hasattr(item, "label_"):
            start, end, label = item.start_char, item.end_char, item.label_ or lf.label
        elif (
            isinstance(item, tuple)
            and len(item) in (2, 3)
            and all(type(offset) is int for offset in item[:2])
        ):
            start, end = item[:2]
            label = item[2] if len(item) == 3 else lf.label
        else:
            raise NotAVoteError(
                f"returned {item!r}: expected (start, end, label) character offsets, "
                "(start, end) with the LF's label, or spaCy Span objects"
            )
        if label is None:
            raise NotAVoteError(f"returned {item!r} with no label, and the LF has no `label`")
        if label not in allowed:
            raise NotAVoteError(
                f"returned label {label!r}, not one of the task's entity types "
                f"{list(allowed[:-1])} or {OUTSIDE!r}"
            )
        if problem := misplaced(start, end, len(text)):
            raise NotAVoteError(f"returned {item!r}, which {problem}")
        snapped = doc.char_span(start, end, alignment_mode="expand")
        if snapped is None or not len(snapped) or snapped.text.isspace():
            continue
        span = Span(snapped.start_char, snapped.end_char, label)
        earlier = spans.setdefault(span, (start, end, label))
        if earlier != (start, end, label):
            # Trial 65b: [0, 4] and [2, 6] on "Update" snapped to one token and passed
            # as one vote, where overlapping spans on two tokens were refused.
            raise NotAVoteError(
                f"returned spans {list(earlier)} and {[start, end, label]}, which cover the "
                f"same tokens {span.to_json()}: a source marks each token once"
            )
    for first, second in pairwise(sorted(spans)):
        if second.start < first.end:
            # Trial 45: stored both, so one source voted two types on the same tokens.
            raise NotAVoteError(
                f"returned overlapping spans {first.to_json()} and {second.to_json()} (on its "
                "tokens): a source marks each token once"
            )
    return set(spans)


def span_lf_summary(
    votes: pl.DataFrame, examples: pl.DataFrame, sources: Sequence[str] | None = None
) -> pl.DataFrame:
    """One row per span source: what it marks, how often, how it sits with the other
    sources, and how it does against gold.

    ``votes`` has ``example_id, source, start, end, label`` (character offsets);
    ``examples`` the ``id`` and ``gold`` (JSON ``[[start, end, label]]``, null where
    unknown) of the examples judged. ``coverage`` is the share of examples where the
    source marks an entity, ``spans`` how many it marks, ``o_spans`` how many stretches
    it says hold none (``"O"``); ``overlaps``, ``conflicts`` and ``boundary`` the shares
    of its entity spans that share characters (so tokens) with an entity span of another
    source, with a span of another label (``"O"`` included), and with one of the same
    label and other bounds. On examples with gold, ``tp``, ``fp`` and ``fn`` count exact matches
    (bounds and label) of its entity spans (``"O"`` left out), and ``fn`` the gold
    spans of the labels it marks that it misses, whence ``precision``, ``recall`` and
    ``f1`` (null where undefined).

    Examples
    --------
    >>> span_lf_summary(votes, ws.sql("SELECT id, gold FROM examples WHERE split = 'dev'"))
    """
    names = list(sources) if sources is not None else votes["source"].unique().sort().to_list()
    with duckdb.connect() as con:
        con.register("votes", votes.select("example_id", "source", "start", "end", "label"))
        con.register("scope", examples.select("id", "gold"))
        con.register("asked", pl.DataFrame({"source": names, "position": range(len(names))}))
        summary = con.sql(_SUMMARY_SQL).pl()
    has_gold = examples["gold"].is_not_null().any()
    columns = ["lf", "labels", "coverage", "spans", "o_spans", "overlaps", "conflicts", "boundary"]
    if has_gold:
        columns += ["tp", "fp", "fn", "precision", "recall", "f1"]
    return summary.select(columns)


_SUMMARY_SQL = """
WITH v AS (
    SELECT DISTINCT v.* FROM votes v
    JOIN scope s ON s.id = v.example_id JOIN asked a USING (source)
), sides AS (
    SELECT a.source, a.example_id, a.start, a."end", a.label,
           coalesce(bool_or(b.label <> 'O'), false) AS overlapping,
           coalesce(bool_or(b.label <> a.label), false) AS conflicting,
           coalesce(bool_or(b.label = a.label AND (b.start <> a.start OR b."end" <> a."end")),
                    false) AS bounds_differ
    FROM v a LEFT JOIN v b ON b.example_id = a.example_id AND b.source <> a.source
         AND b.start < a."end" AND a.start < b."end"
    WHERE a.label <> 'O'
    GROUP BY ALL
), outside AS (
    SELECT source, count(*) AS o_spans FROM v WHERE label = 'O' GROUP BY source
), gold AS (
    SELECT DISTINCT id AS example_id, (g->>0)::INTEGER AS start, (g->>1)::INTEGER AS "end",
           g->>2 AS label
    FROM (SELECT id, unnest(json_extract(gold, '$[*]')) AS g FROM scope WHERE gold IS NOT NULL)
), judged AS (
    SELECT s.*, g.example_id IS NOT NULL AS exact
    FROM sides s JOIN scope e ON e.id = s.example_id AND e.gold IS NOT NULL
    LEFT JOIN gold g USING (example_id, start, "end", label)
), per_lf AS (
    SELECT source, count(*) AS spans, count(DISTINCT example_id) AS covered,
           list_sort(list_distinct(list(label))) AS labels,
           avg(overlapping::INTEGER) AS "overlaps", avg(conflicting::INTEGER) AS conflicts,
           avg(bounds_differ::INTEGER) AS boundary
    FROM sides GROUP BY source
), scored AS (
    SELECT source, count_if(exact) AS tp, count_if(NOT exact) AS fp FROM judged GROUP BY source
), gold_of AS (
    SELECT p.source, count(g.label) AS n_gold
    FROM per_lf p LEFT JOIN gold g ON list_contains(p.labels, g.label) GROUP BY p.source
)
SELECT a.source AS lf, coalesce(p.labels, []::VARCHAR[]) AS labels,
       coalesce(p.covered, 0) / greatest((SELECT count(*) FROM scope), 1) AS coverage,
       coalesce(p.spans, 0) AS spans, coalesce(o_spans, 0) AS o_spans,
       p."overlaps", p.conflicts, p.boundary,
       coalesce(s.tp, 0)::BIGINT AS tp, coalesce(s.fp, 0)::BIGINT AS fp,
       (coalesce(o.n_gold, 0) - coalesce(s.tp, 0))::BIGINT AS fn,
       s.tp / nullif(s.tp + s.fp, 0) AS precision,
       s.tp / nullif(o.n_gold, 0) AS recall,
       2 * s.tp / nullif(s.tp + s.fp + o.n_gold, 0) AS f1
FROM asked a LEFT JOIN per_lf p USING (source) LEFT JOIN scored s USING (source)
LEFT JOIN gold_of o USING (source) LEFT JOIN outside USING (source)
ORDER BY a.position
"""


def summarize_span_lfs(
    workspace: Workspace, *, split: str | None = None, sources: Sequence[str] | None = None
) -> pl.DataFrame:
    """``span_lf_summary`` of the span votes of one split (all splits if None), of
    ``sources`` (default: every LF and LLM span source), judged against the split's
    gold spans where it has any.

    Examples
    --------
    >>> summarize_span_lfs(ws, split="dev").select("lf", "coverage", "precision", "recall")
    """
    if sources is None:
        sources = workspace.sql(
            "SELECT name FROM sources WHERE kind IN ('lf', 'llm') ORDER BY name"
        )["name"].to_list()
    examples = workspace.sql(
        "SELECT id, gold FROM examples WHERE ? IS NULL OR split = ? ORDER BY id", [split, split]
    )
    votes = workspace.sql(
        """SELECT v.example_id, v.source, v.start, v."end", v.label FROM span_votes v
           JOIN examples e ON e.id = v.example_id
           WHERE (? IS NULL OR e.split = ?) AND list_contains(?, v.source)""",
        [split, split, list(sources)],
    )
    return span_lf_summary(votes, examples, sources)


def span_lf_agreement(votes: pl.DataFrame) -> pl.DataFrame:
    """Every pair of span sources whose spans overlap: how many pairs of their spans
    overlap, how many of those pairs are the same span, and how many have another
    label (``conflicts``, an entity against ``"O"`` included) or the same label and
    other bounds (``boundary``). Two ``"O"`` spans are no pair.

    Examples
    --------
    >>> span_lf_agreement(votes).sort("conflicts", descending=True).head(3)
    """
    with duckdb.connect() as con:
        con.register("votes", votes.select("example_id", "source", "start", "end", "label"))
        return con.sql(
            """SELECT a.source AS lf_a, b.source AS lf_b, count(*) AS overlapping,
                      count_if(a.start = b.start AND a."end" = b."end" AND a.label = b.label)
                          AS same,
                      count_if(a.label <> b.label) AS conflicts,
                      count_if(a.label = b.label AND (a.start <> b.start OR a."end" <> b."end"))
                          AS boundary
               FROM votes a JOIN votes b ON a.example_id = b.example_id
                    AND a.source < b.source AND b.start < a."end" AND a.start < b."end"
                    AND (a.label <> 'O' OR b.label <> 'O')
               GROUP BY ALL ORDER BY conflicts DESC, boundary DESC, lf_a, lf_b"""
        ).pl()
