from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labelkit import Workspace, bundled_dataset

LABELKIT = [sys.executable, "-m", "labelkit"]


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would, with no LLM endpoint configured and a wide terminal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [*LABELKIT, *map(str, args)], capture_output=True, text=True, timeout=600, env=env
    )


def test_demo_runs_the_whole_pipeline_on_bundled_data(tmp_path: Path) -> None:
    result = run("demo", "--workspace", tmp_path / "demo")
    assert result.returncode == 0, result.stderr
    assert "replaying" in result.stdout and "SmolLM2-135M-Instruct" in result.stdout
    report = {
        row["method"]: row for row in json.loads((tmp_path / "demo" / "report.json").read_text())
    }
    small = next(row for row in report.values() if row["kind"] == "small model")
    assert small["coverage"] == 1.0 and small["size_mb"] > 0 and small["words_per_s"] > 0
    assert {"llm:smollm2", "majority_vote", "snorkel", "keyword_subscribe"} <= set(report)
    assert "| method |" in (tmp_path / "demo" / "report.md").read_text()
    with Workspace(tmp_path / "demo" / "workspace.duckdb", read_only=True) as ws:
        steps = ws.sql("SELECT step FROM runs ORDER BY run_id")["step"].to_list()
        assert steps == ["ingest", "apply", "llm", "aggregate", "flag"]
        assert ws.sql("SELECT count(*) AS n FROM decisions")["n"][0] == 50
        assert ws.sql("SELECT count(*) AS n FROM llm_cache")["n"][0] > 1700


def test_stage_commands_chain_on_a_workspace(tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    csvs = sorted(bundled_dataset().glob("*.csv"))[:2]
    ingest = run(
        "ingest",
        ws,
        *csvs,
        "--text-column",
        "CONTENT",
        "--id-column",
        "COMMENT_ID",
        "--label-column",
        "CLASS",
        "--label-map",
        "0=ham",
        "--label-map",
        "1=spam",
    )
    assert ingest.returncode == 0, ingest.stderr
    assert "new examples" in ingest.stdout
    steps = [
        ("apply", "--lfs", "labeling_functions.youtube"),
        ("aggregate", "--model", "majority_vote"),
        ("flag",),
        ("export", tmp_path / "clean.csv"),
        ("evaluate",),
    ]
    for step in steps:
        result = run(step[0], ws, *step[1:])
        assert result.returncode == 0, (step, result.stderr)
    assert (tmp_path / "clean.csv").read_text().startswith("id,text,label,origin,confidence")
    assert "keyword_subscribe" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("apply", "missing.duckdb", "--lfs", "labeling_functions.youtube"), "does not exist"),
        (("ingest", "{ws}", "nope.csv"), "nope.csv: no such file"),
        (("aggregate", "{ws}"), "no votes yet: run `labelkit apply` first"),
    ],
)
def test_errors_are_one_clear_line_and_exit_1(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    ws = tmp_path / "ws.duckdb"
    csv = tmp_path / "a.csv"
    csv.write_text("text,label\nhello,ham\nbuy,spam\n")
    assert run("ingest", ws, csv, "--label-column", "label").returncode == 0
    result = run(*(a.format(ws=ws) for a in args))
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
