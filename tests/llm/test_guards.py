"""What keeps an LLM run from hanging, spending without end, or caching a non-answer:
each fault is played by the test server over real HTTP to the real openai client."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import httpx
import openai
import polars as pl
import pytest

from labelkit import LabelkitError, LabelkitWarning, LLMConfig, Workspace, ingest, label_with_llm
from labelkit.llm import estimate_llm_run, request_key
from labelkit.llm.cache import CachedAnswer, store_answer
from labelkit.llm.labeler import LLMRun
from labelkit.llm.transport import _retry_delay
from labelkit.task import Task
from tests.helpers import free_port
from tests.openai_server import Behaviour, OpenAIServer, answer_for

CONFIG = LLMConfig(
    model="test-model",
    instructions="Is this comment spam?",
    api_key="test",
    response_format="json_schema",
    concurrency=1,
)


def votes(ws: Workspace) -> dict[str, str]:
    return dict(
        ws.sql("SELECT example_id, label FROM votes WHERE source = 'llm:test-model'").rows()
    )


def expected(ws: Workspace) -> dict[str, str]:
    return {i: answer_for(t) for i, t in ws.sql("SELECT id, text FROM examples").rows()}


def errors(ws: Workspace) -> list[str | None]:
    return ws.sql("SELECT error FROM llm_cache ORDER BY key")["error"].to_list()


def finishes(target: Any, seconds: float = 60.0) -> Any:
    """``target()``'s result, failing (instead of hanging the suite) if it takes longer."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(target()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    return result[0]


def test_a_server_dripping_its_answer_hits_the_deadline(workspace: Workspace) -> None:
    # One byte every 0.3 s: no read ever waits a second, the whole answer takes ~30 s.
    with OpenAIServer(Behaviour(always="drip", drip_s=0.3)) as server:
        config = dataclasses.replace(
            CONFIG,
            base_url=server.base_url,
            timeout_s=1.0,
            max_retries=1,
            concurrency=6,
            stop_after_failures=10,
        )
        stats = finishes(lambda: label_with_llm(workspace, config))
    assert (stats.answered, stats.failed) == (0, 6)
    deadline = f"Timeout: no complete answer from {server.base_url} within 1 s"
    assert errors(workspace) == [deadline] * 6
    # Each prompt is tried twice; a loaded machine may cut an attempt before the server
    # has read it, so the server can count fewer.
    assert 6 < len(server.requests) <= 12
    assert votes(workspace) == {}


@pytest.mark.parametrize("fault", ["error_200", "null_content", "empty_choices"])
def test_a_200_without_a_message_is_a_failure_asked_again(workspace: Workspace, fault: str) -> None:
    behaviour = Behaviour(always=fault)
    with OpenAIServer(behaviour) as server:
        config = dataclasses.replace(CONFIG, base_url=server.base_url, stop_after_failures=10)
        stats = label_with_llm(workspace, config)
        assert (stats.answered, stats.failed) == (0, 6)
        assert all(e is not None and e.startswith("UnusableResponse") for e in errors(workspace))
        assert workspace.sql("SELECT count(*) FROM llm_cache WHERE response IS NULL").item() == 6
        assert votes(workspace) == {}
        behaviour.always = None
        again = label_with_llm(workspace, config)
    assert (again.cached, again.answered, again.failed) == (0, 6, 0)
    assert votes(workspace) == expected(workspace)


def test_a_cached_row_without_a_response_is_asked_again(workspace: Workspace) -> None:
    """What earlier versions stored for a 200 without a message: no error, no response."""
    texts = workspace.sql("SELECT text FROM examples ORDER BY id")["text"]
    request = CONFIG.request(workspace.task, texts[0])
    store_answer(
        workspace,
        CachedAnswer(request_key(request), "test-model", request, None, None, None, 1, 1, 0.1),
    )
    with OpenAIServer() as server:
        stats = label_with_llm(workspace, dataclasses.replace(CONFIG, base_url=server.base_url))
    assert (stats.cached, stats.answered) == (0, 6)
    assert texts[0] in {r["messages"][-1]["content"] for r in server.requests}
    assert votes(workspace) == expected(workspace)


