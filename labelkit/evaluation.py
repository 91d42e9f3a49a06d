"""Evaluation against gold: every labeling function, the LLM, the label models, the
cleaned labels and the small model, side by side, with the small model's size on disk
and speed on one core."""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
import statistics
import sys
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from labelkit import __version__
from labelkit.aggregate import MajorityVote, label_model_sources, predict_from_proba
from labelkit.aggregate.attributes import answer_attribute
from labelkit.errors import (
    InputError,
    LabelkitError,
    LabelkitWarning,
    OutdatedWarning,
    StaleModelWarning,
)
from labelkit.export import cleaned_labels
from labelkit.report import counted, frontier_markdown, markdown_table
from labelkit.task import ABSTAIN, Task
from labelkit.votes import LabelMatrix
from labelkit.workspace import (
    Workspace,
    first_row,
    label_model_run,
    no_gold_in,
    registered,
    warn_if_out_of_date,
)

if TYPE_CHECKING:
    # spaCy takes seconds to import and only the small model needs it: `labelkit
    # aggregate` scores label models with this module too.
    from labelkit.train.ship import SmallModel

# A word is a run of non-space characters (as str.split counts them for the small model).
WORDS = "len(regexp_extract_all({}, '\\S+'))"
# Speed is timed over at least this many words per pass, so that a small test split
# still gives a stable figure.
TIMED_WORDS = 50_000
# An entity recognizer runs at about a tenth of a bag of words' speed: as many seconds
# per pass from a tenth of the words.
NER_TIMED_WORDS = 5_000
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
# A task with attributes: a row per method and attribute, and one over all attributes
# (ALL) with the micro-F1 over mentioned pairs and the share of texts all right.
ALL = "(all)"
ATTRIBUTE_SCHEMA = {
    "method": pl.String,
    "kind": pl.String,
    "attribute": pl.String,
    "split": pl.String,
    "coverage": pl.Float64,
    "voted_accuracy": pl.Float64,
    "accuracy": pl.Float64,
    "macro_f1": pl.Float64,
    "micro_f1": pl.Float64,
    "exact_match": pl.Float64,
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
    probabilities. A labeling function's or an LLM's per-class scores are blank (null)
    for the labels it does not vote on the split.

    A task with attributes (aspects, multi-label) is scored one attribute at a time
    over its answers, ``"none"`` / ``"no"`` included, so every table has an
    ``attribute`` column; a source that never votes on an attribute has no row for it.
    Macro-F1 and the per-class rows are over the answers the split's gold gives and the
    method predicts (scikit-learn's default): aspects share one label set, and an
    aspect's answer nothing gives on the split (a stance aspect's ``favor`` on a
    sentiment aspect) has no F1.
    Each method also has a row over all attributes (``attribute`` ``"(all)"``):
    ``coverage`` and the accuracies over every (text, attribute) (for an LF or an LLM,
    every attribute it votes on), ``macro_f1`` the mean
    of the attributes' macro-F1, ``micro_f1`` the F1 over the (text, attribute, label)
    pairs that say an attribute is there (in gold or predicted) and ``exact_match`` the
    share of texts right on every attribute. A ``"mentioned"`` vote names no answer and
    is scored as an abstain; a source whose every vote on the split is ``"mentioned"``
    has no row at all, and is named in ``presence_only`` (``analyze`` scores it on
    whether the attribute is there).

    Examples
    --------
    >>> scores = evaluate(ws, "models/spam/model-best")
    >>> scores.comparison().select("method", "kind", "accuracy").head(2)
    >>> scores.per_class.filter(pl.col("method").str.starts_with("small model"))
    """

    summary: pl.DataFrame
    per_class: pl.DataFrame
    confusion: pl.DataFrame
    frontier: tuple[pl.DataFrame, str] | None = None
    """For a model trained by ``train_frontier``: every model of that frontier (dev
    accuracy, size, speed) and the dev split; the report shows the table and a plot."""
    presence_only: tuple[str, ...] = ()
    """The sources left out because they only said an attribute is there (trial 33
    read their coverage of 0 as LFs that never fire)."""
    overlapping_gold: tuple[int, int] = (0, 0)
    """A spans task's gold spans that a tagger giving a token one entity (``ner``,
    majority vote) must miss, as they overlap others, and all of them."""
    thresholds: pl.DataFrame = dataclasses.field(default_factory=pl.DataFrame)
    """For each method with probabilities, on a task of one label per text: at each
    confidence threshold (``THRESHOLDS``), the share of texts whose top probability
    reaches it (``kept``) and the accuracy on those (``accuracy_kept``): what a
    threshold in production keeps and how right that is (trial 53b: one ECE figure, and
    no way to choose a threshold but computing it)."""
    label_thresholds: pl.DataFrame = dataclasses.field(default_factory=pl.DataFrame)
    """For each method with probabilities, on a task of one label per text, each label
    and each cut of its score (``LABEL_CUTS``): how many texts score at least the cut
    (``flagged``), and the label's precision and recall if those were given it, what
    ``predict``'s ``score_<label>`` column cut there gives (trial 58c: no way to find
    the scam score that holds precision 0.9)."""
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)
    """What was scored on what: the workspace, split and its gold rows, the label model's
    ``aggregate`` run, the small models, the time and labelkit's version (trial 52a: an
    evaluation.json of round 1 and one of round 3 could not be told apart, nor the gold
    they were scored on)."""

    def overlapping_gold_note(self) -> str:
        """What ``overlapping_gold`` costs a flat tagger, as the CLI and the Markdown
        say it; empty where no gold span overlaps another.

        Examples
        --------
        >>> evaluate(ws, model).overlapping_gold_note()
        '36 of 410 gold spans overlap others that a tagger of one entity per token ...'
        """
        overlapping, total = self.overlapping_gold
        if not overlapping:
            return ""
        return (
            f"{overlapping} of {total} gold spans overlap others that a tagger of one "
            "entity per token finds instead (nested types, say), so a ner's recall here is "
            f"at most {(total - overlapping) / total:.3f} (a spancat, `--model "
            "spacy_spancat`, keeps overlapping spans)"
        )

    def presence_only_note(self) -> str:
        """Why the sources of ``presence_only`` have no rows, as the CLI and the Markdown
        say it after "not scored"; empty where there are none.

        Examples
        --------
        >>> evaluate(reviews).presence_only_note()
        'as they only vote that an attribute is mentioned: kw_waiter (`labelkit analyze` ...'
        """
        if not self.presence_only:
            # Trial 53c: on a classification task it named no source.
            return ""
        return (
            f"as they only vote that an attribute is mentioned: {', '.join(self.presence_only)}"
            " (`labelkit analyze` scores them on whether it is)"
        )

    def comparison(self) -> pl.DataFrame:
        """The summary as it should be read: ``accuracy`` and ``macro_f1`` count an
        abstain as wrong, which compares label models and the small model fairly but
        says little of a labeling function or an LLM that votes on some examples, so for
        those they are left blank, beside ``coverage`` and ``voted_accuracy``.

        Examples
        --------
        >>> evaluate(ws).comparison().select("method", "coverage", "voted_accuracy")
        """
        if "f1" in self.summary.columns:
            # Entity scores count only the spans a method marks: a source that marks
            # few has a low recall, not a score that reads its silence as wrong.
            return self.summary
        abstain_as_wrong = ("accuracy", "macro_f1", "micro_f1", "exact_match")
        return self.summary.with_columns(
            pl.when(pl.col("kind").is_in(VOTERS)).then(None).otherwise(pl.col(name)).alias(name)
            for name in abstain_as_wrong
            if name in self.summary.columns
        )

    def confusion_matrix(self, method: str, attribute: str | None = None) -> pl.DataFrame:
        """Counts with one row per gold label and one column per predicted label, both in
        the task's label order (so the diagonal holds the right answers), and a last
        ``(abstain)`` column if the method abstained. A task with attributes has one
        per ``attribute``.

        Examples
        --------
        >>> evaluate(ws, model).confusion_matrix("small model (n-grams)")  # as summary names it
        >>> evaluate(reviews).confusion_matrix("majority_vote", "staff")
        """
        chosen = pl.col("method") == method
        if "attribute" in self.confusion.columns:
            if attribute is None:
                raise LabelkitError(f"name an attribute: {method!r} has a confusion matrix each")
            chosen &= pl.col("attribute") == attribute
        rows = self.confusion.filter(chosen)
        if rows.height == 0:
            on = "" if attribute is None else f" on attribute {attribute!r}"
            raise LabelkitError(f"no method {method!r}{on} in this evaluation")
        labels = self.per_class.filter(chosen)["label"].to_list()
        # Answers that are no class of their own (a spans task's none) come last.
        seen = pl.concat([rows["gold"], rows["predicted"]]).unique(maintain_order=True)
        labels += [name for name in seen if name not in labels and name != ABSTAINED]
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
        if "f1" in self.summary.columns:
            return (
                "## Summary\n\nEntity-level scores: a span counts where a gold span has "
                "exactly its bounds and type; `f1` over all spans, `macro_f1` the mean over "
                "the types; speed is words per second on one core.\n\n"
                f"{markdown_table(self.summary)}\n\n"
                + (f"{note}.\n\n" if (note := self.overlapping_gold_note()) else "")
                + f"## Per type\n\n{markdown_table(self.per_class)}\n\n"
                f"## Spans by bounds: {shown} (rows gold, columns predicted)\n\n"
                f"{markdown_table(self.confusion_matrix(shown))}\n"
            )
        text = (
            "## Summary\n\n`coverage` is the share of examples a method votes on and "
            "`voted_accuracy` its accuracy there; `accuracy` and `macro_f1` count an abstain "
            "as wrong (left blank for labeling functions and LLMs); `ece` is the expected "
            "calibration error; speed is words per second on one core.\n\n"
        )
        if "attribute" not in self.confusion.columns:
            frontier = "" if self.frontier is None else "\n" + frontier_markdown(*self.frontier)
            return text + (
                f"{markdown_table(self.comparison())}\n\n"
                f"## Per class\n\n{markdown_table(self.per_class)}\n\n"
                f"## Confusion: {shown} (rows gold, columns predicted)\n\n"
                f"{markdown_table(self.confusion_matrix(shown))}\n"
                f"{frontier}"
            )
        attributes = self.confusion.filter(pl.col("method") == shown)["attribute"].unique(
            maintain_order=True
        )
        return text + (
            f"Each attribute is scored over all its answers (`none` or `no` included); "
            f"`{ALL}` is over all "
            "of them: `macro_f1` their mean, `micro_f1` over the (text, attribute, label) "
            "pairs that say an attribute is there, `exact_match` the share of texts right "
            "on every attribute."
            + (f" Not scored, {self.presence_only_note()}." if self.presence_only else "")
            + "\n\n"
            f"{markdown_table(self.comparison())}\n\n"
            f"## Per class\n\n{markdown_table(self.per_class)}\n\n"
            + "".join(
                f"## Confusion: {shown}, {attribute} (rows gold, columns predicted)\n\n"
                f"{markdown_table(self.confusion_matrix(shown, attribute))}\n\n"
                for attribute in attributes
            ).rstrip("\n")
            + "\n"
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
        markdown.write_text(self.markdown(), encoding="utf-8")
        tables = {
            "summary": self.summary.to_dicts(),
            "per_class": self.per_class.to_dicts(),
            "confusion": self.confusion.to_dicts(),
        }
        if self.frontier is not None:
            tables["frontier"] = self.frontier[0].to_dicts()
        if self.thresholds.height:
            tables["thresholds"] = self.thresholds.to_dicts()
        if self.label_thresholds.height:
            tables["label_thresholds"] = self.label_thresholds.to_dicts()
        if self.presence_only:
            tables["presence_only"] = list(self.presence_only)
        tables["provenance"] = self.provenance
        data.write_text(json.dumps(tables, indent=1) + "\n", encoding="utf-8")
        return markdown, data


# The confidence thresholds ``Evaluation.thresholds`` reports.
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
THRESHOLD_SCHEMA = {
    "method": pl.String,
    "threshold": pl.Float64,
    "kept": pl.Float64,
    "accuracy_kept": pl.Float64,
}


def _kept_at_thresholds(
    method: str, gold: np.ndarray, proba: np.ndarray
) -> Iterator[dict[str, object]]:
    """``Evaluation.thresholds``' rows of one method: at each threshold the share of
    texts whose top probability reaches it and the accuracy on them (None: none)."""
    confidence, predicted = proba.max(axis=1), proba.argmax(axis=1)
    for threshold in THRESHOLDS:
        kept = confidence >= threshold
        yield {
            "method": method,
            "threshold": threshold,
            "kept": float(kept.mean()) if len(kept) else None,
            "accuracy_kept": float((predicted[kept] == gold[kept]).mean()) if kept.any() else None,
        }


# The cuts of a label's score ``Evaluation.label_thresholds`` reports.
LABEL_CUTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
LABEL_THRESHOLD_SCHEMA = {
    "method": pl.String,
    "label": pl.String,
    "threshold": pl.Float64,
    "flagged": pl.Int64,
    "precision": pl.Float64,
    "recall": pl.Float64,
}


def _label_at_thresholds(
    method: str, gold: np.ndarray, proba: np.ndarray, labels: Sequence[str]
) -> Iterator[dict[str, object]]:
    """``Evaluation.label_thresholds``' rows of one method: per label and cut of its
    score, the texts at or above it and the label's precision (None: none) and recall
    (None: no gold text of it) were they given it."""
    for code, label in enumerate(labels):
        positive = gold == code
        for cut in LABEL_CUTS:
            chosen = proba[:, code] >= cut
            hits = int((positive & chosen).sum())
            yield {
                "method": method,
                "label": label,
                "threshold": cut,
                "flagged": int(chosen.sum()),
                "precision": hits / chosen.sum() if chosen.any() else None,
                "recall": hits / positive.sum() if positive.any() else None,
            }


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
        "macro_f1": float(
            per_class_scores(gold, predicted, cardinality)["f1"][
                scored_labels(gold, predicted, cardinality)
            ].mean()
        ),
    }


def scored_labels(gold: np.ndarray, predicted: np.ndarray, cardinality: int) -> np.ndarray:
    """The label codes a macro-F1 averages over: those ``gold`` gives and those
    ``predicted`` (a wrong label still costs). A label neither gives has no F1 to
    average (scikit-learn's default): trial 46's misspelt "shiping", corrected in the
    gold but kept in the label set, cost a perfect model a sixth of its macro-F1.

    Examples
    --------
    >>> scored_labels(np.array([0, 1]), np.array([0, -1]), 3)
    array([ True,  True, False])
    """
    voted = np.bincount(predicted[predicted != ABSTAIN], minlength=cardinality) > 0
    given = np.bincount(gold, minlength=cardinality) > 0
    return given | voted


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
    gold: np.ndarray,
    proba: np.ndarray,
    bins: int = CALIBRATION_BINS,
    *,
    predicted: np.ndarray | None = None,
) -> float | None:
    """How far the probability of each example's answer is from the accuracy, averaged
    over equal-width bins of that probability and weighted by how many examples fall in
    each. The answer is the top class, or ``predicted`` where given: fitted with gold,
    an aspect's answer need not be its most probable one (see
    ``labelkit.aggregate.attributes``), and an example ``predicted`` leaves undecided
    (``ABSTAIN``) has no answer to be sure of and is left out (trial 67b: at 2%
    positives the texts without votes, sure 0.5 of the common class and right 98% of
    the time, made an ECE of 0.223 of a label model calibrated to 0.007 where it
    labels). None where no example has an answer.

    Examples
    --------
    >>> expected_calibration_error(np.array([0, 1]), np.array([[0.9, 0.1], [0.6, 0.4]]))
    0.35
    """
    answer = proba.argmax(axis=1)
    if predicted is not None:
        answered = predicted != ABSTAIN
        gold, proba, answer = gold[answered], proba[answered], predicted[answered]
    if not len(gold):
        return None
    confidence = proba[np.arange(len(proba)), answer]
    correct = answer == gold
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    gaps = [
        abs(correct[which == b].mean() - confidence[which == b].mean()) * (which == b).sum()
        for b in np.unique(which)
    ]
    return float(sum(gaps) / len(gold))


def evaluate(
    workspace: Workspace,
    model_path: str | Path | Sequence[str | Path] | None = None,
    *,
    split: str = "test",
) -> Evaluation:
    """Score every source and model on the gold labels of ``split``.

    Methods: each labeling function and LLM source (``kind`` lf / llm), majority vote
    over all sources, the stored label model, and the small model at ``model_path``
    (a directory or an installed package); given several, each is scored, its row named
    by its path. Where the train split has gold labels too,
    the label model's training labels and the cleaned set (after review) are scored on
    it, so that you can see what review fixed. For the small model, ``size_mb`` is its
    size on disk and ``words_per_s`` the median of five ``nlp.pipe`` passes on one
    core; for an LLM source, ``words_per_s`` comes from its cached answers' latencies.
    A model that ``train_frontier`` trained carries its frontier into the evaluation
    (``Evaluation.frontier``), and so into the report: the table and a plot.
    With no votes and no model there is nothing to score: a ``LabelkitError`` says so.

    A task with attributes is scored per attribute against ``Task.gold_answers`` and
    over all attributes (see ``Evaluation``); majority vote answers each attribute as
    the label models do, presence then value; so is its small model, from the
    ``predicted_<attribute>`` answers of ``predict_frame``.

    A spans task is scored by entity (``span_scores``: a span counts where a gold span
    has exactly its bounds and label): each source's spans (``O`` aside), majority
    vote over them (as ``aggregate`` computes it), the stored label model's
    ``span_predictions`` and the small model's entities, on the same
    texts. The summary has ``precision``, ``recall`` and ``f1`` over all spans and
    ``macro_f1`` over the entity types; ``per_class`` has them per type with
    ``support`` (gold spans), ``predicted`` and ``correct``; ``confusion`` counts spans
    by bounds: gold type against predicted type where both have a span with those
    bounds, ``none`` for a span only one side has.

    Examples
    --------
    >>> evaluate(ws, "demo/model/model-best").summary.select("method", "accuracy")
    >>> evaluate(reviews).summary.filter(attribute="(all)").select("method", "micro_f1")
    """
    task = workspace.task
    examples = _gold(workspace, split)
    if examples.height == 0:
        raise no_gold_in(workspace, split, "to evaluate against")
    warn_if_out_of_date(workspace)
    _warn_if_fitted_on(workspace, split)
    models = _small_models(model_path)
    for model in models:
        _warn_if_out_of_date(workspace, model)
    provenance = {
        "workspace": str(workspace.path),
        "workspace_id": workspace.identity,
        "split": split,
        "gold_rows": examples.height,
        "label_model": label_model_run(workspace),
        "models": [str(model) for model in models],
        "evaluated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "labelkit_version": __version__,
    }
    if task.kind == "spans":
        evaluation = _evaluate_spans(workspace, examples, models, split)
        return dataclasses.replace(evaluation, provenance=provenance)
    kinds = dict(workspace.sql("SELECT name, kind FROM sources").iter_rows())
    speeds = {name: _llm_words_per_s(workspace, name) for name in kinds if kinds[name] == "llm"}
    used = label_model_sources(workspace)
    scored = _Scores(task)
    named: set[str] = set()
    mentioned: set[str] = set()
    label_model: str | None = None
    label_model_rows: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, bool]] = []
    baselined = True
    # An attribute's majority vote is fitted as `aggregate` fits it, on the train split's
    # votes (trial 55c: fitted on the scored split's, a text whose votes only say
    # "mentioned" got another answer than the stored majority vote gave it), so its
    # matrix holds every split; a classification's majority vote has nothing to fit.
    every_split = task.kind != "classification"
    fit_rows: np.ndarray | None = None
    for attribute in task.targets:
        answers = task.answers(attribute)
        gold = answers.encode(task.gold_answers(examples["gold"], attribute))
        matrix = LabelMatrix.from_workspace(
            workspace, split=None if every_split else split, attribute=attribute
        )
        keep = _among(matrix.example_ids, examples["id"])
        if every_split and fit_rows is None:
            fit_rows = _train_rows(workspace, matrix.example_ids, keep)
        votes = matrix.codes[keep]
        # "mentioned" names no answer: scored as an abstain.
        codes = np.where(votes < answers.cardinality, votes, ABSTAIN)
        for j, source in enumerate(matrix.sources):
            if (codes[:, j] != ABSTAIN).any():
                named.add(source)
            elif (votes[:, j] != ABSTAIN).any():
                mentioned.add(source)
            scored.add(
                source,
                kinds[source],
                split,
                gold,
                codes[:, j],
                attribute=attribute,
                # A source that never votes on an attribute is no method for it.
                listed=task.kind == "classification" or bool((votes[:, j] != ABSTAIN).any()),
                words_per_s=speeds.get(source),
            )
        # Majority vote over the stored label model's sources: its baseline.
        inputs = [j for j, name in enumerate(matrix.sources) if used is None or name in used]
        baseline = None
        if inputs:
            if task.kind == "classification":
                voted = codes[:, inputs]
                proba = MajorityVote().fit(voted, task.cardinality).predict_proba(voted)
                predicted = predict_from_proba(voted, proba)
            else:
                assert fit_rows is not None
                proba, predicted = answer_attribute(
                    task, attribute, matrix.codes[:, inputs], fit_rows, None, MajorityVote
                )
                proba, predicted = proba[keep], predicted[keep]
            scored.add(
                "majority_vote", "label model", split, gold, predicted, proba, attribute=attribute
            )
            baseline = predicted
        stored = _stored_predictions(workspace, split, attribute)
        if stored.height == examples.height:
            predicted = answers.encode(stored["label"])
            label_model = stored["model"][0]
            proba = np.array(stored["probabilities"].to_list())
            label_model_rows.append((attribute, gold, predicted, proba, baseline is None))
            if baseline is not None:
                baselined = baselined and np.array_equal(predicted, baseline)
    # A majority vote stored with settings (--class-balance breaks its ties) or fitted on
    # other rows is not the baseline (trial 54b: the table showed the baseline under its
    # name). It is told apart on every attribute or on none (trial 55c: shown on the two
    # of five that differed, its "(all)" row averaged those two); where it is the
    # baseline, it stands for it only on an attribute no source of it votes on.
    if label_model == "majority_vote" and not baselined:
        label_model = "majority_vote (stored)"
    for attribute, gold, predicted, proba, alone in label_model_rows:
        if label_model != "majority_vote" or alone:
            scored.add(
                label_model, "label model", split, gold, predicted, proba, attribute=attribute
            )
    presence_only = sorted(mentioned - named)
    for source in presence_only:
        del scored.cells[source]
    gold = task.encode(examples["gold"]) if task.kind == "classification" else None
    for model in models:
        _score_small_model(scored, model, examples, gold, split, _named(model, models))
    if not scored.cells:
        found = (
            f"its sources ({', '.join(presence_only)}) only say an attribute is mentioned"
            if presence_only
            else "no votes yet"
        )
        raise LabelkitError(
            f"nothing to evaluate in {workspace.path}: {found} and no model given; "
            "run `labelkit apply` or `labelkit llm` first, or evaluate a trained model"
        )
    _score_training_labels(scored, workspace)
    evaluation = dataclasses.replace(
        scored.evaluation(), presence_only=tuple(presence_only), provenance=provenance
    )
    if len(models) == 1 and task.kind == "classification":
        from labelkit.train.frontier import load_frontier

        frontier = load_frontier(models[0])
        if frontier is not None:
            evaluation = dataclasses.replace(evaluation, frontier=frontier)
    return evaluation


def _small_models(model_path: str | Path | Sequence[str | Path] | None) -> list[str | Path]:
    """The small models ``evaluate`` was given, as a list; one named twice is refused."""
    if model_path is None:
        return []
    models = [model_path] if isinstance(model_path, str | Path) else list(model_path)
    paths = [Path(model).resolve() for model in models]
    twice = next(
        (model for model, path in zip(models, paths, strict=True) if paths.count(path) > 1), None
    )
    if twice is not None:
        raise LabelkitError(f"the model {twice} is given twice")
    return models


def _named(model: str | Path, models: Sequence[str | Path]) -> str:
    """What a small model's row adds to its name: nothing when it is the only one, its
    path when several are compared (trial 52a: `--model r1 --model r2` scored only r2)."""
    return "" if len(models) == 1 else f" {model}"


@dataclass(frozen=True)
class _Cell:
    """One method's answers on one attribute."""

    kind: str
    split: str
    attribute: str
    gold: np.ndarray
    predicted: np.ndarray
    proba: np.ndarray | None
    extra: dict[str, float | None]
    listed: bool


