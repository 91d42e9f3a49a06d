"""A real LLM, SmolLM2-135M behind llama-cpp-python's OpenAI-compatible server.

Marked ``local_llm``: ``make test-llm`` installs the server and the model and runs
these; ``make test`` leaves them out (building llama-cpp-python takes minutes). CI
runs both. A server that dies (a llama.cpp built for another CPU) fails them with its
own output: the run stops with it, and so does the fixture.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from labelkit import LabelkitError, Workspace, bundled_dataset, ingest, label_with_llm, suggest_lfs
from labelkit.demo import LAPTOPS_LLM, RECORDED_ANSWERS, YOUTUBE_INGEST, YOUTUBE_LLM
from labelkit.llm.local import local_llm_server, smollm2_path
from labelkit.llm.parse import parse_entities
from labelkit.spans import read_wrench_spans
from tests.llm.test_spans import LAPTOPS

pytestmark = pytest.mark.local_llm
COMMENTS = 40
# The tests of plumbing (log-probabilities, the CLI's own server) need a few answers, not
# the forty that measure agreement with the recorded ones: each answer takes seconds.
FEW = 10


@pytest.fixture(scope="module")
def smollm2() -> Iterator[str]:
    with local_llm_server(smollm2_path(), alias=YOUTUBE_LLM.model) as base_url:
        yield base_url


def first_comments(folder: Path, count: int) -> Workspace:
    """The first ``count`` bundled comments on one video, in a fresh workspace."""
    csv = folder / "comments.csv"
    pl.read_csv(bundled_dataset("youtube-spam") / "Youtube01-Psy.csv").head(count).write_csv(csv)
    ws = Workspace(folder / "ws.duckdb")
    ingest(ws, csv, **YOUTUBE_INGEST)
    return ws


@pytest.fixture
def comments(tmp_path: Path) -> Iterator[Workspace]:
    with first_comments(tmp_path, COMMENTS) as ws:
        yield ws


@pytest.fixture
def few_comments(tmp_path: Path) -> Iterator[Workspace]:
    with first_comments(tmp_path, FEW) as ws:
        yield ws


def test_smollm2_labels_through_the_real_server_and_falls_back_to_json_object(
    smollm2: str, comments: Workspace
) -> None:
    config = dataclasses.replace(YOUTUBE_LLM, base_url=smollm2, api_key="local")
    stats = label_with_llm(comments, config)
    assert stats.stopped is None, stats.stopped
    assert stats.response_format == "json_object", "the server refuses json_schema"
    assert (stats.answered, stats.failed, stats.unparsed) == (COMMENTS, 0, 0)
    assert stats.prompt_tokens > 0 and stats.completion_tokens > 0
    # The bundled answers were recorded with this config on the same model: greedy
    # decoding must reproduce them, up to float differences between CPUs.
    recorded_path = bundled_dataset("youtube-spam") / RECORDED_ANSWERS
    recorded = {
        row["key"]: row["label"] for row in map(json.loads, recorded_path.read_text().splitlines())
    }
    live = dict(comments.sql("SELECT key, label FROM llm_cache").rows())
    assert set(live) <= set(recorded)
    agreement = sum(live[k] == recorded[k] for k in live) / len(live)
    assert agreement >= 0.9, f"live answers agree with the recorded ones on {agreement:.0%}"
    again = label_with_llm(comments, config)
    assert (again.cached, again.answered) == (COMMENTS, 0)


def test_smollm2_logprobs_give_every_answer_a_confidence(
    smollm2: str, few_comments: Workspace
) -> None:
    config = dataclasses.replace(
        YOUTUBE_LLM, base_url=smollm2, api_key="local", logprobs=True, response_format="json_object"
    )
    stats = label_with_llm(few_comments, config)
    assert stats.stopped is None, stats.stopped
    assert stats.answered == FEW
    confidences = few_comments.sql("SELECT confidence FROM llm_cache")["confidence"]
    assert confidences.null_count() == 0
    assert ((confidences > 0) & (confidences <= 1)).all()


def test_llm_local_serves_smollm2_for_one_cli_run(few_comments: Workspace) -> None:
    path = few_comments.path
    few_comments.close()
    command = [
        sys.executable, "-m", "labelkit", "llm", str(path), "--local", "--model",
        YOUTUBE_LLM.model, "--instructions", YOUTUBE_LLM.instructions, "--split", "all",
        "--response-format", "json_object",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"{FEW} prompts, 0 cached, {FEW} answered, 0 failed" in result.stdout


def test_smollm2_lists_entities_as_json_like_the_recorded_laptop_answers(
    smollm2: str, tmp_path: Path
) -> None:
    sentences = read_wrench_spans(LAPTOPS / "test.json").frame.head(FEW)
    with Workspace(tmp_path / "laptops.duckdb") as ws:
        ingest(ws, sentences.select("id", "text"), kind="spans", labels=["TERM"])
        config = dataclasses.replace(LAPTOPS_LLM, base_url=smollm2, api_key="local")
        stats = label_with_llm(ws, config)
        live = dict(ws.sql("SELECT key, response FROM llm_cache").rows())
    assert stats.stopped is None, stats.stopped
    assert (stats.response_format, stats.answered, stats.failed) == ("json_object", FEW, 0)
    assert all(parse_entities(answer) is not None for answer in live.values()), (
        "the schema's grammar makes every answer a JSON list of entities"
    )
    assert stats.spans, "some entity is found in its sentence"
    recorded_path = bundled_dataset("laptops") / RECORDED_ANSWERS
    recorded = {
        row["key"]: row["response"]
        for row in map(json.loads, recorded_path.read_text().splitlines())
    }
    assert set(live) <= set(recorded)
    agreement = sum(live[k] == recorded[k] for k in live) / len(live)
    assert agreement >= 0.8, f"live answers agree with the recorded ones on {agreement:.0%}"


def test_smollm2_proposes_rules_that_are_parsed_scored_and_recorded(
    smollm2: str, few_comments: Workspace
) -> None:
    config = dataclasses.replace(YOUTUBE_LLM, base_url=smollm2, api_key="local", max_tokens=300)
    try:
        proposals = suggest_lfs(few_comments, config, per_label=5, max_rules=5)
    except LabelkitError as error:
        # A 135M model may answer JSON without a rules list; that must be this error.
        assert "holds no" in str(error)
        return
    assert set(proposals["status"]) <= {"new", "malformed", "duplicate"}
    assert proposals.filter(pl.col("status") == "malformed")["error"].is_not_null().all()
    new = proposals.filter(pl.col("status") == "new")
    assert new["coverage"].is_not_null().all() and new["error"].is_null().all()
    assert few_comments.sql("SELECT count(*) AS n FROM lf_suggestions")["n"][0] == len(proposals)
