from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from labelkit import (
    InputError,
    LabelkitError,
    LabelkitWarning,
    MajorityVote,
    SnorkelLabelModel,
    Workspace,
    aggregate,
    import_votes,
    ingest,
)
from labelkit.aggregate import (
    DawidSkene,
    WeightedMajorityVote,
    expected_accuracy,
    load_label_model,
    make_label_model,
    predict_from_proba,
)
from labelkit.aggregate.base import vote_patterns
from labelkit.lf import keyword_lf
from labelkit.lf.apply import apply_lfs
from labelkit.registry import label_models
from labelkit.task import Task
from labelkit.votes import LabelMatrix


def test_majority_vote_shares_ties_and_no_votes() -> None:
    codes = np.array([[1, 1, 0], [0, 1, -1], [-1, -1, -1], [2, -1, -1]])
    model = MajorityVote().fit(codes, 3)
    proba = model.predict_proba(codes)
    assert proba[0] == pytest.approx([1 / 3, 2 / 3, 0])
    assert proba[1] == pytest.approx([0.5, 0.5, 0])
    assert proba[2] == pytest.approx([1 / 3, 1 / 3, 1 / 3])
    assert predict_from_proba(codes, proba).tolist() == [1, -1, -1, 2]


def test_majority_vote_with_a_class_balance_gives_a_tie_to_the_more_common_class(
    tmp_path: Path,
) -> None:
    codes = np.array([[1, 1, 0], [0, 1, -1], [-1, -1, -1], [0, 1, 2], [2, -1, -1]])
    model = MajorityVote(class_balance=[0.2, 0.3, 0.5]).fit(codes, 3)
    proba = model.predict_proba(codes)
    # Votes decide; only the classes tied at the top share by the balance (0.2 : 0.3).
    assert proba[0] == pytest.approx([1 / 3, 2 / 3, 0])
    assert proba[1] == pytest.approx([0.4, 0.6, 0])
    assert proba[2] == pytest.approx([1 / 3, 1 / 3, 1 / 3])
    assert proba[3] == pytest.approx([0.2, 0.3, 0.5])
    assert model.predict(codes).tolist() == [1, 1, -1, 2, 2]
    model.save(tmp_path / "mv.json")
    assert load_label_model(tmp_path / "mv.json").predict(codes).tolist() == [1, 1, -1, 2, 2]
    with pytest.raises(InputError, match="majority_vote: class_balance must be 3 positive"):
        MajorityVote(class_balance=[0.5, 0.5]).fit(codes, 3)


def synthetic_votes(
    n: int = 2000, seed: int = 0, prior: tuple[float, ...] = (0.5, 0.5)
) -> tuple[np.ndarray, np.ndarray]:
    """Three independent sources of accuracy 0.9, 0.75, 0.6 that each vote half the time,
    picking a wrong class uniformly when wrong."""
    rng = np.random.default_rng(seed)
    k = len(prior)
    truth = rng.choice(k, size=n, p=prior)
    columns = []
    for accuracy in (0.9, 0.75, 0.6):
        correct = rng.random(n) < accuracy
        wrong = (truth + rng.integers(1, k, n)) % k
        vote = np.where(correct, truth, wrong)
        columns.append(np.where(rng.random(n) < 0.5, vote, -1))
    return np.stack(columns, axis=1), truth


def split_decisions(codes: np.ndarray) -> np.ndarray:
    """Rows where the best and the worst source disagree and the middle one abstains."""
    return (
        (codes[:, 1] == -1)
        & (codes[:, 0] != -1)
        & (codes[:, 2] != -1)
        & (codes[:, 0] != codes[:, 2])
    )


