from __future__ import annotations

import dataclasses
import json
import math
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from labelkit import (
    InputError,
    LabelkitError,
    LabelkitWarning,
    LLMConfig,
    ReviewQueue,
    Task,
    Workspace,
    export_llm_cache,
    import_llm_cache,
    ingest,
    label_with_llm,
)
from labelkit.llm import LLMRunStats, estimate_llm_run, few_shot_examples
from labelkit.llm.labeler import prompt_change
from tests.helpers import free_port
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
    # The arguments go out in extra_body, past the client's typed ones: what the server
    # got must be the request cached (which names the response format only), messages
    # included.
    recorded = [json.loads(r) for r in workspace.sql("SELECT request FROM llm_cache")["request"]]
    sent = [r | {"response_format": r["response_format"]["type"]} for r in server.requests]
    text = lambda request: request["messages"][-1]["content"]  # noqa: E731
    assert sorted(sent, key=text) == sorted(recorded, key=text)
    assert all(len(request["messages"]) == 2 for request in sent)


def test_a_source_asked_another_prompt_says_so_and_logs_each_prompts_hash(
    workspace: Workspace,
) -> None:
    # Trial 59a: new instructions replaced the source's votes under its name unsaid, and
    # the log could not tell the two runs apart.
    with OpenAIServer() as server:
        config = dataclasses.replace(CONFIG, base_url=server.base_url)
        first = label_with_llm(workspace, config)
        again = label_with_llm(workspace, config)
        advert = dataclasses.replace(config, instructions="Is this comment an advert?")
        # Trial 59g: the dry run said nothing of the votes a changed prompt replaces.
        assert estimate_llm_run(workspace, advert).replaces_votes == 6
        assert estimate_llm_run(workspace, config, refresh=True).replaces_votes == 0
        # Trial 61c: a larger --max-tokens was said to change the instructions, and
        # nothing said the cache would not serve it.
        assert prompt_change(workspace, config) == ""
        assert prompt_change(workspace, advert) == "other instructions, template or examples"
        longer = dataclasses.replace(config, max_tokens=config.answer_tokens(workspace.task) + 4)
        assert estimate_llm_run(workspace, longer).cached == 0
        assert prompt_change(workspace, longer) == (
            f"--max-tokens {longer.max_tokens}, was {config.answer_tokens(workspace.task)}: the "
            f"cache is keyed by the whole request, so --max-tokens "
            f"{config.answer_tokens(workspace.task)} uses the earlier answers"
        )
        other = label_with_llm(workspace, advert)
    assert (first.replaced_votes, again.replaced_votes, other.replaced_votes) == (0, 0, 6)
    assert other.answered == 6
    hashes = [
        json.loads(logged)["definition_hash"]
        for logged in workspace.sql("SELECT config FROM runs WHERE step = 'llm' ORDER BY run_id")[
            "config"
        ]
    ]
    assert hashes[0] == hashes[1] != hashes[2]
    assert hashes[2] == workspace.sql("SELECT hash FROM sources")["hash"][0]


def test_requests_are_spread_over_replicas_of_one_model(workspace: Workspace) -> None:
    with OpenAIServer() as server, OpenAIServer() as replica:
        config = dataclasses.replace(
            CONFIG, base_url=server.base_url, extra_base_urls=(replica.base_url,)
        )
        stats = label_with_llm(workspace, config)
    assert (stats.answered, stats.failed) == (6, 0)
    assert (len(server.requests), len(replica.requests)) == (3, 3)
    assert votes(workspace) == expected(workspace)
    with pytest.raises(LabelkitError, match="beside base_url"):
        LLMConfig(model="m", instructions="?", extra_base_urls=(replica.base_url,))


def _closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


def test_a_dead_replicas_prompts_are_asked_of_the_live_one(workspace: Workspace) -> None:
    # Trial 47: a dead replica failed every other prompt; stop 47 then stopped the run
    # after it failed twice, with two prompts left unasked though base_url answered.
    dead = _closed_port_url()
    with OpenAIServer() as server:
        config = dataclasses.replace(
            CONFIG,
            base_url=dead,
            extra_base_urls=(server.base_url,),
            concurrency=1,
            max_retries=0,
            stop_after_failures=2,
        )
        stats = label_with_llm(workspace, config)
        # Each failure at the dead one was asked again at the live one, until it was dropped.
        assert len(server.requests) == 6
    assert (stats.answered, stats.failed, stats.not_asked, stats.stopped) == (6, 0, 0, None)
    assert list(stats.dropped) == [dead]
    assert stats.dropped[dead].startswith(f"2 prompts in a row failed at {dead}, the last with")
    assert "ConnectionRefusedError" in stats.dropped[dead]
    assert votes(workspace) == expected(workspace)
    # A refused connection sent nothing: it costs nothing.
    assert (stats.broken_off, stats.timed_out) == (0, 0)


def test_attempts_broken_off_at_a_replica_failed_over_are_counted(workspace: Workspace) -> None:
    # The second read: a replica dropping every connection cost what a clean run did.
    with OpenAIServer(Behaviour(always="drop")) as dropping, OpenAIServer() as server:
        config = dataclasses.replace(
            CONFIG,
            base_url=dropping.base_url,
            extra_base_urls=(server.base_url,),
            concurrency=1,
            max_retries=0,
            stop_after_failures=2,
            input_price=1.0,
            output_price=2.0,
        )
        stats = label_with_llm(workspace, config)
        dropped = len(dropping.requests)
    assert stats.answered == 6 and dropped > 0
    assert (stats.broken_off, stats.timed_out) == (dropped, 0)
    # Six answers at their usage, and each dropped attempt at least one answer's worth.
    assert stats.cost > (6 + dropped) * (20 * 1 + 5 * 2) / 1e6


