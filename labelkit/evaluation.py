"""Evaluation against gold: every labeling function, the LLM, the label models, the
cleaned labels and the small model, side by side, with the small model's size on disk
and speed on one core."""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from labelkit.aggregate import MajorityVote, predict_from_proba
from labelkit.errors import LabelkitError
from labelkit.export import cleaned_labels
from labelkit.report import markdown_table
from labelkit.task import ABSTAIN, Task
from labelkit.votes import LabelMatrix
from labelkit.workspace import Workspace

if TYPE_CHECKING:
    # spaCy takes seconds to import and only the small model needs it: `labelkit
    # aggregate` scores label models with this module too.
    import spacy

# A word is a run of non-space characters (as str.split counts them for the small model).
WORDS = "len(regexp_extract_all({}, '\\S+'))"
# Speed is timed over at least this many words per pass, so that a small test split
# still gives a stable figure.
TIMED_WORDS = 50_000
TIMED_RUNS = 5
CALIBRATION_BINS = 10
ABSTAINED = "(abstain)"
# Sources that vote on some examples: read by accuracy where they vote, not by
# accuracy that counts their abstains as wrong.
VOTERS = ("lf", "llm")

SCHEMA = {
    "method": pl.String,
    "kind": pl.String,
    "split": pl.String,
    "coverage": pl.Float64,
    "voted_accuracy": pl.Float64,
    "accuracy": pl.Float64,
    "macro_f1": pl.Float64,
    "ece": pl.Float64,
    "size_mb": pl.Float64,
    "words_per_s": pl.Float64,
}


