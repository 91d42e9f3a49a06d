from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from labelkit import (
    Example,
    InputError,
    LabelingFunctionError,
    LabelMatrix,
    Task,
    Workspace,
    apply_lfs,
    ingest,
    keyword_lf,
    labeling_function,
    lf_summary,
    load_lfs,
)
from labelkit.lf import compute_votes
from tests.helpers import table_counts

SUBSCRIBE = keyword_lf("subscribe", ["subscribe"], "spam")
SONG = keyword_lf("song", ["song"], "ham")


def test_apply_stores_sparse_votes_and_sources(workspace: Workspace) -> None:
    apply_lfs(workspace, [SUBSCRIBE, SONG])
    stored = workspace.sql("SELECT source, example_id, label FROM votes ORDER BY 1, 2").rows()
    assert stored == [
        ("song", "a3", "ham"),
        ("song", "a6", "ham"),
        ("subscribe", "a1", "spam"),
        ("subscribe", "a5", "spam"),
    ]
    sources = workspace.sql("SELECT name, kind FROM sources ORDER BY name").rows()
    assert sources == [("song", "lf"), ("subscribe", "lf")]


def test_reapplying_replaces_an_lfs_votes(workspace: Workspace) -> None:
    apply_lfs(workspace, [SUBSCRIBE])
    apply_lfs(workspace, [keyword_lf("subscribe", ["money"], "spam")])
    assert workspace.sql("SELECT example_id FROM votes").rows() == [("a5",)]


def test_matrix_roundtrips_through_the_workspace(workspace: Workspace) -> None:
    applied = apply_lfs(workspace, [SUBSCRIBE, SONG]).matrix
    loaded = LabelMatrix.from_workspace(workspace)
    assert loaded.example_ids == applied.example_ids
    assert loaded.sources == ["song", "subscribe"]
    assert (loaded.codes[:, [1, 0]] == applied.codes).all()
    test_only = LabelMatrix.from_workspace(workspace, split="test")
    assert test_only.example_ids == ["a5", "a6"]
    assert test_only.codes.tolist() == [[-1, 1], [0, -1]]


@labeling_function
def fragile(x: Example) -> str | None:
    if "video" in x.text:
        raise ValueError("cannot handle videos")
    return "spam" if "my" in x.text else None


def test_an_lf_that_raises_abstains_there_and_the_row_is_kept(workspace: Workspace) -> None:
    applied = apply_lfs(workspace, [SUBSCRIBE, fragile])
    assert applied.errors.rows() == [
        ("fragile", "a4", "great video", "ValueError: cannot handle videos")
    ]
    assert applied.matrix.to_frame()["fragile"].to_list() == [
        "spam",
        "spam",
        None,
        None,
        None,
        None,
    ]
    assert workspace.sql("SELECT source, example_id, error FROM lf_errors").rows() == [
        ("fragile", "a4", "ValueError: cannot handle videos")
    ]
    assert workspace.sql("SELECT count(*) AS n FROM votes WHERE source = 'subscribe'")["n"][0] == 2


def test_strict_stops_at_the_failing_row_and_writes_nothing(workspace: Workspace) -> None:
    before = table_counts(workspace)
    with pytest.raises(LabelingFunctionError) as error:
        apply_lfs(workspace, [SUBSCRIBE, fragile], strict=True)
    assert error.value.lf_name == "fragile"
    assert error.value.example_id == "a4"
    assert "great video" in str(error.value) and "cannot handle videos" in str(error.value)
    assert table_counts(workspace) == before


def test_an_lf_returning_an_unknown_label_is_refused(workspace: Workspace) -> None:
    bad = labeling_function(lambda x: "SPAM", name="shouty")
    with pytest.raises(LabelingFunctionError, match=r"'shouty' failed on example 'a1'.*'SPAM'"):
        apply_lfs(workspace, [bad], strict=True)
    assert apply_lfs(workspace, [bad]).errors["example_id"].to_list() == [
        "a1",
        "a2",
        "a3",
        "a4",
        "a5",
        "a6",
    ]
    with pytest.raises(InputError, match=r"'kw' votes 'eggs'"):
        apply_lfs(workspace, [keyword_lf("kw", ["x"], "eggs")])
    with pytest.raises(InputError, match=r"repeated: \['subscribe'\]"):
        apply_lfs(workspace, [SUBSCRIBE, SUBSCRIBE])