class _Scores:
    """Collects each method's answers per attribute, then scores them: per attribute,
    and for a task with attributes over all of them too."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.cells: dict[str, list[_Cell]] = {}

    def add(
        self,
        method: str,
        kind: str,
        split: str,
        gold: np.ndarray,
        predicted: np.ndarray,
        proba: np.ndarray | None = None,
        *,
        attribute: str = "",
        listed: bool = True,
        **extra: float | None,
    ) -> None:
        """``gold`` and ``predicted`` are codes of ``task.answers(attribute)``, over the
        same examples in the same order for every attribute of a method. A method not
        ``listed`` on an attribute counts in a label model's or a small model's scores over
        all attributes only, and in a source's not at all."""
        cell = _Cell(kind, split, attribute, gold, predicted, proba, extra, listed)
        self.cells.setdefault(method, []).append(cell)

    def evaluation(self) -> Evaluation:
        attributes = self.task.kind != "classification"
        summary: list[dict[str, object]] = []
        per_class, confusion = [], []
        for method, cells in self.cells.items():
            if attributes:
                # A source's row over all attributes is over those it votes on: an LF
                # of one aspect in three showed a third of its coverage (trial 44).
                pooled = [c for c in cells if c.listed] if cells[0].kind in VOTERS else cells
                summary.append(self._overall(method, pooled or cells))
            for cell in cells:
                if not cell.listed:
                    continue
                summary.append(self._row(method, cell))
                per_class.append(self._per_class(method, cell))
                confusion.append(self._confusion(method, cell))
        schema = SCHEMA if not attributes else ATTRIBUTE_SCHEMA
        frames = [pl.concat(per_class), pl.concat(confusion)]
        if not attributes:
            frames = [frame.drop("attribute") for frame in frames]
        thresholds = pl.DataFrame(
            [
                row
                for method, cells in self.cells.items()
                for cell in cells
                if cell.proba is not None and not attributes
                for row in _kept_at_thresholds(method, cell.gold, cell.proba)
            ],
            schema=THRESHOLD_SCHEMA,
        )
        label_thresholds = pl.DataFrame(
            [
                row
                for method, cells in self.cells.items()
                for cell in cells
                if cell.proba is not None and not attributes
                for row in _label_at_thresholds(method, cell.gold, cell.proba, self.task.labels)
            ],
            schema=LABEL_THRESHOLD_SCHEMA,
        )
        return Evaluation(
            pl.DataFrame(summary, schema=schema),
            *frames,
            thresholds=thresholds,
            label_thresholds=label_thresholds,
        )

    def _row(self, method: str, cell: _Cell) -> dict[str, object]:
        cardinality = self.task.answers(cell.attribute).cardinality
        row: dict[str, object] = {
            "method": method,
            "kind": cell.kind,
            "attribute": cell.attribute,
            "split": cell.split,
            **score(cell.gold, cell.predicted, cardinality),
            "macro_f1": self._macro_f1(cell),
            "ece": None
            if cell.proba is None
            else expected_calibration_error(cell.gold, cell.proba, predicted=cell.predicted),
            **cell.extra,
        }
        if self.task.kind == "classification":
            del row["attribute"]
        else:
            row["micro_f1"] = mentioned_f1([cell.gold], [cell.predicted], cardinality - 1)
        return row

    def _overall(self, method: str, cells: list[_Cell]) -> dict[str, object]:
        """Scores over every attribute: cells pooled, macro-F1 averaged over attributes,
        micro-F1 over mentioned pairs, and the share of texts right on every attribute."""
        gold = np.concatenate([cell.gold for cell in cells])
        predicted = np.concatenate([cell.predicted for cell in cells])
        voted = predicted != ABSTAIN
        right = predicted == gold
        probas = [cell.proba for cell in cells]
        ece = None
        if all(proba is not None for proba in probas):
            ece = expected_calibration_error(
                gold,
                np.vstack(probas),  # type: ignore[arg-type]
                predicted=predicted,
            )
        absent = self.task.answers(cells[0].attribute).cardinality - 1
        return {
            "method": method,
            "kind": cells[0].kind,
            "attribute": ALL,
            "split": cells[0].split,
            "coverage": float(voted.mean()),
            "voted_accuracy": float(right[voted].mean()) if voted.any() else None,
            "accuracy": float(right.mean()),
            "macro_f1": float(np.mean([self._macro_f1(c) for c in cells])),
            "micro_f1": mentioned_f1([c.gold for c in cells], [c.predicted for c in cells], absent),
            "exact_match": float(
                np.logical_and.reduce([c.predicted == c.gold for c in cells]).mean()
            ),
            "ece": ece,
            **cells[0].extra,
        }

    def _scored(self, cell: _Cell) -> np.ndarray:
        """Which answers of the cell's attribute its macro-F1 averages over: those the
        split's gold gives and those the method predicts (``scored_labels``). Aspects
        share one label set, so an aspect's answers are never the task's every label:
        a stance aspect was scored 0 on `positive`, and an aspect whose one
        dev row was `neutral` on `neutral` on test, where neither gold nor any method
        gave it (trial 57c: delivery at 0.750 for predictions right on every row)."""
        return scored_labels(
            cell.gold, cell.predicted, self.task.answers(cell.attribute).cardinality
        )

    def _macro_f1(self, cell: _Cell) -> float:
        cardinality = self.task.answers(cell.attribute).cardinality
        f1 = per_class_scores(cell.gold, cell.predicted, cardinality)["f1"]
        return float(f1[self._scored(cell)].mean())

    def _per_class(self, method: str, cell: _Cell) -> pl.DataFrame:
        answers = self.task.answers(cell.attribute)
        scores = per_class_scores(cell.gold, cell.predicted, answers.cardinality)
        if cell.kind in VOTERS:
            # Blank for the labels it does not vote here: an LF of one label had a row
            # of zeros for every other (trial 48b), as if it had tried them and failed.
            voted = cell.predicted[cell.predicted != ABSTAIN]
            silent = np.bincount(voted, minlength=answers.cardinality) == 0
            for name in ("precision", "recall", "f1"):
                scores[name] = np.where(silent, np.nan, scores[name])
        return pl.DataFrame(
            {
                "method": method,
                "attribute": cell.attribute,
                "label": answers.labels,
                **scores,
            },
            nan_to_null=True,
        ).filter(pl.Series(self._scored(cell)))

    def _confusion(self, method: str, cell: _Cell) -> pl.DataFrame:
        answers = self.task.answers(cell.attribute)
        outcome = pl.DataFrame(
            {
                "gold": answers.decode(cell.gold),
                "predicted": answers.decode(cell.predicted).fill_null(ABSTAINED),
            }
        )
        order = pl.Enum([*answers.labels, ABSTAINED])
        return (
            outcome.group_by("gold", "predicted")
            .len("count")
            .sort(pl.col("gold").cast(order), pl.col("predicted").cast(order))
            .select(
                pl.lit(method).alias("method"),
                pl.lit(cell.attribute).alias("attribute"),
                "gold",
                "predicted",
                "count",
            )
        )