def test_a_first_prompt_that_fails_is_asked_no_more_than_max_retries_allows(
    workspace: Workspace,
) -> None:
    # Trial 47: with no retries allowed, the first prompt was asked twice: once to find
    # the response format, once again "with retries".
    with OpenAIServer(Behaviour(faults=["429"])) as server:
        config = dataclasses.replace(
            CONFIG, base_url=server.base_url, max_retries=0, response_format="auto"
        )
        stats = label_with_llm(workspace, config)
    assert len(server.requests) == 6
    assert (stats.failed, stats.answered) == (1, 5)


def test_a_spent_quota_stops_the_run_at_once(workspace: Workspace) -> None:
    with OpenAIServer(Behaviour(always="quota")) as server:
        config = dataclasses.replace(CONFIG, base_url=server.base_url, max_retries=3)
        stats = label_with_llm(workspace, config)
    assert len(server.requests) == 1, "neither retried nor asked for the other prompts"
    assert (stats.failed, stats.not_asked) == (1, 5)
    assert stats.stopped is not None and "quota is spent" in stats.stopped
    assert "insufficient_quota" in stats.stopped


def test_the_same_failure_again_and_again_stops_the_run(workspace: Workspace) -> None:
    with OpenAIServer(Behaviour(always="500")) as server:
        config = dataclasses.replace(
            CONFIG, base_url=server.base_url, max_retries=1, stop_after_failures=3
        )
        stats = label_with_llm(workspace, config)
    assert len(server.requests) == 6, "3 prompts, each tried twice, then the run stops"
    assert (stats.failed, stats.not_asked) == (3, 3)
    assert stats.stopped is not None and "3 prompts in a row failed" in stats.stopped
    assert "InternalServerError" in stats.stopped


