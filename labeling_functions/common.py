"""Reusable labeling functions for any text task: import one, give it your label.

Each function returns a declarative labeling function (a polars expression, so it
runs column-wise with the others) and takes the label to vote plus options::

    from labeling_functions.common import contains_url, sentiment_lexicon

    has_link = contains_url("spam")
    mood = sentiment_lexicon(positive="ham", negative="spam")

Importing this module with ``labelkit apply --lfs`` picks up nothing: the factories
are not labeling functions until called.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from labelkit.lf import DeclarativeLF, keyword_lf, lexicon_lf, regex_lf

URL = r"\b(?:https?://|www\.)\S+|\b[a-z0-9-]+\.(?:com|net|org|io|ly|co|info|biz|tv|me)\b(?:/\S*)?"
EMAIL = r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b"
# Seven or more digits, optionally grouped by spaces, dots, dashes or brackets, with
# an optional leading +country code: 0800 195 6669, (555) 123-4567, +44 20 7946 0958.
PHONE = r"(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]?\d{2,4}){1,3}"
CURRENCY = r"[$€£¥₹]\s?\d|\d\s?(?:[$€£¥₹]|\b(?:usd|eur|gbp|dollars?|euros?|pounds?)\b)"
# Pictographs, emoticons, transport and map symbols, dingbats, flags, and the
# variation selector that turns a plain symbol into an emoji.
EMOJI = r"[\x{1F300}-\x{1FAFF}\x{2600}-\x{27BF}\x{1F1E6}-\x{1F1FF}\x{2B50}\x{2B55}\x{FE0F}]"

POSITIVE_WORDS = (
    "amazing", "awesome", "beautiful", "best", "brilliant", "cool", "enjoy", "enjoyed",
    "excellent", "fantastic", "fun", "glad", "good", "great", "happy", "like", "liked",
    "love", "loved", "lovely", "nice", "perfect", "recommend", "superb", "thanks",
    "thank", "wonderful", "wow",
)  # fmt: skip
NEGATIVE_WORDS = (
    "annoying", "awful", "bad", "boring", "broken", "disappointed", "disappointing",
    "dislike", "fail", "failed", "hate", "hated", "horrible", "junk", "poor", "refund",
    "sad", "scam", "slow", "stupid", "terrible", "useless", "waste", "worse", "worst",
    "wrong",
)  # fmt: skip


def contains_url(label: str, *, name: str = "contains_url") -> DeclarativeLF:
    """Vote ``label`` when the text holds a web address (``http://``, ``www.``, ``x.com``).

    Examples
    --------
    >>> has_link = contains_url("spam")
    """
    return regex_lf(name, URL, label)


def contains_email(label: str, *, name: str = "contains_email") -> DeclarativeLF:
    """Vote ``label`` when the text holds an e-mail address.

    Examples
    --------
    >>> has_email = contains_email("spam")
    """
    return regex_lf(name, EMAIL, label)


def contains_phone_number(label: str, *, name: str = "contains_phone_number") -> DeclarativeLF:
    """Vote ``label`` when the text holds a phone-number-like run of 7+ digits.

    Examples
    --------
    >>> has_phone = contains_phone_number("spam")
    """
    digits = (
        pl.col("text").str.extract_all(PHONE).list.eval(pl.element().str.count_matches(r"\d") >= 7)
    )
    return DeclarativeLF(
        name=name,
        kind="phone_number",
        params=(("pattern", PHONE), ("min_digits", 7)),
        outcomes=((label, digits.list.any()),),
    )


def mentions_currency(label: str, *, name: str = "mentions_currency") -> DeclarativeLF:
    """Vote ``label`` when the text names an amount of money (``$5``, ``20 euros``, ``£1000``).

    Examples
    --------
    >>> money = mentions_currency("spam")
    """
    return regex_lf(name, CURRENCY, label)


def contains_emoji(label: str, *, name: str = "contains_emoji") -> DeclarativeLF:
    """Vote ``label`` when the text holds an emoji.

    Examples
    --------
    >>> playful = contains_emoji("ham")
    """
    return regex_lf(name, EMOJI, label, case_sensitive=True)


def mostly_uppercase(
    label: str, *, min_share: float = 0.7, min_letters: int = 8, name: str = "mostly_uppercase"
) -> DeclarativeLF:
    """Vote ``label`` when at least ``min_share`` of the letters are capitals and there
    are at least ``min_letters`` letters (so "OK" does not count as shouting).

    Examples
    --------
    >>> shouting = mostly_uppercase("spam")
    """
    letters = pl.col("text").str.count_matches(r"\p{L}")
    upper = pl.col("text").str.count_matches(r"\p{Lu}")
    condition = (letters >= min_letters) & (upper >= min_share * letters)
    return DeclarativeLF(
        name=name,
        kind="mostly_uppercase",
        params=(("min_share", min_share), ("min_letters", min_letters)),
        outcomes=((label, condition),),
    )


def sentiment_lexicon(
    positive: str,
    negative: str,
    *,
    positive_words: Sequence[str] = POSITIVE_WORDS,
    negative_words: Sequence[str] = NEGATIVE_WORDS,
    margin: int = 1,
    name: str = "sentiment_lexicon",
) -> DeclarativeLF:
    """Vote ``positive`` or ``negative`` by which word list has more whole-word hits,
    by at least ``margin``; abstain on a tie. The lists are small and general: extend
    them with your domain's words.

    Examples
    --------
    >>> mood = sentiment_lexicon(positive="ham", negative="spam")
    """
    return lexicon_lf(
        name, {positive: list(positive_words), negative: list(negative_words)}, margin=margin
    )


def mentions_any(
    label: str, words: Sequence[str], *, name: str, case_sensitive: bool = False
) -> DeclarativeLF:
    """Vote ``label`` when any of ``words`` occurs as a whole word: a named keyword LF.

    Examples
    --------
    >>> giveaway = mentions_any("spam", ["giveaway", "free gift"], name="giveaway")
    """
    return keyword_lf(name, words, label, case_sensitive=case_sensitive)