def test_a_replica_that_answers_errors_is_dropped_and_the_run_goes_on(
    workspace: Workspace,
) -> None:
    # A 4xx is the same everywhere: not asked again elsewhere, but counted per endpoint.
    with OpenAIServer(Behaviour(always="401")) as broken, OpenAIServer() as server:
        config = dataclasses.replace(
            CONFIG,
            base_url=server.base_url,
            extra_base_urls=(broken.base_url,),
            concurrency=1,
            max_retries=0,
            stop_after_failures=2,
        )
        stats = label_with_llm(workspace, config)
        assert (len(server.requests), len(broken.requests)) == (4, 2)
    assert (stats.answered, stats.failed, stats.not_asked, stats.stopped) == (4, 2, 0, None)
    assert list(stats.dropped) == [broken.base_url]


def test_a_run_stops_when_every_replica_is_dropped(workspace: Workspace) -> None:
    dead, gone = _closed_port_url(), _closed_port_url()
    config = dataclasses.replace(
        CONFIG,
        base_url=dead,
        extra_base_urls=(gone,),
        concurrency=1,
        max_retries=0,
        stop_after_failures=2,
    )
    stats = label_with_llm(workspace, config)
    assert stats.answered == 0 and stats.not_asked > 0
    assert set(stats.dropped) == {dead, gone}
    assert stats.stopped is not None
    assert re.match(rf"2 prompts in a row failed at ({dead}|{gone}), the last with", stats.stopped)


def test_failures_that_leave_no_prompt_unasked_stop_nothing(workspace: Workspace) -> None:
    # Trial 67a: a rerun of 7 always-slow prompts read "the run stopped early, 0 prompts
    # not asked" and exited 1; the full run with the same failures exited 0.
    dead = dataclasses.replace(
        CONFIG, base_url=_closed_port_url(), concurrency=1, max_retries=0, stop_after_failures=6
    )
    every = label_with_llm(workspace, dead)
    assert (every.failed, every.not_asked, every.stopped) == (6, 0, None)
    early = label_with_llm(workspace, dataclasses.replace(dead, stop_after_failures=5))
    assert (early.failed, early.not_asked) == (5, 1)
    assert early.stopped is not None and early.stopped.startswith("5 prompts in a row failed")


def test_falls_back_when_json_schema_is_refused(workspace: Workspace) -> None:
    with OpenAIServer(Behaviour(refuse_json_schema=True)) as server:
        config = dataclasses.replace(CONFIG, base_url=server.base_url)
        stats = label_with_llm(workspace, config)
    assert stats.response_format == "json_object"
    # A 500 is taken for a refusal when a second attempt gets one too.
    formats = [request["response_format"]["type"] for request in server.requests[:3]]
    assert formats == ["json_schema", "json_schema", "json_object"]
    assert votes(workspace) == expected(workspace)


def test_one_500_on_the_first_request_keeps_the_json_schema(workspace: Workspace) -> None:
    # Trial 47: any 5xx to the first request was read as "json_schema is not supported",
    # and the run went on in json_object.
    with OpenAIServer(Behaviour(faults=["500"])) as server:
        stats = label_with_llm(workspace, dataclasses.replace(CONFIG, base_url=server.base_url))
    assert stats.response_format == "json_schema" and stats.answered == 6
    assert len(server.requests) == 7
    assert {request["response_format"]["type"] for request in server.requests} == {"json_schema"}


@pytest.mark.parametrize("fault", ["500", "unsupported_parameter"])
def test_an_outage_or_another_parameter_refused_keeps_the_json_schema(
    workspace: Workspace, fault: str
) -> None:
    # Trial 61c: an outage of 500s, and a reasoning model's refusal of max_tokens, were
    # each said to refuse json_schema and then json_object.
    with OpenAIServer(Behaviour(always=fault)) as server:
        # One at a time, so that the stop leaves prompts unasked: a stop after every
        # prompt was sent stops nothing (trial 67a).
        config = dataclasses.replace(
            CONFIG, base_url=server.base_url, max_retries=0, stop_after_failures=3, concurrency=1
        )
        with warnings.catch_warnings():
            warnings.simplefilter("error", LabelkitWarning)
            stats = label_with_llm(workspace, config)
    assert {request["response_format"]["type"] for request in server.requests} == {"json_schema"}
    assert stats.stopped is not None and "3 prompts in a row failed" in stats.stopped
    assert (stats.failed, stats.not_asked) == (3, 3)


def test_a_reasoning_model_is_asked_its_own_way(workspace: Workspace) -> None:
    # Trial 61c: max_tokens and a temperature of 0 went to every model, which OpenAI's
    # reasoning models refuse; nothing could send them otherwise.
    with OpenAIServer(Behaviour(reasoning=True)) as server:
        plain = dataclasses.replace(CONFIG, base_url=server.base_url, stop_after_failures=2)
        refused = label_with_llm(workspace, plain)
        assert refused.answered == 0 and "'max_tokens'" in (refused.stopped or "")
        command = [
            sys.executable, "-m", "labelkit", "llm", str(workspace.path), "--model", "test-model",
            "--instructions", CONFIG.instructions, "--base-url", server.base_url,
            "--api-key", "test", "--reasoning-model", "--max-tokens", "300",
        ]  # fmt: skip
        workspace.close()
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        asked = server.requests[-1]
    assert "4 answered, 0 failed" in done.stdout  # the train split
    assert asked["max_completion_tokens"] == 300
    assert "max_tokens" not in asked and "temperature" not in asked


def test_a_connection_that_never_opened_costs_nothing(workspace: Workspace) -> None:
    # The second read: a TLS error, before any byte of the request, was charged.
    with OpenAIServer() as server:
        tls = server.base_url.replace("http://", "https://")
        config = dataclasses.replace(
            CONFIG, base_url=tls, max_retries=1, input_price=1.0, output_price=2.0
        )
        stats = label_with_llm(workspace, config)
        assert server.requests == []
    assert stats.failed > 0 and "SSL" in (stats.last_error or "")
    assert (stats.broken_off, stats.timed_out, stats.cost) == (0, 0, 0.0)


