from __future__ import annotations

import polars as pl

from labeling_functions.common import (
    contains_email,
    contains_emoji,
    contains_phone_number,
    contains_url,
    mentions_any,
    mentions_currency,
    mostly_uppercase,
    sentiment_lexicon,
)
from labelkit import Task
from labelkit.lf import compute_votes

TASK = Task(labels=("ham", "spam"))


def votes(lf: object, texts: list[str]) -> list[str | None]:
    frame = pl.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts})
    return compute_votes([lf], frame, TASK).matrix.to_frame()[lf.name].to_list()  # type: ignore[attr-defined]


def test_url() -> None:
    texts = ["visit www.x.com now", "see https://a.b/c", "go to bit.ly/xyz", "version 1.2.3", "hi"]
    assert votes(contains_url("spam"), texts) == ["spam", "spam", "spam", None, None]


def test_email() -> None:
    texts = ["mail me: a.b@c.co.uk", "me @ home", "x@y", "first.last+tag@example.org!"]
    assert votes(contains_email("spam"), texts) == ["spam", None, None, "spam"]


def test_phone_number_needs_seven_digits() -> None:
    texts = [
        "call 0800 195 6669 today",
        "(555) 123-4567",
        "phone +44 20 7946 0958",
        "on 12 May 2024",
        "version 1.2.3",
        "code 12345",
    ]
    assert votes(contains_phone_number("spam"), texts) == ["spam", "spam", "spam", None, None, None]


def test_currency() -> None:
    texts = [
        "win $500 now",
        "10 euros",
        "it costs 5 dollars",
        "£ 20",
        "a dollar sign",
        "5 euro",
        "euro zone",
    ]
    assert votes(mentions_currency("spam"), texts) == [
        "spam",
        "spam",
        "spam",
        "spam",
        None,
        "spam",
        None,
    ]


def test_emoji() -> None:
    texts = ["I love it 😀", "red heart ❤️", "flag 🇫🇷", "plain :)", "accents é ü"]
    assert votes(contains_emoji("ham"), texts) == ["ham", "ham", "ham", None, None]


def test_mostly_uppercase_ignores_short_texts() -> None:
    texts = [
        "THIS IS SO COOL",
        "OK",
        "Hello There Friend",
        "FREE MONEY click here",
        "WIN BIG NOW!!",
        "WIN BIG now!!",
    ]
    assert votes(mostly_uppercase("spam"), texts) == ["spam", None, None, None, "spam", None]


def test_sentiment_lexicon_votes_by_the_larger_list() -> None:
    lf = sentiment_lexicon("ham", "spam")
    texts = ["great song, love it", "awful and boring", "great but awful", "likely", "meh"]
    assert votes(lf, texts) == ["ham", "spam", None, None, None]
    custom = sentiment_lexicon("ham", "spam", positive_words=["banger"], negative_words=["meh"])
    assert votes(custom, ["a banger", "meh", "great"]) == ["ham", "spam", None]


def test_mentions_any_is_a_named_keyword_lf() -> None:
    lf = mentions_any("spam", ["giveaway", "free gift"], name="giveaway")
    assert lf.name == "giveaway"
    assert votes(lf, ["A GIVEAWAY!", "free gifts", "free gift inside"]) == ["spam", None, "spam"]
