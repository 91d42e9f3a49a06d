"""Ingest reads files a batch at a time: checks across batches must read as one file."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from labelkit import InputError, Workspace, ingest, read_examples, tables
from tests.helpers import table_counts


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of 3 rows, so that a ten-row file spans four."""
    monkeypatch.setattr(tables, "BATCH_ROWS", 3)


def _csv(path: Path, rows: list[dict]) -> Path:
    pl.DataFrame(rows).write_csv(path)
    return path


def _rows(n: int) -> list[dict]:
    return [{"id": f"r{i}", "text": f"text number {i}", "split": "train"} for i in range(1, n + 1)]


def _no_leftovers(ws: Workspace) -> None:
    """No staging folder beside the workspace and no temporary view or table left."""
    assert not [p for p in ws.path.parent.iterdir() if ".ingest-" in p.name]
    temps = ws.sql("SELECT table_name FROM information_schema.tables WHERE table_schema <> 'main'")
    assert temps.height == 0


@pytest.mark.parametrize(
    ("row", "change", "message"),
    [
        (8, {"text": ""}, r"column 'text' is empty in row 8 \(1 empty rows in all\)"),
        (7, {"id": None}, r"column 'id' is empty in row 7"),
        (9, {"split": "holdout"}, r"row 9, column 'split': unknown split 'holdout'"),
    ],
)
@pytest.mark.usefixtures("small_batches")
def test_a_bad_row_in_a_later_batch_is_named_by_its_row_in_the_file(
    workspace: Workspace, tmp_path: Path, row: int, change: dict, message: str
) -> None:
    rows = _rows(10)
    rows[row - 1] |= change
    path = _csv(tmp_path / "late.csv", rows)
    before = table_counts(workspace)
    with pytest.raises(InputError, match=message) as error:
        ingest(workspace, path, id_column="id", split_column="split")
    assert str(path) in str(error.value)
    assert table_counts(workspace) == before
    _no_leftovers(workspace)
    # The failed ingest left nothing in the way of the next one.
    assert (
        ingest(workspace, _csv(tmp_path / "fine.csv", _rows(10)), split_column="split").added == 10
    )


@pytest.mark.usefixtures("small_batches")
def test_the_first_check_in_file_order_wins_whatever_batch_finds_it(tmp_path: Path) -> None:
    # An unknown split in the first batch, an empty text in the last: a whole-file read
    # checks texts first, and counts every empty one.
    rows = _rows(10)
    rows[0]["split"] = "holdout"
    rows[9]["text"] = " "
    rows[4]["text"] = ""
    path = _csv(tmp_path / "order.csv", rows)
    with pytest.raises(InputError, match=r"empty in row 5 \(2 empty rows in all\)"):
        read_examples(path, split_column="split")


@pytest.mark.usefixtures("small_batches")
def test_an_id_given_twice_across_batches_with_other_text_names_both_rows(
    workspace: Workspace, tmp_path: Path
) -> None:
    rows = _rows(10)
    rows[7] = {"id": "r2", "text": "another text", "split": "train"}
    path = _csv(tmp_path / "clash.csv", rows)
    before = table_counts(workspace)
    with pytest.raises(
        InputError,
        match=rf"id 'r2' appears twice with different content: {path} row 2 and {path} row 8",
    ):
        ingest(workspace, path, split_column="split")
    assert table_counts(workspace) == before
    _no_leftovers(workspace)
    # Trial 57d: two annotators' answers on one task read as "different content".
    answers = tmp_path / "answers.csv"
    answers.write_text("id,text,label\nt1,a goal,sports\nt1,a goal,tech\n")
    with pytest.raises(
        InputError,
        match=r"id 't1' appears twice with the same text and two gold labels, 'sports' and "
        r"'tech' \(two people's answers\?.*import-votes",
    ):
        ingest(workspace, answers, label_column="label")
    assert table_counts(workspace) == before
    # The second read: an accepted answer beside a rejected one is no second gold label.
    answers.write_text("id,text,label\nt1,a goal,sports\nt1,a goal,\n")
    with pytest.raises(InputError, match=r"the same text, gold 'sports' in one row and none"):
        ingest(workspace, answers, label_column="label")


@pytest.mark.usefixtures("small_batches")
def test_rows_repeated_across_batches_and_files_are_skipped_and_counted(tmp_path: Path) -> None:
    rows = _rows(10)
    # Rows 1-3 again as rows 8-10 (other batches), and row 5 again in a second file.
    repeated = _csv(tmp_path / "a.csv", rows[:7] + rows[:3])
    again = _csv(tmp_path / "b.csv", [rows[4], *_rows(12)[10:]])
    with Workspace(tmp_path / "ws.duckdb") as ws:
        summary = ingest(ws, [repeated, again], split_column="split", labels=["x", "y"])
        stored = ws.sql("SELECT id FROM examples ORDER BY rowid")["id"].to_list()
        _no_leftovers(ws)
    assert "4 rows skipped: the same id, text, label and split as an earlier row" in summary.notes
    assert summary.added == 9
    # Kept in file and row order, the first of each repeat.
    assert stored == [f"r{i}" for i in (1, 2, 3, 4, 5, 6, 7, 11, 12)]


