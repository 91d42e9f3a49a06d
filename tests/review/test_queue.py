from __future__ import annotations

import pytest

from labelkit import InputError, ReviewQueue, Workspace, cleaned_labels, simulate_review

QUEUED = [("a1", 0.9, "spam", "ham"), ("a2", 0.8, "spam", "ham"), ("a3", 0.7, "ham", "spam")]


@pytest.fixture
def queue(workspace: Workspace) -> ReviewQueue:
    workspace.con.execute(
        "INSERT INTO predictions SELECT id, 'test', gold, 0.8, [0.5, 0.5], 0 FROM examples"
    )
    for example_id, priority, given, suggested in QUEUED:
        workspace.con.execute(
            "INSERT INTO queue VALUES (?, ?, 'cleanlab', ?, ?, 0)",
            [example_id, priority, given, suggested],
        )
    return ReviewQueue(workspace)


def test_items_come_highest_priority_first_with_their_votes(queue: ReviewQueue) -> None:
    queue.workspace.con.execute("INSERT INTO votes VALUES ('a1', 'kw', 'spam', 0)")
    item = queue.next()
    assert item is not None
    assert (item.example_id, item.given_label, item.suggested_label) == ("a1", "spam", "ham")
    assert item.text == "subscribe to my channel please"
    assert item.votes == {"kw": "spam"}


def test_answers_move_the_queue_and_undo_appends_a_reversal(queue: ReviewQueue) -> None:
    queue.answer("a1", "accept", reviewer="ana", seconds=1.5)
    queue.answer("a2", "label", label="spam", reviewer="ana")
    assert queue.next().example_id == "a3"  # type: ignore[union-attr]
    assert queue.undo(reviewer="ana") == "a2"
    assert queue.next().example_id == "a2"  # type: ignore[union-attr]
    actions = queue.workspace.sql(
        "SELECT action, undoes FROM decisions ORDER BY decision_id"
    ).rows()
    assert actions == [("accept", None), ("label", None), ("undo", 2)]
    assert queue.progress() == {"queued": 3, "reviewed": 1, "remaining": 2, "corrected": 1}


def test_newest_decision_wins_and_reject_means_the_other_label(queue: ReviewQueue) -> None:
    queue.answer("a1", "accept", reviewer="ana")
    queue.answer("a1", "reject", reviewer="bo")
    queue.answer("a3", "ambiguous", reviewer="bo", comment="could be either")
    decisions = {r["example_id"]: r for r in queue.decisions().iter_rows(named=True)}
    assert decisions["a1"]["label"] == "spam" and decisions["a1"]["reviewer"] == "bo"
    cleaned = {r["id"]: r for r in cleaned_labels(queue.workspace).iter_rows(named=True)}
    assert cleaned["a1"]["label"] == "spam" and cleaned["a1"]["origin"] == "review"
    assert "a3" not in cleaned, "ambiguous examples leave the cleaned set"
    assert cleaned["a4"]["origin"] == "label_model"


def test_bad_answers_are_refused(queue: ReviewQueue) -> None:
    with pytest.raises(InputError, match="unknown review action 'maybe'"):
        queue.answer("a1", "maybe", reviewer="ana")
    with pytest.raises(InputError, match="'a6' is not in the review queue"):
        queue.answer("a6", "accept", reviewer="ana")
    with pytest.raises(InputError, match="review label 'eggs'"):
        queue.answer("a1", "label", label="eggs", reviewer="ana")
    assert queue.workspace.sql("SELECT count(*) AS n FROM decisions")["n"][0] == 0


def test_simulated_review_answers_from_known_labels(queue: ReviewQueue) -> None:
    gold = dict(queue.workspace.sql("SELECT id, gold FROM examples").rows())
    assert simulate_review(queue, gold, limit=2, reviewer="gold") == 2
    decisions = queue.decisions().select("example_id", "action", "label").rows()
    # a1 is spam and the suggestion was ham; a2 is spam and the suggestion was ham.
    assert decisions == [("a1", "label", "spam"), ("a2", "label", "spam")]
    assert queue.progress()["corrected"] == 0, "the label model was right on both"