@dataclass(frozen=True)
class Evaluation:
    """What ``evaluate`` measured: one summary row per method, precision and recall per
    method and label, and each method's confusion counts (gold × predicted, long form).

    In the summary, ``coverage`` is the share of examples a method votes on and
    ``voted_accuracy`` its accuracy there (Snorkel's empirical accuracy); ``accuracy``
    and ``macro_f1`` count an abstain as wrong. ``ece`` is the expected calibration
    error of the method's top probability (10 equal bins), for methods that give
    probabilities.
    """

    summary: pl.DataFrame
    per_class: pl.DataFrame
    confusion: pl.DataFrame

    def comparison(self) -> pl.DataFrame:
        """The summary as it should be read: ``accuracy`` and ``macro_f1`` count an
        abstain as wrong, which compares label models and the small model fairly but
        says little of a labeling function or an LLM that votes on some examples, so for
        those they are left blank, beside ``coverage`` and ``voted_accuracy``.

        Examples
        --------
        >>> evaluate(ws).comparison().select("method", "coverage", "voted_accuracy")
        """
        return self.summary.with_columns(
            pl.when(pl.col("kind").is_in(VOTERS)).then(None).otherwise(pl.col(name)).alias(name)
            for name in ("accuracy", "macro_f1")
        )

    def confusion_matrix(self, method: str) -> pl.DataFrame:
        """Counts with one row per gold label and one column per predicted label, both in
        the task's label order (so the diagonal holds the right answers), and a last
        ``(abstain)`` column if the method abstained.

        Examples
        --------
        >>> evaluate(ws, model).confusion_matrix("small model (textcat)")
        """
        rows = self.confusion.filter(pl.col("method") == method)
        if rows.height == 0:
            raise LabelkitError(f"no method {method!r} in this evaluation")
        labels = self.per_class.filter(pl.col("method") == method)["label"].to_list()
        counts = rows.pivot(on="predicted", index="gold", values="count")
        predicted = [*labels, *([ABSTAINED] if ABSTAINED in counts.columns else [])]
        return (
            pl.DataFrame({"gold": labels})
            .join(counts, on="gold", how="left", maintain_order="left")
            .select(
                "gold",
                *(
                    pl.col(name) if name in counts.columns else pl.lit(0, pl.UInt32).alias(name)
                    for name in predicted
                ),
            )
            .fill_null(0)
        )

    def markdown(self) -> str:
        """The summary, per-class scores and the small model's (else the last method's)
        confusion matrix as one Markdown document.

        Examples
        --------
        >>> Path("evaluation.md").write_text(evaluate(ws, model).markdown())
        """
        methods = self.summary["method"].to_list()
        small = self.summary.filter(pl.col("kind") == "small model")["method"].to_list()
        shown = (small or methods)[-1]
        return (
            "## Summary\n\n`coverage` is the share of examples a method votes on and "
            "`voted_accuracy` its accuracy there; `accuracy` and `macro_f1` count an abstain "
            "as wrong (left blank for labeling functions and LLMs); `ece` is the expected "
            "calibration error; speed is words per second on one core.\n\n"
            f"{markdown_table(self.comparison())}\n\n"
            f"## Per class\n\n{markdown_table(self.per_class)}\n\n"
            f"## Confusion: {shown} (rows gold, columns predicted)\n\n"
            f"{markdown_table(self.confusion_matrix(shown))}\n"
        )

    def save(self, directory: str | Path, name: str = "evaluation") -> tuple[Path, Path]:
        """Write ``<name>.md`` and ``<name>.json`` into ``directory``; return both paths.

        Examples
        --------
        >>> evaluate(ws, model).save("reports")
        (PosixPath('reports/evaluation.md'), PosixPath('reports/evaluation.json'))
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        markdown, data = directory / f"{name}.md", directory / f"{name}.json"
        markdown.write_text(self.markdown())
        tables = {
            "summary": self.summary.to_dicts(),
            "per_class": self.per_class.to_dicts(),
            "confusion": self.confusion.to_dicts(),
        }
        data.write_text(json.dumps(tables, indent=1) + "\n")
        return markdown, data


def score(gold: np.ndarray, predicted: np.ndarray, cardinality: int) -> dict[str, float | None]:
    """Coverage, accuracy where a vote was given (None without any), and accuracy and
    macro-F1 counting an abstain (-1) as wrong, of predicted codes.

    Examples
    --------
    >>> result = score(np.array([0, 1, 1]), np.array([0, 1, -1]), 2)
    >>> result["voted_accuracy"], result["accuracy"]
    (1.0, 0.6666666666666666)
    """
    voted = predicted != ABSTAIN
    right = predicted == gold
    return {
        "coverage": float(voted.mean()),
        "voted_accuracy": float(right[voted].mean()) if voted.any() else None,
        "accuracy": float(right.mean()),
        "macro_f1": float(per_class_scores(gold, predicted, cardinality)["f1"].mean()),
    }


def per_class_scores(
    gold: np.ndarray, predicted: np.ndarray, cardinality: int
) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support of each label code; an abstain is no prediction,
    and a score with nothing to divide by is 0.

    Examples
    --------
    >>> per_class_scores(np.array([0, 1, 1]), np.array([0, 0, -1]), 2)["precision"]
    array([0.5, 0. ])
    """
    # Counted in numpy rather than by scikit-learn, whose import alone takes seconds.
    true = np.bincount(gold[predicted == gold], minlength=cardinality)
    predictions = np.bincount(predicted[predicted != ABSTAIN], minlength=cardinality)
    support = np.bincount(gold, minlength=cardinality)

    def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
        return np.divide(numerator, denominator, out=np.zeros(cardinality), where=denominator > 0)

    return {
        "precision": ratio(true, predictions),
        "recall": ratio(true, support),
        # 2 TP / (2 TP + FP + FN), with FP + TP the predictions and FN + TP the support.
        "f1": ratio(2 * true, predictions + support),
        "support": support,
    }


def expected_calibration_error(
    gold: np.ndarray, proba: np.ndarray, bins: int = CALIBRATION_BINS
) -> float:
    """How far the top probability is from the accuracy, averaged over equal-width bins
    of that probability and weighted by how many examples fall in each.

    Examples
    --------
    >>> expected_calibration_error(np.array([0, 1]), np.array([[0.9, 0.1], [0.6, 0.4]]))
    0.35
    """
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == gold
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    gaps = [
        abs(correct[which == b].mean() - confidence[which == b].mean()) * (which == b).sum()
        for b in np.unique(which)
    ]
    return float(sum(gaps) / len(gold))


