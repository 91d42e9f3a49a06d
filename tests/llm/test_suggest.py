"""LLM-proposed rules (suggest-lfs): asked through the real openai client against the test
server, scored on the workspace at once, accepted into a plain rule file one key each."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from labelkit import (
    LabelkitError,
    LLMConfig,
    Workspace,
    aggregate,
    apply_lfs,
    bundled_dataset,
    ingest,
    keyword_lf,
)
from labelkit.demo import YOUTUBE_INGEST
from labelkit.lf import apply_lfs_to_frame, load_lfs, load_rules
from labelkit.llm.suggest import decide_suggestion, suggest_lfs
from tests.lf.test_cli_apply import run
from tests.openai_server import Behaviour, OpenAIServer

CONFIG = LLMConfig(
    model="m", instructions="Is this YouTube comment spam?", api_key="k", max_tokens=400
)
ROWS = [  # id, text, gold, split
    ("t1", "please subscribe to my channel", "spam", "train"),
    ("t2", "subscribed, check out my page", "spam", "train"),
    ("t3", "what a lovely song", "ham", "train"),
    ("t4", "this song is my childhood", "ham", "train"),
    ("t5", "nice video", "ham", "train"),
    ("d1", "subscribing is free, do it", "spam", "dev"),
    ("d2", "I subscribed years ago and still love this song", "ham", "dev"),
    ("d3", "check out my free gift", "spam", "dev"),
    ("d4", "song of the year", "ham", "dev"),
]
# The scripted answer: new rules, one malformed regex, one label outside the task, a
# repeat within the answer, a repeat of the workspace's LF, and an item that is no rule.
PROPOSALS = [
    {"match": "subscrib*", "label": "spam"},
    {"match": "check out", "label": "spam"},
    {"match": "/[a-/", "label": "spam"},
    {"match": "love", "label": "hma"},
    {"match": "subscrib*", "label": "spam"},
    {"match": "song", "label": "ham"},
    "just a string",
]


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    csv = tmp_path / "comments.csv"
    csv.write_text("id,text,label,split\n" + "".join(f'{i},"{t}",{g},{s}\n' for i, t, g, s in ROWS))
    with Workspace(tmp_path / "ws.duckdb") as workspace:
        ingest(workspace, csv, id_column="id", label_column="label", split_column="split")
        apply_lfs(workspace, [keyword_lf("kw_song", ["song"], "ham")])
        yield workspace


def script(body: dict[str, Any]) -> str:
    return json.dumps({"rules": PROPOSALS})


def test_proposals_are_parsed_marked_and_scored_on_the_workspace(
    ws: Workspace, tmp_path: Path
) -> None:
    with OpenAIServer(Behaviour(script=script)) as server:
        config = dataclasses.replace(CONFIG, base_url=server.base_url)
        proposals = suggest_lfs(ws, config, rules=tmp_path / "spam.rules", per_label=10)
        assert len(server.requests) == 1
        shown = server.requests[0]["messages"][1]["content"]
        # Only texts no LF votes on (t3 and t4 have "song") from the train split.
        assert all(text in shown for text in (ROWS[0][1], ROWS[1][1], ROWS[4][1]))
        assert "lovely song" not in shown and "check out my free gift" not in shown

        again = suggest_lfs(ws, config, rules=tmp_path / "spam.rules", per_label=10)
        assert len(server.requests) == 1, "the same sample's answer comes from the cache"
    assert again["rule"].to_list() == proposals["rule"].to_list()

    assert proposals.select("rule", "status").rows() == [
        ("subscrib* -> spam", "new"),
        ("check out -> spam", "new"),
        ("/[a-/ -> spam", "malformed"),
        ("love -> hma", "malformed"),
        ("subscrib* -> spam", "duplicate"),
        ("song -> ham", "duplicate"),  # the same keyword LF as kw_song
        ('"just a string"', "malformed"),
    ]
    assert "invalid pattern" in proposals["error"][2]
    assert "'hma' is not one of ['ham', 'spam']" in proposals["error"][3]
    stem = proposals.row(0, named=True)
    # t1 t2 d1 d2 of 9; d2 is also voted ham by kw_song; on dev right on d1, wrong on d2.
    assert stem["coverage"] == pytest.approx(4 / 9)
    assert stem["overlaps"] == pytest.approx(1 / 9)
    assert stem["conflicts"] == pytest.approx(1 / 9)
    assert (stem["correct"], stem["incorrect"], stem["accuracy"]) == (1, 1, 0.5)
    assert stem["accuracy_low"] < 0.5 < stem["accuracy_high"]
    check = proposals.row(1, named=True)
    assert (check["coverage"], check["correct"], check["incorrect"]) == (pytest.approx(2 / 9), 1, 0)
    assert proposals["coverage"][2:].is_null().all()
    recorded = ws.sql("SELECT * FROM lf_suggestions ORDER BY id")
    assert recorded.height == 14 and set(recorded["model"]) == {"m"}
    # The scores are stored as computed: the web page reads them, not a recomputation.
    scores = ["coverage", "overlaps", "conflicts", "correct", "incorrect", "accuracy"]
    scores += ["accuracy_low", "accuracy_high"]
    assert recorded.tail(7).select("id", "rule", "status", "error", *scores).rows() == (
        again.select("id", "rule", "status", "error", *scores).rows()
    )
    assert recorded.head(7).select(scores).rows() == proposals.select(scores).rows()


def test_the_answer_is_constrained_to_the_rules_schema_or_a_json_object_one(
    ws: Workspace,
) -> None:
    for refuse in (False, True):
        with OpenAIServer(Behaviour(script=script, refuse_json_schema=refuse)) as server:
            config = dataclasses.replace(CONFIG, base_url=server.base_url, seed=int(refuse))
            proposals = suggest_lfs(ws, config, max_rules=4)
            formats = [body["response_format"]["type"] for body in server.requests]
        # A 500 is taken for a refusal when a second attempt gets one too.
        refused = ["json_schema", "json_schema", "json_object"]
        assert formats == (refused if refuse else ["json_schema"])
        sent = server.requests[-1]["response_format"]
        schema = sent["json_schema"]["schema"] if not refuse else sent["schema"]
        assert schema["properties"]["rules"]["maxItems"] == 4
        assert schema["properties"]["rules"]["items"]["properties"]["label"]["enum"] == [
            "ham",
            "spam",
        ]
        assert proposals["status"].to_list()[:2] == ["new", "new"]


def test_rules_proposed_for_the_demo_comments_are_scored_against_their_dev_gold(
    tmp_path: Path,
) -> None:
    proposed = [
        {"match": "subscrib*", "label": "spam"},
        {"match": "/https?://\\S+/", "label": "spam"},
        {"match": "love this song", "label": "ham"},
    ]
    with Workspace(tmp_path / "demo.duckdb") as demo:
        ingest(demo, sorted(bundled_dataset("youtube-spam").glob("*.csv")), **YOUTUBE_INGEST)
        apply_lfs(demo, load_lfs("labeling_functions.youtube"))
        aggregate(demo)
        with OpenAIServer(Behaviour(script=lambda body: json.dumps({"rules": proposed}))) as server:
            proposals = suggest_lfs(demo, dataclasses.replace(CONFIG, base_url=server.base_url))
            shown = server.requests[0]["messages"][1]["content"]
        # What the prompt shows is the train texts no LF votes on or LFs dispute.
        silent = demo.sql(
            """SELECT text FROM examples WHERE split = 'train'
               AND id NOT IN (SELECT example_id FROM votes)"""
        )["text"]
        assert "Texts a model labels ham" in shown and "Texts a model labels spam" in shown
        assert any(" ".join(text.split())[:300] in shown for text in silent)
        # Each rule's numbers, counted here with polars from the same data.
        examples = demo.sql("SELECT id, text, split, gold FROM examples")
        for rule in proposals.iter_rows(named=True):
            (lf,) = load_rules_text(tmp_path, rule["rule"])
            fires = apply_lfs_to_frame([lf], examples, labels=demo.task, id_column="id")
            votes = examples.with_columns(vote=fires.matrix.to_frame()[lf.name])
            dev = votes.filter((pl.col("split") == "dev") & pl.col("vote").is_not_null())
            assert rule["status"] == "new"
            assert rule["coverage"] == pytest.approx(votes["vote"].is_not_null().mean())
            assert rule["correct"] == (dev["vote"] == dev["gold"]).sum()
            assert rule["incorrect"] == (dev["vote"] != dev["gold"]).sum()
    assert proposals.filter(pl.col("rule") == "subscrib* -> spam")["accuracy"][0] > 0.9


def load_rules_text(folder: Path, line: str) -> list:
    path = folder / "one.rules"
    path.write_text(line + "\n")
    return load_rules(path)


def test_an_accepted_rule_is_appended_to_the_rule_file_and_loads(
    ws: Workspace, tmp_path: Path
) -> None:
    rules = tmp_path / "spam.rules"
    rules.write_text("free gift -> spam")  # no final newline
    with OpenAIServer(Behaviour(script=script)) as server:
        proposals = suggest_lfs(
            ws, dataclasses.replace(CONFIG, base_url=server.base_url), rules=rules
        )
    stem_id, check_id, bad_id = proposals["id"][:3]
    assert decide_suggestion(ws, stem_id, True, rules) == "subscrib* -> spam"
    assert decide_suggestion(ws, check_id, False, rules) is None
    with pytest.raises(LabelkitError, match="malformed"):
        decide_suggestion(ws, bad_id, True, rules)
    with pytest.raises(LabelkitError, match="accepted already"):
        decide_suggestion(ws, stem_id, True, rules)

    lines = rules.read_text().splitlines()
    assert lines[0] == "free gift -> spam"
    assert lines[1].startswith(f"# proposed by m, suggestion {stem_id}, ")
    assert lines[2:] == ["subscrib* -> spam"]
    assert [lf.name for lf in load_lfs(str(rules))] == ["free gift -> spam", "subscrib* -> spam"]
    assert ws.sql(
        "SELECT id, decision, file FROM lf_suggestions WHERE decision IS NOT NULL ORDER BY id"
    ).rows() == [(stem_id, "accepted", str(rules)), (check_id, "rejected", None)]


def test_an_answer_without_a_rules_list_is_an_error_that_writes_nothing(
    ws: Workspace, tmp_path: Path
) -> None:
    prose = Behaviour(script=lambda body: "Here are some rules: subscribe")
    with OpenAIServer(prose) as server, pytest.raises(LabelkitError, match="holds no"):
        suggest_lfs(ws, dataclasses.replace(CONFIG, base_url=server.base_url))
    assert ws.sql("SELECT count(*) AS n FROM lf_suggestions")["n"][0] == 0
    # Trial 45: the broken answer was replayed from the cache on every rerun, with the
    # same error, after the endpoint was fixed.
    with OpenAIServer(Behaviour(script=script)) as server:
        suggested = suggest_lfs(ws, dataclasses.replace(CONFIG, base_url=server.base_url))
        assert len(server.requests) == 1
    assert suggested.height > 0


def test_rule_lines_are_read_as_a_rule_file_holds_them_and_the_cost_is_logged(
    ws: Workspace,
) -> None:
    # Trial 61c: a model that wrote rule lines was refused, each retry bought the same
    # answer again, and no run logged what any answer cost.
    lines = "Rules:\n- subscrib* -> spam\n2. /free gift/ -> spam # gifts\n`check out -> spam`\n"
    priced = dataclasses.replace(CONFIG, input_price=1000.0, output_price=2000.0)
    with OpenAIServer(Behaviour(script=lambda body: lines)) as server:
        config = dataclasses.replace(priced, base_url=server.base_url)
        first = suggest_lfs(ws, config)
        again = suggest_lfs(ws, config)
        assert len(server.requests) == 1, "the cached answer is read, not bought again"
    expected = ["subscrib* -> spam", "/free gift/ -> spam", "check out -> spam"]
    assert first["rule"].to_list() == again["rule"].to_list() == expected
    logged = [
        json.loads(config)
        for config in ws.sql("SELECT config FROM runs WHERE step = 'suggest-lfs' ORDER BY run_id")[
            "config"
        ]
    ]
    # The test server counts 20 prompt and 5 completion tokens an answer.
    assert [(run["cached"], run["cost"]) for run in logged] == [
        (False, pytest.approx((20 * 1000 + 5 * 2000) / 1e6)),
        (True, 0.0),
    ]


def test_rule_lines_in_the_json_list_are_read_as_rules(ws: Workspace) -> None:
    # Trial 68a: {"rules": ["free -> spam"]} was 'malformed' on every rule.
    answer = json.dumps({"rules": ["subscrib* -> spam", "free gift -> ham", 7, "no rule"]})
    with OpenAIServer(Behaviour(script=lambda body: answer)) as server:
        proposals = suggest_lfs(ws, dataclasses.replace(CONFIG, base_url=server.base_url))
    assert proposals.select("rule", "status").rows() == [
        ("subscrib* -> spam", "new"),
        ("free gift -> ham", "new"),
        ("7", "malformed"),
        ('"no rule"', "malformed"),
    ]


def test_the_cli_asks_one_key_per_new_rule_and_appends_the_accepted(
    ws: Workspace, tmp_path: Path
) -> None:
    path, rules = ws.path, tmp_path / "spam.rules"
    ws.close()
    with OpenAIServer(Behaviour(script=script)) as server:
        result = run(
            "suggest-lfs", path, "--rules", rules, "--model", "m",
            "--instructions", "Spam?", "--base-url", server.base_url, "--api-key", "k",
            "--input-price", "1000", "--output-price", "2000", keys="yn",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "malformed or already there; cost $0.0300" in result.stdout
    assert "malformed: love -> hma (label 'hma'" in result.stdout
    assert "subscrib* -> spam\n  coverage 44.4%, overlaps 11.1%, conflicts 11.1%" in result.stdout
    assert "1 rules appended" in result.stdout
    assert rules.read_text().splitlines()[1:] == ["subscrib* -> spam"]


def test_a_rule_with_a_line_break_is_malformed_and_never_reaches_the_file(
    ws: Workspace, tmp_path: Path
) -> None:
    # Python's regex `.` matches \r, so this parses as one regex rule; written to the
    # file it would be two lines, the second a rule nobody was shown on its own.
    sneaky = [{"match": "/x/ -> spam\rfree gift -> ham #/", "label": "spam"}]
    sneaky += [{"match": "/y\u2028z/", "label": "spam"}]
    # An arrow in a regex ends it early: this one would vote a label nobody asked for.
    sneaky += [{"match": "/x/ -> hma #/", "label": "spam"}]
    # Trial 54d: a NUL made git see a binary file; U+202E shows another rule in an
    # editor than the one that runs; U+200B between two letters is not seen at all.
    sneaky += [{"match": f"/a{c}b/", "label": "spam"} for c in ("\x00", "\u202e", "\u200b")]
    answer = Behaviour(script=lambda body: json.dumps({"rules": sneaky}))
    with OpenAIServer(answer) as server:
        proposals = suggest_lfs(ws, dataclasses.replace(CONFIG, base_url=server.base_url))
    assert proposals["status"].to_list() == ["malformed"] * 6
    assert proposals["error"].to_list()[:2] == ["the rule holds a line break"] * 2
    assert "voting 'hma', not 'spam'" in proposals["error"][2]
    assert [error.split(",")[0] for error in proposals["error"][3:]] == [
        "the rule holds U+0000 (a control character)",
        "the rule holds U+202E (RIGHT-TO-LEFT OVERRIDE)",
        "the rule holds U+200B (ZERO WIDTH SPACE)",
    ]
    with pytest.raises(LabelkitError, match="malformed"):
        decide_suggestion(ws, proposals["id"][0], True, tmp_path / "spam.rules")
    assert not (tmp_path / "spam.rules").exists()


def test_a_rule_file_that_cannot_be_written_records_no_decision(
    ws: Workspace, tmp_path: Path
) -> None:
    with OpenAIServer(Behaviour(script=script)) as server:
        proposals = suggest_lfs(ws, dataclasses.replace(CONFIG, base_url=server.base_url))
    folder = tmp_path / "a folder"
    folder.mkdir()
    with pytest.raises(LabelkitError, match=r"cannot append to the rule file .*a folder"):
        decide_suggestion(ws, proposals["id"][0], True, folder)
    with pytest.raises(LabelkitError, match="needs a rule file"):
        decide_suggestion(ws, proposals["id"][0], True, None)
    assert ws.sql("SELECT count(decision) AS n FROM lf_suggestions")["n"][0] == 0
    assert decide_suggestion(ws, proposals["id"][0], False, None) is None


def test_an_accepted_hashtag_rule_is_written_so_that_it_loads(
    ws: Workspace, tmp_path: Path
) -> None:
    # Unquoted, `#giveaway -> spam` would start with `#`: a comment, which load_rules refuses.
    rules = tmp_path / "spam.rules"
    tagged = Behaviour(
        script=lambda body: json.dumps({"rules": [{"match": "#giveaway", "label": "spam"}]})
    )
    with OpenAIServer(tagged) as server:
        proposals = suggest_lfs(
            ws, dataclasses.replace(CONFIG, base_url=server.base_url), rules=rules
        )
    assert proposals["rule"].to_list() == ["#giveaway -> spam"]
    assert decide_suggestion(ws, proposals["id"][0], True, rules) == '"#giveaway" -> spam'
    assert [lf.name for lf in load_lfs(str(rules))] == ["#giveaway -> spam"]
