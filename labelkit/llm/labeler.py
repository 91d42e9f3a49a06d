"""The LLM as a labeling function: ask any OpenAI-compatible endpoint, cache, parse, vote."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import math
import os
import re
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from rich.progress import Progress, TextColumn

from labelkit import report
from labelkit.aggregate import label_model_accuracy, label_model_sources, last_aggregate_config
from labelkit.errors import InputError, LabelkitError, LabelkitWarning, check_range
from labelkit.executors import executor_for
from labelkit.llm.budget import GROUPS, LLMBudgetPlan, check_budget, rank_prompts
from labelkit.llm.cache import ANSWERED, CachedAnswer, store_answers
from labelkit.llm.local import server_failure
from labelkit.llm.parse import align_answers, commonest_answers, parse_attributes, parse_label
from labelkit.llm.prompt import (
    DEFAULT_TEMPLATES,
    attributes_schema,
    build_messages,
    entities_schema,
    label_schema,
)
from labelkit.llm.transport import (
    api_key_of,
    async_client,
    complete,
    format_arguments,
    format_refusals,
    over_context,
    require_endpoint,
    warn_if_model_unlisted,
)
from labelkit.report import counted, make_console
from labelkit.task import Task
from labelkit.votes import (
    add_span_votes,
    add_votes,
    definition_hash,
    replace_span_votes,
    replace_votes,
    set_sources,
)
from labelkit.workspace import Workspace, first_row, registered

if TYPE_CHECKING:
    import openai

    from labelkit.executors import Executor

# openai is imported where a run asks: importing it takes longer than the rest of the
# CLI, whose other commands never need it.
RESPONSE_FORMATS = ("json_schema", "json_object", "text")
# The names an endpoint takes the token limit under (``LLMConfig.token_limit``).
TOKEN_LIMITS = ("max_tokens", "max_completion_tokens")

# Stands for the text in a rendered request, to cut its canonical JSON around it.
_TEXT = "\u0000labelkit:text\u0000"
# Answers are cached in batches: one transaction per answer caps a run at a few hundred
# answers a second. A batch is written when it holds this many answers or its oldest
# answer is this old, whichever comes first, so a crash loses at most one second's.
CACHE_BATCH = 1000
CACHE_BATCH_S = 1.0
# Prompts are built and keyed this many examples at a time, into temporary tables named
# below (see _prompt_tables): what a run holds does not grow with the examples.
PROMPT_BATCH = 100_000
_PROMPTS, _DISTINCT, _RANKED = "llm_prompts", "llm_distinct", "llm_ranked"
# How many failed prompts a run names by their examples.
FAILED_SHOWN = 5
# The progress bar redraws ten times a second; updating it more often is wasted work.
_PROGRESS_S = 0.1
# Tokens a chat template adds around a request's messages (OpenAI's count 3 to 4 per
# message and 3 to prime the answer), on top of a token per character in the ceiling.
TEMPLATE_TOKENS = 32


@dataclass(frozen=True)
class LLMConfig:
    """How to ask an LLM for labels. One config (model, instructions, parameters) is one source.

    For a task with attributes (aspects, multi-label) one request per text asks for
    every attribute at once, as a JSON object with one enum per attribute, and its
    answer becomes one vote per attribute; ``per_attribute`` asks one request per
    (text, attribute) instead. For a spans task one request per text asks for its
    entities, ``{"entities": [{"text": ..., "label": ...}]}``, and each is aligned to
    every occurrence of its words in the text (``labelkit.llm.parse.align_entities``):
    the spans are the source's span votes.

    Parameters
    ----------
    model
        The model name the endpoint knows.
    instructions
        The task description placed before the label list in the system message.
    base_url, api_key
        The endpoint; default to ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY``.
    extra_base_urls
        More endpoints serving the same model with the same key (replicas): the
        requests are spread over ``base_url`` and these in turn, ``concurrency`` in
        flight in all. Answers are cached by request, whichever endpoint gave them. A
        prompt that fails at one in a way another may not (a refused or dropped
        connection, a timeout, a 5xx, a 429) is asked of the next; an endpoint that
        fails ``stop_after_failures`` prompts in a row alike is dropped from the
        rotation (``LLMRunStats.dropped``), and the run stops only when none is left.
    response_format
        ``"auto"`` tries ``json_schema``, then ``json_object`` with the schema (what
        llama.cpp's server enforces), then plain text, and keeps the first the endpoint
        accepts; or name one of ``RESPONSE_FORMATS``.
    max_tokens
        Most tokens per label answered: a request that answers every attribute of a
        text may use this many per attribute, one that lists a text's entities this
        many per entity (``max_entities`` of them).
    temperature, token_limit
        Sampling temperature (None leaves it out: a model that takes only its own) and
        the name the token limit goes under: ``"max_tokens"``, or
        ``"max_completion_tokens"``, which OpenAI's reasoning models (o-series, gpt-5)
        take instead, refusing ``max_tokens`` and any temperature but their own. Their
        reasoning counts in the limit: give ``max_tokens`` room for it (hundreds).
    template
        A Jinja2 file that renders the system message (see ``labelkit.llm.prompt``);
        default ``templates/classify.jinja``, ``attributes.jinja`` for every attribute
        at once, ``attribute.jinja`` for one attribute per request, ``spans.jinja``
        for the entities of a text.
    definitions
        A one-line definition per label, shown in the prompt.
    examples
        Few-shot (text, label) pairs, e.g. from ``few_shot_examples``.
    concurrency
        Requests in flight at once.
    max_retries
        Retries per request on 429, 5xx, timeouts and dropped connections, backing off
        exponentially with jitter and honouring Retry-After. A 429 for a spent quota
        (``insufficient_quota``) is not retried: it stops the run.
    timeout_s
        A deadline per attempt, from sending the request to the last byte of its answer
        (not per read: a server that trickles bytes is cut off too).
    max_response_bytes
        A larger answer is a failure, read no further (a 16-token answer is a few KB).
    aliases
        Other names per label for the parser (``{"Sci/Tech": ("Science",)}``).
    max_requests
        At most this many HTTP requests (retries included) per run; then the run stops.
    max_cost
        US dollars: a run whose estimate (``estimate_llm_run``) exceeds it does not
        start, and a run stops before a request that could take its cost past it.
        Needs ``input_price`` and ``output_price``.
    stop_after_failures
        Stop the run after this many prompts in a row failed with the same kind of
        error (a server that is gone, a wrong key, a broken proxy).
    logprobs
        Ask for token log-probabilities; an answer's confidence is then the probability
        of the tokens that spell its label (one label per answer: classification, or
        ``per_attribute``). Under constrained decoding (llama.cpp's
        ``json_object`` schema) these are the model's unconstrained probabilities:
        compare them with each other, e.g. a threshold fitted on dev, not with 0.5.
    min_confidence
        Answers less confident than this abstain (answers without a confidence vote).
    input_price, output_price
        US dollars per million prompt and completion tokens, for cost reports.
    source
        The vote source's name. Default ``llm:<model>``, with the template's name,
        ``:per-attribute`` and the number of few-shot examples appended when they are
        not the defaults, so each (model, template, variant, examples) is its own source.
    per_attribute
        For a task with attributes, ask one request per (text, attribute) with its own
        prompt (``templates/attribute.jinja``) instead of one per text.
    max_entities
        Spans: the most entities one answer may list (the schema's ``maxItems``).

    Examples
    --------
    >>> config = LLMConfig(model="smollm2", instructions="Is this YouTube comment spam?",
    ...                    base_url="http://127.0.0.1:8011/v1", api_key="local")
    """

    model: str
    instructions: str
    base_url: str | None = None
    # Never in a repr: a printed config, a log line or a traceback would show it.
    api_key: str | None = field(default=None, repr=False)
    extra_base_urls: tuple[str, ...] = ()
    temperature: float | None = 0.0
    max_tokens: int = 16
    token_limit: str = "max_tokens"
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
    max_response_bytes: int = 1_000_000
    aliases: Mapping[str, Sequence[str]] = field(default_factory=dict)
    max_requests: int | None = None
    max_cost: float | None = None
    stop_after_failures: int = 5
    per_attribute: bool = False
    max_entities: int = 16

    def __post_init__(self) -> None:
        if self.response_format not in ("auto", *RESPONSE_FORMATS):
            raise LabelkitError(
                f"unknown response_format {self.response_format!r}; use 'auto' or one of "
                f"{list(RESPONSE_FORMATS)}"
            )
        if self.concurrency < 1:
            raise LabelkitError(f"concurrency must be at least 1, got {self.concurrency}")
        # Trial 45: max_retries=-1 asked one prompt and stopped as if a limit were
        # reached; a timeout of 0 retried for seconds without a request; a negative
        # price gave a negative cost.
        check_range("max_retries", self.max_retries, low=0)
        check_range("max_tokens", self.max_tokens, low=1)
        # Trial 47c: 0 was taken, and every answer then failed as too large.
        check_range("max_response_bytes", self.max_response_bytes, low=1)
        if not self.timeout_s > 0:
            raise InputError(f"timeout_s is a deadline in seconds: above 0, got {self.timeout_s}")
        for name in ("input_price", "output_price"):
            price = getattr(self, name)
            if price is not None:
                check_range(name, price, low=0, why=" (dollars per million tokens)")
        if self.max_cost is not None and (self.input_price is None or self.output_price is None):
            raise LabelkitError(
                "a cost limit needs prices: give input_price and output_price "
                "(--input-price, --output-price)"
            )
        if self.max_requests is not None and self.max_requests < 0:
            raise LabelkitError(f"max_requests must be 0 or more, got {self.max_requests}")
        if self.max_cost is not None and self.max_cost < 0:
            raise LabelkitError(f"max_cost must be 0 or more, got {self.max_cost:g}")
        if self.stop_after_failures < 1:
            raise LabelkitError(
                f"stop_after_failures must be at least 1, got {self.stop_after_failures}"
            )
        if self.token_limit not in TOKEN_LIMITS:
            raise LabelkitError(
                f"token_limit is the name of the token limit, one of {list(TOKEN_LIMITS)}; "
                f"got {self.token_limit!r}"
            )
        if self.max_entities < 1:
            raise LabelkitError(f"max_entities must be at least 1, got {self.max_entities}")
        if self.extra_base_urls and not self.base_url:
            raise LabelkitError("extra_base_urls are more endpoints beside base_url: give it too")

    @property
    def endpoints(self) -> tuple[str, ...]:
        """``base_url`` (``""`` for ``OPENAI_BASE_URL``'s) and its replicas."""
        return (self.base_url or "", *self.extra_base_urls)

    @property
    def source_name(self) -> str:
        if self.source:
            return self.source
        name = f"llm:{self.model}"
        if self.template is not None and Path(self.template).resolve() not in DEFAULT_TEMPLATES:
            name += f":{Path(self.template).stem}"
        if self.per_attribute:
            name += ":per-attribute"
        return name + (f"+{len(self.examples)}shot" if self.examples else "")

    def answer_tokens(self, task: Task, attribute: str = "") -> int:
        """The most tokens of an answer to a request on ``attribute`` (``""``: the text)."""
        if attribute or task.kind == "classification":
            return self.max_tokens
        if task.kind == "spans":
            return self.max_tokens * self.max_entities
        return self.max_tokens * len(task.targets)

    def request(self, task: Task, text: str, attribute: str = "") -> dict[str, Any]:
        """The request parameters that define (and key) one prompt: about ``text`` as a
        whole (every attribute of a task that has them), or about its ``attribute``."""
        request = {
            "model": self.model,
            "messages": build_messages(
                self.instructions,
                task,
                text,
                template=self.template,
                definitions=self.definitions,
                examples=self.examples,
                attribute=attribute,
            ),
            # In this order: the source's definition is this request as JSON.
            **({} if self.temperature is None else {"temperature": self.temperature}),
            self.token_limit: self.answer_tokens(task, attribute),
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
    """What one LLM run did. Each distinct prompt was cached, answered now, failed, or
    (when the run stopped early, see ``stopped``) not asked. For a task with attributes
    ``unparsed`` and ``unsure`` count (answer, attribute) pairs: an attribute missing
    from an answer, or given a value outside its labels, is one unparsed, and
    ``unread_by_attribute`` counts them per attribute, most first. For a spans
    task ``unparsed`` counts the entities not found in their text or labeled outside
    the task, and the answers that list no entities as JSON (each kept in the cache,
    see ``label_with_llm``); ``spans`` counts the span votes. A budgeted run has its
    ``budget`` plan and, where the dev split has gold, ``dev_accuracy``: the label
    model ``dev_model``'s dev accuracy refitted before and after the run. ``dropped``
    names each endpoint (``base_url`` or one of ``extra_base_urls``) taken out of the
    rotation, with why: its prompts were asked of the others. ``unmetered`` answers came
    without usage and are counted in ``cost`` at the most their requests could cost;
    ``last_error`` is the last failure's, where any failed, ``failed_examples`` the ids
    of the first failed prompts' examples (``FAILED_SHOWN``), and ``too_long`` how many
    failed as longer than the model's context (they fail alike on every run).
    ``replaced_votes`` counts the votes the source had from another prompt (other
    instructions, a template, aliases), which this run's answers replaced;
    ``kept_votes`` those a run that ``stopped`` early, or that left the new prompt
    without any answer, kept as they were, its answers only cached (a run that is not
    cut short replaces them).
    ``timed_out`` attempts ran past the deadline and ``broken_off`` ended without an
    answer read (a dropped connection, a body cut off); ``cost`` counts each at the most
    its request could cost, as an endpoint may have answered and billed it."""

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
    not_asked: int = 0
    stopped: str | None = None
    spans: int | None = None
    budget: LLMBudgetPlan | None = None
    dev_accuracy: tuple[float, float] | None = None
    dev_model: str | None = None
    unread: tuple[tuple[str, int], ...] = ()
    unread_by_attribute: tuple[tuple[str, int], ...] = ()
    dropped: dict[str, str] = field(default_factory=dict)
    unmetered: int = 0
    last_error: str | None = None
    failed_examples: list[str] = field(default_factory=list)
    too_long: int = 0
    replaced_votes: int = 0
    kept_votes: int = 0
    timed_out: int = 0
    broken_off: int = 0


@dataclass(frozen=True)
class LLMEstimate:
    """What a run would ask and roughly cost, before anything is spent: prompt tokens
    ``tokens_measured`` on this model's cached answers or counted by characters, and
    completion tokens ``completions_measured`` on its cached answers to these prompts
    or at each answer's ``max_tokens``."""

    source: str
    prompts: int
    cached: int
    to_ask: int
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    tokens_measured: bool
    texts_to_ask: int = 0
    completions_measured: bool = False
    # The source's votes from another prompt, which the run would replace.
    replaces_votes: int = 0

    @property
    def cost_per_text(self) -> float | None:
        """The estimated cost per distinct text with a prompt to ask."""
        if self.cost is None or not self.texts_to_ask:
            return None
        return self.cost / self.texts_to_ask


@dataclass(frozen=True)
class _Prompts:
    """How a run asks for and reads its prompts: one request per attribute of ``bases``.

    ``""`` stands for a request about the whole text (the label, or every attribute of
    a task that has them), else for the one attribute it asks for. Each attribute's
    request is rendered once: every request is the same but for the text, so its
    cache key is the SHA-256 of the same canonical JSON with the text's JSON spliced
    in (``keys``). The prompts themselves stay in the workspace (``_prompt_tables``).
    """

    task: Task
    config: LLMConfig
    bases: dict[str, dict[str, Any]]

    def request(self, text: str, attribute: str) -> dict[str, Any]:
        base = self.bases[attribute]
        return {**base, "messages": [*base["messages"][:-1], _user(text)]}

    def keys(self, texts: pl.Series, attribute: str) -> pl.Series:
        """The cache key (``request_key``) of the request on ``attribute`` about each
        of ``texts``, without rendering it."""
        prefix, suffix = json.dumps(self.bases[attribute], sort_keys=True).split(json.dumps(_TEXT))
        # The hash of the common prefix is computed once and copied; encode_basestring_ascii
        # is json.dumps of a string without its per-call overhead.
        head, tail = hashlib.sha256(prefix.encode()), suffix.encode()
        keys = []
        for text in texts:
            digest = head.copy()
            digest.update(encode_basestring_ascii(text).encode())
            digest.update(tail)
            keys.append(digest.hexdigest())
        return pl.Series(keys, dtype=pl.String)

    def chars(self, attribute: str) -> int:
        """The characters of the messages of a request on ``attribute``, but the text's."""
        return _message_chars(self.bases[attribute]) - len(_TEXT)

    def single(self, attribute: str) -> bool:
        """Whether a request on ``attribute`` is answered with one label."""
        return bool(attribute) or self.task.kind == "classification"

    @property
    def spans(self) -> bool:
        """Whether an answer lists the entities of its text (a spans task)."""
        return self.task.kind == "spans"

    def schema(self, attribute: str) -> tuple[str, dict[str, Any]]:
        """The name and JSON schema of the answer to a request on ``attribute``."""
        if self.spans:
            return "entities", entities_schema(self.task, self.config.max_entities)
        if self.single(attribute):
            return "label", label_schema(self.task.answers(attribute))
        return "answers", attributes_schema(self.task)

    def read(self, content: str, attribute: str) -> dict[str, str | None]:
        """The label an answer gives each attribute it answers, None where it gives none."""
        task = self.task
        if not self.single(attribute):
            return parse_attributes(
                content,
                {a: task.answers(a).labels for a in task.targets},
                aliases=self.config.aliases,
            )
        labels = task.answers(attribute).labels
        aliases = self.config.aliases
        if task.kind != "classification":
            aliases = {label: names for label, names in aliases.items() if label in labels}
        return {attribute: parse_label(content, labels, aliases=aliases)}

    def align(self, contents: Sequence[str | None], texts: Sequence[str]) -> list[Any]:
        """Spans answers' entities in their texts, as ``align_answers`` gives them."""
        return align_answers(
            texts, contents, self.task.labels, self.task.lang, aliases=self.config.aliases
        )

    def label(self, content: str, attribute: str, text: str) -> str | None:
        """What the cache keeps as an answer's ``label``: the one label, every
        attribute's as JSON, or a spans answer's ``align`` as JSON (None: no JSON)."""
        if self.spans:
            (aligned,) = self.align([content], [text])
            return None if aligned is None else json.dumps(aligned)
        read = self.read(content, attribute)
        return read[attribute] if self.single(attribute) else json.dumps(read)

    @cached_property
    def definition(self) -> str:
        """The vote source's definition: the request (per attribute, if one each)."""
        if list(self.bases) == [""]:
            return json.dumps(self.config.request(self.task, "{text}"))
        return json.dumps({a: self.config.request(self.task, "{text}", a) for a in self.bases})


def _user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def _prompts(workspace: Workspace, config: LLMConfig, split: str | None) -> _Prompts:
    """How ``config`` asks about ``split``'s examples; raises if there are none, or if
    the config does not fit the task."""
    found = first_row(
        workspace.con,
        "SELECT count(*) FROM examples WHERE ? IS NULL OR split = ?",
        [split, split],
    )
    if not found or not found[0]:
        where = f" in split {split!r}" if split is not None else ""
        raise LabelkitError(f"workspace {workspace.path} has no examples to label{where}")
    task = workspace.task
    if task.kind != "spans":
        task.require_attributes("llm (label_with_llm)")
    _check_variant(config, task)
    if task.kind != "classification":
        # Aliases are checked here as parse_label checks them for classification.
        parse_label(None, task.labels, aliases=config.aliases)
    bases = {
        attribute: config.request(task, _TEXT, attribute)
        for attribute in (task.targets if config.per_attribute else ("",))
    }
    return _Prompts(task=task, config=config, bases=bases)


@contextlib.contextmanager
def _prompt_tables(
    workspace: Workspace,
    prompts: _Prompts,
    split: str | None,
    refresh: bool,
    batch_rows: int = PROMPT_BATCH,
) -> Iterator[None]:
    """The run's prompts in temporary tables of the workspace's connection, for the
    length of the block (then dropped):

    - ``llm_prompts``, one row per example and prompt: ``id, attribute, key, chars``
      (the characters of its messages);
    - ``llm_distinct``, one row per distinct prompt: ``key, attribute, chars``, ``id``
      (its first example: the same for every prompt about one text), ``pending`` (it
      has no usable cached answer, or ``refresh``), ``asked`` (what the run asks:
      ``pending``, until a budget chooses, see ``_budgeted``) and ``budget_rank`` (the
      order a budget asks in; NULL: by first example, then attribute).

    The examples are read ``batch_rows`` at a time and each batch's distinct texts
    hashed, so that what this process holds does not grow with the examples; counts,
    sums and the lookup in the cache are DuckDB's.
    """
    con = workspace.con
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_PROMPTS} (
                id VARCHAR, attribute VARCHAR, key VARCHAR, chars INTEGER)"""
    )
    try:
        # A cursor of its own: inserting on the workspace's connection must not end the stream.
        with workspace.cursor() as cursor:
            stream = cursor.sql(
                "SELECT id, text FROM examples WHERE ? IS NULL OR split = ?", params=[split, split]
            ).to_arrow_reader(batch_rows)
            for batch in stream:
                examples = pl.from_arrow(batch)
                assert isinstance(examples, pl.DataFrame)
                # A text repeated in the batch is hashed once.
                texts = examples.select(pl.col("text").unique())
                keyed = pl.concat(
                    texts.select(
                        "text",
                        attribute=pl.lit(attribute, dtype=pl.String),
                        key=prompts.keys(texts["text"], attribute),
                        chars=pl.col("text").str.len_chars().cast(pl.Int32)
                        + prompts.chars(attribute),
                    )
                    for attribute in prompts.bases
                )
                rows = examples.join(keyed, on="text").drop("text")
                with registered(con, "new_prompts", rows):
                    con.execute(
                        f"INSERT INTO {_PROMPTS} SELECT id, attribute, key, chars FROM new_prompts"
                    )
        max_bytes = prompts.config.max_response_bytes
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {_DISTINCT} AS
                SELECT *, pending AS asked, NULL::BIGINT AS budget_rank FROM (
                    SELECT key, any_value(attribute) AS attribute, any_value(chars) AS chars,
                           min(id) AS id,
                           ? OR key NOT IN (SELECT key FROM llm_cache WHERE {ANSWERED})
                               AS pending
                    FROM {_PROMPTS} GROUP BY key
                )""",
            [refresh, max_bytes, max_bytes],
        )
        yield
    finally:
        for table in (_PROMPTS, _DISTINCT, _RANKED):
            con.execute(f"DROP TABLE IF EXISTS {table}")


def _check_variant(config: LLMConfig, task: Task) -> None:
    if config.per_attribute and task.kind in ("classification", "spans"):
        raise LabelkitError(
            "one request per attribute is for aspects and multi-label tasks; "
            f"this workspace's task is {task.kind}"
        )
    if config.min_confidence is not None and not config.logprobs:
        # Trial 58a: every answer voted, "0 below --min-confidence", exit 0.
        raise LabelkitError(
            "min_confidence needs logprobs (--logprobs): without them no answer has a "
            "confidence to compare"
        )
    if task.kind == "spans" and (config.logprobs or config.min_confidence is not None):
        raise LabelkitError(
            "confidences need one label per answer; an answer on a spans task lists "
            "every entity of its text"
        )
    if (
        task.kind != "classification"
        and not config.per_attribute
        and (config.logprobs or config.min_confidence is not None)
    ):
        raise LabelkitError(
            "confidences need one label per answer: for an aspects or multi-label task "
            "ask one request per attribute (per_attribute, --per-attribute)"
        )


def _token_rates(
    workspace: Workspace, config: LLMConfig, prompts: _Prompts
) -> tuple[float, float, bool, bool]:
    """Characters per prompt token, measured on this model's cached answers, else
    ``_unmeasured_chars_per_token``; completion tokens per answer, measured on its
    cached answers to these prompts (one answer per text runs far longer than one per
    attribute), else ``max_tokens`` (an upper bound); and whether each was measured
    (trial 59g: a changed prompt's ceiling was said to be measured)."""
    systems = [base["messages"][0]["content"] for base in prompts.bases.values()]
    measured = workspace.sql(
        """SELECT request, prompt_tokens, completion_tokens,
                  json_extract_string(request, '$.messages[0].content')
                      IN (SELECT unnest(?::VARCHAR[])) AS same
           FROM llm_cache WHERE model = ? AND prompt_tokens IS NOT NULL
           ORDER BY same DESC LIMIT 1000""",
        [systems, config.model],
    )
    bound = sum(config.answer_tokens(prompts.task, a) for a in prompts.bases) / len(prompts.bases)
    if not measured.height:
        return _unmeasured_chars_per_token(workspace, prompts), bound, False, False
    chars = sum(_message_chars(json.loads(r)) for r in measured["request"])
    chars_per_token = chars / max(int(measured["prompt_tokens"].sum()), 1)
    same = measured.filter(pl.col("same"))
    completion = float(same["completion_tokens"].mean() or 0.0) if same.height else bound
    return chars_per_token, completion, True, bool(same.height)


def _unmeasured_chars_per_token(workspace: Workspace, prompts: _Prompts) -> float:
    """Characters per token of the prompts before any answer measured them: 4 for the
    alphabets (the instructions among them), 1 for Chinese, Japanese and Korean
    characters, by their share of the first thousand texts (trial 57e: at 4 for every
    character, a Chinese set's dry run counted a quarter of its tokens).

    Examples
    --------
    >>> _unmeasured_chars_per_token(ws, prompts)  # English texts, any instructions
    4.0
    """
    row = first_row(
        workspace.con,
        r"""SELECT count(*), sum(length(text)),
                   sum(length(regexp_replace(
                       text, '[^\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]', '', 'g')))
            FROM (SELECT text FROM examples LIMIT 1000)""",
    )
    texts, chars, dense = row if row and row[0] else (0, 0, 0)
    if not chars:
        return 4.0
    base = sum(prompts.chars(attribute) for attribute in prompts.bases) / len(prompts.bases)
    # Per prompt, on average: its instructions and text in characters, and in tokens.
    length = base + chars / texts
    return length / ((length - dense / texts) / 4 + dense / texts)


def _message_chars(request: dict[str, Any]) -> int:
    return sum(len(message["content"]) for message in request.get("messages", []))


@dataclass(frozen=True)
class _Counts:
    """The run's distinct prompts: in all, pending (not cached, or refreshed) and asked."""

    prompts: int
    pending: int
    asked: int


def _counts(workspace: Workspace) -> _Counts:
    row = first_row(
        workspace.con,
        f"SELECT count(*), count(*) FILTER (pending), count(*) FILTER (asked) FROM {_DISTINCT}",
    )
    assert row is not None
    return _Counts(*(int(n) for n in row))


def _estimate(workspace: Workspace, config: LLMConfig, prompts: _Prompts) -> LLMEstimate:
    """The estimate of what the run asks (``asked`` in ``llm_distinct``)."""
    chars_per_token, completion, measured, completions = _token_rates(workspace, config, prompts)
    row = first_row(
        workspace.con,
        f"""SELECT count(*), count(*) FILTER (asked), coalesce(sum(chars) FILTER (asked), 0),
                   count(DISTINCT id) FILTER (asked)
            FROM {_DISTINCT}""",
    )
    assert row is not None
    distinct, to_ask, chars, texts = (int(n) for n in row)
    prompt_tokens = round(chars / chars_per_token)
    completion_tokens = round(completion * to_ask)
    return LLMEstimate(
        source=config.source_name,
        prompts=distinct,
        cached=distinct - to_ask,
        to_ask=to_ask,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost=config.cost(prompt_tokens, completion_tokens),
        tokens_measured=measured,
        texts_to_ask=texts,
        completions_measured=completions,
    )


def _votes_of_another_prompt(workspace: Workspace, config: LLMConfig, prompts: _Prompts) -> int:
    """How many votes the source holds from a prompt other than ``prompts``' (other
    instructions, template, examples or aliases): a run replaces them with its answers
    (trial 59a: new instructions replaced 6,000 votes unsaid; trial 59g: a budget of 20
    left 132 of 24,000)."""
    stored = first_row(
        workspace.con, "SELECT hash FROM sources WHERE name = ?", [config.source_name]
    )
    if stored is None or stored[0] == definition_hash(prompts.definition):
        return 0
    table = "span_votes" if prompts.spans else "votes"
    held = first_row(
        workspace.con, f"SELECT count(*) FROM {table} WHERE source = ?", [config.source_name]
    )
    return int(held[0]) if held else 0


def votes_of_another_prompt(
    workspace: Workspace, config: LLMConfig, *, split: str | None = None
) -> int:
    """How many votes ``config``'s source holds from another prompt than ``config``
    asks about ``split``: those a run would replace.

    Examples
    --------
    >>> votes_of_another_prompt(ws, dataclasses.replace(config, instructions="Spam?"))
    1953
    """
    return _votes_of_another_prompt(workspace, config, _prompts(workspace, config, split))


def prompt_change(workspace: Workspace, config: LLMConfig, *, split: str | None = None) -> str:
    """What ``config`` asks otherwise than the request the source's votes came from, in
    words ("temperature 0.7, was 0.0"); empty where it asks the same, or has no votes.

    Examples
    --------
    >>> prompt_change(ws, dataclasses.replace(config, temperature=0.7))
    'temperature 0.7, was 0.0'
    """
    stored = first_row(
        workspace.con, "SELECT definition FROM sources WHERE name = ?", [config.source_name]
    )
    definition = _prompts(workspace, config, split).definition
    if stored is None or stored[0] == definition:
        return ""
    try:
        old, new = json.loads(stored[0]), json.loads(definition)
    except ValueError:
        return ""
    # A task with attributes asked one at a time has a request per attribute.
    if "model" not in new:
        old = next(iter(old.values()), {}) if isinstance(old, dict) else {}
        new = next(iter(new.values()), {})
    if not isinstance(old, dict):
        return ""
    differing = [key for key in dict.fromkeys([*new, *old]) if old.get(key) != new.get(key)]
    changes = []
    for key in differing:
        if key == "messages":
            changes.append("other instructions, template or examples")
        elif key in TOKEN_LIMITS and key in new and key in old:
            changes.append(_max_tokens_change(config, new[key], old[key], differing == [key]))
        elif key in new and key in old:
            changes.append(f"{key} {new[key]}, was {old[key]}")
        else:
            # A parameter sent now or before only (a temperature, a token limit's name).
            changes.append(f"{key} {'sent' if key in new else 'no longer sent'}")
    return "; ".join(changes)


def _max_tokens_change(config: LLMConfig, asked: int, before: Any, alone: bool) -> str:
    """A change of the answer's token limit in words, with the ``--max-tokens`` that asks
    the earlier requests where that alone changed (trial 61c: 896 paid answers were to
    be bought again, the instructions blamed). A request's limit is ``--max-tokens``
    times the attributes, or the entities, it asks for (``answer_tokens``; the second
    read: that product was given as the option)."""
    per = max(asked // max(config.max_tokens, 1), 1)
    said = (
        f"--max-tokens {config.max_tokens}, was {before}"
        if per == 1
        else f"{asked} answer tokens (--max-tokens {config.max_tokens} times {per}), was {before}"
    )
    if alone and isinstance(before, int) and before % per == 0:
        said += (
            ": the cache is keyed by the whole request, so --max-tokens "
            f"{before // per} uses the earlier answers"
        )
    return said


def estimate_llm_run(
    workspace: Workspace, config: LLMConfig, *, split: str | None = None, refresh: bool = False
) -> LLMEstimate:
    """A dry run: how many prompts are not cached yet, their tokens and cost, asking nothing.

    Tokens are estimated from the characters of the messages, at the characters per
    token this model's cached answers measured, or 4 when there are none; completion
    tokens at the cached mean, else at ``max_tokens`` (an upper bound). The prompts
    are built and keyed a batch of examples at a time and counted by DuckDB, in
    temporary tables (``_prompt_tables``): a read-only workspace will do, and memory
    does not grow with the examples in this process.

    Examples
    --------
    >>> config = LLMConfig(model="gpt-4o-mini", instructions="Is this YouTube comment spam?",
    ...                    input_price=0.15, output_price=0.6)
    >>> estimate = estimate_llm_run(ws, config)  # the bundled YouTube comments
    >>> estimate.to_ask, estimate.prompt_tokens, round(estimate.cost, 3)
    (1760, 94308, 0.031)
    """
    prompts = _prompts(workspace, config, split)
    with _prompt_tables(workspace, prompts, split, refresh):
        estimate = _estimate(workspace, config, prompts)
    return dataclasses.replace(
        estimate, replaces_votes=_votes_of_another_prompt(workspace, config, prompts)
    )


def plan_llm_budget(
    workspace: Workspace,
    config: LLMConfig,
    *,
    split: str | None = None,
    budget: int | None = None,
    budget_usd: float | None = None,
    refresh: bool = False,
) -> LLMBudgetPlan:
    """A budgeted dry run: which prompts ``label_with_llm(..., budget=...)`` would ask,
    counted per group of the score (``labelkit.llm.budget``), and their estimated
    tokens and cost, asking nothing. ``budget`` counts requests (prompts not cached),
    ``budget_usd`` estimated US dollars (needs prices); with both, the smaller buys.

    Examples
    --------
    >>> plan = plan_llm_budget(ws, config, budget=100)
    >>> plan.chosen
    {'no votes': 42, 'conflict': 58, 'agree': 0}
    """
    check_budget(budget, budget_usd, config.cost(0, 0) is not None)
    prompts = _prompts(workspace, config, split)
    with _prompt_tables(workspace, prompts, split, refresh):
        return _budgeted(workspace, config, prompts, budget, budget_usd)


def _budgeted(
    workspace: Workspace,
    config: LLMConfig,
    prompts: _Prompts,
    budget: int | None,
    budget_usd: float | None,
) -> LLMBudgetPlan:
    """Mark the pending prompts a budget buys, most valuable first, as the ones the run
    asks (``asked``, in that order: ``budget_rank``), and return the plan. The caller
    checked the budget (``check_budget``) before building the prompts."""
    con = workspace.con
    ranked_by, note = rank_prompts(
        workspace,
        prompts.task,
        _PROMPTS,
        config.source_name,
        per_text=not config.per_attribute,
        into=_RANKED,
    )
    con.execute(
        f"""UPDATE {_DISTINCT} d SET budget_rank = r.position, asked = r.position < ?
            FROM (SELECT d.key, row_number() OVER (ORDER BY r.rank) - 1 AS position
                  FROM {_DISTINCT} d JOIN {_RANKED} r USING (key) WHERE d.pending) r
            WHERE d.key = r.key""",
        [_bought(workspace, config, prompts, budget, budget_usd)],
    )
    estimate = _estimate(workspace, config, prompts)
    counts = {
        group: (int(pending), int(chosen))
        for group, pending, chosen in con.execute(
            f"""SELECT r."group", count(*), count(*) FILTER (d.asked)
                FROM {_DISTINCT} d JOIN {_RANKED} r USING (key) WHERE d.pending
                GROUP BY r."group" """
        ).fetchall()
    }
    return LLMBudgetPlan(
        budget=budget,
        budget_usd=budget_usd,
        cached=estimate.prompts - _counts(workspace).pending,
        pending={group: counts.get(group, (0, 0))[0] for group in GROUPS},
        chosen={group: counts.get(group, (0, 0))[1] for group in GROUPS},
        prompt_tokens=estimate.prompt_tokens,
        completion_tokens=estimate.completion_tokens,
        cost=estimate.cost,
        ranked_by=ranked_by,
        note=note,
    )


def _bought(
    workspace: Workspace,
    config: LLMConfig,
    prompts: _Prompts,
    budget: int | None,
    budget_usd: float | None,
) -> int:
    """How many of the pending prompts, most valuable first (``llm_ranked``), a budget
    buys: ``budget`` of them, and no more than the estimated cost of the top ones
    stays within ``budget_usd``."""
    pending = _counts(workspace).pending
    bought = pending if budget is None else min(budget, pending)
    if budget_usd is None:
        return bought
    chars_per_token, completion, *_ = _token_rates(workspace, config, prompts)
    assert config.input_price is not None and config.output_price is not None
    within, spent = 0, 0.0
    # Read in rank order, a batch at a time, until the money runs out.
    with workspace.con.sql(
        f"""SELECT d.chars FROM {_DISTINCT} d JOIN {_RANKED} r USING (key)
            WHERE d.pending ORDER BY r.rank LIMIT ?""",
        params=[bought],
    ).to_arrow_reader(PROMPT_BATCH) as stream:
        for batch in stream:
            costs = np.asarray(config.cost(batch["chars"].to_numpy() / chars_per_token, completion))
            # Added one after another from the top, each prompt's cost after those before it.
            spent_by = np.cumsum(np.concatenate([[spent], costs]))[1:]
            affordable = int(np.searchsorted(spent_by, budget_usd, side="right"))
            within += affordable
            if affordable < len(spent_by):
                break
            spent = float(spent_by[-1])
    return within


def _dev_model(workspace: Workspace) -> tuple[str, dict[str, Any]] | None:
    """The label model ``aggregate`` last fitted (else ``auto`` on train) and how, on
    the sources it was fitted on (trial 34: every source, those ``--exclude`` left out
    too), when the dev split has gold to score it on and its fit split has examples."""
    fitted = last_aggregate_config(workspace) or {"model": "auto"}
    fitted.setdefault("fit_split", "train")
    fitted["sources"] = label_model_sources(workspace)
    counts = workspace.sql(
        """SELECT count(*) FILTER (split = 'dev' AND gold IS NOT NULL) AS dev,
                  count(*) FILTER (split = ?) AS fit
           FROM examples""",
        [fitted["fit_split"]],
    ).row(0)
    return (fitted.pop("model"), fitted) if all(counts) else None


def _with_source(model: tuple[str, dict[str, Any]], source: str) -> tuple[str, dict[str, Any]]:
    """``model`` fitted on ``source`` too, where it names its sources."""
    name, fitted = model
    sources = fitted.get("sources")
    if sources is None or source in sources:
        return model
    return name, {**fitted, "sources": [*sources, source]}


def _dev_accuracy(workspace: Workspace, model: tuple[str, dict[str, Any]]) -> float:
    if not workspace.sql("SELECT count(*) AS n FROM votes")["n"][0]:
        return 0.0  # without votes every example is undecided, counted as wrong
    name, fitted = model
    accuracy = label_model_accuracy(workspace, name, split="dev", **fitted)
    assert accuracy is not None
    return accuracy


def label_with_llm(
    workspace: Workspace,
    config: LLMConfig,
    *,
    split: str | None = None,
    refresh: bool = False,
    cached_only: bool = False,
    budget: int | None = None,
    budget_usd: float | None = None,
    executor: str | Executor = "local",
) -> LLMRunStats:
    """Label the workspace's examples with an LLM and store its answers as one vote source.

    ``split`` names the split whose examples are asked; None (the default here) asks
    every split, where ``labelkit llm`` asks train unless told otherwise. Cached prompts
    are not asked again (``refresh=True`` asks every prompt anew and replaces its cached
    answer). ``cached_only=True`` asks nothing: the cached answers
    vote and the other examples abstain (``not_asked``), as when replaying recorded
    answers that cover part of the data without an endpoint. New answers are cached in
    batches as they arrive, each within a second (``CACHE_BATCH_S``) or as soon as a
    thousand are waiting (``CACHE_BATCH``), and every one when the run ends, stops,
    fails or is interrupted (Ctrl-C): a killed process loses at most the last second's
    answers. The votes are written in one step at the end. A prompt that still fails after its
    retries, or whose response holds no message, is recorded as a failure and its
    example abstains; the next run asks it again.

    ``executor`` sends the requests: ``local`` from this process, ``ray`` (or a
    ``RayExecutor``) from Ray tasks, each asking a part of the prompts with its share
    of the limits; either way this process writes every answer into the cache.

    The run stops early, with the reason in ``stopped``, when ``stop_after_failures``
    prompts in a row fail alike, when the quota is spent, or at ``max_requests`` or
    ``max_cost``; what was answered is voted, the rest is asked by the next run. A run
    whose estimated cost exceeds ``max_cost`` raises before asking anything.

    ``budget`` (requests: prompts not cached) and ``budget_usd`` (estimated US dollars,
    also the run's ``max_cost``) ask only the most valuable prompts by the score of
    ``labelkit.llm.budget`` (see ``plan_llm_budget``); the rest abstain until a later
    run asks them. Cached answers cost nothing and always vote. Where the dev split has
    gold, such a budgeted run refits the label model ``aggregate`` last fitted (``auto``
    on train if none) before and after, in memory, and reports its dev accuracy
    (``dev_accuracy``; None for a run without a budget: trial 58e read it as any run's).

    On a spans task the votes are the spans of each answer's entities, in
    ``span_votes``. An entity not found in its text, or labeled outside the task, is
    a parse failure and no vote: the cache keeps, in ``label``, each answer's spans
    and its failures as JSON (``{"spans": [[start, end, label]], "failures": [{"text",
    "label", "reason"}]}``), and NULL for an answer that lists no entities as JSON.

    Examples
    --------
    >>> stats = label_with_llm(ws, LLMConfig(model="smollm2", instructions="Spam?"))
    >>> stats.cached + stats.answered + stats.failed + stats.not_asked == stats.prompts
    True
    """
    if refresh and cached_only:
        raise InputError("refresh asks every prompt again and cached_only asks none: choose one")
    if budget is not None or budget_usd is not None:
        if cached_only:
            raise InputError("a budget buys requests and cached_only asks none: choose one")
        check_budget(budget, budget_usd, config.cost(0, 0) is not None)
    prompts = _prompts(workspace, config, split)
    with _prompt_tables(workspace, prompts, split, refresh):
        return _label(workspace, config, prompts, split, cached_only, budget, budget_usd, executor)


def _label(
    workspace: Workspace,
    config: LLMConfig,
    prompts: _Prompts,
    split: str | None,
    cached_only: bool,
    budget: int | None,
    budget_usd: float | None,
    executor: str | Executor,
) -> LLMRunStats:
    """``label_with_llm`` once the prompts are in their tables (``_prompt_tables``)."""
    started = time.time()
    plan, dev_model, before = None, None, None
    if budget is not None or budget_usd is not None:
        plan = _budgeted(workspace, config, prompts, budget, budget_usd)
        if budget_usd is not None:
            config = dataclasses.replace(
                config, max_cost=min(config.max_cost or budget_usd, budget_usd)
            )
        dev_model = _dev_model(workspace)
        before = _dev_accuracy(workspace, dev_model) if dev_model else None

    counts = _counts(workspace)
    if not cached_only:
        _warn_if_cached_elsewhere(workspace, config, prompts, counts.prompts - counts.pending)
    used_format, outcome = None, LLMRun(config)
    runner = executor_for(executor) if isinstance(executor, str) else executor
    # The tokens this run paid for: of the answers it stored, not of the cache rows of
    # the prompts it asked, which a failed --refresh leaves holding the old answer's
    # (trial 45 counted those twice).
    spent = [0, 0]

    def store(answers: Sequence[CachedAnswer]) -> None:
        store_answers(workspace, answers)
        for answer in answers:
            if answer.response is not None:
                # Trial 47: an endpoint's negative counts gave a negative cost.
                spent[0] += max(answer.prompt_tokens or 0, 0)
                spent[1] += max(answer.completion_tokens or 0, 0)

    if counts.asked and not cached_only:
        require_endpoint(config, counts.asked, counts.prompts)
        warn_if_model_unlisted(config)
        _warn_if_priced_otherwise(workspace, config)
        if config.max_cost is not None:
            _refuse_over_budget(_estimate(workspace, config, prompts), config)
        requests = LLMRequests(
            config=dataclasses.replace(config, api_key=api_key_of(config) or "unused"),
            prompts=prompts,
            pending=workspace.sql(
                f"""SELECT d.key, e.text, d.attribute, d.chars
                    FROM {_DISTINCT} d JOIN examples e ON e.id = d.id
                    WHERE d.asked
                    ORDER BY d.budget_rank NULLS LAST, d.id,
                             list_position(?::VARCHAR[], d.attribute)""",
                [list(prompts.bases)],
            ),
            cached=counts.prompts - counts.pending,
        )
        try:
            used_format = runner.llm_answers(requests, outcome, store)
        except KeyboardInterrupt:
            _log_interrupted(workspace, config, split, outcome)
            raise
    # At the end of the whole run, not of a part: Ray asks the first prompt alone, and a
    # part that stopped would stop the parts after it (the second read of stop 57).
    if plan is not None and budget_usd is not None and config.max_cost == budget_usd:
        # The planned prompts a budget in dollars has no room left to hold are its end,
        # not a stop (trial 61c: every budgeted run ended in an error, status 1).
        plan = dataclasses.replace(plan, note=_with_unheld(plan.note, outcome, budget_usd))
    else:
        outcome.over_limit_stop()
    not_asked = counts.pending - outcome.answered - outcome.failed
    # A stop with every prompt asked stopped nothing (trial 67a: the last five prompts
    # failing read "the run stopped early, 0 prompts not asked" and exited 1, where the
    # same failures earlier in a run exited 0): its failures are said as failures.
    stopped = outcome.stopped if not_asked else None
    if stopped and outcome.last_error and outcome.last_error not in stopped:
        # Trial 44: retries spent --max-requests on a refused connection, and the run
        # named the limit, never the refusal.
        stopped = f"{stopped}; {outcome.failed} failed, the last with {outcome.last_error}"
    if stopped and (died := server_failure(config.base_url)):
        stopped = f"{stopped}; {died}"
    if stopped and "AuthenticationError" in stopped and not api_key_of(config):
        # Trial 45: the endpoint refused "Bearer unused", and nothing said no key was set.
        stopped += "; no API key was given: pass --api-key (api_key=) or set OPENAI_API_KEY"

    max_bytes = config.max_response_bytes
    cached = workspace.sql(
        f"""SELECT c.key, c.response, c.confidence, d.attribute AS asked
                   {", e.text" if prompts.spans else ""}
            FROM llm_cache c JOIN {_DISTINCT} d USING (key)
                 {"JOIN examples e ON e.id = d.id" if prompts.spans else ""}
            WHERE {ANSWERED}""",
        [max_bytes, max_bytes],
    )
    sources = pl.DataFrame(
        {"name": [config.source_name], "kind": ["llm"], "definition": [prompts.definition]}
    )
    replaced = _votes_of_another_prompt(workspace, config, prompts)
    spans = None
    unread: tuple[tuple[str, int], ...] = ()
    unread_by_attribute: tuple[tuple[str, int], ...] = ()
    if prompts.spans:
        found, unparsed = _aligned(cached, prompts)
        votes = _per_example(workspace, found, config.source_name, ["start", "end", "label"])
        replace, add, unsure, spans = replace_span_votes, add_span_votes, 0, votes.height
    else:
        answers = _parsed(cached, prompts)
        votes = _per_example(
            workspace,
            answers.select("key", "attribute", pl.col("vote").alias("label")),
            config.source_name,
            ["label", *(["attribute"] if prompts.task.kind != "classification" else [])],
        )
        replace, add = replace_votes, add_votes
        unparsed = int(answers["label"].is_null().sum())
        # Trial 45: "45 unparseable" said nothing of what the answers were; trial 57c:
        # nor, with attributes, which attribute an answer left out.
        unlabeled = answers.filter(pl.col("label").is_null())
        # Each answer once, however many attributes it left unread (trial 64c: a prose
        # answer sent 21 times was counted 126 times, once per attribute).
        unread = commonest_answers(unlabeled.unique("key")["response"])
        if prompts.task.kind != "classification":
            unread_by_attribute = tuple(
                unlabeled.group_by("attribute")
                .len()
                .sort("len", "attribute", descending=[True, False])
                .rows()
            )
        unsure = int(answers["unsure"].sum())
    # Trial 67a: new instructions against a server that was down got no answer, and the
    # 7,221 votes of the earlier prompt were replaced by none. A source holds one
    # prompt's votes, so a part of the new prompt's cannot join them: they wait in the
    # cache for a run that is not cut short. Failures alone do not hold them back: a
    # prompt over the model's context fails on every run (the second read).
    answered_prompts = counts.prompts - counts.pending + outcome.answered
    keep_earlier = replaced > 0 and (bool(stopped) or answered_prompts == 0)
    with workspace.run(
        "llm",
        {
            "model": config.model,
            "source": config.source_name,
            "split": split,
            "executor": runner.name,
            # Which servers answered (trial 62b: not said, and the cache leaves it out):
            # none where nothing was asked.
            "endpoints": endpoints_asked(config) if outcome.answered + outcome.failed else [],
            # What this run asked and paid, for spend across runs (trial 50c: the
            # workspace kept no cost, and no prices to compute one).
            "answered": outcome.answered,
            "failed": outcome.failed,
            "input_price": config.input_price,
            "output_price": config.output_price,
            "cost": None if config.cost(0, 0) is None else outcome.cost,
            # How its answers were read into votes (trial 58a: two sources of one model
            # could not be told apart in the log); the prompt is the source's definition.
            "aliases": {label: list(names) for label, names in config.aliases.items()},
            "logprobs": config.logprobs,
            "min_confidence": config.min_confidence,
            # Which prompt it asked (the sources table keeps only the newest).
            "definition_hash": definition_hash(prompts.definition),
        },
        started=started,
    ) as run:
        if split is None and not keep_earlier:
            replace(run.con, votes, sources, run_id=run.id)
        elif not keep_earlier:
            # Only this split's votes are replaced: the source's votes on the others stay
            # (trial 34: `llm --split train` deleted the votes `--split dev` had stored),
            # unless they are of another prompt, which a source of one prompt cannot keep
            # (trial 62a: dev's votes of the old prompt were scored as the new one's).
            run.con.execute(
                f"""DELETE FROM {"span_votes" if prompts.spans else "votes"}
                    WHERE source = ? AND (? OR example_id IN (SELECT id FROM {_PROMPTS}))""",
                [config.source_name, replaced > 0],
            )
            add(run.con, votes, run_id=run.id)
            set_sources(run.con, sources, run_id=run.id)
    examples = first_row(workspace.con, f"SELECT count(*) FROM {_PROMPTS}")
    assert examples is not None
    prompt_tokens, completion_tokens = spent
    return LLMRunStats(
        source=config.source_name,
        examples=int(examples[0]),
        prompts=counts.prompts,
        cached=counts.prompts - counts.pending,
        answered=outcome.answered,
        failed=outcome.failed,
        unparsed=unparsed,
        unsure=unsure,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        response_format=used_format,
        # As the cost limit counts it: an answer without usage at its ceiling (trial 47
        # read $0.0000 for 136 answers from an endpoint that gave none).
        cost=None if config.cost(0, 0) is None else outcome.cost,
        not_asked=not_asked,
        stopped=stopped,
        spans=spans,
        budget=plan,
        dev_accuracy=None
        if dev_model is None or before is None
        else (before, _dev_accuracy(workspace, _with_source(dev_model, config.source_name))),
        dev_model=None if dev_model is None else _describe_model(*dev_model),
        unread=unread,
        unread_by_attribute=unread_by_attribute,
        dropped=outcome.dropped if len(config.endpoints) > 1 else {},
        unmetered=outcome.unmetered,
        timed_out=outcome.timed_out,
        broken_off=outcome.broken_off,
        last_error=outcome.last_error if outcome.failed else None,
        failed_examples=_examples_of(workspace, outcome.failed_keys),
        too_long=outcome.too_long,
        replaced_votes=0 if keep_earlier else replaced,
        kept_votes=replaced if keep_earlier else 0,
    )


INTERRUPTED_STEP = "llm-interrupted"


def _with_unheld(note: str | None, outcome: LLMRun, budget_usd: float) -> str | None:
    """A budget plan's note with the planned prompts its run left unasked, as what the
    budget had left could not hold them."""
    if not outcome.over_limit:
        return note
    unheld = (
        f"{counted(outcome.over_limit, 'planned prompt')} did not fit what the budget had "
        f"left (${max(budget_usd - outcome.cost, 0):.4f}; a request is held at the most it "
        f"could cost, up to ${outcome.dearest_over:.4f} here, until its answer says)"
    )
    return f"{note}; {unheld}" if note else unheld


def _warn_if_priced_otherwise(workspace: Workspace, config: LLMConfig) -> None:
    """Warn where the prices given differ from those of the model's last priced run:
    the cost and its limits count at the prices given (trial 61c: another model's
    prices, pasted, made a $0.002 limit a $0.0325 bill)."""
    if config.input_price is None or config.output_price is None:
        return
    last = first_row(
        workspace.con,
        """SELECT run_id, TRY_CAST(config->>'input_price' AS DOUBLE),
                  TRY_CAST(config->>'output_price' AS DOUBLE)
           FROM runs
           WHERE step IN ('llm', ?) AND config->>'model' = ?
               AND TRY_CAST(config->>'input_price' AS DOUBLE) IS NOT NULL
               AND TRY_CAST(config->>'output_price' AS DOUBLE) IS NOT NULL
           ORDER BY run_id DESC LIMIT 1""",
        [INTERRUPTED_STEP, config.model],
    )
    if last is None or (last[1], last[2]) == (config.input_price, config.output_price):
        return
    warnings.warn(
        f"{config.model} was priced at ${last[1]:g} in and ${last[2]:g} out per million tokens "
        f"in run {last[0]}, and at ${config.input_price:g} and ${config.output_price:g} now: "
        "this run's cost and its limits count at the new prices",
        LabelkitWarning,
        stacklevel=3,
    )


def endpoints_asked(config: LLMConfig) -> list[str]:
    """The URLs a run asks (``OPENAI_BASE_URL``'s, or the openai client's default, where
    ``base_url`` is not given), as the ``llm`` run logs them.

    Examples
    --------
    >>> endpoints_asked(LLMConfig(model="m", base_url="http://127.0.0.1:8011/v1"))
    ['http://127.0.0.1:8011/v1']
    """
    default = os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
    return [url or default for url in config.endpoints]


def _warn_if_cached_elsewhere(
    workspace: Workspace, config: LLMConfig, prompts: _Prompts, cached: int
) -> None:
    """Warn where the cached answers a run reads were last asked of other endpoints,
    by a run of the same model and prompt: the cache key leaves the endpoint out, so
    that replicas share answers, and a new server under the same model name read an old
    one's answers (trial 62b: a fixed gateway got no request, its source held the
    broken one's 194 answers)."""
    if not cached:
        return
    last = first_row(
        workspace.con,
        """SELECT run_id, config->'endpoints' FROM runs
           WHERE step IN ('llm', ?) AND config->>'model' = ?
             AND config->>'definition_hash' = ?
             AND json_array_length(config->'endpoints') > 0
           ORDER BY run_id DESC LIMIT 1""",
        [INTERRUPTED_STEP, config.model, definition_hash(prompts.definition)],
    )
    now = endpoints_asked(config)
    if last is None or set(json.loads(last[1])) & set(now):
        return
    warnings.warn(
        f"{counted(cached, 'answer')} of {config.model} come from the cache, and run {last[0]} "
        f"asked {config.model} of {', '.join(json.loads(last[1]))}, not of {', '.join(now)}: "
        "where that is another server, --refresh (refresh=True) asks this one",
        LabelkitWarning,
        stacklevel=4,
    )


def _log_interrupted(
    workspace: Workspace, config: LLMConfig, split: str | None, outcome: LLMRun
) -> None:
    """Log what an interrupted run asked and paid, as a run of its own that changes no
    votes (trial 59g: Ctrl-C left $0.10 of answers in the cache and no cost in the log,
    so spend across runs did not add up). The requests in flight count at what was held
    for them, as the endpoint may answer and bill them (trial 61c: 29 billed, 25 logged)."""
    with workspace.run(
        INTERRUPTED_STEP,
        {
            "model": config.model,
            "source": config.source_name,
            "endpoints": endpoints_asked(config),
            "split": split,
            "answered": outcome.answered,
            "failed": outcome.failed,
            "input_price": config.input_price,
            "output_price": config.output_price,
            "cost": None if config.cost(0, 0) is None else outcome.cost + outcome.reserved,
            "in_flight": outcome.holding,
        },
    ):
        pass


def _examples_of(workspace: Workspace, keys: list[str]) -> list[str]:
    """The first example of each prompt of ``keys``, in their order."""
    if not keys:
        return []
    ids = dict(
        workspace.sql(
            f"SELECT key, id FROM {_DISTINCT} WHERE list_contains(?, key)", [keys]
        ).iter_rows()
    )
    return [ids[key] for key in keys if key in ids]


def _per_example(
    workspace: Workspace, answers: pl.DataFrame, source: str, columns: list[str]
) -> pl.DataFrame:
    """``answers`` (``key`` and ``columns``) for every example of its prompt, as votes of
    ``source``: ``example_id, source`` and ``columns``, sorted."""
    with registered(workspace.con, "llm_answers", answers):
        return workspace.sql(
            f"""SELECT p.id AS example_id, ? AS source, {", ".join(f'a."{c}"' for c in columns)}
                FROM {_PROMPTS} p JOIN llm_answers a USING (key)
                ORDER BY ALL""",
            [source],
        )


def _describe_model(name: str, fitted: dict[str, Any]) -> str:
    gold = fitted.get("gold_split")
    return f"{name} fit on {fitted['fit_split']}" + (f" with {gold} gold" if gold else "")


def _aligned(answers: pl.DataFrame, prompts: _Prompts) -> tuple[pl.DataFrame, int]:
    """The spans of the cached spans answers (``key, response, text``: ``key, start,
    end, label``), each aligned to its text as this config reads it, and how many parse
    failures they hold: the entities that found no span, and the answers with no
    entities."""
    rows, failures = [], 0
    aligned_answers = prompts.align(answers["response"], answers["text"])
    for key, aligned in zip(answers["key"], aligned_answers, strict=True):
        if aligned is None:
            failures += 1
            continue
        failures += len(aligned["failures"])
        rows += [(key, *span) for span in aligned["spans"]]
    found = pl.DataFrame(
        rows,
        schema={"key": pl.String, "start": pl.Int64, "end": pl.Int64, "label": pl.String},
        orient="row",
    )
    return found, failures


def _parsed(answers: pl.DataFrame, prompts: _Prompts) -> pl.DataFrame:
    """The cached answers (``key, response, confidence`` and the attribute each ``asked``),
    one row per attribute each answers (``""`` for classification), with its label (each
    distinct response parsed once, with this config's aliases), whether it is below
    ``min_confidence``, and the vote."""
    read = [
        (response, asked, attribute, label)
        for response, asked in answers.select("response", "asked").unique().rows()
        for attribute, label in prompts.read(response, asked).items()
    ]
    labels = pl.DataFrame(
        read,
        schema=dict.fromkeys(("response", "asked", "attribute", "label"), pl.String),
        orient="row",
    )
    threshold = prompts.config.min_confidence
    unsure = (
        (pl.col("confidence") < threshold).fill_null(False)
        if threshold is not None
        else pl.lit(False)
    )
    return (
        answers.join(labels, on=["response", "asked"])
        .with_columns(unsure=unsure)
        .with_columns(vote=pl.when(pl.col("unsure")).then(None).otherwise(pl.col("label")))
    )


def _refuse_over_budget(estimate: LLMEstimate, config: LLMConfig) -> None:
    """Refuse a run whose prompts would cost more than ``config.max_cost``."""
    refusal = over_budget(estimate, config)
    if refusal is not None:
        raise LabelkitError(refusal)


def over_budget(estimate: LLMEstimate, config: LLMConfig) -> str | None:
    """Why a run of ``estimate`` would be refused for costing more than
    ``config.max_cost``, or None: its prompts counted up to ``max_requests`` (trial
    50c: the refusal advised a request limit, which it then did not count). The dry run
    says it too (trial 56a: it printed the estimate, not that the run would stop).

    Examples
    --------
    >>> over_budget(estimate_llm_run(ws, config), config)
    '3829 prompts would cost about $0.3496 (...), more than the limit of $0.0500: ...'
    """
    if estimate.cost is None or config.max_cost is None:
        return None
    asked = estimate.to_ask
    if config.max_requests is not None and config.max_requests < asked:
        asked = config.max_requests
    cost = estimate.cost * asked / max(estimate.to_ask, 1)
    if cost <= config.max_cost:
        return None
    return (
        f"{asked} prompts would cost about {_dollars(cost)} (of "
        f"{estimate.to_ask}: {estimate.prompt_tokens} prompt and "
        f"{estimate.completion_tokens} completion tokens in all), more than the limit of "
        f"{_dollars(config.max_cost)}: ask fewer (a split, --max-requests, or --budget-usd "
        "to choose which) or raise the limit"
    )


def _dollars(value: float) -> str:
    """US dollars to four significant digits below $100, so that a cost and a limit
    under a cent read apart (the second read: "$0.0003 ... more than $0.0003")."""
    return f"${value:,.2f}" if value >= 100 else f"${value:.4g}"


@dataclass(frozen=True)
class LLMRequests:
    """The prompts a run sends and what sending them takes, for an executor to send
    wherever it runs: nothing in it refers to the workspace.

    ``pending`` has ``key, text, attribute, chars``, one row per prompt to ask (see
    ``ceiling`` for what a cost limit holds back for each); ``cached`` counts the run's
    prompts answered already. ``config.api_key`` is resolved.

    Examples
    --------
    >>> requests.part(requests.pending.head(100), max_requests=50).pending.height
    100
    """

    config: LLMConfig
    prompts: _Prompts
    pending: pl.DataFrame
    cached: int

    def ceiling(self, chars: int, attribute: str) -> float:
        """The most a prompt of ``chars`` characters on ``attribute`` can cost, 0 without
        prices: a token per character (tokenizers average three to four) and the chat
        template's few, and the longest answer ``max_tokens`` allows. A cost limit holds
        back this much per request in flight (trial 47: at the typical estimate, 32
        requests at once passed the limit by 9%).

        Examples
        --------
        >>> requests.ceiling(400, "")  # at $1 and $2 per million tokens, max_tokens 16
        0.000464
        """
        answer = self.config.answer_tokens(self.prompts.task, attribute)
        return self.config.cost(chars + TEMPLATE_TOKENS, answer) or 0.0

    def part(self, pending: pl.DataFrame, **settings: Any) -> LLMRequests:
        """These requests for ``pending`` (some of them) alone, ``settings`` replacing
        the config's."""
        return dataclasses.replace(
            self, config=dataclasses.replace(self.config, **settings), pending=pending
        )


@dataclass
class LLMRun:
    """What one run's requests share: counts, spending, and whether to stop asking.

    Examples
    --------
    >>> run = LLMRun(LLMConfig(model="m", max_requests=10))
    >>> [share["max_requests"] for share in run.shares(4)]
    [3, 3, 2, 2]
    """

    config: LLMConfig
    answered: int = 0
    failed: int = 0
    requests: int = 0
    cost: float = 0.0
    reserved: float = 0.0
    # Requests holding part of ``reserved``: whether to wait is counted, not read off a
    # float (trial 50c: adding and taking back the holds left 8.7e-19, and with nothing
    # in flight to settle it a run at the limit waited forever).
    holding: int = 0
    # Attempts that ran past the deadline, or broke off without an answer read, each
    # counted in the cost at its request's hold.
    timed_out: int = 0
    broken_off: int = 0
    # The most an answer cost against what its request's ceiling allowed (1: within it).
    excess: float = 1.0
    # Answers whose endpoint gave no usage, counted at what was held for them.
    unmetered: int = 0
    stopped: str | None = None
    # Per endpoint (a replica of --base-url): the kind of its last failure and how many
    # of its answers in a row failed so.
    failing: dict[str, tuple[str, int]] = field(default_factory=dict)
    # Endpoints taken out of the rotation, each with why; the others ask their prompts.
    dropped: dict[str, str] = field(default_factory=dict)
    last_error: str | None = None
    # The cache keys of the first prompts that failed (``FAILED_SHOWN``), to name them.
    failed_keys: list[str] = field(default_factory=list)
    # Prompts the endpoint refused as longer than its model's context, and prompts not
    # sent as they alone could cost more than the cost limit left (with the dearest).
    too_long: int = 0
    over_limit: int = 0
    dearest_over: float = 0.0
    # The median pending prompt's characters (``_ask_all`` sets it): only a longer one
    # over the model's context is the prompt's fault (see ``too_long``).
    typical_chars: float = math.inf

    def stop(self, reason: str) -> None:
        self.stopped = self.stopped or reason

    def shares(self, parts: int) -> list[dict[str, Any]]:
        """The limits of ``parts`` runs asking at once: what is left of this run's
        request and cost limits, split evenly (rounded down), so that together they
        cannot pass them."""
        requests, cost = self.config.max_requests, self.config.max_cost
        left = None if requests is None else max(requests - self.requests, 0)
        return [
            {
                "max_requests": None if left is None else left // parts + (i < left % parts),
                "max_cost": None if cost is None else max(cost - self.cost, 0.0) / parts,
            }
            for i in range(parts)
        ]

    def absorb(self, part: LLMRun) -> None:
        """Add what a part of this run (asked elsewhere, see ``shares``) did."""
        self.answered += part.answered
        self.failed += part.failed
        self.last_error = part.last_error or self.last_error
        self.dropped = part.dropped | self.dropped
        self.requests += part.requests
        self.cost += part.cost
        self.unmetered += part.unmetered
        self.timed_out += part.timed_out
        self.broken_off += part.broken_off
        self.excess = max(self.excess, part.excess)
        self.failed_keys = (self.failed_keys + part.failed_keys)[:FAILED_SHOWN]
        self.too_long += part.too_long
        self.over_limit += part.over_limit
        self.dearest_over = max(self.dearest_over, part.dearest_over)
        if part.stopped:
            self.stop(part.stopped)

    def may_send(self) -> bool:
        """Count one HTTP request, unless the run has stopped or the request limit is met."""
        limit = self.config.max_requests
        if not self.stopped and limit is not None and self.requests >= limit:
            self.stop(f"the limit of {counted(limit, 'request')} is reached")
        if self.stopped:
            return False
        self.requests += 1
        return True

    def held(self, ceiling: float) -> float:
        """What to hold back for a request whose cost is at most ``ceiling``: that, times
        the most an answer so far passed its own ceiling, where an endpoint counts more
        tokens than a request holds (trial 50c: holding the dearest answer so far let
        answers that grew dearer pass the limit)."""
        return ceiling * self.excess

    def reserve(self, amount: float) -> bool | None:
        """Hold back ``amount`` for a request (see ``held``): True if it fits under the
        cost limit; None if it fits only once requests in flight have settled (wait for
        ``settle``); False if the run has stopped, stops here (the cost passed the limit)
        or, with nothing in flight to make room, this request would take the cost past
        it: it is left unasked and counted in ``over_limit``."""
        limit = self.config.max_cost
        if self.stopped:
            return False
        if limit is None or self.cost + self.reserved + amount <= limit:
            self.reserved += amount
            self.holding += 1
            return True
        if self.holding:
            return None
        if self.cost > limit:
            self.stop(
                f"the cost passed the limit of ${limit:.4f} (${self.cost:.4f} spent): the "
                "endpoint counted more tokens than its requests could hold"
            )
        else:
            # This prompt alone could pass the limit: it is left unasked and the cheaper
            # ones after it still go (trial 57a: one 16,000-word contract's hold ended a
            # run with $0.04 of its $0.25 spent). ``over_limit_stop`` says so at the end.
            self.over_limit += 1
            self.dearest_over = max(self.dearest_over, amount)
        return False

    def over_limit_stop(self) -> None:
        """Stop the run, at its end, for the prompts ``reserve`` left unasked."""
        limit = self.config.max_cost
        if self.over_limit and limit is not None:
            each = "each" if self.over_limit > 1 else "it"
            self.stop(
                f"{counted(self.over_limit, 'prompt')} left unasked: {each} could take the "
                f"cost past the limit of ${limit:.4f} (${self.cost:.4f} spent; a request may "
                f"cost up to ${self.dearest_over:.4f}, a token per character of its prompt)"
            )

    def settle(self, amount: float, ceiling: float, answer: CachedAnswer | None) -> None:
        """Release what ``reserve`` held for a request and count what it cost: its
        usage at the configured prices, never below zero, or, where the endpoint gave
        none, what was held for it (an upper bound). ``ceiling`` is what the request
        could cost by its length (``LLMRequests.ceiling``)."""
        # Never below zero, or every later reserve would wait for a settle to come.
        self.holding = max(self.holding - 1, 0)
        self.reserved = self.reserved - amount if self.holding else 0.0
        if answer is not None and (answer.timed_out or answer.broken_off):
            # An attempt past the deadline, or broken off, may have been answered and
            # billed: each at what was held for the request (trial 59g: 215 slow
            # attempts were counted $0, and the run went 36% past its limit by the
            # provider's bill; trial 61c: bodies cut off, 35% of a bill).
            self.timed_out += answer.timed_out
            self.broken_off += answer.broken_off
            self.cost += (answer.timed_out + answer.broken_off) * amount
        tokens = (
            (answer.prompt_tokens, answer.completion_tokens or 0)
            if answer is not None and answer.prompt_tokens is not None
            else None
        )
        if answer is not None and answer.error is not None and tokens and min(tokens) >= 0:
            # A failure that came with usage was answered, and billed: a 200 without a
            # message (a refusal, a content filter; the second read: counted $0).
            self.cost += self.config.cost(*tokens) or 0.0
        if answer is not None and answer.error is None:
            # A count below zero is as broken as none (trial 61c: counted $0, unsaid).
            actual = self.config.cost(*tokens) if tokens and min(tokens) >= 0 else None
            self.unmetered += actual is None
            counted = actual if actual is not None else amount
            self.cost += counted
            if ceiling > 0:
                self.excess = max(self.excess, counted / ceiling)

    def record(self, answer: CachedAnswer, endpoint: str = "") -> None:
        """Count a prompt's outcome from ``endpoint`` (see ``failed_at`` for failures)."""
        if answer.error is None:
            self.answered += 1
            self.failing.pop(endpoint, None)
            return
        self.failed += 1
        self.last_error = answer.error
        self.too_long += self.too_long_for_context(answer)
        if len(self.failed_keys) < FAILED_SHOWN:
            self.failed_keys.append(answer.key)
        self.failed_at(answer, endpoint)

    def failed_at(self, answer: CachedAnswer, endpoint: str = "") -> None:
        """Count a failure at ``endpoint``, a prompt's or an attempt's that is asked
        elsewhere next (``_fails_over``). A spent quota stops the run; so does the same
        kind of failure ``stop_after_failures`` times in a row at one endpoint (asking on
        would fail alike, and may cost), except that a replica is only dropped while
        another endpoint is left. Counted per endpoint: with two replicas, one of them
        down failed every other prompt and never twice in a row (trial 47). A prompt
        over the model's context length is the prompt's fault, not the endpoint's: it
        counts in no row (trial 57a: five pasted contracts in a row stopped every run)."""
        assert answer.error is not None
        if _quota_spent(answer):
            self.stop(f"the endpoint's quota is spent: {answer.error}")
        if self.too_long_for_context(answer):
            return
        kind = answer.error.split(":", 1)[0]
        last, in_a_row = self.failing.get(endpoint, ("", 0))
        in_a_row = in_a_row + 1 if kind == last else 1
        self.failing[endpoint] = (kind, in_a_row)
        if in_a_row < self.config.stop_after_failures:
            return
        endpoints = self.config.endpoints
        at = f" at {endpoint}" if len(endpoints) > 1 else ""
        reason = f"{in_a_row} prompts in a row failed{at}, the last with {answer.error}"
        self.dropped.setdefault(endpoint, reason)
        if len(self.live(endpoints)) == 0:
            self.stop(reason)

    def too_long_for_context(self, answer: CachedAnswer) -> bool:
        """Whether ``answer`` failed as its prompt is over the model's context, and the
        prompt is longer than the run's median: a short one that fails so says the
        endpoint cannot take the run's settings (vLLM counts ``--max-tokens`` into the
        context), and counts in the row of failures as any other error."""
        return over_context(answer.error or "") and (
            _message_chars(answer.request) > self.typical_chars
        )

    def live(self, endpoints: Sequence[str]) -> list[int]:
        """The positions in ``endpoints`` of those not dropped."""
        return [i for i, endpoint in enumerate(endpoints) if endpoint not in self.dropped]


class _CacheWriter:
    """Answers on their way to the cache: handed to ``store`` (one transaction) per
    batch, when ``CACHE_BATCH`` are waiting or the oldest has waited ``CACHE_BATCH_S``
    seconds, and whatever is left at ``flush`` (the end of a run, stopped, failed or
    interrupted)."""

    def __init__(self, store: Callable[[Sequence[CachedAnswer]], None]) -> None:
        self.store = store
        self.waiting: list[CachedAnswer] = []
        self.timer: asyncio.TimerHandle | None = None

    def add(self, answer: CachedAnswer) -> None:
        self.waiting.append(answer)
        if len(self.waiting) >= CACHE_BATCH:
            self.flush()
        elif self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(CACHE_BATCH_S, self.flush)

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        waiting, self.waiting = self.waiting, []
        if waiting:
            self.store(waiting)


def ask_here(
    requests: LLMRequests,
    run: LLMRun,
    store: Callable[[Sequence[CachedAnswer]], None],
    *,
    progress: bool = True,
) -> str:
    """Ask every pending prompt from this process, ``concurrency`` at a time, handing
    the answers to ``store`` in batches as they arrive (see ``_CacheWriter``); return
    the response format used (the first prompt finds it, in "auto" mode).

    Examples
    --------
    >>> ask_here(requests, LLMRun(requests.config), print, progress=False)
    'json_schema'
    """
    return asyncio.run(_ask_all(requests, run, store, progress))


async def _ask_all(
    requests: LLMRequests,
    run: LLMRun,
    store: Callable[[Sequence[CachedAnswer]], None],
    progress: bool,
) -> str:
    config, prompts = requests.config, requests.prompts
    urls = config.endpoints
    writer = _CacheWriter(store)
    settled = asyncio.Condition()

    async def held_back(chars: int, attribute: str) -> tuple[float, float] | None:
        """What was held back for the next request under the cost limit, and the
        request's ceiling, waiting for requests in flight to settle where it does not
        fit yet; None if the run stops."""
        ceiling = requests.ceiling(chars, attribute)
        while True:
            amount = run.held(ceiling)
            verdict = run.reserve(amount)
            if verdict is not None:
                return (amount, ceiling) if verdict else None
            async with settled:
                await settled.wait()

    async def settle(hold: tuple[float, float], answer: CachedAnswer | None) -> None:
        run.settle(*hold, answer=answer)
        async with settled:
            settled.notify_all()

    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(async_client(u or None, config.api_key)) for u in urls
        ]
        items = requests.pending.select("key", "text", "attribute", "chars").rows()
        if items:
            run.typical_chars = float(requests.pending["chars"].median())  # type: ignore[arg-type]
        console = make_console(stderr=True)
        # Off a terminal a bar draws nothing until the end (trial 62a: a piped run of
        # 300 prompts was silent for 4 minutes): plain lines there, as progress_bar's.
        plain = progress and not (console.is_terminal or console.is_jupyter)
        every = report.PROGRESS_EVERY_S if plain else _PROGRESS_S
        with Progress(
            *Progress.get_default_columns(),
            TextColumn("answered {task.fields[answered]} · failed {task.fields[failed]}"),
            disable=not progress or plain,
            console=console,
        ) as bars:
            bar = bars.add_task(
                f"asking {config.model} ({requests.cached} cached)",
                total=len(items),
                answered=0,
                failed=0,
            )
            shown = 0.0

            def show() -> None:
                nonlocal shown
                shown = time.monotonic()
                done = run.answered + run.failed
                bars.update(bar, completed=done, answered=run.answered, failed=run.failed)
                if plain:
                    console.print(
                        f"asking {config.model} ({requests.cached:,} cached): {done:,} of "
                        f"{len(items):,} ({done / max(len(items), 1):.0%}), answered "
                        f"{run.answered:,} · failed {run.failed:,}",
                        highlight=False,
                        markup=False,
                    )

            def record(answer: CachedAnswer | None, endpoint: str) -> None:
                if answer is None:
                    return
                writer.add(answer)
                run.record(answer, endpoint)
                if time.monotonic() - shown >= every:
                    show()

            async def asked_over(
                i: int, question: Callable[[openai.AsyncOpenAI], Awaitable[CachedAnswer | None]]
            ) -> tuple[CachedAnswer | None, int]:
                """``question`` asked of the ``i``-th live endpoint in turn and, while it
                fails in a way another replica may not (``_fails_over``), of the next live
                one not asked yet: its last answer and the endpoint that gave it."""
                live = run.live(urls) or list(range(len(urls)))
                on, tried = live[i % len(live)], []
                # The attempts that ran past the deadline or broke off at the replicas
                # failed over go with the answer into the cost (the second read: left out).
                timed_out, broken_off = 0, 0
                while True:
                    answer = await question(clients[on])
                    tried.append(on)
                    untried = [k for k in run.live(urls) if k not in tried]
                    if not (untried and answer is not None and _fails_over(answer)):
                        if answer is not None and (timed_out or broken_off):
                            answer = dataclasses.replace(
                                answer,
                                timed_out=answer.timed_out + timed_out,
                                broken_off=answer.broken_off + broken_off,
                            )
                        return answer, on
                    run.failed_at(answer, urls[on])
                    timed_out, broken_off = (
                        timed_out + answer.timed_out,
                        broken_off + answer.broken_off,
                    )
                    on = untried[0]

            try:
                used_format = config.response_format
                # The first prompt that fits under the cost limit finds the response
                # format; those before it that alone could pass the limit stay unasked.
                first_at, hold = 0, None
                for first_at, (_, _, attribute, chars) in enumerate(items):  # noqa: B007
                    hold = await held_back(chars, attribute)
                    if hold is not None or run.stopped:
                        break
                if hold is not None:
                    key, text, attribute, _ = items[first_at]

                    async def probe(client: openai.AsyncOpenAI) -> CachedAnswer | None:
                        nonlocal used_format
                        used_format, answer = await _first_answer(
                            client, run, prompts, key, attribute, text
                        )
                        return answer

                    first, on = await asked_over(0, probe)
                    await settle(hold, first)
                    record(first, urls[on])
                semaphore = asyncio.Semaphore(config.concurrency)

                async def ask(i: int, key: str, text: str, attribute: str, chars: int) -> None:
                    async with semaphore:
                        if (hold := await held_back(chars, attribute)) is None:
                            return
                        answer, on = await asked_over(
                            i,
                            lambda c: _ask(c, run, prompts, key, attribute, text, used_format),
                        )
                        # Counted before the next prompt may start, so that a stop holds at once.
                        record(answer, urls[on])
                        await settle(hold, answer)

                rest = items[first_at + 1 :]
                await asyncio.gather(*(ask(i, *item) for i, item in enumerate(rest, 1)))
            finally:
                # What arrived is kept whatever ended the run, an error or Ctrl-C included.
                writer.flush()
                show()
    return used_format


async def _first_answer(
    client: openai.AsyncOpenAI,
    run: LLMRun,
    prompts: _Prompts,
    key: str,
    attribute: str,
    text: str,
) -> tuple[str, CachedAnswer | None]:
    """Ask the first prompt; in "auto" mode, find the best response format the endpoint accepts."""
    question = (prompts, key, attribute, text)
    if run.config.response_format != "auto":
        fixed = run.config.response_format
        return fixed, await _ask(client, run, *question, fixed)
    for candidate, plainer in (("json_schema", "json_object"), ("json_object", "text")):
        # With the run's retries, each waiting as a 429's Retry-After says (trial 50c: the
        # probe's retry went at once); a refusal of the format ends it at once.
        answer = await _ask(client, run, *question, candidate, refusals=format_refusals())
        if answer is not None or run.stopped:
            return candidate, answer
        # Trial 50c: a whole run went out without its schema, and only the summary's last
        # words said so.
        warnings.warn(
            f"the endpoint refused response format {candidate}; asking in {plainer} "
            f"(--response-format {candidate} keeps it, and fails each prompt it refuses)",
            LabelkitWarning,
            stacklevel=2,
        )
    return "text", await _ask(client, run, *question, "text")


# Failures another replica of the endpoint may not share: it is down, slow or busy.
_FAILOVER_ERRORS = ("APIConnectionError", "Timeout", "InternalServerError", "RateLimitError")


def _fails_over(answer: CachedAnswer) -> bool:
    """Whether ``answer`` failed in a way worth asking another replica about."""
    return (
        answer.error is not None
        and answer.error.split(":", 1)[0] in _FAILOVER_ERRORS
        and not _quota_spent(answer)
    )


def _quota_spent(answer: CachedAnswer) -> bool:
    """Whether the endpoint refused ``answer`` as its quota is spent: asking again,
    after any wait, fails alike."""
    return "insufficient_quota" in (answer.error or "")


async def _ask(
    client: openai.AsyncOpenAI,
    run: LLMRun,
    prompts: _Prompts,
    key: str,
    attribute: str,
    text: str,
    response_format: str,
    *,
    retries: int | None = None,
    refusals: tuple[type[Exception], ...] = (),
) -> CachedAnswer | None:
    """One prompt's answer or failure, after retries; None if the endpoint refused the
    format (``refusals``) or the run stopped before it was sent."""
    config = run.config
    request = prompts.request(text, attribute)
    started = time.perf_counter()
    done = await complete(
        client,
        config,
        {**request, **format_arguments(response_format, *prompts.schema(attribute))},
        retries=config.max_retries if retries is None else retries,
        may_send=run.may_send,
        refusals=refusals,
    )
    if done is None or done.refused:
        return None
    label = None if done.content is None else prompts.label(done.content, attribute, text)
    return CachedAnswer(
        key=key,
        model=config.model,
        request={**request, "response_format": response_format},
        response=done.content,
        error=done.error,
        label=label,
        prompt_tokens=done.usage.get("prompt_tokens"),
        completion_tokens=done.usage.get("completion_tokens"),
        latency_s=time.perf_counter() - started,
        confidence=_answer_confidence(done.content, label, done.choice.get("logprobs"))
        if done.choice is not None and prompts.single(attribute)
        else None,
        timed_out=done.timed_out,
        broken_off=done.broken_off,
    )


def _answer_confidence(content: str | None, label: str | None, logprobs: Any) -> float | None:
    """The probability of the tokens that spell the answer in ``content``, from logprobs:
    ``label``'s first occurrence (ignoring case) after the JSON key ``"label"``, else
    the value written there or, in a plain answer, its words; None when the endpoint
    returned no log-probabilities.

    The value as written counts where ``label`` is not spelled out, so that an answer
    read through an alias ("delivery" for ``shipping``), now or by aliases added later,
    has a confidence too (trial 58a: 244 such answers had none and passed every
    ``min_confidence``). Tokens are laid end to end to find where each starts; those
    overlapping the answer count.

    Examples
    --------
    >>> tokens = [{"token": '{"label": "', "logprob": 0.0}, {"token": "delivery", "logprob": -0.5},
    ...           {"token": '"}', "logprob": 0.0}]  # fmt: skip
    >>> round(_answer_confidence('{"label": "delivery"}', None, {"content": tokens}), 3)
    0.607
    """
    tokens = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not content or not isinstance(tokens, list) or not tokens:
        return None
    where = _answer_span(content, label)
    if where is None:
        return None
    start, end = where
    position, total = 0, 0.0
    for token in tokens:
        piece = str(token.get("token", ""))
        if position < end and position + len(piece) > start:
            total += float(token.get("logprob", 0.0))
        position += len(piece)
    return math.exp(total)


def _answer_span(content: str, label: str | None) -> tuple[int, int] | None:
    """Where in ``content`` the answer is written: within the string value of the JSON
    key ``"label"``, ``label`` where the value spells it, else the whole value (not a
    word of a later key: the second read found "shipping" in a reason's text); else
    ``label`` after that key, or anywhere where there is no such key; else the answer's
    words less the spaces, quotes and punctuation around them."""
    anchor = content.find('"label"')
    after = anchor + len('"label"') if anchor >= 0 else 0
    value = re.compile(r'\s*:\s*"([^"]*)"').match(content, after) if anchor >= 0 else None
    if value is not None:
        start, end = value.span(1)
        inside = content[start:end].lower().find(label.lower()) if label else -1
        if inside >= 0 and label:
            return start + inside, start + inside + len(label)
        return (start, end) if value.group(1).strip() else None
    if label and (start := content.lower().find(label.lower(), after)) >= 0:
        return start, start + len(label)
    if anchor >= 0:
        return None
    words = re.search(r"\w(?:.*\w)?", content, re.DOTALL)
    return (words.start(), words.end()) if words else None
