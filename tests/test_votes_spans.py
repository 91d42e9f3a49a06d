"""import_votes on a spans task: WRENCH span weak_labels and tables of span votes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from labelkit import (
    InputError,
    LabelkitWarning,
    LabelMatrix,
    Workspace,
    aggregate,
    import_votes,
    ingest,
)
from labelkit.spans import read_wrench_spans
from tests.helpers import table_counts
from tests.test_cli import run
from tests.test_spans import WRENCH, write_wrench


@pytest.fixture
def wrench_ws(tmp_path: Path) -> Iterator[tuple[Workspace, Path]]:
    valid = write_wrench(tmp_path / "set", "valid.json", WRENCH)
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, valid)
        yield ws, valid


def span_votes(ws: Workspace) -> list[tuple]:
    return ws.sql(
        'SELECT example_id, source, start, "end", label FROM span_votes ORDER BY ALL'
    ).rows()


def test_wrench_weak_labels_become_character_span_votes_one_source_per_lf(
    wrench_ws: tuple[Workspace, Path],
) -> None:
    ws, valid = wrench_ws
    assert import_votes(ws, valid) == {"wrench:dict": 1, "wrench:caps": 1}
    assert span_votes(ws) == [
        ("valid:0", "wrench:caps", 20, 24, "BRAND"),
        ("valid:0", "wrench:dict", 4, 11, "TERM"),
    ]
    names = ws.sql("SELECT name FROM sources WHERE kind = 'lf' ORDER BY name")["name"]
    assert names.to_list() == ["wrench:caps", "wrench:dict"]
    # Importing with other names replaces nothing of these; the same names replace them.
    import_votes(ws, valid, source_prefix="", lf_names=["d", "c"])
    assert len(span_votes(ws)) == 4
    assert import_votes(ws, valid) == {"wrench:dict": 1, "wrench:caps": 1}
    assert len(span_votes(ws)) == 4


def test_wrench_votes_for_texts_the_workspace_holds_otherwise_are_refused(
    wrench_ws: tuple[Workspace, Path], tmp_path: Path
) -> None:
    ws, _ = wrench_ws
    changed = {"0": {**WRENCH["0"], "data": {"text": ["the", "battery", "life", "of", "HP"]}}}
    other = write_wrench(tmp_path / "other", "valid.json", changed)
    before = table_counts(ws)
    with pytest.raises(InputError, match=r"valid.json record '0': .* has another text"):
        import_votes(ws, other)
    assert table_counts(ws) == before


def test_a_table_of_span_votes_is_stored_with_o_votes(
    wrench_ws: tuple[Workspace, Path], tmp_path: Path
) -> None:
    ws, _ = wrench_ws
    table = tmp_path / "votes.csv"
    pl.DataFrame(
        {
            "example_id": ["valid:0", "valid:0", "valid:1"],
            "source": ["gpt", "gpt", "gpt"],
            "start": [4, 0, 0],
            "end": [16, 3, 4],
            "label": ["TERM", "O", "O"],
        }
    ).write_csv(table)
    assert import_votes(ws, table, kind="llm") == {"gpt": 3}
    assert span_votes(ws) == [
        ("valid:0", "gpt", 0, 3, "O"),
        ("valid:0", "gpt", 4, 16, "TERM"),
        ("valid:1", "gpt", 0, 4, "O"),
    ]
    assert ws.sql("SELECT kind FROM sources WHERE name = 'gpt'")["kind"].to_list() == ["llm"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            {"example_id": "valid:1", "start": 0, "end": 5, "label": "TERM"},
            r"votes.jsonl row 2: span \[0, 5, 'TERM'\] ends at 5, after the text \(4 "
            r"characters\) \(the text of 'valid:1'\)",
        ),
        (
            {"example_id": "valid:0", "start": 4, "end": 4, "label": "TERM"},
            r"row 2: span \[4, 4, 'TERM'\] is empty: it starts and ends at 4",
        ),
        (
            {"example_id": "valid:0", "start": 4, "end": 11, "label": "PART"},
            r"row 2: unknown label 'PART'; the task's entity types are \['TERM', 'BRAND'\]",
        ),
        (
            {"example_id": "valid:0", "start": 4, "end": 11, "label": "term"},
            r"row 2: unknown label 'term'; .* \(did you mean 'TERM'\?\)$",
        ),
        (
            {"example_id": "valid:9", "start": 4, "end": 11, "label": "TERM"},
            r"row 2: no example 'valid:9' in the workspace",
        ),
        (
            {"example_id": "valid:0", "start": "four", "end": 11, "label": "TERM"},
            r"row 2, column 'start': is 'four', not a whole number",
        ),
        (
            {"example_id": "valid:0", "start": 4, "end": 16, "label": "TERM"},
            r"row 2: 'lf' gives the span \[4, 16, 'TERM'\] of 'valid:0' twice \(the first: "
            r".*votes.jsonl row 1\)",
        ),
        (
            # Trial 45: both were stored, two types on the same tokens from one source.
            {"example_id": "valid:0", "start": 10, "end": 20, "label": "BRAND"},
            r"row 2: 'lf' gives overlapping spans \[4, 16, 'TERM'\] and \[10, 20, 'BRAND'\] "
            r"of 'valid:0': a source marks each character once",
        ),
    ],
)
def test_a_bad_span_vote_names_the_row_and_writes_nothing(
    wrench_ws: tuple[Workspace, Path], tmp_path: Path, row: dict, message: str
) -> None:
    ws, _ = wrench_ws
    table = tmp_path / "votes.jsonl"
    rows = [
        {"example_id": "valid:0", "source": "lf", "start": 4, "end": 16, "label": "TERM"},
        {"source": "lf", **row},
    ]
    table.write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = table_counts(ws)
    with pytest.raises(InputError, match=message):
        import_votes(ws, table)
    assert table_counts(ws) == before


def test_a_label_matrix_of_a_spans_workspace_is_refused_by_name(
    wrench_ws: tuple[Workspace, Path],
) -> None:
    ws, valid = wrench_ws
    import_votes(ws, valid)
    with pytest.raises(InputError, match=r"^a label matrix \(LabelMatrix, SparseVotes\) works"):
        LabelMatrix.from_workspace(ws)


def test_a_fractional_offset_is_refused_not_truncated(
    wrench_ws: tuple[Workspace, Path], tmp_path: Path
) -> None:
    ws, _ = wrench_ws
    table = tmp_path / "votes.jsonl"
    row = {"example_id": "valid:0", "source": "gpt", "start": 4, "end": 10.5, "label": "TERM"}
    table.write_text(json.dumps(row) + "\n")
    before = table_counts(ws)
    with pytest.raises(
        InputError, match=r"votes.jsonl row 1, column 'end': is '10.5', not a whole"
    ):
        import_votes(ws, table)
    assert table_counts(ws) == before
    # A whole number written as a float is that number.
    csv = tmp_path / "votes.csv"
    csv.write_text("example_id,source,start,end,label\nvalid:0,gpt,4.0,16,TERM\n")
    assert import_votes(ws, csv) == {"gpt": 1}
    assert span_votes(ws) == [("valid:0", "gpt", 4, 16, "TERM")]


def test_a_repeated_span_names_its_own_second_row(
    wrench_ws: tuple[Workspace, Path], tmp_path: Path
) -> None:
    ws, _ = wrench_ws
    table = tmp_path / "votes.csv"
    table.write_text(
        "example_id,source,start,end,label\n"
        "valid:0,gpt,4,16,TERM\n"
        "valid:0,gpt,20,24,BRAND\n"
        "valid:0,gpt,20,24,BRAND\n"
        "valid:0,gpt,4,16,TERM\n"
    )
    with pytest.raises(
        InputError,
        match=r"votes.csv row 3: 'gpt' gives the span \[20, 24, 'BRAND'\] of 'valid:0' twice "
        r"\(the first: .*votes.csv row 2\)",
    ):
        import_votes(ws, table)


def test_import_votes_command_names_the_spans_it_imported(tmp_path: Path) -> None:
    valid = write_wrench(tmp_path / "set", "valid.json", WRENCH)
    ws = tmp_path / "ws.duckdb"
    assert run("ingest", ws, valid).returncode == 0
    done = run("import-votes", ws, valid)
    assert done.returncode == 0, done.stderr
    # caps gives Dell twice: one span.
    assert done.stdout.strip() == "2 spans from 2 sources: wrench:dict 1, wrench:caps 1"
    complete = run("import-votes", ws, valid, "--complete")
    assert complete.returncode == 0, complete.stderr
    assert complete.stdout.splitlines() == [
        "7 spans from 2 sources: wrench:dict 4, wrench:caps 3",
        "5 of them 'O': the text outside each source's spans (--complete)",
    ]


def test_a_missing_wrench_span_file_is_a_clear_error_that_writes_nothing(
    wrench_ws: tuple[Workspace, Path], tmp_path: Path
) -> None:
    ws, valid = wrench_ws
    missing = valid.with_name("test.json")
    with pytest.raises(InputError) as raised:
        read_wrench_spans(missing)
    assert str(raised.value) == f"{missing}: no such file"
    before = table_counts(ws)
    with pytest.raises(InputError, match=r"test\.json: no such file$"):
        import_votes(ws, [valid, missing])
    assert table_counts(ws) == before
    other = tmp_path / "other.duckdb"
    assert run("ingest", other, valid).returncode == 0
    failed = run("import-votes", other, missing)
    assert failed.returncode == 1
    assert failed.stderr == f"error: {missing}: no such file\n"


def test_complete_sources_mark_the_text_outside_their_spans_o(
    wrench_ws: tuple[Workspace, Path], tmp_path: Path
) -> None:
    ws, valid = wrench_ws
    table = pl.DataFrame(
        {"example_id": ["valid:0"], "source": ["crowd"], "start": [4], "end": [16], "label": "TERM"}
    )
    # "the battery life of Dell" and "fine": a text the source marked nothing on is all O.
    assert import_votes(ws, table, complete=True) == {"crowd": 4}
    assert span_votes(ws) == [
        ("valid:0", "crowd", 0, 3, "O"),
        ("valid:0", "crowd", 4, 16, "TERM"),
        ("valid:0", "crowd", 17, 24, "O"),
        ("valid:1", "crowd", 0, 4, "O"),
    ]
    # A WRENCH file too; "dict" marks "battery" alone, "caps" "Dell".
    assert import_votes(ws, valid, complete=True) == {"wrench:dict": 4, "wrench:caps": 3}
    dictionary = [row[2:] for row in span_votes(ws) if row[1] == "wrench:dict"]
    assert dictionary == [(0, 3, "O"), (4, 11, "TERM"), (12, 24, "O"), (0, 4, "O")]
    # A WRENCH LF read the file's texts only, and one that marks nothing marked them O.
    ingest(ws, pl.DataFrame({"id": ["other"], "text": ["not in the file"]}), id_column="id")
    silent = {key: {**record, "weak_labels": [[], []]} for key, record in WRENCH.items()}
    quiet = write_wrench(tmp_path / "quiet", "valid.json", silent)
    # Trial 54a: a source that marked a few of the texts it is said to have read.
    with pytest.warns(
        LabelkitWarning,
        match=r"under half the texts they read \(wrench:dict on 0 of 2; wrench:caps on 0 of 2\)",
    ):
        assert import_votes(ws, quiet, complete=True) == {"wrench:dict": 2, "wrench:caps": 2}
    assert [row for row in span_votes(ws) if row[1] == "wrench:caps"] == [
        ("valid:0", "wrench:caps", 0, 24, "O"),
        ("valid:1", "wrench:caps", 0, 4, "O"),
    ]


def test_complete_is_refused_for_votes_that_are_not_spans(tmp_path: Path) -> None:
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, pl.DataFrame({"text": ["a", "b"]}), labels=["x", "y"])
        votes = pl.DataFrame({"example_id": ["0"], "source": ["s"], "label": ["x"]})
        before = table_counts(ws)
        with pytest.raises(InputError, match=r"complete \(--complete\) is for span votes"):
            import_votes(ws, votes, complete=True)
        assert table_counts(ws) == before


def test_the_label_model_weighs_complete_sources_silence_as_o(tmp_path: Path) -> None:
    """Two annotators mark "battery life"; a third also marks "Dell" a TERM. Where their
    silence abstains, the third's "Dell" stands alone and wins; where they are complete,
    their "O" outvotes it."""
    texts = [f"the battery life of Dell {n}" for n in range(6)]
    votes = pl.DataFrame(
        [
            (str(n), source, start, end, "TERM")
            for n in range(6)
            for source, spans in {
                "a": [(4, 16)],
                "b": [(4, 16)],
                "c": [(4, 16), (20, 24)],
            }.items()
            for start, end in spans
        ],
        schema=["example_id", "source", "start", "end", "label"],
        orient="row",
    )
    found = {}
    for complete in (False, True):
        with Workspace(tmp_path / f"{complete}.duckdb") as ws:
            frame = pl.DataFrame({"id": [str(n) for n in range(6)], "text": texts})
            ingest(ws, frame, id_column="id", kind="spans", labels=["TERM"])
            import_votes(ws, votes, complete=complete)
            predicted = aggregate(ws)
            found[complete] = sorted(set(predicted.select("start", "end").rows()))
    assert found == {False: [(4, 16), (20, 24)], True: [(4, 16)]}


def test_span_votes_are_refused_by_a_task_with_a_label_per_text(tmp_path: Path) -> None:
    # Trial K: the table was stored as one whole-text vote, its offsets dropped.
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, pl.DataFrame({"text": ["a", "b"]}), labels=["pos", "neg"])
        table = tmp_path / "spans.csv"
        pl.DataFrame(
            {"example_id": ["frame:1"], "source": "s", "start": 0, "end": 1, "label": "pos"}
        ).write_csv(table)
        before = table_counts(ws)
        with pytest.raises(
            InputError,
            match=r"spans.csv: has the columns 'start' and 'end' of span votes, but the "
            r"workspace's task gives a label per text; .* --kind spans$",
        ):
            import_votes(ws, table)
        assert table_counts(ws) == before


def test_a_span_of_whitespace_alone_is_refused(wrench_ws: tuple[Workspace, Path]) -> None:
    # Trial 53f: a span of one space was stored as a PRODUCT vote; a span LF's marks nothing.
    ws, _ = wrench_ws
    text = ws.sql("SELECT text FROM examples WHERE id = 'valid:0'").item()
    space = text.index(" ")
    before = table_counts(ws)
    votes = pl.DataFrame(
        {
            "example_id": ["valid:0", "valid:0"],
            "source": ["llm:x", "llm:x"],
            "start": [0, space],
            "end": [3, space + 1],
            "label": ["TERM", "TERM"],
        }
    )
    with pytest.raises(
        InputError, match=r"frame row 2: span \[3, 4, 'TERM'\] covers only whitespace \(' '\)"
    ):
        import_votes(ws, votes, kind="llm")
    assert table_counts(ws) == before
