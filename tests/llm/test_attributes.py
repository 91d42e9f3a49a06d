"""The LLM on tasks with attributes: one request per text answers every attribute as JSON
(or one request per attribute), through the real openai client and the test server."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import polars as pl
import pytest

from labelkit import InputError, LabelkitError, LLMConfig, Workspace, ingest, label_with_llm
from labelkit.data import bundled_dataset
from labelkit.demo import (
    PER_ATTRIBUTE_ANSWERS,
    RECORDED_ANSWERS,
    RESTAURANTS_INGEST,
    RESTAURANTS_LLM,
    YOUTUBE_INGEST,
    YOUTUBE_LLM,
)
from labelkit.llm import (
    estimate_llm_run,
    few_shot_examples,
    import_answers,
    import_llm_cache,
)
from labelkit.llm.labeler import prompt_change
from tests.openai_server import Behaviour, OpenAIServer

CONFIG = LLMConfig(model="m", instructions="What does the review say?", api_key="k")
ATTRIBUTES = ("food", "staff", "price")

# Each text's scripted answer when every attribute is asked at once.
ANSWERS = {
    "The pasta was great but the waiter was rude.": (
        '{"food": "positive", "staff": "negative", "price": "none"}'
    ),
    # price missing, staff invalid: two abstains, two parse failures.
    "Cheap and cheerful pizza.": '{"food": "Positive", "staff": "friendly"}',
    # Cut off by the token limit: what it completed still counts.
    "Too pricey for what you get.": '{"price": "negative", "food": "neutral", "sta',
    # No JSON at all: every attribute abstains.
    "We sat outside.": "I cannot tell.",
}


def _review_xml(path: Path) -> Path:
    sentences = "".join(
        f'<sentence id="r{i}"><text>{text}</text><aspectCategories>'
        '<aspectCategory category="food" polarity="positive"/></aspectCategories></sentence>'
        for i, text in enumerate(ANSWERS, start=1)
    )
    path.write_text(f"<sentences>{sentences}</sentences>", encoding="utf-8")
    return path


@pytest.fixture
def reviews(tmp_path: Path) -> Iterator[Workspace]:
    """Four review sentences on disk, an aspects task over food, staff and price."""
    with Workspace(tmp_path / "reviews.duckdb") as ws:
        ingest(
            ws,
            _review_xml(tmp_path / "train.xml"),
            labels=["positive", "negative", "neutral"],
            attributes=list(ATTRIBUTES),
        )
        yield ws


def _text(body: dict[str, Any]) -> str:
    return body["messages"][-1]["content"]


def _votes(ws: Workspace, source: str) -> set[tuple[str, str, str]]:
    rows = ws.sql(
        "SELECT example_id, attribute, label FROM votes WHERE source = ? ORDER BY ALL", [source]
    )
    return set(rows.rows())


def test_one_request_per_text_votes_every_attribute(reviews: Workspace) -> None:
    priced = dataclasses.replace(CONFIG, input_price=1.0, output_price=2.0)
    with OpenAIServer(Behaviour(script=lambda body: ANSWERS[_text(body)])) as server:
        stats = label_with_llm(reviews, dataclasses.replace(priced, base_url=server.base_url))
        assert len(server.requests) == 4, "one request per text"
        schema = server.requests[0]["response_format"]["json_schema"]["schema"]
        assert schema["required"] == list(ATTRIBUTES)
        assert schema["properties"]["staff"]["enum"] == ["positive", "negative", "neutral", "none"]
        system = server.requests[0]["messages"][0]["content"]
        assert "food, staff, price" in system and "none" in system
        assert server.requests[0]["max_tokens"] == 16 * 3
        again = label_with_llm(reviews, dataclasses.replace(priced, base_url=server.base_url))
        assert len(server.requests) == 4, "a rerun asks nothing: the prompt is the cache key"
        # The second read: the request's limit, 16 times 3, was given as the option's.
        longer = dataclasses.replace(priced, max_tokens=20)
        assert prompt_change(reviews, longer) == (
            "60 answer tokens (--max-tokens 20 times 3), was 48: the cache is keyed by the "
            "whole request, so --max-tokens 16 uses the earlier answers"
        )
    assert _votes(reviews, "llm:m") == {
        ("r1", "food", "positive"),
        ("r1", "staff", "negative"),
        ("r1", "price", "none"),
        ("r2", "food", "positive"),
        ("r3", "price", "negative"),
        ("r3", "food", "neutral"),
    }
    # r2 lacks price and calls staff "friendly"; r3 was cut off before staff; r4 has no JSON.
    assert (stats.answered, stats.failed, stats.unparsed) == (4, 0, 2 + 1 + 3)
    # Trial 57c: which attribute the answers left out was said nowhere.
    assert stats.unread_by_attribute == (("staff", 3), ("price", 2), ("food", 1))
    # Trial 64c: each answer counted once, not once per attribute it left unread.
    assert stats.unread == (
        ("I cannot tell.", 1),
        ('{"food": "Positive", "staff": "friendly"}', 1),
        ('{"price": "negative", "food": "neutral", "sta', 1),
    )
    assert (again.cached, again.unparsed) == (4, 6)
    # Trial 64c: an alias was read only with a request per attribute; the cached
    # answers are read again with it, and staff "friendly" is a vote now.
    aliased = dataclasses.replace(priced, aliases={"positive": ["friendly"]})
    read_again = label_with_llm(reviews, aliased, cached_only=True)
    assert (read_again.cached, read_again.unparsed) == (4, 5)
    assert ("r2", "staff", "positive") in _votes(reviews, "llm:m")
    assert (stats.prompt_tokens, stats.completion_tokens) == (4 * 20, 4 * 5), "counted per text"
    assert stats.cost == pytest.approx((4 * 20 * 1.0 + 4 * 5 * 2.0) / 1e6)
    cached = reviews.sql("SELECT response, label FROM llm_cache ORDER BY response").rows()
    assert len(cached) == 4
    assert json.loads(dict(cached)[ANSWERS["Cheap and cheerful pizza."]]) == {
        "food": "positive",
        "staff": None,
        "price": None,
    }


def test_imported_answers_vote_every_attribute_as_live_ones_do(
    reviews: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "bought.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": f"r{i}", "answer": answer}) + "\n"
            for i, answer in enumerate(ANSWERS.values(), start=1)
        )
    )
    imported = import_answers(reviews, path, "m")
    assert _votes(reviews, "llm:m") == {
        ("r1", "food", "positive"),
        ("r1", "staff", "negative"),
        ("r1", "price", "none"),
        ("r2", "food", "positive"),
        ("r3", "price", "negative"),
        ("r3", "food", "neutral"),
    }
    # r4 is no JSON: not parsed; the other three answer some attribute.
    assert (imported.answers, imported.parsed, imported.votes) == (4, 3, 6)
    # The second read: aliases were taken and not read on a task with attributes.
    aliased = import_answers(reviews, path, "m", aliases={"positive": ["friendly"]})
    assert aliased.votes == 7 and ("r2", "staff", "positive") in _votes(reviews, "llm:m")
    with pytest.raises(InputError, match="one label each; this task is aspects"):
        import_answers(reviews, path, "m", yes_no=("positive", "negative"))


def test_the_schema_goes_with_json_object_when_json_schema_is_refused(
    reviews: Workspace,
) -> None:
    behaviour = Behaviour(refuse_json_schema=True, script=lambda body: ANSWERS[_text(body)])
    with OpenAIServer(behaviour) as server:
        stats = label_with_llm(reviews, dataclasses.replace(CONFIG, base_url=server.base_url))
    assert stats.response_format == "json_object"
    sent = server.requests[2]["response_format"]
    assert sent["type"] == "json_object"
    assert sent["schema"]["properties"]["price"]["enum"] == [
        "positive",
        "negative",
        "neutral",
        "none",
    ]
    assert ("r1", "staff", "negative") in _votes(reviews, "llm:m")


def test_one_request_per_attribute_has_its_own_prompt(reviews: Workspace) -> None:
    def answer(body: dict[str, Any]) -> str:
        system = body["messages"][0]["content"]
        attribute = next(a for a in ATTRIBUTES if f"about {a}?" in system)
        wanted = json.loads(ANSWERS["The pasta was great but the waiter was rude."])
        if _text(body) != "The pasta was great but the waiter was rude.":
            return '{"label": "maybe"}'
        return json.dumps({"label": wanted[attribute]})

    config = dataclasses.replace(CONFIG, per_attribute=True)
    with OpenAIServer(Behaviour(script=answer)) as server:
        stats = label_with_llm(reviews, dataclasses.replace(config, base_url=server.base_url))
    assert len(server.requests) == 4 * 3, "one request per text and attribute"
    assert {r["max_tokens"] for r in server.requests} == {16}
    assert server.requests[0]["response_format"]["json_schema"]["schema"]["properties"] == {
        "label": {"type": "string", "enum": ["positive", "negative", "neutral", "none"]}
    }
    assert stats.source == "llm:m:per-attribute"
    assert (stats.prompts, stats.answered, stats.unparsed) == (12, 12, 9)
    assert _votes(reviews, "llm:m:per-attribute") == {
        ("r1", "food", "positive"),
        ("r1", "staff", "negative"),
        ("r1", "price", "none"),
    }


def test_multilabel_answers_yes_or_no_per_label(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "id": ["t1", "t2"],
            "text": ["goal in the last minute", "new phone chip"],
            "labels": ['["sports"]', '["tech"]'],
        }
    )
    with Workspace(tmp_path / "topics.duckdb") as ws:
        ingest(ws, frame, label_column="labels", kind="multilabel", labels=["sports", "tech"])
        scripted = {
            "goal in the last minute": '{"sports": true, "tech": "no"}',
            "new phone chip": '{"sports": "No", "tech": "perhaps"}',
        }
        with OpenAIServer(Behaviour(script=lambda body: scripted[_text(body)])) as server:
            stats = label_with_llm(ws, dataclasses.replace(CONFIG, base_url=server.base_url))
        enum = server.requests[0]["response_format"]["json_schema"]["schema"]["properties"]
        assert enum["tech"]["enum"] == ["yes", "no"]
        assert stats.unparsed == 1
        assert _votes(ws, "llm:m") == {
            ("t1", "sports", "yes"),
            ("t1", "tech", "no"),
            ("t2", "sports", "no"),
        }


def test_a_dry_run_counts_requests_and_tokens_of_either_variant(reviews: Workspace) -> None:
    priced = dataclasses.replace(CONFIG, input_price=1.0, output_price=1.0)
    whole = estimate_llm_run(reviews, priced)
    each = estimate_llm_run(reviews, dataclasses.replace(priced, per_attribute=True))
    assert (whole.prompts, whole.to_ask, whole.texts_to_ask) == (4, 4, 4)
    assert (each.prompts, each.to_ask, each.texts_to_ask) == (12, 12, 4)
    assert whole.completion_tokens == 4 * 16 * 3 and each.completion_tokens == 12 * 16
    assert each.prompt_tokens > 2 * whole.prompt_tokens, "the text is sent once per attribute"
    assert whole.cost_per_text == pytest.approx(whole.cost / 4)


def test_a_dry_run_judges_max_cost_on_the_run_as_asked(reviews: Workspace) -> None:
    # The second read: the refusal was judged on the other variant, shown second.
    priced = dataclasses.replace(CONFIG, input_price=1.0, output_price=1.0)
    whole = estimate_llm_run(reviews, priced)
    each = estimate_llm_run(reviews, dataclasses.replace(priced, per_attribute=True))
    assert whole.cost is not None and each.cost is not None and whole.cost < each.cost
    reviews.close()
    command = [sys.executable, "-m", "labelkit", "llm", str(reviews.path), "--model", "m",
               "--instructions", CONFIG.instructions, "--input-price", "1", "--output-price",
               "1", "--dry-run", "--max-cost"]  # fmt: skip
    between = subprocess.run(
        [*command, f"{(whole.cost + each.cost) / 2:.8f}"], capture_output=True, text=True
    )
    assert between.returncode == 0, between.stderr
    assert "would be refused" not in between.stdout
    below = subprocess.run([*command, f"{whole.cost / 2:.8f}"], capture_output=True, text=True)
    assert "the run would be refused: 4 prompts would cost" in " ".join(below.stdout.split())


def test_variants_that_do_not_fit_the_task_are_refused(
    reviews: Workspace, workspace: Workspace
) -> None:
    with pytest.raises(LabelkitError, match="one request per attribute is for aspects"):
        estimate_llm_run(workspace, dataclasses.replace(CONFIG, per_attribute=True))
    with pytest.raises(LabelkitError, match="confidences need one label per answer"):
        estimate_llm_run(reviews, dataclasses.replace(CONFIG, logprobs=True))
    with pytest.raises(InputError, match="few-shot examples are for classification"):
        few_shot_examples(reviews, 2, split="train")


def test_classification_prompts_keep_their_cache_keys(tmp_path: Path) -> None:
    with Workspace(tmp_path / "spam.duckdb") as ws:
        ingest(ws, sorted(bundled_dataset("youtube-spam").glob("*.csv")), **YOUTUBE_INGEST)
        recorded = import_llm_cache(ws, bundled_dataset("youtube-spam") / RECORDED_ANSWERS)
        estimate = estimate_llm_run(ws, YOUTUBE_LLM)
    assert recorded > 1700
    assert (estimate.to_ask, estimate.cached) == (0, estimate.prompts), (
        "every recorded YouTube answer still replays"
    )


def test_recorded_mams_answers_replay_in_both_layouts(tmp_path: Path) -> None:
    data = bundled_dataset("mams-acsa")
    per_attribute = data / PER_ATTRIBUTE_ANSWERS
    # Recorded for the first sentences of test.xml, eight aspects each.
    covered = len(per_attribute.read_text().splitlines()) // 8
    tree = ElementTree.parse(data / "test.xml")
    for sentence in list(tree.getroot())[covered:]:
        tree.getroot().remove(sentence)
    tree.write(tmp_path / "test.xml", encoding="utf-8")
    layouts = {
        "llm:smollm2": (RESTAURANTS_LLM, RECORDED_ANSWERS),
        "llm:smollm2:per-attribute": (
            dataclasses.replace(RESTAURANTS_LLM, per_attribute=True),
            PER_ATTRIBUTE_ANSWERS,
        ),
    }
    with Workspace(tmp_path / "mams.duckdb") as ws:
        ingest(ws, tmp_path / "test.xml", **RESTAURANTS_INGEST)
        assert len(ws.task.attributes) == 8
        for source, (config, answers) in layouts.items():
            import_llm_cache(ws, data / answers)
            stats = label_with_llm(ws, config, cached_only=True)
            assert stats.source == source
            assert (stats.not_asked, stats.cached) == (0, stats.prompts), (
                f"every prompt of {source} replays from {answers}"
            )
        voted = ws.sql(
            "SELECT source, count(DISTINCT (example_id, attribute)) FROM votes GROUP BY 1"
        )
    assert covered >= 25
    assert dict(voted.rows()) == dict.fromkeys(layouts, covered * 8)