def mentioned_f1(gold: list[np.ndarray], predicted: list[np.ndarray], absent: int) -> float:
    """Micro-F1 over the (text, attribute, answer) pairs that say an attribute is there:
    every answer but ``absent`` (``"none"``, ``"no"``), in gold and predicted alike; 0
    without any pair on either side.

    Examples
    --------
    >>> mentioned_f1([np.array([0, 2, 1])], [np.array([0, 1, 2])], absent=2)
    0.5
    """
    gold_pairs = predicted_pairs = true = 0
    for g, p in zip(gold, predicted, strict=True):
        said = (p != absent) & (p != ABSTAIN)
        gold_pairs += int((g != absent).sum())
        predicted_pairs += int(said.sum())
        true += int((said & (p == g)).sum())
    total = gold_pairs + predicted_pairs
    return 2 * true / total if total else 0.0


def _gold(workspace: Workspace, split: str) -> pl.DataFrame:
    return workspace.sql(
        "SELECT id, text, gold FROM examples WHERE split = ? AND gold IS NOT NULL ORDER BY id",
        [split],
    )


def _stored_predictions(workspace: Workspace, split: str, attribute: str) -> pl.DataFrame:
    return workspace.sql(
        """SELECT e.id, p.model, p.label, p.probabilities
           FROM examples e JOIN predictions p ON p.example_id = e.id
           WHERE e.split = ? AND e.gold IS NOT NULL AND p.attribute = ? ORDER BY e.id""",
        [split, attribute],
    )


