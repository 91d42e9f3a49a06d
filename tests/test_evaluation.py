from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from labelkit import LabelkitError, Workspace, aggregate, apply_lfs, evaluate, keyword_lf
from labelkit.evaluation import expected_calibration_error, score


def test_score_counts_abstains_as_wrong() -> None:
    result = score(np.array([0, 1, 1, 0]), np.array([0, 1, -1, 1]), 2)
    assert result["coverage"] == 0.75
    assert result["accuracy"] == 0.5
    # ham: precision 1, recall 0.5 -> 2/3; spam: precision 0.5, recall 0.5 -> 0.5.
    assert result["macro_f1"] == pytest.approx((2 / 3 + 0.5) / 2)


def test_calibration_error_compares_confidence_with_accuracy() -> None:
    gold = np.array([0, 1])
    # 0.9 right (gap 0.1) and 0.6 wrong (gap 0.6), one example each.
    assert expected_calibration_error(gold, np.array([[0.9, 0.1], [0.6, 0.4]])) == 0.35
    four = np.array([0, 0, 0, 1])
    calibrated = np.array([[0.75, 0.25]] * 4)  # 0.75 sure, right 3 times in 4
    assert expected_calibration_error(four, calibrated) == 0.0


def test_report_has_a_row_per_source_and_label_model(workspace: Workspace, tmp_path: Path) -> None:
    apply_lfs(
        workspace,
        [
            keyword_lf("subscribe", ["subscribe"], "spam"),
            keyword_lf("song", ["song"], "ham"),
            keyword_lf("free", ["free"], "ham"),
        ],
    )
    aggregate(workspace, "snorkel", epochs=20)
    evaluation = evaluate(workspace)
    report = {row["method"]: row for row in evaluation.summary.iter_rows(named=True)}
    assert set(report) == {
        "subscribe",
        "song",
        "free",
        "majority_vote",
        "snorkel",
        "snorkel labels",
        "cleaned labels",
    }
    # Test split: a5 "subscribe for free money" (spam), a6 "best song ever written" (ham).
    assert report["subscribe"]["accuracy"] == 0.5 and report["subscribe"]["coverage"] == 0.5
    assert report["free"]["accuracy"] == 0.0
    assert report["song"]["kind"] == "lf"
    assert report["majority_vote"]["accuracy"] == 0.5, "a5 ties (subscribe vs free) and abstains"
    assert report["snorkel"]["kind"] == "label model"
    assert report["snorkel"]["ece"] is not None and report["subscribe"]["ece"] is None
    # Train split: a1 (subscribe: spam) and a3 (song: ham) are voted on and right,
    # a2 and a4 get no vote; nobody reviewed, so the cleaned set is the label model's.
    for training in ("snorkel labels", "cleaned labels"):
        assert report[training]["split"] == "train"
        assert report[training]["coverage"] == 0.5 and report[training]["accuracy"] == 0.5

    per_class = evaluation.per_class.filter(pl.col("method") == "subscribe")
    spam = per_class.filter(pl.col("label") == "spam").row(0, named=True)
    assert (spam["precision"], spam["recall"], spam["support"]) == (1.0, 1.0, 1)
    assert per_class.filter(pl.col("label") == "ham")["recall"][0] == 0.0
    confusion = evaluation.confusion_matrix("free")
    assert confusion.columns == ["gold", "ham", "(abstain)"]
    assert confusion.rows() == [("ham", 0, 1), ("spam", 1, 0)]

    markdown, data = evaluation.save(tmp_path / "reports")
    assert "## Confusion: majority_vote" not in markdown.read_text()
    assert "## Confusion: cleaned labels" in markdown.read_text()
    saved = json.loads(data.read_text())
    assert saved["summary"] == evaluation.summary.to_dicts()
    assert len(saved["per_class"]) == 2 * 7


def test_needs_gold(workspace: Workspace) -> None:
    with pytest.raises(LabelkitError, match="no gold labels in split 'holdout'"):
        evaluate(workspace, split="holdout")