def test_a_refusal_naming_a_field_of_the_format_steps_down(workspace: Workspace) -> None:
    # The second read: "unknown field `strict`" was taken for another parameter than
    # the format, and every prompt failed in json_schema.
    with (
        OpenAIServer(Behaviour(faults=["unknown_field"])) as server,
        pytest.warns(LabelkitWarning, match="refused response format json_schema"),
    ):
        stats = label_with_llm(workspace, dataclasses.replace(CONFIG, base_url=server.base_url))
    assert (stats.response_format, stats.answered) == ("json_object", 6)


def test_a_base_url_with_credentials_is_refused_without_showing_them(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Trial 61c: aiohttp's ValueError ended the run in a 60-line traceback.
    with OpenAIServer() as server:
        netloc = server.base_url.split("//")[1]
        config = dataclasses.replace(CONFIG, base_url=f"http://ana:s3cret-pw@{netloc}")
        with pytest.raises(LabelkitError, match="--base-url holds credentials") as refused:
            label_with_llm(workspace, config)
        assert "s3cret-pw" not in str(refused.value) and server.base_url in str(refused.value)
        monkeypatch.setenv("OPENAI_BASE_URL", f"http://ana:s3cret-pw@{netloc}")
        with pytest.raises(LabelkitError, match="OPENAI_BASE_URL holds credentials"):
            label_with_llm(workspace, dataclasses.replace(CONFIG, base_url=None))
        assert server.requests == []
        assert workspace.sql("SELECT count(*) AS n FROM llm_cache")["n"][0] == 0
        # Unused where --base-url is given (the second read: refused all the same).
        used = label_with_llm(workspace, dataclasses.replace(CONFIG, base_url=server.base_url))
    assert used.answered == 6


def test_prices_other_than_the_models_last_are_warned_of(workspace: Workspace) -> None:
    # Trial 61c: another model's prices, pasted, made a $0.002 limit a $0.0325 bill.
    with OpenAIServer() as server:
        config = dataclasses.replace(
            CONFIG, base_url=server.base_url, input_price=2.5, output_price=10.0
        )
        with warnings.catch_warnings():
            warnings.simplefilter("error", LabelkitWarning)
            label_with_llm(workspace, config)
            label_with_llm(workspace, config, refresh=True)
        first = workspace.sql("SELECT min(run_id) AS n FROM runs WHERE step = 'llm'")["n"][0]
        pasted = dataclasses.replace(config, input_price=0.15, output_price=0.6)
        with pytest.warns(
            LabelkitWarning, match=rf"at \$2.5 in and \$10 out .* in run {first + 1}"
        ):
            label_with_llm(workspace, pasted, refresh=True)


def test_free_text_answers_are_parsed(workspace: Workspace) -> None:
    with OpenAIServer(Behaviour(free_text=True)) as server:
        config = dataclasses.replace(CONFIG, base_url=server.base_url, response_format="text")
        label_with_llm(workspace, config)
    assert "response_format" not in server.requests[0]
    assert votes(workspace) == expected(workspace)


def test_a_run_names_the_commonest_answers_it_could_not_read(workspace: Workspace) -> None:
    # Trial 45: "45 unparseable" said nothing of what the answers were.
    def unsure(body: dict) -> str:
        text = body["messages"][-1]["content"]
        return answer_for(text) if "song" in text else "No  idea,\nsorry"

    with OpenAIServer(Behaviour(script=unsure)) as server:
        config = dataclasses.replace(CONFIG, base_url=server.base_url, response_format="text")
        stats = label_with_llm(workspace, config)
    unread = sum(
        1 for text in workspace.sql("SELECT text FROM examples")["text"] if "song" not in text
    )
    assert stats.unparsed == unread > 0
    assert stats.unread == (("No  idea,\nsorry", unread),)


def test_retries_on_429_with_retry_after(workspace: Workspace) -> None:
    behaviour = Behaviour(faults=["429", "429"])
    with OpenAIServer(behaviour) as server:
        config = dataclasses.replace(
            CONFIG, base_url=server.base_url, response_format="json_schema", concurrency=1
        )
        stats = label_with_llm(workspace, config)
    assert (stats.answered, stats.failed) == (6, 0)
    assert len(server.requests) == 8


def test_a_rate_limited_first_request_keeps_the_best_format(workspace: Workspace) -> None:
    with OpenAIServer(Behaviour(faults=["429"])) as server:
        stats = label_with_llm(workspace, dataclasses.replace(CONFIG, base_url=server.base_url))
    assert (stats.response_format, stats.answered, stats.failed) == ("json_schema", 6, 0)
    assert len(server.requests) == 7


def test_persistent_failures_are_recorded_and_retried_next_run(workspace: Workspace) -> None:
    behaviour = Behaviour(always="500")
    with OpenAIServer(behaviour) as server:
        config = dataclasses.replace(
            CONFIG,
            base_url=server.base_url,
            response_format="json_schema",
            max_retries=1,
            stop_after_failures=10,
        )
        stats = label_with_llm(workspace, config)
        assert (stats.answered, stats.failed) == (0, 6)
        errors = workspace.sql("SELECT error FROM llm_cache")["error"].to_list()
        assert len(errors) == 6 and all("InternalServerError" in e for e in errors)
        assert votes(workspace) == {}
        behaviour.always = None
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
        # Trial 47c: a broken line was polars' error, with no line named.
        lines = (tmp_path / "answers.jsonl").read_text().splitlines()
        broken = tmp_path / "broken.jsonl"
        broken.write_text("\n".join([*lines[:2], lines[2][:-5], *lines[3:]]) + "\n")
        with pytest.raises(InputError, match=r"broken.jsonl line 3: malformed JSON"):
            import_llm_cache(fresh, broken)
        assert import_llm_cache(fresh, tmp_path / "answers.jsonl") == 6
        assert import_llm_cache(fresh, tmp_path / "answers.jsonl") == 0
        stats = label_with_llm(fresh, dataclasses.replace(CONFIG, api_key=None))
        assert (stats.cached, stats.answered) == (6, 0)
        assert votes(fresh) == expected(fresh)
        # Answers recorded for part of the data replay without an endpoint when only the
        # cache is asked: the other examples abstain.
        fresh.con.execute("DELETE FROM llm_cache WHERE key IN (SELECT key FROM llm_cache LIMIT 2)")
        with pytest.raises(LabelkitError, match="2 of 6 prompts are not in the LLM cache"):
            label_with_llm(fresh, dataclasses.replace(CONFIG, api_key=None))
        stats = label_with_llm(fresh, dataclasses.replace(CONFIG, api_key=None), cached_only=True)
        assert (stats.cached, stats.answered, stats.not_asked) == (4, 0, 2)
        assert len(votes(fresh)) == 4 and votes(fresh).items() <= expected(fresh).items()


def cache_rows(ws: Workspace) -> list[tuple[str, bool]]:
    return ws.sql("SELECT key, error IS NULL AS answered FROM llm_cache ORDER BY key").rows()


@pytest.mark.parametrize("fault", ["429", "500", "malformed", "cut", "drop", "slow"])
def test_each_fault_is_retried_or_recorded_never_lost(workspace: Workspace, fault: str) -> None:
    behaviour = Behaviour(faults=[fault] * 3)
    with OpenAIServer(behaviour) as server:
        config = dataclasses.replace(
            CONFIG,
            base_url=server.base_url,
            response_format="json_schema",
            concurrency=2,
            max_retries=1,
            timeout_s=1.0,
        )
        stats = label_with_llm(workspace, config)
        rows = cache_rows(workspace)
        assert len(rows) == 6, "every prompt ends with exactly one cache row"
        failed = sum(not answered for _, answered in rows)
        assert (stats.answered, stats.failed) == (6 - failed, failed)
        assert len(votes(workspace)) == 6 - failed
        asked = len(server.requests)
        again = label_with_llm(workspace, config)
        assert len(server.requests) - asked == failed, "only the failures are asked again"
    assert (again.cached, again.answered, again.failed) == (6 - failed, failed, 0)
    assert votes(workspace) == expected(workspace)


def priced_run(path: Path, timeout_s: float = 30.0, **behaviour: Any) -> LLMRunStats:
    """Two texts asked one at a time of a server behaving so, at $1 and $2 a million
    tokens, in a new workspace at ``path``."""
    with Workspace(path) as ws:
        ingest(ws, pl.DataFrame({"id": ["a", "b"], "text": ["nice song", "subscribe"]}),
               id_column="id", labels=["ham", "spam"])  # fmt: skip
        with OpenAIServer(Behaviour(**behaviour)) as server:
            config = dataclasses.replace(
                CONFIG,
                base_url=server.base_url,
                concurrency=1,
                max_retries=3,
                timeout_s=timeout_s,
                input_price=1.0,
                output_price=2.0,
            )
            return label_with_llm(ws, config)


def test_attempts_past_the_deadline_are_counted_in_the_cost(tmp_path: Path) -> None:
    # Trial 59g: 215 attempts that timed out, billed by the provider, were counted $0.
    plain = priced_run(tmp_path / "plain.duckdb", timeout_s=1.0)
    slow = priced_run(tmp_path / "slow.duckdb", timeout_s=1.0, faults=["slow", "slow"])
    assert (plain.answered, slow.answered, plain.timed_out, slow.timed_out) == (2, 2, 0, 2)
    # Each timed-out attempt at the most its request could cost: at least what an answer
    # of that request cost.
    assert slow.cost > plain.cost * 1.9


def test_attempts_broken_off_and_broken_token_counts_are_counted_at_their_hold(
    tmp_path: Path,
) -> None:
    # Trial 61c: a body cut off at HTTP 200 was billed and counted $0; a dropped
    # connection was said to run past the deadline; a count below zero was counted $0.
    def run(name: str, **behaviour: Any) -> LLMRunStats:
        return priced_run(tmp_path / f"{name}.duckdb", **behaviour)

    plain = run("plain")
    broken = run("broken", faults=["cut", "drop"])
    # The cut-off body is not asked again; the dropped connection is, and answered.
    assert (broken.answered, broken.failed, broken.timed_out, broken.broken_off) == (1, 1, 0, 2)
    # One answer at its cost, two attempts each at the most its request could cost.
    assert broken.cost > plain.cost * 1.4
    malformed = run("malformed", faults=["malformed"])
    assert (malformed.failed, malformed.broken_off) == (1, 1)
    # A 200 without a message, billed, at the usage it came with (the second read: $0).
    unsaid = run("unsaid", faults=["null_content"])
    assert (unsaid.answered, unsaid.failed, unsaid.broken_off) == (1, 1, 0)
    assert unsaid.cost == pytest.approx(plain.cost)
    negative = run("negative", prompt_tokens=-5)
    assert (negative.answered, negative.unmetered) == (2, 2)
    assert negative.cost > plain.cost


def test_a_killed_run_resumes_without_asking_answered_prompts_again(tmp_path: Path) -> None:
    n = 120
    texts = [f"comment {i} {'subscribe now' if i % 3 == 0 else 'nice song'}" for i in range(n)]
    csv = tmp_path / "comments.csv"
    csv.write_text("id,text\n" + "".join(f"c{i:03d},{t}\n" for i, t in enumerate(texts)))
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        ingest(ws, csv, id_column="id", labels=["ham", "spam"])
    with OpenAIServer(Behaviour(delay_s=0.05)) as server:
        command = [
            sys.executable,
            "-m",
            "labelkit",
            "llm",
            str(path),
            "--model",
            "test-model",
            "--instructions",
            "Is this comment spam?",
            "--base-url",
            server.base_url,
            "--api-key",
            "test",
            "--concurrency",
            "1",
            "--response-format",
            "json_schema",
        ]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        # 50 answers of at least 0.05 s each take over two seconds: batches were written.
        while len(server.requests) < 50 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
        asked_before = len(server.requests)
        assert 50 <= asked_before < n, "the run must be killed midway"
        with Workspace(path) as ws:
            cached = {r[0] for r in ws.sql("SELECT request FROM llm_cache").rows()}
            assert ws.sql("SELECT count(*) AS n FROM votes")["n"][0] == 0
            # A kill loses the batch not written yet (at most a second's answers) and
            # the request in flight; what was written is the start of the run.
            assert 0 < len(cached) <= asked_before
            cached_texts = {json.loads(r)["messages"][-1]["content"] for r in cached}
            asked_texts = [r["messages"][-1]["content"] for r in server.requests]
            assert cached_texts == set(asked_texts[: len(cached)])
            stats = label_with_llm(ws, dataclasses.replace(CONFIG, base_url=server.base_url))
            asked_again = server.requests[asked_before:]
            assert len(asked_again) == n - len(cached) == stats.answered
            assert stats.cached == len(cached)
            assert not cached_texts & {r["messages"][-1]["content"] for r in asked_again}
            assert votes(ws) == expected(ws)


def test_ctrl_c_says_what_was_kept(tmp_path: Path) -> None:
    # Trial 34: Ctrl-C ended the run with nothing printed after the progress bar.
    csv = tmp_path / "rows.csv"
    csv.write_text("id,text\n" + "".join(f"c{i:03d},comment {i}\n" for i in range(200)))
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        ingest(ws, csv, id_column="id", labels=["ham", "spam"])
    with OpenAIServer(Behaviour(delay_s=0.05)) as server:
        command = [
            sys.executable, "-m", "labelkit", "llm", str(path), "--model", "test-model",
            "--instructions", "Spam?", "--base-url", server.base_url, "--api-key", "test",
            "--concurrency", "1", "--response-format", "json_schema",
        ]  # fmt: skip

        def interrupted(*more: str) -> tuple[int, str]:
            asked = len(server.requests)
            process = subprocess.Popen(
                [*command, *more], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            deadline = time.monotonic() + 60
            while len(server.requests) < asked + 20 and time.monotonic() < deadline:
                time.sleep(0.01)
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=60)
            assert process.returncode != 0
            said = re.search(
                r"interrupted: (\d+) answers? received (?:is|are) in the cache", stderr
            )
            assert said is not None, stderr
            return int(said[1]), " ".join(stderr.split())

        kept, said = interrupted("--input-price", "1", "--output-price", "2")
        billed = len(server.requests)
        with Workspace(path, read_only=True) as ws:
            assert kept == ws.sql("SELECT count(*) AS n FROM llm_cache")["n"][0] > 0
            # Trial 59g: what an interrupted run paid was logged nowhere.
            logged = ws.sql("SELECT config FROM runs WHERE step = 'llm-interrupted'")
            run = json.loads(logged["config"][0])
        assert logged.height == 1 and run["cost"] > 0
        # Trial 61c: the requests in flight, which the server answers and bills, counted
        # nowhere (each answer here costs 20 prompt and 5 completion tokens).
        assert run["cost"] >= billed * (20 * 1 + 5 * 2) / 1e6 * (1 - 1e-9)
        flying = (
            f", {run['in_flight']} request{'s' if run['in_flight'] > 1 else ''} in flight "
            "counted at the most each could cost"
            if run["in_flight"]
            else ""
        )
        assert f"(${run['cost']:.4f}{flying}, logged as step llm-interrupted)" in said
        assert "run the same command again to store them" in said
        # Refreshed answers replace cached rows: counting rows said 0 (second read, stop 48).
        refreshed, said = interrupted("--refresh", "--budget", "150")
        assert refreshed > 0
        assert "run again with --cached-only to store them alone" in said


def test_logprobs_give_a_confidence_and_unsure_answers_abstain(workspace: Workspace) -> None:
    with OpenAIServer() as server:
        config = dataclasses.replace(
            CONFIG, base_url=server.base_url, logprobs=True, min_confidence=0.7
        )
        stats = label_with_llm(workspace, config)
    assert server.requests[0]["logprobs"] is True
    assert_unsure_on_a2(workspace, stats)


def assert_unsure_on_a2(workspace: Workspace, stats: LLMRunStats) -> None:
    """Each cached answer's confidence is the test server's (0.6 for a2, whose link is
    no subscribe), and a2's answer alone is under 0.7 and does not vote."""
    ids = dict(workspace.sql("SELECT text, id FROM examples").rows())
    confidences = {
        ids[json.loads(request)["messages"][-1]["content"]]: round(confidence, 6)
        for request, confidence in workspace.sql("SELECT request, confidence FROM llm_cache").rows()
    }
    assert confidences == {"a1": 0.9, "a2": 0.6, "a3": 0.9, "a4": 0.9, "a5": 0.9, "a6": 0.9}
    assert stats.unsure == 1
    assert votes(workspace) == {k: v for k, v in expected(workspace).items() if k != "a2"}


def test_an_answer_read_through_an_alias_has_a_confidence(workspace: Workspace) -> None:
    # Trial 58a: 244 answers read through an alias ("delivery") had no confidence and
    # voted past --min-confidence 0.7, unreported; and --min-confidence without
    # --logprobs let every answer vote.
    with OpenAIServer(Behaviour(written={"spam": "junk"})) as server:
        config = dataclasses.replace(
            CONFIG,
            base_url=server.base_url,
            logprobs=True,
            min_confidence=0.7,
            aliases={"spam": ["junk"]},
        )
        stats = label_with_llm(workspace, config)
        with pytest.raises(LabelkitError, match="min_confidence needs logprobs"):
            label_with_llm(workspace, dataclasses.replace(config, logprobs=False))
    assert_unsure_on_a2(workspace, stats)
    # Trial 58a: the log did not say how the answers were read.
    logged = json.loads(workspace.sql("SELECT config FROM runs WHERE step = 'llm'").item())
    assert (logged["aliases"], logged["logprobs"], logged["min_confidence"]) == (
        {"spam": ["junk"]},
        True,
        0.7,
    )


def test_an_answers_confidence_is_read_from_its_label_value() -> None:
    # The second read: an alias answer's label spelled in a later key ("a shipping
    # delay") took that key's tokens for the answer's confidence.
    from labelkit.llm.labeler import _answer_confidence

    def tokens(*pieces: tuple[str, float]) -> dict:
        return {"content": [{"token": text, "logprob": logprob} for text, logprob in pieces]}

    written = tokens(('{"label": "', 0.0), ("delivery", -0.5), ('", "reason": "a ', 0.0),
                     ("shipping", -3.0), (' delay"}', 0.0))  # fmt: skip
    content = '{"label": "delivery", "reason": "a shipping delay"}'
    assert _answer_confidence(content, "shipping", written) == pytest.approx(math.exp(-0.5))
    spelled = tokens(('{"label": "', 0.0), ("Ship", -0.1), ("ping", -0.2), ('"}', 0.0))
    assert _answer_confidence('{"label": "Shipping"}', "shipping", spelled) == pytest.approx(
        math.exp(-0.3)
    )
    assert _answer_confidence('{"label": ""}', "shipping", tokens(('{"label": ""}', 0.0))) is None


def test_refresh_asks_again_and_replaces_the_cached_answers(workspace: Workspace) -> None:
    with OpenAIServer() as server:
        config = dataclasses.replace(CONFIG, base_url=server.base_url)
        label_with_llm(workspace, config)
        stats = label_with_llm(workspace, config, refresh=True)
        assert len(server.requests) == 12
    assert (stats.cached, stats.answered) == (0, 6)
    assert stats.prompt_tokens == 6 * Behaviour().prompt_tokens
    assert workspace.sql("SELECT count(*) AS n FROM llm_cache")["n"][0] == 6
    with OpenAIServer(Behaviour(always="500")) as server:
        config = dataclasses.replace(
            CONFIG, base_url=server.base_url, max_retries=0, stop_after_failures=10
        )
        failed = label_with_llm(workspace, config, refresh=True)
    assert failed.failed == 6
    # Trial 45: the answers a failed refresh kept were counted as this run's tokens.
    assert (failed.prompt_tokens, failed.completion_tokens) == (0, 0)
    assert cache_rows(workspace) == [(key, True) for key, _ in cache_rows(workspace)], (
        "a failed refresh keeps the answers already paid for"
    )
    assert votes(workspace) == expected(workspace)


def prompt_chars(config: LLMConfig, task: Task, text: str) -> int:
    """The characters of the messages ``config`` sends about ``text``."""
    return sum(len(message["content"]) for message in config.request(task, text)["messages"])


def test_dry_run_estimates_tokens_and_cost_without_asking(workspace: Workspace) -> None:
    priced = dataclasses.replace(CONFIG, input_price=1.0, output_price=2.0)
    before = estimate_llm_run(workspace, priced)
    chars = sum(
        prompt_chars(priced, workspace.task, text)
        for text in workspace.sql("SELECT text FROM examples")["text"]
    )
    assert (before.to_ask, before.cached, before.tokens_measured) == (6, 0, False)
    assert before.prompt_tokens == round(chars / 4)
    assert before.completion_tokens == 6 * priced.max_tokens
    assert before.cost == pytest.approx((before.prompt_tokens + 2 * 6 * 16) / 1e6)
    with OpenAIServer() as server:
        subset = dataclasses.replace(priced, base_url=server.base_url)
        stats = label_with_llm(workspace, subset, split="train")
    assert stats.cost == pytest.approx((4 * 20 + 2 * 4 * 5) / 1e6)
    after = estimate_llm_run(workspace, priced)
    assert (after.to_ask, after.cached, after.tokens_measured) == (2, 4, True)
    assert after.completion_tokens == 2 * 5, "measured on the cached answers"
    test_chars = sum(
        prompt_chars(priced, workspace.task, text)
        for text in workspace.sql("SELECT text FROM examples WHERE split = 'test'")["text"]
    )
    train_chars = chars - test_chars
    assert after.prompt_tokens == round(test_chars / (train_chars / (4 * 20)))


def test_a_dry_run_says_which_token_counts_were_measured(workspace: Workspace) -> None:
    # Trial 59g: a changed prompt's answers, each at its max_tokens, were said to be
    # "measured on cached answers".
    before = estimate_llm_run(workspace, CONFIG)
    assert (before.tokens_measured, before.completions_measured) == (False, False)
    with OpenAIServer() as server:
        label_with_llm(workspace, dataclasses.replace(CONFIG, base_url=server.base_url))
    other = dataclasses.replace(CONFIG, instructions="Is this comment an advert?")
    changed = estimate_llm_run(workspace, other)
    assert (changed.tokens_measured, changed.completions_measured) == (True, False)
    assert changed.completion_tokens == changed.to_ask * CONFIG.max_tokens
    again = estimate_llm_run(workspace, CONFIG, refresh=True)
    assert (again.tokens_measured, again.completions_measured) == (True, True)
    assert again.completion_tokens < again.to_ask * CONFIG.max_tokens


def test_a_dry_run_counts_a_token_per_chinese_character(tmp_path: Path) -> None:
    # Trial 57e: at 4 characters a token for every character, a Chinese set's dry run
    # counted a quarter of its tokens. Its instructions stay English, 4 a token (the
    # second read: a token per character of them too had tripled the estimate).
    texts = ["快递很慢很慢", "快递很快"]
    with Workspace(tmp_path / "zh.duckdb") as ws:
        ingest(ws, pl.DataFrame({"text": texts}), labels=["a", "b"])
        estimate = estimate_llm_run(ws, dataclasses.replace(CONFIG, input_price=1.0))
        chars = [prompt_chars(CONFIG, ws.task, text) for text in texts]
    # Each prompt: its characters but the text's at 4 a token, the text's 1 a token.
    expected = sum((n - len(text)) / 4 + len(text) for n, text in zip(chars, texts, strict=True))
    assert estimate.prompt_tokens == round(expected)


def test_a_dry_run_says_when_max_cost_would_refuse_the_run(tmp_path: Path) -> None:
    # Trial 56a: the dry run printed a $0.3496 estimate beside --max-cost 0.05, and not
    # that the run would be refused (it was).
    csv = tmp_path / "comments.csv"
    csv.write_text("id,text\n" + "".join(f"c{i},comment number {i}\n" for i in range(20)))
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        ingest(ws, csv, id_column="id", labels=["ham", "spam"])
    command = [sys.executable, "-m", "labelkit", "llm", str(path), "--model", "test-model",
               "--instructions", CONFIG.instructions, "--dry-run", "--input-price", "1",
               "--output-price", "2"]  # fmt: skip
    with Workspace(path, read_only=True) as ws:
        estimate = estimate_llm_run(
            ws, dataclasses.replace(CONFIG, input_price=1.0, output_price=2.0)
        )
    assert estimate.cost is not None
    over = subprocess.run(
        [*command, "--max-cost", f"{estimate.cost / 2:.8f}"], capture_output=True, text=True
    )
    assert over.returncode == 0, over.stderr
    said = " ".join(over.stdout.split())
    assert (
        f"--max-cost: the run would be refused: 20 prompts would cost about ${estimate.cost:.4g}"
        in said
    )
    assert "each answer at its --max-tokens: a ceiling" in said
    within = subprocess.run([*command, "--max-cost", "1"], capture_output=True, text=True)
    assert within.returncode == 0 and "would be refused" not in within.stdout


def test_asking_about_one_split_keeps_the_votes_on_the_others(workspace: Workspace) -> None:
    # Trial 34: `llm --split train` after `llm --split test` deleted the test votes.
    splits = dict(workspace.sql("SELECT id, split FROM examples").rows())
    with OpenAIServer() as server:
        config = dataclasses.replace(CONFIG, base_url=server.base_url)
        label_with_llm(workspace, config, split="test")
        label_with_llm(workspace, config, split="train")
        assert len(server.requests) == 6, "each split asked once"
    assert votes(workspace) == expected(workspace)
    assert {splits[i] for i in votes(workspace)} == {"train", "test"}


def test_a_model_the_endpoint_does_not_list_is_warned_of(workspace: Workspace) -> None:
    # Trial 34: llama.cpp answered `--model smolLM-wrong` with its one model, under a
    # new source of that name, without a word.
    with OpenAIServer() as server:
        wrong = dataclasses.replace(CONFIG, model="test-modle", base_url=server.base_url)
        with pytest.warns(LabelkitWarning, match=r"model 'test-modle' is not among .*test-model"):
            label_with_llm(workspace, wrong, split="test")
        with warnings.catch_warnings():
            warnings.simplefilter("error", LabelkitWarning)
            label_with_llm(workspace, dataclasses.replace(wrong, model="test-model"), split="test")


def test_template_definitions_and_few_shot_examples_shape_the_prompt(
    workspace: Workspace, tmp_path: Path
) -> None:
    template = tmp_path / "terse.jinja"
    template.write_text(
        "{{ instructions }} Labels: {% for label in labels %}{{ label }}"
        "{% if definitions %} ({{ definitions[label] or 'no definition' }}){% endif %}"
        "{% if not loop.last %}, {% endif %}{% endfor %}."
    )
    shots = few_shot_examples(workspace, 2, split="train")
    assert sorted(label for _, label in shots) == ["ham", "spam"]
    # Trial 58a: test's gold as examples was said in the docs alone.
    with pytest.warns(LabelkitWarning, match="so test is no longer held out"):
        few_shot_examples(workspace, 1, split="test")
    config = dataclasses.replace(
        CONFIG, template=template, definitions={"spam": "ads and links"}, examples=tuple(shots)
    )
    assert config.source_name == "llm:test-model:terse+2shot"
    messages = config.request(workspace.task, "a new comment")["messages"]
    assert messages[0] == {
        "role": "system",
        "content": "Is this comment spam? Labels: ham (no definition), spam (ads and links).",
    }
    assert [m["role"] for m in messages] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert [json.loads(m["content"])["label"] for m in messages[2:5:2]] == [
        label for _, label in shots
    ]
    with OpenAIServer() as server:
        label_with_llm(workspace, dataclasses.replace(config, base_url=server.base_url))
    assert workspace.sql("SELECT name FROM sources")["name"].to_list() == [config.source_name]


def test_reviewing_more_leaves_the_few_shot_draw_as_it_was(tmp_path: Path) -> None:
    # Trial 34: one reviewed text joined the draw, and every cached answer of the
    # few-shot source stopped matching its prompt.
    rows = [(f"d{i}", f"dev text {i}", ["ham", "spam"][i % 2], "dev") for i in range(4)]
    rows += [(f"t{i:02d}", f"train text {i}", ["ham", "spam"][i % 2], "train") for i in range(20)]
    path = tmp_path / "rows.csv"
    pl.DataFrame(rows, schema=["id", "text", "label", "split"], orient="row").write_csv(path)
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, path, id_column="id", label_column="label", split_column="split")
        before = few_shot_examples(ws, 2, split="dev")
        ws.con.execute(
            "INSERT INTO queue (example_id, attribute, priority, reasons, given_label, "
            "suggested_label, run_id) SELECT id, '', 0.5, 'test', gold, gold, 0 FROM examples "
            "WHERE split = 'train'"
        )
        queue = ReviewQueue(ws)
        for example_id, label in ws.sql(
            "SELECT id, gold FROM examples WHERE split = 'train'"
        ).rows():
            queue.answer(example_id, "label", label=label, reviewer="ana")
        assert few_shot_examples(ws, 2, split="dev") == before
        assert {text for text, _ in before} <= {f"dev text {i}" for i in range(4)}
        # Reviewed examples come in where the split's gold runs short.
        assert (
            len(
                {text for text, _ in few_shot_examples(ws, 6, split="dev")}
                - set(f"dev text {i}" for i in range(4))
            )
            == 2
        )