def test_a_refused_key_names_the_missing_one(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Trial 45: with no key set, "Bearer unused" was refused (401) and the stop said only
    # AuthenticationError.
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with OpenAIServer(Behaviour(always="401")) as server:
        keyless = dataclasses.replace(
            CONFIG, base_url=server.base_url, api_key=None, stop_after_failures=2
        )
        stats = label_with_llm(workspace, keyless)
        assert server.requests, "the run asked"
        assert stats.stopped is not None and "AuthenticationError" in stats.stopped
        assert stats.stopped.endswith(
            "no API key was given: pass --api-key (api_key=) or set OPENAI_API_KEY"
        )
        keyed = label_with_llm(workspace, dataclasses.replace(keyless, api_key="sk-wrong"))
    assert keyed.stopped is not None and "no API key was given" not in keyed.stopped


def test_the_request_limit_stops_the_run_and_the_next_run_goes_on(workspace: Workspace) -> None:
    with OpenAIServer() as server:
        config = dataclasses.replace(CONFIG, base_url=server.base_url, max_requests=4)
        stats = label_with_llm(workspace, config)
        assert len(server.requests) == 4
        assert (stats.answered, stats.not_asked) == (4, 2)
        assert stats.stopped == "the limit of 4 requests is reached"
        assert len(votes(workspace)) == 4, "what was answered is voted"
        rest = label_with_llm(workspace, dataclasses.replace(config, max_requests=None))
        assert len(server.requests) == 6
    assert (rest.cached, rest.answered, rest.stopped) == (4, 2, None)
    assert votes(workspace) == expected(workspace)


def test_requests_in_flight_never_take_the_cost_past_its_limit(workspace: Workspace) -> None:
    # Trial 47: each in flight was held back at the typical estimate (4 characters a
    # token), so 32 at once, each counted at 100 prompt tokens, passed the limit by 9%.
    # Here each is counted at 200, more than its characters: after the first answer the
    # others are held back at its cost.
    priced = dataclasses.replace(CONFIG, input_price=1.0, output_price=2.0, concurrency=6)
    each = 200 / 1e6 + 2 * 5 / 1e6
    with OpenAIServer(Behaviour(prompt_tokens=200, delay_s=0.2)) as server:
        stats = label_with_llm(
            workspace, dataclasses.replace(priced, base_url=server.base_url, max_cost=3.5 * each)
        )
        sent = len(server.requests)
    assert sent == 3 and stats.cost == pytest.approx(3 * each)
    assert stats.cost <= 3.5 * each
    # Trial 50c: the workspace kept no cost, nor the prices to compute one.
    logged = json.loads(workspace.sql("SELECT config FROM runs WHERE step = 'llm'")["config"][0])
    assert (logged["answered"], logged["input_price"], logged["output_price"]) == (3, 1.0, 2.0)
    assert logged["cost"] == pytest.approx(stats.cost)


def test_a_cost_limit_refuses_an_expensive_run_and_stops_a_dear_one(
    workspace: Workspace,
) -> None:
    priced = dataclasses.replace(CONFIG, input_price=1.0, output_price=2.0)
    estimate = estimate_llm_run(workspace, priced)
    assert estimate.cost is not None
    # Each answer reports 100,000 prompt tokens: $0.10, far above the estimate.
    with OpenAIServer(Behaviour(prompt_tokens=100_000)) as server:
        cheap = dataclasses.replace(priced, base_url=server.base_url, max_cost=estimate.cost / 2)
        with pytest.raises(LabelkitError, match=r"6 prompts would cost about \$0\.000"):
            label_with_llm(workspace, cheap)
        assert server.requests == []
        assert workspace.sql("SELECT count(*) FROM llm_cache").item() == 0
        dear = dataclasses.replace(priced, base_url=server.base_url, max_cost=0.15)
        stats = label_with_llm(workspace, dear)
    # The first answer cost $0.10: the next is held back at that much, not at the
    # ceiling its characters give, and could pass $0.15.
    assert len(server.requests) == 1
    assert stats.answered == 1 and stats.cost == pytest.approx(0.1 + 2 * 5 / 1e6)
    assert stats.stopped is not None and "past the limit of $0.1500" in stats.stopped
    # Trial 45: the run's cost came out above the "spent" the stop named.
    assert re.search(r"\(\$0\.1000 spent; a request may cost up to \$0\.10\d\d", stats.stopped)
    assert stats.stopped.startswith("5 prompts left unasked: each could take the cost past")
    with pytest.raises(LabelkitError, match=r"a cost limit needs prices: .*\(--input-price"):
        dataclasses.replace(CONFIG, max_cost=1.0)
    # Trial 34: -1 was taken, and the run said "the limit of -1 requests is reached".
    with pytest.raises(LabelkitError, match="max_requests must be 0 or more, got -1"):
        dataclasses.replace(CONFIG, max_requests=-1)
    with pytest.raises(LabelkitError, match="max_cost must be 0 or more"):
        dataclasses.replace(priced, max_cost=-0.5)
    # Trial 45: max_retries=-1 asked one prompt of 164 and reported success; a timeout
    # of 0 retried for seconds with no request sent; a negative price, a negative cost.
    for setting, message in (
        ({"max_retries": -1}, "max_retries must be at least 0, got -1"),
        ({"timeout_s": 0}, "timeout_s is a deadline in seconds: above 0, got 0"),
        ({"max_tokens": 0}, "max_tokens must be at least 1, got 0"),
        ({"max_response_bytes": 0}, "max_response_bytes must be at least 1, got 0"),
        ({"input_price": -1.0}, r"input_price must be at least 0 \(dollars per million"),
    ):
        with pytest.raises(LabelkitError, match=message):
            dataclasses.replace(CONFIG, **setting)


def test_a_huge_answer_is_refused_and_never_replayed(workspace: Workspace) -> None:
    texts = workspace.sql("SELECT text FROM examples ORDER BY id")["text"]
    request = CONFIG.request(workspace.task, texts[0])
    # A 2 MB answer cached before there was a cap: not replayed, asked again.
    store_answer(
        workspace,
        CachedAnswer(
            request_key(request), "test-model", request, "spam " * 400_000, None, "spam", 1, 1, 0.1
        ),
    )
    with OpenAIServer(Behaviour(always="huge", huge_bytes=3_000_000)) as server:
        config = dataclasses.replace(
            CONFIG, base_url=server.base_url, max_response_bytes=100_000, stop_after_failures=10
        )
        stats = label_with_llm(workspace, config)
    assert (stats.cached, stats.answered, stats.failed) == (0, 0, 6)
    # The old answer stays cached (a failure never replaces an answer) but is not voted.
    failures = [e for e in errors(workspace) if e is not None]
    assert len(failures) == 5
    assert all("over the cap of 100000 bytes" in e for e in failures), failures
    assert len(server.requests) == 6, "a too large answer is not retried"
    assert votes(workspace) == {}


def test_the_task_is_read_once_and_keys_match_the_requests(tmp_path: Path) -> None:
    class Counting(Workspace):
        task_reads = 0

        @property
        def task(self) -> Task:
            self.task_reads += 1
            return super().task

    texts = ['say "hi"', "café ☕ naïve", "line\nbreak", "back\\slash", "tab\tand emoji 🎉"] * 40
    with Counting(tmp_path / "ws.duckdb") as ws:
        ws.con.execute("INSERT INTO meta VALUES ('task', ?)", [Task(("ham", "spam")).to_json()])
        ws.con.executemany(
            "INSERT INTO examples VALUES (?, ?, NULL, 'train', NULL, 0)",
            [[f"e{i:03d}", f"{text} {i % 7}"] for i, text in enumerate(texts)],
        )
        estimate = estimate_llm_run(ws, CONFIG)
        assert ws.task_reads == 1, "one read of the task for 200 prompts"
        assert (estimate.prompts, estimate.to_ask) == (
            len(set(f"{t} {i % 7}" for i, t in enumerate(texts))),
            estimate.prompts,
        )
        with OpenAIServer() as server:
            stats = label_with_llm(ws, dataclasses.replace(CONFIG, base_url=server.base_url))
        assert ws.task_reads == 2
        assert stats.answered == estimate.prompts
        task = Task(("ham", "spam"))
        keyed = {
            request_key(CONFIG.request(task, r["messages"][-1]["content"])) for r in server.requests
        }
        cached = set(ws.sql("SELECT key FROM llm_cache")["key"])
        assert cached == keyed, "keys spliced from the template equal the requests' own"
        stored = ws.sql("SELECT request FROM llm_cache")["request"]
        assert all(
            {k: v for k, v in json.loads(r).items() if k != "response_format"}
            == CONFIG.request(task, json.loads(r)["messages"][-1]["content"])
            for r in stored
        )


def llm_of_a_closed_port(workspace: Workspace, stop_after: int) -> subprocess.CompletedProcess:
    """`labelkit llm` on ``workspace`` against a port nothing listens on."""
    path = workspace.path
    workspace.close()
    command = [
        sys.executable, "-m", "labelkit", "llm", str(path), "--model", "test-model",
        "--instructions", "Spam?", "--base-url", f"http://127.0.0.1:{free_port()}/v1",
        "--api-key", "test", "--max-retries", "0", "--concurrency", "1",
        "--stop-after-failures", str(stop_after), "--split", "all",
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_a_server_that_is_gone_stops_the_cli_with_the_cause(workspace: Workspace) -> None:
    result = llm_of_a_closed_port(workspace, stop_after=3)
    assert result.returncode == 1, result.stdout
    assert "3 prompts in a row failed" in result.stderr
    assert (
        "APIConnectionError: ConnectionRefusedError: [Errno 111] Connect call failed"
        in result.stderr
    )
    assert "3 prompts not asked" in result.stderr
    assert "0 answered, 3 failed" in result.stdout


def test_a_request_limit_spent_on_retries_names_the_failure(workspace: Workspace) -> None:
    # Trial 44: "1 failed ... the limit of 5 requests is reached", and the refused
    # connection that used the requests up was never named.
    config = dataclasses.replace(
        CONFIG, base_url=f"http://127.0.0.1:{free_port()}/v1", max_retries=4, max_requests=5
    )
    stats = label_with_llm(workspace, config)
    assert stats.failed == 1 and stats.answered == 0
    assert stats.stopped is not None
    assert stats.stopped.startswith("the limit of 5 requests is reached; 1 failed, the last with")
    assert "ConnectionRefusedError" in stats.stopped


def test_a_base_url_without_v1_is_named_with_the_fix(workspace: Workspace) -> None:
    # Trial 34: "NotFoundError: Error code: 404" and "response format text", nothing more.
    path = workspace.path
    workspace.close()
    with OpenAIServer() as server:
        command = [
            sys.executable, "-m", "labelkit", "llm", str(path), "--model", "test-model",
            "--instructions", "Spam?", "--base-url", server.base_url.removesuffix("/v1"),
            "--api-key", "test", "--max-retries", "0", "--concurrency", "1",
            "--stop-after-failures", "3", "--split", "all",
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout
    said = " ".join(result.stderr.split())
    assert f"no chat completions at {server.base_url.removesuffix('/v1')}/chat/completions" in said
    assert "an OpenAI-compatible base URL usually ends in /v1" in said
    assert "response format" not in result.stdout


def test_the_cli_labels_the_train_split_unless_told_otherwise(workspace: Workspace) -> None:
    path = workspace.path
    workspace.close()
    with OpenAIServer() as server:
        base = [
            sys.executable, "-m", "labelkit", "llm", str(path), "--model", "test-model",
            "--instructions", "Spam?", "--base-url", server.base_url, "--api-key", "test",
        ]  # fmt: skip
        dry = subprocess.run([*base, "--dry-run"], capture_output=True, text=True, timeout=120)
        assert "llm:test-model: 4 prompts, 0 cached, 4 to ask" in dry.stdout, dry.stderr
        assert dry.stdout.strip().endswith("; the train split")
        run = subprocess.run(base, capture_output=True, text=True, timeout=120)
        assert "llm:test-model: 4 prompts, 0 cached, 4 answered" in run.stdout, run.stderr
        assert len(server.requests) == 4
        every = subprocess.run(
            [*base, "--split", "all"], capture_output=True, text=True, timeout=120
        )
        assert "llm:test-model: 6 prompts, 4 cached, 2 answered" in every.stdout, every.stderr
        assert "; all splits" in every.stdout


def test_the_api_key_is_not_in_the_config_s_repr() -> None:
    # Trial 47: print(config) or a traceback showed api_key='sk-...'.
    config = dataclasses.replace(CONFIG, api_key="sk-SECRETKEY123")
    assert "sk-SECRETKEY123" not in repr(config) and "model='test-model'" in repr(config)
    assert config.api_key == "sk-SECRETKEY123"


def test_a_retry_after_past_a_minute_waits_a_minute() -> None:
    # Trial 47: Retry-After: 3600 was dropped, and the retries came half a second apart.
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    # Trial 50c: a date (here one in the past) was not read at all.
    for after, waited in (("3600", 60.0), ("7", 7.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)):
        response = httpx.Response(429, headers={"retry-after": after}, request=request)
        error = openai.RateLimitError("slow down", response=response, body=None)
        assert _retry_delay(error, attempt=0) == waited
    # The second read: "nan" parses as a number, and was waited as one.
    response = httpx.Response(429, headers={"retry-after": "nan"}, request=request)
    error = openai.RateLimitError("slow down", response=response, body=None)
    assert 0.3 < _retry_delay(error, attempt=0) <= 0.5, "the backoff"


def test_a_run_at_its_cost_limit_stops_though_its_holds_leave_a_rounding_error() -> None:
    # Trial 50c: sixteen requests held back and took back amounts that left 8.7e-19
    # reserved, and with nothing in flight to settle it the run waited forever.
    run = LLMRun(dataclasses.replace(CONFIG, input_price=1.0, output_price=2.0, max_cost=1.0))
    for amount in (0.1, 0.2, 0.3):
        assert run.reserve(amount) is True
    for amount in (0.1, 0.3, 0.2):  # in floats, 0.1 + 0.2 + 0.3 - 0.1 - 0.3 - 0.2 > 0
        run.settle(amount, amount, None)
    assert run.reserve(1.5) is False
    assert (run.stopped, run.over_limit) == (None, 1), "cheaper prompts may still go"
    run.over_limit_stop()
    assert (
        run.stopped is not None
        and ("1 prompt left unasked: it could take the cost past the limit of $1") in run.stopped
    )
    run.settle(0.1, 0.1, None)  # one too many (the second read): no wait forever either
    assert run.holding == 0


def test_answers_dearer_than_their_ceiling_raise_every_later_hold() -> None:
    # Trial 50c: holding the dearest answer so far let answers that grew dearer pass the
    # limit 1.5 to 2.5 times; a hold is now the request's ceiling times the most any
    # answer passed its own.
    run = LLMRun(dataclasses.replace(CONFIG, input_price=1.0, output_price=2.0, max_cost=1.0))
    dear = CachedAnswer(
        key="k", model="m", request={}, response="ham", error=None, label="ham",
        prompt_tokens=300_000, completion_tokens=0, latency_s=0.1,
    )  # fmt: skip
    assert run.reserve(0.1) is True
    run.settle(0.1, 0.1, dear)  # $0.30 where its ceiling said $0.10
    assert run.held(0.2) == pytest.approx(0.6)
    assert run.reserve(0.6) is True
    run.settle(0.6, 0.2, dataclasses.replace(dear, prompt_tokens=800_000))
    assert run.cost == pytest.approx(1.1)
    assert run.reserve(run.held(0.01)) is False
    assert run.stopped == (
        "the cost passed the limit of $1.0000 ($1.1000 spent): the endpoint counted more "
        "tokens than its requests could hold"
    )


def test_an_outage_or_a_long_first_text_keeps_the_response_format(workspace: Workspace) -> None:
    # Trial 50c: four 503s on the first prompt, or one text over the model's context,
    # sent the whole run in plain text, a warning nowhere.
    auto = dataclasses.replace(CONFIG, response_format="auto", max_retries=3)
    for faults, failed in ((["503"] * 4, 1), (["context_length"], 1), (["503"], 0)):
        with OpenAIServer(Behaviour(faults=list(faults))) as server:
            with warnings.catch_warnings():
                warnings.simplefilter("error", LabelkitWarning)
                stats = label_with_llm(
                    workspace,
                    dataclasses.replace(auto, base_url=server.base_url),
                    refresh=True,
                )
            formats = {body["response_format"]["type"] for body in server.requests}
        assert (stats.response_format, stats.failed, formats) == (
            "json_schema",
            failed,
            {"json_schema"},
        )
    # A refusal is one still, and now said.
    with (
        OpenAIServer(Behaviour(refuse_json_schema=True)) as server,
        pytest.warns(
            LabelkitWarning, match="refused response format json_schema; asking in json_object"
        ),
    ):
        stats = label_with_llm(
            workspace, dataclasses.replace(auto, base_url=server.base_url), refresh=True
        )
    assert stats.response_format == "json_object"


def test_the_first_prompts_retry_waits_as_retry_after_says(workspace: Workspace) -> None:
    # Trial 50c: the probe of the response format retried a 429 at once, and a
    # Retry-After given as an HTTP date was not read at all.
    auto = dataclasses.replace(CONFIG, response_format="auto")
    for behaviour, wait in (
        (Behaviour(faults=["429"], retry_after="1"), 0.95),
        (Behaviour(faults=["429_date"], retry_after_s=2.0), 1.0),
    ):
        with OpenAIServer(behaviour) as server:
            label_with_llm(
                workspace, dataclasses.replace(auto, base_url=server.base_url), refresh=True
            )
        assert behaviour.times[1] - behaviour.times[0] >= wait
        assert server.requests[1]["response_format"]["type"] == "json_schema"


def test_an_endpoint_that_repeats_the_key_never_gets_it_shown_or_stored(
    workspace: Workspace,
) -> None:
    # Trial 50c: a proxy answered "Incorrect API key provided: <the key>", which the
    # summary printed and llm_cache.error kept; trial 61c: a short one, "tok-777", still.
    for secret in ("sk-proj-a1b2c3d4e5f6", "tok-777"):
        with OpenAIServer(Behaviour(always="401_echo")) as server:
            stats = label_with_llm(
                workspace,
                dataclasses.replace(CONFIG, base_url=server.base_url, api_key=secret),
                refresh=True,
            )
        said = f"{stats.stopped} {stats.last_error}"
        assert "Incorrect API key provided: <api key>" in said and secret not in said
        stored = workspace.sql("SELECT error FROM llm_cache")["error"].to_list()
        assert stored and all("<api key>" in e and secret not in e for e in stored)


def test_a_short_key_is_masked_where_it_stands_alone_only() -> None:
    # The second read: the key "test" masked inside "test-model" garbled the message.
    from labelkit.llm.transport import UnusableResponse, _describe

    config = dataclasses.replace(CONFIG, api_key="test")
    said = _describe(UnusableResponse("test-model refused the key test"), config, "")
    assert said == "UnusableResponse: test-model refused the key <api key>"


def test_failed_prompts_are_explained_when_the_run_goes_on(workspace: Workspace) -> None:
    # Trial 50c: "0 answered, 3 failed", exit 0, and nothing said why.
    result = llm_of_a_closed_port(workspace, stop_after=20)
    assert result.returncode == 0, result.stderr
    assert "0 answered, 6 failed" in result.stdout
    said = " ".join(result.stderr.split())
    assert (
        "warning: 6 prompts failed (asked again next run), for examples a1, a2, a3, a4, a5 "
        "and others; the last: APIConnectionError"
    ) in said


def test_a_prompt_that_alone_could_pass_the_cost_limit_leaves_the_cheaper_ones_asked(
    workspace: Workspace,
) -> None:
    # Trial 57a: one pasted contract's hold, a token per character, ended a run with
    # $0.04 of its $0.25 spent, every shorter clause after it unasked.
    ingest(workspace, pl.DataFrame({"id": ["a0"], "text": ["subscribe " * 600]}))
    priced = dataclasses.replace(CONFIG, input_price=10.0, output_price=0.0, max_cost=0.02)
    with OpenAIServer() as server:
        stats = label_with_llm(workspace, dataclasses.replace(priced, base_url=server.base_url))
        asked = [body["messages"][-1]["content"] for body in server.requests]
    assert (stats.answered, stats.not_asked, len(asked)) == (6, 1, 6)
    assert not any("subscribe subscribe" in content for content in asked)
    assert stats.stopped is not None and stats.stopped.startswith(
        "1 prompt left unasked: it could take the cost past the limit of $0.0200"
    )


def test_prompts_over_the_models_context_fail_alone_and_are_said(workspace: Workspace) -> None:
    # Trial 57a: five whole contracts in a row stopped the run, as if the endpoint were
    # down, and every rerun asked them first and stopped again.
    contracts = [f"L{i}" for i in range(1, 6)]  # asked first: upper case sorts first
    texts = [f"whereas clause {i} " * 300 for i in range(5)]
    ingest(workspace, pl.DataFrame({"id": contracts, "text": texts}))
    with OpenAIServer(Behaviour(faults=["context_length"] * 5)) as server:
        stats = label_with_llm(workspace, dataclasses.replace(CONFIG, base_url=server.base_url))
    assert (stats.failed, stats.too_long, stats.answered, stats.stopped) == (5, 5, 6, None)
    assert stats.failed_examples == contracts
    # A short prompt over the context is the endpoint's setting (vLLM counts max_tokens
    # in), not its length: those count in the row, and stop the run as any error does.
    with OpenAIServer(Behaviour(always="context_length")) as server:
        config = dataclasses.replace(CONFIG, base_url=server.base_url)
        again = label_with_llm(workspace, config, refresh=True)
    assert again.too_long == 5 and again.failed == 10
    assert again.stopped is not None and again.stopped.startswith("5 prompts in a row failed")


def test_a_request_limit_counts_in_the_cost_estimate(workspace: Workspace) -> None:
    # Trial 50c: refused as too dear, the run was told to use a request limit, which the
    # estimate then did not count.
    priced = dataclasses.replace(CONFIG, input_price=1.0, output_price=2.0)
    estimate = estimate_llm_run(workspace, priced)
    assert estimate.cost is not None and estimate.to_ask == 6
    with OpenAIServer() as server:
        over = dataclasses.replace(priced, base_url=server.base_url, max_cost=0.9 * estimate.cost)
        with pytest.raises(LabelkitError, match=r"--max-requests, or --budget-usd"):
            label_with_llm(workspace, over)
        stats = label_with_llm(workspace, dataclasses.replace(over, max_requests=2))
    assert stats.answered == 2 and len(server.requests) == 2
