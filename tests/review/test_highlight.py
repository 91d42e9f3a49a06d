from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl

from labelkit import (
    Workspace,
    apply_lfs,
    ingest,
    keyword_lf,
    labeling_function,
    pattern_lf,
    regex_lf,
)
from labelkit.lf import length_lf
from labelkit.review.highlight import lf_spans, matches


def test_spans_of_keyword_and_regex_lfs_that_voted(workspace: Workspace) -> None:
    apply_lfs(
        workspace,
        [
            keyword_lf("subscribe", ["SUBSCRIBE"], "spam"),
            regex_lf("channel", r"my\s+channel", "spam"),
            keyword_lf("song", ["song"], "ham"),
            length_lf("long", "spam", min_words=3),
            labeling_function(lambda x: "spam", name="always"),
        ],
    )
    text = "subscribe to my channel please"
    spans = [(s.source, s.label, text[s.start : s.end]) for s in lf_spans(workspace, "a1", text)]
    assert spans == [("subscribe", "spam", "subscribe"), ("channel", "spam", "my channel")]
    assert lf_spans(workspace, "a4", "great video") == []
    # Trial 55a: a keyword matched with any accent is shown where it matched so.
    apply_lfs(workspace, [keyword_lf("subscribe", ["subscríbe"], "spam", accents=False)])
    shown = [(s.source, text[s.start : s.end]) for s in lf_spans(workspace, "a1", text)]
    assert ("subscribe", "subscribe") in shown


def test_spans_of_spacy_pattern_lfs_that_voted(workspace: Workspace) -> None:
    # Trial 52b: the phrases and token patterns a pattern LF voted for were not shown.
    apply_lfs(
        workspace,
        [
            pattern_lf("plug", "spam", phrases=["my channel"]),
            pattern_lf("please", "spam", token_patterns=[[{"LOWER": "please"}]]),
        ],
    )
    text = "subscribe to my channel please"
    spans = [(s.source, text[s.start : s.end]) for s in lf_spans(workspace, "a1", text)]
    assert spans == [("plug", "my channel"), ("please", "please")]


def test_matches_count_characters_and_skip_empty_matches() -> None:
    text = "Ünïcode 🙏 my MY mY\u200b my"
    assert [text[a:b] for a, b in matches(r"(?i)\bmy\b", text)] == ["my", "MY", "mY", "my"]
    assert matches(r"x*", "abc") == [], "empty matches have nothing to show"
    assert matches(r"(", "abc") == [], "a pattern polars refuses shows nothing"


SPANS = """
import json, sys
from labelkit import Workspace
from labelkit.review.highlight import lf_spans
with Workspace(sys.argv[1], read_only=True) as ws:
    text = ws.sql("SELECT text FROM examples WHERE id = 'c1'")["text"][0]
    print(json.dumps([[s.start, s.end, s.source] for s in lf_spans(ws, "c1", text)]))
"""


def test_a_catastrophic_regex_highlights_promptly_with_the_spans_it_voted_on(
    tmp_path: Path,
) -> None:
    # Linear in polars, but Python's backtracking re needs about 2**50 steps on this text
    # before it gets past the "!": the reviewer's screen (and the whole server) froze.
    text = "check out my channel for the best videos on youtube! thanks"
    csv = tmp_path / "comments.csv"
    pl.DataFrame({"id": ["c1"], "text": [text], "label": ["ham"]}).write_csv(csv)
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        ingest(ws, csv, id_column="id", label_column="label", labels=["ham", "spam"])
        apply_lfs(
            ws,
            [
                regex_lf("ends_in_words", r"(\w+\s?)+$", "ham"),
                keyword_lf("channel", ["channel"], "spam"),
            ],
        )
        assert ws.sql("SELECT count(*) AS n FROM votes")["n"][0] == 2, "both LFs voted"
    # In a subprocess, so that a hang ends at the timeout instead of holding this one.
    result = subprocess.run(
        [sys.executable, "-c", SPANS, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    spans = json.loads(result.stdout)
    assert spans == [[13, 20, "channel"], [53, 59, "ends_in_words"]]
    assert (text[13:20], text[53:59]) == ("channel", "thanks")
