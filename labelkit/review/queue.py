"""The review queue: flagged examples handed to people one at a time, every answer kept.

An item is one (example, attribute) pair: the one question of a classification
task (attribute ``""``), or one attribute of an aspects or multi-label task
(``labelkit.task``), so a pass can work through one attribute at a time. On a spans
task an item is one span of one text, its attribute ``"<start>:<end>"`` (characters):
a decision of an entity type on it says the text has that span, ``none`` that it has
no entity there; a boundary fix and a missed span are decisions on new bounds
(``ReviewQueue.fix_span``, ``ReviewQueue.mark_span``).

Decisions are only ever appended. Undo appends a reversal of the reviewer's latest
live decision; the newest live decision on an example is the one that counts.

Several reviewers share one queue through one process that owns the workspace (DuckDB
lets one process write a file): the web server, or a script with one ``ReviewQueue``
used from many threads. ``next(reviewer=...)`` claims the item it hands out until
the reviewer answers or the claim expires, so two reviewers never see the same item
at once (two attributes of one example are two items); every operation holds the
queue's lock and runs in one transaction.
"""

from __future__ import annotations

import json
import re
import threading
import time
import unicodedata
import warnings
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import duckdb
import polars as pl

from labelkit.errors import InputError, LabelkitWarning, did_you_mean
from labelkit.lf.analysis import wilson_interval
from labelkit.review.spans import snap, word_tokens
from labelkit.spans import Offsets, Span, misplaced
from labelkit.task import MENTIONED, NO, NONE, YES, Task, span_bounds
from labelkit.workspace import Workspace, first_row, warn_if_out_of_date

ACTIONS = ("accept", "reject", "label", "skip", "ambiguous")
"""What a reviewer can answer to an item's question, "is this <candidate>?":
accept: yes, the candidate is stored; reject: no (on a two-label task the other label is
stored; otherwise the candidate is ruled out and the item stays queued until someone gives
its label); label: this label; skip: no answer (the label model's label stays);
ambiguous: no single label fits (excluded from the cleaned set)."""

FIX, MISSED = "fix", "missed"
"""The stored actions of a span's boundary fix (both its decisions: ``none`` on the old
bounds, the type on the new) and of a span no source caught (the type on its bounds)."""

ANSWERS = ("accept", "reject", "label", FIX, MISSED)
"""The actions that give an item its label."""

RULED_OUT = "ruled_out"
"""The stored action of a multi-class ``reject``: ``label`` is the candidate ruled out. It
is not a final decision: the item stays in the queue for the full question."""

SPOT_CHECK = "spot check"
"""The reason of a label queued at random (``find_label_issues(spot_check=)``), to learn
how often its answer is right (``ReviewQueue.spot_checks``)."""

ASKED_FOR = "asked for by "
"""How the reason of an item a reviewer asked for (``items_of``) begins, their name after it."""

# A decision is live unless it is an undo or has been undone.
LIVE_DECISIONS = """
    SELECT * FROM decisions
    WHERE action <> 'undo'
      AND decision_id NOT IN (SELECT undoes FROM decisions WHERE undoes IS NOT NULL)
"""

# A label that is a class number, as review keys take one: no sign, no leading zero.
_CLASS_NUMBER = re.compile(r"0|[1-9][0-9]*")

# The label model's label a decision ``d`` on a queued item ``q`` was shown: kept with the
# decision since schema 10, the queue's for one from before.
_SHOWN_GIVEN = "CASE WHEN d.shown THEN d.shown_given ELSE q.given_label END"
# A decision that found an error (a row with its ``action``, ``label`` and the
# ``given_label`` it was shown): a span's bounds fixed, or a label other than the label
# model's where it gave one.
_CORRECTED = f"""action = '{FIX}' OR (action IN {ANSWERS} AND given_label IS NOT NULL
                                       AND label IS DISTINCT FROM given_label)"""

# The final decision that counts for an example's attribute: its newest live one,
# ruling-outs aside.
EFFECTIVE_DECISIONS = f"""
    SELECT * FROM ({LIVE_DECISIONS}) WHERE action <> '{RULED_OUT}'
    QUALIFY row_number() OVER (PARTITION BY example_id, attribute ORDER BY decision_id DESC) = 1
"""

# A decision holds for every copy of its text (the same text under other ids; copies
# share a split): the newest that counts on any copy, with the text. Flag queues a text once.
TEXT_DECISIONS = f"""
    SELECT e.text, d.* FROM ({EFFECTIVE_DECISIONS}) d JOIN examples e ON e.id = d.example_id
    QUALIFY row_number() OVER (PARTITION BY e.text, d.attribute ORDER BY d.decision_id DESC) = 1
"""

# The same per example: each copy's id with its text's decision. Joined with the
# decisions as the hash table, so that without any no text is read.
COPIED_DECISIONS = f"""
    SELECT c.id AS example_id, d.* EXCLUDE (example_id, text)
    FROM ({TEXT_DECISIONS}) d JOIN examples c ON c.text = d.text
"""

# Each reviewer's newest live label per item, of one attribute's items where the
# parameter (given twice) names one.
_REVIEWERS_LABELS = f"""
    SELECT example_id, attribute, reviewer, label, decision_id FROM ({LIVE_DECISIONS})
    WHERE action IN {ANSWERS} AND label IS NOT NULL AND (?::VARCHAR IS NULL OR attribute = ?)
    QUALIFY row_number() OVER (
        PARTITION BY example_id, attribute, reviewer ORDER BY decision_id DESC) = 1
"""

# The spans that decisions that count give a text: bounds parsed from the attribute.
_DECIDED_SPANS = f"""
    SELECT example_id, label,
           CAST(split_part(attribute, ':', 1) AS INTEGER) AS start,
           CAST(split_part(attribute, ':', 2) AS INTEGER) AS "end"
    FROM ({EFFECTIVE_DECISIONS})
    WHERE action IN {ANSWERS} AND label IS NOT NULL AND attribute LIKE '%:%'
"""

# The labels live decisions have ruled out, per example and attribute.
RULED_OUT_LABELS = f"""
    SELECT DISTINCT example_id, attribute, label FROM ({LIVE_DECISIONS})
    WHERE action = '{RULED_OUT}'
"""


