"""How good are the labeling functions? Coverage, overlaps, conflicts and accuracy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from labelkit.task import ABSTAIN
from labelkit.votes import LabelMatrix
from labelkit.workspace import Workspace


def lf_summary(matrix: LabelMatrix, gold: Sequence[str | None] | None = None) -> pl.DataFrame:
    """One row per source: polarity, coverage, overlaps, conflicts, and accuracy against gold.

    ``coverage`` is the share of examples the source votes on; ``overlaps`` the share
    where it and another source both vote; ``conflicts`` the share where another source
    votes a different label. With ``gold`` (None where unknown), ``correct``,
    ``incorrect`` and ``accuracy`` count the voted examples that have gold.

    Examples
    --------
    >>> lf_summary(LabelMatrix.from_workspace(ws, split="dev"), gold=dev_gold)
    """
    codes = matrix.codes
    voted = codes != ABSTAIN
    n_voting = voted.sum(axis=1, keepdims=True)
    overlaps = voted & (n_voting > 1)
    conflicts = np.zeros_like(voted)
    for k in range(matrix.task.cardinality):
        votes_for_k = (codes == k).sum(axis=1, keepdims=True)
        conflicts |= (codes == k) & (n_voting - votes_for_k > 0)
    n = max(codes.shape[0], 1)
    summary = pl.DataFrame(
        {
            "lf": matrix.sources,
            "polarity": [
                sorted({matrix.task.labels[c] for c in np.unique(codes[:, j]) if c != ABSTAIN})
                for j in range(codes.shape[1])
            ],
            "coverage": voted.sum(axis=0) / n,
            "overlaps": overlaps.sum(axis=0) / n,
            "conflicts": conflicts.sum(axis=0) / n,
        }
    )
    if gold is None:
        return summary
    gold_codes = matrix.task.encode(gold)[:, None]
    judged = voted & (gold_codes != ABSTAIN)
    correct = (judged & (codes == gold_codes)).sum(axis=0)
    incorrect = judged.sum(axis=0) - correct
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(correct + incorrect > 0, correct / (correct + incorrect), np.nan)
    return summary.with_columns(
        pl.Series("correct", correct),
        pl.Series("incorrect", incorrect),
        pl.Series("accuracy", accuracy).fill_nan(None),
    )


def summarize_lfs(
    workspace: Workspace, *, split: str | None = None, sources: Sequence[str] | None = None
) -> pl.DataFrame:
    """``lf_summary`` of one split's votes (all splits if None), with accuracy against the
    split's gold labels when it has any.

    Examples
    --------
    >>> summarize_lfs(ws, split="dev").select("lf", "coverage", "accuracy")
    """
    matrix = LabelMatrix.from_workspace(workspace, split=split, sources=sources)
    gold = (
        pl.DataFrame({"id": matrix.example_ids})
        .join(
            workspace.sql("SELECT id, gold FROM examples"),
            on="id",
            how="left",
            maintain_order="left",
        )
        .get_column("gold")
    )
    return lf_summary(matrix, gold if gold.is_not_null().any() else None)