def _warn_if_fitted_on(workspace: Workspace, split: str) -> None:
    """Warn where the stored label model learned from ``split``'s gold labels: its
    scores there are not held out."""
    row = first_row(
        workspace.con,
        """SELECT config->>'gold_split' FROM runs WHERE step = 'aggregate'
           ORDER BY run_id DESC LIMIT 1""",
    )
    if row and row[0] == split:
        warnings.warn(
            f"the label model was fitted on the {split} split's gold labels (--gold-split "
            f"{split}), so its scores on {split} are not held out: fit with another split's "
            "gold to score it here",
            LabelkitWarning,
            stacklevel=3,
        )


def _trained_from(model: Path) -> dict[str, Any] | None:
    """What the model's ``meta.json`` records of its training (``record_provenance``);
    None for a model from before that, or one that is no folder (an installed package
    is read by its path too)."""
    meta = model / "meta.json"
    try:
        made = (
            json.loads(meta.read_text(encoding="utf-8")).get("trained_from")
            if meta.is_file()
            else None
        )
    except (OSError, ValueError):
        return None
    return made if isinstance(made, dict) else None


def _warn_if_out_of_date(workspace: Workspace, model_path: str | Path) -> None:
    """Warn where the model at ``model_path``, trained in this workspace, is out of date
    with it: it learnt from the labels of an ``aggregate`` run other than the stored one,
    so the label model row beside it is not its teacher (trial 48b: trained on auto's
    labels, scored beside dawid_skene), or people decided on its train texts since
    (``_warn_if_reviewed_since``)."""
    model = Path(model_path).resolve()
    made = _trained_from(model)
    if made is not None:
        # Its own record, wherever it was copied or installed (trial 49c: the folder's
        # path, logged as given, was read from wherever evaluate ran), and the workspace
        # by its id, wherever it was copied (trial 53b: a moved workspace, by its path,
        # was another, and the warning went).
        trained_in = (
            made["workspace_id"] == workspace.identity
            if made.get("workspace_id")
            else made.get("workspace") == str(workspace.path.resolve())
        )
        if not trained_in:
            return
        teacher = made.get("label_model")
    else:
        trained = workspace.sql(
            """SELECT config->>'output_dir' AS output_dir, config->'label_model' AS taught
               FROM runs WHERE step = 'train' ORDER BY run_id DESC"""
        )
        # The folder trained into holds model-best and model-last.
        here = [
            taught
            for output_dir, taught in trained.iter_rows()
            if output_dir and Path(output_dir).resolve() in (model, model.parent)
        ]
        teacher = next((json.loads(taught) for taught in here if taught), None)
        if here and teacher is None:
            # Trial 61a: a model of labelkit 0.1, trained here before the teacher and
            # the review were recorded, was scored beside today's label model unsaid.
            warnings.warn(
                f"{model_path} was trained here by a labelkit that recorded neither its "
                "teacher nor the review it learnt from: the label model scored beside it "
                "may not be its teacher, and reviews since are unknown to it; train it "
                "again to compare the two on one set of labels",
                StaleModelWarning,
                stacklevel=3,
            )
            return
    if made is not None:
        _warn_if_reviewed_since(workspace, model_path, made.get("reviewed") or {})
    now = label_model_run(workspace)
    if not teacher or not now or teacher["run_id"] == now["run_id"]:
        return
    warnings.warn(
        f"{model_path} learnt from the labels of {teacher['model']} (aggregate run "
        f"{teacher['run_id']}); the workspace's label model is now {now['model']} (run "
        f"{now['run_id']}), so the label model scored beside it is not its teacher: train "
        "it again on these labels to compare the two",
        StaleModelWarning,
        stacklevel=3,
    )


