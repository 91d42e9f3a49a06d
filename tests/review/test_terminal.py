from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from rich.color import ColorSystem
from rich.console import Console
from rich.style import Style
from rich.text import Text

from labelkit import (
    InputError,
    ReviewQueue,
    Workspace,
    apply_lfs,
    cleaned_labels,
    keyword_lf,
    review_in_terminal,
)
from labelkit.review.queue import ReviewItem
from labelkit.review.terminal import HIGHLIGHTS
from tests.helpers import labelkit_with_stdin_closed
from tests.review.conftest import NEWS_LABELS, bounds
from tests.review.test_queue import queue  # noqa: F401 - the fixture


def keys(sequence: Sequence[str]) -> Iterator[str]:
    yield from sequence


def test_keys_answer_undo_and_quit(queue: ReviewQueue) -> None:  # noqa: F811
    pressed = keys("za2uq")
    out = io.StringIO()
    answered = review_in_terminal(
        queue, reviewer="ana", console=Console(file=out, width=100), read_key=lambda: next(pressed)
    )
    decisions = queue.workspace.sql(
        "SELECT example_id, reviewer, action, label FROM decisions ORDER BY decision_id"
    ).rows()
    assert decisions == [
        ("a1", "ana", "accept", "ham"),
        ("a2", "ana", "label", "spam"),
        ("a2", "ana", "undo", None),
    ]
    assert answered == 1
    text = out.getvalue()
    assert "unknown key 'z'" in text
    assert "subscribe to my channel please" in text
    assert "reviewed 1 of 3" in text
    # Trial 28: quitting left the item on screen claimed for ten minutes.
    assert queue.workspace.sql("SELECT count(*) AS n FROM claims")["n"][0] == 0
    assert queue.next(reviewer="bo").example_id == "a2"  # type: ignore[union-attr]


def test_one_example_is_reviewed_again_and_the_new_answer_counts(
    queue: ReviewQueue,  # noqa: F811
) -> None:
    # Trial 52a: a wrong answer given days before could be changed in Python only; undo
    # takes back the latest answer, not one on a given text.
    queue.answer("a1", "accept", reviewer="ana")
    queue.answer("a2", "accept", reviewer="ana")
    pressed = keys("r")
    out = io.StringIO()
    answered = review_in_terminal(
        queue,
        reviewer="bo",
        console=Console(file=out, width=100),
        read_key=lambda: next(pressed),
        example="a1",
    )
    assert answered == 1
    text = out.getvalue()
    assert "answered before by ana: ham; your answer replaces it" in text
    counting = queue.decisions().select("example_id", "reviewer", "label").rows()
    assert counting == [("a2", "ana", "ham"), ("a1", "bo", "spam")]
    assert queue.workspace.sql("SELECT count(*) AS n FROM claims")["n"][0] == 0
    with pytest.raises(InputError, match="example 'nope' is not in the review queue"):
        review_in_terminal(queue, reviewer="bo", example="nope", read_key=lambda: "q")


def test_a_no_on_one_example_asked_again_asks_for_its_label(news_workspace: Workspace) -> None:
    # Review of --example: a no on a four-label item moved on with no label given.
    news = ReviewQueue(news_workspace)
    item = news.next(reviewer="ana")
    assert item is not None
    news.answer(item.example_id, "accept", reviewer="ana")
    pressed = keys(["r", "1"])
    review_in_terminal(
        news,
        reviewer="bo",
        console=Console(file=io.StringIO(), width=100),
        read_key=lambda: next(pressed),
        example=item.example_id,
    )
    counting = news.decisions().filter(pl.col("example_id") == item.example_id)
    assert counting.select("reviewer", "label").row(0) == ("bo", item.choices[0])


def test_a_label_past_the_ninth_is_chosen_by_typing_its_name_or_number(intents_file: Path) -> None:
    # Trial 51a: with 22 intents only labels 1-9 had a key, and the last 13 could not be
    # given in the terminal at all.
    first = ["r", "/", *"thx", "\x7f", *"anks", "\n"]
    # Two labels contain "account"; Esc, and the end of the input, choose none.
    second = ["/", *"account", "\n", "/", "\x1b", "/", *"clos", "", "/", *"11", "\n"]
    pressed = keys([*first, *second, "q"])
    out = io.StringIO()
    with Workspace(intents_file) as ws:
        review_in_terminal(
            ReviewQueue(ws),
            reviewer="ana",
            console=Console(file=out, width=200),
            read_key=lambda: next(pressed),
        )
        decisions = ws.sql(
            "SELECT example_id, action, label FROM decisions ORDER BY 1, decision_id"
        )
    assert decisions.rows() == [
        ("i1", "ruled_out", "greeting"),
        ("i1", "label", "thanks_goodbye"),
        ("i2", "label", "close_account"),
    ]
    text = out.getvalue()
    assert "[/] another label, typed" in text
    assert "12 thanks_goodbye" in text
    assert "2 labels contain 'account': open_account, close_account" in text
    assert text.count("no label chosen") == 3
    assert "thx\b \banks" in text, "typed keys are echoed, a backspace rubbing one out"


