from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from labelkit import (
    LabelkitError,
    Workspace,
    cleaned_labels,
    cleaned_spans,
    export_cleaned,
    ingest,
    train_on_cleaned,
)
from labelkit.aggregate import aggregate
from labelkit.errors import InputError
from labelkit.export import with_texts
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


def test_labels_without_texts_get_them_back_for_the_rows_kept(reviewed: Workspace) -> None:
    with reviewed as ws:
        cleaned = cleaned_labels(ws)
        bare = cleaned_labels(ws, texts=False)
        assert bare.equals(cleaned.drop("text"))
        assert with_texts(ws, bare).equals(cleaned)
        # A sample keeps its own rows, in its order, each with its own text.
        kept = bare.filter(pl.col("id") != "r2").reverse()
        assert with_texts(ws, kept).equals(cleaned.filter(pl.col("id") != "r2").reverse())
        wide = cleaned_labels(ws, wide=True)
        assert cleaned_labels(ws, wide=True, texts=False).equals(wide.drop("text"))


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


def test_a_wide_multilabel_export_reads_back_as_sets_of_labels(tmp_path: Path) -> None:
    # Trial 49a: neither the long nor the wide export of a multi-label task could be
    # ingested again; the wide one now has the set of labels as ingest reads gold.
    frame = pl.DataFrame(
        {"id": ["t1", "t2", "t3"], "text": ["cannot log in", "refund please", "hello there"]}
    )
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, frame, kind="multilabel", labels=["login", "billing"])
        votes = [("t1", "login", "yes"), ("t2", "billing", "yes"), ("t2", "login", "yes")]
        import_votes(
            ws,
            pl.DataFrame(
                [(e, "kw", a, label) for e, a, label in votes],
                schema=["example_id", "source", "attribute", "label"],
                orient="row",
            ),
        )
        aggregate(ws, "majority_vote")
        wide = cleaned_labels(ws, wide=True)
        for suffix in ("csv", "jsonl", "parquet"):
            export_cleaned(ws, tmp_path / f"wide.{suffix}", wide=True)
    assert wide.columns == ["id", "text", "labels", "login", "billing"]
    assert wide["labels"].to_list() == [["login"], ["login", "billing"], []]
    assert pl.read_csv(tmp_path / "wide.csv")["labels"].to_list() == [
        '["login"]',
        '["login", "billing"]',
        "[]",
    ]
    for suffix in ("csv", "jsonl", "parquet"):
        with Workspace(tmp_path / f"again-{suffix}.duckdb") as again:
            ingest(again, tmp_path / f"wide.{suffix}", kind="multilabel", label_column="labels")
            gold = dict(again.sql("SELECT id, gold FROM examples").rows())
        assert {i: json.loads(g) for i, g in gold.items()} == {
            "t1": ["login"],
            "t2": ["billing", "login"],
            "t3": [],
        }, suffix
    with Workspace(tmp_path / "named.duckdb") as named:
        ingest(named, frame, kind="multilabel", labels=["labels", "login"])
        import_votes(
            named,
            pl.DataFrame(
                {"example_id": ["t1"], "source": "kw", "attribute": "login", "label": "yes"}
            ),
        )
        aggregate(named, "majority_vote")
        with pytest.raises(InputError, match="'labels' is one of this task's labels"):
            cleaned_labels(named, wide=True)


def test_an_export_of_a_split_no_example_is_in_is_refused(
    reviewed: Workspace, tmp_path: Path
) -> None:
    # Trial 44: `export ws x.csv --split nope` wrote an empty file, "0 cleaned examples".
    with reviewed as ws, pytest.raises(InputError, match="no examples in split 'nope'"):
        export_cleaned(ws, tmp_path / "x.csv", split="nope")
    assert not (tmp_path / "x.csv").exists()


