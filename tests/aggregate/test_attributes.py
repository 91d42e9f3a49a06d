from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from labelkit import (
    InputError,
    LabelkitWarning,
    Workspace,
    apply_lfs,
    evaluate,
    ingest,
    keyword_lf,
    load_label_model,
)
from labelkit.aggregate import (
    MajorityVote,
    aggregate,
    answered_by_balance,
    label_model_score,
    make_label_model,
)
from labelkit.aggregate.attributes import answer_attribute
from labelkit.registry import label_models
from labelkit.task import Task
from labelkit.votes import import_votes

REVIEWS = Task(("positive", "negative"), kind="aspects", attributes=("food", "staff"))


def votes(*rows: tuple[str, str, str, str]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["example_id", "source", "attribute", "label"], orient="row")


@pytest.fixture
def reviews(tmp_path: Path) -> Workspace:
    texts = ["great food, rude waiter", "the waiter", "nice place", "bad food"]
    frame = pl.DataFrame({"id": ["r1", "r2", "r3", "r4"], "text": texts})
    ws = Workspace(tmp_path / "ws.duckdb")
    ingest(ws, frame, kind="aspects", labels=["positive", "negative"], attributes=["food", "staff"])
    return ws


def test_presence_then_value_per_attribute_and_silence_is_none(reviews: Workspace) -> None:
    import_votes(
        reviews,
        votes(
            ("r1", "kw_food", "food", "mentioned"),
            ("r1", "lexicon", "food", "positive"),
            ("r1", "lexicon", "staff", "negative"),
            ("r2", "kw_waiter", "staff", "mentioned"),  # mentioned, no polarity said
            ("r4", "lexicon", "food", "negative"),
            ("r4", "llm", "food", "negative"),
        ),
    )
    predictions = aggregate(reviews, "majority_vote")
    assert predictions.columns == [
        "example_id",
        "attribute",
        "label",
        "confidence",
        "probabilities",
    ]
    got = {(r["example_id"], r["attribute"]): r["label"] for r in predictions.iter_rows(named=True)}
    assert got == {
        ("r1", "food"): "positive",
        ("r1", "staff"): "negative",
        ("r2", "food"): "none",  # no source spoke of food
        # Staff is mentioned and no source says how it is judged: the answer is the
        # polarity the staff votes name elsewhere (only r1's negative), not a tie.
        ("r2", "staff"): "negative",
        ("r3", "food"): "none",
        ("r3", "staff"): "none",
        ("r4", "food"): "negative",
        ("r4", "staff"): "none",
    }
    stored = reviews.sql("SELECT count(*) AS n, count(DISTINCT attribute) AS a FROM predictions")
    assert stored.rows() == [(8, 2)]
    # Probabilities follow the attribute's answers: positive, negative, none.
    r1_food = predictions.filter(example_id="r1", attribute="food")["probabilities"][0]
    assert r1_food.to_list() == [1.0, 0.0, 0.0]


def test_a_none_vote_against_a_polarity_vote_is_a_presence_question() -> None:
    # Two sources say staff is negative, a third that it is not mentioned: presence 2:1.
    codes = np.array([[1, 1, 2], [2, 2, -1]])
    proba, predicted = answer_attribute(
        REVIEWS, "staff", codes, np.ones(2, bool), None, MajorityVote
    )
    assert REVIEWS.answers("staff").decode(predicted).to_list() == ["negative", "none"]
    assert proba[0].round(3).tolist() == [0.0, 0.667, 0.333]


# Staff votes coded positive 0, negative 1, none 2, mentioned 3; sources: a keyword, a
# lexicon, a rule and an LLM. The fit rows (0-19) are like MAMS train: the LFs only ever
# say present, on 5 of 20 sentences, and the LLM never answered there. Rows 20-22 are
# like test, where the LLM answers.
M, P, N, A, _ = 3, 0, 1, 2, -1
ONLY_PRESENT_VOTES = np.array(
    [[M, P, P, _], [M, P, _, _], [M, N, N, _], [M, _, P, _], [M, P, P, _]]
    + [[_, _, _, _]] * 15
    + [[_, _, _, A], [M, _, _, A], [M, P, P, A]]
)
# Over all 20 fit rows, silence absent, one pseudo-row of each: (15 + 1) / (20 + 2).
ABSENT_SHARE = 16 / 22