def test_labels_that_are_digits_are_answered_by_their_own_key(
    numbered_file: Path, intents_file: Path
) -> None:
    # Trial 53a: on classes 0 to 3 the keys read "[1] 0 [2] 1 ...", and 2 stored "1".
    # Trial 63b: on classes 0 to 19, key 2 stored "1" and a typed 11 stored "11"; numbers
    # as labels keep their own numbers past one digit too (no longer trial 53d's keys 1
    # to 4 for labels 1, 2, 10 and 11).
    with Workspace(numbered_file) as ws:
        pressed = keys(["r", "2", "9", "q"])
        out = io.StringIO()
        review_in_terminal(
            ReviewQueue(ws),
            reviewer="ana",
            console=Console(file=out, width=200),
            read_key=lambda: next(pressed),
        )
        decisions = ws.sql("SELECT example_id, action, label FROM decisions ORDER BY decision_id")
    assert decisions.rows() == [
        ("n1", "ruled_out", "1"),
        ("n1", "label", "2"),
        ("n2", "label", "9"),
    ]
    text = out.getvalue()
    assert "[2] 2" in text and "[9] 9" in text and "[0] 0" in text
    numbered = ReviewItem("x", "t", "1", "2", "", 0.0, {}, choices=("1", "2", "10", "11"))
    assert numbered.numbers == {"1": "1", "2": "2", "10": "10", "11": "11"}
    classes = tuple(str(n) for n in range(20))
    assert ReviewItem("x", "t", "1", "2", "", 0.0, {}, choices=classes).numbers["2"] == "2"
    named = ReviewItem("x", "t", "a", "b", "", 0.0, {}, choices=("a1", "b2", "12"))
    assert named.numbers == {"1": "a1", "2": "b2", "3": "12"}
    # The second read: labels with no one-digit number, or not class numbers, kept no
    # key at all; they keep keys by place.
    for choices in [("100", "200", "300"), ("01", "02", "10"), ("-1", "0", "1")]:
        item = ReviewItem("x", "t", choices[0], choices[1], "", 0.0, {}, choices=choices)
        assert item.numbers == {"1": choices[0], "2": choices[1], "3": choices[2]}
        assert item.keys == ("1", "2", "3")
    # The web page takes the keys in the order of the choices, as the terminal's.
    reordered = ReviewItem("x", "t", "1", "2", "", 0.0, {}, choices=("10", "2", "1", "11"))
    assert reordered.keys == ("10", "2", "1", "11")


def test_the_progress_lines_say_how_many_items_were_only_skipped(
    queue: ReviewQueue,  # noqa: F811
) -> None:
    # Trial 46: three skips ended on "reviewed 3 of 3", read as three labels checked.
    pressed = keys("sasq")
    out = io.StringIO()
    review_in_terminal(
        queue, reviewer="ana", console=Console(file=out, width=100), read_key=lambda: next(pressed)
    )
    text = out.getvalue()
    assert "1 reviewed (1 of them only skipped) · 2 remaining" in text
    assert "reviewed 3 of 3 (2 of them only skipped), 1 label corrected" in text
    assert queue.progress()["skipped"] == 2


def test_ctrl_c_hands_the_item_on_screen_back(queue: ReviewQueue) -> None:  # noqa: F811
    # Review of trial 28's fix: only q and the end of input released the claim, so after
    # Ctrl-C the others' answers to the item were refused for ten minutes.
    def interrupted() -> str:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        review_in_terminal(
            queue, reviewer="ana", console=Console(file=io.StringIO()), read_key=interrupted
        )
    assert queue.workspace.sql("SELECT count(*) AS n FROM claims")["n"][0] == 0
    queue.answer("a1", "accept", reviewer="bo")


def test_end_of_input_quits_and_an_empty_queue_says_so(queue: ReviewQueue) -> None:  # noqa: F811
    out = io.StringIO()
    review_in_terminal(queue, reviewer="bo", console=Console(file=out), read_key=lambda: "")
    assert queue.workspace.sql("SELECT count(*) AS n FROM decisions")["n"][0] == 0
    pressed = keys("sss")
    review_in_terminal(
        queue, reviewer="bo", console=Console(file=out), read_key=lambda: next(pressed)
    )
    assert "The queue is empty" in out.getvalue()


def test_items_on_other_reviewers_screens_are_not_an_empty_queue(
    queue: ReviewQueue,  # noqa: F811
) -> None:
    # Trial 54d: names that never answered held every item: "The queue is empty".
    assert queue.next(reviewer="cy") is not None
    pressed = keys("ss")
    out = io.StringIO()
    review_in_terminal(
        queue, reviewer="bo", console=Console(file=out, width=200), read_key=lambda: next(pressed)
    )
    assert (
        "1 item left, on other reviewers' screens; one left unanswered comes back to the "
        "queue after 10 minutes."
    ) in out.getvalue()
    assert "The queue is empty" not in out.getvalue()


def song_focus_pass(queue: ReviewQueue, pressed: str) -> str:  # noqa: F811
    """A focus pass on spam, item a3 voted by a keyword LF on "song"; its output."""
    queue.workspace.con.execute(
        "INSERT INTO sources VALUES ('kw', 'lf', ?, 'h', 0)",
        ['{"kind": "keywords", "labels": ["spam"], "keywords": ["song"], "case_sensitive": false}'],
    )
    queue.workspace.con.execute("INSERT INTO votes VALUES ('a3', 'kw', 'spam', 0, '')")
    left = keys(pressed)
    out = io.StringIO()
    review_in_terminal(
        queue,
        reviewer="ana",
        console=Console(file=out, width=100),
        read_key=lambda: next(left),
        focus="spam",
    )
    return out.getvalue()


def test_focus_mode_asks_one_question_and_shows_what_fired(queue: ReviewQueue) -> None:  # noqa: F811
    text = song_focus_pass(queue, "aq")
    assert "Is this spam?" in text and '"song"' in text
    assert queue.decisions().select("example_id", "action", "label").rows() == [
        ("a3", "accept", "spam")
    ]


