from __future__ import annotations

from pathlib import Path

from labelkit import Workspace, apply_lfs, ingest, keyword_lf
from labelkit.lf import summarize_lfs


def test_summarize_lfs_scores_one_split_against_its_gold(workspace: Workspace) -> None:
    apply_lfs(
        workspace,
        [keyword_lf("subscribe", ["subscribe"], "spam"), keyword_lf("free", ["free"], "ham")],
    )
    # Test split: a5 "subscribe for free money" (spam), a6 "best song ever written" (ham).
    rows = {r["lf"]: r for r in summarize_lfs(workspace, split="test").iter_rows(named=True)}
    assert (rows["subscribe"]["correct"], rows["subscribe"]["incorrect"]) == (1, 0)
    assert (rows["free"]["correct"], rows["free"]["incorrect"]) == (0, 1)
    assert rows["subscribe"]["coverage"] == 0.5
    only_free = summarize_lfs(workspace, split="test", sources=["free"])
    assert only_free["lf"].to_list() == ["free"]


def test_summarize_lfs_without_gold_has_no_accuracy(tmp_path: Path) -> None:
    csv = tmp_path / "a.csv"
    csv.write_text("text\nsubscribe now\nnice\n")
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, csv, labels=["ham", "spam"])
        apply_lfs(ws, [keyword_lf("subscribe", ["subscribe"], "spam")])
        summary = summarize_lfs(ws)
    assert "accuracy" not in summary.columns
    assert summary["coverage"].to_list() == [0.5]
