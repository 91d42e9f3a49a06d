"""The label models shipped with labelkit, registered by name.

=====================  ==========================================  ======================
name                   learns                                      class balance
=====================  ==========================================  ======================
``auto`` (default)     source accuracies, checked against MV       given, else MV's
``majority_vote``      nothing: every vote counts the same         given: splits ties
``weighted_majority``  one accuracy per source, from agreement     given, else uniform
``snorkel``            Snorkel's LabelModel (matrix completion)    given, else uniform
``dawid_skene``        a confusion matrix per source, by EM        given, else estimated
=====================  ==========================================  ======================

Every model gives an example that no source voted on uniform probabilities, and
``predict`` abstains on it and on exact ties (see ``predict_from_proba``).

``fit`` takes optional ``gold`` codes (-1 = unknown), e.g. the dev split's gold labels
or reviewers' answers: majority vote ignores them; the weighted vote measures source
accuracies on them; Snorkel and the weighted vote take their class balance from them
unless one is given; Dawid-Skene holds those rows to their known class during EM.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from labelkit.aggregate.base import (
    BaseLabelModel,
    ClassBalance,
    class_prior,
    one_hot_votes,
    softmax,
    vote_patterns,
    vote_shares,
    votes_where_weightless,
)
from labelkit.errors import InputError
from labelkit.registry import label_models
from labelkit.task import ABSTAIN


def _prior(
    class_balance: ClassBalance,
    gold: np.ndarray | None,
    known: np.ndarray | None,
    cardinality: int,
    model: str,
) -> np.ndarray:
    """The given class balance, else the gold labels' (smoothed), else uniform."""
    given = class_prior(class_balance, cardinality, model)
    if given is not None:
        return given
    if gold is not None and known is not None and known.any():
        counts = np.bincount(gold[known], minlength=cardinality) + 1.0
        return counts / counts.sum()
    return np.full(cardinality, 1.0 / cardinality)


def _uniform_where_unvoted(codes: np.ndarray, proba: np.ndarray) -> np.ndarray:
    proba[(codes == ABSTAIN).all(axis=1)] = 1.0 / proba.shape[1]
    return proba


@label_models.register("majority_vote")
class MajorityVote(BaseLabelModel):
    """Each example's label probabilities are its sources' vote shares.

    Ties are exact ties in probability, so ``predict`` abstains on them (Snorkel's
    ``tie_break_policy="abstain"``); an example with no votes gets uniform probabilities.
    With a ``class_balance``, the tied classes split their share in proportion to it,
    so a tie goes to the more common class (see ``vote_shares``).

    Parameters
    ----------
    class_balance
        Class prior that breaks ties; none if None.

    Examples
    --------
    >>> MajorityVote().fit(codes, 2).predict_proba(np.array([[1, 1, 0]]))
    array([[0.33333333, 0.66666667]])
    >>> MajorityVote(class_balance=[0.8, 0.2]).fit(codes, 2).predict(np.array([[0, 1, -1]]))
    array([0])
    """

    name = "majority_vote"
    config_attributes = ("class_balance",)

    def __init__(self, class_balance: ClassBalance = None) -> None:
        self.class_balance = None if class_balance is None else list(class_balance)

    def fit(
        self, codes: np.ndarray, cardinality: int, gold: np.ndarray | None = None
    ) -> MajorityVote:
        self._check(codes, cardinality)
        class_prior(self.class_balance, cardinality, self.name)
        self.cardinality = cardinality
        return self

    def predict_proba(self, codes: np.ndarray) -> np.ndarray:
        counts = one_hot_votes(self._check(codes), self.cardinality).sum(axis=1)
        return vote_shares(counts, class_prior(self.class_balance, self.cardinality, self.name))


