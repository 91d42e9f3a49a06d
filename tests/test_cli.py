from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import httpx
import numpy as np
import polars as pl
import pytest
from typer.main import get_command

from labelkit import (
    ReviewQueue,
    Workspace,
    aggregate,
    apply_lfs,
    bundled_dataset,
    import_votes,
    ingest,
    keyword_lf,
    summarize_lfs,
)
from labelkit.aggregate import lost_labels
from labelkit.cli import _print_per_class, app, gold_lowered_macro_f1
from labelkit.evaluation import Evaluation
from tests.helpers import free_port
from tests.openai_server import Behaviour, OpenAIServer

LABELKIT = [sys.executable, "-m", "labelkit"]
LONG_LF = "keyword_subscribe_to_my_channel_and_check_out_my_other_videos"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would, with no LLM endpoint configured and a wide terminal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [*LABELKIT, *map(str, args)], capture_output=True, text=True, timeout=600, env=env
    )


def piped(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI with its output piped and no COLUMNS set, as in `| tee` or a CI log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_") and k != "COLUMNS"}
    return subprocess.run(
        [*LABELKIT, *map(str, args)], capture_output=True, text=True, timeout=600, env=env
    )


def cells(output: str, key: str) -> list[str]:
    """The cells of the first table row with a cell that reads ``key``."""
    rows = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in output.splitlines()
        if line.startswith("│")
    ]
    return next(row for row in rows if key in row)


FLAGGED_TEXT = "free song download\nsubscribe " + "la " * 30
ROWS = [
    ("t1", "subscribe to me", "spam", "train"),
    ("t2", "nice song", "ham", "train"),
    ("t3", FLAGGED_TEXT, "spam", "train"),
    ("t4", "lovely", "ham", "train"),
    ("t5", "subscribe for more", "spam", "train"),
    ("t6", "song of the year", "ham", "train"),
    ("d1", "subscribe now", "spam", "dev"),
    ("d2", "great song", "ham", "dev"),
    ("d3", "free subscribe", "spam", "dev"),
    ("d4", "hello there", "ham", "dev"),
    ("s1", "subscribe please", "spam", "test"),
    ("s2", "my song", "ham", "test"),
    ("s3", "free stuff", "spam", "test"),
    ("s4", "win money", "spam", "test"),
    ("s5", "subscribe to my song", "ham", "test"),
]


@pytest.fixture
def voted(tmp_path: Path) -> Path:
    """A workspace on disk with train, dev and test gold, and the votes of three LFs, one
    of them with a long name."""
    csv = tmp_path / "rows.csv"
    pl.DataFrame(ROWS, schema=["id", "text", "label", "split"], orient="row").write_csv(csv)
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, csv, id_column="id", label_column="label", split_column="split")
        apply_lfs(
            ws,
            [
                keyword_lf(LONG_LF, ["subscribe"], "spam"),
                keyword_lf("song", ["song"], "ham"),
                keyword_lf("free", ["free"], "ham"),
            ],
        )
    return tmp_path / "ws.duckdb"


def test_aggregate_points_out_train_gold_auto_could_fit_with(tmp_path: Path) -> None:
    # Trial 52a: ingest put 324 of the user's gold rows in train, where auto never read
    # them, while it broke ties the wrong way; fitted with them it labeled 18% more right.
    csv = tmp_path / "rows.csv"
    words = {"spam": "subscribe", "ham": "song"}
    rows = [
        (f"{label}{i}", f"{words[label]} number {i}", label) for i in range(30) for label in words
    ]
    pl.DataFrame(rows, schema=["id", "text", "label"], orient="row").write_csv(csv)
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        ingest(ws, csv, id_column="id", label_column="label", dev_fraction=0, test_fraction=0)
        apply_lfs(ws, [keyword_lf("sub", ["subscribe"], "spam"), keyword_lf("s", ["song"], "ham")])
    result = piped("aggregate", path)
    assert result.returncode == 0, result.stderr
    assert (
        "note: 60 examples of the train split have gold labels, which auto did not use: "
        "`aggregate --gold-split train` chooses"
    ) in " ".join(result.stdout.split())
    fitted = piped("aggregate", path, "--gold-split", "train")
    assert fitted.returncode == 0, fitted.stderr
    assert "gold labels, which auto did not use" not in fitted.stdout
    assert "cross-validation over the 60 gold rows some source votes on" in " ".join(
        fitted.stdout.split()
    )


def test_piped_evaluate_shows_whole_names_and_lfs_where_they_vote(voted: Path) -> None:
    result = piped("evaluate", voted)
    assert result.returncode == 0, result.stderr
    # Test split: the long-named LF votes on s1 (right) and s5 (wrong); counting its
    # three abstains as wrong would give 0.200.
    assert cells(result.stdout, LONG_LF) == [LONG_LF, "lf", "0.400", "0.500", *["–"] * 5]
    # Majority vote: s1, s2 right, s3 wrong (free), s4 no vote, s5 a tie.
    assert cells(result.stdout, "majority_vote")[:5] == [
        "majority_vote",
        "label model",
        "0.600",
        "0.667",
        "0.400",
    ]
    # Trial 54e: 1.000 against 0.667 on 21 letters, with nothing said of how few.
    assert "gold test split (5 texts)" in result.stdout
    assert (
        "note: 5 gold texts say little: accuracy with its 95% interval: majority_vote 0.400 "
        "(0.12-0.77). Add gold to the test split to tell these apart."
    ) in " ".join(result.stderr.split())
    analyzed = piped("analyze", voted)
    assert analyzed.returncode == 0, analyzed.stderr
    assert cells(analyzed.stdout, LONG_LF)[:3] == [LONG_LF, "spam", "0.500"], "d1, d3 of dev"
    # Trial 54c: an output stream that cannot encode "–" ended in a traceback.
    ascii_only = subprocess.run(
        [*LABELKIT, "evaluate", str(voted)],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "ascii"},
        timeout=600,
    )
    assert ascii_only.returncode == 0, ascii_only.stderr
    assert b"\\u2013" in ascii_only.stdout


def test_evaluate_names_the_labels_no_gold_text_of_the_split_has(tmp_path: Path) -> None:
    # Trial 54e: oncology had no test gold, and no row or word said it was never scored.
    texts = tmp_path / "t.csv"
    texts.write_text("id,text,label,split\nt1,chest pain,cardio,test\nt2,cough,resp,test\n")
    ws = tmp_path / "ws.duckdb"
    ingested = run(
        "ingest", ws, texts, "--label-column", "label", "--split-column", "split",
        "--labels", "cardio,resp,onco",
    )  # fmt: skip
    assert ingested.returncode == 0, ingested.stderr
    with Workspace(ws) as opened:
        apply_lfs(opened, [keyword_lf("pain", ["pain"], "cardio")])
    result = piped("evaluate", ws)
    assert result.returncode == 0, result.stderr
    assert "note: no test gold text is onco: nothing here scores that label" in result.stderr
    analyzed = piped("analyze", ws, "--split", "test")
    assert analyzed.returncode == 0, analyzed.stderr
    assert "note: no gold text of the test split is onco: an LF's votes for that label" in (
        " ".join(analyzed.stderr.split())
    )


def test_analyze_judges_imported_llm_answers_as_sources(tmp_path: Path) -> None:
    # Trial 28: with only LLM answers as sources, analyze said every example got no vote.
    ws, texts, answers = tmp_path / "ws.duckdb", tmp_path / "t.csv", tmp_path / "gpt.csv"
    texts.write_text("id,text,label,split\nd1,buy now,spam,dev\nd2,hello,ham,dev\n")
    answers.write_text("id,answer\nd1,spam\nd2,spam\n")
    assert (
        run("ingest", ws, texts, "--label-column", "label", "--split-column", "split").returncode
        == 0
    )
    assert run("import-answers", ws, answers, "--source", "gpt").returncode == 0
    analyzed = piped("analyze", ws)
    assert analyzed.returncode == 0, analyzed.stderr
    assert "get no vote" not in analyzed.stdout
    other = tmp_path / "other.csv"
    other.write_text("id,answer\nd1,ham\nd2,Moderate\n")
    replaced = piped("import-answers", ws, other, "--source", "gpt")
    assert "warning: replaced the 2 votes llm:gpt held (imported from gpt.csv)" in replaced.stderr
    assert "commonest answers read as no label: 'Moderate' (1)" in replaced.stdout
    assert cells(analyzed.stdout, "llm:gpt")[:3] == ["llm:gpt", "spam", "1.000"]


def test_analyze_warns_of_two_sources_that_cast_the_same_votes(tmp_path: Path) -> None:
    # Trial 63b: two identical keyword LFs were "ok" in analyze; only aggregate said so.
    ws, texts, answers = tmp_path / "ws.duckdb", tmp_path / "t.csv", tmp_path / "a.csv"
    texts.write_text("id,text,label,split\nd1,buy now,spam,dev\nd2,hello,ham,dev\n")
    answers.write_text("id,answer\nd1,spam\nd2,ham\n")
    assert (
        run("ingest", ws, texts, "--label-column", "label", "--split-column", "split").returncode
        == 0
    )
    for name in ("gpt", "gpt_again"):
        assert run("import-answers", ws, answers, "--source", name).returncode == 0
    analyzed = piped("analyze", ws)
    assert analyzed.returncode == 0, analyzed.stderr
    assert "warning: sources 'llm:gpt' and 'llm:gpt_again' cast the same votes on every " in (
        " ".join(analyzed.stderr.split())
    )
    answers.write_text("id,answer\nd1,spam\nd2,spam\n")
    assert run("import-answers", ws, answers, "--source", "gpt_again").returncode == 0
    assert "cast the same votes" not in piped("analyze", ws).stderr


def test_analyze_refuses_a_split_no_example_is_in(voted: Path) -> None:
    # Trial 25: "--split validation" printed empty tables and "0 examples get no vote".
    result = piped("analyze", voted, "--split", "validation")
    assert result.returncode == 1
    assert "no examples in split 'validation'" in result.stderr
    assert "['dev', 'test', 'train']" in result.stderr


