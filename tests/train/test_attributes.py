from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import spacy
from spacy.tokens import DocBin

from labelkit import (
    InputError,
    LabelkitError,
    Task,
    Workspace,
    aggregate,
    cleaned_labels,
    evaluate,
    import_votes,
    ingest,
    predict_file,
    predict_frame,
    train_attributes,
    train_textcat,
)
from labelkit.train import NoTextWarning, textcat_pairs_config

TASK = Task(("positive", "negative"), kind="aspects", attributes=("food", "staff"))
PHRASES = {
    "food": {
        "positive": ["delicious pizza", "tasty pasta", "wonderful soup"],
        "negative": ["stale pizza", "soggy pasta", "cold soup"],
    },
    "staff": {
        "positive": ["friendly waiter", "helpful waitress", "kind bartender"],
        "negative": ["rude waiter", "grumpy waitress", "lazy bartender"],
    },
}


def reviews(copies: int = 3) -> pl.DataFrame:
    """Every pairing of a food phrase and a staff phrase (or none of one of them), as
    ``id, text, food, staff``: 72 texts, repeated ``copies`` times. An attribute is
    left out as often as it has each label, so that a bag of words learns "none" in a
    few epochs."""
    options = {
        attribute: [(label, phrase) for label, said in answers.items() for phrase in said]
        + [("none", "")] * 3
        for attribute, answers in PHRASES.items()
    }
    data = []
    for (food, food_said), (staff, staff_said) in itertools.product(*options.values()):
        if food_said or staff_said:
            text = " and ".join(part for part in (food_said, staff_said) if part)
            data.append({"text": text, "food": food, "staff": staff})
    frame = pl.DataFrame(data * copies)
    return frame.with_row_index("id").with_columns(pl.col("id").cast(pl.String))


def rows(frame: pl.DataFrame, answers: dict[str, str] | None = None) -> pl.DataFrame:
    """One row per text and attribute: ``id, text, attribute, label``."""
    return pl.concat(
        frame.select("id", "text", pl.lit(a).alias("attribute"), pl.col(a).alias("label"))
        for a in TASK.targets
    )


def fast_config(folder: Path) -> Path:
    """The pairs layout's config at ten times spaCy's learning rate, for 15 epochs:
    enough for these texts to be learned well, where the default needs many more."""
    config = textcat_pairs_config(max_epochs=15)
    config["training"]["optimizer"]["learn_rate"] = 0.01
    config.to_disk(folder / "fast.cfg")
    return folder / "fast.cfg"


def answers(model: Path, texts: list[str]) -> list[dict[str, str]]:
    predicted = predict_frame(model, pl.DataFrame({"text": texts}))
    return predicted.select(food="predicted_food", staff="predicted_staff").to_dicts()


# The first in an order no training text has.
TEXTS = ["rude waiter and wonderful soup", "friendly waiter", "soggy pasta"]
RIGHT = [
    {"food": "positive", "staff": "negative"},
    {"food": "none", "staff": "positive"},
    {"food": "negative", "staff": "none"},
]


def test_pairs_layout_is_one_multilabel_textcat_over_present_answers(tmp_path: Path) -> None:
    model = train_attributes(
        rows(reviews()), TASK, tmp_path / "pairs", model="spacy_textcat_pairs", max_epochs=30
    )
    nlp = spacy.load(model)
    assert nlp.pipe_names == ["textcat_multilabel"]
    assert list(nlp.get_pipe("textcat_multilabel").labels) == [
        "food=positive",
        "food=negative",
        "staff=positive",
        "staff=negative",
    ], "no output for none: an attribute with every output off is not mentioned"
    assert nlp.meta["labelkit"]["task"]["attributes"] == ["food", "staff"]
    assert answers(model, TEXTS) == RIGHT
    # The texts of the dev tenth are held out of training as whole texts.
    train = DocBin().from_disk(model.parent / "train.spacy").get_docs(nlp.vocab)
    dev = DocBin().from_disk(model.parent / "dev.spacy").get_docs(nlp.vocab)
    assert len(list(train)) == 194 and len(list(dev)) == 22


