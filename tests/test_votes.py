"""Votes: the sparse view of a label matrix, and votes imported from other tools."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import labelkit
from labelkit import (
    InputError,
    LabelkitWarning,
    LabelMatrix,
    Task,
    Workspace,
    apply_lfs,
    ingest,
    keyword_lf,
)
from labelkit.votes import SparseVotes
from tests.helpers import table_counts


def stored(ws: Workspace) -> list[tuple[str, str, str]]:
    return ws.sql("SELECT source, example_id, label FROM votes ORDER BY 1, 2").rows()


def test_triplets_are_the_votes_cast_in_row_major_order() -> None:
    codes = np.array([[-1, 1, 0], [-1, -1, -1], [0, -1, 1]], dtype=np.int16)
    matrix = LabelMatrix(
        codes=codes, example_ids=["a", "b", "c"], sources=["x", "y", "z"], task=Task(("n", "p"))
    )
    rows, columns, labels = matrix.triplets()
    assert rows.tolist() == [0, 0, 2, 2]
    assert columns.tolist() == [1, 2, 0, 2]
    assert labels.tolist() == [1, 0, 0, 1]
    rebuilt = np.full_like(codes, -1)
    rebuilt[rows, columns] = labels
    assert (rebuilt == codes).all()


def test_sparse_votes_read_from_the_workspace_are_the_votes_cast(workspace: Workspace) -> None:
    apply_lfs(
        workspace,
        [keyword_lf("subscribe", ["subscribe"], "spam"), keyword_lf("song", ["song"], "ham")],
    )
    votes = SparseVotes.from_workspace(workspace, sources=["subscribe", "song"])
    assert votes.example_ids == ["a1", "a2", "a3", "a4", "a5", "a6"]
    assert votes.sources == ["subscribe", "song"]
    # a1 and a5 say subscribe (spam = 1); a3 and a6 mention a song (ham = 0).
    assert list(zip(votes.rows, votes.columns, votes.codes, strict=True)) == [
        (0, 0, 1),
        (2, 1, 0),
        (4, 0, 1),
        (5, 1, 0),
    ]
    dense = LabelMatrix.from_workspace(workspace, sources=["subscribe", "song"])
    assert (votes.to_matrix().codes == dense.codes).all()
    # Trial 48b: printing applied LFs listed every example id.
    assert repr(dense) == "LabelMatrix(6 examples x 2 sources ['subscribe', 'song'])"
    assert [a.tolist() for a in dense.triplets()] == [
        votes.rows.tolist(),
        votes.columns.tolist(),
        votes.codes.tolist(),
    ]
    test_only = SparseVotes.from_workspace(workspace, split="test", sources=["song"])
    assert (test_only.example_ids, test_only.rows.tolist()) == (["a5", "a6"], [1])
    silent = SparseVotes.from_workspace(workspace, sources=["nobody"])
    assert silent.rows.size == 0 and (silent.to_matrix().codes == -1).all()


def test_a_table_of_votes_becomes_sources_of_their_own(
    workspace: Workspace, tmp_path: Path
) -> None:
    apply_lfs(workspace, [keyword_lf("subscribe", ["subscribe"], "spam")])
    table = tmp_path / "votes.csv"
    table.write_text(
        "example_id,source,label\n"
        "a1,old_model,spam\n"
        "a3,old_model,ham\n"
        "a4,old_model,\n"
        "a2,crowd,spam\n"
    )
    counts = labelkit.import_votes(workspace, table, source_prefix="ext:")
    assert counts == {"ext:old_model": 2, "ext:crowd": 1}
    assert stored(workspace) == [
        ("ext:crowd", "a2", "spam"),
        ("ext:old_model", "a1", "spam"),
        ("ext:old_model", "a3", "ham"),
        ("subscribe", "a1", "spam"),
        ("subscribe", "a5", "spam"),
    ]
    kinds = workspace.sql("SELECT name, kind FROM sources ORDER BY name").rows()
    assert kinds == [("ext:crowd", "lf"), ("ext:old_model", "lf"), ("subscribe", "lf")]
    matrix = LabelMatrix.from_workspace(workspace, sources=["ext:old_model"])
    assert matrix.to_frame()["ext:old_model"].to_list() == ["spam", None, "ham", None, None, None]

    # Importing a source again replaces its votes, and only its.
    again = pl.DataFrame({"example_id": ["a6"], "source": ["old_model"], "label": ["ham"]})
    assert labelkit.import_votes(workspace, again, source_prefix="ext:", kind="llm") == {
        "ext:old_model": 1
    }
    assert stored(workspace) == [
        ("ext:crowd", "a2", "spam"),
        ("ext:old_model", "a6", "ham"),
        ("subscribe", "a1", "spam"),
        ("subscribe", "a5", "spam"),
    ]
    kind = workspace.sql("SELECT kind FROM sources WHERE name = 'ext:old_model'").item()
    assert kind == "llm"


def test_a_crowds_answers_day_by_day_replace_with_a_warning_or_add_with_add(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    day1, day2 = tmp_path / "day1.csv", tmp_path / "day2.csv"
    day1.write_text("example_id,source,label\na1,w1,spam\na2,w1,ham\na1,w2,ham\n")
    day2.write_text("example_id,source,label\na1,w1,ham\na3,w3,spam\na4,w1,\n")
    labelkit.import_votes(workspace, day1)
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # The same file again, named another way: nothing to warn of.
        labelkit.import_votes(workspace, Path("day1.csv"))
    before = stored(workspace)
    # Trial 54b: a second day's answers silently took the first day's place.
    with pytest.warns(LabelkitWarning) as caught:
        assert labelkit.import_votes(workspace, day2) == {"w1": 1, "w3": 1}
    assert str(caught[0].message) == (
        "import_votes replaced the 2 votes that 1 source held from an earlier import "
        f"(votes imported from {day1}); import a source's files in one call, or add them "
        "with add=True (--add); source_prefix (--source-prefix) names the imported sources "
        "apart"
    )
    assert stored(workspace) == [("w1", "a1", "ham"), ("w2", "a1", "ham"), ("w3", "a3", "spam")]

    labelkit.import_votes(workspace, day1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert labelkit.import_votes(workspace, day2, add=True) == {"w1": 1, "w3": 1}
    # w1's new answer on a1 takes the place of its old one; its a2 vote stays; a4's
    # empty answer removes nothing.
    assert stored(workspace) == [
        ("w1", "a1", "ham"),
        ("w1", "a2", "ham"),
        ("w2", "a1", "ham"),
        ("w3", "a3", "spam"),
    ]
    definitions = dict(workspace.sql("SELECT name, definition FROM sources").rows())
    assert definitions["w1"] == f"votes imported from {day1}; added from {day2}"
    assert definitions["w3"] == f"votes imported from {day2}"
    assert before == [("w1", "a1", "spam"), ("w1", "a2", "ham"), ("w2", "a1", "ham")]
    with pytest.raises(InputError, match=r"add \(--add\) and complete \(--complete\)"):
        labelkit.import_votes(workspace, day2, add=True, complete=True)

    workspace.close()
    warned = cli("import-votes", workspace.path, day1)
    assert warned.returncode == 0, warned.stderr
    assert "warning: import_votes replaced the 2 votes that 1 source held" in warned.stderr
    added = cli("import-votes", workspace.path, day2, "--add")
    assert added.returncode == 0 and "warning" not in added.stderr, added.stderr


def test_parquet_and_jsonl_tables_are_read(workspace: Workspace, tmp_path: Path) -> None:
    frame = pl.DataFrame({"example_id": ["a5"], "source": ["p"], "label": ["spam"]})
    frame.write_parquet(tmp_path / "v.parquet")
    (tmp_path / "v.jsonl").write_text('{"example_id": "a6", "source": "j", "label": "ham"}\n')
    labelkit.import_votes(workspace, [tmp_path / "v.parquet", tmp_path / "v.jsonl"])
    assert stored(workspace) == [("j", "a6", "ham"), ("p", "a5", "spam")]
    # A file whose name does not say its format is read in the one given.
    (tmp_path / "votes").write_text("example_id,source,label\na1,t,spam\n")
    with pytest.raises(labelkit.InputError, match=r"votes: unknown file type ''; .*--format"):
        labelkit.import_votes(workspace, tmp_path / "votes")
    assert labelkit.import_votes(workspace, tmp_path / "votes", file_format="csv") == {"t": 1}


@pytest.mark.parametrize(
    ("rows", "error"),
    [
        (
            "a1,m,spam\na9,m,ham\n",
            r"votes\.csv row 2: no example 'a9' in the workspace",
        ),
        ("a1,m,spam\na2,m,eggs\n", r"votes\.csv row 2: unknown label 'eggs'; the task's labels"),
        (
            "a1,m,spam\na2,m,ham\na1,m,ham\na2,m,spam\n",
            r"votes\.csv row 3: a second vote of 'm' on 'a1' \(the first: .*votes\.csv row 1\)",
        ),
        ("a1,,spam\n", r"votes\.csv row 1: example_id or source is empty"),
    ],
)
def test_bad_votes_name_the_row_and_write_nothing(
    workspace: Workspace, tmp_path: Path, rows: str, error: str
) -> None:
    apply_lfs(workspace, [keyword_lf("m", ["song"], "ham")])
    before, votes_before = table_counts(workspace), stored(workspace)
    table = tmp_path / "votes.csv"
    table.write_text("example_id,source,label\n" + rows)
    with pytest.raises(InputError, match=error):
        labelkit.import_votes(workspace, table)
    assert table_counts(workspace) == before
    assert stored(workspace) == votes_before


def test_a_table_without_the_vote_columns_is_refused(workspace: Workspace) -> None:
    frame = pl.DataFrame({"id": ["a1"], "lf": ["m"], "label": ["spam"]})
    with pytest.raises(InputError, match=r"frame: no column\(s\) \['example_id', 'source'\]"):
        labelkit.import_votes(workspace, frame)


def wrench_split(folder: Path, split: str, records: dict[str, tuple[str, int, list[int]]]) -> Path:
    path = folder / f"{split}.json"
    path.write_text(
        json.dumps(
            {
                key: {"data": {"text": text}, "label": gold, "weak_labels": weak}
                for key, (text, gold, weak) in records.items()
            }
        )
    )
    return path


@pytest.fixture
def wrench(tmp_path: Path) -> Path:
    """A small WRENCH set with label.json (0 = HAM, 1 = SPAM) and a readme naming its LFs."""
    folder = tmp_path / "wrench"
    folder.mkdir()
    (folder / "label.json").write_text('{"0": "HAM", "1": "SPAM"}')
    wrench_split(
        folder,
        "train",
        {
            "0": ("subscribe to me", 1, [1, -1, -1]),
            "1": ("nice song", 0, [-1, 0, -1]),
            "2": ("hello", 0, [-1, -1, -1]),
        },
    )
    wrench_split(folder, "test", {"0": ("free money", 1, [1, -1, 0])})
    return folder


def test_wrench_weak_labels_are_imported_by_position(wrench: Path, tmp_path: Path) -> None:
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, [wrench / "train.json", wrench / "test.json"])
        counts = labelkit.import_votes(ws, [wrench / "train.json", wrench / "test.json"])
        assert counts == {"wrench:0": 2, "wrench:1": 1, "wrench:2": 1}
        assert stored(ws) == [
            ("wrench:0", "test:0", "spam"),
            ("wrench:0", "train:0", "spam"),
            ("wrench:1", "train:1", "ham"),
            ("wrench:2", "test:0", "ham"),
        ]


def test_the_votes_of_wrench_records_without_a_text_are_left_out(tmp_path: Path) -> None:
    # Trial 62c: after `ingest --skip-empty`, the first record ingest had left out
    # refused every vote of the file.
    folder = tmp_path / "wrench"
    folder.mkdir()
    (folder / "label.json").write_text('{"0": "HAM", "1": "SPAM"}')
    records = {"0": ("subscribe", 1, [1, -1]), "1": ("  ", 0, [0, 0]), "2": ("song", 0, [-1, 0])}
    path = wrench_split(folder, "train", records)
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, [path], skip_empty=True)
        counts = labelkit.import_votes(ws, [path])
        assert counts == {"wrench:0": 1, "wrench:1": 1}
        assert stored(ws) == [("wrench:0", "train:0", "spam"), ("wrench:1", "train:2", "ham")]


def test_wrench_lf_names_come_from_a_list_or_the_readme(wrench: Path, tmp_path: Path) -> None:
    (wrench / "readme.txt").write_text(
        "Spam\n\nLabeling functions list:\n\n    keyword_sub,\n    keyword_song,\n"
        "    polarity,\n\nkeyword_sub : spam asks to subscribe.\n"
    )
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, [wrench / "train.json"])
        labelkit.import_votes(ws, wrench / "train.json")
        assert ws.sql("SELECT name FROM sources ORDER BY name")["name"].to_list() == [
            "wrench:keyword_song",
            "wrench:keyword_sub",
            "wrench:polarity",
        ]
        labelkit.import_votes(ws, wrench / "train.json", lf_names=["a", "b", "c"], source_prefix="")
        assert [row for row in stored(ws) if not row[0].startswith("wrench:")] == [
            ("a", "train:0", "spam"),
            ("b", "train:1", "ham"),
        ]
        with pytest.raises(InputError, match=r"3 weak_labels per record, but 2 LF names"):
            labelkit.import_votes(ws, wrench / "train.json", lf_names=["a", "b"])


def test_numeric_labels_out_of_order_need_a_label_map(wrench: Path, tmp_path: Path) -> None:
    (wrench / "label.json").unlink()
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, [wrench / "train.json"], labels=["1", "0"])
        before = table_counts(ws)
        with pytest.raises(InputError, match=r"train\.json: the task's labels \['1', '0'\]"):
            labelkit.import_votes(ws, wrench / "train.json")
        assert table_counts(ws) == before
        labelkit.import_votes(ws, wrench / "train.json", label_map={0: "0", 1: "1"})
        assert stored(ws) == [("wrench:0", "train:0", "1"), ("wrench:1", "train:1", "0")]


def test_a_wrench_code_no_label_has_is_refused(wrench: Path, tmp_path: Path) -> None:
    wrench_split(wrench, "valid", {"7": ("a text", 0, [2, -1, -1])})
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, [wrench / "valid.json"])
        with pytest.raises(InputError, match=r"valid\.json record '7': weak_labels\[0\] is 2"):
            labelkit.import_votes(ws, wrench / "valid.json")
        assert ws.sql("SELECT count(*) FROM votes").item() == 0


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "labelkit", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def test_import_votes_command(wrench: Path, tmp_path: Path) -> None:
    path = tmp_path / "ws.duckdb"
    assert cli("ingest", path, wrench / "train.json", wrench / "test.json").returncode == 0
    done = cli(
        "import-votes", path, wrench / "train.json", wrench / "test.json", "--source-prefix", "w/"
    )
    assert done.returncode == 0, done.stderr
    assert "4 votes from 3 sources: w/0 2, w/1 1, w/2 1" in done.stdout
    with Workspace(path, read_only=True) as ws:
        assert stored(ws)[0] == ("w/0", "test:0", "spam")
    bad = tmp_path / "bad.csv"
    bad.write_text("example_id,source,label\ntrain:0,m,eggs\n")
    failed = cli("import-votes", path, bad)
    assert failed.returncode == 1
    assert failed.stderr.count("\n") == 1
    assert "bad.csv row 1: unknown label 'eggs'" in failed.stderr


def test_a_snorkel_label_matrix_imports_with_its_class_numbers(tmp_path: Path) -> None:
    # Trial 53a: L_train melted to a long frame failed on "-1" (Snorkel's abstain), on
    # "3.0" (pandas' float beside a missing value), and --label-map was ignored for a
    # table; with L_train alone, nothing said why every source had 0 coverage on dev.
    csv = tmp_path / "messages.csv"
    pl.DataFrame(
        {
            "id": ["m1", "m2", "m3", "d1"],
            "text": ["invoice", "parcel", "refund", "dev text"],
            "split": ["train", "train", "train", "dev"],
            "label": ["billing", "shipping", "returns", "billing"],
        }
    ).write_csv(csv)
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        ingest(ws, csv, id_column="id", split_column="split", label_column="label")
    codes = np.array([[0, -1], [1, -1], [-1, 2]])
    votes = (
        pl.DataFrame(codes, schema=["lf_invoice", "lf_other"])
        .with_columns(example_id=pl.Series(["m1", "m2", "m3"]))
        .unpivot(index="example_id", variable_name="source", value_name="label")
    )
    floats = votes.with_columns(pl.col("label").cast(pl.Float64).replace(-1.0, None))
    with Workspace(path) as ws:
        mapping = {0: "billing", 1: "shipping", 2: "returns"}
        assert labelkit.import_votes(ws, votes, label_map=mapping) == {
            "lf_invoice": 2,
            "lf_other": 1,
        }
        assert stored(ws) == [
            ("lf_invoice", "m1", "billing"),
            ("lf_invoice", "m2", "shipping"),
            ("lf_other", "m3", "returns"),
        ]
        labelkit.import_votes(ws, floats, label_map=mapping)
        assert len(stored(ws)) == 3
    floats.write_csv(tmp_path / "L_train.csv")
    done = cli(
        "import-votes", path, tmp_path / "L_train.csv", "--label-map", "0=billing,1=shipping"
    )
    assert done.returncode == 1, "2 is not mapped, and no label"
    assert "L_train.csv row 6: unknown label '2'" in done.stderr
    done = cli(
        "import-votes",
        path,
        tmp_path / "L_train.csv",
        "--label-map",
        "0=billing,1=shipping,2=returns",
    )
    assert done.returncode == 0, done.stderr
    assert "note: none of these votes is on the dev split, whose 1 gold labels" in " ".join(
        done.stdout.split()
    )


def test_votes_imported_over_applied_lfs_name_them_not_their_code(workspace: Workspace) -> None:
    # Trial 63b: a Snorkel matrix imported under the LFs' names replaced their votes,
    # and the warning quoted 9 KB of their code as "an earlier import".
    labelkit.apply_lfs(workspace, [labelkit.keyword_lf("check", ["check"], "spam")])
    frame = pl.DataFrame({"example_id": ["a1"], "source": ["check"], "label": ["ham"]})
    with pytest.warns(LabelkitWarning) as caught:
        labelkit.import_votes(workspace, frame)
    said = str(caught[0].message)
    assert said.startswith(
        "import_votes replaced the 1 vote that 1 source held from apply or llm (check); "
    )
    assert "keyword" not in said
