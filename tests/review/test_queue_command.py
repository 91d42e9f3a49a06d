"""`labelkit queue`: the pending review items listed and exported in review order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl

from labelkit import ReviewQueue, Workspace, ingest
from labelkit.report import one_line
from tests.review.conftest import ATTACK, TEXTS


def queue(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`labelkit queue ARGS` in ``cwd``, its output piped, as in a script."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return subprocess.run(
        [sys.executable, "-m", "labelkit", "queue", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
    )


def rows(output: str) -> list[list[str]]:
    """The cells of each body row of the table in ``output``."""
    return [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in output.splitlines()
        if line.startswith("│")
    ]


def test_lists_pending_items_most_doubtful_first_and_exports_them_all(
    review_workspace: Path,
) -> None:
    with Workspace(review_workspace) as ws:
        ReviewQueue(ws).answer("w01", "accept", reviewer="ana")
    folder = review_workspace.parent
    listed = queue(review_workspace, "--limit", "3", cwd=folder)
    assert listed.returncode == 0, listed.stderr
    assert "11 items pending review, most doubtful first; the first 3 shown" in listed.stdout
    shown = rows(listed.stdout)
    assert [row[:4] for row in shown] == [
        ["1", "w02", "spam", "ham"],
        ["2", "w03", "ham", "spam"],
        ["3", "w04", "spam", "ham"],
    ]
    assert shown[0][4:] == ["cleanlab: label quality 0.10", "0.990", "I love this song so much"]

    written = queue(review_workspace, "--output", "queue.csv", cwd=folder)
    assert written.returncode == 0, written.stderr
    assert written.stdout == "11 pending items written to queue.csv\n"
    exported = pl.read_csv(folder / "queue.csv")
    assert exported.columns == [
        "rank",
        "example_id",
        "given_label",
        "suggested_label",
        "reasons",
        "priority",
        "text",
    ]
    assert exported["example_id"].to_list() == [i for i, _, _ in TEXTS[1:]]
    assert exported["priority"].to_list() == [1.0 - rank / 100 for rank in range(1, 12)]
    assert exported.filter(pl.col("example_id") == "w11")["text"].item() == ATTACK, "full text"
    # The table shows the same text on one line, cut to 60 characters.
    everything = queue(review_workspace, cwd=folder)
    w11 = next(row for row in rows(everything.stdout) if row[1] == "w11")
    short = pl.DataFrame({"text": [ATTACK]}).select(one_line("text")).item()
    assert w11[-1] == short and short.endswith("…") and len(short) == 60

    queue(review_workspace, "--limit", "2", "--output", "top.parquet", cwd=folder)
    assert pl.read_parquet(folder / "top.parquet").equals(exported.head(2))


def test_an_aspects_queue_by_attribute(aspects_file: Path) -> None:
    folder = aspects_file.parent
    listed = queue(aspects_file, "--attribute", "staff", cwd=folder)
    assert listed.returncode == 0, listed.stderr
    assert "3 items pending review for staff" in listed.stdout
    assert [row[1:5] for row in rows(listed.stdout)] == [
        ["r1", "staff", "none", "negative"],
        ["r2", "staff", "positive", "negative"],
        ["r3", "staff", "neutral", "none"],
    ]
    written = queue(aspects_file, "--output", "all.jsonl", cwd=folder)
    assert written.returncode == 0, written.stderr
    lines = [json.loads(line) for line in (folder / "all.jsonl").read_text().splitlines()]
    assert [(line["example_id"], line["attribute"]) for line in lines] == [
        ("r1", "staff"),
        ("r2", "staff"),
        ("r3", "staff"),
        ("r1", "food"),
        ("r2", "food"),
        ("r3", "price"),
    ]
    unknown = queue(aspects_file, "--attribute", "ambience", cwd=folder)
    assert unknown.returncode == 1
    assert "error: unknown attribute 'ambience'; this task's attributes are" in unknown.stderr


def test_a_spans_queue_shows_each_span(spans_file: Path) -> None:
    folder = spans_file.parent
    written = queue(spans_file, "--output", "spans.csv", cwd=folder)
    assert written.returncode == 0, written.stderr
    exported = pl.read_csv(folder / "spans.csv")
    assert exported.select("example_id", "span", "suggested_label").rows() == [
        ("s1", "battery", "TERM"),
        ("s3", "Dell", "BRAND"),
        ("s2", "keyboard", "TERM"),
        ("s1", "screen", "none"),
    ]
    assert exported.select("start", "end").row(1) == (0, 4)


def test_no_queue_bad_options_and_an_empty_one_are_said(tmp_path: Path) -> None:
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        ingest(ws, pl.DataFrame({"text": ["a", "b"], "label": ["x", "y"]}), label_column="label")
    missing = queue(path, cwd=tmp_path)
    assert missing.returncode == 1
    assert "has no review queue yet: run `labelkit flag` first" in missing.stderr
    # A flag run that queued nothing: the review is done, not unstarted.
    with Workspace(path) as ws, ws.run("flag", {}):
        pass
    empty = queue(path, cwd=tmp_path)
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout == "0 items pending review, most doubtful first\n"
    for args, said in [
        (("--attribute", "food"), "--attribute is for an aspects or multi-label task"),
        (("--output", "queue.txt"), "queue.txt: cannot export to '.txt'"),
    ]:
        refused = queue(path, *args, cwd=tmp_path)
        assert refused.returncode == 1 and said in refused.stderr, refused.stderr
