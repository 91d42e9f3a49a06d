from __future__ import annotations

import unicodedata

import pytest
import spacy

from labelkit import InputError, parse_label
from labelkit.llm.parse import align_answers, align_entities, parse_entities
from labelkit.spans import tokenize

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


# The prompt listed the options in this order; the task holds its labels sorted.
EMOTIONS = ["fear", "anger", "joy", "sadness", "love", "surprise"]
TASK_LABELS = sorted(EMOTIONS)


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
        ("Answer: B", "anger"),
        ("The answer is (C)", "joy"),
        ("Option F", "surprise"),
        ("G", None),
        ("I am not sure", None),
        ("A B", None),
    ],
)
def test_option_letters_map_through_the_prompts_option_order(
    raw: str, expected: str | None
) -> None:
    assert parse_label(raw, TASK_LABELS, letters=EMOTIONS) == expected
    by_letter = {chr(ord("A") + i): label for i, label in enumerate(EMOTIONS)}
    assert parse_label(raw, TASK_LABELS, letters=by_letter) == expected


def test_letters_are_only_read_when_asked() -> None:
    assert parse_label("B", EMOTIONS) is None


def test_letters_without_the_option_order_are_refused() -> None:
    # Read through the task's sorted labels, "B" would silently be "fear", not "anger".
    with pytest.raises(InputError, match="need the prompt's option order"):
        parse_label("B", TASK_LABELS, letters=True)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"option letters name labels the task lacks: \['rage'\]"):
        parse_label("B", TASK_LABELS, letters=["fear", "rage"])
    # Trial 29: a misspelt label got no hint.
    with pytest.raises(
        InputError, match=r"\['feer'\]; its labels are .* \(did you mean 'fear'\?\)"
    ):
        parse_label("B", TASK_LABELS, letters=["feer", "anger"])


def test_option_letters_name_labels_as_answers_do() -> None:
    # Trial 30: --letters "Anger,Fear,..." was refused on a task whose labels are lower case.
    assert parse_label("B", TASK_LABELS, letters=["Fear", "ANGER"]) == "anger"
    assert parse_label("A", NEWS, letters={"A": "sci tech", "B": "world"}) == "Sci/Tech"


def test_option_letters_go_past_z() -> None:
    labels = [f"trope {i}" for i in range(30)]
    assert parse_label("AB: Dumb Blonde", sorted(labels), letters=labels) == "trope 27"


NEWS = ["Business", "Sci/Tech", "Sports", "World"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Sci-Tech", "Sci/Tech"),
        ("Sci Tech", "Sci/Tech"),
        ("sci_tech.", "Sci/Tech"),
        ("This is about sci tech.", "Sci/Tech"),
        ("Science/Technology", "Sci/Tech"),
        ('{"label": "Science & Technology"}', "Sci/Tech"),
        ("I would say science and technology", None),
        ("Athletics", "Sports"),
        ("World sports news", None),
        ("Scientific", None),
    ],
)
def test_label_names_ignore_separators_and_aliases_add_names(
    raw: str, expected: str | None
) -> None:
    aliases = {"Sci/Tech": ["Science/Technology", "Science & Technology"], "Sports": ["Athletics"]}
    assert parse_label(raw, NEWS, aliases=aliases) == expected


