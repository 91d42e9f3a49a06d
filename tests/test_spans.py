from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import duckdb
import polars as pl
import pytest

from labelkit import (
    InputError,
    LabelMatrix,
    Task,
    Workspace,
    ingest,
)
from labelkit.spans import (
    Span,
    read_wrench_spans,
    spans_json,
    to_char_spans,
    to_token_spans,
    tokenize,
)
from labelkit.workspace import MIGRATIONS, SCHEMA_VERSION


def test_tokens_keep_character_offsets_over_emoji() -> None:
    text = "I ❤️ my 💻 battery"
    (tokens,) = tokenize([text])
    # ❤️ is two code points (U+2764 U+FE0F), 💻 one: "battery" starts at character 10.
    assert tokens[-1] == (10, 17)
    assert text[10:17] == "battery"
    assert [text[a:b] for a, b in tokens] == ["I", "❤", "️", "my", "💻", "battery"]
    token_spans, off = to_token_spans([Span(10, 17, "TERM")], tokens)
    assert token_spans == [(5, 6, "TERM")] and off == []
    assert to_char_spans(token_spans, tokens) == [Span(10, 17, "TERM")]


def test_crlf_is_a_token_and_offsets_after_it_hold() -> None:
    text = "Good screen\r\nbad fan"
    (tokens,) = tokenize([text])
    assert tokens == [(0, 4), (5, 11), (11, 13), (13, 16), (17, 20)]
    token_spans, _ = to_token_spans([Span(13, 20, "TERM")], tokens)
    assert token_spans == [(3, 5, "TERM")]
    (span,) = to_char_spans(token_spans, tokens)
    assert text[span.start : span.end] == "bad fan"


def test_nfd_text_is_not_normalised_so_offsets_count_its_combining_marks() -> None:
    text = unicodedata.normalize("NFD", "café screen")
    assert len(text) == 12  # NFC would have 11
    (tokens,) = tokenize([text])
    assert tokens == [(0, 5), (6, 12)]
    assert to_token_spans([Span(6, 12, "TERM")], tokens) == ([(1, 2, "TERM")], [])


@pytest.mark.parametrize(
    "text", ["some JALAPEÑO. Then", "PÂTE BRISÉE.", "COMTÉ.", "açaí.", "éA.", "JALAPEÑO.X"]
)
def test_a_period_after_a_word_with_an_accent_is_split_in_nfd_as_in_nfc(text: str) -> None:
    # Trial 65b: after two capitals with an accent between ("N" U+0303 "O"), the
    # period stayed in the word's token, and the gold span "JALAPEÑO" fell off tokens.
    decomposed = unicodedata.normalize("NFD", text)
    words = [decomposed[s:e] for s, e in tokenize([decomposed])[0]]
    expected = [text[s:e] for s, e in tokenize([text])[0]]
    assert [unicodedata.normalize("NFC", word) for word in words] == expected


def test_a_span_off_token_boundaries_snaps_outward_and_is_reported() -> None:
    (tokens,) = tokenize(["the battery life"])
    inside = Span(5, 9, "TERM")  # "atte", inside "battery"
    across = Span(6, 13, "TERM")  # "ttery l"
    blank = Span(3, 4, "TERM")  # the space between "the" and "battery"
    token_spans, off = to_token_spans([Span(4, 16, "TERM"), inside, across, blank], tokens)
    assert token_spans == [(1, 3, "TERM"), (1, 2, "TERM"), (1, 3, "TERM")]
    assert off == [inside, across, blank]


def test_token_spans_outside_the_text_are_refused() -> None:
    (tokens,) = tokenize(["one two"])
    with pytest.raises(InputError, match=r"outside the text's 2 tokens"):
        to_char_spans([(1, 3, "TERM")], tokens)


def test_spans_json_is_sorted_without_repeats() -> None:
    assert spans_json([(4, 9, "B"), Span(0, 3, "A"), (4, 9, "B")]) == '[[0, 3, "A"], [4, 9, "B"]]'


def write_wrench(folder: Path, name: str, records: dict) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "meta.json").write_text(
        json.dumps({"lf": ["dict", "caps"], "entity_types": ["TERM", "BRAND"]})
    )
    path = folder / name
    path.write_text(json.dumps(records))
    return path


