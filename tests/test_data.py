from __future__ import annotations

import json
import subprocess
import sys
import unicodedata
import warnings
from pathlib import Path
from xml.etree import ElementTree

import polars as pl
import pytest

from labelkit import (
    InputError,
    LabelkitWarning,
    Workspace,
    apply_lfs,
    bundled_dataset,
    import_votes,
    ingest,
    keyword_lf,
    read_examples,
)
from labelkit.demo import YOUTUBE_INGEST
from labelkit.tables import read_table
from tests.helpers import table_counts


def test_csv_ingest_keeps_ids_gold_splits_and_meta(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text('id,text,label,author\n7,"hello, world",1,ana\n8,buy now,0,bo\n')
    with Workspace(tmp_path / "ws.duckdb") as ws:
        n = ingest(
            ws, path, id_column="id", label_column="label", label_map={"1": "ham", "0": "spam"}
        )
        rows = ws.sql("SELECT id, text, gold, meta FROM examples ORDER BY id").rows()
        assert n.added == 2
        assert rows[0][:3] == ("7", "hello, world", "ham")
        assert json.loads(rows[1][3]) == {"author": "bo"}
        assert ws.task.labels == ("ham", "spam")


def test_a_prodigy_exports_rejected_and_ignored_labels_are_no_gold(tmp_path: Path) -> None:
    # Trial 54a: 77 rejected labels became gold, and a choice interface's accepted
    # options were dropped, without a word.
    rows = [
        {"text": "refund please", "label": "billing", "answer": "accept"},
        {"text": "cannot log in", "label": "billing", "answer": "reject"},
        {"text": "where is my parcel", "label": "shipping", "answer": "ignore"},
        {"text": "card charged twice", "accept": ["billing"], "answer": "accept"},
        {"text": "password reset", "accept": [], "answer": "reject"},
        {"text": "two options", "accept": ["billing", "login"], "answer": "accept"},
    ]
    source = tmp_path / "prodigy.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with Workspace(tmp_path / "ws.duckdb") as ws:
        summary = ingest(ws, source, label_column="label", labels=["billing", "shipping", "login"])
        gold = dict(ws.sql("SELECT text, gold FROM examples").rows())
    assert gold == {
        "refund please": "billing",
        "cannot log in": None,
        "where is my parcel": None,
        "card charged twice": "billing",
        "password reset": None,
        "two options": None,
    }
    assert (
        f"{source}: column 'answer' holds Prodigy's answers: the labels of the 3 accepted "
        "rows are gold (a choice interface's one accepted option, where a row has no "
        "label); those of the 2 rejected and 1 ignored rows are not (a rejected label says "
        "only what the text is not)"
    ) in summary.notes


def test_the_summary_says_how_many_gold_labels_each_split_got(tmp_path: Path) -> None:
    # Trial 52b: 715 of 1,002 gold rows went to train, 90 to dev; nothing said so.
    path = tmp_path / "c.csv"
    rows = [f"t{i},text number {i},{'spam' if i % 2 else 'ham'}" for i in range(40)]
    path.write_text("id,text,label\n" + "\n".join(rows) + "\nu1,no gold here,\n")
    with Workspace(tmp_path / "ws.duckdb") as ws:
        summary = ingest(ws, path, label_column="label")
        gold = dict(
            ws.sql(
                "SELECT split, count(gold) FROM examples GROUP BY 1 HAVING count(gold) > 0"
            ).iter_rows()
        )
    assert summary.gold_totals == gold and sum(gold.values()) == 40
    shown = ", ".join(
        f"{gold[split]} {split}" for split in ("train", "dev", "test") if split in gold
    )
    assert str(summary).splitlines()[-2].endswith(f"; with gold: {shown}")
    # Trial 58c: an investigator's finds made a test split of 12.6% scams, unseen.
    with Workspace(tmp_path / "ws.duckdb") as ws:
        by_label = ws.sql(
            "SELECT split, gold, count(*) FROM examples WHERE gold IS NOT NULL GROUP BY ALL"
        ).rows()
    assert summary.gold_by_label == {
        split: {label: n for s, label, n in sorted(by_label) if s == split} for split in gold
    }
    assert str(summary).splitlines()[-1] == "gold per label: " + "; ".join(
        f"{split} " + ", ".join(f"{label} {n}" for label, n in summary.gold_by_label[split].items())
        for split in ("train", "dev", "test")
        if split in gold
    )
    assert all(list(counts) == ["ham", "spam"] for counts in summary.gold_by_label.values())


def test_a_path_for_the_workspace_is_refused_and_a_lazy_frame_read(tmp_path: Path) -> None:
    # Trial 33: a path gave "'str' object has no attribute 'con'", a LazyFrame
    # "LazyFrame is not subscriptable".
    frame = pl.DataFrame({"id": ["a", "b"], "text": ["one text", "another"]})
    path = str(tmp_path / "ws.duckdb")
    with pytest.raises(
        InputError, match=r"ingest takes an open Workspace, not the path .*ws\.duckdb"
    ):
        ingest(path, frame)  # type: ignore[arg-type]
    with Workspace(path) as ws:
        assert ingest(ws, frame.lazy(), id_column="id", labels=["x", "y"]).added == 2


def test_an_unknown_task_kind_is_named_before_the_labels_are_read(tmp_path: Path) -> None:
    # Trial 44: kind="bogus" read the gold as a multi-label task's and said "'shipping'
    # is not a JSON array of labels".
    frame = pl.DataFrame(
        {"text": ["parcel late", "refund please"], "label": ["shipping", "billing"]}
    )
    with Workspace(tmp_path / "ws.duckdb") as ws:
        with pytest.raises(InputError, match=r"unknown task kind 'bogus'; known kinds: \("):
            ingest(ws, frame, label_column="label", kind="bogus")
        assert not ws.has_task()


def test_gold_in_a_column_per_attribute_is_pointed_out(tmp_path: Path) -> None:
    # Trial 33: a frame with a column per aspect ingested with no gold, without a word.
    wide = pl.DataFrame(
        {
            "text": ["great food", "rude staff"],
            "food": ["positive", None],
            "staff": [None, "negative"],
        }
    )
    with Workspace(tmp_path / "ws.duckdb") as ws:
        with pytest.warns(LabelkitWarning, match=r"columns \['food', 'staff'\] are named like"):
            ingest(ws, wide, kind="aspects", attributes=["food", "staff"],
                   labels=["positive", "negative", "neutral"])  # fmt: skip
        assert ws.sql("SELECT count(gold) AS n FROM examples")["n"][0] == 0
    with Workspace(tmp_path / "struct.duckdb") as ws:
        ingest(ws, wide.with_columns(gold=pl.struct(["food", "staff"])), kind="aspects",
               label_column="gold", labels=["positive", "negative", "neutral"])  # fmt: skip
        assert ws.sql("SELECT count(gold) AS n FROM examples")["n"][0] == 2
    # Trial 55c: the warning's way out was Python's, and failed on a CSV's quoted empty
    # cells ('unknown label'); the columns are read as gold where the label column names
    # them, an empty cell not mentioned, a row of empty cells no gold.
    csv = tmp_path / "wide.csv"
    csv.write_text(
        'id,text,food,staff\nr1,great food,positive,""\nr2,rude staff,"",negative\nr3,we came,,\n'
    )
    command = [sys.executable, "-m", "labelkit", "ingest", str(tmp_path / "wide.duckdb"), str(csv)]
    command += ["--kind", "aspects", "--attributes", "food,staff", "--labels", "positive,negative"]
    done = subprocess.run(
        [*command, "--label-column", "food,staff"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    with Workspace(tmp_path / "wide.duckdb", read_only=True) as ws:
        gold = ws.sql("SELECT id, gold FROM examples ORDER BY id")
        task = ws.task
    assert task.gold_answers(gold["gold"], "food").to_list() == ["positive", "none", None]
    assert task.gold_answers(gold["gold"], "staff").to_list() == ["none", "negative", None]
    with Workspace(tmp_path / "listed.duckdb") as ws:
        ingest(ws, pl.read_csv(csv), kind="aspects", label_column=["food", "staff"],
               labels=["positive", "negative"])  # fmt: skip
        assert ws.sql("SELECT gold FROM examples ORDER BY id")["gold"].equals(gold["gold"])
    # The second read: one attribute's column read as a label column of JSON objects,
    # and a column per attribute that leaves one out read it as not mentioned.
    with Workspace(tmp_path / "one.duckdb") as ws:
        ingest(ws, pl.read_csv(csv), kind="aspects", attributes=["food"], label_column="food",
               labels=["positive", "negative"])  # fmt: skip
        stored = ws.sql("SELECT gold FROM examples ORDER BY id")["gold"]
        assert ws.task.gold_answers(stored, "food").to_list() == ["positive", None, None]
    with pytest.raises(InputError, match=r"leaves out \['staff'\], whose answers would read"):
        ingest(Workspace(tmp_path / "part.duckdb"), pl.read_csv(csv), kind="aspects",
               attributes=["food", "staff"], label_column=["food"], labels=["positive"])  # fmt: skip
    # Trial 57c: a bad cell named every column, and `Positive` had no hint.
    capital = pl.read_csv(csv).with_columns(staff=pl.Series(["", "Negative", ""]))
    with pytest.raises(
        InputError,
        match=r"frame row 2, column 'staff': unknown label 'Negative'; .* \(did you mean 'negative'",
    ):
        ingest(Workspace(tmp_path / "capital.duckdb"), capital, kind="aspects",
               label_column=["food", "staff"], labels=["positive", "negative"])  # fmt: skip
    with Workspace(tmp_path / "empty.duckdb") as ws:
        structs = pl.read_csv(csv).with_columns(gold=pl.struct("food", "staff"))
        ingest(ws, structs, kind="aspects", label_column="gold", labels=["positive", "negative"])
        stored = ws.sql("SELECT gold FROM examples ORDER BY id")["gold"]
        assert ws.task.gold_answers(stored, "staff").to_list()[:2] == ["none", "negative"]


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
        assert ingest(ws, wrench_dir / "valid.json").added == 2
        assert ws.sql("SELECT id, gold, split FROM examples ORDER BY id").rows() == [
            ("valid:0", "x", "dev"),
            ("valid:1", "y", "dev"),
        ]
    (wrench_dir / "label.json").write_text('["X", "Y"]')
    with Workspace(tmp_path / "ws2.duckdb") as ws:
        with pytest.raises(InputError, match=r"label.json: expected an object of code -> label"):
            ingest(ws, wrench_dir / "valid.json")
        assert not ws.has_task()


def test_reingest_is_a_no_op_and_splits_follow_the_text(tmp_path: Path) -> None:
    data = sorted(bundled_dataset("youtube-spam").glob("*.csv"))
    with Workspace(tmp_path / "ws.duckdb") as ws:
        first = ingest(ws, data, **YOUTUBE_INGEST).added
        again = ingest(ws, data, **YOUTUBE_INGEST).added
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
        ("id,body\n1,x\n", {}, r"no text column 'text'; the columns are \['id', 'body'\]$"),
        # Trial 59c: gold in a file of its own.
        (
            "ID,gold\n00123,ham\n",
            {"id_column": "ID", "label_column": "gold"},
            r"no text column 'text'; .* \(gold labels alone\? .*join the labels to the texts' "
            r"file by id first, then ingest that; into this workspace too, where the texts "
            r"already stored get their gold\)",
        ),
        # Trial 29: a file without a header line said only that.
        (
            "I like the new phone,positive\nno way,negative\n",
            {},
            r"the columns are \['I like the new phone', 'positive'\] \(is the first line data\?",
        ),
        ("", {}, "the file is empty"),
        ("text\n", {}, "the file has no rows"),
        (
            "text,label\nok,ham\nbad,maybe\n",
            {"label_column": "label", "labels": ["ham", "spam"]},
            r"row 2, column 'label': unknown label 'maybe'",
        ),
        ('id,text\n1,fine\n2,""\n', {}, "column 'text' is empty in row 2"),
        ("id,text\n1,a\n,b\n", {"id_column": "id"}, "column 'id' is empty in row 2"),
        ("text,split\nx,holdout\n", {"split_column": "split"}, "unknown split 'holdout'"),
        # Trial 45: polars' "not properly escaped" with advice on schema inference.
        (
            'id,text\n1,"hello\n2,world\n',
            {},
            r"bad.csv line 2: the row's quotes do not close \(unexpected end of data\)",
        ),
        ('id,text\n1,hi\n2,"wor"ld\n3,ok\n', {}, "bad.csv line 3: the row's quotes do not close"),
        (
            'id,text\n1,"caf\xe9\n',
            {"encoding": "cp1252"},
            r"bad.csv line 2: the row's quotes do not close",
        ),
        # Trial 47: polars' "more fields than defined in 'Schema'. Consider setting
        # 'truncate_ragged_lines=True'", an option the CLI lacks.
        (
            "text\tlabel\nhello, there\tham\nbuy, now, ok\tspam\n",
            {},
            r"bad.csv: its header is split by tabs, not commas: read it as TSV \(--format tsv",
        ),
        (
            "text,label\nhello there,ham\n\nbuy, now,spam\n",
            {},
            r"bad.csv line 4: 3 fields where the header has 2: a field holding the separator "
            r"\(a comma\) goes in quotes",
        ),
        # Trial 50a: a semicolon file's ragged row names its separator.
        (
            "id;text\n1;ok\n2;a;b\n",
            {},
            r"bad.csv line 3: 3 fields where the header has 2: a field holding the separator "
            r"\(a semicolon\) goes in quotes",
        ),
        # Review of stop 47: a blank first line was taken for the header.
        (
            "\ntext,label\nhello,spam\nx,y,z\n",
            {},
            r"bad.csv line 4: 3 fields where the header has 2",
        ),
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


def test_a_spreadsheets_empty_rows_and_unnamed_empty_columns_are_no_data(
    tmp_path: Path,
) -> None:
    # Trial 59c: Excel's empty rows after the data stopped ingest ("column 'ID' is
    # empty in row 2001"), and its empty columns became fields "" and "_duplicated_0".
    path = tmp_path / "export.csv"
    path.write_bytes(
        "\ufeffID;Commentaire client;Score;;;note\r\n00123;trop cher;1,5;;;\r\n"
        ";;;;;\r\n00124;livré tard;2;;x;\r\n; ;;;;\r\n;;;;;\r\n".encode()
    )
    with Workspace(tmp_path / "w.duckdb") as ws:
        read = ingest(ws, path, id_column="ID", text_column="Commentaire client", labels=["a", "b"])
        stored = ws.sql("SELECT id, text, meta FROM examples ORDER BY id").rows()
    assert [(i, t, json.loads(m)) for i, t, m in stored] == [
        ("00123", "trop cher", {"Score": "1,5", "_duplicated_0": None, "note": None}),
        ("00124", "livré tard", {"Score": "2", "_duplicated_0": "x", "note": None}),
    ], "a filled unnamed column stays, a named empty one too"
    assert f"{path}: 3 rows with every cell empty skipped (the first: row 2)" in read.notes
    assert f"{path}: 1 empty column without a name left out" in read.notes


def test_a_semicolon_csv_as_excel_writes_it_in_europe_is_read(tmp_path: Path) -> None:
    # Trial 50a: Excel in German locales writes ";" with a BOM and CRLF; it was refused
    # as "2 fields where the header has 1: a field holding the separator (a comma)".
    path = tmp_path / "nachrichten.csv"
    path.write_bytes(
        "\ufeffid;text;label\r\n1;Grüße, Paket fehlt;lieferung\r\n"
        '2;"Rechnung; bitte prüfen";rechnung\r\n'.encode()
    )
    with Workspace(tmp_path / "w.duckdb") as ws:
        ingest(ws, path, label_column="label")
        assert ws.sql("SELECT id, text, gold FROM examples ORDER BY id").rows() == [
            ("1", "Grüße, Paket fehlt", "lieferung"),
            ("2", "Rechnung; bitte prüfen", "rechnung"),
        ]
    # predict and import_votes read a file whole, the same way.
    assert read_table(path)["text"].to_list() == ["Grüße, Paket fehlt", "Rechnung; bitte prüfen"]
    # The second read: a blank first line, which polars skips, hid the semicolons; a
    # UTF-16 header holding the byte of a line break ("上" is 0x4E0A) was cut there.
    blank = tmp_path / "blank.csv"
    blank.write_text("\nid;text\n1;a, b\n")
    assert read_table(blank).rows() == [("1", "a, b")]
    wide = tmp_path / "wide.csv"
    wide.write_bytes("id;text;上\n1;Grüße, ja;x\n".encode("utf-16"))
    assert read_table(wide, encoding="utf-16").rows() == [("1", "Grüße, ja", "x")]
    # Trial 55a: a comma in the header's last name ("importe (€, IVA incl.)") read the
    # file as commas, and refused it; where each row has as many semicolons, it is one.
    euros = tmp_path / "importes.csv"
    euros.write_text("id;text;importe (€, IVA incl.)\n1;mi pedido;25,50\n2;otro, sí;3,10\n")
    assert read_table(euros).rows() == [("1", "mi pedido", "25,50"), ("2", "otro, sí", "3,10")]
    commas = tmp_path / "commas.csv"
    commas.write_text("id,text,note\n1,hola,a;b\n2,adiós,c\n")
    assert read_table(commas).columns == ["id", "text", "note"]


def test_rows_short_of_fields_are_warned_of_with_the_first_ones_line(tmp_path: Path) -> None:
    # Trial 68b: a line break in an unquoted text made two rows of one, the second's id
    # a piece of the text and its text the next column's value, without a word.
    path = tmp_path / "tickets.csv"
    path.write_bytes(
        b'\xef\xbb\xbf"ticket_id",body,channel\r\nV1,ok,web\r\nV2,My invoice\r\n'
        b"is wrong,web\r\nV3,fine,\r\n"
    )
    said = (
        f"{path}: 2 rows with fewer fields than the header's 3, read with the missing "
        "fields empty (the first: line 3, 2 fields, 'V2,My invoice'); where a line break "
        "inside a field split a row in two, put that field in quotes; where the rows are "
        "whole, write the separators (a comma) of their empty cells"
    )
    with Workspace(tmp_path / "w.duckdb") as ws:
        with pytest.warns(LabelkitWarning) as caught:
            ingest(ws, path, id_column="ticket_id", text_column="body", labels=["x", "y"])
        assert [str(w.message) for w in caught if "fewer fields" in str(w.message)] == [said]
        assert ws.sql("SELECT id FROM examples ORDER BY id")["id"].to_list() == [
            "V1", "V2", "V3", "is wrong",
        ]  # fmt: skip
    # As a warning made an error (LABELKIT_STRICT) it keeps nothing.
    with Workspace(tmp_path / "strict.duckdb") as ws, warnings.catch_warnings():
        warnings.simplefilter("error", LabelkitWarning)
        with pytest.raises(LabelkitWarning, match="2 rows with fewer fields"):
            ingest(ws, path, id_column="ticket_id", text_column="body", labels=["x", "y"])
        assert not ws.has_task()
    # As predict reads a file whole.
    with pytest.warns(LabelkitWarning, match=r"\(the first: line 3, 2 fields"):
        read_table(path)


def test_a_quoted_tsv_text_split_over_rows_is_pointed_out(tmp_path: Path) -> None:
    # Trial 50a: pandas' to_csv(sep="\t") quotes a text holding a line break; read as
    # TSV (without quotes) it became two rows, the second with a made-up id, unsaid.
    path = tmp_path / "q.tsv"
    path.write_text('id\ttext\n1\t"Fehler:\nZugriff verweigert"\n2\tPaket fehlt\n')
    with (
        Workspace(tmp_path / "w.duckdb") as ws,
        pytest.raises(InputError, match=r"is empty in row 2 .*Also: row 1, column 'text'"),
    ):
        ingest(ws, path, labels=["a", "b"])
    path.write_text('id\ttext\tlabel\n1\t"Fehler:\nZugriff verweigert"\tb\n2\tPaket fehlt\ta\n')
    with (
        Workspace(tmp_path / "w.duckdb") as ws,
        # Trial 68b: the rows the split leaves short of fields are warned of.
        pytest.warns(
            LabelkitWarning,
            match=r"2 rows with fewer fields than the header's 3.* "
            r"a TSV is read without quotes, so write such a file as CSV",
        ),
    ):
        summary = ingest(ws, path, labels=["a", "b"])
    assert [n for n in summary.notes if "opens a quote" in n] == [
        f"{path}: row 1, column 'text' opens a quote that its line leaves open; TSV is "
        "read without quotes, so a quoted text holding a line break (as pandas and Excel "
        "write one) is split into rows: check it, and write such a file as CSV"
    ]
    plain = tmp_path / "p.tsv"
    plain.write_text('id\ttext\n1\t"Great" song\n2\t5" screen\n')
    with Workspace(tmp_path / "p.duckdb") as ws:
        assert not [n for n in ingest(ws, plain, labels=["a", "b"]).notes if "quote" in n]


def test_a_json_array_of_records_is_read_as_jsonl_is(workspace: Workspace, tmp_path: Path) -> None:
    # Trial 47: pandas' to_json(orient="records") was refused as "not a WRENCH object".
    path = tmp_path / "rows.json"
    path.write_text(' [{"text": "hi", "label": "ham"}, {"text": "buy", "label": "spam"}]')
    ingest(workspace, path, label_column="label")
    assert workspace.sql(
        "SELECT text, gold FROM examples WHERE starts_with(id, 'rows') ORDER BY text"
    ).rows() == [
        ("buy", "spam"),
        ("hi", "ham"),
    ]
    for content, message in [
        ("[1, 2]", r"bad.json record 1: expected a JSON array of objects"),
        ('[{"text": "a"}, {"text": 5}]', r"bad.json record 2: 'text' is 5, not a string"),
        ("[]", r"bad.json: the file has no rows"),
    ]:
        (tmp_path / "bad.json").write_text(content)
        with pytest.raises(InputError, match=message):
            ingest(workspace, tmp_path / "bad.json")


def test_malformed_jsonl_names_the_line(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok", "label": "ham"}\n{"text": oops}\n')
    before = table_counts(workspace)
    with pytest.raises(
        InputError, match=r"bad.jsonl line 2: malformed JSON: Expecting value at column 10$"
    ):
        ingest(workspace, path, label_column="label")
    # Trial 51c: the JSON reader's own message ended "Invalid control character at".
    path.write_text('{"text": "a tab\there"}\n')
    with pytest.raises(
        InputError, match=r"line 1: malformed JSON: Invalid control character at column 16$"
    ):
        ingest(workspace, path)
    assert table_counts(workspace) == before


def test_an_id_with_new_text_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "more.csv"
    # Trial 50d: only the first of five edited texts was named, so five runs fixed them.
    path.write_text("id,text\na1,a different text\nn9,new\na3,I love this song\n")
    before = table_counts(workspace)
    with pytest.raises(InputError) as error:
        ingest(workspace, path, id_column="id")
    assert str(error.value) == (
        f"2 rows give an id already in the workspace with another text ({path} row 1: id "
        f"'a1'; {path} row 3: id 'a3'): give each a new id"
    )
    assert table_counts(workspace) == before
    # Trial 54a: a later export, its rows in another order, and ids made from its name
    # and row: --id-column is the way out.
    export = tmp_path / "export.jsonl"
    export.write_text('{"text": "one", "_task_hash": 1}\n{"text": "two", "_task_hash": 2}\n')
    ingest(workspace, export)
    export.write_text('{"text": "two", "_task_hash": 2}\n{"text": "one", "_task_hash": 1}\n')
    with pytest.raises(InputError, match=r"these ids are made of the input's name and row"):
        ingest(workspace, export)


def test_json_objects_as_ids_are_refused(workspace: Workspace, tmp_path: Path) -> None:
    # Trial 51c: {"a": 1} as an id was stored as its JSON text and exported so.
    path = tmp_path / "objects.jsonl"
    path.write_text('{"id": {"a": 1}, "text": "one"}\n{"id": {"a": 2}, "text": "two"}\n')
    before = table_counts(workspace)
    with pytest.raises(InputError) as error:
        ingest(workspace, path)
    assert str(error.value) == (
        f"{path}: id column 'id' holds Struct({{'a': Int64}}), not ids: give text or whole "
        "numbers (choose the column with id_column / --id-column)"
    )
    assert table_counts(workspace) == before


def _write_csv(path: Path, rows: list[dict]) -> Path:
    pl.DataFrame(rows).write_csv(path)
    return path


def test_an_id_column_is_used_unasked_and_reingesting_writes_nothing(tmp_path: Path) -> None:
    rows = [{"id": f"n{i}", "text": f"comment number {i}", "label": "ham"} for i in range(50)]
    path = _write_csv(tmp_path / "small.csv", rows)
    with Workspace(tmp_path / "ws.duckdb") as ws:
        first = ingest(ws, path, label_column="label", labels=["ham", "spam"])
        runs = ws.sql("SELECT count(*) AS n FROM runs")["n"][0]
        again = ingest(ws, path, id_column="id", label_column="label")
        assert first.id_columns == {str(path): "id"}
        assert sorted(ws.sql("SELECT id FROM examples")["id"]) == sorted(r["id"] for r in rows)
        assert (first.added, again.added, again.unchanged) == (50, 0, 50)
        assert not again.wrote
        assert ws.sql("SELECT count(*) AS n FROM runs")["n"][0] == runs
        assert str(again).startswith("nothing new: all 50 rows are already in the workspace")
        assert "ids of " + str(path) + ": column 'id'" in str(first)


def test_the_same_texts_under_other_ids_are_pointed_out(tmp_path: Path) -> None:
    rows = [{"text": f"comment number {i}"} for i in range(5)]
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, _write_csv(tmp_path / "a.csv", rows), labels=["ham", "spam"])
        copy = ingest(ws, _write_csv(tmp_path / "b.csv", rows))
    assert copy.id_columns == {str(tmp_path / "b.csv"): None}
    assert any("5 new examples repeat the text of an example already" in n for n in copy.notes)


def test_texts_without_gold_go_to_train_and_copies_share_a_split(tmp_path: Path) -> None:
    labeled = [{"text": f"gold text {i}", "label": "ham"} for i in range(200)]
    unlabeled = [{"text": f"pool text {i}", "label": None} for i in range(300)]
    copies = [{"text": f"gold text {i}", "label": None} for i in range(200)]
    path = _write_csv(tmp_path / "mix.csv", labeled + unlabeled)
    with Workspace(tmp_path / "ws.duckdb") as ws:
        summary = ingest(ws, path, label_column="label", labels=["ham", "spam"])
        ingest(ws, _write_csv(tmp_path / "copies.csv", copies), label_column="label")
        pool = dict(
            ws.sql("SELECT split, count(*) FROM examples WHERE text LIKE 'pool%' GROUP BY 1").rows()
        )
        gold = dict(
            ws.sql("SELECT split, count(*) FROM examples WHERE gold IS NOT NULL GROUP BY 1").rows()
        )
        mixed = ws.sql("SELECT text FROM examples GROUP BY text HAVING count(DISTINCT split) > 1")
    assert pool == {"train": 300}
    # Gold beside texts without it is scarce: all of it goes to dev and test, 1 to 2.
    assert "train" not in gold and gold["test"] + gold["dev"] == 200
    assert 110 < gold["test"] < 160
    assert summary.new == {"train": 300, **{k: gold[k] for k in ("dev", "test")}}
    assert mixed.height == 0


def test_copies_in_one_file_share_the_split_of_the_copy_with_gold(tmp_path: Path) -> None:
    rows = [
        row
        for i in range(200)
        for row in ({"text": f"text {i}", "label": None}, {"text": f"text {i}", "label": "ham"})
    ]
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(
            ws,
            _write_csv(tmp_path / "pairs.csv", rows),
            label_column="label",
            labels=["ham", "spam"],
        )
        per_text = ws.sql(
            "SELECT text, count(DISTINCT split) AS splits, any_value(split) AS split "
            "FROM examples GROUP BY text"
        )
    assert per_text["splits"].max() == 1
    # Unlabeled alone they would all be train: the labeled copy sends them to dev and test.
    assert per_text.filter(pl.col("split") != "train").height > 20


def test_changed_splits_and_gold_are_applied_and_counted(
    workspace: Workspace, tmp_path: Path
) -> None:
    # a1, a2 are train and a5 test in the fixture; a3 is ham.
    path = _write_csv(
        tmp_path / "moved.csv",
        [
            {
                "id": "a1",
                "text": "subscribe to my channel please",
                "label": "spam",
                "split": "test",
            },
            {
                "id": "a2",
                "text": "check out my website http://x.io",
                "label": "spam",
                "split": "dev",
            },
            {"id": "a3", "text": "I love this song so much", "label": "spam", "split": "train"},
            {"id": "a5", "text": "subscribe for free money", "label": "spam", "split": "train"},
        ],
    )
    summary = ingest(workspace, path, label_column="label", split_column="split")
    assert summary.changed_split == {
        ("test", "train"): 1,
        ("train", "dev"): 1,
        ("train", "test"): 1,
    }
    assert (summary.changed_gold, summary.unchanged, summary.added) == (1, 0, 0)
    stored = dict(workspace.sql("SELECT id, split || '/' || gold FROM examples").rows())
    assert [stored[i] for i in ("a1", "a2", "a3", "a5")] == [
        "test/spam",
        "dev/spam",
        "train/spam",
        "train/spam",
    ]
    # Trial 48b: the counts named no id.
    assert (
        "split changed for 3 (test -> train: 1, train -> dev: 1, train -> test: 1): "
        "ids 'a1', 'a2', 'a5'"
    ) in str(summary)
    assert "gold label changed for 1: id 'a3'" in str(summary)
    assert summary.changed_ids == {"split": ("a1", "a2", "a5"), "gold": ("a3",)}
    # Trial 63c: trained-on texts moved into test flattered the models trained before.
    assert (
        "note: 2 texts moved out of train (to dev, test): a model trained before learnt "
        "from them, so its scores there flatter it"
    ) in str(summary)


def test_other_encodings_are_read_and_a_bad_byte_is_located(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\nplain,ham\ncafé crème,spam\n".encode("cp1252"))
    jsonl = tmp_path / "latin.jsonl"
    jsonl.write_bytes('{"text": "ok"}\n{"text": "naïve"}\n'.encode("cp1252"))
    assert read_examples(path, encoding="cp1252")["text"].to_list() == ["plain", "café crème"]
    assert read_examples(jsonl, encoding="cp1252")["text"].to_list() == ["ok", "naïve"]
    with pytest.raises(
        InputError, match=r"latin.csv line 3: byte 0xe9 is not valid utf-8.*--encoding"
    ):
        read_examples(path)
    with pytest.raises(InputError, match=r"latin.jsonl line 2: byte 0xef is not valid utf-8"):
        read_examples(jsonl)
    with pytest.raises(InputError, match="unknown encoding 'klingon'"):
        read_examples(path, encoding="klingon")


def test_a_windows_file_read_as_latin_1_is_pointed_out(tmp_path: Path) -> None:
    # Trial 55a: --encoding latin-1 on a file Excel saved as cp1252 stored "25 €" as
    # "25 \x80" without a word.
    path = tmp_path / "excel.csv"
    path.write_bytes("id,text\n1,price 25 €\n2,fine\n".encode("cp1252"))
    with Workspace(tmp_path / "latin.duckdb") as ws:
        summary = ingest(ws, path, encoding="latin-1", labels=["a", "b"])
    assert any("row 1's text holds a control character" in note for note in summary.notes)
    with Workspace(tmp_path / "cp1252.duckdb") as ws:
        summary = ingest(ws, path, encoding="cp1252", labels=["a", "b"])
        assert ws.sql("SELECT text FROM examples WHERE id = '1'")["text"][0] == "price 25 €"
    assert not any("control character" in note for note in summary.notes)


def test_a_byte_order_mark_overrules_a_wrong_encoding(tmp_path: Path) -> None:
    # Trial 50a: --encoding latin-1 on a UTF-8 file with a BOM mangled every umlaut and
    # the id column's name without a word; a UTF-16 file was told to try cp1252.
    utf8 = tmp_path / "excel.csv"
    utf8.write_bytes("\ufeffid,text\n1,Grüße aus Köln\n".encode())
    with pytest.raises(InputError) as error:
        read_examples(utf8, encoding="latin-1")
    assert str(error.value) == (
        f"{utf8} starts with a UTF-8 byte-order mark: it is UTF-8, not latin-1; "
        "leave out encoding= / --encoding"
    )
    assert read_examples(utf8).select("id", "text").rows() == [("1", "Grüße aus Köln")]
    utf16 = tmp_path / "unicode.csv"
    utf16.write_bytes("id,text\n1,Grüße\n".encode("utf-16"))
    with pytest.raises(InputError, match=r"UTF-16 byte-order mark .*--encoding utf-16$"):
        read_examples(utf16)
    assert read_examples(utf16, encoding="utf-16")["text"].to_list() == ["Grüße"]
    # The second read: UTF-32's mark begins with UTF-16's, and was told to use utf-16.
    utf32 = tmp_path / "wide.csv"
    utf32.write_bytes("id,text\n1,Grüße\n".encode("utf-32"))
    assert read_examples(utf32, encoding="utf-32")["text"].to_list() == ["Grüße"]
    with pytest.raises(InputError, match=r"UTF-32 byte-order mark: pass .*--encoding utf-32$"):
        read_examples(utf32)


def test_a_text_over_spacys_limit_is_refused_or_cut(workspace: Workspace, tmp_path: Path) -> None:
    from labelkit.data import MAX_TEXT_CHARS

    path = _write_csv(
        tmp_path / "long.csv",
        [
            {"id": "short", "text": "fine"},
            {"id": "huge", "text": "word " * (MAX_TEXT_CHARS // 5 + 1)},
        ],
    )
    before = table_counts(workspace)
    with pytest.raises(InputError, match=r"long.csv: row 2 \(id 'huge'\) has a text of 1,000,005"):
        ingest(workspace, path)
    assert table_counts(workspace) == before
    summary = ingest(workspace, path, truncate=True)
    stored = workspace.sql("SELECT length(text) AS n FROM examples WHERE id = 'huge'")["n"][0]
    assert stored == MAX_TEXT_CHARS
    assert any("1 texts cut to 1,000,000 characters" in note for note in summary.notes)


def test_numeric_texts_and_labels_are_refused_or_said(tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text('{"text": "a word"}\n{"text": 861}\n')
    with pytest.raises(InputError, match=r"mixed.jsonl line 2: 'text' is 861, not a string"):
        read_examples(mixed)
    numbers = tmp_path / "numbers.jsonl"
    numbers.write_text(
        '{"text": "a", "label": 1}\n{"text": "b", "label": 1.0}\n{"text": "c", "label": 0}\n'
    )
    with Workspace(tmp_path / "ws.duckdb") as ws:
        summary = ingest(ws, numbers, label_column="label", label_map={"0": "ham", "1": "spam"})
        gold = ws.sql("SELECT gold FROM examples ORDER BY id")["gold"].to_list()
    assert gold == ["spam", "spam", "ham"]
    assert any("3 labels read as whole numbers" in note for note in summary.notes)
    # Trial 25: a CSV column of "1.0" and "0.0" (a float column with gaps, as pandas
    # writes it) met `--label-map 0=ham,1=spam` as unknown labels.
    floats = tmp_path / "floats.csv"
    floats.write_text("text,label\na,1.0\nb,0.0\nc,\nd,1\n")
    with Workspace(tmp_path / "floats.duckdb") as ws:
        summary = ingest(ws, floats, label_column="label", label_map={"0": "ham", "1": "spam"})
        gold = ws.sql("SELECT gold FROM examples ORDER BY id")["gold"].to_list()
    assert gold == ["spam", "ham", None, "spam"]
    assert any("3 labels read as whole numbers" in note for note in summary.notes)
    written_twice = tmp_path / "twice.csv"
    written_twice.write_text("text,label\na,1\nb,spam\nc,1.0\n")
    with pytest.raises(
        InputError, match=r"writes one number two ways: '1' \(row 1\) and '1.0' \(row 3\)"
    ):
        read_examples(written_twice, label_column="label")


@pytest.mark.parametrize(
    ("kwargs", "labels", "order"),
    [
        ({"labels": ["World", "Sports", "Business"]}, ("World", "Sports", "Business"), "labels"),
        (
            {"label_map": {"0": "World", "1": "Sports", "2": "Business"}, "label_column": "label"},
            ("World", "Sports", "Business"),
            "label_map",
        ),
        ({"label_column": "name"}, ("Business", "Sports", "World"), "sorted"),
    ],
)
def test_the_label_order_is_the_one_given(
    tmp_path: Path, kwargs: dict, labels: tuple, order: str
) -> None:
    path = _write_csv(
        tmp_path / "news.csv",
        [
            {"text": "stocks fell", "label": "2", "name": "Business"},
            {"text": "a goal", "label": "1", "name": "Sports"},
            {"text": "elections", "label": "0", "name": "World"},
        ],
    )
    with Workspace(tmp_path / "ws.duckdb") as ws:
        summary = ingest(ws, path, **kwargs)
        assert ws.task.labels == labels
    assert summary.labels == labels
    assert order in summary.label_order


def test_labels_in_nfd_are_the_labels_in_nfc(tmp_path: Path) -> None:
    # Trial 55a: "facturación" in NFD was a label of its own beside the NFC one, and
    # the errors showed two labels that looked the same.
    nfc, nfd = "facturación", unicodedata.normalize("NFD", "facturación")
    assert nfc != nfd
    frame = pl.DataFrame(
        {"text": ["mi factura", "otra factura", "el envío", "un envio"]}
    ).with_columns(label=pl.Series([nfc, nfd, "envío", unicodedata.normalize("NFD", "envío")]))
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, frame, label_column="label", labels=[unicodedata.normalize("NFD", "envío"), nfc])
        assert ws.task.labels == ("envío", nfc)
        assert ws.sql("SELECT gold FROM examples ORDER BY id")["gold"].to_list() == [
            nfc, nfc, "envío", "envío",
        ]  # fmt: skip
        # The second read: an LF's label and an imported vote's in NFD were refused.
        apply_lfs(ws, [keyword_lf("kw", ["factura"], nfd)])
        first = ws.sql("SELECT min(id) AS id FROM examples")["id"][0]
        import_votes(ws, pl.DataFrame({"example_id": [first], "source": ["x"], "label": [nfd]}))
        stored = ws.sql("SELECT DISTINCT label FROM votes")["label"].to_list()
        assert stored == [nfc]
    numbered = frame.with_columns(label=pl.Series(["1", "1", "2", "2"]))
    with Workspace(tmp_path / "mapped.duckdb") as ws:
        ingest(ws, numbered, label_column="label", label_map={"1": nfd, "2": "envío"})
        assert ws.task.labels == (nfc, "envío")
        assert ws.sql("SELECT gold FROM examples ORDER BY id")["gold"].to_list()[:2] == [nfc] * 2
    # Trial 55c: a comma-separated string was read as its letters.
    with pytest.raises(
        InputError, match=r"labels is one string, 'a,b': give a list, labels=\['a', 'b'\]"
    ):
        ingest(Workspace(tmp_path / "string.duckdb"), frame, labels="a,b")


def test_a_byte_order_mark_is_read_past_in_jsonl_and_wrench_json(tmp_path: Path) -> None:
    # Trial 26: a JSONL file saved by a Windows editor was refused as malformed JSON.
    jsonl = tmp_path / "bom.jsonl"
    jsonl.write_text(
        '{"text": "so happy", "label": "joy"}\n{"text": "a", "label": "fear"}\n',
        encoding="utf-8-sig",
    )
    wrench = tmp_path / "train.json"
    wrench.write_text('{"7": {"data": {"text": "so sad"}, "label": 0}}', encoding="utf-8-sig")
    assert read_examples(jsonl, label_column="label")["text"].to_list() == ["so happy", "a"]
    assert read_examples(wrench)["text"].to_list() == ["so sad"]


def test_a_misspelt_attribute_or_aspect_label_in_the_gold_is_pointed_out(tmp_path: Path) -> None:
    # Trial 47: gold "loaction" beside "location" became a fourth attribute in silence.
    gold = [{"location": "positive", "room": "negative", "LAPTOP#PRICE": "neutral"}] * 25
    # Review of stop 47: "CPU#PRICE" is another attribute, five edits away, not a typo.
    gold += [{"loaction": "postive", "CPU#PRICE": "neutral"}]
    path = tmp_path / "hotel.csv"
    frame = pl.DataFrame({"text": [f"t{i}" for i in range(26)], "label": map(json.dumps, gold)})
    frame.write_csv(path)
    with Workspace(tmp_path / "ws.duckdb") as ws, pytest.warns(LabelkitWarning) as caught:
        ingest(ws, path, label_column="label", kind="aspects")
    assert [str(w.message) for w in caught] == [
        f"gold attribute 'loaction' is on 1 row (the first {path} row 26) and is spelt like "
        "'location': a misspelling? It stays an attribute of its own once ingested: correct "
        "the file first, or name every attribute with --attributes",
        f"gold label 'postive' is on 1 row (the first {path} row 26) and is spelt like "
        "'positive': a misspelling? It stays a label of its own once ingested: correct the "
        "file first, or name every label with --labels",
    ]


def test_a_misspelt_gold_label_and_a_label_no_row_has_are_pointed_out(tmp_path: Path) -> None:
    # Trial 31: "nuetral" on one dev row became a fourth class, and --labels naming a
    # class no row has passed, both seen only in the sorted label list.
    labels = ["polite"] * 30 + ["neutral"] * 40 + ["impolite"] * 30 + ["nuetral"]
    path = tmp_path / "politeness.csv"
    pl.DataFrame({"text": [f"t{i}" for i in range(101)], "label": labels}).write_csv(path)
    with Workspace(tmp_path / "ws.duckdb") as ws, pytest.warns(LabelkitWarning) as caught:
        ingest(ws, path, label_column="label")
    assert [str(w.message) for w in caught] == [
        f"gold label 'nuetral' is on 1 row (the first {path} row 101) and is spelt like "
        "'neutral' (40 rows): a misspelling? It is a class of its own, and stays in the label "
        "set once ingested: correct the file first, or map it (--label-map nuetral=neutral "
        "with --labels naming every label)"
    ]
    # Trial 46: mapping the misspelling alone said "a task needs at least two labels".
    with (
        Workspace(tmp_path / "mapped.duckdb") as ws,
        pytest.raises(
            InputError, match=r"gives the whole label set, \['neutral'\], and the gold also"
        ),
    ):
        ingest(ws, path, label_column="label", label_map={"nuetral": "neutral"})
    with Workspace(tmp_path / "mapped.duckdb") as ws:
        assert not ws.has_task(), "the refused ingest left the workspace as it was"
        ingest(
            ws,
            path,
            label_column="label",
            label_map={"nuetral": "neutral"},
            labels=["polite", "neutral", "impolite"],
        )
        assert ws.task.labels == ("polite", "neutral", "impolite")
    given = ["polite", "neutral", "impolite", "nuetral", "rude"]
    with Workspace(tmp_path / "given.duckdb") as ws:
        with pytest.warns(LabelkitWarning) as caught:
            ingest(ws, path, label_column="label", labels=given)
        # Later ingests add to a label set already checked.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ingest(ws, path, label_column="label")
    assert str(caught[0].message) == (
        "no gold row has the label ['rude'] of the 5 given: a misspelling in the label set, "
        "or classes the gold leaves out?"
    )
    # Many rows of a label spelt like another (impolite, polite) are two classes.
    path.write_text(
        "text,label\n" + "".join(f"t{i},{label}\n" for i, label in enumerate(labels[:100]))
    )
    with Workspace(tmp_path / "fine.duckdb") as ws, warnings.catch_warnings():
        warnings.simplefilter("error")
        ingest(ws, path, label_column="label")


def test_labels_that_differ_only_in_case_or_spaces_are_refused_by_row(tmp_path: Path) -> None:
    # Trial 25: "Fear" and "fear" became two classes of an emotion task.
    moods = ["joy", "Fear", "sadness", "fear"]
    path = _write_csv(
        tmp_path / "moods.csv", [{"text": f"text {i}", "label": m} for i, m in enumerate(moods)]
    )
    with Workspace(tmp_path / "ws.duckdb") as ws:
        with pytest.raises(
            InputError,
            match=r"gold labels 'Fear' \(.*moods.csv row 2\) and 'fear' \(.*moods.csv row 4\)",
        ):
            ingest(ws, path, label_column="label")
        assert not ws.has_task() and table_counts(ws)["examples"] == 0
        mapped = {"joy": "joy", "Fear": "fear", "fear": "fear", "sadness": "sadness"}
        ingest(ws, path, label_column="label", label_map=mapped)
        assert ws.task.labels == ("joy", "fear", "sadness")
    refused = [
        (
            "multi.csv",
            'text,label\na,"[""Joy""]"\nb,"[""joy""]"\n',
            "multilabel",
            r"labels 'Joy' \(.*multi.csv row 1\) and 'joy' \(.*multi.csv row 2\)",
        ),
        (
            "blank.jsonl",
            '{"text": "a", "label": "joy"}\n{"text": "b", "label": " sad"}\n',
            "classification",
            r"blank.jsonl row 2: gold label ' sad' is empty or padded with spaces",
        ),
        # Trial 46: an escape code in a label was taken for a class of its own.
        (
            "escape.csv",
            'text,label\na,ham\nb,"spam\x1b[31m"\n',
            "classification",
            r"escape.csv row 2: gold label 'spam\\x1b\[31m' holds a control character",
        ),
        (
            "aspect.csv",
            'text,label\na,"{""fo\\u0007od"": ""positive""}"\n',
            "aspects",
            r"aspect.csv row 1: aspect 'fo\\x07od' holds a control character",
        ),
        # Trial-29 review: pandas' NaN written as "nan" ended in a traceback.
        (
            "nan.csv",
            "text,label\na,1.0\nb,0.0\nc,nan\n",
            "classification",
            r"nan.csv row 3: gold label 'nan' is a missing value written out as text",
        ),
    ]
    for name, content, kind, message in refused:
        (tmp_path / name).write_text(content)
        with Workspace(tmp_path / f"{name}.duckdb") as ws, pytest.raises(InputError, match=message):
            ingest(ws, tmp_path / name, label_column="label", kind=kind)
    (tmp_path / "plain.csv").write_text("text\na\nb\n")
    with Workspace(tmp_path / "named.duckdb") as ws:
        with pytest.raises(InputError, match=r"labels must hold no control characters"):
            ingest(ws, tmp_path / "plain.csv", labels=["ham", "sp\tam"])
        assert not ws.has_task()
    # Each variant is named with its own file and row, the files taken in order.
    (tmp_path / "one.csv").write_text(
        'text,label\na,"[""joy""]"\nb,"[""x""]"\nc,"[""x""]"\nd,"[""Joy""]"\n'
    )
    (tmp_path / "two.csv").write_text('text,label\ne,"[""Joy""]"\n')
    with (
        Workspace(tmp_path / "two.duckdb") as ws,
        pytest.raises(InputError, match=r"'joy' \(.*one.csv row 1\) and 'Joy' \(.*one.csv row 4\)"),
    ):
        ingest(
            ws,
            [tmp_path / "one.csv", tmp_path / "two.csv"],
            label_column="label",
            kind="multilabel",
        )


def test_a_class_mapped_to_nothing_is_left_out_with_its_rows(tmp_path: Path) -> None:
    moods = ["joy", "surprise", "anger", "surprise", "sadness", "joy", None]
    path = _write_csv(
        tmp_path / "moods.csv",
        [{"id": f"m{i}", "text": f"text {i}", "label": mood} for i, mood in enumerate(moods)],
    )
    unlabeled = _write_csv(tmp_path / "new.csv", [{"id": "n0", "text": "a text of its own"}])
    with Workspace(tmp_path / "ws.duckdb") as ws:
        summary = ingest(ws, path, label_column="label", label_map={"surprise": ""})
        assert ws.task.labels == ("anger", "joy", "sadness")
        ingest(ws, unlabeled, label_map={"surprise": ""})
        rows = ws.sql("SELECT id, gold FROM examples ORDER BY id")
    # The rows without gold stay: only the dropped class's go.
    assert rows.rows() == [
        ("m0", "joy"),
        ("m2", "anger"),
        ("m4", "sadness"),
        ("m5", "joy"),
        ("m6", None),
        ("n0", None),
    ]
    assert f"note: {path}: 2 rows with gold 'surprise' left out" in str(summary)
    # Beside real mappings, which alone make the label set, in their order.
    with Workspace(tmp_path / "mapped.duckdb") as ws:
        mapping = {"joy": "happy", "anger": "angry", "sadness": "sad", "surprise": ""}
        ingest(ws, path, label_column="label", label_map=mapping)
        assert ws.task.labels == ("happy", "angry", "sad")
        assert ws.sql("SELECT count(*) AS n FROM examples")["n"][0] == 5
    args = ["cli.duckdb", "moods.csv", "--label-column", "label", "--label-map", "surprise="]
    shown = subprocess.run(
        [sys.executable, "-m", "labelkit", "ingest", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert shown.returncode == 0, shown.stderr
    assert "moods.csv: 2 rows with gold 'surprise' left out" in shown.stdout
    assert (
        "labels (sorted; give the order with --labels or --label-map): anger, joy" in shown.stdout
    )


def test_the_language_is_stored_checked_and_kept(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "de.csv", [{"text": "Guten Tag"}, {"text": "Danke schön"}])
    with Workspace(tmp_path / "ws.duckdb") as ws:
        with pytest.raises(InputError, match=r"language 'qq': spacy.blank\('qq'\) fails"):
            ingest(ws, path, labels=["ja", "nein"], lang="qq")
        assert not ws.has_task()
        assert ingest(ws, path, labels=["ja", "nein"], lang="de").lang == "de"
        assert ws.task.lang == "de"
        with pytest.raises(InputError, match="the workspace's language is 'de', not 'fr'"):
            ingest(ws, path, lang="fr")
        # Trial 51a: a label found later was refused with no word on what to do.
        with pytest.raises(
            InputError,
            match=r"not \['ja', 'nein', 'vielleicht'\]; they are set by its first ingest, and "
            r"\['vielleicht'\] cannot be added to it: ingest into a new workspace",
        ):
            ingest(ws, path, labels=["ja", "nein", "vielleicht"])
        with pytest.raises(
            InputError, match=r"not \['nein', 'ja'\]; they are set by its first ingest$"
        ):
            ingest(ws, path, labels=["nein", "ja"])


def test_polars_and_pandas_frames_are_ingested(tmp_path: Path) -> None:
    frame = pl.DataFrame({"id": ["p1", "p2"], "text": ["from polars", "also"], "label": ["a", "b"]})
    with Workspace(tmp_path / "ws.duckdb") as ws:
        summary = ingest(ws, frame, label_column="label")
        assert summary.added == 2 and summary.id_columns == {"frame": "id"}
        pandas_frame = pl.DataFrame({"text": ["from pandas"], "label": ["b"]}).to_pandas()
        assert ingest(ws, [pandas_frame], label_column="label").added == 1
        # Trial 57b: a text column of pandas' `category` was refused as "not texts".
        categories = pl.DataFrame({"id": ["c1"], "text": ["a category"]}).to_pandas()
        assert ingest(ws, categories.astype({"text": "category"})).added == 1
        rows = ws.sql("SELECT id, text, gold FROM examples ORDER BY id").rows()
    assert rows == [
        ("c1", "a category", None),
        ("frame:1", "from pandas", "b"),
        ("p1", "from polars", "a"),
        ("p2", "also", "b"),
    ]


# ../shared/data beside the checkout, which may sit more than one level deeper (a
# worktree, a clone in a temporary folder).
MAMS = next(
    folder / "shared" / "data" / "aspects" / "mams-acsa"
    for folder in Path(__file__).resolve().parents
    if (folder / "shared" / "data" / "aspects" / "mams-acsa").is_dir()
)


def test_aspect_xml_is_an_aspects_task_with_gold_per_attribute(tmp_path: Path) -> None:
    with Workspace(tmp_path / "ws.duckdb") as ws:
        summary = ingest(ws, [MAMS / "val.xml", MAMS / "test.xml"])
        task = ws.task
        assert summary.new == {"dev": 400, "test": 400}
        assert "task: aspects" in str(summary)
        assert task.kind == "aspects"
        assert task.labels == ("negative", "neutral", "positive")  # sorted as seen
        assert task.attributes == (
            "ambience", "food", "menu", "miscellaneous", "place", "price", "service", "staff"
        )  # fmt: skip
        first = ws.sql("SELECT text, gold FROM examples WHERE id = 'val:1'").row(0)
        text, aspects = _first_sentence(MAMS / "val.xml")
        assert first[0] == text and len(aspects) >= 2
        gold = pl.Series([first[1]])
        answers = {a: task.gold_answers(gold, a)[0] for a in task.attributes}
        assert answers == dict.fromkeys(task.attributes, "none") | aspects
        # Re-ingesting writes nothing: the stored gold is what a second read gives.
        assert not ingest(ws, MAMS / "val.xml").wrote


def _first_sentence(path: Path) -> tuple[str, dict[str, str]]:
    """The first sentence of an aspect XML file and its aspects, read with ElementTree."""
    sentence = next(ElementTree.parse(path).getroot().iter("sentence"))
    aspects = {c.get("category"): c.get("polarity") for c in sentence.iter("aspectCategory")}
    return sentence.findtext("text"), aspects


def test_aspect_and_multilabel_gold_from_frames_is_checked_by_row(tmp_path: Path) -> None:
    reviews = pl.DataFrame(
        {
            "text": ["great food", "rude waiter", "ok"],
            "aspects": [
                {"food": "positive", "staff": None, "price": None},
                {"food": None, "staff": "negative", "price": None},
                None,
            ],
        }
    )
    with Workspace(tmp_path / "a.duckdb") as ws:
        ingest(ws, reviews, label_column="aspects", kind="aspects", labels=["positive", "negative"])
        # Trial 26: a struct field no text mentions is still one of the attributes.
        assert ws.task.attributes == ("food", "price", "staff")
        gold = ws.sql("SELECT gold FROM examples ORDER BY id")["gold"]
        assert ws.task.gold_answers(gold, "staff").to_list() == ["none", "negative", None]
        wrong = pl.DataFrame({"text": ["x"], "aspects": ['{"food": "tasty"}']})
        with pytest.raises(
            InputError, match=r"frame row 1, column 'aspects': unknown label 'tasty'"
        ):
            ingest(ws, wrong, label_column="aspects")
        unknown = pl.DataFrame({"text": ["x"], "aspects": ['{"decor": "positive"}']})
        with pytest.raises(InputError, match=r"unknown attribute 'decor'"):
            ingest(ws, unknown, label_column="aspects")
        not_json = pl.DataFrame({"text": ["x"], "aspects": ["positive"]})
        with pytest.raises(
            InputError,
            match=r"row 1, column 'aspects': 'positive' is not a JSON object of attribute -> "
            r"label, as an aspects task's gold is",
        ):
            ingest(ws, not_json, label_column="aspects")
        assert ws.sql("SELECT count(*) AS n FROM examples")["n"][0] == 3
    topics = pl.DataFrame({"text": ["goal!", "new phone", "phone at the match"]})
    topics = topics.with_columns(labels=pl.Series([["sports"], ["tech"], ["tech", "sports"]]))
    with Workspace(tmp_path / "m.duckdb") as ws:
        summary = ingest(ws, topics, label_column="labels", kind="multilabel")
        assert ws.task.labels == ("sports", "tech") and summary.kind == "multilabel"
        # Trial 68b: one label per row into a multi-label workspace.
        single = pl.DataFrame({"text": ["offside"], "labels": ["sports"]})
        with pytest.raises(
            InputError,
            match=r"row 1, column 'labels': 'sports' is not a JSON array of labels, as a "
            r"multi-label task's gold is",
        ):
            ingest(ws, single, label_column="labels")
        gold = ws.sql("SELECT gold FROM examples ORDER BY text")["gold"]
        assert ws.task.gold_answers(gold, "sports").to_list() == ["yes", "no", "yes"]
    # Trial 45: a label given twice was stored twice, and an unknown one was called an
    # attribute.
    twice = topics.with_columns(labels=pl.Series([["sports", "sports"], [], ["tech", "sports"]]))
    with Workspace(tmp_path / "m2.duckdb") as ws:
        ingest(ws, twice, label_column="labels", kind="multilabel", labels=["sports", "tech"])
        stored = ws.sql("SELECT gold FROM examples ORDER BY text")["gold"].to_list()
        assert stored == ['["sports"]', "[]", '["sports","tech"]']
        cars = pl.DataFrame({"text": ["x"], "labels": [["cars"]]})
        with pytest.raises(
            InputError,
            match=r"frame row 1, column 'labels': unknown label 'cars'; the task's labels are",
        ):
            ingest(ws, cars, label_column="labels")


def test_json_objects_or_arrays_as_gold_of_a_classification_task_are_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "stance.jsonl"
    path.write_text(
        '{"text": "vote for him", "label": {"trump": "favor", "sentiment": "positive"}}\n'
        '{"text": "never him", "label": {"trump": "against", "sentiment": "negative"}}\n'
    )
    with Workspace(tmp_path / "w.duckdb") as ws:
        with pytest.raises(
            InputError, match=r"stance.jsonl row 1: gold label .*JSON.*--kind aspects"
        ):
            ingest(ws, path, label_column="label")
        assert not ws.has_task() and ws.sql("SELECT count(*) AS n FROM examples")["n"][0] == 0
        topics = pl.DataFrame({"text": ["goal!", "phone"], "labels": [["sports"], ["tech"]]})
        with pytest.raises(InputError, match=r"frame row 1: .*--kind multilabel"):
            ingest(ws, topics, label_column="labels")
        assert not ws.has_task()
        # Trial 47: read from a CSV, JSON gold is text, and each value became a class.
        for name, content, kind in [
            (
                "tickets.csv",
                'text,tags\nbill,"[""billing""]"\nboth,"[""login"", ""bug""]"\n',
                "multilabel",
            ),
            ("hotel.csv", 'text,tags\nnice,"{""room"": ""positive""}"\n', "aspects"),
            ("posts.csv", 'text,tags\nsoup,"[[0, 4, ""DISH""]]"\ntea,[]\n', "spans"),
        ]:
            (tmp_path / name).write_text(content)
            with pytest.raises(InputError, match=rf"{name} row 1: gold label .* --kind {kind}$"):
                ingest(ws, tmp_path / name, label_column="tags")
            assert not ws.has_task()
        # Plain labels among them are labels: "[sic]" is one, and so is "[1]".
        (tmp_path / "odd.csv").write_text('text,tags\na,"[sic]"\nb,"[""x""]"\nc,[1]\n')
        ingest(ws, tmp_path / "odd.csv", label_column="tags")
        assert ws.task.labels == ('["x"]', "[1]", "[sic]")
    (tmp_path / "numbers.csv").write_text("text,tags\na,[1]\nb,[2]\n")
    with Workspace(tmp_path / "numbers.duckdb") as ws:
        ingest(ws, tmp_path / "numbers.csv", label_column="tags")
        assert ws.task.labels == ("[1]", "[2]")


def test_a_label_column_left_unread_is_pointed_out(tmp_path: Path) -> None:
    path = tmp_path / "stance.jsonl"
    path.write_text('{"text": "vote for him", "label": {"trump": "favor"}}\n')
    with Workspace(tmp_path / "w.duckdb") as ws:
        with pytest.raises(
            InputError, match=r"no attributes: .*column 'label'.*--label-column label"
        ):
            ingest(ws, path, kind="aspects")
        with pytest.raises(InputError, match=r"no label set: .*--label-column label"):
            ingest(ws, _write_csv(tmp_path / "c.csv", [{"text": "a", "label": "x"}]))
        assert not ws.has_task()
        summary = ingest(ws, path, kind="aspects", attributes=["trump"], labels=["favor"])
        assert any("column 'label' was not read" in note for note in summary.notes)
        assert ws.sql("SELECT count(*) AS n FROM examples WHERE gold IS NULL")["n"][0] == 1


def test_a_split_column_left_unread_is_pointed_out(tmp_path: Path) -> None:
    # Trial 50a: a file's test rows went to train, and nothing said the column was unread.
    rows = [{"id": str(i), "text": f"text {i}", "label": "a", "split": "test"} for i in range(4)]
    path = _write_csv(tmp_path / "c.csv", rows)
    with Workspace(tmp_path / "w.duckdb") as ws:
        summary = ingest(ws, path, label_column="label", labels=["a", "b"])
        assert [n for n in summary.notes if "'split'" in n] == [
            f"{path}: column 'split' was not read as the rows' splits (rows with gold get one "
            "from a hash of their text, others go to train); to read it, pass "
            "split_column='split' / --split-column split"
        ]
        again = ingest(ws, path, label_column="label", split_column="split")
        assert not [n for n in again.notes if "'split'" in n]
        # The second read: a text column named "split" is read, not left unread.
        texts = _write_csv(tmp_path / "t.csv", [{"id": "9", "split": "a text", "label": "a"}])
        named = ingest(ws, texts, text_column="split", label_column="label")
        assert not [n for n in named.notes if "'split'" in n]
        assert ws.sql("SELECT DISTINCT split FROM examples")["split"].to_list() == ["test"]


def test_a_file_without_a_known_suffix_is_read_in_the_format_given(tmp_path: Path) -> None:
    # Trial J: the UCI SMS collection is "SMSSpamCollection", tab-separated, no suffix.
    collection = tmp_path / "SMSSpamCollection"
    collection.write_text("label\ttext\nham\tsee you at 5\nspam\tWIN a prize now\n")
    with Workspace(tmp_path / "ws.duckdb") as ws:
        before = table_counts(ws)
        with pytest.raises(
            InputError,
            match=r"SMSSpamCollection: unknown file type ''; use one of .*, or give the format "
            r"\(--format / file_format: .*\btsv\b",
        ):
            ingest(ws, collection, label_column="label")
        # Trial 59c: the same advice for a workbook led to a decoding error on the zip.
        workbook = tmp_path / "Avis.xlsx"
        workbook.write_bytes(b"PK\x03\x04")
        with pytest.raises(InputError, match=r"Avis.xlsx: a spreadsheet workbook .*CSV UTF-8"):
            ingest(ws, workbook, label_column="label")
        assert table_counts(ws) == before
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "labelkit",
            "ingest",
            str(tmp_path / "cli.duckdb"),
            str(collection),
            "--format",
            "tsv",
            "--label-column",
            "label",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    with Workspace(tmp_path / "cli.duckdb") as ws:
        assert ws.sql("SELECT text, gold FROM examples ORDER BY text").rows() == [
            ("WIN a prize now", "spam"),
            ("see you at 5", "ham"),
        ]


def test_a_split_given_to_a_gold_row_is_every_copy_of_its_texts(tmp_path: Path) -> None:
    # Trial 61d: splits given for the gold rows alone; their texts' copies without one
    # went to train (word for word the dev and test texts), or to the other split, by hash.
    texts = [f"ticket about problem {i}" for i in range(20)]
    rows = pl.DataFrame(
        {
            "text": texts + texts + texts,
            "label": ["a", "b"] * 10 + [None] * 40,
            "split": ["dev", "test"] * 10 + [None] * 40,
        }
    )
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, rows, label_column="label", split_column="split")
        splits = ws.sql(
            "SELECT text, list_sort(list_distinct(list(split))) AS splits FROM examples "
            "GROUP BY text ORDER BY text"
        ).rows()
    assert len(splits) == 20
    assert all(split in (["dev"], ["test"]) for _, split in splits), splits


def test_texts_without_gold_held_out_with_their_copies_are_counted(tmp_path: Path) -> None:
    # Trial 46: 8,000 of 50,000 texts without gold went to dev and test without a word,
    # where the README said texts without gold go to train.
    texts = [f"text number {i}" for i in range(40)]
    gold = tmp_path / "gold.csv"
    pl.DataFrame({"text": texts, "label": ["a", "b"] * 20}).write_csv(gold)
    plain = tmp_path / "plain.csv"
    pl.DataFrame({"text": [*texts, "a new text"]}).write_csv(plain)
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, gold, label_column="label")
        held = ws.sql("SELECT count(*) AS n FROM examples WHERE split <> 'train'")["n"][0]
        summary = ingest(ws, plain)
        assert summary.new["train"] == 41 - held, "each copy took its text's split"
        # Trial 57b: said to have had "their split given", which the user never gave.
        assert (
            f"{held:,} new examples without gold are in dev or test, where nothing reads "
            f"them: {held:,} are copies of {held:,} texts there"
        ) in str(summary)
        assert "split given" not in str(summary)
        # The second read: a copy of a text without gold, whose split was given once.
        given = tmp_path / "given.csv"
        pl.DataFrame({"text": ["held back"], "split": ["test"]}).write_csv(given)
        said = str(ingest(ws, given, split_column="split"))
        assert "1 had its split given" in said
        assert "1 is a copy of 1 text there" in str(
            ingest(ws, pl.DataFrame({"text": ["held back"]}))
        )
        assert ws.sql("SELECT split FROM examples WHERE text = 'a new text'")[
            "split"
        ].to_list() == ["train"]


def test_copies_of_a_text_with_different_gold_are_pointed_out(tmp_path: Path) -> None:
    # Trial 46: copies of a text with different gold labels passed without a word.
    first = tmp_path / "first.csv"
    pl.DataFrame({"id": ["1", "2"], "text": ["same text", "other"], "label": ["a", "b"]}).write_csv(
        first
    )
    more = tmp_path / "more.csv"
    pl.DataFrame({"id": ["3", "4"], "text": ["same text", "new"], "label": ["b", "a"]}).write_csv(
        more
    )
    with Workspace(tmp_path / "ws.duckdb") as ws:
        assert not any(
            "gold label" in note for note in ingest(ws, first, label_column="label").notes
        )
        notes = ingest(ws, more, label_column="label").notes
    assert (
        "1 text carries more than one gold label in its copies (the first, 'same text': a, b): "
        "likely a wrong label; each copy is scored against its own"
    ) in notes


def test_held_out_texts_that_are_train_texts_too_are_pointed_out(tmp_path: Path) -> None:
    # Trial 48b: with given splits, 189 test texts were word for word train texts, unsaid.
    path = tmp_path / "split.csv"
    texts = ["shared text", "shared text", "train only", "test only", "also shared", "also shared"]
    splits = ["train", "test", "train", "test", "dev", "train"]
    pl.DataFrame(
        {"text": texts, "label": ["a", "a", "b", "b", "a", "a"], "split": splits}
    ).write_csv(path)
    with Workspace(tmp_path / "ws.duckdb") as ws:
        notes = ingest(ws, path, label_column="label", split_column="split").notes
    assert (
        "2 dev or test texts also in train, word for word (the first: 'also shared'): a model "
        "scores better on those than on new texts; give each text one split"
    ) in notes
    with Workspace(tmp_path / "apart.duckdb") as ws:
        hashed = ingest(ws, path, label_column="label", test_fraction=0.5).notes
    assert not any("also in train" in note for note in hashed), "copies share a hashed split"


def test_a_label_with_one_gold_example_is_pointed_out(tmp_path: Path) -> None:
    # Trial 48b: one stray "fraud" row made a class of its own without a word.
    texts = [f"message number {i}" for i in range(30)]
    labels = ["card", "transfer"] * 14 + ["fraud", "transfer"]
    path = tmp_path / "bank.csv"
    pl.DataFrame({"text": texts, "label": labels}).write_csv(path)
    with Workspace(tmp_path / "ws.duckdb") as ws:
        notes = ingest(ws, path, label_column="label").notes
        assert (
            "1 label has one gold example of 30 ('fraud'): too few to learn or score; if stray, "
            "fix the file or map it (--label-map)"
        ) in notes
        more = tmp_path / "more.csv"
        pl.DataFrame({"text": ["another message"], "label": ["card"]}).write_csv(more)
        again = ingest(ws, more, label_column="label").notes
    assert not any("one gold example" in note for note in again), "only new rows' labels"


def test_classes_numbered_from_0_to_11_keep_their_order(tmp_path: Path) -> None:
    # Trial 53a: sorted as text, class 10 came second to last of 0, 1, 10, 11, 2, ...
    # and a label's code was no longer its class number.
    csv = tmp_path / "classes.csv"
    pl.DataFrame(
        {"text": [f"text {i}" for i in range(24)], "label": list(range(12)) * 2}
    ).write_csv(csv)
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, csv, label_column="label")
        assert ws.task.labels == tuple(str(i) for i in range(12))


def test_what_is_neither_a_file_nor_a_frame_is_refused_by_what_it_is(tmp_path: Path) -> None:
    # Trial 53c: a Series of texts was read as file paths ("unknown file type ''"), a
    # dict as its keys, and ingest(ws, 42) failed in a TypeError.
    texts = pl.Series("text", ["where is my parcel?", "refund please"])
    with Workspace(tmp_path / "ws.duckdb") as ws:
        with pytest.raises(InputError, match=r"got Series: .*\(series.to_frame\('text'\)\)"):
            ingest(ws, texts)  # type: ignore[arg-type]
        with pytest.raises(InputError, match=r"got dict: for a dict of columns"):
            ingest(ws, {"text": ["a"]})  # type: ignore[arg-type]
        with pytest.raises(InputError, match=r"got int$"):
            ingest(ws, 42)  # type: ignore[arg-type]
        with pytest.raises(InputError, match=r"source 1 is int: ingest reads"):
            ingest(ws, [texts.to_frame(), 42])  # type: ignore[list-item]
        assert not ws.has_task()


def test_new_gold_that_follows_its_texts_copies_into_train_is_noted(tmp_path: Path) -> None:
    # Trial 56c: 54 of a week's 100 gold labels went to train, where their posts had been
    # seen the week before, and nothing said so.
    week1 = pl.DataFrame(
        {"id": [f"a{i}" for i in range(40)], "text": [f"post {i}" for i in range(40)]}
    )
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, week1, id_column="id", labels=["ok", "spam"])
        assert ws.sql("SELECT DISTINCT split FROM examples").rows() == [("train",)]
        week2 = pl.DataFrame(
            {
                "id": [f"b{i}" for i in range(30)],
                "text": [f"post {i}" for i in range(3)] + [f"new post {i}" for i in range(27)],
                "label": ["spam", "ok"] * 15,
            }
        )
        added = ingest(ws, week2, id_column="id", label_column="label")
        copied = [note for note in added.notes if "went to train" in note]
        assert copied == [
            "3 new examples with gold went to train, as copies of their texts were there "
            "already (the first: 'post 0'): no small model is scored on gold in train "
            "(evaluate scores the label model's train labels with it), and `aggregate "
            "--gold-split train` fits with it"
        ]
        # The rest is scarce gold in a workspace of texts without: dev and test alone.
        in_train = ws.sql("SELECT id FROM examples WHERE gold IS NOT NULL AND split = 'train'")
        assert sorted(in_train["id"]) == ["b0", "b1", "b2"]


def test_scarce_gold_goes_to_dev_and_test_where_it_is_read(tmp_path: Path) -> None:
    # Trials 52a, 53a and 53c: 70% of a user's few hundred gold rows went to train,
    # where nothing reads them, and dev was left with a few dozen to fit and check on.
    rows = pl.DataFrame(
        {
            "text": [f"message number {i}" for i in range(600)],
            "label": [
                ("billing" if i % 2 else "shipping") if i < 300 else None for i in range(600)
            ],
        }
    )
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, rows, label_column="label")
        counts = dict(
            ws.sql(
                "SELECT split || ':' || (gold IS NOT NULL), count(*) FROM examples GROUP BY 1"
            ).rows()
        )
        assert counts["train:false"] == 300 and "train:true" not in counts
        # A third of each label's gold, as dev is to test 1:2, exactly (trial 54e: the
        # hash alone sent 19 of 40 gold letters to dev, one label's only ones to test).
        by_label = ws.sql(
            "SELECT split, gold, count(*) FROM examples WHERE gold IS NOT NULL GROUP BY ALL"
        ).rows()
        assert sorted(by_label) == [
            ("dev", "billing", 50),
            ("dev", "shipping", 50),
            ("test", "billing", 100),
            ("test", "shipping", 100),
        ]
    few = pl.DataFrame(
        {
            "text": [f"letter {i}" for i in range(80)],
            "label": ["a"] * 20 + ["b"] * 10 + ["c"] * 7 + ["d"] * 2 + ["e"] + [None] * 40,
        }
    )
    with Workspace(tmp_path / "few.duckdb") as ws:
        ingest(ws, few, label_column="label")
        shares = ws.sql(
            """SELECT gold, count(*) FILTER (split = 'dev'), count(*) FILTER (split = 'test')
               FROM examples WHERE gold IS NOT NULL GROUP BY gold ORDER BY gold"""
        ).rows()
    assert shares[:4] == [("a", 7, 13), ("b", 3, 7), ("c", 2, 5), ("d", 1, 1)]
    # A label's one text goes where its hash says (the second read: exact shares of one
    # sent each text of gold added one at a time to test).
    assert shares[4][0] == "e" and shares[4][1] + shares[4][2] == 1
    with Workspace(tmp_path / "one_at_a_time.duckdb") as ws:
        for i in range(24):
            ingest(
                ws,
                pl.DataFrame(
                    {
                        "id": [f"g{i}", f"p{i}"],
                        "text": [f"gold {i}", f"plain {i}"],
                        "label": ["a", None],
                    }
                ),
                label_column="label",
                labels=["a", "b"],
            )
        splits = dict(ws.sql("SELECT split, count(*) FROM examples GROUP BY 1").rows())
    assert splits["train"] == 24 and splits["dev"] > 0 and splits["test"] > splits["dev"]
    # Gold on every row, as the benchmark sets have: the usual 70 / 10 / 20.
    with Workspace(tmp_path / "all.duckdb") as ws:
        ingest(ws, rows.head(300), label_column="label")
        assert 180 <= ws.sql("SELECT count(*) FROM examples WHERE split = 'train'").item() <= 240


def test_gold_given_on_a_second_ingest_says_where_it_is(tmp_path: Path) -> None:
    # Trial 53e: the label column, left unread the first time, was read the second; its
    # 3,000 gold labels stayed in train, and evaluate found none to score on.
    rows = pl.DataFrame(
        {
            "id": [str(i) for i in range(40)],
            "text": [f"review {i}" for i in range(40)],
            "label": ["good" if i % 2 else "bad" for i in range(10)] + [None] * 30,
        }
    )
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, rows.drop("label"), labels=["bad", "good"])
        notes = ingest(ws, rows, label_column="label").notes
    assert any(
        note.startswith("every gold label is in train (10), where nothing") for note in notes
    )


def test_chinese_or_japanese_texts_under_a_language_that_reads_runs_as_words_are_noted(
    tmp_path: Path,
) -> None:
    # Trial 57e: --lang xx widened every span LF's spans to the runs between spaces.
    texts = ["快递很慢", "客服 very nice", "このイヤホンは最高です", "iPhone 15 的电池很差"]
    for lang, noted in (("xx", True), ("en", True), ("zh", False)):
        with Workspace(tmp_path / f"{lang}.duckdb") as ws:
            summary = ingest(ws, pl.DataFrame({"text": texts}), labels=["a", "b"], lang=lang)
        said = f"most texts are in Chinese, Japanese or Thai script, which spaCy's {lang!r}"
        assert (said in " ".join(str(summary).split())) is noted, lang
    with Workspace(tmp_path / "english.duckdb") as ws:
        summary = ingest(
            ws, pl.DataFrame({"text": ["hello there", "the 快递 word"]}), labels=["a", "b"]
        )
    assert "Japanese or Thai script" not in str(summary)
    with Workspace(tmp_path / "thai.duckdb") as ws:
        thai = ["ลดราคาพิเศษสมัครสมาชิกเลย", "ขอบคุณมากครับ", "hello"]
        summary = ingest(ws, pl.DataFrame({"text": thai}), labels=["a", "b"], lang="xx")
    assert "Japanese or Thai script" in str(summary)


def test_a_reingest_with_other_field_values_says_they_were_not_taken(tmp_path: Path) -> None:
    # Trial 58f: 200 rows with new field values were "already in the workspace as given",
    # and the LFs went on reading the old values.
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("id,text,priority,tier\nt1,one text,P3,pro\nt2,two texts,P1,free\n")
    second.write_text("id,text,priority,tier\nt1,one text,3,pro\nt2,two texts,P1,free\n")
    reordered = tmp_path / "c.csv"
    reordered.write_text("id,tier,text,priority\nt1,pro,one text,P3\nt2,free,two texts,P1\n")
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, first, labels=["a", "b"])
        # The same values in another column order are no other values (the second read).
        for again in (ingest(ws, first), ingest(ws, reordered)):
            assert not any("other values" in note for note in again.notes)
        summary = ingest(ws, second)
        stored = ws.sql("SELECT meta->>'priority' FROM examples WHERE id = 't1'").item()
    assert stored == "P3"
    assert (
        "1 row already in the workspace has other values in priority (the fields beside id, "
        "text, gold and split); ingest keeps the stored ones, which LFs read (a new"
        in " ".join(summary.notes)
    )
    # The second read: a field named like a JSON path ($, /) is a field all the same.
    dollars, again = tmp_path / "d.csv", tmp_path / "e.csv"
    dollars.write_text("id,text,$price,/path\nt1,one text,1,a\n")
    again.write_text("id,text,$price,/path\nt1,one text,2,b\n")
    with Workspace(tmp_path / "dollars.duckdb") as ws:
        ingest(ws, dollars, labels=["a", "b"])
        said = " ".join(ingest(ws, again).notes)
    assert "1 row already in the workspace has other values in $price, /path (the" in said
    # Trial 64c: texts ingested first without --label-column, then with it, kept the
    # gold among the fields, where LFs read it, and the note named no column.
    gold = tmp_path / "gold.csv"
    gold.write_text("id,text,label\ng1,a text,a\ng2,another,b\n")
    with Workspace(tmp_path / "gold.duckdb") as ws:
        ingest(ws, gold, labels=["a", "b"])
        summary = ingest(ws, gold, label_column="label")
    assert (
        "2 rows already in the workspace have other values in label (the fields beside id, "
        "text, gold and split); ingest keeps the stored ones, which LFs read; label, read as "
        "gold now, stays among the fields, where LFs can read the gold (a new workspace"
        in " ".join(summary.notes)
    )
    # The second read: gold read from a column per aspect.
    wide = tmp_path / "wide.csv"
    wide.write_text("id,text,food,staff\nw1,a text,positive,\nw2,another,,negative\n")
    with Workspace(tmp_path / "wide.duckdb") as ws:
        ingest(
            ws, wide, kind="aspects", labels=["positive", "negative"], attributes=["food", "staff"]
        )
        summary = ingest(ws, wide, label_column=["food", "staff"])
    assert "; food, staff, read as gold now, stay among the fields, where LFs" in " ".join(
        summary.notes
    )


def test_aspect_gold_as_a_long_table_is_named_as_such(tmp_path: Path) -> None:
    # Trial 58e: a table of (id, attribute, label) was refused as "two people's answers?"
    # with a CLI command to import them.
    long = pl.DataFrame(
        {
            "id": ["r1", "r1", "r2"],
            "text": ["good food, slow staff", "good food, slow staff", "fine"],
            "attribute": ["food", "staff", "food"],
            "label": ["positive", "negative", "neutral"],
        }
    )
    with Workspace(tmp_path / "ws.duckdb") as ws:
        with pytest.raises(InputError) as error:
            ingest(
                ws,
                long,
                kind="aspects",
                attributes=["food", "staff"],
                labels=["positive", "negative", "neutral"],
                label_column="label",
            )
        assert not ws.has_task()
    said = str(error.value)
    assert "id 'r1' appears twice with the same text and the gold 'positive' and 'negative'" in said
    assert "pivot a table of one row per attribute first" in said
    assert "two people" not in said


def test_a_csv_cut_short_mid_row_is_refused(tmp_path: Path) -> None:
    # Trial 58b: the last row of a copy stopped half-way ("t12518,Pasta a", its label
    # field and line end missing) was stored as a text, without a word.
    cut = tmp_path / "cut.csv"
    cut.write_text("id,text,label\nt1,hello there,spam\nt2,Pasta a")
    with Workspace(tmp_path / "ws.duckdb") as ws:
        with pytest.raises(InputError) as error:
            ingest(ws, cut, label_column="label")
        assert not ws.has_task()
    assert str(error.value) == (
        f"{cut}: its last line has 2 of the header's 3 fields and no line end ('t2,Pasta a'): "
        "the file looks cut short (a copy or download stopped?); complete it, or end the "
        "line if the row is whole"
    )
    # Whole rows without a last line end, or ending in a quoted field, or a last line
    # longer than the end read (the second read: refused), are read.
    for name, text in (
        ("whole.csv", "id,text,label\nt1,hello there,spam\nt2,Pasta a,ham"),
        ("quoted.csv", 'id,text,label\nt1,hello there,spam\nt2,"Pasta\n a",ham'),
        ("long.csv", f"id,text,label\nt1,hello there,spam\nt2,{'word ' * 20_000},ham"),
    ):
        (tmp_path / name).write_text(text)
        with Workspace(tmp_path / f"{name}.duckdb") as ws:
            assert (
                ingest(ws, tmp_path / name, label_column="label", labels=["ham", "spam"]).added == 2
            )
    # A short row with its line end is no cut: read, and warned of (trial 68b).
    ended = tmp_path / "ended.csv"
    ended.write_text("id,text,label\nt1,hello there,spam\nt2,Pasta a\n")
    with (
        Workspace(tmp_path / "ended.duckdb") as ws,
        pytest.warns(LabelkitWarning, match=r"1 row with fewer fields than the header's 3"),
    ):
        assert ingest(ws, ended, label_column="label", labels=["ham", "spam"]).added == 2
    # Excel's unnamed empty columns at the end may be left out of a row, unsaid.
    excel = tmp_path / "excel.csv"
    excel.write_text("id,text,,\nt1,hello there,,\nt2,Pasta a\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_table(excel).height == 2
    # Spaces after the last line end are a row of empty cells, said as such (the second
    # read: they were called a cut).
    spaces = tmp_path / "spaces.csv"
    spaces.write_text("id,text,label\nt1,hello there,spam\nt2,Pasta a,ham\n ")
    with Workspace(tmp_path / "spaces.duckdb") as ws:
        read = ingest(ws, spaces, label_column="label", labels=["ham", "spam"])
    assert read.added == 2
    assert f"{spaces}: 1 row with every cell empty skipped (the first: row 3)" in read.notes


def test_multilabel_gold_as_a_table_of_one_row_per_label_is_named_as_such(
    tmp_path: Path,
) -> None:
    # The second read: the aspects' advice (a pivot on 'attribute') was given for tags,
    # whose gold is a list of labels.
    long = pl.DataFrame(
        {
            "id": ["r1", "r1"],
            "text": ["slow app, crashes", "slow app, crashes"],
            "label": ["speed", "crash"],
        }
    )
    with Workspace(tmp_path / "ws.duckdb") as ws, pytest.raises(InputError) as error:
        ingest(ws, long, kind="multilabel", labels=["speed", "crash"], label_column="label")
    said = str(error.value)
    assert "its labels in a JSON array (or a polars list)" in said
    assert "group_by(['id', 'text']).agg('label')" in said
    assert "pivot" not in said


def test_an_empty_label_is_no_gold_in_every_format(tmp_path: Path) -> None:
    # Trial 60a: JSONL's "label": "" was refused as an unknown label '', where an
    # empty CSV cell is no gold.
    rows = [
        {"id": "1", "text": "refund please", "label": "billing"},
        {"id": "2", "text": "app crashes", "label": ""},
        {"id": "3", "text": "where is it", "label": "  "},
        {"id": "4", "text": "hello", "label": None},
    ]
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in rows))
    csv = tmp_path / "t.csv"
    csv.write_text('id,text,label\n1,refund please,billing\n2,app crashes,""\n3,where is it," "\n')
    for path in (jsonl, csv):
        with Workspace(tmp_path / f"{path.suffix[1:]}.duckdb") as ws:
            ingest(ws, path, id_column="id", label_column="label", labels=["billing", "bug"])
            gold = ws.sql("SELECT id, gold FROM examples ORDER BY id").rows()
        assert gold[:3] == [("1", "billing"), ("2", None), ("3", None)], path
