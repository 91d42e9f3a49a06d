from __future__ import annotations

import io
from collections.abc import Iterator

from rich.console import Console

from labelkit import ReviewQueue, review_in_terminal
from tests.review.test_queue import queue  # noqa: F401 - the fixture


def keys(sequence: str) -> Iterator[str]:
    yield from sequence


def test_keys_answer_undo_and_quit(queue: ReviewQueue) -> None:  # noqa: F811
    pressed = keys("xa2uq")
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
    assert "unknown key 'x'" in text
    assert "subscribe to my channel please" in text
    assert "reviewed 1 of 3" in text


def test_end_of_input_quits_and_an_empty_queue_says_so(queue: ReviewQueue) -> None:  # noqa: F811
    out = io.StringIO()
    review_in_terminal(queue, reviewer="bo", console=Console(file=out), read_key=lambda: "")
    assert queue.workspace.sql("SELECT count(*) AS n FROM decisions")["n"][0] == 0
    pressed = keys("sss")
    review_in_terminal(
        queue, reviewer="bo", console=Console(file=out), read_key=lambda: next(pressed)
    )
    assert "The queue is empty" in out.getvalue()


def test_focus_mode_asks_one_question_and_shows_what_fired(queue: ReviewQueue) -> None:  # noqa: F811
    queue.workspace.con.execute(
        "INSERT INTO sources VALUES ('kw', 'lf', ?, 'h', 0)",
        ['{"kind": "keywords", "labels": ["spam"], "keywords": ["song"], "case_sensitive": false}'],
    )
    queue.workspace.con.execute("INSERT INTO votes VALUES ('a3', 'kw', 'spam', 0)")
    pressed = keys("aq")
    out = io.StringIO()
    review_in_terminal(
        queue,
        reviewer="ana",
        console=Console(file=out, width=100),
        read_key=lambda: next(pressed),
        focus="spam",
    )
    text = out.getvalue()
    assert "Is this spam?" in text and '"song"' in text
    assert queue.decisions().select("example_id", "action", "label").rows() == [
        ("a3", "accept", "spam")
    ]
