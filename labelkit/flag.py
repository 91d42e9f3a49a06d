"""Confident learning: flag the aggregated labels most likely to be wrong, and queue them.

A fast classifier is trained on the aggregated labels by k-fold cross-validation, so
each example gets predicted probabilities from a model that never saw it. cleanlab
compares those with the labels: where they disagree confidently, the label is
flagged. Flags go into the review queue, most doubtful (lowest label quality) first.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from cleanlab.filter import find_label_issues as cleanlab_find_label_issues
from cleanlab.rank import get_label_quality_scores
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from labelkit import flag_classifiers  # noqa: F401 (registers the flaggers)
from labelkit.errors import LabelkitError
from labelkit.registry import flaggers, resolve
from labelkit.workspace import Workspace, registered


def find_label_issues(
    workspace: Workspace,
    *,
    split: str = "train",
    flagger: str = "tfidf_logreg",
    folds: int = 5,
    filter_by: str = "predicted_neq_given",
    unsure_below: float = 0.8,
    seed: int = 0,
    **params: Any,
) -> pl.DataFrame:
    """Flag likely label errors among one split's aggregated labels and queue them for review.

    An example is flagged for each reason that applies, with its evidence:

    - ``cleanlab``: confident learning finds its label likely wrong, out of sample;
    - ``label model unsure``: the label model's confidence is below ``unsure_below``;
    - ``LFs conflict``: labeling functions voted different labels;
    - ``<llm source> disagrees``: an LLM voted another label than the label model.

    One priority orders the queue: ``1 - (quality + confidence) / 2``, where
    ``quality`` is cleanlab's self-confidence label quality and ``confidence`` the
    label model's. On WRENCH YouTube and SMS it finds more wrong labels in the first 50,
    100 and 200 reviewed than cleanlab's flags alone, and more than label-model
    confidence alone in the first 50 and 100 (``benchmarks/review_efficiency.py``).
    Examples the label model left unlabeled (no source covers them) are queued too,
    with the classifier's suggestion and half its doubt as priority, behind most
    likely errors.

    Returns the flags, highest priority first: ``example_id, given_label`` (the label
    model's), ``suggested_label`` (the cross-validated classifier's), ``quality``,
    ``confidence``, ``priority``, ``reasons`` (with evidence) and ``rank``. Flagging
    again replaces the flags and updates queued items; it never duplicates them.

    ``filter_by`` is cleanlab's. Its default there, ``prune_by_noise_rate``, finds
    little in weak labels: a text classifier trained on labels from keyword LFs learns
    the same keywords. On the bundled YouTube data (LF votes only) it flagged 1 of 1,110
    aggregated labels (none wrong); ``predicted_neq_given`` flagged 54, of which 27 were wrong
    where 13% of all labels were.

    Examples
    --------
    >>> flags = find_label_issues(ws)
    >>> flags["priority"].is_sorted(descending=True)
    True
    """
    workspace.require("predictions", "labelkit aggregate")
    task = workspace.task
    labeled = workspace.sql(
        """SELECT e.id, e.text, p.label, p.confidence
           FROM examples e JOIN predictions p ON p.example_id = e.id
           WHERE e.split = ? AND p.label IS NOT NULL ORDER BY e.id""",
        [split],
    )
    given = task.encode(labeled["label"])
    counts = np.bincount(given, minlength=task.cardinality)
    if labeled.height == 0 or counts.min() < folds:
        raise LabelkitError(
            f"confident learning needs at least {folds} examples of every label in split "
            f"{split!r}; the label model gave "
            f"{dict(zip(task.labels, counts.tolist(), strict=True))}"
        )
    classifier = resolve(flaggers, flagger)(**params)
    pred_probs = cross_val_predict(
        classifier,
        labeled["text"].to_list(),
        given,
        cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed),
        method="predict_proba",
    )
    issues = cleanlab_find_label_issues(given, pred_probs, filter_by=filter_by)
    quality = get_label_quality_scores(given, pred_probs, method="self_confidence")
    scored = labeled.select(
        pl.col("id").alias("example_id"),
        pl.col("label").alias("given_label"),
        task.decode(pred_probs.argmax(axis=1), "suggested_label"),
        pl.Series("quality", quality),
        "confidence",
        pl.Series("cleanlab", issues),
    ).join(_vote_evidence(workspace, split), on="example_id", how="left")
    reasons = pl.concat_list(
        pl.when(pl.col("cleanlab")).then(
            pl.format(
                "cleanlab (quality {}, suggests {})",
                pl.col("quality").round(2),
                pl.col("suggested_label"),
            )
        ),
        pl.when(pl.col("confidence") < unsure_below).then(
            pl.format("label model unsure ({})", pl.col("confidence").round(2))
        ),
        pl.when(pl.col("lf_votes").is_not_null()).then(
            pl.format("LFs conflict ({})", pl.col("lf_votes"))
        ),
        pl.col("llm_disagrees"),
    ).list.drop_nulls()
    flagged = scored.with_columns(
        reasons=reasons.list.join("; "),
        priority=1 - (pl.col("quality") + pl.col("confidence")) / 2,
    ).filter(pl.col("reasons") != "")
    uncovered = _uncovered(workspace, split, classifier, labeled["text"].to_list(), given)
    flags = (
        pl.concat([flagged, uncovered], how="diagonal_relaxed")
        .sort("priority", "example_id", descending=[True, False])
        .with_row_index("rank", offset=1)
        .select(
            "example_id",
            "given_label",
            "suggested_label",
            "quality",
            "confidence",
            "priority",
            "reasons",
            pl.col("rank").cast(pl.Int32),
        )
    )
    config = {"split": split, "flagger": flagger, "folds": folds, "filter_by": filter_by}
    config |= {"unsure_below": unsure_below, "seed": seed, **params}
    with workspace.run("flag", config) as run:
        con = run.con
        con.execute("DELETE FROM flags")
        with registered(con, "new_flags", flags):
            con.execute(
                """INSERT INTO flags (example_id, reason, given_label, suggested_label, quality,
                                     rank, run_id)
                   SELECT example_id, unnest(string_split(reasons, '; ')), given_label,
                          suggested_label, quality, rank, ?
                   FROM new_flags""",
                [run.id],
            )
            con.execute(
                """INSERT INTO queue (example_id, priority, reasons, given_label,
                                     suggested_label, run_id)
                   SELECT example_id, priority, reasons, given_label, suggested_label, ?
                   FROM new_flags
                   ON CONFLICT (example_id, attribute) DO UPDATE SET priority = excluded.priority,
                       reasons = excluded.reasons, given_label = excluded.given_label,
                       suggested_label = excluded.suggested_label, run_id = excluded.run_id""",
                [run.id],
            )
    return flags


def _uncovered(
    workspace: Workspace, split: str, classifier: Any, texts: list[str], given: np.ndarray
) -> pl.DataFrame:
    """Examples of ``split`` the label model left without a label, as flags.

    The classifier, fitted on every labeled text, suggests a label. Their priority is
    half the classifier's doubt, so likely label errors come before labeling from
    scratch, and the least obvious uncovered texts come first among them.
    """
    task = workspace.task
    rows = workspace.sql(
        """SELECT e.id AS example_id, e.text FROM examples e
           LEFT JOIN predictions p ON p.example_id = e.id
           WHERE e.split = ? AND p.label IS NULL ORDER BY e.id""",
        [split],
    )
    if rows.height == 0:
        return pl.DataFrame()
    proba = clone(classifier).fit(texts, given).predict_proba(rows["text"].to_list())
    suggested = task.decode(proba.argmax(axis=1), "suggested_label")
    sure = proba.max(axis=1)
    return rows.select(
        "example_id",
        pl.lit(None, dtype=pl.String).alias("given_label"),
        suggested,
        pl.lit(None, dtype=pl.Float64).alias("quality"),
        pl.lit(None, dtype=pl.Float64).alias("confidence"),
        pl.format(
            "no source covers it (classifier suggests {}, {})",
            suggested,
            pl.Series(sure).round(2),
        ).alias("reasons"),
        pl.Series("priority", (1 - sure) / 2),
    )


def _vote_evidence(workspace: Workspace, split: str) -> pl.DataFrame:
    """Per example of ``split``: the LF tally where LFs disagree, and LLMs that disagree
    with the label model."""
    return workspace.sql(
        """WITH lf AS (
               SELECT v.example_id, v.label, count(*) AS n FROM votes v
               JOIN sources s ON s.name = v.source AND s.kind = 'lf'
               GROUP BY ALL),
           conflicts AS (
               SELECT example_id,
                      string_agg(label || ' ' || n, ', ' ORDER BY n DESC, label) AS lf_votes
               FROM lf GROUP BY example_id HAVING count(*) > 1),
           llm AS (
               SELECT v.example_id,
                      string_agg(v.source || ' says ' || v.label, '; ' ORDER BY v.source)
                        AS llm_disagrees
               FROM votes v
               JOIN sources s ON s.name = v.source AND s.kind = 'llm'
               JOIN predictions p ON p.example_id = v.example_id AND p.label <> v.label
               GROUP BY v.example_id)
           SELECT e.id AS example_id, c.lf_votes, l.llm_disagrees
           FROM examples e
           LEFT JOIN conflicts c ON c.example_id = e.id
           LEFT JOIN llm l ON l.example_id = e.id
           WHERE e.split = ?""",
        [split],
    )
