from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from labelkit import (
    LabelkitError,
    LLMConfig,
    Workspace,
    export_llm_cache,
    import_llm_cache,
    label_with_llm,
)
from tests.openai_server import Behaviour, OpenAIServer, answer_for

CONFIG = LLMConfig(model="test-model", instructions="Is this comment spam?", api_key="test")


def votes(ws: Workspace) -> dict[str, str]:
    return dict(
        ws.sql("SELECT example_id, label FROM votes WHERE source = 'llm:test-model'").rows()
    )


def expected(ws: Workspace) -> dict[str, str]:
    return {i: answer_for(t) for i, t in ws.sql("SELECT id, text FROM examples").rows()}


def test_labels_through_real_http_and_caches_every_answer(workspace: Workspace) -> None:
    with OpenAIServer() as server:
        config = dataclasses.replace(CONFIG, base_url=server.base_url)
        stats = label_with_llm(workspace, config)
        assert len(server.requests) == 6
        assert (stats.answered, stats.cached, stats.failed, stats.unparsed) == (6, 0, 0, 0)
        assert stats.response_format == "json_schema"
        assert server.requests[0]["response_format"]["type"] == "json_schema"
        assert votes(workspace) == expected(workspace)

        again = label_with_llm(workspace, config)
        assert len(server.requests) == 6, "a rerun must not ask again"
        assert (again.cached, again.answered) == (6, 0)
    cached = workspace.sql("SELECT count(*) AS n, sum(prompt_tokens) AS p FROM llm_cache").row(0)
    assert cached == (6, 120)


def test_falls_back_when_json_schema_is_refused(workspace: Workspace) -> None:
    with OpenAIServer(Behaviour(refuse_json_schema=True)) as server:
        config = dataclasses.replace(CONFIG, base_url=server.base_url)
        stats = label_with_llm(workspace, config)
    assert stats.response_format == "json_object"
    assert server.requests[1]["response_format"]["type"] == "json_object"
    assert votes(workspace) == expected(workspace)


def test_free_text_answers_are_parsed(workspace: Workspace) -> None:
    with OpenAIServer(Behaviour(free_text=True)) as server:
        config = dataclasses.replace(CONFIG, base_url=server.base_url, response_format="text")
        label_with_llm(workspace, config)
    assert "response_format" not in server.requests[0]
    assert votes(workspace) == expected(workspace)


def test_retries_on_429_with_retry_after(workspace: Workspace) -> None:
    behaviour = Behaviour(fail_first=2, fail_status=429)
    with OpenAIServer(behaviour) as server:
        config = dataclasses.replace(
            CONFIG, base_url=server.base_url, response_format="json_schema", concurrency=1
        )
        stats = label_with_llm(workspace, config)
    assert (stats.answered, stats.failed) == (6, 0)
    assert len(server.requests) == 8


def test_persistent_failures_are_recorded_and_retried_next_run(workspace: Workspace) -> None:
    behaviour = Behaviour(fail_first=10**6, fail_status=500)
    with OpenAIServer(behaviour) as server:
        config = dataclasses.replace(
            CONFIG, base_url=server.base_url, response_format="json_schema", max_retries=1
        )
        stats = label_with_llm(workspace, config)
        assert (stats.answered, stats.failed) == (0, 6)
        errors = workspace.sql("SELECT error FROM llm_cache")["error"].to_list()
        assert len(errors) == 6 and all("InternalServerError" in e for e in errors)
        assert votes(workspace) == {}
        behaviour.fail_first = 0
        retried = label_with_llm(workspace, config)
    assert (retried.cached, retried.answered, retried.failed) == (0, 6, 0)
    assert workspace.sql("SELECT count(*) AS n FROM llm_cache WHERE error IS NULL")["n"][0] == 6


def test_no_endpoint_and_nothing_cached_is_a_clear_error(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(LabelkitError, match="6 of 6 prompts are not in the LLM cache"):
        label_with_llm(workspace, dataclasses.replace(CONFIG, api_key=None))


def test_recorded_answers_replay_without_an_endpoint(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with OpenAIServer() as server:
        label_with_llm(workspace, dataclasses.replace(CONFIG, base_url=server.base_url))
    assert export_llm_cache(workspace, tmp_path / "answers.jsonl", model="test-model") == 6
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with Workspace(tmp_path / "fresh.duckdb") as fresh:
        workspace_rows = workspace.sql("SELECT id, text, gold, split FROM examples")
        fresh.con.execute("INSERT INTO meta VALUES ('task', ?)", [workspace.task.to_json()])
        fresh.con.register("rows", workspace_rows.to_arrow())
        fresh.con.execute("INSERT INTO examples SELECT id, text, gold, split, NULL, 0 FROM rows")
        assert import_llm_cache(fresh, tmp_path / "answers.jsonl") == 6
        assert import_llm_cache(fresh, tmp_path / "answers.jsonl") == 0
        stats = label_with_llm(fresh, dataclasses.replace(CONFIG, api_key=None))
        assert (stats.cached, stats.answered) == (6, 0)
        assert votes(fresh) == expected(fresh)
