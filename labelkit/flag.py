"""Confident learning: flag the aggregated labels most likely to be wrong, and queue them.

A fast classifier is trained on the aggregated labels by k-fold cross-validation, so
each example gets predicted probabilities from a model that never saw it. cleanlab
compares those with the labels: where they disagree confidently, the label is
flagged. Flags go into the review queue, most doubtful (lowest label quality) first.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import polars as pl
from cleanlab.filter import find_label_issues as cleanlab_find_label_issues
from cleanlab.multilabel_classification.filter import find_multilabel_issues_per_class
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from sklearn.pipeline import Pipeline

from labelkit import flag_classifiers  # noqa: F401 (registers the flaggers)
from labelkit.aggregate import label_model_sources
from labelkit.errors import InputError, LabelkitError, check_range
from labelkit.executors import Executor, executor_for
from labelkit.executors.base import stacked_rows
from labelkit.flag_spans import span_flags
from labelkit.processes import one_blas_thread
from labelkit.registry import (
    checked_probabilities,
    configure,
    errors_named,
    flaggers,
    resolve,
)
from labelkit.report import still_running
from labelkit.review.queue import EFFECTIVE_DECISIONS, SPOT_CHECK, TEXT_DECISIONS
from labelkit.task import ABSTAIN, MENTIONED, NONE, Task
from labelkit.votes import source_names
from labelkit.workspace import (
    Workspace,
    emptied,
    first_row,
    registered,
    warn_if_out_of_date,
    within_characters,
)

DEFAULT_FLAGGER = "tfidf_logreg"
# Labels the flagger is cross-validated on, at most, per attribute. Past this, a TF-IDF
# classifier's out-of-fold probabilities barely change, while 5-fold CV over 1M texts
# took 104 of flag's 138 s (issue 21); the other rows are scored by the fold models.
DEFAULT_FIT_EXAMPLES = 50_000
# Rows predicted at once where the fold models score the rows outside their sample.
PREDICT_BATCH = 50_000
# Rows of per-row state read from, or written to, the workspace at once.
CHUNK_ROWS = 500_000
# Scoring this many rows takes long enough to be worth a line of progress.
SCORED_LINE_ROWS = 200_000
# The TEMP tables of one flag run: each row's numbers, the votes' evidence, the flags.
_STATE, _EVIDENCE, _ISSUES = "flag_state", "flag_evidence", "label_issues"


def find_label_issues(
    workspace: Workspace,
    *,
    split: str = "train",
    flagger: str | None = None,
    folds: int = 5,
    filter_by: str = "predicted_neq_given",
    unsure_below: float = 0.8,
    seed: int = 0,
    fit_examples: int | None = DEFAULT_FIT_EXAMPLES,
    executor: str | Executor = "local",
    spot_check: int = 0,
    progress: Callable[[str], None] | None = None,
    **params: Any,
) -> pl.DataFrame:
    """Flag likely label errors among one split's aggregated labels and queue them for review.

    An example is flagged for each reason that applies, with its evidence:

    - ``cleanlab``: confident learning finds its label likely wrong, out of sample;
    - ``label model unsure``: the label model's confidence is below ``unsure_below``;
    - ``no source voted <label>`` (classification): sources voted on the example, none
      for the label the label model gave, which its prior (the classes' shares) won
      against votes it trusts little;
    - ``LFs conflict``: labeling functions voted different labels;
    - ``<llm source> says <label>``: an LLM voted another label than the label model
      (where several LLMs vote, at least half of them did; three are named per label);
    - ``too few <label> labels to check by confident learning``: the label model gave
      its label fewer times than there are ``folds``, too few to cross-validate, so
      confident learning leaves those rows out and review sees every one of them.
    - ``spot check``: with ``spot_check=n``, ``n`` labels of each answer the label
      model gave, drawn at random (by ``seed``) from every attribute's labels of that
      answer whatever their doubts, and queued first. Their review says how often each
      answer is right (``ReviewQueue.spot_checks``, ``labelkit review-stats``), which confident learning
      cannot: its classifier learns the label model's answers, a systematic error
      included. On MAMS-ACSA's restaurant LFs two in three of ``auto``'s ``neutral``
      labels are wrong, and the first 300 flags hold none of them.

    One priority orders the queue: the mean of two doubts, each by its rank among the
    flagged labels (0 to 1, 1 the most doubtful, ties at their mid-point): cleanlab's
    self-confidence label ``quality`` and the label model's ``confidence``. Ranks,
    because the two live on different scales: the label model's confidence often crowds
    near 1, and a mean of the two values (this step's priority before) then followed
    the classifier alone, which on a few hundred texts of a hard task knows less than
    the sources (``benchmarks/review_efficiency.py`` compares the two on seven sets).
    Examples the label model left unlabeled (no source covers them) are
    queued too, with the classifier's suggestion and half its doubt as priority, behind
    most likely errors.

    Returns the flags, highest priority first: ``example_id, given_label`` (the label
    model's), ``suggested_label`` (the cross-validated classifier's), ``quality``,
    ``confidence``, ``priority``, ``reasons`` (with evidence) and ``rank``. Flagging
    again replaces the split's flags (another split's stay) and updates queued items,
    never duplicating them; an
    unreviewed item of the split that is no longer flagged leaves the queue. Copies of
    a text (the same text under other ids) are flagged each, and queued once: the copy
    of highest priority, whose answer labels every copy (``cleaned_labels``); a text
    answered on any copy is not queued again. The
    frame holds every flag (millions, on millions of weak labels), copies included:
    ``queue_label_issues`` flags and queues the same without returning them, and
    ``ReviewQueue(workspace).pending()`` is the queue as review takes it, a text once
    (trial 58c: the frame's first 100 rows were not the queue's first 100 items).

    A task with attributes (aspects, multi-label) is flagged one attribute at a time:
    a classifier is cross-validated on each attribute's answers (the texts featurized
    once for all of them), each reason is about that attribute's votes (``"mentioned"``
    agrees with every answer but ``"none"``), and a multi-label task's cleanlab verdict
    comes from cleanlab's multi-label support. The flags then have an ``attribute``
    column after ``example_id``, and a queue item is an (example, attribute) pair, in
    one queue: quality and confidence are both the probability of the given answer,
    so priorities compare across attributes.

    Every example is scored, but the classifier is cross-validated on at most
    ``fit_examples`` labels per attribute (``None``: all): past that, a seeded sample
    stratified by label is split into the folds, and the rows outside it are scored, in
    batches, each by one fold's model (they are out of sample for all of them); the
    examples no source covers are scored the same way instead of by a refit on every
    label. Up to ``fit_examples`` labels the flags are those of plain k-fold
    cross-validation. Past it, the texts stay in the workspace: the sample's are read
    once, the others a chunk at a time as they are scored. cleanlab then reads every row's
    probabilities at once (a few bytes per row; its ``find_label_issues_batched``
    computes another filter than ``predicted_neq_given``). ``executor`` scores those
    batches: ``local`` in this process, ``ray`` (or a ``RayExecutor``) as Ray tasks; the
    flags are the same.

    What flag holds per row is numbers (the label model's answer, confidence and
    probabilities, the classifier's): the ids, labels, reasons and votes' tallies stay
    in DuckDB, where the flags are built and joined back to their examples by row
    number, ``CHUNK_ROWS`` rows written at a time.

    ``flagger`` names the classifier (``labelkit.flag_classifiers``; default
    ``tfidf_logreg``). ``filter_by`` is cleanlab's. Its default there,
    ``prune_by_noise_rate``, finds little in weak labels: a text classifier trained on
    labels from keyword LFs learns the same keywords. On the bundled YouTube data (LF votes only) it flagged 1 of 1,110
    aggregated labels (none wrong); ``predicted_neq_given`` flagged 54, of which 27 were wrong
    where 13% of all labels were.

    A spans task is flagged span by span (``labelkit.flag_spans.span_flags``: a token
    tagger cross-validated for cleanlab's token classification, and span-level
    reasons); its flags have ``start`` and ``end`` after the attribute
    ``"<start>:<end>"``, and ``params`` go to ``span_flags`` (``missed_above``, the
    tagger's ``C``). A spans task takes no ``flagger``.

    ``progress``, where given, is called with a line as each stage begins (the
    command prints them on stderr).

    Examples
    --------
    >>> flags = find_label_issues(ws)
    >>> flags["priority"].is_sorted(descending=True)
    True
    >>> find_label_issues(reviews).columns[:2]
    ['example_id', 'attribute']
    """
    with _flagged(
        workspace,
        split=split,
        flagger=flagger,
        folds=folds,
        filter_by=filter_by,
        unsure_below=unsure_below,
        seed=seed,
        fit_examples=fit_examples,
        executor=executor,
        spot_check=spot_check,
        progress=progress,
        **params,
    ) as flags:
        if isinstance(flags, pl.DataFrame):
            return flags
        return workspace.sql(f"SELECT {flags} FROM {_ISSUES} ORDER BY rank")


def queue_label_issues(
    workspace: Workspace,
    *,
    top: int = 10,
    split: str = "train",
    flagger: str | None = None,
    folds: int = 5,
    filter_by: str = "predicted_neq_given",
    unsure_below: float = 0.8,
    seed: int = 0,
    fit_examples: int | None = DEFAULT_FIT_EXAMPLES,
    executor: str | Executor = "local",
    spot_check: int = 0,
    progress: Callable[[str], None] | None = None,
    **params: Any,
) -> tuple[int, pl.DataFrame]:
    """``find_label_issues``, returning only how many flags it queued and the ``top``
    queued ones (its columns, highest priority first; a copy of a text queued once is
    left out): the flags stay in the workspace's
    ``flags`` and ``queue`` tables, never all in a frame (``labelkit flag`` at 10M
    texts queues millions).

    Examples
    --------
    >>> count, first = queue_label_issues(ws, top=3)
    >>> count == ws.sql("SELECT count(*) AS n FROM queue")["n"][0], first.height
    (True, 3)
    """
    with _flagged(
        workspace,
        split=split,
        flagger=flagger,
        folds=folds,
        filter_by=filter_by,
        unsure_below=unsure_below,
        seed=seed,
        fit_examples=fit_examples,
        executor=executor,
        spot_check=spot_check,
        progress=progress,
        **params,
    ) as flags:
        if isinstance(flags, pl.DataFrame):
            return flags.height, flags.head(top)
        counted = first_row(workspace.con, f"SELECT count(*) FROM {_ISSUES}")
        assert counted is not None
        # The queued ones: a copy of a text queued once is no item of its own (trial
        # 56c: two copies listed right after "copies are queued once").
        first = workspace.sql(
            f"""SELECT {flags} FROM {_ISSUES} i
                SEMI JOIN queue q ON q.example_id = i.example_id AND q.attribute = i.attribute
                ORDER BY rank LIMIT ?""",
            [top],
        )
        return int(counted[0]), first


@contextmanager
def _flagged(
    workspace: Workspace,
    *,
    split: str,
    flagger: str | None,
    folds: int,
    filter_by: str,
    unsure_below: float,
    seed: int,
    fit_examples: int | None,
    executor: str | Executor,
    spot_check: int,
    progress: Callable[[str], None] | None = None,
    **params: Any,
) -> Iterator[pl.DataFrame | str]:
    """Flag and queue as ``find_label_issues`` says; yield a spans task's flags, else
    the columns to read of the TEMP table ``_ISSUES`` that holds the flags, dropped
    after the block."""
    started = time.time()
    task = workspace.task
    # Each of these ended in scikit-learn's or numpy's own error (trial 44).
    check_range("folds", folds, low=2, why=" to cross-validate")
    check_range("seed", seed, low=0)
    check_range("unsure_below", unsure_below, low=0, high=1, why=" (a probability)")
    if fit_examples is not None:
        check_range("fit_examples", fit_examples, low=1, why=" (None: all)")
    check_range("spot_check", spot_check, low=0)
    warn_if_out_of_date(workspace)
    settings = {"split": split, "folds": folds, "filter_by": filter_by}
    settings |= {"unsure_below": unsure_below, "seed": seed}
    runner = executor_for(executor) if isinstance(executor, str) else executor
    if task.kind == "spans":
        if flagger is not None:
            raise InputError(
                "a spans task is flagged by a token tagger, not by a text classifier: "
                f"leave out the flagger ({flagger!r})"
            )
        if runner.name != "local":
            raise InputError(
                "a spans task's token tagger scores on the local executor (--executor local)"
            )
        if spot_check:
            raise InputError(
                "spot checks sample the label model's answers; a spans task's are spans: "
                "leave out spot_check (--spot-check)"
            )
        # Trial 62d: 14 minutes on 300 long reports without a line.
        if progress is not None:
            progress(f"flag: a token tagger cross-validated in {settings['folds']} folds")
        beating = still_running("flag: the token tagger") if progress else contextlib.nullcontext()
        with beating:
            flags = span_flags(workspace, **settings, **params)
        with registered(workspace.con, "span_flags", flags):
            _queue(workspace, "span_flags", settings | params, by_text=False, started=started)
        yield flags
        return
    flagger = flagger or DEFAULT_FLAGGER
    settings["fit_examples"] = fit_examples
    purging = first_row(workspace.con, "SELECT current_setting('allocator_background_threads')")
    # DuckDB's allocator otherwise keeps what each query freed (its background threads
    # hand it back): at 10M texts, what reading the answers used stayed held to the end.
    workspace.con.execute("SET allocator_background_threads = true")
    try:
        _attribute_flags(
            workspace,
            task,
            flagger,
            **settings,
            executor=runner,
            spot_check=spot_check,
            progress=progress or _quiet,
            **params,
        )
        _store_issues(workspace, task, split, unsure_below)
        _queue(
            workspace,
            _ISSUES,
            {"flagger": flagger, "executor": runner.name, "spot_check": spot_check}
            | settings
            | params,
            started=started,
        )
        attribute = "" if task.kind == "classification" else "attribute, "
        yield (
            f"example_id, {attribute}given_label, suggested_label, quality, confidence, "
            "priority, reasons, rank"
        )
    finally:
        for table in (_STATE, _EVIDENCE, _ISSUES):
            workspace.con.execute(f"DROP TABLE IF EXISTS temp.{table}")
        assert purging is not None
        workspace.con.execute(f"SET allocator_background_threads = {bool(purging[0])}")


def _quiet(line: str) -> None:
    """The progress of a caller that asked for none."""


def _attribute_flags(
    workspace: Workspace,
    task: Task,
    flagger: str,
    *,
    split: str,
    folds: int,
    filter_by: str,
    unsure_below: float,
    seed: int,
    fit_examples: int | None,
    executor: Executor,
    spot_check: int = 0,
    progress: Callable[[str], None],
    **params: Any,
) -> None:
    """What ``find_label_issues`` flags on a task with attributes (classification too):
    each row that may be flagged, as numbers, into the TEMP table ``_STATE``, and the
    votes' evidence into ``_EVIDENCE`` (``_store_issues`` makes the flags of them)."""
    task.require_attributes("flag (find_label_issues)")
    workspace.require("predictions", "labelkit aggregate")
    _require_known_labels(workspace, task, split)
    ids = workspace.sql("SELECT id FROM examples WHERE split = ? ORDER BY id", [split])["id"]
    classifier = configure(flaggers, flagger, **params)
    texts = _StoredTexts(workspace, split, ids)
    # Long texts: fewer of them to fit on (each fold's model still scores every row).
    fit_examples, _ = within_characters(workspace.con, split, fit_examples)
    features, estimator = _features(
        classifier,
        texts,
        shared=task.kind != "classification",
        fit_examples=fit_examples,
        seed=seed,
    )
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    ranges = _id_ranges(workspace, split)
    fitted = len(texts) if fit_examples is None else min(len(texts), fit_examples)
    # Trial 52b: six minutes on long texts without a word.
    progress(
        f"flag: {flagger} cross-validated in {folds} folds on {fitted:,} of the "
        f"{len(texts):,} {split} texts"
        + (f", {len(task.targets)} attributes" if len(task.targets) > 1 else "")
    )
    answered = []
    part, factory = f"flagger {flagger!r}", resolve(flaggers, flagger)
    for at, attribute in enumerate(task.targets, start=1):
        if len(task.targets) > 1:
            progress(f"flag: {attribute} ({at} of {len(task.targets)})")
        # Trial 62b: a slow flagger's folds ran 96 s without a line.
        fitting = f"flag: {flagger} on {attribute}" if len(task.targets) > 1 else f"flag: {flagger}"
        beating = still_running(fitting) if progress is not _quiet else contextlib.nullcontext()
        with errors_named(part, factory), beating, one_blas_thread():
            answered.append(
                _Attribute(
                    task,
                    attribute,
                    *_stored_answers(
                        workspace, task.answers(attribute), attribute, split, ranges, len(texts)
                    ),
                    features,
                    estimator,
                    cv,
                    split,
                    fit_examples,
                    executor,
                    progress,
                    part,
                )
            )
    progress("flag: confident learning and the other reasons, then the queue")
    for answer in answered:
        answer.find_issues(filter_by)
    if spot_check:
        _pick_spot_checks(answered, spot_check, seed)
    if task.kind == "multilabel":
        _multilabel_issues(answered, filter_by)
    _store_vote_evidence(workspace, split, ranges)
    con = workspace.con
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_STATE} (
                row_at INTEGER, attribute_at SMALLINT, given SMALLINT, suggested SMALLINT,
                labeled BOOLEAN, cleanlab BOOLEAN, rare BOOLEAN, spot BOOLEAN, quality DOUBLE,
                confidence DOUBLE,
                priority DOUBLE, shown_quality DOUBLE, shown_confidence DOUBLE,
                shown_sure DOUBLE)"""
    )
    for attribute_at, answer in enumerate(answered):
        evidenced = con.execute(
            f"SELECT row_at FROM {_EVIDENCE} WHERE attribute_at = ?", [attribute_at]
        ).fetchnumpy()["row_at"]
        for chunk in answer.rows_to_flag(attribute_at, unsure_below, np.asarray(evidenced)):
            with registered(con, "flag_chunk", chunk):
                con.execute(f"INSERT INTO {_STATE} BY NAME SELECT * FROM flag_chunk")


def _store_issues(workspace: Workspace, task: Task, split: str, unsure_below: float) -> None:
    """The flags, into the TEMP table ``_ISSUES`` in rank order, from each row's numbers
    (``_STATE``) and the votes' evidence (``_EVIDENCE``), joined to their ids by row
    number. Called once ``_attribute_flags`` has returned, so that none of its arrays
    are held while DuckDB builds and sorts the flags."""
    con = workspace.con
    labels = pl.DataFrame(
        [
            (attribute_at, code, label)
            for attribute_at, attribute in enumerate(task.targets)
            for code, label in enumerate(task.answers(attribute).labels)
        ],
        schema={"attribute_at": pl.Int16, "code": pl.Int16, "label": pl.String},
        orient="row",
    )
    with registered(con, "flag_labels", labels):
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {_ISSUES} AS
                WITH placed AS (
                    SELECT id, (row_number() OVER (ORDER BY id) - 1)::INTEGER AS row_at
                    FROM examples WHERE split = $split),
                flagged AS (
                    SELECT s.*, v.lf_votes, v.llm_disagrees, coalesce(v.unvoted, false) AS unvoted,
                           coalesce(v.undecided, false) AS undecided
                    FROM {_STATE} s LEFT JOIN {_EVIDENCE} v USING (row_at, attribute_at)
                    WHERE NOT s.labeled OR s.cleanlab OR s.rare OR s.spot
                        OR s.confidence < $unsure_below OR v.unvoted
                        OR v.lf_votes IS NOT NULL OR v.llm_disagrees IS NOT NULL),
                -- Each doubt by its rank among the labeled flags: the label model's
                -- confidence often crowds near 1 while the classifier's quality spreads
                -- over 0-1, and a mean of the two values is then the classifier's order.
                -- A rank is the mid-point of its ties, so that a doubt all flags share
                -- ranks each at one half.
                ranks AS (
                    SELECT *,
                        rank() OVER by_quality / (2 * count(*) OVER labeled_or_not)
                            + cume_dist() OVER by_quality / 2 AS quality_rank,
                        rank() OVER by_confidence / (2 * count(*) OVER labeled_or_not)
                            + cume_dist() OVER by_confidence / 2 AS confidence_rank
                    FROM flagged
                    WINDOW labeled_or_not AS (PARTITION BY labeled),
                           by_quality AS (PARTITION BY labeled ORDER BY quality DESC),
                           by_confidence AS (PARTITION BY labeled ORDER BY confidence DESC)),
                -- A spot check comes first, whatever its doubts: a few per answer, and
                -- only reviewed do they say how often that answer is right. A tie the
                -- sources left is a question for a person: ahead of half the labeled
                -- flags, where a text no source voted on waits behind them.
                ranked AS (
                    SELECT * REPLACE (CASE WHEN spot THEN 1.0 WHEN labeled
                        THEN (quality_rank + confidence_rank) / 2
                        WHEN undecided THEN 0.5 + priority
                        ELSE priority END AS priority)
                    FROM ranks),
                named AS (
                    SELECT p.id AS example_id, $attributes[f.attribute_at + 1] AS attribute,
                           g.label AS given_label, l.label AS suggested_label, f.quality,
                           f.confidence, f.priority,
                           CASE WHEN f.labeled THEN concat_ws('; ',
                               CASE WHEN f.spot THEN '{SPOT_CHECK} (a ' || g.label
                                   || ' label drawn at random)' END,
                               CASE WHEN f.cleanlab THEN 'cleanlab (quality '
                                   || f.shown_quality::VARCHAR || ', suggests ' || l.label
                                   || ')' END,
                               CASE WHEN f.rare THEN 'too few ' || g.label
                                   || ' labels to check by confident learning' END,
                               CASE WHEN f.confidence < $unsure_below
                                   THEN 'label model unsure ('
                                       || f.shown_confidence::VARCHAR || ')' END,
                               -- An LLM's vote against it says as much.
                               CASE WHEN f.unvoted AND f.llm_disagrees IS NULL
                                   THEN 'no source voted ' || g.label
                                   || ' (its share of the labels outweighed the votes)' END,
                               'LFs conflict (' || f.lf_votes || ')',
                               f.llm_disagrees)
                           ELSE concat_ws('; ',
                               CASE WHEN f.undecided THEN 'votes left undecided'
                                   ELSE $unanswered END
                               || ' (classifier suggests ' || l.label || ', '
                               || f.shown_sure::VARCHAR || ')',
                               'LFs conflict (' || f.lf_votes || ')')
                           END AS reasons
                    FROM ranked f JOIN placed p USING (row_at)
                    LEFT JOIN flag_labels g
                        ON g.attribute_at = f.attribute_at AND g.code = f.given
                    JOIN flag_labels l ON l.attribute_at = f.attribute_at AND l.code = f.suggested)
                -- polars' order: nulls first, whichever the direction.
                SELECT *, (row_number() OVER (ORDER BY priority DESC NULLS FIRST, example_id,
                                              attribute))::INTEGER AS rank
                FROM named ORDER BY rank""",
            {
                "split": split,
                "unsure_below": unsure_below,
                "attributes": list(task.targets),
                "unanswered": (
                    "no source covers it" if task.kind == "classification" else "no answer"
                ),
            },
        )
    con.execute(f"DROP TABLE {_STATE}")
    con.execute(f"DROP TABLE {_EVIDENCE}")