def test_the_cli_says_how_many_texts_the_export_left_out(
    workspace: Workspace, tmp_path: Path
) -> None:
    # Trial 45: 198 of 200 were written, and nothing said why two were not.
    workspace.con.execute(
        """INSERT INTO predictions SELECT id, 'test', CASE WHEN id = 'a1' THEN NULL ELSE gold END,
                  1.0, [1.0, 0.0], 0, '' FROM examples"""
    )
    workspace.con.execute(
        """INSERT INTO decisions (decision_id, example_id, reviewer, action, label, undoes,
                                  seconds, decided_at, attribute)
           VALUES (1, 'a2', 'ana', 'ambiguous', NULL, NULL, 1.0, now()::TIMESTAMP, '')"""
    )
    workspace.close()
    # Trial 63c: export opened the workspace to write, so one held open read-only
    # elsewhere (or on a read-only mount) could not be exported.
    with Workspace(workspace.path, read_only=True):
        result = subprocess.run(
            [sys.executable, "-m", "labelkit", "export", workspace.path, tmp_path / "c.csv"],
            capture_output=True,
            text=True,
        )
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert "2 cleaned examples written" in said
    assert "2 of the 4 texts of train left out: without a label" in said
    assert sorted(pl.read_csv(tmp_path / "c.csv")["id"]) == ["a3", "a4"]
    # Trial 46: texts ingested after the last aggregate are no abstentions.
    with Workspace(workspace.path) as again:
        again.con.execute("DELETE FROM predictions WHERE example_id = 'a4'")
    result = subprocess.run(
        [sys.executable, "-m", "labelkit", "export", workspace.path, tmp_path / "c.csv"],
        capture_output=True,
        text=True,
    )
    said = " ".join(result.stdout.split())
    assert "3 of the 4 texts of train left out" in said
    assert "1 of them was added after the label model last ran: `labelkit aggregate`" in said


def test_an_export_over_a_file_the_workspace_ingested_is_refused(
    workspace: Workspace, examples_csv: Path, tmp_path: Path
) -> None:
    # Trial 51c: `export ws data.csv` replaced the raw rows of data.csv with cleaned ones.
    workspace.con.execute(
        "INSERT INTO predictions SELECT id, 'test', gold, 1.0, [1.0, 0.0], 0, '' FROM examples"
    )
    raw = examples_csv.read_bytes()
    with pytest.raises(InputError, match=r"examples.csv is a file this workspace ingested"):
        export_cleaned(workspace, examples_csv)
    assert examples_csv.read_bytes() == raw
    (tmp_path / "cleaned.csv").write_text("an earlier export\n")
    assert export_cleaned(workspace, tmp_path / "cleaned.csv") > 0, "other files are replaced"
    # A folder that cannot be made or written (trial 51c: a read-only mount) is one error.
    with pytest.raises(InputError, match=r"cannot write .*examples.csv/out.csv: "):
        export_cleaned(workspace, examples_csv / "out.csv")


def test_a_wide_export_needs_attributes(workspace: Workspace) -> None:
    workspace.con.execute(
        "INSERT INTO predictions SELECT id, 'test', gold, 1.0, [1.0, 0.0], 0, '' FROM examples"
    )
    with pytest.raises(InputError, match="one column per attribute; this task has none"):
        cleaned_labels(workspace, wide=True)


SPAN_TEXTS = {
    "s1": "the battery life is short",
    "s2": "great screen and keyboard",
    "s3": "the fan is loud",
    "s4": "Dell keyboard feels cheap",
    "s5": "long battery life",
    "s6": "a battery life test",
    "s7": "the trackpad is odd",
    "s8": "nothing to see",
    "d1": "the screen is dim",
}


@pytest.fixture
def spans_reviewed(tmp_path: Path) -> Workspace:
    """A spans workspace with the label model's spans and a decision of every kind,
    written straight into the tables (aggregate and review for spans are elsewhere)."""
    frame = pl.DataFrame(
        {
            "id": list(SPAN_TEXTS),
            "text": list(SPAN_TEXTS.values()),
            "split": ["dev" if key.startswith("d") else "train" for key in SPAN_TEXTS],
        }
    )
    ws = Workspace(tmp_path / "spans.duckdb")
    ingest(ws, frame, kind="spans", labels=["TERM", "BRAND"], split_column="split")
    predicted = [
        ("s1", 4, 16, "TERM"),  # battery life
        ("s2", 6, 12, "TERM"),  # screen
        ("s2", 17, 25, "TERM"),  # keyboard
        ("s4", 0, 4, "TERM"),  # Dell
        ("s4", 5, 13, "TERM"),  # keyboard
        ("s5", 5, 17, "TERM"),  # battery life
        ("s6", 2, 14, "TERM"),  # battery life
        ("s7", 4, 12, "TERM"),  # trackpad
        ("d1", 4, 10, "TERM"),
    ]
    decisions = [
        # s1: a boundary fix, "none" on the old bounds and TERM on the new ones.
        (1, "s1", "reject", "none", None, "4:16"),
        (2, "s1", "label", "TERM", None, "4:11"),
        # s2: keyboard accepted, then rejected: the newest decision counts.
        (3, "s2", "accept", "TERM", None, "17:25"),
        (4, "s2", "reject", "none", None, "17:25"),
        # s3: a missed span.
        (5, "s3", "label", "TERM", None, "4:7"),
        # s4: Dell relabeled; keyboard rejected, then the rejection undone.
        (6, "s4", "label", "BRAND", None, "0:4"),
        (7, "s4", "reject", "none", None, "5:13"),
        (8, "s4", "undo", None, 7, "5:13"),
        # s5: two decided spans that overlap are both kept; the prediction they overlap goes.
        (9, "s5", "label", "TERM", None, "5:12"),
        (10, "s5", "label", "TERM", None, "5:17"),
        # s6: "none" on bounds no predicted span has leaves the predictions alone.
        (11, "s6", "reject", "none", None, "2:9"),
        # s7: ambiguous: the text is left out.
        (12, "s7", "ambiguous", None, None, "4:12"),
        (13, "d1", "reject", "none", None, "4:10"),
    ]
    with ws.run("test", {}) as run:
        run.con.executemany(
            "INSERT INTO span_predictions VALUES (?, ?, ?, ?, 0.9, 'majority_vote', ?)",
            [(*row, run.id) for row in predicted],
        )
        run.con.executemany(
            """INSERT INTO decisions (decision_id, example_id, reviewer, action, label, undoes,
                                      seconds, decided_at, attribute)
               VALUES (?, ?, 'ana', ?, ?, ?, 1.0, now()::TIMESTAMP, ?)""",
            decisions,
        )
    return ws


