"""The LLM as a labeling function: ask any OpenAI-compatible endpoint, cache, parse, vote."""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import openai
from rich.progress import Progress, TextColumn

from labelkit.errors import LabelkitError
from labelkit.llm.cache import CachedAnswer, cached_answers, request_key, store_answer
from labelkit.llm.parse import parse_label
from labelkit.llm.prompt import build_messages, label_schema
from labelkit.task import Task
from labelkit.votes import write_votes
from labelkit.workspace import Workspace

RESPONSE_FORMATS = ("json_schema", "json_object", "text")

# An endpoint that does not support a response format answers with one of these.
_FORMAT_REFUSALS = (
    openai.BadRequestError,
    openai.UnprocessableEntityError,
    openai.InternalServerError,
    openai.NotFoundError,
)


@dataclass(frozen=True)
class LLMConfig:
    """How to ask an LLM for labels. One config (model, instructions, parameters) is one source.

    Parameters
    ----------
    model
        The model name the endpoint knows.
    instructions
        The task description placed before the label list in the system message.
    base_url, api_key
        The endpoint; default to ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY``.
    response_format
        ``"auto"`` tries ``json_schema``, then ``json_object`` with the schema (what
        llama.cpp's server enforces), then plain text, and keeps the first the endpoint
        accepts; or name one of ``RESPONSE_FORMATS``.
    concurrency
        Requests in flight at once.
    max_retries
        Retries per request on 429, 5xx, timeouts and dropped connections (the openai
        client backs off exponentially and honours Retry-After).

    Examples
    --------
    >>> config = LLMConfig(model="smollm2", instructions="Is this YouTube comment spam?",
    ...                    base_url="http://127.0.0.1:8011/v1", api_key="local")
    """

    model: str
    instructions: str
    base_url: str | None = None
    api_key: str | None = None
    temperature: float = 0.0
    max_tokens: int = 16
    seed: int | None = 0
    response_format: str = "auto"
    concurrency: int = 4
    max_retries: int = 3
    timeout_s: float = 60.0
    source: str | None = field(default=None)

    def __post_init__(self) -> None:
        if self.response_format not in ("auto", *RESPONSE_FORMATS):
            raise LabelkitError(
                f"unknown response_format {self.response_format!r}; use 'auto' or one of "
                f"{list(RESPONSE_FORMATS)}"
            )
        if self.concurrency < 1:
            raise LabelkitError(f"concurrency must be at least 1, got {self.concurrency}")

    @property
    def source_name(self) -> str:
        return self.source or f"llm:{self.model}"

    def request(self, task: Task, text: str) -> dict[str, Any]:
        """The request parameters that define (and key) one prompt."""
        return {
            "model": self.model,
            "messages": build_messages(self.instructions, task, text),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class LLMRunStats:
    """What one LLM run did. Each distinct prompt was cached, answered now, or failed."""

    source: str
    examples: int
    prompts: int
    cached: int
    answered: int
    failed: int
    unparsed: int
    prompt_tokens: int
    completion_tokens: int
    response_format: str | None


def label_with_llm(
    workspace: Workspace, config: LLMConfig, *, split: str | None = None
) -> LLMRunStats:
    """Label the workspace's examples with an LLM and store its answers as one vote source.

    Cached prompts are not asked again. Each new answer is cached the moment it
    arrives; the votes are written in one step at the end. A prompt that still fails
    after its retries is recorded as a failure and its example abstains.

    Examples
    --------
    >>> stats = label_with_llm(ws, LLMConfig(model="smollm2", instructions="Spam?"))
    >>> stats.cached + stats.answered + stats.failed == stats.prompts
    True
    """
    task = workspace.task
    examples = workspace.sql(
        "SELECT id, text FROM examples WHERE ? IS NULL OR split = ? ORDER BY id", [split, split]
    )
    if examples.height == 0:
        raise LabelkitError(f"workspace {workspace.path} has no examples to label")
    requests = [config.request(task, text) for text in examples["text"]]
    keys = [request_key(r) for r in requests]
    known = set(cached_answers(workspace, keys)["key"])
    pending = {k: r for k, r in zip(keys, requests, strict=True) if k not in known}

    used_format = None
    failed = 0
    if pending:
        _require_endpoint(config, len(pending), len(set(keys)))
        used_format, failed = asyncio.run(_ask_all(workspace, config, task, pending))

    answers = cached_answers(workspace, keys)
    label_of = dict(zip(answers["key"], answers["label"], strict=True))
    labels = [label_of.get(k) for k in keys]
    tokens = workspace.sql(
        "SELECT coalesce(sum(prompt_tokens), 0) AS p, coalesce(sum(completion_tokens), 0) AS c "
        "FROM llm_cache WHERE list_contains(?, key)",
        [list(pending)],
    ).row(0)
    with workspace.run(
        "llm", {"model": config.model, "source": config.source_name, "split": split}
    ) as run:
        write_votes(
            run.con,
            source=config.source_name,
            kind="llm",
            definition=json.dumps(config.request(task, "{text}")),
            example_ids=examples["id"].to_list(),
            labels=labels,
            run_id=run.id,
        )
    return LLMRunStats(
        source=config.source_name,
        examples=len(keys),
        prompts=len(set(keys)),
        cached=len(set(keys)) - len(pending),
        answered=len(pending) - failed,
        failed=failed,
        unparsed=sum(1 for k in set(keys) if k in label_of and label_of[k] is None),
        prompt_tokens=int(tokens[0]),
        completion_tokens=int(tokens[1]),
        response_format=used_format,
    )


def _require_endpoint(config: LLMConfig, missing: int, total: int) -> None:
    if config.base_url or os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_KEY"):
        return
    raise LabelkitError(
        f"{missing} of {total} prompts are not in the LLM cache and no endpoint is configured: "
        "set OPENAI_BASE_URL and OPENAI_API_KEY (or --base-url / --api-key), or import "
        "recorded answers"
    )


async def _ask_all(
    workspace: Workspace, config: LLMConfig, task: Task, pending: dict[str, dict[str, Any]]
) -> tuple[str, int]:
    client = openai.AsyncOpenAI(
        base_url=config.base_url,
        api_key=config.api_key or os.environ.get("OPENAI_API_KEY") or "unused",
        max_retries=config.max_retries,
        timeout=config.timeout_s,
    )
    failed = answered = 0
    async with client:
        items = list(pending.items())
        with Progress(
            *Progress.get_default_columns(),
            TextColumn("answered {task.fields[answered]} · failed {task.fields[failed]}"),
        ) as progress:
            bar = progress.add_task(
                f"asking {config.model}", total=len(items), answered=0, failed=0
            )

            def record(answer: CachedAnswer) -> None:
                nonlocal failed, answered
                store_answer(workspace, answer)
                failed += answer.error is not None
                answered += answer.error is None
                progress.update(bar, advance=1, answered=answered, failed=failed)

            key, request = items[0]
            used_format, first = await _first_answer(client, config, task, key, request)
            record(first)
            semaphore = asyncio.Semaphore(config.concurrency)

            async def ask(key: str, request: dict[str, Any]) -> CachedAnswer:
                async with semaphore:
                    answer = await _ask(client, config, task, key, request, used_format)
                assert answer is not None
                return answer

            for finished in asyncio.as_completed([ask(k, r) for k, r in items[1:]]):
                record(await finished)
    return used_format, failed


async def _first_answer(
    client: openai.AsyncOpenAI, config: LLMConfig, task: Task, key: str, request: dict[str, Any]
) -> tuple[str, CachedAnswer]:
    """Ask the first prompt; in "auto" mode, find the best response format the endpoint accepts."""
    if config.response_format != "auto":
        answer = await _ask(client, config, task, key, request, config.response_format)
        assert answer is not None
        return config.response_format, answer
    probe = client.with_options(max_retries=0)
    for candidate in ("json_schema", "json_object"):
        answer = await _ask(probe, config, task, key, request, candidate, _FORMAT_REFUSALS)
        if answer is not None:
            return candidate, answer
    answer = await _ask(client, config, task, key, request, "text")
    assert answer is not None
    return "text", answer


def _format_arguments(response_format: str, task: Task) -> dict[str, Any]:
    schema = label_schema(task)
    if response_format == "json_schema":
        return {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "label", "schema": schema, "strict": True},
            }
        }
    if response_format == "json_object":
        return {"response_format": {"type": "json_object", "schema": schema}}
    return {}


async def _ask(
    client: openai.AsyncOpenAI,
    config: LLMConfig,
    task: Task,
    key: str,
    request: dict[str, Any],
    response_format: str,
    refusals: tuple[type[Exception], ...] = (),
) -> CachedAnswer | None:
    """One request's answer, or None if the endpoint refused the format (``refusals``)."""
    started = time.perf_counter()
    try:
        completion = await client.chat.completions.create(
            **request, **_format_arguments(response_format, task)
        )
    except refusals:
        return None
    except openai.APIError as error:
        return CachedAnswer(
            key=key,
            model=config.model,
            request={**request, "response_format": response_format},
            response=None,
            error=f"{type(error).__name__}: {error}",
            label=None,
            prompt_tokens=None,
            completion_tokens=None,
            latency_s=time.perf_counter() - started,
        )
    content = completion.choices[0].message.content if completion.choices else None
    usage = completion.usage
    return CachedAnswer(
        key=key,
        model=config.model,
        request={**request, "response_format": response_format},
        response=content,
        error=None,
        label=parse_label(content, task.labels),
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        latency_s=time.perf_counter() - started,
    )