def test_a_huge_text_shows_its_start_and_the_words_around_what_fired(
    queue: ReviewQueue,  # noqa: F811
) -> None:
    # Trial 52b: a 521,472-character email filled 9,000 lines, the question at the end.
    huge = "log line " * 20_000 + "I love this song so much " + "trace " * 20_000
    queue.workspace.con.execute("UPDATE examples SET text = ? WHERE id = 'a3'", [huge])
    out = song_focus_pass(queue, "q")
    shown = " ".join(out.replace("│", " ").split())
    song = huge.index("song")
    assert len(out.splitlines()) < 80
    assert f"… {song - 200 - 1_500:,} characters …" in shown
    assert "log line I love this song so much trace" in shown
    after = len(huge) - (song + 4 + 200)
    assert f"… {after:,} characters … (a {len(huge):,}-character text" in shown
    assert "Is this spam?" in shown


def test_a_long_texts_excerpt_shows_each_sources_first_match_before_more_of_one() -> None:
    # Trial 54e: a broad LF's six matches in a letter's first lines took every window,
    # and the colonoscopy two other LFs voted on was never shown.
    from labelkit.review.terminal import _excerpt

    letter = "patient seen today. " * 400 + "Colonoscopy booked. " + "filler text. " * 200
    found = [m.start() for m in re.finditer("patient", letter)]
    at = letter.index("Colonoscopy")
    marks = [(start, start + 7, "broad") for start in found] + [(at, at + 11, "gi")]
    shown = _excerpt(Text(letter), marks).plain
    assert "Colonoscopy booked" in shown
    # The other windows go to the broad LF's matches, one of them within the start.
    assert shown.count("characters …") >= 2


def test_a_line_with_emoji_shows_every_word(queue: ReviewQueue) -> None:  # noqa: F811
    # Trial 62d: rich cut such a line short, "Honestly we did no… spend": a negation gone.
    said = "The room was fine 🚚🚚 and the view. Honestly we did not enjoy the stay at all"
    queue.workspace.con.execute("UPDATE examples SET text = ? WHERE id = 'a1'", [said])
    out = run(queue, ["q"], console=Console(file=io.StringIO(), width=60))
    shown = " ".join(out.replace("│", " ").split())
    assert "…" not in shown.split("The room was fine")[1].split("at all")[0]
    assert "Honestly we did not enjoy the stay at all" in shown


def run(queue: ReviewQueue, pressed: Sequence[str], **options: object) -> str:  # noqa: F811
    out = io.StringIO()
    console = options.pop("console", None) or Console(file=out, width=120)
    if console.file is not out:
        out = console.file  # type: ignore[assignment]
    keys_left = keys(pressed)
    review_in_terminal(
        queue,
        reviewer="ana",
        console=console,  # type: ignore[arg-type]
        read_key=lambda: next(keys_left),
        **options,  # type: ignore[arg-type]
    )
    return out.getvalue()


def stored(ws: Workspace) -> list[tuple]:
    return ws.sql("SELECT example_id, action, label FROM decisions ORDER BY decision_id").rows()


def test_each_item_asks_one_question_and_a_stores_its_candidate(
    news_workspace: Workspace,
) -> None:
    text = run(ReviewQueue(news_workspace), "aq")
    assert "Is this Sports? (currently Business)" in text
    assert "[a/y] yes, Sports   [r/n] no, another label" in text
    assert stored(news_workspace) == [("n1", "accept", "Sports")]


def test_no_on_a_multi_class_item_asks_for_its_label_next(news_workspace: Workspace) -> None:
    # Trial 29: 2, the ruled-out Sports, was still a key and stored Sports.
    text = run(ReviewQueue(news_workspace), "r23q")
    assert "Which label is it? (not Sports; currently Business)" in text
    asked = text.split("Which label is it?")[1].split("Is this Sports?")[0]
    assert "unknown key '2'" in asked and "[2] Sports" not in asked and "[3] Business" in asked
    assert stored(news_workspace) == [("n1", "ruled_out", "Sports"), ("n1", "label", "Business")]


def test_a_no_in_a_focus_pass_keeps_the_item_and_progress_counts_that_labels_items(
    news_workspace: Workspace,
) -> None:
    review_queue = ReviewQueue(news_workspace)
    text = run(review_queue, "rq", focus="Sports")
    assert "Sports items: 0 reviewed · 3 remaining · 0 corrected" in text
    assert "[r/n] no (its label is asked later)" in text and "[1] World" not in text
    assert "reviewed 1 of 3 Sports items, 0 labels corrected" in text
    assert review_queue.stats()["errors_found"] == 0
    cleaned = cleaned_labels(news_workspace).filter(id="n1")
    assert cleaned.select("label", "origin").rows() == [("Business", "label_model")]
    full = review_queue.next(reviewer="bo")
    assert full is not None
    assert full.question == "Which label is it? (not Sports; currently Business)"


def test_only_keys_that_exist_are_shown_and_an_unknown_key_gets_a_clean_hint(
    news_workspace: Workspace,
) -> None:
    text = run(ReviewQueue(news_workspace), "z9q")
    assert "[4] Sci/Tech" in text and "[5]" not in text and "1-9" not in text
    hint = "[a/y] yes, Sports   [r/n] no, another label   [1] World"
    assert f"unknown key 'z'; {hint}" in text and f"unknown key '9'; {hint}" in text
    assert "ccept" not in text
    assert stored(news_workspace) == []


