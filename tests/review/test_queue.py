from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import polars as pl
import pytest

from labelkit import (
    InputError,
    LabelkitWarning,
    ReviewQueue,
    Workspace,
    cleaned_labels,
    ingest,
    simulate_review,
)
from labelkit.review import ReviewItem
from labelkit.review.queue import reviewer_name
from tests.helpers import review_in_threads

QUEUED = [("a1", 0.9, "spam", "ham"), ("a2", 0.8, "spam", "ham"), ("a3", 0.7, "ham", "spam")]


@pytest.fixture
def queue(workspace: Workspace) -> ReviewQueue:
    workspace.con.execute(
        "INSERT INTO predictions SELECT id, 'test', gold, 0.8, [0.5, 0.5], 0, '' FROM examples"
    )
    for example_id, priority, given, suggested in QUEUED:
        workspace.con.execute(
            "INSERT INTO queue VALUES (?, ?, 'cleanlab', ?, ?, 0, '')",
            [example_id, priority, given, suggested],
        )
    return ReviewQueue(workspace)


def test_items_come_highest_priority_first_with_their_votes(queue: ReviewQueue) -> None:
    queue.workspace.con.execute("INSERT INTO votes VALUES ('a1', 'kw', 'spam', 0, '')")
    item = queue.next()
    assert item is not None
    assert (item.example_id, item.given_label, item.suggested_label) == ("a1", "spam", "ham")
    assert item.text == "subscribe to my channel please"
    assert item.votes == {"kw": "spam"}


def test_a_blank_reviewer_is_refused_and_a_padded_one_stored_stripped(
    queue: ReviewQueue,
) -> None:
    # Trial 25: `--reviewer "  "` stored decisions by nobody.
    with pytest.raises(
        InputError, match="a reviewer needs a name of 1 to 64 characters, none a control"
    ):
        queue.answer("a1", "accept", reviewer="  ")
    with pytest.raises(InputError, match="a reviewer needs a name"):
        queue.next(reviewer="\t")
    # Trial 49b: the terminal stored a name holding an escape sequence, which the page
    # refused; both take the same names now.
    # Trial 54d: "ana" with a zero-width space was a second reviewer who looked the same.
    invisible = ("ana\u200b", "\u200fmal", "\ufeffana\u2060", "an\xada")
    for odd in ("\x1b]0;pwn\x07", "ana\u202e", "a\u2028b", "a" * 65, *invisible):
        with pytest.raises(InputError, match="1 to 64 characters, none a control"):
            queue.next(reviewer=odd)
    # Any script's own spaces and joiners are a name's (the second read of this stop).
    for name in ("山田\u3000太郎", "Jean\xa0Dupont", "\u0645\u06cc\u200c\u0631\u0648\u062f"):
        assert reviewer_name(f" {name} ") == name
    assert queue.workspace.sql("SELECT count(*) AS n FROM decisions")["n"][0] == 0
    queue.answer("a1", "accept", reviewer=" ana ")
    assert queue.workspace.sql("SELECT reviewer FROM decisions")["reviewer"].to_list() == ["ana"]
    # Trial 59f: "José" typed decomposed (macOS) was a second José.
    assert reviewer_name("Jose\u0301") == reviewer_name("Jos\u00e9") == "Jos\u00e9"


def test_answers_move_the_queue_and_undo_appends_a_reversal(queue: ReviewQueue) -> None:
    queue.answer("a1", "accept", reviewer="ana", seconds=1.5)
    queue.answer("a2", "label", label="spam", reviewer="ana")
    assert queue.next().example_id == "a3"  # type: ignore[union-attr]
    assert queue.next(reviewer="ana").example_id == "a3"  # type: ignore[union-attr]
    assert queue.undo(reviewer="ana") == "a2"
    assert queue.next(reviewer="bo").example_id == "a3", "the undone item is ana's again"  # type: ignore[union-attr]
    assert queue.next(reviewer="ana").example_id == "a2"  # type: ignore[union-attr]
    actions = queue.workspace.sql(
        "SELECT action, undoes FROM decisions ORDER BY decision_id"
    ).rows()
    assert actions == [("accept", None), ("label", None), ("undo", 2)]
    assert queue.progress() == {
        "queued": 3,
        "reviewed": 1,
        "skipped": 0,
        "remaining": 2,
        "corrected": 1,
    }