def test_snorkel_learns_to_trust_the_accurate_source() -> None:
    codes, truth = synthetic_votes()
    snorkel = SnorkelLabelModel(epochs=300).fit(codes, 2)
    majority = MajorityVote().fit(codes, 2)
    # Where the accurate LF and the weakest one disagree (the middle one abstains),
    # majority vote ties but Snorkel sides with the accurate one.
    split = split_decisions(codes)
    assert (predict_from_proba(codes, majority.predict_proba(codes))[split] == -1).all()
    assert (snorkel.predict_proba(codes)[split].argmax(axis=1) == codes[split, 0]).mean() > 0.95
    voted = (codes != -1).any(axis=1)
    snorkel_accuracy = (snorkel.predict_proba(codes).argmax(axis=1) == truth)[voted].mean()
    assert snorkel_accuracy > 0.8


def test_snorkel_predictions_in_numpy_match_snorkels_own() -> None:
    from snorkel.labeling.model import LabelModel

    codes, _ = synthetic_votes(n=500)
    ours = SnorkelLabelModel(epochs=100, seed=3).fit(codes, 2)
    theirs = LabelModel(cardinality=2, verbose=False)
    theirs.fit(codes.astype(np.int64), n_epochs=100, lr=0.01, seed=3, progress_bar=False)
    voted = (codes != -1).any(axis=1)
    expected = theirs.predict_proba(codes.astype(np.int64))
    assert np.allclose(ours.predict_proba(codes)[voted], expected[voted], atol=1e-6)


def test_snorkel_fitted_on_vote_patterns_is_snorkels_fit_on_every_row_bit_for_bit() -> None:
    from snorkel.labeling.model import LabelModel

    codes, _ = synthetic_votes(n=2000)
    assert len(np.unique(codes, axis=0)) < 30, "rows share their votes"
    ours = SnorkelLabelModel(epochs=100, seed=3, class_balance=[0.3, 0.7]).fit(codes, 2)
    theirs = LabelModel(cardinality=2, verbose=False)
    theirs.fit(
        codes.astype(np.int64),
        n_epochs=100,
        lr=0.01,
        seed=3,
        class_balance=[0.3, 0.7],
        progress_bar=False,
    )
    assert np.array_equal(ours.mu, theirs.mu.detach().numpy().astype(np.float64))


def test_weighted_majority_learns_weights_in_the_order_of_accuracy() -> None:
    codes, truth = synthetic_votes()
    model = WeightedMajorityVote().fit(codes, 2)
    assert model.weights[0] > model.weights[1] > model.weights[2] > 0
    split = split_decisions(codes)
    assert (model.predict(codes)[split] == codes[split, 0]).all()
    voted = (codes != -1).any(axis=1)
    weighted = (model.predict_proba(codes).argmax(axis=1) == truth)[voted].mean()
    majority = (MajorityVote().fit(codes, 2).predict_proba(codes).argmax(axis=1) == truth)[voted]
    assert weighted > majority.mean() + 0.03


def test_weighted_majority_takes_accuracies_from_gold_where_given() -> None:
    codes = np.array([[0, 0], [0, 1], [1, 1], [1, 0]])
    gold = np.array([0, 0, 1, -1])
    model = WeightedMajorityVote().fit(codes, 2, gold=gold)
    # On the gold rows source 0 is right 3 times of 3, source 1 twice; on the last row
    # each is judged against the other's vote, and both are wrong. Laplace-smoothed
    # accuracies (3+1)/(4+2) and (2+1)/(4+2): weights log(2) and 0 (chance).
    assert model.weights == pytest.approx([np.log(2), 0.0])
    assert model.prior == pytest.approx([3 / 5, 2 / 5])  # gold's balance, smoothed


