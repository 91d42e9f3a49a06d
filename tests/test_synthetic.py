"""The synthetic vote generator keeps the properties it states, for a fixed seed."""

from __future__ import annotations

import numpy as np
import pytest

from labelkit.errors import InputError
from labelkit.synthetic import SyntheticSource, source_votes, synthetic_votes

N = 40_000
TOLERANCE = 0.015


def voted_accuracy(codes: np.ndarray, gold: np.ndarray) -> float:
    voted = codes != -1
    return float((codes[voted] == gold[voted]).mean())


def test_class_balance_coverage_and_accuracy_of_each_source():
    sources = [
        SyntheticSource(accuracy=0.8, coverage=0.5),
        SyntheticSource(accuracy=0.2, coverage=1.0),
        SyntheticSource(accuracy=0.6, coverage=0.1),
        SyntheticSource(accuracy=0.1, coverage=0.7, wrong="shift"),
    ]
    votes = synthetic_votes(N, 4, sources, class_balance=[0.7, 0.2, 0.07, 0.03], seed=3)
    assert votes.codes.shape == (N, 4) and votes.cardinality == 4
    balance = np.bincount(votes.gold, minlength=4) / N
    np.testing.assert_allclose(balance, [0.7, 0.2, 0.07, 0.03], atol=TOLERANCE)
    for j, source in enumerate(sources):
        column = votes.codes[:, j]
        assert abs((column != -1).mean() - source.coverage) < TOLERANCE
        assert abs(voted_accuracy(column, votes.gold) - source.accuracy) < TOLERANCE
    # "shift" sends every wrong vote to the next class.
    adversary, gold = votes.codes[:, 3], votes.gold
    wrong = (adversary != -1) & (adversary != gold)
    assert (adversary[wrong] == (gold[wrong] + 1) % 4).all()


def test_per_class_accuracy_and_a_biased_source():
    # Says class 1 on most examples: right on 90% of class 1, on 10% of class 0.
    over_caller = SyntheticSource(accuracy=[0.1, 0.9, 0.5])
    # Below chance with every wrong vote on class 2.
    biased = SyntheticSource(accuracy=0.2, wrong=2)
    votes = synthetic_votes(N, 3, [over_caller, biased], seed=4)
    gold = votes.gold
    for label, expected in ((0, 0.1), (1, 0.9)):
        rows = gold == label
        assert abs((votes.codes[rows, 0] == label).mean() - expected) < TOLERANCE
    assert abs(voted_accuracy(votes.codes[:, 1], gold) - 0.2) < TOLERANCE
    wrong = votes.codes[:, 1] != gold
    assert (votes.codes[wrong & (gold != 2), 1] == 2).all()
    # Its mistakes on class 2 itself must go elsewhere, split between 0 and 1.
    on_two = votes.codes[wrong & (gold == 2), 1]
    assert set(np.unique(on_two)) == {0, 1}


def test_a_labeling_function_fires_on_its_coverage_with_its_precision():
    rule = SyntheticSource(accuracy=0.85, coverage=0.08, polarity=1)
    votes = synthetic_votes(N, 3, [rule], class_balance=[0.5, 0.3, 0.2], seed=5)
    column = votes.codes[:, 0]
    assert set(np.unique(column)) == {-1, 1}
    assert abs((column != -1).mean() - 0.08) < TOLERANCE / 3
    assert abs(voted_accuracy(column, votes.gold) - 0.85) < 2 * TOLERANCE


def test_a_copy_repeats_its_original_at_the_copy_rate():
    original = SyntheticSource(accuracy=0.6, coverage=0.5)
    copy = SyntheticSource(accuracy=0.6, coverage=0.5, copies=0, copy_rate=0.8)
    independent = SyntheticSource(accuracy=0.6, coverage=0.5)
    votes = synthetic_votes(N, 5, [original, copy, independent], seed=6)
    codes = votes.codes
    agreement_copy = (codes[:, 1] == codes[:, 0]).mean()
    agreement_independent = (codes[:, 2] == codes[:, 0]).mean()
    # Where the copy does not copy it agrees by chance, as the independent source does.
    assert abs(agreement_copy - (0.8 + 0.2 * agreement_independent)) < TOLERANCE
    assert agreement_independent < 0.45
    assert abs((codes[:, 1] != -1).mean() - 0.5) < TOLERANCE
    assert abs(voted_accuracy(codes[:, 1], votes.gold) - 0.6) < TOLERANCE


def test_the_same_seed_draws_the_same_votes():
    sources = [SyntheticSource(0.7, coverage=0.4)] * 3
    first, again = (synthetic_votes(200, 3, sources, seed=9) for _ in range(2))
    other = synthetic_votes(200, 3, sources, seed=10)
    assert (first.codes == again.codes).all() and (first.gold == again.gold).all()
    assert (first.codes != other.codes).any()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (SyntheticSource(accuracy=1.2), "source 0: accuracy and coverage"),
        (SyntheticSource(accuracy=0.9, coverage=0.5, polarity=1), "cannot fire on 50%"),
        (SyntheticSource(accuracy=0.9, copies=0), "copies must name an earlier source"),
        (SyntheticSource(accuracy=[0.9, 0.1]), "source 0: 2 accuracies for 3 classes"),
        (SyntheticSource(accuracy=0.9, wrong=3), "wrong=3 is not a class code"),
    ],
)
def test_impossible_sources_are_refused_by_index(source, message):
    with pytest.raises(InputError, match=message):
        synthetic_votes(10, 3, [source], class_balance=[0.8, 0.1, 0.1])


def test_source_votes_on_known_classes_keep_per_class_accuracy():
    gold = np.repeat([0, 1], [N // 4, 3 * N // 4])
    says_one = source_votes(gold, 2, SyntheticSource(accuracy=[0.15, 0.75], coverage=0.9), seed=2)
    assert abs((says_one != -1).mean() - 0.9) < TOLERANCE
    for label, expected in ((0, 0.15), (1, 0.75)):
        voted = (gold == label) & (says_one != -1)
        assert abs((says_one[voted] == label).mean() - expected) < TOLERANCE
    rule = source_votes(gold, 2, SyntheticSource(accuracy=0.6, coverage=0.1, polarity=0), seed=2)
    assert abs(voted_accuracy(rule, gold) - 0.6) < 2 * TOLERANCE