def test_cleaned_spans_apply_each_span_decision(spans_reviewed: Workspace) -> None:
    with spans_reviewed as ws:
        cleaned = cleaned_spans(ws)
        dev = cleaned_spans(ws, split="dev")
    assert cleaned.columns == ["example_id", "text", "spans"]
    assert dict(zip(cleaned["example_id"], cleaned["spans"], strict=True)) == {
        "s1": '[[4, 11, "TERM"]]',
        "s2": '[[6, 12, "TERM"]]',
        "s3": '[[4, 7, "TERM"]]',
        "s4": '[[0, 4, "BRAND"], [5, 13, "TERM"]]',
        "s5": '[[5, 12, "TERM"], [5, 17, "TERM"]]',
        "s6": '[[2, 14, "TERM"]]',
        "s8": "[]",
    }
    assert cleaned["text"].to_list()[0] == SPAN_TEXTS["s1"]
    assert dev.rows() == [("d1", SPAN_TEXTS["d1"], "[]")]


def test_a_spans_export_writes_span_arrays_that_ingest_reads_back(
    spans_reviewed: Workspace, tmp_path: Path
) -> None:
    with spans_reviewed as ws:
        cleaned = cleaned_spans(ws)
    result = subprocess.run(
        [sys.executable, "-m", "labelkit", "export", spans_reviewed.path, tmp_path / "c.jsonl"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "7 cleaned texts written" in result.stdout
    assert "1 of the 8 texts of train left out: a reviewer marked a span" in result.stdout
    # Trial 60a: texts of a spans task, in no `predictions`, were said to be new.
    assert "added after" not in result.stdout
    lines = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert lines[3] == {
        "id": "s4",
        "text": "Dell keyboard feels cheap",
        "spans": [[0, 4, "BRAND"], [5, 13, "TERM"]],
    }
    with Workspace(tmp_path / "again.duckdb") as again:
        ingest(
            again,
            tmp_path / "c.jsonl",
            kind="spans",
            labels=["TERM", "BRAND"],
            label_column="spans",
        )
        gold = again.sql("SELECT id, gold FROM examples ORDER BY id")
    assert gold.rows() == cleaned.select("example_id", "spans").rows()
    with Workspace(spans_reviewed.path) as ws:
        assert export_cleaned(ws, tmp_path / "c.csv") == 7
        with pytest.raises(InputError, match="a spans task has none"):
            export_cleaned(ws, tmp_path / "w.csv", wide=True)
    assert pl.read_csv(tmp_path / "c.csv").rows() == cleaned.rows()


def test_a_span_decision_off_its_text_is_an_error(spans_reviewed: Workspace) -> None:
    with spans_reviewed as ws:
        for decision_id, attribute, label, message in [
            (20, "4:99", "TERM", r"attribute '4:99' is no span '<start>:<end>' of its 15-"),
            (21, "4:7", "PLACE", r"label 'PLACE' is none of the task's entity types"),
        ]:
            ws.con.execute(
                """INSERT INTO decisions (decision_id, example_id, reviewer, action, label,
                                          seconds, decided_at, attribute)
                   VALUES (?, 's3', 'ana', 'label', ?, 1.0, now()::TIMESTAMP, ?)""",
                [decision_id, label, attribute],
            )
            with pytest.raises(
                InputError, match=rf"decision {decision_id} on example 's3'.*{message}"
            ):
                cleaned_spans(ws)
            ws.con.execute("DELETE FROM decisions WHERE decision_id = ?", [decision_id])


def test_a_spans_workspace_has_cleaned_spans_once_aggregated(tmp_path: Path) -> None:
    frame = pl.DataFrame({"id": ["a"], "text": ["big screen"]})
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, frame, kind="spans", labels=["TERM"])
        with pytest.raises(InputError, match="a set of spans per text: use cleaned_spans"):
            cleaned_labels(ws)
        with pytest.raises(LabelkitError, match="no span_predictions yet: run `labelkit aggre"):
            cleaned_spans(ws)
        with pytest.raises(LabelkitError, match="no span_predictions yet"):
            train_on_cleaned(ws, tmp_path / "model")


def test_reviewed_only_exports_the_answers_reviewers_gave(
    reviewed: Workspace, tmp_path: Path
) -> None:
    # Trial 52a: the human-checked labels could not be exported apart from the rest.
    with reviewed as ws:
        assert export_cleaned(ws, tmp_path / "reviewed.csv", reviewed_only=True) == 1
        with pytest.raises(InputError, match=r"reviewed_only \(--reviewed-only\) writes one row"):
            export_cleaned(ws, tmp_path / "wide.csv", reviewed_only=True, wide=True)
    written = pl.read_csv(tmp_path / "reviewed.csv")
    assert written.select("id", "attribute", "label", "origin").rows() == [
        ("r1", "food", "negative", "review")
    ]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "labelkit",
            "export",
            reviewed.path,
            tmp_path / "again.jsonl",
            "--reviewed-only",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "1 reviewed labels of train written to" in result.stdout


def test_a_split_that_is_not_there_is_refused_not_empty(reviewed: Workspace) -> None:
    # Trial 53c: cleaned_labels(ws, split="validation") gave an empty frame.
    with (
        reviewed as ws,
        pytest.raises(InputError, match=r"no examples in split 'validation'; .*\['train'\]"),
    ):
        cleaned_labels(ws, split="validation")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_a_failed_write_leaves_the_file_as_it_was(tmp_path: Path, suffix: str) -> None:
    # Trial 58b: a full disk (ulimit -f) left half a JSONL file, and parquet's failure
    # was a traceback.
    target = tmp_path / f"cleaned{suffix}"
    target.write_text("the last export\n")
    script = (
        "import resource, sys, polars as pl\n"
        "from labelkit.export import write_frame\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))\n"
        "frame = pl.DataFrame({'id': [str(i) for i in range(5000)], 'text': ['some text'] * 5000})\n"
        "write_frame(frame, sys.argv[1])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(target)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert f"InputError: cannot write {target}:" in done.stderr
    assert "nothing was written" in done.stderr
    assert target.read_text() == "the last export\n"
    assert [path.name for path in tmp_path.iterdir()] == [target.name]


def test_fields_come_with_the_export_when_asked_typed_as_ingested(tmp_path: Path) -> None:
    # Trial 58f: the tickets' priorities, amounts and tags were gone from every export.
    rows = [
        {"id": "t1", "text": "refund me", "priority": 2, "amount": 12.5, "tags": ["a"]},
        {"id": "t2", "text": "login broken", "priority": "N/A", "label": "x", "tags": []},
        {"id": "t3", "text": "card charged twice", "priority": 1},
    ]
    # The second read: names DuckDB's structs cannot hold apart, or at all, and numbers
    # past 64 bits, failed with DuckDB's and polars' own errors.
    rows[0] |= {"Score": 1, "score": "x", "": "e", "field_label": "y", "big": 2**70}
    source = tmp_path / "tickets.jsonl"
    source.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, source, labels=["billing", "technical"])
        votes = [("t1", "billing"), ("t2", "technical"), ("t3", "billing")]
        import_votes(
            ws,
            pl.DataFrame(
                [(e, "rule", label) for e, label in votes],
                schema=["example_id", "source", "label"],
                orient="row",
            ),
        )
        aggregate(ws, "majority_vote")
        export_cleaned(ws, tmp_path / "plain.jsonl")
        assert export_cleaned(ws, tmp_path / "fields.parquet", fields=True) == 3
        export_cleaned(ws, tmp_path / "fields.csv", fields=True)
    assert pl.read_ndjson(tmp_path / "plain.jsonl").columns == [
        "id",
        "text",
        "label",
        "origin",
        "confidence",
    ]
    typed = pl.read_parquet(tmp_path / "fields.parquet")
    assert typed.columns == [
        "id",
        "text",
        "label",
        "origin",
        "confidence",
        "priority",
        "amount",
        "tags",
        "Score",
        "score",
        "field",
        "field_label",
        "big",
        "field_label_2",
    ]
    assert typed["label"].to_list() == ["billing", "technical", "billing"]
    assert typed["field_label"].to_list() == ["y", None, None]
    assert typed["field_label_2"].to_list() == [None, "x", None]
    assert typed.select("Score", "score", "field", "big").row(0) == (1, "x", "e", str(2**70))
    # Numbers in two rows and text in one: text, as written.
    assert typed["priority"].to_list() == ["2", "N/A", "1"]
    assert typed["amount"].to_list() == [12.5, None, None]
    assert typed["tags"].to_list() == [["a"], [], None]
    flat = pl.read_csv(tmp_path / "fields.csv", infer_schema=False)
    assert flat["tags"].to_list() == ['["a"]', "[]", None]
    said = subprocess.run(
        [sys.executable, "-m", "labelkit", "export", tmp_path / "ws.duckdb", tmp_path / "c.csv"],
        capture_output=True,
        text=True,
    )
    assert "other fields are left out: --fields adds them" in " ".join(said.stdout.split())


def test_a_csv_export_warns_of_formulas_and_escapes_them_when_asked(tmp_path: Path) -> None:
    # Trial 61d: a message starting with `=` went to the CSV as it was, and a spreadsheet
    # opening the export would run it as a formula.
    texts = ['=HYPERLINK("http://evil.example","click")', "+1 555 0100", "@here", "plain -x"]
    ws = Workspace(tmp_path / "ws.duckdb")
    ingest(
        ws,
        pl.DataFrame({"id": ["f1", "f2", "f3", "f4"], "text": texts}),
        labels=["spam", "ham"],
    )
    ws.con.execute(
        "INSERT INTO predictions SELECT id, 'test', 'spam', 1.0, [1.0, 0.0], 0, '' FROM examples"
    )
    ws.close()

    def export(*options: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "labelkit", "export", ws.path, *options],
            capture_output=True,
            text=True,
        )

    plain = export(str(tmp_path / "plain.csv"))
    assert plain.returncode == 0, plain.stderr
    said = " ".join((plain.stdout + plain.stderr).split())
    assert "3 cells of" in said and "which a spreadsheet runs as a formula" in said
    assert pl.read_csv(tmp_path / "plain.csv")["text"].to_list() == texts, "kept as they were"

    escaped = export(str(tmp_path / "escaped.csv"), "--escape-formulas")
    assert escaped.returncode == 0, escaped.stderr
    assert "formula" not in escaped.stdout + escaped.stderr
    written = pl.read_csv(tmp_path / "escaped.csv")
    assert written["text"].to_list() == ["'" + t for t in texts[:3]] + ["plain -x"]
    assert written["label"].to_list() == ["spam"] * 4

    refused = export(str(tmp_path / "out.jsonl"), "--escape-formulas")
    assert refused.returncode != 0
    assert "out.jsonl: escaping formulas is for a CSV" in " ".join(refused.stderr.split())
    assert not (tmp_path / "out.jsonl").exists()


