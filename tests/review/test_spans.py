"""Reviewing a spans task: one span of a text per item, decisions on span bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from labelkit import InputError, ReviewQueue, Workspace, simulate_review
from labelkit.review.queue import current_spans
from labelkit.review.spans import move_bound, snap, word_tokens
from labelkit.spans import Span
from tests.review.conftest import SPAN_TEXT_OF, SPAN_TEXTS, at, bounds, write_spans


def decisions(ws: Workspace) -> list[tuple]:
    return ws.sql(
        "SELECT example_id, attribute, action, label, undoes FROM decisions ORDER BY decision_id"
    ).rows()


def spans_of(ws: Workspace, example_id: str) -> list[tuple[str, str, str]]:
    """The current spans of a text as (words, type, origin)."""
    text = SPAN_TEXT_OF[example_id]
    return [
        (text[start:end], label, origin)
        for _, start, end, label, origin in current_spans(ws, example_id).rows()
    ]


def test_an_item_is_one_span_with_its_text_other_spans_tokens_and_votes(
    spans_workspace: Workspace,
) -> None:
    queue = ReviewQueue(spans_workspace)
    item = queue.next(reviewer="ana")
    assert item is not None
    assert (item.example_id, item.attribute, item.bounds) == ("s1", "10:17", at("s1", "battery"))
    assert item.text[10:17] == "battery", "code-point offsets past two emoji"
    assert item.question == 'Is "battery" TERM? (the current label)'
    assert item.yes_no() == {"a": "yes, TERM", "r": "no, not an entity"}
    assert item.choices == ("TERM", "BRAND", "none")
    assert item.spans == (Span(*at("s1", "screen"), "TERM"),), "the span under review left out"
    assert [item.text[s:e] for s, e in item.tokens][4:8] == ["💻", "battery", "life", ","]
    assert item.votes == {"phrases": 'TERM, TERM on "battery life"'}
    dell = queue.next(reviewer="bo")
    assert dell is not None
    assert dell.question == 'Is "Dell" BRAND? (currently TERM)'
    assert queue.attributes == () and queue.answers() == ("TERM", "BRAND", "none")


def test_a_word_that_occurs_twice_is_asked_about_by_its_place(tmp_path: Path) -> None:
    # Trial 32: the two "aspirin" of one abstract were the same question twice.
    texts = [(i, f"{t}, battery" if i == "s1" else t) for i, t in SPAN_TEXTS]
    with Workspace(write_spans(tmp_path / "twice.duckdb", texts)) as ws:
        item = ReviewQueue(ws).next(reviewer="ana")
    assert item is not None and item.question == 'Is "battery" (1 of 2) TERM? (the current label)'


def test_a_fixed_boundary_is_an_error_found_where_the_label_model_had_no_span(
    spans_workspace: Workspace,
) -> None:
    # Trial 32: a span the flag proposed (the label model's answer on its bounds: none)
    # with its bounds fixed counted as no error.
    spans_workspace.con.execute(
        "UPDATE queue SET given_label = 'none' WHERE attribute = ?", [bounds("s1", "battery")]
    )
    queue = ReviewQueue(spans_workspace)
    queue.fix_span("s1", bounds("s1", "battery"), *at("s1", "battery life"), reviewer="ana")
    assert queue.stats()["errors_found"] == 1
    assert queue.progress()["corrected"] == 1


def test_accept_reject_and_relabel_are_decisions_on_the_span_bounds(
    spans_workspace: Workspace,
) -> None:
    queue = ReviewQueue(spans_workspace)
    queue.answer("s3", "accept", reviewer="ana", attribute=bounds("s3", "Dell"))
    queue.answer("s2", "label", label="BRAND", reviewer="ana", attribute=bounds("s2", "keyboard"))
    queue.answer("s1", "reject", label="TERM", reviewer="ana", attribute=bounds("s1", "screen"))
    assert decisions(spans_workspace) == [
        ("s3", bounds("s3", "Dell"), "accept", "BRAND", None),
        ("s2", bounds("s2", "keyboard"), "label", "BRAND", None),
        ("s1", bounds("s1", "screen"), "reject", "none", None),
    ]
    assert spans_of(spans_workspace, "s3") == [
        ("Dell", "BRAND", "review"),
        ("screen", "TERM", "model"),
    ]
    assert spans_of(spans_workspace, "s1") == [("battery", "TERM", "model")]
    assert queue.stats()["errors_found"] == 3
    assert queue.progress() == {
        "queued": 4,
        "reviewed": 3,
        "skipped": 0,
        "remaining": 1,
        "corrected": 3,
    }
    with pytest.raises(InputError, match="now asks about 'BRAND', not 'TERM'"):
        queue.answer("s3", "accept", label="TERM", reviewer="bo", attribute=bounds("s3", "Dell"))


def test_a_boundary_fix_is_none_on_the_old_bounds_and_the_type_on_the_new_undone_whole(
    spans_workspace: Workspace,
) -> None:
    queue = ReviewQueue(spans_workspace)
    assert queue.next(reviewer="ana").attribute == bounds("s1", "battery")  # type: ignore[union-attr]
    start, end = at("s1", "battery life")
    # Mid-word bounds snap outward to the tokens they touch.
    queue.fix_span("s1", bounds("s1", "battery"), start + 2, end - 1, reviewer="ana")
    assert decisions(spans_workspace) == [
        ("s1", bounds("s1", "battery"), "fix", "none", None),
        ("s1", bounds("s1", "battery life"), "fix", "TERM", None),
    ]
    assert spans_of(spans_workspace, "s1") == [
        ("battery life", "TERM", "review"),
        ("screen", "TERM", "model"),
    ]
    assert queue.next(reviewer="ana").example_id == "s3"  # type: ignore[union-attr]
    assert queue.stats()["errors_found"] == 1
    # One fix is one answer, one correction per reviewer too (the second read: its
    # two decisions counted twice, the second at 0 s).
    assert queue.by_reviewer().select("reviewer", "answered", "corrected").rows() == [("ana", 1, 1)]
    assert queue.undo(reviewer="ana") == "s1"
    assert decisions(spans_workspace)[2:] == [
        ("s1", bounds("s1", "battery life"), "undo", None, 2),
        ("s1", bounds("s1", "battery"), "undo", None, 1),
    ]
    assert queue.next(reviewer="ana").attribute == bounds("s1", "battery"), "back on the item"  # type: ignore[union-attr]
    assert spans_of(spans_workspace, "s1") == [
        ("battery", "TERM", "model"),
        ("screen", "TERM", "model"),
    ]
    queue.fix_span(
        "s3", bounds("s3", "Dell"), *at("s3", "Dell screen"), label="BRAND", reviewer="ana"
    )
    assert spans_of(spans_workspace, "s3") == [("Dell screen", "BRAND", "review")]


def test_a_queued_span_a_decided_span_replaced_is_no_longer_asked(
    spans_workspace: Workspace,
) -> None:
    # Trial 65b: after "battery" was fixed to "battery life", a second item on "life"
    # still came up as "the current label"; accepted, it put two overlapping spans in
    # the cleaned set, and train kept the longer, wrong one.
    life = bounds("s1", "life")
    spans_workspace.con.execute(
        "INSERT INTO queue VALUES ('s1', 0.01, 'boundaries disagree', 'TERM', 'TERM', 0, ?)",
        [life],
    )
    queue = ReviewQueue(spans_workspace)
    queued = queue.progress()["remaining"]
    assert ("s1", life) in queue.pending().select("example_id", "attribute").rows()
    queue.fix_span("s1", bounds("s1", "battery"), *at("s1", "battery life"), reviewer="ana")
    pending = queue.pending().select("example_id", "attribute").rows()
    assert ("s1", life) not in pending and len(pending) == queued - 2
    assert queue.progress()["remaining"] == queued - 2
    # A reviewer who held it before the fix cannot put a second span beside it.
    with pytest.raises(InputError, match=r"a decision gave a type to a span overlapping"):
        queue.answer("s1", "accept", reviewer="bo", attribute=life)
    while (item := queue.next(reviewer="bo")) is not None:
        assert (item.example_id, item.attribute) != ("s1", life)
        queue.answer(item.example_id, "skip", reviewer="bo", attribute=item.attribute)
    # An undone fix brings the item back, and a "none" replaces nothing.
    queue.undo(reviewer="ana")
    assert ("s1", life) in queue.pending().select("example_id", "attribute").rows()
    queue.answer("s1", "reject", reviewer="ana", attribute=bounds("s1", "battery"))
    assert ("s1", life) in queue.pending().select("example_id", "attribute").rows()


def test_a_second_fix_of_a_span_replaces_the_first(spans_workspace: Workspace) -> None:
    # Trial 45: the page's fix sent twice for one span (new bounds, then others) kept
    # both fixes' spans, and the export trained on the two.
    queue = ReviewQueue(spans_workspace)
    battery = bounds("s1", "battery")
    queue.fix_span("s1", battery, *at("s1", "battery life"), reviewer="ana")
    queue.fix_span("s1", battery, *at("s1", "life"), reviewer="bo")
    assert spans_of(spans_workspace, "s1") == [
        ("life", "TERM", "review"),
        ("screen", "TERM", "model"),
    ]
    assert queue.progress()["reviewed"] == 1
    queue.fix_span("s1", battery, *at("s1", "life"), reviewer="bo")
    assert spans_of(spans_workspace, "s1") == [
        ("life", "TERM", "review"),
        ("screen", "TERM", "model"),
    ]
    # Undone, the latest fix leaves the span as the queue gave it, not the first fix.
    assert queue.undo(reviewer="bo") == "s1"
    assert spans_of(spans_workspace, "s1") == [
        ("battery", "TERM", "model"),
        ("screen", "TERM", "model"),
    ]
    # Answered by the bounds a fix gave it, the span's item is named by its own.
    queue.fix_span("s1", battery, *at("s1", "battery life"), reviewer="bo")
    with pytest.raises(InputError, match=rf"for '{bounds('s1', 'battery life')}'; it is queued"):
        queue.answer("s1", "accept", reviewer="bo", attribute=bounds("s1", "battery life"))


def test_a_missed_span_is_the_type_on_new_bounds_and_the_item_stays(
    spans_workspace: Workspace,
) -> None:
    queue = ReviewQueue(spans_workspace)
    item = queue.next(reviewer="ana")
    assert item is not None and item.example_id == "s1"
    start, end = at("s1", "life")
    queue.mark_span("s1", start, end, "TERM", reviewer="ana", comment="its own term")
    again = queue.next(reviewer="ana")
    assert again is not None and again.attribute == item.attribute
    assert Span(start, end, "TERM") in again.spans
    assert queue.progress()["reviewed"] == 0
    assert queue.by_reviewer().height == 0, "a missed span is no answer to a queued item"
    # Undoing it leaves ana on the item she holds.
    assert queue.undo(reviewer="ana") == "s1"
    assert queue.next(reviewer="bo").example_id == "s3"  # type: ignore[union-attr]
    assert decisions(spans_workspace) == [
        ("s1", f"{start}:{end}", "missed", "TERM", None),
        ("s1", f"{start}:{end}", "undo", None, 1),
    ]
    assert ("life", "TERM", "review") not in spans_of(spans_workspace, "s1")


def test_current_spans_apply_decisions_over_the_label_models_spans(
    spans_workspace: Workspace,
) -> None:
    queue = ReviewQueue(spans_workspace)
    # A type on bounds overlapping two predicted spans replaces both; two decided spans
    # that overlap are both kept; none removes only the exact span.
    queue.mark_span("s3", *at("s3", "Dell screen"), "TERM", reviewer="ana")
    queue.mark_span("s3", *at("s3", "Dell"), "BRAND", reviewer="ana")
    queue.mark_span("s2", *at("s2", "keyboard is"), "TERM", reviewer="ana")
    queue.answer("s1", "reject", reviewer="ana", attribute=bounds("s1", "screen"))
    assert spans_of(spans_workspace, "s3") == [
        ("Dell", "BRAND", "review"),
        ("Dell screen", "TERM", "review"),
    ]
    assert spans_of(spans_workspace, "s2") == [("keyboard is", "TERM", "review")]
    assert spans_of(spans_workspace, "s1") == [("battery", "TERM", "model")]
    everything = current_spans(spans_workspace)
    assert everything["example_id"].to_list() == ["s1", "s2", "s3", "s3"]


def test_bad_span_decisions_are_refused_and_store_nothing(spans_workspace: Workspace) -> None:
    queue = ReviewQueue(spans_workspace)
    battery = bounds("s1", "battery")
    with pytest.raises(InputError, match="new bounds 10:17 are the span's own"):
        queue.fix_span("s1", battery, 11, 15, reviewer="ana")
    with pytest.raises(InputError, match=r"span \[30, 99\) ends at 99, after the text \(38 char"):
        queue.fix_span("s1", battery, 30, 99, reviewer="ana")
    # Trial 32: bounds given end first were said to lie outside the text. Trial 47: in
    # the words every other span check uses (spans.misplaced).
    with pytest.raises(InputError, match=r"span \[17, 10\) is backwards: it ends \(10\) before"):
        queue.mark_span("s1", 17, 10, "TERM", reviewer="ana")
    with pytest.raises(InputError, match=r"span \[17, 17\) is empty: it starts and ends at 17"):
        queue.mark_span("s1", 17, 17, "TERM", reviewer="ana")
    with pytest.raises(InputError, match=r"span \[17, 18\) covers no word"):
        queue.mark_span("s1", 17, 18, "TERM", reviewer="ana")
    with pytest.raises(InputError, match=r"type 'PART' is not one of \['TERM', 'BRAND'\]"):
        queue.mark_span("s1", 0, 1, "PART", reviewer="ana")
    with pytest.raises(InputError, match="type 'none'"):
        queue.fix_span("s1", battery, 0, 1, label="none", reviewer="ana")
    with pytest.raises(InputError, match="'s1' is not in the review queue for '0:1'"):
        queue.fix_span("s1", "0:1", 0, 7, reviewer="ana")
    with pytest.raises(InputError, match="'nope' is not in the review queue"):
        queue.mark_span("nope", 0, 1, "TERM", reviewer="ana")
    with pytest.raises(InputError, match="review label 'O'"):
        queue.answer("s1", "label", label="O", reviewer="ana", attribute=battery)
    assert decisions(spans_workspace) == []
    assert spans_workspace.sql("SELECT count(*) AS n FROM claims")["n"][0] == 0


def test_a_simulated_review_of_spans_answers_from_gold(spans_workspace: Workspace) -> None:
    queue = ReviewQueue(spans_workspace)
    gold = {
        ("s1", bounds("s1", "battery")): "none",
        ("s3", bounds("s3", "Dell")): "BRAND",
        ("s2", bounds("s2", "keyboard")): "TERM",
    }
    assert simulate_review(queue, gold, limit=4, reviewer="gold") == 3
    assert [row[2:4] for row in decisions(spans_workspace)] == [
        ("label", "none"),
        ("accept", "BRAND"),
        ("accept", "TERM"),
    ]


def test_bounds_move_and_snap_over_word_tokens() -> None:
    text = SPAN_TEXT_OF["s2"]
    tokens = word_tokens(text)
    assert [text[s:e] for s, e in tokens] == ["Cafe\u0301", "The", "keyboard", "is", "great"]
    keyboard = at("s2", "keyboard")
    # Over the CRLF, which is no token: "The" follows "Café".
    assert move_bound(tokens, *at("s2", "The"), "start", -1) == (0, 10)
    assert move_bound(tokens, *keyboard, "end", 1) == at("s2", "keyboard is")
    assert move_bound(tokens, *keyboard, "end", -1) == keyboard, "never empty"
    assert move_bound(tokens, *at("s2", "great"), "end", 1) == at("s2", "great")
    assert snap(tokens, 3, 8) == (0, 10)
    assert snap(tokens, 5, 7) is None