def test_weighted_majority_gives_rows_only_weightless_sources_voted_on_their_votes() -> None:
    # Trial 57b: an LF alone on its class is judged only where another source disagrees,
    # weighed 0, and left 1,700 of 4,249 voted tickets to the prior: uniform, abstained.
    alone = np.full((60, 3), -1)
    alone[0:30, 0] = 2  # votes class 2 alone on rows 10-29
    alone[0:10, 1:] = 0  # ... and against two agreeing sources on rows 0-9
    alone[30:60, 1:] = np.repeat([[0], [1]], 15, axis=0)
    model = WeightedMajorityVote().fit(alone, 3)
    assert model.weights[0] == 0.0 < model.weights[1]
    proba = model.predict_proba(alone)
    assert model.predict(alone)[10:30].tolist() == [2] * 20
    assert proba[10] == pytest.approx([1 / 6, 1 / 6, 2 / 3])  # half the prior: a guess
    assert model.predict(alone)[0:10].tolist() == [0] * 10


def test_aggregate_refuses_what_is_not_a_workspace_and_says_what_to_do() -> None:
    matrix = LabelMatrix(np.array([[0, 1]]), ["e1"], ["a", "b"], Task(labels=("x", "y")))
    with pytest.raises(InputError, match=r"aggregate takes a Workspace, not a LabelMatrix: .*fit"):
        aggregate(matrix)  # type: ignore[arg-type]


def test_a_label_model_shows_its_settings_and_its_fit() -> None:
    # Trial 57b: a notebook showed `<labelkit.aggregate.dawid_skene.DawidSkene object at 0x...>`.
    codes = np.array([[0, 0, 1], [1, 1, -1], [0, -1, 0]])
    assert repr(DawidSkene()) == "DawidSkene()"
    assert repr(SnorkelLabelModel(epochs=10, seed=0)) == "SnorkelLabelModel(epochs=10)"
    assert repr(MajorityVote().fit(codes, 2)) == "MajorityVote(fitted: 3 sources, 2 classes)"
    assert repr(make_label_model("auto", min_agreement=0.8).fit(codes, 2)) == (
        "AutoLabelModel(min_agreement=0.8; fitted: 3 sources, 2 classes)"
    )
    # The second read: given weights were hidden, and numbers read np.float64(0.5).
    weighted = WeightedMajorityVote(weights=[3, 1, 1], class_balance=np.array([0.5, 0.5]))
    assert repr(weighted) == (
        "WeightedMajorityVote(weights=[3.0, 1.0, 1.0], class_balance=[0.5, 0.5])"
    )


def test_given_weights_and_class_balance_decide_the_vote() -> None:
    codes = np.array([[0, 1, 1], [-1, -1, 1]])
    model = WeightedMajorityVote(weights=[3.0, 1.0, 1.0]).fit(codes, 2)
    assert model.predict(codes).tolist() == [0, 1]
    assert model.predict_proba(codes)[0] == pytest.approx(
        [np.exp(1) / (1 + np.exp(1)), 0.2689], 1e-3
    )
    skewed = WeightedMajorityVote(weights=[3.0, 1.0, 1.0], class_balance=[0.9, 0.1]).fit(codes, 2)
    assert skewed.predict(codes).tolist() == [0, 0]


def test_dawid_skene_recovers_accuracies_and_class_balance_of_a_three_class_task() -> None:
    codes, truth = synthetic_votes(n=30000, prior=(0.6, 0.3, 0.1))
    model = DawidSkene().fit(codes, 3)
    assert model.prior == pytest.approx([0.6, 0.3, 0.1], abs=0.02)
    # P(vote k | class k) among the votes cast: the accuracy of each source.
    voted = model.confusion[:, :, :3] / model.confusion[:, :, :3].sum(axis=2, keepdims=True)
    for j, accuracy in enumerate((0.9, 0.75, 0.6)):
        assert np.diag(voted[j]) == pytest.approx([accuracy] * 3, abs=0.08)
    decided = (codes != -1).any(axis=1)
    ds_accuracy = (model.predict_proba(codes).argmax(axis=1) == truth)[decided].mean()
    mv_accuracy = (MajorityVote().fit(codes, 3).predict_proba(codes).argmax(axis=1) == truth)[
        decided
    ].mean()
    assert ds_accuracy > mv_accuracy + 0.01