def test_the_same_answer_again_is_the_one_stored_and_one_undo_takes_it_back(
    queue: ReviewQueue,
) -> None:
    # Trial 46: twenty concurrent copies of one answer stored twenty decisions, and three
    # undos later the item was still answered.
    first = queue.answer("a1", "label", label="spam", reviewer="ana")
    copies = []
    threads = [
        threading.Thread(
            target=lambda: copies.append(queue.answer("a1", "label", label="spam", reviewer="ana"))
        )
        for _ in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert copies == [first] * 20
    assert queue.workspace.sql("SELECT count(*) AS n FROM decisions")["n"][0] == 1
    assert queue.undo(reviewer="ana") == "a1"
    assert queue.progress()["reviewed"] == 0, "one undo takes the answer back"
    changed = queue.answer("a1", "label", label="ham", reviewer="ana")
    again = queue.answer("a1", "label", label="spam", reviewer="ana")
    assert len({first, changed, again}) == 3, "a changed mind is a new decision"
    other = queue.answer("a1", "label", label="spam", reviewer="bo")
    assert other != again, "another reviewer's answer counts on its own (agreement)"
    # Trial 59f: ana's retried answer, arriving after bo's, was stored again and made
    # her answer the newest; a copy is the answer already stored.
    bo = queue.answer("a1", "label", label="ham", reviewer="bo")
    assert queue.answer("a1", "label", label="spam", reviewer="ana") == again
    assert queue.decisions().filter(pl.col("example_id") == "a1")["decision_id"][0] == bo


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
    # Trial 65a: keys of another shape were stored as skips and counted as answers.
    with pytest.warns(LabelkitWarning, match=r"keyed by example id, as in \('a1', ''\)\?"):
        assert simulate_review(queue, {("a1", ""): "spam"}, limit=1) == 0  # type: ignore[dict-item]
    assert queue.decisions().height == 0
    # Trial 53c: an item another reviewer held stopped the run with an error.
    assert queue.next(reviewer="me").example_id == "a1"  # type: ignore[union-attr]
    assert simulate_review(queue, gold, limit=1, reviewer="gold") == 1
    queue.release("me")
    assert simulate_review(queue, gold, limit=2, reviewer="gold") == 2
    decisions = queue.decisions().select("example_id", "action", "label").rows()
    # a1 and a2 are spam, suggested ham; a3 is ham, suggested spam.
    assert decisions == [("a2", "label", "spam"), ("a1", "label", "spam"), ("a3", "label", "ham")]
    assert queue.decisions("a1").select("example_id", "label").rows() == [("a1", "spam")]
    assert queue.decisions("a4").height == 0
    assert queue.progress()["corrected"] == 0, "the label model was right on both"
    # Trial 33: a frame of gold failed with "'DataFrame' object has no attribute 'get'".
    frame = queue.workspace.sql("SELECT id, gold FROM examples")
    with pytest.raises(
        InputError, match=r"answers must map example ids to labels .* not DataFrame"
    ):
        simulate_review(queue, frame, limit=1)  # type: ignore[arg-type]


def test_two_reviewers_never_get_the_same_item_until_a_claim_expires(
    queue: ReviewQueue,
) -> None:
    first = queue.next(reviewer="ana")
    second = queue.next(reviewer="bo")
    assert (first.example_id, second.example_id) == ("a1", "a2")  # type: ignore[union-attr]
    # A reload hands ana her own item again, not a new one.
    assert queue.next(reviewer="ana").example_id == "a1"  # type: ignore[union-attr]
    assert queue.next(reviewer="cy").example_id == "a3"  # type: ignore[union-attr]
    assert queue.next(reviewer="dee") is None
    queue.answer("a1", "accept", reviewer="ana")
    assert queue.workspace.sql("SELECT example_id FROM claims ORDER BY 1").rows() == [
        ("a2",),
        ("a3",),
    ]
    queue.workspace.con.execute("UPDATE claims SET expires_at = TIMESTAMP '2000-01-01'")
    assert queue.next(reviewer="dee").example_id == "a2"  # type: ignore[union-attr]
    # Trial 59f: an item someone left on a closed tab went ahead of every item nobody
    # had held, whatever their priorities.
    queue.workspace.con.execute("DELETE FROM claims")
    queue.workspace.con.execute(
        "INSERT INTO claims VALUES ('a3', 'zed', TIMESTAMP '2000-01-01', '')"
    )
    assert queue.next(reviewer="eve").example_id == "a2"  # type: ignore[union-attr]


def test_focus_mode_asks_about_one_label(queue: ReviewQueue) -> None:
    item = queue.next(reviewer="ana", focus="spam")
    assert item is not None and (item.example_id, item.suggested_label) == ("a3", "spam")
    queue.answer("a3", "reject", reviewer="ana")
    assert queue.next(reviewer="ana", focus="spam") is None
    assert queue.next(reviewer="ana", focus="ham").example_id == "a1"  # type: ignore[union-attr]
    with pytest.raises(InputError, match="focus label 'eggs' is not one of"):
        queue.next(focus="eggs")


def test_stats_and_cohens_kappa_on_doubly_reviewed_items(workspace: Workspace) -> None:
    for example_id in ("a1", "a2", "a3", "a4"):
        workspace.con.execute(
            "INSERT INTO queue VALUES (?, 1, 'cleanlab', 'ham', 'spam', 0, '')", [example_id]
        )
    queue = ReviewQueue(workspace)
    for example_id, ana, bo, seconds in [
        ("a1", "spam", "spam", 0.02),
        ("a2", "spam", "ham", 0.03),
        ("a3", "ham", "ham", 0.05),
        ("a4", "ham", "ham", 9.0),
    ]:
        queue.answer(example_id, "label", label=ana, reviewer="ana", seconds=seconds)
        queue.answer(example_id, "label", label=bo, reviewer="bo", seconds=2 * seconds)
    # Agreement 3/4; by chance ana (1/2 spam) and bo (1/4 spam) agree 1/2 of the time.
    assert queue.reviewer_agreement().rows() == [("ana", "bo", 4, 0.75, 0.5)]
    text = workspace.sql("SELECT text FROM examples WHERE id = 'a2'").item()
    assert queue.disagreements().rows() == [("a2", "", "ana: spam, bo: ham", "ham", text)]
    stats = queue.stats()
    # bo answered last everywhere: spam once, ham three times, against 'ham' given; his
    # one spam is the suggestion, given with a number key rather than accepted.
    assert stats["answered"] == 4 and stats["errors_found"] == 1
    assert stats["errors_per_100"] == 25.0 and stats["suggested_right"] == 0.25
    assert stats["kappa"] == 0.5 and stats["kappa_items"] == 4 and stats["reviewers"] == 2
    # Trial 50d: "reviewers 2", and each one's share took SQL with the undos by hand.
    queue.answer("a3", "skip", reviewer="ana")
    queue.undo(reviewer="ana")
    queue.answer("a4", "ambiguous", reviewer="ana")
    counts = queue.by_reviewer().select("reviewer", "answered", "corrected", "skipped", "ambiguous")
    assert counts.rows() == [("ana", 3, 2, 0, 1), ("bo", 4, 1, 0, 0)]
    # Medians to a hundredth (trial 56b: 0.03 was shown as "seconds 0.000"); ana's a3 is
    # a skip undone, her a4 an ambiguous of no time.
    assert queue.by_reviewer()["median_seconds"].to_list() == [0.03, 0.08]


def test_one_who_only_ruled_a_label_out_is_no_reviewer_yet(intents_file: Path) -> None:
    # Trial 51a: "reviewers 2" in review-stats, and one in its table: the other had only
    # said "no" to a suggestion among 22 intents, then left.
    with Workspace(intents_file) as ws:
        queue = ReviewQueue(ws)
        queue.answer("i1", "reject", label="greeting", reviewer="cy")
        assert ws.sql("SELECT action FROM decisions")["action"].to_list() == ["ruled_out"]
        assert queue.stats()["reviewers"] == 0
        assert queue.by_reviewer().height == 0
        queue.answer("i1", "label", label="thanks_goodbye", reviewer="cy")
        assert queue.stats()["reviewers"] == 1
        assert queue.by_reviewer()["reviewer"].to_list() == ["cy"]


def test_ten_threads_share_one_queue_without_losing_or_doubling_work(
    workspace: Workspace,
) -> None:
    workspace.con.execute(
        """INSERT INTO examples SELECT 'x' || i, 'text ' || i, 'ham', 'train', NULL, 0
           FROM range(300) t(i)"""
    )
    workspace.con.execute(
        "INSERT INTO queue SELECT id, random(), 'cleanlab', 'ham', 'spam', 0, '' FROM examples "
        "WHERE id LIKE 'x%'"
    )
    handed: dict[str, list[str]] = {}
    for name, example_id in review_in_threads(ReviewQueue(workspace), 10):
        handed.setdefault(example_id, []).append(name)
    assert len(handed) == 300 and all(len(names) == 1 for names in handed.values())
    decided = workspace.sql("SELECT example_id, count(*) AS n FROM decisions GROUP BY 1")
    assert decided.height == 300 and decided["n"].max() == 1
    assert len(set(decided["example_id"]) & set(handed)) == 300
    assert workspace.sql("SELECT count(*) AS n FROM claims")["n"][0] == 0


def test_each_item_asks_about_one_candidate_and_accept_stores_exactly_it(
    news_workspace: Workspace,
) -> None:
    queue = ReviewQueue(news_workspace)
    item = queue.next(reviewer="ana")
    assert item is not None and item.example_id == "n1"
    assert (item.candidate, item.question) == ("Sports", "Is this Sports? (currently Business)")
    queue.answer("n1", "accept", label="Sports", reviewer="ana")
    # A page that still shows an older suggestion cannot store something else under "a".
    with pytest.raises(InputError, match="'n2' now asks about 'Sports', not 'World'"):
        queue.answer("n2", "accept", label="World", reviewer="ana")
    doubted = ReviewItem("n4", "Leaders meet", "Sports", "Sports", "unsure", 0.6, {})
    assert doubted.question == "Is this Sports? (the current label)"
    assert queue.decisions().select("example_id", "action", "label").rows() == [
        ("n1", "accept", "Sports")
    ]


def test_suggested_right_counts_every_answer_equal_to_the_suggestion_and_no_skip(
    news_workspace: Workspace,
) -> None:
    # n3's text had no label: nothing was an error there, before or after a new one.
    news_workspace.con.execute("UPDATE queue SET given_label = NULL WHERE example_id = 'n3'")
    queue = ReviewQueue(news_workspace)
    queue.answer("n1", "label", label="Sports", reviewer="ana")  # the suggestion, by number
    queue.answer("n2", "accept", reviewer="ana")  # the suggestion, by "a"
    queue.answer("n3", "label", label="Business", reviewer="ana")  # not the suggestion
    queue.answer("n4", "skip", reviewer="ana")
    stats = queue.stats()
    assert (stats["answered"], stats["skipped"]) == (3, 1)
    assert stats["suggested_right"] == pytest.approx(2 / 3)
    assert stats["errors_found"] == 2, "n1 and n2 changed label; n3 had none"
    # Trial 50d: a new label model and flag run changed these numbers about answers
    # already given; they count against what each reviewer was shown.
    news_workspace.con.execute("UPDATE queue SET given_label = 'Sports', suggested_label = 'World'")
    again = queue.stats()
    assert (again["suggested_right"], again["errors_found"]) == (stats["suggested_right"], 2)
    shown = news_workspace.sql(
        "SELECT example_id, shown_given, shown_suggested FROM decisions ORDER BY decision_id"
    )
    assert shown["example_id"].to_list() == ["n1", "n2", "n3", "n4"]
    assert shown["shown_given"].null_count() == 1 and shown["shown_suggested"].null_count() == 0


def test_a_no_in_focus_mode_keeps_the_item_for_the_full_question(
    news_workspace: Workspace,
) -> None:
    queue = ReviewQueue(news_workspace)
    assert queue.progress(focus="Sports") == {
        "queued": 3,
        "reviewed": 0,
        "skipped": 0,
        "remaining": 3,
        "corrected": 0,
    }
    item = queue.next(reviewer="ana", focus="Sports")
    assert item is not None and item.question == "Is this Sports? (currently Business)"
    queue.answer("n1", "reject", label="Sports", reviewer="ana")  # no, not Sports
    # The pass has decided n1 for Sports, and found no error: Business may well be right.
    assert queue.progress(focus="Sports") == {
        "queued": 3,
        "reviewed": 1,
        "skipped": 0,
        "remaining": 2,
        "corrected": 0,
    }
    assert queue.progress() == {
        "queued": 4,
        "reviewed": 0,
        "skipped": 0,
        "remaining": 4,
        "corrected": 0,
    }
    assert queue.stats()["errors_found"] == 0 and queue.decisions().height == 0
    cleaned = {r["id"]: r for r in cleaned_labels(news_workspace).iter_rows(named=True)}
    assert (cleaned["n1"]["label"], cleaned["n1"]["origin"]) == ("Business", "label_model")
    assert queue.next(reviewer="ana", focus="Sports").example_id == "n2"  # type: ignore[union-attr]
    # Without focus, n1 asks for its label; "a" has nothing left to store.
    full = queue.next(reviewer="bo")
    assert full is not None and full.example_id == "n1" and full.candidate is None
    assert full.question == "Which label is it? (not Sports; currently Business)"
    with pytest.raises(InputError, match="'n1': its suggestion was ruled out"):
        queue.answer("n1", "accept", reviewer="bo")
    # Trial 29: the ruled-out label was still a choice, and picking it was stored.
    with pytest.raises(InputError, match="'n1': 'Sports' was ruled out by an earlier answer"):
        queue.answer("n1", "label", label="Sports", reviewer="bo")
    queue.answer("n1", "label", label="Business", reviewer="bo")
    assert queue.progress() == {
        "queued": 4,
        "reviewed": 1,
        "skipped": 0,
        "remaining": 3,
        "corrected": 0,
    }


def test_ruling_out_the_label_models_own_label_leaves_the_cleaned_set_until_answered(
    news_workspace: Workspace,
) -> None:
    queue = ReviewQueue(news_workspace)
    queue.answer("n4", "reject", reviewer="ana")  # not Sports, which the label model said
    assert "n4" not in cleaned_labels(news_workspace)["id"].to_list()
    assert queue.undo(reviewer="ana") == "n4"
    assert queue.next(reviewer="ana", focus="Sports").example_id == "n4"  # type: ignore[union-attr]
    assert cleaned_labels(news_workspace).filter(id="n4")["label"].to_list() == ["Sports"]


def test_a_pass_over_one_attribute_asks_one_short_question_and_stores_the_attribute(
    aspects_workspace: Workspace,
) -> None:
    queue = ReviewQueue(aspects_workspace)
    item = queue.next(reviewer="ana", attribute="staff")
    assert item is not None and (item.example_id, item.attribute) == ("r1", "staff")
    assert item.question == "Is staff negative? (currently none)"
    assert item.choices == ("positive", "negative", "neutral", "none")
    assert item.votes == {"kw_waiter": "mentioned"}, "only the votes on staff"
    # Trial 55c: the attribute's commonest answer, given where the votes only say
    # mentioned, read as what they said.
    kept = dataclasses.replace(item, given_label="negative")
    assert kept.question == (
        "Is staff negative? (the current label, a guess: the votes only say staff is mentioned)"
    )
    assert "guess" not in dataclasses.replace(kept, votes={"lexicon": "negative"}).question
    queue.answer("r1", "accept", reviewer="ana", attribute="staff")
    item = queue.next(reviewer="ana", attribute="staff")
    assert item is not None and (item.example_id, item.attribute) == ("r2", "staff")
    queue.answer("r2", "reject", label="negative", reviewer="ana", attribute="staff")
    item = queue.next(reviewer="ana", attribute="staff")
    assert item is not None and item.candidate is None and item.example_id == "r2"
    assert item.question == ("staff: positive, neutral or none? (not negative; currently positive)")
    queue.answer("r2", "label", label="neutral", reviewer="ana", attribute="staff")
    not_mentioned = queue.next(reviewer="ana", attribute="staff")
    assert not_mentioned is not None
    assert not_mentioned.question == "Is staff not mentioned? (currently neutral)"
    with pytest.raises(InputError, match="review label 'yes' is not one of"):
        queue.answer("r3", "label", label="yes", reviewer="ana", attribute="staff")
    # It suggested 'none', the opposite, as the closest spelling.
    with pytest.raises(
        InputError,
        match=r"\['positive', 'negative', 'neutral', 'none'\] \('mentioned' is a vote that the "
        r"aspect is there: answer how it is\)$",
    ):
        queue.answer("r3", "label", label="mentioned", reviewer="ana", attribute="staff")
    with pytest.raises(InputError, match="'r3' is not in the review queue for 'food'"):
        queue.answer("r3", "accept", reviewer="ana", attribute="food")
    # Trial 33: without attribute= it said r3 was not queued at all.
    with pytest.raises(InputError, match=r"it is queued for \['price', 'staff'\]: pass attribute="):
        queue.answer("r3", "accept", reviewer="ana")
    assert queue.decisions().select("example_id", "attribute", "action", "label").rows() == [
        ("r1", "staff", "accept", "negative"),
        ("r2", "staff", "label", "neutral"),
    ]
    # r1's food is still asked: an item is an (example, attribute).
    assert queue.next(reviewer="ana", attribute="food").example_id == "r1"  # type: ignore[union-attr]
    assert queue.progress(attribute="staff") == {
        "queued": 3,
        "reviewed": 2,
        "skipped": 0,
        "remaining": 1,
        "corrected": 2,
    }
    assert queue.progress() == {
        "queued": 6,
        "reviewed": 2,
        "skipped": 0,
        "remaining": 4,
        "corrected": 2,
    }
    assert queue.progress_by_attribute().rows() == [
        ("food", 2, 0, 0, 2, 0),
        ("staff", 3, 2, 0, 1, 2),
        ("price", 1, 0, 0, 1, 0),
    ]
    cleaned = cleaned_labels(aspects_workspace).filter(id="r1")
    assert cleaned.select("attribute", "label", "origin").rows() == [
        ("food", "none", "label_model"),
        ("price", "none", "label_model"),
        ("staff", "negative", "review"),
    ]


def test_the_pass_starts_with_the_attribute_most_left_to_ask_and_cycles(
    aspects_workspace: Workspace,
) -> None:
    queue = ReviewQueue(aspects_workspace)
    assert queue.next_attribute() == "staff"
    assert [queue.next_attribute(after=a) for a in ("food", "staff", "price")] == [
        "staff",
        "price",
        "food",
    ]
    for example_id in ("r1", "r2", "r3"):
        queue.answer(example_id, "accept", reviewer="ana", attribute="staff")
    assert queue.next_attribute() == "food"
    assert queue.next_attribute(after="food") == "price", "staff has nothing left"
    with pytest.raises(InputError, match="unknown attribute 'decor'"):
        queue.next(attribute="decor")


def test_claims_undo_and_agreement_are_per_example_and_attribute(
    aspects_workspace: Workspace,
) -> None:
    queue = ReviewQueue(aspects_workspace)
    assert queue.next(reviewer="ana", attribute="staff").example_id == "r1"  # type: ignore[union-attr]
    # ana holds r1's staff, not r1: bo is handed r1's food.
    food = queue.next(reviewer="bo", attribute="food")
    assert food is not None and (food.example_id, food.attribute) == ("r1", "food")
    assert queue.next(reviewer="cy").example_id == "r2"  # type: ignore[union-attr]
    queue.answer("r1", "accept", reviewer="ana", attribute="staff")
    # Trial 29: anyone could answer an item another reviewer held on screen.
    with pytest.raises(InputError, match=r"'r1' is being reviewed by 'bo' .* take the next item"):
        queue.answer("r1", "accept", reviewer="ana", attribute="food")
    queue.release("bo")
    queue.answer("r1", "accept", reviewer="ana", attribute="food")
    # Undo in the staff pass takes back ana's staff answer, not her newer food one.
    assert queue.undo(reviewer="ana", attribute="staff") == "r1"
    assert queue.workspace.sql(
        "SELECT attribute, action, undoes FROM decisions ORDER BY decision_id"
    ).rows() == [("staff", "accept", None), ("food", "accept", None), ("staff", "undo", 1)]
    assert queue.next(reviewer="ana", attribute="staff").example_id == "r1"  # type: ignore[union-attr]
    # Names are stored stripped, and undo strips them too (it did not: nothing to undo).
    assert queue.undo(reviewer=" ana ") == "r1", "without an attribute: the newest answer"
    assert queue.decisions().height == 0
    for attribute, ana, bo in [("staff", "negative", "negative"), ("food", "positive", "none")]:
        queue.answer("r1", "label", label=ana, reviewer="ana", attribute=attribute)
        queue.answer("r1", "label", label=bo, reviewer="bo", attribute=attribute)
    assert queue.reviewer_agreement().select("items", "agreement").rows() == [(2, 0.5)]
    assert queue.reviewer_agreement(attribute="food")["agreement"].to_list() == [0.0]


def test_a_reviewer_who_moves_to_another_attribute_hands_the_item_on_screen_back(
    aspects_workspace: Workspace,
) -> None:
    # Trial 55b: switching attribute on the page left the item of the one before held
    # for ten minutes, so other reviewers were told that attribute was done.
    queue = ReviewQueue(aspects_workspace)
    staff = queue.next(reviewer="ana", attribute="staff")
    assert staff is not None and staff.example_id == "r1"
    assert queue.next(reviewer="bo", attribute="staff").example_id == "r2"  # type: ignore[union-attr]
    assert queue.next(reviewer="ana", attribute="food") is not None
    handed_back = queue.next(reviewer="cy", attribute="staff")
    assert handed_back is not None and handed_back.example_id == "r1"
    # A reload keeps the item on screen; asking where nothing is left hands it back.
    assert queue.next(reviewer="bo", attribute="staff").example_id == "r2"  # type: ignore[union-attr]
    assert queue.next(reviewer="dan", attribute="price").example_id == "r3"  # type: ignore[union-attr]
    assert queue.next(reviewer="cy", attribute="price") is None, "dan holds its one item"
    claims = "SELECT reviewer, example_id, attribute FROM claims ORDER BY reviewer"
    assert queue.workspace.sql(claims).rows() == [
        ("ana", "r1", "food"),
        ("bo", "r2", "staff"),
        ("dan", "r3", "price"),
    ]


def test_a_tag_nothing_flagged_is_queued_when_a_reviewer_asks_for_it(
    topics_workspace: Workspace,
) -> None:
    # Trial 55b: a missing tag could not be added; only the queued tags could be answered.
    queue = ReviewQueue(topics_workspace)
    with pytest.raises(InputError, match=r"'t2' is not in the review queue for 'tech'"):
        queue.answer("t2", "accept", reviewer="ana", attribute="tech")
    [item] = queue.items_of("t2", reviewer="ana", attribute="tech")
    assert (item.attribute, item.candidate) == ("tech", "yes")
    assert item.question == "Is this tech? (no label yet)"
    assert item.reasons == "asked for by ana"
    queue.answer("t2", "accept", reviewer="ana", attribute="tech")
    assert queue.decisions("t2").select("attribute", "label").rows() == [("tech", "yes")]
    # The second read: one asked for and left unanswered stayed, for the next reviewer.
    queue.items_of("t2", reviewer="ana", attribute="politics")
    queue.release("ana")
    queued = "SELECT example_id, attribute FROM queue WHERE example_id = 't2' ORDER BY ALL"
    assert topics_workspace.sql(queued).rows() == [("t2", "sports"), ("t2", "tech")]
    # Nor while another reviewer holds it: ana's claim lapsed, bo took it over.
    queue.items_of("t1", reviewer="ana", attribute="politics")
    topics_workspace.con.execute("DELETE FROM claims WHERE reviewer = 'ana'")
    assert len(queue.items_of("t1", reviewer="bo", attribute="politics")) == 1
    queue.release("ana")
    queue.answer("t1", "accept", reviewer="bo", attribute="politics")
    with pytest.raises(InputError, match="unknown label 'sport'"):
        queue.items_of("t2", reviewer="ana", attribute="sport")
    with pytest.raises(InputError, match="no example 't9'"):
        queue.items_of("t9", reviewer="ana", attribute="tech")


def test_a_multilabel_item_asks_is_this_label_yes_or_no(topics_workspace: Workspace) -> None:
    queue = ReviewQueue(topics_workspace)
    assert queue.next_attribute() == "sports"
    sports = queue.next(reviewer="ana", attribute="sports")
    assert sports is not None and (sports.example_id, sports.suggested_label) == ("t1", "no")
    assert sports.question == "Is this sports? (currently yes)"
    assert (sports.candidate, sports.choices) == ("yes", ("yes", "no"))
    assert sports.yes_no() == {"a": "yes, sports", "r": "no, not sports"}
    queue.answer("t1", "accept", reviewer="ana", attribute="sports")
    queue.answer("t2", "reject", label="yes", reviewer="ana", attribute="sports")
    queue.answer("t1", "reject", reviewer="ana", attribute="tech")
    assert queue.decisions().select("example_id", "attribute", "label").rows() == [
        ("t1", "sports", "yes"),
        ("t2", "sports", "no"),
        ("t1", "tech", "no"),
    ]
    assert queue.stats(attribute="sports")["errors_found"] == 0
    # Trial 45: a label's name as the focus said only that it is not yes or no.
    with pytest.raises(InputError, match=r"--attribute sports .* reviews that label's items"):
        queue.next(reviewer="ana", focus="sports")


def test_simulated_review_answers_each_attribute_from_gold(aspects_workspace: Workspace) -> None:
    queue = ReviewQueue(aspects_workspace)
    gold = {("r1", "staff"): "negative", ("r2", "staff"): "negative", ("r1", "food"): "positive"}
    # Trial 65a: an item without an answer was stored as skipped and counted as
    # answered; it stays queued now, and answers keyed wrongly are said to be.
    assert simulate_review(queue, gold, limit=4, reviewer="gold") == 3
    assert queue.decisions().select("example_id", "attribute", "action", "label").rows() == [
        ("r1", "staff", "accept", "negative"),
        ("r2", "staff", "accept", "negative"),
        ("r1", "food", "accept", "positive"),
    ]
    assert ("r3", "staff") in queue.pending().select("example_id", "attribute").rows()
    keyed = r"answered none of the .* \(keyed by example id and attribute, as in 'r3'\?\)"
    with pytest.warns(LabelkitWarning, match=keyed):
        assert simulate_review(queue, {"r3": "negative"}, limit=4, reviewer="gold") == 0


def test_answers_on_copies_of_a_text_that_differ_are_a_disagreement(
    queue: ReviewQueue,
) -> None:
    # Trial 53d: two reviewers answered two copies of a text differently; one answer
    # labels every copy, so the older was overruled, and review-stats listed nothing.
    text = queue.workspace.sql("SELECT text FROM examples WHERE id = 'a1'").item()
    ingest(queue.workspace, pl.DataFrame({"id": ["a1copy"], "text": [text]}))
    queue.workspace.con.execute(
        "INSERT INTO queue VALUES ('a1copy', 0.95, 'cleanlab', 'spam', 'ham', 0, '')"
    )
    queue.answer("a1", "label", label="spam", reviewer="ana")
    queue.answer("a1copy", "label", label="ham", reviewer="bo")
    queue.answer("a2", "label", label="spam", reviewer="ana")
    assert queue.disagreements().select("example_id", "answers", "counts", "text").rows() == [
        ("a1copy", "ana: spam, bo: ham", "ham", text)
    ]
