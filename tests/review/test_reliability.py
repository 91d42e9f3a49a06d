"""A decision is fully stored or absent, whatever happens to the process or the file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from labelkit import ReviewQueue, Workspace, WorkspaceError, ingest
from tests.helpers import review_in_threads

REVIEWER = """
import sys
from labelkit import ReviewQueue, Workspace
with Workspace(sys.argv[1]) as ws:
    queue = ReviewQueue(ws)
    while (item := queue.next(reviewer="crashy")) is not None:
        decision = queue.answer(item.example_id, "label", label="spam", reviewer="crashy",
                                comment="x" * 2000)
        print(decision, item.example_id, flush=True)
"""


def queued_workspace(tmp_path: Path, n: int) -> Path:
    csv = tmp_path / "texts.csv"
    pl.DataFrame(
        {"id": [f"x{i}" for i in range(n)], "text": [f"text {i}" for i in range(n)]}
    ).with_columns(label=pl.lit("ham")).write_csv(csv)
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        ingest(ws, csv, id_column="id", label_column="label", labels=["ham", "spam"])
        ws.con.execute(
            "INSERT INTO queue SELECT id, random(), 'test', 'ham', 'spam', 0, '' FROM examples"
        )
    return path


def test_a_killed_reviewer_loses_no_acknowledged_answer_and_leaves_no_half(
    tmp_path: Path,
) -> None:
    path = queued_workspace(tmp_path, 2000)
    process = subprocess.Popen(
        [sys.executable, "-c", REVIEWER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    acknowledged = [process.stdout.readline().split() for _ in range(40)]
    process.kill()  # SIGKILL: no cleanup, possibly in the middle of the next answer
    process.wait()
    with Workspace(path) as ws:
        decisions = ws.sql("SELECT * FROM decisions ORDER BY decision_id")
        assert decisions.height >= 40
        stored = set(
            zip(decisions["decision_id"].cast(pl.String), decisions["example_id"], strict=True)
        )
        assert {(d, e) for d, e in acknowledged} <= stored
        # Every stored decision is whole: its label, reviewer and full comment are there.
        assert (decisions["label"] == "spam").all() and (decisions["reviewer"] == "crashy").all()
        assert (decisions["comment"].str.len_chars() == 2000).all()
        assert decisions["example_id"].n_unique() == decisions.height
        # The killed reviewer's claim on the item it was showing is the only one left.
        assert ws.sql("SELECT count(*) AS n FROM claims")["n"][0] <= 1
        queue = ReviewQueue(ws)
        assert queue.progress()["reviewed"] == decisions.height


def test_writing_to_a_read_only_workspace_is_a_clear_error(tmp_path: Path) -> None:
    path = queued_workspace(tmp_path, 5)
    with Workspace(path, read_only=True) as ws:
        queue = ReviewQueue(ws)
        item = queue.next()  # peeking claims nothing, so it works read-only
        assert item is not None
        with pytest.raises(WorkspaceError, match="is open read-only"):
            queue.answer(item.example_id, "accept", reviewer="ana")
        with pytest.raises(WorkspaceError, match="is open read-only"):
            queue.next(reviewer="ana")


def test_ten_reviewers_on_a_100k_queue_never_share_or_lose_an_item(tmp_path: Path) -> None:
    path = queued_workspace(tmp_path, 100_000)
    with Workspace(path) as ws:
        handed = review_in_threads(ReviewQueue(ws), 10, per_reviewer=20)
        decisions = ws.sql("SELECT reviewer, example_id FROM decisions")
    assert len(handed) == 200 and len({item for _, item in handed}) == 200
    assert set(decisions.iter_rows()) == set(handed)


FULL_DISK_REVIEWER = """
import resource, signal, sys
from labelkit import ReviewQueue, Workspace, WorkspaceError
path, limit = sys.argv[1], int(sys.argv[2])
# A file-size limit is a full disk as DuckDB sees it: writes past it fail (EFBIG).
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
with Workspace(path) as ws:
    queue = ReviewQueue(ws)
    answered = 0
    try:
        while (item := queue.next(reviewer="filler")) is not None:
            queue.answer(item.example_id, "label", label="spam", reviewer="filler",
                         comment="x" * 2000)
            answered += 1
    except WorkspaceError as error:
        print(answered, error, sep="\\t", flush=True)
        sys.exit(3)
print(answered, "no error", sep="\\t")
"""


def test_a_full_disk_is_a_clear_error_and_leaves_every_stored_answer_whole(
    tmp_path: Path,
) -> None:
    path = queued_workspace(tmp_path, 1000)
    limit = path.stat().st_size + 64 * 1024
    result = subprocess.run(
        [sys.executable, "-c", FULL_DISK_REVIEWER, str(path), str(limit)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    answered, message = result.stdout.strip().split("\t", 1)
    assert message.startswith(f"cannot write workspace {path}"), message
    assert "File too large" in message or "No space" in message, message
    with Workspace(path) as ws:
        decisions = ws.sql("SELECT label, reviewer, comment FROM decisions")
    # Every answer acknowledged before the failure is stored, whole; none half-written.
    assert decisions.height >= int(answered) > 0
    assert decisions.rows() == [("spam", "filler", "x" * 2000)] * decisions.height