def test_a_parameter_given_text_where_it_takes_a_number_is_refused(voted: Path) -> None:
    # Trial 25: --param max_iter=abc ended in a TypeError traceback from the fit.
    result = piped("aggregate", voted, "--param", "max_iter=abc")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "label model 'auto': max_iter takes what its default does (100), not 'abc'" in (
        result.stderr
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("flag", "--folds", "1"), "folds must be at least 2 to cross-validate, got 1"),
        (("flag", "--unsure-below", "5"), "unsure_below must be from 0 to 1 (a probability)"),
        (("flag", "--seed", "-1"), "seed must be at least 0, got -1"),
        (("flag", "--fit-examples", "-1"), "Invalid value for '--fit-examples'"),
        (("train", "{tmp}/m", "--seed", "-1"), "seed must be at least 0, got -1"),
        (
            ("apply", "--lfs", "labeling_functions.youtube", "--jobs", "0"),
            "n_jobs must be at least 1 (None: every core), got 0",
        ),
        (("analyze", "--top", "-1"), "Invalid value for '--top'"),
        (("aggregate", "--param", "max_iter=-1"), "max_iter takes a number from 0"),
        (("review", "--reviewer", "ana", "--limit", "0"), "Invalid value for '--limit'"),
        (
            ("predict", "{tmp}/in.csv", "{tmp}/out.csv", "--threshold", "5"),
            "threshold must be from 0 to 1 (a probability), got 5.0",
        ),
    ],
)
def test_numbers_out_of_range_are_refused_before_any_work(
    voted: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    # Trial 44: each ended in a traceback from scikit-learn, numpy or the fit, or (the
    # jobs, the top rows, the review limit, the threshold) ran on with a meaningless
    # setting. predict takes the workspace's place as its model; the range comes first.
    # The library checks the ranges the Python API shares, in its own words.
    command, *rest = args
    before = voted.read_bytes()
    result = piped(command, voted, *(a.format(tmp=tmp_path) for a in rest))
    assert result.returncode in (1, 2) and "Traceback" not in result.stderr, result.stderr
    assert message in " ".join(result.stderr.split()), result.stderr
    assert voted.read_bytes() == before


def test_aggregate_shows_class_balance_and_dev_accuracy_beside_majority_vote(
    voted: Path,
) -> None:
    result = piped("aggregate", voted)
    assert result.returncode == 0, result.stderr
    with Workspace(voted, read_only=True) as ws:
        counts = dict(ws.sql("SELECT label, count(*) FROM predictions GROUP BY 1").iter_rows())
        dev = ws.sql(
            """SELECT avg(coalesce(p.label = e.gold, false)::INT) AS accuracy
               FROM examples e JOIN predictions p ON p.example_id = e.id
               WHERE e.split = 'dev'"""
        )["accuracy"][0]
    labeled = counts.get("ham", 0) + counts.get("spam", 0)
    balance = ", ".join(
        f"{label} {counts[label]} ({counts[label] / labeled:.1%})" for label in ("ham", "spam")
    )
    assert f"auto: {labeled} of 15 examples labeled: {balance}" in result.stdout
    assert "label models on the dev split's gold" in result.stdout
    assert cells(result.stdout, "auto")[3] == f"{dev:.3f}"
    # d1, d2 right, d3 a tie, d4 no vote.
    assert cells(result.stdout, "majority_vote")[1:4] == ["0.500", "1.000", "0.500"]
    assert "note: " not in result.stdout, "auto breaks its ties"
    assert "gold labels, which auto did not use" not in result.stdout, "6 train gold rows"
    fitted_on_dev = piped("aggregate", voted, "--model", "majority_vote", "--gold-split", "dev")
    assert fitted_on_dev.returncode == 0, fitted_on_dev.stderr
    # Trial 54b: 305 ties left unlabeled, said by the counts alone. Here t3 (subscribe
    # against song and free) is no tie; d3 (subscribe against free) and s5 are.
    assert "note: 2 examples with votes are left without a label, their votes tied" in (
        " ".join(fitted_on_dev.stdout.split())
    )
    # A source left out is no vote of the model's: without free, t3 and s5 tie
    # (subscribe against song), and s3, voted by free alone, is no tie.
    excluded = piped("aggregate", voted, "--model", "majority_vote", "--exclude", "free")
    assert "note: 2 examples with votes are left without a label, their votes tied" in (
        " ".join(excluded.stdout.split())
    )
    assert "fit on these gold labels" in fitted_on_dev.stdout
    # Said once, in the title: evaluate's warning to the same end came on top.
    assert "warning" not in fitted_on_dev.stderr, fitted_on_dev.stderr
    # Trial 54b: majority vote stored with a class balance, which breaks its ties, was
    # shown as the baseline's row under the same name.
    balanced = piped("aggregate", voted, "--model", "majority_vote", "--class-balance", "0.4,0.6")
    assert balanced.returncode == 0, balanced.stderr
    # d3's tie broken: d1-d3 right, d4 without a vote.
    assert cells(balanced.stdout, "majority_vote (stored)")[1:4] == ["0.750", "1.000", "0.750"]
    assert cells(balanced.stdout, "majority_vote")[1:4] == ["0.500", "1.000", "0.500"]


def test_flag_shows_each_flagged_text_on_one_shortened_line(voted: Path) -> None:
    with Workspace(voted) as ws:
        aggregate(ws, "majority_vote")
    result = piped("flag", voted, "--folds", "2")
    assert result.returncode == 0, result.stderr
    # t3: LFs conflict (subscribe against song and free).
    shown = " ".join(FLAGGED_TEXT.split())[:59] + "…"
    assert cells(result.stdout, "t3")[-1] == shown
    assert "still to review" not in result.stdout
    assert "they replace" not in result.stdout
    first_count = int(result.stdout.split(" labels queued")[0].split()[-1])
    # Trial 28: after a review, "N queued" counted the reviewed items as waiting.
    with Workspace(voted) as ws:
        ReviewQueue(ws).answer("t3", "accept", reviewer="ana")
    again = piped("flag", voted, "--folds", "2")
    with Workspace(voted, read_only=True) as ws:
        queued = ws.sql("SELECT count(*) AS n FROM queue")["n"][0]
        runs = ws.sql("SELECT run_id FROM runs WHERE step = 'flag' ORDER BY run_id")["run_id"]
    # Trial 48b: the second flag read like the first, as if it had added to it.
    assert f"they replace the {first_count:,} train items flag run {runs[0]} flagged" in (
        again.stdout
    )
    assert f"the queue holds {queued:,} items, 1 reviewed: {queued - 1:,} still to review" in (
        again.stdout
    )


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"labelkit {version('labelkit')}\n"


def test_commands_that_ask_no_llm_start_without_importing_openai() -> None:
    # openai takes longer to import than the rest of the CLI; every command paid for it.
    probe = "import sys, labelkit.cli; print('openai' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == "False\n"


def test_the_packages_dir_lists_its_public_names_once_and_nothing_it_imports() -> None:
    # Trial 48b: dir(labelkit) listed Any, TYPE_CHECKING and importlib, and names twice.
    probe = (
        "import json, labelkit; labelkit.Workspace; names = dir(labelkit); "
        "print(json.dumps([names, labelkit.__all__]))"
    )
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    names, public = json.loads(shown.stdout)
    assert len(names) == len(set(names))
    assert [name for name in names if not name.startswith("__")] == sorted(public)


def test_every_option_and_argument_has_help_text() -> None:
    group = get_command(app)
    commands = {"labelkit": group, **group.commands}
    params = [(name, param) for name, command in commands.items() for param in command.params]
    assert len(params) > 60
    missing = [f"{name} {param.name}" for name, param in params if not getattr(param, "help", "")]
    assert missing == []


def test_help_shows_brackets_as_written() -> None:
    shown = " ".join(piped("ingest", "--help").stdout.split())
    assert "Column with a unique id [default: 'id' if there is one]." in shown
    assert "a JSON array of [start, end, label];" in shown
    # Trial 45: written for rich markup, which the help does not use, as 'labelkit\[ray]'.
    assert "pip install 'ray[data]>=2.60,<3' 'aiohttp>=3.9')" in " ".join(
        piped("apply", "--help").stdout.split()
    )
    # Trial 45: only docs/distillation.md named a small model's settings.
    assert "e.g. max_epochs=5 (spaCy) or C=1.0" in " ".join(piped("train", "--help").stdout.split())
    # Trial 52a: the help said n switches attribute, where n answers no.
    review = " ".join(piped("review", "--help").stdout.split())
    assert "the right arrow switches to the next" in review and "n switches" not in review


def test_demo_runs_the_whole_pipeline_on_bundled_data(tmp_path: Path) -> None:
    result = run("demo", "--workspace", tmp_path / "demo")
    assert result.returncode == 0, result.stderr
    assert "replaying" in result.stdout and "SmolLM2-135M-Instruct" in result.stdout
    report = {
        row["method"]: row for row in json.loads((tmp_path / "demo" / "report.json").read_text())
    }
    small = next(row for row in report.values() if row["kind"] == "small model")
    assert small["coverage"] == 1.0 and small["size_mb"] > 0 and small["words_per_s"] > 0
    assert {"llm:smollm2", "majority_vote", "auto", "keyword_subscribe"} <= set(report)
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
        ("train", tmp_path / "model", "--targets", "soft", "--param", "C=[1.0, 10.0]"),
        ("evaluate", "--model", tmp_path / "model" / "model-best", "--output", tmp_path / "eval"),
        ("train", tmp_path / "model2", "--param", "C=[0.01]"),
        # Trial 52a: a second --model replaced the first, without a word.
        (
            "evaluate",
            "--model",
            "model/model-best",
            "--model",
            "model2/model-best",
            "--output",
            tmp_path / "eval2",
        ),
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
        # Piped, so plain text: spaCy's training log too (it colours whatever it writes to).
        assert "\x1b" not in result.stdout + result.stderr, step
        outputs.setdefault(step[0], []).append(result.stdout)
    assert "unchanged, votes reused: keyword_my, keyword_subscribe" in outputs["apply"][1]
    assert "least agreeing pairs" in outputs["analyze"][0]
    assert "most disputed examples" in outputs["analyze"][0]
    assert json.loads((tmp_path / "ds.json").read_text())["model"] == "dawid_skene"
    assert (tmp_path / "clean.csv").read_text().startswith("id,text,label,origin,confidence")
    assert "keyword_subscribe" in outputs["evaluate"][0]
    assert "small model (n-grams), per class" in outputs["evaluate"][1]
    assert "confusion matrix: rows gold, columns predicted" in outputs["evaluate"][1]
    # Trials 51a and 51b: macro-F1 was only in the saved report, and a label model's
    # per-class scores nowhere in the terminal.
    assert "macro_f1" in outputs["evaluate"][1]
    assert "f1 majority_vote" in outputs["evaluate"][1]
    # Trial 53b: nothing helped choose a confidence threshold.
    saved = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    kept = next(
        row
        for row in saved["thresholds"]
        if row["method"] == "small model (n-grams)" and row["threshold"] == 0.9
    )
    title = "confidence thresholds on test: share of texts kept at accuracy"
    table = outputs["evaluate"][1].split(title)[1]
    cell = f"{round(kept['kept'] * 100)}% at {round(kept['accuracy_kept'], 3)}"
    assert cells(table, "small model (n-grams)")[5] == cell, "the ≥ 0.9 column"
    # Trial 58c: the cut of the rarer label's score that holds a precision, by hand.
    rare = min(
        ("ham", "spam"),
        key=lambda label: (
            sum(
                r["support"]
                for r in saved["per_class"]
                if r["label"] == label and r["method"] == "small model (n-grams)"
            ),
            label,
        ),
    )
    at = {
        row["threshold"]: row
        for row in saved["label_thresholds"]
        if row["method"] == "small model (n-grams)" and row["label"] == rare
    }
    table = outputs["evaluate"][1].split(f"texts whose score_{rare} reaches each cut")[1]
    assert cells(table, "flagged")[1:4] == [str(at[cut]["flagged"]) for cut in (0.1, 0.2, 0.3)]
    summary = saved["summary"]
    assert {row["kind"] for row in summary} >= {"lf", "label model", "small model"}
    both = json.loads((tmp_path / "eval2" / "evaluation.json").read_text())
    small = {row["method"]: row for row in both["summary"] if row["kind"] == "small model"}
    assert list(small) == [
        "small model (n-grams) model/model-best",
        "small model (n-grams) model2/model-best",
    ]
    assert small["small model (n-grams) model/model-best"]["accuracy"] == next(
        row["accuracy"] for row in summary if row["kind"] == "small model"
    )
    assert "small model (n-grams) model2/model-best, per class" in outputs["evaluate"][2]
    with Workspace(ws, read_only=True) as opened:
        tested = opened.sql("SELECT count(*) FROM examples WHERE split = 'test'").item()
        aggregated = opened.sql("SELECT max(run_id) FROM runs WHERE step = 'aggregate'").item()
    provenance = both["provenance"]
    assert provenance["models"] == ["model/model-best", "model2/model-best"]
    assert (provenance["split"], provenance["gold_rows"]) == ("test", tested)
    assert provenance["label_model"] == {"model": "majority_vote", "run_id": aggregated}
    twice = run(
        "evaluate",
        ws,
        "--model",
        tmp_path / "model2" / "model-best",
        "--model",
        tmp_path / "model2" / "model-best",
    )
    assert twice.returncode == 1
    assert twice.stderr == f"error: the model {tmp_path / 'model2' / 'model-best'} is given twice\n"
    with Workspace(ws, read_only=True) as opened:
        train_run = opened.sql("SELECT config FROM runs WHERE step = 'train'")["config"][0]
    assert json.loads(train_run)["targets"] == "soft"
    meta = json.loads((tmp_path / "model" / "model-best" / "meta.json").read_text())
    assert meta["labelkit"]["training"]["C"] == [1.0, 10.0], "--param reached the model"
    # Trial 58b: `train | head -1` exited 1, with no model and no word: training printed
    # its lines past the console, to a pipe whose reader had left.
    read, write = os.pipe()
    os.close(read)
    try:
        piped = subprocess.run(
            [*LABELKIT, "train", str(ws), str(tmp_path / "model3"), "--param", "C=[0.1, 1.0]"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=600,
        )
    finally:
        os.close(write)
    assert piped.returncode == 0, piped.stderr
    assert (tmp_path / "model3" / "model-best" / "meta.json").exists()

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
    # The default model's package keeps its folder, meta.json and all, under model/.
    package = tmp_path / "dist" / "en_cli_test-0.1.0" / "en_cli_test"
    meta = json.loads((package / "model" / "meta.json").read_text())
    # Speed is measured afresh for the package, so compare the rest.
    accuracy = [(row["method"], row["accuracy"]) for row in summary]
    assert [(row["method"], row["accuracy"]) for row in meta["labelkit"]["summary"]] == accuracy


def two_texts_and_an_lf(tmp_path: Path, lf_lines: str) -> tuple[Path, Path]:
    """A workspace of two labeled texts, ingested by the CLI, and an LF file that
    imports ``labeling_function`` and then holds ``lf_lines``: their paths."""
    ws = tmp_path / "ws.duckdb"
    csv = tmp_path / "a.csv"
    csv.write_text("text,label\nhello there,ham\nbuy now,spam\n")
    lfs = tmp_path / "lfs.py"
    lfs.write_text("from labelkit import labeling_function\n" + lf_lines)
    assert run("ingest", ws, csv, "--label-column", "label").returncode == 0
    return ws, lfs


def test_apply_reports_failing_rows_and_strict_stops(tmp_path: Path) -> None:
    ws, lfs = two_texts_and_an_lf(
        tmp_path,
        "@labeling_function\n"
        "def picky(x):\n"
        "    if 'buy' in x.text:\n"
        "        raise ValueError('no shopping')\n"
        "    return 'ham'\n",
    )
    lenient = run("apply", ws, "--lfs", lfs)
    assert lenient.returncode == 0, lenient.stderr
    assert "1 failed row abstained (picky: 1)" in lenient.stderr
    assert "ValueError: no shopping" in lenient.stderr
    assert "rerun as they failed" not in lenient.stdout
    # Trial 48b: an unchanged LF ran again, and nothing said why.
    again = run("apply", ws, "--lfs", lfs)
    assert "unchanged, rerun as they failed on some rows last time: picky" in again.stdout
    strict = run("apply", ws, "--lfs", lfs, "--strict")
    assert strict.returncode == 1
    assert "labeling function 'picky' failed on example" in strict.stderr
    assert "'buy now'" in strict.stderr


@pytest.mark.parametrize(("sent", "status"), [("SIGINT", 130), ("SIGHUP", 129)])
def test_ctrl_c_says_what_was_kept_and_exits_130(tmp_path: Path, sent: str, status: int) -> None:
    # Trial 46: Ctrl-C exited 130 without a word though aggregate had saved its run, or
    # with DuckDB's "Query interrupted" traceback. Trial 58b: SIGHUP (a closed terminal)
    # ended apply without a line.
    ws, lfs = two_texts_and_an_lf(
        tmp_path,
        "import os, signal, time\n"
        "@labeling_function\n"
        "def ctrl_c(x):\n"
        "    time.sleep(1)  # the workers have started: apply waits on them\n"
        f"    os.killpg(os.getpgrp(), signal.{sent})  # as a terminal does: every process\n"
        "    return 'ham'\n",
    )
    # A session of its own, so that the signal stops the CLI and its workers only.
    stopped = subprocess.run(
        [*LABELKIT, "apply", str(ws), "--lfs", str(lfs)],
        capture_output=True,
        text=True,
        timeout=300,
        start_new_session=True,
    )
    assert stopped.returncode == status
    # Trial 52b: apply printed nothing until it ended; it says what it runs first.
    assert stopped.stderr.strip().splitlines() == [
        "apply: 1 LF (1 Python) on 2 examples",
        "interrupted; no step had finished. A step under way keeps nothing (answers an "
        "LLM already sent stay cached).",
    ]
    with Workspace(ws, read_only=True) as again:
        assert again.sql("SELECT count(*) AS n FROM votes")["n"][0] == 0


@pytest.mark.parametrize(
    "interrupt",
    [
        # A Ctrl-C in the second the CLI's libraries take to import printed a traceback
        # through them. The interrupt is raised as typer is imported, every time.
        "class Stop:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'typer':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Stop())\n",
        # Trial 68b: one while typer builds the command from its functions printed a
        # traceback.
        "import typer.main\n"
        "def stop(*args, **kwargs):\n"
        "    raise KeyboardInterrupt\n"
        "typer.main.get_params_from_function = stop\n",
    ],
    ids=["importing", "building the command"],
)
def test_ctrl_c_while_the_cli_loads_is_one_line(interrupt: str) -> None:
    stopped = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\n" + interrupt + "sys.argv = ['labelkit', 'runs', 'nowhere.duckdb']\n"
            "from labelkit.__main__ import run\n"
            "run()\n",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert stopped.returncode == 130
    assert stopped.stderr == "interrupted before the command started: nothing was changed\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("apply", "missing.duckdb", "--lfs", "labeling_functions.youtube"), "does not exist"),
        (("ingest", "{ws}", "nope.csv"), "nope.csv: no such file"),
        (
            ("aggregate", "{ws}"),
            # Trial 62c: import-votes, the step that had failed, was not named.
            "no votes yet: run `labelkit apply`, `labelkit llm`, `labelkit import-votes` or "
            "`labelkit import-answers` first",
        ),
        (("review", "{ws}", "--reviewer", "ana"), "no review queue yet: run `labelkit flag` first"),
        (("evaluate", "{ws}"), "no votes yet and no model given; run `labelkit apply`"),
        (("demo", "--dataset", "cats"), "unknown demo data set 'cats'; choose one of"),
        (("ingest", "{ws}", "{csv}", "--kind", "aspects"), "task is classification, not aspects"),
    ],
)
def test_errors_are_one_clear_line_and_exit_1(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    ws = tmp_path / "ws.duckdb"
    csv = tmp_path / "a.csv"
    csv.write_text("text,label\nhello,ham\nbuy,spam\n")
    assert run("ingest", ws, csv, "--label-column", "label").returncode == 0
    result = run(*(a.format(ws=ws, csv=csv) for a in args))
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_an_ingest_that_fails_into_a_new_workspace_leaves_no_file(tmp_path: Path) -> None:
    # A typo in a data path must not leave an empty workspace that later commands accept.
    ws = tmp_path / "new.duckdb"
    result = run("ingest", ws, tmp_path / "trian.json")
    assert result.returncode == 1
    assert "trian.json: no such file" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    followup = run("apply", ws, "--lfs", "labeling_functions.laptops")
    assert f"workspace {ws} does not exist: start with `labelkit ingest`" in followup.stderr


def test_answers_saved_from_one_workspace_are_recorded_in_another(tmp_path: Path) -> None:
    csv = tmp_path / "a.csv"
    csv.write_text(
        "text,label\nsubscribe to me,spam\nnice song,ham\nhttp://x.io,spam\nlove it,ham\n"
    )
    first, second, saved = tmp_path / "one.duckdb", tmp_path / "two.duckdb", tmp_path / "a.jsonl"
    for ws in (first, second):
        assert run("ingest", ws, csv, "--label-column", "label").returncode == 0
    asking = ("--model", "m", "--instructions", "Spam?", "--split", "all")
    with OpenAIServer() as server:
        endpoint = ("--base-url", server.base_url, "--api-key", "k")
        result = run("llm", first, *asking, *endpoint, "--save-answers", saved)
    assert result.returncode == 0, result.stderr
    assert "4 answers of m written to" in result.stdout
    assert len(saved.read_text().splitlines()) == 4
    # Trial 47c: a dry run with --recorded counted the recorded answers as still to ask.
    dry = run("llm", second, *asking, "--recorded", saved, "--dry-run")
    assert dry.returncode == 1
    assert "--dry-run changes nothing, so it would not load --recorded" in dry.stderr
    assert (
        "--save-answers writes a run's answers"
        in run("llm", second, *asking, "--save-answers", saved, "--dry-run").stderr
    )
    # Answers for part of the texts replay without an endpoint; the rest abstain.
    saved.write_text("\n".join(saved.read_text().splitlines()[:2]) + "\n")
    loaded = run("llm", second, *asking, "--recorded", saved, "--cached-only")
    assert loaded.returncode == 0, loaded.stderr
    assert "2 recorded answers loaded into the cache" in loaded.stdout
    assert "llm:m: 4 prompts, 2 cached, 2 to ask" in run("llm", second, *asking, "--dry-run").stdout
    # Trial 58a: --logprobs asked every cached answer again, and the dry run said
    # "0 cached" without a word of the answers cached without them.
    prices = ("--input-price", "1", "--output-price", "2")
    probed = run("llm", second, *asking, "--logprobs", *prices, "--dry-run")
    said = " ".join(probed.stdout.split())
    assert "4 prompts, 0 cached, 4 to ask" in said
    assert (
        "note: at least 2 of the prompts to ask are cached without log-probabilities (asked "
        "without --logprobs): asking for confidences asks them again"
    ) in said
    assert "; per text $" in said
    assert "cached without" not in run("llm", second, *asking, "--dry-run").stdout


def test_a_cost_that_counts_attempts_at_their_most_says_at_most(tmp_path: Path) -> None:
    # Trial 67a: "cost $0.1541" read as the bill, $0.1394: timed-out attempts were
    # counted at the most their requests could cost, said only on a later line.
    ws, csv = tmp_path / "ws.duckdb", tmp_path / "a.csv"
    csv.write_text("text\nsubscribe to me\nnice song\n")
    assert run("ingest", ws, csv, "--labels", "spam,ham").returncode == 0
    prices = ("--input-price", "1", "--output-price", "2", "--api-key", "k")
    with OpenAIServer(Behaviour(faults=["drop"])) as server:
        asking = ("llm", ws, "--model", "m", "--instructions", "Spam?", "--base-url")
        dropped = run(*asking, server.base_url, *prices)
    assert dropped.returncode == 0, dropped.stderr
    said = " ".join(dropped.stdout.split())
    assert "2 answered, 0 failed" in said and "; cost at most $0.0" in said
    assert "broke off without an answer read" in said
    with OpenAIServer() as server:
        again = run(*asking, server.base_url, *prices, "--refresh")
    assert "; cost $0.0" in " ".join(again.stdout.split())


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
        assert "--max-requests" not in dry.stdout
        capped = run(*asking, "--max-requests", "3", "--dry-run")
        assert "--max-requests 3: the run stops after that many requests" in capped.stdout
        shots = run(*asking, "--few-shot", "2", "--few-shot-split", "train", "--dry-run")
        assert shots.returncode == 0, shots.stderr
        assert "llm:m+2shot: 4 prompts, 0 cached, 4 to ask" in shots.stdout
        result = run(*asking, *endpoint, *prices)
        assert server.requests and len(server.requests) == 4, "the dry run asked nothing"
    assert result.returncode == 0, result.stderr
    assert "llm:m: 4 prompts, 0 cached, 4 answered, 0 failed" in result.stdout
    assert "cost $0.0001" in result.stdout, "4 x (20 in + 5 out) tokens at $1 / $2 per million"
    # Trial 67a: new instructions asked of a server that was down replaced every vote.
    down = f"http://127.0.0.1:{free_port()}/v1"
    advert = ("llm", ws, "--model", "m", "--instructions", "Advert?", "--split", "all")
    failed = run(*advert, "--base-url", down, "--api-key", "k", "--max-retries", "0")
    said = " ".join(failed.stderr.split())
    assert "no prompt has an answer, so llm:m keeps its 12 votes of the earlier prompt" in said
    with Workspace(ws, read_only=True) as workspace:
        kept = workspace.sql("SELECT count(*) AS n FROM votes WHERE source = 'llm:m'")["n"][0]
    assert kept == 12, "one vote per example, 3 copies of each text"
    with Workspace(ws) as workspace:
        workspace.con.execute(
            "INSERT INTO queue SELECT id, 1, 'test', gold, gold, 0, '' FROM examples"
        )
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
    by_reviewer = stats.stdout[stats.stdout.index("by reviewer") :]
    rows = {line.split()[1]: line.split()[3] for line in by_reviewer.splitlines() if "│ " in line}
    assert rows["ana"] == "2" and rows["bo"] == "1", "each reviewer's answers"
    assert "reviewers answered differently" not in stats.stdout
    # Trial 52a: two reviewers' agreement was shown, never where they differed.
    with Workspace(ws) as workspace:
        first, label = workspace.sql(
            "SELECT example_id, label FROM decisions WHERE reviewer = 'ana' ORDER BY decision_id"
        ).row(0)
        other = "ham" if label == "spam" else "spam"
        ReviewQueue(workspace).answer(first, "label", label=other, reviewer="cy")
        text = workspace.sql("SELECT text FROM examples WHERE id = ?", [first]).item()
    differing = run("review-stats", ws).stdout
    assert "1 item reviewers answered differently, newest first" in differing
    assert cells(differing, first) == [first, f"ana: {label}, cy: {other}", other, text]
    # Trial 52a: an answer given before could be changed in Python only, and "Ana" and
    # "ana" were two reviewers without a word.
    again = subprocess.run(
        [*LABELKIT, "review", str(ws), "--reviewer", "Ana", "--example", first],
        input="2",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert "warning: 'ana' answered here before: if that is you, review under that name" in (
        " ".join(again.stderr.split())
    )
    assert f"answered before by cy: {other}; your answer replaces it" in again.stdout
    with Workspace(ws, read_only=True) as workspace:
        assert ReviewQueue(workspace).decisions().filter(pl.col("example_id") == first).select(
            "reviewer", "label"
        ).row(0) == ("Ana", "spam")


def test_llm_on_aspects_estimates_both_variants_and_asks_per_attribute(tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    xml = tmp_path / "train.xml"
    xml.write_text(
        "<sentences>"
        + "".join(
            f'<sentence id="s{i}"><text>{text}</text><aspectCategories><aspectCategory '
            'category="food" polarity="positive"/><aspectCategory category="staff" '
            'polarity="negative"/></aspectCategories></sentence>'
            for i, text in enumerate(["good food, rude waiter", "tasty but slow staff"])
        )
        + "</sentences>"
    )
    assert run("ingest", ws, xml, "--labels", "positive,negative").returncode == 0
    asking = ("llm", ws, "--model", "m", "--instructions", "Sentiment per aspect?")
    prices = ("--input-price", "1", "--output-price", "1")
    dry = run(*asking, *prices, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "llm:m: 2 prompts, 0 cached, 2 to ask (1 per text)" in dry.stdout
    assert "llm:m:per-attribute: 4 prompts, 0 cached, 4 to ask (2 per text)" in dry.stdout
    assert "per text $" in dry.stdout
    answer = {"food": "positive", "staff": "negative"}

    def script(body: dict[str, object]) -> str:
        system = str(body["messages"][0]["content"])  # type: ignore[index]
        return json.dumps({"label": next(v for k, v in answer.items() if f"about {k}?" in system)})

    with OpenAIServer(Behaviour(script=script)) as server:
        endpoint = ("--base-url", server.base_url, "--api-key", "k")
        result = run(*asking, *endpoint, "--per-attribute")
        assert len(server.requests) == 4
    assert result.returncode == 0, result.stderr
    assert "llm:m:per-attribute: 4 prompts, 0 cached, 4 answered, 0 failed" in result.stdout
    with Workspace(ws) as workspace:
        votes = workspace.sql("SELECT example_id, attribute, label FROM votes ORDER BY ALL")
    assert votes.rows() == [
        ("s0", "food", "positive"),
        ("s0", "staff", "negative"),
        ("s1", "food", "positive"),
        ("s1", "staff", "negative"),
    ]


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
    port = free_port()
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
                config = httpx.get(
                    f"http://127.0.0.1:{port}/api/config", headers={"Authorization": "Bearer t0k"}
                )
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert config.json()["labels"] == ["ham", "spam"]
        assert httpx.get(f"http://127.0.0.1:{port}/api/config").status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_aggregate_on_aspects_shows_source_health_per_attribute_and_part(tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    food = ["positive", "negative"] * 12
    frame = pl.DataFrame(
        {
            "id": [f"t{i}" for i in range(24)] + ["d0", "d1"],
            "text": [f"review {i}" for i in range(26)],
            "gold": [json.dumps({"food": f}) for f in food] + ['{"food": "positive"}'] * 2,
            "split": ["train"] * 24 + ["dev"] * 2,
        }
    )
    with Workspace(ws) as opened:
        ingest(
            opened,
            frame,
            kind="aspects",
            labels=["positive", "negative"],
            attributes=["food", "staff"],
            label_column="gold",
            split_column="split",
        )
        opposite = {"positive": "negative", "negative": "positive"}
        votes = [
            (f"t{i}", source, "food", label)
            for i, gold in enumerate(food)
            for source, label in [("a", gold), ("b", gold), ("c", gold), ("d", opposite[gold])]
        ]
        # Only a and b vote on staff, and only that it is not mentioned: no value part.
        votes += [(f"t{i}", source, "staff", "none") for i in range(12) for source in "ab"]
        votes += [("d0", "a", "food", "positive"), ("d1", "a", "food", "negative")]
        import_votes(
            opened,
            pl.DataFrame(
                votes, schema=["example_id", "source", "attribute", "label"], orient="row"
            ),
        )
    result = piped("aggregate", ws)
    assert result.returncode == 0, result.stderr
    health = result.stdout.split("source health per attribute")[1]
    rows = {
        tuple(row[:2] + row[3:4]): row
        for line in health.splitlines()
        if line.startswith("│")
        and (row := [cell.strip() for cell in line.split("│")[1:-1]])[0] in ("food", "staff")
    }
    # attribute, part, model, source, coverage, estimated accuracy, agreement, chance,
    # gold accuracy (dev), status
    assert set(rows) == {
        *(("food", "presence", s) for s in "abcd"),
        *(("food", "value", s) for s in "abcd"),
        ("staff", "presence", "a"),
        ("staff", "presence", "b"),
    }
    assert rows["food", "value", "d"][-1] == "dropped"
    assert rows["food", "value", "a"][-1] == "ok"
    assert rows["food", "presence", "d"][-1] == "ok", "d says food is there, as all do"
    assert rows["staff", "presence", "a"][4] == "0.500", "12 of the 24 fit rows"
    assert rows["food", "value", "a"][-2] == "0.500", "right on d0, wrong on d1"
    # Trial 55c: a presence part showed the value's gold accuracy; food is there in both.
    assert rows["food", "presence", "a"][-2] == "1.000"
    assert "below chance (dropped): d (food value)" in result.stderr
    # Said once, by the command: the library's own warning of it is left out here.
    assert "source health:" not in result.stderr


def test_aggregate_says_where_auto_fell_back_naming_the_erased_answer(tmp_path: Path) -> None:
    # Trial 55c: only the health table's model column said an attribute's part fell
    # back, and the reason named a class by its number.
    from tests.aggregate.test_auto import ERASED_C

    rows = [row for row, n in ERASED_C.items() for _ in range(n)]
    answers = ["positive", "negative", "neutral"]
    ws = tmp_path / "ws.duckdb"
    with Workspace(ws) as opened:
        ingest(opened, pl.DataFrame({"id": [f"r{i}" for i in range(len(rows))],
                                     "text": [f"review {i}" for i in range(len(rows))]}),
               kind="aspects", labels=answers, attributes=["staff"])  # fmt: skip
        votes = [
            (f"r{i}", f"lf{j}", "staff", answers[code])
            for i, row in enumerate(rows)
            for j, code in enumerate(row)
            if code >= 0
        ]
        import_votes(
            opened,
            pl.DataFrame(
                votes, schema=["example_id", "source", "attribute", "label"], orient="row"
            ),
        )
    result = piped("aggregate", ws)
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert (
        "auto fell back to majority vote on: staff value: the fit gives 'neutral' to 4% of "
        "the 156 examples whose every vote names it"
    ) in said


def test_ingest_prints_a_readable_summary(tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    csv = tmp_path / "news.csv"
    csv.write_bytes(
        "id,text,label\nn1,Café prices rose,2\nn2,a goal,1\nn3,elections,\n".encode("cp1252")
    )
    args = ("ingest", ws, csv, "--label-column", "label", "--encoding", "cp1252")
    args += ("--label-map", "0=World,1=Sports,2=Business")
    first = run(*args)
    assert first.returncode == 0, first.stderr
    assert "3 new examples: " in first.stdout
    assert f"ids of {csv}: column 'id'" in first.stdout
    assert "labels (order of label_map / --label-map): World, Sports, Business" in first.stdout
    assert "{" not in first.stdout and "(" + "'" not in first.stdout
    again = run(*args)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(
        "nothing new: all 3 rows are already in the workspace as given; nothing was written\n"
    )
    with Workspace(ws, read_only=True) as opened:
        assert opened.task.labels == ("World", "Sports", "Business")
        assert (
            opened.sql("SELECT text FROM examples WHERE id = 'n1'")["text"][0] == "Café prices rose"
        )


def test_aggregate_and_analyze_show_source_health_with_gold_accuracy(voted: Path) -> None:
    with Workspace(voted, read_only=True) as ws:
        measured = dict(summarize_lfs(ws, split="dev").select("lf", "accuracy").iter_rows())
    for command in ("aggregate", "analyze"):
        result = piped(command, voted)
        assert result.returncode == 0, result.stderr
        assert "source health (auto label model)" in result.stdout
        assert (
            "auto: precision_em (one accuracy per source, by EM), agrees with majority vote"
            in result.stdout
        )
        # source, coverage, estimated accuracy, agreement, chance, gold accuracy, status
        song = cells(result.stdout.split("source health")[1], "song")
        assert song[0] == "song" and song[-1] == "ok"
        assert song[-2] == ("–" if measured["song"] is None else f"{measured['song']:.3f}")
        # Trial 34 read a one-label LF's equal agreement and agreement_chance as a fault.
        assert song[3] == song[4]
        assert "for a source that votes one label it equals agreement" in result.stdout
        # Trial 63b: agreement was read as with the label model's labels.
        assert "agreement: how often the source agrees with the majority of the other" in (
            " ".join(result.stdout.split())
        )


def test_aggregate_leaves_out_the_sources_exclude_names(voted: Path) -> None:
    # Trial 28: a source worse than chance on gold could be left out in Python only.
    unknown = piped("aggregate", voted, "--exclude", "sng")
    assert unknown.returncode == 1 and "--exclude names no source of the workspace: ['sng']" in (
        unknown.stderr
    )
    assert "(did you mean 'song'?)" in unknown.stderr
    result = piped("aggregate", voted, "--model", "majority_vote", "--exclude", "song,free")
    assert result.returncode == 0, result.stderr
    with Workspace(voted, read_only=True) as ws:
        config = ws.sql("SELECT config FROM runs WHERE step = 'aggregate' ORDER BY run_id")
        assert json.loads(config["config"][-1])["sources"] == [LONG_LF]
        assert ws.sql("SELECT count(*) AS n FROM votes WHERE source = 'song'")["n"][0] > 0


def test_aggregate_warns_where_dev_gold_shows_the_labels_far_surer_than_right(
    tmp_path: Path,
) -> None:
    # Trial 31: auto was sure 0.92 on average and right 0.60 of the time on dev, unsaid.
    # Five copies of one rule per class agree on every text and are right 60% of the time.
    rows = [
        (f"r{i}", word, ("spam" if (i % 5 < 3) == (word == "alpha") else "ham"), split)
        for split, count in (("train", 100), ("dev", 60))
        for i, word in enumerate(["alpha", "beta"] * (count // 2))
    ]
    csv = tmp_path / "rows.csv"
    frame = pl.DataFrame(rows, schema=["id", "text", "label", "split"], orient="row")
    frame.with_columns(id=pl.col("split") + pl.col("id")).write_csv(csv)
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, csv, id_column="id", label_column="label", split_column="split")
        apply_lfs(
            ws,
            [keyword_lf(f"alpha{j}", ["alpha"], "spam") for j in range(5)]
            + [keyword_lf(f"beta{j}", ["beta"], "ham") for j in range(5)],
        )
    result = piped("aggregate", tmp_path / "ws.duckdb")
    assert result.returncode == 0, result.stderr
    assert (
        "warning: on 60 dev gold rows it labels, auto is sure 1.00 on average and right 0.60 "
        "of the time (ece 0.400); flag and train weigh that confidence: `aggregate "
        "--gold-split dev` (with the auto label model) fits it to the dev gold"
    ) in result.stderr
    fitted = piped("aggregate", tmp_path / "ws.duckdb", "--gold-split", "dev")
    assert fitted.returncode == 0, fitted.stderr
    assert "is sure" not in fitted.stderr
    with Workspace(tmp_path / "ws.duckdb", read_only=True) as ws:
        sure = ws.sql("SELECT avg(confidence) AS c FROM predictions WHERE label IS NOT NULL")
    assert sure["c"][0] == pytest.approx(0.6, abs=0.05)


def test_analyze_shows_the_source_health_aggregate_fits_on_any_split(voted: Path) -> None:
    # An LLM source too: aggregate fits every source, not the LFs alone.
    with Workspace(voted) as ws:
        llm = [(i, "llm:m", label) for i, _, label, _ in ROWS if i[0] in "td"]
        import_votes(
            ws,
            pl.DataFrame(llm, schema=["example_id", "source", "label"], orient="row"),
            kind="llm",
        )
    sources = [LONG_LF, "song", "free", "llm:m"]

    def health(output: str) -> list[list[str]]:
        table = output.split("source health")[1]
        return [cells(table, source) for source in sources]

    aggregated = piped("aggregate", voted)
    assert aggregated.returncode == 0, aggregated.stderr
    for split in ("train", "dev"):
        analyzed = piped("analyze", voted, "--split", split)
        assert analyzed.returncode == 0, analyzed.stderr
        assert health(analyzed.stdout) == health(aggregated.stdout)
        assert "source health (auto label model) fit on the train split, as aggregate fits it" in (
            analyzed.stdout
        )
    # On train, the subscribe LF votes on 3 of the 6 rows: fit on all 15, coverage is 7/15.
    assert health(aggregated.stdout)[0][:2] == [LONG_LF, "0.500"]


def test_steps_reading_out_of_date_results_say_what_to_run_again(tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    first, later = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("id,text\na1,buy now\na2,hello there\n")
    later.write_text("id,text\nb1,buy this\n")
    lfs = tmp_path / "lfs.py"
    lfs.write_text(
        "from labelkit import keyword_lf\n"
        "buy = keyword_lf('buy', ['buy'], 'spam')\n"
        "hello = keyword_lf('hello', ['hello'], 'ham')\n"
    )
    for step in (
        ("ingest", ws, first, "--labels", "ham,spam"),
        ("apply", ws, "--lfs", lfs),
        ("aggregate", ws, "--model", "majority_vote"),
        ("ingest", ws, later),
    ):
        assert run(*step).returncode == 0
    # Trial 54c: a nightly job went on past such warnings; LABELKIT_STRICT stops it.
    strict = subprocess.run(
        [*LABELKIT, "export", str(ws), str(tmp_path / "strict.csv")],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "LABELKIT_STRICT": "1"},
    )
    assert strict.returncode == 1 and not (tmp_path / "strict.csv").exists()
    assert strict.stderr.startswith("error: 1 example was ingested after the labeling functions")
    assert "(LABELKIT_STRICT makes a warning an error" in " ".join(strict.stderr.split())
    # Trial 63c: a CI config's `false` turned strict mode on.
    for off in ("false", "No", "off"):
        lenient = subprocess.run(
            [*LABELKIT, "export", str(ws), str(tmp_path / f"{off}.csv")],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "LABELKIT_STRICT": off},
        )
        assert lenient.returncode == 0, lenient.stderr
    exported = run("export", ws, tmp_path / "clean.csv")
    assert exported.returncode == 0, exported.stderr
    assert exported.stderr.count("warning:") == 2, exported.stderr
    assert (
        "warning: 1 example was ingested after the labeling functions buy, hello last ran, "
        "without their votes: run `labelkit apply` again"
    ) in " ".join(exported.stderr.split())
    assert "1 example was ingested after the label model last ran" in exported.stderr
    assert pl.read_csv(tmp_path / "clean.csv")["id"].to_list() == ["a1", "a2"]
    assert run("apply", ws, "--lfs", lfs).returncode == 0
    again = run("aggregate", ws, "--model", "majority_vote")
    assert again.returncode == 0
    # Trial 48b: a second aggregate replaced the first one's labels without a word.
    with Workspace(ws, read_only=True) as workspace:
        first = workspace.sql("SELECT min(run_id) AS r FROM runs WHERE step = 'aggregate'")["r"][0]
    assert f"these replace the labels of majority_vote (aggregate run {first})" in again.stdout
    fresh = run("export", ws, tmp_path / "clean.csv")
    assert "warning" not in fresh.stderr
    assert pl.read_csv(tmp_path / "clean.csv")["id"].to_list() == ["a1", "a2", "b1"]


def coded_workspace(
    path: Path,
    codes: np.ndarray,
    truth: np.ndarray,
    labels: list[str],
    names: list[str],
    train: int,
) -> Path:
    """A workspace of ids for texts: the first ``train`` rows in train, the rest in dev with
    their ``truth`` as gold; the votes ``codes`` (-1: none) of the sources ``names``."""
    ids = [f"t{i:04d}" for i in range(len(truth))]
    with Workspace(path) as opened:
        frame = pl.DataFrame(
            {"id": ids, "text": ids, "split": ["train"] * train + ["dev"] * (len(ids) - train)}
        )
        gold = [labels[c] if i >= train else None for i, c in enumerate(truth)]
        ingest(opened, frame.with_columns(label=pl.Series(gold)), labels=labels,
               id_column="id", label_column="label", split_column="split")  # fmt: skip
        rows, sources = np.nonzero(codes >= 0)
        import_votes(opened, pl.DataFrame({
            "example_id": [ids[r] for r in rows], "source": [names[j] for j in sources],
            "label": [labels[codes[r, j]] for r, j in zip(rows, sources, strict=True)],
        }))  # fmt: skip
    return path


def test_aggregate_says_where_one_source_alone_beats_the_label_model_on_dev(
    tmp_path: Path,
) -> None:
    # Trial 61c: an LLM right on 0.847 of dev beside auto at 0.787, and nothing said so.
    k, n, rng = 3, 1200, np.random.default_rng(0)
    truth = rng.integers(0, k, n)
    wrong = (truth + rng.integers(1, k, n)) % k
    copied = np.where(rng.random(n) < 0.6, truth, wrong)  # one rule, copied four times
    llm = np.where(rng.random(n) < 0.9, truth, (truth + 1) % k)
    codes = np.column_stack([copied] * 4 + [llm])
    names = ["rule1", "rule2", "rule3", "rule4", "llm:big"]
    ws = coded_workspace(tmp_path / "ws.duckdb", codes, truth, ["a", "b", "c"], names, 900)
    result = piped("aggregate", ws)
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stdout.split())
    right = (llm[900:] == truth[900:]).mean()
    assert f"note: llm:big alone labels {right:.3f} of the 300 dev gold rows it votes on right" in (
        said
    )
    assert "`labelkit aggregate --gold-split dev` lets auto weigh the sources by that gold" in said


def test_aggregate_points_to_dawid_skene_where_it_is_far_better_on_dev(tmp_path: Path) -> None:
    # Trial 56b: on 30 intents, one keyword LF per intent tied with broad rules, auto fell
    # back to majority vote (0.575 on dev), Dawid-Skene reached 0.885, and nothing said so.
    from labelkit.aggregate.base import predict_from_proba
    from labelkit.aggregate.dawid_skene import DawidSkene
    from labelkit.aggregate.models import SnorkelLabelModel

    k, rng = 8, np.random.default_rng(0)
    truth = rng.integers(0, k, 1800)
    lfs = [np.where((truth == c) & (rng.random(1800) < 0.7), c, -1) for c in range(k)]
    lfs += [np.where(rng.random(1800) < 0.5, c, -1) for c in (0, 1)]  # two broad rules
    codes = np.column_stack(lfs).astype(np.int16)
    labels = [f"intent_{c}" for c in range(k)]
    names = [f"lf{j}" for j in range(codes.shape[1])]
    ws = coded_workspace(tmp_path / "ws.duckdb", codes, truth, labels, names, 1500)
    result = piped("aggregate", ws)
    assert result.returncode == 0, result.stderr
    # Trial 63b: the better of Dawid-Skene and Snorkel's model is named.
    right = {}
    for name, model in (("dawid_skene", DawidSkene()), ("snorkel", SnorkelLabelModel())):
        fitted = model.fit(codes[:1500], k)
        guessed = predict_from_proba(codes[1500:], fitted.predict_proba(codes[1500:]))
        right[name] = (guessed == truth[1500:]).mean()
    best = max(right, key=right.__getitem__)
    said = " ".join(result.stdout.split())
    assert (
        f"note: {best} labels {right[best]:.3f} of dev's gold rows right against auto's 0." in said
    )
    assert f"or `--model {best}`" in said
    assert "`labelkit aggregate --gold-split dev` lets auto choose by that gold" in said
    # Fitted with dev's gold, auto is told nothing more.
    again = piped("aggregate", ws, "--gold-split", "dev")
    assert again.returncode == 0, again.stderr
    assert "of dev's gold rows right against" not in again.stdout


def test_snorkel_assuming_equal_shares_of_unequal_classes_is_noted(tmp_path: Path) -> None:
    # Trial 67b: at 80/15/5 Snorkel's model, left to its equal class shares, was right
    # 0.600 of the time (0.765 given the true balance), and nothing named the option.
    rng = np.random.default_rng(1)
    truth = rng.choice(3, 1200, p=[0.8, 0.15, 0.05])
    lfs = [np.where((truth == c) & (rng.random(1200) < 0.6), c, -1) for c in range(3)]
    lfs += [np.where(rng.random(1200) < 0.3, rng.choice(3, 1200), -1) for _ in range(2)]
    codes = np.column_stack(lfs).astype(np.int16)
    labels, names = ["a", "b", "c"], [f"lf{j}" for j in range(codes.shape[1])]
    ws = coded_workspace(tmp_path / "ws.duckdb", codes, truth, labels, names, 1000)
    said = " ".join(piped("aggregate", ws, "--model", "snorkel").stdout.split())
    assert (
        "note: snorkel assumed the classes equally common (Snorkel's default), where the " in said
    )
    given = said.split("`--class-balance ")[1].split("`")[0]
    shares = [float(share) for share in given.split(",")]
    assert shares[0] > 0.6 and shares[2] < 0.15
    told = " ".join(
        piped("aggregate", ws, "--model", "snorkel", "--class-balance", given).stdout.split()
    )
    assert "assumed the classes equally common" not in told
    assert "assumed the classes equally common" not in " ".join(
        piped("aggregate", ws).stdout.split()
    )
    # The second read: with gold, Snorkel's model takes gold's shares.
    fitted = piped("aggregate", ws, "--model", "snorkel", "--gold-split", "dev")
    assert fitted.returncode == 0, fitted.stderr
    assert "assumed the classes equally common" not in " ".join(fitted.stdout.split())


def test_aggregate_points_to_snorkel_where_it_beats_dawid_skene_on_dev(tmp_path: Path) -> None:
    # Trial 63b: on 20 topics with a long tail the note named Dawid-Skene (0.682 on dev)
    # where Snorkel's model, never tried, reached 0.752.
    from labelkit.aggregate.base import predict_from_proba
    from labelkit.aggregate.dawid_skene import DawidSkene
    from labelkit.aggregate.models import SnorkelLabelModel

    k, n, rng = 20, 900, np.random.default_rng(5)
    truth = rng.choice(k, n, p=[0.3, 0.2, 0.1] + [0.4 / 17] * 17)
    lfs = [np.where((truth == c) & (rng.random(n) < 0.6), c, -1) for c in range(k)]
    lfs += [np.where(rng.random(n) < 0.6, 0, -1) for _ in range(2)]  # broad, near-random
    for _ in range(2):
        guess = np.where(rng.random(n) < 0.7, truth, rng.integers(0, k, n))
        lfs.append(np.where(rng.random(n) < 0.4, guess, -1))
    codes = np.column_stack(lfs).astype(np.int16)
    names = [f"lf{j}" for j in range(codes.shape[1])]
    labels = [str(c) for c in range(k)]
    ws = coded_workspace(tmp_path / "ws.duckdb", codes, truth, labels, names, 600)
    right = {}
    for name, model in (("dawid_skene", DawidSkene()), ("snorkel", SnorkelLabelModel())):
        fitted = model.fit(codes[:600], k)
        guessed = predict_from_proba(codes[600:], fitted.predict_proba(codes[600:]))
        right[name] = (guessed == truth[600:]).mean()
    assert right["snorkel"] > right["dawid_skene"] + 0.05
    result = piped("aggregate", ws)
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert (
        f"note: snorkel labels {right['snorkel']:.3f} of dev's gold rows right against auto's"
        in (said)
    )
    assert "or `--model snorkel`" in said
    # The second read: with two sources, which Snorkel's model refuses, aggregate failed.
    two = coded_workspace(tmp_path / "two.duckdb", codes[:, -2:], truth, labels, names[-2:], 600)
    result = piped("aggregate", two)
    assert result.returncode == 0, result.stderr


def test_aggregate_says_where_majority_vote_is_far_better_on_dev(tmp_path: Path) -> None:
    # Trial 61d: `--model dawid_skene` was right on 0.768 of dev beside majority vote's
    # 0.865, said only by the table. One-class keyword rules of mixed quality on
    # imbalanced classes: Dawid-Skene's confusions overfit them.
    from labelkit.aggregate.base import predict_from_proba
    from labelkit.aggregate.dawid_skene import DawidSkene
    from labelkit.aggregate.models import MajorityVote

    k, n, rng = 3, 1200, np.random.default_rng(12)
    truth = rng.choice(k, n, p=[0.6, 0.3, 0.1])
    lfs = []
    for j in range(9):
        c, accuracy = j % k, rng.uniform(0.3, 0.9)
        fires = rng.random(n) < rng.uniform(0.05, 0.4)
        right = (truth == c) & (rng.random(n) < 0.8)
        wrong = (truth != c) & (rng.random(n) < 1 - accuracy)
        lfs.append(np.where(fires & (right | wrong), c, -1))
    codes = np.column_stack(lfs).astype(np.int16)
    names = [f"lf{j}" for j in range(codes.shape[1])]
    ws = coded_workspace(tmp_path / "ws.duckdb", codes, truth, ["a", "b", "c"], names, 900)
    right = {
        name: (
            predict_from_proba(codes[900:], model.fit(codes[:900], k).predict_proba(codes[900:]))
            == truth[900:]
        ).mean()
        for name, model in (("dawid_skene", DawidSkene()), ("majority_vote", MajorityVote()))
    }
    assert right["majority_vote"] > right["dawid_skene"] + 0.02
    result = piped("aggregate", ws, "--model", "dawid_skene")
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert (
        f"note: majority_vote labels {right['majority_vote']:.3f} of dev's gold rows right "
        f"against dawid_skene's {right['dawid_skene']:.3f}: `labelkit aggregate --model "
        "majority_vote`" in said
    )
    chosen = piped("aggregate", ws, "--model", "majority_vote")
    assert chosen.returncode == 0, chosen.stderr
    assert "note: majority_vote labels" not in chosen.stdout


def test_aggregate_help_names_every_registered_label_model() -> None:
    # Trial 56b: the list was only in the error for an unknown name.
    from labelkit.registry import label_models

    shown = " ".join(piped("aggregate", "--help").stdout.split())
    assert all(name in shown for name in label_models.get_all())


def test_evaluate_says_an_llm_asked_about_train_alone_is_not_scored(tmp_path: Path) -> None:
    # Trial 56a: `labelkit llm` asks about train unless told; evaluate's LLM rows were
    # blank, and nothing said why.
    ids = [f"t{i}" for i in range(12)]
    frame = pl.DataFrame(
        {"id": ids, "text": [f"text {i}" for i in range(12)], "split": ["train"] * 8 + ["test"] * 4,
         "label": [None] * 8 + ["ham", "spam"] * 2}
    )  # fmt: skip
    ws = tmp_path / "ws.duckdb"
    with Workspace(ws) as opened:
        ingest(opened, frame, id_column="id", split_column="split", label_column="label",
               labels=["ham", "spam"])  # fmt: skip
        import_votes(opened, pl.DataFrame({"example_id": ids[:8], "source": "llm:gpt", "label": "ham"}),
                     kind="llm")  # fmt: skip
        import_votes(opened, pl.DataFrame({"example_id": ids, "source": "rule", "label": "spam"}))
        aggregate(opened, "majority_vote")
    result = piped("evaluate", ws)
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert (
        "note: llm:gpt voted on no example of the test split, so it is not scored there: "
        "`labelkit llm --split test` asks there" in said
    )
    assert "note: rule" not in said, "an LF that votes on test is not named"
    # Trial 57d: votes imported for train and dev alone left every source at coverage 0
    # on test, unexplained.
    train_only = tmp_path / "train_only.duckdb"
    with Workspace(train_only) as opened:
        ingest(opened, frame, id_column="id", split_column="split", label_column="label",
               labels=["ham", "spam"])  # fmt: skip
        import_votes(
            opened, pl.DataFrame({"example_id": ids[:8], "source": "rule", "label": "spam"})
        )
        # An applied LF that never fires on test is no imported table (the second read).
        apply_lfs(opened, [keyword_lf("zero", ["0"], "ham")])
        aggregate(opened, "majority_vote")
    said = " ".join(piped("evaluate", train_only).stdout.split())
    assert "zero voted on no example" not in said and "zero" in said
    assert (
        "note: rule voted on no example of the test split, so it is not scored there: "
        "imported votes cover the texts their table names"
    ) in said


def test_aggregate_warns_when_the_ties_a_label_model_breaks_go_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Trial 46: on five LFs that each vote one label, auto broke the ties of a URL rule
    # (gold 0.94, estimated 0.38) and a short-comment rule (gold 0.36, estimated 0.71)
    # the wrong way: right 0.72 of the time against majority vote's 0.96, without a word.
    from labelkit.cli import _dev_ties, _warn_if_ties_go_wrong

    ids = [f"d{i}" for i in range(12)]
    dev = pl.DataFrame({"id": ids, "text": ids, "label": "ham", "split": "dev"})
    # LF a votes ham on all 12, b spam on the first 8: majority vote decides 4.
    votes = [(i, "a", "ham") for i in ids] + [(i, "b", "spam") for i in ids[:8]]
    scores = pl.DataFrame(
        [("majority_vote", 0.333, 1.0, 0.333), ("auto", 1.0, 0.333, 0.333)],
        schema=["method", "coverage", "voted_accuracy", "accuracy"],
        orient="row",
    )
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(
            ws,
            dev,
            id_column="id",
            label_column="label",
            split_column="split",
            labels=["ham", "spam"],
        )
        import_votes(
            ws, pl.DataFrame(votes, schema=["example_id", "source", "label"], orient="row")
        )

        def warned(tie_labels: list[str]) -> str:
            labels = tie_labels + ["ham"] * 4
            ws.con.execute("DELETE FROM predictions")
            ws.con.register("labels", pl.DataFrame({"id": ids, "label": labels}).to_arrow())
            ws.con.execute(
                "INSERT INTO predictions SELECT id, 'auto', label, 0.9, [0.5, 0.5], 0, '' "
                "FROM labels"
            )
            _warn_if_ties_go_wrong(scores, "auto", _dev_ties(ws), 2)
            return " ".join(capsys.readouterr().err.split())

        said = warned(["spam"] * 8)
        assert said.startswith(
            "warning: on the dev gold, auto labels 8 rows majority vote leaves (its ties) "
            "and is right on 0 of them: worse than chance"
        )
        assert "`aggregate --gold-split dev`" in said
        # Trial 54b: counted on the rows, not estimated from the accuracies (the scores
        # above would say 0 right of 8 whatever the ties got); ties broken at chance or
        # better are no warning.
        assert warned(["ham", "spam"] * 4) == ""
        assert warned(["ham"] * 8) == ""


def test_a_multilabel_task_is_not_described_in_the_words_of_aspects(tmp_path: Path) -> None:
    # Trial 47: aggregate's table spoke of polarity and evaluate of `none` on yes/no labels.
    tickets = tmp_path / "tickets.csv"
    rows = [("my bill is wrong", '["billing"]'), ("cannot log in", '["login"]')] * 10
    rows += [("bill and login broken", '["billing", "login"]')] * 10
    rows += [("the invoice doubled", '["billing"]')] * 5
    rows += [("my money back please", '["refund"]')] * 3
    pl.DataFrame(rows, schema=["text", "tags"], orient="row").with_columns(
        split=pl.lit("train")
    ).write_csv(tickets)
    lfs = tmp_path / "ticket_lfs.py"
    lfs.write_text(
        "from labelkit import keyword_lf\n"
        'bill = keyword_lf("bill", ["bill"], "billing")\n'
        'login = keyword_lf("login", ["login", "log in"], "login")\n'
    )
    ws = tmp_path / "t.duckdb"
    for step in (
        (
            "ingest",
            ws,
            tickets,
            "--kind",
            "multilabel",
            "--label-column",
            "tags",
            "--split-column",
            "split",
            "--labels",
            "billing,login,refund,legal",
        ),
        ("apply", ws, "--lfs", lfs),
    ):
        assert run(*step).returncode == 0
    aggregated = run("aggregate", ws)
    assert aggregated.returncode == 0, aggregated.stderr
    assert "(unlabeled: a tie)" in aggregated.stdout
    assert "polarity" not in aggregated.stdout
    # Trial 63a: a tag no source votes went on to a model that never gives it, unsaid.
    assert "answers yes on no train text: for refund, legal no source votes" in (
        " ".join(aggregated.stdout.split())
    )
    assert "for billing" not in aggregated.stdout
    evaluated = run("evaluate", ws, "--split", "train")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "each one's macro-F1 (over yes and no); micro_f1: over the labels given" in (
        evaluated.stdout
    )
    # Trial 55b: macro-F1 over yes and no hid a tag's misses; F1 of yes shows them:
    # billing found in 20 of 25 texts, never wrongly (2 * 20 / (20 + 25)).
    per_label = evaluated.stdout.split("per label: F1 of yes")[1]
    assert cells(per_label, "majority_vote")[1:] == [
        # Trial 63a: with their mean, scikit-learn's and spaCy's macro-F1 for multi-label.
        f"{(40 / 45 + 1) / 3:.3f}",
        f"{40 / 45:.3f}",
        "1.000",
        "0.000",
    ]
    # Trial 68c: a tag no gold text has scored 1.000 for every method, unsaid.
    assert (
        "no train text has legal in its gold: left out of the mean of F1 of yes "
        "(scikit-learn's counts such a label as 0), and its macro-F1 measures only its "
        "answers of no"
    ) in " ".join(evaluated.stdout.split())
    # Trial 49a: analyze read a silent label as "none".
    analyzed = run("analyze", ws, "--split", "train")
    assert analyzed.returncode == 0, analyzed.stderr
    assert "examples no source votes on, per attribute (read as no)" in analyzed.stdout
    assert "cast the same votes" not in analyzed.stderr
    # The second read: two sources of the same votes were warned of on one-label tasks only.
    lfs.write_text(lfs.read_text() + 'invoice = keyword_lf("invoice", ["bill"], "billing")\n')
    assert run("apply", ws, "--lfs", lfs).returncode == 0
    analyzed = run("analyze", ws, "--split", "train")
    assert "warning: sources 'bill' and 'invoice' cast the same votes on every example on " in (
        " ".join(analyzed.stderr.split())
    )


def test_train_says_what_became_of_the_spans_of_train_and_dev(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Trial 48a: a spancat was told "0 dropped as overlapping ... (ner gives a token one
    # entity)", and 36 dev gold spans dropped by a ner were not mentioned.
    from labelkit.cli import _print_span_counts

    kept = {"spans": 10, "snapped": 1, "whitespace": 0, "overlapping": 0}
    _print_span_counts({"train": kept, "dev": kept | {"snapped": 0}})
    said = " ".join(capsys.readouterr().out.split())
    assert (
        said
        == "10 cleaned spans: 1 snapped outward to token boundaries, 0 dropped on whitespace only"
    )
    # Trial 59b: spaCy's dev ENTS_F of 100.00 was on 7 widened gold spans, unsaid.
    _print_span_counts({"train": kept, "dev": kept | {"snapped": 7}})
    said = " ".join(capsys.readouterr().out.split())
    assert "dev: 7 gold spans snapped outward to token boundaries, so the dev scores above" in said
    _print_span_counts({"train": kept | {"overlapping": 2}, "dev": kept | {"overlapping": 36}})
    said = " ".join(capsys.readouterr().out.split())
    assert "0 dropped on whitespace only, 2 dropped as overlapping a longer span" in said
    assert (
        "dev: 36 gold spans overlapping a longer one left out of the choice of checkpoint" in said
    )


def test_a_confusion_matrix_too_wide_for_a_terminal_is_left_to_the_report(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Trial 51a: 22 intents made a 545-character matrix, cut to ellipses in a terminal.
    labels = [f"intent_{i:02d}" for i in range(12)]
    per_class = pl.DataFrame(
        {
            "method": ["small"] * 12 + ["auto"] * 12,
            "label": labels * 2,
            "precision": [1.0] * 24,
            "recall": [1.0] * 24,
            "f1": [1.0] * 12 + [0.5] * 12,
            "support": [1] * 24,
        }
    )
    confusion = pl.DataFrame(
        {"method": ["small"] * 12, "gold": labels, "predicted": labels, "count": [1] * 12}
    )
    summary = pl.DataFrame({"method": ["auto", "small"], "kind": ["label model", "small model"]})
    _print_per_class(Evaluation(summary, per_class, confusion), "small")
    shown = capsys.readouterr().out
    assert "f1 auto" in shown and "intent_11" in shown
    assert "confusion matrix: 12 labels, too wide to print; --output writes it" in shown
    assert "rows gold" not in shown
    _print_per_class(Evaluation(summary, per_class.head(10), confusion.head(10)), "small")
    assert "confusion matrix: rows gold, columns predicted" in capsys.readouterr().out


def test_a_class_with_few_gold_texts_gets_its_scores_as_counts_with_intervals(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Trial 58c: a rare class's precision 0.444 and recall 0.800 on 5 gold texts, read
    # as if they were measured.
    per_class = pl.DataFrame(
        {
            "method": ["small"] * 3,
            "label": ["ok", "scam", "spam"],
            "precision": [0.99, 4 / 9, 0.0],
            "recall": [0.98, 0.8, 0.0],
            "f1": [0.98, 0.571, 0.0],
            "support": [390, 5, 2],
        }
    )
    summary = pl.DataFrame({"method": ["small"], "kind": ["small model"]})
    confusion = pl.DataFrame(
        {"method": ["small"], "gold": ["scam"], "predicted": ["scam"], "count": [4]}
    )
    _print_per_class(Evaluation(summary, per_class, confusion), "small")
    said = " ".join(capsys.readouterr().err.split())
    assert (
        "note: few gold texts of these classes, so their scores are rough (95% intervals): "
        "scam: recall 4 of 5 (0.38-0.96), precision 4 of 9 (0.19-0.73); "
        "spam: recall 0 of 2 (0.00-0.66)"
    ) in said
    assert "ok:" not in said


def test_a_reader_that_leaves_the_pipe_does_not_stop_the_command(voted: Path) -> None:
    # Trial 51c: `train | head -1` stopped training at its first line, exit 1, no word;
    # `aggregate | head -3` exited 1 after its step.
    read, write = os.pipe()
    os.close(read)  # the reader left before the first line
    try:
        for step in ("aggregate", "analyze"):
            done = subprocess.run(
                [*LABELKIT, step, str(voted)],
                stdout=write,
                stderr=subprocess.PIPE,
                text=True,
                timeout=600,
            )
            assert done.returncode == 0, (step, done.stderr)
    finally:
        os.close(write)
    with Workspace(voted, read_only=True) as ws:
        steps = ws.sql("SELECT step FROM runs ORDER BY run_id")["step"].to_list()
    assert steps[-1] == "aggregate"


def test_an_output_folder_that_is_a_file_is_refused_before_the_work(voted: Path) -> None:
    # Trial 51c: `train ws data.csv` trained to the end, then failed in a traceback;
    # `evaluate --output data.csv` printed every table first.
    taken = voted.parent / "rows.csv"
    for command in (["train", voted, taken], ["evaluate", voted, "--output", taken]):
        refused = run(*command)
        assert refused.returncode == 1, refused.stderr
        assert (
            refused.stderr
            == f"error: {taken} is a file; the output goes in a folder: give a folder's path\n"
        )
        assert refused.stdout == ""


def test_a_path_through_a_file_is_one_clear_line(voted: Path) -> None:
    # Trial 51c: an output below a file (or on a read-only mount) ended in a traceback.
    inside = voted.parent / "rows.csv" / "models"
    for command in (["train", voted, inside], ["evaluate", voted, "--output", inside]):
        refused = run(*command)
        assert refused.returncode == 1, refused.stderr
        assert refused.stderr == (
            f"error: {voted.parent / 'rows.csv'} is a file, so {inside} cannot be a folder: "
            "give another path\n"
        )
    made = run("ingest", voted.parent / "rows.csv" / "w.duckdb", voted.parent / "rows.csv")
    assert made.returncode == 1, made.stderr
    assert made.stderr == f"error: {voted.parent / 'rows.csv' / 'w.duckdb'}: Not a directory\n"


def test_aggregate_warns_of_a_label_it_gives_to_nobody(tmp_path: Path) -> None:
    # Trial 53a: `--exclude` of the two LFs the health table called "trusted above gold"
    # left `returns` to nobody, and weighted majority vote gave billing to none of the
    # 3,960 texts; both printed "0 (0.0%)" and no warning.
    ws = tmp_path / "ws.duckdb"
    texts = ["invoice parcel tracking"] * 30 + ["refund please"] * 10 + ["hello"] * 10
    csv = tmp_path / "messages.csv"
    pl.DataFrame({"text": [f"{text} {i}" for i, text in enumerate(texts)]}).write_csv(csv)
    rules = tmp_path / "lfs.rules"
    rules.write_text(
        "invoice -> billing\nparcel -> shipping\ntracking -> shipping\nrefund -> returns\n"
    )
    labels = "billing,shipping,returns,other"
    assert run("ingest", ws, csv, "--labels", labels).returncode == 0
    assert run("apply", ws, "--lfs", rules).returncode == 0
    majority = run("aggregate", ws, "--model", "majority_vote")
    assert majority.returncode == 0, majority.stderr
    assert "billing 0 (0.0%)" in majority.stdout
    warning = " ".join(majority.stderr.split())
    assert (
        "majority_vote gives the label other to no example: none of the sources it weighs "
        "votes it (write a labeling function for it);" in warning
    )
    assert "gives next to none of its sources' votes for billing (voted on 30, given to 0)" in (
        warning
    )
    assert "(`labelkit aggregate --model auto`)" in warning
    # A warning the command prints itself is an error under LABELKIT_STRICT too.
    strict = subprocess.run(
        [
            *LABELKIT,
            "aggregate",
            str(ws),
            "--model",
            "majority_vote",
            "--exclude",
            "tracking -> shipping",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "LABELKIT_STRICT": "1"},
    )
    assert strict.returncode == 1
    assert strict.stderr.startswith("error: majority_vote gives the label other to no")
    # The rule left out votes shipping, not other: it is not named (the second read).
    assert "left out" not in strict.stderr
    # Trial 54e: auto, fallen back to majority vote, advised `--model majority_vote`.
    assert run("aggregate", ws).returncode == 0
    with Workspace(ws, read_only=True) as opened:
        fallen = lost_labels(opened, "auto", "train", chosen="majority_vote")
        fitted = lost_labels(opened, "auto", "train", chosen="precision_em")
    assert fallen is not None and fallen.endswith("(`labelkit aggregate --model dawid_skene`)")
    assert fitted is not None and fitted.endswith(
        "(`labelkit aggregate --model majority_vote` or `--model dawid_skene`)"
    )
    excluded = run("aggregate", ws, "--model", "majority_vote", "--exclude", "refund -> returns")
    assert (
        "majority_vote gives the labels returns, other to no example: none of the sources it "
        "weighs votes them (write a labeling function for each, or leave in the sources left "
        "out that vote some)"
    ) in " ".join(excluded.stderr.split())
    # Trial 64a: a label no source votes, which the label model gives all the same
    # (fitted with gold), was said to be given to no example.
    with Workspace(ws) as opened:
        opened.con.execute(
            "UPDATE predictions SET label = 'other' WHERE example_id IN "
            "(SELECT id FROM examples WHERE text LIKE 'hello%')"
        )
        given = lost_labels(opened, "majority_vote", "train")
    assert given is not None and given.startswith("majority_vote gives next to none of")
    assert "to no example" not in given


def test_a_workspace_cut_short_past_its_catalog_is_one_line(tmp_path: Path) -> None:
    # Trial 58b: `runs` on a workspace file cut at 5 MB opened it, then failed at its
    # query in a 44-line traceback.
    whole = tmp_path / "whole.duckdb"
    with Workspace(whole) as ws:
        ws.con.execute("CREATE TABLE filler AS SELECT range AS i, md5(range::VARCHAR) AS s FROM range(300000)")  # fmt: skip
        ws.con.execute("CHECKPOINT")
        ws.con.execute(
            "INSERT INTO runs SELECT range + 1, 'ingest', json_object('n', md5(range::VARCHAR)), "
            "'{}', now(), 0.0 FROM range(100000)"
        )
    cut = tmp_path / "cut.duckdb"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 3 // 4])
    done = run("runs", cut)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: cannot read the workspace: IO Error: Could not read")
    assert done.stderr.rstrip().endswith("damaged or cut short: restore it from a copy)")


def test_a_new_workspace_an_ingest_saved_stays_when_the_command_then_stops(
    tmp_path: Path,
) -> None:
    # Trial 58b: Ctrl-C just after the first ingest was saved said "kept what finished:
    # ingest (run 1)", and the new workspace had been deleted. LABELKIT_STRICT stops the
    # command at a warning given after the save the same way.
    rows = tmp_path / "rows.csv"
    rows.write_text(
        "id,text,label\n"
        + "".join(f"r{i},text number {i},{'spam' if i else 'spamm'}\n" for i in range(30))
    )
    ws = tmp_path / "ws.duckdb"
    strict = subprocess.run(
        [*LABELKIT, "ingest", str(ws), str(rows), "--label-column", "label"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "LABELKIT_STRICT": "1"},
    )
    assert strict.returncode == 1
    assert "gold label 'spamm' is on 1 row" in strict.stderr
    with Workspace(ws, read_only=True) as opened:
        assert opened.sql("SELECT count(*) FROM examples").item() == 30
    # Refused before anything was saved, a new workspace is not left behind.
    empty = tmp_path / "empty.csv"
    empty.write_text("id,text\n")
    refused = run("ingest", tmp_path / "other.duckdb", empty, "--labels", "a,b")
    assert refused.returncode == 1 and not (tmp_path / "other.duckdb").exists()


def test_sources_are_removed_by_name_and_the_labels_said_out_of_date(voted: Path) -> None:
    # Trial 58a: a test request's source, a wrong model name and a variant stayed for
    # good, and two copies of one LLM outweighed the rules.
    with Workspace(voted) as ws:
        ids = ws.sql("SELECT id FROM examples ORDER BY id LIMIT 2")["id"].to_list()
        import_votes(
            ws,
            pl.DataFrame({"example_id": ids, "source": "llm:typo", "label": ["spam", "ham"]}),
            kind="llm",
        )
        aggregate(ws, "majority_vote")
        before = dict(ws.sql("SELECT source, count(*) FROM votes GROUP BY 1").rows())
    wrong = run("remove-sources", voted, "fre")
    assert wrong.returncode == 1
    assert "no source 'fre' in the workspace (did you mean 'free'?); nothing was removed" in (
        " ".join(wrong.stderr.split())
    )
    done = run("remove-sources", voted, "free", "llm:typo")
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stdout.split())
    assert f"removed free (lf): {before['free']} votes" in said
    assert "removed llm:typo (llm): 2 votes" in said
    assert "its answers stay in the LLM cache" in said
    with Workspace(voted, read_only=True) as ws:
        after = dict(ws.sql("SELECT source, count(*) FROM votes GROUP BY 1").rows())
        assert after == {k: v for k, v in before.items() if k not in ("free", "llm:typo")}
        assert "free" not in ws.sql("SELECT name FROM sources")["name"].to_list()
        assert ws.sql("SELECT step FROM runs ORDER BY run_id DESC LIMIT 1").item() == (
            "remove-sources"
        )
        assert any("votes changed (remove-sources)" in line for line in ws.out_of_date())


def test_aggregate_notes_an_attribute_marked_present_far_beyond_dev_gold(
    tmp_path: Path,
) -> None:
    # Trial 62d: an LLM marking a 1% aspect in every other review made it 21%, unsaid.
    n, ids = 60, [f"r{i:02d}" for i in range(60)]
    gold = [json.dumps({"pets": "positive"} if i < 3 else {"food": "positive"}) for i in range(n)]
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        ingest(
            ws,
            pl.DataFrame({"id": ids, "text": ids, "label": gold, "split": ["dev"] * n}),
            kind="aspects",
            labels=["positive", "negative"],
            attributes=["pets", "food"],
            label_column="label",
            split_column="split",
        )
        votes = [(i, "keyword", "pets" if k < 3 else "food", "positive") for k, i in enumerate(ids)]
        votes += [(i, "llm:x", "pets", "positive") for k, i in enumerate(ids) if k % 2]
        import_votes(
            ws,
            pl.DataFrame(
                votes, schema=["example_id", "source", "attribute", "label"], orient="row"
            ),
        )
    result = piped("aggregate", path, "--model", "majority_vote", "--fit-split", "dev")
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stdout.split())
    with Workspace(path, read_only=True) as ws:
        marked = ws.sql(
            "SELECT count(*) AS n FROM predictions WHERE attribute = 'pets' AND label <> 'none'"
        )["n"][0]
    assert marked > 20
    assert (
        f"note: the label model marks present on dev's gold texts pets {marked / n:.0%} "
        "(gold 5%): a source marks them where they are not" in said
    )
    assert "food " not in said.split("note: the label model marks present")[1].split(":")[0]
    assert "and `--gold-split dev` fits on that gold" in said
    # Trial 68c: fitted with that gold, it was still told to fit with it.
    fitted = piped(
        "aggregate", path, "--model", "majority_vote", "--fit-split", "dev", "--gold-split", "dev"
    )
    assert fitted.returncode == 0, fitted.stderr
    said = " ".join(fitted.stdout.split())
    assert "note: the label model marks present on dev's gold texts pets" in said
    assert "--gold-split dev` fits" not in said and "and `--exclude` leaves one out" in said


def test_a_multilabel_fit_with_gold_is_not_told_to_fit_with_gold(tmp_path: Path) -> None:
    # Trial 63a: `aggregate --gold-split dev` on a multi-label task ended in advice to
    # run `aggregate --gold-split dev`; the one-label path had dropped it since trial 34.
    texts = tmp_path / "tickets.csv"
    truth = {f"t{i}": i < 100 for i in range(200)} | {f"d{i}": i < 20 for i in range(40)}
    pl.DataFrame(
        {
            "id": list(truth),
            "text": [f"ticket {example}" for example in truth],
            "tags": [None] * 200 + ['["billing"]' if i < 20 else "[]" for i in range(40)],
            "split": ["train"] * 200 + ["dev"] * 40,
        }
    ).write_csv(texts)
    ws = tmp_path / "t.duckdb"
    ingested = run(
        "ingest", ws, texts, "--kind", "multilabel", "--label-column", "tags",
        "--split-column", "split", "--id-column", "id",
    )  # fmt: skip
    assert ingested.returncode == 0, ingested.stderr

    def vote(right: bool) -> str:
        return "yes" if right else "no"

    # `loose` agrees with `a` on train and says yes to every dev text; `c` is right on
    # six texts in ten.
    votes = [
        (example, source, "billing", label)
        for example, billing in truth.items()
        for source, label in (
            ("a", vote(billing)),
            ("loose", vote(billing) if example.startswith("t") else "yes"),
            ("c", vote(billing if int(example[1:]) * 7 % 10 < 6 else not billing)),
        )
    ]
    with Workspace(ws) as opened:
        import_votes(
            opened,
            pl.DataFrame(
                votes, schema=["example_id", "source", "attribute", "label"], orient="row"
            ),
        )
    advice = "fit with gold (`aggregate --gold-split dev`)"
    without = run("aggregate", ws)
    assert without.returncode == 0, without.stderr
    warned = " ".join(without.stderr.split())
    assert "trusted above gold: loose (billing presence)" in warned and advice in warned
    fitted = run("aggregate", ws, "--gold-split", "dev")
    assert fitted.returncode == 0, fitted.stderr
    warned = " ".join(fitted.stderr.split())
    assert "trusted above gold: loose (billing presence)" in warned and advice not in warned


@pytest.mark.parametrize("kind", ["aspects", "multilabel"])
def test_evaluate_shows_many_attributes_one_row_each(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Trial 62d: at 25 attributes the table per attribute was 792 characters wide, one
    # column per attribute, under 60 rows of LFs.
    from labelkit.cli import _print_attribute_evaluation

    attributes = tuple(f"attr{n:02d}" for n in range(12))
    rows = [
        (method, kind_, attribute, 0.5 + n / 100, 0.9)
        for n, attribute in enumerate([*attributes, "(all)"])
        for method, kind_ in (("auto", "label model"), ("kw", "lf"))
    ]
    summary = pl.DataFrame(
        rows, schema=["method", "kind", "attribute", "macro_f1", "voted_accuracy"], orient="row"
    ).with_columns(
        split=pl.lit("test"), coverage=pl.lit(1.0), accuracy=pl.lit(0.8),
        micro_f1=pl.lit(0.7), exact_match=pl.lit(0.3),
    )  # fmt: skip
    per_class = pl.DataFrame(
        {
            "method": ["auto"] * 12,
            "attribute": list(attributes),
            "label": ["yes"] * 12,
            "f1": [n / 10 for n in range(12)],
            "support": [5] * 12,
        }
    )
    evaluation = Evaluation(summary=summary, per_class=per_class, confusion=pl.DataFrame())
    _print_attribute_evaluation(evaluation, "test", attributes, kind)
    shown = capsys.readouterr().out
    table = shown.split("per attribute: macro-F1")[1]
    assert cells(table, "attr11") == ["attr11", "0.610"]
    assert "kw" not in table.split("\n\n")[0] and "`labelkit analyze` scores each LF" in table
    if kind == "multilabel":
        per_label = shown.split("per label: F1 of yes")[1]
        assert cells(per_label, "mean") == ["mean", f"{sum(range(12)) / 120:.3f}"]
        assert cells(per_label, "attr03") == ["attr03", "0.300"]


def test_a_label_only_outvoted_is_not_said_to_have_no_voter(tmp_path: Path) -> None:
    # The second read of stop 63: a tag whose only votes were outvoted was said to have
    # no source voting it, and the user told to write the LF they had.
    from labelkit.cli import _never_present

    frame = pl.DataFrame(
        {
            "id": [f"t{i}" for i in range(10)] + ["d0", "d1"],
            "text": [f"ticket {i}" for i in range(12)],
            "tags": [None] * 10 + [["refund"], ["billing", "refund"]],
            "split": ["train"] * 10 + ["dev"] * 2,
        }
    )
    votes = [(f"t{i}", source, "refund", "no") for i in range(10) for source in "ab"]
    votes += [(f"t{i}", "c", "refund", "yes") for i in range(3)]
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(
            ws, frame, id_column="id", label_column="tags", split_column="split",
            kind="multilabel", labels=["billing", "refund"],
        )  # fmt: skip
        import_votes(
            ws,
            pl.DataFrame(
                votes, schema=["example_id", "source", "attribute", "label"], orient="row"
            ),
        )
        aggregate(ws, "majority_vote")
        note = _never_present(ws, "train")
    assert note == (
        "note: the label model answers yes on no train text: for billing (on 1 of dev's gold "
        "texts) no source votes it there, so a model trained on these labels never answers "
        "yes for it: a labeling function for it (or review) gives it examples; for refund (on "
        "2 of dev's gold texts) the sources' votes for it there are all outvoted (`labelkit "
        "analyze` shows by whom)"
    )


def test_a_fit_with_gold_that_lowers_macro_f1_on_dev_is_said() -> None:
    # Trial 66b: fitted with dev gold as labelkit advised, the hotel reviews' label model
    # fell from 0.739 to 0.724 macro-F1 on dev (0.733 to 0.713 on test), and nothing said so.
    said = gold_lowered_macro_f1(
        "auto", {"accuracy": 0.866, "macro_f1": 0.724}, {"accuracy": 0.859, "macro_f1": 0.739}
    )
    assert said is not None and said.startswith(
        "fitted on dev's gold, auto scores macro-F1 0.724 on dev against 0.739 without it, "
        "on the very rows it was fitted to (accuracy 0.866 against 0.859)"
    )
    assert said.endswith("Where macro-F1 is what counts, aggregate without --gold-split")
    # Within the slack, or better with gold: nothing said.
    assert (
        gold_lowered_macro_f1(
            "auto", {"accuracy": 0.9, "macro_f1": 0.736}, {"accuracy": 0.9, "macro_f1": 0.739}
        )
        is None
    )
    assert (
        gold_lowered_macro_f1(
            "auto", {"accuracy": 0.9, "macro_f1": 0.75}, {"accuracy": 0.8, "macro_f1": 0.739}
        )
        is None
    )


def test_a_fit_with_gold_that_raises_macro_f1_on_dev_says_nothing_of_it(tmp_path: Path) -> None:
    # The wiring of the warning above, on votes where gold raises dev's macro-F1.
    from tests.aggregate.test_attributes import rooms_workspace

    with rooms_workspace(tmp_path / "ws.duckdb"):
        pass
    result = piped("aggregate", tmp_path / "ws.duckdb", "--gold-split", "dev")
    assert result.returncode == 0, result.stderr
    assert "label models on the dev split's gold" in result.stdout
    assert "(auto was fit on these gold labels)" in result.stdout
    assert "fitted on dev's gold" not in result.stderr