def test_dawid_skene_with_all_gold_counts_answers_per_class() -> None:
    codes = np.array([[0], [0], [1], [-1]])
    gold = np.array([0, 1, 1, 0])
    model = DawidSkene(smoothing=0.0).fit(codes, 2, gold=gold)
    # Class 0 rows answered 0 and abstain; class 1 rows answered 0 and 1. Answer 0 is
    # as likely under class 1 as under class 0, so the better-than-chance cap is met.
    assert model.confusion[0, 0] == pytest.approx([0.5, 0.0, 0.5])
    assert model.confusion[0, 1] == pytest.approx([0.5, 0.5, 0.0])
    assert model.prior == pytest.approx([0.5, 0.5])
    assert model.iterations == 1


def test_unknown_label_model_lists_the_registered_ones() -> None:
    with pytest.raises(
        LabelkitError,
        match=r"unknown label model 'em'; registered: \['auto', 'dawid_skene', 'majority_vote', "
        r"'snorkel', 'weighted_majority'\]",
    ):
        make_label_model("em")
    # Trial 30: a misspelt name got the list but no hint.
    with pytest.raises(LabelkitError, match=r"\(did you mean 'dawid_skene'\?\)$"):
        make_label_model("dawid-skene")


@pytest.mark.parametrize("name", sorted(label_models.get_all()))
def test_every_label_model_saves_and_loads_to_the_same_predictions(
    name: str, tmp_path: Path
) -> None:
    codes, _ = synthetic_votes(n=300)
    params = {"epochs": 50} if name == "snorkel" else {}
    model = make_label_model(name, **params).fit(codes, 2)
    model.save(tmp_path / "model.json")
    loaded = load_label_model(tmp_path / "model.json")
    assert type(loaded) is type(model)
    assert np.allclose(loaded.predict_proba(codes), model.predict_proba(codes))
    assert (loaded.predict(codes) == model.predict(codes)).all()
    with pytest.raises(InputError, match="fitted on 3 sources, got votes of 2"):
        loaded.predict(codes[:, :2])


def test_vote_patterns_gives_each_row_its_pattern_and_counts_them() -> None:
    rng = np.random.default_rng(0)
    # 70 sources of 4 answers each: too many digits for one 64-bit number, so the
    # rows' numbers are re-numbered along the way.
    base = rng.integers(-1, 3, (40, 70))
    codes = base[rng.integers(0, 40, 5000)]
    patterns, inverse, counts = vote_patterns(codes)
    assert (patterns[inverse] == codes).all()
    assert len(np.unique(patterns, axis=0)) == len(patterns) == len(np.unique(base, axis=0))
    assert (np.bincount(inverse) == counts).all()
    assert counts.sum() == len(codes)


def test_dawid_skene_shrinks_toward_the_answer_rates_of_every_row() -> None:
    # Fitted on distinct rows weighed by their count: the pseudo-counts must still come
    # from every row's answers (0: 3 rows, 1: 1, abstain: 2, plus one each).
    codes = np.array([[0], [0], [0], [1], [-1], [-1]])
    gold = np.array([0, 0, 0, 1, 0, 1])
    model = DawidSkene(gold_weight=1.0).fit(codes, 2, gold=gold)
    rates = np.array([4, 2, 3]) / 9
    assert model.confusion[0, 0] == pytest.approx((np.array([3, 0, 1]) + rates) / 5)
    assert model.confusion[0, 1] == pytest.approx((np.array([0, 1, 1]) + rates) / 3)
    assert model.prior == pytest.approx([4 / 6, 2 / 6])