@pytest.mark.parametrize("model", sorted(label_models.get_all()))
def test_a_row_where_only_a_none_vote_was_cast_is_absent_for_every_label_model(
    model: str,
) -> None:
    # Fitted on the present votes alone, the presence model believed nearly every row
    # present, so a row where only the LLM said "none" came out present for some models.
    fit_rows = np.arange(len(ONLY_PRESENT_VOTES)) < 20
    proba, predicted = answer_attribute(
        REVIEWS,
        "staff",
        ONLY_PRESENT_VOTES,
        fit_rows,
        None,
        lambda **balance: make_label_model(model, **balance),
    )
    assert REVIEWS.answers("staff").decode(predicted[[20, 22]]).to_list() == ["none", "positive"]
    # The "none" vote is no evidence of presence: P(absent) is at least the share of the
    # fit rows no source called present.
    assert proba[20, 2] >= ABSENT_SHARE - 1e-9


def test_the_presence_balance_counts_silent_fit_rows_as_absent(tmp_path: Path) -> None:
    # As in the restaurants demo: fitted on train, where only LFs voted, and answering a
    # test sentence where only the LLM did, saying staff is not mentioned.
    ids = [f"t{i}" for i in range(20)] + ["x"]
    frame = pl.DataFrame(
        {"id": ids, "text": ids, "split": ["train"] * 20 + ["test"]},
    )
    sources = ["keyword", "lexicon", "rule", "llm"]
    labels = {M: "mentioned", P: "positive", N: "negative", A: "none"}
    cast = [
        (example_id, source, "staff", labels[code])
        for example_id, codes in zip(ids, ONLY_PRESENT_VOTES, strict=False)
        for source, code in zip(sources, codes, strict=True)
        if code != _
    ]
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(
            ws,
            frame,
            split_column="split",
            kind="aspects",
            labels=["positive", "negative"],
            attributes=["staff"],
        )
        import_votes(ws, votes(*cast))
        predictions = aggregate(ws, save_to=tmp_path / "models")
    answer = predictions.filter(example_id="x", attribute="staff").row(0, named=True)
    assert answer["label"] == "none"
    assert answer["probabilities"][2] >= ABSENT_SHARE
    saved = json.loads((tmp_path / "models" / "staff.presence.json").read_text())
    assert saved["config"]["class_balance"] == pytest.approx([ABSENT_SHARE, 1 - ABSENT_SHARE])
    # Trial 68c: the folder itself was "not a saved label model (Is a directory)".
    with pytest.raises(InputError) as error:
        load_label_model(tmp_path / "models")
    assert str(error.value).endswith(
        f"load one of its files, such as {tmp_path / 'models'}/staff.presence.json"
    )
    loaded = load_label_model(tmp_path / "models" / "staff.presence.json")
    assert loaded.predict(np.ones((1, saved["n_sources"]), dtype=int)).tolist() == [1]


def test_a_given_class_balance_is_the_value_models_and_presence_keeps_its_own(
    reviews: Workspace, tmp_path: Path
) -> None:
    staff = [("r1", "positive"), ("r2", "negative"), ("r4", "positive")]
    import_votes(reviews, votes(*[(e, "kw", "staff", label) for e, label in staff]))
    aggregate(reviews, "majority_vote", class_balance=[0.6, 0.4], save_to=tmp_path)
    presence = json.loads((tmp_path / "staff.presence.json").read_text())
    value = json.loads((tmp_path / "staff.value.json").read_text())
    assert value["config"]["class_balance"] == [0.6, 0.4]
    # Three of the four reviews name staff: (3 + 1) / (4 + 2) present.
    assert presence["config"]["class_balance"] == pytest.approx([1 / 3, 2 / 3])


