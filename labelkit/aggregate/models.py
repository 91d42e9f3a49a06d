"""The label models shipped with labelkit, registered by name."""

from __future__ import annotations

import numpy as np

from labelkit.errors import LabelkitError
from labelkit.registry import label_models
from labelkit.task import ABSTAIN


@label_models.register("majority_vote")
class MajorityVote:
    """Each example's label probabilities are its sources' vote shares.

    Ties are exact ties in probability, so ``predict`` abstains on them (Snorkel's
    ``tie_break_policy="abstain"``); an example with no votes gets uniform probabilities.

    Examples
    --------
    >>> MajorityVote().fit(codes, 2).predict_proba(np.array([[1, 1, 0]]))
    array([[0.33333333, 0.66666667]])
    """

    name = "majority_vote"

    def __init__(self) -> None:
        self.cardinality = 0

    def fit(self, codes: np.ndarray, cardinality: int) -> MajorityVote:
        self.cardinality = cardinality
        return self

    def predict_proba(self, codes: np.ndarray) -> np.ndarray:
        counts = np.stack([(codes == k).sum(axis=1) for k in range(self.cardinality)], axis=1)
        totals = counts.sum(axis=1, keepdims=True)
        uniform = np.full_like(counts, 1.0, dtype=float) / self.cardinality
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(totals > 0, counts / np.maximum(totals, 1), uniform)


@label_models.register("snorkel")
class SnorkelLabelModel:
    """Snorkel's LabelModel: learns each source's accuracy from agreements, no gold needed.

    Parameters
    ----------
    epochs, learning_rate, seed
        Passed to ``snorkel.labeling.model.LabelModel.fit``.

    Examples
    --------
    >>> SnorkelLabelModel(epochs=500).fit(train_codes, 2).predict_proba(test_codes)
    """

    name = "snorkel"

    def __init__(self, epochs: int = 500, learning_rate: float = 0.01, seed: int = 0) -> None:
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.seed = seed
        self._model = None

    def fit(self, codes: np.ndarray, cardinality: int) -> SnorkelLabelModel:
        # Imported here: snorkel pulls in torch, which takes seconds to load.
        from snorkel.labeling.model import LabelModel as SnorkelModel

        if codes.shape[1] < 3:
            raise LabelkitError(
                f"Snorkel's LabelModel needs at least 3 sources, got {codes.shape[1]}; "
                "add labeling functions or use majority_vote"
            )
        self._model = SnorkelModel(cardinality=cardinality, verbose=False)
        self._model.fit(
            codes.astype(np.int64),
            n_epochs=self.epochs,
            lr=self.learning_rate,
            seed=self.seed,
            progress_bar=False,
        )
        return self

    def predict_proba(self, codes: np.ndarray) -> np.ndarray:
        if self._model is None:
            raise RuntimeError("fit the label model before predicting")
        proba = self._model.predict_proba(codes.astype(np.int64))
        no_votes = (codes == ABSTAIN).all(axis=1)
        # Snorkel gives unvoted rows its learned prior; we report uniform, as no source spoke.
        proba[no_votes] = 1.0 / proba.shape[1]
        return proba
