"""import_decisions: labels a person gave elsewhere, stored as review decisions."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from labelkit import (
    InputError,
    LabelkitWarning,
    ReviewQueue,
    Workspace,
    aggregate,
    apply_lfs,
    cleaned_labels,
    import_decisions,
    ingest,
    keyword_lf,
)
from tests.helpers import table_counts


def import_with_cli(path: Path, answers: Path, reviewer: str) -> subprocess.CompletedProcess[str]:
    """``labelkit import-decisions`` as a user runs it; it must succeed."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "labelkit",
            "import-decisions",
            path,
            answers,
            "--reviewer",
            reviewer,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done


def decided(ws: Workspace) -> list[tuple]:
    return ws.sql(
        "SELECT example_id, attribute, reviewer, action, label, shown FROM decisions "
        "ORDER BY decision_id"
    ).rows()


def test_labels_from_another_tool_become_reviewed_labels_of_the_cleaned_set(
    workspace: Workspace, tmp_path: Path
) -> None:
    # Trial 54a: a Prodigy user's accepted labels could be gold (which trains nothing)
    # or votes (which the LFs overruled, 13 times of 13 wrongly); not reviewed labels.
    apply_lfs(workspace, [keyword_lf("subscribe", ["subscribe"], "spam")])
    aggregate(workspace, "majority_vote")
    answers = tmp_path / "prodigy.csv"
    # a1: the label model says spam, the person too; a3 has no label, no queue item.
    answers.write_text("example_id,label\na1, spam\na3,ham\n")
    assert import_decisions(workspace, answers, reviewer="prodigy") == {
        "stored": 2,
        "standing": 0,
        "rejected": 0,
        "ignored": 0,
    }
    assert decided(workspace) == [
        ("a1", "", "prodigy", "label", "spam", False),
        ("a3", "", "prodigy", "label", "ham", False),
    ]
    cleaned = cleaned_labels(workspace, texts=False)
    assert cleaned.select("id", "label", "origin").rows() == [
        ("a1", "spam", "review"),
        ("a3", "ham", "review"),
    ]
    # Trial 58f: an exported set's column is id, as ingest reads it.
    exported = pl.DataFrame({"id": ["a1"], "label": ["spam"], "origin": ["review"]})
    assert import_decisions(workspace, exported, reviewer="prodigy")["standing"] == 1
    # The same file again stores nothing; a changed answer is a new, newest decision.
    assert import_decisions(workspace, answers, reviewer="prodigy") == {
        "stored": 0,
        "standing": 2,
        "rejected": 0,
        "ignored": 0,
    }
    again = pl.DataFrame({"example_id": ["a3"], "label": ["spam"]})
    assert import_decisions(workspace, again, reviewer="prodigy")["stored"] == 1
    assert cleaned_labels(workspace, texts=False).row(1)[:2] == ("a3", "spam")
    # Trial 63a: review-stats counted the imported labels on queued items as answered,
    # and the rest nowhere; they are counted apart, on every item.
    queue = ReviewQueue(workspace)
    workspace.con.execute("INSERT INTO queue VALUES ('a1', 1.0, 'cleanlab', 'spam', 'ham', 0, '')")
    queue.answer("a1", "accept", reviewer="ana")
    assert queue.by_reviewer().select("reviewer", "answered", "imported").rows() == [
        ("ana", 1, 0),
        ("prodigy", 0, 2),
    ]
    # Undo takes an imported decision back, as any other.
    assert queue.undo(reviewer="prodigy") == "a3"
    assert cleaned_labels(workspace, texts=False).row(1)[:2] == ("a3", "ham")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("example_id,label\na1,spam\nzz,ham\n", "row 2: no example zz in the workspace"),
        ("example_id,label\na1,spam\na2,eggs\n", 'row 2: label "eggs" is not one of ham, spam'),
        # Trial 59c: "Prix " read as a label unlike "prix", for no reason shown.
        (
            "example_id,label\na1,Spam \n",
            'row 1: label "Spam" is not one of ham, spam (labels are told apart by case: spam?)',
        ),
        (
            "example_id,label\na1,spam\na1,ham\n",
            "row 2: a second decision on a1 (the first: row 1)",
        ),
        ("example_id,label\na1,\n", "row 1: no label"),
        ("example_id,answer\na1,spam\n", "no column(s) ['label']; a table of decisions"),
        # Trial 58f: a Label Studio export was read and refused as columns missing.
        (
            '[{"id": 1, "data": {"text": "x"}, "annotations": []}]',
            "looks like a Label Studio export, which is not read",
        ),
    ],
)
def test_a_bad_row_is_named_and_nothing_is_stored(
    workspace: Workspace, tmp_path: Path, table: str, message: str
) -> None:
    answers = tmp_path / ("answers.json" if table.startswith("[") else "answers.csv")
    answers.write_text(table)
    before = table_counts(workspace)
    with pytest.raises(InputError, match=re.escape(message)):
        import_decisions(workspace, answers, reviewer="ana")
    assert table_counts(workspace) == before