def test_bad_votes_and_parameters_are_named() -> None:
    with pytest.raises(InputError, match=r"vote 2 in row 1, source 0 is not a class code 0\.\.1"):
        MajorityVote().fit(np.array([[0, 1], [2, -1]]), 2)
    with pytest.raises(InputError, match="class_balance must be 2 positive numbers summing to 1"):
        DawidSkene(class_balance=[0.5, 0.3]).fit(np.array([[0, 1]]), 2)
    with pytest.raises(InputError, match="fit the label model before using it"):
        DawidSkene().predict(np.array([[0, 1]]))
    with pytest.raises(
        LabelkitError,
        match=r"label model 'snorkel' takes no parameter 'epoch'; it takes \[.*\] "
        r"\(did you mean 'epochs'\?\)$",
    ):
        make_label_model("snorkel", epoch=3)


@pytest.mark.parametrize(
    "name", ["majority_vote", "auto", "weighted_majority", "dawid_skene", "snorkel"]
)
def test_float_votes_lists_and_empty_batches_are_taken_alike_by_every_model(name: str) -> None:
    # Trial 59e: NaN for an abstain made each model do something else (silent abstains,
    # a crash, all -1); a list of rows crashed predict; an empty chunk crashed two models.
    codes = np.array([[0, 0, -1], [1, 1, 0], [0, -1, 0], [1, 1, 1], [0, 0, 0], [1, -1, 1]] * 5)
    model = make_label_model(name).fit(codes, 2)
    assert (model.predict(codes.astype(float)) == model.predict(codes)).all()
    assert (model.predict(codes.tolist()) == model.predict(codes)).all()
    assert model.predict_proba(np.empty((0, 3), dtype=int)).shape == (0, 2)
    assert model.predict(np.empty((0, 3), dtype=int)).shape == (0,)
    with_nan = codes.astype(float)
    with_nan[2, 1] = np.nan
    with pytest.raises(InputError, match=r"vote NaN in row 2, source 1: an abstain is -1"):
        model.predict(with_nan)
    with pytest.raises(InputError, match=r"vote NaN in row 2, source 1"):
        make_label_model(name).fit(with_nan, 2)
    with_nan[2, 1] = 0.7
    with pytest.raises(InputError, match=r"vote 0\.7 in row 2, source 1 is no class code"):
        model.predict(with_nan)


def test_a_label_matrix_refuses_codes_its_ids_sources_or_task_do_not_fit() -> None:
    # Trial 59e: codes 5 and -7 read as abstains in to_frame and as votes in triplets;
    # 5 columns took 10 source names.
    task = Task(labels=("ham", "spam"))
    codes = np.array([[0, 1, -1], [-1, 1, 1]])
    LabelMatrix(codes, ["a", "b"], ["s1", "s2", "s3"], task)
    with pytest.raises(InputError, match=r"codes of shape \(2, 3\) for 2 example ids and 4"):
        LabelMatrix(codes, ["a", "b"], ["s1", "s2", "s3", "s4"], task)
    with pytest.raises(InputError, match=r"vote 5 of source 's3' on example 'a' is not a class"):
        LabelMatrix(np.array([[0, 1, 5], [-1, -7, 1]]), ["a", "b"], ["s1", "s2", "s3"], task)


def test_loading_something_else_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(InputError, match=r"notes.json: not a saved label model"):
        load_label_model(path)


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


def test_aggregate_refuses_an_unknown_source_and_a_model_object(workspace: Workspace) -> None:
    # Trial 53c: sources=["kw_shipp"] (a typo) stored a null label for every example
    # without a word, and aggregate(ws, DawidSkene()) failed on "no attribute 'casefold'".
    apply_lfs(
        workspace, [keyword_lf("sub", ["subscribe"], "spam"), keyword_lf("song", ["song"], "ham")]
    )
    aggregate(workspace, "majority_vote")
    before = workspace.sql("SELECT example_id, label FROM predictions ORDER BY 1").rows()
    with pytest.raises(InputError, match=r"no source of the workspace: \['sng'\].*'song'"):
        aggregate(workspace, "majority_vote", sources=["sub", "sng"])
    with pytest.raises(InputError, match=r"aggregate\(ws, 'dawid_skene', max_iter=50\)"):
        aggregate(workspace, MajorityVote())  # type: ignore[arg-type]
    assert workspace.sql("SELECT example_id, label FROM predictions ORDER BY 1").rows() == before
    one = aggregate(workspace, "majority_vote", sources="sub")
    assert one.filter(one["label"].is_not_null())["example_id"].to_list() == ["a1", "a5"]


