"""The LLM as a labeling function: ask any OpenAI-compatible endpoint, cache, parse, vote."""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import polars as pl
from rich.progress import Progress, TextColumn

from labelkit.errors import LabelkitError
from labelkit.llm.cache import CachedAnswer, cached_answers, request_key, store_answer
from labelkit.llm.parse import parse_label
from labelkit.llm.prompt import DEFAULT_TEMPLATE, build_messages, label_schema
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
    template
        A Jinja2 file that renders the system message (see ``labelkit.llm.prompt``);
        default ``templates/classify.jinja``.
    definitions
        A one-line definition per label, shown in the prompt.
    examples
        Few-shot (text, label) pairs, e.g. from ``few_shot_examples``.
    concurrency
        Requests in flight at once.
    max_retries
        Retries per request on 429, 5xx, timeouts and dropped connections (the openai
        client backs off exponentially with jitter and honours Retry-After).
    logprobs
        Ask for token log-probabilities; an answer's confidence is then the probability
        of the tokens that spell its label. Under constrained decoding (llama.cpp's
        ``json_object`` schema) these are the model's unconstrained probabilities:
        compare them with each other, e.g. a threshold fitted on dev, not with 0.5.
    min_confidence
        Answers less confident than this abstain (answers without a confidence vote).
    input_price, output_price
        US dollars per million prompt and completion tokens, for cost reports.
    source
        The vote source's name. Default ``llm:<model>``, with the template's name and
        the number of few-shot examples appended when they are not the defaults, so
        each (model, template, examples) is its own source.

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
    template: str | Path | None = None
    definitions: Mapping[str, str] = field(default_factory=dict)
    examples: tuple[tuple[str, str], ...] = ()
    logprobs: bool = False
    min_confidence: float | None = None
    input_price: float | None = None
    output_price: float | None = None
    source: str | None = None

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
        if self.source:
            return self.source
        name = f"llm:{self.model}"
        if self.template is not None and Path(self.template).resolve() != DEFAULT_TEMPLATE:
            name += f":{Path(self.template).stem}"
        return name + (f"+{len(self.examples)}shot" if self.examples else "")

    def request(self, task: Task, text: str) -> dict[str, Any]:
        """The request parameters that define (and key) one prompt."""
        request = {
            "model": self.model,
            "messages": build_messages(
                self.instructions,
                task,
                text,
                template=self.template,
                definitions=self.definitions,
                examples=self.examples,
            ),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
        }
        # llama.cpp's server returns log-probabilities only when top_logprobs is set.
        return {**request, "logprobs": True, "top_logprobs": 1} if self.logprobs else request

    def cost(self, prompt_tokens: float, completion_tokens: float) -> float | None:
        """US dollars for these tokens at the configured prices (None without prices)."""
        if self.input_price is None or self.output_price is None:
            return None
        return (prompt_tokens * self.input_price + completion_tokens * self.output_price) / 1e6


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
    unsure: int
    prompt_tokens: int
    completion_tokens: int
    response_format: str | None
    cost: float | None = None


@dataclass(frozen=True)
class LLMEstimate:
    """What a run would ask and roughly cost, before anything is spent."""

    source: str
    prompts: int
    cached: int
    to_ask: int
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    tokens_measured: bool


def _prompts(
    workspace: Workspace, config: LLMConfig, split: str | None
) -> tuple[pl.DataFrame, list[str], list[dict[str, Any]]]:
    """The examples to label (``id, text``), and per example its request and cache key."""
    examples = workspace.sql(
        "SELECT id, text FROM examples WHERE ? IS NULL OR split = ? ORDER BY id", [split, split]
    )
    if examples.height == 0:
        raise LabelkitError(f"workspace {workspace.path} has no examples to label")
    requests = [config.request(workspace.task, text) for text in examples["text"]]
    return examples, [request_key(r) for r in requests], requests


def estimate_llm_run(
    workspace: Workspace, config: LLMConfig, *, split: str | None = None, refresh: bool = False
) -> LLMEstimate:
    """A dry run: how many prompts are not cached yet, their tokens and cost, asking nothing.

    Tokens are estimated from the characters of the messages, at the characters per
    token this model's cached answers measured, or 4 when there are none; completion
    tokens at the cached mean, else at ``max_tokens`` (an upper bound).

    Examples
    --------
    >>> config = LLMConfig(model="gpt-4o-mini", instructions="Is this YouTube comment spam?",
    ...                    input_price=0.15, output_price=0.6)
    >>> estimate = estimate_llm_run(ws, config)  # the bundled YouTube comments
    >>> estimate.to_ask, estimate.prompt_tokens, round(estimate.cost, 3)
    (1760, 94308, 0.031)
    """
    _, keys, prompts = _prompts(workspace, config, split)
    requests = dict(zip(keys, prompts, strict=True))
    known = set() if refresh else set(cached_answers(workspace, list(requests))["key"])
    to_ask = [r for k, r in requests.items() if k not in known]
    measured = workspace.sql(
        "SELECT request, prompt_tokens, completion_tokens FROM llm_cache "
        "WHERE model = ? AND prompt_tokens IS NOT NULL LIMIT 1000",
        [config.model],
    )
    chars_per_token, completion = 4.0, float(config.max_tokens)
    if measured.height:
        chars = sum(_message_chars(json.loads(r)) for r in measured["request"])
        chars_per_token = chars / max(int(measured["prompt_tokens"].sum()), 1)
        completion = float(measured["completion_tokens"].mean() or 0.0)
    prompt_tokens = round(sum(_message_chars(r) for r in to_ask) / chars_per_token)
    completion_tokens = round(completion * len(to_ask))
    return LLMEstimate(
        source=config.source_name,
        prompts=len(requests),
        cached=len(requests) - len(to_ask),
        to_ask=len(to_ask),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost=config.cost(prompt_tokens, completion_tokens),
        tokens_measured=measured.height > 0,
    )


