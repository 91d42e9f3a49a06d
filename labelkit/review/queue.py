"""The review queue: flagged examples handed to people one at a time, every answer kept.

Decisions are only ever appended. Undo appends a reversal of the reviewer's latest
live decision; the newest live decision on an example is the one that counts.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb
import polars as pl

from labelkit.errors import InputError
from labelkit.workspace import Workspace, first_row

ACTIONS = ("accept", "reject", "label", "skip", "ambiguous")
"""accept: the suggested label is right; reject: it is wrong; label: this label instead;
skip: no answer now; ambiguous: no single label fits (excluded from the cleaned set)."""

# A decision is live unless it is an undo or has been undone.
LIVE_DECISIONS = """
    SELECT * FROM decisions
    WHERE action <> 'undo'
      AND decision_id NOT IN (SELECT undoes FROM decisions WHERE undoes IS NOT NULL)
"""

EFFECTIVE_DECISIONS = f"""
    SELECT * FROM ({LIVE_DECISIONS})
    QUALIFY row_number() OVER (PARTITION BY example_id ORDER BY decision_id DESC) = 1
"""


@dataclass(frozen=True)
class ReviewItem:
    """One flagged example as a reviewer sees it."""

    example_id: str
    text: str
    given_label: str
    suggested_label: str
    reasons: str
    priority: float
    votes: dict[str, str]


class ReviewQueue:
    """The workspace's queue of flagged examples, highest priority first.

    Examples
    --------
    >>> queue = ReviewQueue(ws)
    >>> item = queue.next()
    >>> queue.answer(item.example_id, "accept", reviewer="ana", seconds=2.5)
    1
    """

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.labels = workspace.task.labels

    def pending(self, limit: int | None = None) -> pl.DataFrame:
        """Queued items without a live decision, with their text, in review order."""
        return self.workspace.sql(
            f"""SELECT q.*, e.text FROM queue q JOIN examples e ON e.id = q.example_id
                WHERE q.example_id NOT IN (SELECT example_id FROM ({EFFECTIVE_DECISIONS}))
                ORDER BY q.priority DESC, q.example_id
                LIMIT ?""",
            [limit],
        )

    def next(self) -> ReviewItem | None:
        """The highest-priority item nobody has answered, or None when the queue is done."""
        pending = self.pending(limit=1)
        if pending.height == 0:
            return None
        row = pending.row(0, named=True)
        votes = self.workspace.sql(
            "SELECT source, label FROM votes WHERE example_id = ? ORDER BY source",
            [row["example_id"]],
        )
        return ReviewItem(
            example_id=row["example_id"],
            text=row["text"],
            given_label=row["given_label"],
            suggested_label=row["suggested_label"],
            reasons=row["reasons"],
            priority=row["priority"],
            votes=dict(zip(votes["source"], votes["label"], strict=True)),
        )

    def answer(
        self,
        example_id: str,
        action: str,
        *,
        reviewer: str,
        label: str | None = None,
        seconds: float = 0.0,
        comment: str | None = None,
    ) -> int:
        """Append a decision on a queued example; return its id.

        ``accept`` records the suggested label; ``reject`` records the other label when
        the task is binary, and no label otherwise; ``label`` needs ``label``.
        """
        if action not in ACTIONS:
            raise InputError(f"unknown review action {action!r}; use one of {list(ACTIONS)}")
        queued = first_row(
            self.workspace.con,
            "SELECT suggested_label FROM queue WHERE example_id = ?",
            [example_id],
        )
        if queued is None:
            raise InputError(f"example {example_id!r} is not in the review queue")
        chosen = self._label_for(action, queued[0], label)
        with self.workspace.transaction() as con:
            return _append(con, example_id, reviewer, action, chosen, None, seconds, comment)

    def undo(self, *, reviewer: str) -> str | None:
        """Reverse ``reviewer``'s latest live decision; return its example id (None if none)."""
        with self.workspace.transaction() as con:
            latest = first_row(
                con,
                f"""SELECT decision_id, example_id FROM ({LIVE_DECISIONS})
                    WHERE reviewer = ? ORDER BY decision_id DESC LIMIT 1""",
                [reviewer],
            )
            if latest is None:
                return None
            _append(con, latest[1], reviewer, "undo", None, latest[0], 0.0, None)
            return str(latest[1])

    def decisions(self) -> pl.DataFrame:
        """The decision that counts for every reviewed example."""
        return self.workspace.sql(f"SELECT * FROM ({EFFECTIVE_DECISIONS}) ORDER BY decision_id")

    def progress(self) -> dict[str, int]:
        """Counts for a progress line: queued, reviewed, remaining, and labels corrected."""
        row = first_row(
            self.workspace.con,
            f"""SELECT (SELECT count(*) FROM queue),
                       count(*),
                       count(*) FILTER (WHERE d.label IS DISTINCT FROM q.given_label
                                        AND d.action IN ('accept', 'reject', 'label'))
                FROM ({EFFECTIVE_DECISIONS}) d JOIN queue q USING (example_id)""",
        )
        queued, reviewed, corrected = row if row else (0, 0, 0)
        return {
            "queued": queued,
            "reviewed": reviewed,
            "remaining": queued - reviewed,
            "corrected": corrected,
        }

    def _label_for(self, action: str, suggested: str, label: str | None) -> str | None:
        if action == "label":
            if label not in self.labels:
                raise InputError(f"review label {label!r} is not one of {list(self.labels)}")
            return label
        if action == "accept":
            return suggested
        if action == "reject" and len(self.labels) == 2:
            return next(other for other in self.labels if other != suggested)
        return None


def simulate_review(
    queue: ReviewQueue, answers: Mapping[str, str], *, limit: int, reviewer: str = "simulated"
) -> int:
    """Answer the first ``limit`` queued items from known labels, as a perfect reviewer would.

    For demos and benchmarks: gold labels stand in for a person. Returns the number answered.

    Examples
    --------
    >>> simulate_review(ReviewQueue(ws), gold_by_id, limit=50, reviewer="gold")
    50
    """
    answered = 0
    pending = queue.pending(limit=limit)
    for example_id, suggested in zip(
        pending["example_id"], pending["suggested_label"], strict=True
    ):
        truth = answers.get(example_id)
        if truth is None:
            queue.answer(example_id, "skip", reviewer=reviewer)
        elif truth == suggested:
            queue.answer(example_id, "accept", reviewer=reviewer)
        else:
            queue.answer(example_id, "label", label=truth, reviewer=reviewer)
        answered += 1
    return answered


def _append(
    con: duckdb.DuckDBPyConnection,
    example_id: str,
    reviewer: str,
    action: str,
    label: str | None,
    undoes: int | None,
    seconds: float,
    comment: str | None,
) -> int:
    row = first_row(con, "SELECT coalesce(max(decision_id), 0) + 1 FROM decisions")
    decision_id = int(row[0]) if row else 1
    con.execute(
        "INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, to_timestamp(?)::TIMESTAMP)",
        [decision_id, example_id, reviewer, action, label, undoes, seconds, comment, time.time()],
    )
    return decision_id
