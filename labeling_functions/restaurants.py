"""Labeling functions for restaurant reviews, one aspect at a time (MAMS-ACSA's eight).

For each attribute (food, service, staff, price, ambience, menu, place,
miscellaneous) there are three declarative LFs and one Python LF covers them all:

- ``<attribute>_mentioned``: a keyword of the attribute ("waiter", "hostess") says
  only that it is mentioned (``"mentioned"``: present, polarity unknown);
- ``<attribute>_positive`` / ``<attribute>_negative``: such a keyword with a word of
  the positive or negative lexicon (general words plus the attribute's own, such as
  "rude" for staff or "overpriced" for price) at most ``WINDOW`` words away in the
  same clause (``keyword_lf``'s ``near`` and ``window``);
- ``neutral_mentions``: each attribute whose keywords occur only in clauses without
  a word of either lexicon, voted ``"neutral"``.

The word lists come from general knowledge of how restaurant reviews are written, not
from the MAMS data. ``mentioned``, ``polarity`` and ``ATTRIBUTE_WORDS`` make LFs of
your own from them::

    from labeling_functions.restaurants import mentioned, polarity

    patio = mentioned("place", ["patio", "terrace"], name="patio")
    rude_host = polarity("staff", "negative", keywords=["host", "hostess"], name="rude_host")

``labelkit apply WS --lfs labeling_functions.restaurants`` applies the module's LFs
to a workspace of the restaurant task (``labelkit ingest`` of the bundled MAMS XML).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from labelkit.lf import DeclarativeLF, Example, keyword_lf, labeling_function
from labelkit.lf.core import CLAUSE_BREAKS

# Words naming each aspect. A word in two lists (none here) would vote both.
ATTRIBUTE_WORDS: dict[str, tuple[str, ...]] = {
    "food": (
        "food", "dish", "dishes", "meal", "meals", "appetizer", "appetizers", "entree",
        "entrees", "dessert", "desserts", "pizza", "pasta", "sushi", "steak", "burger",
        "burgers", "salad", "salads", "soup", "chicken", "fish", "seafood", "bread",
        "sauce", "fries", "noodles", "rice", "tacos", "sandwich", "sandwiches", "cheese",
        "wine", "cocktails", "drinks", "coffee", "beer", "flavor", "flavors", "portions",
        "cooked", "taste", "tasted",
    ),
    "service": (
        "service", "served", "serving", "wait", "waited", "waiting", "seated", "order",
        "ordered", "brought", "refill", "refills",
    ),
    "staff": (
        "staff", "waiter", "waiters", "waitress", "waitresses", "server", "servers",
        "hostess", "host", "bartender", "bartenders", "manager", "owner", "owners", "chef",
        "busboy", "employees", "maitre d",
    ),
    "price": (
        "price", "prices", "priced", "pricey", "expensive", "cheap", "overpriced", "cost",
        "bill", "dollars", "money", "affordable", "value",
    ),
    "ambience": (
        "ambience", "ambiance", "atmosphere", "decor", "music", "lighting", "vibe",
        "noise", "noisy", "loud", "quiet", "romantic", "cozy", "interior", "crowd",
    ),
    "menu": (
        "menu", "menus", "selection", "options", "choices", "variety", "specials",
        "wine list", "choice",
    ),
    "place": (
        "place", "restaurant", "location", "spot", "neighborhood", "area", "table",
        "tables", "room", "bar", "patio", "outside", "view", "seating",
    ),
    "miscellaneous": (
        "reservation", "reservations", "experience", "night", "evening", "visit", "birthday",
        "anniversary", "date", "party", "friends", "family", "occasion", "weekend",
    ),
}  # fmt: skip

POSITIVE_WORDS = (
    "good", "great", "excellent", "amazing", "awesome", "fantastic", "wonderful",
    "delicious", "tasty", "yummy", "fresh", "perfect", "perfectly", "best", "love",
    "loved", "nice", "lovely", "pleasant", "enjoyed", "superb", "outstanding",
    "impressive", "recommend", "beautiful", "fine", "solid", "terrific", "incredible",
    "favorite", "happy", "glad", "worth",
)  # fmt: skip
NEGATIVE_WORDS = (
    "bad", "terrible", "awful", "horrible", "disgusting", "mediocre", "poor", "worst",
    "disappointing", "disappointed", "disappointment", "bland", "cold", "stale", "dry",
    "soggy", "burnt", "greasy", "salty", "tasteless", "overcooked", "undercooked",
    "rude", "slow", "dirty", "never", "nothing", "wrong", "forgot", "lacking",
    "overrated", "unacceptable", "sick", "inedible", "gross", "annoying",
)  # fmt: skip
# Words whose polarity holds for one aspect only: "cheap" praises a price and
# damns a chair, "loud" is said of a room, "attentive" of people.
ATTRIBUTE_POSITIVE: dict[str, tuple[str, ...]] = {
    "service": ("fast", "quick", "prompt", "efficient", "attentive", "friendly"),
    "staff": (
        "friendly", "attentive", "helpful", "polite", "courteous", "accommodating",
        "knowledgeable", "welcoming", "professional", "sweet", "gracious",
    ),
    "price": ("cheap", "affordable", "reasonable", "reasonably", "inexpensive", "bargain"),
    "ambience": ("cozy", "romantic", "quiet", "relaxing", "charming", "cute", "comfortable"),
    "menu": ("extensive", "varied", "interesting", "creative"),
    "place": ("cozy", "charming", "clean", "comfortable", "cute", "spacious"),
}  # fmt: skip
ATTRIBUTE_NEGATIVE: dict[str, tuple[str, ...]] = {
    "food": ("cheap", "small", "tiny", "tough", "lukewarm", "raw"),
    "service": ("long", "forever", "late", "inattentive", "ignored", "rushed", "waited"),
    "staff": (
        "unfriendly", "inattentive", "ignored", "arrogant", "condescending", "snobby",
        "rushed", "unprofessional", "nasty", "attitude",
    ),
    "price": ("expensive", "overpriced", "pricey", "steep", "ripoff"),
    "ambience": ("loud", "noisy", "dark", "dingy", "cramped", "crowded", "tacky"),
    "menu": ("limited", "small", "boring"),
    "place": ("cramped", "crowded", "small", "tiny", "dingy", "loud", "noisy"),
}  # fmt: skip

# How many words apart an aspect's keyword and a judging word may be: "the food was
# very good" (food ... good: 4) and "rude waiter" (1).
WINDOW = 4


def lexicon(attribute: str, label: str) -> tuple[str, ...]:
    """The words that judge ``attribute`` as ``label`` ("positive" or "negative"):
    the general list plus the attribute's own.

    Examples
    --------
    >>> "rude" in lexicon("staff", "negative"), "cheap" in lexicon("price", "positive")
    (True, True)
    """
    general, own = {
        "positive": (POSITIVE_WORDS, ATTRIBUTE_POSITIVE),
        "negative": (NEGATIVE_WORDS, ATTRIBUTE_NEGATIVE),
    }[label]
    return tuple(dict.fromkeys((*general, *own.get(attribute, ()))))


def mentioned(
    attribute: str, keywords: Sequence[str] | None = None, *, name: str | None = None
) -> DeclarativeLF:
    """Vote ``"mentioned"`` on ``attribute`` where one of its keywords occurs (by
    default ``ATTRIBUTE_WORDS[attribute]``).

    Examples
    --------
    >>> staff_mentioned = mentioned("staff")
    """
    return keyword_lf(
        name or f"{attribute}_mentioned",
        keywords or ATTRIBUTE_WORDS[attribute],
        "mentioned",
        attribute=attribute,
    )


def polarity(
    attribute: str,
    label: str,
    *,
    keywords: Sequence[str] | None = None,
    words: Sequence[str] | None = None,
    window: int = WINDOW,
    name: str | None = None,
) -> DeclarativeLF:
    """Vote ``label`` on ``attribute`` where one of its keywords occurs within
    ``window`` words, in the same clause, of a word judging it so (by default
    ``lexicon(attribute, label)``).

    Examples
    --------
    >>> rude_staff = polarity("staff", "negative")  # "the waiter was rude": negative
    """
    return keyword_lf(
        name or f"{attribute}_{label}",
        keywords or ATTRIBUTE_WORDS[attribute],
        label,
        attribute=attribute,
        near=words or lexicon(attribute, label),
        window=window,
    )


food_mentioned = mentioned("food")
food_positive = polarity("food", "positive")
food_negative = polarity("food", "negative")
service_mentioned = mentioned("service")
service_positive = polarity("service", "positive")
service_negative = polarity("service", "negative")
staff_mentioned = mentioned("staff")
staff_positive = polarity("staff", "positive")
staff_negative = polarity("staff", "negative")
price_mentioned = mentioned("price")
price_positive = polarity("price", "positive")
price_negative = polarity("price", "negative")
ambience_mentioned = mentioned("ambience")
ambience_positive = polarity("ambience", "positive")
ambience_negative = polarity("ambience", "negative")
menu_mentioned = mentioned("menu")
menu_positive = polarity("menu", "positive")
menu_negative = polarity("menu", "negative")
place_mentioned = mentioned("place")
place_positive = polarity("place", "positive")
place_negative = polarity("place", "negative")
miscellaneous_mentioned = mentioned("miscellaneous")
miscellaneous_positive = polarity("miscellaneous", "positive")
miscellaneous_negative = polarity("miscellaneous", "negative")


def _words(words: Sequence[str]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + r")\b", re.IGNORECASE)


_CLAUSE = re.compile(f"[{re.escape(CLAUSE_BREAKS)}]")
_KEYWORDS = {attribute: _words(words) for attribute, words in ATTRIBUTE_WORDS.items()}
_JUDGING = {
    attribute: _words(lexicon(attribute, "positive") + lexicon(attribute, "negative"))
    for attribute in ATTRIBUTE_WORDS
}


@labeling_function
def neutral_mentions(x: Example) -> dict[str, str]:
    """``"neutral"`` on each attribute whose keywords occur only in clauses that hold
    no word judging it either way ("we sat at the bar": place, neutral)."""
    clauses = _CLAUSE.split(x.text)
    votes = {}
    for attribute, keywords in _KEYWORDS.items():
        naming = [clause for clause in clauses if keywords.search(clause)]
        if naming and not any(_JUDGING[attribute].search(clause) for clause in naming):
            votes[attribute] = "neutral"
    return votes