def test_gold_rows_count_in_the_presence_balance_by_their_gold(tmp_path: Path) -> None:
    # Rows 5-9 are silent but have gold: staff negative, so present.
    gold = np.full(len(ONLY_PRESENT_VOTES), -1)
    gold[5:10] = 1
    fit_rows = np.arange(len(ONLY_PRESENT_VOTES)) < 20
    answer_attribute(REVIEWS, "staff", ONLY_PRESENT_VOTES, fit_rows, gold, MajorityVote, tmp_path)
    saved = json.loads((tmp_path / "staff.presence.json").read_text())
    # (5 voted present + 5 gold present + 1) / (20 + 2) present.
    assert saved["config"]["class_balance"] == pytest.approx([0.5, 0.5])


def test_a_mentioned_aspect_without_polarity_gets_the_polarities_balance() -> None:
    # Three rows name positive staff, one negative; two say only "mentioned".
    codes = np.array([[0, 0], [0, 0], [0, -1], [1, 1], [3, -1], [-1, 3], [2, 2], [-1, -1]])
    proba, predicted = answer_attribute(
        REVIEWS, "staff", codes, np.ones(len(codes), bool), None, MajorityVote
    )
    answers = REVIEWS.answers("staff").decode(predicted).to_list()
    assert answers == [*["positive"] * 3, "negative", "positive", "positive", "none", "none"]
    # Present for sure, then 3:1 positive, as over the rows that name a polarity.
    assert proba[4].round(3).tolist() == [0.75, 0.25, 0.0]
    assert proba[5].round(3).tolist() == [0.75, 0.25, 0.0]


@pytest.mark.parametrize("model", sorted(label_models.get_all()))
def test_every_label_model_answers_a_mentioned_aspect_by_the_polarities_balance(
    model: str,
) -> None:
    # One rule for every label model: a row that says only "mentioned" gets the mean
    # of the value model's posteriors over the rows that name a polarity (rows 0-4).
    codes = np.array(
        [
            [0, 0, 0],
            [0, 0, -1],
            [0, -1, 0],
            [1, 1, 1],
            [0, 0, 0],
            [3, -1, -1],
            [-1, 3, 3],
            [2, 2, 2],
        ]
    )
    proba, predicted = answer_attribute(
        REVIEWS,
        "staff",
        codes,
        np.ones(len(codes), bool),
        None,
        lambda **balance: make_label_model(model, **balance),
    )
    present = proba[:7, :2]
    value = present / present.sum(axis=1, keepdims=True)
    balance = value[:5].mean(axis=0)
    assert balance[0] > balance[1]
    np.testing.assert_allclose(value[5], balance)
    np.testing.assert_allclose(value[6], balance)
    assert REVIEWS.answers("staff").decode(predicted[5:7]).to_list() == ["positive"] * 2


def test_a_multilabel_task_is_one_yes_or_no_per_label(tmp_path: Path) -> None:
    with Workspace(tmp_path / "m.duckdb") as ws:
        frame = pl.DataFrame({"id": ["a", "b"], "text": ["goal", "phone at the match"]})
        ingest(ws, frame, kind="multilabel", labels=["sports", "tech"])
        import_votes(
            ws,
            votes(
                ("a", "kw", "sports", "yes"),
                ("b", "kw", "sports", "yes"),
                ("b", "kw2", "tech", "yes"),
                ("b", "other", "tech", "yes"),
            ),
        )
        predictions = aggregate(ws, "majority_vote").sort("example_id", "attribute")
        assert predictions.select("example_id", "attribute", "label").rows() == [
            ("a", "sports", "yes"),
            ("a", "tech", "no"),
            ("b", "sports", "yes"),
            ("b", "tech", "yes"),
        ]


def test_a_label_model_that_answers_no_to_a_whole_tag_is_warned_of(tmp_path: Path) -> None:
    # Trial 57b: Snorkel and weighted majority vote answered `no` for every ticket on
    # four of five tags, whose only LFs voted `yes`, without a word.
    texts = [f"crash {i}" for i in range(30)] + [f"screen {i}" for i in range(270)]
    with Workspace(tmp_path / "m.duckdb") as ws:
        ingest(ws, pl.DataFrame({"text": texts}), kind="multilabel", labels=["bug", "ui"])
        apply_lfs(ws, [keyword_lf("crash", ["crash"], "bug")])
        with pytest.warns(LabelkitWarning) as caught:
            predictions = aggregate(ws, "weighted_majority")
        assert predictions.filter(pl.col("attribute") == "bug")["label"].unique().to_list() == [
            "no"
        ]
        majority = aggregate(ws, "majority_vote")
    [(warning, where)] = [
        (str(w.message), w.filename) for w in caught if "outweighed" in str(w.message)
    ]
    assert where == __file__, "the warning points at the caller's line (the second read)"
    assert warning.startswith(
        "weighted_majority gives next to none of its sources' votes for bug=yes (voted on "
    )
    assert warning.endswith("compare another label model (`labelkit aggregate --model auto`)")
    assert majority.filter(pl.col("label") == "yes").height == 30


