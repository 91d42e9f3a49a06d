"""Aggregation: combine the votes of every source into one label per example."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from labelkit.aggregate.base import LabelModel, predict_from_proba
from labelkit.aggregate.models import MajorityVote, SnorkelLabelModel
from labelkit.errors import LabelkitError
from labelkit.registry import label_models, resolve
from labelkit.votes import LabelMatrix
from labelkit.workspace import Workspace, registered

__all__ = [
    "LabelModel",
    "MajorityVote",
    "SnorkelLabelModel",
    "aggregate",
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
    return factory(**params)


def aggregate(
    workspace: Workspace,
    model: str = "snorkel",
    *,
    fit_split: str = "train",
    sources: list[str] | None = None,
    **params: Any,
) -> pl.DataFrame:
    """Fit a label model on one split's votes, predict every example, store the predictions.

    Returns the predictions frame: ``example_id, label`` (null where the model abstains),
    ``confidence`` and ``probabilities`` in the task's label order.

    Examples
    --------
    >>> predictions = aggregate(ws, "snorkel")
    >>> predictions.columns
    ['example_id', 'label', 'confidence', 'probabilities']
    """
    workspace.require("votes", "labelkit apply")
    everything = LabelMatrix.from_workspace(workspace, sources=sources)
    fit_rows = workspace.sql("SELECT id FROM examples WHERE split = ? ORDER BY id", [fit_split])[
        "id"
    ]
    if fit_rows.len() == 0:
        raise LabelkitError(f"no examples in split {fit_split!r} to fit the label model on")
    in_fit = np.isin(np.array(everything.example_ids), fit_rows.to_numpy())
    label_model = make_label_model(model, **params).fit(
        everything.codes[in_fit], everything.task.cardinality
    )
    proba = label_model.predict_proba(everything.codes)
    predicted = predict_from_proba(everything.codes, proba)
    predictions = pl.DataFrame(
        {
            "example_id": everything.example_ids,
            "label": everything.task.decode(predicted),
            "confidence": proba.max(axis=1),
            "probabilities": proba.tolist(),
        }
    )
    config = {"model": model, "fit_split": fit_split, "sources": everything.sources, **params}
    with workspace.run("aggregate", config) as run:
        run.con.execute("DELETE FROM predictions")
        with registered(run.con, "new_predictions", predictions):
            run.con.execute(
                "INSERT INTO predictions SELECT example_id, ?, label, confidence, probabilities, ? "
                "FROM new_predictions",
                [model, run.id],
            )
    return predictions