def _require_known_labels(workspace: Workspace, task: Task, split: str) -> None:
    """Raise where a prediction of ``split`` names a label its attribute does not have."""
    for attribute in task.targets:
        labels = list(task.answers(attribute).labels)
        unknown = first_row(
            workspace.con,
            """SELECT p.label FROM predictions p JOIN examples e ON e.id = p.example_id
               WHERE e.split = ? AND p.attribute = ? AND NOT list_contains(?, p.label)
               LIMIT 1""",
            [split, attribute, labels],
        )
        if unknown is not None:
            raise InputError(f"unknown label {unknown[0]!r}; this task's labels are {labels}")


def _id_ranges(workspace: Workspace, split: str) -> list[tuple[int, str, str | None]]:
    """``split``'s examples in chunks of ``CHUNK_ROWS`` by id: each chunk's first row
    number, its first id and the next chunk's (None for the last), so that a query can
    read a chunk by range and number its rows from the first, without numbering every
    example at once."""
    firsts = workspace.con.execute(
        """SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS row_at
                          FROM examples WHERE split = ?)
           WHERE row_at % ? = 0 ORDER BY row_at""",
        [split, CHUNK_ROWS],
    ).fetchall()
    bounds = [row[0] for row in firsts] + [None]
    return [(k * CHUNK_ROWS, bounds[k], bounds[k + 1]) for k in range(len(firsts))]


