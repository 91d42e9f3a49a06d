"""The MiniLM fine-tune: trained on the cleaned set, scored, packaged, and serving
predictions with torch and transformers alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from labelkit import LabelkitError, LabelkitWarning, Workspace, evaluate, train_textcat
from labelkit.train import package_model, predict_frame, train_attributes, train_on_cleaned
from labelkit.train.minilm_loader import TextClassifier
from labelkit.train.ship import load_small_model
from tests.train.conftest import HAM, SPAM, install_and_score

# One epoch over 24 texts of a few tokens: enough for the round trip, seconds on a CPU.
FAST = {"max_epochs": 1, "max_length": 32, "batch_size": 8}


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("minilm")
    rows = pl.DataFrame(
        {"text": (SPAM + HAM) * 3, "label": (["spam"] * len(SPAM) + ["ham"] * len(HAM)) * 3}
    )
    model = train_textcat(
        rows, ["ham", "spam"], folder / "model", model="minilm_finetune", seed=0, **FAST
    )
    return folder, model


def test_trained_model_saves_what_its_loader_needs(trained: tuple[Path, Path]) -> None:
    _, model = trained
    assert sorted(p.name for p in model.iterdir()) == [
        "encoder",
        "head.safetensors",
        "loader.py",
        "meta.json",
    ]
    meta = json.loads((model / "meta.json").read_text())["labelkit"]
    assert meta["labels"] == ["ham", "spam"] and meta["max_length"] == 32
    assert meta["training"]["max_epochs"] == 1 and meta["training"]["targets"] == "hard"
    loaded = TextClassifier(model)
    texts = ["love this song, her voice is beautiful", "subscribe", "check out my page"]
    together = np.array(list(loaded.pipe(texts)))
    assert together.sum(axis=1) == pytest.approx(1.0)
    # A batch is sorted by length inside: the scores must come back in the order given.
    one_by_one = np.array([next(loaded.pipe([text])) for text in texts])
    assert together == pytest.approx(one_by_one, abs=1e-5)


def test_evaluate_train_and_predict_on_a_workspace(spam_workspace: Path, tmp_path: Path) -> None:
    with Workspace(spam_workspace) as ws:
        model = train_on_cleaned(
            ws, tmp_path / "m", model="minilm_finetune", dev_split="dev", **FAST
        )
        evaluation = evaluate(ws, model)
    row = evaluation.summary.filter(pl.col("kind") == "small model").row(0, named=True)
    assert row["method"] == "small model (minilm)"
    size = sum(f.stat().st_size for f in model.rglob("*") if f.is_file())
    assert row["size_mb"] == size / 1e6 and row["size_mb"] > 80, "MiniLM's 90 MB of weights"
    assert row["words_per_s"] > 0
    with Workspace(spam_workspace, read_only=True) as ws:
        test = ws.sql("SELECT text, gold FROM examples WHERE split = 'test' ORDER BY id")
    predicted = predict_frame(model, test.select("text"))
    accuracy = (predicted["predicted"] == test["gold"]).mean()
    assert row["accuracy"] == pytest.approx(accuracy)


def test_package_loads_with_torch_and_transformers_alone_and_serves_predict(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    _, model = trained
    wheel = package_model(model, tmp_path / "dist", name="spam_minilm")
    assert wheel.name == "en_spam_minilm-0.1.0-py3-none-any.whl"
    site = tmp_path / "site"
    scores, modules = install_and_score(wheel, site, "subscribe to my channel")
    assert "labelkit" not in modules and "spacy" not in modules
    expected = TextClassifier(model)(["subscribe to my channel", " ", float("nan")])
    assert scores == pytest.approx(expected[0], abs=1e-6)
    assert expected[1:] == [None, None], "no words, no answer (trial 48b); NaN (trial 53b)"

    texts = ["subscribe to my channel", "her voice is beautiful", "free money"]
    pl.DataFrame({"id": [1, 2, 3], "text": texts}).write_ndjson(tmp_path / "in.jsonl")
    served = {}
    for name, where in ((str(model), None), ("en_spam_minilm", str(site))):
        env = dict(os.environ)
        if where is not None:
            env["PYTHONPATH"] = f"{where}:{env.get('PYTHONPATH', '')}"
        out = tmp_path / f"out-{len(served)}.jsonl"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "labelkit",
                "predict",
                name,
                str(tmp_path / "in.jsonl"),
                str(out),
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        assert done.returncode == 0, done.stderr
        served[name] = pl.read_ndjson(out)
    frame = predict_frame(model, pl.DataFrame({"text": texts}))
    # Its max_length counts tokens and cuts: a text of more characters was refused.
    long = predict_frame(model, pl.DataFrame({"text": ["subscribe to my channel " * 20]}))
    assert long["predicted"][0] in ("ham", "spam")
    for table in served.values():
        assert table.columns == ["id", "text", "predicted", "confidence", "score_ham", "score_spam"]
        assert table["predicted"].to_list() == frame["predicted"].to_list()
        assert table["score_spam"].to_list() == pytest.approx(frame["score_spam"].to_list())


def test_spacy_models_load_without_torch_models(spam_workspace: Path, tmp_path: Path) -> None:
    import spacy

    with Workspace(spam_workspace) as ws:
        model = train_on_cleaned(ws, tmp_path / "bow", model="spacy_textcat_bow", max_epochs=2)
    assert isinstance(load_small_model(model), spacy.Language)


def test_a_task_in_another_language_is_warned_of(tmp_path: Path) -> None:
    # Trial 55a: a Spanish task trained without a word, where the docs say English.
    rows = pl.DataFrame(
        {"text": (SPAM + HAM) * 3, "label": (["spam"] * len(SPAM) + ["ham"] * len(HAM)) * 3}
    )
    with pytest.warns(LabelkitWarning, match="MiniLM learned English only, .* language is 'es'"):
        train_textcat(rows, ["ham", "spam"], tmp_path / "m", model="minilm_finetune", lang="es",
                      seed=0, **FAST)  # fmt: skip


def test_multi_label_rows_are_refused_with_the_reason() -> None:
    rows = pl.DataFrame({"text": ["a b"] * 10, "label": [["x"]] * 10})
    with pytest.raises(LabelkitError, match="minilm_finetune gives one label per text"):
        train_textcat(rows, ["x", "y"], "unused", model="minilm_finetune")


def test_batches_hold_every_text_once_and_texts_of_like_length() -> None:
    from labelkit.train.transformer import POOL, _like_length_batches

    lengths = [(i * 37) % 500 for i in range(16 * POOL * 2 + 5)]
    order = list(reversed(range(len(lengths))))
    batches = _like_length_batches(order, lengths, 16)
    assert sorted(i for batch in batches for i in batch) == sorted(order)
    assert all(len(batch) == 16 for batch in batches[:-1]) and len(batches[-1]) == 5
    spread = max(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches[:-1])
    assert spread < 40, "sorted within each pool: a batch's texts are of like length"


def test_targets_are_one_hot_labels_or_the_label_models_probabilities() -> None:
    from labelkit.train.transformer import _targets

    rows = pl.DataFrame({"label": ["spam", "ham"], "probabilities": [[0.3, 0.7], [0.6, 0.4]]})
    assert _targets(rows, ["ham", "spam"], "hard").tolist() == [[0.0, 1.0], [1.0, 0.0]]
    assert _targets(rows, ["ham", "spam"], "weighted").tolist() == [[0.0, 1.0], [1.0, 0.0]]
    assert _targets(rows, ["ham", "spam"], "soft") == pytest.approx(
        np.array([[0.3, 0.7], [0.6, 0.4]])
    )


def test_a_task_with_attributes_is_refused_with_the_reason(tmp_path: Path) -> None:
    from tests.train.test_attributes import TASK, reviews, rows

    for model, params in (
        ("minilm_finetune", {}),
        ("spacy_textcat_pairs", {"base": "minilm_finetune"}),
    ):
        with pytest.raises(LabelkitError, match="minilm_finetune gives one label per text"):
            train_attributes(rows(reviews(1)), TASK, tmp_path / "m", model=model, **params)
    assert not (tmp_path / "m").exists()