def _warn_if_reviewed_since(
    workspace: Workspace, model_path: str | Path, reviewed: dict[str, Any]
) -> None:
    """Warn where people decided on train texts after the model learnt from the review
    (trial 59d: 300 decisions imported after training changed 226 training labels, and
    neither evaluate nor package said so)."""
    last = reviewed.get("last_decision_id")
    since = first_row(
        workspace.con,
        """SELECT count(*) FROM decisions d JOIN examples e ON e.id = d.example_id
           WHERE d.decision_id > ? AND e.split = 'train' AND d.action <> 'skip'""",
        [last or 0],
    )
    if since and since[0]:
        learnt = f"the review up to decision {last}" if last else "no review decision"
        warnings.warn(
            f"{model_path} learnt from {learnt}; {counted(since[0], 'decision')} on train "
            "texts came since, which it has not learnt from: train it again to learn them",
            StaleModelWarning,
            stacklevel=4,
        )


def _score_training_labels(scored: _Scores, workspace: Workspace) -> None:
    """The label model's training labels and the cleaned set, against train gold."""
    task = scored.task
    train = _gold(workspace, "train")
    stored = {a: _stored_predictions(workspace, "train", a) for a in task.targets}
    if train.height == 0 or any(frame.height == 0 for frame in stored.values()):
        return
    with warnings.catch_warnings():
        # evaluate has said so already.
        warnings.simplefilter("ignore", OutdatedWarning)
        cleaned = cleaned_labels(workspace)
    for attribute, predictions in stored.items():
        answers = task.answers(attribute)
        gold = answers.encode(task.gold_answers(train["gold"], attribute))
        given = train.join(predictions, on="id", how="left", maintain_order="left")
        if "attribute" in cleaned.columns:
            chosen = cleaned.filter(pl.col("attribute") == attribute)
        else:
            chosen = cleaned
        chosen = train.join(chosen, on="id", how="left", maintain_order="left")
        model = predictions["model"][0]
        for method, labels in ((f"{model} labels", given), ("cleaned labels", chosen)):
            scored.add(
                method,
                "training labels",
                "train",
                gold,
                answers.encode(labels["label"]),
                attribute=attribute,
            )


