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
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline, make_pipeline

from labelkit.errors import LabelkitError
from labelkit.registry import flaggers, resolve
from labelkit.workspace import Workspace, registered

REASON = "cleanlab"


@flaggers.register("tfidf_logreg")
def tfidf_logreg(max_features: int = 50_000, C: float = 4.0) -> Pipeline:
    """Word and bigram TF-IDF with logistic regression: seconds to cross-validate."""
    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=max_features),
        LogisticRegression(C=C, max_iter=2000),
    )


def find_label_issues(
    workspace: Workspace,
    *,
    split: str = "train",
    flagger: str = "tfidf_logreg",
    folds: int = 5,
    filter_by: str = "predicted_neq_given",
    seed: int = 0,
    **params: Any,
) -> pl.DataFrame:
    """Flag likely label errors among one split's aggregated labels and queue them for review.

    Returns the flags, most doubtful first: ``example_id, given_label`` (the label
    model's), ``suggested_label`` (the cross-validated classifier's), ``quality``
    (cleanlab's self-confidence label quality, lower = more doubtful) and ``rank``.
    Flagging again replaces the flags and updates queued items; it never duplicates them.

    ``filter_by`` is cleanlab's. Its default there, ``prune_by_noise_rate``, finds
    little in weak labels: a text classifier trained on labels from keyword LFs learns
    the same keywords. On the bundled YouTube data (LF votes only) it flagged 1 of 1,110
    aggregated labels (none wrong); ``predicted_neq_given`` flagged 54, of which 27 were wrong
    where 13% of all labels were.

    Examples
    --------
    >>> flags = find_label_issues(ws)
    >>> flags["quality"].is_sorted()
    True
    """
    workspace.require("predictions", "labelkit aggregate")
    task = workspace.task
    labeled = workspace.sql(
        """SELECT e.id, e.text, p.label FROM examples e JOIN predictions p ON p.example_id = e.id
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
    flags = (
        pl.DataFrame(
            {
                "example_id": labeled["id"],
                "given_label": labeled["label"],
                "suggested_label": [task.labels[k] for k in pred_probs.argmax(axis=1)],
                "quality": quality,
            }
        )
        .filter(pl.Series(issues))
        .sort("quality", "example_id")
        .with_row_index("rank", offset=1)
        .select(
            "example_id", "given_label", "suggested_label", "quality", pl.col("rank").cast(pl.Int32)
        )
    )
    config = {"split": split, "flagger": flagger, "folds": folds, "filter_by": filter_by}
    config |= {"seed": seed, **params}
    with workspace.run("flag", config) as run:
        con = run.con
        con.execute("DELETE FROM flags WHERE reason = ?", [REASON])
        with registered(con, "new_flags", flags):
            con.execute(
                """INSERT INTO flags SELECT example_id, ?, given_label, suggested_label, quality,
                       rank, ? FROM new_flags""",
                [REASON, run.id],
            )
            # Priority 1 - quality: the most doubtful label is reviewed first.
            con.execute(
                """INSERT INTO queue SELECT example_id, 1 - quality, ?, given_label, suggested_label, ?
                   FROM new_flags
                   ON CONFLICT (example_id) DO UPDATE SET priority = excluded.priority,
                       reasons = excluded.reasons, given_label = excluded.given_label,
                       suggested_label = excluded.suggested_label, run_id = excluded.run_id""",
                [REASON, run.id],
            )
    return flags