def test_importing_votes_checks_each_attributes_labels(reviews: Workspace) -> None:
    from labelkit import InputError

    with pytest.raises(InputError, match=r"frame row 1: unknown attribute 'price'"):
        import_votes(reviews, votes(("r1", "kw", "price", "mentioned")))
    with pytest.raises(InputError, match=r"frame row 2: unknown label 'tasty' on 'food'"):
        import_votes(reviews, votes(("r1", "kw", "food", "none"), ("r2", "kw", "food", "tasty")))
    assert reviews.sql("SELECT count(*) AS n FROM votes")["n"][0] == 0


def test_labels_from_the_data_never_name_a_file_outside_the_saved_folder(
    tmp_path: Path,
) -> None:
    # Trial 46: a multi-label label "../../../../PWNED" made aggregate write
    # PWNED.presence.json outside its folder, and "<i>sports</i>" crashed it.
    hostile = ["../../escaped", "<i>sports</i>", "a/b", ".."]
    with Workspace(tmp_path / "m.duckdb") as ws:
        frame = pl.DataFrame({"id": ["a", "b"], "text": ["goal", "phone at the match"]})
        ingest(ws, frame, kind="multilabel", labels=hostile)
        import_votes(ws, votes(*[("a", "kw", label, "yes") for label in hostile]))
        aggregate(ws, "majority_vote", save_to=tmp_path / "deep" / "er" / "models")
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.json"))
    assert len(written) == len(hostile), "one presence model per label"
    assert all(path.startswith("deep/er/models/") for path in written), written
    assert "deep/er/models/i_sports_i-0afe7956.presence.json" in written


def test_an_answer_dev_gold_gives_and_no_source_votes_is_said(tmp_path: Path) -> None:
    # Trial 64a: no LF voted `neutral`, 17% of the mentions by gold, and aggregate, train
    # and evaluate said nothing; the label model gave it to no pair.
    labels = ["neutral"] * 6 + ["positive"] * 4
    frame = pl.DataFrame(
        {
            "id": [f"t{i}" for i in range(10)] + [f"d{i}" for i in range(10)],
            "text": [f"text {i}" for i in range(20)],
            "split": ["train"] * 10 + ["dev"] * 10,
            "gold": [None] * 10 + [json.dumps({"food": label}) for label in labels],
        }
    )
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(
            ws,
            frame,
            split_column="split",
            label_column="gold",
            kind="aspects",
            labels=["positive", "negative", "neutral"],
            attributes=["food", "staff"],
        )
        cast = [(f"t{i}", "kw", "food", "positive" if i % 2 else "negative") for i in range(10)]
        import_votes(ws, votes(*cast))
        with pytest.warns(LabelkitWarning) as warned:
            aggregate(ws, "majority_vote")
    said = " ".join(str(w.message) for w in warned)
    assert (
        "majority_vote gives food=neutral (in 6 of dev's gold texts) to no example of train: "
        "none of the sources it weighs votes it, though dev's gold gives it (write a "
        "labeling function for it)"
    ) in said
    # Staff is given no answer at all: that is the CLI's note of attributes never present.
    assert "staff=" not in said


