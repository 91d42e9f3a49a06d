"""The LLM as a span source: a text's entities as JSON, aligned to character spans, through
the real openai client and the test server."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labelkit import (
    LabelkitError,
    LLMConfig,
    Workspace,
    export_llm_cache,
    import_llm_cache,
    ingest,
    label_with_llm,
)
from labelkit.data import bundled_dataset
from labelkit.demo import LAPTOPS_LLM, RECORDED_ANSWERS
from labelkit.lf import summarize_span_lfs
from labelkit.llm import estimate_llm_run, import_answers
from tests.helpers import table_counts
from tests.openai_server import Behaviour, OpenAIServer

CONFIG = LLMConfig(model="m", instructions="Mark laptop parts and brands.", api_key="k")
# ../shared/data beside the checkout, which may sit more than one level deeper.
LAPTOPS = next(
    folder / "shared" / "data" / "spans" / "LaptopReview"
    for folder in Path(__file__).resolve().parents
    if (folder / "shared" / "data" / "spans" / "LaptopReview").is_dir()
)
SOURCE = "llm:m"

# Each text and the answer the test server gives it.
ANSWERS = {
    # Every occurrence, whatever the case and the whitespace between the words.
    "Battery life is great, but the battery  life indicator lies.": (
        '{"entities": [{"text": "battery life", "label": "TERM"}, '
        '{"text": "Battery life", "label": "TERM"}]}'
    ),
    # More whitespace in the answer than in the text; a label in another case.
    "Upgraded to windows 7 and the keyboard broke.": (
        '{"entities": [{"text": "Windows  7", "label": "TERM"}, '
        '{"text": "keyboard", "label": "term"}]}'
    ),
    # Two emoji before the entity: offsets count characters, not bytes or UTF-16 units.
    "😀😀 screen is dim": '{"entities": [{"text": "Screen", "label": "TERM"}]}',
    # Not in the text, a label outside the task, and "ram" (not the one in "programs").
    "The fan is loud and the ram is small, programs crash.": (
        '{"entities": [{"text": "touchpad", "label": "TERM"}, '
        '{"text": "fan", "label": "PRICE"}, {"text": "ram", "label": "TERM"}]}'
    ),
    # "U.S" ends inside the token "U.S.": the span snaps out to the whole token.
    "Made in the U.S. of A": '{"entities": [{"text": "U.S", "label": "BRAND"}]}',
    # No JSON at all.
    "No laptop words here.": "Sure! The terms are fan and screen.",
    # Cut off by the token limit: the entity it completed still counts.
    "Great screen, weak fan.": '{"entities": [{"text": "screen", "label": "TERM"}, {"text": "fa',
    # A pre-tokenized text spaces out punctuation that the answer does not.
    "No installation disk ( DVD ) is included .": (
        '{"entities": [{"text": "installation disk (DVD)", "label": "TERM"}]}'
    ),
}
IDS = {text: f"t{i}" for i, text in enumerate(ANSWERS, start=1)}

# The span votes: (example id, start, end, label).
EXPECTED = {
    ("t1", 0, 12, "TERM"),
    ("t1", 31, 44, "TERM"),
    ("t2", 12, 21, "TERM"),
    ("t2", 30, 38, "TERM"),
    ("t3", 3, 9, "TERM"),
    ("t4", 24, 27, "TERM"),
    ("t5", 12, 16, "BRAND"),
    ("t7", 6, 12, "TERM"),
    ("t8", 3, 28, "TERM"),
}


def _answer(body: dict[str, Any]) -> str:
    return ANSWERS[body["messages"][-1]["content"]]


@pytest.fixture
def laptops(tmp_path: Path) -> Iterator[Workspace]:
    """The texts above on disk, a spans task over TERM and BRAND."""
    source = tmp_path / "reviews.jsonl"
    source.write_text(
        "".join(
            json.dumps({"id": IDS[text], "text": text}, ensure_ascii=False) + "\n"
            for text in ANSWERS
        ),
        encoding="utf-8",
    )
    with Workspace(tmp_path / "laptops.duckdb") as ws:
        ingest(ws, source, kind="spans", labels=["TERM", "BRAND"])
        yield ws


def span_votes(ws: Workspace, source: str = SOURCE) -> set[tuple[str, int, int, str]]:
    rows = ws.sql(
        'SELECT example_id, start, "end", label FROM span_votes WHERE source = ?', [source]
    )
    return set(rows.rows())


def test_entities_align_to_every_occurrence_as_span_votes(laptops: Workspace) -> None:
    priced = dataclasses.replace(CONFIG, input_price=1.0, output_price=2.0)
    with OpenAIServer(Behaviour(script=_answer)) as server:
        stats = label_with_llm(laptops, dataclasses.replace(priced, base_url=server.base_url))
        assert len(server.requests) == 8, "one request per text"
        request = server.requests[0]
        assert request["response_format"]["type"] == "json_schema"
        entities = request["response_format"]["json_schema"]["schema"]["properties"]["entities"]
        assert entities["maxItems"] == 16
        assert entities["items"]["properties"]["label"]["enum"] == ["TERM", "BRAND"]
        assert request["max_tokens"] == 16 * 16
        system = request["messages"][0]["content"]
        assert system.startswith("Mark laptop parts and brands.")
        assert '{"entities": [{"text": WORDS, "label": TYPE}, ...]}' in system
        assert "TYPE is one of: TERM, BRAND" in system
    assert span_votes(laptops) == EXPECTED
    texts = dict(laptops.sql("SELECT id, text FROM examples").rows())
    assert texts["t1"][31:44] == "battery  life" and texts["t3"][3:9] == "screen"
    assert texts["t5"][12:16] == "U.S." and texts["t4"][24:27] == "ram"
    assert texts["t8"][3:28] == "installation disk ( DVD )"
    # touchpad (not in the text), fan as PRICE, and the answer with no JSON.
    assert (stats.answered, stats.failed, stats.unparsed, stats.spans) == (8, 0, 3, 9)
    assert stats.source == SOURCE and stats.response_format == "json_schema"
    # Tokens and cost are counted per request, that is per text.
    assert (stats.prompt_tokens, stats.completion_tokens) == (8 * 20, 8 * 5)
    assert stats.cost == pytest.approx((8 * 20 * 1.0 + 8 * 5 * 2.0) / 1e6)
    assert laptops.sql("SELECT name, kind FROM sources").rows() == [(SOURCE, "llm")]
    assert laptops.sql("SELECT count(*) AS n FROM votes")["n"][0] == 0
    # The cache keeps each answer's spans and parse failures where a label goes.
    labels = dict(laptops.sql("SELECT response, label FROM llm_cache").rows())
    assert json.loads(labels[ANSWERS["The fan is loud and the ram is small, programs crash."]]) == {
        "spans": [[24, 27, "TERM"]],
        "failures": [
            {"text": "touchpad", "label": "TERM", "reason": "not in the text"},
            {"text": "fan", "label": "PRICE", "reason": "label outside the task"},
        ],
    }
    assert labels["Sure! The terms are fan and screen."] is None


def test_a_rerun_replays_the_cache_and_recorded_answers_replay_without_an_endpoint(
    laptops: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with OpenAIServer(Behaviour(script=_answer)) as server:
        config = dataclasses.replace(CONFIG, base_url=server.base_url)
        label_with_llm(laptops, config)
        # A stale vote of the source is replaced, not added to.
        laptops.con.execute("INSERT INTO span_votes VALUES ('t6', ?, 0, 2, 'TERM', 1)", [SOURCE])
        again = label_with_llm(laptops, config)
        assert len(server.requests) == 8, "a rerun asks nothing"
    assert (again.cached, again.answered, again.unparsed, again.spans) == (8, 0, 3, 9)
    assert (again.prompt_tokens, again.cost) == (0, None)
    assert span_votes(laptops) == EXPECTED

    assert export_llm_cache(laptops, tmp_path / "answers.jsonl", model="m") == 8
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with Workspace(tmp_path / "fresh.duckdb") as fresh:
        ingest(fresh, tmp_path / "reviews.jsonl", kind="spans", labels=["TERM", "BRAND"])
        assert import_llm_cache(fresh, tmp_path / "answers.jsonl") == 8
        stats = label_with_llm(fresh, dataclasses.replace(CONFIG, api_key=None), cached_only=True)
        assert (stats.cached, stats.answered, stats.not_asked, stats.spans) == (8, 0, 0, 9)
        assert span_votes(fresh) == EXPECTED


def test_imported_answers_align_to_the_same_span_votes_as_live_ones(
    laptops: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "bought.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": IDS[text], "answer": answer}) + "\n"
            for text, answer in ANSWERS.items()
        )
    )
    imported = import_answers(laptops, path, "m")
    assert span_votes(laptops) == EXPECTED
    # t6 lists no entities as JSON; t4's "touchpad" is not in its text and "fan" is PRICE.
    assert (imported.answers, imported.parsed, imported.votes, imported.unaligned) == (8, 7, 9, 2)
    kept = laptops.sql("SELECT response, label FROM llm_cache WHERE model = 'llm:m'").rows()
    failures = json.loads(
        dict(kept)[ANSWERS["The fan is loud and the ram is small, programs crash."]]
    )
    assert [failure["text"] for failure in failures["failures"]] == ["touchpad", "fan"]


def test_the_schema_goes_with_json_object_when_json_schema_is_refused(
    laptops: Workspace,
) -> None:
    behaviour = Behaviour(refuse_json_schema=True, script=_answer)
    with OpenAIServer(behaviour) as server:
        stats = label_with_llm(laptops, dataclasses.replace(CONFIG, base_url=server.base_url))
    assert stats.response_format == "json_object"
    sent = server.requests[2]["response_format"]  # after two json_schema probes
    assert sent["type"] == "json_object"
    assert sent["schema"]["required"] == ["entities"]
    assert span_votes(laptops) == EXPECTED


def test_the_llm_source_is_summarised_beside_the_lfs(laptops: Workspace) -> None:
    laptops.con.execute(
        "UPDATE examples SET gold = CASE id WHEN 't3' THEN '[[3, 9, \"TERM\"]]' "
        "WHEN 't4' THEN '[[4, 7, \"TERM\"]]' ELSE '[]' END"
    )
    with OpenAIServer(Behaviour(script=_answer)) as server:
        label_with_llm(laptops, dataclasses.replace(CONFIG, base_url=server.base_url))
    summary = summarize_span_lfs(laptops).row(0, named=True)
    assert summary["lf"] == SOURCE
    # 9 spans: the screen of t3 is right; ram is not gold and fan is missed.
    assert (summary["spans"], summary["tp"], summary["fp"], summary["fn"]) == (9, 1, 8, 1)


def test_confidences_and_per_attribute_are_refused_and_change_nothing(
    laptops: Workspace,
) -> None:
    before = table_counts(laptops)
    with pytest.raises(LabelkitError, match="one request per attribute is for aspects"):
        label_with_llm(laptops, dataclasses.replace(CONFIG, per_attribute=True))
    with pytest.raises(LabelkitError, match="an answer on a spans task lists every entity"):
        label_with_llm(laptops, dataclasses.replace(CONFIG, logprobs=True))
    with pytest.raises(LabelkitError, match="max_entities must be at least 1"):
        dataclasses.replace(CONFIG, max_entities=0)
    assert table_counts(laptops) == before


def test_the_estimate_counts_a_budget_per_entity(laptops: Workspace) -> None:
    estimate = estimate_llm_run(laptops, dataclasses.replace(CONFIG, max_entities=4))
    assert (estimate.prompts, estimate.to_ask) == (8, 8)
    assert estimate.completion_tokens == 8 * 16 * 4


def test_the_cli_labels_a_spans_task(laptops: Workspace, tmp_path: Path) -> None:
    path = laptops.path
    laptops.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["COLUMNS"] = "200"
    command = [sys.executable, "-m", "labelkit", "llm", str(path), "--model", "m"]
    command += ["--instructions", "Mark laptop parts and brands.", "--split", "all"]
    dry = subprocess.run([*command, "--dry-run"], capture_output=True, text=True, env=env)
    assert dry.returncode == 0, dry.stderr
    assert "llm:m: 8 prompts, 0 cached, 8 to ask; about" in dry.stdout
    with OpenAIServer(Behaviour(script=_answer)) as server:
        endpoint = ["--base-url", server.base_url, "--api-key", "k", "--max-entities", "8"]
        result = subprocess.run([*command, *endpoint], capture_output=True, text=True, env=env)
        assert server.requests[0]["max_tokens"] == 16 * 8
    assert result.returncode == 0, result.stderr
    assert "llm:m: 8 prompts, 0 cached, 8 answered, 0 failed, 9 spans" in result.stdout
    assert (
        "3 entities not aligned (not in the text, a label outside the task, given two types, or no JSON)"
        in (result.stdout)
    )
    with Workspace(path) as ws:
        assert span_votes(ws) == EXPECTED
    analyzed = subprocess.run(
        [sys.executable, "-m", "labelkit", "analyze", str(path)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert analyzed.returncode == 0, analyzed.stderr
    row = next(line for line in analyzed.stdout.splitlines() if "llm:m" in line)
    # The LLM source's row: its labels, and its 9 spans.
    assert [cell.strip() for cell in row.split("│")[2:5:2]] == ["BRAND, TERM", "9"]


def test_the_recorded_laptop_answers_replay_with_the_demo_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    recorded = bundled_dataset("laptops") / RECORDED_ANSWERS
    with Workspace(tmp_path / "laptops.duckdb") as ws:
        ingest(ws, LAPTOPS / "test.json")
        assert import_llm_cache(ws, recorded) == len(recorded.read_text().splitlines())
        stats = label_with_llm(ws, LAPTOPS_LLM, cached_only=True)
        texts = dict(ws.sql("SELECT id, text FROM examples").rows())
        marked = ws.sql('SELECT example_id, start, "end" FROM span_votes').rows()
    # The first 180 sentences of test.json, as its README says, replay without an endpoint.
    assert (stats.cached, stats.not_asked, stats.failed) == (180, 620, 0)
    assert (stats.spans, stats.unparsed) == (133, 144)
    assert all(texts[i][start:end].strip() == texts[i][start:end] for i, start, end in marked)
