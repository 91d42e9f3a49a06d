"""A run caches its answers in batches, and keeps every one when it stops, fails or is
interrupted, through real HTTP and a DuckDB file on disk."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import time
from pathlib import Path

from labelkit import LLMConfig, Workspace, ingest, label_with_llm
from labelkit.llm.cache import CachedAnswer, store_answers
from tests.openai_server import Behaviour, OpenAIServer, answer_for

CONFIG = LLMConfig(model="test-model", instructions="Is this comment spam?", api_key="test")


def comments(tmp_path: Path, n: int) -> Path:
    """A workspace on disk with ``n`` distinct comments, a third of them spam."""
    texts = [f"comment {i} {'subscribe now' if i % 3 == 0 else 'nice song'}" for i in range(n)]
    csv = tmp_path / "comments.csv"
    csv.write_text("id,text\n" + "".join(f"c{i:03d},{t}\n" for i, t in enumerate(texts)))
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        ingest(ws, csv, id_column="id", labels=["ham", "spam"])
    return path


def cache(ws: Workspace) -> dict[str, str | None]:
    """Each cached prompt's text and its answer's label (None for a failure)."""
    rows = ws.sql("SELECT request->'$.messages[-1]'->>'content' AS text, label FROM llm_cache")
    return dict(rows.rows())


def test_answers_are_written_in_batches_not_one_transaction_each(tmp_path: Path) -> None:
    with Workspace(comments(tmp_path, 200)) as ws, OpenAIServer() as server:
        config = dataclasses.replace(CONFIG, base_url=server.base_url, concurrency=8)
        stats = label_with_llm(ws, config)
        assert stats.answered == 200
        assert cache(ws) == {
            text: answer_for(text) for text in ws.sql("SELECT text FROM examples")["text"]
        }
        # now() is the start of the transaction that wrote a row: one value per batch.
        transactions = ws.sql("SELECT count(DISTINCT created_at) FROM llm_cache").item()
    assert transactions < 200, "answers that arrive together are written together"


def test_a_run_that_stops_early_keeps_every_answer_before_the_stop(workspace: Workspace) -> None:
    # Three answers, then the server fails every request: the second failure stops the run.
    behaviour = Behaviour(faults=[None, None, None], always="500")
    with OpenAIServer(behaviour) as server:
        config = dataclasses.replace(
            CONFIG, base_url=server.base_url, concurrency=1, max_retries=0, stop_after_failures=2
        )
        stats = label_with_llm(workspace, config)
    assert (stats.answered, stats.failed, stats.not_asked) == (3, 2, 1)
    assert stats.stopped is not None and "2 prompts in a row failed" in stats.stopped
    asked = [request["messages"][-1]["content"] for request in server.requests]
    assert cache(workspace) == {
        **{text: answer_for(text) for text in asked[:3]},
        **dict.fromkeys(asked[3:]),
    }, "every answer and failure is cached, though the run ended within a batch"
    errors = workspace.sql("SELECT count(*) FROM llm_cache WHERE error LIKE 'Internal%'").item()
    assert errors == 2


def test_an_interrupted_run_keeps_what_arrived(tmp_path: Path) -> None:
    path = comments(tmp_path, 40)
    with OpenAIServer(Behaviour(delay_s=0.05)) as server:
        command = [
            *(sys.executable, "-m", "labelkit", "llm", str(path), "--model", "test-model"),
            *("--instructions", "Is this comment spam?", "--base-url", server.base_url),
            *("--api-key", "test", "--concurrency", "1", "--response-format", "json_schema"),
        ]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while len(server.requests) < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) != 0
        asked = [request["messages"][-1]["content"] for request in server.requests]
    assert 10 <= len(asked) < 40, "the run must be interrupted midway"
    with Workspace(path) as ws:
        cached = cache(ws)
    # Only the request in flight at Ctrl-C may be lost; the batch waiting is written.
    assert len(asked) - 1 <= len(cached) <= len(asked)
    assert cached == {text: answer_for(text) for text in asked[: len(cached)]}


def answer(key: str, response: str | None, error: str | None = None) -> CachedAnswer:
    return CachedAnswer(
        key=key,
        model="m",
        request={"messages": [{"role": "user", "content": key}]},
        response=response,
        error=error,
        label=response,
        prompt_tokens=None,
        completion_tokens=None,
        latency_s=0.1,
    )


def test_a_batch_keeps_answers_over_failures(workspace: Workspace) -> None:
    store_answers(workspace, [answer("paid", "spam"), answer("failed", None, "Timeout: late")])
    store_answers(
        workspace,
        [
            answer("paid", None, "InternalServerError: down"),
            answer("failed", None, "APIConnectionError: refused"),
            answer("twice", "ham"),
            answer("twice", None, "Timeout: late"),
            answer("new", None, "Timeout: late"),
            answer("new", None, "InternalServerError: down"),
        ],
    )
    rows = workspace.sql("SELECT key, response, error FROM llm_cache ORDER BY key").rows()
    assert rows == [
        ("failed", None, "APIConnectionError: refused"),
        ("new", None, "InternalServerError: down"),
        ("paid", "spam", None),
        ("twice", "ham", None),
    ]


def test_a_piped_run_says_how_far_it_is(tmp_path: Path) -> None:
    # Trial 62a: piped to a log, 300 prompts ran 4 minutes without a line; the bar drew
    # only at the end.
    path = comments(tmp_path, 40)
    with OpenAIServer(Behaviour(delay_s=0.05)) as server:
        done = subprocess.run(
            [
                *(sys.executable, "-m", "labelkit", "llm", str(path), "--model", "test-model"),
                *("--instructions", "Is this comment spam?", "--base-url", server.base_url),
                *("--api-key", "test", "--concurrency", "1", "--response-format", "json_schema"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("asking test-model")]
    assert lines[0].startswith("asking test-model (0 cached): 1 of 40 (2%)"), lines
    assert lines[-1] == "asking test-model (0 cached): 40 of 40 (100%), answered 40 · failed 0"
    assert "━" not in done.stderr, "no bar off a terminal"
