"""The question asked of every text: its kind and its label set.

Labels are named strings everywhere in the API; integer codes (``ABSTAIN`` = -1)
exist only inside matrices, and ``Task`` is the one place that maps between them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from labelkit.errors import InputError

ABSTAIN = -1

TASK_KINDS = ("classification",)


@dataclass(frozen=True)
class Task:
    """A labeling task: exclusive classification over ``labels`` (more kinds will follow).

    Examples
    --------
    >>> task = Task(labels=("ham", "spam"))
    >>> task.code("spam"), task.cardinality
    (1, 2)
    """

    labels: tuple[str, ...]
    kind: str = "classification"

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

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "labels": list(self.labels)})

    @classmethod
    def from_json(cls, text: str) -> Task:
        data = json.loads(text)
        return cls(labels=tuple(data["labels"]), kind=data["kind"])