def _stored_answers(
    workspace: Workspace,
    answers: Task,
    attribute: str,
    split: str,
    ranges: list[tuple[int, str, str | None]],
    rows: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The label model's answers on ``attribute`` of ``split``'s ``rows`` examples, row
    ``i`` the ``i``-th by id: codes (``ABSTAIN`` where none), confidences and
    probabilities (NaN where none), read a range of ids (``_id_ranges``) at a time.

    Over every row at once, DuckDB's sort and join took about 1 GB at 10M texts (issue 21).
    """
    given = np.full(rows, ABSTAIN, dtype=np.int16)
    confidence = np.full(rows, np.nan)
    probabilities = np.full((rows, answers.cardinality), np.nan)
    for start, first, following in ranges:
        chunk = workspace.sql(
            """WITH placed AS (
                   SELECT id, (row_number() OVER (ORDER BY id) - 1)::INTEGER AS row_at
                   FROM examples
                   WHERE split = $split AND id >= $first AND ($next IS NULL OR id < $next))
               SELECT e.row_at, (list_position($labels, p.label) - 1)::SMALLINT AS given,
                      p.confidence, p.probabilities
               FROM placed e JOIN predictions p
                   ON p.example_id = e.id AND p.attribute = $attribute""",
            {
                "labels": list(answers.labels),
                "attribute": attribute,
                "split": split,
                "first": first,
                "next": following,
            },
        )
        at = start + chunk["row_at"].to_numpy()
        given[at] = chunk["given"].fill_null(ABSTAIN).to_numpy()
        confidence[at] = chunk["confidence"].to_numpy()
        probabilities[at] = chunk["probabilities"].list.to_array(answers.cardinality).to_numpy()
    return given, confidence, probabilities


def _queue(
    workspace: Workspace,
    table: str,
    config: dict[str, Any],
    *,
    by_text: bool = True,
    started: float | None = None,
) -> None:
    """Store the flags of ``table`` (``example_id, attribute, given_label,
    suggested_label, quality, priority, reasons`` joined by ``"; "``, ``rank``; in rank
    order) in one step: they replace the split's flags, one row per reason, and each (example,
    attribute) item is queued, or its queued item updated, never duplicated. An item of
    the flagged split that is no longer flagged leaves the queue unless it was reviewed:
    after a refit, 26 such items still showed the old label model's reasons.

    ``by_text``: copies of a text (the same text under other ids) are queued once, the
    copy of highest priority, its reasons saying how many there are, since one answer
    labels them all (``cleaned_labels``); and none is queued whose text a decision on a
    copy answered already (trial 51b: one message, copied 14 times, was asked 14 times).
    """
    with workspace.run("flag", config, started=started) as run:
        con = run.con
        if by_text:
            con.execute(
                # A text's hash, not the text: at 10M texts millions are flagged.
                f"""CREATE TEMP TABLE queued_flags AS
                    SELECT f.* REPLACE (CASE WHEN copies > 1 THEN f.reasons || '; flagged in '
                                        || copies || ' copies of this text; the answer labels '
                                        || 'every copy' ELSE f.reasons END AS reasons)
                    FROM (SELECT *, count(*) OVER (PARTITION BY text_hash, attribute) AS copies
                          FROM (SELECT f.*, hash(e.text) AS text_hash
                                FROM {table} f JOIN examples e ON e.id = f.example_id)) f
                    WHERE NOT EXISTS (
                        SELECT 1 FROM ({TEXT_DECISIONS}) d
                        WHERE hash(d.text) = f.text_hash AND d.attribute = f.attribute
                          AND d.example_id <> f.example_id)
                    QUALIFY row_number() OVER (PARTITION BY f.text_hash, f.attribute
                                               ORDER BY f.priority DESC, f.example_id) = 1"""
            )
            queued = "queued_flags"
        else:
            queued = table
        of_split = "example_id IN (SELECT id FROM examples WHERE split = ?)"
        if first_row(con, f"SELECT 1 FROM flags WHERE NOT {of_split} LIMIT 1", [config["split"]]):
            # Another split's flags stay (trial 48b: flagging dev dropped train's).
            con.execute(f"DELETE FROM flags WHERE {of_split}", [config["split"]])
        else:
            emptied(con, "flags")
        con.execute(
            f"""DELETE FROM queue q
                WHERE q.example_id IN (SELECT id FROM examples WHERE split = ?)
                  AND NOT EXISTS (SELECT 1 FROM {queued} f
                                  WHERE f.example_id = q.example_id
                                    AND f.attribute = q.attribute)
                  AND NOT EXISTS (SELECT 1 FROM ({EFFECTIVE_DECISIONS}) d
                                  WHERE d.example_id = q.example_id
                                    AND d.attribute = q.attribute)""",
            [config["split"]],
        )
        con.execute(
            f"""INSERT INTO flags (example_id, attribute, reason, given_label,
                                   suggested_label, quality, rank, run_id)
                SELECT example_id, attribute, unnest(string_split(reasons, '; ')),
                       given_label, suggested_label, quality, rank, ?
                FROM {table}""",
            [run.id],
        )
        con.execute(
            f"""INSERT INTO queue (example_id, attribute, priority, reasons, given_label,
                                   suggested_label, run_id)
                SELECT example_id, attribute, priority, reasons, given_label,
                       suggested_label, ?
                FROM {queued}
                ON CONFLICT (example_id, attribute) DO UPDATE SET priority = excluded.priority,
                    reasons = excluded.reasons, given_label = excluded.given_label,
                    suggested_label = excluded.suggested_label, run_id = excluded.run_id""",
            [run.id],
        )
        con.execute("DROP TABLE IF EXISTS temp.queued_flags")


class _StoredTexts:
    """The texts of ``split``'s examples (position ``i`` holds ``ids[i]``), left in
    the workspace and read where a model needs them: a sample by position, or the rows
    to score a chunk at a time, so that flag's memory does not grow with the texts.

    Examples
    --------
    >>> texts = _StoredTexts(ws, "train", pl.Series(["c1", "c2", "c3"]))
    >>> texts.take(np.array([2, 0]))
    ['third comment', 'first comment']
    """

    def __init__(self, workspace: Workspace, split: str, ids: pl.Series) -> None:
        self.workspace, self.split, self.ids = workspace, split, ids
        self._order = ids.arg_sort()
        self._sorted = ids.gather(self._order)

    def __len__(self) -> int:
        return self.ids.len()

    def take(self, positions: np.ndarray) -> list[str]:
        """The texts at ``positions``, in that order."""
        wanted = pl.DataFrame({"id": self.ids.gather(positions), "at": np.arange(positions.size)})
        with registered(self.workspace.con, "wanted_texts", wanted):
            return self.workspace.sql(
                "SELECT e.text FROM wanted_texts w JOIN examples e ON e.id = w.id ORDER BY w.at"
            )["text"].to_list()

    def chunks(
        self, positions: np.ndarray, batch_rows: int
    ) -> Iterator[tuple[np.ndarray, list[str]]]:
        """The texts at ``positions``, at most ``batch_rows`` at a time in storage order,
        each chunk with where its texts are in ``positions``."""
        index = np.full(len(self), -1)
        index[positions] = np.arange(positions.size)
        # A cursor of its own: the caller's queries between chunks must not end the stream.
        with self.workspace.cursor() as cursor:
            stream = cursor.sql(
                "SELECT id, text FROM examples WHERE split = ?", params=[self.split]
            ).to_arrow_reader(batch_rows)
            for batch in stream:
                chunk = pl.from_arrow(batch)
                at = index[self._order.gather(self._sorted.search_sorted(chunk["id"])).to_numpy()]
                wanted = at >= 0
                if wanted.any():
                    yield at[wanted], chunk["text"].filter(pl.Series(wanted)).to_list()


class _InMemory:
    """Features already computed for every position: ``_StoredTexts``' interface over a
    (sparse) matrix."""

    def __init__(self, rows: Any) -> None:
        self.rows = rows

    def take(self, positions: np.ndarray) -> Any:
        return self.rows[positions]

    def chunks(self, positions: np.ndarray, batch_rows: int) -> Iterator[tuple[np.ndarray, Any]]:
        for start in range(0, positions.size, batch_rows):
            at = np.arange(start, min(start + batch_rows, positions.size))
            yield at, self.rows[positions[at]]


def _features(
    classifier: Any, texts: _StoredTexts, *, shared: bool, fit_examples: int | None, seed: int
) -> tuple[_StoredTexts | _InMemory, Any]:
    """What the classifier is cross-validated on, for every attribute: the texts and the
    whole classifier; or, where several attributes share the texts (``shared``), the
    texts featurized once by every step of a pipeline but the last, and that last step.

    The shared featurizer is fitted on the split's texts (a seeded sample of
    ``fit_examples`` of them where there are more) without their labels, so no fold
    learns another fold's labels, and it is fitted once, not per fold and attribute.
    """
    if not (shared and isinstance(classifier, Pipeline) and len(classifier.steps) > 1):
        return texts, classifier
    featurizer = classifier[:-1]
    every = np.arange(len(texts))
    if fit_examples is None or len(texts) <= fit_examples:
        return _InMemory(featurizer.fit_transform(texts.take(every))), classifier[-1]
    picked = np.random.default_rng(seed).choice(len(texts), fit_examples, replace=False)
    featurizer.fit(texts.take(np.sort(picked)))
    parts = [(at, featurizer.transform(rows)) for at, rows in texts.chunks(every, PREDICT_BATCH)]
    order = np.argsort(np.concatenate([at for at, _ in parts]))
    stacked = stacked_rows([matrix for _, matrix in parts])
    return _InMemory(stacked[order]), classifier[-1]


def _take(rows: Any, positions: np.ndarray) -> Any:
    """The rows of a list of texts or of a (sparse) matrix at ``positions``."""
    if isinstance(rows, list):
        return [rows[i] for i in positions]
    return rows[positions]


class _Attribute:
    """One attribute's given answers and a classifier's out-of-fold probabilities for them.

    The classifier learns the answers the label model gave at least ``folds`` times
    (every answer, else an error, for classification). Where fewer than two answers are
    that frequent, and for the rows of rarer answers, the label model's probabilities
    stand in for the classifier's, so those rows are flagged for the other reasons only.
    Past ``fit_examples`` learned rows, the folds split a stratified sample of them and
    each fold's model scores its share of the others, and of the unanswered rows
    (``find_label_issues``).
    """

    def __init__(
        self,
        task: Task,
        attribute: str,
        given: np.ndarray,
        confidence: np.ndarray,
        stored: np.ndarray,
        features: _StoredTexts | _InMemory,
        estimator: Any,
        cv: StratifiedKFold,
        split: str,
        fit_examples: int | None = None,
        executor: Executor | None = None,
        progress: Callable[[str], None] = lambda line: None,
        part: str = "the flagger",
    ) -> None:
        self.kind = task.kind
        self.part = part
        self.progress = progress
        self.executor = executor or executor_for("local")
        self.answers = answers = task.answers(attribute)
        self.given, self.confidence = given, confidence
        folds = cv.get_n_splits()
        counts = np.bincount(given[given != ABSTAIN], minlength=answers.cardinality)
        self.classes = np.flatnonzero(counts >= folds)
        if task.kind == "classification" and len(self.classes) < 2:
            raise LabelkitError(
                f"confident learning needs at least {folds} examples of two labels or more "
                f"in split {split!r}; the label model gave "
                f"{dict(zip(answers.labels, counts.tolist(), strict=True))}"
            )
        self.learned = np.isin(given, self.classes)
        # A label given too seldom to cross-validate is left out of confident learning,
        # and its rows are queued instead (semeval stance: 3 "None" of 308 refused the
        # whole step).
        self.rare = (given != ABSTAIN) & ~self.learned
        self.unlabeled = given == ABSTAIN
        self.positions = np.arange(given.size)
        # A row the label model left unanswered has no probabilities: uniform.
        self.pred_probs = np.where(np.isnan(stored), 1 / answers.cardinality, stored)
        self.issues = np.zeros(given.size, dtype=bool)
        self.spot = np.zeros(given.size, dtype=bool)
        self.features, self.estimator = features, None
        self.uncovered_proba: np.ndarray | None = None
        if len(self.classes) < 2:
            return
        self.estimator = estimator
        codes = np.searchsorted(self.classes, given[self.learned])
        if fit_examples is None or codes.size <= fit_examples:
            learned = features.take(self.positions[self.learned])
            proba = self._checked(
                cross_val_predict(estimator, learned, codes, cv=cv, method="predict_proba")
            )
            if self.unlabeled.any():
                # The rows no source covers, by a model fitted on every learned row.
                fitted = clone(estimator).fit(learned, codes)
                unlabeled = self.positions[self.unlabeled]
                self.uncovered_proba = self._scored_by(
                    [fitted], unlabeled, np.zeros(unlabeled.size, dtype=int)
                )
        else:
            proba = self._sampled_cross_validation(codes, cv, fit_examples)
        self.codes, self.proba = codes, proba
        self.pred_probs[self.learned] = 0.0
        self.pred_probs[np.ix_(self.learned, self.classes)] = proba

    def _sampled_cross_validation(
        self, codes: np.ndarray, cv: StratifiedKFold, fit_examples: int
    ) -> np.ndarray:
        """Out-of-sample probabilities of every learned row from ``cv``'s folds over a
        stratified sample of ``fit_examples`` rows: out of fold in the sample, and from
        one fold's model (in turn) outside it, as are the unanswered rows (kept for
        ``uncovered``)."""
        positions = self.positions[self.learned]
        sample, rest = train_test_split(
            np.arange(codes.size),
            train_size=fit_examples,
            stratify=codes,
            random_state=cv.random_state,
        )
        sample, rest = np.sort(sample), np.sort(rest)
        sampled = self.features.take(positions[sample])
        models, held_out = [], []
        for fit, held in cv.split(sample, codes[sample]):
            models.append(clone(self.estimator).fit(_take(sampled, fit), codes[sample[fit]]))
            held_out.append(held)
        proba = np.zeros((codes.size, len(self.classes)))
        jobs = [[(k, _take(sampled, held)) for k, held in enumerate(held_out)]]
        (scored,) = self.executor.class_probabilities(models, jobs, batch_rows=PREDICT_BATCH)
        for held, part in zip(held_out, scored, strict=True):
            proba[sample[held]] = self._checked(part)
        unlabeled = self.positions[self.unlabeled]
        # Trial 53e: minutes without a word while a million texts were scored.
        self.progress(f"flag: the fold models score the other {rest.size + unlabeled.size:,} texts")
        others = self._scored_by(
            models,
            np.concatenate([positions[rest], unlabeled]),
            np.concatenate([np.arange(rest.size), np.arange(unlabeled.size)]) % len(models),
        )
        proba[rest] = others[: rest.size]
        self.uncovered_proba = others[rest.size :]
        return proba

    def _scored_by(
        self, models: list[Any], positions: np.ndarray, model_of: np.ndarray
    ) -> np.ndarray:
        """The probabilities of the rows at ``positions``, row ``i`` scored by
        ``models[model_of[i]]``; the executor scores the rows as they are read, a chunk
        of ``PREDICT_BATCH`` at a time."""
        proba = np.zeros((positions.size, len(self.classes)))
        owners: deque[list[np.ndarray]] = deque()
        # A line at each tenth of the rows where they take more than a few chunks.
        every = max(positions.size // 10, SCORED_LINE_ROWS)
        done = 0

        def jobs() -> Iterator[list[tuple[int, Any]]]:
            for at, rows in self.features.chunks(positions, PREDICT_BATCH):
                mine = [np.flatnonzero(model_of[at] == k) for k in range(len(models))]
                owners.append([at[part] for part in mine])
                yield [(k, _take(rows, part)) for k, part in enumerate(mine)]

        for scored in self.executor.class_probabilities(models, jobs(), batch_rows=PREDICT_BATCH):
            before = done
            for at, part in zip(owners.popleft(), scored, strict=True):
                proba[at] = self._checked(part, at.size)
                done += at.size
            if done // every > before // every and done < positions.size:
                self.progress(f"flag: scored {done:,} of {positions.size:,}")
        return proba

    def _checked(self, proba: Any, rows: int | None = None) -> np.ndarray:
        """A flagger's probabilities, refused unless they are a probability per kept
        label (in code order) for each row (trial 62b: NaN rows changed the queue without
        a word, others ended in cleanlab's or numpy's traceback)."""
        rows = len(proba) if rows is None else rows
        return checked_probabilities(proba, rows, len(self.classes), self.part)

    def find_issues(self, filter_by: str) -> None:
        """cleanlab's verdict on each learned row, on this attribute alone."""
        if self.estimator is not None:
            self.issues[self.learned] = cleanlab_find_label_issues(
                self.codes, self.proba, filter_by=filter_by
            )

    def rows_to_flag(
        self, attribute_at: int, unsure_below: float, evidenced: np.ndarray
    ) -> Iterator[pl.DataFrame]:
        """The rows that may be flagged (``evidenced``: where votes give a reason), as
        numbers, ``CHUNK_ROWS`` at a time: ``row_at`` (the row number by id), the given
        and suggested codes, quality, confidence, cleanlab's verdict, an unlabeled
        row's priority (a labeled row's is ranked among all flags), and the rounded
        numbers the reasons show.

        A labeled row's suggestion is the classifier's likeliest answer (else the label
        model's), its quality the probability of the given answer. A row the label model
        left without an answer gets the suggestion of the classifier fitted on every
        learned row (past ``fit_examples``, the fold models in turn), else the label
        model's likeliest answer; its priority is half the doubt in it, so likely label
        errors come before labeling from scratch, and the least obvious of these come
        first among them (``_store_issues`` puts the rows whose votes tied ahead).
        """
        wanted = self.unlabeled | self.rare | self.issues | self.spot
        wanted |= self.confidence < unsure_below
        wanted[evidenced] = True
        rows = np.flatnonzero(wanted)
        unlabeled_rows = np.flatnonzero(self.unlabeled)
        for start in range(0, rows.size, CHUNK_ROWS):
            at = rows[start : start + CHUNK_ROWS]
            given = self.given[at]
            labeled = given != ABSTAIN
            proba = self.pred_probs[at]
            if self.uncovered_proba is not None:
                unlabeled = np.flatnonzero(~labeled)
                proba[unlabeled] = 0.0
                proba[np.ix_(unlabeled, self.classes)] = self.uncovered_proba[
                    np.searchsorted(unlabeled_rows, at[unlabeled])
                ]
            quality = proba[np.arange(at.size), np.where(labeled, given, 0)]
            sure = proba.max(axis=1)
            yield pl.DataFrame(
                {
                    "row_at": at.astype(np.int32),
                    "attribute_at": np.full(at.size, attribute_at, dtype=np.int16),
                    "given": given,
                    "suggested": proba.argmax(axis=1).astype(np.int16),
                    "labeled": labeled,
                    "cleanlab": self.issues[at],
                    "rare": self.rare[at],
                    "spot": self.spot[at],
                    "quality": quality,
                    "confidence": self.confidence[at],
                    "sure": sure,
                }
            ).select(
                "row_at",
                "attribute_at",
                "given",
                "suggested",
                "labeled",
                "cleanlab",
                "rare",
                "spot",
                *(pl.when("labeled").then(name).alias(name) for name in ("quality", "confidence")),
                # The arithmetic and rounding of the polars frames flag built before
                # (issue 21): DuckDB's round differs in the last digit now and then.
                # A labeled row's priority is ranked among the flags (``_store_issues``).
                pl.when(~pl.col("labeled")).then((1 - pl.col("sure")) / 2).alias("priority"),
                pl.col("quality").round(2).alias("shown_quality"),
                pl.col("confidence").round(2).alias("shown_confidence"),
                pl.col("sure").round(2).alias("shown_sure"),
            )