def evaluate(
    workspace: Workspace, model_path: str | Path | None = None, *, split: str = "test"
) -> Evaluation:
    """Score every source and model on the gold labels of ``split``.

    Methods: each labeling function and LLM source (``kind`` lf / llm), majority vote
    over all sources, the stored label model, and the small model at ``model_path``
    (a directory or an installed package). Where the train split has gold labels too,
    the label model's training labels and the cleaned set (after review) are scored on
    it, so that you can see what review fixed. For the small model, ``size_mb`` is its
    size on disk and ``words_per_s`` the median of five ``nlp.pipe`` passes on one
    core; for an LLM source, ``words_per_s`` comes from its cached answers' latencies.
    With no votes and no model there is nothing to score: a ``LabelkitError`` says so.

    Examples
    --------
    >>> evaluate(ws, "demo/model/model-best").summary.select("method", "accuracy")
    """
    task = workspace.task
    examples = _gold(workspace, split)
    if examples.height == 0:
        raise LabelkitError(f"no gold labels in split {split!r} to evaluate against")
    gold = task.encode(examples["gold"])
    matrix = LabelMatrix.from_workspace(workspace, split=split)
    kinds = dict(workspace.sql("SELECT name, kind FROM sources").iter_rows())
    keep = np.isin(np.array(matrix.example_ids), examples["id"].to_numpy())
    codes = matrix.codes[keep]

    scored = _Scores(task)
    for j, source in enumerate(matrix.sources):
        speed = _llm_words_per_s(workspace, source) if kinds[source] == "llm" else None
        scored.add(source, kinds[source], split, gold, codes[:, j], words_per_s=speed)
    if matrix.sources:
        proba = MajorityVote().fit(codes, task.cardinality).predict_proba(codes)
        scored.add(
            "majority_vote", "label model", split, gold, predict_from_proba(codes, proba), proba
        )
    stored = _stored_predictions(workspace, split)
    if stored.height == examples.height and stored["model"][0] != "majority_vote":
        proba = np.array(stored["probabilities"].to_list())
        predicted = task.encode(stored["label"])
        scored.add(stored["model"][0], "label model", split, gold, predicted, proba)
    if model_path is not None:
        _score_small_model(scored, model_path, examples, gold, split)
    if not scored.summary:
        raise LabelkitError(
            f"nothing to evaluate in {workspace.path}: no votes yet and no model given; "
            "run `labelkit apply` or `labelkit llm` first, or evaluate a trained model"
        )
    _score_training_labels(scored, workspace)
    return scored.evaluation()


class _Scores:
    """Collects each method's figures, per-class scores and confusion counts."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.summary: list[dict[str, object]] = []
        self.per_class: list[pl.DataFrame] = []
        self.confusion: list[pl.DataFrame] = []

    def add(
        self,
        method: str,
        kind: str,
        split: str,
        gold: np.ndarray,
        predicted: np.ndarray,
        proba: np.ndarray | None = None,
        **extra: float | None,
    ) -> None:
        task = self.task
        ece = None if proba is None else expected_calibration_error(gold, proba)
        self.summary.append(
            {
                "method": method,
                "kind": kind,
                "split": split,
                **score(gold, predicted, task.cardinality),
                "ece": ece,
                **extra,
            }
        )
        self.per_class.append(
            pl.DataFrame(
                {
                    "method": method,
                    "label": task.labels,
                    **per_class_scores(gold, predicted, task.cardinality),
                }
            )
        )
        outcome = pl.DataFrame(
            {"gold": task.decode(gold), "predicted": task.decode(predicted).fill_null(ABSTAINED)}
        )
        order = pl.Enum([*task.labels, ABSTAINED])
        self.confusion.append(
            outcome.group_by("gold", "predicted")
            .len("count")
            .sort(pl.col("gold").cast(order), pl.col("predicted").cast(order))
            .select(pl.lit(method).alias("method"), "gold", "predicted", "count")
        )

    def evaluation(self) -> Evaluation:
        return Evaluation(
            summary=pl.DataFrame(self.summary, schema=SCHEMA),
            per_class=pl.concat(self.per_class),
            confusion=pl.concat(self.confusion),
        )


def _gold(workspace: Workspace, split: str) -> pl.DataFrame:
    return workspace.sql(
        "SELECT id, text, gold FROM examples WHERE split = ? AND gold IS NOT NULL ORDER BY id",
        [split],
    )


def _stored_predictions(workspace: Workspace, split: str) -> pl.DataFrame:
    return workspace.sql(
        """SELECT e.id, p.model, p.label, p.probabilities
           FROM examples e JOIN predictions p ON p.example_id = e.id
           WHERE e.split = ? AND e.gold IS NOT NULL ORDER BY e.id""",
        [split],
    )


def _score_training_labels(scored: _Scores, workspace: Workspace) -> None:
    """The label model's training labels and the cleaned set, against train gold."""
    train = _gold(workspace, "train")
    stored = _stored_predictions(workspace, "train")
    if train.height == 0 or stored.height == 0:
        return
    task = scored.task
    gold = task.encode(train["gold"])
    given = train.join(stored, on="id", how="left", maintain_order="left")
    scored.add(
        f"{stored['model'][0]} labels",
        "training labels",
        "train",
        gold,
        task.encode(given["label"]),
    )
    cleaned = train.join(cleaned_labels(workspace), on="id", how="left", maintain_order="left")
    scored.add("cleaned labels", "training labels", "train", gold, task.encode(cleaned["label"]))