def test_confidence_fitted_to_gold_changes_how_sure_an_answer_is_never_which() -> None:
    # Stop 66: fitted with dev gold, auto softened presence toward a half, and `none`
    # outweighed every mention whose polarities split: MAMS-ACSA's test macro-F1 fell
    # from 0.476 without gold to 0.369 with it.
    rng = np.random.default_rng(0)
    present = rng.random(400) < 0.6
    truth = np.where(present, rng.choice(3, 400, p=[0.45, 0.35, 0.2]), 3)
    # Two keyword sources say "mentioned" (code 4) on every row, gold present on 60% of
    # them; a lexicon votes a polarity, right on about two thirds of the mentions.
    lexicon = np.where(present & (rng.random(400) < 0.5), truth, rng.choice(3, 400))
    codes = np.stack([np.full(400, 4), np.full(400, 4), lexicon], axis=1)
    gold = np.full(400, -1)
    gold[:200] = truth[:200]
    fitted: list = []

    def auto(**balance: list[float]) -> object:
        fitted.append(make_label_model("auto", balance))
        return fitted[-1]

    task = Task(("positive", "negative", "neutral"), kind="aspects", attributes=("staff",))
    proba, predicted = answer_attribute(task, "staff", codes, np.ones(400, bool), gold, auto)
    assert fitted[0].softened and fitted[0].report["chosen"] == "majority_vote"
    # Every row is answered the lexicon's polarity, as without gold ...
    assert (predicted == lexicon).all()
    _, without_gold = answer_attribute(task, "staff", codes, np.ones(400, bool), None, auto)
    assert (without_gold == predicted).all()
    # ... and is less sure of it than of `none`: the mention is 0.55 likely, split.
    assert (proba[:, 3] > proba[:, :3].max(axis=1)).all()
    assert np.allclose(proba[:, :3].sum(axis=1), 1 - proba[:, 3])


def rooms_workspace(path: Path) -> Workspace:
    """300 train and 200 dev texts of one aspect whose dev gold moves `auto`'s answers:
    a lexicon on some polar texts, a `neutral` rule on the rest, and a rule voting
    `positive` beside it, more often on the positive texts."""
    rng = np.random.default_rng(0)
    truth = rng.choice(["positive", "negative", "neutral"], 500, p=[0.5, 0.3, 0.2])
    ws = Workspace(path)
    ingest(
        ws,
        pl.DataFrame(
            {
                "id": [f"r{i}" for i in range(500)],
                "text": [f"room {i}" for i in range(500)],
                "gold": [json.dumps({"room": t}) for t in truth],
                "split": ["train"] * 300 + ["dev"] * 200,
            }
        ),
        kind="aspects",
        labels=["positive", "negative", "neutral"],
        attributes=["room"],
        label_column="gold",
        split_column="split",
    )
    votes = []
    for i, answer in enumerate(truth):
        votes.append((f"r{i}", "kw", "room", "mentioned"))
        if answer != "neutral" and rng.random() < 0.4:
            votes.append((f"r{i}", "lex", "room", answer))
            continue
        votes.append((f"r{i}", "neu", "room", "neutral"))
        if rng.random() < {"positive": 0.7, "negative": 0.2, "neutral": 0.3}[answer]:
            votes.append((f"r{i}", "tone", "room", "positive"))
    import_votes(
        ws, pl.DataFrame(votes, schema=["example_id", "source", "attribute", "label"], orient="row")
    )
    return ws


def test_label_model_score_is_what_evaluate_scores_of_the_stored_labels(tmp_path: Path) -> None:
    # Stop 66: `aggregate --gold-split dev` compares the fit with and without gold by it.
    scores = {}
    with rooms_workspace(tmp_path / "ws.duckdb") as ws:
        for gold_split in (None, "dev"):
            scores[gold_split] = label_model_score(ws, "auto", gold_split=gold_split)
            aggregate(ws, "auto", gold_split=gold_split)
            summary = evaluate(ws, split="dev").summary
            stored = summary.filter((pl.col("method") == "auto") & (pl.col("attribute") == "(all)"))
            assert scores[gold_split] == pytest.approx(
                stored.select("accuracy", "macro_f1").row(0, named=True)
            )
    assert scores[None]["macro_f1"] != pytest.approx(scores["dev"]["macro_f1"]), "gold moved it"