def test_per_attribute_layout_is_one_exclusive_textcat_per_attribute(tmp_path: Path) -> None:
    model = train_attributes(
        rows(reviews()),
        TASK,
        tmp_path / "each",
        model="spacy_textcat_per_attribute",
        max_epochs=30,
    )
    nlp = spacy.load(model)
    assert nlp.pipe_names == ["textcat_food", "textcat_staff"]
    assert list(nlp.get_pipe("textcat_staff").labels) == [
        "staff=positive",
        "staff=negative",
        "staff=none",
    ]
    assert {nlp.get_pipe_meta(name).factory for name in nlp.pipe_names} == {"textcat"}
    assert nlp.meta["labelkit"]["layout"] == "spacy_textcat_per_attribute"
    assert answers(model, TEXTS) == RIGHT
    predicted = predict_frame(model, pl.DataFrame({"text": TEXTS}))
    cats = nlp(TEXTS[0]).cats
    assert predicted["confidence_staff"][0] == pytest.approx(cats["staff=negative"])
    assert predicted["score_food=none"][0] == pytest.approx(cats["food=none"])


def test_an_attribute_without_a_label_teaches_nothing(tmp_path: Path) -> None:
    labeled = rows(reviews(1))
    # The staff of every text that mentions food is unknown (the label model abstained).
    unknown = pl.col("text").str.contains("pizza|pasta|soup") & (pl.col("attribute") == "staff")
    train_attributes(
        labeled.filter(~unknown), TASK, tmp_path / "m", model="spacy_textcat_pairs", max_epochs=1
    )
    nlp = spacy.blank("en")
    docs = [
        doc
        for corpus in ("train", "dev")
        for doc in DocBin().from_disk(tmp_path / "m" / f"{corpus}.spacy").get_docs(nlp.vocab)
    ]
    by_text = {doc.text: doc.cats for doc in docs}
    assert by_text["soggy pasta and helpful waitress"] == {
        "food=positive": 0.0,
        "food=negative": 1.0,
    }
    assert by_text["helpful waitress"] == {
        "food=positive": 0.0,
        "food=negative": 0.0,
        "staff=positive": 1.0,
        "staff=negative": 0.0,
    }


def test_soft_and_weighted_targets_train_the_pairs(tmp_path: Path) -> None:
    frame = rows(reviews(2))
    # The label model's doubt, in the order of the answers: positive, negative, none.
    doubt = {"positive": [0.7, 0.1, 0.2], "negative": [0.1, 0.7, 0.2], "none": [0.1, 0.1, 0.8]}
    frame = frame.with_columns(
        pl.col("label")
        .replace_strict(doubt, return_dtype=pl.List(pl.Float64))
        .alias("probabilities"),
        pl.when(pl.col("attribute") == "staff").then(0.0).otherwise(1.0).alias("confidence"),
    )
    # Staff labels flipped, with weight 0 where the targets are weighted.
    flipped = frame.with_columns(
        pl.when(pl.col("attribute") == "staff")
        .then(pl.col("label").replace({"positive": "negative", "negative": "positive"}))
        .otherwise(pl.col("label"))
        .alias("label")
    )

    fast = fast_config(tmp_path)

    def trained(targets: str) -> spacy.language.Language:
        best = train_attributes(
            flipped,
            TASK,
            tmp_path / targets,
            targets=targets,
            model="spacy_textcat_pairs",
            config_path=fast,
        )
        assert "labelkit" not in (best.parent / "model-last" / "config.cfg").read_text()
        return spacy.load(best.parent / "model-last")

    soft, weighted, hard = trained("soft"), trained("weighted"), trained("hard")
    docs = DocBin().from_disk(tmp_path / "soft" / "train.spacy").get_docs(soft.vocab)
    assert {doc.text: doc.cats for doc in docs}["tasty pasta"] == pytest.approx(
        {"food=positive": 0.7, "food=negative": 0.1, "staff=positive": 0.1, "staff=negative": 0.1}
    )
    # Trained towards 0.7, not 1, the soft model stays below the hard one.
    tasty = [model("tasty pasta").cats["food=positive"] for model in (soft, hard)]
    assert tasty[0] == pytest.approx(0.7, abs=0.06) and tasty[1] > tasty[0] + 0.05, tasty
    assert hard("rude waiter").cats["staff=positive"] > 0.75, "learns the flipped labels"
    # Weight 0 on every staff answer: the staff outputs never move from where they start.
    assert weighted("rude waiter").cats["staff=positive"] == pytest.approx(0.5, abs=1e-3)
    assert weighted("cold soup").cats["food=negative"] > 0.75