def _score_small_model(
    scored: _Scores,
    model: str | Path,
    examples: pl.DataFrame,
    gold: np.ndarray | None,
    split: str,
    suffix: str = "",
) -> None:

    import spacy

    texts = examples["text"].to_list()
    nlp, cost = _small_model(model, texts)
    task = scored.task
    _require_model_of(nlp, task, model)
    spacy_model = isinstance(nlp, spacy.Language)
    if task.kind != "classification":
        from labelkit.train.ship import label_table

        predicted = label_table(nlp, examples.select("text"), f"{split} split")
        for attribute in task.targets:
            answers = task.answers(attribute)
            scored.add(
                f"small model{suffix}",
                "small model",
                split,
                answers.encode(task.gold_answers(examples["gold"], attribute)),
                answers.encode(predicted[f"predicted_{attribute}"]),
                attribute=attribute,
                **cost,
            )
        return
    if not spacy_model:
        # A scorer of another library: scores in its own label order.
        order = [nlp.labels.index(label) for label in task.labels]
        proba = np.array(list(nlp.pipe(texts)))[:, order]
        from labelkit.train.scorers import scorer_kind

        method = f"small model ({scorer_kind(nlp.path).short_name}){suffix}"
        scored.add(method, "small model", split, gold, proba.argmax(axis=1), proba, **cost)
        return
    pipe = next(name for name in nlp.pipe_names if name.startswith("textcat"))
    proba = np.array(
        [[doc.cats[label] for label in task.labels] for doc in nlp.pipe(texts, batch_size=256)]
    )
    scored.add(
        f"small model ({pipe}){suffix}",
        "small model",
        split,
        gold,
        proba.argmax(axis=1),
        proba,
        **cost,
    )


def _require_model_of(nlp: SmallModel, task: Task, model: str | Path) -> None:
    """Refuse a model trained for another kind of task, labels or attributes than the
    workspace's (an aspects model on a multi-label workspace failed deep in scoring on
    a missing column): models with attributes or spans record their task, and one that
    records none gives one label per text."""
    recorded = getattr(nlp, "meta", {}).get("labelkit", {}).get("task")
    if recorded is None:
        if task.kind != "classification":
            raise LabelkitError(f"{model} gives one label per text; this task is {task.kind}")
        from labelkit.train.ship import scored_labels

        answers = scored_labels(nlp)
        if set(task.labels) - set(answers):
            # Trial 51c: a spam model on a three-topic workspace failed in a ValueError.
            raise LabelkitError(
                f"{model} answers the labels {answers}, not this workspace's {list(task.labels)}"
            )
        return
    trained = Task.from_json(json.dumps(recorded))
    if (trained.kind, set(trained.labels), set(trained.attributes)) != (
        task.kind,
        set(task.labels),
        set(task.attributes),
    ):
        raise LabelkitError(
            f"{model} was trained for another task ({_described(trained)}) than this "
            f"workspace's ({_described(task)})"
        )


def _described(task: Task) -> str:
    """A task in a few words: its kind, labels and attributes."""
    attributes = f", attributes {list(task.attributes)}" if task.attributes else ""
    return f"{task.kind}, labels {list(task.labels)}{attributes}"


def _small_model(
    model: str | Path, texts: list[str], timed_words: int = TIMED_WORDS
) -> tuple[SmallModel, dict[str, float]]:
    """The trained model (a spaCy pipeline or another library's scorer), its size on disk
    and its words per second on ``texts``."""
    from labelkit.train.scorers import scorer_folder, scorer_kind
    from labelkit.train.ship import load_small_model

    path = Path(model)
    scorer = scorer_folder(model)
    nlp = load_small_model(model)
    on_disk = Path(nlp.path) if nlp.path is not None else path
    size = sum(f.stat().st_size for f in on_disk.rglob("*") if f.is_file())
    kind = None if scorer is None else scorer_kind(scorer)
    if kind is not None and kind.timed_words is not None:
        timed_words = min(timed_words, kind.timed_words)
    speed = words_per_second(nlp, texts, words=timed_words)
    return nlp, {"size_mb": size / 1e6, "words_per_s": speed}