@label_models.register("weighted_majority")
class WeightedMajorityVote(BaseLabelModel):
    """Majority vote where each source's vote weighs the log-odds of its accuracy.

    Under the model where source ``j`` is right with probability ``a_j`` and otherwise
    picks a wrong class at random, the posterior of class ``k`` is proportional to
    ``prior_k * exp(sum of w_j over the sources voting k)`` with
    ``w_j = log(a_j (K - 1) / (1 - a_j))``. Without given ``weights``, ``a_j`` is
    estimated as the (smoothed) agreement of source ``j`` with the gold label where
    ``fit`` is given one, else with the majority vote of the other sources; a source
    no better than chance gets weight 0. On three classes or more, a row whose votes
    all weigh 0 goes halfway from the prior to its votes' shares
    (``votes_where_weightless``): a source that votes alone on its class is only ever
    judged where another one disagrees, and weighed 0 it left its rows to the prior
    (trial 57b). Of two classes, the prior's is the one its votes left.

    Parameters
    ----------
    weights
        One weight per source, e.g. log-odds of accuracies measured on gold data.
    class_balance
        Class prior; uniform if None.

    Examples
    --------
    >>> model = WeightedMajorityVote().fit(train_codes, 2)
    >>> model.weights.round(2)
    array([2.1 , 1.05, 0.38])
    """

    name = "weighted_majority"
    config_attributes = ("class_balance",)
    state_attributes = ("weights", "prior")

    def _given(self) -> list[tuple[str, Any]]:
        # The given weights are no config: a fit saves the weights it used as state.
        weights = [] if self.given_weights is None else [("weights", self.given_weights)]
        return weights + super()._given()

    def __init__(
        self, weights: Sequence[float] | None = None, class_balance: ClassBalance = None
    ) -> None:
        self.given_weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        self.class_balance = None if class_balance is None else list(class_balance)
        self.weights = np.zeros(0)
        self.prior = np.zeros(0)

    def fit(
        self, codes: np.ndarray, cardinality: int, gold: np.ndarray | None = None
    ) -> WeightedMajorityVote:
        codes = self._check(codes, cardinality)
        known = None if gold is None else self._check_gold(gold, len(codes), cardinality)
        self.prior = _prior(self.class_balance, gold, known, cardinality, self.name)
        if self.given_weights is not None:
            if self.given_weights.shape != (codes.shape[1],):
                raise InputError(
                    f"{self.name}: {len(self.given_weights)} weights for {codes.shape[1]} sources"
                )
            self.weights = self.given_weights
        else:
            self.weights = self._estimate_weights(codes, cardinality, gold, known)
        self.cardinality = cardinality
        return self

    def predict_proba(self, codes: np.ndarray) -> np.ndarray:
        codes = self._check(codes)
        votes = one_hot_votes(codes, self.cardinality)
        evidence = np.einsum("ijk,j->ik", votes, self.weights)
        proba = softmax(evidence + np.log(self.prior))
        proba = votes_where_weightless(votes.sum(axis=1), evidence, proba, self.prior)
        return _uniform_where_unvoted(codes, proba)

    @staticmethod
    def _estimate_weights(
        codes: np.ndarray,
        cardinality: int,
        gold: np.ndarray | None,
        known: np.ndarray | None,
    ) -> np.ndarray:
        votes = one_hot_votes(codes, cardinality)
        others = votes.sum(axis=1, keepdims=True) - votes
        ranked = np.sort(others, axis=2)
        reference = others.argmax(axis=2)
        decided = ranked[:, :, -1] > ranked[:, :, -2]
        if known is not None:
            reference = np.where(known[:, None], gold[:, None], reference)
            decided |= known[:, None]
        judged = decided & (codes != ABSTAIN)
        agree = judged & (reference == codes)
        accuracy = (agree.sum(axis=0) + 1) / (judged.sum(axis=0) + 2)
        return np.maximum(np.log(accuracy * (cardinality - 1) / (1 - accuracy)), 0.0)


@label_models.register("snorkel")
class SnorkelLabelModel(BaseLabelModel):
    """Snorkel's LabelModel: learns each source's accuracy from agreements, no gold needed.

    Fitting runs Snorkel itself; the fitted conditional probabilities (``mu``) and
    class prior are then all it takes to predict, so a saved model loads without Snorkel.

    Parameters
    ----------
    epochs, learning_rate, l2, seed
        Passed to ``snorkel.labeling.model.LabelModel.fit``.
    class_balance
        Class prior; uniform if None (Snorkel's default).

    Examples
    --------
    >>> SnorkelLabelModel(epochs=500).fit(train_codes, 2).predict_proba(test_codes)
    """

    name = "snorkel"
    config_attributes = ("epochs", "learning_rate", "l2", "seed", "class_balance")
    state_attributes = ("mu", "prior")

    def __init__(
        self,
        epochs: int = 500,
        learning_rate: float = 0.01,
        l2: float = 0.0,
        seed: int = 0,
        class_balance: ClassBalance = None,
    ) -> None:
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.l2 = l2
        self.seed = seed
        self.class_balance = None if class_balance is None else list(class_balance)
        self.mu = np.zeros(0)
        self.prior = np.zeros(0)

    def fit(
        self, codes: np.ndarray, cardinality: int, gold: np.ndarray | None = None
    ) -> SnorkelLabelModel:
        # Imported here: snorkel pulls in torch, which takes seconds to load.
        from labelkit.aggregate._snorkel import PatternLabelModel

        codes = self._check(codes, cardinality)
        if codes.shape[1] < 3:
            raise InputError(
                f"Snorkel's LabelModel needs at least 3 sources, got {codes.shape[1]}; "
                "add labeling functions or use majority_vote"
            )
        known = None if gold is None else self._check_gold(gold, len(codes), cardinality)
        prior = _prior(self.class_balance, gold, known, cardinality, self.name)
        # Fitted on the distinct vote rows, weighed by their counts: the same fit as on
        # every row (see labelkit.aggregate._snorkel).
        patterns, _, counts = vote_patterns(codes)
        model = PatternLabelModel(counts, cardinality=cardinality, verbose=False)
        model.fit(
            patterns.astype(np.int64),
            n_epochs=self.epochs,
            lr=self.learning_rate,
            l2=self.l2,
            seed=self.seed,
            class_balance=prior,
            progress_bar=False,
        )
        self.mu = model.mu.detach().cpu().numpy().astype(np.float64)
        self.prior = np.asarray(model.p, dtype=np.float64)
        self.cardinality = cardinality
        return self

    def predict_proba(self, codes: np.ndarray) -> np.ndarray:
        # Snorkel's own predict_proba, in numpy: votes (one-hot, abstains ignored)
        # times log mu, plus the log prior. Snorkel gives unvoted rows the prior; we
        # give them uniform, as no source spoke.
        codes = self._check(codes)
        votes = one_hot_votes(codes, self.cardinality)
        # Sized, not inferred: an empty chunk has no -1 to infer (trial 59e).
        scores = votes.reshape(len(codes), self.mu.shape[0]) @ np.log(self.mu) + np.log(self.prior)
        return _uniform_where_unvoted(codes, softmax(scores))
