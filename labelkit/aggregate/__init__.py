"""Aggregation: combine the votes of every source into one label per example."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from labelkit.aggregate.attributes import answer_attribute
from labelkit.aggregate.auto import AutoLabelModel
from labelkit.aggregate.base import (
    BaseLabelModel,
    LabelModel,
    expected_accuracy,
    fit_predict,
    predict_from_proba,
    store_predictions,
)
from labelkit.aggregate.dawid_skene import DawidSkene
from labelkit.aggregate.models import MajorityVote, SnorkelLabelModel, WeightedMajorityVote
from labelkit.errors import InputError, LabelkitError
from labelkit.registry import label_models, resolve
from labelkit.votes import LabelMatrix
from labelkit.workspace import Workspace

__all__ = [
    "AutoLabelModel",
    "DawidSkene",
    "LabelModel",
    "MajorityVote",
    "SnorkelLabelModel",
    "WeightedMajorityVote",
    "aggregate",
    "expected_accuracy",
    "label_model_accuracy",
    "load_label_model",
    "make_label_model",
    "predict_from_proba",
]


def make_label_model(name: str, **params: Any) -> LabelModel:
    """A label model from the registry by name.

    Examples
    --------
    >>> make_label_model("snorkel", epochs=200).name
    'snorkel'
    """
    factory = resolve(label_models, name)
    try:
        return factory(**params)
    except TypeError as error:
        raise InputError(f"label model {name!r}: {error}") from None


def load_label_model(path: str | Path) -> BaseLabelModel:
    """A fitted label model saved with ``save``.

    Examples
    --------
    >>> DawidSkene().fit(train_codes, 2).save("ds.json")
    >>> load_label_model("ds.json").predict(test_codes)
    array([1, 0, ...])
    """
    try:
        document = json.loads(Path(path).read_text())
        model = make_label_model(document["model"], **document["config"])
        return model.restore(document["cardinality"], document["n_sources"], document["state"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(f"{path}: not a saved label model ({error})") from None


def aggregate(
    workspace: Workspace,
    model: str = "auto",
    *,
    fit_split: str = "train",
    gold_split: str | None = None,
    sources: list[str] | None = None,
    save_to: str | Path | None = None,
    **params: Any,
) -> pl.DataFrame:
    """Fit a label model on one split's votes, predict every example, store the predictions.

    With ``gold_split`` (e.g. ``"dev"``), that split's examples with gold labels join
    the fit with their labels as ``gold`` (see each model's ``fit``). ``save_to``
    writes the fitted model as JSON (see ``load_label_model``).

    A task with attributes (aspects, multi-label) is answered one attribute at a time
    (``labelkit.aggregate.attributes``); its predictions have an ``attribute`` column
    and ``save_to`` is a folder of one model per attribute and part. Each presence
    model gets the class balance estimated over the fit rows (silence counted as
    absent); a given ``class_balance`` is the value models'.

    Returns the predictions frame: ``example_id, label`` (null where the model abstains),
    ``confidence`` and ``probabilities`` in the task's label order (in
    ``Task.answers(attribute)``'s order where there are attributes).

    A spans task goes through a span label model (``model``: ``auto``, the default,
    ``majority_vote`` or ``dawid_skene``; see ``labelkit.aggregate.span_workspace``):
    its predictions, one row per span, ``example_id, start, end, label, confidence``,
    replace ``span_predictions``. Span label models are not saved (``save_to``).

    Examples
    --------
    >>> predictions = aggregate(ws, "dawid_skene", gold_split="dev")
    >>> predictions.columns
    ['example_id', 'label', 'confidence', 'probabilities']
    """
    task = workspace.task
    if task.kind == "spans":
        # Imported here: span_workspace scores with labelkit.evaluation, which imports
        # this package.
        from labelkit.aggregate.span_workspace import aggregate_spans

        if save_to is not None:
            raise InputError("span label models are not saved: leave out save_to (--save)")
        return aggregate_spans(
            workspace, model, fit_split=fit_split, gold_split=gold_split, sources=sources, **params
        ).predictions
    predictions, used_sources = _predict(
        workspace, model, fit_split, gold_split, sources, save_to, params
    )
    config = {
        "model": model,
        "fit_split": fit_split,
        "gold_split": gold_split,
        "sources": used_sources,
        **params,
    }
    stored = (
        predictions
        if "attribute" in predictions.columns
        else predictions.with_columns(attribute=pl.lit(""))
    )
    store_predictions(
        workspace,
        "predictions",
        stored,
        ["example_id", "label", "confidence", "probabilities", "attribute"],
        config,
    )
    return predictions


def label_model_accuracy(
    workspace: Workspace,
    model: str = "auto",
    *,
    split: str = "dev",
    fit_split: str = "train",
    gold_split: str | None = None,
    **params: Any,
) -> float | None:
    """The accuracy on ``split``'s gold of a label model fitted as ``aggregate`` fits it,
    in memory: nothing is stored. An example the model leaves undecided counts as
    wrong; on a task with attributes each (example, attribute) counts once. None when
    ``split`` has no gold labels.

    Examples
    --------
    >>> round(label_model_accuracy(ws, "majority_vote"), 3)
    0.846
    """
    task = workspace.task
    gold = workspace.sql(
        "SELECT id AS example_id, gold FROM examples WHERE split = ? AND gold IS NOT NULL",
        [split],
    )
    if task.kind == "spans" or gold.height == 0:
        return None
    predictions, _ = _predict(workspace, model, fit_split, gold_split, None, None, params)
    answers = pl.concat(
        gold.select(
            "example_id",
            pl.lit(attribute).alias("attribute"),
            task.gold_answers(gold["gold"], attribute).alias("answer"),
        )
        for attribute in task.targets
    ).drop_nulls("answer")
    if "attribute" not in predictions.columns:
        predictions = predictions.with_columns(attribute=pl.lit(""))
    scored = answers.join(predictions, on=["example_id", "attribute"], how="left")
    return float((scored["label"] == scored["answer"]).fill_null(False).mean())


def _predict(
    workspace: Workspace,
    model: str,
    fit_split: str,
    gold_split: str | None,
    sources: list[str] | None,
    save_to: str | Path | None,
    params: dict[str, Any],
) -> tuple[pl.DataFrame, list[str]]:
    """``aggregate``'s predictions for a task with a label per attribute, and the sources
    they used, computed in memory."""
    task = workspace.task
    workspace.require("votes", "labelkit apply")
    rows = workspace.sql("SELECT id, split, gold FROM examples ORDER BY id")
    in_fit = (rows["split"] == fit_split).to_numpy()
    if not in_fit.any():
        raise LabelkitError(f"no examples in split {fit_split!r} to fit the label model on")
    with_gold = None
    if gold_split is not None:
        with_gold = ((rows["split"] == gold_split) & rows["gold"].is_not_null()).to_numpy()
        if not with_gold.any():
            raise LabelkitError(f"no gold labels in split {gold_split!r} to fit with")
    parts, used_sources = [], []
    for attribute in task.targets:
        votes = LabelMatrix.from_workspace(workspace, sources=sources, attribute=attribute)
        assert votes.example_ids == rows["id"].to_list()
        gold = None
        if with_gold is not None:
            answers = votes.task.encode(task.gold_answers(rows["gold"], attribute))
            gold = np.where(with_gold, answers, -1)
        fit_rows = in_fit if with_gold is None else in_fit | with_gold
        if task.kind == "classification":
            proba, predicted = fit_predict(
                make_label_model(model, **params),
                votes.codes,
                task.cardinality,
                fit_rows,
                gold,
                save_to,
            )
        else:
            proba, predicted = answer_attribute(
                task,
                attribute,
                votes.codes,
                fit_rows,
                gold,
                lambda **balance: make_label_model(model, **(params | balance)),
                None if save_to is None else Path(save_to),
            )
        answers_task = task.answers(attribute)
        part = pl.DataFrame(
            {
                "example_id": rows["id"],
                "label": answers_task.decode(predicted),
                "confidence": proba.max(axis=1),
                # From the 2-d array in one step: ``proba.tolist()`` took 24 of the 33 s
                # majority vote spent on a million texts.
                "probabilities": pl.Series(proba).cast(pl.List(pl.Float64)),
            }
        )
        if task.kind != "classification":
            part = part.insert_column(1, pl.lit(attribute).alias("attribute"))
        parts.append(part)
        used_sources = votes.sources
    return pl.concat(parts), used_sources
