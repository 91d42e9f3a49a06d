"""The small models over static word vectors: they learn, know words they never saw
labeled, and ship like the bag of words."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import spacy

from labelkit import (
    Task,
    Workspace,
    evaluate,
    train_attributes,
    train_textcat,
)
from labelkit.train import static_vectors, textcat_bow_vectors_config, textcat_static_config
from tests.train.conftest import HAM, SPAM

# Words no training text has, with vectors from texts nobody labeled.
UNLABELED = ["a lovely tune", "a sweet melody"]
VECTOR_MODELS = ("spacy_textcat_static", "spacy_textcat_bow_vectors")


def examples(copies: int = 10) -> pl.DataFrame:
    labeled = [{"text": t, "label": "spam"} for t in SPAM] + [
        {"text": t, "label": "ham"} for t in HAM
    ]
    return pl.DataFrame(labeled * copies)


def spam_scores(model: Path, texts: list[str]) -> list[float]:
    """The spam scores of ``texts`` from a fresh interpreter that has spaCy but cannot
    import labelkit's source: the saved model loads with spaCy alone."""
    probe = (
        "import json, sys, spacy; nlp = spacy.load(sys.argv[1]); "
        "print(json.dumps([d.cats['spam'] for d in nlp.pipe(json.loads(sys.argv[2]))]))"
    )
    shown = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(model), json.dumps(texts)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(shown.stdout)


def test_configs_read_static_vectors_with_spacys_own_layers() -> None:
    static = textcat_static_config(width=32)["components"]["textcat"]["model"]
    assert static["@architectures"] == "spacy.TextCatReduce.v1" and static["use_reduce_mean"]
    assert static["tok2vec"]["*"]["vectors"]["nO"] == 32
    multi = textcat_static_config(exclusive=False)["components"]["textcat_multilabel"]["model"]
    assert multi["exclusive_classes"] is False
    both = textcat_bow_vectors_config(ngram_size=2)["components"]["textcat"]["model"]
    assert both["@architectures"] == "spacy.TextCatEnsemble.v2"
    assert both["linear_model"]["@architectures"] == "spacy.TextCatBOW.v3"
    assert both["linear_model"]["ngram_size"] == 2
    assert both["tok2vec"]["*"]["vectors"]["@layers"] == "spacy.StaticVectors.v2"


@pytest.mark.parametrize("model", VECTOR_MODELS)
def test_learns_and_knows_words_it_never_saw_labeled(
    model: str, tmp_path: Path, minilm_cache: Path
) -> None:
    vectors = static_vectors(SPAM + HAM + UNLABELED, tmp_path / "vectors")
    path = train_textcat(
        examples(), ["ham", "spam"], tmp_path / model, model=model, vectors=vectors
    )
    spam, ham, tune, melody = spam_scores(
        path, ["subscribe to my channel", "love this song", "tune", "melody"]
    )
    assert spam > 0.5 > ham, "it learned the labeled texts"
    # A bag of words scores a word it never saw at its prior, 0.5 here; the vectors
    # know a tune and a melody are music.
    assert tune < 0.4 and melody < 0.4
    words = {w for t in SPAM + HAM + UNLABELED for w in t.split()}
    assert spacy.load(path).vocab.vectors.shape == (len(words), 64), "the vectors given"


def test_static_model_makes_its_vectors_and_learns_soft_targets(
    tmp_path: Path, minilm_cache: Path
) -> None:
    soft = examples().with_columns(
        probabilities=pl.when(pl.col("label") == "spam")
        .then(pl.lit([0.2, 0.8]))
        .otherwise(pl.lit([0.8, 0.2]))
    )
    path = train_textcat(
        soft, ["ham", "spam"], tmp_path / "soft", model="spacy_textcat_static", targets="soft"
    )
    words = {w for t in SPAM + HAM for w in t.split()}
    assert spacy.load(path).vocab.vectors.shape == (len(words), 64), "made from its texts"
    spam, ham = spam_scores(path, ["subscribe to my channel", "love this song"])
    assert 0.5 < spam < 0.85 and 0.15 < ham < 0.5, "no surer than the label model"


def test_trains_an_aspects_task_one_classifier_per_attribute(
    tmp_path: Path, minilm_cache: Path
) -> None:
    task = Task(("positive", "negative"), kind="aspects", attributes=("food",))
    said = {
        "positive": ["delicious pizza", "tasty pasta"],
        "negative": ["stale pizza", "soggy pasta"],
    }
    data = [
        {"text": text, "attribute": "food", "label": label}
        for label, texts in said.items()
        for text in texts
    ] + [{"text": t, "attribute": "food", "label": "none"} for t in ("rude waiter", "kind waiter")]
    path = train_attributes(
        pl.DataFrame(data * 10).with_row_index("id").with_columns(pl.col("id").cast(pl.String)),
        task,
        tmp_path / "aspects",
        model="spacy_textcat_static",
        # 60 short texts make one or two steps an epoch; the best checkpoint is looked
        # for every 50 steps.
        max_epochs=200,
    )
    nlp = spacy.load(path)
    assert nlp.pipe_names == ["textcat_food"]
    assert nlp.meta["labelkit"]["layout"] == "spacy_textcat_per_attribute"
    cats = [doc.cats for doc in nlp.pipe(["tasty pizza", "soggy pizza", "rude waiter"])]
    assert [max(c, key=c.get) for c in cats] == ["food=positive", "food=negative", "food=none"]


def test_cli_trains_evaluates_packages_and_predicts_a_static_model(
    spam_workspace: Path, tmp_path: Path, minilm_cache: Path
) -> None:
    def labelkit(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "labelkit", *args], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    out = tmp_path / "model"
    labelkit("train", str(spam_workspace), str(out), "--model", "spacy_textcat_static")
    model = out / "model-best"
    with Workspace(spam_workspace, read_only=True) as ws:
        row = evaluate(ws, model).summary.filter(pl.col("kind") == "small model").row(0, named=True)
    assert row["accuracy"] == 1.0
    assert 0 < row["size_mb"] < 1 and row["words_per_s"] > 1000

    labelkit("package", str(model), str(tmp_path / "dist"), "--name", "static_spam")
    wheel = next((tmp_path / "dist").glob("en_static_spam-0.1.0/dist/*.whl"))
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", site, wheel],
        check=True,
    )
    probe = (
        f"import sys; sys.path.insert(0, {str(site)!r}); import json, spacy; "
        "print(json.dumps(spacy.load('en_static_spam')('free money').cats))"
    )
    shown = subprocess.run(
        [sys.executable, "-I", "-c", probe], capture_output=True, text=True, check=True
    )
    assert json.loads(shown.stdout) == spacy.load(model)("free money").cats

    pl.DataFrame({"body": ["free money", "her song"]}).write_csv(tmp_path / "new.csv")
    labelkit(
        "predict",
        str(model),
        str(tmp_path / "new.csv"),
        str(tmp_path / "o.csv"),
        "--text-column",
        "body",
    )
    predicted = pl.read_csv(tmp_path / "o.csv")
    assert predicted["predicted"].to_list() == ["spam", "ham"]
    nlp = spacy.load(model)
    assert predicted["score_spam"].to_list() == pytest.approx(
        [doc.cats["spam"] for doc in nlp.pipe(["free money", "her song"])]
    )
