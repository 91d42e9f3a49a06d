"""`labelkit train --frontier`: the architectures side by side on dev, and a pick."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from labelkit import LabelkitError, Workspace, evaluate
from labelkit.evaluation import expected_calibration_error
from labelkit.report import frontier_markdown, frontier_svg
from labelkit.train import predict_frame
from labelkit.train.frontier import frontier_models, pick_model


def labelkit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labelkit", *args], capture_output=True, text=True)


def test_frontier_models_are_the_one_label_models() -> None:
    assert frontier_models() == [
        "spacy_textcat_bow",
        "spacy_textcat_bow_vectors",
        "spacy_textcat_ensemble",
        "spacy_textcat_static",
        "spacy_textcat_vectors",
        "tfidf_char_logreg",
        "minilm_finetune",
    ], "no attribute layout, no entity recognizer; the slow fine-tune last (trial J)"


def test_pick_is_the_smallest_then_fastest_within_the_margin_of_the_best() -> None:
    frontier = pl.DataFrame(
        {
            "model": ["big", "small", "tiny_bad", "small_slow", "tiny_no_rare_class"],
            "dev_macro_f1": [0.95, 0.945, 0.90, 0.945, 0.60],
            # Trial 60b: the best dev accuracy, 7 texts ahead, never gave the class of 6%.
            "dev_accuracy": [0.95, 0.95, 0.92, 0.95, 0.97],
            "size_mb": [7.0, 2.0, 1.0, 2.0, 0.5],
            "words_per_s": [30_000.0, 120_000.0, 200_000.0, 60_000.0, 300_000.0],
        }
    )
    assert pick_model(frontier, "smallest-within", 0.01) == "small"
    assert pick_model(frontier, "smallest-within", 0.0) == "big"
    assert pick_model(frontier, "smallest-within", 0.05) == "tiny_bad"
    with pytest.raises(LabelkitError, match="unknown pick rule 'fastest'"):
        pick_model(frontier, "fastest", 0.01)
    with pytest.raises(LabelkitError, match=r"must lie in \[0, 1\), got 2"):
        pick_model(frontier, "smallest-within", 2)


def test_cli_trains_the_frontier_and_picks_on_dev(
    spam_workspace: Path, tmp_path: Path, minilm_cache: Path
) -> None:
    # Two of the models (--model lists them): the whole frontier would fine-tune MiniLM,
    # minutes of CPU that tests/train/test_transformer.py spends once already.
    compared = ["spacy_textcat_bow", "spacy_textcat_static"]
    out = tmp_path / "frontier"
    done = labelkit(
        "train",
        str(spam_workspace),
        str(out),
        "--frontier",
        "--model",
        # Trial 45: a name given twice was trained and listed twice.
        ",".join([*compared, compared[0]]),
        "--dev-split",
        "dev",
        "--pick",
        "smallest-within",
        "0.01",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for model in compared:
        assert (out / model / "model-best" / "meta.json").is_file()
        assert model in done.stdout
    assert not (out / "spacy_textcat_ensemble").exists(), "only the models asked for"
    assert "dev_macro_f1" in done.stdout and "words_per_s" in done.stdout
    assert "dev_ece" in done.stdout and "dev_ece" in (out / "frontier.md").read_text()
    scored = pl.DataFrame(json.loads((out / "frontier.json").read_text())["models"])
    assert sorted(scored["model"]) == compared
    assert (scored["train_s"] > 0).all()
    # Trial 29: piped, 8.5 minutes went by without a line.
    first = scored.filter(pl.col("model") == compared[0]).row(0, named=True)
    assert "frontier 1/2: training spacy_textcat_bow\n" in done.stderr
    assert (
        f"frontier 1/2: spacy_textcat_bow reaches {first['dev_macro_f1']:.3f} macro-F1 "
        f"({first['dev_accuracy']:.3f} accuracy) on dev"
    ) in done.stderr
    assert "frontier 2/2: training spacy_textcat_static\n" in done.stderr
    within = scored.filter(pl.col("dev_macro_f1") >= scored["dev_macro_f1"].max() - 0.01)
    picked = done.stdout.split("picked ")[1].split()[0]
    assert picked == within.sort("size_mb")["model"][0], "the smallest near the best on dev"
    # Trial 45: the pick was printed and kept nowhere.
    saved = json.loads((out / "frontier.json").read_text())["picked"]
    assert saved == {"rule": "smallest-within", "margin": 0.01, "model": picked}
    assert f"Picked by `--pick smallest-within 0.01` on dev: **{picked}**" in (
        (out / "frontier.md").read_text()
    )
    assert (out / "frontier.md").read_text().count("<circle") == len(compared)
    with Workspace(spam_workspace, read_only=True) as ws:
        # Scored apart from the frontier (timing the speeds again would double the test).
        dev = ws.sql("SELECT text, gold FROM examples WHERE split = 'dev'")
        for model in compared:
            predicted = predict_frame(out / model / "model-best", dev.select("text"))
            accuracy = scored.filter(pl.col("model") == model)["dev_accuracy"].item()
            assert accuracy == pytest.approx((predicted["predicted"] == dev["gold"]).mean())
            ece = scored.filter(pl.col("model") == model)["dev_ece"].item()
            gold = dev["gold"].to_list()
            scores = predicted.select(f"score_{label}" for label in ws.task.labels).to_numpy()
            codes = np.array([ws.task.labels.index(label) for label in gold])
            assert ece == pytest.approx(expected_calibration_error(codes, scores))
        report = evaluate(ws, out / picked / "model-best").markdown()
    assert "## Frontier" in report and report.count("<circle") == len(compared)

    refused = labelkit("train", str(spam_workspace), str(out), "--frontier", "--dev-split", "none")
    assert refused.returncode == 1
    assert "--frontier compares the models on dev gold" in refused.stderr
    # The second read: auto took dev whatever its gold; here 8 rows, too few to choose on.
    too_few = labelkit("train", str(spam_workspace), str(out), "--frontier", "--dev-split", "AUTO")
    assert too_few.returncode == 1 and "--frontier compares the models on dev gold" in (
        too_few.stderr
    )
    alone = labelkit("train", str(spam_workspace), str(out), "--pick", "smallest-within", "0.01")
    assert alone.returncode == 1 and "add --frontier" in alone.stderr
    # Trial J: an unknown rule was refused once every model had trained.
    unknown = labelkit(
        "train",
        str(spam_workspace),
        str(out / "unknown"),
        "--frontier",
        "--dev-split",
        "dev",
        "--pick",
        "best",
        "0.01",
    )
    assert unknown.returncode == 1 and "unknown pick rule 'best'" in unknown.stderr
    assert not (out / "unknown").exists(), "nothing trained"


def test_frontier_plot_places_each_model_by_speed_accuracy_and_size() -> None:
    frontier = pl.DataFrame(
        {
            "model": ["fast", "accurate <big>"],
            "dev_macro_f1": [0.90, 0.96],
            "size_mb": [2.0, 90.0],
            "words_per_s": [150_000.0, 1_500.0],
        }
    )
    svg = frontier_svg(frontier)
    circles = [
        dict(re.findall(r'(cx|cy|r)="([\d.]+)"', circle))
        for circle in re.findall(r"<circle [^>]*>", svg)
    ]
    fast, accurate = ({k: float(v) for k, v in c.items()} for c in circles)
    assert fast["cx"] > accurate["cx"], "faster is further right"
    assert accurate["cy"] < fast["cy"], "more accurate is higher"
    # Area scales with size: 45 times the megabytes, sqrt(45) times the radius.
    assert accurate["r"] / fast["r"] == pytest.approx(45**0.5, rel=0.01)
    assert "accurate &lt;big&gt; (90 MB)" in svg, "names are escaped"
    # Trial 45: a model of 0.036 MB was labelled "(0.0 MB)".
    tiny = frontier.with_columns(size_mb=pl.Series([0.036, 90.0]))
    assert "fast (0.036 MB)" in frontier_svg(tiny)
    assert ">1,000<" in svg and ">1,000,000<" in svg, "the log axis spans the decades"
    assert ">macro-F1 on dev<" in svg
    # The second read: a frontier.json saved before macro-F1 was kept crashed the report.
    older = frontier_svg(frontier.rename({"dev_macro_f1": "dev_accuracy"}))
    assert ">accuracy on dev<" in older and older.count("<circle") == 2
    section = frontier_markdown(frontier.with_columns(train_s=pl.Series([3.0, 400.0])), "dev")
    assert "| model | dev_macro_f1 | size_mb | words_per_s | train_s |" in section
    assert "| accurate <big> | 0.960 | 90.000 | 1,500 | 400.000 |" in section


def test_a_param_goes_to_the_models_that_take_it(spam_workspace: Path, tmp_path: Path) -> None:
    from labelkit.train.frontier import _taken, train_frontier

    params = {"max_epochs": 2, "C": [1.0]}
    assert _taken("spacy_textcat_bow", params) == ["max_epochs"]
    assert _taken("tfidf_char_logreg", params) == ["C"]
    with Workspace(spam_workspace) as ws, pytest.raises(LabelkitError, match=r"\['max_epoch'\]"):
        train_frontier(ws, tmp_path / "f", dev_split="dev", max_epoch=2)
    assert not (tmp_path / "f").exists(), "refused before training anything"
