from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from labelkit import ReviewQueue, Workspace, bundled_dataset
from tests.openai_server import OpenAIServer

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
        assert steps == ["ingest", "apply", "llm", "aggregate", "flag", "train"]
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
        ("apply", "--lfs", "labeling_functions.youtube"),
        ("analyze",),
        ("aggregate", "--model", "dawid_skene", "--gold-split", "dev", "--save", "ds.json"),
        ("aggregate", "--model", "majority_vote"),
        ("flag",),
        ("export", tmp_path / "clean.csv"),
        ("evaluate",),
        ("train", tmp_path / "model", "--targets", "soft", "--param", "max_epochs=3"),
        ("evaluate", "--model", tmp_path / "model" / "model-best", "--output", tmp_path / "eval"),
    ]
    outputs = {}
    for step in steps:
        result = subprocess.run(
            [*LABELKIT, step[0], str(ws), *map(str, step[1:])],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
            env={**os.environ, "COLUMNS": "200"},
        )
        assert result.returncode == 0, (step, result.stderr)
        outputs.setdefault(step[0], []).append(result.stdout)
    assert "unchanged, votes reused: keyword_my, keyword_subscribe" in outputs["apply"][1]
    assert "least agreeing pairs" in outputs["analyze"][0]
    assert "most disputed examples" in outputs["analyze"][0]
    assert json.loads((tmp_path / "ds.json").read_text())["model"] == "dawid_skene"
    assert (tmp_path / "clean.csv").read_text().startswith("id,text,label,origin,confidence")
    assert "keyword_subscribe" in outputs["evaluate"][0]
    assert "small model (textcat), per class" in outputs["evaluate"][1]
    assert "confusion matrix: rows gold, columns predicted" in outputs["evaluate"][1]
    summary = json.loads((tmp_path / "eval" / "evaluation.json").read_text())["summary"]
    assert {row["kind"] for row in summary} >= {"lf", "label model", "small model"}
    with Workspace(ws, read_only=True) as opened:
        train_run = opened.sql("SELECT config FROM runs WHERE step = 'train'")["config"][0]
    assert json.loads(train_run)["targets"] == "soft"

    (tmp_path / "new.jsonl").write_text('{"text": "subscribe to my channel"}\n')
    predicted = run(
        "predict", tmp_path / "model" / "model-best", tmp_path / "new.jsonl", tmp_path / "out.csv"
    )
    assert predicted.returncode == 0, predicted.stderr
    assert (tmp_path / "out.csv").read_text().startswith("text,predicted,confidence,score_ham")
    packaged = run(
        "package",
        tmp_path / "model" / "model-best",
        tmp_path / "dist",
        "--name",
        "cli_test",
        "--no-wheel",
        "--workspace",
        ws,
    )
    assert packaged.returncode == 0, packaged.stderr
    meta = json.loads(
        (
            tmp_path
            / "dist"
            / "en_cli_test-0.1.0"
            / "en_cli_test"
            / "en_cli_test-0.1.0"
            / "meta.json"
        ).read_text()
    )
    # Speed is measured afresh for the package, so compare the rest.
    accuracy = [(row["method"], row["accuracy"]) for row in summary]
    assert [(row["method"], row["accuracy"]) for row in meta["labelkit"]["summary"]] == accuracy


