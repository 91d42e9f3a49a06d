"""flag on a spans task: a cross-validated token tagger for cleanlab, span-level reasons,
one queue item per span."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from labelkit import InputError, LabelkitError, Workspace, WorkspaceError, import_votes
from labelkit.aggregate import aggregate
from labelkit.executors.ray_data import RayExecutor
from labelkit.flag import find_label_issues
from labelkit.flag_spans import cross_validated_proba, token_features
from labelkit.lf.spans import SpanExample, phrase_span_lf, span_labeling_function
from tests.aggregate.test_span_workspace import spans_workspace
from tests.helpers import table_counts
from tests.test_cli import cells, run

TEMPLATES = [
    "the {} is great",
    "my {} died today",
    "I love the {}",
    "{} works fine",
    "a bad {} here",
    "I hate this {}",
    "the new {} came",
    "replaced the {} twice",
    "{} broke after a week",
    "{} died fast",
]
PARTS = ["battery", "screen", "keyboard"]
TEXTS = [
    (f"t{i:02d}", template.format(part), None, "train")
    for i, (template, part) in enumerate((t, p) for t in TEMPLATES for p in PARTS)
]
TEXTS += [
    (f"n{i}", text, None, "train")
    for i, text in enumerate(
        [
            "nice laptop overall",
            "fast shipping and all",
            "the seller was kind",
            "it is a good deal",
            "Great value",
            "Nothing else to say",
        ]
    )
]
TEXTS += [
    ("x_conflict", "the battery lasts long", None, "train"),
    # "Battery" capitalised: the case-sensitive dictionaries miss it.
    ("x_missed", "Battery died again", None, "train"),
    ("x_llm", "the battery life is short", None, "train"),
    ("x_llm_only", "this trackpad is awful", None, "train"),
    ("d1", "the screen is fine", [[4, 10, "TERM"]], "dev"),
]


@span_labeling_function
def battery_is_a_brand(x: SpanExample) -> list:
    at = x.text.find("battery")
    return [(at, at + 7, "BRAND")] if x.id == "x_conflict" else []


@span_labeling_function
def the_is_a_term(x: SpanExample) -> list:
    return [(0, 3, "TERM")] if x.id == "n2" else []


LFS = [
    phrase_span_lf("parts", "TERM", PARTS, attr="ORTH"),
    phrase_span_lf("parts_again", "TERM", PARTS, attr="ORTH"),
    battery_is_a_brand,
    the_is_a_term,
]
LF_NAMES = ["battery_is_a_brand", "parts", "parts_again", "the_is_a_term"]
# An LLM source: "battery life" where the dictionaries say "battery", and a trackpad
# nobody else marks. It is kept out of the label model, so it only flags.
LLM_VOTES = pl.DataFrame(
    {
        "example_id": ["x_llm", "x_llm_only"],
        "source": ["llm:mock", "llm:mock"],
        "start": [4, 5],
        "end": [16, 13],
        "label": ["TERM", "TERM"],
    }
)


def laptop_texts(tmp_path: Path) -> Workspace:
    ws = spans_workspace(tmp_path, TEXTS, LFS)
    import_votes(ws, LLM_VOTES, kind="llm")
    return ws


@pytest.fixture(scope="module")
def flagged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, pl.DataFrame]]:
    with laptop_texts(tmp_path_factory.mktemp("flags")) as ws:
        aggregate(ws, "majority_vote", sources=LF_NAMES)
        yield ws, find_label_issues(ws)


def item(flags: pl.DataFrame, example_id: str) -> dict:
    rows = flags.filter(pl.col("example_id") == example_id)
    assert rows.height == 1, rows
    return rows.row(0, named=True)


def test_two_lfs_agree_and_a_third_conflicts(flagged: tuple[Workspace, pl.DataFrame]) -> None:
    ws, flags = flagged
    predicted = ws.sql(
        """SELECT start, "end", label, confidence FROM span_predictions
           WHERE example_id = 'x_conflict'"""
    ).rows()
    assert predicted == [(4, 11, "TERM", pytest.approx(2 / 3))]
    conflict = item(flags, "x_conflict")
    assert conflict["attribute"] == "4:11"
    assert (conflict["given_label"], conflict["suggested_label"]) == ("TERM", "TERM")
    assert conflict["reasons"] == "label model unsure (0.67); LFs conflict (TERM 2, BRAND 1)"
    assert conflict["confidence"] == pytest.approx(2 / 3)
    assert conflict["quality"] > 0.8, "the tagger learned battery from the other texts"
    assert conflict["priority"] == pytest.approx(1 - (conflict["quality"] + 2 / 3) / 2)
    queued = ws.sql("SELECT * FROM queue WHERE example_id = 'x_conflict'").row(0, named=True)
    assert queued["attribute"] == "4:11"
    assert (queued["given_label"], queued["suggested_label"]) == ("TERM", "TERM")
    assert queued["reasons"] == conflict["reasons"]
    assert queued["priority"] == pytest.approx(conflict["priority"])
    reasons = ws.sql("SELECT reason FROM flags WHERE example_id = 'x_conflict' ORDER BY reason")
    assert reasons["reason"].to_list() == [
        "LFs conflict (TERM 2, BRAND 1)",
        "label model unsure (0.67)",
    ]


@span_labeling_function
def part_with_its_verb(x: SpanExample) -> list:
    """A PHRASE over "{part} died/broke ...": a type that holds a TERM."""
    found = re.search(r"(battery|screen|keyboard) (died|broke)\b", x.text)
    return [(found.start(), found.end(), "PHRASE")] if found else []


def test_a_type_nested_in_another_is_no_conflict(tmp_path: Path) -> None:
    # Trial 58d: 7,398 DRUG and DOSE spans were queued as "LFs conflict (DOSE 1,
    # MEDICATION 1)" for lying inside a MEDICATION span.
    lfs = [phrase_span_lf("parts", "TERM", PARTS, attr="ORTH"), part_with_its_verb]
    texts = [row for row in TEXTS if not row[0].startswith("x_")]
    with spans_workspace(tmp_path, texts, lfs, labels=("TERM", "PHRASE")) as ws:
        held = ws.sql(
            """SELECT count(*) FROM span_votes p JOIN span_votes t USING (example_id)
               WHERE p.label = 'PHRASE' AND t.label = 'TERM'
                 AND p.start <= t.start AND t."end" <= p."end" """
        ).item()
        assert held == 9
        aggregate(ws, "majority_vote")
        flags = find_label_issues(ws)
    assert not flags.filter(pl.col("reasons").str.contains("conflict")).height


def test_an_obvious_entity_no_lf_catches_is_flagged_as_missed(
    flagged: tuple[Workspace, pl.DataFrame],
) -> None:
    _, flags = flagged
    missed = item(flags, "x_missed")
    assert missed["attribute"] == "0:7"  # "Battery"
    assert (missed["given_label"], missed["suggested_label"]) == ("none", "TERM")
    sure = re.search(r"no source marks it \(tagger says TERM, (0\.\d\d)\)", missed["reasons"])
    assert sure is not None and float(sure.group(1)) >= 0.7, missed["reasons"]
    assert missed["reasons"].startswith("cleanlab (quality ")
    # The label model puts a text no source marks outside every entity, surely.
    assert missed["confidence"] == 1.0
    assert missed["priority"] == pytest.approx((1 - missed["quality"]) / 2)


def test_cleanlab_flags_a_predicted_span_the_tagger_doubts(
    flagged: tuple[Workspace, pl.DataFrame],
) -> None:
    _, flags = flagged
    the = item(flags, "n2")  # one LF calls "the" a TERM in "the seller was kind"
    assert (the["attribute"], the["given_label"], the["suggested_label"]) == ("0:3", "TERM", "none")
    assert the["quality"] < 0.2
    assert the["reasons"] == f"cleanlab (quality {the['quality']:.2f}, suggests none)"
    assert the["priority"] == pytest.approx(1 - (the["quality"] + 1.0) / 2)


def test_the_llm_and_boundaries_that_disagree(flagged: tuple[Workspace, pl.DataFrame]) -> None:
    _, flags = flagged
    life = item(flags, "x_llm")
    assert (life["attribute"], life["given_label"]) == ("4:11", "TERM")
    assert life["reasons"] == (
        "boundaries disagree (4:11 by parts and parts_again, 4:16 by llm:mock); "
        "llm:mock says TERM at 4:16"
    )
    only = item(flags, "x_llm_only")
    # Trial 56a: the type the LLM marked is asked about, not "TERM, BRAND or none?".
    assert (only["attribute"], only["given_label"], only["suggested_label"]) == (
        "5:13",
        "none",
        "TERM",
    )
    assert only["reasons"] == "llm:mock says TERM"
    assert only["confidence"] is None
    assert only["priority"] == pytest.approx(1 - only["quality"])


def test_flags_are_ranked_and_queued_most_doubtful_first(
    flagged: tuple[Workspace, pl.DataFrame],
) -> None:
    ws, flags = flagged
    assert set(flags["example_id"]) == {"x_conflict", "x_missed", "n2", "x_llm", "x_llm_only"}
    assert flags["priority"].is_sorted(descending=True)
    assert flags["rank"].to_list() == list(range(1, flags.height + 1))
    queue = ws.sql("SELECT example_id, attribute FROM queue ORDER BY priority DESC")
    assert queue.rows() == flags.select("example_id", "attribute").rows()
    assert ws.sql("SELECT DISTINCT split FROM examples JOIN queue ON id = example_id").rows() == [
        ("train",)
    ]


def test_flagging_again_updates_the_queue_without_duplicates(tmp_path: Path) -> None:
    with laptop_texts(tmp_path) as ws:
        aggregate(ws, "majority_vote", sources=LF_NAMES)
        first = find_label_issues(ws)
        again = find_label_issues(ws, missed_above=0.99)
        assert "x_missed" in set(first["example_id"])
        assert "no source marks it" not in " ".join(again["reasons"])
        queued = ws.sql("SELECT example_id, attribute, reasons FROM queue")
        assert queued.height == queued.unique(["example_id", "attribute"]).height
        # The earlier item stays queued with what the new run says of it.
        missed = queued.filter(pl.col("example_id") == "x_missed")["reasons"].to_list()
        assert missed == [item(again, "x_missed")["reasons"]]
        assert ws.sql("SELECT count(*) AS n FROM flags WHERE reason LIKE 'no source%'")["n"][0] == 0


def test_bad_input_is_a_clear_error_that_changes_nothing(tmp_path: Path) -> None:
    with laptop_texts(tmp_path) as ws:
        before = table_counts(ws)
        with pytest.raises(WorkspaceError, match="no span_predictions yet: run `labelkit aggreg"):
            find_label_issues(ws)
        aggregate(ws, "majority_vote", sources=LF_NAMES)
        before = table_counts(ws)
        with pytest.raises(InputError, match=r"flagged by a token tagger.*'tfidf_logreg'"):
            find_label_issues(ws, flagger="tfidf_logreg")
        with pytest.raises(LabelkitError, match="at least 5 texts in split 'dev'; it has 1"):
            find_label_issues(ws, split="dev")
        assert table_counts(ws) == before


def test_the_tagger_sees_each_token_with_its_neighbours_and_out_of_fold() -> None:
    features = token_features(["Big screen", "", "x9"], [[(0, 3), (4, 10)], [], [(0, 2)]])
    assert features["doc"].to_list() == [0, 0, 2]
    assert features["features"][1].to_list() == [
        "bias",
        "w=screen",
        "l=screen",
        "p=scr",
        "s=een",
        "shape=x",
        "l-1=big",
        "l+1=</s>",
        "shape-1=Xx",
        "shape+1=</s>",
    ]
    assert features["features"][2].to_list()[5:8] == ["shape=xd", "l-1=<s>", "l+1=</s>"]
    # A word that says its class in one document only cannot be learned out of fold.
    X = np.eye(4)[[0, 1, 2, 3, 0, 1]]
    labels = np.array([0, 1, 0, 1, 0, 1])
    documents = np.array([0, 0, 1, 1, 2, 2])
    proba = cross_validated_proba(X, labels, documents, 2, folds=3, seed=0)
    assert proba[2, 1] == pytest.approx(proba[3, 1]), "document 1's words were unseen"
    assert proba[0, 1] < 0.5 < proba[1, 1], "document 0's words were seen in document 2"


def test_the_flag_command_shows_each_span(tmp_path: Path) -> None:
    with laptop_texts(tmp_path) as ws:
        aggregate(ws, "majority_vote", sources=LF_NAMES)
    result = run("flag", tmp_path / "spans.duckdb")
    assert result.returncode == 0, result.stderr
    assert "5 spans queued for review, highest priority first" in result.stdout
    row = cells(result.stdout, "x_conflict")
    # Trial 45: the bounds were headed "attribute"; they are start and end, as in `queue`.
    assert row[2:7] == ["4", "11", "battery", "TERM", "TERM"]
    assert "│ start │ end │ span" in result.stdout.replace("┃", "│")
    bad = run("flag", tmp_path / "spans.duckdb", "--flagger", "tfidf_logreg")
    assert bad.returncode == 1 and "flagged by a token tagger" in bad.stderr
    # --param sets the tagger here; a name it does not take is refused before any work.
    tuned = run("flag", tmp_path / "spans.duckdb", "--param", "C=1.0", "--param", "max_iter=200")
    assert tuned.returncode == 0, tuned.stderr
    bad = run("flag", tmp_path / "spans.duckdb", "--param", "c=1.0")
    assert bad.returncode == 1
    assert "the span tagger takes no parameter 'c'; it takes ['C', 'max_iter', 'n_features']" in (
        bad.stderr
    )


def test_a_spans_task_is_flagged_on_the_local_executor_only(tmp_path: Path) -> None:
    with (
        spans_workspace(tmp_path) as ws,
        pytest.raises(InputError, match="token tagger scores on the local executor"),
    ):
        find_label_issues(ws, executor=RayExecutor(workers=1))


def test_a_spans_task_has_no_spot_checks(flagged: tuple[Workspace, pl.DataFrame]) -> None:
    ws, _ = flagged
    with pytest.raises(LabelkitError, match="spot checks sample the label model's answers"):
        find_label_issues(ws, spot_check=2)


def test_the_flag_command_says_why_no_span_is_queued(tmp_path: Path) -> None:
    # Trial 53f: "0 spans queued for review" and an empty table; a type no source marks
    # could never be flagged, and nothing said so.
    texts = [(f"s{i}", f"the screen number {i} is fine", None, "train") for i in range(6)]
    with spans_workspace(tmp_path, texts, [LFS[0]]) as ws:
        aggregate(ws, "majority_vote")
    result = run("flag", tmp_path / "spans.duckdb")
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert "0 spans queued for review" in said
    assert "no span met a reason to doubt it: the label model under --unsure-below" in said
    assert "note: the label model predicts no BRAND span anywhere" in " ".join(
        result.stderr.split()
    )


def test_a_spans_flag_says_what_it_does_and_that_it_is_still_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # Trial 62d: 14 minutes on 300 long reports without a line.
    from labelkit import report

    monkeypatch.setattr(report, "PROGRESS_EVERY_S", 0.001)
    lines: list[str] = []
    with laptop_texts(tmp_path) as ws:
        aggregate(ws, "majority_vote", sources=LF_NAMES)
        find_label_issues(ws, progress=lines.append)
    assert lines[0] == "flag: a token tagger cross-validated in 5 folds"
    assert "flag: the token tagger: still running after 0 s" in capfd.readouterr().err
