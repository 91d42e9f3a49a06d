"""The label-model stage of a spans task: the workspace's span votes through a span label
model into ``span_predictions``.

Each text is tokenized once (``labelkit.spans.tokenize``), each source's character spans
become token spans (``to_token_spans``; a span off token boundaries snaps outward and is
counted), the registered span label model (``labelkit.aggregate.spans``) is fitted on
one split, with gold spans where asked, and predicts every split, and its spans go back
to characters with their confidence: the mean, over the span's tokens, of the label
model's probability of the span's type.

Examples
--------
>>> result = aggregate_spans(ws, "auto", gold_split="dev")
>>> result.predictions.columns
['example_id', 'start', 'end', 'label', 'confidence']
>>> result.scores.select("split", "method", "f1")  # where dev or test has gold
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from labelkit.aggregate.base import store_predictions
from labelkit.aggregate.spans import DEFAULT_SPAN_MODEL, fit_span_model, make_span_model
from labelkit.errors import (
    InputError,
    LabelkitError,
    LabelkitWarning,
    did_you_mean,
    outside_labelkit,
)
from labelkit.evaluation import span_scores
from labelkit.spans import Offsets, Span, TokenSpan, to_char_spans, to_token_spans, tokenize
from labelkit.votes import source_names
from labelkit.workspace import SPAN_VOTE_STEP, Workspace, warn_if_out_of_date

# The splits whose gold spans score the label model after a run.
SCORED_SPLITS = ("dev", "test")
BASELINE = "majority_vote"

PREDICTION_SCHEMA = {
    "example_id": pl.String,
    "start": pl.Int64,
    "end": pl.Int64,
    "label": pl.String,
    "confidence": pl.Float64,
}
SCORE_SCHEMA = {
    "split": pl.String,
    "method": pl.String,
    "precision": pl.Float64,
    "recall": pl.Float64,
    "f1": pl.Float64,
    "macro_f1": pl.Float64,
    "gold_spans": pl.Int64,
    "predicted": pl.Int64,
}
TYPE_SCHEMA = {"split": pl.String, "method": pl.String, "type": pl.String} | {
    key: dtype for key, dtype in SCORE_SCHEMA.items() if key not in ("split", "method", "macro_f1")
}


@dataclass(frozen=True)
class TokenVotes:
    """Every example's span votes as token spans, the form span label models take.

    ``votes[d][j]`` is source ``sources[j]``'s ``(start_token, end_token, label)`` spans
    on example ``example_ids[d]`` (ordered by id), ``tokens[d]`` its tokens' character
    offsets, ``gold[d]`` its gold spans in characters (None where it has no gold) and
    ``snapped`` the number of votes that were not on token boundaries.
    """

    example_ids: list[str]
    splits: np.ndarray
    tokens: list[list[Offsets]]
    sources: list[str]
    votes: list[list[list[TokenSpan]]]
    gold: list[list[Span] | None]
    snapped: int

    @property
    def n_tokens(self) -> list[int]:
        return [len(tokens) for tokens in self.tokens]

    def token_gold(self, rows: np.ndarray) -> list[list[TokenSpan] | None]:
        """The gold spans of the examples where ``rows`` is true, as token spans; None
        elsewhere and where there is no gold."""
        return [
            to_token_spans(spans, tokens)[0] if use and spans is not None else None
            for use, spans, tokens in zip(rows, self.gold, self.tokens, strict=True)
        ]


def read_token_votes(workspace: Workspace, sources: Sequence[str] | None = None) -> TokenVotes:
    """The span votes of ``sources`` (default: every source that ran, by kind and name)
    on every example, as token spans over spaCy's tokens of the task's language.

    Examples
    --------
    >>> corpus = read_token_votes(ws)
    >>> corpus.votes[0]  # one list of token spans per source
    [[(1, 3, 'TERM')], [], [(1, 2, 'TERM')]]
    """
    ran = source_names(workspace)
    names = ran if sources is None else list(sources)
    unknown = sorted(set(names) - set(ran))
    if unknown:
        raise InputError(
            f"unknown sources {unknown}; the workspace's sources are {ran}"
            + did_you_mean(unknown[0], ran)
        )
    examples = workspace.sql("SELECT id, text, split, gold FROM examples ORDER BY id")
    votes = workspace.sql(
        """SELECT example_id, source, list(start ORDER BY start, "end", label) AS starts,
                  list("end" ORDER BY start, "end", label) AS ends,
                  list(label ORDER BY start, "end", label) AS labels
           FROM span_votes WHERE list_contains(?, source) GROUP BY ALL""",
        [names],
    )
    tokens = tokenize(examples["text"].to_list(), workspace.task.lang)
    row_of = {example_id: d for d, example_id in enumerate(examples["id"].to_list())}
    column_of = {name: j for j, name in enumerate(names)}
    by_source: list[list[list[TokenSpan]]] = [[[] for _ in names] for _ in tokens]
    snapped = 0
    for example_id, source, starts, ends, labels in votes.iter_rows():
        d = row_of[example_id]
        spans = [Span(*span) for span in zip(starts, ends, labels, strict=True)]
        converted, off = to_token_spans(spans, tokens[d])
        by_source[d][column_of[source]] = converted
        snapped += len(off)
    gold = [
        None if value is None else [Span(*span) for span in json.loads(value)]
        for value in examples["gold"].to_list()
    ]
    return TokenVotes(
        example_ids=examples["id"].to_list(),
        splits=examples["split"].to_numpy(),
        tokens=tokens,
        sources=names,
        votes=by_source,
        gold=gold,
        snapped=snapped,
    )


@dataclass(frozen=True)
class SpanAggregation:
    """What ``aggregate_spans`` did: the predictions it stored, the label model's and
    majority vote's entity-level scores where dev or test has gold, and the votes it read.

    ``scores`` has ``split, method, precision, recall, f1`` (micro: every span pooled),
    ``macro_f1``, ``gold_spans`` and ``predicted``; it is empty without gold.
    ``per_type`` has the same per entity type, in a ``type`` column after ``method``. ``report``
    is the fitted model's account of its choices (``auto``: ``chosen`` and ``reason``, in
    tokens), empty for a model that chooses nothing.
    """

    predictions: pl.DataFrame
    scores: pl.DataFrame
    per_type: pl.DataFrame
    corpus: TokenVotes
    report: dict[str, Any]


def aggregate_spans(
    workspace: Workspace,
    model: str = DEFAULT_SPAN_MODEL,
    *,
    fit_split: str = "train",
    gold_split: str | None = None,
    sources: Sequence[str] | None = None,
    **params: Any,
) -> SpanAggregation:
    """Fit the span label model ``model`` on one split's span votes, predict every
    example's spans and store them in ``span_predictions``, replacing the previous ones.

    With ``gold_split`` (e.g. ``"dev"``), that split's examples with gold spans join the
    fit with their gold, for models that use it (``auto``, ``dawid_skene``), as for
    classification. ``params`` go to the model (``seed``, ...).

    Examples
    --------
    >>> result = aggregate_spans(ws, "majority_vote")
    >>> result.predictions.row(0)
    ('e1', 4, 16, 'TERM', 1.0)
    """
    started = time.time()
    workspace.require("span_votes", SPAN_VOTE_STEP)
    warn_if_out_of_date(workspace, labels=False)
    labels = workspace.task.labels
    make_span_model(model, labels, **params)  # an unknown model fails before the work
    corpus = read_token_votes(workspace, sources)
    in_fit = corpus.splits == fit_split
    if not in_fit.any():
        raise LabelkitError(f"no examples in split {fit_split!r} to fit the span label model on")
    gold = None
    fit_rows = in_fit
    if gold_split is not None:
        has_gold = np.array([spans is not None for spans in corpus.gold])
        with_gold = (corpus.splits == gold_split) & has_gold
        if not with_gold.any():
            raise LabelkitError(f"no gold spans in split {gold_split!r} to fit with")
        fit_rows = in_fit | with_gold
        gold = [g for g, use in zip(corpus.token_gold(with_gold), fit_rows, strict=True) if use]
    fitted = fit_span_model(
        model,
        _take(corpus.n_tokens, fit_rows),
        _take(corpus.votes, fit_rows),
        labels,
        gold,
        **params,
    )
    predictions = _char_predictions(
        corpus,
        fitted.predict_spans(corpus.n_tokens, corpus.votes),
        np.ones(len(corpus.tokens), dtype=bool),
    )
    scores, per_type = _scores(corpus, predictions, model, labels, params, in_fit)
    config = {
        "model": model,
        "fit_split": fit_split,
        "gold_split": gold_split,
        "sources": corpus.sources,
        "snapped": corpus.snapped,
        **params,
    }
    store_predictions(
        workspace,
        "span_predictions",
        predictions,
        ["example_id", "start", "end", "label", "confidence"],
        config,
        started,
    )
    # Last: under LABELKIT_STRICT it is an error, and what was stored stays.
    lost = _lost_span_types(workspace, fit_split, sources)
    if lost is not None:
        warnings.warn(lost, LabelkitWarning, stacklevel=outside_labelkit())
    return SpanAggregation(
        predictions=predictions,
        scores=scores,
        per_type=per_type,
        corpus=corpus,
        report=fitted.report,
    )


# A type its sources mark on this many spans of the fit split or more, and that the
# label model keeps under a tenth as many of, is said to be lost.
LOST_TYPE_SPANS = 20


def _lost_span_types(
    workspace: Workspace, fit_split: str, sources: list[str] | None = None
) -> str | None:
    """What the stored span predictions lose of the entity types, said as a warning, or
    None: types that ``sources`` (default every source) mark on ``LOST_TYPE_SPANS``
    spans of ``fit_split`` or more and the label model keeps under a tenth as many of.
    Where most such spans hold or lie inside a kept span of another type, the warning
    says the predictions are one layer (trial 58d: a MEDICATION type over DRUG and DOSE
    came out 0 of 4,257, without a word, and every model trained on it scored 0).

    Examples
    --------
    >>> _lost_span_types(ws, "train")
    'the span label model keeps next to none of the spans its sources mark of MEDICATION ...'
    """
    rows = workspace.sql(
        """WITH scope AS (SELECT id AS example_id FROM examples WHERE split = $split),
           v AS (SELECT DISTINCT example_id, start, "end", label FROM span_votes
                 SEMI JOIN scope USING (example_id)
                 WHERE label <> 'O'
                   AND ($sources::VARCHAR[] IS NULL OR list_contains($sources, source))),
           p AS (SELECT example_id, start, "end", label FROM span_predictions
                 SEMI JOIN scope USING (example_id))
           SELECT v.label, count(*) AS marked,
                  (SELECT count(*) FROM p WHERE p.label = v.label) AS kept,
                  count(*) FILTER (WHERE EXISTS (
                      SELECT 1 FROM p WHERE p.example_id = v.example_id AND p.label <> v.label
                        AND ((v.start <= p.start AND p."end" <= v."end")
                             OR (p.start <= v.start AND v."end" <= p."end")))) AS nested
           FROM v GROUP BY v.label ORDER BY v.label""",
        {"split": fit_split, "sources": sources},
    )
    lost = rows.filter(
        (pl.col("marked") >= LOST_TYPE_SPANS) & (pl.col("kept") < pl.col("marked") / 10)
    )
    if lost.is_empty():
        return None
    named = ", ".join(
        f"{label} (marked {marked:,}, kept {kept:,})" for label, marked, kept, _ in lost.iter_rows()
    )
    said = (
        f"the span label model keeps next to none of the spans its sources mark of {named} "
        f"in {fit_split}"
    )
    if lost["nested"].sum() * 2 >= lost["marked"].sum():
        return (
            f"{said}: most of them hold spans of another type, or lie inside one, and the "
            f"predicted spans do not overlap, so one layer is kept. To keep both, label "
            f"{', '.join(lost['label'])} in a workspace of its own (ingest the texts again "
            "with only those `--labels` and apply their LFs) and train a model on each"
        )
    return f"{said}: their votes are outweighed; compare another span label model"


def _take(items: list[Any], rows: np.ndarray) -> list[Any]:
    return [item for item, use in zip(items, rows, strict=True) if use]


def _char_predictions(
    corpus: TokenVotes, predicted: list[list[tuple[int, int, str, float]]], rows: np.ndarray
) -> pl.DataFrame:
    """Predicted token spans (of the examples where ``rows`` is true, in order) as rows
    of character spans with their confidence."""
    records = []
    documents = iter(predicted)
    for d in np.flatnonzero(rows):
        spans = next(documents)
        chars = to_char_spans([span[:3] for span in spans], corpus.tokens[d])
        records += [
            (corpus.example_ids[d], char.start, char.end, char.label, span[3])
            for char, span in zip(chars, spans, strict=True)
        ]
    return pl.DataFrame(records, schema=PREDICTION_SCHEMA, orient="row")


def majority_vote_spans(
    corpus: TokenVotes, rows: np.ndarray, labels: Sequence[str], **params: Any
) -> pl.DataFrame:
    """Majority vote's character spans (``example_id, start, end, label, confidence``)
    on the examples where ``rows`` is true: the baseline a span label model is read
    against, by ``aggregate`` and ``evaluate``. It votes on every example and keeps
    those, so that its ties fall as in ``aggregate --model majority_vote`` (trial K:
    0.773 beside auto, 0.756 alone).

    Examples
    --------
    >>> corpus = read_token_votes(ws)
    >>> majority_vote_spans(corpus, corpus.splits == "dev", ["TERM", "BRAND"]).row(0)
    ('e1', 8, 15, 'TERM', 0.6666666666666666)
    """
    fitted = fit_span_model(BASELINE, corpus.n_tokens, corpus.votes, labels, **params)
    return _char_predictions(
        corpus, _take(fitted.predict_spans(corpus.n_tokens, corpus.votes), rows), rows
    )


def _scores(
    corpus: TokenVotes,
    predictions: pl.DataFrame,
    model: str,
    labels: Sequence[str],
    params: dict[str, Any],
    in_fit: np.ndarray,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Entity-level scores (exact character bounds and type) of ``predictions`` and of
    majority vote on each split of ``SCORED_SPLITS`` that has gold spans: over all
    types, and per type. Beside ``auto``, Dawid-Skene (fitted on the ``in_fit`` rows,
    without gold) is scored too: auto's own check of it reads only the tokens some
    source marks, where ``dawid_skene`` reads a source's silence as no entity (trial
    53f: 0.922 test F1 against auto's 0.833, while auto said they agreed)."""
    has_gold = np.array([spans is not None for spans in corpus.gold])
    seed = {"seed": params["seed"]} if "seed" in params else {}
    if has_gold.any() and model == DEFAULT_SPAN_MODEL:
        fitted = fit_span_model(
            "dawid_skene",
            _take(corpus.n_tokens, in_fit),
            _take(corpus.votes, in_fit),
            labels,
            **seed,
        )
        predicted = fitted.predict_spans(
            _take(corpus.n_tokens, has_gold), _take(corpus.votes, has_gold)
        )
        dawid_skene = _char_predictions(corpus, predicted, has_gold)
    rows, per_type = [], []
    for split in SCORED_SPLITS:
        scored = has_gold & (corpus.splits == split)
        if not scored.any():
            continue
        ids = _take(corpus.example_ids, scored)
        gold = [[span.to_json() for span in spans] for spans in _take(corpus.gold, scored)]
        methods = {model: _per_example(predictions, ids)}
        if model != BASELINE:
            spans = majority_vote_spans(corpus, scored, labels, **seed)
            methods[BASELINE] = _per_example(spans, ids)
        if model == DEFAULT_SPAN_MODEL:
            methods["dawid_skene"] = _per_example(dawid_skene, ids)
        for method, predicted in methods.items():
            result = span_scores(gold, predicted, labels)
            row = {"split": split, "method": method}
            rows.append(row | _counted(result["micro"]) | {"macro_f1": result["macro"]["f1"]})
            per_type += [
                row | {"type": label} | _counted(result["per_label"][label]) for label in labels
            ]
    return pl.DataFrame(rows, schema=SCORE_SCHEMA), pl.DataFrame(per_type, schema=TYPE_SCHEMA)


def _counted(scores: dict[str, Any]) -> dict[str, Any]:
    """``span_scores``' scores under the names of ``SCORE_SCHEMA``."""
    return {key: scores[key] for key in ("precision", "recall", "f1")} | {
        "gold_spans": scores["support"],
        "predicted": scores["predicted"],
    }


def _per_example(spans: pl.DataFrame, example_ids: list[str]) -> list[list[tuple[int, int, str]]]:
    """The ``(start, end, label)`` spans of each of ``example_ids``, in that order."""
    grouped: dict[str, list[tuple[int, int, str]]] = {}
    for example_id, start, end, label in spans.select(
        "example_id", "start", "end", "label"
    ).iter_rows():
        grouped.setdefault(example_id, []).append((start, end, label))
    return [grouped.get(example_id, []) for example_id in example_ids]
