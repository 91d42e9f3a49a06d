from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from labelkit import InputError, Workspace, bundled_dataset, ingest, read_examples
from labelkit.demo import YOUTUBE_INGEST
from tests.helpers import table_counts


def test_csv_ingest_keeps_ids_gold_splits_and_meta(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text('id,text,label,author\n7,"hello, world",1,ana\n8,buy now,0,bo\n')
    with Workspace(tmp_path / "ws.duckdb") as ws:
        n = ingest(
            ws, path, id_column="id", label_column="label", label_map={"1": "ham", "0": "spam"}
        )
        rows = ws.sql("SELECT id, text, gold, meta FROM examples ORDER BY id").rows()
        assert n == 2
        assert rows[0][:3] == ("7", "hello, world", "ham")
        assert json.loads(rows[1][3]) == {"author": "bo"}
        assert ws.task.labels == ("ham", "spam")


def test_jsonl_parquet_and_wrench_read_alike(tmp_path: Path) -> None:
    records = [{"text": "a b", "label": "x"}, {"text": "c", "label": "y"}]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    parquet = tmp_path / "d.parquet"
    pl.DataFrame(records).write_parquet(parquet)
    wrench_dir = tmp_path / "wrench"
    wrench_dir.mkdir()
    (wrench_dir / "label.json").write_text('{"0": "X", "1": "Y"}')
    (wrench_dir / "valid.json").write_text(
        json.dumps(
            {
                "0": {"data": {"text": "a b"}, "label": 0, "weak_labels": [-1]},
                "1": {"data": {"text": "c"}, "label": 1, "weak_labels": [1]},
            }
        )
    )
    for path in (jsonl, parquet):
        frame = read_examples(path, label_column="label")
        assert frame["text"].to_list() == ["a b", "c"]
        assert frame["gold"].to_list() == ["x", "y"]
    with Workspace(tmp_path / "ws.duckdb") as ws:
        assert ingest(ws, wrench_dir / "valid.json") == 2
        assert ws.sql("SELECT id, gold, split FROM examples ORDER BY id").rows() == [
            ("valid:0", "x", "dev"),
            ("valid:1", "y", "dev"),
        ]


def test_reingest_is_a_no_op_and_splits_follow_the_text(tmp_path: Path) -> None:
    data = sorted(bundled_dataset("youtube-spam").glob("*.csv"))
    with Workspace(tmp_path / "ws.duckdb") as ws:
        first = ingest(ws, data, **YOUTUBE_INGEST)
        again = ingest(ws, data, **YOUTUBE_INGEST)
        # 1,956 rows, 3 of them exact duplicates of another row.
        assert (first, again) == (1953, 0)
        splits_per_text = ws.sql(
            "SELECT text, count(DISTINCT split) AS n FROM examples GROUP BY text HAVING n > 1"
        )
        assert splits_per_text.height == 0
        shares = dict(ws.sql("SELECT split, count(*) / 1953 FROM examples GROUP BY 1").rows())
        assert 0.15 < shares["test"] < 0.25 and 0.05 < shares["dev"] < 0.15


@pytest.mark.parametrize(
    ("content", "kwargs", "message"),
    [
        ("id,body\n1,x\n", {}, r"no text column 'text'; the columns are \['id', 'body'\]"),
        ("", {}, "the file is empty"),
        ("text\n", {}, "the file has no rows"),
        (
            "text,label\nok,ham\nbad,maybe\n",
            {"label_column": "label", "labels": ["ham", "spam"]},
            r"row 2, column 'label': unknown label 'maybe'",
        ),
        ('text\nfine\n""\n', {}, "column 'text' is empty in row 2"),
        ("id,text\n1,a\n,b\n", {"id_column": "id"}, "column 'id' is empty in row 2"),
        ("text,split\nx,holdout\n", {"split_column": "split"}, "unknown split 'holdout'"),
    ],
)
def test_bad_csv_names_file_column_row_and_changes_nothing(
    workspace: Workspace, tmp_path: Path, content: str, kwargs: dict, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    before = table_counts(workspace)
    with pytest.raises(InputError, match=message) as error:
        ingest(workspace, path, **kwargs)
    assert "bad.csv" in str(error.value)
    assert table_counts(workspace) == before


def test_malformed_jsonl_names_the_line(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok", "label": "ham"}\n{"text": oops}\n')
    before = table_counts(workspace)
    with pytest.raises(InputError, match=r"bad.jsonl line 2: malformed JSON"):
        ingest(workspace, path, label_column="label")
    assert table_counts(workspace) == before


def test_an_id_with_new_text_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "more.csv"
    path.write_text("id,text\na1,a different text\n")
    before = table_counts(workspace)
    with pytest.raises(InputError, match=r"more.csv row 1: id 'a1' is already in the workspace"):
        ingest(workspace, path, id_column="id")
    assert table_counts(workspace) == before
