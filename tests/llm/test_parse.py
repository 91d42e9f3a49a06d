from __future__ import annotations

import pytest

from labelkit import parse_label

LABELS = ["ham", "spam"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"label": "spam"}', "spam"),
        ('{ "label": "HAM"}', "ham"),
        ('Sure! {"label": "spam"} is my answer', "spam"),
        ("Spam.", "spam"),
        ("  ham\n", "ham"),
        ("I think this is ham.", "ham"),
        ("spam or ham, hard to say", None),
        ("no idea", None),
        ("", None),
        (None, None),
        ('{"label": "eggs"}', None),
        ("hamster", None),
    ],
)
def test_parse_label(raw: str | None, expected: str | None) -> None:
    assert parse_label(raw, LABELS) == expected


EMOTIONS = ["fear", "anger", "joy", "sadness", "love", "surprise"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("B", "anger"),
        ("&&&&&&&&&&&&D", "sadness"),
        ("&&&&&&E: LoveFFFFFF", "love"),
        ("&&&&&&A:CEFDBFD", "fear"),
        ("(C) Joy", "joy"),
        ("F.", "surprise"),
        ("Joy", "joy"),
        ('{"label": "E"}', "love"),
        ("G", None),
        ("I am not sure", None),
        ("A B", None),
    ],
)
def test_option_letters_map_through_the_label_order(raw: str, expected: str | None) -> None:
    assert parse_label(raw, EMOTIONS, letters=True) == expected


def test_letters_are_only_read_when_asked() -> None:
    assert parse_label("B", EMOTIONS) is None


def test_option_letters_go_past_z() -> None:
    labels = [f"trope {i}" for i in range(30)]
    assert parse_label("AB: Dumb Blonde", labels, letters=True) == "trope 27"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Yes", "spam"), ("yes, it is", "spam"), ("No.", "ham"), ("Nope", None), ("nothing", None)],
)
def test_yes_no_answers_for_a_binary_question(raw: str, expected: str | None) -> None:
    assert parse_label(raw, LABELS, yes_no=("spam", "ham")) == expected