WRENCH = {
    "0": {
        "label": [[1, 3, "TERM"], [4, 5, "BRAND"]],
        "data": {"text": ["the", "battery", "life", "of", "Dell"]},
        "weak_labels": [[[1, 2, "TERM"]], [[4, 5, "BRAND"], [4, 5, "BRAND"]]],
    },
    "1": {"label": [], "data": {"text": ["fine"]}, "weak_labels": [[], []]},
}


def test_read_wrench_spans_joins_tokens_and_converts_token_spans_to_characters(
    tmp_path: Path,
) -> None:
    read = read_wrench_spans(write_wrench(tmp_path / "set", "valid.json", WRENCH))
    assert read.frame.rows() == [
        ("valid:0", "the battery life of Dell", '[[4, 16, "TERM"], [20, 24, "BRAND"]]', "dev"),
        ("valid:1", "fine", "[]", "dev"),
    ]
    # One row per LF span, a span an LF repeats once.
    assert read.weak_labels.rows() == [
        ("valid:0", 0, 4, 11, "TERM"),
        ("valid:0", 1, 20, 24, "BRAND"),
    ]
    assert (read.lfs, read.labels, read.n_lfs) == (("dict", "caps"), ("TERM", "BRAND"), 2)


def test_read_wrench_spans_names_a_record_with_a_span_past_its_tokens(tmp_path: Path) -> None:
    bad = {"7": {"label": [[0, 9, "TERM"]], "data": {"text": ["a", "b"]}, "weak_labels": []}}
    with pytest.raises(InputError, match=r"train.json record '7' label: token span \[0, 9"):
        read_wrench_spans(write_wrench(tmp_path / "set", "train.json", bad))


def test_a_spans_task_has_entity_types_and_no_attributes() -> None:
    task = Task(("TERM", "BRAND"), kind="spans")
    with pytest.raises(InputError, match=r"^flag works per attribute .* task is spans"):
        task.require_attributes("flag")
    with pytest.raises(InputError, match="works per attribute"):
        _ = task.targets
    assert task.answers("4:16").labels == ("TERM", "BRAND", "none")
    gold = pl.Series(['[[4, 16, "TERM"]]', "[]", None])
    assert task.gold_answers(gold, "4:16").to_list() == ["TERM", "none", None]
    with pytest.raises(InputError, match="'<start>:<end>'"):
        task.answers("16:4")
    with pytest.raises(InputError, match="cannot be an entity type"):
        Task(("TERM", "O"), kind="spans")
    assert Task.from_json(task.to_json()) == task


def test_schema_7_workspace_migrates_to_span_tables(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    for migration in MIGRATIONS[:7]:
        con.execute(migration)
    con.execute("INSERT INTO meta VALUES ('schema_version', '7')")
    con.close()
    with Workspace(path) as ws:
        assert ws.schema_version() == SCHEMA_VERSION
        ws.con.execute("INSERT INTO span_votes VALUES ('a', 'lf', 4, 16, 'TERM', 1)")
        with pytest.raises(duckdb.ConstraintException):
            ws.con.execute("INSERT INTO span_votes VALUES ('a', 'lf', 4, 16, 'TERM', 2)")
        columns = ws.sql("DESCRIBE span_predictions")["column_name"].to_list()
        assert columns == ["example_id", "start", "end", "label", "confidence", "model", "run_id"]


def test_a_stage_without_a_span_path_refuses_a_spans_workspace_by_name(tmp_path: Path) -> None:
    with Workspace(tmp_path / "spans.duckdb") as ws:
        ingest(ws, write_wrench(tmp_path / "set", "valid.json", WRENCH))
        with pytest.raises(InputError, match=r"^a label matrix \(LabelMatrix, SparseVotes\) works"):
            LabelMatrix.from_workspace(ws)


@pytest.mark.parametrize("attribute", ["²:3", "1:٣x", "-1:3", "3:3", "a:b", "4"])
def test_a_malformed_span_attribute_is_an_input_error(attribute: str) -> None:
    with pytest.raises(InputError, match="a span's attribute is '<start>:<end>'"):
        Task(("TERM",), kind="spans").answers(attribute)