def test_a_stored_answer_is_as_sure_as_its_own_probability(tmp_path: Path) -> None:
    # The second read of stop 66: an answer decided before its confidence was fitted to
    # gold was stored with the top probability, none's, as its confidence. The votes of
    # the softening test above, in a workspace whose first 200 texts are dev gold.
    rng = np.random.default_rng(0)
    labels = ["positive", "negative", "neutral", "none"]
    present = rng.random(400) < 0.6
    truth = np.where(present, rng.choice(3, 400, p=[0.45, 0.35, 0.2]), 3)
    lexicon = np.where(present & (rng.random(400) < 0.5), truth, rng.choice(3, 400))
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(
            ws,
            pl.DataFrame(
                {
                    "id": [f"r{i:03}" for i in range(400)],
                    "text": [f"staff {i}" for i in range(400)],
                    "gold": [json.dumps({"staff": labels[t]}) for t in truth],
                    "split": ["dev"] * 200 + ["train"] * 200,
                }
            ),
            kind="aspects",
            labels=labels[:3],
            attributes=["staff"],
            label_column="gold",
            split_column="split",
        )
        votes = [(f"r{i:03}", kw, "staff", "mentioned") for i in range(400) for kw in ("a", "b")]
        votes += [(f"r{i:03}", "lex", "staff", labels[v]) for i, v in enumerate(lexicon)]
        import_votes(
            ws,
            pl.DataFrame(
                votes, schema=["example_id", "source", "attribute", "label"], orient="row"
            ),
        )
        aggregate(ws, "auto", gold_split="dev")
        stored = ws.sql("SELECT label, confidence, probabilities FROM predictions ORDER BY 1")
    assert set(stored["label"]) <= set(labels[:3]), "every mention answered its polarity"
    own = [p[labels.index(label)] for label, p in stored.select("label", "probabilities").rows()]
    assert stored["confidence"].to_list() == pytest.approx(own)
    assert (stored["confidence"] < stored["probabilities"].list.get(3)).all(), "none is surer"


def test_aspects_answered_by_the_values_balance_alone_are_warned_of(tmp_path: Path) -> None:
    # Trial 66a: "Too expensive." was price=positive, as a keyword alone voted on price
    # and price is mostly praised, and nothing said how many answers were that guess.
    texts = [f"review {i}" for i in range(100)]
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(
            ws,
            pl.DataFrame({"id": [f"r{i}" for i in range(100)], "text": texts}),
            kind="aspects",
            labels=["positive", "negative"],
            attributes=["food", "price"],
        )
        cast = [(f"r{i}", "price_kw", "price", "mentioned") for i in range(30)]
        cast += [(f"r{i}", "cheap", "price", "positive") for i in range(30, 60)]
        cast += [(f"r{i}", "pricey", "price", "negative") for i in range(60, 70)]
        # Food's 21 unnamed answers are under a quarter of its 90: not said.
        cast += [(f"r{i}", "food_kw", "food", "mentioned") for i in range(21)]
        cast += [(f"r{i}", "tasty", "food", "positive") for i in range(21, 90)]
        import_votes(ws, votes(*cast))
        with pytest.warns(LabelkitWarning) as warned:
            predictions = aggregate(ws, "majority_vote")
        (said,) = [str(w.message) for w in warned if "not by a vote" in str(w.message)]
        assert said == (
            "answered by the aspect's balance, not by a vote: price: 30 of the 70 train texts "
            "answered present (43%) got 'positive', each its aspect's most common answer, as "
            "their votes only said the aspect is mentioned; write labeling functions that vote "
            "those aspects' answers (a keyword near a sentiment word), or check such labels in "
            "review"
        )
        assert "food" not in said
        guessed = predictions.filter(
            (pl.col("attribute") == "price")
            & pl.col("example_id").is_in([f"r{i}" for i in range(30)])
        )
        assert guessed["label"].unique().to_list() == ["positive"]
        # Without the mentions' LF, every price answer rests on a vote: nothing to say.
        with warnings.catch_warnings(record=True) as refit:
            warnings.simplefilter("always")
            aggregate(ws, "majority_vote", sources=["cheap", "pricey", "tasty"])
        assert not [w for w in refit if "not by a vote" in str(w.message)]
        assert answered_by_balance(ws, sources=["cheap", "pricey", "tasty"]) is None