def test_items_are_redrawn_in_place_with_the_highlight_legend(news_workspace: Workspace) -> None:
    apply_lfs(news_workspace, [keyword_lf("kw_stocks", ["stocks"], "Business")])
    console = Console(file=io.StringIO(), width=120, force_terminal=True, color_system="standard")
    text = run(ReviewQueue(news_workspace), "sq", console=console)
    # The screen is cleared before each of the two items drawn, not scrolled.
    assert text.count("\x1b[2J\x1b[H") == 2
    business = Style.parse(HIGHLIGHTS[NEWS_LABELS.index("Business")])
    in_text = Style.parse("bold") + business  # the example's text is bold
    assert in_text.render("Stocks", color_system=ColorSystem.STANDARD) in text
    assert "highlighted: what made an LF vote" in text
    assert business.render(" Business ", color_system=ColorSystem.STANDARD) in text


def test_without_colour_the_lf_words_are_underlined_and_no_swatch_legend_is_drawn(
    news_workspace: Workspace,
) -> None:
    # Trial 61b: with NO_COLOR the highlighted words were the text's own bold, and the
    # legend's swatches matched nothing.
    apply_lfs(news_workspace, [keyword_lf("kw_stocks", ["stocks"], "Business")])
    console = Console(
        file=io.StringIO(), width=120, force_terminal=True, color_system="standard", no_color=True
    )
    text = run(ReviewQueue(news_workspace), "sq", console=console)
    underlined = Style.parse("bold underline")
    assert underlined.render("Stocks", color_system=ColorSystem.STANDARD) in text
    assert "underlined: what made an LF vote" in text
    assert "highlighted:" not in text


def test_control_characters_in_a_text_never_reach_the_terminal(news_workspace: Workspace) -> None:
    nasty = "buy now\x1b[2J\x1b[H\x1b[8mhidden\x1b[0m\x1b]0;owned\x07 \x9b31m\rdone"
    news_workspace.con.execute(
        "INSERT INTO examples VALUES ('x1', ?, NULL, 'train', NULL, 0)", [nasty]
    )
    news_workspace.con.execute(
        "INSERT INTO queue VALUES ('x1', 5, 'cleanlab', 'World', 'Business', 0, '')"
    )
    text = run(ReviewQueue(news_workspace), "q")
    assert not any(c in text for c in "\x1b\x07\x9b\r")
    assert "buy now␛[2J␛[H␛[8mhidden␛[0m␛]0;owned␇ �31m␍done" in text
    stored_text = news_workspace.sql("SELECT text FROM examples WHERE id = 'x1'")["text"][0]
    assert stored_text == nasty, "only the display is escaped"


def test_a_texts_other_fields_show_under_its_votes_cut_and_escaped(
    news_workspace: Workspace,
) -> None:
    # Trial 58f: a field LF's vote showed, never the priority or amount it read.
    fields = {"priority": 2, "tags": ["vip"], "route": "abuse\x1b[2J", "note": "x" * 500}
    news_workspace.con.execute(
        "INSERT INTO examples VALUES ('x1', 'refund please', NULL, 'train', ?, 0)",
        [json.dumps(fields)],
    )
    news_workspace.con.execute(
        "INSERT INTO queue VALUES ('x1', 5, 'cleanlab', 'World', 'Business', 0, '')"
    )
    item = ReviewQueue(news_workspace).next(reviewer="ana")
    assert item is not None and item.example_id == "x1"
    assert item.fields == {
        "priority": "2",
        "tags": '["vip"]',
        "route": "abuse\x1b[2J",
        "note": "x" * 200 + "…",
    }
    text = " ".join(
        run(
            ReviewQueue(news_workspace), "q", console=Console(file=io.StringIO(), width=1000)
        ).split()
    )
    assert 'fields priority 2 · tags ["vip"] · route abuse␛[2J · note xxx' in text
    assert "x" * 201 not in text


def stored_by_attribute(ws: Workspace) -> list[tuple]:
    return ws.sql(
        "SELECT example_id, attribute, action, label FROM decisions ORDER BY decision_id"
    ).rows()


def test_an_aspects_task_is_reviewed_one_attribute_at_a_time_the_arrow_switching(
    aspects_workspace: Workspace,
) -> None:
    console = Console(file=io.StringIO(), width=160)
    text = run(ReviewQueue(aspects_workspace), ["a", "u", "a", RIGHT, "4", "q"], console=console)
    # The pass starts with staff, the attribute with the most items to ask.
    assert "Is staff negative? (currently none)" in text
    assert "staff: 0 reviewed · 3 remaining · 0 corrected" in text
    assert "food 0/2 · staff 0/3 · price 0/1" in text
    assert "[a/y] yes, negative   [r/n] no, another label   [1] positive" in text
    assert "[4] none" in text and "[→] next: price" in text
    assert "undid your answer on r1" in text
    assert "Is price negative? (currently none)" in text
    # price has nothing left: the pass moves on to food by itself.
    assert "Nothing left to ask about price; now food." in text
    assert "Is food positive? (currently none)" in text
    assert "food 0/2 · staff 1/3 · price 1/1" in text
    assert stored_by_attribute(aspects_workspace) == [
        ("r1", "staff", "accept", "negative"),
        ("r1", "staff", "undo", None),
        ("r1", "staff", "accept", "negative"),
        ("r3", "price", "label", "none"),
    ]