def _message_chars(request: dict[str, Any]) -> int:
    return sum(len(message["content"]) for message in request["messages"])


def label_with_llm(
    workspace: Workspace,
    config: LLMConfig,
    *,
    split: str | None = None,
    refresh: bool = False,
) -> LLMRunStats:
    """Label the workspace's examples with an LLM and store its answers as one vote source.

    Cached prompts are not asked again (``refresh=True`` asks every prompt anew and
    replaces its cached answer). Each new answer is cached the moment it arrives; the
    votes are written in one step at the end. A prompt that still fails after its
    retries is recorded as a failure and its example abstains; the next run asks it
    again.

    Examples
    --------
    >>> stats = label_with_llm(ws, LLMConfig(model="smollm2", instructions="Spam?"))
    >>> stats.cached + stats.answered + stats.failed == stats.prompts
    True
    """
    task = workspace.task
    examples, keys, requests = _prompts(workspace, config, split)
    known = set() if refresh else set(cached_answers(workspace, keys)["key"])
    pending = {k: r for k, r in zip(keys, requests, strict=True) if k not in known}

    used_format = None
    failed = 0
    if pending:
        _require_endpoint(config, len(pending), len(set(keys)))
        used_format, failed = asyncio.run(
            _ask_all(workspace, config, task, pending, cached=len(set(keys)) - len(pending))
        )

    answers = cached_answers(workspace, keys)
    parsed = dict(zip(answers["key"], answers["label"], strict=True))
    unsure = (
        set(answers.filter(answers["confidence"] < config.min_confidence)["key"])
        if config.min_confidence is not None
        else set()
    )
    labels = [None if k in unsure else parsed.get(k) for k in keys]
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
        unparsed=sum(1 for k in set(keys) if k in parsed and parsed[k] is None),
        unsure=len(unsure),
        prompt_tokens=int(tokens[0]),
        completion_tokens=int(tokens[1]),
        response_format=used_format,
        cost=config.cost(int(tokens[0]), int(tokens[1])),
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
    workspace: Workspace,
    config: LLMConfig,
    task: Task,
    pending: dict[str, dict[str, Any]],
    *,
    cached: int,
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
                f"asking {config.model} ({cached} cached)",
                total=len(items),
                answered=0,
                failed=0,
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
        if answer is not None and answer.error is not None:
            # Accepted but failed (a 429, a dropped connection): the probe does not
            # retry, so ask again with the retrying client.
            answer = await _ask(client, config, task, key, request, candidate)
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
        choice = completion.choices[0] if completion.choices else None
        content = choice.message.content if choice else None
    except refusals:
        return None
    except (openai.APIError, ValueError, AttributeError, TypeError) as error:
        # ValueError and friends: a 200 whose body is not a chat completion (malformed
        # JSON, missing fields). Like an HTTP error, it is recorded and asked again later.
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
    usage = completion.usage
    label = parse_label(content, task.labels)
    return CachedAnswer(
        key=key,
        model=config.model,
        request={**request, "response_format": response_format},
        response=content,
        error=None,
        label=label,
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        latency_s=time.perf_counter() - started,
        confidence=_label_confidence(content, label, choice.logprobs if choice else None),
    )


def _label_confidence(content: str | None, label: str | None, logprobs: Any) -> float | None:
    """The probability of the tokens that spell ``label`` in ``content``, from logprobs.

    Tokens are laid end to end to find where each starts; those overlapping the
    label's first occurrence (ignoring case) count. None when the endpoint returned no
    log-probabilities or the label is not spelled out in the answer.
    """
    tokens = getattr(logprobs, "content", None)
    if not content or not label or not tokens:
        return None
    # Look past the JSON key, so that a label spelled inside "label" is not found there.
    anchor = content.find('"label"')
    start = content.lower().find(label.lower(), anchor + len('"label"') if anchor >= 0 else 0)
    if start < 0:
        return None
    end, position, total = start + len(label), 0, 0.0
    for token in tokens:
        if position < end and position + len(token.token) > start:
            total += token.logprob
        position += len(token.token)
    return math.exp(total)