def test_aggregate_warns_of_two_sources_with_the_same_votes(workspace: Workspace) -> None:
    # Trial 45: one answer file imported as two sources; auto trusted both (0.98 each).
    lfs = [
        keyword_lf("sub", ["subscribe"], "spam"),
        keyword_lf("sub_again", ["subscribe"], "spam"),
        keyword_lf("song", ["song"], "ham"),
        keyword_lf("never", ["zzzz"], "ham"),
        keyword_lf("never_again", ["zzzz"], "ham"),
    ]
    apply_lfs(workspace, lfs, allow_failing_lfs=True)
    with pytest.warns(
        LabelkitWarning, match="sources 'sub' and 'sub_again' cast the same votes"
    ) as said:
        aggregate(workspace, "majority_vote")
    assert len([w for w in said if "cast the same votes" in str(w.message)]) == 1, (
        "sources that never vote are no copies of each other"
    )


def test_aggregate_fits_with_a_gold_split_and_saves_the_model(
    workspace: Workspace, tmp_path: Path
) -> None:
    lfs = [keyword_lf("sub", ["subscribe"], "spam"), keyword_lf("song", ["song"], "ham")]
    matrix = apply_lfs(workspace, lfs).matrix
    with pytest.raises(LabelkitError, match="no gold labels in split 'dev'"):
        aggregate(workspace, "dawid_skene", gold_split="dev")
    predictions = aggregate(
        workspace, "weighted_majority", gold_split="test", save_to=tmp_path / "wmv.json"
    )
    # Both LFs are right on both gold rows (a5 spam, a6 ham) and agree with nothing on
    # train (they never vote together), so only gold judges them: (1+1)/(1+2) each.
    loaded = load_label_model(tmp_path / "wmv.json")
    assert loaded.weights == pytest.approx([np.log(2), np.log(2)])
    assert loaded.predict(matrix.codes).tolist() == [
        -1 if label is None else ("ham", "spam").index(label)
        for label in predictions["label"].to_list()
    ]
    config = workspace.sql("SELECT config FROM runs WHERE step = 'aggregate'")["config"][0]
    assert '"gold_split": "test"' in config
    # Trial 54b: 43 workers' confusion matrices saved, their order to be guessed.
    saved = json.loads((tmp_path / "wmv.json").read_text())
    assert saved["sources"] == ["song", "sub"] and saved["labels"] == ["ham", "spam"]


def test_dawid_skene_picks_the_gold_weight_by_cross_validation() -> None:
    codes, truth = synthetic_votes(n=1000)
    few = np.where(np.arange(1000) < 20, truth, -1)
    assert DawidSkene().fit(codes, 2, gold=few).gold_weight_used == 10.0
    many = np.where(np.arange(1000) < 200, truth, -1)
    chosen = DawidSkene().fit(codes, 2, gold=many).gold_weight_used
    assert chosen in DawidSkene.GOLD_WEIGHTS
    assert DawidSkene(gold_weight=3).fit(codes, 2, gold=many).gold_weight_used == 3.0
    assert DawidSkene().fit(codes, 2).gold_weight_used is None


def test_expected_accuracy_counts_a_tie_as_the_share_of_tied_classes_gold_is_among() -> None:
    # Row 2's classes tie up to float rounding (0.1 + 0.2 against 0.3), as majority-vote
    # shares do: it is the tie predict_from_proba abstains on, so it must score 1/2.
    proba = np.array([[0.9, 0.1, 0.0], [0.25, 0.25, 0.5], [0.1 + 0.2, 0.3, 0.0]])
    assert predict_from_proba(np.zeros((3, 1), int), proba)[2] == -1
    assert expected_accuracy(proba, np.array([0, 0, 1])) == pytest.approx((1 + 0 + 0.5) / 3)