def test_undo_after_switching_attribute_takes_back_the_answer_before(
    aspects_workspace: Workspace,
) -> None:
    # Trial 55b: u after the arrow said "nothing to undo" about the answer just given.
    console = Console(file=io.StringIO(), width=160)
    text = run(ReviewQueue(aspects_workspace), ["a", RIGHT, "u", "q"], console=console)
    assert "undid your answer on r1, on staff" in text
    assert text.rindex("Is staff negative? (currently none)") > text.index("undid")
    assert stored_by_attribute(aspects_workspace) == [
        ("r1", "staff", "accept", "negative"),
        ("r1", "staff", "undo", None),
    ]


def test_the_attribute_option_starts_the_pass_there(aspects_workspace: Workspace) -> None:
    text = run(ReviewQueue(aspects_workspace), "r" + "q", attribute="food")
    assert "Is food positive? (currently none)" in text
    assert "food: 0 reviewed · 2 remaining" in text
    assert stored_by_attribute(aspects_workspace) == [("r1", "food", "ruled_out", "positive")]


def test_a_multilabel_task_asks_is_this_label_yes_or_no(topics_workspace: Workspace) -> None:
    text = run(ReviewQueue(topics_workspace), "aq")
    assert "Is this sports? (currently yes)" in text
    assert "[a/y] yes, sports   [r/n] no, not sports   [1] yes   [2] no" in text
    assert stored_by_attribute(topics_workspace) == [("t1", "sports", "accept", "yes")]


def test_a_missing_tag_is_added_by_asking_for_it(topics_workspace: Workspace) -> None:
    # Trial 55b: `review --example r0010 --attribute performance` refused a tag nothing
    # had flagged, so a missing tag could not be added.
    text = run(ReviewQueue(topics_workspace), "a", example="t2", attribute="politics")
    assert "Is this politics? (no label yet)" in text
    assert stored_by_attribute(topics_workspace) == [("t2", "politics", "accept", "yes")]


def test_y_and_n_answer_yes_and_no_on_a_whole_text_as_on_a_span(
    topics_workspace: Workspace,
) -> None:
    # Trial 49a: on "Is this sports?" n moved to the next label without a word, and a
    # piped "yes" read as y (unknown), e, s (a skip). y and n are yes and no now, as in
    # span review and on the suggestions page.
    text = run(ReviewQueue(topics_workspace), "nuyq")
    assert "unknown key" not in text
    assert stored_by_attribute(topics_workspace) == [
        ("t1", "sports", "reject", "no"),
        ("t1", "sports", "undo", None),
        ("t1", "sports", "accept", "yes"),
    ]


