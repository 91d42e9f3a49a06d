from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from labelkit import (
    LabelkitError,
    ReviewQueue,
    Workspace,
    cleaned_labels,
    find_label_issues,
    ingest,
)


def noisy_workspace(tmp_path: Path, n: int = 300, flips: int = 15) -> tuple[Workspace, set[str]]:
    """Texts whose words say their class; ``flips`` of them carry the wrong label."""
    rng = np.random.default_rng(0)
    spam_words = ["subscribe", "channel", "free", "click", "money", "link"]
    ham_words = ["song", "love", "voice", "beautiful", "dance", "lyrics"]
    rows = []
    for i in range(n):
        label = "spam" if i % 2 else "ham"
        words = rng.choice(spam_words if label == "spam" else ham_words, 4).tolist()
        rows.append({"id": f"t{i}", "text": " ".join(words), "label": label})
    frame = pl.DataFrame(rows)
    flipped = {f"t{i}" for i in rng.choice(n, flips, replace=False)}
    path = tmp_path / "data.csv"
    frame.write_csv(path)
    ws = Workspace(tmp_path / "ws.duckdb")
    ingest(ws, path, id_column="id", label_column="label", test_fraction=0, dev_fraction=0)
    noisy = frame.with_columns(
        pl.when(pl.col("id").is_in(list(flipped)))
        .then(pl.when(pl.col("label") == "spam").then(pl.lit("ham")).otherwise(pl.lit("spam")))
        .otherwise(pl.col("label"))
        .alias("label")
    )
    ws.con.register("noisy", noisy.to_arrow())
    ws.con.execute(
        "INSERT INTO predictions SELECT id, 'test', label, 0.9, [0.5, 0.5], 0, '' FROM noisy"
    )
    return ws, flipped


def test_flags_the_flipped_labels_and_queues_them(tmp_path: Path) -> None:
    ws, flipped = noisy_workspace(tmp_path)
    with ws:
        flags = find_label_issues(ws)
        found = set(flags["example_id"])
        assert len(found & flipped) >= 12, "most injected errors are found"
        assert len(found - flipped) <= 5, "few clean labels are flagged"
        assert flags["quality"].is_sorted() and flags["rank"].to_list() == list(
            range(1, len(found) + 1)
        )
        assert (flags["given_label"] != flags["suggested_label"]).all()
        queued = ws.sql("SELECT example_id FROM queue ORDER BY priority DESC")[
            "example_id"
        ].to_list()
        assert queued == flags["example_id"].to_list()
        find_label_issues(ws)
        assert ws.sql("SELECT count(*) AS n FROM queue")["n"][0] == len(found), "no duplicates"


def test_too_few_examples_per_label_is_explained(workspace: Workspace) -> None:
    workspace.con.execute(
        "INSERT INTO predictions SELECT id, 'test', gold, 1.0, [1.0, 0.0], 0, '' FROM examples"
    )
    with pytest.raises(LabelkitError, match=r"at least 5 examples of every label in split 'train'"):
        find_label_issues(workspace)


def test_other_reasons_are_recorded_with_their_evidence(tmp_path: Path) -> None:
    ws, _ = noisy_workspace(tmp_path, flips=0)
    with ws:
        ws.con.execute("UPDATE predictions SET confidence = 0.6 WHERE example_id = 't0'")
        ws.con.execute(
            """INSERT INTO sources VALUES ('kw_a', 'lf', 'a', 'a', 0), ('kw_b', 'lf', 'b', 'b', 0),
                                          ('llm:m', 'llm', 'm', 'm', 0)"""
        )
        ws.con.execute(
            """INSERT INTO votes VALUES ('t2', 'kw_a', 'ham', 0, ''), ('t2', 'kw_b', 'spam', 0, ''),
                                        ('t4', 'llm:m', 'spam', 0, ''), ('t6', 'llm:m', 'ham', 0, '')"""
        )
        flags = find_label_issues(ws)
        reasons = dict(zip(flags["example_id"], flags["reasons"], strict=True))
        # t0, t2, t4 and t6 are ham with clean labels: only the planted evidence flags them.
        assert reasons["t0"] == "label model unsure (0.6)"
        assert reasons["t2"] == "LFs conflict (ham 1, spam 1)"
        assert reasons["t4"] == "llm:m says spam"
        assert "t6" not in reasons, "an LLM that agrees is no reason"
        assert flags["priority"].is_sorted(descending=True)
        assert flags["rank"][0] == 1 and flags["example_id"][0] == "t0"
        stored = ws.sql("SELECT example_id, reason FROM flags ORDER BY 1, 2").rows()
        assert ("t2", "LFs conflict (ham 1, spam 1)") in stored
        queued = dict(ws.sql("SELECT example_id, reasons FROM queue").rows())
        assert queued["t4"] == "llm:m says spam"


@pytest.mark.parametrize(
    ("flagger", "params"), [("minilm_logreg", {}), ("spacy_textcat", {"max_epochs": 5})]
)
def test_other_flaggers_from_the_registry_find_the_flipped_labels(
    tmp_path: Path, flagger: str, params: dict[str, int]
) -> None:
    ws, flipped = noisy_workspace(tmp_path)
    with ws:
        flags = find_label_issues(ws, flagger=flagger, **params)
        by_cleanlab = set(flags.filter(pl.col("reasons").str.contains("cleanlab"))["example_id"])
        assert len(by_cleanlab & flipped) >= 12, f"{flagger} finds most injected errors"
        assert len(by_cleanlab - flipped) <= 5, f"{flagger} flags few clean labels"
        config = ws.sql("SELECT config FROM runs WHERE step = 'flag'")["config"][0]
    assert f'"flagger": "{flagger}"' in config


def test_examples_no_source_covers_are_queued_last_with_a_suggestion(tmp_path: Path) -> None:
    ws, flipped = noisy_workspace(tmp_path)
    with ws:
        uncovered = ["t0", "t1"]  # t0 is ham, t1 spam
        ws.con.execute(
            "UPDATE predictions SET label = NULL WHERE list_contains(?, example_id)", [uncovered]
        )
        flags = find_label_issues(ws)
        rows = {r["example_id"]: r for r in flags.iter_rows(named=True)}
        for example_id, label in zip(uncovered, ("ham", "spam"), strict=True):
            row = rows[example_id]
            assert row["given_label"] is None and row["quality"] is None
            assert row["suggested_label"] == label
            assert row["reasons"].startswith(f"no source covers it (classifier suggests {label}, ")
            assert row["priority"] < 0.25
        assert flags["rank"].max() >= max(rows[e]["rank"] for e in uncovered)
        likely_errors = flags.filter(pl.col("example_id").is_in(list(flipped - set(uncovered))))
        assert likely_errors["priority"].min() > max(rows[e]["priority"] for e in uncovered)
        queue = ReviewQueue(ws)
        while (item := queue.next(reviewer="ana")) and item.example_id != "t1":
            queue.answer(item.example_id, "skip", reviewer="ana")
        assert item is not None and item.given_label is None
        queue.answer("t1", "accept", reviewer="ana")
        cleaned = {r["id"]: r for r in cleaned_labels(ws).iter_rows(named=True)}
        assert (cleaned["t1"]["label"], cleaned["t1"]["origin"]) == ("spam", "review")
        assert "t0" not in cleaned, "unreviewed and unlabeled: still out of the training set"
        assert queue.stats()["errors_found"] == 0, "a label added where none was is no error"