def test_an_export_of_answers_points_to_wide_where_texts_repeat(
    reviewed: Workspace, tmp_path: Path
) -> None:
    # Trial 62d: 25 attributes of long reviews made a 159 MB file of a 7 MB input, and
    # nothing said that --wide writes each text once.
    reviewed.close()

    def export(*options: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "labelkit", "export", reviewed.path, *options],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        return " ".join(done.stdout.split())

    said = export(str(tmp_path / "long.jsonl"))
    assert "each text is written once per attribute it has an answer for (2 attributes)" in said
    assert "--wide" not in export(str(tmp_path / "wide.jsonl"), "--wide")


def test_a_spans_csv_keeps_its_texts_exact_for_the_offsets(tmp_path: Path) -> None:
    # The second read: an escaped text moved every span one character.
    from labelkit import LabelkitWarning
    from labelkit.export import write_frame

    frame = pl.DataFrame({"id": ["a"], "text": ["=screen cracked"], "spans": ['[[1, 7, "TERM"]]']})
    with pytest.warns(LabelkitWarning, match="its texts stay exact, since spans count"):
        write_frame(frame, tmp_path / "spans.csv", escape_formulas=True)
    written = pl.read_csv(tmp_path / "spans.csv")
    assert written["text"][0][1:7] == "screen"