def _score_small_model(
    scored: _Scores, model: str | Path, examples: pl.DataFrame, gold: np.ndarray, split: str
) -> None:
    import spacy

    path = Path(model)
    if not path.is_dir() and not spacy.util.is_package(str(model)):
        raise LabelkitError(f"no trained model at {path}: run `labelkit train` first")
    nlp = spacy.load(model)
    pipe = next(name for name in nlp.pipe_names if name.startswith("textcat"))
    labels = scored.task.labels
    texts = examples["text"].to_list()
    proba = np.array(
        [[doc.cats[label] for label in labels] for doc in nlp.pipe(texts, batch_size=256)]
    )
    on_disk = Path(nlp.path) if nlp.path is not None else path
    size = sum(f.stat().st_size for f in on_disk.rglob("*") if f.is_file())
    scored.add(
        f"small model ({pipe})",
        "small model",
        split,
        gold,
        proba.argmax(axis=1),
        proba,
        size_mb=size / 1e6,
        words_per_s=words_per_second(nlp, texts),
    )


def words_per_second(nlp: spacy.Language, texts: list[str], runs: int = TIMED_RUNS) -> float:
    """Median words per second of ``nlp.pipe`` over ``texts`` on one CPU core.

    The calling thread is pinned to one core and BLAS to one thread. ``texts`` are
    repeated to at least 50,000 words per pass; one pass warms up first.

    Examples
    --------
    >>> words_per_second(spacy.load("models/spam/model-best"), texts)
    152000.0
    """
    words = sum(len(text.split()) for text in texts)
    if words == 0:
        raise LabelkitError("no words to time")
    batch = texts * math.ceil(TIMED_WORDS / words)
    timings = []
    with _one_core():
        for _ in range(runs + 1):
            started = time.perf_counter()
            for _ in nlp.pipe(batch, batch_size=256):
                pass
            timings.append(time.perf_counter() - started)
    return words * (len(batch) // len(texts)) / statistics.median(timings[1:])


@contextmanager
def _one_core() -> Iterator[None]:
    pinned = hasattr(os, "sched_setaffinity")
    if pinned:
        cores = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(cores)})
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        if pinned:
            os.sched_setaffinity(0, cores)


def _llm_words_per_s(workspace: Workspace, source: str) -> float | None:
    row = workspace.sql(
        f"""SELECT sum({WORDS.format("c.request ->> '$.messages[1].content'")})
                   / sum(c.latency_s) AS wps
            FROM llm_cache c, sources s
            WHERE s.name = ? AND c.model = s.definition ->> '$.model'
              AND c.error IS NULL AND c.latency_s > 0""",
        [source],
    )
    return row["wps"][0]