@dataclass(frozen=True)
class ReviewItem:
    """One flagged example's attribute as a reviewer sees it, with the one question it asks.

    The question is about one ``candidate``: the flagger's suggested label, the one the
    queue ranks the item for. Once a reviewer has said no to it (on a task of more than
    two labels), the item has no candidate and asks which label it is. ``choices`` are
    the answers of its ``attribute`` (``Task.answers``), the ``ruled_out`` ones too, so
    that each keeps its number key (the screens leave those out); a multi-label item
    always asks "is this <label>?", yes or no, whatever was suggested. ``fields`` are
    the text's other ingested fields as the screens show them (``shown_fields``).

    Examples
    --------
    >>> queue.next(reviewer="ana").question
    'Is this World? (currently Sports)'
    >>> queue.next(reviewer="ana", attribute="staff").question  # an aspects task
    'Is staff negative? (currently none)'
    >>> queue.next(reviewer="ana").question  # a spans task: one span of a text
    'Is "battery" TERM? (the current label)'
    """

    example_id: str
    text: str
    given_label: str | None
    suggested_label: str
    reasons: str
    priority: float
    votes: dict[str, str]
    ruled_out: tuple[str, ...] = ()
    attribute: str = ""
    choices: tuple[str, ...] = ()
    kind: str = "classification"
    spans: tuple[Span, ...] = ()
    tokens: tuple[Offsets, ...] = ()
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def numbers(self) -> dict[str, str]:
        """Each choice by the number a reviewer gives it by (with one key where it is one
        digit): the choice itself where every choice is a number (labels 0 to 3: key 2
        answers "2", not the second label, "1"; trial 53a), else its place from 1.

        Class numbers keep their own numbers past one digit too: on classes 0 to 19 key 2
        stored class 1 and a typed 11 class 11 (trial 63b), so labels 1, 2, 10 and 11 no
        longer take keys 1 to 4 (trial 53d's wish): 10 and 11 are typed. Class numbers
        are whole numbers written without leading zeros, one of them a single digit;
        others (100, 200; 01 to 12; -1, 0, 1) keep keys by place."""
        numbers = all(_CLASS_NUMBER.fullmatch(choice) for choice in self.choices)
        if numbers and any(len(choice) == 1 for choice in self.choices):
            return {choice: choice for choice in self.choices}
        return {str(n): choice for n, choice in enumerate(self.choices, start=1)}

    @property
    def keys(self) -> tuple[str, ...]:
        """Each choice's number (``numbers``), in the order of ``choices``: what the web
        page shows and takes, so that the rule lives here alone."""
        given = {choice: key for key, choice in self.numbers.items()}
        return tuple(given[choice] for choice in self.choices)

    @property
    def candidate(self) -> str | None:
        """The label ``accept`` stores, or None when it has been ruled out."""
        return _candidate(self.kind, self.suggested_label, self.ruled_out, self.given_label)

    @property
    def bounds(self) -> tuple[int, int] | None:
        """A spans item's span under review, ``(start, end)`` in characters (None for
        the other kinds). ``spans`` are the text's other current spans (``current_spans``)
        and ``tokens`` its word tokens (``labelkit.review.spans.word_tokens``)."""
        return span_bounds(self.attribute) if self.kind == "spans" else None

    @property
    def question(self) -> str:
        """The question the reviewers' screens ask, naming the current label too."""
        now = f"currently {self.given_label}" if self.given_label else "no label yet"
        if self.bounds is not None:
            start, end = self.bounds
            shown = f'"{self.text[start:end]}"'
            if (times := self.text.count(self.text[start:end])) > 1:
                # Trial 32: two occurrences of one word asked the same question twice.
                shown += f" ({self.text[:start].count(self.text[start:end]) + 1} of {times})"
            if self.candidate is None:
                return f"{shown}: {', '.join(self.choices[:-1])} or {self.choices[-1]}? ({now})"
            if self.candidate == self.given_label:
                now = "the current label"
            return f"Is {shown} {self.candidate}? ({now})"
        if self.kind == "multilabel":
            return f"Is this {self.attribute}? ({now})"
        if self.candidate is None:
            asked = "Which label is it"
            left = [choice for choice in self.choices if choice not in self.ruled_out]
            if self.attribute and left:
                asked = f"{self.attribute}: {', '.join(left[:-1])} or {left[-1]}"
            return f"{asked}? (not {', '.join(self.ruled_out)}; {now})"
        if self.candidate == self.given_label:
            now = "the current label"
            if self.kind == "aspects" and self.votes and set(self.votes.values()) == {MENTIONED}:
                # Trial 55c: the attribute's commonest answer read as the votes' evidence.
                now += f", a guess: the votes only say {self.attribute} is mentioned"
        if not self.attribute:
            return f"Is this {self.candidate}? ({now})"
        if self.candidate == NONE:
            return f"Is {self.attribute} not mentioned? ({now})"
        return f"Is {self.attribute} {self.candidate}? ({now})"

    def yes_no(self, focus: bool = False) -> dict[str, str]:
        """What the yes key ``a`` and the no key ``r`` store, as the screens name them
        (none once the candidate was ruled out; on a span with no type to ask about, a
        no alone: no entity there). In a ``focus`` pass a no on a question of more than
        two answers leaves the item for its label.

        Examples
        --------
        >>> item.yes_no()
        {'a': 'yes, Sports', 'r': 'no, another label'}
        """
        if self.candidate is None:
            return {"r": "no, not an entity"} if self.kind == "spans" else {}
        if self.kind == "multilabel":
            return {"a": f"yes, {self.attribute}", "r": f"no, not {self.attribute}"}
        if self.kind == "spans":
            return {"a": f"yes, {self.candidate}", "r": "no, not an entity"}
        if len(self.choices) == 2:
            other = next(choice for choice in self.choices if choice != self.candidate)
            return {"a": f"yes, {self.candidate}", "r": f"no, {other}"}
        no = "no (its label is asked later)" if focus else "no, another label"
        return {"a": f"yes, {self.candidate}", "r": no}


# What a review screen shows of a text's other fields: a reviewer checks what a field LF
# read, and routes on what a person would (trial 58f), without a page of them.
SHOWN_FIELDS = 20
SHOWN_FIELD_CHARS = 200


def shown_fields(meta: str | None) -> dict[str, str]:
    """A text's other fields (its ``meta`` JSON) as a review screen shows them: each
    value as text (a string as it is, anything else as JSON) cut at
    ``SHOWN_FIELD_CHARS``, the first ``SHOWN_FIELDS`` of them, then how many more.

    Examples
    --------
    >>> shown_fields('{"priority": 2, "tags": ["vip"], "note": null}')
    {'priority': '2', 'tags': '["vip"]', 'note': 'null'}
    """
    values = json.loads(meta) if meta else {}
    if not isinstance(values, dict):
        return {}
    shown = {}
    for name, value in list(values.items())[:SHOWN_FIELDS]:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        cut = len(text) > SHOWN_FIELD_CHARS
        shown[name] = text[:SHOWN_FIELD_CHARS] + "…" if cut else text
    if len(values) > SHOWN_FIELDS:
        shown["…"] = f"{len(values) - SHOWN_FIELDS} more fields"
    return shown


# A spans task's queued spans that overlap a span a decision gave a type, on other
# bounds: that span replaced them among the text's current spans (``current_spans``),
# so they are no question any more (trial 65b: after a boundary fix, the label model's
# old span came up as "the current label", and accepting it put two overlapping spans
# in the cleaned set, of which train kept the wrong one).
_SUPERSEDED_SPANS = f"""
    SELECT q.example_id, q.attribute FROM queue q JOIN ({_DECIDED_SPANS}) t
      ON t.example_id = q.example_id AND t.label <> '{NONE}'
         AND q.attribute <> t.start || ':' || t."end"
    WHERE t.start < CAST(split_part(q.attribute, ':', 2) AS INTEGER)
      AND CAST(split_part(q.attribute, ':', 1) AS INTEGER) < t."end"
"""

PENDING = f"""
    SELECT q.*, e.text FROM queue q JOIN examples e ON e.id = q.example_id
    ANTI JOIN ({EFFECTIVE_DECISIONS}) d
      ON d.example_id = q.example_id AND d.attribute = q.attribute
"""

PENDING_SPANS = f"""{PENDING}
    ANTI JOIN ({_SUPERSEDED_SPANS}) s
      ON s.example_id = q.example_id AND s.attribute = q.attribute
"""


