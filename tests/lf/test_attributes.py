"""Labeling functions on tasks with attributes: aspects and multi-label."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from labelkit import (
    Example,
    InputError,
    LabelingFunctionError,
    LabelMatrix,
    Task,
    Workspace,
    apply_lfs,
    ingest,
    keyword_lf,
    labeling_function,
    lf_summary,
)
from labelkit.lf import (
    column_lf,
    compute_votes,
    lexicon_lf,
    lf_agreement,
    most_disputed,
    pattern_lf,
    regex_lf,
    summarize_lfs,
)
from labelkit.lf.analysis import summarize_part
from tests.helpers import table_counts

ASPECTS = Task(("positive", "negative", "neutral"), kind="aspects", attributes=("food", "staff"))
REVIEWS = [
    ("r1", "The waiter was rude, the food great.", '{"staff": "negative", "food": "positive"}'),
    ("r2", "Great food but a slow and rude waitress", '{"food": "positive", "staff": "negative"}'),
    ("r3", "We ate with friends", "{}"),
    (
        "r4",
        "The pasta was cold and the waiter friendly",
        '{"food": "negative", "staff": "positive"}',
    ),
]


@pytest.fixture
def reviews(tmp_path: Path) -> Iterator[Workspace]:
    """A workspace on disk of an aspects task (food, staff) with gold, all in dev."""
    frame = pl.DataFrame(
        {
            "id": [r[0] for r in REVIEWS],
            "text": [r[1] for r in REVIEWS],
            "aspects": [r[2] for r in REVIEWS],
            "split": ["dev"] * len(REVIEWS),
            "waiter_says": ["bad", "bad", None, "good"],
        }
    )
    with Workspace(tmp_path / "reviews.duckdb") as ws:
        ingest(
            ws,
            frame,
            id_column="id",
            label_column="aspects",
            split_column="split",
            kind="aspects",
            labels=["positive", "negative", "neutral"],
            attributes=["food", "staff"],
        )
        yield ws


STAFF = ["waiter", "waitress"]
NEGATIVE = ["rude", "slow", "cold"]


def stored(ws: Workspace) -> list[tuple[str, str, str, str]]:
    return ws.sql("SELECT source, example_id, attribute, label FROM votes ORDER BY ALL").rows()


def test_declarative_lfs_vote_on_their_attribute_and_votes_are_stored_with_it(
    reviews: Workspace,
) -> None:
    lfs = [
        keyword_lf("staff_mentioned", STAFF, "mentioned", attribute="staff"),
        regex_lf("food_regex", r"\bfood\b", "positive", attribute="food"),
        column_lf("waiter_says", "waiter_says", {"bad": "negative"}, attribute="staff"),
        lexicon_lf("food_mood", {"positive": ["great"], "negative": ["cold"]}, attribute="food"),
        pattern_lf("pasta", "mentioned", phrases=["the pasta"], attribute="food"),
    ]
    applied = apply_lfs(reviews, lfs)
    assert stored(reviews) == [
        ("food_mood", "r1", "food", "positive"),
        ("food_mood", "r2", "food", "positive"),
        ("food_mood", "r4", "food", "negative"),
        ("food_regex", "r1", "food", "positive"),
        ("food_regex", "r2", "food", "positive"),
        ("pasta", "r4", "food", "mentioned"),
        ("staff_mentioned", "r1", "staff", "mentioned"),
        ("staff_mentioned", "r2", "staff", "mentioned"),
        ("staff_mentioned", "r4", "staff", "mentioned"),
        ("waiter_says", "r1", "staff", "negative"),
        ("waiter_says", "r2", "staff", "negative"),
    ]
    staff = applied.matrices["staff"]
    assert staff.task.labels == ("positive", "negative", "neutral", "none", "mentioned")
    assert staff.to_frame()["staff_mentioned"].to_list() == [
        "mentioned",
        "mentioned",
        None,
        "mentioned",
    ]
    assert applied.matrices["food"].to_frame()["food_mood"].to_list() == [
        "positive",
        "positive",
        None,
        "negative",
    ]
    with pytest.raises(InputError, match=r"matrices\[attribute\].*\['food', 'staff'\]"):
        applied.matrix  # noqa: B018


def test_a_keyword_near_a_lexicon_word_votes_within_its_window_and_clause() -> None:
    frame = pl.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e"],
            "text": [
                "The waiter was rude, the food great.",  # rude: 2 words after waiter
                "the waiter was, frankly, rude",  # a comma between them
                "rude waiter",  # before the keyword
                "the waiter came by with our order very late and was rude",  # 9 apart
                "The waitress smiled. Rude people at the next table though",
            ],
        }
    )
    near = keyword_lf(
        "staff_negative", STAFF, "negative", attribute="staff", near=NEGATIVE, window=3
    )
    food = keyword_lf(
        "food_negative", ["food"], "negative", attribute="food", near=NEGATIVE, window=3
    )
    anywhere = keyword_lf(
        "staff_negative_anywhere", STAFF, "negative", attribute="staff", near=NEGATIVE
    )
    applied = compute_votes([near, food, anywhere], frame, ASPECTS)
    staff = applied.matrices["staff"].to_frame()
    assert staff["staff_negative"].to_list() == ["negative", None, "negative", None, None]
    assert staff["staff_negative_anywhere"].to_list() == ["negative"] * 5
    assert applied.matrices["food"].to_frame()["food_negative"].to_list() == [None] * 5
    assert '"near": ["rude", "slow", "cold"], "window": 3' in near.definition
    assert near.definition != anywhere.definition
    with pytest.raises(InputError, match=r"'w'.*`window`.*got 0"):
        keyword_lf("w", STAFF, "negative", attribute="staff", near=NEGATIVE, window=0)
    with pytest.raises(InputError, match=r"'w'.*no `near` words"):
        keyword_lf("w", STAFF, "negative", attribute="staff", window=3)


def test_words_given_as_breaks_end_a_clause_as_punctuation_does() -> None:
    # Trial 64c: "great screen but the battery dies" had "battery" near "great".
    frame = pl.DataFrame(
        {
            "id": ["a", "b", "c"],
            "text": [
                "Great screen but the waiter was slow",
                "Great screen BUT the waiter was slow",
                "the butler-like waiter was great",
            ],
        }
    )
    praised = {"near": ["great"], "window": 4}
    plain = keyword_lf("plain", STAFF, "positive", attribute="staff", **praised)
    parted = keyword_lf("parted", STAFF, "positive", attribute="staff", breaks="but", **praised)
    staff = compute_votes([plain, parted], frame, ASPECTS).matrices["staff"].to_frame()
    assert staff["plain"].to_list() == ["positive"] * 3
    # A break is a whole word, in any case; "butler" is none.
    assert staff["parted"].to_list() == [None, None, "positive"]
    assert '"breaks": ["but"]' in parted.definition and "breaks" not in plain.definition
    with pytest.raises(InputError, match=r"'w'.*`breaks`.*there is no `window`"):
        keyword_lf("w", STAFF, "positive", attribute="staff", near=["great"], breaks=["but"])
    # The second read: a break inside a near word hid it, and the LF never voted; and
    # case_sensitive made breaks match their case only, where they match in any.
    with pytest.raises(InputError, match=r"'w': the break 'not' is in 'not bad'"):
        keyword_lf("w", STAFF, "positive", attribute="staff", near=["not bad"], window=3,
                   breaks=["not"])  # fmt: skip
    exact = keyword_lf(
        "exact", ["waiter"], "positive", attribute="staff", case_sensitive=True, breaks="but",
        **praised,
    )  # fmt: skip
    shouted = pl.DataFrame({"id": ["s"], "text": ["great screen BUT the waiter"]})
    assert compute_votes([exact], shouted, ASPECTS).matrices["staff"].to_frame()[
        "exact"
    ].to_list() == [None]
    assert compute_votes([plain], shouted, ASPECTS).matrices["staff"].to_frame()[
        "plain"
    ].to_list() == ["positive"]


def test_an_lfs_attribute_and_label_are_checked_naming_it_and_nothing_is_written(
    reviews: Workspace,
) -> None:
    before = table_counts(reviews)
    cases = [
        (
            keyword_lf("decor", ["decor"], "positive", attribute="decor"),
            r"'decor' votes on unknown attribute 'decor'; the attributes are \['food', 'staff'\]",
        ),
        (
            keyword_lf("tasty", ["yum"], "tasty", attribute="food"),
            r"'tasty' votes 'tasty' on 'food', which is not one of its labels \['positive', "
            r"'negative', 'neutral', 'none', 'mentioned'\]",
        ),
        (
            keyword_lf("bare", ["yum"], "positive"),
            r"'bare' votes 'positive' on no attribute; on this aspects task a vote names one of "
            r"the attributes \['food', 'staff'\]",
        ),
        (
            pattern_lf("pat", "positive", phrases=["yum"], attribute="drinks"),
            r"'pat' votes on unknown attribute 'drinks'",
        ),
        # Trial 49a: a misspelt label had a did-you-mean, a misspelt attribute none.
        (
            keyword_lf("stafff", ["waiter"], "positive", attribute="Staf"),
            r"votes on unknown attribute 'Staf'; the attributes are \['food', 'staff'\] "
            r"\(did you mean 'staff'\?\)",
        ),
    ]
    for lf, message in cases:
        with pytest.raises(InputError, match=message):
            apply_lfs(reviews, [keyword_lf("ok", ["food"], "mentioned", attribute="food"), lf])
    assert table_counts(reviews) == before
    with pytest.raises(InputError, match=r"'k' votes on attribute 'food', but a classification"):
        compute_votes(
            [keyword_lf("k", ["x"], "spam", attribute="food")],
            pl.DataFrame({"id": ["1"], "text": ["x"]}),
            Task(("ham", "spam")),
        )


TOPICS = Task(("sports", "tech", "food"), kind="multilabel")
HEADLINES = pl.DataFrame(
    {
        "id": ["h1", "h2", "h3"],
        "text": ["goal in the final", "new phone chip", "chip shop wins the final"],
    }
)


def test_on_a_multilabel_task_an_lf_votes_a_label_name_stored_as_that_attribute_yes(
    tmp_path: Path,
) -> None:
    lfs = [
        keyword_lf("final", ["final"], "sports"),
        lexicon_lf("topic", {"tech": ["phone", "chip"], "food": ["shop", "chip", "fish"]}),
        keyword_lf("not_food", ["phone"], "no", attribute="food"),
    ]
    applied = compute_votes(lfs, HEADLINES, TOPICS)
    assert list(applied.matrices) == ["sports", "tech", "food"]
    assert applied.matrices["sports"].to_frame()["final"].to_list() == ["yes", None, "yes"]
    # topic: h2 has 2 tech words to 1 food word, h3 1 tech to 2 food.
    assert applied.matrices["tech"].to_frame()["topic"].to_list() == [None, "yes", None]
    assert applied.matrices["food"].to_frame()["topic"].to_list() == [None, None, "yes"]
    assert applied.matrices["food"].to_frame()["not_food"].to_list() == [None, "no", None]
    with pytest.raises(InputError, match=r"'opera' votes 'opera', which is not one of the task"):
        compute_votes([keyword_lf("opera", ["aria"], "opera")], HEADLINES, TOPICS)
    csv = tmp_path / "h.csv"
    HEADLINES.write_csv(csv)
    with Workspace(tmp_path / "m.duckdb") as ws:
        ingest(ws, csv, id_column="id", labels=list(TOPICS.labels), kind="multilabel")
        apply_lfs(ws, lfs)
        assert stored(ws) == [
            ("final", "h1", "sports", "yes"),
            ("final", "h3", "sports", "yes"),
            ("not_food", "h2", "food", "no"),
            ("topic", "h2", "tech", "yes"),
            ("topic", "h3", "food", "yes"),
        ]


@labeling_function
def judge(x: Example) -> object:
    text = x.text.lower()
    if "rude" in text:
        return {"staff": "negative", "food": "positive" if "great" in text else None}
    if "pasta" in text:
        return [("food", "negative"), ("staff", "positive")]
    if "friends" in text:
        return "neutral"  # no attribute: a failure on an aspects task
    return None


def test_python_lfs_may_return_several_attribute_votes(reviews: Workspace) -> None:
    applied = apply_lfs(reviews, [judge])
    assert stored(reviews) == [
        ("judge", "r1", "food", "positive"),
        ("judge", "r1", "staff", "negative"),
        ("judge", "r2", "food", "positive"),
        ("judge", "r2", "staff", "negative"),
        ("judge", "r4", "food", "negative"),
        ("judge", "r4", "staff", "positive"),
    ]
    assert applied.errors.select("lf", "example_id", "error").rows() == [
        (
            "judge",
            "r3",
            "returned 'neutral': it votes 'neutral' on no attribute; on this aspects task a "
            "vote names one of the attributes ['food', 'staff']",
        )
    ]


@labeling_function
def odd(x: Example) -> object:
    return {
        "1": {"decor": "positive"},
        "2": {"food": "tasty"},
        "3": [("food", "positive"), ("food", "negative")],
        "4": ["food"],
        "5": 7,
        "6": [("food", "positive"), ("staff", "mentioned")],
        # Trial 47: one pair, not in a list, is two bare labels.
        "7": ("staff", "positive"),
    }[x.id]


def test_python_lf_returns_that_are_not_votes_fail_on_their_rows_only() -> None:
    frame = pl.DataFrame({"id": list("1234567"), "text": ["t"] * 7})
    applied = compute_votes([odd], frame, ASPECTS)
    errors = dict(applied.errors.select("example_id", "error").rows())
    assert errors == {
        "1": "returned {'decor': 'positive'}: it votes on unknown attribute 'decor'; the "
        "attributes are ['food', 'staff']",
        "2": "returned {'food': 'tasty'}: it votes 'tasty' on 'food', which is not one of its "
        "labels ['positive', 'negative', 'neutral', 'none', 'mentioned']",
        "3": "returned [('food', 'positive'), ('food', 'negative')]: two different votes on 'food'",
        "4": "returned ['food']: it votes 'food' on no attribute; on this aspects task a vote "
        "names one of the attributes ['food', 'staff']",
        "5": "returned 7: expected a label, a mapping of attribute to label, or a list of "
        "(attribute, label) pairs, or None",
        "7": "returned ('staff', 'positive'): it votes 'staff' on no attribute; on this aspects "
        "task a vote names one of the attributes ['food', 'staff'] (one (attribute, label) "
        "pair goes in a list: [('staff', 'positive')])",
    }
    assert applied.matrices["food"].to_frame()["odd"].to_list() == [None] * 5 + ["positive", None]
    assert applied.matrices["staff"].to_frame()["odd"].to_list() == [None] * 5 + ["mentioned", None]


@labeling_function
def decor_only(x: Example) -> object:
    return {"decor": "positive", "food": None} if x.id in "13" else None


def test_an_attribute_lf_whose_every_return_is_not_a_vote_is_an_error() -> None:
    # `odd` above votes validly on one row and is kept; this one never does.
    frame = pl.DataFrame({"id": list("1234"), "text": ["t"] * 4})
    with pytest.raises(LabelingFunctionError) as error:
        compute_votes([judge, decor_only], frame, ASPECTS)
    assert error.value.lf_name == "decor_only" and error.value.example_id == "1"
    assert error.value.reason.startswith(
        "it never cast a valid vote: on the 2 rows where it returned something other than "
        "None, it returned {'decor': 'positive', 'food': None}: it votes on unknown attribute "
        "'decor'; the attributes are ['food', 'staff']; nothing was stored."
    )
    allowed = compute_votes([decor_only], frame, ASPECTS, allow_failing_lfs=True)
    assert allowed.errors["example_id"].to_list() == ["1", "3"]


def test_multilabel_python_lfs_return_label_names_in_forked_workers() -> None:
    @labeling_function
    def digits(x: Example) -> object:
        n = int(x.text)
        return [label for label, d in (("sports", 2), ("tech", 3)) if n % d == 0] + (
            [("food", "no")] if n % 5 == 0 else []
        )

    n = 50_000
    frame = pl.DataFrame({"id": [f"r{i}" for i in range(n)], "text": [str(i) for i in range(n)]})
    parallel = compute_votes([digits], frame, TOPICS, n_jobs=2)
    serial = compute_votes([digits], frame, TOPICS, n_jobs=1)
    for attribute, divisor, code in (("sports", 2, 0), ("tech", 3, 0), ("food", 5, 1)):
        expected = [code if i % divisor == 0 else -1 for i in range(n)]
        assert parallel.matrices[attribute].codes[:, 0].tolist() == expected
        assert (serial.matrices[attribute].codes == parallel.matrices[attribute].codes).all()
    assert parallel.errors.height == 0


def aspect_matrix(codes: list[list[int]]) -> LabelMatrix:
    return LabelMatrix(
        codes=np.array(codes, dtype=np.int16),
        example_ids=[f"e{i}" for i in range(len(codes))],
        sources=["said", "judged"],
        task=ASPECTS.vote_task("staff"),
    )


def test_mentioned_agrees_with_every_polarity_and_is_right_where_gold_is_one() -> None:
    # Codes: positive 0, negative 1, neutral 2, none 3, mentioned 4.
    matrix = aspect_matrix([[4, 0], [4, 3], [4, -1], [4, 1], [0, 1]])
    gold = ["negative", "none", "none", "positive", "positive"]
    summary = {r["lf"]: r for r in lf_summary(matrix, gold).iter_rows(named=True)}
    # said: right on e0, e3 (mentioned, gold a polarity) and e4; wrong where gold is none.
    assert (summary["said"]["correct"], summary["said"]["incorrect"]) == (3, 2)
    assert (summary["judged"]["correct"], summary["judged"]["incorrect"]) == (1, 3)
    # Conflicts: mentioned against none (e1) and positive against negative (e4); not
    # mentioned against positive (e0) or negative (e3).
    assert summary["said"]["conflicts"] == pytest.approx(2 / 5)
    assert summary["judged"]["conflicts"] == pytest.approx(2 / 5)
    agreement = lf_agreement(matrix).row(0, named=True)
    assert (agreement["both_voted"], agreement["agreement"]) == (4, 0.5)
    assert most_disputed(matrix)["example_id"].to_list() == ["e1", "e4"]


def test_summarize_lfs_reports_each_attribute_against_its_gold_answers(
    reviews: Workspace,
) -> None:
    apply_lfs(
        reviews,
        [
            keyword_lf("staff_mentioned", STAFF, "mentioned", attribute="staff"),
            keyword_lf("staff_negative", STAFF, "negative", attribute="staff", near=NEGATIVE),
            keyword_lf("food_positive", ["food", "pasta"], "positive", attribute="food"),
        ],
    )
    summary = summarize_lfs(reviews, split="dev")
    assert summary.columns[:3] == ["attribute", "lf", "polarity"]
    rows = {
        (r["attribute"], r["lf"]): (r["coverage"], r["conflicts"], r["correct"], r["incorrect"])
        for r in summary.iter_rows(named=True)
    }
    assert rows == {
        ("food", "food_positive"): (0.75, 0.0, 2, 1),
        ("staff", "staff_mentioned"): (0.75, 0.0, 3, 0),
        # r4 "pasta was cold and the waiter friendly": cold is near no keyword here
        # (no window), so staff=negative is voted, and wrong.
        ("staff", "staff_negative"): (0.75, 0.0, 2, 1),
    }


def test_summarize_part_judges_presence_and_answers_apart(reviews: Workspace) -> None:
    # Trial 55c: the health of a presence part showed an LF's accuracy on its answers,
    # where it was right on presence every time.
    apply_lfs(
        reviews,
        [
            keyword_lf("staff_mentioned", STAFF, "mentioned", attribute="staff"),
            keyword_lf("staff_negative", STAFF, "negative", attribute="staff", near=NEGATIVE),
        ],
    )

    def judged(part: str) -> dict[str, tuple]:
        summary = summarize_part(reviews, part, split="dev").filter(attribute="staff")
        return {
            r["lf"]: (r["coverage"], r["correct"], r["incorrect"])
            for r in summary.iter_rows(named=True)
        }

    # r1, r2 and r4 name the staff; staff_negative is wrong on r4's answer alone.
    assert judged("presence") == {"staff_mentioned": (0.75, 3, 0), "staff_negative": (0.75, 3, 0)}
    assert judged("value")["staff_negative"] == (0.75, 2, 1)
    assert judged("value")["staff_mentioned"][0] == 0.0, "names no answer"


def test_an_lf_moved_to_another_attribute_is_recomputed(reviews: Workspace) -> None:
    apply_lfs(reviews, [keyword_lf("cold", ["cold"], "negative", attribute="food")])
    moved = apply_lfs(reviews, [keyword_lf("cold", ["cold"], "negative", attribute="staff")])
    assert moved.reused == []
    assert stored(reviews) == [("cold", "r4", "staff", "negative")]
