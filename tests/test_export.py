from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from labelkit import Workspace, cleaned_labels, export_cleaned, ingest
from labelkit.aggregate import aggregate
from labelkit.errors import InputError
from labelkit.review.queue import RULED_OUT
from labelkit.votes import import_votes


@pytest.fixture
def reviewed(tmp_path: Path) -> Workspace:
    """Three reviews of food and staff, a lexicon's votes aggregated, and decisions per
    attribute: r1's food relabeled, r2's staff ambiguous, r3's food ruled out, and r1's
    staff labeled then undone."""
    frame = pl.DataFrame(
        {
            "id": ["r1", "r2", "r3"],
            "text": ["tasty food, rude waiter", "bland food, a waiter", "fresh food"],
        }
    )
    ws = Workspace(tmp_path / "ws.duckdb")
    ingest(ws, frame, kind="aspects", labels=["positive", "negative"], attributes=["food", "staff"])
    votes = [
        ("r1", "food", "positive"),
        ("r1", "staff", "negative"),
        ("r2", "food", "negative"),
        ("r2", "staff", "positive"),
        ("r3", "food", "positive"),
    ]
    import_votes(
        ws,
        pl.DataFrame(
            [(e, "lexicon", a, label) for e, a, label in votes],
            schema=["example_id", "source", "attribute", "label"],
            orient="row",
        ),
    )
    aggregate(ws, "majority_vote")
    decisions = [
        (1, "r1", "label", "negative", None, "food"),
        (2, "r2", "ambiguous", None, None, "staff"),
        (3, "r3", RULED_OUT, "positive", None, "food"),
        (4, "r1", "label", "positive", None, "staff"),
        (5, "r1", "undo", None, 4, "staff"),
    ]
    for decision_id, example_id, action, label, undoes, attribute in decisions:
        ws.con.execute(
            """INSERT INTO decisions (decision_id, example_id, reviewer, action, label, undoes,
                                      seconds, decided_at, attribute)
               VALUES (?, ?, 'ana', ?, ?, ?, 1.0, now()::TIMESTAMP, ?)""",
            [decision_id, example_id, action, label, undoes, attribute],
        )
    return ws


def test_the_cleaned_set_takes_each_attributes_own_decisions(reviewed: Workspace) -> None:
    with reviewed as ws:
        cleaned = cleaned_labels(ws)
    assert cleaned.columns == ["id", "text", "attribute", "label", "origin", "confidence"]
    assert cleaned.select("id", "attribute", "label", "origin").rows() == [
        ("r1", "food", "negative", "review"),
        ("r1", "staff", "negative", "label_model"),  # relabeled, then undone
        ("r2", "food", "negative", "label_model"),
        # r2's staff is ambiguous and r3's food ruled out: both left out.
        ("r3", "staff", "none", "label_model"),
    ]


def test_a_wide_export_has_a_row_per_text_and_a_column_per_attribute(
    reviewed: Workspace, tmp_path: Path
) -> None:
    with reviewed as ws:
        wide = cleaned_labels(ws, wide=True)
        assert export_cleaned(ws, tmp_path / "wide.parquet", wide=True) == 3
    assert wide.rows() == [
        ("r1", "tasty food, rude waiter", "negative", "negative"),
        ("r2", "bland food, a waiter", "negative", None),
        ("r3", "fresh food", None, "none"),
    ]
    assert wide.columns == ["id", "text", "food", "staff"]
    assert pl.read_parquet(tmp_path / "wide.parquet").equals(wide)
    result = subprocess.run(
        [sys.executable, "-m", "labelkit", "export", reviewed.path, tmp_path / "w.csv", "--wide"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "3 cleaned texts written" in result.stdout
    assert pl.read_csv(tmp_path / "w.csv").rows() == wide.rows()


def test_a_wide_export_needs_attributes(workspace: Workspace) -> None:
    workspace.con.execute(
        "INSERT INTO predictions SELECT id, 'test', gold, 1.0, [1.0, 0.0], 0, '' FROM examples"
    )
    with pytest.raises(InputError, match="one column per attribute; this task has none"):
        cleaned_labels(workspace, wide=True)