def test_the_review_command_takes_an_attribute(aspects_file: Path) -> None:
    command = [sys.executable, "-m", "labelkit", "review", str(aspects_file), "--reviewer", "ana"]
    unknown = subprocess.run(
        [*command, "--attribute", "decor"], capture_output=True, text=True, timeout=120
    )
    assert unknown.returncode == 1
    assert (
        "unknown attribute 'decor'; this task's attributes are" in unknown.stdout + unknown.stderr
    )
    food = subprocess.run(
        [*command, "--attribute", "food"], input="aq", capture_output=True, text=True, timeout=120
    )
    assert food.returncode == 0, food.stderr
    assert "Is food positive? (currently none)" in food.stdout
    with Workspace(aspects_file, read_only=True) as ws:
        assert stored_by_attribute(ws) == [("r1", "food", "accept", "positive")]
    # Trial 55c: only the review screen showed how far each attribute had come.
    stats = subprocess.run(
        [sys.executable, "-m", "labelkit", "review-stats", str(aspects_file)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert stats.returncode == 0, stats.stderr
    rows = {line.split("│")[1].strip(): line for line in stats.stdout.splitlines() if "│" in line}
    assert [cell.strip() for cell in rows["food"].split("│")[2:7]] == ["2", "1", "0", "1", "1"]
    assert [cell.strip() for cell in rows["price"].split("│")[2:7]] == ["1", "0", "0", "1", "0"]


def test_an_attribute_the_task_lacks_is_refused_before_any_screen(
    queue: ReviewQueue,  # noqa: F811
) -> None:
    with pytest.raises(
        InputError, match="unknown attribute 'food': a classification task has no attributes"
    ):
        run(queue, "aq", attribute="food")
    assert stored(queue.workspace) == []


LEFT, RIGHT = "\x1b[D", "\x1b[C"


def run_spans(ws: Workspace, pressed: list[str], **options: object) -> str:
    out = io.StringIO()
    left = iter(pressed)
    review_in_terminal(
        ReviewQueue(ws),
        reviewer="ana",
        console=Console(file=out, width=200),
        read_key=lambda: next(left, ""),
        **options,  # type: ignore[arg-type]
    )
    return out.getvalue()


def test_spans_are_reviewed_one_at_a_time_with_keys_for_bounds_and_missed_spans(
    spans_workspace: Workspace,
) -> None:
    text = run_spans(
        spans_workspace,
        # battery: end a word right, then Enter (a boundary fix); Dell: y, undo, z (no
        # key), y; keyboard: 2; screen: a missed span by cursor (two words left, m, one
        # right, m, 2), then n.
        [".", "\r", "y", "u", "z", "y", "2", LEFT, LEFT, "m", RIGHT, "m", "2", "n"],
    )
    assert 'Is "battery" TERM? (the current label)' in text
    assert "[a/y] yes, TERM   [r/n/x] no, not an entity   [1] TERM   [2] BRAND   [3] none" in text
    assert 'New bounds: "battery life". Enter saves TERM.' in text
    assert "[Enter/a/y] save TERM" in text
    assert 'Is "Dell" BRAND? (currently TERM)' in text
    assert 'Missed span: "not the". Enter saves TERM.' in text
    assert "undid your answer on s3" in text
    assert "unknown key 'z'" in text
    assert "The queue is empty" in text
    assert "reviewed 4 of 4 spans, 4 corrected" in text
    dell = bounds("s3", "Dell")
    assert stored_by_attribute(spans_workspace) == [
        ("s1", bounds("s1", "battery"), "fix", "none"),
        ("s1", bounds("s1", "battery life"), "fix", "TERM"),
        ("s3", dell, "accept", "BRAND"),
        ("s3", dell, "undo", None),
        ("s3", dell, "accept", "BRAND"),
        ("s2", bounds("s2", "keyboard"), "label", "BRAND"),
        ("s1", bounds("s1", "not the"), "missed", "BRAND"),
        ("s1", bounds("s1", "screen"), "reject", "none"),
    ]


def test_a_missed_span_drawn_on_a_span_already_there_keeps_its_type(
    spans_workspace: Workspace,
) -> None:
    # Trial 68d: on a span of another type, Enter stored the reviewed span's type.
    # battery: y; Dell (asked as BRAND): the cursor to "screen" (TERM), m, m, Enter.
    text = run_spans(spans_workspace, ["y", RIGHT, "m", "m", "\r", "q"])
    assert 'Is "Dell" BRAND? (currently TERM)' in text
    assert 'Already a span (TERM): "screen". Enter saves TERM.' in text
    assert stored_by_attribute(spans_workspace)[-1] == (
        "s3",
        bounds("s3", "screen"),
        "missed",
        "TERM",
    )


def test_a_yes_during_a_selection_saves_it_and_a_no_waits_for_a_pending_edit(
    spans_workspace: Workspace,
) -> None:
    # Trial 32: m, a move, then a dropped the selection and accepted the span under
    # review; r with new bounds pending dropped them and rejected the span.
    text = run_spans(
        spans_workspace,
        # battery: m, one word right, a (saves "battery life" as missed, which replaces
        # "battery": trial 65b); Dell: end a word right, r (refused), Esc, r (a no).
        ["m", RIGHT, "a", ".", "r", "\x1b", "r", "q"],
    )
    assert "[Enter/a/y] save TERM" in text
    assert "Enter saves the new bounds, Esc cancels them; then r says no to the span." in text
    assert stored_by_attribute(spans_workspace) == [
        ("s1", bounds("s1", "battery life"), "missed", "TERM"),
        ("s3", bounds("s3", "Dell"), "reject", "none"),
    ]


def test_a_span_with_no_type_to_ask_about_is_answered_by_a_type_or_a_no(
    spans_workspace: Workspace,
) -> None:
    # Trial 56a: a span an LLM alone marked, given and suggested none, raised KeyError
    # before it was shown, on every start of the review after.
    spans_workspace.con.execute(
        "UPDATE queue SET given_label = 'none', suggested_label = 'none' "
        "WHERE example_id IN ('s1', 's3')"
    )
    text = run_spans(spans_workspace, ["a", "r", "2", "q"])
    assert '"battery": TERM, BRAND or none? (currently none)' in text
    assert "[r/n/x] no, not an entity   [1] TERM   [2] BRAND   [3] none" in text
    assert "[a/y]" not in text.split('"Dell"')[0]
    assert "unknown key 'a'" in text
    assert stored_by_attribute(spans_workspace)[:2] == [
        ("s1", bounds("s1", "battery"), "reject", "none"),
        ("s3", bounds("s3", "Dell"), "label", "BRAND"),
    ]


def test_a_span_item_names_the_other_spans_by_their_words_when_piped(
    spans_workspace: Workspace,
) -> None:
    # Without colour the highlights are gone: the other spans must still be readable.
    text = run_spans(spans_workspace, ["q"])
    assert 'Is "battery" TERM? (the current label)' in text
    assert 'other spans: "screen" TERM' in text


def test_a_span_item_names_only_the_other_spans_nearest_it(spans_workspace: Workspace) -> None:
    # Trial 62d: a report's 340 other spans filled each screen, the passage scrolled away.
    text = spans_workspace.sql("SELECT text FROM examples WHERE id = 's1'")["text"][0]
    longer = text + " and a screen" * 15
    spans_workspace.con.execute("UPDATE examples SET text = ? WHERE id = 's1'", [longer])
    for at in [m.start() for m in re.finditer("screen", longer)][1:]:
        spans_workspace.con.execute(
            "INSERT INTO span_predictions VALUES ('s1', ?, ?, 'TERM', 0.7, 'test', 1)",
            [at, at + 6],
        )
    shown = " ".join(run_spans(spans_workspace, ["q"]).split())
    named = shown.split("other spans: ")[1].split(" more further off")[0]
    assert named.count('"screen" TERM') == 10
    assert named.endswith("· and 6")


def test_a_span_item_shows_its_text_exactly_with_the_span_under_review_highlighted(
    spans_workspace: Workspace,
) -> None:
    console = Console(file=io.StringIO(), width=120, force_terminal=True, color_system="standard")
    keys_left = iter(["q"])
    review_in_terminal(
        ReviewQueue(spans_workspace),
        reviewer="ana",
        console=console,
        read_key=lambda: next(keys_left),
    )
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    review = Style.parse("bold reverse underline")  # the span, its first token the cursor
    assert review.render("battery", color_system=ColorSystem.STANDARD) in shown
    term = Style.parse(HIGHLIGHTS[0])
    assert term.render("screen", color_system=ColorSystem.STANDARD) in shown
    with pytest.raises(InputError, match="one span after another"):
        review_in_terminal(ReviewQueue(spans_workspace), reviewer="ana", attribute="food")


def test_a_dumb_terminal_names_the_span_under_review_and_the_cursor_in_words(
    spans_workspace: Workspace,
) -> None:
    # Trial 61b: with TERM=dumb no underline or reverse is drawn, and the keys that move
    # a bound or mark a missed span start from the cursor nobody could see.
    console = Console(file=io.StringIO(), width=120, force_terminal=True, color_system=None)
    keys_left = iter(["\x1b[C", "q"])  # →, then quit
    review_in_terminal(
        ReviewQueue(spans_workspace),
        reviewer="ana",
        console=console,
        read_key=lambda: next(keys_left),
    )
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert 'under review: "battery" · cursor: "battery"' in shown
    assert 'under review: "battery" · cursor: "life"' in shown
    assert "\x1b[" not in shown.replace("\x1b[2J\x1b[H", "")


def test_the_review_command_reviews_spans_from_piped_keys(spans_file: Path) -> None:
    command = [sys.executable, "-m", "labelkit", "review", str(spans_file), "--reviewer", "ana"]
    # y accepts battery; on Dell, "]" would move the start past its only word: nothing.
    done = subprocess.run(command, input="y]\nxq", capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert 'Is "battery" TERM? (the current label)' in done.stdout
    assert "reviewed 2 of 4 spans, 1 corrected" in done.stdout
    with Workspace(spans_file, read_only=True) as ws:
        assert stored_by_attribute(ws) == [
            ("s1", bounds("s1", "battery"), "accept", "TERM"),
            ("s3", bounds("s3", "Dell"), "reject", "none"),
        ]


def reviewing(path: Path, reviewer: str, *, stderr: int) -> subprocess.Popen[str]:
    """``labelkit review`` running on ``path``, its keys and screens through pipes."""
    return subprocess.Popen(
        [sys.executable, "-m", "labelkit", "review", str(path), "--reviewer", reviewer],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )


def test_ctrl_c_in_the_review_command_says_the_answers_are_kept(review_workspace: Path) -> None:
    # Trial 49b: Ctrl-C said "no step had finished. A step under way keeps nothing",
    # though the answers given were stored.
    process = reviewing(review_workspace, "ana", stderr=subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None
    shown: list[str] = []
    reader = threading.Thread(target=lambda: shown.extend(process.stdout), daemon=True)
    reader.start()
    process.stdin.write("a")
    process.stdin.flush()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any("1 reviewed" in line for line in shown):
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    said = " ".join(stderr.split())
    assert "interrupted: every answer was stored as it was given; reviewed 1 of 12" in said
    assert "no step had finished" not in said and "Traceback" not in said
    with Workspace(review_workspace, read_only=True) as ws:
        assert ws.sql("SELECT example_id, action FROM decisions").rows() == [("w01", "accept")]


def test_a_second_reviewer_in_the_terminal_is_told_who_holds_the_file_and_of_serve(
    review_workspace: Path,
) -> None:
    # Trial 49b: the second reviewer read "another process (pid 24863, /root/.pyenv/...
    # python3.11)", and nothing of `labelkit serve`, which takes several reviewers.
    first = reviewing(review_workspace, "ana", stderr=subprocess.DEVNULL)
    command = [sys.executable, "-m", "labelkit", "review", str(review_workspace)]
    try:
        assert first.stdout is not None
        first.stdout.readline()  # the first screen: it holds the file
        second = subprocess.run(
            [*command, "--reviewer", "bo"], capture_output=True, text=True, timeout=120
        )
    finally:
        first.kill()
        first.wait()
    said = " ".join(second.stderr.split())
    assert second.returncode == 75, said
    # The subcommand only: another's options may hold a secret (--api-key, --token).
    held = f"is open in `labelkit review` (pid {first.pid})"
    assert held in said and "--reviewer" not in said
    assert "one of you runs `labelkit serve` and the others open its page" in said


def review_in_a_terminal(
    workspace: Path, env: dict[str, str] | None = None, **popen: Any
) -> tuple[int, subprocess.Popen[bytes]]:
    """``labelkit review`` by ana in a pseudo-terminal of 100 x 40 (or as ``env`` says):
    the terminal's end to read and type on, and the process."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "labelkit", "review", str(workspace), "--reviewer", "ana"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env or {**os.environ, "COLUMNS": "100", "LINES": "40"},
        **popen,
    )
    os.close(follower)
    return leader, process


class Screen:
    """What a process wrote to its pseudo-terminal since the last key typed."""

    def __init__(self, leader: int) -> None:
        self.leader, self.text = leader, b""

    def read_until(self, wanted: bytes, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while wanted not in self.text and time.monotonic() < deadline:
            if select.select([self.leader], [], [], 0.5)[0]:
                self.text += os.read(self.leader, 65536)
        assert wanted in self.text, self.text[-500:]

    def press(self, keys: bytes, wait: float = 1.0) -> None:
        time.sleep(wait)
        self.text = b""
        os.write(self.leader, keys)

    def frame_widths(self) -> set[int]:
        """The widths of the screen's frame: its top lines, colours taken off."""
        plain = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", self.text).decode()
        return {len(line.rstrip("\r")) for line in plain.split("\n") if line.startswith("╭")}


def stopped(pid: int) -> bool:
    """Whether the process is stopped (Ctrl-Z), by the state /proc gives it."""
    return Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0] == "T"


def test_ctrl_z_hands_the_terminal_back_and_fg_takes_it_again(review_workspace: Path) -> None:
    # Trial 60a: after Ctrl-Z and fg the terminal stayed in line mode, nothing was
    # drawn, and "aa" then Enter answered an item that had never been on screen.
    # Its own process group, as a shell's job has, so that SIGTSTP stops it.
    leader, process = review_in_a_terminal(review_workspace, process_group=0)
    screen = Screen(leader)
    try:
        screen.read_until(b"w01")
        process.send_signal(signal.SIGTSTP)
        deadline = time.monotonic() + 20
        while not stopped(process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stopped(process.pid)
        # The shell's line mode is back: typed now, "aa" is echoed and waits for an Enter.
        screen.press(b"aa", wait=0.2)
        screen.read_until(b"aa", seconds=30)
        process.send_signal(signal.SIGCONT)
        screen.read_until(b"w01", seconds=30)  # drawn again
        screen.press(b"s")
        screen.read_until(b"w02")
        screen.press(b"q")
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
        os.close(leader)
    with Workspace(review_workspace, read_only=True) as ws:
        stored = ws.sql("SELECT example_id, action FROM decisions ORDER BY decision_id").rows()
    assert stored == [("w01", "skip")]


def test_a_dumb_terminal_is_drawn_at_its_width_and_again_when_resized(
    review_workspace: Path,
) -> None:
    # Trial 60a: with TERM=dumb and no COLUMNS (Emacs' shell, SSH) rich drew 80
    # columns in a window of 60, and a resized window was drawn anew only at a key.
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    leader, process = review_in_a_terminal(review_workspace, {**env, "TERM": "dumb"})
    screen = Screen(leader)
    try:
        fcntl.ioctl(leader, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 60, 0, 0))
        screen.read_until(b"w01")
        assert screen.frame_widths() == {60}
        screen.text = b""
        fcntl.ioctl(leader, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 90, 0, 0))
        process.send_signal(signal.SIGWINCH)
        screen.read_until(b"w01", seconds=30)
        assert screen.frame_widths() == {90}
        screen.press(b"q")
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
        os.close(leader)


def test_keys_that_reach_a_terminal_together_are_each_a_key(review_workspace: Path) -> None:
    # Trial 49b: in a real terminal "as" typed fast arrived in one read, was one
    # unknown key "as", and nothing was stored.
    leader, process = review_in_a_terminal(review_workspace)
    screen = b""

    def read_until(text: bytes) -> None:
        nonlocal screen
        deadline = time.monotonic() + 120
        while text not in screen and time.monotonic() < deadline:
            if select.select([leader], [], [], 0.5)[0]:
                screen += os.read(leader, 65536)
        assert text in screen, screen[-500:]

    def press(keys: bytes, wait: float = 1.0) -> None:
        nonlocal screen
        time.sleep(wait)
        screen = b""
        os.write(leader, keys)

    read_until(b"w01")
    # A special key's sequence is one key, unknown here: taken apart, Shift-Up's
    # digits and letters stored three answers (the second read of this fix).
    for special in (b"\x1b[1;2A", b"\x1b[1;5C", b"\x1b[3~"):
        press(special)
        read_until(b"unknown key")
    press(b"as")
    read_until(b"2 reviewed")
    # Trial 50d: a key typed while the next screen was drawn was flushed when the
    # terminal went raw for the next read: "s" then "q" stored the skip, lost the quit.
    press(b"s")
    press(b"q", wait=0.05)
    read_until(b"reviewed 3 of 12")
    assert process.wait(timeout=60) == 0
    os.close(leader)
    with Workspace(review_workspace, read_only=True) as ws:
        stored = ws.sql("SELECT example_id, action FROM decisions ORDER BY decision_id").rows()
    assert stored == [("w01", "accept"), ("w02", "skip"), ("w03", "skip")]


def test_an_interrupt_ends_a_review_waiting_for_a_key(review_workspace: Path) -> None:
    # Trial 58b: Ctrl-C (and kill -INT) ended the review only at the next key press,
    # the workspace held meanwhile: another thread had taken the signal.
    leader, process = review_in_a_terminal(review_workspace)
    screen = b""
    deadline = time.monotonic() + 120
    while b"w01" not in screen and time.monotonic() < deadline:
        if select.select([leader], [], [], 0.5)[0]:
            screen += os.read(leader, 65536)
    assert b"w01" in screen, screen[-500:]
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    try:
        status = process.wait(timeout=20)
    finally:
        process.kill()
    while select.select([leader], [], [], 0.5)[0]:
        try:
            screen += os.read(leader, 65536)
        except OSError:
            break
    os.close(leader)
    assert status == 130
    assert b"interrupted" in screen


def test_piped_arrow_keys_are_one_key_each(monkeypatch: pytest.MonkeyPatch) -> None:
    # Trial 48a: a piped arrow key was read as escape, '[' (a bound key) and a letter.
    from labelkit.review.terminal import read_key

    monkeypatch.setattr(sys, "stdin", io.StringIO("\x1b[Da\x1b[q\x1b\x1b[C\x1b"))
    keys = [read_key() for _ in range(9)]
    assert keys == ["\x1b[D", "a", "\x1b", "[", "q", "\x1b", "\x1b[C", "\x1b", ""]


def test_a_review_with_its_input_closed_says_so(review_workspace: Path) -> None:
    # Trial 60e: `labelkit review ws --reviewer z <&-` ended in an AttributeError.
    done = labelkit_with_stdin_closed("review", str(review_workspace), "--reviewer", "z")
    assert done.returncode != 0
    assert "review reads its keys from standard input, which is closed" in done.stderr
    assert "Traceback" not in done.stderr