def test_unchanged_lfs_are_not_rerun(workspace: Workspace, tmp_path: Path) -> None:
    def apply_runs() -> int:
        return workspace.sql("SELECT count(*) AS n FROM runs WHERE step = 'apply'")["n"][0]

    assert apply_lfs(workspace, [SUBSCRIBE, SONG]).reused == []
    again = apply_lfs(workspace, [SUBSCRIBE, SONG])
    assert again.reused == ["subscribe", "song"] and apply_runs() == 1
    assert again.matrix.codes[:, 0].tolist() == [1, -1, -1, -1, 1, -1]
    changed = apply_lfs(workspace, [SUBSCRIBE, keyword_lf("song", ["song", "video"], "ham")])
    assert changed.reused == ["subscribe"]
    assert workspace.sql("SELECT example_id FROM votes WHERE source = 'song'").rows() == [
        ("a3",),
        ("a4",),
        ("a6",),
    ]
    assert apply_lfs(workspace, [SUBSCRIBE], force=True).reused == []
    # An LF that failed somewhere runs again, in case what it failed on has changed.
    apply_lfs(workspace, [fragile])
    assert apply_lfs(workspace, [fragile]).reused == []
    # New examples: every LF must vote on them.
    more = tmp_path / "more.csv"
    more.write_text("id,text,label,split\nb1,subscribe now,spam,train\n")
    ingest(workspace, more, id_column="id", label_column="label", split_column="split")
    refreshed = apply_lfs(workspace, [SUBSCRIBE])
    assert refreshed.reused == []
    assert (
        "b1"
        in workspace.sql("SELECT example_id FROM votes WHERE source = 'subscribe'")[
            "example_id"
        ].to_list()
    )


def test_python_lfs_run_in_processes_with_the_same_votes(tmp_path: Path) -> None:
    # Defined in a file loaded by path: not importable by name in another process, so
    # this only works because workers are forked with the LFs in memory.
    file = tmp_path / "local_lfs.py"
    file.write_text(
        "from labelkit import labeling_function\n"
        "@labeling_function\n"
        "def digits(x):\n"
        "    if x.text.endswith('13'):\n"
        "        raise KeyError(x.text)\n"
        "    return 'spam' if sum(map(int, x.text.split()[-1])) % 3 == 0 else None\n"
    )
    (digits,) = load_lfs(str(file))
    n = 50_000
    frame = pl.DataFrame({"id": [f"r{i}" for i in range(n)], "text": [f"n {i}" for i in range(n)]})
    task = Task(labels=("ham", "spam"))
    parallel = compute_votes([digits], frame, task, n_jobs=2)
    serial = compute_votes([digits], frame, task, n_jobs=1)
    expected = [-1 if i % 100 == 13 or sum(map(int, str(i))) % 3 else 1 for i in range(n)]
    assert parallel.matrix.codes[:, 0].tolist() == expected
    assert (serial.matrix.codes == parallel.matrix.codes).all()
    assert parallel.errors["example_id"].to_list() == [f"r{i}" for i in range(n) if i % 100 == 13]
    assert parallel.errors["error"][0] == "KeyError: 'n 13'"


def test_summary_counts_coverage_overlaps_conflicts_and_accuracy(workspace: Workspace) -> None:
    my = keyword_lf("my", ["my"], "spam")
    love = keyword_lf("love", ["love", "subscribe"], "ham")
    matrix = apply_lfs(workspace, [SUBSCRIBE, my, love]).matrix
    gold = workspace.sql("SELECT gold FROM examples ORDER BY id")["gold"].to_list()
    summary = {row["lf"]: row for row in lf_summary(matrix, gold).iter_rows(named=True)}
    # subscribe votes a1, a5; my votes a1, a2; love votes a1, a3, a5 (as ham).
    assert summary["subscribe"]["coverage"] == pytest.approx(2 / 6)
    assert summary["subscribe"]["overlaps"] == pytest.approx(2 / 6)
    assert summary["subscribe"]["conflicts"] == pytest.approx(2 / 6)
    assert summary["my"]["conflicts"] == pytest.approx(1 / 6)
    assert summary["love"]["polarity"] == ["ham"]
    assert (summary["love"]["correct"], summary["love"]["incorrect"]) == (1, 2)
    assert summary["my"]["accuracy"] == 1.0
