"""A budget asks the LLM only about the most valuable examples, through real HTTP."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from labelkit import (
    InputError,
    LLMConfig,
    Workspace,
    aggregate,
    apply_lfs,
    evaluate,
    ingest,
    keyword_lf,
)
from labelkit.aggregate import label_model_accuracy
from labelkit.llm import label_with_llm, plan_llm_budget
from tests.openai_server import Behaviour, OpenAIServer
from tests.test_cli import run

CONFIG = LLMConfig(model="test-model", instructions="Is this comment spam?", api_key="test")
LFS = [
    keyword_lf("subscribe", ["subscribe"], "spam"),
    keyword_lf("http", ["http"], "spam"),
    keyword_lf("song", ["song"], "ham"),
    keyword_lf("love", ["love"], "ham"),
]
# By the LFs above: b01, b02, d3 get no votes; b03, b04 conflicting votes; the rest agree.
ROWS = [
    ("b01", "nice", "ham", "train"),
    ("b02", "cool video", "ham", "train"),
    ("b03", "subscribe to this song", "spam", "train"),
    ("b04", "http link I love", "spam", "train"),
    ("b05", "subscribe now", "spam", "train"),
    ("b06", "subscribe http", "spam", "train"),
    ("b07", "song I love", "ham", "train"),
    ("b08", "a song", "ham", "train"),
    ("d1", "subscribe to win", "spam", "dev"),
    ("d2", "nice song", "ham", "dev"),
    ("d3", "hello there", "ham", "dev"),
]
TEXT_ID = {text: id_ for id_, text, _, _ in ROWS}


@pytest.fixture
def voted(tmp_path: Path) -> Iterator[Workspace]:
    """A workspace on disk with the rows above and the votes of the four LFs."""
    path = tmp_path / "rows.csv"
    pl.DataFrame(ROWS, schema=["id", "text", "label", "split"], orient="row").write_csv(path)
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, path, id_column="id", label_column="label", split_column="split")
        apply_lfs(ws, LFS)
        yield ws


def asked(server: OpenAIServer) -> list[str]:
    """The example ids the server was asked about, in arrival order."""
    return [TEXT_ID[request["messages"][-1]["content"]] for request in server.requests]


def llm_votes(ws: Workspace) -> set[str]:
    return set(ws.sql("SELECT example_id FROM votes WHERE source = 'llm:test-model'")["example_id"])


def test_without_predictions_the_groups_decide_the_top_n(voted: Workspace) -> None:
    with OpenAIServer() as server:
        config = dataclasses.replace(CONFIG, base_url=server.base_url, concurrency=1)
        stats = label_with_llm(voted, config, split="train", budget=3)
    assert sorted(asked(server)) == ["b01", "b02", "b03"]
    assert (stats.answered, stats.cached, stats.not_asked) == (3, 0, 5)
    assert stats.budget is not None and stats.budget.ranked_by == "votes only"
    assert "run `labelkit aggregate` first" in (stats.budget.note or "")
    assert stats.budget.pending == {"no votes": 2, "conflict": 2, "agree": 4}
    assert stats.budget.cached == 0, "nothing was cached before the run"
    assert stats.budget.chosen == {"no votes": 2, "conflict": 1, "agree": 0}
    assert llm_votes(voted) == {"b01", "b02", "b03"}


def test_predictions_rank_each_group_by_confidence(voted: Workspace) -> None:
    aggregate(voted, "dawid_skene")
    predictions = dict(
        voted.sql("SELECT example_id, confidence FROM predictions")
        .select("example_id", "confidence")
        .rows()
    )
    agree = ["b05", "b06", "b07", "b08"]
    least_sure = min(agree, key=lambda i: (predictions[i], i))
    with OpenAIServer() as server:
        config = dataclasses.replace(CONFIG, base_url=server.base_url)
        stats = label_with_llm(voted, config, split="train", budget=5)
    # Every example without votes and in conflict, then the least confident that agree.
    assert sorted(asked(server)) == sorted(["b01", "b02", "b03", "b04", least_sure])
    assert len({round(predictions[i], 6) for i in agree}) > 1, "confidences must differ"
    assert stats.budget is not None and stats.budget.ranked_by == "dawid_skene confidence"
    assert stats.budget.note is None


def test_cached_answers_are_used_and_not_counted(voted: Workspace) -> None:
    with OpenAIServer() as server:
        config = dataclasses.replace(CONFIG, base_url=server.base_url, concurrency=1)
        label_with_llm(voted, config, split="train", budget=2)
        assert sorted(asked(server)) == ["b01", "b02"]
        again = label_with_llm(voted, config, split="train", budget=2)
        assert again.budget is not None and again.budget.cached == 2
        assert sorted(asked(server)[2:]) == ["b03", "b04"], "the budget buys new prompts only"
    assert (again.cached, again.answered, again.not_asked) == (2, 2, 4)
    assert llm_votes(voted) == {"b01", "b02", "b03", "b04"}


def test_a_dollar_budget_buys_the_top_prompts_its_estimate_allows(voted: Workspace) -> None:
    priced = dataclasses.replace(CONFIG, input_price=5000.0, output_price=5000.0)
    plan = plan_llm_budget(voted, priced, split="train", budget_usd=1.0)
    assert 0 < plan.to_ask < 8 and plan.cost is not None and plan.cost <= 1.0
    one_more = plan_llm_budget(voted, priced, split="train", budget=plan.to_ask + 1)
    assert one_more.cost is not None and one_more.cost > 1.0, "the next prompt would pass it"
    # The server bills one prompt token a request: less than estimated, so nothing stops.
    with OpenAIServer(Behaviour(prompt_tokens=1)) as server:
        config = dataclasses.replace(priced, base_url=server.base_url, concurrency=1)
        stats = label_with_llm(voted, config, split="train", budget_usd=1.0)
    assert len(server.requests) == plan.to_ask
    assert asked(server)[:2] == ["b01", "b02"], "asked in order of the score"
    assert stats.cost is not None and stats.cost <= 1.0


def test_planned_prompts_a_dollar_budget_cannot_hold_end_the_run_without_an_error(
    voted: Workspace,
) -> None:
    # Trial 61c: a budget doing its job ended every run in "error: the run stopped
    # early" and status 1, as the last planned prompts' holds did not fit what was left.
    priced = dataclasses.replace(CONFIG, input_price=5000.0, output_price=5000.0)
    plan = plan_llm_budget(voted, priced, split="train", budget_usd=1.0)
    with OpenAIServer(Behaviour(prompt_tokens=20)) as server:
        config = dataclasses.replace(priced, base_url=server.base_url, concurrency=1)
        stats = label_with_llm(voted, config, split="train", budget_usd=1.0)
    unheld = plan.to_ask - len(server.requests)
    assert unheld > 0 and stats.stopped is None
    assert stats.budget is not None and stats.budget.note is not None
    assert f"{unheld} planned prompts did not fit what the budget had left" in stats.budget.note
    assert stats.cost is not None and stats.cost <= 1.0


def test_sources_aggregate_left_out_stay_out_of_the_scores_beside_it(voted: Workspace) -> None:
    # Trial 34: after `aggregate --exclude`, evaluate's majority vote and the LLM run's
    # "before" accuracy on dev still counted the sources left out.
    aggregate(voted, "majority_vote", sources=["subscribe", "http", "love"])
    scores = evaluate(voted, split="dev").summary
    majority = scores.filter(pl.col("method") == "majority_vote")
    assert majority["accuracy"].to_list() == pytest.approx([1 / 3]), "d2 needs the song LF"
    with OpenAIServer() as server:
        config = dataclasses.replace(CONFIG, base_url=server.base_url)
        stats = label_with_llm(voted, config, split=None, budget=3)
    assert stats.dev_accuracy is not None and stats.dev_accuracy[0] == pytest.approx(1 / 3)


def test_dev_accuracy_is_refit_before_and_after(voted: Workspace) -> None:
    aggregate(voted, "majority_vote")
    before = label_model_accuracy(voted, "majority_vote")
    assert before == pytest.approx(2 / 3), "d3 has no votes and counts as wrong"
    with OpenAIServer() as server:
        config = dataclasses.replace(CONFIG, base_url=server.base_url)
        stats = label_with_llm(voted, config, split=None, budget=3)
    assert sorted(asked(server)) == ["b01", "b02", "d3"]
    assert stats.dev_accuracy == pytest.approx((2 / 3, 1.0))
    assert stats.dev_model == "majority_vote fit on train"
    stored = voted.sql("SELECT count(*) AS n FROM runs WHERE step = 'aggregate'")["n"][0]
    assert stored == 1, "the refits are in memory, not stored"


def test_bad_budgets_are_clear_errors(voted: Workspace) -> None:
    with pytest.raises(InputError, match="at least 1 request, got 0"):
        plan_llm_budget(voted, CONFIG, budget=0)
    with pytest.raises(InputError, match=r"more than \$0"):
        label_with_llm(voted, CONFIG, budget_usd=-1.0)
    with pytest.raises(InputError, match="needs prices"):
        label_with_llm(voted, CONFIG, budget_usd=1.0)
    with pytest.raises(InputError, match="cached_only asks none"):
        label_with_llm(voted, CONFIG, budget=1, cached_only=True)
    assert llm_votes(voted) == set()


def test_cli_dry_run_shows_the_plan_and_sends_nothing(voted: Workspace) -> None:
    path = voted.path
    voted.close()
    with OpenAIServer() as server:
        asking = ("llm", path, "--model", "test-model", "--instructions", "Spam?")
        endpoint = ("--base-url", server.base_url, "--api-key", "k")
        prices = ("--input-price", "1", "--output-price", "2")
        dry = run(*asking, *endpoint, *prices, "--budget", "3", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert server.requests == []
        assert "buys 3 of 8 prompts not cached (no votes 2 of 2, conflict 1 of 2, agree 0 of 4" in (
            dry.stdout
        )
        assert "ranked by votes only" in dry.stdout and "estimated $" in dry.stdout
        zero = run(*asking, *endpoint, "--budget", "0")
        assert zero.returncode == 1 and "at least 1 request, got 0" in zero.stderr
        real = run(*asking, *endpoint, "--budget", "2")
        assert real.returncode == 0, real.stderr
        assert sorted(asked(server)) == ["b01", "b02"]
    assert "budget: 2 of 2 planned prompts asked, 6 left unasked" in real.stdout
    assert "label model auto fit on train, refit in memory: dev accuracy" in real.stdout
    # Trial 61c: "+0.000" on every run read as the LLM adding nothing.
    assert "llm:test-model has no vote on a dev text, so this barely moves" in real.stdout


REVIEWS = {
    "r1": "The pasta was great but the waiter was rude.",
    "r2": "Cheap and cheerful pizza.",
    "r3": "Too pricey for what you get.",
    "r4": "We sat outside.",
}
# r1: the sources disagree on food; r2: one vote on price; r3, r4: no votes at all.
REVIEW_LFS = [
    keyword_lf("pasta", ["pasta"], "positive", attribute="food"),
    keyword_lf("great", ["great"], "negative", attribute="food"),
    keyword_lf("rude", ["rude"], "negative", attribute="staff"),
    # "mentioned" beside r1's staff=negative is no conflict (trial 64c).
    keyword_lf("waiter", ["waiter"], "mentioned", attribute="staff"),
    keyword_lf("cheap", ["cheap"], "positive", attribute="price"),
]


@pytest.fixture
def reviews(tmp_path: Path) -> Iterator[Workspace]:
    sentences = "".join(
        f'<sentence id="{id_}"><text>{text}</text><aspectCategories>'
        '<aspectCategory category="food" polarity="positive"/></aspectCategories></sentence>'
        for id_, text in REVIEWS.items()
    )
    xml = tmp_path / "train.xml"
    xml.write_text(f"<sentences>{sentences}</sentences>")
    with Workspace(tmp_path / "reviews.duckdb") as ws:
        ingest(ws, xml, labels=["positive", "negative"], attributes=["food", "staff", "price"])
        apply_lfs(ws, REVIEW_LFS)
        yield ws


def test_aspects_rank_per_text_or_per_attribute(reviews: Workspace) -> None:
    review_id = {text: id_ for id_, text in REVIEWS.items()}
    config = LLMConfig(model="m", instructions="What does the review say?", api_key="k")
    # One prompt per (text, attribute): r1's food is the one conflict.
    plan = plan_llm_budget(reviews, dataclasses.replace(config, per_attribute=True), budget=7)
    assert plan.pending == {"no votes": 6, "conflict": 1, "agree": 5}
    assert plan.chosen == {"no votes": 6, "conflict": 1, "agree": 0}
    with OpenAIServer(Behaviour(script=lambda body: '{"food": "positive"}')) as server:
        per_text = dataclasses.replace(config, base_url=server.base_url)
        stats = label_with_llm(reviews, per_text, budget=3)
        assert sorted(review_id[r["messages"][-1]["content"]] for r in server.requests) == [
            "r1",
            "r3",
            "r4",
        ], "silence on an attribute is no gap: only texts without any vote come first"
        assert stats.budget is not None
        assert stats.budget.chosen == {"no votes": 2, "conflict": 1, "agree": 0}


def test_a_budget_on_a_spans_task_is_a_clear_error(tmp_path: Path) -> None:
    source = tmp_path / "reviews.jsonl"
    source.write_text('{"id": "s1", "text": "The Dell keyboard is great."}\n')
    with Workspace(tmp_path / "spans.duckdb") as ws:
        ingest(ws, source, kind="spans", labels=["TERM", "BRAND"])
        with pytest.raises(InputError, match="a spans task has neither per example"):
            plan_llm_budget(ws, CONFIG, budget=1)
        with pytest.raises(InputError, match="a spans task has neither per example"):
            label_with_llm(ws, CONFIG, budget=1)
        assert ws.sql("SELECT count(*) AS n FROM llm_cache")["n"][0] == 0
