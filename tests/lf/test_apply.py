from __future__ import annotations

import pytest

from labelkit import (
    Example,
    InputError,
    LabelingFunctionError,
    LabelMatrix,
    Workspace,
    apply_lfs,
    keyword_lf,
    labeling_function,
    lf_summary,
)
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
    applied = apply_lfs(workspace, [SUBSCRIBE, SONG])
    loaded = LabelMatrix.from_workspace(workspace)
    assert loaded.example_ids == applied.example_ids
    assert loaded.sources == ["song", "subscribe"]
    assert (loaded.codes[:, [1, 0]] == applied.codes).all()
    test_only = LabelMatrix.from_workspace(workspace, split="test")
    assert test_only.example_ids == ["a5", "a6"]
    assert test_only.codes.tolist() == [[-1, 1], [0, -1]]


def test_an_lf_that_raises_names_itself_and_the_row(workspace: Workspace) -> None:
    @labeling_function
    def fragile(x: Example) -> str | None:
        if "video" in x.text:
            raise ValueError("cannot handle videos")
        return None

    before = table_counts(workspace)
    with pytest.raises(LabelingFunctionError) as error:
        apply_lfs(workspace, [SUBSCRIBE, fragile])
    assert error.value.lf_name == "fragile"
    assert error.value.example_id == "a4"
    assert "great video" in str(error.value) and "cannot handle videos" in str(error.value)
    assert table_counts(workspace) == before


def test_an_lf_returning_an_unknown_label_is_refused(workspace: Workspace) -> None:
    bad = labeling_function(lambda x: "SPAM", name="shouty")
    with pytest.raises(LabelingFunctionError, match=r"'shouty' failed on example 'a1'.*'SPAM'"):
        apply_lfs(workspace, [bad])
    with pytest.raises(InputError, match=r"'kw' votes 'eggs'"):
        apply_lfs(workspace, [keyword_lf("kw", ["x"], "eggs")])
    with pytest.raises(InputError, match=r"repeated: \['subscribe'\]"):
        apply_lfs(workspace, [SUBSCRIBE, SUBSCRIBE])


def test_summary_counts_coverage_overlaps_conflicts_and_accuracy(workspace: Workspace) -> None:
    my = keyword_lf("my", ["my"], "spam")
    love = keyword_lf("love", ["love", "subscribe"], "ham")
    matrix = apply_lfs(workspace, [SUBSCRIBE, my, love])
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