class ReviewQueue:
    """The workspace's queue of flagged (example, attribute) items, highest priority first.

    Examples
    --------
    >>> queue = ReviewQueue(ws)
    >>> item = queue.next(reviewer="ana")
    >>> queue.answer(item.example_id, "accept", reviewer="ana", attribute=item.attribute)
    1
    """

    def __init__(self, workspace: Workspace, *, claim_seconds: float = 600.0) -> None:
        self.workspace = workspace
        self.task: Task = workspace.task
        self.spans = self.task.kind == "spans"
        self._pending = PENDING_SPANS if self.spans else PENDING
        if not self.spans:
            self.task.require_attributes("review (ReviewQueue)")
        self.labels = self.task.labels
        self.claim_seconds = claim_seconds
        warn_if_out_of_date(workspace, labels=False, queue=True)
        self._lock = threading.RLock()

    @property
    def attributes(self) -> tuple[str, ...]:
        """The attributes a pass can go through: the task's targets (``("",)`` for
        classification); none on a spans task, whose items are its texts' spans."""
        return () if self.spans else self.task.targets

    def pending(self, limit: int | None = None, *, attribute: str | None = None) -> pl.DataFrame:
        """Queued items without a live decision, with their text, in review order (the
        most doubtful first); with ``attribute``, only that attribute's. Items another
        reviewer has claimed are listed too: to work through the queue, ask ``next``
        with your reviewer name, which hands out only what nobody else holds.

        Examples
        --------
        >>> queue.pending(2, attribute="staff")["example_id"].to_list()
        ['r1', 'r2']
        """
        self._check(None, attribute)
        with self._lock:
            return self.workspace.sql(
                f"""{self._pending} WHERE ?::VARCHAR IS NULL OR q.attribute = ?
                    ORDER BY q.priority DESC, q.example_id, q.attribute LIMIT ?""",
                [attribute, attribute, limit],
            )

    def next(
        self,
        reviewer: str | None = None,
        *,
        focus: str | None = None,
        attribute: str | None = None,
    ) -> ReviewItem | None:
        """The highest-priority item nobody has answered, or None when the queue is done.

        With ``reviewer``, skip items another reviewer holds an unexpired claim on and
        claim the one returned for ``claim_seconds`` (the reviewer's own claim is handed
        back again: a reload shows the same item), handing back any other the reviewer
        held: one reviewer, one item on screen (trial 55b: switching attribute left the
        item of the one before held for ten minutes). With ``focus`` (binary focus mode),
        only items whose candidate is ``focus``: each asks "is this <focus>?", answered
        with accept or reject. An item whose candidate was ruled out no longer comes up
        in focus mode; without focus it asks for its label. With ``attribute`` (a pass
        over one attribute), only that attribute's items.

        Examples
        --------
        >>> queue.next(reviewer="ana", focus="spam").suggested_label
        'spam'
        >>> queue.next(reviewer="ana", attribute="staff").question
        'Is staff negative? (currently none)'
        """
        self._check(focus, attribute)
        if reviewer is not None:
            reviewer = reviewer_name(reviewer)
        # Without a reviewer nothing is claimed, so a read-only workspace can be peeked at.
        writes = self.workspace.transaction() if reviewer else nullcontext(self.workspace.con)
        with self._lock, writes as con:
            now = time.time()
            row = first_row(
                con,
                f"""SELECT p.example_id, p.attribute FROM ({self._pending}) p
                    LEFT JOIN claims c
                      ON c.example_id = p.example_id AND c.attribute = p.attribute
                    LEFT JOIN ({RULED_OUT_LABELS}) r
                      ON r.example_id = p.example_id AND r.attribute = p.attribute
                         AND r.label = p.suggested_label
                    WHERE (? IS NULL OR (p.suggested_label = ? AND r.label IS NULL))
                      AND (?::VARCHAR IS NULL OR p.attribute = ?)
                      AND (c.example_id IS NULL OR c.reviewer = ?
                           OR c.expires_at <= to_timestamp(?)::TIMESTAMP)
                    ORDER BY coalesce(c.reviewer = ?, false) DESC, p.priority DESC,
                             p.example_id, p.attribute
                    LIMIT 1""",
                [focus, focus, attribute, attribute, reviewer, now, reviewer],
            )
            held = ("", "") if row is None else row
            if reviewer is not None:
                con.execute(
                    """DELETE FROM claims WHERE reviewer = ?
                         AND (example_id, attribute) != (?, ?)""",
                    [reviewer, *held],
                )
            if row is None:
                return None
            example_id, attribute = row
            if reviewer is not None:
                _claim(con, example_id, attribute, reviewer, now + self.claim_seconds)
            return self._item(con, example_id, attribute)

    def items_of(
        self, example_id: str, *, reviewer: str, attribute: str | None = None
    ) -> list[ReviewItem]:
        """The queued items of ``example_id`` (of ``attribute``, where given), answered
        or not, claimed for ``reviewer``: to review one again, whose new answer then
        counts in place of the old (``labelkit review --example``; trial 52a: an answer
        given days before could only be changed in Python). On an aspects or multi-label
        task, an ``attribute`` nothing flagged is queued for the asking (reason "asked
        for by <reviewer>"): a tag the label model missed can be added, or an aspect
        answered that no source saw (trial 55b).

        Examples
        --------
        >>> [item.attribute for item in reviews_queue.items_of("r1", reviewer="ana")]
        ['food', 'staff']
        """
        reviewer = reviewer_name(reviewer)
        with self._lock, self.workspace.transaction() as con:
            attributes = [
                name
                for (name,) in con.execute(
                    """SELECT attribute FROM queue WHERE example_id = ?
                         AND (?::VARCHAR IS NULL OR attribute = ?) ORDER BY attribute""",
                    [example_id, attribute, attribute],
                ).fetchall()
            ]
            if not attributes:
                if attribute is None or self.task.kind not in ("aspects", "multilabel"):
                    raise InputError(not_queued(con, example_id, attribute or ""))
                self._queue_asked(con, example_id, attribute, reviewer)
                attributes = [attribute]
            until = time.time() + self.claim_seconds
            for name in attributes:
                _take_claim(con, example_id, name, reviewer)  # refuses another's claim
                _claim(con, example_id, name, reviewer, until)
            return [self._item(con, example_id, name) for name in attributes]

    def _queue_asked(
        self, con: duckdb.DuckDBPyConnection, example_id: str, attribute: str, reviewer: str
    ) -> None:
        """Queue ``example_id``'s ``attribute``, which nothing flagged, asked for by
        ``reviewer``: it asks about its current answer (a tag's opposite: "is this
        billing?" of a text without it)."""
        self.task.answers(attribute)  # names the task's attributes when it is not one
        if first_row(con, "SELECT 1 FROM examples WHERE id = ?", [example_id]) is None:
            raise InputError(f"no example {example_id!r} in {self.workspace.path}")
        given = first_row(
            con,
            "SELECT label FROM predictions WHERE example_id = ? AND attribute = ?",
            [example_id, attribute],
        )
        current = None if given is None else given[0]
        if self.task.kind == "multilabel":
            suggested = NO if current == YES else YES
        else:
            suggested = current or NONE
        con.execute(
            """INSERT INTO queue (example_id, attribute, priority, reasons, given_label,
                                  suggested_label, run_id)
               SELECT ?, ?, 0, ?, ?, ?, coalesce(max(run_id), 0) FROM queue""",
            [example_id, attribute, f"{ASKED_FOR}{reviewer}", current, suggested],
        )

    def next_attribute(
        self,
        after: str | None = None,
        *,
        focus: str | None = None,
        progress: pl.DataFrame | None = None,
    ) -> str | None:
        """The attribute a pass should go through: the one with the most items left to
        ask, or with ``after`` the next one after it (in the task's order, round again)
        that has any left; None when nothing is left. ``progress`` is a
        ``progress_by_attribute`` frame already at hand (it is counted otherwise).

        Examples
        --------
        >>> queue.next_attribute(), queue.next_attribute(after="staff")
        ('staff', 'price')
        """
        progress = self.progress_by_attribute(focus) if progress is None else progress
        left = progress.filter(pl.col("remaining") > 0)
        if not left.height:
            return None
        if after is None or after not in self.attributes:
            return str(left.sort("remaining", descending=True, maintain_order=True)[0, 0])
        start = self.attributes.index(after) + 1
        around = self.attributes[start:] + self.attributes[:start]
        return next(name for name in around if name in set(left["attribute"]))

    def _check(self, focus: str | None, attribute: str | None) -> None:
        if attribute is not None:
            self.task.answers(attribute)  # names the task's attributes when it is not one
        if focus is not None and focus not in self.answers(attribute):
            # Trial 45: on a multi-label task, the natural focus is a label's name.
            hint = (
                f": each item asks whether a text is one label; --attribute {focus} "
                "(attribute=) reviews that label's items"
                if self.task.kind == "multilabel" and focus in self.task.labels
                else ""
            )
            raise InputError(
                f"focus label {focus!r} is not one of {list(self.answers(attribute))}{hint}"
            )

    def answers(self, attribute: str | None = None) -> tuple[str, ...]:
        """The answers of ``attribute``, or of any attribute when it is None: what an
        item may be labeled, and what focus mode may ask about.

        Examples
        --------
        >>> ReviewQueue(reviews).answers("staff")
        ('positive', 'negative', 'neutral', 'none')
        """
        if self.spans:
            if attribute is not None:
                span_bounds(attribute)
            return (*self.labels, NONE)
        names = self.attributes if attribute is None else (attribute,)
        return tuple(dict.fromkeys(a for name in names for a in self.task.answers(name).labels))

    def _item(self, con: duckdb.DuckDBPyConnection, example_id: str, attribute: str) -> ReviewItem:
        row = (
            con.sql(
                "SELECT q.*, e.text, e.meta::VARCHAR AS meta FROM queue q "
                "JOIN examples e ON e.id = q.example_id WHERE q.example_id = ? AND q.attribute = ?",
                params=[example_id, attribute],
            )
            .pl()
            .row(0, named=True)
        )
        if self.spans:
            return self._span_item(con, row)
        votes = con.sql(
            "SELECT source, label FROM votes WHERE example_id = ? AND attribute = ? "
            "ORDER BY source",
            params=[example_id, attribute],
        ).pl()
        ruled_out = tuple(_ruled_out(con, example_id, attribute))
        return ReviewItem(
            example_id=row["example_id"],
            text=row["text"],
            given_label=row["given_label"],
            suggested_label=row["suggested_label"],
            reasons=row["reasons"],
            priority=row["priority"],
            votes=dict(zip(votes["source"], votes["label"], strict=True)),
            ruled_out=ruled_out,
            attribute=attribute,
            choices=self.task.answers(attribute).labels,
            kind=self.task.kind,
            fields=shown_fields(row["meta"]),
        )

    def _span_item(self, con: duckdb.DuckDBPyConnection, row: dict) -> ReviewItem:
        """A spans item: the text's other current spans, its word tokens, and each
        source's spans overlapping the one under review (the type alone on the same
        bounds, else with the words it covers)."""
        example_id, text = row["example_id"], row["text"]
        start, end = span_bounds(row["attribute"])
        found = con.execute(
            """SELECT source, start, "end", label FROM span_votes
               WHERE example_id = ? AND start < ? AND ? < "end"
               ORDER BY source, start, "end", label""",
            [example_id, end, start],
        ).fetchall()
        votes: dict[str, list[str]] = {}
        for source, vote_start, vote_end, label in found:
            on = (
                ""
                if (vote_start, vote_end) == (start, end)
                else f' on "{text[vote_start:vote_end]}"'
            )
            votes.setdefault(source, []).append(label + on)
        others = current_spans(self.workspace, example_id).filter(
            (pl.col("start") != start) | (pl.col("end") != end)
        )
        return ReviewItem(
            example_id=example_id,
            text=text,
            given_label=row["given_label"],
            suggested_label=row["suggested_label"],
            reasons=row["reasons"],
            priority=row["priority"],
            votes={source: ", ".join(said) for source, said in votes.items()},
            attribute=row["attribute"],
            choices=self.answers(row["attribute"]),
            kind=self.task.kind,
            spans=tuple(Span(*span) for span in others.select("start", "end", "label").rows()),
            tokens=tuple(word_tokens(text, self.task.lang)),
            fields=shown_fields(row["meta"]),
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
        attribute: str = "",
    ) -> int:
        """Append a decision on a queued item (an example's ``attribute``); return its id.

        ``accept`` stores the item's candidate (``ReviewItem.candidate``). ``reject``
        stores the other label on a two-label task, and ``none`` on a spans item (no
        entity there); otherwise it rules the candidate out and the item stays queued
        for its label. For both, ``label`` may name the
        candidate the reviewer was shown: a different one (the queue was flagged again
        meanwhile) is refused. The ``label`` action stores ``label``, one of the
        attribute's answers. The same reviewer's same answer to an item whose standing
        decision it already is stores nothing and returns that decision's id.

        Examples
        --------
        >>> queue.answer("a1", "reject", label="Sports", reviewer="ana")  # not Sports
        2
        >>> queue.answer("r1", "label", label="none", reviewer="ana", attribute="staff")
        3
        """
        if action not in ACTIONS:
            raise InputError(f"unknown review action {action!r}; use one of {list(ACTIONS)}")
        with self._lock, self.workspace.transaction() as con:
            queued = first_row(
                con,
                "SELECT suggested_label, given_label FROM queue "
                "WHERE example_id = ? AND attribute = ?",
                [example_id, attribute],
            )
            if queued is None:
                raise InputError(not_queued(con, example_id, attribute))
            ruled_out = _ruled_out(con, example_id, attribute)
            candidate = _candidate(self.task.kind, queued[0], ruled_out, queued[1])
            answers = self.task.answers(attribute).labels
            stored, chosen = _decision(
                example_id, action, candidate, label, answers, ruled_out, final_no=self.spans
            )
            if chosen not in (None, NONE) and self._replaced(con, example_id, attribute):
                # The second read of stop 65: a reviewer who held the item before
                # another's fix could still put a second, overlapping span beside it.
                raise InputError(
                    f"example {example_id!r}: a decision gave a type to a span overlapping "
                    f"{attribute}, which replaced it; a type here would put two overlapping "
                    "spans in the cleaned set: skip it, or undo that decision first"
                )
            _take_claim(con, example_id, attribute, reviewer)
            # Trial 46: twenty copies of one answer (a page's retry after "not saved",
            # a double submit) stored twenty decisions, and undo took back one of
            # them. The reviewer's same answer again is the one already stored, even
            # where another reviewer answered in between (trial 59f: concurrent copies
            # interleaved with another's answer were stored three times).
            repeated = first_row(
                con,
                f"""SELECT decision_id FROM (
                        SELECT * FROM ({LIVE_DECISIONS})
                        WHERE example_id = ? AND attribute = ? AND reviewer = ?
                          AND action <> '{RULED_OUT}'
                        QUALIFY row_number() OVER (ORDER BY decision_id DESC) = 1)
                    WHERE action = ? AND label IS NOT DISTINCT FROM ?
                      AND comment IS NOT DISTINCT FROM ?""",
                [example_id, attribute, reviewer, stored, chosen, comment],
            )
            if repeated is not None and stored != RULED_OUT:
                return int(repeated[0])
            return _append(
                con, example_id, attribute, reviewer, stored, chosen, None, seconds, comment
            )

    def fix_span(
        self,
        example_id: str,
        attribute: str,
        start: int,
        end: int,
        *,
        reviewer: str,
        label: str | None = None,
        seconds: float = 0.0,
        comment: str | None = None,
    ) -> int:
        """Fix the bounds of a queued span (``attribute`` ``"<start>:<end>"`` of a spans
        task): store ``none`` on its bounds and ``label`` (default: the item's candidate)
        on ``[start, end)``, snapped outward to the text's tokens. Both decisions have
        the action ``fix``; one ``undo`` reverses the two. Returns the second's id.

        Examples
        --------
        >>> queue.fix_span("r1", "4:11", 4, 16, reviewer="ana")  # "battery" -> "battery life"
        8
        """
        with self._lock, self.workspace.transaction() as con:
            suggested, given = self._queued_span(con, example_id, attribute)
            label = label or _candidate("spans", suggested, (), given)
            new = self._span_attribute(con, example_id, start, end, label)
            if new == attribute:
                raise InputError(
                    f"example {example_id!r}: the new bounds {new} are the span's own; "
                    "accept or relabel it instead"
                )
            _take_claim(con, example_id, attribute, reviewer)
            # Trial 45: a second fix of the span (a double submit) kept the first fix's
            # bounds beside its own; a later fix replaces an earlier one, which it undoes.
            earlier = first_row(
                con,
                f"""SELECT old.decision_id, fixed.decision_id, fixed.attribute
                    FROM ({LIVE_DECISIONS}) old JOIN ({LIVE_DECISIONS}) fixed
                      ON fixed.decision_id = old.decision_id + 1
                    WHERE old.example_id = ? AND old.attribute = ? AND old.action = '{FIX}'
                      AND old.label = '{NONE}' AND fixed.action = '{FIX}'
                    ORDER BY old.decision_id DESC LIMIT 1""",
                [example_id, attribute],
            )
            if earlier is not None:
                old_id, fixed_id, fixed = earlier
                _append(con, example_id, attribute, reviewer, "undo", None, old_id, 0.0, None)
                _append(con, example_id, fixed, reviewer, "undo", None, fixed_id, 0.0, None)
            _append(con, example_id, attribute, reviewer, FIX, NONE, None, seconds, comment)
            return _append(con, example_id, new, reviewer, FIX, label, None, 0.0, None)

    def mark_span(
        self,
        example_id: str,
        start: int,
        end: int,
        label: str,
        *,
        reviewer: str,
        seconds: float = 0.0,
        comment: str | None = None,
    ) -> int:
        """Store a span no source caught: ``label`` on ``[start, end)`` of a queued
        text of a spans task, snapped outward to its tokens (action ``missed``). The
        item under review stays as it was, unless the new span overlaps it: then it
        replaces that span, as among the current spans, and the item is no longer
        asked. Returns the decision's id.

        Examples
        --------
        >>> queue.mark_span("r1", 30, 35, "TERM", reviewer="ana")
        9
        """
        with self._lock, self.workspace.transaction() as con:
            if not self.spans:
                raise InputError(f"missed spans are marked on a spans task, not {self.task.kind}")
            if first_row(con, "SELECT 1 FROM queue WHERE example_id = ?", [example_id]) is None:
                raise InputError(f"example {example_id!r} is not in the review queue")
            new = self._span_attribute(con, example_id, start, end, label)
            return _append(con, example_id, new, reviewer, MISSED, label, None, seconds, comment)

    def _replaced(self, con: duckdb.DuckDBPyConnection, example_id: str, attribute: str) -> bool:
        """Whether a queued span of a spans task overlaps a span a decision gave a type
        (``_SUPERSEDED_SPANS``)."""
        return (
            self.spans
            and first_row(
                con,
                f"""SELECT 1 FROM ({_SUPERSEDED_SPANS}) s
                WHERE s.example_id = ? AND s.attribute = ?""",
                [example_id, attribute],
            )
            is not None
        )

    def _queued_span(
        self, con: duckdb.DuckDBPyConnection, example_id: str, attribute: str
    ) -> tuple[str, str | None]:
        """A queued span item's suggested and given labels."""
        if not self.spans:
            raise InputError(f"span bounds are fixed on a spans task, not {self.task.kind}")
        span_bounds(attribute)
        row = first_row(
            con,
            "SELECT suggested_label, given_label FROM queue WHERE example_id = ? AND attribute = ?",
            [example_id, attribute],
        )
        if row is None:
            raise InputError(not_queued(con, example_id, attribute))
        return row[0], row[1]

    def _span_attribute(
        self, con: duckdb.DuckDBPyConnection, example_id: str, start: int, end: int, label: str
    ) -> str:
        """The attribute ``"<start>:<end>"`` of new bounds of an example's text, snapped
        outward to its tokens; refused unless inside the text, on a token, with an
        entity type."""
        if label not in self.labels:
            raise InputError(f"a span's type {label!r} is not one of {list(self.labels)}")
        row = first_row(con, "SELECT text FROM examples WHERE id = ?", [example_id])
        assert row is not None  # queued examples exist
        text = row[0]
        wrong = misplaced(start, end, len(text))
        if wrong:
            raise InputError(f"example {example_id!r}: span [{start}, {end}) {wrong}")
        snapped = snap(word_tokens(text, self.task.lang), start, end)
        if snapped is None:
            raise InputError(f"example {example_id!r}: span [{start}, {end}) covers no word")
        return f"{snapped[0]}:{snapped[1]}"

    def undo(self, *, reviewer: str, attribute: str | None = None) -> str | None:
        """Reverse ``reviewer``'s latest live decision (on ``attribute``, when given);
        return its example id (None if none).

        The undone item is claimed for the reviewer in place of what they held, so
        their ``next`` shows it again. A span's boundary fix is undone whole (both its
        decisions); undoing a missed span leaves the reviewer on the item they hold.

        Examples
        --------
        >>> queue.answer("a2", "accept", reviewer="ana")
        4
        >>> queue.undo(reviewer="ana")
        'a2'
        """
        reviewer = reviewer_name(reviewer)
        with self._lock, self.workspace.transaction() as con:
            latest = first_row(
                con,
                f"""SELECT decision_id, example_id, attribute, action FROM ({LIVE_DECISIONS})
                    WHERE reviewer = ? AND (?::VARCHAR IS NULL OR attribute = ?)
                    ORDER BY decision_id DESC LIMIT 1""",
                [reviewer, attribute, attribute],
            )
            if latest is None:
                return None
            decision_id, example_id, undone_attribute, action = latest
            _append(con, example_id, undone_attribute, reviewer, "undo", None, decision_id, 0, None)
            if action == FIX:
                # A fix is stored as none on the old bounds, then the type on the new:
                # the old bounds' decision is the one just before, and its item is the
                # one the reviewer was on.
                old = first_row(
                    con,
                    f"""SELECT decision_id, attribute FROM ({LIVE_DECISIONS})
                        WHERE decision_id = ? AND reviewer = ? AND example_id = ?
                          AND action = '{FIX}' AND label = '{NONE}'""",
                    [decision_id - 1, reviewer, example_id],
                )
                if old is not None:
                    _append(con, example_id, old[1], reviewer, "undo", None, old[0], 0, None)
                    undone_attribute = old[1]
            queued = first_row(
                con,
                "SELECT 1 FROM queue WHERE example_id = ? AND attribute = ?",
                [example_id, undone_attribute],
            )
            if queued is not None:
                con.execute("DELETE FROM claims WHERE reviewer = ?", [reviewer])
                _claim(
                    con, example_id, undone_attribute, reviewer, time.time() + self.claim_seconds
                )
            return str(example_id)

    def undo_in_pass(
        self, *, reviewer: str, attribute: str | None
    ) -> tuple[str | None, str | None]:
        """``undo`` in a pass over ``attribute``, or where ``reviewer`` gave no answer
        there, of their latest answer on another attribute (trial 55b: "Nothing to undo"
        about an answer given just before switching attribute). Returns the undone
        example's id (None if none) and that other attribute (None if it was this one).

        Examples
        --------
        >>> queue.answer("r1", "accept", reviewer="ana", attribute="staff")
        >>> queue.undo_in_pass(reviewer="ana", attribute="food")
        ('r1', 'staff')
        """
        undone = self.undo(reviewer=reviewer, attribute=attribute)
        if undone is not None or attribute is None:
            return undone, None
        latest = first_row(
            self.workspace.con,
            f"""SELECT attribute FROM ({LIVE_DECISIONS}) WHERE reviewer = ?
                ORDER BY decision_id DESC LIMIT 1""",
            [reviewer_name(reviewer)],
        )
        if latest is None:
            return None, None
        return self.undo(reviewer=reviewer, attribute=latest[0]), str(latest[0])

    def release(self, reviewer: str) -> None:
        """Hand back the items ``reviewer`` holds unanswered (a reviewer who quits), so
        that another gets them now, not when the claim expires; an item they asked for
        (``items_of``) that nobody answered or holds leaves the queue.

        Examples
        --------
        >>> queue.next(reviewer="ana").example_id
        'a1'
        >>> queue.release("ana")
        >>> queue.next(reviewer="bo").example_id
        'a1'
        """
        reviewer = reviewer_name(reviewer)
        with self._lock, self.workspace.transaction() as con:
            con.execute("DELETE FROM claims WHERE reviewer = ?", [reviewer])
            # What the reviewer asked for and left unanswered leaves the shared queue too
            # (the second read of stop 55: it stayed there, for the next reviewer).
            con.execute(
                """DELETE FROM queue q WHERE reasons = ?
                     AND NOT EXISTS (SELECT 1 FROM decisions d
                                     WHERE d.example_id = q.example_id
                                       AND d.attribute = q.attribute)
                     AND NOT EXISTS (SELECT 1 FROM claims c
                                     WHERE c.example_id = q.example_id
                                       AND c.attribute = q.attribute
                                       AND c.expires_at > to_timestamp(?)::TIMESTAMP)""",
                [f"{ASKED_FOR}{reviewer}", time.time()],
            )

    def decisions(self, example_id: str | None = None) -> pl.DataFrame:
        """The decision that counts for every reviewed item, or for those of one
        example (the log of every decision, undos and those replaced included, is the
        workspace's ``decisions`` table).

        Examples
        --------
        >>> queue.decisions().select("example_id", "reviewer", "action", "label").rows()
        [('a1', 'ana', 'accept', 'ham')]
        >>> queue.decisions("b2").height
        0
        """
        with self._lock:
            return self.workspace.sql(
                f"""SELECT * FROM ({EFFECTIVE_DECISIONS})
                    WHERE $example_id IS NULL OR example_id = $example_id
                    ORDER BY decision_id""",
                {"example_id": example_id},
            )

    def progress(self, focus: str | None = None, *, attribute: str | None = None) -> dict[str, int]:
        """Counts for a progress line: queued, reviewed, of those skipped, remaining,
        and labels corrected.

        With ``focus``, over the items whose suggested label is ``focus`` (what a focus
        pass works through): an item counts as reviewed once it has a final decision or
        its candidate was ruled out, and ``remaining`` is what the pass still asks. A
        skipped item counts as reviewed, as it is not asked again, and as ``skipped``
        too, so that a line can say how many were only passed over. With ``attribute``,
        over that attribute's items.

        Examples
        --------
        >>> queue.progress(focus="Sports")
        {'queued': 12, 'reviewed': 3, 'skipped': 1, 'remaining': 9, 'corrected': 1}
        """
        self._check(focus, attribute)
        with self._lock:
            counts = _total(self._counts(focus, attribute))
        return {
            "queued": counts["queued"],
            "reviewed": counts["reviewed"],
            "skipped": counts["skipped"],
            "remaining": counts["queued"] - counts["reviewed"],
            "corrected": counts["errors_found"],
        }

    def progress_by_attribute(self, focus: str | None = None) -> pl.DataFrame:
        """``progress`` for each attribute, in the task's order: one row per attribute
        with ``queued``, ``reviewed``, ``skipped``, ``remaining`` and ``corrected``.

        Examples
        --------
        >>> queue.progress_by_attribute().row(0)
        ('food', 2, 0, 0, 2, 0)
        """
        self._check(focus, None)
        with self._lock:
            counts = self._counts(focus, None)
        return (
            pl.DataFrame({"attribute": self.attributes}, schema={"attribute": pl.String})
            .join(counts, on="attribute", how="left", maintain_order="left")
            .select(
                "attribute",
                pl.col("queued", "reviewed", "skipped").fill_null(0),
                remaining=(pl.col("queued") - pl.col("reviewed")).fill_null(0),
                corrected=pl.col("errors_found").fill_null(0),
            )
        )

    def _counts(self, focus: str | None, attribute: str | None) -> pl.DataFrame:
        """The counts behind ``progress`` and ``stats``, one row per attribute queued."""
        # A span a decision replaced is no question: not queued, unless answered before.
        superseded = (
            f"""AND (d.example_id IS NOT NULL OR NOT EXISTS (
                    SELECT 1 FROM ({_SUPERSEDED_SPANS}) s
                    WHERE s.example_id = q.example_id AND s.attribute = q.attribute))"""
            if self.spans
            else ""
        )
        return self.workspace.sql(
            f"""WITH items AS (
                    -- The labels the reviewer was shown, where the decision kept them.
                    SELECT q.attribute, {_SHOWN_GIVEN} AS given_label,
                           CASE WHEN d.shown THEN d.shown_suggested ELSE q.suggested_label END
                             AS suggested_label,
                           d.action, d.label,
                           d.example_id IS NOT NULL
                             OR (?::VARCHAR IS NOT NULL AND r.label IS NOT NULL) AS reviewed
                    FROM queue q
                    LEFT JOIN ({EFFECTIVE_DECISIONS}) d USING (example_id, attribute)
                    LEFT JOIN ({RULED_OUT_LABELS}) r
                      ON r.example_id = q.example_id AND r.attribute = q.attribute
                         AND r.label = q.suggested_label
                    WHERE (?::VARCHAR IS NULL OR q.suggested_label = ?)
                      AND (?::VARCHAR IS NULL OR q.attribute = ?)
                      {superseded})
                SELECT attribute,
                       count(*) AS queued,
                       count(*) FILTER (WHERE reviewed) AS reviewed,
                       count(*) FILTER (WHERE action IN {ANSWERS}) AS answered,
                       count(*) FILTER (WHERE action IN {ANSWERS} AND label = suggested_label)
                         AS suggestion_confirmed,
                       count(*) FILTER (WHERE action = 'skip') AS skipped,
                       count(*) FILTER (WHERE action = 'ambiguous') AS ambiguous,
                       count(*) FILTER (WHERE {_CORRECTED}) AS errors_found
                FROM items GROUP BY attribute""",
            [focus, focus, focus, attribute, attribute],
        )

    def stats(
        self, focus: str | None = None, *, attribute: str | None = None
    ) -> dict[str, float | int | None]:
        """Where the review stands, and what it has found.

        ``answered``: reviewed items whose final decision gave a label (accept, reject
        or a label; not skipped, ambiguous, or waiting for a label after a no);
        ``suggested_right``: the share of those whose label is the suggested one,
        however it was given; ``errors_found``: those whose label differs from the label
        model's (a label given where the label model had none is not counted), and a
        span's fixed bounds;
        ``errors_per_100``: per hundred answered; ``kappa``: Cohen's kappa over
        reviewer pairs on doubly reviewed items, each pair weighed by the items both
        answered, and ``kappa_items`` how many those are (None and 0 without any; a
        pair whose kappa is undefined is left out). With
        ``focus``, the counts cover the items suggested as ``focus`` (see ``progress``);
        with ``attribute``, that attribute's items.

        Examples
        --------
        >>> ReviewQueue(ws).stats()["errors_per_100"]
        62.0
        """
        self._check(focus, attribute)
        with self._lock:
            counts = _total(self._counts(focus, attribute))
            reviewers = first_row(
                self.workspace.con,
                # A label ruled out is no decision, as in ``by_reviewer`` (trial 51a: one
                # who only said "no" to a suggestion, then left, was a reviewer here and
                # not in its table).
                f"""SELECT count(DISTINCT reviewer) FROM ({LIVE_DECISIONS})
                    WHERE (?::VARCHAR IS NULL OR attribute = ?) AND action <> '{RULED_OUT}'""",
                [attribute, attribute],
            )
            agreement = self.reviewer_agreement(attribute=attribute)
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
            # Weighed by items (trial 59f: a mean over pairs sharing one item each read
            # as the label definitions' failure).
            "kappa": _weighted_kappa(agreement),
            "kappa_items": int(agreement.filter(pl.col("kappa").is_not_null())["items"].sum()),
        }

    def spot_checks(self, *, attribute: str | None = None) -> pl.DataFrame:
        """How often the label model's answers were right where a reviewer checked them at
        random (``find_label_issues(spot_check=n)``), per answer it gave: ``queued`` spot
        checks, ``checked`` (answered), ``right`` (answered with the label model's
        answer), ``precision`` (right / checked) and its 95% Wilson interval, ``low`` to
        ``high``. With ``attribute``, over that attribute's items only.

        Confident learning finds the answers its classifier doubts; a systematic error
        the classifier has learnt too shows only here.

        Examples
        --------
        >>> ReviewQueue(ws).spot_checks().row(0)
        ('ham', 10, 10, 9, 0.9, 0.596, 0.982)
        """
        self._check(None, attribute)
        with self._lock:
            counts = self.workspace.sql(
                f"""SELECT {_SHOWN_GIVEN} AS given_label, count(*) AS queued,
                           count(*) FILTER (WHERE d.action IN {ANSWERS}) AS checked,
                           count(*) FILTER (WHERE d.action IN {ANSWERS}
                                            AND d.label = {_SHOWN_GIVEN}) AS "right"
                    FROM queue q
                    LEFT JOIN ({EFFECTIVE_DECISIONS}) d USING (example_id, attribute)
                    WHERE starts_with(q.reasons, '{SPOT_CHECK}')
                      AND (?::VARCHAR IS NULL OR q.attribute = ?)
                    GROUP BY ALL ORDER BY given_label""",
                [attribute, attribute],
            )
        low, high = wilson_interval(counts["right"].to_numpy(), counts["checked"].to_numpy())
        checked = pl.col("checked") > 0
        return counts.with_columns(
            pl.col("queued", "checked", "right").cast(pl.Int64),
            pl.when(checked).then(pl.col("right") / pl.col("checked")).alias("precision"),
            pl.when(checked).then(pl.Series(low).round(3)).alias("low"),
            pl.when(checked).then(pl.Series(high).round(3)).alias("high"),
        )

    def by_reviewer(self) -> pl.DataFrame:
        """Per reviewer, over the queued items they decided in review (each reviewer's
        newest decision on an item, undone ones aside; ``stats`` counts a queued item's
        imported label as reviewed too), counted as ``stats`` counts them:
        ``answered`` (a label given), ``corrected`` (a label other than the label model's
        they were shown, or a span's bounds fixed), ``skipped``, ``ambiguous`` and the
        ``median_seconds`` per decision, to a hundredth (trial 50d: only a count of
        reviewers was shown, and two people's shares took SQL; trial 56b: "seconds 0.000"
        for a median of 0.03, named as if it were a total); then ``imported``, the items
        given a label by ``import_decisions``, queued or not (trial 63a: 3,700 imported
        decisions read "answered 25", the queued ones among them).

        Examples
        --------
        >>> ReviewQueue(ws).by_reviewer().row(0)
        ('ana', 49, 12, 3, 1, 2.4, 0)
        """
        with self._lock:
            return self.workspace.sql(
                # Joined to the queue: a fixed span's new bounds and a missed span are
                # decisions on spans no item asked about.
                f"""WITH own AS (
                        SELECT d.*, {_SHOWN_GIVEN} AS given_label
                        FROM ({LIVE_DECISIONS}) d JOIN queue q USING (example_id, attribute)
                        -- Not imported (a decision from before shown was kept is null).
                        WHERE d.action <> '{RULED_OUT}' AND d.shown IS DISTINCT FROM false
                        QUALIFY row_number() OVER (PARTITION BY d.reviewer, d.example_id,
                                                                d.attribute
                                                   ORDER BY d.decision_id DESC) = 1),
                    reviewed AS (
                        SELECT reviewer,
                               count(*) FILTER (WHERE action IN {ANSWERS}) AS answered,
                               count(*) FILTER (WHERE {_CORRECTED}) AS corrected,
                               count(*) FILTER (WHERE action = 'skip') AS skipped,
                               count(*) FILTER (WHERE action = 'ambiguous') AS ambiguous,
                               round(median(seconds), 2) AS median_seconds
                        FROM own GROUP BY reviewer),
                    imported AS (
                        SELECT reviewer, count(DISTINCT (example_id, attribute)) AS imported
                        FROM ({LIVE_DECISIONS}) d
                        WHERE NOT d.shown AND d.action = 'label' GROUP BY reviewer)
                    SELECT reviewer, coalesce(answered, 0) AS answered,
                           coalesce(corrected, 0) AS corrected, coalesce(skipped, 0) AS skipped,
                           coalesce(ambiguous, 0) AS ambiguous, median_seconds,
                           coalesce(imported, 0) AS imported
                    FROM reviewed FULL JOIN imported USING (reviewer) ORDER BY reviewer"""
            )

    def reviewer_agreement(self, *, attribute: str | None = None) -> pl.DataFrame:
        """Per pair of reviewers: items both labeled, raw agreement and Cohen's kappa.

        An item is an (example, attribute); each reviewer's newest live label on it
        counts. With ``attribute``, over that attribute's items only. Kappa is null
        where it is undefined: both reviewers gave one and the same label throughout,
        so chance explains every agreement (trial 59f: one shared item read 1.000).

        Examples
        --------
        >>> ReviewQueue(ws).reviewer_agreement().columns
        ['reviewer_a', 'reviewer_b', 'items', 'agreement', 'kappa']
        """
        with self._lock:
            labeled = self.workspace.sql(_REVIEWERS_LABELS, [attribute, attribute])
        pair = ["reviewer_a", "reviewer_b"]
        both = (
            labeled.rename({"reviewer": "reviewer_a", "label": "label_a"})
            .join(
                labeled.rename({"reviewer": "reviewer_b", "label": "label_b"}),
                on=["example_id", "attribute"],
            )
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
                .otherwise(pl.lit(None, pl.Float64))
            )
            .select(*pair, "items", "agreement", "kappa")
            .sort(pair)
        )

    def disagreements(self, *, attribute: str | None = None) -> pl.DataFrame:
        """The items reviewers answered differently, newest first: ``example_id``,
        ``attribute``, each reviewer's label (``"ana: bug, bo: praise"``, by name), the
        label that counts (the newest answer's) and the text (trial 52a: review-stats
        gave the agreement of two reviewers, and no way to find where they differed).
        Answers on copies of a text are answers on one item, as one answer labels every
        copy (trial 53d: two reviewers' answers on two copies, the older one overruled,
        were no disagreement); ``example_id`` is then the copy answered last. A spans
        task's items are each text's own.

        Examples
        --------
        >>> ReviewQueue(ws).disagreements().columns
        ['example_id', 'attribute', 'answers', 'counts', 'text']
        """
        item = "l.example_id" if self.spans else "e.text"
        with self._lock:
            return self.workspace.sql(
                f"""SELECT arg_max(example_id, decision_id) AS example_id, attribute,
                           string_agg(reviewer || ': ' || label, ', ' ORDER BY reviewer)
                               AS answers,
                           arg_max(label, decision_id) AS counts, any_value(text) AS text
                    FROM (SELECT l.*, e.text, {item} AS item
                          FROM ({_REVIEWERS_LABELS}) l JOIN examples e ON e.id = l.example_id
                          QUALIFY row_number() OVER (
                              PARTITION BY {item}, l.attribute, l.reviewer
                              ORDER BY l.decision_id DESC) = 1)
                    GROUP BY item, attribute
                    HAVING count(DISTINCT label) > 1
                    ORDER BY max(decision_id) DESC""",
                [attribute, attribute],
            )