def test_every_bad_row_is_counted_and_the_first_five_named(
    workspace: Workspace, tmp_path: Path
) -> None:
    # Trial 63c: a team's CSV of several mistakes took a run per mistake to find.
    answers = tmp_path / "answers.csv"
    answers.write_text(
        "example_id,label\na1,spam\nzz,ham\na2,eggs\na3,\nyy,ham\nxx,spam\nww,spam\na2,ham\n"
    )
    before = table_counts(workspace)
    with pytest.raises(InputError) as raised:
        import_decisions(workspace, answers, reviewer="ana")
    assert str(raised.value) == (
        f"{answers}: 7 rows cannot be stored: row 2: no example zz in the workspace; "
        'row 3: label "eggs" is not one of ham, spam; row 4: no label; '
        "row 5: no example yy in the workspace; row 6: no example xx in the workspace; "
        "and 2 more rows like these; nothing was stored"
    )
    assert table_counts(workspace) == before


def test_an_aspects_decision_names_its_attribute(aspects_file: Path) -> None:
    with Workspace(aspects_file) as ws:
        rows = pl.DataFrame(
            {
                "example_id": ["r1", "r2"],
                "attribute": ["staff", "price"],
                "label": ["negative", "none"],
            }
        )
        assert import_decisions(ws, rows, reviewer="ana")["stored"] == 2
        cleaned = cleaned_labels(ws, texts=False).filter(pl.col("origin") == "review")
        assert cleaned.select("id", "attribute", "label").rows() == [
            ("r1", "staff", "negative"),
            ("r2", "price", "none"),
        ]
        with pytest.raises(InputError, match=r"no column\(s\) \['attribute'\]"):
            import_decisions(ws, rows.drop("attribute"), reviewer="ana")
        wrong = rows.with_columns(attribute=pl.lit("decor"))
        with pytest.raises(InputError, match="row 1: unknown attribute decor; the attributes"):
            import_decisions(ws, wrong, reviewer="ana")


def test_the_cli_stores_them_and_says_how_many(workspace: Workspace, tmp_path: Path) -> None:
    apply_lfs(workspace, [keyword_lf("song", ["song"], "ham")])
    aggregate(workspace, "majority_vote")
    path = workspace.path
    workspace.close()
    answers = tmp_path / "answers.jsonl"
    answers.write_text('{"example_id": "a4", "label": "ham"}\n')
    done = import_with_cli(path, answers, "bo")
    assert done.stdout.startswith("1 decision of bo stored: export and train take them")
    with Workspace(path, read_only=True) as ws:
        assert decided(ws) == [("a4", "", "bo", "label", "ham", False)]


def test_prodigy_answers_store_the_accepted_rows_alone(
    workspace: Workspace, tmp_path: Path
) -> None:
    # Trial 57d: 48 rejected and 4 ignored rows of a textcat.teach export were stored as
    # the labels they refused; and decisions on gold texts, in dev and test, trained
    # nothing without a word.
    path = workspace.path
    workspace.close()
    answers = tmp_path / "prodigy.jsonl"
    answers.write_text(
        '{"example_id": "a1", "label": "spam", "answer": "accept"}\n'
        '{"example_id": "a2", "label": "ham", "answer": "reject"}\n'
        '{"example_id": "a3", "label": "spam", "answer": "ignore"}\n'
        '{"example_id": "a4", "accept": ["ham"], "answer": "accept"}\n'
        '{"example_id": "a5", "label": "spam", "answer": "accept"}\n'
    )
    done = import_with_cli(path, answers, "pd")
    said = " ".join(done.stdout.split())
    assert said.startswith("3 decisions of pd stored")
    assert "the 1 rejected and 1 ignored rows are no decisions" in said
    assert (
        f"warning: 1 decision of {answers} is on texts of dev or test, which training never reads"
    ) in " ".join(done.stderr.split())
    with Workspace(path, read_only=True) as ws:
        assert decided(ws) == [
            ("a1", "", "pd", "label", "spam", False),
            ("a4", "", "pd", "label", "ham", False),
            ("a5", "", "pd", "label", "spam", False),
        ]


def test_a_prodigy_row_is_named_by_its_place_in_the_file(workspace: Workspace) -> None:
    # The second read: rows left out as rejected shifted the row an error named, and a
    # choice of two options read as "no label".
    rows = pl.DataFrame(
        {
            "example_id": ["a1", "a2", "a3"],
            "label": ["spam", "spam", "eggs"],
            "answer": ["reject", "ignore", "accept"],
        }
    )
    with pytest.raises(InputError, match=r'frame row 3: label "eggs" is not one of'):
        import_decisions(workspace, rows, reviewer="pd")
    choices = pl.DataFrame(
        {
            "example_id": ["a1", "a2"],
            "accept": [["spam"], ["spam", "ham"]],
            "answer": ["accept", "accept"],
        }
    )
    with pytest.raises(InputError, match=r"frame row 2: Prodigy's accept lists 2 options"):
        import_decisions(workspace, choices, reviewer="pd")
    assert decided(workspace) == []