def test_apply_reports_failing_rows_and_strict_stops(tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    csv = tmp_path / "a.csv"
    csv.write_text("text,label\nhello there,ham\nbuy now,spam\n")
    lfs = tmp_path / "lfs.py"
    lfs.write_text(
        "from labelkit import labeling_function\n"
        "@labeling_function\n"
        "def picky(x):\n"
        "    if 'buy' in x.text:\n"
        "        raise ValueError('no shopping')\n"
        "    return 'ham'\n"
    )
    assert run("ingest", ws, csv, "--label-column", "label").returncode == 0
    lenient = run("apply", ws, "--lfs", lfs)
    assert lenient.returncode == 0, lenient.stderr
    assert "1 failed rows abstained (picky: 1)" in lenient.stderr
    assert "ValueError: no shopping" in lenient.stderr
    strict = run("apply", ws, "--lfs", lfs, "--strict")
    assert strict.returncode == 1
    assert "labeling function 'picky' failed on example" in strict.stderr
    assert "'buy now'" in strict.stderr


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


def test_llm_and_review_commands(tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    csv = tmp_path / "a.csv"
    rows = ["subscribe to me,spam", "nice song,ham", "http://x.io,spam", "love it,ham"]
    csv.write_text("text,label\n" + "\n".join(rows * 3) + "\n")
    assert run("ingest", ws, csv, "--label-column", "label").returncode == 0
    with OpenAIServer() as server:
        asking = ("llm", ws, "--model", "m", "--instructions", "Spam?", "--split", "all")
        endpoint = ("--base-url", server.base_url, "--api-key", "k")
        prices = ("--input-price", "1", "--output-price", "2")
        dry = run(*asking, *prices, "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "llm:m: 4 prompts, 0 cached, 4 to ask" in dry.stdout and "estimated $" in dry.stdout
        shots = run(*asking, "--few-shot", "2", "--few-shot-split", "train", "--dry-run")
        assert shots.returncode == 0, shots.stderr
        assert "llm:m+2shot: 4 prompts, 0 cached, 4 to ask" in shots.stdout
        result = run(*asking, *endpoint, *prices)
        assert server.requests and len(server.requests) == 4, "the dry run asked nothing"
    assert result.returncode == 0, result.stderr
    assert "llm:m: 4 prompts, 0 cached, 4 answered, 0 failed" in result.stdout
    assert "cost $0.0001" in result.stdout, "4 x (20 in + 5 out) tokens at $1 / $2 per million"
    with Workspace(ws) as workspace:
        workspace.con.execute("INSERT INTO queue SELECT id, 1, 'test', gold, gold, 0 FROM examples")
    review = subprocess.run(
        [*LABELKIT, "review", str(ws), "--reviewer", "ana"],
        input="a2q",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert review.returncode == 0, review.stderr
    with Workspace(ws, read_only=True) as workspace:
        decisions = workspace.sql("SELECT reviewer, action, label FROM decisions").rows()
    assert [d[:2] for d in decisions] == [("ana", "accept"), ("ana", "label")]
    assert decisions[1][2] == "spam"
    with Workspace(ws, read_only=True) as workspace:
        focus = ReviewQueue(workspace).pending()["suggested_label"][0]
    focused = subprocess.run(
        [*LABELKIT, "review", str(ws), "--reviewer", "bo", "--focus", focus],
        input="aq",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert focused.returncode == 0, focused.stderr
    assert f"Is this {focus}?" in focused.stdout
    stats = run("review-stats", ws)
    assert stats.returncode == 0, stats.stderr
    assert "errors_per_100" in stats.stdout and "suggested_right" in stats.stdout


def test_import_answers_command(tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    csv = tmp_path / "a.csv"
    csv.write_text("id,text,label\nx1,hello there,ham\nx2,buy now,spam\n")
    answers = tmp_path / "answers.tsv"
    answers.write_text("x1\tham\nx2\tno idea\n")
    assert run("ingest", ws, csv, "--id-column", "id", "--label-column", "label").returncode == 0
    result = run("import-answers", ws, answers, "--source", "old-gpt", "--no-header")
    assert result.returncode == 0, result.stderr
    assert "llm:old-gpt: 2 answers, 1 parsed into labels, 1 kept as abstains" in result.stdout
    lettered = tmp_path / "answer-davinci"
    lettered.write_text("x1\t&&&&B\nx2\tA: ham\n")
    result = run(
        "import-answers",
        ws,
        lettered,
        "--source",
        "davinci",
        "--no-header",
        "--format",
        "tsv",
        "--letters",
        "spam,ham",
    )
    assert result.returncode == 0, result.stderr
    assert "llm:davinci: 2 answers, 2 parsed into labels" in result.stdout
    with Workspace(ws, read_only=True) as workspace:
        labels = workspace.sql("SELECT example_id, label FROM votes WHERE source = 'llm:davinci'")
    assert sorted(labels.rows()) == [("x1", "ham"), ("x2", "spam")]
    # Letters read through the task's own (sorted) label order would be silently wrong.
    refused = run(
        "import-answers",
        ws,
        lettered,
        "--source",
        "d",
        "--no-header",
        "--format",
        "tsv",
        "--letters",
    )
    assert refused.returncode != 0 and "requires an argument" in refused.stderr
    aliased = tmp_path / "aliased.csv"
    aliased.write_text("id,answer\nx1,junk\nx2,Genuine!\n")
    result = run(
        "import-answers",
        ws,
        aliased,
        "--source",
        "a",
        "--alias",
        "spam=junk,advert",
        "--alias",
        "ham=genuine",
    )
    assert "llm:a: 2 answers, 2 parsed into labels" in result.stdout, result.stderr


def test_serve_starts_the_web_reviewer_on_the_given_port(tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    csv = tmp_path / "a.csv"
    csv.write_text("text,label\nhello there,ham\nbuy now,spam\n")
    assert run("ingest", ws, csv, "--label-column", "label").returncode == 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [*LABELKIT, "serve", str(ws), "--port", str(port), "--token", "t0k"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert f"http://127.0.0.1:{port}/?token=t0k" in server.stdout.readline()
        for _ in range(100):
            try:
                config = httpx.get(f"http://127.0.0.1:{port}/api/config", params={"token": "t0k"})
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert config.json()["labels"] == ["ham", "spam"]
        assert httpx.get(f"http://127.0.0.1:{port}/api/config").status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=10)