def test_an_alias_of_no_label_is_an_error() -> None:
    with pytest.raises(InputError, match=r"aliases name labels the task lacks: \['Tech'\]"):
        parse_label("x", NEWS, aliases={"Tech": ["Technology"]})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Yes", "spam"), ("yes, it is", "spam"), ("No.", "ham"), ("Nope", None), ("nothing", None)],
)
def test_yes_no_answers_for_a_binary_question(raw: str, expected: str | None) -> None:
    assert parse_label(raw, LABELS, yes_no=("spam", "ham")) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"entities": [{"text": "screen", "label": "TERM"}]}', [("screen", "TERM")]),
        ('[{"label": "TERM", "text": "fan"}]', [("fan", "TERM")]),
        ('{"text": "fan", "label": "TERM"}', [("fan", "TERM")]),
        ('{"entities": []}', []),
        ('{"entities": [{"text": 3}, "fan"]}', [("", ""), ("", "")]),
        ('{"entities": [{"text": "fan", "label": "TERM"}, {"text": "scr', [("fan", "TERM")]),
        ("The entities are fan and screen.", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_entities(raw: str | None, expected: list[tuple[str, str]] | None) -> None:
    assert parse_entities(raw) == expected


def test_entities_align_in_nfc_or_nfd_and_never_inside_a_word() -> None:
    text = unicodedata.normalize("NFD", "Le café du programme, RAM")
    entities = [("Café", "TERM"), ("ram", "TERM"), ("", "TERM"), ("gramme", "TERM")]
    spans, failures = align_entities(text, entities, ["TERM"], tokenize([text])[0])
    assert [(text[s.start : s.end], s.label) for s in spans] == [
        (unicodedata.normalize("NFD", "café"), "TERM"),
        ("RAM", "TERM"),
    ]
    assert [(f["text"], f["reason"]) for f in failures] == [
        ("", "not in the text"),
        ("gramme", "not in the text"),
    ]


def test_an_entity_of_one_letter_marks_no_longer_name_it_begins_or_ends() -> None:
    # Trial 56a: "C" marked the token "C++" and "R" the token "R&D.", 66 votes in all.
    text = "Must know C. Also C++ and C#, R and R&D. 5+ years of COVID-19 work, Node.js"
    entities = [("C", "SKILL"), ("R", "SKILL"), ("C++", "SKILL"), ("D", "SKILL"),
                ("5", "SKILL"), ("COVID", "SKILL"), ("Node", "SKILL")]  # fmt: skip
    spans, failures = align_entities(text, entities, ["SKILL"], tokenize([text])[0])
    # The second read: a number before "+" is found, and a name snaps to the token
    # holding it with other characters ("COVID-19", "Node.js"), as before.
    assert [text[s.start : s.end] for s in spans] == [
        "C.", "C++", "R", "5", "COVID-19", "Node.js"
    ]  # fmt: skip
    assert [(f["text"], f["reason"]) for f in failures] == [("D", "not in the text")]


def test_a_name_that_is_also_a_common_word_marks_the_occurrences_cased_alike() -> None:
    # Trial 67a: the skill "Go" marked the verb in "Ready to go?" 23 times. The second
    # read: "Python" must still mark "python", a model's or a writer's lower case.
    text = "We use Go and Python. Ready to go? Write python  daily, MAKE builds"
    entities = [("Go", "SKILL"), ("Python", "SKILL"), ("make", "SKILL")]
    common = spacy.util.get_lang_class("en").Defaults.stop_words
    found, failures = align_entities(
        text, entities, ["SKILL"], tokenize([text])[0], common_words=common
    )
    # "make" in lower case marks "MAKE": only a capital says a name.
    assert [text[s.start : s.end] for s in found] == ["Go", "Python", "python", "MAKE"]
    assert failures == []
    # Cased as no occurrence is, it marks every one; without common words, every one.
    shouted, _ = align_entities(
        text, [("GO", "SKILL")], ["SKILL"], tokenize([text])[0], common_words=common
    )
    plain, _ = align_entities(text, [("Go", "SKILL")], ["SKILL"], tokenize([text])[0])
    assert (
        [text[s.start : s.end] for s in shouted]
        == [text[s.start : s.end] for s in plain]
        == ["Go", "go"]
    )
    answers = align_answers([text], ['[{"text": "Go", "label": "SKILL"}]'], ["SKILL"], "en")
    assert answers[0] is not None and answers[0]["spans"] == [[7, 9, "SKILL"]]


def test_overlapping_spans_of_one_answer_keep_the_longest() -> None:
    text = "the battery life and the battery"
    entities = [("battery", "TERM"), ("battery life", "TERM"), ("life", "BRAND")]
    spans, failures = align_entities(text, entities, ["TERM", "BRAND"], tokenize([text])[0])
    assert [(s.start, s.end, s.label) for s in spans] == [(4, 16, "TERM"), (25, 32, "TERM")]
    assert failures == []


def test_spaces_around_punctuation_may_be_in_the_answer_the_text_or_neither() -> None:
    # Trial 59b: "€ 12,50" was not found in "€12,50", though "€12,50" was in "€ 12,50".
    text = "Topf-Set für €12,50 oder US$ 9.99, battery life"
    entities = [("€ 12,50", "PRICE"), ("US$9.99", "PRICE"), ("Topf - Set", "PRODUCT"),
                ("batterylife", "PRODUCT")]  # fmt: skip
    spans, failures = align_entities(text, entities, ["PRICE", "PRODUCT"], tokenize([text])[0])
    assert [(text[s.start : s.end], s.label) for s in spans] == [
        ("Topf-Set", "PRODUCT"), ("€12,50", "PRICE"), ("US$ 9.99", "PRICE")
    ]  # fmt: skip
    # Two words stay two words.
    assert [(f["text"], f["reason"]) for f in failures] == [("batterylife", "not in the text")]


def test_words_an_answer_gives_two_types_mark_nothing_and_are_failures() -> None:
    # Trial 59b: "Haartrockner" as BRAND and as PRODUCT became BRAND everywhere (the
    # first type by name), 114 wrong spans and no word of it.
    text = "Haartrockner von Braun, Haartrockner"
    entities = [("Haartrockner", "PRODUCT"), ("haartrockner", "BRAND"), ("Braun", "BRAND")]
    spans, failures = align_entities(text, entities, ["BRAND", "PRODUCT"], tokenize([text])[0])
    assert [(text[s.start : s.end], s.label) for s in spans] == [("Braun", "BRAND")]
    assert [(f["text"], f["label"], f["reason"]) for f in failures] == [
        ("Haartrockner", "PRODUCT", "given another type too"),
        ("haartrockner", "BRAND", "given another type too"),
    ]
    # The second read: an entity that still marks a span elsewhere is no failure.
    text = "Haartrockner and Haartrockner´s"
    entities = [("Haartrockner", "BRAND"), ("Haartrockner´s", "PRODUCT")]
    spans, failures = align_entities(text, entities, ["BRAND", "PRODUCT"], tokenize([text])[0])
    assert [(s.start, s.end, s.label) for s in spans] == [(0, 12, "BRAND")]
    assert [(f["text"], f["reason"]) for f in failures] == [
        ("Haartrockner´s", "given another type too")
    ]