def test_dawid_skene_scores_a_class_nobody_votes_zero_without_a_warning() -> None:
    # On an aspects task every attribute shares the label set, so a stance attribute
    # has sentiment labels that no source ever votes; EM gives them a prior of 0.
    codes = np.array([[0, 0, -1], [1, 1, 1], [0, -1, 0], [1, 1, -1], [0, 0, 0]] * 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = DawidSkene().fit(codes, 3)
        proba = model.predict_proba(codes)
    assert np.all(np.isfinite(proba)) and np.allclose(proba.sum(axis=1), 1.0)
    assert proba[:, 2].max() == 0.0
    assert model.predict(codes[:2]).tolist() == [0, 1]


def test_aggregate_warns_in_python_of_the_sources_auto_dropped(tmp_path: Path) -> None:
    # Trial 65a: only `labelkit aggregate` said that auto dropped a source; a Python
    # user of aggregate heard nothing.
    from tests.aggregate.test_auto import negation_rule_votes

    codes, _ = negation_rule_votes()
    labels = ["negative", "positive"]
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(
            ws,
            pl.DataFrame({"id": [f"t{i:03}" for i in range(len(codes))], "text": ["x"] * 600}),
            labels=labels,
        )
        votes = [
            (f"t{i:03}", source, labels[code])
            for i, row in enumerate(codes)
            for source, code in zip(["lex1", "lex2", "negation"], row, strict=True)
            if code >= 0
        ]
        import_votes(
            ws, pl.DataFrame(votes, schema=["example_id", "source", "label"], orient="row")
        )
        with pytest.warns(LabelkitWarning, match=r"source health: ") as said:
            aggregate(ws)
        (health,) = [str(w.message) for w in said if "source health" in str(w.message)]
        assert health.startswith("source health: below chance (dropped): negation —")
        with warnings.catch_warnings():
            warnings.simplefilter("error", LabelkitWarning)
            aggregate(ws, sources=["lex1", "lex2"])  # healthy without it: no warning
        with pytest.warns(LabelkitWarning, match=r"source health: ") as kept:
            aggregate(ws, keep_below_chance=True)
        assert "below chance (kept on request): negation" in str(kept[0].message)


def test_aggregate_warns_in_python_of_a_source_dropped_on_one_attribute(tmp_path: Path) -> None:
    # Trial 65a, for attributes: the warning names the attribute and part, as the CLI's.
    food = ["positive", "negative"] * 12
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(
            ws,
            pl.DataFrame({"id": [f"t{i}" for i in range(24)], "text": ["x"] * 24}),
            kind="aspects",
            labels=["positive", "negative"],
            attributes=["food", "staff"],
        )
        opposite = {"positive": "negative", "negative": "positive"}
        votes = [
            (f"t{i}", source, "food", label)
            for i, gold in enumerate(food)
            for source, label in [("a", gold), ("b", gold), ("c", gold), ("d", opposite[gold])]
        ]
        import_votes(
            ws,
            pl.DataFrame(
                votes, schema=["example_id", "source", "attribute", "label"], orient="row"
            ),
        )
        with pytest.warns(LabelkitWarning, match=r"source health: ") as said:
            aggregate(ws)
        (health,) = [str(w.message) for w in said if "source health" in str(w.message)]
        assert health.startswith("source health: below chance (dropped): d (food value) —")
        with warnings.catch_warnings(record=True) as plain:
            warnings.simplefilter("always")
            aggregate(ws, "majority_vote")
        assert not [w for w in plain if "source health" in str(w.message)], "not auto: no health"
