"""The character n-gram classifier: trained on the cleaned set, C chosen on dev, scored,
packaged, and serving predictions with numpy and scikit-learn alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression

from labelkit import (
    InputError,
    LabelkitError,
    LabelkitWarning,
    Task,
    Workspace,
    aggregate,
    evaluate,
    import_votes,
    ingest,
    train_textcat,
)
from labelkit.train import (
    NoTextWarning,
    package_model,
    predict_file,
    predict_frame,
    train_attributes,
    train_on_cleaned,
)
from labelkit.train.char_ngram_loader import TextClassifier, vectorizer
from labelkit.train.char_ngrams import _Fit, _macro_f1, _strongest_within
from labelkit.train.ship import load_small_model
from tests.helpers import labelkit_with_stdin_closed
from tests.train.conftest import HAM, SPAM, install_and_score, run_installed

MODEL = "tfidf_char_logreg"
CLAUSES = "tfidf_char_clauses"


def spam_rows(copies: int = 3) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "text": (SPAM + HAM) * copies,
            "label": (["spam"] * len(SPAM) + ["ham"] * len(HAM)) * copies,
        }
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("char_ngrams")
    return train_textcat(spam_rows(), ["ham", "spam"], folder / "model", model=MODEL, seed=0)


def test_saved_model_is_numbers_and_strings_its_loader_reads(trained: Path) -> None:
    assert sorted(p.name for p in trained.iterdir()) == [
        "features.json",
        "loader.py",
        "meta.json",
        "weights.npz",
    ]
    meta = json.loads((trained / "meta.json").read_text())["labelkit"]
    assert meta["labels"] == ["ham", "spam"] and meta["kind"] == "char_ngram_classifier"
    assert meta["training"]["chosen_C"] in meta["training"]["C"]
    features = json.loads((trained / "features.json").read_text())
    assert "subs" in features and "subsc" in features, "character n-grams of 2 to 5"
    with np.load(trained / "weights.npz", allow_pickle=False) as weights:
        assert weights["coef"].shape == (2, len(features))
    loaded = TextClassifier(trained)
    texts = ["subscribe to my channel please", "her voice is beautiful", "check my page"]
    scores = np.array(list(loaded.pipe(texts, batch_size=2)))
    assert scores.sum(axis=1) == pytest.approx(1.0)
    assert scores.argmax(axis=1).tolist() == [1, 0, 1]
    one_by_one = np.array([next(loaded.pipe([text])) for text in texts])
    assert scores == pytest.approx(one_by_one)
    # Trial 48b: the packaged loader answered its prior for an empty text.
    called = loaded(["subscribe to my channel please", "", " \n"])
    assert called[0] == pytest.approx(dict(zip(["ham", "spam"], scores[0], strict=True)))
    assert called[1:] == [None, None]
    assert loaded.answers([*texts, ""]) == ["spam", "ham", "spam", None]
    # Trial 49c: one string was read as texts of a character each, None failed on
    # .lower(), and a generator on zip().
    with pytest.raises(TypeError, match="give a list of texts, not one text"):
        loaded("subscribe to my channel please")
    assert loaded([None]) == [None]
    assert loaded(text for text in texts[:1]) == called[:1]
    # Trial 53b: pandas' NaN failed in normalize(), and a number named no position.
    assert loaded([float("nan"), texts[0]]) == [None, called[0]]
    with pytest.raises(TypeError, match=r"text 1 is 12345 \(int\), not a string"):
        loaded([texts[0], 12345])


def test_its_probabilities_are_tempered_on_dev_and_its_answers_kept(tmp_path: Path) -> None:
    # Trial 33: SMS answers right 0.98 of the time, sure 0.69 on average (ECE 0.29): the
    # strongest regularisation wins on accuracy and leaves the probabilities flat.
    rows, dev = spam_rows(), spam_rows(4)
    model = train_textcat(rows, ["ham", "spam"], tmp_path / "m", model=MODEL, C=[0.3], dev=dev)
    meta = json.loads((model / "meta.json").read_text())["labelkit"]["training"]
    assert meta["temperature"] < 1.0
    # Trial 54e: 19 dev rows left the confidences untempered without a word.
    with pytest.warns(LabelkitWarning, match="8 dev labels are too few to fit the model's"):
        tiny = train_textcat(rows, ["ham", "spam"], tmp_path / "t", model=MODEL, dev=spam_rows(1))
    tiny_meta = json.loads((tiny / "meta.json").read_text())["labelkit"]["training"]
    assert tiny_meta["temperature"] == 1.0, "8 dev rows, all right, would only sharpen"
    features = vectorizer(meta["features"]).fit(rows["text"].to_list())
    plain = LogisticRegression(C=0.3, class_weight="balanced", max_iter=2_000).fit(
        features.transform(rows["text"].to_list()), (rows["label"] == "spam").to_numpy()
    )
    untempered = plain.predict_proba(features.transform(dev["text"].to_list()))
    tempered = np.array(list(TextClassifier(model).pipe(dev["text"].to_list())))
    assert (tempered.argmax(axis=1) == untempered.argmax(axis=1)).all(), "no answer changes"
    assert tempered.max(axis=1).mean() > untempered.max(axis=1).mean() + 0.1


def test_a_text_that_is_not_there_gets_no_prediction(trained: Path) -> None:
    texts = pl.Series("text", ["free money click here", "", None, "best music video"])
    with pytest.warns(NoTextWarning, match="frame: 2 rows have no text"):
        predicted = predict_frame(trained, texts.to_frame())
    assert predicted["predicted"].to_list() == ["spam", None, None, "ham"]
    assert predicted["score_spam"].null_count() == predicted["confidence"].null_count() == 2


def test_a_column_predictions_would_add_is_refused_with_the_way_out(trained: Path) -> None:
    frame = pl.DataFrame({"text": ["free money click here"], "predicted": ["spam"]})
    with pytest.raises(
        InputError,
        match=r"frame: already has columns \['predicted'\], which predictions add and never "
        "overwrite: rename or drop them",
    ):
        predict_frame(trained, frame)


def test_predict_file_says_when_the_text_column_holds_single_words_and_another_sentences(
    trained: Path, tmp_path: Path
) -> None:
    # Trial 32: `predict --text-column id` labeled every id without a word.
    path = tmp_path / "new.csv"
    pl.DataFrame(
        {"id": ["train:1", "train:2"], "body": ["subscribe to my channel", "great song"]}
    ).write_csv(path)
    with pytest.warns(NoTextWarning, match="column 'id' holds no text of more than one word, "):
        predict_file(trained, path, tmp_path / "out.csv", text_column="id")
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoTextWarning)
        assert predict_file(trained, path, tmp_path / "out.csv", text_column="body") == 2


def test_a_list_column_as_text_is_refused_by_name(trained: Path) -> None:
    # Trial 33: a polars cast error that named no column.
    frame = pl.DataFrame({"tags": [["a", "b"], ["c"]]})
    with pytest.raises(InputError, match=r"column 'tags' holds List\(String\), not text"):
        predict_frame(trained, frame, text_column="tags")
    # Trial 44: a file of numbers was labelled as their digits, which ingest refuses.
    with pytest.raises(InputError, match=r"column 'text' holds Int64, not text"):
        predict_frame(trained, pl.DataFrame({"text": [5, 7]}))
    # Trial 49c: bytes met polars' "invalid utf8", or a traceback once written to CSV.
    with pytest.raises(InputError, match=r"column 'text' holds bytes \(Binary\), not text"):
        predict_frame(trained, pl.DataFrame({"text": [b"caf\xe9", b"ok"]}))


def test_predict_file_reads_an_input_in_another_encoding(trained: Path, tmp_path: Path) -> None:
    # Trial 25: the error pointed to --encoding, which predict did not have.
    path = tmp_path / "new.csv"
    path.write_bytes("text\nsubscribe to my caf\u00e9 channel\n".encode("cp1252"))
    with pytest.raises(InputError, match="line 2: byte 0xe9 is not valid utf-8"):
        predict_file(trained, path, tmp_path / "out.csv")
    assert predict_file(trained, path, tmp_path / "out.csv", encoding="cp1252") == 1
    written = pl.read_csv(tmp_path / "out.csv")
    assert written["text"].to_list() == ["subscribe to my caf\u00e9 channel"]
    expected = predict_frame(trained, written.select("text"))["predicted"].to_list()
    assert written["predicted"].to_list() == expected


def test_spelling_variants_share_features_a_bag_of_words_lacks(tmp_path: Path) -> None:
    # "subscribers" and "subscribing" never occur in training; their n-grams do.
    model = train_textcat(spam_rows(), ["ham", "spam"], tmp_path / "m", model=MODEL)
    predicted = predict_frame(model, pl.DataFrame({"text": ["subscribers", "subscribing"]}))
    assert predicted["predicted"].to_list() == ["spam", "spam"]


def test_the_shipped_model_reads_what_predict_reads_of_a_long_text(trained: Path) -> None:
    # Trial 59d: predict read the first million characters of a 2.65M-character text
    # and said technical 0.992; the shipped model read it all and said 0.654.
    start = "I love this song so much " * 40_000
    long = start + "subscribe to my channel http://x.io " * 40_000
    assert len(start) == 1_000_000
    shipped = load_small_model(trained)
    assert shipped([long]) == shipped([start])
    with pytest.warns(NoTextWarning, match="longer than 1,000,000 characters"):
        predicted = predict_frame(trained, pl.DataFrame({"text": [long]}))
    assert predicted["score_spam"][0] == pytest.approx(shipped([start])[0]["spam"])


def test_c_is_chosen_on_dev_and_verbose_says_each_score(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Dev labels the spam texts "ham": the weakest fit (smallest C) agrees with dev most.
    dev = spam_rows(1).with_columns(label=pl.lit("ham"))
    model = train_textcat(
        spam_rows(),
        ["ham", "spam"],
        tmp_path / "m",
        model=MODEL,
        dev=dev,
        C=[0.01, 100.0],
        class_weight=None,
        verbose=True,
    )
    shown = capsys.readouterr().out
    assert "C=0.01: dev accuracy" in shown and "C=100: dev accuracy" in shown
    training = json.loads((model / "meta.json").read_text())["labelkit"]["training"]
    scores = {
        float(line.split("=")[1].split(":")[0]): float(line.split()[-1])
        for line in shown.splitlines()
        if line.startswith("C=")
    }
    best = max(scores.values())
    slack = (best * (1 - best) / dev.height) ** 0.5
    within = [c for c, score in scores.items() if score >= best - slack]
    assert training["chosen_C"] == min(within), "the strongest within a standard error"
    assert training["dev_accuracy"] == scores[training["chosen_C"]]


def test_c_is_chosen_by_macro_f1_where_a_label_is_rare_in_dev(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Trial 58c: on a dev split of few scams, accuracy rewards a model that never says scam.
    rows = spam_rows(1)
    dev = pl.concat([rows.filter(pl.col("label") == "ham")] * 4 + [rows.head(1)])
    assert dev["label"].value_counts()["count"].min() < 0.25 * dev.height
    model = train_textcat(
        spam_rows(), ["ham", "spam"], tmp_path / "m", model=MODEL, dev=dev, C=[0.01, 100.0],
        verbose=True,
    )  # fmt: skip
    shown = capsys.readouterr().out
    scores = {
        float(line.split("=")[1].split(":")[0]): float(line.split()[-1])
        for line in shown.splitlines()
        if line.startswith("C=")
    }
    assert "C=0.01: dev macro_f1" in shown and "dev accuracy" not in shown
    training = json.loads((model / "meta.json").read_text())["labelkit"]["training"]
    best = max(scores.values())
    slack = (best * (1 - best) / dev.height) ** 0.5
    within = [c for c, score in scores.items() if score >= best - slack]
    assert training["chosen_C"] == min(within), "the strongest within a standard error"
    assert training["dev_macro_f1"] == scores[training["chosen_C"]]
    assert "dev_accuracy" not in training


def test_dev_macro_f1_is_over_the_labels_dev_gold_has() -> None:
    # Trial 63b: dev held no chess; C=0.3's one wrong guess of chess counted chess as a
    # class at F1 0 in its mean, and C=10, which never guessed it, was chosen: test
    # accuracy 0.780 against 0.867.
    gold = np.array([0, 0, 1, 1])
    assert _macro_f1(gold, np.array([0, 0, 1, 2])) == pytest.approx((1 + 2 / 3) / 2)
    assert _macro_f1(gold, np.array([0, 0, 1, 0])) == pytest.approx((0.8 + 2 / 3) / 2)


def test_c_is_the_strongest_within_one_standard_error_of_the_best() -> None:
    # MAMS food polarity: 290 dev rows chose C=10 on 0.679 against C=1's 0.666, where
    # one standard error is 0.027; on test C=1 scored 0.680 and C=10 0.653.
    fits = [_Fit(None, None, c, score) for c, score in [(0.3, 0.621), (1, 0.666), (10, 0.679)]]
    assert _strongest_within(fits, (0.679 * 0.321 / 290) ** 0.5).c == 1
    assert _strongest_within(fits, 0.0).c == 10, "no slack: the best"
    tied = [_Fit(None, None, c, 0.9) for c in (3.0, 0.3, 1.0)]
    assert _strongest_within(tied, 0.0).c == 0.3, "of equals, the smallest C, in any order"


def test_a_label_the_rows_never_give_scores_zero(tmp_path: Path) -> None:
    model = train_textcat(spam_rows(), ["ham", "other", "spam"], tmp_path / "m", model=MODEL)
    scores = np.array(list(TextClassifier(model).pipe(["free money", "lovely song"])))
    assert scores[:, 1] == pytest.approx(0.0, abs=1e-9)
    assert scores.argmax(axis=1).tolist() == [2, 0]


def test_soft_targets_weigh_each_label_by_its_probability() -> None:
    from labelkit.train.char_ngrams import _training_rows

    rows = pl.DataFrame(
        {
            "label": ["spam", "ham"],
            "probabilities": [[0.3, 0.7], [1.0, 0.0]],
            "confidence": [0.7, 1.0],
        }
    )
    matrix = np.array([[1.0, 0.0], [0.0, 1.0]])
    x, codes, weights = _training_rows(rows, matrix, ["ham", "spam"], "soft")
    assert x.tolist() == [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
    assert codes.tolist() == [0, 1, 0] and weights.tolist() == pytest.approx([0.3, 0.7, 1.0])
    _, codes, weights = _training_rows(rows, matrix, ["ham", "spam"], "weighted")
    assert codes.tolist() == [1, 0] and weights.tolist() == [0.7, 1.0]


def test_max_features_null_keeps_every_n_gram(tmp_path: Path) -> None:
    # The check for max_features below 1 compared None with 1, a TypeError.
    model = train_textcat(
        spam_rows(), ["ham", "spam"], tmp_path / "m", model=MODEL, max_features=None
    )
    features = json.loads((model / "features.json").read_text())
    capped = train_textcat(
        spam_rows(), ["ham", "spam"], tmp_path / "c", model=MODEL, max_features=5
    )
    assert len(json.loads((capped / "features.json").read_text())) == 5 < len(features)


def test_bad_settings_and_rows_are_refused_with_the_reason(tmp_path: Path) -> None:
    rows = spam_rows()
    for params, message in (
        ({"C": [0.0]}, "C must be one or more positive numbers"),
        ({"class_weight": "heavy"}, "class_weight must be 'balanced' or null"),
        ({"ngram_min": 4, "ngram_max": 2}, "need 1 <= ngram_min <= ngram_max"),
        # Was a TypeError from deep inside: a spaCy model's parameter, named and refused.
        ({"max_epochs": 3}, f"small model '{MODEL}' takes no parameter 'max_epochs'; it takes"),
        # --param C=abc (text, not JSON) was a ValueError from numpy.
        ({"C": "abc"}, r"C takes what its default does \(\(0.3, 1.0"),
        # Trial 44: 0 said "found no n-grams in the training texts".
        ({"max_features": 0}, "max_features keeps the commonest n-grams: at least 1, got 0"),
    ):
        with pytest.raises(LabelkitError, match=message):
            train_textcat(rows, ["ham", "spam"], tmp_path / "m", model=MODEL, **params)
    one_label = rows.with_columns(label=pl.lit("spam"))
    with pytest.raises(LabelkitError, match="at least two labels"):
        train_textcat(one_label, ["ham", "spam"], tmp_path / "m", model=MODEL)
    multi = pl.DataFrame({"text": ["a b"] * 10, "label": [["ham"]] * 10})
    with pytest.raises(LabelkitError, match=f"{MODEL} gives one label per text"):
        train_textcat(multi, ["ham", "spam"], tmp_path / "m", model=MODEL)
    from tests.train.test_attributes import TASK, reviews
    from tests.train.test_attributes import rows as attribute_rows

    # The pairs layout is one multi-label spaCy textcat.
    with pytest.raises(LabelkitError, match=f"{MODEL} trains one classifier per attribute, not"):
        train_attributes(
            attribute_rows(reviews(1)),
            TASK,
            tmp_path / "a",
            model="spacy_textcat_pairs",
            base=MODEL,
        )
    for model in (MODEL, CLAUSES):
        with pytest.raises(LabelkitError, match=f"{model} takes no spaCy config"):
            train_attributes(
                attribute_rows(reviews(1)),
                TASK,
                tmp_path / "a",
                model=model,
                config_path=tmp_path / "x.cfg",
            )
    assert not (tmp_path / "a").exists()


def test_evaluate_and_predict_on_a_workspace(spam_workspace: Path, tmp_path: Path) -> None:
    with Workspace(spam_workspace) as ws:
        model = train_on_cleaned(ws, tmp_path / "m", model=MODEL, dev_split="dev")
        evaluation = evaluate(ws, model)
    row = evaluation.summary.filter(pl.col("kind") == "small model").row(0, named=True)
    assert row["method"] == "small model (n-grams)"
    size = sum(f.stat().st_size for f in model.rglob("*") if f.is_file())
    assert row["size_mb"] == size / 1e6 and row["words_per_s"] > 0
    with Workspace(spam_workspace, read_only=True) as ws:
        test = ws.sql("SELECT text, gold FROM examples WHERE split = 'test' ORDER BY id")
    predicted = predict_frame(model, test.select("text"))
    assert row["accuracy"] == pytest.approx((predicted["predicted"] == test["gold"]).mean())
    # One core each, so predict forks workers for it: the same answers.
    assert predict_frame(model, test.select("text"), n_process=2).equals(predicted)
    assert isinstance(load_small_model(model), TextClassifier)
    # Trial 45: chosen on test, its evaluate scores then measure the choice; not a word.
    with (
        Workspace(spam_workspace) as ws,
        pytest.warns(LabelkitWarning, match="choosing the model on the test split's gold"),
    ):
        train_on_cleaned(ws, tmp_path / "t", model=MODEL, dev_split="test")


def test_package_loads_with_numpy_and_scikit_learn_alone_and_serves_predict(
    trained: Path, tmp_path: Path
) -> None:
    wheel = package_model(trained, tmp_path / "dist", name="spam_chars", license="CC-BY-4.0")
    site = tmp_path / "site"
    scores, modules = install_and_score(wheel, site, "subscribe to my channel")
    assert not {"labelkit", "spacy", "torch", "polars"} & modules
    # Trial 59d: spacy.load of the package ended in "unexpected keyword argument 'vocab'".
    told = run_installed(
        wheel,
        site,
        "import json, spacy\ntry: spacy.load('en_spam_chars')\n"
        "except TypeError as error: print(json.dumps(str(error)))",
    )
    assert told == (
        "en_spam_chars is no spaCy pipeline, and spacy.load cannot load it: "
        "`import en_spam_chars; model = en_spam_chars.load(); model(texts)`"
    )
    assert scores == pytest.approx(TextClassifier(trained)(["subscribe to my channel"])[0])
    pyproject = next(tmp_path.glob("dist/*/pyproject.toml")).read_text()
    # Trial 49c: no Python or version bounds, so it installed on 3.9 and failed to load.
    assert 'dependencies = ["numpy>=1.23", "scikit-learn>=1.2"]' in pyproject
    assert 'requires-python = ">=3.10"' in pyproject
    # Trial 49c: no way to say the licence of a model learnt from CC BY 4.0 comments.
    assert 'license = {text = "CC-BY-4.0"}' in pyproject
    meta = json.loads(next(tmp_path.glob("dist/*/en_spam_chars/model/meta.json")).read_text())
    assert meta["license"] == "CC-BY-4.0"
    # Trial 59d: two builds of one model made two wheels, byte for byte.
    again = package_model(trained, tmp_path / "again", name="spam_chars", license="CC-BY-4.0")
    assert again.read_bytes() == wheel.read_bytes()
    with pytest.raises(InputError, match="version 'not a version' is no Python package version"):
        package_model(trained, tmp_path / "dist2", name="spam_chars", version="not a version")
    assert not (tmp_path / "dist2").exists()

    texts = ["subscribe to my channel", "her voice is beautiful", "free money"]
    pl.DataFrame({"id": [1, 2, 3], "text": texts}).write_ndjson(tmp_path / "in.jsonl")
    env = dict(os.environ, PYTHONPATH=f"{site}:{os.environ.get('PYTHONPATH', '')}")
    out = tmp_path / "out.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "labelkit", "predict", "en_spam_chars", tmp_path / "in.jsonl", out],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    # Trial 30: the progress bar left a blank line on piped stdout, above this one.
    assert done.stdout == f"3 rows labeled into {out}\n"
    served = pl.read_ndjson(out)
    assert served.columns == ["id", "text", "predicted", "confidence", "score_ham", "score_spam"]
    expected = predict_frame(trained, served.select("text"))["predicted"]
    assert served["predicted"].to_list() == expected.to_list()


def test_a_model_of_another_language_says_so_and_packages_under_it(tmp_path: Path) -> None:
    # Trial 50a: a German workspace's n-grams said "lang": "en" and packaged as en_.
    model = train_textcat(spam_rows(), ["ham", "spam"], tmp_path / "m", model=MODEL, lang="de")
    assert json.loads((model / "meta.json").read_text())["lang"] == "de"
    source = package_model(model, tmp_path / "dist", name="kunden", wheel=False)
    assert source.name == "de_kunden-0.1.0"
    assert (source / "de_kunden" / "__init__.py").is_file()
    assert 'name = "de_kunden"' in (source / "pyproject.toml").read_text()


def test_a_text_in_nfd_gets_the_answers_of_the_same_text_in_nfc(tmp_path: Path) -> None:
    # Trial 50a: "Rückerstattung ..." scored rechnung 0.863 in NFC and 0.648 in NFD (as
    # macOS writes it): the n-grams of "ü" differ from those of "u" and its mark.
    texts = ["Rückerstattung für die Überweisung", "Grüße, das Paket fehlt"] * 6
    rows = pl.DataFrame({"text": texts, "label": ["rechnung", "lieferung"] * 6})
    model = train_textcat(rows, ["rechnung", "lieferung"], tmp_path / "m", model=MODEL, lang="de")
    nfc = "Rückerstattung fehlt, Überweisung bitte"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    scored = list(TextClassifier(model).pipe([nfc, nfd]))
    assert scored[0] == pytest.approx(scored[1])


def test_aspects_get_one_regression_per_attribute_over_one_vocabulary(tmp_path: Path) -> None:
    from tests.train.test_attributes import TASK, reviews
    from tests.train.test_attributes import rows as attribute_rows

    model = train_attributes(attribute_rows(reviews()), TASK, tmp_path / "a", model=MODEL)
    meta = json.loads((model / "meta.json").read_text())["labelkit"]
    assert meta["groups"] == [3, 3] and meta["task"]["kind"] == "aspects"
    assert meta["labels"][:3] == ["food=positive", "food=negative", "food=none"]
    by_attribute = meta["training"]["by_attribute"]
    assert set(by_attribute) == {"food", "staff"}
    assert all(chosen["C"] in meta["training"]["C"] for chosen in by_attribute.values())
    texts = ["delicious pizza and rude waiter", "grumpy waitress", "stale pizza"]
    predicted = predict_frame(model, pl.DataFrame({"text": texts}))
    assert predicted["predicted_food"].to_list() == ["positive", "none", "negative"]
    assert predicted["predicted_staff"].to_list() == ["negative", "negative", "none"]
    scores = np.array(list(TextClassifier(model).pipe(texts)))
    assert scores[:, :3].sum(axis=1) == pytest.approx(1.0), "a softmax per attribute"
    assert scores[:, 3:].sum(axis=1) == pytest.approx(1.0)
    confidence = predicted["confidence_staff"].to_numpy()
    assert confidence == pytest.approx(scores[:, 3:].max(axis=1))


def test_an_attribute_with_one_answer_always_gives_it(tmp_path: Path) -> None:
    from tests.train.test_attributes import TASK, reviews
    from tests.train.test_attributes import rows as attribute_rows

    staff_never = attribute_rows(reviews()).with_columns(
        label=pl.when(pl.col("attribute") == "staff")
        .then(pl.lit("none"))
        .otherwise(pl.col("label"))
    )
    model = train_attributes(staff_never, TASK, tmp_path / "a", model=MODEL)
    texts = ["rude waiter", "friendly waiter and tasty pasta"]
    predicted = predict_frame(model, pl.DataFrame({"text": texts}))
    assert predicted["predicted_staff"].to_list() == ["none", "none"]
    assert predicted["confidence_staff"].to_list() == pytest.approx([1.0, 1.0])
    assert predicted["predicted_food"].to_list() == ["none", "positive"]
    with pytest.raises(LabelkitError, match="no training labels for attribute 'staff'"):
        train_attributes(
            staff_never.filter(pl.col("attribute") == "food"), TASK, tmp_path / "b", model=MODEL
        )
    assert not (tmp_path / "b").exists()
    # The second read of stop 55: a task of one attribute is one group of outputs, and
    # its answers were given as a bare label ("food=positive").
    food = Task(TASK.labels, kind="aspects", attributes=("food",))
    one = train_attributes(
        staff_never.filter(pl.col("attribute") == "food"), food, tmp_path / "c", model=MODEL
    )
    assert TextClassifier(one).answers(texts) == [{"food": "none"}, {"food": "positive"}]


def test_aspects_model_is_evaluated_packaged_and_served_alone(tmp_path: Path) -> None:
    from tests.train.test_attributes import aspects_workspace

    path = aspects_workspace(tmp_path)
    with Workspace(path) as ws:
        model = train_on_cleaned(ws, tmp_path / "m", dev_split="dev")
    assert isinstance(load_small_model(model), TextClassifier), "the default for attributes"
    # It was tfidf_char_logreg: train_attributes had the new default, train_on_cleaned not.
    assert json.loads((model / "meta.json").read_text())["labelkit"]["layout"] == "clauses"
    with Workspace(path) as ws:
        small = evaluate(ws, model, split="dev").summary.filter(pl.col("kind") == "small model")
        dev = ws.sql("SELECT text, gold FROM examples WHERE split = 'dev' ORDER BY id")
        task = ws.task
    said = predict_frame(model, dev.select("text"))
    for attribute in ("food", "staff"):
        right = said[f"predicted_{attribute}"] == task.gold_answers(dev["gold"], attribute)
        assert small.filter(pl.col("attribute") == attribute)["accuracy"][0] == pytest.approx(
            right.mean()
        )
    assert small.filter(pl.col("attribute") == "(all)")["macro_f1"][0] > 0.9
    # Trial 55c: a packaged model's users rebuilt predict's answers from the flat scores.
    answers = TextClassifier(model).answers([*dev["text"], " "])
    assert answers[-1] is None
    assert answers[:-1] == said.select(food="predicted_food", staff="predicted_staff").to_dicts()

    wheel = package_model(model, tmp_path / "dist", name="rest_chars")
    scores, modules = install_and_score(wheel, tmp_path / "site", "rude waiter and tasty pasta")
    assert not {"labelkit", "spacy", "polars"} & modules
    expected = TextClassifier(model)(["rude waiter and tasty pasta"])[0]
    assert scores == pytest.approx(expected)
    assert expected["staff=negative"] > 0.5 and expected["food=positive"] > 0.5


def test_a_multilabel_task_gets_a_yes_or_no_regression_per_label(tmp_path: Path) -> None:
    from tests.train.test_attributes import reviews

    task = Task(("food", "staff"), kind="multilabel")
    frame = reviews().with_columns(
        (pl.col(a) != "none").replace_strict({True: "yes", False: "no"}).alias(a)
        for a in ("food", "staff")
    )
    rows = pl.concat(
        frame.select("id", "text", pl.lit(a).alias("attribute"), pl.col(a).alias("label"))
        for a in ("food", "staff")
    )
    model = train_attributes(rows, task, tmp_path / "m")
    meta = json.loads((model / "meta.json").read_text())["labelkit"]
    # Trial 49a: the clauses, the aspects' default, gave the same at twice the cost.
    assert meta["layout"] == "per_attribute", "the whole-text regressions, not the clauses"
    assert meta["labels"] == [
        "food=yes",
        "food=no",
        "staff=yes",
        "staff=no",
    ]
    texts = ["cold soup and rude waiter", "helpful waitress", "tasty pasta"]
    predicted = predict_frame(model, pl.DataFrame({"text": texts}))
    assert predicted.select("predicted_food", "predicted_staff").rows() == [
        ("yes", "yes"),
        ("no", "yes"),
        ("yes", "no"),
    ]
    assert TextClassifier(model).answers(texts) == [
        {"food": "yes", "staff": "yes"},
        {"food": "no", "staff": "yes"},
        {"food": "yes", "staff": "no"},
    ]
    # No text, no answer: not "no" to every label.
    with pytest.warns(NoTextWarning, match="frame: 1 row has no text"):
        blank = predict_frame(model, pl.DataFrame({"text": ["tasty pasta", " "]}))
    assert blank.row(1) == (" ",) + (None,) * (blank.width - 1)
    assert blank.row(0) == predicted.row(2)


def test_a_threshold_decides_presence_where_the_model_scores_the_absent_answer(
    tmp_path: Path,
) -> None:
    # Trial 25: --threshold 0.9 and 0.1 wrote the same file: the default per-attribute
    # n-grams took the most probable answer whatever the threshold.
    from tests.train.test_attributes import TASK, reviews, rows

    model = train_attributes(rows(reviews()), TASK, tmp_path / "m")
    texts = pl.DataFrame({"text": ["rude waiter", "tasty pasta", "the waiter and the pasta"]})
    scored = predict_frame(model, texts)
    present = 1 - scored["score_staff=none"]
    for threshold in (0.05, 0.5, 0.95):
        said = predict_frame(model, texts, threshold=threshold)
        best = said.select(
            pl.concat_list(pl.col("^score_staff=(positive|negative)$")).list.arg_max()
        ).to_series()
        expected = [
            ("positive", "negative")[b] if p >= threshold else "none"
            for b, p in zip(best, present, strict=True)
        ]
        assert said["predicted_staff"].to_list() == expected
    assert predict_frame(model, texts, threshold=0.01)["predicted_staff"].to_list() != (
        predict_frame(model, texts, threshold=0.99)["predicted_staff"].to_list()
    )


def test_evaluate_refuses_a_model_of_another_task(trained: Path, tmp_path: Path) -> None:
    # Trial 25: an aspects model on a multi-label workspace failed on a missing
    # 'predicted_ambience' column, and a one-label model on an aspects one likewise.
    from labelkit import Task
    from tests.train.test_attributes import aspects_workspace, reviews

    multilabel = Task(("food", "staff"), kind="multilabel")
    rows = pl.concat(
        reviews().select(
            "id",
            "text",
            pl.lit(a).alias("attribute"),
            pl.when(pl.col(a) == "none").then(pl.lit("no")).otherwise(pl.lit("yes")).alias("label"),
        )
        for a in ("food", "staff")
    )
    model = train_attributes(rows, multilabel, tmp_path / "m")
    with Workspace(aspects_workspace(tmp_path)) as ws:
        with pytest.raises(LabelkitError, match=r"trained for another task \(multilabel, labels"):
            evaluate(ws, model, split="dev")
        with pytest.raises(LabelkitError, match="gives one label per text; this task is aspects"):
            evaluate(ws, trained, split="dev")


GOOD, BAD = ("great", "lovely", "excellent"), ("awful", "terrible", "dreadful")
DISHES, STAFF = ("pizza", "pasta", "soup", "salad"), ("waiter", "waitress", "bartender", "host")


def clause_reviews() -> pl.DataFrame:
    """Sentences praising one of food and staff and faulting the other in two clauses,
    and sentences of one clause about one of them: the same sentiment words serve both,
    so only the clause that names an attribute tells its answer."""
    data = []
    for i, (dish, person) in enumerate(zip(DISHES * 3, STAFF * 3, strict=True)):
        good, bad = GOOD[i % 3], BAD[(i + 1) % 3]
        data += [
            (f"the {dish} was {good}, but the {person} was {bad}", "positive", "negative"),
            (f"the {dish} was {bad}, but the {person} was {good}", "negative", "positive"),
            (f"the {person} was {good}. the {dish} was {bad}", "negative", "positive"),
            (f"the {dish} was {good}", "positive", "none"),
            (f"the {person} was {bad}", "none", "negative"),
            ("we went there on a tuesday", "none", "none"),
        ]
    return as_rows(data * 2)


def as_rows(data: list[tuple[str, str, str]]) -> pl.DataFrame:
    """``(text, food, staff)`` tuples as rows of ``id, text, attribute, label``."""
    from tests.train.test_attributes import rows

    frame = pl.DataFrame(data, schema=["text", "food", "staff"], orient="row")
    return rows(frame.with_row_index("id").with_columns(pl.col("id").cast(pl.String)))


def test_clause_model_reads_each_attribute_from_the_clause_that_names_it(
    tmp_path: Path,
) -> None:
    from tests.train.test_attributes import TASK

    model = train_attributes(clause_reviews(), TASK, tmp_path / "c", model=CLAUSES)
    # The same n-grams in both (no comma: char_wb keeps it with its word, "lovely,"),
    # so a model of the whole text cannot tell them apart.
    texts = [
        "the soup was lovely but the host was dreadful",
        "the soup was dreadful but the host was lovely",
    ]
    said = predict_frame(model, pl.DataFrame({"text": texts}))
    assert said.select("predicted_food", "predicted_staff").rows() == [
        ("positive", "negative"),
        ("negative", "positive"),
    ]
    meta = json.loads((model / "meta.json").read_text())["labelkit"]
    assert meta["layout"] == "clauses" and meta["groups"] == [3, 3]
    assert meta["training"]["connectives"][:2] == ["and", "but"]
    scores = np.array(list(TextClassifier(model).pipe([*texts, "the pizza was great"])))
    assert scores[:, :3].sum(axis=1) == pytest.approx(1.0)
    assert scores[:, 3:].sum(axis=1) == pytest.approx(1.0)
    assert scores[2, 5] > 0.5, "no staff in a sentence about the pizza"


def test_clause_model_takes_soft_and_weighted_targets(tmp_path: Path) -> None:
    from tests.train.test_attributes import TASK

    rows = clause_reviews()
    answers = list(TASK.answers("food").labels)
    soft = rows.with_columns(
        probabilities=pl.col("label").map_elements(
            lambda label: [0.85 if a == label else 0.05 for a in answers],
            return_dtype=pl.List(pl.Float64),
        ),
        confidence=pl.lit(0.9),
    )
    texts = pl.DataFrame({"text": ["the salad was terrible, but the waiter was excellent"]})
    for targets in ("soft", "weighted"):
        model = train_attributes(soft, TASK, tmp_path / targets, model=CLAUSES, targets=targets)
        said = predict_frame(model, texts)
        assert said.select("predicted_food", "predicted_staff").row(0) == ("negative", "positive")


def test_clause_model_splits_at_punctuation_alone_in_another_language(tmp_path: Path) -> None:
    from labelkit import Task

    task = Task(("positive", "negative"), kind="aspects", attributes=("food", "staff"), lang="de")
    model = train_attributes(clause_reviews(), task, tmp_path / "de", model=CLAUSES)
    meta = json.loads((model / "meta.json").read_text())["labelkit"]
    assert meta["training"]["connectives"] == []
    assert meta["clauses"]["pattern"] == "(?i)(?:[,;!?]|\\.(?!\\d))+"
    mine = train_attributes(
        clause_reviews(), task, tmp_path / "own", model=CLAUSES, connectives=["aber"]
    )
    pattern = json.loads((mine / "meta.json").read_text())["labelkit"]["clauses"]["pattern"]
    assert pattern == "(?i)(?:[,;!?]|\\.(?!\\d))+|\\s(?:aber)\\s"


def test_clause_model_refuses_a_classification_task_and_bad_settings(tmp_path: Path) -> None:
    from tests.train.test_attributes import TASK

    with pytest.raises(LabelkitError, match="tfidf_char_clauses answers a task with attributes"):
        train_textcat(spam_rows(), ["ham", "spam"], tmp_path / "s", model=CLAUSES)
    for bad in ("but", 5, ["but", " "]):
        with pytest.raises(LabelkitError, match="connectives must be a list of words, got"):
            train_attributes(clause_reviews(), TASK, tmp_path / "a", model=CLAUSES, connectives=bad)
    nothing = clause_reviews().with_columns(label=pl.lit("none"))
    with pytest.raises(
        LabelkitError, match=r"no training text mentions any of \['food', 'staff'\]"
    ):
        train_attributes(nothing, TASK, tmp_path / "n", model=CLAUSES)
    with pytest.raises(LabelkitError, match="takes no parameter 'conectives'"):
        train_attributes(clause_reviews(), TASK, tmp_path / "b", model=CLAUSES, conectives=[])
    with pytest.raises(LabelkitError, match="C must be one or more positive numbers"):
        train_attributes(clause_reviews(), TASK, tmp_path / "c", model=CLAUSES, C=[0])
    assert not {"s", "a", "b", "c", "n"} & {p.name for p in tmp_path.iterdir()}


def test_clause_model_reads_the_whole_text_for_an_attribute_every_text_mentions(
    tmp_path: Path,
) -> None:
    # The second read found it: with no text to tell "mentioned" from, every clause
    # scored alike and the answer was read from the first, here the day of the visit.
    from tests.train.test_attributes import TASK

    data = []
    for i, person in enumerate(STAFF * 3):
        data += [
            (f"we came on day {i}, the {person} was {GOOD[i % 3]}", "none", "positive"),
            (f"we came on day {i}, the {person} was {BAD[i % 3]}", "none", "negative"),
            (f"the {person} was {GOOD[i % 3]}, the {DISHES[i % 4]} too", "positive", "positive"),
        ]
    model = train_attributes(as_rows(data * 2), TASK, tmp_path / "m", model=CLAUSES)
    texts = [
        "we came on a sunday, the host was dreadful",
        "we came on a monday, the host was lovely",
    ]
    said = predict_frame(model, pl.DataFrame({"text": texts}))
    assert said["predicted_staff"].to_list() == ["negative", "positive"]


def test_a_model_reads_and_writes_the_same_under_any_locale(tmp_path: Path) -> None:
    # Trial 60e: under an ISO-8859-1 locale the n-grams were written or read in the
    # locale's encoding: training failed, or a model trained under UTF-8 read its
    # non-ASCII n-grams back garbled and 13 of 200 predictions changed unsaid.
    # Here the locale's encoding is ASCII, which fails where it is used.
    texts = ["Gewinne jetzt 1000 € – klick hier", "Grüße aus Köln, schönes Video"]
    script = (
        "import json, sys, polars as pl\n"
        "from labelkit import train_textcat\n"
        "from labelkit.train import predict_frame\n"
        "rows = pl.DataFrame({'text': ['Gewinne ein Handy, klick hier jetzt €€', "
        "'Gratis Geld für dich, klick', 'Schönes Lied, grüße aus Zürich', "
        "'Die Stimme ist wunderschön'] * 4, 'label': ['spam', 'spam', 'ham', 'ham'] * 4})\n"
        f"model = train_textcat(rows, ['ham', 'spam'], {str(tmp_path / 'm')!r}, "
        f"model={MODEL!r}, seed=0)\n"
        f"scores = predict_frame(model, pl.DataFrame({{'text': {texts!r}}}))\n"
        "print(json.dumps(scores['confidence'].to_list()))\n"
    )
    ascii_locale = dict(os.environ, LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0")
    # A file, as a command line of non-ASCII cannot be decoded in ASCII; Python reads
    # its sources as UTF-8 under any locale.
    (tmp_path / "train.py").write_text(script, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, tmp_path / "train.py"], capture_output=True, text=True, env=ascii_locale
    )
    assert done.returncode == 0, done.stderr[-2000:]
    model = tmp_path / "m" / "model-best"
    features = json.loads((model / "features.json").read_bytes().decode("utf-8"))
    assert any("€" in feature for feature in features)
    read_there = json.loads(done.stdout.splitlines()[-1])
    read_here = predict_frame(model, pl.DataFrame({"text": texts}))["confidence"].to_list()
    assert read_there == pytest.approx(read_here)


def test_a_failed_build_leaves_no_package_folder_behind(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Trial 60e: a build that failed (a read-only HOME, a full disk) left its folder,
    # and the next try was refused: "a package ... was made there before".
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # the build's setuptools cannot be fetched
    with pytest.raises(LabelkitError, match="building the wheel"):
        package_model(trained, tmp_path / "dist", name="spam_chars")
    assert list((tmp_path / "dist").iterdir()) == []
    monkeypatch.delenv("PIP_NO_INDEX")
    assert package_model(trained, tmp_path / "dist", name="spam_chars").suffix == ".whl"


def test_predict_from_a_closed_standard_input_says_so(trained: Path) -> None:
    # Trial 60e: `labelkit predict model - - <&-` ended in an AttributeError.
    done = labelkit_with_stdin_closed("predict", str(trained), "-", "-")
    assert done.returncode != 0
    assert "predict reads '-' from standard input, which is closed" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_model_is_chosen_on_dev_gold_where_there_is_enough_of_it(
    spam_workspace: Path, tmp_path: Path
) -> None:
    # Trials 60b and 60d: a held-out tenth of the label model's labels chose the
    # n-grams' weakest regularisation though 100 and 200 dev gold rows were there.
    from labelkit.workspace import chosen_dev_split

    texts, gold = SPAM + HAM, ["spam"] * len(SPAM) + ["ham"] * len(HAM)
    frame = pl.DataFrame({"text": [f"{t} #{i}" for i in range(25) for t in texts]})
    frame = frame.with_columns(gold=pl.Series(gold * 25)).with_row_index("n")
    split = pl.when(pl.col("n") % 5 == 1).then(pl.lit("dev")).otherwise(pl.lit("train"))
    frame = frame.select(pl.col("n").cast(pl.String).alias("id"), "text", "gold", split=split)
    with Workspace(tmp_path / "big.duckdb") as ws:
        ingest(ws, frame, id_column="id", label_column="gold", split_column="split")
        votes = frame.select(pl.col("id").alias("example_id"), source=pl.lit("g"), label="gold")
        import_votes(ws, votes)
        aggregate(ws, "majority_vote")
        assert chosen_dev_split(ws, "auto") == "dev"  # 40 dev gold rows, two labels
        assert chosen_dev_split(ws, None) is None and chosen_dev_split(ws, "dev") == "dev"
    with Workspace(spam_workspace) as ws:
        assert chosen_dev_split(ws, "auto") is None  # 8 dev gold rows
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "labelkit",
            "train",
            str(tmp_path / "big.duckdb"),
            str(tmp_path / "m"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "chose on the gold of dev (--dev-split none would choose on a held-out tenth" in (
        " ".join(done.stdout.split())
    )
    with Workspace(tmp_path / "big.duckdb", read_only=True) as ws:
        config = ws.sql("SELECT config FROM runs WHERE step = 'train'")["config"][0]
    assert json.loads(config)["dev_split"] == "dev"


def test_predict_takes_no_more_workers_than_open_files_allow(trained: Path, tmp_path: Path) -> None:
    # Trial 60e: under `ulimit -n 64`, --jobs 32 (a 32-core server's default) failed to
    # start its workers with "Too many open files", and predict hung.
    import resource

    pl.DataFrame({"text": ["subscribe to my channel", "her voice"] * 50}).write_ndjson(
        tmp_path / "in.jsonl"
    )
    predict = [sys.executable, "-m", "labelkit", "predict", str(trained)]
    done = subprocess.run(
        [*predict, tmp_path / "in.jsonl", tmp_path / "out.jsonl", "--jobs", "32"],
        capture_output=True,
        text=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64)),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "32 worker processes would pass the limit of 64 open files" in done.stderr
    served = pl.read_ndjson(tmp_path / "out.jsonl")
    assert (
        served["predicted"].to_list()
        == predict_frame(trained, served.select("text"))["predicted"].to_list()
    )


def test_n_grams_saved_in_another_encoding_are_refused_with_the_way_out(
    trained: Path, tmp_path: Path
) -> None:
    # The second read: a model an older labelkit saved under a Latin-1 locale ended in
    # a UnicodeDecodeError when loaded.
    import shutil

    copy = shutil.copytree(trained, tmp_path / "latin1")
    features = json.loads((copy / "features.json").read_text(encoding="utf-8"))
    (copy / "features.json").write_bytes(
        json.dumps([*features, "grüße"], ensure_ascii=False).encode("latin-1")
    )
    with pytest.raises(ValueError, match="is not UTF-8: an older labelkit saved it"):
        TextClassifier(copy)


def test_a_verbose_training_says_it_is_still_running(
    spam_workspace: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Trial 61d: `train --max-examples all` on a million texts said nothing for 13 minutes.
    from labelkit.train import textcat

    # A beat every millisecond: the 24 texts train in a few of them on a quiet machine.
    monkeypatch.setattr(textcat, "HEARTBEAT_S", 0.001)
    with Workspace(spam_workspace) as ws:
        n = ws.sql("SELECT count(*) AS n FROM predictions p JOIN examples e ON e.id = p.example_id "
                   "WHERE e.split = 'train' AND p.label IS NOT NULL")["n"][0]  # fmt: skip
        loud = train_on_cleaned(ws, tmp_path / "loud", model=MODEL, verbose=True)
        said = capfd.readouterr().err
        train_on_cleaned(ws, tmp_path / "quiet", model=MODEL)
    assert f"train: {MODEL} on {n:,} texts: still running after 0 s" in said
    assert "still running" not in capfd.readouterr().err, "only when verbose"
    # Trial 62b: the small model trained was named nowhere in its meta.
    meta = json.loads((loud / "meta.json").read_text())
    assert meta["trained_from"]["small_model"] == MODEL