def words_per_second(
    nlp: SmallModel, texts: list[str], runs: int = TIMED_RUNS, *, words: int = TIMED_WORDS
) -> float:
    """Median words per second of ``nlp.pipe`` over ``texts`` on one CPU core.

    The calling thread is pinned to one core, BLAS and torch to one thread, and the time
    is that thread's CPU time: on a loaded machine (or under ``nice``) the wall clock
    also counts the time other processes held the core, which made a spaCy ner of
    12,000 words per CPU second read as 1,500. ``texts`` are repeated to at least
    ``words`` words (50,000) per pass; one pass warms up first.

    Examples
    --------
    >>> words_per_second(spacy.load("models/spam/model-best"), texts)
    152000.0
    """
    given = sum(len(text.split()) for text in texts)
    if given == 0:
        raise LabelkitError("no words to time")
    batch = texts * math.ceil(words / given)
    timings = []
    with _one_core():
        for _ in range(runs + 1):
            started = time.thread_time()
            for _ in nlp.pipe(batch, batch_size=256):
                pass
            timings.append(time.thread_time() - started)
    return given * (len(batch) // len(texts)) / statistics.median(timings[1:])


@contextmanager
def _one_core() -> Iterator[None]:
    pinned = hasattr(os, "sched_setaffinity")
    if pinned:
        cores = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(cores)})
    # torch keeps its own thread pool, which threadpoolctl does not reach; a model
    # that needs torch has imported it by now.
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    try:
        if torch is not None:
            torch.set_num_threads(1)
        with threadpool_limits(limits=1):
            yield
    finally:
        if pinned:
            os.sched_setaffinity(0, cores)
        if torch is not None:
            torch.set_num_threads(threads)


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


def _whole_number(value: object) -> bool:
    """An int, or a float of a whole number (4.0 from a pandas column with NaN), not a
    bool: what equals the same offset in a set of spans."""
    if isinstance(value, bool):
        return False
    return isinstance(value, numbers.Integral) or (
        isinstance(value, numbers.Real) and float(value).is_integer()
    )


def _check_offsets(side: str, documents: list[set[tuple[Any, ...]]]) -> None:
    """Refuse a span whose start or end is not a whole number, naming it (trial 56a:
    polars read ``[21, 24, "SKILL"]`` from JSON lines as three strings, and every score
    came out 0 without a word)."""
    for number, spans in enumerate(documents):
        for span in spans:
            if len(span) < 3 or not all(map(_whole_number, span[:2])):
                raise InputError(
                    f"span scores: {side} span {list(span)} of document {number} is not "
                    "(start, end, label) with whole-number offsets (JSON read into polars "
                    "gives a list of mixed values as strings: cast its offsets to integers)"
                )