def _pick_spot_checks(answered: list[_Attribute], per_answer: int, seed: int) -> None:
    """Mark ``per_answer`` labels of each answer (all, where the label model gave it
    fewer times) as spot checks, drawn alike from every attribute's labels of that
    answer: a simple random sample, so that its share of right answers estimates the
    answer's precision over the split, and each attribute gets spot checks in
    proportion to how often it has the answer."""
    rng = np.random.default_rng(seed)
    labels = dict.fromkeys(label for answer in answered for label in answer.answers.labels)
    for label in labels:
        rows = [
            np.flatnonzero(answer.given == answer.answers.labels.index(label))
            if label in answer.answers.labels
            else np.array([], dtype=np.int64)
            for answer in answered
        ]
        owner = np.repeat(np.arange(len(answered)), [r.size for r in rows])
        flat = np.concatenate(rows)
        for at in rng.choice(flat.size, min(per_answer, flat.size), replace=False):
            answered[owner[at]].spot[flat[at]] = True


def _multilabel_issues(answered: list[_Attribute], filter_by: str) -> None:
    """cleanlab's multi-label verdict, per label, on the examples every label's
    classifier scored; the other rows keep their verdict on their label alone."""
    learned = [answer for answer in answered if answer.estimator is not None]
    if not learned:
        return
    everywhere = np.logical_and.reduce([answer.learned for answer in learned])
    yes = np.column_stack([answer.given[everywhere] == 0 for answer in learned])
    issues = find_multilabel_issues_per_class(
        labels=[np.flatnonzero(row).tolist() for row in yes],
        pred_probs=np.column_stack([answer.pred_probs[everywhere, 0] for answer in learned]),
        filter_by=filter_by,
    )
    for k, answer in enumerate(learned):
        answer.issues[everywhere] = issues[:, k]