def test_multilabel_task_answers_yes_or_no_per_label(tmp_path: Path) -> None:
    task = Task(("food", "staff"), kind="multilabel")
    frame = reviews().with_columns(
        (pl.col(a) != "none").replace_strict({True: "yes", False: "no"}).alias(a)
        for a in ("food", "staff")
    )
    model = train_attributes(
        rows(frame),
        task,
        tmp_path / "m",
        model="spacy_textcat_pairs",
        config_path=fast_config(tmp_path),
    )
    assert list(spacy.load(model).get_pipe("textcat_multilabel").labels) == [
        "food=yes",
        "staff=yes",
    ]
    predicted = predict_frame(model, pl.DataFrame({"text": TEXTS}))
    assert predicted.select("predicted_food", "predicted_staff").rows() == [
        ("yes", "yes"),
        ("no", "yes"),
        ("yes", "no"),
    ]
    # Trial 33: gold went in as a list, and came out as yes/no columns only.
    assert predicted["predicted_labels"].to_list() == [["food", "staff"], ["staff"], ["food"]]
    # Trial 49a: in CSV the list was "food|staff", which ingest refused as gold; it is
    # JSON text now, read back as the set of labels it is.
    pl.DataFrame({"text": TEXTS}).write_csv(tmp_path / "new.csv")
    predict_file(model, tmp_path / "new.csv", tmp_path / "labeled.csv")
    written = pl.read_csv(tmp_path / "labeled.csv")
    assert written["predicted_labels"].to_list() == ['["food", "staff"]', '["staff"]', '["food"]']
    with Workspace(tmp_path / "again.duckdb") as again:
        ingest(again, tmp_path / "labeled.csv", kind="multilabel", label_column="predicted_labels")
        gold = dict(again.sql("SELECT text, gold FROM examples").rows())
    assert [json.loads(gold[text]) for text in TEXTS] == [["food", "staff"], ["staff"], ["food"]]
    with pytest.warns(NoTextWarning, match="frame: 1 row has no text"):
        blank = predict_frame(model, pl.DataFrame({"text": ["", TEXTS[0]]}))
    assert blank.row(0) == ("",) + (None,) * (blank.width - 1)
    assert blank.row(1) == predicted.row(0)


def test_refuses_bad_attribute_rows(tmp_path: Path) -> None:
    good = rows(reviews(1))
    # Trial 33: None for the task failed with "'NoneType' object has no attribute 'kind'".
    with pytest.raises(LabelkitError, match=r"train_attributes needs the task \(workspace.task\)"):
        train_attributes(good, None, tmp_path)  # type: ignore[arg-type]
    with pytest.raises(
        LabelkitError, match=r"attribute 'drinks' in the training rows is not among"
    ):
        train_attributes(good.with_columns(attribute=pl.lit("drinks")), TASK, tmp_path)
    with pytest.raises(LabelkitError, match=r"answer 'great' \(attribute 'food'\) in the training"):
        train_attributes(good.with_columns(label=pl.lit("great")), TASK, tmp_path)
    # An empty dev met the n-grams with scikit-learn's "Found array with 0 sample(s)".
    for model in ("tfidf_char_clauses", "spacy_textcat_per_attribute"):
        with pytest.raises(LabelkitError, match="dev has no rows with a label"):
            train_attributes(good, TASK, tmp_path / "m", model=model, dev=good.head(0))
    with pytest.raises(LabelkitError, match=r"answer 'great' \(attribute 'food'\) in dev"):
        train_attributes(good, TASK, tmp_path / "m", dev=good.with_columns(label=pl.lit("great")))
    with pytest.raises(InputError, match="seed must be at least 0, got -2"):
        train_attributes(good, TASK, tmp_path / "m", seed=-2)
    # Trial 49a: "small model 'spacy_ner' takes no parameter 'exclusive'", none given.
    for model in ("spacy_ner", "spacy_spancat"):
        with pytest.raises(LabelkitError, match=f"{model} finds entities in a spans task; an"):
            train_attributes(good, TASK, tmp_path / "m", model=model)
    assert not (tmp_path / "m").exists()
    with pytest.raises(LabelkitError, match="id '0' has more than one row for attribute 'food'"):
        train_attributes(pl.concat([good, good.head(1)]), TASK, tmp_path)
    with pytest.raises(LabelkitError, match="spacy_textcat_pairs answers a task with attributes"):
        train_textcat(
            reviews(1).select("text", label="food"),
            ["positive", "negative", "none"],
            tmp_path,
            model="spacy_textcat_pairs",
        )