def span_scores(
    gold: Sequence[Iterable[Sequence[Any]]],
    predicted: Sequence[Iterable[Sequence[Any]]],
    labels: Sequence[str],
) -> dict[str, dict[str, Any]]:
    """Entity-level precision, recall and F1: a predicted span counts only where a gold
    span of the same document has exactly its start, end and label.

    ``gold`` and ``predicted`` hold one list of spans per document, each span
    ``(start, end, label, ...)`` in any offsets (characters or tokens) as long as both
    use the same; anything after the label (a confidence) is ignored, and a span listed
    twice counts once. Labels outside ``labels`` count in ``micro`` only.

    Returns
    -------
    ``{"per_label": {label: scores}, "micro": scores, "macro": scores}``, where scores
    are ``precision``, ``recall``, ``f1`` (0 where there is nothing to divide by),
    ``support`` (gold spans), ``predicted`` and ``correct``. ``micro`` pools every span;
    ``macro`` averages the per-label precision, recall and F1.

    Examples
    --------
    >>> scores = span_scores([[(0, 2, "TERM"), (5, 6, "TERM")]], [[(0, 2, "TERM", 0.9),
    ...                      (4, 6, "TERM", 0.7)]], ["TERM"])
    >>> scores["micro"]["precision"], scores["micro"]["recall"], scores["micro"]["f1"]
    (0.5, 0.5, 0.5)
    """
    if len(gold) != len(predicted):
        raise LabelkitError(
            f"span scores: gold for {len(gold)} documents, predictions for {len(predicted)}"
        )
    if not labels:
        raise LabelkitError("span scores: no labels to score")
    true_sets = [{tuple(span[:3]) for span in spans} for spans in gold]
    predicted_sets = [{tuple(span[:3]) for span in spans} for spans in predicted]
    for side, sets in (("gold", true_sets), ("predicted", predicted_sets)):
        _check_offsets(side, sets)

    def count(sets: list[set[tuple[Any, ...]]]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for spans in sets:
            for span in spans:
                counts[span[2]] = counts.get(span[2], 0) + 1
        return counts

    support = count(true_sets)
    made = count(predicted_sets)
    correct = count([t & p for t, p in zip(true_sets, predicted_sets, strict=True)])

    def scores(right: int, guessed: int, present: int) -> dict[str, Any]:
        precision = right / guessed if guessed else 0.0
        recall = right / present if present else 0.0
        f1 = 2 * right / (guessed + present) if guessed + present else 0.0
        return {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": present,
            "predicted": guessed,
            "correct": right,
        }

    per_label = {
        label: scores(correct.get(label, 0), made.get(label, 0), support.get(label, 0))
        for label in labels
    }
    micro = scores(sum(correct.values()), sum(made.values()), sum(support.values()))
    macro = {
        key: float(np.mean([per_label[label][key] for label in labels]))
        for key in ("precision", "recall", "f1")
    } | {key: micro[key] for key in ("support", "predicted", "correct")}
    return {"per_label": per_label, "micro": micro, "macro": macro}


SPAN_SCHEMA = {
    "method": pl.String,
    "kind": pl.String,
    "split": pl.String,
    "precision": pl.Float64,
    "recall": pl.Float64,
    "f1": pl.Float64,
    "macro_f1": pl.Float64,
    "size_mb": pl.Float64,
    "words_per_s": pl.Float64,
}
SPAN_NONE = "none"


def _evaluate_spans(
    workspace: Workspace, examples: pl.DataFrame, models: list[str | Path], split: str
) -> Evaluation:
    """``evaluate`` for a spans task: every source, the label model and the small model
    on the gold spans of ``examples`` (see ``evaluate``)."""
    task = workspace.task
    ids = examples["id"].to_list()
    gold = [[tuple(span) for span in json.loads(spans)] for spans in examples["gold"]]
    methods: list[tuple[str, str, list[list[tuple[Any, ...]]], dict[str, float]]] = []
    with registered(workspace.con, "scored_examples", examples.select("id")):
        votes = workspace.sql(
            """SELECT s.name AS method, s.kind, v.example_id, v.start, v."end", v.label
               FROM sources s JOIN scored_examples x ON true
               LEFT JOIN span_votes v ON v.source = s.name AND v.example_id = x.id
                                     AND v.label <> 'O'
               ORDER BY s.name"""
        )
        predicted = workspace.sql(
            """SELECT m.model AS method, 'label model' AS kind, p.example_id, p.start,
                      p."end", p.label
               FROM (SELECT DISTINCT model FROM span_predictions) m
               JOIN scored_examples x ON true
               LEFT JOIN span_predictions p ON p.model = m.model AND p.example_id = x.id"""
        )
    for (method, kind), rows in votes.group_by("method", "kind", maintain_order=True):
        methods.append((str(method), str(kind), _spans_by_example(rows, ids), {}))
    if votes.height and "majority_vote" not in set(predicted["method"]):
        majority = _majority_spans(workspace, ids, label_model_sources(workspace))
        methods.append(("majority_vote", "label model", majority, {}))
    for (method, kind), rows in predicted.group_by("method", "kind", maintain_order=True):
        methods.append((str(method), str(kind), _spans_by_example(rows, ids), {}))
    for model in models:
        texts = examples["text"].to_list()
        nlp, cost = _small_model(model, texts, NER_TIMED_WORDS)
        _require_model_of(nlp, workspace.task, model)
        from labelkit.train.ner import predicted_spans

        found = [predicted_spans(doc) for doc in nlp.pipe(texts, batch_size=256)]
        # Named by its tagger (trial 47: a spancat's row read "small model (ner)").
        tagger = "spancat" if "spancat" in nlp.pipe_names else "ner"
        named = f"small model ({tagger}){_named(model, models)}"
        methods.append((named, "small model", found, cost))
    if not methods:
        raise LabelkitError(
            f"nothing to evaluate in {workspace.path}: no span votes, no span predictions "
            "and no model given; run `labelkit apply` first, or evaluate a trained model"
        )
    summary, per_class, confusion = [], [], []
    for method, kind, spans, extra in methods:
        scores = span_scores(gold, spans, task.labels)
        # A source that marks nothing here is not scored 0 (trial K: an LLM run on
        # another split, an LF that only votes "O"), as aggregate leaves it blank too.
        silent = kind in VOTERS and not any(spans)
        summary.append(
            {
                "method": method,
                "kind": kind,
                "split": split,
                **{
                    key: None if silent else scores["micro"][key]
                    for key in ("precision", "recall", "f1")
                },
                "macro_f1": None if silent else scores["macro"]["f1"],
                **extra,
            }
        )
        blank = dict.fromkeys(("precision", "recall", "f1") if silent else ())
        per_class.append(
            pl.DataFrame(
                [
                    {"method": method, "label": label, **s, **blank}
                    for label, s in scores["per_label"].items()
                ]
            )
        )
        confusion.append(_span_confusion(method, gold, spans))
    return Evaluation(
        pl.DataFrame(summary, schema=SPAN_SCHEMA),
        pl.concat(per_class, how="vertical_relaxed"),
        pl.concat(confusion),
        overlapping_gold=(sum(map(_overlapping, gold)), sum(map(len, gold))),
    )


def _overlapping(spans: Sequence[Sequence[Any]]) -> int:
    """How many of one text's ``spans`` a tagger of one entity per token must miss: all
    but the most that do not overlap (earliest end first, which finds that many). The
    longest alone undercounted what it can find: a DRUG and a DOSE inside one
    MEDICATION are two spans to find (trial 58d: "at most 0.526" beside a ner's 0.741)."""
    kept, reached = 0, -1
    for start, end, *_ in sorted(spans, key=lambda span: (span[1], span[0])):
        if start >= reached:
            kept, reached = kept + 1, end
    return len(spans) - kept


def _among(ids: Sequence[str], wanted: Sequence[str] | pl.Series) -> np.ndarray:
    """Which of ``ids`` are in ``wanted``, as a boolean array, by hashing: ``np.isin``
    of two string (object) arrays compares every pair (trial 66a: `evaluate` of 2,000
    test texts took 14 minutes on 100,000 aspect texts, and `aggregate` as long).

    Examples
    --------
    >>> _among(["a", "b", "c"], ["c", "a"])
    array([ True, False,  True])
    """
    return (
        pl.Series(ids, dtype=pl.String)
        .is_in(pl.Series(wanted, dtype=pl.String).implode())
        .to_numpy()
    )


def _train_rows(workspace: Workspace, ids: list[str], scored: np.ndarray) -> np.ndarray:
    """Which of ``ids`` (a label matrix's rows) are in the train split, where a label
    model is fitted; the ``scored`` rows where the workspace has no train split."""
    train = workspace.sql("SELECT id FROM examples WHERE split = 'train'")["id"]
    return _among(ids, train) if len(train) else scored


def _majority_spans(
    workspace: Workspace, ids: list[str], sources: Sequence[str] | None = None
) -> list[list[tuple[Any, ...]]]:
    """Majority vote's spans over ``sources`` (default every source) on each of ``ids``,
    as ``aggregate`` scores it beside the label model."""
    # Imported here: the span aggregation module scores with this module's span_scores.
    from labelkit.aggregate.span_workspace import majority_vote_spans, read_token_votes

    corpus = read_token_votes(workspace, sources)
    rows = _among(corpus.example_ids, ids)
    return _spans_by_example(majority_vote_spans(corpus, rows, workspace.task.labels), ids)


def _spans_by_example(rows: pl.DataFrame, ids: list[str]) -> list[list[tuple[Any, ...]]]:
    """Each example's spans, in the order of ``ids`` (``[]`` where it has none)."""
    grouped = (
        rows.filter(pl.col("label").is_not_null())
        .group_by("example_id", maintain_order=True)
        .agg("start", "end", "label")
    )
    found = {
        example_id: list(zip(starts, ends, labels, strict=True))
        for example_id, starts, ends, labels in grouped.iter_rows()
    }
    return [found.get(example_id, []) for example_id in ids]


def _span_confusion(
    method: str, gold: list[list[tuple[Any, ...]]], predicted: list[list[tuple[Any, ...]]]
) -> pl.DataFrame:
    """Spans counted by bounds: the gold type against the predicted one where both sides
    have a span with those bounds, ``none`` on the side that has none."""
    pairs: list[tuple[str, str]] = []
    for true_spans, guessed_spans in zip(gold, predicted, strict=True):
        by_bounds: dict[tuple[int, int], tuple[list[str], list[str]]] = {}
        for side, spans in enumerate((true_spans, guessed_spans)):
            for start, end, label, *_ in set(spans):
                by_bounds.setdefault((start, end), ([], []))[side].append(label)
        for true, guessed in by_bounds.values():
            both = sorted(set(true) & set(guessed))
            rest_true = sorted(set(true) - set(both))
            rest_guessed = sorted(set(guessed) - set(both))
            pairs += [(label, label) for label in both]
            pairs += list(zip(rest_true, rest_guessed, strict=False))
            n = min(len(rest_true), len(rest_guessed))
            pairs += [(label, SPAN_NONE) for label in rest_true[n:]]
            pairs += [(SPAN_NONE, label) for label in rest_guessed[n:]]
    outcome = pl.DataFrame(pairs, schema={"gold": pl.String, "predicted": pl.String}, orient="row")
    return (
        outcome.group_by("gold", "predicted")
        .len("count")
        .sort("gold", "predicted")
        .select(pl.lit(method).alias("method"), "gold", "predicted", "count")
    )
