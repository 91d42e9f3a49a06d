from __future__ import annotations

import polars as pl

from labeling_functions.restaurants import ATTRIBUTE_WORDS, lexicon, mentioned, polarity
from labelkit import Task, load_lfs
from labelkit.lf import compute_votes

MAMS = ("food", "service", "staff", "price", "ambience", "menu", "place", "miscellaneous")
TASK = Task(("positive", "negative", "neutral"), kind="aspects", attributes=MAMS)
# Written for these tests, not taken from MAMS.
REVIEWS = [
    "The waiter was rude to us but the pasta was delicious.",
    "Prices are reasonable, and the decor is charming",
    "We sat at the bar.",
    "The bill was steep for such tiny portions",
    "The menu is limited",
]


def answers(lfs: list, texts: list[str] = REVIEWS) -> dict[str, list[dict[str, str]]]:
    """Per text, each LF's votes as {attribute: label}, keyed by LF name."""
    frame = pl.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts})
    applied = compute_votes(lfs, frame, TASK)
    assert applied.errors.height == 0
    votes: dict[str, list[dict[str, str]]] = {lf.name: [{} for _ in texts] for lf in lfs}
    for attribute, matrix in applied.matrices.items():
        for name, column in matrix.to_frame().drop("example_id").to_dict().items():
            for i, label in enumerate(column):
                if label is not None:
                    votes[name][i][attribute] = label
    return votes


def test_the_module_has_mentioned_and_polarity_lfs_for_every_mams_attribute() -> None:
    lfs = load_lfs("labeling_functions.restaurants")
    names = [lf.name for lf in lfs]
    assert set(ATTRIBUTE_WORDS) == set(MAMS)
    for attribute in MAMS:
        for suffix in ("mentioned", "positive", "negative"):
            assert f"{attribute}_{suffix}" in names
    assert names[-1] == "neutral_mentions" and len(names) == 3 * len(MAMS) + 1


def test_restaurant_lfs_vote_mentions_and_polarity_per_attribute() -> None:
    votes = answers(load_lfs("labeling_functions.restaurants"))
    assert votes["staff_mentioned"][0] == {"staff": "mentioned"}
    assert votes["staff_negative"][0] == {"staff": "negative"}
    assert votes["food_positive"][0] == {"food": "positive"}
    # "rude" and "pasta" are 5 words apart (the window is 4): rude judges the staff only.
    assert votes["food_negative"][0] == {}
    assert votes["price_positive"][1] == {"price": "positive"}
    assert votes["ambience_positive"][1] == {"ambience": "positive"}
    assert votes["neutral_mentions"][2] == {"place": "neutral"}
    assert votes["price_negative"][3] == {"price": "negative"}
    assert votes["food_negative"][3] == {"food": "negative"}
    assert votes["menu_negative"][4] == {"menu": "negative"}
    # The clause of each mention holds a judging word: no neutral vote.
    assert votes["neutral_mentions"][0] == {} and votes["neutral_mentions"][3] == {}


def test_factories_make_lfs_from_other_words() -> None:
    patio = mentioned("place", ["patio", "terrace"], name="patio")
    grumpy = polarity("staff", "negative", keywords=["host"], words=["grumpy"], name="grumpy")
    votes = answers([patio, grumpy], ["a grumpy host on the terrace", "the host was nice"])
    assert votes["patio"] == [{"place": "mentioned"}, {}]
    assert votes["grumpy"] == [{"staff": "negative"}, {}]
    assert "attitude" in lexicon("staff", "negative")
    assert "attitude" not in lexicon("price", "negative")
    assert "cheap" in lexicon("price", "positive") and "cheap" in lexicon("food", "negative")