def current_spans(workspace: Workspace, example_id: str | None = None) -> pl.DataFrame:
    """The current spans of every text of a spans task (or of ``example_id``): the label
    model's (``span_predictions``) with the decisions that count applied. A decision of
    an entity type on ``[s, e)`` adds that span and drops every predicted span
    overlapping it; ``none`` drops the predicted span with exactly those bounds; two
    decided spans that overlap are both kept.

    Returns ``example_id, start, end, label, origin`` (``"model"`` or ``"review"``),
    sorted by example, start and end.

    Examples
    --------
    >>> current_spans(ws, "r1").rows()
    [('r1', 4, 16, 'TERM', 'review'), ('r1', 30, 35, 'TERM', 'model')]
    """
    return workspace.sql(
        f"""WITH decided AS (
                SELECT * FROM ({_DECIDED_SPANS}) WHERE ?::VARCHAR IS NULL OR example_id = ?),
                typed AS (SELECT * FROM decided WHERE label <> '{NONE}')
            SELECT p.example_id, p.start, p."end", p.label, 'model' AS origin
            FROM span_predictions p
            WHERE (?::VARCHAR IS NULL OR p.example_id = ?)
              AND NOT EXISTS (SELECT 1 FROM typed t WHERE t.example_id = p.example_id
                              AND t.start < p."end" AND p.start < t."end")
              AND NOT EXISTS (SELECT 1 FROM decided d WHERE d.example_id = p.example_id
                              AND d.label = '{NONE}' AND d.start = p.start
                              AND d."end" = p."end")
            UNION ALL
            SELECT example_id, start, "end", label, 'review' FROM typed
            ORDER BY example_id, start, "end", label""",
        [example_id, example_id] * 2,
    )


