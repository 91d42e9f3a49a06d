"""`labelkit demo --dataset laptops`: the spans pipeline end to end on the bundled
LaptopReview sentences, from the CLI as a user runs it."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import polars as pl
import pytest
from rich.console import Console

from labelkit import InputError, ReviewQueue, Workspace, ingest
from labelkit.demo import SIMULATED, _fresh_workspace
from tests.test_cli import LABELKIT

# The demo trains a ner on 2,436 sentences: about 3 minutes on 2 idle cores, over 10
# when four other jobs share them; generous so that it never ends for load alone.
DEMO_TIMEOUT = 1800


@pytest.mark.timeout(DEMO_TIMEOUT)
def test_the_laptops_demo_runs_the_spans_pipeline_on_bundled_data(tmp_path: Path) -> None:
    folder = tmp_path / "laptops"
    result = subprocess.run(
        [*LABELKIT, "demo", "--dataset", "laptops", "--workspace", str(folder)],
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT - 60,
        env={k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")},
    )
    assert result.returncode == 0, result.stderr
    assert "replaying 180 answers recorded from a real run" in result.stdout
    assert "3845 laptop-review sentences" in result.stdout
    assert "auto: " in result.stdout
    report = {row["method"]: row for row in json.loads((folder / "report.json").read_text())}
    # Every teacher scored by entity beside the ner: the four span LFs, the LLM, both
    # label models.
    teachers = {"apple_products", "laptop_parts", "part_qualities", "specs", "llm:smollm2"}
    assert teachers | {"majority_vote", "auto"} <= set(report)
    small = next(row for row in report.values() if row["kind"] == "small model")
    assert 0 < small["precision"] <= 1 and 0 < small["recall"] <= 1
    assert small["f1"] > report["llm:smollm2"]["f1"]
    assert "| method |" in (folder / "report.md").read_text()
    cleaned = [json.loads(line) for line in (folder / "cleaned.jsonl").read_text().splitlines()]
    assert len(cleaned) == 2436
    assert any(spans for spans in (row["spans"] for row in cleaned))
    with Workspace(folder / "workspace.duckdb", read_only=True) as ws:
        steps = ws.sql("SELECT step FROM runs ORDER BY run_id")["step"].to_list()
        assert steps == ["ingest", "apply", "llm", "aggregate", "flag", "train"]
        assert ws.task.kind == "spans" and ws.task.labels == ("TERM",)
        queued = ws.sql("SELECT count(*) AS n FROM queue")["n"][0]
        decided = ws.sql(
            """SELECT count(*) AS n, count(DISTINCT attribute) FILTER (WHERE attribute LIKE '%:%')
                      AS spans FROM decisions WHERE reviewer = 'simulated-gold'"""
        ).row(0)
        assert decided[0] == min(queued, 100) > 0 and decided[1] > 0
        assert ws.sql("SELECT count(*) AS n FROM llm_cache")["n"][0] == 180
        # The simulated reviewer's answers are gold's: the type of the gold span with
        # exactly the decided bounds, else none (an accept stores the type it accepts).
        answers = ws.sql(
            """SELECT d.attribute, d.label, e.gold FROM decisions d
               JOIN examples e ON e.id = d.example_id"""
        )
    for attribute, label, gold in answers.iter_rows():
        start, end = map(int, attribute.split(":"))
        truth = next((t for s, e, t in json.loads(gold) if (s, e) == (start, end)), "none")
        assert label == truth, (attribute, label, gold)


def test_the_demo_starts_over_only_on_a_workspace_of_its_own(tmp_path: Path) -> None:
    # Trial 53d: `demo --workspace` over a folder deleted its workspace.duckdb without a
    # word, whoever had answered in it.
    folder = tmp_path / "demo"
    folder.mkdir()
    with Workspace(folder / "workspace.duckdb") as ws:
        ingest(ws, pl.DataFrame({"id": ["a"], "text": ["hello"]}), labels=["ham", "spam"])
        ws.con.execute("INSERT INTO queue VALUES ('a', 1, 'cleanlab', 'ham', 'spam', 0, '')")
        ReviewQueue(ws).answer("a", "accept", reviewer=SIMULATED)
    out = io.StringIO()
    _fresh_workspace(folder, Console(file=out))
    assert "replacing" in out.getvalue() and not (folder / "workspace.duckdb").exists()
    with Workspace(folder / "workspace.duckdb") as ws:
        ingest(ws, pl.DataFrame({"id": ["a"], "text": ["hello"]}), labels=["ham", "spam"])
        ws.con.execute("INSERT INTO queue VALUES ('a', 1, 'cleanlab', 'ham', 'spam', 0, '')")
        ReviewQueue(ws).answer("a", "accept", reviewer="ana")
    with pytest.raises(InputError, match=r"holds answers by ana: the demo starts over"):
        _fresh_workspace(folder, Console(file=out))
    (folder / "workspace.duckdb").unlink()
    (folder / "workspace.duckdb").write_text("not a database")
    with pytest.raises(InputError, match=r"holds no demo's workspace"):
        _fresh_workspace(folder, Console(file=out))
    assert (folder / "workspace.duckdb").read_text() == "not a database"
