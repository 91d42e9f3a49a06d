"""Dawid-Skene: one confusion matrix per source and a class prior, fitted by EM in numpy."""

from __future__ import annotations

from typing import Literal

import numpy as np

from labelkit.aggregate.base import (
    BaseLabelModel,
    ClassBalance,
    class_prior,
    one_hot_votes,
    vote_patterns,
)
from labelkit.registry import label_models
from labelkit.task import ABSTAIN


@label_models.register("dawid_skene")
class DawidSkene(BaseLabelModel):
    """Dawid and Skene's (1979) model: source ``j`` answers ``l`` for true class ``k``
    with probability ``confusion[j, k, l]``; EM alternates the posterior over true
    classes (E) with smoothed counts of answers given those posteriors (M).

    With ``model_abstains`` (the default), an abstain is one more answer a source can
    give, so a source that fires mostly on one class is evidence for the other
    classes when it stays silent, as in Snorkel's generative model. Without it,
    abstains carry no information, as in the original model.

    Parameters
    ----------
    class_balance
        Fixed class prior; estimated by EM if None.
    model_abstains
        Whether silence is evidence (see above).
    smoothing
        Dirichlet pseudo-count added to every confusion cell; keeps rare sources
        from getting confusion entries of exactly 0 or 1.
    max_iter, tol
        EM stops after ``max_iter`` rounds or when no posterior moves more than ``tol``.
    gold_weight
        How many weakly labeled rows one gold row counts as, when ``fit`` gets ``gold``:
        gold rows keep their known class throughout EM (semi-supervised EM). ``"auto"``
        picks one of ``GOLD_WEIGHTS`` by 5-fold cross-validation on the gold rows
        (accuracy on the held-out fold; the smaller weight on a tie), falling back to
        10 with fewer than 25 gold rows; ``gold_weight_used`` says which.

    Examples
    --------
    >>> model = DawidSkene().fit(train_codes, 2)
    >>> model.confusion.shape  # sources x true class x answer (last = abstain)
    (3, 2, 3)
    >>> model.predict(test_codes)
    array([1, 0, ...])
    """

    name = "dawid_skene"
    config_attributes = (
        "class_balance",
        "model_abstains",
        "smoothing",
        "max_iter",
        "tol",
        "gold_weight",
    )
    state_attributes = ("confusion", "prior", "iterations", "gold_weight_used")
    GOLD_WEIGHTS = (1.0, 10.0, 100.0)

    def __init__(
        self,
        class_balance: ClassBalance = None,
        model_abstains: bool = True,
        smoothing: float = 1.0,
        max_iter: int = 1000,
        tol: float = 1e-6,
        gold_weight: float | Literal["auto"] = "auto",
    ) -> None:
        self.class_balance = None if class_balance is None else list(class_balance)
        self.model_abstains = model_abstains
        self.smoothing = smoothing
        self.max_iter = max_iter
        self.tol = tol
        self.gold_weight = gold_weight
        self.gold_weight_used: float | None = None
        self.confusion = np.zeros(0)
        self.prior = np.zeros(0)
        self.iterations = 0

    def fit(
        self, codes: np.ndarray, cardinality: int, gold: np.ndarray | None = None
    ) -> DawidSkene:
        """Fit by EM; rows with ``gold`` (codes, -1 = unknown) keep their known class."""
        codes = self._check(codes, cardinality)
        known = None if gold is None else self._check_gold(gold, len(codes), cardinality)
        self.gold_weight_used = None
        if known is not None:
            self.gold_weight_used = self._choose_gold_weight(codes, cardinality, gold, known)
        # EM runs once per distinct (votes, gold) row, weighed by how many rows share it:
        # the same fit, at a cost that no longer grows with the rows.
        rows = codes if gold is None else np.column_stack([codes, gold])
        patterns, _, shared_by = vote_patterns(rows)
        answers = self._answers(patterns[:, : codes.shape[1]], cardinality)
        row_weight = shared_by.astype(np.float64)
        if known is not None:
            gold = patterns[:, -1]
            known = gold != ABSTAIN
            row_weight *= np.where(known, self.gold_weight_used, 1.0)
        fixed_prior = class_prior(self.class_balance, cardinality, self.name)
        counts = answers.sum(axis=1)[:, :cardinality]
        posterior = np.where(
            counts.sum(axis=1, keepdims=True) > 0,
            counts / np.maximum(counts.sum(axis=1, keepdims=True), 1),
            1.0 / cardinality,
        )
        if known is not None:
            posterior[known] = np.eye(cardinality)[gold[known]]
        # Each confusion row is shrunk toward the source's overall answer rates, i.e.
        # toward a source that says nothing about the class: a uniform pseudo-count
        # would swamp sparse sources, whose votes are rare.
        answer_counts = np.tensordot(shared_by, answers, axes=1) + 1.0
        answer_rates = answer_counts / answer_counts.sum(axis=1, keepdims=True)
        pseudo_counts = self.smoothing * answer_rates[:, None, :]
        self.iterations = 0
        while self.iterations < self.max_iter:
            self.iterations += 1
            weighted = posterior * row_weight[:, None]
            self.prior = (
                fixed_prior if fixed_prior is not None else weighted.sum(0) / weighted.sum()
            )
            expected = _expected_answers(weighted, answers) + pseudo_counts
            self.confusion = self._better_than_chance(
                expected / expected.sum(axis=2, keepdims=True)
            )
            updated = self._posterior(answers)
            if known is not None:
                updated[known] = posterior[known]
            moved = np.abs(updated - posterior).max()
            posterior = updated
            if moved < self.tol:
                break
        self.cardinality = cardinality
        return self

    def _choose_gold_weight(
        self, codes: np.ndarray, cardinality: int, gold: np.ndarray, known: np.ndarray
    ) -> float:
        if self.gold_weight != "auto":
            return float(self.gold_weight)
        rows = np.flatnonzero(known)
        if len(rows) < 25:
            return 10.0
        fold = np.random.default_rng(0).permutation(len(rows)) % 5
        scores = []
        for weight in self.GOLD_WEIGHTS:
            correct = 0
            for k in range(5):
                held = rows[fold == k]
                partial = gold.copy()
                partial[held] = ABSTAIN
                model = self._for_selection(weight).fit(codes, cardinality, gold=partial)
                predicted = model.predict_proba(codes[held]).argmax(axis=1)
                correct += int((predicted == gold[held]).sum())
            scores.append(correct)
        return self.GOLD_WEIGHTS[int(np.argmax(scores))]

    def _for_selection(self, weight: float) -> DawidSkene:
        # A looser tolerance: ranking three weights needs no exact optimum, and EM's
        # last digits cost most of its iterations.
        config = {key: getattr(self, key) for key in self.config_attributes}
        return DawidSkene(**config | {"tol": max(self.tol, 1e-4), "gold_weight": weight})

    def predict_proba(self, codes: np.ndarray) -> np.ndarray:
        codes = self._check(codes)
        if not len(codes):
            # An empty chunk of a batched prediction (trial 59e: a reshape error).
            return np.empty((0, self.cardinality))
        proba = self._posterior(self._answers(codes, self.cardinality))
        proba[(codes == ABSTAIN).all(axis=1)] = 1.0 / self.cardinality
        return proba

    def _better_than_chance(self, confusion: np.ndarray) -> np.ndarray:
        """Keep every source at least as likely to vote a class when it is true as when
        it is not (the usual weak-supervision assumption); the excess goes to abstain.

        Without it, EM can explain a sparse source as voting against its label.
        """
        if not self.model_abstains:
            return confusion
        k = confusion.shape[1]
        hit = confusion[:, np.arange(k), np.arange(k)]
        capped = np.minimum(confusion[:, :, :k], hit[:, None, :])
        excess = (confusion[:, :, :k] - capped).sum(axis=2)
        return np.concatenate([capped, confusion[:, :, k:] + excess[:, :, None]], axis=2)

    def _answers(self, codes: np.ndarray, cardinality: int) -> np.ndarray:
        if not self.model_abstains:
            return one_hot_votes(codes, cardinality)
        with_abstain = np.where(codes == ABSTAIN, cardinality, codes)
        return one_hot_votes(with_abstain, cardinality + 1)

    def _posterior(self, answers: np.ndarray) -> np.ndarray:
        n, m, answer_kinds = answers.shape
        # (n, m*l) @ (m*l, k): one BLAS product instead of a slow einsum.
        # Clipped: with no smoothing a cell can be 0, and 0 * log(0) must stay 0.
        log_confusion = (
            np.log(np.maximum(self.confusion, 1e-12))
            .transpose(0, 2, 1)
            .reshape(m * answer_kinds, -1)
        )
        # A class no source votes (an aspect's label of another attribute) fits a prior
        # of 0: its log is -inf and its posterior 0, as it should be, without a warning.
        with np.errstate(divide="ignore"):
            log_prior = np.log(self.prior)
        log_scores = answers.reshape(n, -1) @ log_confusion + log_prior
        log_scores -= log_scores.max(axis=1, keepdims=True)
        scores = np.exp(log_scores)
        return scores / scores.sum(axis=1, keepdims=True)


def _expected_answers(posterior: np.ndarray, answers: np.ndarray) -> np.ndarray:
    """Expected counts ``[source, true class, answer]`` given the class posteriors."""
    n, m, answer_kinds = answers.shape
    counts = posterior.T @ answers.reshape(n, -1)
    return counts.reshape(-1, m, answer_kinds).transpose(1, 0, 2)