def simulate_review(
    queue: ReviewQueue,
    answers: Mapping[str, str] | Mapping[tuple[str, str], str],
    *,
    limit: int,
    reviewer: str = "simulated",
) -> int:
    """Answer the first ``limit`` queued items from known labels, as a perfect reviewer would.

    For demos and benchmarks: gold labels stand in for a person. ``answers`` are keyed
    by example id, or for a task with attributes by (example id, attribute). Items
    another reviewer holds (``next`` gave them out, unanswered), and items ``answers``
    has no label for, are left in the queue as they were. Returns the number answered.

    Examples
    --------
    >>> simulate_review(ReviewQueue(ws), gold_by_id, limit=50, reviewer="gold")
    50
    >>> simulate_review(ReviewQueue(reviews), {("r1", "staff"): "negative"}, limit=1)
    1
    """
    if not isinstance(answers, Mapping):
        # Trial 33: a frame of gold failed with "'DataFrame' object has no attribute 'get'".
        raise InputError(
            f"answers must map example ids to labels (a dict), not {type(answers).__name__}; "
            "from a frame: dict(frame.select('id', 'gold').iter_rows())"
        )
    answered = 0
    # Trial 53c: an item an earlier script's reviewer held stopped the run with "is
    # being reviewed by 'me'".
    held = set(
        queue.workspace.con.execute(
            """SELECT example_id, attribute FROM claims
               WHERE reviewer <> ? AND expires_at > to_timestamp(?)::TIMESTAMP""",
            [reviewer_name(reviewer), time.time()],
        ).fetchall()
    )
    pending = queue.pending()
    lookup: Mapping = answers
    for example_id, attribute, suggested, given in pending.select(
        "example_id", "attribute", "suggested_label", "given_label"
    ).iter_rows():
        if answered == limit:
            break
        truth = lookup.get((example_id, attribute) if attribute else example_id)
        # Trial 65a: an unknown item was stored as skipped and counted as answered, so
        # answers keyed wrongly reported success and emptied the queue.
        if (example_id, attribute) in held or truth is None:
            continue
        if queue._replaced(queue.workspace.con, example_id, attribute):
            continue  # a span an answer above replaced
        item = {"reviewer": reviewer, "attribute": attribute}
        if truth == _candidate(queue.task.kind, suggested, (), given):
            queue.answer(example_id, "accept", **item)
        else:
            queue.answer(example_id, "label", label=truth, **item)
        answered += 1
    if not answered and limit and answers and pending.height > len(held):
        key = {
            "classification": "example id",
            "spans": 'example id and "<start>:<end>"',
        }.get(queue.task.kind, "example id and attribute")
        warnings.warn(
            f"simulate_review answered none of the {pending.height:,} queued items: "
            f"`answers` has a label for none of them (keyed by {key}, as in "
            f"{next(iter(answers))!r}?)",
            LabelkitWarning,
            stacklevel=2,
        )
    return answered