@pytest.mark.usefixtures("small_batches")
def test_labels_are_read_over_the_whole_file_not_per_batch(tmp_path: Path) -> None:
    # Whole numbers in the first batches, a fraction in the last: every label keeps its
    # decimal form, as in a whole read (per batch, 1.0 would first read as "1").
    parquet = tmp_path / "scores.parquet"
    labels = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 2.5]
    pl.DataFrame({"text": [f"t{i}" for i in range(8)], "label": labels}).write_parquet(parquet)
    assert read_examples(parquet, label_column="label")["gold"].to_list()[:2] == ["1.0", "0.0"]
    # Whole numbers written as floats in the last batch only: all read as whole.
    whole = _csv(tmp_path / "whole.csv", [{"text": f"t{i}", "label": "1"} for i in range(7)])
    whole.write_text(whole.read_text() + "t7,0.0\n")
    assert read_examples(whole, label_column="label")["gold"].to_list()[-2:] == ["1", "0"]
    # One number written two ways in different batches, among labels that are no numbers.
    twice = _csv(tmp_path / "twice.csv", [{"text": f"t{i}", "label": "1"} for i in range(7)])
    twice.write_text(twice.read_text() + "t7,1.0\nt8,spam\n")
    with pytest.raises(InputError, match=r"'1' \(row 1\) and '1.0' \(row 8\)"):
        read_examples(twice, label_column="label")
    # A class left out is counted over every batch.
    moods = _csv(
        tmp_path / "moods.csv",
        [{"text": f"t{i}", "label": "a" if i % 2 else "b"} for i in range(9)],
    )
    with Workspace(tmp_path / "ws.duckdb") as ws:
        summary = ingest(ws, moods, label_column="label", label_map={"a": "", "b": "b", "c": "c"})
        assert summary.added == 5
    assert any("4 rows with gold 'a' left out" in note for note in summary.notes)


@pytest.mark.usefixtures("small_batches")
def test_jsonl_batches_take_the_types_of_the_whole_file(tmp_path: Path) -> None:
    # Integers in the first batch, a float in the second; a key first seen in the third.
    records = [{"text": f"t{i}", "n": i} for i in range(6)] + [
        {"text": "t6", "n": 0.5},
        {"text": "t7", "n": 1, "extra": {"k": "v"}},
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    batched = read_examples(path)
    whole = pl.DataFrame(records, infer_schema_length=None)
    assert (
        batched["meta"].to_list()
        == whole.select(pl.struct("n", "extra").struct.json_encode()).to_series().to_list()
    )
    assert json.loads(batched["meta"][0]) == {"n": 0.0, "extra": None}


@pytest.mark.usefixtures("small_batches")
def test_rows_without_a_text_can_be_left_out_across_batches(
    workspace: Workspace, tmp_path: Path
) -> None:
    # Trial 46: empty texts had to be cleaned out of the file elsewhere.
    rows = _rows(10)
    rows[1]["text"] = ""
    rows[7]["text"] = "   "
    path = _csv(tmp_path / "blanks.csv", rows)
    with pytest.raises(
        InputError, match=r"leave such rows out with skip_empty=True / --skip-empty"
    ):
        ingest(workspace, path, split_column="split")
    summary = ingest(workspace, path, split_column="split", skip_empty=True)
    assert summary.added == 8
    assert f"{path}: 2 rows without a text left out (the first: row 2)" in summary.notes
    kept = workspace.sql("SELECT id FROM examples WHERE starts_with(id, 'r')")["id"]
    assert sorted(kept) == sorted(f"r{i}" for i in (1, 3, 4, 5, 6, 7, 9, 10))


def test_a_staging_folder_a_killed_ingest_left_is_removed_by_the_next(
    workspace: Workspace, tmp_path: Path
) -> None:
    # Trial 56c: `kill -9` during ingest left .ws.duckdb.ingest-3ukbv8kh for good, as
    # large as the input at scale.
    left = workspace.path.parent / f".{workspace.path.name}.ingest-3ukbv8kh"
    left.mkdir()
    (left / "part-0.parquet").write_bytes(b"rows")
    other = workspace.path.parent / ".other.duckdb.ingest-abc"  # another workspace's
    other.mkdir()
    assert ingest(workspace, _csv(tmp_path / "fine.csv", _rows(3)), split_column="split").added == 3
    assert not left.exists() and other.exists()
    other.rmdir()
    _no_leftovers(workspace)