def test_decisions_from_a_spreadsheet_in_its_code_page_and_ids_without_zeros(
    tmp_path: Path,
) -> None:
    # Trial 59c: --encoding was advised and did not exist; Excel's 1265 for 01265 was
    # "no example 1265" with no word of the zeros.
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(
            ws,
            pl.DataFrame({"id": ["01265", "01266"], "text": ["trop cher", "livré tard"]}),
            id_column="id",
            labels=["prix", "qualité"],
        )
        answers = tmp_path / "answers.csv"
        answers.write_bytes("example_id;label\n01265;qualité\n".encode("cp1252"))
        assert import_decisions(ws, answers, reviewer="amélie", encoding="cp1252")["stored"] == 1
        assert ws.sql("SELECT label FROM decisions")["label"].to_list() == ["qualité"]
        answers.write_text("example_id,label\n1266,prix\n")
        with pytest.raises(InputError, match=r"row 1: no example 1266 in the workspace \(the "
                           r"workspace has 01266: a spreadsheet drops leading zeros"):  # fmt: skip
            import_decisions(ws, answers, reviewer="amélie")


def test_a_prodigy_multilabel_export_answers_every_option_and_copies_told_apart_are_warned(
    tmp_path: Path,
) -> None:
    # Trial 63a: a textcat_multilabel row was refused ("accept lists 2 options"), and a
    # text exported twice with different answers was settled by row order unsaid (one
    # text, though its copies differ on two labels: the second read).
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(
            ws,
            pl.DataFrame(
                {
                    "id": ["m1", "m2", "m3", "m4"],
                    "text": ["refund my bill", "parcel late", "parcel late", "hello"],
                }
            ),
            id_column="id",
            kind="multilabel",
            labels=["billing", "refund", "shipping"],
        )
        options = [
            {"id": label, "text": label.title()} for label in ("billing", "refund", "shipping")
        ]
        export = tmp_path / "prodigy.jsonl"
        pl.DataFrame(
            {
                "example_id": ["m1", "m2", "m3", "m4"],
                "accept": [["billing", "refund"], [], ["shipping", "billing"], ["billing"]],
                "options": [options, options, options, options[:2]],
                "answer": ["accept", "accept", "accept", "reject"],
            }
        ).write_ndjson(export)
        with pytest.warns(
            LabelkitWarning,
            match=r"1 text of .*prodigy.jsonl is given different labels under different ids "
            r"\(first: m2 and m3 \(billing\)\): .* the newest decision's",
        ):
            counts = import_decisions(ws, export, reviewer="pd")
        # A reject is one text left out, not one per option.
        assert counts == {"stored": 9, "standing": 0, "rejected": 1, "ignored": 0}
        assert sorted(decided(ws)) == sorted(
            [
                ("m1", "billing", "pd", "label", "yes", False),
                ("m1", "refund", "pd", "label", "yes", False),
                ("m1", "shipping", "pd", "label", "no", False),
                ("m2", "billing", "pd", "label", "no", False),
                ("m2", "refund", "pd", "label", "no", False),
                ("m2", "shipping", "pd", "label", "no", False),
                ("m3", "billing", "pd", "label", "yes", False),
                ("m3", "refund", "pd", "label", "no", False),
                ("m3", "shipping", "pd", "label", "yes", False),
            ]
        )
        # The second read: options as strings, an accepted option not offered, and a
        # batch where nothing was chosen (read as a list of nulls) were mishandled.
        pl.DataFrame(
            {
                "example_id": ["m4"],
                "accept": [["shipping"]],
                "options": [["billing", "refund"]],
                "answer": ["accept"],
            }
        ).write_ndjson(export)
        assert import_decisions(ws, export, reviewer="pd2")["stored"] == 3
        pl.DataFrame({"example_id": ["m4"], "accept": [[]], "answer": ["accept"]}).write_ndjson(
            export
        )
        assert import_decisions(ws, export, reviewer="pd3")["stored"] == 3
        assert ws.sql(
            "SELECT reviewer, attribute, label FROM decisions WHERE example_id = 'm4' "
            "ORDER BY reviewer, attribute"
        ).rows() == [
            ("pd2", "billing", "no"),
            ("pd2", "refund", "no"),
            ("pd2", "shipping", "yes"),
            ("pd3", "billing", "no"),
            ("pd3", "refund", "no"),
            ("pd3", "shipping", "no"),
        ]