def test_a_broken_template_or_unknown_label_names_the_fault(
    workspace: Workspace, tmp_path: Path
) -> None:
    template = tmp_path / "broken.jinja"
    template.write_text("{{ instructions }}\n{% for label in labels %}{{ label }")
    with pytest.raises(InputError, match=r"broken.jinja line 2: template error"):
        dataclasses.replace(CONFIG, template=template).request(workspace.task, "x")
    with pytest.raises(InputError, match=r"definitions name labels the task lacks: \['eggs'\]"):
        dataclasses.replace(CONFIG, definitions={"eggs": "x"}).request(workspace.task, "x")
    with pytest.raises(InputError, match="only 4 labeled examples"):
        few_shot_examples(workspace, 5, split="train")


def test_cached_answers_of_another_server_are_said_and_the_servers_logged(
    workspace: Workspace,
) -> None:
    # Trial 62b: a fixed gateway under the same model name got no request, its source
    # holding the broken gateway's answers, and no run said which server answered.
    with OpenAIServer() as first:
        config = dataclasses.replace(CONFIG, base_url=first.base_url)
        label_with_llm(workspace, config)
        with warnings.catch_warnings():
            warnings.simplefilter("error", LabelkitWarning)
            label_with_llm(workspace, config)  # the same server: nothing to say
    # The run that asked them: the second asked nothing.
    last = workspace.sql("SELECT min(run_id) AS n FROM runs WHERE step = 'llm'")["n"][0]
    with OpenAIServer() as second:
        moved = dataclasses.replace(CONFIG, base_url=second.base_url, source="llm:moved")
        with pytest.warns(LabelkitWarning) as said:
            stats = label_with_llm(workspace, moved)
        assert second.requests == [] and stats.cached == 6
    message = " ".join(str(w.message) for w in said)
    assert (
        f"6 answers of test-model come from the cache, and run {last} asked test-model of "
        f"{first.base_url}, not of {second.base_url}: where that is another server, --refresh"
    ) in message
    logged = workspace.sql("SELECT config->'endpoints' AS e FROM runs WHERE step = 'llm'")["e"]
    assert [json.loads(e) for e in logged] == [[first.base_url], [], []], "none where none asked"
    # Read from the cache alone, nothing is asked: nothing to say (the second read).
    with warnings.catch_warnings():
        warnings.simplefilter("error", LabelkitWarning)
        label_with_llm(workspace, moved, cached_only=True)