def _candidate(
    kind: str, suggested: str, ruled_out: Sequence[str], given: str | None = None
) -> str | None:
    """What ``accept`` stores: the suggestion unless ruled out; on a multi-label task,
    whose question is always "is this <label>?", yes; on a spans item, the span's type:
    the suggested one, else the current one (None when both say no entity)."""
    if kind == "multilabel":
        return YES
    if kind == "spans":
        return next((label for label in (suggested, given) if label not in (None, NONE)), None)
    return None if suggested in ruled_out else suggested


def _decision(
    example_id: str,
    action: str,
    candidate: str | None,
    label: str | None,
    answers: tuple[str, ...],
    ruled_out: Sequence[str] = (),
    *,
    final_no: bool = False,
) -> tuple[str, str | None]:
    """The action and label to store for an answer to a question of ``answers``, of
    which ``ruled_out`` were said no to; with ``final_no`` (a span: its answers are
    types and ``none``) a no stores ``none``."""
    if action == "label":
        if label not in answers:
            if label == MENTIONED:
                # Difflib took it for "none", the opposite (trial 33).
                hint = f" ({MENTIONED!r} is a vote that the aspect is there: answer how it is)"
            else:
                hint = did_you_mean(label, answers) if label else ""
            raise InputError(f"review label {label!r} is not one of {list(answers)}{hint}")
        if label in ruled_out:
            raise InputError(
                f"example {example_id!r}: {label!r} was ruled out by an earlier answer; "
                "undo that answer to give this label"
            )
        return action, label
    if action not in ("accept", "reject"):
        return action, None
    if candidate is None and final_no and action == "reject":
        return action, NONE
    if candidate is None:
        raise InputError(
            f"example {example_id!r}: its suggestion was ruled out; answer with its label"
        )
    if label is not None and label != candidate:
        raise InputError(
            f"example {example_id!r} now asks about {candidate!r}, not {label!r} as "
            "answered: its question changed since it was shown; load it again"
        )
    if action == "accept":
        return action, candidate
    if final_no:
        return action, NONE
    if len(answers) == 2:
        return action, next(other for other in answers if other != candidate)
    return RULED_OUT, candidate


