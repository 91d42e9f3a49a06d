"""How good are the labeling functions? Coverage, overlaps, conflicts, accuracy with
confidence intervals, pairwise agreement, and the examples they miss or dispute."""

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
    ``incorrect`` and ``accuracy`` count the voted examples that have gold, and
    ``accuracy_low``/``accuracy_high`` bound a 95% Wilson interval, which stays
    honest on the handful of gold examples a narrow LF usually has.

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
    judged_n = correct + incorrect
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(judged_n > 0, correct / judged_n, np.nan)
    low, high = wilson_interval(correct, judged_n)
    return summary.with_columns(
        pl.Series("correct", correct),
        pl.Series("incorrect", incorrect),
        pl.Series("accuracy", accuracy).fill_nan(None),
        pl.Series("accuracy_low", low).fill_nan(None),
        pl.Series("accuracy_high", high).fill_nan(None),
    )


def wilson_interval(
    successes: np.ndarray, trials: np.ndarray, z: float = 1.96
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion (95% by default); NaN where ``trials`` is 0.

    Examples
    --------
    >>> wilson_interval(np.array([9]), np.array([10]))
    (array([0.59584...]), array([0.98212...]))
    """
    n = np.asarray(trials, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.asarray(successes) / n
        center = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return center - half, center + half


def lf_agreement(matrix: LabelMatrix) -> pl.DataFrame:
    """Every pair of sources that vote on the same examples: how often, and how often
    they agree.

    Examples
    --------
    >>> lf_agreement(L).sort("both_voted", descending=True).head(3)
    """
    voted = (matrix.codes != ABSTAIN).astype(np.int64)
    both = voted.T @ voted
    same = sum(
        (matrix.codes == k).astype(np.int64).T @ (matrix.codes == k).astype(np.int64)
        for k in range(matrix.task.cardinality)
    )
    a, b = np.triu_indices(len(matrix.sources), k=1)
    keep = both[a, b] > 0
    a, b = a[keep], b[keep]
    return pl.DataFrame(
        {
            "lf_a": [matrix.sources[i] for i in a],
            "lf_b": [matrix.sources[i] for i in b],
            "both_voted": both[a, b],
            "agreement": same[a, b] / both[a, b],
        }
    ).sort("agreement", "both_voted", descending=[False, True])


def uncovered_examples(matrix: LabelMatrix) -> pl.Series:
    """The ids of examples no source votes on.

    Examples
    --------
    >>> uncovered_examples(L).len() / len(L.example_ids)  # share with no vote
    0.25...
    """
    silent = (matrix.codes == ABSTAIN).all(axis=1)
    return pl.Series("example_id", np.array(matrix.example_ids, dtype=object)[silent], pl.String)


def most_disputed(matrix: LabelMatrix, top: int = 20) -> pl.DataFrame:
    """The examples whose votes disagree most: highest entropy of the vote shares, then
    most votes. ``votes`` spells the tally out, e.g. ``spam 3, ham 2``.

    Examples
    --------
    >>> most_disputed(L, top=5).columns
    ['example_id', 'votes', 'n_votes', 'entropy']
    """
    counts = np.stack(
        [(matrix.codes == k).sum(axis=1) for k in range(matrix.task.cardinality)], axis=1
    )
    n_votes = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = counts / n_votes[:, None]
        entropy = -np.nansum(np.where(shares > 0, shares * np.log2(shares), 0.0), axis=1)
    disputed = np.flatnonzero((counts > 0).sum(axis=1) > 1)
    order = disputed[np.lexsort((-n_votes[disputed], -entropy[disputed]))][:top]
    labels = matrix.task.labels
    return pl.DataFrame(
        {
            "example_id": [matrix.example_ids[i] for i in order],
            "votes": [
                ", ".join(
                    f"{labels[k]} {counts[i, k]}"
                    for k in np.argsort(-counts[i], kind="stable")
                    if counts[i, k]
                )
                for i in order
            ],
            "n_votes": n_votes[order],
            "entropy": entropy[order],
        },
        schema={
            "example_id": pl.String,
            "votes": pl.String,
            "n_votes": pl.Int64,
            "entropy": pl.Float64,
        },
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


def source_health(
    report: dict, sources: Sequence[str], measured: pl.DataFrame | None = None
) -> pl.DataFrame:
    """One row per source from the ``auto`` label model's report: coverage, estimated
    accuracy, agreement with the other sources' majority beside the chance level for the
    source's label mix, gold accuracy where ``measured`` (an ``lf_summary`` with gold)
    has it, and the status: ``dropped`` or ``below chance`` (kept on request) or ``ok``.

    Examples
    --------
    >>> model = make_label_model("auto").fit(L.codes, 2)
    >>> source_health(model.report, L.sources).columns
    ['source', 'coverage', 'estimated_accuracy', 'agreement', 'chance', 'status']
    """
    below = set(report["below_chance"])
    dropped = set(report["dropped"])
    health = pl.DataFrame(
        {
            "source": list(sources),
            "coverage": report["coverage"],
            "estimated_accuracy": report["accuracy"],
            "agreement": report["agreement"],
            "chance": report["chance"],
            "status": [
                "dropped" if j in dropped else "below chance" if j in below else "ok"
                for j in range(len(sources))
            ],
        }
    ).with_columns(pl.col("agreement", "chance").fill_nan(None))
    if measured is not None and "accuracy" in measured.columns:
        health = health.join(
            measured.select(
                pl.col("lf").alias("source"), pl.col("accuracy").alias("gold_accuracy")
            ),
            on="source",
            how="left",
            maintain_order="left",
        ).select(*health.columns[:-1], "gold_accuracy", "status")
    return health


def health_warning(health: pl.DataFrame) -> str | None:
    """A one-line warning naming the sources below chance, or None when there are none.

    Examples
    --------
    >>> health_warning(source_health(model.report, L.sources))
    'below chance (dropped): llm:tiny'
    """
    flagged = health.filter(pl.col("status") != "ok")
    if flagged.is_empty():
        return None
    names = ", ".join(flagged["source"])
    action = "dropped" if (flagged["status"] == "dropped").all() else "kept on request"
    return (
        f"below chance ({action}): {names} — these agree with the other sources' majority "
        "less often than voting their own label mix at random would"
    )
