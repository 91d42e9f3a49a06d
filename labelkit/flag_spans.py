"""Flags for a spans task: the predicted spans most likely wrong, and the entities no
source marked, each one review item (one span of one text).

A small tagger (logistic regression over hashed token features: the word, its lower
case, prefix, suffix and shape, and its neighbours') is cross-validated over the
split's texts on the label model's token labels (``span_predictions`` read back onto
spaCy's tokens), so every token gets probabilities from a model that never saw its
text. cleanlab's token-classification ``find_label_issues`` compares the two. The
votes add span-level reasons: LFs that conflict on a span, sources that overlap it with
other bounds, an LLM source that says otherwise, and a span the tagger is sure of where
no source marked anything.

``find_label_issues`` (``labelkit.flag``) dispatches here and queues the flags.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from cleanlab.token_classification.filter import find_label_issues as token_label_issues
from sklearn.feature_extraction import FeatureHasher
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold

from labelkit.aggregate.spans import decode_spans, io_to_bio
from labelkit.errors import LabelkitError, WorkspaceError
from labelkit.processes import one_blas_thread
from labelkit.spans import Offsets, tokenize
from labelkit.task import NONE
from labelkit.workspace import Workspace, first_row, registered

# A source whose name starts with this is an LLM's, as is one of kind "llm".
LLM_PREFIX = "llm"


def token_features(texts: list[str], tokens: list[list[Offsets]]) -> pl.DataFrame:
    """One row per token, in text order: ``doc`` (the text's position), ``start``,
    ``end`` and ``features``, the strings the tagger hashes: the word, its lower case,
    first and last three letters and shape (``Xxd``: runs of upper, lower, digits), and
    the lower case and shape of the tokens before and after it.

    Examples
    --------
    >>> token_features(["Big screen"], [[(0, 3), (4, 10)]])["features"][1].to_list()[:3]
    ['bias', 'w=screen', 'l=screen']
    """
    frame = pl.DataFrame(
        {
            "doc": np.repeat(np.arange(len(texts)), [len(offsets) for offsets in tokens]),
            "start": [start for offsets in tokens for start, _ in offsets],
            "end": [end for offsets in tokens for _, end in offsets],
        },
        schema={"doc": pl.Int64, "start": pl.Int64, "end": pl.Int64},
    )
    frame = frame.with_columns(text=pl.Series(texts, dtype=pl.String).gather(frame["doc"]))
    word = pl.col("text").str.slice(pl.col("start"), pl.col("end") - pl.col("start"))
    lower = word.str.to_lowercase()
    shape = (
        word.str.replace_all(r"\p{Lu}+", "X")
        .str.replace_all(r"\p{Ll}+", "x")
        .str.replace_all(r"\p{N}+", "d")
    )

    def named(name: str, value: pl.Expr) -> pl.Expr:
        return pl.concat_str(pl.lit(f"{name}="), value)

    def around(value: pl.Expr, by: int, edge: str) -> pl.Expr:
        return value.shift(by).over("doc").fill_null(edge)

    features = pl.concat_list(
        pl.lit("bias"),
        named("w", word),
        named("l", lower),
        named("p", lower.str.head(3)),
        named("s", lower.str.tail(3)),
        named("shape", shape),
        named("l-1", around(lower, 1, "<s>")),
        named("l+1", around(lower, -1, "</s>")),
        named("shape-1", around(shape, 1, "<s>")),
        named("shape+1", around(shape, -1, "</s>")),
    )
    return frame.select("doc", "start", "end", features.alias("features"))


# What ``span_flags`` passes on to its tagger, or uses for it, that a user may set.
SPAN_TAGGER_PARAMETERS = ("C", "max_iter", "n_features")


def cross_validated_proba(
    features: Any,
    labels: np.ndarray,
    documents: np.ndarray,
    n_classes: int,
    *,
    folds: int,
    seed: int,
    C: float = 4.0,
    max_iter: int = 1000,
) -> np.ndarray:
    """Out-of-fold probabilities of ``n_classes`` classes for every token: logistic
    regression over ``features`` (one row per token), trained on the tokens of the
    other folds' documents, so no text is scored by a model that saw it. A class no
    training fold holds gets probability 0; a fold that holds one class gives it 1.

    Examples
    --------
    >>> cross_validated_proba(X, labels, documents, 2, folds=5, seed=0).shape
    (1200, 2)
    """
    proba = np.zeros((len(labels), n_classes))
    split = KFold(n_splits=folds, shuffle=True, random_state=seed).split(np.unique(documents))
    for training, held_out in split:
        train = np.isin(documents, training)
        test = np.isin(documents, held_out)
        classes = np.unique(labels[train])
        if len(classes) == 1:
            proba[np.ix_(test, classes)] = 1.0
            continue
        with one_blas_thread():
            model = LogisticRegression(C=C, max_iter=max_iter).fit(features[train], labels[train])
        proba[np.ix_(test, model.classes_)] = model.predict_proba(features[test])
    return proba


# The label model's confidence under which a span is flagged, by default.
UNSURE_BELOW = 0.8


def span_flags(
    workspace: Workspace,
    *,
    split: str = "train",
    folds: int = 5,
    filter_by: str = "predicted_neq_given",
    unsure_below: float = UNSURE_BELOW,
    missed_above: float = 0.7,
    seed: int = 0,
    n_features: int = 2**16,
    **params: Any,
) -> pl.DataFrame:
    """Flag the spans of one split most likely wrong, one row per span (an item of the
    review queue), highest priority first.

    An item is a span ``[start, end)`` of a text: a predicted span, a span a source
    marked where nothing was predicted, or a span the tagger found. Its reasons:

    - ``cleanlab``: cleanlab's token-classification ``find_label_issues`` finds a token
      of it wrongly labeled by the label model (``filter_by`` is cleanlab's), given the
      tagger's out-of-fold probabilities (a token the label model left outside every
      span counts for the tagger's span over it);
    - ``label model unsure``: a predicted span whose confidence is below ``unsure_below``;
    - ``LFs conflict``: labeling functions vote different types (or ``O``) on it; a
      span of another type that holds it or lies inside it is nesting, not a conflict;
    - ``boundaries disagree``: sources mark spans of one type over it with other bounds;
    - ``<llm source> says``: an LLM source (kind ``llm``, or a name starting with
      ``llm``) marks it otherwise (silence is an abstain, as for every source);
    - ``no source marks it``: the tagger's span, at least ``missed_above`` sure on
      average, where no source marked anything.

    ``given_label`` is the type of the predicted span with exactly its bounds, else
    ``"none"``; ``suggested_label`` the tagger's (its mean token probability over the
    span, ``"none"`` for outside), except where both it and the label model say
    ``"none"``: there it is the type most sources mark on exactly these bounds, so that
    the review asks "is it that type?" (trial 56a: an LLM's span no LF marked asked for
    a type from the list); ``quality`` the tagger's mean probability of the
    given answer; ``confidence`` the label model's: a predicted span's own, 1 where no
    source marks anything (every span label model puts a token no source covers
    outside every entity, with probability 1), null elsewhere. ``priority`` is
    ``1 - (quality + confidence) / 2`` (classification ranks the two since), and ``1 - quality``
    where the confidence is null; so a likely entity no source marks comes at half the
    tagger's doubt, behind most likely errors, as classification's uncovered examples
    do. ``params`` go to the tagger (``C``, ``max_iter``).

    Examples
    --------
    >>> flags = span_flags(ws).filter(pl.col("example_id") == "t7")
    >>> flags.select("attribute", "given_label", "suggested_label", "reasons").row(0)
    ('4:11', 'TERM', 'TERM', 'label model unsure (0.67); LFs conflict (TERM 2, BRAND 1)')
    """
    if first_row(workspace.con, "SELECT count(*) FROM runs WHERE step = 'aggregate'") == (0,):
        raise WorkspaceError(
            f"workspace {workspace.path} has no span_predictions yet: run `labelkit aggregate`"
        )
    task = workspace.task
    answers = (NONE, *task.labels)
    examples = workspace.sql("SELECT id, text FROM examples WHERE split = ? ORDER BY id", [split])
    if examples.height < folds:
        raise LabelkitError(
            f"cross-validating the span tagger over {folds} folds needs at least {folds} "
            f"texts in split {split!r}; it has {examples.height}"
        )
    ids = examples["id"].to_list()
    tokens = tokenize(examples["text"].to_list(), task.lang)
    frame = token_features(examples["text"].to_list(), tokens).with_columns(
        pl.col("doc")
        .replace_strict(dict(enumerate(ids)), return_dtype=pl.String)
        .alias("example_id")
    )
    given = _given_codes(workspace, frame, answers)
    hashed = FeatureHasher(n_features=n_features, input_type="string", alternate_sign=False)
    features = hashed.transform(frame["features"].to_list())
    documents = frame["doc"].to_numpy()
    proba = cross_validated_proba(
        features, given, documents, len(answers), folds=folds, seed=seed, **params
    )
    offsets = np.concatenate([[0], np.cumsum([len(t) for t in tokens])])
    issues = _token_issues(given, proba, offsets, filter_by)
    tagged = _tagged_spans(proba, offsets, tokens, ids, task.labels)
    located = frame.select("example_id", "start", "end")
    token_proba = located.select(pl.all().repeat_by(len(answers)).explode()).with_columns(
        answer=pl.Series(np.tile(answers, len(located)), dtype=pl.String),
        p=pl.Series(proba.ravel()),
    )
    token_issues = located.filter(pl.Series(issues)).with_columns(
        given=pl.Series(np.asarray(answers)[given[issues]], dtype=pl.String)
    )
    with (
        registered(workspace.con, "token_proba", token_proba),
        registered(workspace.con, "token_issues", token_issues),
        registered(workspace.con, "tagged", tagged),
    ):
        flags = workspace.sql(
            _FLAGS_SQL,
            {
                "split": split,
                "llm": LLM_PREFIX,
                "unsure_below": unsure_below,
                "missed_above": missed_above,
            },
        )
    return (
        flags.sort("priority", "example_id", "start", "end", descending=[True, False, False, False])
        .with_row_index("rank", offset=1)
        .select(
            "example_id",
            "attribute",
            "start",
            "end",
            "given_label",
            "suggested_label",
            "quality",
            "confidence",
            "priority",
            "reasons",
            pl.col("rank").cast(pl.Int32),
        )
    )


def _given_codes(workspace: Workspace, frame: pl.DataFrame, answers: tuple[str, ...]) -> np.ndarray:
    """Each token's label from the label model's predicted spans, as the position of
    its answer in ``answers`` (0: outside every span)."""
    located = frame.select("example_id", "start", "end").with_row_index("token")
    with registered(workspace.con, "located", located):
        labels = workspace.sql(
            """SELECT t.token, max(p.label) AS label FROM located t
               LEFT JOIN span_predictions p ON p.example_id = t.example_id
                   AND p.start < t."end" AND t.start < p."end"
               GROUP BY t.token ORDER BY t.token"""
        )["label"]
    code_of = {answer: code for code, answer in enumerate(answers)}
    return labels.replace_strict(code_of, default=0, return_dtype=pl.Int64).to_numpy()


def _token_issues(
    given: np.ndarray, proba: np.ndarray, offsets: np.ndarray, filter_by: str
) -> np.ndarray:
    """cleanlab's verdict on each token's given label, over the classes given at all
    (a class the label model never gave cannot be judged)."""
    issues = np.zeros(len(given), dtype=bool)
    present = np.unique(given)
    if len(present) < 2:
        return issues
    labels = np.searchsorted(present, given)
    probs = proba[:, present]
    totals = probs.sum(axis=1, keepdims=True)
    probs = np.where(totals > 0, probs / np.where(totals > 0, totals, 1), 1 / len(present))
    cuts = offsets[1:-1]
    found = token_label_issues(
        [part.tolist() for part in np.split(labels, cuts)],
        np.split(probs, cuts),
        filter_by=filter_by,
    )
    for document, token in found:
        issues[offsets[document] + token] = True
    return issues


def _tagged_spans(
    proba: np.ndarray,
    offsets: np.ndarray,
    tokens: list[list[Offsets]],
    ids: list[str],
    labels: tuple[str, ...],
) -> pl.DataFrame:
    """The tagger's spans: runs of tokens whose likeliest class is one type, with the
    mean probability of that type over them, in characters."""
    tags = io_to_bio(proba.argmax(axis=1), offsets, len(labels))
    rows = [
        (ids[d], tokens[d][start][0], tokens[d][end - 1][1], label, confidence)
        for d, spans in enumerate(decode_spans(tags, proba, offsets, labels))
        for start, end, label, confidence in spans
    ]
    return pl.DataFrame(
        rows,
        schema={
            "example_id": pl.String,
            "start": pl.Int64,
            "end": pl.Int64,
            "label": pl.String,
            "confidence": pl.Float64,
        },
        orient="row",
    )


# Every candidate span of the split (a predicted span; a span a source marked that
# overlaps no predicted span; a tagger span), its answers and its reasons. Vote-based
# reasons are about predicted and voted candidates, cleanlab's about predicted and
# tagged ones; "overlap" is sharing a character.
_FLAGS_SQL = """
WITH scope AS (SELECT id AS example_id FROM examples WHERE split = $split),
v AS (
    SELECT v.example_id, v.source, v.start, v."end", v.label,
           coalesce(s.kind = 'llm', false) OR starts_with(v.source, $llm) AS llm
    FROM span_votes v SEMI JOIN scope USING (example_id)
    LEFT JOIN sources s ON s.name = v.source),
p AS (
    SELECT p.example_id, p.start, p."end", p.label, p.confidence
    FROM span_predictions p SEMI JOIN scope USING (example_id)),
candidates AS (
    SELECT example_id, start, "end", bool_or(origin = 'predicted') AS predicted,
           bool_or(origin = 'voted') AS voted, bool_or(origin = 'tagged') AS tagged
    FROM (
        SELECT example_id, start, "end", 'predicted' AS origin FROM p
        UNION ALL
        SELECT example_id, start, "end", 'voted' FROM v
        WHERE label <> 'O' AND NOT EXISTS (
            SELECT 1 FROM p WHERE p.example_id = v.example_id
                AND p.start < v."end" AND v.start < p."end")
        UNION ALL
        SELECT example_id, start, "end", 'tagged' FROM tagged)
    GROUP BY ALL),
c AS (
    SELECT c.*, coalesce(p.label, 'none') AS given_label,
           coalesce(p.confidence, CASE WHEN NOT EXISTS (
               SELECT 1 FROM v WHERE v.example_id = c.example_id
                   AND v.start < c."end" AND c.start < v."end") THEN 1.0 END) AS confidence
    FROM candidates c LEFT JOIN p USING (example_id, start, "end")),
voted AS (
    SELECT c.example_id, c.start, c."end", c.given_label, v.source, v.label, v.llm,
           v.start AS vote_start, v."end" AS vote_end
    FROM c JOIN v ON v.example_id = c.example_id AND v.start < c."end" AND c.start < v."end"
    WHERE c.predicted OR c.voted),
conflicts AS (
    SELECT example_id, start, "end",
           'LFs conflict (' || string_agg(label || ' ' || n, ', ' ORDER BY n DESC, label)
               || ')' AS conflict
    FROM (SELECT example_id, start, "end", label, count(DISTINCT source) AS n
          FROM voted
          -- A type nested in the candidate, or holding it, is no conflict (trial 58d:
          -- 7,398 DRUG and DOSE spans queued for lying inside a MEDICATION).
          WHERE NOT llm AND NOT (
              label <> 'O' AND (vote_start, vote_end) <> (start, "end")
              AND ((vote_start <= start AND "end" <= vote_end)
                   OR (start <= vote_start AND vote_end <= "end")))
          GROUP BY ALL)
    GROUP BY ALL HAVING count(*) > 1),
bounds AS (
    SELECT example_id, start, "end", label, vote_start, vote_end,
           string_agg(source, ' and ' ORDER BY source) AS who
    FROM voted WHERE label <> 'O'
    GROUP BY example_id, start, "end", label, vote_start, vote_end
    QUALIFY count(*) OVER (PARTITION BY example_id, start, "end", label) > 1),
boundaries AS (
    SELECT example_id, start, "end",
           'boundaries disagree (' || string_agg(vote_start || ':' || vote_end || ' by ' || who,
               ', ' ORDER BY vote_start, vote_end, label) || ')' AS boundary
    FROM bounds GROUP BY ALL),
llm AS (
    SELECT example_id, start, "end", source,
           bool_and(vote_start = start AND vote_end = "end" AND label = given_label)
               OR (given_label = 'none' AND bool_and(label = 'O')) AS agrees,
           string_agg(CASE WHEN label = 'O' THEN 'none' ELSE label END
                      || CASE WHEN vote_start = start AND vote_end = "end" THEN ''
                              ELSE ' at ' || vote_start || ':' || vote_end END,
                      ' and ' ORDER BY vote_start, vote_end, label) AS said
    FROM voted WHERE llm GROUP BY example_id, start, "end", given_label, source),
llm_disagrees AS (
    SELECT example_id, start, "end",
           string_agg(source || ' says ' || said, '; ' ORDER BY source) AS llm_disagrees
    FROM llm WHERE NOT agrees GROUP BY ALL),
issues AS (
    SELECT DISTINCT c.example_id, c.start, c."end" FROM c
    JOIN token_issues i ON i.example_id = c.example_id AND i.start < c."end" AND c.start < i."end"
    WHERE c.predicted OR (c.tagged AND i.given = 'none')),
missed AS (
    SELECT t.example_id, t.start, t."end", t.label, t.confidence
    FROM tagged t JOIN c USING (example_id, start, "end")
    WHERE t.confidence >= $missed_above AND c.given_label = 'none' AND c.confidence = 1),
marked AS (
    SELECT example_id, start, "end", first(label ORDER BY n DESC, label) AS marked_label
    FROM (SELECT example_id, vote_start AS start, vote_end AS "end", label,
                 count(DISTINCT source) AS n
          FROM voted WHERE label <> 'O' AND vote_start = start AND vote_end = "end"
          GROUP BY ALL)
    GROUP BY ALL),
judged AS (
    SELECT example_id, start, "end", arg_max(answer, p) AS suggested_label,
           max(p) FILTER (WHERE answer = given_label) AS quality
    FROM (SELECT c.example_id, c.start, c."end", c.given_label, t.answer, avg(t.p) AS p
          FROM c JOIN token_proba t ON t.example_id = c.example_id
              AND t.start < c."end" AND c.start < t."end"
          GROUP BY ALL)
    GROUP BY ALL),
flagged AS (
    SELECT c.example_id, c.start, c."end", c.given_label,
           CASE WHEN j.suggested_label = 'none' AND c.given_label = 'none'
                THEN coalesce(mk.marked_label, 'none') ELSE j.suggested_label END
               AS suggested_label,
           j.quality, c.confidence,
           list_filter([
               CASE WHEN i.example_id IS NOT NULL THEN
                   format('cleanlab (quality {:.2f}, suggests {})', j.quality, j.suggested_label)
               END,
               CASE WHEN c.confidence < $unsure_below THEN
                   format('label model unsure ({:.2f})', c.confidence)
               END,
               cf.conflict,
               b.boundary,
               l.llm_disagrees,
               CASE WHEN m.example_id IS NOT NULL THEN
                   format('no source marks it (tagger says {}, {:.2f})', m.label, m.confidence)
               END
           ], lambda reason: reason IS NOT NULL) AS reasons
    FROM c JOIN judged j USING (example_id, start, "end")
    LEFT JOIN issues i USING (example_id, start, "end")
    LEFT JOIN conflicts cf USING (example_id, start, "end")
    LEFT JOIN boundaries b USING (example_id, start, "end")
    LEFT JOIN llm_disagrees l USING (example_id, start, "end")
    LEFT JOIN missed m USING (example_id, start, "end")
    LEFT JOIN marked mk USING (example_id, start, "end"))
SELECT example_id, start || ':' || "end" AS attribute, start, "end", given_label,
       suggested_label, quality, confidence,
       1 - (quality + coalesce(confidence, quality)) / 2 AS priority,
       array_to_string(reasons, '; ') AS reasons
FROM flagged WHERE len(reasons) > 0
"""
