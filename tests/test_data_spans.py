"""Ingesting a spans task: gold spans from JSONL, CSV and WRENCH span files."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import polars as pl
import pytest

from labelkit import InputError, LabelkitWarning, Workspace, ingest
from tests.helpers import table_counts
from tests.test_spans import WRENCH, write_wrench

ROWS = [
    {"id": "r1", "text": "I ❤️ my 💻 battery", "spans": [[10, 17, "TERM"]]},
    {"id": "r2", "text": "Dell\r\nscreen is dim", "spans": [[6, 12, "TERM"], [0, 4, "BRAND"]]},
    {"id": "r3", "text": "nothing here", "spans": []},
    {"id": "r4", "text": "no gold"},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text(
        "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8"
    )
    return path


def the_ingest_warning(path: Path, rows: list[dict]) -> str:
    """The one warning ingesting ``rows`` from ``path`` gives; every row is ingested."""
    with Workspace(path.with_suffix(".duckdb")) as ws:
        with pytest.warns(LabelkitWarning) as caught:
            ingest(ws, write_jsonl(path, rows), kind="spans", label_column="spans")
        assert table_counts(ws)["examples"] == len(rows)
    (message,) = [str(warning.message) for warning in caught]
    return message


def test_a_spans_column_not_named_as_gold_is_pointed_out(tmp_path: Path) -> None:
    # Trial 61b: a file's `spans` column, left unread without --label-column, was said
    # nowhere, and reviewers then saw the gold spans among the text's fields.
    source = write_jsonl(tmp_path / "reviews.jsonl", ROWS)
    with Workspace(tmp_path / "ws.duckdb") as ws:
        summary = ingest(ws, source, kind="spans", labels=["TERM", "BRAND"])
    assert any(
        "column 'spans' was not read as gold labels; to read it, pass label_column='spans'" in note
        for note in summary.notes
    )


def test_jsonl_gold_spans_are_stored_as_sorted_character_spans(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "reviews.jsonl", ROWS)
    with Workspace(tmp_path / "ws.duckdb") as ws:
        summary = ingest(ws, source, kind="spans", labels=["TERM", "BRAND"], label_column="spans")
        assert (summary.kind, summary.labels, summary.added) == ("spans", ("TERM", "BRAND"), 4)
        stored = dict(ws.sql("SELECT id, gold FROM examples").iter_rows())
        assert stored == {
            "r1": '[[10, 17, "TERM"]]',
            "r2": '[[0, 4, "BRAND"], [6, 12, "TERM"]]',
            "r3": "[]",
            "r4": None,
        }
        text = ws.sql("SELECT text FROM examples WHERE id = 'r2'")["text"][0]
        assert text[6:12] == "screen" and text[0:4] == "Dell"
        assert ws.task.kind == "spans" and ws.task.labels == ("TERM", "BRAND")


def test_gold_spans_off_token_bounds_are_counted_and_the_first_named(tmp_path: Path) -> None:
    # Trial 26: NCBI-style gold ending inside a word was taken in silence.
    rows = [
        {"text": "hello world", "spans": [[1, 5, "X"]]},
        {"text": "big screen", "spans": [[0, 3, "X"], [4, 8, "X"]]},
    ]
    message = the_ingest_warning(tmp_path / "off.jsonl", rows)
    assert message.startswith("2 gold spans do not start and end on tokens")
    assert "off.jsonl row 1 (id 'off:1'): [1, 5, 'X'] 'ello'" in message
    with Workspace(tmp_path / "clean.duckdb") as ws, warnings.catch_warnings():
        warnings.simplefilter("error", LabelkitWarning)
        ingest(ws, write_jsonl(tmp_path / "ok.jsonl", ROWS), kind="spans", label_column="spans")


def test_overlapping_gold_spans_are_counted_and_the_first_pair_named(tmp_path: Path) -> None:
    # Trial 47: one span given two types, and a span inside another, came in silence.
    rows = [
        {"text": "chicken soup is good", "spans": [[0, 7, "DISH"], [0, 7, "FOOD"]]},
        {"text": "chicken soup", "spans": [[0, 12, "DISH"], [0, 7, "FOOD"]]},
        {"text": "soup and tea", "spans": [[0, 4, "DISH"], [9, 12, "DISH"]]},
    ]
    message = the_ingest_warning(tmp_path / "overlap.jsonl", rows)
    assert message.startswith("2 texts have gold spans that overlap, the first ")
    assert 'overlap.jsonl row 1 (id \'overlap:1\'): [0, 7, "DISH"] and [0, 7, "FOOD"].' in message
    assert "`train --model spacy_spancat` keeps both" in message


def test_spans_as_prodigy_objects_or_polars_structs_are_read(tmp_path: Path) -> None:
    # Trial 47: a polars list of structs was refused as "not a JSON array of spans", and
    # a column of Python objects ended in polars' "cannot cast 'Object' type".
    prodigy = write_jsonl(
        tmp_path / "prodigy.jsonl",
        [
            {
                "text": "big screen",
                "spans": [{"start": 4, "end": 10, "label": "TERM", "token_start": 1}],
                "answer": "accept",
            },
            # Trial 54a: a rejected annotation's spans became gold.
            {
                "text": "dim screen",
                "spans": [{"start": 0, "end": 3, "label": "TERM", "token_start": 0}],
                "answer": "reject",
            },
        ],
    )
    frame = pl.DataFrame(
        {
            "id": ["f1"],
            "text": ["Dell battery"],
            "spans": [[{"start": 0, "end": 4, "label": "BRAND"}]],
        }
    )
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, prodigy, kind="spans", labels=["TERM", "BRAND"], label_column="spans")
        ingest(ws, frame, label_column="spans")
        assert ws.sql("SELECT text, gold FROM examples ORDER BY text").rows() == [
            ("Dell battery", '[[0, 4, "BRAND"]]'),
            ("big screen", '[[4, 10, "TERM"]]'),
            ("dim screen", None),
        ]
        # Trial 56a: polars reads [21, 24, "SKILL"] from JSON lines as three strings.
        lines = tmp_path / "posts.jsonl"
        lines.write_text('{"id": "j1", "text": "Python developer", "spans": [[0, 6, "TERM"]]}\n')
        read = pl.read_ndjson(lines)
        assert read.schema["spans"] == pl.List(pl.List(pl.String))
        ingest(ws, read, id_column="id", label_column="spans")
        assert ws.sql("SELECT gold FROM examples WHERE id = 'j1'").item() == '[[0, 6, "TERM"]]'
        objects = pl.DataFrame(
            {"text": ["x"], "spans": [object()]}, schema={"text": pl.String, "spans": pl.Object}
        )
        with pytest.raises(InputError, match=r"frame, column 'spans': holds Python objects"):
            ingest(ws, objects, label_column="spans")


def test_csv_gold_column_of_json_text_and_labels_sorted_from_gold(tmp_path: Path) -> None:
    source = tmp_path / "reviews.csv"
    pl.DataFrame(
        {
            "text": ["the screen", "Dell rocks"],
            "gold": ['[[4, 10, "TERM"]]', '[[0, 4, "BRAND"]]'],
        }
    ).write_csv(source)
    with Workspace(tmp_path / "ws.duckdb") as ws:
        summary = ingest(ws, source, kind="spans", label_column="gold")
        assert summary.labels == ("BRAND", "TERM")
        assert sorted(ws.sql("SELECT gold FROM examples")["gold"]) == [
            '[[0, 4, "BRAND"]]',
            '[[4, 10, "TERM"]]',
        ]


@pytest.mark.parametrize(
    ("spans", "message"),
    [
        (
            [[10, 18, "TERM"]],
            r"span \[10, 18, 'TERM'\] ends at 18, after the text \(17 characters\)",
        ),
        ([[12, 12, "TERM"]], r"span \[12, 12, 'TERM'\] is empty: it starts and ends at 12"),
        # Trial 47: "not inside the text ... with start < end" said of a span inside it.
        ([[15, 7, "TERM"]], r"span \[15, 7, 'TERM'\] is backwards: it ends \(7\) before it starts"),
        ([[10, 17, "PART"]], r"unknown label 'PART'; the task's entity types are \['TERM'\]"),
        (
            [[10, "17", "TERM"]],
            r"'\[\[10, \"17\", \"TERM\"\]\]' is not a JSON array of \[start, end, label\] spans",
        ),
    ],
)
def test_a_bad_gold_span_names_file_row_and_column_and_writes_nothing(
    tmp_path: Path, spans: list, message: str
) -> None:
    source = write_jsonl(tmp_path / "bad.jsonl", [ROWS[2], {**ROWS[0], "spans": spans}])
    with Workspace(tmp_path / "ws.duckdb") as ws:
        before = table_counts(ws)
        with pytest.raises(InputError, match=rf"bad.jsonl row 2, column 'spans': {message}"):
            ingest(ws, source, kind="spans", labels=["TERM"], label_column="spans")
        assert table_counts(ws) == before
        assert not ws.has_task()


def test_a_span_past_a_text_with_emoji_says_offsets_are_not_utf16(tmp_path: Path) -> None:
    # Trial 57e: offsets a JavaScript tool counted in UTF-16 ran past the end, and the
    # error said nothing of why.
    row = {"id": "e1", "text": "🔥🔥 充电宝很好", "spans": [[5, 10, "PRODUCT"]]}
    source = write_jsonl(tmp_path / "emoji.jsonl", [row])
    with Workspace(tmp_path / "ws.duckdb") as ws, pytest.raises(InputError) as error:
        ingest(ws, source, kind="spans", labels=["PRODUCT"], label_column="spans")
    assert str(error.value).endswith(
        "ends at 10, after the text (8 characters); offsets count characters (code points, "
        "as Python does), and this text has 2 (emoji, say) that UTF-16, as JavaScript tools "
        "count, makes two"
    )


def test_wrench_span_files_give_the_task_splits_and_character_gold(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    train = write_wrench(folder, "train.json", {"5": WRENCH["1"]})
    valid = write_wrench(folder, "valid.json", WRENCH)
    with Workspace(tmp_path / "ws.duckdb") as ws:
        summary = ingest(ws, [train, valid])
        assert (summary.kind, summary.labels) == ("spans", ("TERM", "BRAND"))
        assert summary.label_order == "entity_types of meta.json"
        assert ws.sql("SELECT id, text, gold, split FROM examples ORDER BY id").rows() == [
            ("train:5", "fine", "[]", "train"),
            ("valid:0", "the battery life of Dell", '[[4, 16, "TERM"], [20, 24, "BRAND"]]', "dev"),
            ("valid:1", "fine", "[]", "dev"),
        ]
        # Ingesting the same file again writes nothing.
        assert not ingest(ws, valid).wrote


def test_a_spans_workspace_refuses_another_kind(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "reviews.jsonl", ROWS)
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, source, kind="spans", labels=["TERM", "BRAND"], label_column="spans")
        with pytest.raises(InputError, match="the workspace's task is spans, not classification"):
            ingest(ws, source, kind="classification")


def test_a_wrench_record_whose_data_is_no_object_is_named(tmp_path: Path) -> None:
    classification = tmp_path / "train.json"
    classification.write_text(json.dumps({"0": {"data": "hi", "label": 0, "weak_labels": [0]}}))
    spans = write_wrench(tmp_path / "set", "valid.json", {**WRENCH, "1": {"data": ["fine"]}})
    with Workspace(tmp_path / "ws.duckdb") as ws:
        with pytest.raises(InputError, match=r"train.json: record '0' has no data.text"):
            ingest(ws, classification, labels=["a", "b"])
        with pytest.raises(InputError, match=r"valid.json record '1': data.text is not a list"):
            ingest(ws, spans)
        assert not ws.has_task()
