"""The review queue: flagged examples handed to people one at a time, every answer kept.

Decisions are only ever appended. Undo appends a reversal of the reviewer's latest
live decision; the newest live decision on an example is the one that counts.

Several reviewers share one queue through one process that owns the workspace (DuckDB
lets one process write a file): the web server, or a script with one ``ReviewQueue``
used from many threads. ``next(reviewer=...)`` claims the item it hands out until
the reviewer answers or the claim expires, so two reviewers never see the same item
at once; every operation holds the queue's lock and runs in one transaction.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass

import duckdb
import polars as pl

from labelkit.errors import InputError
from labelkit.workspace import Workspace, first_row

ACTIONS = ("accept", "reject", "label", "skip", "ambiguous")
"""What a reviewer can answer to an item's question, "is this <candidate>?":
accept: yes, the candidate is stored; reject: no (on a two-label task the other label is
stored; otherwise the candidate is ruled out and the item stays queued until someone gives
its label); label: this label; skip: no answer (the label model's label stays);
ambiguous: no single label fits (excluded from the cleaned set)."""

ANSWERS = ("accept", "reject", "label")
"""The actions that give an item its label."""

RULED_OUT = "ruled_out"
"""The stored action of a multi-class ``reject``: ``label`` is the candidate ruled out. It
is not a final decision: the item stays in the queue for the full question."""

# A decision is live unless it is an undo or has been undone.
LIVE_DECISIONS = """
    SELECT * FROM decisions
    WHERE action <> 'undo'
      AND decision_id NOT IN (SELECT undoes FROM decisions WHERE undoes IS NOT NULL)
"""

# The final decision that counts for an example's attribute: its newest live one,
# ruling-outs aside.
EFFECTIVE_DECISIONS = f"""
    SELECT * FROM ({LIVE_DECISIONS}) WHERE action <> '{RULED_OUT}'
    QUALIFY row_number() OVER (PARTITION BY example_id, attribute ORDER BY decision_id DESC) = 1
"""

# The labels live decisions have ruled out, per example and attribute.
RULED_OUT_LABELS = f"""
    SELECT DISTINCT example_id, attribute, label FROM ({LIVE_DECISIONS})
    WHERE action = '{RULED_OUT}'
"""


@dataclass(frozen=True)
class ReviewItem:
    """One flagged example as a reviewer sees it, with the one question it asks.

    The question is about one ``candidate``: the flagger's suggested label, the one the
    queue ranks the item for. Once a reviewer has said no to it (on a task of more than
    two labels), the item has no candidate and asks which label it is.

    Examples
    --------
    >>> item = queue.next(reviewer="ana")
    >>> item.question
    'Is this World? (currently Sports)'
    """

    example_id: str
    text: str
    given_label: str | None
    suggested_label: str
    reasons: str
    priority: float
    votes: dict[str, str]
    ruled_out: tuple[str, ...] = ()

    @property
    def candidate(self) -> str | None:
        """The label ``accept`` stores, or None when it has been ruled out."""
        return None if self.suggested_label in self.ruled_out else self.suggested_label

    @property
    def question(self) -> str:
        """The question the reviewers' screens ask, naming the current label too."""
        now = f"currently {self.given_label}" if self.given_label else "no label yet"
        if self.candidate is None:
            return f"Which label is it? (not {', '.join(self.ruled_out)}; {now})"
        if self.candidate == self.given_label:
            now = "the current label"
        return f"Is this {self.candidate}? ({now})"


PENDING = f"""
    SELECT q.*, e.text FROM queue q JOIN examples e ON e.id = q.example_id
    WHERE q.example_id NOT IN (SELECT example_id FROM ({EFFECTIVE_DECISIONS}))
"""


class ReviewQueue:
    """The workspace's queue of flagged examples, highest priority first.

    Examples
    --------
    >>> queue = ReviewQueue(ws)
    >>> item = queue.next(reviewer="ana")
    >>> queue.answer(item.example_id, "accept", reviewer="ana", seconds=2.5)
    1
    """

    def __init__(self, workspace: Workspace, *, claim_seconds: float = 600.0) -> None:
        self.workspace = workspace
        self.labels = workspace.task.labels
        self.claim_seconds = claim_seconds
        self._lock = threading.RLock()

    def pending(self, limit: int | None = None) -> pl.DataFrame:
        """Queued items without a live decision, with their text, in review order."""
        with self._lock:
            return self.workspace.sql(
                f"{PENDING} ORDER BY q.priority DESC, q.example_id LIMIT ?", [limit]
            )

    def next(self, reviewer: str | None = None, *, focus: str | None = None) -> ReviewItem | None:
        """The highest-priority item nobody has answered, or None when the queue is done.

        With ``reviewer``, skip items another reviewer holds an unexpired claim on and
        claim the one returned for ``claim_seconds`` (the reviewer's own claim is handed
        back again: a reload shows the same item). With ``focus`` (binary focus mode),
        only items whose candidate is ``focus``: each asks "is this <focus>?", answered
        with accept or reject. An item whose candidate was ruled out no longer comes up
        in focus mode; without focus it asks for its label.

        Examples
        --------
        >>> queue.next(reviewer="ana", focus="spam").suggested_label
        'spam'
        """
        if focus is not None and focus not in self.labels:
            raise InputError(f"focus label {focus!r} is not one of {list(self.labels)}")
        # Without a reviewer nothing is claimed, so a read-only workspace can be peeked at.
        writes = self.workspace.transaction() if reviewer else nullcontext(self.workspace.con)
        with self._lock, writes as con:
            now = time.time()
            row = first_row(
                con,
                f"""SELECT p.example_id FROM ({PENDING}) p
                    LEFT JOIN claims c ON c.example_id = p.example_id
                    LEFT JOIN ({RULED_OUT_LABELS}) r
                      ON r.example_id = p.example_id AND r.label = p.suggested_label
                    WHERE (? IS NULL OR (p.suggested_label = ? AND r.label IS NULL))
                      AND (c.example_id IS NULL OR c.reviewer = ?
                           OR c.expires_at <= to_timestamp(?)::TIMESTAMP)
                    ORDER BY (c.reviewer = ?) DESC NULLS LAST, p.priority DESC, p.example_id
                    LIMIT 1""",
                [focus, focus, reviewer, now, reviewer],
            )
            if row is None:
                return None
            example_id = row[0]
            if reviewer is not None:
                con.execute(
                    "INSERT OR REPLACE INTO claims (example_id, reviewer, expires_at) "
                    "VALUES (?, ?, to_timestamp(?)::TIMESTAMP)",
                    [example_id, reviewer, now + self.claim_seconds],
                )
            return self._item(con, example_id)

    def _item(self, con: duckdb.DuckDBPyConnection, example_id: str) -> ReviewItem:
        row = (
            con.sql(
                "SELECT q.*, e.text FROM queue q JOIN examples e ON e.id = q.example_id "
                "WHERE q.example_id = ?",
                params=[example_id],
            )
            .pl()
            .row(0, named=True)
        )
        votes = con.sql(
            "SELECT source, label FROM votes WHERE example_id = ? ORDER BY source",
            params=[example_id],
        ).pl()
        return ReviewItem(
            example_id=row["example_id"],
            text=row["text"],
            given_label=row["given_label"],
            suggested_label=row["suggested_label"],
            reasons=row["reasons"],
            priority=row["priority"],
            votes=dict(zip(votes["source"], votes["label"], strict=True)),
            ruled_out=tuple(_ruled_out(con, example_id)),
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

        ``accept`` stores the item's candidate (``ReviewItem.candidate``). ``reject``
        stores the other label on a two-label task; otherwise it rules the candidate out
        and the item stays queued for its label. For both, ``label`` may name the
        candidate the reviewer was shown: a different one (the queue was flagged again
        meanwhile) is refused. The ``label`` action stores ``label``.

        Examples
        --------
        >>> queue.answer("a1", "reject", label="Sports", reviewer="ana")  # not Sports
        2
        """
        if action not in ACTIONS:
            raise InputError(f"unknown review action {action!r}; use one of {list(ACTIONS)}")
        with self._lock, self.workspace.transaction() as con:
            queued = first_row(
                con, "SELECT suggested_label FROM queue WHERE example_id = ?", [example_id]
            )
            if queued is None:
                raise InputError(f"example {example_id!r} is not in the review queue")
            ruled_out = _ruled_out(con, example_id)
            candidate = None if queued[0] in ruled_out else queued[0]
            stored, chosen = self._decision(example_id, action, candidate, label)
            con.execute("DELETE FROM claims WHERE example_id = ?", [example_id])
            return _append(con, example_id, reviewer, stored, chosen, None, seconds, comment)

    def undo(self, *, reviewer: str) -> str | None:
        """Reverse ``reviewer``'s latest live decision; return its example id (None if none).

        The undone item is claimed for the reviewer in place of what they held, so
        their ``next`` shows it again.
        """
        with self._lock, self.workspace.transaction() as con:
            latest = first_row(
                con,
                f"""SELECT decision_id, example_id FROM ({LIVE_DECISIONS})
                    WHERE reviewer = ? ORDER BY decision_id DESC LIMIT 1""",
                [reviewer],
            )
            if latest is None:
                return None
            _append(con, latest[1], reviewer, "undo", None, latest[0], 0.0, None)
            con.execute("DELETE FROM claims WHERE reviewer = ?", [reviewer])
            con.execute(
                "INSERT OR REPLACE INTO claims (example_id, reviewer, expires_at) "
                "VALUES (?, ?, to_timestamp(?)::TIMESTAMP)",
                [latest[1], reviewer, time.time() + self.claim_seconds],
            )
            return str(latest[1])

    def decisions(self) -> pl.DataFrame:
        """The decision that counts for every reviewed example."""
        with self._lock:
            return self.workspace.sql(f"SELECT * FROM ({EFFECTIVE_DECISIONS}) ORDER BY decision_id")

    def progress(self, focus: str | None = None) -> dict[str, int]:
        """Counts for a progress line: queued, reviewed, remaining, and labels corrected.

        With ``focus``, over the items whose suggested label is ``focus`` (what a focus
        pass works through): an item counts as reviewed once it has a final decision or
        its candidate was ruled out, and ``remaining`` is what the pass still asks.

        Examples
        --------
        >>> queue.progress(focus="Sports")
        {'queued': 12, 'reviewed': 3, 'remaining': 9, 'corrected': 1}
        """
        with self._lock:
            counts = self._counts(focus)
        return {
            "queued": counts["queued"],
            "reviewed": counts["reviewed"],
            "remaining": counts["queued"] - counts["reviewed"],
            "corrected": counts["errors_found"],
        }

    def _counts(self, focus: str | None) -> dict[str, int]:
        return self.workspace.sql(
            f"""WITH items AS (
                    SELECT q.given_label, q.suggested_label, d.action, d.label,
                           d.example_id IS NOT NULL
                             OR (?::VARCHAR IS NOT NULL AND r.label IS NOT NULL) AS reviewed
                    FROM queue q
                    LEFT JOIN ({EFFECTIVE_DECISIONS}) d USING (example_id)
                    LEFT JOIN ({RULED_OUT_LABELS}) r
                      ON r.example_id = q.example_id AND r.label = q.suggested_label
                    WHERE ?::VARCHAR IS NULL OR q.suggested_label = ?)
                SELECT count(*) AS queued,
                       count(*) FILTER (WHERE reviewed) AS reviewed,
                       count(*) FILTER (WHERE action IN {ANSWERS}) AS answered,
                       count(*) FILTER (WHERE action IN {ANSWERS} AND label = suggested_label)
                         AS suggestion_confirmed,
                       count(*) FILTER (WHERE action = 'skip') AS skipped,
                       count(*) FILTER (WHERE action = 'ambiguous') AS ambiguous,
                       count(*) FILTER (WHERE action IN {ANSWERS} AND given_label IS NOT NULL
                                        AND label IS DISTINCT FROM given_label)
                         AS errors_found
                FROM items""",
            [focus, focus, focus],
        ).row(0, named=True)

    def stats(self, focus: str | None = None) -> dict[str, float | int | None]:
        """Where the review stands, and what it has found.

        ``answered``: reviewed items whose final decision gave a label (accept, reject
        or a label; not skipped, ambiguous, or waiting for a label after a no);
        ``suggested_right``: the share of those whose label is the suggested one,
        however it was given; ``errors_found``: those whose label differs from the label
        model's (a label given where the label model had none is not counted);
        ``errors_per_100``: per hundred answered; ``kappa``: mean Cohen's kappa
        over reviewer pairs on doubly reviewed items (None without any). With
        ``focus``, the counts cover the items suggested as ``focus`` (see ``progress``).

        Examples
        --------
        >>> ReviewQueue(ws).stats()["errors_per_100"]
        62.0
        """
        with self._lock:
            counts = self._counts(focus)
            reviewers = first_row(
                self.workspace.con,
                f"SELECT count(DISTINCT reviewer) FROM ({LIVE_DECISIONS})",
            )
            agreement = self.reviewer_agreement()
        answered = counts["answered"]
        return {
            "queued": counts["queued"],
            "reviewed": counts["reviewed"],
            "remaining": counts["queued"] - counts["reviewed"],
            "answered": answered,
            "skipped": counts["skipped"],
            "ambiguous": counts["ambiguous"],
            "errors_found": counts["errors_found"],
            "reviewers": reviewers[0] if reviewers else 0,
            "suggested_right": counts["suggestion_confirmed"] / answered if answered else None,
            "errors_per_100": 100 * counts["errors_found"] / answered if answered else None,
            "kappa": agreement["kappa"].mean() if agreement.height else None,
        }

    def reviewer_agreement(self) -> pl.DataFrame:
        """Per pair of reviewers: items both labeled, raw agreement and Cohen's kappa.

        Each reviewer's newest live label on an example counts.

        Examples
        --------
        >>> ReviewQueue(ws).reviewer_agreement().columns
        ['reviewer_a', 'reviewer_b', 'items', 'agreement', 'kappa']
        """
        with self._lock:
            labeled = self.workspace.sql(
                f"""SELECT example_id, reviewer, label FROM ({LIVE_DECISIONS})
                    WHERE action IN {ANSWERS} AND label IS NOT NULL
                    QUALIFY row_number() OVER (
                        PARTITION BY example_id, reviewer ORDER BY decision_id DESC) = 1"""
            )
        pair = ["reviewer_a", "reviewer_b"]
        both = (
            labeled.rename({"reviewer": "reviewer_a", "label": "label_a"})
            .join(labeled.rename({"reviewer": "reviewer_b", "label": "label_b"}), on="example_id")
            .filter(pl.col("reviewer_a") < pl.col("reviewer_b"))
        )
        observed = both.group_by(pair).agg(
            items=pl.len(), agreement=(pl.col("label_a") == pl.col("label_b")).mean()
        )
        shares_a = both.group_by(*pair, pl.col("label_a").alias("label")).agg(n_a=pl.len())
        shares_b = both.group_by(*pair, pl.col("label_b").alias("label")).agg(n_b=pl.len())
        chance = (
            shares_a.join(shares_b, on=[*pair, "label"])
            .join(observed.select(*pair, "items"), on=pair)
            .group_by(pair)
            .agg(expected=(pl.col("n_a") * pl.col("n_b") / pl.col("items") ** 2).sum())
        )
        return (
            observed.join(chance, on=pair, how="left")
            .with_columns(
                kappa=pl.when(pl.col("expected").fill_null(0) < 1)
                .then(
                    (pl.col("agreement") - pl.col("expected").fill_null(0))
                    / (1 - pl.col("expected").fill_null(0))
                )
                .otherwise(pl.lit(1.0))
            )
            .select(*pair, "items", "agreement", "kappa")
            .sort(pair)
        )

    def _decision(
        self, example_id: str, action: str, candidate: str | None, label: str | None
    ) -> tuple[str, str | None]:
        """The action and label to store for an answer."""
        if action == "label":
            if label not in self.labels:
                raise InputError(f"review label {label!r} is not one of {list(self.labels)}")
            return action, label
        if action not in ("accept", "reject"):
            return action, None
        if candidate is None:
            raise InputError(
                f"example {example_id!r}: its suggestion was ruled out; answer with its label"
            )
        if label is not None and label != candidate:
            raise InputError(
                f"example {example_id!r} now asks about {candidate!r}, not {label!r} "
                "(the queue was flagged again): load it again"
            )
        if action == "accept":
            return action, candidate
        if len(self.labels) == 2:
            return action, next(other for other in self.labels if other != candidate)
        return RULED_OUT, candidate


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


def _ruled_out(con: duckdb.DuckDBPyConnection, example_id: str) -> list[str]:
    rows = con.execute(
        f"SELECT label FROM ({RULED_OUT_LABELS}) WHERE example_id = ? ORDER BY label",
        [example_id],
    ).fetchall()
    return [row[0] for row in rows]


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
        "INSERT INTO decisions (decision_id, example_id, reviewer, action, label, undoes, seconds, "
        "comment, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, to_timestamp(?)::TIMESTAMP)",
        [decision_id, example_id, reviewer, action, label, undoes, seconds, comment, time.time()],
    )
    return decision_id
