from __future__ import annotations

import numpy as np
import pytest

from labelkit import LabelkitError, MajorityVote, SnorkelLabelModel, Workspace, aggregate
from labelkit.aggregate import make_label_model, predict_from_proba
from labelkit.lf import keyword_lf
from labelkit.lf.apply import apply_lfs


def test_majority_vote_shares_ties_and_no_votes() -> None:
    codes = np.array([[1, 1, 0], [0, 1, -1], [-1, -1, -1], [2, -1, -1]])
    model = MajorityVote().fit(codes, 3)
    proba = model.predict_proba(codes)
    assert proba[0] == pytest.approx([1 / 3, 2 / 3, 0])
    assert proba[1] == pytest.approx([0.5, 0.5, 0])
    assert proba[2] == pytest.approx([1 / 3, 1 / 3, 1 / 3])
    assert predict_from_proba(codes, proba).tolist() == [1, -1, -1, 2]


def synthetic_votes(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three independent LFs of accuracy 0.9, 0.75, 0.6 that each vote half the time."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    columns = []
    for accuracy in (0.9, 0.75, 0.6):
        correct = rng.random(n) < accuracy
        vote = np.where(correct, truth, 1 - truth)
        columns.append(np.where(rng.random(n) < 0.5, vote, -1))
    return np.stack(columns, axis=1), truth


def test_snorkel_learns_to_trust_the_accurate_source() -> None:
    codes, truth = synthetic_votes()
    snorkel = SnorkelLabelModel(epochs=300).fit(codes, 2)
    majority = MajorityVote().fit(codes, 2)
    # Where the accurate LF and the weakest one disagree (the middle one abstains),
    # majority vote ties but Snorkel sides with the accurate one.
    split = (
        (codes[:, 1] == -1)
        & (codes[:, 0] != -1)
        & (codes[:, 2] != -1)
        & (codes[:, 0] != codes[:, 2])
    )
    assert (predict_from_proba(codes, majority.predict_proba(codes))[split] == -1).all()
    assert (snorkel.predict_proba(codes)[split].argmax(axis=1) == codes[split, 0]).mean() > 0.95
    voted = (codes != -1).any(axis=1)
    snorkel_accuracy = (snorkel.predict_proba(codes).argmax(axis=1) == truth)[voted].mean()
    assert snorkel_accuracy > 0.8


def test_unknown_label_model_lists_the_registered_ones() -> None:
    with pytest.raises(
        LabelkitError, match=r"unknown label model 'em'; registered: \['majority_vote', 'snorkel'\]"
    ):
        make_label_model("em")


def test_aggregate_fits_on_train_and_predicts_every_example(workspace: Workspace) -> None:
    apply_lfs(
        workspace, [keyword_lf("sub", ["subscribe"], "spam"), keyword_lf("song", ["song"], "ham")]
    )
    predictions = aggregate(workspace, "majority_vote")
    stored = dict(workspace.sql("SELECT example_id, label FROM predictions").rows())
    assert stored == {"a1": "spam", "a2": None, "a3": "ham", "a4": None, "a5": "spam", "a6": "ham"}
    assert predictions.height == 6
    assert workspace.sql("SELECT DISTINCT model FROM predictions").rows() == [("majority_vote",)]
    with pytest.raises(LabelkitError, match="needs at least 3 sources, got 2"):
        aggregate(workspace, "snorkel")
    assert workspace.sql("SELECT DISTINCT model FROM predictions").rows() == [("majority_vote",)]
    apply_lfs(workspace, [keyword_lf("my", ["my"], "spam")])
    aggregate(workspace, "snorkel", epochs=50)
    assert workspace.sql("SELECT DISTINCT model FROM predictions").rows() == [("snorkel",)]
