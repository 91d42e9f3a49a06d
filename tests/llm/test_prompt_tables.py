"""The prompts of a run are keyed a batch of examples at a time into DuckDB temporary
tables: any batch size gives the same prompts, keys, estimate and budget plan."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labelkit import LLMConfig, Workspace, apply_lfs, keyword_lf
from labelkit.llm import estimate_llm_run, request_key
from labelkit.llm.cache import CachedAnswer, store_answers
from labelkit.llm.labeler import _budgeted, _estimate, _message_chars, _prompt_tables, _prompts
from labelkit.task import Task

CONFIG = LLMConfig(model="m", instructions="What does the review say?", api_key="k")
TASK = Task(("positive", "negative"), kind="aspects", attributes=("food", "staff", "price"))
# Characters JSON escapes (and a key must escape exactly as json.dumps does).
TEXTS = [
    'the "pasta" was great',
    "café ☕ naïve and rude staff",
    "line\nbreak, cheap",
    "back\\slash",
    "emoji 🎉 price\tok",
]
# 25 examples, each text five times, spread so that a text recurs within and across batches.
EXAMPLES = {f"e{i:02d}": TEXTS[i * 3 % len(TEXTS)] for i in range(25)}
LFS = [
    keyword_lf("great", ["great"], "positive", attribute="food"),
    keyword_lf("pasta", ["pasta"], "negative", attribute="food"),
    keyword_lf("rude", ["rude"], "negative", attribute="staff"),
]


@pytest.fixture
def aspects(tmp_path: Path) -> Iterator[Workspace]:
    """The examples above in an aspects workspace on disk, voted on by the LFs above,
    with two answers and a failure in the cache, and two rows whose keys are no keys."""
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ws.con.execute("INSERT INTO meta VALUES ('task', ?)", [TASK.to_json()])
        ws.con.executemany(
            "INSERT INTO examples VALUES (?, ?, NULL, 'train', NULL, 0)",
            [list(row) for row in EXAMPLES.items()],
        )
        apply_lfs(ws, LFS)
        each = dataclasses.replace(CONFIG, per_attribute=True)
        cached = [
            (each, TEXTS[1], "food", None),
            (each, TEXTS[1], "staff", None),
            (each, TEXTS[2], "price", "HTTP 500"),
            (CONFIG, TEXTS[3], "", None),
        ]
        store_answers(
            ws,
            [
                CachedAnswer(
                    key=request_key(config.request(TASK, text, attribute)),
                    model="m",
                    request=config.request(TASK, text, attribute),
                    response=None if error else '{"label": "positive"}',
                    error=error,
                    label=None,
                    prompt_tokens=None,
                    completion_tokens=None,
                    latency_s=None,
                )
                for config, text, attribute, error in cached
            ],
        )
        # An imported cache may hold keys that are not SHA-256 hex, and none is a prompt's.
        ws.con.execute(
            """INSERT INTO llm_cache (key, model, request, response, created_at)
               SELECT key, 'm', '{}', '{"label": "positive"}', now()::TIMESTAMP
               FROM (VALUES ('not a key'), (?)) AS t(key)""",
            [request_key(each.request(TASK, TEXTS[4], "food")).upper()],
        )
        yield ws


def streamed(ws: Workspace, config: LLMConfig, batch_rows: int, budget: int) -> dict[str, Any]:
    """What the prompt tables hold when built ``batch_rows`` examples at a time: every
    example's prompts and keys, the distinct prompts, the estimate, and the plan of a
    budget of ``budget`` requests with what it asks, in order."""
    prompts = _prompts(ws, config, None)
    with _prompt_tables(ws, prompts, None, refresh=False, batch_rows=batch_rows):
        found = {
            "units": ws.sql("SELECT id, attribute, key FROM llm_prompts ORDER BY ALL").rows(),
            "distinct": ws.sql(
                """SELECT key, attribute, chars, id, pending
                   FROM llm_distinct ORDER BY ALL"""
            ).rows(),
            "estimate": _estimate(ws, config, prompts),
            "plan": _budgeted(ws, config, prompts, budget, None),
            "asked": ws.sql(
                "SELECT id, attribute FROM llm_distinct WHERE asked ORDER BY budget_rank"
            ).rows(),
        }
    assert "llm_prompts" not in set(ws.sql("SHOW ALL TABLES")["name"]), "the tables are dropped"
    return found


@pytest.mark.parametrize("per_attribute", [True, False])
def test_prompts_streamed_in_batches_equal_one_batch(
    aspects: Workspace, per_attribute: bool
) -> None:
    config = dataclasses.replace(CONFIG, per_attribute=per_attribute)
    budget = 11 if per_attribute else 3
    whole = streamed(aspects, config, 1000, budget)
    for batch_rows in (1, 2, 7):
        assert streamed(aspects, config, batch_rows, budget) == whole, f"{batch_rows} a batch"

    attributes = TASK.attributes if per_attribute else ("",)
    # Every example's key is the key of its request, rendered in full.
    assert whole["units"] == sorted(
        (id_, attribute, request_key(config.request(TASK, text, attribute)))
        for id_, text in EXAMPLES.items()
        for attribute in attributes
    )
    first = {text: min(i for i, t in EXAMPLES.items() if t == text) for text in TEXTS}
    # Cached: two answers per attribute, or one per text; the failure is asked again.
    uncached = [
        (text, attribute)
        for text in TEXTS
        for attribute in attributes
        if (text, attribute) not in {(TEXTS[1], "food"), (TEXTS[1], "staff"), (TEXTS[3], "")}
    ]
    assert whole["distinct"] == sorted(
        (
            request_key(config.request(TASK, text, attribute)),
            attribute,
            _message_chars(config.request(TASK, text, attribute)),
            first[text],
            (text, attribute) in uncached,
        )
        for text in TEXTS
        for attribute in attributes
    )
    estimate = whole["estimate"]
    chars = sum(_message_chars(config.request(TASK, t, a)) for t, a in uncached)
    assert (estimate.prompts, estimate.to_ask, estimate.cached) == (
        len(TEXTS) * len(attributes),
        len(uncached),
        len(TEXTS) * len(attributes) - len(uncached),
    )
    assert estimate.texts_to_ask == len({text for text, _ in uncached})
    assert estimate.prompt_tokens == round(chars / 4)
    assert estimate == estimate_llm_run(aspects, config)
    # Texts 2, 3 and 4 have no votes; text 0's food votes conflict (pasta, great).
    plan = whole["plan"]
    if per_attribute:
        assert plan.pending == {"no votes": 9, "conflict": 1, "agree": 3}
        assert plan.chosen == {"no votes": 9, "conflict": 1, "agree": 1}
        assert whole["asked"][-2] == ("e00", "food")
    else:
        assert plan.pending == {"no votes": 2, "conflict": 1, "agree": 1}
        assert plan.chosen == {"no votes": 2, "conflict": 1, "agree": 0}
        # e03 and e04 are the first examples of texts 4 and 2, e00 of text 0.
        assert whole["asked"] == [("e03", ""), ("e04", ""), ("e00", "")]
