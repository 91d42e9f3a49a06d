"""``aggregate`` predicts and stores a chunk of rows at a time (``CHUNK_ROWS``): the
predictions must not depend on the chunk size, and each must land on its own example
although the ids' order ("t0", "t1", "t10"...) is not the storage order."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from labelkit import Workspace, ingest
from labelkit.aggregate import aggregate, base, label_model_accuracy, make_label_model
from labelkit.aggregate.base import fit_predict
from labelkit.registry import label_models
from labelkit.task import ABSTAIN
from labelkit.votes import LabelMatrix, import_votes

N = 60
SOURCES = 5


def voted_workspace(tmp_path: Path) -> Workspace:
    """``N`` examples stored as t0, t1, t2..., five sources that vote at random (a few
    rows silent), and gold labels on every example of the dev and test splits."""
    rng = np.random.default_rng(7)
    truth = rng.choice(["ham", "spam"], N)
    frame = pl.DataFrame(
        {"id": [f"t{i}" for i in range(N)], "text": [f"text {i}" for i in range(N)]}
    ).with_columns(label=pl.Series(truth))
    ws = Workspace(tmp_path / "ws.duckdb")
    ingest(ws, frame, id_column="id", label_column="label", labels=["ham", "spam"])
    accuracy = np.array([0.9, 0.8, 0.7, 0.65, 0.6])
    rows = []
    for i in range(N):
        for j in range(SOURCES):
            if i % 11 == 0 or rng.random() < 0.4:
                continue
            right = rng.random() < accuracy[j]
            label = truth[i] if right else {"ham": "spam", "spam": "ham"}[truth[i]]
            rows.append((f"t{i}", f"s{j}", label))
    import_votes(ws, pl.DataFrame(rows, schema=["example_id", "source", "label"], orient="row"))
    return ws


def stored(ws: Workspace) -> pl.DataFrame:
    return ws.sql("SELECT * EXCLUDE (run_id) FROM predictions ORDER BY attribute, example_id")


@pytest.mark.parametrize("model", sorted(label_models.get_all()))
def test_predictions_are_the_same_a_few_rows_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str
) -> None:
    params = {"epochs": 50} if model == "snorkel" else {}
    with voted_workspace(tmp_path) as ws:
        whole = aggregate(ws, model, gold_split="dev", **params)
        whole_stored = stored(ws)
        monkeypatch.setattr(base, "CHUNK_ROWS", 7)
        chunked = aggregate(ws, model, gold_split="dev", **params)
        assert chunked.equals(whole)
        assert stored(ws).equals(whole_stored)
        # Each row is its own example's: the label model on the matrix that
        # LabelMatrix reads with its ids, decoded and joined by those ids.
        matrix = LabelMatrix.from_workspace(ws)
        splits = ws.sql("SELECT split, gold FROM examples ORDER BY id")
        dev = (splits["split"] == "dev").to_numpy() & splits["gold"].is_not_null().to_numpy()
        gold = np.where(dev, matrix.task.encode(splits["gold"]), ABSTAIN)
        fit_rows = (splits["split"] == "train").to_numpy() | dev
        proba, predicted = fit_predict(
            make_label_model(model, **params), matrix.codes, 2, fit_rows, gold
        )
    expected = pl.DataFrame(
        {
            "example_id": matrix.example_ids,
            "label": matrix.task.decode(predicted),
            "confidence": proba.max(axis=1),
            "probabilities": pl.Series(proba).cast(pl.List(pl.Float64)),
        }
    )
    assert whole.equals(expected)
    assert whole["example_id"].to_list()[:4] == ["t0", "t1", "t10", "t11"]
    assert whole["label"].null_count() >= N // 11, "the silent rows abstain"


def test_the_label_model_accuracy_is_that_of_the_stored_predictions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(base, "CHUNK_ROWS", 7)
    with voted_workspace(tmp_path) as ws:
        accuracy = label_model_accuracy(ws, "dawid_skene", split="test")
        aggregate(ws, "dawid_skene")
        scored = ws.sql(
            """SELECT coalesce(p.label = e.gold, false) AS right FROM examples e
               JOIN predictions p ON p.example_id = e.id WHERE e.split = 'test'"""
        )
    assert accuracy == pytest.approx(scored["right"].mean())
    assert 0.5 < accuracy < 1


def test_aspects_are_the_same_a_few_rows_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    frame = pl.DataFrame(
        {"id": [f"r{i}" for i in range(N)], "text": [f"review {i}" for i in range(N)]}
    )
    # Gold on a third of the reviews: those go to dev and test, the others to train.
    gold = [
        json.dumps({"food": str(rng.choice(["positive", "negative", "none"]))})
        if i % 3 == 0
        else None
        for i in range(N)
    ]
    ws = Workspace(tmp_path / "ws.duckdb")
    ingest(
        ws,
        frame.with_columns(label=pl.Series(gold)),
        id_column="id",
        label_column="label",
        kind="aspects",
        labels=["positive", "negative"],
        attributes=["food", "staff"],
    )
    answers = ["positive", "negative", "none", "mentioned"]
    rows = [
        (f"r{i}", f"s{j}", attribute, str(rng.choice(answers)))
        for i in range(N)
        for j in range(4)
        for attribute in ("food", "staff")
        if rng.random() < 0.5
    ]
    import_votes(
        ws, pl.DataFrame(rows, schema=["example_id", "source", "attribute", "label"], orient="row")
    )
    with ws:
        whole = aggregate(ws, "dawid_skene", gold_split="dev")
        whole_stored = stored(ws)
        monkeypatch.setattr(base, "CHUNK_ROWS", 7)
        assert aggregate(ws, "dawid_skene", gold_split="dev").equals(whole)
        assert stored(ws).equals(whole_stored)
    assert whole["attribute"].to_list() == ["food"] * N + ["staff"] * N
    assert whole["example_id"].to_list()[:3] == ["r0", "r1", "r10"]