def _total(counts: pl.DataFrame) -> dict[str, int]:
    """The per-attribute counts of ``ReviewQueue._counts`` summed over attributes."""
    return {name: int(counts[name].sum()) for name in counts.columns if name != "attribute"}


def _ruled_out(con: duckdb.DuckDBPyConnection, example_id: str, attribute: str) -> list[str]:
    rows = con.execute(
        f"""SELECT label FROM ({RULED_OUT_LABELS}) WHERE example_id = ? AND attribute = ?
            ORDER BY label""",
        [example_id, attribute],
    ).fetchall()
    return [row[0] for row in rows]


def _claim(
    con: duckdb.DuckDBPyConnection, example_id: str, attribute: str, reviewer: str, until: float
) -> None:
    con.execute(
        "INSERT OR REPLACE INTO claims (example_id, attribute, reviewer, expires_at) "
        "VALUES (?, ?, ?, to_timestamp(?)::TIMESTAMP)",
        [example_id, attribute, reviewer, until],
    )


def _take_claim(
    con: duckdb.DuckDBPyConnection, example_id: str, attribute: str, reviewer: str
) -> None:
    """End the claim on an item ``reviewer`` answers, refusing one another reviewer
    holds: two people would decide the item at once, one without knowing."""
    holder = first_row(
        con,
        """SELECT reviewer, epoch(expires_at) - epoch(to_timestamp(?)::TIMESTAMP)
           FROM claims WHERE example_id = ? AND attribute = ?""",
        [time.time(), example_id, attribute],
    )
    if holder is not None and holder[0] != reviewer_name(reviewer) and holder[1] > 0:
        raise InputError(
            f"example {example_id!r} is being reviewed by {holder[0]!r} (for up to "
            f"{holder[1]:.0f} s more, unless they answer or quit): take the next item"
        )
    con.execute(
        "DELETE FROM claims WHERE example_id = ? AND attribute = ?", [example_id, attribute]
    )


