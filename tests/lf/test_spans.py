"""Span labeling functions: matching, snapping, applying into span_votes, analysis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from labelkit import (
    InputError,
    LabelingFunctionError,
    LabelkitWarning,
    Task,
    Workspace,
    apply_lfs,
    import_votes,
    ingest,
    keyword_lf,
    load_lfs,
    summarize_lfs,
)
from labelkit.lf import apply_lfs_to_frame
from labelkit.lf.spans import (
    SpanExample,
    compute_span_votes,
    phrase_span_lf,
    regex_span_lf,
    span_labeling_function,
    token_span_lf,
)
from labelkit.spans import tokenize
from tests.test_cli import run

TASK = Task(("TERM", "BRAND"), kind="spans")


def spans_of(lfs: list, texts: list[str]) -> list[tuple]:
    frame = pl.DataFrame({"id": [f"t{i}" for i in range(len(texts))], "text": texts})
    spans, errors = compute_span_votes(lfs, frame, TASK)
    assert errors.height == 0, errors.rows()
    return sorted(spans.rows())


def test_phrases_match_whole_tokens_case_insensitively_with_exact_offsets() -> None:
    parts = phrase_span_lf("parts", "TERM", ["battery", "Screen"])
    texts = ["I ❤️ my 💻 battery", "SCREEN and batteryless", "screen"]
    assert spans_of([parts], texts) == [
        ("t0", "parts", 10, 17, "TERM"),
        ("t1", "parts", 0, 6, "TERM"),
        ("t2", "parts", 0, 6, "TERM"),
    ]
    exact = phrase_span_lf("exact", "TERM", ["Screen"], attr="ORTH")
    assert spans_of([exact], ["screen", "a Screen"]) == [("t1", "exact", 2, 8, "TERM")]


def test_a_phrase_matches_nfd_text_at_its_own_offsets(tmp_path: Path) -> None:
    gazetteer = tmp_path / "places.txt"
    gazetteer.write_text("café\nbar\n")
    places = phrase_span_lf("places", "TERM", gazetteer)
    text = unicodedata.normalize("NFD", "the café")
    # Trial 45: in NFD, a period after the word's accent stayed in its token, and the
    # phrase did not match there.
    period = unicodedata.normalize("NFD", "a café. Then")
    assert spans_of([places], [text, "the café", period]) == [
        ("t0", "places", 4, 9, "TERM"),
        ("t1", "places", 4, 8, "TERM"),
        ("t2", "places", 2, 7, "TERM"),
    ]
    assert [period[a:b] for a, b in tokenize([period])[0]] == ["a", period[2:7], ".", "Then"]


def test_overlapping_matches_of_one_lf_keep_the_longest() -> None:
    parts = phrase_span_lf("parts", "TERM", ["battery", "battery life", "life"])
    assert spans_of([parts], ["battery life is long"]) == [("t0", "parts", 0, 12, "TERM")]


def test_regex_matches_snap_outward_to_tokens() -> None:
    memory = regex_span_lf("memory", r"ram|atter", "TERM")
    assert spans_of([memory], ["8GB RAM, good battery"]) == [
        ("t0", "memory", 4, 7, "TERM"),
        ("t0", "memory", 14, 21, "TERM"),
    ]
    spaces = regex_span_lf("spaces", r"\s+", "TERM")
    assert spans_of([spaces], ["a  b"]) == []


def test_a_regex_marks_the_whole_match_or_the_group_asked_for() -> None:
    # Trial 56a: "years of ([A-Z]...)" marked "6 years of Terraform." on 44 texts, all
    # wrong, and there was no way to mark the group.
    text = "6 years of Terraform. Also 2+ years of Go or some years of (?)"
    pattern = r"\d+\+? years? of ([A-Z][\w+#]*)"
    whole = regex_span_lf("years_of", pattern, "SKILL")
    assert [text[a:b] for _, _, a, b, _ in spans_of([whole], [text])] == [
        "6 years of Terraform",
        "2+ years of Go",
    ]
    grouped = regex_span_lf("years_of", pattern, "SKILL", group=1)
    assert [text[a:b] for _, _, a, b, _ in spans_of([grouped], [text])] == ["Terraform", "Go"]
    named = regex_span_lf("named", r"of (?P<skill>Go)|(?P<other>\(\?\))", "SKILL", group="skill")
    assert [text[a:b] for _, _, a, b, _ in spans_of([named], [text])] == ["Go"]
    assert grouped.definition != whole.definition, "a new group reruns the LF"
    assert "group" not in json.loads(whole.definition), "older LFs keep their definitions"
    with pytest.raises(InputError, match=r"has no group 2 \(it has 1\)"):
        regex_span_lf("years_of", pattern, "SKILL", group=2)


def test_token_patterns_mark_their_match() -> None:
    sizes = token_span_lf("sizes", "TERM", [[{"LIKE_NUM": True}, {"LOWER": "inch"}]])
    assert spans_of([sizes], ["a 15 inch screen"]) == [("t0", "sizes", 2, 9, "TERM")]


def test_python_span_lfs_return_offsets_or_spacy_spans() -> None:
    @span_labeling_function
    def tuples(x: SpanExample) -> list:
        at = x.text.find("Dell")
        return [(at, at + 4, "BRAND"), (at + 6, at + 8, "O")] if at >= 0 else None

    @span_labeling_function(label="TERM")
    def last_token(x: SpanExample) -> list:
        return [x.doc[-1:], (0, 2)]

    assert spans_of([tuples, last_token], ["my Dell keyboard"]) == [
        ("t0", "last_token", 0, 2, "TERM"),
        ("t0", "last_token", 8, 16, "TERM"),
        ("t0", "tuples", 3, 7, "BRAND"),
        ("t0", "tuples", 8, 16, "O"),  # inside "keyboard": snapped to the token
    ]


def test_a_python_span_lf_returning_a_bad_span_abstains_there_and_is_named() -> None:
    @span_labeling_function
    def odd(x: SpanExample) -> list | str:
        if x.text.startswith("bad"):
            return [(0, 3, "PART")]
        if x.text.startswith("two"):
            # Trial 45: both were stored, two types on the same tokens from one source.
            return [(0, 3, "TERM"), (2, 7, "BRAND")]
        if x.text.startswith("back"):
            # Trial 47: "not inside the text ... with start < end" of a span inside it.
            return [(6, 2, "TERM")]
        if x.text.startswith("update"):
            # Trial 65b: two overlapping spans inside one token passed as one vote.
            return [(0, 4, "TERM"), (2, 6, "TERM")]
        if x.text.startswith("twice"):
            return [(0, 5, "TERM"), (0, 5, "TERM")]  # the same span twice is one vote
        return "TERM" if x.text.startswith("word") else [(0, 3, "TERM")]

    texts = ["bad one", "good one", "two types", "word", "backwards", "update now", "twice"]
    frame = pl.DataFrame({"id": list("abcdefg"), "text": texts})
    spans, errors = compute_span_votes([odd], frame, TASK)
    assert spans.rows() == [("b", "odd", 0, 4, "TERM"), ("g", "odd", 0, 5, "TERM")]
    assert errors.rows() == [
        (
            "odd",
            "a",
            "bad one",
            "returned label 'PART', not one of the task's entity types ['TERM', 'BRAND'] or 'O'",
        ),
        (
            "odd",
            "c",
            "two types",
            "returned overlapping spans [0, 3, 'TERM'] and [0, 9, 'BRAND'] (on its tokens): "
            "a source marks each token once",
        ),
        (
            "odd",
            "d",
            "word",
            "returned 'TERM', not spans: return (start, end, label) character offsets, "
            "(start, end) with the LF's label, or spaCy Span objects",
        ),
        (
            "odd",
            "e",
            "backwards",
            "returned (6, 2, 'TERM'), which is backwards: it ends (2) before it starts (6)",
        ),
        (
            "odd",
            "f",
            "update now",
            "returned spans [0, 4, 'TERM'] and [2, 6, 'TERM'], which cover the same tokens "
            "[0, 6, 'TERM']: a source marks each token once",
        ),
    ]


def test_a_span_lf_that_never_casts_a_valid_vote_is_refused(gold_ws: Workspace) -> None:
    # Trial 45: a span LF returning a label instead of spans on every row was stored as
    # abstaining, where a classification LF doing the same stops the run.
    @span_labeling_function
    def label_only(x: SpanExample) -> str | None:
        return None if x.id == "e4" else "TERM"

    with pytest.raises(LabelingFunctionError, match=r"'label_only' .*it never cast a valid vote"):
        apply_lfs(gold_ws, [label_only])
    assert gold_ws.sql("SELECT count(*) AS n FROM span_votes")["n"][0] == 0
    with pytest.warns(LabelkitWarning, match="3 failed rows abstained"):
        applied = apply_lfs(gold_ws, [label_only], allow_failing_lfs=True)
    assert applied.error_counts == {"label_only": 3}


GOLD = [
    {"id": "e1", "text": "The battery life is great", "gold": [[4, 16, "TERM"]]},
    {"id": "e2", "text": "Screen and keyboard", "gold": [[0, 6, "TERM"], [11, 19, "TERM"]]},
    {"id": "e3", "text": "Dell support", "gold": [[0, 4, "BRAND"], [5, 12, "TERM"]]},
    {"id": "e4", "text": "no gold here but a battery", "gold": None},
]


@pytest.fixture
def gold_ws(tmp_path: Path) -> Iterator[Workspace]:
    source = tmp_path / "gold.jsonl"
    source.write_text("".join(json.dumps({**row, "split": "dev"}) + "\n" for row in GOLD))
    with Workspace(tmp_path / "spans.duckdb") as ws:
        ingest(
            ws,
            source,
            kind="spans",
            labels=["TERM", "BRAND"],
            label_column="gold",
            split_column="split",
        )
        yield ws


@span_labeling_function
def battery_brand(x: SpanExample) -> list:
    at = x.text.find("battery")
    return [(at, at + 7, "BRAND")] if x.id == "e1" else []


LFS = [
    phrase_span_lf("parts", "TERM", ["battery", "screen", "keyboard"]),
    token_span_lf("quality", "TERM", [[{"LOWER": "battery"}, {"LOWER": "life"}]]),
    regex_span_lf("brands", r"del", "BRAND"),
    battery_brand,
]


def test_apply_stores_span_votes_and_reuses_current_ones(gold_ws: Workspace) -> None:
    applied = apply_lfs(gold_ws, LFS)
    assert applied.errors.height == 0
    stored = gold_ws.sql(
        'SELECT example_id, source, start, "end", label FROM span_votes ORDER BY ALL'
    ).rows()
    assert stored == [
        ("e1", "battery_brand", 4, 11, "BRAND"),
        ("e1", "parts", 4, 11, "TERM"),
        ("e1", "quality", 4, 16, "TERM"),
        ("e2", "parts", 0, 6, "TERM"),
        ("e2", "parts", 11, 19, "TERM"),
        ("e3", "brands", 0, 4, "BRAND"),
        ("e4", "parts", 19, 26, "TERM"),
    ]
    assert applied.spans is not None and sorted(applied.spans.rows()) == stored
    assert gold_ws.sql("SELECT count(*) AS n FROM votes")["n"][0] == 0
    again = apply_lfs(gold_ws, LFS)
    assert again.reused == ["parts", "quality", "brands", "battery_brand"]


def test_span_lf_summary_against_gold_computed_by_hand(gold_ws: Workspace) -> None:
    apply_lfs(gold_ws, LFS)
    # A source that only says where no entity is: it conflicts with brands' "Dell" (e3)
    # but is no entity overlapping it (trial K: sources complete with "O" overlapped 0.99).
    outside = {"example_id": ["e3", "e4"], "source": "none_here", "start": 0, "end": 4}
    import_votes(gold_ws, pl.DataFrame(outside | {"label": "O"}))
    summary = {row["lf"]: row for row in summarize_lfs(gold_ws, split="dev").iter_rows(named=True)}
    parts = summary["parts"]
    # parts: battery (e1, gold is "battery life": wrong bounds), Screen and keyboard (e2,
    # both right), battery in e4 (no gold, not judged). Gold TERM spans: 1 + 2 + 1 = 4.
    assert (parts["coverage"], parts["spans"]) == (3 / 4, 4)
    assert (parts["tp"], parts["fp"], parts["fn"]) == (2, 1, 2)
    assert parts["precision"] == pytest.approx(2 / 3)
    assert parts["recall"] == pytest.approx(2 / 4)
    assert parts["f1"] == pytest.approx(2 * 2 / (3 + 4))
    # Its e1 battery overlaps quality's "battery life" (same label, other bounds) and
    # battery_brand's "battery" (another label); its three other spans overlap nothing.
    assert (parts["overlaps"], parts["conflicts"], parts["boundary"]) == (1 / 4, 1 / 4, 1 / 4)
    quality = summary["quality"]
    assert (quality["tp"], quality["fp"], quality["fn"]) == (1, 0, 3)
    assert (quality["precision"], quality["recall"]) == (1.0, 0.25)
    assert quality["f1"] == pytest.approx(2 * 1 / (1 + 4))
    assert (quality["conflicts"], quality["boundary"]) == (1.0, 1.0)
    brand = summary["battery_brand"]
    assert (brand["tp"], brand["fp"], brand["fn"], brand["f1"]) == (0, 1, 1, 0.0)
    assert (brand["conflicts"], brand["boundary"]) == (1.0, 0.0)
    brands = summary["brands"]  # "del" snapped to "Dell"
    assert (brands["precision"], brands["recall"], brands["f1"]) == (1.0, 1.0, 1.0)
    assert (brands["coverage"], brands["overlaps"], brands["conflicts"]) == (1 / 4, 0.0, 1.0)
    assert (brands["spans"], brands["o_spans"]) == (1, 0)
    none_here = summary["none_here"]
    assert (none_here["coverage"], none_here["spans"], none_here["o_spans"]) == (0.0, 0, 2)
    assert none_here["labels"] == [] and none_here["tp"] == 0


def test_span_lfs_on_a_frame_with_their_types_named_vote_spans() -> None:
    # Trial 56a: labels=["SKILL", "TITLE"] was refused as "this workspace's task is
    # classification", with no workspace about.
    frame = pl.DataFrame({"text": ["Python developer wanted", "a team of 3"]})
    skills = phrase_span_lf("skills", "SKILL", ["python"])
    applied = apply_lfs_to_frame([skills], frame, labels=["SKILL", "TITLE"])
    assert applied.spans is not None
    assert applied.spans.rows() == [("0", "skills", 0, 6, "SKILL")]
    text_lf = keyword_lf("kw", ["team"], "TITLE")
    with pytest.raises(InputError, match=r"'skills' votes spans, but the task is classification"):
        apply_lfs_to_frame([skills, text_lf], frame, labels=["SKILL", "TITLE"])


def test_text_lfs_on_a_spans_task_and_span_lfs_elsewhere_are_refused(
    gold_ws: Workspace, workspace: Workspace
) -> None:
    with pytest.raises(InputError, match=r"'kw' votes on whole texts, but .* task is spans"):
        apply_lfs(gold_ws, [keyword_lf("kw", ["battery"], "TERM")])
    with pytest.raises(InputError, match=r"'parts' votes spans, but .* task is classification"):
        apply_lfs(workspace, [LFS[0]])
    with pytest.raises(InputError, match=r"'brand' votes 'PART': not one of the task's entity"):
        apply_lfs(gold_ws, [phrase_span_lf("brand", "PART", ["dell"])])
    # Trial K: only the first bad LF was named, and a label in the wrong case got no hint.
    bad = [phrase_span_lf("lower", "term", ["dell"]), phrase_span_lf("part", "PART", ["x"])]
    with pytest.raises(
        InputError,
        match=r"^2 labeling functions vote labels that are not the task's entity types "
        r"\['TERM', 'BRAND'\] \(or 'O': no entity\): 'lower' votes 'term' \(did you mean "
        r"'TERM'\?\); 'part' votes 'PART'$",
    ):
        apply_lfs(gold_ws, [*bad, LFS[0]])


def test_strict_stops_at_a_failing_python_span_lf_and_writes_nothing(gold_ws: Workspace) -> None:
    @span_labeling_function
    def fails(x: SpanExample) -> list:
        if x.id == "e2":
            raise RuntimeError("boom")
        return None

    with pytest.raises(LabelingFunctionError, match="boom"):
        apply_lfs(gold_ws, [fails], strict=True)
    assert gold_ws.sql("SELECT count(*) AS n FROM span_votes")["n"][0] == 0
    applied = apply_lfs(gold_ws, [fails])
    assert applied.errors["example_id"].to_list() == ["e2"]
    stored = gold_ws.sql("SELECT source, example_id FROM lf_errors").rows()
    assert stored == [("fails", "e2")]


def test_cli_ingests_applies_imports_and_analyzes_spans(tmp_path: Path) -> None:
    source = tmp_path / "gold.jsonl"
    # e5 has no gold and no span: coverage counts it, the scores do not.
    rows = [*GOLD, {"id": "e5", "text": "all quiet", "gold": None}]
    source.write_text("".join(json.dumps({**row, "split": "dev"}) + "\n" for row in rows))
    lfs = tmp_path / "my_lfs.py"
    lfs.write_text(
        "from labelkit.lf.spans import phrase_span_lf\n"
        "parts = phrase_span_lf('parts', 'TERM', ['battery', 'screen', 'keyboard'])\n"
    )
    votes = tmp_path / "votes.csv"
    votes.write_text("example_id,source,start,end,label\ne3,gpt,0,4,BRAND\n")
    ws = tmp_path / "ws.duckdb"
    ingested = run(
        "ingest",
        ws,
        source,
        "--kind",
        "spans",
        "--labels",
        "TERM,BRAND",
        "--label-column",
        "gold",
        "--split-column",
        "split",
    )
    assert ingested.returncode == 0, ingested.stderr
    assert (
        "task: spans" in ingested.stdout
        and "labels (order of labels / --labels): TERM, BRAND" in ingested.stdout
    )
    applied = run("apply", ws, "--lfs", lfs)
    assert applied.returncode == 0, applied.stderr
    # A phrase list is a span pattern, not a spaCy pattern LF (trial 53f).
    assert applied.stderr.startswith("apply: 1 LF (1 span pattern) on 5 examples\n")
    imported = run("import-votes", ws, votes, "--kind", "llm")
    assert imported.returncode == 0, imported.stderr
    assert "1 span from 1 source: gpt 1" in imported.stdout
    analyzed = run("analyze", ws)
    assert analyzed.returncode == 0, analyzed.stderr
    row = next(line for line in analyzed.stdout.splitlines() if "│ parts" in line)
    # coverage, spans, then tp, fp, fn, precision, recall, f1 as in the test above.
    cells = [cell.strip() for cell in row.split("│")[2:-1]]
    assert cells == [
        "TERM",
        "0.600",
        "4",
        "0.000",
        "0.000",
        "0.000",
        "2",
        "1",
        "2",
        "0.667",
        "0.500",
        "0.571",
    ]
    assert "1 of 5 texts (20.0%) get no entity span" in analyzed.stdout
    bad = run("import-votes", ws, votes.with_name("missing.csv"))
    assert bad.returncode == 1 and "missing.csv: no such file" in bad.stderr


def test_a_gazetteer_is_read_as_utf8_whatever_the_locale(tmp_path: Path) -> None:
    gazetteer = tmp_path / "places.txt"
    gazetteer.write_bytes("café\n".encode())
    script = (
        "from labelkit.lf.spans import phrase_span_lf; "
        f"print(ascii(phrase_span_lf('places', 'TERM', {str(gazetteer)!r}).phrases))"
    )
    env = {**os.environ, "LC_ALL": "POSIX", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "('caf\\xe9',)"
    gazetteer.write_bytes("café\n".encode("latin-1"))
    with pytest.raises(
        InputError,
        match=r"span LF 'places': .*places.txt line 1: byte 0xe9 is not valid UTF-8: save",
    ):
        phrase_span_lf("places", "TERM", gazetteer)
    # Trial 54a: a Prodigy patterns file read as ten "phrases" of JSON matched nothing.
    gazetteer.write_text('# products\n{"label": "PRODUCT", "pattern": [{"lower": "iphone"}]}\n')
    with pytest.raises(InputError, match=r"places.txt holds JSON patterns \(\{\"label\""):
        phrase_span_lf("places", "TERM", gazetteer)


def test_an_lf_files_gazetteer_is_found_beside_it_and_skips_comments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Trial 48a: run from another folder, the LF file's gazetteer was not found, and a
    # "# comment" line became a phrase.
    project = tmp_path / "proj"
    project.mkdir()
    (project / "tools.txt").write_text("# cookware\n\nwok\n#wok\ndutch oven\n#\n")
    (project / "cooking.py").write_text(
        "from labelkit.lf.spans import phrase_span_lf\n"
        "tools = phrase_span_lf('tools', 'EQUIPMENT', 'tools.txt')\n"
    )
    monkeypatch.chdir(tmp_path)
    (tools,) = load_lfs(str(project / "cooking.py"))
    assert tools.phrases == ("wok", "#wok", "dutch oven")
    with pytest.raises(InputError, match=r"span LF 'tools': no file gone.txt or .*proj/gone.txt$"):
        (project / "broken.py").write_text(
            "from labelkit.lf.spans import phrase_span_lf\n"
            "tools = phrase_span_lf('tools', 'EQUIPMENT', 'gone.txt')\n"
        )
        load_lfs(str(project / "broken.py"))
