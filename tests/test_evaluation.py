from __future__ import annotations

import numpy as np
import pytest

from labelkit import LabelkitError, Workspace, aggregate, apply_lfs, evaluate, keyword_lf
from labelkit.evaluation import score


def test_score_counts_abstains_as_wrong() -> None:
    result = score(np.array([0, 1, 1, 0]), np.array([0, 1, -1, 1]), 2)
    assert result["coverage"] == 0.75
    assert result["accuracy"] == 0.5
    # ham: precision 1, recall 0.5 -> 2/3; spam: precision 0.5, recall 0.5 -> 0.5.
    assert result["macro_f1"] == pytest.approx((2 / 3 + 0.5) / 2)


def test_report_has_a_row_per_source_and_label_model(workspace: Workspace) -> None:
    apply_lfs(
        workspace,
        [
            keyword_lf("subscribe", ["subscribe"], "spam"),
            keyword_lf("song", ["song"], "ham"),
            keyword_lf("free", ["free"], "ham"),
        ],
    )
    aggregate(workspace, "snorkel", epochs=20)
    report = {row["method"]: row for row in evaluate(workspace).iter_rows(named=True)}
    assert set(report) == {"subscribe", "song", "free", "majority_vote", "snorkel"}
    # Test split: a5 "subscribe for free money" (spam), a6 "best song ever written" (ham).
    assert report["subscribe"]["accuracy"] == 0.5 and report["subscribe"]["coverage"] == 0.5
    assert report["free"]["accuracy"] == 0.0
    assert report["song"]["kind"] == "lf"
    assert report["majority_vote"]["accuracy"] == 0.5, "a5 ties (subscribe vs free) and abstains"
    assert report["snorkel"]["kind"] == "label model"


def test_needs_gold(workspace: Workspace) -> None:
    with pytest.raises(LabelkitError, match="no gold labels in split 'holdout'"):
        evaluate(workspace, split="holdout")
