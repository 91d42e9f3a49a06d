"""The label-model interface, and the policy for examples no source voted on."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from labelkit.task import ABSTAIN


class LabelModel(Protocol):
    """Combines a label matrix into per-example label probabilities.

    ``fit`` learns from codes (n_examples x n_sources, -1 = abstain) and the number
    of classes; ``predict_proba`` returns an (n_examples x n_classes) array whose rows
    sum to one. ``predict`` follows the shared policy of ``predict_from_proba``.
    """

    name: str

    def fit(self, codes: np.ndarray, cardinality: int) -> LabelModel: ...

    def predict_proba(self, codes: np.ndarray) -> np.ndarray: ...


def predict_from_proba(codes: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """The predicted code per example: the most probable class, ``ABSTAIN`` where no
    source voted or where the top classes tie exactly (no evidence either way).

    Examples
    --------
    >>> predict_from_proba(np.array([[0, -1], [-1, -1]]), np.array([[0.9, 0.1], [0.5, 0.5]]))
    array([ 0, -1])
    """
    predicted = proba.argmax(axis=1)
    top = np.sort(proba, axis=1)
    tied = np.isclose(top[:, -1], top[:, -2]) if proba.shape[1] > 1 else np.zeros(len(proba), bool)
    no_votes = (codes == ABSTAIN).all(axis=1)
    return np.where(tied | no_votes, ABSTAIN, predicted)
