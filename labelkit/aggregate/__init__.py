"""Aggregation: combine the votes of every source into one label per example."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from labelkit.aggregate.auto import AutoLabelModel
from labelkit.aggregate.base import BaseLabelModel, LabelModel, predict_from_proba
from labelkit.aggregate.dawid_skene import DawidSkene
from labelkit.aggregate.models import MajorityVote, SnorkelLabelModel, WeightedMajorityVote
from labelkit.errors import InputError, LabelkitError
from labelkit.registry import label_models, resolve
from labelkit.votes import LabelMatrix
from labelkit.workspace import Workspace, registered

__all__ = [
    "AutoLabelModel",
    "DawidSkene",
    "LabelModel",
    "MajorityVote",
    "SnorkelLabelModel",
    "WeightedMajorityVote",
    "aggregate",
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

    Returns the predictions frame: ``example_id, label`` (null where the model abstains),
    ``confidence`` and ``probabilities`` in the task's label order.

    Examples
    --------
    >>> predictions = aggregate(ws, "dawid_skene", gold_split="dev")
    >>> predictions.columns
    ['example_id', 'label', 'confidence', 'probabilities']
    """
    workspace.require("votes", "labelkit apply")
    everything = LabelMatrix.from_workspace(workspace, sources=sources)
    task = everything.task
    rows = pl.DataFrame({"id": everything.example_ids}).join(
        workspace.sql("SELECT id, split, gold FROM examples"), on="id", maintain_order="left"
    )
    in_fit = (rows["split"] == fit_split).to_numpy()
    if not in_fit.any():
        raise LabelkitError(f"no examples in split {fit_split!r} to fit the label model on")
    gold = None
    if gold_split is not None:
        with_gold = ((rows["split"] == gold_split) & rows["gold"].is_not_null()).to_numpy()
        if not with_gold.any():
            raise LabelkitError(f"no gold labels in split {gold_split!r} to fit with")
        in_fit |= with_gold
        gold = np.where(with_gold, task.encode(rows["gold"]), -1)[in_fit]
    label_model = make_label_model(model, **params).fit(
        everything.codes[in_fit], task.cardinality, gold=gold
    )
    if save_to is not None:
        label_model.save(save_to)
    proba = label_model.predict_proba(everything.codes)
    predicted = predict_from_proba(everything.codes, proba)
    predictions = pl.DataFrame(
        {
            "example_id": everything.example_ids,
            "label": task.decode(predicted),
            "confidence": proba.max(axis=1),
            "probabilities": proba.tolist(),
        }
    )
    config = {
        "model": model,
        "fit_split": fit_split,
        "gold_split": gold_split,
        "sources": everything.sources,
        **params,
    }
    with workspace.run("aggregate", config) as run:
        run.con.execute("DELETE FROM predictions")
        with registered(run.con, "new_predictions", predictions):
            run.con.execute(
                "INSERT INTO predictions SELECT example_id, ?, label, confidence, probabilities, ? "
                "FROM new_predictions",
                [model, run.id],
            )
    return predictions
