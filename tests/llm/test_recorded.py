from __future__ import annotations

import json
import warnings
from pathlib import Path

import polars as pl
import pytest

from labelkit import InputError, LabelkitWarning, LabelMatrix, Workspace, ingest
from labelkit.llm import import_answers
from tests.helpers import table_counts


def test_jsonl_answers_become_one_parsed_vote_source(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "gpt.jsonl"
    answers = [
        {"id": "a1", "answer": '{"label": "SPAM"}'},
        {"id": "a2", "answer": "This one is spam."},
        {"id": "a3", "answer": "Ham"},
        {"id": "a4", "answer": "I cannot help with that."},
    ]
    path.write_text("\n".join(json.dumps(a) for a in answers) + "\n")
    imported = import_answers(workspace, path, "gpt-4")
    assert (imported.source, imported.answers, imported.parsed, imported.unparsed) == (
        "llm:gpt-4",
        4,
        3,
        1,
    )
    votes = LabelMatrix.from_workspace(workspace, sources=["llm:gpt-4"]).to_frame()
    assert votes["llm:gpt-4"].to_list() == ["spam", "spam", "ham", None, None, None]
    kept = dict(
        workspace.sql("SELECT response, label FROM llm_cache WHERE model = 'llm:gpt-4'").rows()
    )
    assert kept["I cannot help with that."] is None, "the unparseable answer is kept raw"
    kinds = workspace.sql("SELECT name, kind FROM sources").rows()
    assert kinds == [("llm:gpt-4", "llm")]
    # Importing again replaces the source's votes rather than adding to them.
    path.write_text(json.dumps({"id": "a5", "answer": "ham"}) + "\n")
    import_answers(workspace, path, "gpt-4")
    assert workspace.sql("SELECT example_id, label FROM votes").rows() == [("a5", "ham")]


def test_tsv_without_header_takes_first_and_last_columns(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "answers.tsv"
    path.write_text('a1\tspam\t"B" spam\na6\tham\tham, definitely\n')
    imported = import_answers(workspace, path, "flan", has_header=False)
    assert imported.parsed == 2
    assert workspace.sql("SELECT example_id, label FROM votes ORDER BY 1").rows() == [
        ("a1", "spam"),
        ("a6", "ham"),
    ]


def test_ids_in_an_example_id_column_are_read_as_import_votes_reads_them(
    workspace: Workspace, tmp_path: Path
) -> None:
    # Trial 60c: a file import-decisions had just read was refused: "no column 'id'".
    path = tmp_path / "answers.csv"
    path.write_text("example_id,answer\na1,spam\na6,ham\n")
    assert import_answers(workspace, path, "flan").parsed == 2
    assert workspace.sql("SELECT example_id, label FROM votes ORDER BY 1").rows() == [
        ("a1", "spam"),
        ("a6", "ham"),
    ]


def test_answers_in_another_encoding_are_read_with_it(workspace: Workspace, tmp_path: Path) -> None:
    # Trial 25: the error pointed to --encoding, which import-answers did not have.
    path = tmp_path / "answers.csv"
    path.write_bytes("id,answer\na1,spam \u2013 caf\u00e9 offer\n".encode("cp1252"))
    with pytest.raises(InputError, match="line 2: byte 0x96 is not valid utf-8"):
        import_answers(workspace, path, "gpt-4")
    assert import_answers(workspace, path, "gpt-4", encoding="cp1252").parsed == 1
    cached = workspace.sql("SELECT response FROM llm_cache WHERE model = 'llm:gpt-4'")
    assert cached["response"].to_list() == ["spam \u2013 caf\u00e9 offer"]


def test_bare_option_letters_are_refused_and_the_run_records_how_answers_were_read(
    workspace: Workspace, tmp_path: Path
) -> None:
    # Trial 25: FLAN's answers "A".."F" imported without --letters stored an empty
    # source with no word why, and the run log did not say which --letters was used.
    path = tmp_path / "flan.tsv"
    path.write_text("id\tanswer\na1\tB\na2\tA\na3\tB\n")
    with pytest.raises(InputError, match="none of the 3 answers names a label and 3 are option"):
        import_answers(workspace, path, "flan")
    assert workspace.sql("SELECT count(*) AS n FROM votes")["n"][0] == 0
    with pytest.warns(LabelkitWarning, match=r"give no letter to \['spam'\]"):
        import_answers(workspace, path, "flan", letters=["ham"])
    import_answers(workspace, path, "flan", letters=["ham", "spam"])
    votes = workspace.sql("SELECT example_id, label FROM votes ORDER BY 1").rows()
    assert votes == [("a1", "spam"), ("a2", "ham"), ("a3", "spam")]
    config = workspace.sql(
        "SELECT config FROM runs WHERE step = 'import_answers' ORDER BY run_id DESC LIMIT 1"
    )["config"][0]
    assert json.loads(config)["letters"] == {"A": "ham", "B": "spam"}


def test_an_import_says_which_answers_it_could_not_read_and_what_it_replaced(
    workspace: Workspace, tmp_path: Path
) -> None:
    # Trial 28: 338 of 498 answers ("Moderate", "D") became abstains without a word, and
    # importing another file under an existing source replaced its votes in silence.
    first = tmp_path / "first.csv"
    first.write_text("id,answer\na1,spam\na2,Moderate\na3,moderate\na4,D\na5,Moderate\n")
    imported = import_answers(workspace, first, "gpt")
    assert imported.unread == (("Moderate", 2), ("D", 1), ("moderate", 1))
    assert (imported.replaced, imported.replaced_file) == (0, None)
    second = tmp_path / "second.csv"
    second.write_text("id,answer\na1,ham\n")
    again = import_answers(workspace, second, "gpt")
    assert (again.replaced, again.replaced_file, again.unread) == (1, "first.csv", ())


def test_bad_files_name_the_row_and_change_nothing(workspace: Workspace, tmp_path: Path) -> None:
    before = table_counts(workspace)
    bad = [
        (
            "unknown.csv",
            "id,answer\na1,spam\nzz,ham\n",
            r"unknown.csv: row 2: id 'zz' is not an example",
        ),
        (
            "twice.csv",
            "id,answer\na1,spam\na1,ham\n",
            r"twice.csv: rows 1, 2: id 'a1' is answered more than once",
        ),
        (
            "columns.csv",
            "example,text\na1,spam\n",
            r"no column 'id'; columns are \['example', 'text'\]",
        ),
        # Trial 30: neither error below said how to read a file without a header or a
        # known suffix.
        (
            "headless.csv",
            "a1,spam\na3,ham\n",
            r"no column 'id'; columns are \['a1', 'spam'\] .*--no-header",
        ),
        (
            "answers.txt",
            "id,answer\na1,spam\n",
            r"answers.txt: unknown file type '.txt'; .*, or give the format \(--format / "
            r"file_format: aspects-xml, csv, jsonl, parquet, tsv, wrench\)$",
        ),
        # Trial 45: read as WRENCH JSON, it failed on the columns it lacked.
        (
            "answers.json",
            "{}",
            r"answers.json: answers come as csv, tsv, jsonl, parquet, not wrench",
        ),
    ]
    for name, text, message in bad:
        (tmp_path / name).write_text(text)
        with pytest.raises(InputError, match=message):
            import_answers(workspace, tmp_path / name, "m")
    assert table_counts(workspace) == before


def test_answers_none_of_which_can_be_read_are_refused(
    workspace: Workspace, tmp_path: Path
) -> None:
    # Trial 31: True/False answers imported without a way to read them stored a source
    # that never votes, and --yes-no did not read them either.
    path = tmp_path / "verdicts.csv"
    path.write_text("id,answer\na1,True\na3,False\na5,True\na6,\n")
    before = table_counts(workspace)
    with pytest.raises(
        InputError,
        match=r"verdicts.csv: not one of the 3 answers could be read for this task "
        r"\(commonest: 'True' \(2\), 'False' \(1\)\); nothing was stored\. --alias",
    ):
        import_answers(workspace, path, "judge")
    assert table_counts(workspace) == before
    imported = import_answers(workspace, path, "judge", yes_no=("spam", "ham"))
    assert (imported.answers, imported.parsed) == (4, 3)
    votes = workspace.sql(
        "SELECT example_id, label FROM votes WHERE source = 'llm:judge' ORDER BY example_id"
    )
    assert votes.rows() == [("a1", "spam"), ("a3", "ham"), ("a5", "spam")]


def test_letters_out_of_the_prompts_order_are_named_from_gold(tmp_path: Path) -> None:
    # Trial 31: --letters in the wrong order made a source right on 0.330 of the dev
    # gold, chance 0.347; it stayed "ok" and nothing said why.
    labels = ["polite", "neutral", "impolite"]
    gold = [labels[i % 3] for i in range(60)]
    pl.DataFrame({"id": [f"t{i}" for i in range(60)], "text": "...", "label": gold}).write_csv(
        tmp_path / "texts.csv"
    )
    # Right 80% of the time, in the prompt's order polite (A), neutral (B), impolite (C).
    answers = [
        "ABC"[labels.index(g)] if i % 5 else "ABC"[(labels.index(g) + 1) % 3]
        for i, g in enumerate(gold)
    ]
    pl.DataFrame({"id": [f"t{i}" for i in range(60)], "answer": answers}).write_csv(
        tmp_path / "answers.csv"
    )
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, tmp_path / "texts.csv", label_column="label")
        with pytest.warns(LabelkitWarning) as caught:
            import_answers(ws, tmp_path / "answers.csv", "m", letters=sorted(labels))
        assert [str(w.message) for w in caught] == [
            "llm:m: on 60 gold rows its answers are right 33% of the time as read, and 80% "
            "reading impolite as polite, polite as impolite: were the letters (--letters) or "
            "aliases given in the prompt's order?"
        ]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            import_answers(ws, tmp_path / "answers.csv", "m", letters=labels)


def test_letters_are_read_through_the_prompts_option_order(
    workspace: Workspace, tmp_path: Path
) -> None:
    # The prompt listed spam first; the task holds ham first (sorted).
    path = tmp_path / "answer-davinci"
    path.write_text("a1\tA\na3\tB: ham\na5\t(A)\na6\tC\n")
    before = table_counts(workspace)
    with pytest.raises(InputError, match="need the prompt's option order"):
        import_answers(
            workspace, path, "davinci", has_header=False, file_format="tsv", letters=True
        )  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"option letters name labels the task lacks: \['eggs'\]"):
        import_answers(
            workspace, path, "davinci", has_header=False, file_format="tsv", letters=["eggs"]
        )
    assert table_counts(workspace) == before
    for letters in (["spam", "ham"], {"A": "spam", "B": "ham"}):
        imported = import_answers(
            workspace, path, "davinci", has_header=False, file_format="tsv", letters=letters
        )
        assert (imported.answers, imported.parsed) == (4, 3)
        labels = workspace.sql("SELECT example_id, label FROM votes ORDER BY 1").rows()
        assert labels == [("a1", "spam"), ("a3", "ham"), ("a5", "spam")]


def test_aliases_name_labels_in_imported_answers(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "answers.csv"
    path.write_text("id,answer\na1,Advert\na2,junk mail\na3,genuine comment\na4,neither\n")
    imported = import_answers(
        workspace, path, "m", aliases={"spam": ["advert", "junk mail"], "ham": ["genuine"]}
    )
    assert imported.parsed == 3
    labels = workspace.sql("SELECT example_id, label FROM votes ORDER BY 1").rows()
    assert labels == [("a1", "spam"), ("a2", "spam"), ("a3", "ham")]
