"""The question asked of every text: its kind, its labels and its attributes.

Labels are named strings everywhere in the API; integer codes (``ABSTAIN`` = -1)
exist only inside matrices, and ``Task`` is the one place that maps between them.

Every kind is answered one attribute at a time, and each attribute is an exclusive
classification of its own (``Task.answers``), so votes, label models, flags, the
queue and decisions carry an ``attribute`` and otherwise work as for one label per
text:

- ``classification``: one attribute, ``""``, whose answers are the labels;
- ``aspects``: each of ``attributes`` is one of ``labels`` or ``"none"`` (not
  mentioned); a vote may also say only ``"mentioned"``;
- ``multilabel``: each label is an attribute of its own, answered ``"yes"`` or
  ``"no"``;
- ``spans``: the labels are entity types, and an answer is a set of character spans
  ``[start, end)`` of the text, each with a type (``labelkit.spans``). A spans task has
  no fixed attributes, so ``targets`` refuses it, and so does every stage that works
  per attribute (``require_attributes``). One span of a text, its attribute written
  ``"<start>:<end>"``, is answered with an entity type or ``"none"`` (``answers``):
  the question a review item about one span asks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from labelkit.errors import InputError

ABSTAIN = -1

TASK_KINDS = ("classification", "aspects", "multilabel", "spans")
# The answer of an aspect that a text does not mention, and the vote that says only
# that it is mentioned (the label models split it into presence, then polarity).
NONE = "none"
MENTIONED = "mentioned"
# A multi-label task's answers for each label.
YES, NO = "yes", "no"
# A span vote meaning "no entity here" over a stretch of text (WRENCH's "O").
OUTSIDE = "O"


@dataclass(frozen=True)
class Task:
    """A labeling task: its ``kind`` (see the module), ``labels`` and ``attributes``.

    ``labels`` keep the order they were given in: codes, probability columns and
    answer letters follow it. ``attributes`` are the aspects of an ``aspects`` task
    (empty for the other kinds). ``lang`` is the spaCy language code of the texts,
    used to tokenize them for pattern LFs and for training.

    Examples
    --------
    >>> task = Task(labels=("ham", "spam"))
    >>> task.code("spam"), task.cardinality, task.lang
    (1, 2, 'en')
    >>> reviews = Task(("positive", "negative"), kind="aspects", attributes=("food", "staff"))
    >>> reviews.targets, reviews.answers("food").labels
    (('food', 'staff'), ('positive', 'negative', 'none'))
    """

    labels: tuple[str, ...]
    kind: str = "classification"
    lang: str = "en"
    attributes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise InputError(f"unknown task kind {self.kind!r}; known kinds: {TASK_KINDS}")
        if self.kind == "classification" and len(self.labels) < 2:
            raise InputError(f"a task needs at least two labels, got {list(self.labels)}")
        if not self.labels:
            raise InputError(
                f"a{'n' if self.kind == 'aspects' else ''} {self.kind} task needs a label"
            )
        _check_names("labels", self.labels)
        if self.kind == "spans" and {OUTSIDE, NONE} & set(self.labels):
            raise InputError(
                f"{sorted({OUTSIDE, NONE} & set(self.labels))} cannot be an entity type: "
                f"{OUTSIDE!r} is a span vote for no entity, and {NONE!r} the answer of a span "
                "that is none"
            )
        if self.kind == "aspects":
            if not self.attributes:
                raise InputError("an aspects task needs at least one attribute")
            _check_names("attributes", self.attributes)
            reserved = sorted({NONE, MENTIONED} & set(self.labels))
            if reserved:
                raise InputError(
                    f"{reserved} cannot be an aspect's label: {NONE!r} is the answer of an "
                    f"attribute not mentioned, and {MENTIONED!r} a vote that it is"
                )
        elif self.attributes:
            raise InputError(f"only an aspects task has attributes, not a {self.kind} task")

    @property
    def cardinality(self) -> int:
        return len(self.labels)

    @property
    def targets(self) -> tuple[str, ...]:
        """The attributes answered for every text: ``("",)`` for classification, the
        attributes of an aspects task, the labels of a multi-label one; a spans task
        has none (its answers are spans) and raises ``InputError``."""
        if self.kind == "spans":
            self.require_attributes("this step")
        if self.kind == "aspects":
            return self.attributes
        if self.kind == "multilabel":
            return self.labels
        return ("",)

    @property
    def target_noun(self) -> str:
        """What a user calls one of ``targets`` in a message: ``"label"`` on a
        multi-label task (its targets are its labels), ``"attribute"`` otherwise.

        Examples
        --------
        >>> Task(("sports", "tech"), kind="multilabel").target_noun
        'label'
        """
        return "label" if self.kind == "multilabel" else "attribute"

    def require_attributes(self, stage: str) -> tuple[str, ...]:
        """``targets``, for ``stage`` (a step that works per attribute, named in the
        error); a spans task, which has no fixed attributes, raises ``InputError``.

        Examples
        --------
        >>> Task(("TERM",), kind="spans").require_attributes("a label matrix")
        Traceback (most recent call last):
        ...
        labelkit.errors.InputError: a label matrix works per attribute (classification, aspects, ...
        """
        if self.kind == "spans":
            raise InputError(
                f"{stage} works per attribute (classification, aspects, multilabel tasks); "
                "this workspace's task is spans, whose answers are character spans, and it "
                "has no span path yet"
            )
        return self.targets

    def answers(self, attribute: str = "") -> Task:
        """The exclusive classification that answers ``attribute``: the task itself for
        classification, ``labels`` and ``"none"`` for an aspect, ``"yes"`` and
        ``"no"`` for a label of a multi-label task.

        Examples
        --------
        >>> Task(("sports", "tech"), kind="multilabel").answers("tech").labels
        ('yes', 'no')
        >>> Task(("TERM",), kind="spans").answers("4:10").labels
        ('TERM', 'none')
        """
        if self.kind == "spans":
            span_bounds(attribute)
            return Task(labels=(*self.labels, NONE), lang=self.lang)
        if attribute not in self.targets:
            noun = self.target_noun
            if self.kind == "classification":
                # Trial 44: "this task's attributes are ['']".
                raise InputError(
                    f"unknown attribute {attribute!r}: a classification task has no attributes"
                )
            raise InputError(
                f"unknown {noun} {attribute!r}; this task's {noun}s are {list(self.targets)}"
            )
        if self.kind == "aspects":
            return Task(labels=(*self.labels, NONE), lang=self.lang)
        if self.kind == "multilabel":
            return Task(labels=(YES, NO), lang=self.lang)
        return self

    def vote_task(self, attribute: str = "") -> Task:
        """What a source may vote on ``attribute``: its answers, and for an aspect also
        ``"mentioned"`` (present, polarity unknown), the last code.

        Examples
        --------
        >>> Task(("positive", "negative"), kind="aspects", attributes=("food",)).vote_task(
        ...     "food").labels
        ('positive', 'negative', 'none', 'mentioned')
        """
        answers = self.answers(attribute)
        if self.kind != "aspects":
            return answers
        return Task(labels=(*answers.labels, MENTIONED), lang=self.lang)

    def gold_answers(self, gold: pl.Series, attribute: str = "") -> pl.Series:
        """Each example's gold answer on ``attribute``, null where its gold is unknown.

        Gold is stored as one string per example: the label for classification, a JSON
        object of attribute to label for aspects (an attribute it lacks is ``"none"``),
        a JSON list of labels for multi-label, a JSON list of ``[start, end, label]``
        for spans (the answer on ``"<start>:<end>"`` is the label of a gold span with
        exactly those bounds, else ``"none"``).

        Examples
        --------
        >>> task = Task(("positive", "negative"), kind="aspects", attributes=("food", "staff"))
        >>> task.gold_answers(pl.Series(['{"food": "positive"}', None]), "staff").to_list()
        ['none', None]
        """
        self.answers(attribute)
        gold = gold.cast(pl.String)
        if self.kind == "spans":
            start, end = span_bounds(attribute)
            # [start, end, label] read as strings: a list holds one type.
            span = pl.element()
            exact = (span.list.get(0) == str(start)) & (span.list.get(1) == str(end))
            answer = (
                gold.str.json_decode(pl.List(pl.List(pl.String)))
                .list.eval(span.filter(exact).list.get(2))
                .list.first()
                .fill_null(NONE)
            )
        elif self.kind == "aspects":
            fields = pl.Struct({name: pl.String for name in self.attributes})
            answer = gold.str.json_decode(fields).struct.field(attribute).fill_null(NONE)
        elif self.kind == "multilabel":
            present = gold.str.json_decode(pl.List(pl.String)).list.contains(attribute)
            answer = present.replace_strict({True: YES, False: NO}, return_dtype=pl.String)
        else:
            return gold
        return pl.select(pl.when(gold.is_not_null()).then(answer)).to_series().alias(gold.name)

    def code(self, label: str) -> int:
        """The integer code of ``label``; raises ``InputError`` for a label outside the task."""
        try:
            return self.labels.index(label)
        except ValueError:
            raise InputError(
                f"unknown label {label!r}; this task's labels are {list(self.labels)}"
            ) from None

    def encode(self, labels: pl.Series | Sequence[str | None]) -> np.ndarray:
        """Integer codes of label names, ``ABSTAIN`` for None; an unknown label is an error.

        Examples
        --------
        >>> Task(labels=("ham", "spam")).encode(["spam", None, "ham"])
        array([ 1, -1,  0])
        """
        series = pl.Series(labels, dtype=pl.String)
        unknown = series.filter(series.is_not_null() & ~series.is_in(self.labels))
        if unknown.len():
            raise InputError(
                f"unknown label {unknown[0]!r}; this task's labels are {list(self.labels)}"
            )
        mapping = {label: k for k, label in enumerate(self.labels)}
        return (
            series.replace_strict(mapping, default=ABSTAIN, return_dtype=pl.Int64)
            .fill_null(ABSTAIN)
            .to_numpy()
        )

    def decode(self, codes: np.ndarray, name: str = "label") -> pl.Series:
        """Label names of integer codes, null for ``ABSTAIN``.

        Examples
        --------
        >>> Task(labels=("ham", "spam")).decode(np.array([1, -1])).to_list()
        ['spam', None]
        """
        return pl.Series(name, codes).replace_strict(
            dict(enumerate(self.labels)), default=None, return_dtype=pl.String
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": self.kind,
                "labels": list(self.labels),
                "lang": self.lang,
                "attributes": list(self.attributes),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Task:
        data = json.loads(text)
        return cls(
            labels=tuple(data["labels"]),
            kind=data["kind"],
            lang=data["lang"],
            attributes=tuple(data.get("attributes", ())),
        )


def span_bounds(attribute: str) -> tuple[int, int]:
    """The character bounds ``(start, end)`` of a span attribute ``"<start>:<end>"``.

    Examples
    --------
    >>> span_bounds("4:10")
    (4, 10)
    """
    start, sep, end = attribute.partition(":")
    # isdecimal, not isdigit: "²" is a digit that int() refuses.
    if not (sep and start.isdecimal() and end.isdecimal() and int(start) < int(end)):
        raise InputError(
            f"a span's attribute is '<start>:<end>', character offsets with start < end, "
            f"got {attribute!r}"
        )
    return int(start), int(end)


# Control characters (tabs and newlines too): in a new label or attribute they are a
# stray escape code or a broken CSV, and would reach every table, file name and page
# that names it. (Bidirectional overrides are text; every display shows them inert.)
UNPRINTABLE = r"[\x00-\x1f\x7f-\x9f]"


def _check_names(what: str, names: tuple[str, ...]) -> None:
    if len(set(names)) != len(names):
        raise InputError(f"{what} must be distinct, got {list(names)}")
    if any(not name or name != name.strip() for name in names):
        raise InputError(f"{what} must be non-empty and unpadded, got {list(names)}")


def refuse_unprintable(what: str, names: Sequence[str]) -> None:
    """Refuse new ``names`` (labels or attributes) that hold a control character, as
    ``ingest`` does for the task it sets. ``Task`` itself takes them, so that a task
    stored before this check still loads.

    Examples
    --------
    >>> refuse_unprintable("labels", ["ham", "spam\x1b[31m"])
    Traceback (most recent call last):
    InputError: labels must hold no control characters (a stray escape code, tab or ...
    """
    unprintable = [name for name in names if re.search(UNPRINTABLE, name)]
    if unprintable:
        raise InputError(
            f"{what} must hold no control characters (a stray escape code, tab or line "
            f"break?), got {unprintable}"
        )