def _store_vote_evidence(
    workspace: Workspace, split: str, ranges: list[tuple[int, str, str | None]]
) -> None:
    """Into the TEMP table ``_EVIDENCE``, per example (``row_at``, its row number by id)
    and attribute (``attribute_at``, its position among the task's) of ``split``: the
    LF tally where LFs disagree, and LLMs that disagree with the label model.

    On an aspect, ``"mentioned"`` agrees with every answer but ``"none"``. The votes
    are tallied a range of ids (``_id_ranges``) at a time: over
    every vote at once, DuckDB's aggregates held 1.6 GB at 10M texts (issue 21).
    """
    task = workspace.task
    con = workspace.con
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_EVIDENCE} (row_at INTEGER, attribute_at SMALLINT,
                                                     lf_votes VARCHAR, llm_disagrees VARCHAR,
                                                     unvoted BOOLEAN, undecided BOOLEAN)"""
    )
    for start, first, following in ranges:
        con.execute(
            f"""INSERT INTO {_EVIDENCE}
               WITH lf AS (
                   SELECT v.example_id, v.attribute, v.label, count(*) AS n FROM votes v
                   JOIN sources s ON s.name = v.source AND s.kind = 'lf'
                   WHERE v.example_id >= $first AND ($next IS NULL OR v.example_id < $next)
                   GROUP BY ALL),
               conflicted AS (
                   SELECT example_id, attribute FROM lf GROUP BY example_id, attribute
                   HAVING count(*) FILTER (label IS DISTINCT FROM $mentioned) > 1
                       OR (bool_or(label = $mentioned) AND bool_or(label = $none))),
               -- Tallied only where LFs conflict: an ordered string_agg over every voted
               -- example held 0.55 GB at 1M rows.
               conflicts AS (
                   SELECT example_id, attribute,
                          string_agg(label || ' ' || n, ', ' ORDER BY n DESC, label)
                            AS lf_votes
                   FROM lf SEMI JOIN conflicted USING (example_id, attribute)
                   GROUP BY example_id, attribute),
               llm_votes AS (
                   SELECT v.example_id, v.attribute, v.source, v.label,
                          coalesce(p.label <> v.label
                                   AND (v.label IS DISTINCT FROM $mentioned OR p.label = $none),
                                   false) AS against
                   FROM votes v
                   JOIN sources s ON s.name = v.source AND s.kind = 'llm'
                   JOIN predictions p
                       ON p.example_id = v.example_id AND p.attribute = v.attribute
                   WHERE v.example_id >= $first AND ($next IS NULL OR v.example_id < $next)),
               -- Per label the LLMs give against the label model: how many, and the
               -- first three by name (twelve recorded LLMs made an unreadable reason).
               llm_against AS (
                   SELECT example_id, attribute, label, count(*) AS n,
                          array_to_string(list_slice(list(source ORDER BY source), 1, 3), ', ')
                            || CASE WHEN count(*) > 3
                                    THEN ' and ' || (count(*) - 3) || ' more' ELSE '' END
                            AS names
                   FROM llm_votes WHERE against GROUP BY ALL),
               -- A reason where at least half the LLMs that vote there disagree: one
               -- dissenter among many is what a crowd of LLMs always has.
               llm AS (
                   SELECT a.example_id, a.attribute,
                          string_agg(a.names || CASE WHEN a.n = 1 THEN ' says ' ELSE ' say ' END
                                     || a.label, '; ' ORDER BY a.n DESC, a.label)
                            AS llm_disagrees
                   FROM llm_against a
                   JOIN (SELECT example_id, attribute, count(*) AS voting FROM llm_votes
                         GROUP BY ALL) t USING (example_id, attribute)
                   GROUP BY a.example_id, a.attribute
                   HAVING sum(a.n) * 2 >= max(t.voting)),
               -- A class label no source voted for, though some voted: its prior
               -- outweighed votes the label model trusts little (trial 48b). One pass
               -- over the range's votes.
               voted AS (
                   SELECT example_id, attribute, list(DISTINCT label) AS labels FROM votes
                   WHERE $classification AND list_contains($sources, source)
                     AND example_id >= $first AND ($next IS NULL OR example_id < $next)
                   GROUP BY ALL),
               unvoted AS (
                   SELECT p.example_id, p.attribute
                   FROM predictions p JOIN voted v USING (example_id, attribute)
                   WHERE p.label IS NOT NULL AND NOT list_contains(v.labels, p.label)),
               -- Voted on, yet left without a label: a tie majority vote does not break
               -- (trials 54b and 54d: queued as "no source covers it").
               undecided AS (
                   SELECT p.example_id, p.attribute
                   FROM predictions p JOIN voted v USING (example_id, attribute)
                   WHERE p.label IS NULL),
               placed AS (
                   SELECT id, ($start + row_number() OVER (ORDER BY id) - 1)::INTEGER
                            AS row_at
                   FROM examples
                   WHERE split = $split AND id >= $first AND ($next IS NULL OR id < $next)),
               evidence AS (
                   SELECT k.example_id, k.attribute, c.lf_votes, l.llm_disagrees,
                          u.example_id IS NOT NULL AS unvoted,
                          d.example_id IS NOT NULL AS undecided
                   FROM (SELECT example_id, attribute FROM conflicts
                         UNION SELECT example_id, attribute FROM llm
                         UNION SELECT example_id, attribute FROM unvoted
                         UNION SELECT example_id, attribute FROM undecided) k
                   LEFT JOIN conflicts c USING (example_id, attribute)
                   LEFT JOIN llm l USING (example_id, attribute)
                   LEFT JOIN unvoted u USING (example_id, attribute)
                   LEFT JOIN undecided d USING (example_id, attribute))
               SELECT p.row_at, (list_position($attributes, v.attribute) - 1)::SMALLINT,
                      v.lf_votes, v.llm_disagrees, v.unvoted, v.undecided
               FROM evidence v JOIN placed p ON p.id = v.example_id
               WHERE list_contains($attributes, v.attribute)""",
            {
                "mentioned": MENTIONED if task.kind == "aspects" else None,
                "none": NONE,
                "classification": task.kind == "classification",
                # The sources the label model weighs: a vote left out (--exclude) is
                # not one it tied or outweighed (the second read of stop 54).
                "sources": label_model_sources(workspace) or source_names(workspace),
                "split": split,
                "attributes": list(task.targets),
                "start": start,
                "first": first,
                "next": following,
            },
        )
