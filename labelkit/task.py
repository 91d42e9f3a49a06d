"""The question asked of every text: its kind and its label set.

Labels are named strings everywhere in the API; integer codes (``ABSTAIN`` = -1)
exist only inside matrices, and ``Task`` is the one place that maps between them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from labelkit.errors import InputError

ABSTAIN = -1

TASK_KINDS = ("classification",)


@dataclass(frozen=True)
class Task:
    """A labeling task: exclusive classification over ``labels`` (more kinds will follow).

    ``labels`` keep the order they were given in: codes, probability columns and
    answer letters follow it. ``lang`` is the spaCy language code of the texts, used
    to tokenize them for pattern LFs and for training.

    Examples
    --------
    >>> task = Task(labels=("ham", "spam"))
    >>> task.code("spam"), task.cardinality, task.lang
    (1, 2, 'en')
    """

    labels: tuple[str, ...]
    kind: str = "classification"
    lang: str = "en"

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise InputError(f"unknown task kind {self.kind!r}; known kinds: {TASK_KINDS}")
        if len(self.labels) < 2:
            raise InputError(f"a task needs at least two labels, got {list(self.labels)}")
        if len(set(self.labels)) != len(self.labels):
            raise InputError(f"labels must be distinct, got {list(self.labels)}")
        if any(not label or label != label.strip() for label in self.labels):
            raise InputError(f"labels must be non-empty and unpadded, got {list(self.labels)}")

    @property
    def cardinality(self) -> int:
        return len(self.labels)

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
        return json.dumps({"kind": self.kind, "labels": list(self.labels), "lang": self.lang})

    @classmethod
    def from_json(cls, text: str) -> Task:
        data = json.loads(text)
        return cls(labels=tuple(data["labels"]), kind=data["kind"], lang=data["lang"])