def aspects_workspace(folder: Path) -> Path:
    """A workspace of ``reviews(3)`` (every sixth text in dev, the rest in train) whose one
    voter gives every text's gold answers, aggregated by majority vote."""
    frame = reviews(3)
    gold = [
        json.dumps({a: row[a] for a in ("food", "staff") if row[a] != "none"})
        for row in frame.iter_rows(named=True)
    ]
    split = ["dev" if i % 6 == 0 else "train" for i in range(frame.height)]
    frame.select("id", "text").with_columns(gold=pl.Series(gold), split=pl.Series(split)).write_csv(
        folder / "reviews.csv"
    )
    path = folder / "ws.duckdb"
    with Workspace(path) as ws:
        ingest(
            ws,
            folder / "reviews.csv",
            label_column="gold",
            split_column="split",
            kind="aspects",
            labels=["positive", "negative"],
            attributes=["food", "staff"],
        )
        votes = rows(frame).select(
            pl.col("id").alias("example_id"), pl.lit("gold").alias("source"), "label", "attribute"
        )
        import_votes(ws, votes)
        aggregate(ws, "majority_vote")
    return path


def test_cli_trains_packages_and_predicts_an_aspects_workspace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    aspects_workspace(tmp_path)
    with Workspace(tmp_path / "ws.duckdb", read_only=True) as ws:
        cleaned = cleaned_labels(ws).height
        splits = dict(ws.sql("SELECT split, count(*) FROM examples GROUP BY split").rows())

    def labelkit(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "labelkit", *args], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    ws_path, out = str(tmp_path / "ws.duckdb"), tmp_path / "model"
    layout = "spacy_textcat_per_attribute"
    labelkit(
        "train",
        ws_path,
        str(out),
        "--dev-split",
        "dev",
        "--model",
        layout,
        "--param",
        "max_epochs=30",
    )
    nlp = spacy.load(out / "model-best")
    assert nlp.meta["labelkit"]["layout"] == layout
    assert cleaned == 2 * splits["train"]
    dev = DocBin().from_disk(out / "by_attribute" / "00_food" / "dev.spacy").get_docs(nlp.vocab)
    assert len(list(dev)) == splits["dev"], "gold dev chooses the model"
    with Workspace(tmp_path / "ws.duckdb", read_only=True) as ws:
        run = ws.sql("SELECT config FROM runs WHERE step = 'train'")["config"][0]
    assert json.loads(run)["model"] == "spacy_textcat_per_attribute"

    labelkit("package", str(out / "model-best"), str(tmp_path / "dist"), "--name", "rest")
    meta = json.loads(
        next((tmp_path / "dist").glob("en_rest-0.1.0/en_rest/en_rest-0.1.0/meta.json")).read_text()
    )
    assert meta["labelkit"]["task"]["kind"] == "aspects"

    pl.DataFrame({"body": TEXTS}).write_csv(tmp_path / "new.csv")
    labelkit(
        "predict",
        str(out / "model-best"),
        str(tmp_path / "new.csv"),
        str(tmp_path / "o.csv"),
        "--text-column",
        "body",
    )
    labelkit(
        "predict",
        str(out / "model-best"),
        str(tmp_path / "new.csv"),
        str(tmp_path / "o.jsonl"),
        "--text-column",
        "body",
    )
    table = pl.read_csv(tmp_path / "o.csv")
    assert table.columns[:5] == [
        "body",
        "predicted_food",
        "confidence_food",
        "predicted_staff",
        "confidence_staff",
    ]
    python_side = predict_frame(
        out / "model-best", pl.DataFrame({"body": TEXTS}), text_column="body"
    )
    assert table.equals(python_side.select(table.columns), null_equal=True)
    cats = nlp(TEXTS[0]).cats
    for attribute in ("food", "staff"):
        answers = {a: cats[f"{attribute}={a}"] for a in ("positive", "negative", "none")}
        assert table[f"predicted_{attribute}"][0] == max(answers, key=answers.get)
    assert pl.read_ndjson(tmp_path / "o.jsonl").equals(table)

    # The small model is scored per attribute on the dev split's gold, as predict answers.
    with Workspace(tmp_path / "ws.duckdb", read_only=True) as ws:
        dev = ws.sql("SELECT text, gold FROM examples WHERE split = 'dev' ORDER BY id")
        capsys.readouterr()
        scores = evaluate(ws, out / "model-best", split="dev").summary
        task = ws.task
    # Trial 45: its progress said "predicting frame", where the user passed none.
    assert "predicting dev split: " in capsys.readouterr().err
    said = predict_frame(out / "model-best", dev.select("text"))
    small = scores.filter(pl.col("method") == "small model")
    for attribute in ("food", "staff"):
        right = said[f"predicted_{attribute}"] == task.gold_answers(dev["gold"], attribute)
        accuracy = small.filter(pl.col("attribute") == attribute)["accuracy"][0]
        assert accuracy == pytest.approx(right.mean())
    assert small.filter(pl.col("attribute") == "(all)")["size_mb"][0] > 0


