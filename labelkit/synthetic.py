"""Synthetic votes with known truth: sources of stated accuracy, coverage, bias and correlation.

A label model is only as trustworthy as the cases it has been tried on, and real sets
rarely have many classes, skewed classes, copied sources and below-chance sources at
once. ``synthetic_votes`` draws gold labels from a class balance and one vote column per
``SyntheticSource``, so each of those cases can be built on purpose and the truth is known.

Examples
--------
>>> sources = [SyntheticSource(accuracy=0.8, coverage=0.5)] * 3 + [
...     SyntheticSource(accuracy=0.2, wrong=0),  # below chance, its mistakes all say class 0
...     SyntheticSource(accuracy=0.9, coverage=0.1, polarity=2),  # a keyword-like rule
...     SyntheticSource(accuracy=0.8, coverage=0.5, copies=0, copy_rate=0.9),
... ]
>>> votes = synthetic_votes(1000, 3, sources, class_balance=[0.6, 0.3, 0.1], seed=0)
>>> votes.codes.shape, votes.gold.shape
((1000, 6), (1000,))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from labelkit.errors import InputError
from labelkit.task import ABSTAIN


@dataclass(frozen=True)
class SyntheticSource:
    """How one synthetic source votes.

    Parameters
    ----------
    accuracy
        Probability that a vote is the true class. A sequence gives one per true class
        (a source that over-calls one class has a high accuracy on it and a low one on
        the others). With ``polarity``, the share of its votes that are right (precision).
    coverage
        Probability that the source votes at all on an example (else it abstains).
    wrong
        Where wrong votes go: ``"uniform"``, any other class at random; ``"shift"``, the
        next class (``(y + 1) % k``), a systematic confusion as an adversary makes; a
        class code ``c``, always ``c`` (when the truth is ``c``, another class at random).
    polarity
        Make it a labeling function that only ever votes this class, firing with
        ``coverage`` overall and right ``accuracy`` of the time it fires.
    copies, copy_rate
        Index of an earlier source whose vote (or abstain) this one repeats on a
        ``copy_rate`` share of examples; elsewhere it votes by its own settings. Give a
        copy the same settings as its original to keep its accuracy and coverage.
    """

    accuracy: float | Sequence[float]
    coverage: float = 1.0
    wrong: Literal["uniform", "shift"] | int = "uniform"
    polarity: int | None = None
    copies: int | None = None
    copy_rate: float = 0.0


@dataclass(frozen=True)
class SyntheticVotes:
    """Votes (n_examples x n_sources codes, -1 = abstain), the true class codes and the
    number of classes."""

    codes: np.ndarray
    gold: np.ndarray
    cardinality: int


def synthetic_votes(
    n_examples: int,
    cardinality: int,
    sources: Sequence[SyntheticSource],
    class_balance: Sequence[float] | None = None,
    seed: int = 0,
) -> SyntheticVotes:
    """Draw gold labels from ``class_balance`` (uniform if None) and one vote per source
    and example, each source independent given the truth unless it ``copies`` another.

    Examples
    --------
    >>> votes = synthetic_votes(500, 2, [SyntheticSource(0.9, coverage=0.3)] * 4, seed=1)
    >>> float((votes.codes[:, 0] != -1).mean())  # about the stated coverage
    0.278
    """
    balance = np.full(cardinality, 1.0 / cardinality) if class_balance is None else class_balance
    prior = np.asarray(balance, dtype=np.float64)
    if cardinality < 2 or prior.shape != (cardinality,) or (prior < 0).any():
        raise InputError(f"class_balance must be {cardinality} non-negative numbers, got {balance}")
    prior = prior / prior.sum()
    rng = np.random.default_rng(seed)
    gold = rng.choice(cardinality, size=n_examples, p=prior)
    codes = np.empty((n_examples, len(sources)), dtype=np.int16)
    for j, source in enumerate(sources):
        _check(source, j, cardinality, prior)
        codes[:, j] = _draw(source, gold, cardinality, prior, rng)
        if source.copies is not None:
            copied = rng.random(n_examples) < source.copy_rate
            codes[copied, j] = codes[copied, source.copies]
    return SyntheticVotes(codes, gold, cardinality)


def source_votes(
    gold: np.ndarray, cardinality: int, source: SyntheticSource, seed: int = 0
) -> np.ndarray:
    """One source's votes on examples whose true classes ``gold`` are known, e.g. a
    simulated LLM added to a real set's labeling functions (``copies`` is not used).

    Examples
    --------
    >>> gold = np.array([0, 1] * 500)
    >>> says_spam = source_votes(gold, 2, SyntheticSource(accuracy=[0.15, 0.75]), seed=0)
    >>> float((says_spam == gold).mean())  # about 45% right, mostly by saying class 1
    0.436
    """
    gold = np.asarray(gold)
    prior = np.bincount(gold, minlength=cardinality) / len(gold)
    _check(source, 0, cardinality, prior)
    return _draw(source, gold, cardinality, prior, np.random.default_rng(seed)).astype(np.int16)


def _check(source: SyntheticSource, j: int, cardinality: int, prior: np.ndarray) -> None:
    accuracy = np.asarray(source.accuracy, dtype=np.float64)
    if accuracy.ndim and accuracy.shape != (cardinality,):
        raise InputError(f"source {j}: {len(accuracy)} accuracies for {cardinality} classes")
    if not ((accuracy >= 0) & (accuracy <= 1)).all() or not 0 <= source.coverage <= 1:
        raise InputError(f"source {j}: accuracy and coverage must lie in [0, 1]")
    if source.copies is not None and not 0 <= source.copies < j:
        raise InputError(f"source {j}: copies must name an earlier source, got {source.copies}")
    if isinstance(source.wrong, int) and not 0 <= source.wrong < cardinality:
        raise InputError(f"source {j}: wrong={source.wrong} is not a class code")
    if source.polarity is not None:
        label = source.polarity
        if not 0 <= label < cardinality or np.ndim(source.accuracy):
            raise InputError(f"source {j}: polarity needs a class code and one accuracy")
        if source.coverage * source.accuracy > prior[label]:
            raise InputError(
                f"source {j}: cannot fire on {source.coverage:.0%} of examples and be right "
                f"{source.accuracy:.0%} of the time on a class of {prior[label]:.0%} of examples"
            )


def _draw(
    source: SyntheticSource,
    gold: np.ndarray,
    cardinality: int,
    prior: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    n = len(gold)
    if source.polarity is not None:
        # P(fire | y = l) and P(fire | y != l) chosen so that the source fires on
        # `coverage` of examples and `accuracy` of its votes are right.
        label, on, a = source.polarity, prior[source.polarity], source.accuracy
        fire_right = source.coverage * a / on
        fire_wrong = source.coverage * (1 - a) / (1 - on) if on < 1 else 0.0
        fires = rng.random(n) < np.where(gold == label, fire_right, fire_wrong)
        return np.where(fires, label, ABSTAIN)
    accuracy = np.broadcast_to(np.asarray(source.accuracy, dtype=np.float64), (cardinality,))
    right = rng.random(n) < accuracy[gold]
    # A uniformly random class other than the truth: gold + 1..k-1, wrapped.
    other = (gold + rng.integers(1, cardinality, size=n)) % cardinality
    if source.wrong == "shift":
        wrong = (gold + 1) % cardinality
    elif source.wrong == "uniform":
        wrong = other
    else:
        wrong = np.where(gold == source.wrong, other, source.wrong)
    votes = np.where(right, gold, wrong)
    return np.where(rng.random(n) < source.coverage, votes, ABSTAIN)