def test_a_new_prompt_on_one_split_leaves_no_vote_of_the_old_one(workspace: Workspace) -> None:
    # Trial 62a: asked about train, the new prompt replaced train's votes, and dev's votes
    # of the old prompt stayed under the source, scored as the new prompt's.
    with OpenAIServer() as server:
        config = dataclasses.replace(CONFIG, base_url=server.base_url)
        label_with_llm(workspace, config)
        advert = dataclasses.replace(config, instructions="Is this comment an advert?")
        stats = label_with_llm(workspace, advert, split="train")
    splits = workspace.sql(
        """SELECT DISTINCT e.split FROM votes v JOIN examples e ON e.id = v.example_id
           WHERE v.source = 'llm:test-model'"""
    )["split"]
    train = workspace.sql("SELECT count(*) AS n FROM examples WHERE split = 'train'")["n"][0]
    assert stats.replaced_votes == 6, "every split's votes of the old prompt"
    assert splits.to_list() == ["train"]
    assert votes(workspace).keys() == set(
        workspace.sql("SELECT id FROM examples WHERE split = 'train'")["id"]
    )
    assert len(votes(workspace)) == train


def test_a_new_prompt_that_stops_early_keeps_the_old_prompts_votes(workspace: Workspace) -> None:
    # Trial 67a: new instructions against a server that was down got no answer, exited 1,
    # and replaced the source's 7,221 votes of the earlier prompt by none.
    with OpenAIServer() as server:
        config = dataclasses.replace(CONFIG, base_url=server.base_url)
        label_with_llm(workspace, config)
        before = votes(workspace)
        advert = dataclasses.replace(config, instructions="Is this comment an advert?")
        down = dataclasses.replace(
            advert, base_url=_closed_port_url(), max_retries=0, stop_after_failures=2
        )
        stopped = label_with_llm(workspace, down)
        assert stopped.stopped is not None and stopped.answered == 0
        assert (stopped.kept_votes, stopped.replaced_votes) == (6, 0)
        assert votes(workspace) == before
        definition = workspace.sql("SELECT definition FROM sources")["definition"][0]
        assert "advert" not in definition, "the source still holds the earlier prompt's votes"
    # A run that is not cut short replaces them, though a prompt fails (the second read:
    # one over the model's context fails on every run, and would hold them forever).
    with OpenAIServer(Behaviour(faults=["500"])) as flaky:
        once = dataclasses.replace(advert, base_url=flaky.base_url, max_retries=0, concurrency=1)
        replaced = label_with_llm(workspace, once)
    assert (replaced.failed, replaced.answered, replaced.stopped) == (1, 5, None)
    assert (replaced.replaced_votes, replaced.kept_votes, len(votes(workspace))) == (6, 0, 5)
    assert "advert" in workspace.sql("SELECT definition FROM sources")["definition"][0]


def test_an_llm_run_is_logged_from_its_start(workspace: Workspace) -> None:
    # Trial 62a: a 4-minute run was logged at its end, as taking 0.02 s.
    with OpenAIServer(Behaviour(delay_s=0.1)) as server:
        began = time.time()
        label_with_llm(
            workspace, dataclasses.replace(CONFIG, base_url=server.base_url, concurrency=1)
        )
        took = time.time() - began
    seconds = workspace.sql("SELECT seconds FROM runs WHERE step = 'llm'")["seconds"][0]
    assert 0.6 <= seconds <= took, "six answers of 0.1 s each, one at a time"