# The longest reviewer name, in characters.
MAX_REVIEWER = 64


# Characters no name holds: controls, lone surrogates, line breaks, the marks that
# reorder the text after them ("ana\u202e" shows reversed what follows), and the
# invisible ones (trial 54d: "ana" and "ana" with a zero-width space were two reviewers
# who looked the same); the joiners U+200C and U+200D belong to names in some scripts.
_NOT_IN_NAMES = re.compile(
    r"[\x00-\x1f\x7f-\x9f\xad\u061c\u180e\u200b\u200e\u200f\ud800-\udfff\u2028\u2029"
    r"\u202a-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]"
)


def _weighted_kappa(agreement: pl.DataFrame) -> float | None:
    """The pairs' kappas (``reviewer_agreement``) weighed by the items each pair shares;
    None where no pair has one."""
    defined = agreement.filter(pl.col("kappa").is_not_null())
    if defined.height == 0:
        return None
    return float((defined["kappa"] * defined["items"]).sum() / defined["items"].sum())


def reviewer_name(name: str) -> str:
    """``name`` without surrounding spaces: 1 to ``MAX_REVIEWER`` characters, none a
    control character or one that reorders text, which would act on the terminal or the
    page that shows it (a decision says who made it), in NFC, so that a name typed in
    composed or decomposed letters is one name. Any script's own spaces and joiners
    are names' (``"山田\u3000太郎"``). The terminal and the page take the same.

    Examples
    --------
    >>> reviewer_name(" ana+qa@example.com ")
    'ana+qa@example.com'
    """
    # NFC: "José" typed on macOS (decomposed) and elsewhere is one name (trial 59f: two
    # "José" rows in review-stats).
    stripped = unicodedata.normalize("NFC", name).strip() if isinstance(name, str) else ""
    if not stripped or len(stripped) > MAX_REVIEWER or _NOT_IN_NAMES.search(stripped):
        raise InputError(
            f"a reviewer needs a name of 1 to {MAX_REVIEWER} characters, none a control "
            f"character, a direction mark or an invisible one, got {name!r}"
        )
    return stripped


def not_queued(con: duckdb.DuckDBPyConnection, example_id: str, attribute: str) -> str:
    """Why an answer to ``example_id``'s ``attribute`` finds no queued item: what the
    example is queued for, if anything (on a spans task, the bounds its spans have)."""
    where = f" for {attribute!r}" if attribute else ""
    elsewhere = con.execute(
        "SELECT list(attribute ORDER BY attribute) FROM queue WHERE example_id = ?", [example_id]
    ).fetchall()[0][0]
    # Trial 33: on an aspects task, answer() without attribute= said the example was
    # not queued at all. Trial 45: a span answered by the bounds a fix gave it said so too.
    then = "answer one of those" if attribute else "pass attribute= (item.attribute)"
    hint = f"; it is queued for {elsewhere}: {then}" if elsewhere else ""
    return f"example {example_id!r} is not in the review queue{where}{hint}"


def _append(
    con: duckdb.DuckDBPyConnection,
    example_id: str,
    attribute: str,
    reviewer: str,
    action: str,
    label: str | None,
    undoes: int | None,
    seconds: float,
    comment: str | None,
) -> int:
    reviewer = reviewer_name(reviewer)
    row = first_row(con, "SELECT coalesce(max(decision_id), 0) + 1 FROM decisions")
    decision_id = int(row[0]) if row else 1
    # With what the reviewer was shown: the next flag replaces the queue's labels.
    con.execute(
        """INSERT INTO decisions (decision_id, example_id, attribute, reviewer, action, label,
                                  undoes, seconds, comment, decided_at, shown, shown_given,
                                  shown_suggested)
           SELECT $id, $example, $attribute, $reviewer, $action, $label, $undoes, $seconds,
                  $comment, to_timestamp($at)::TIMESTAMP, true, q.given_label,
                  q.suggested_label
           FROM (SELECT 1) LEFT JOIN queue q
             ON q.example_id = $example AND q.attribute = $attribute""",
        {
            "id": decision_id,
            "example": example_id,
            "attribute": attribute,
            "reviewer": reviewer,
            "action": action,
            "label": label,
            "undoes": undoes,
            "seconds": seconds,
            "comment": comment,
            "at": time.time(),
        },
    )
    return decision_id