def rare_mentions() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Texts that mostly leave the staff out, as ``id, text, attribute, label`` rows:
    64 plain sentences (staff ``none``) and 8 of them with a waiter who was friendly
    (positive) or rude (negative), 1 text in 9 a mention, all twice; and held out, the
    other 56 sentences plain and with either waiter."""
    plain = [
        f"{who} {when}"
        for who, when in itertools.product(
            [
                "we came",
                "they parked",
                "i walked",
                "you booked",
                "she drove",
                "he called",
                "we ate",
                "they sat",
            ],
            [
                "on sunday",
                "at noon",
                "by train",
                "last week",
                "in june",
                "with friends",
                "after work",
                "for lunch",
            ],
        )
    ]
    waiter = {"positive": "and the waiter was friendly", "negative": "and the waiter was rude"}
    said = [(text, "none") for text in plain] + [
        (f"{text} {waiter[answer]}", answer)
        for text, answer in zip(plain[:8], itertools.cycle(waiter), strict=False)
    ]
    held_out = [(text, "none") for text in plain[8:]] + [
        (f"{text} {phrase}", answer) for text in plain[8:] for answer, phrase in waiter.items()
    ]

    def frame(pairs: list[tuple[str, str]]) -> pl.DataFrame:
        return pl.DataFrame(pairs, schema=["text", "label"], orient="row").with_columns(
            id=pl.int_range(pl.len()).cast(pl.String), attribute=pl.lit("staff")
        )

    return frame(said * 2), frame(held_out)


@pytest.mark.parametrize("targets", ["hard", "soft"])
def test_per_attribute_layout_learns_an_answer_few_texts_have(tmp_path: Path, targets: str) -> None:
    task = Task(("positive", "negative"), kind="aspects", attributes=("staff",))
    train, held_out = rare_mentions()
    answers = list(task.answers("staff").labels)
    train = train.with_columns(
        probabilities=pl.concat_list([(pl.col("label") == a).cast(pl.Float64) for a in answers])
    )
    dev = train.unique("text")

    def macro_f1(**params: Any) -> float:
        model = train_attributes(
            train,
            task,
            tmp_path / str(params),
            model="spacy_textcat_per_attribute",
            targets=targets,
            dev=dev,
            max_epochs=10,
            **params,
        )
        assert "class_weight" not in (model / "config.cfg").read_text(), "loads with spaCy"
        said = predict_frame(model, held_out.select("text"))["predicted_staff"]
        scores = [
            2
            * ((said == a) & (held_out["label"] == a)).sum()
            / ((said == a).sum() + (held_out["label"] == a).sum())
            for a in answers
        ]
        return sum(scores) / len(scores)

    assert macro_f1() > 0.6, "the answers weighed by their rarity (the default)"
    if targets == "hard":
        # Unweighted, 8 texts in 9 saying "none" teach the bag of words to say it always:
        # right on a third of the held-out texts, a macro-F1 of 1/6 (the old default).
        assert macro_f1(class_weight=None) == pytest.approx(1 / 6)


def test_a_verbose_training_counts_texts_not_text_and_attribute_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # Trial 62d: 1,800 reviews of 25 attributes were "train: ... on 45,000 texts".
    from labelkit import train_on_cleaned
    from labelkit.train import textcat

    monkeypatch.setattr(textcat, "HEARTBEAT_S", 0.001)
    path = aspects_workspace(tmp_path)
    with Workspace(path) as ws:
        texts = ws.sql("SELECT count(*) AS n FROM examples WHERE split = 'train'")["n"][0]
        train_on_cleaned(ws, tmp_path / "model", verbose=True)
    said = capfd.readouterr().err
    assert f"train: tfidf_char_clauses on {texts:,} texts: still running after 0 s" in said
    assert f"on {texts * 2:,} texts" not in said, "two attributes, one row each"
