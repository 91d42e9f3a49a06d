"""Decisions made outside labelkit's review: a person's labels from another tool (a
Prodigy dataset, a spreadsheet of a colleague's answers), stored as review decisions
of a named reviewer, so that the cleaned set, and the small model trained on it, take
them as reviewed labels, as ``export`` and ``train`` take the queue's answers.

Gold is another matter: it scores, and trains nothing (trial 54a: a Prodigy user's
300 accepted labels went to dev and test as gold, and no way led to training on them).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import polars as pl

from labelkit.data import PRODIGY_ANSWER
from labelkit.errors import InputError, LabelkitWarning, outside_labelkit
from labelkit.report import counted
from labelkit.review.queue import EFFECTIVE_DECISIONS, reviewer_name
from labelkit.tables import as_frame, read_table
from labelkit.task import Task
from labelkit.workspace import Workspace, registered

DecisionSource = str | Path | pl.DataFrame


def import_decisions(
    workspace: Workspace,
    source: DecisionSource,
    *,
    reviewer: str,
    file_format: str | None = None,
    encoding: str = "utf-8",
) -> dict[str, int]:
    """Store a table of labels a person gave (``example_id``, or ``id`` as ``export``
    writes it, ``label``, and ``attribute`` on a task with attributes) as
    ``reviewer``'s decisions; return how many were ``stored``, how many were
    ``standing`` already (the reviewer's decision that counts gives that label), and
    how many rows a Prodigy ``answer`` left out.

    Each row is one decision of the action ``label``, on any example of the workspace,
    queued or not, marked as not shown in labelkit's review; the newest decision on an
    item counts, as in review, and ``undo`` takes one back. An unknown example id, a
    label the item cannot have, an empty cell or one item given twice is an error
    that counts such rows and names the first five, and nothing is stored. A spans
    task's decisions are made in review.

    Where the table has Prodigy's ``answer`` column, as ``ingest`` reads it, only the
    accepted rows are decisions: a rejected label says what the text is not, an ignored
    one nothing (``rejected``, ``ignored``; trial 57d: 48 rejects were stored as the
    labels they refused). ``encoding`` is a text file's (a spreadsheet's CSV may be
    ``cp1252``). A choice interface's row (``"accept": ["billing"]``, no
    ``label``) gives its one accepted option; on a multi-label task, as
    ``textcat_multilabel`` writes it, ``yes`` for each accepted option and ``no`` for
    each other one of its ``options`` (all the task's labels where it has none), so
    ``"accept": []`` says the text has none. Decisions on texts of dev or test, which
    training never reads, are warned of, and so are copies of one text given different
    labels (one answer labels every copy: the newest decision's).

    Examples
    --------
    >>> import_decisions(ws, pl.DataFrame({"example_id": ["c1"], "label": ["spam"]}),
    ...                  reviewer="prodigy")
    {'stored': 1, 'standing': 0, 'rejected': 0, 'ignored': 0}
    """
    task = workspace.task
    if task.kind == "spans":
        raise InputError(
            "import_decisions takes a label per text or attribute; a spans task's decisions "
            "are made in review (import spans as a source: import_votes)"
        )
    reviewer = reviewer_name(reviewer)
    frame = as_frame(source)
    name = "frame" if frame is not None else str(source)
    if frame is None:
        frame = read_table(Path(source), file_format=file_format, encoding=encoding)  # type: ignore[arg-type]
    # Numbered before a Prodigy answer leaves rows out, so that errors name the file's.
    frame = frame.with_columns(pl.int_range(1, pl.len() + 1).alias(_ROW))
    frame, left_out = _accepted(frame, name, task)
    with_attributes = task.kind != "classification"
    wanted = ["example_id", *(["attribute"] if with_attributes else []), "label"]
    if "example_id" not in frame.columns and "id" in frame.columns:
        # As export and ingest name it (trial 58f: an exported set was refused back).
        frame = frame.rename({"id": "example_id"})
    missing = [column for column in wanted if column not in frame.columns]
    if missing:
        tool = (
            "; this looks like a Label Studio export, which is not read: export CSV there, "
            "or write a table of those columns"
            if {"annotations", "data"} & set(frame.columns)
            else ""
        )
        raise InputError(
            f"{name}: no column(s) {missing}; a table of decisions has the columns {wanted}"
            f" (ids in example_id, or id){tool}"
        )
    rows = frame.select(
        pl.col(_ROW).alias("row"),
        *(pl.col(column).cast(pl.String).str.strip_chars() for column in wanted),
    )
    if not with_attributes:
        rows = rows.with_columns(attribute=pl.lit(""))
    answers = pl.DataFrame(
        [
            (attribute, label)
            for attribute in task.targets
            for label in task.answers(attribute).labels
        ],
        schema={"attribute": pl.String, "label": pl.String},
        orient="row",
    )
    with (
        registered(workspace.con, "imported_decisions", rows),
        registered(workspace.con, "decision_answers", answers),
    ):
        _check(workspace, name, task.targets)
        with workspace.run(
            "import-decisions", {"file": name, "reviewer": reviewer, "rows": rows.height}
        ) as run:
            # The rows whose decision stands already (the same reviewer, the same label)
            # are left out: an INSERT's count is the rest.
            inserted = run.con.execute(
                f"""INSERT INTO decisions (decision_id, example_id, attribute, reviewer, action,
                                          label, undoes, seconds, comment, decided_at, shown)
                    SELECT (SELECT coalesce(max(decision_id), 0) FROM decisions)
                               + row_number() OVER (ORDER BY i.row),
                           i.example_id, i.attribute, $reviewer, 'label', i.label, NULL, 0.0,
                           $comment, to_timestamp($at)::TIMESTAMP, false
                    FROM imported_decisions i
                    WHERE NOT EXISTS (
                        SELECT 1 FROM ({EFFECTIVE_DECISIONS}) d
                        WHERE d.example_id = i.example_id AND d.attribute = i.attribute
                          AND d.reviewer = $reviewer AND d.label = i.label)""",
                {"reviewer": reviewer, "comment": f"imported from {name}", "at": time.time()},
            ).fetchone()
        elsewhere = workspace.sql(
            "SELECT count(*) AS n FROM imported_decisions i JOIN examples e "
            "ON e.id = i.example_id WHERE e.split <> 'train'"
        )["n"][0]
        _warn_of_copies_told_apart(workspace, name)
    if elsewhere:
        warnings.warn(
            f"{counted(elsewhere, 'decision')} of {name} {'is' if elsewhere == 1 else 'are'} on "
            "texts of dev or test, which training never reads (ingest puts texts with gold "
            "there): to train on annotations, ingest their texts without --label-column",
            LabelkitWarning,
            stacklevel=outside_labelkit(),
        )
    stored = int(inserted[0]) if inserted else 0
    return {"stored": stored, "standing": rows.height - stored, **left_out}


# The column numbering a table's rows as read (a name no table of decisions has).
_ROW = "__labelkit_row"


def _accepted(frame: pl.DataFrame, name: str, task: Task) -> tuple[pl.DataFrame, dict[str, int]]:
    """``frame`` less the rejected and ignored rows where it has Prodigy's ``answer``
    column (a choice interface's one accepted option as the label where a row has
    none; on a multi-label task, a row per option: ``_options_answered``), and how many
    rows were ``rejected`` and ``ignored``. Elsewhere a row of a choice interface that
    accepts several options, or none, is refused: a decision is one label."""
    counts = {"rejected": 0, "ignored": 0}
    if frame.schema.get(PRODIGY_ANSWER) != pl.String:
        return frame, counts
    answers = set(frame[PRODIGY_ANSWER].drop_nulls().unique().to_list())
    if not answers <= {"accept", "reject", "ignore"}:
        return frame, counts
    counts = {
        "rejected": int((frame[PRODIGY_ANSWER] == "reject").sum()),
        "ignored": int((frame[PRODIGY_ANSWER] == "ignore").sum()),
    }
    kept = frame.filter(pl.col(PRODIGY_ANSWER).is_null() | (pl.col(PRODIGY_ANSWER) == "accept"))
    choice = isinstance(kept.schema.get("accept"), pl.List)
    if choice:
        # A batch of none chosen reads as a list of nulls, numeric ids as numbers.
        kept = kept.with_columns(pl.col("accept").cast(pl.List(pl.String)))
    if choice and task.kind == "multilabel" and not {"attribute", "label"} & set(kept.columns):
        return _options_answered(kept, task), counts
    if choice:
        chosen = pl.col("accept").list
        labeled = pl.col("label").is_not_null() if "label" in kept.columns else pl.lit(False)
        several = kept.filter(~labeled & chosen.len().fill_null(0).ne(1))
        if several.height:
            first = several.row(0, named=True)
            raise InputError(
                f"{name} row {first[_ROW]}: Prodigy's accept lists {len(first['accept'] or [])} "
                "options and the row has no label: a decision is one label per text (on a "
                "multi-label task, one row per label, with its attribute); nothing was stored"
            )
        option = chosen.first()
        label = pl.coalesce(pl.col("label"), option) if "label" in kept.columns else option
        kept = kept.with_columns(label.alias("label"))
    return kept, counts


def _options_answered(frame: pl.DataFrame, task: Task) -> pl.DataFrame:
    """Prodigy's ``textcat_multilabel`` rows as one decision per option (trial 63a):
    ``yes`` for an accepted one, ``no`` for the others of the row's ``options``, or of
    the task's labels where a row has none."""
    every = pl.lit(list(task.targets), dtype=pl.List(pl.String))
    given = frame.schema.get("options")
    if isinstance(given, pl.List) and isinstance(given.inner, pl.Struct):
        offered = pl.col("options").list.eval(pl.element().struct.field("id").cast(pl.String))
    elif isinstance(given, pl.List):
        offered = pl.col("options").cast(pl.List(pl.String))
    else:
        offered = every
    # An accepted option the row does not offer is answered too (the second read).
    options = pl.concat_list(pl.coalesce(offered, every), pl.col("accept").fill_null([]))
    return (
        frame.with_columns(options.list.unique(maintain_order=True).alias("attribute"))
        .explode("attribute")
        .with_columns(
            pl.when(pl.col("accept").fill_null([]).list.contains(pl.col("attribute")))
            .then(pl.lit("yes"))
            .otherwise(pl.lit("no"))
            .alias("label")
        )
    )


def _warn_of_copies_told_apart(workspace: Workspace, name: str) -> None:
    """Warn where the registered ``imported_decisions`` give copies of one text (under
    several ids) different labels: one answer labels every copy, and nothing else said
    so (trial 63a: a Prodigy export held one text twice, once with no label and once
    with ``shipping``)."""
    told_apart = workspace.sql(
        """SELECT hash(e.text) AS text_hash, attribute,
                  list(DISTINCT i.example_id ORDER BY i.example_id) AS ids
           FROM imported_decisions i JOIN examples e ON e.id = i.example_id
           GROUP BY ALL HAVING count(DISTINCT label) > 1
           ORDER BY ids[1], attribute"""
    )
    if told_apart.is_empty():
        return
    texts = told_apart["text_hash"].n_unique()
    _, attribute, ids = told_apart.row(0)
    example = " and ".join(ids[:2]) + (f" ({attribute})" if attribute else "")
    warnings.warn(
        f"{counted(texts, 'text')} of {name} {'is' if texts == 1 else 'are'} given different "
        f"labels under different ids (first: {example}): one answer labels every copy of a "
        "text, the newest decision's (`labelkit export` shows which)",
        LabelkitWarning,
        stacklevel=outside_labelkit(),
    )


def _check(workspace: Workspace, name: str, targets: tuple[str, ...]) -> None:
    """Refuse the registered ``imported_decisions`` where a row is empty, names an
    example the workspace lacks or an attribute or label its item cannot have, or
    repeats an item, naming the first ``_NAMED_PROBLEMS`` such rows and counting the
    rest (trial 63c: one error a run made a team's CSV of five mistakes five runs)."""
    problems = workspace.sql(
        """WITH placed AS (
               SELECT *, min(row) OVER (PARTITION BY example_id, attribute) AS first
               FROM imported_decisions)
           SELECT row, example_id, CASE
                   WHEN example_id IS NULL OR example_id = '' THEN 'no example_id'
                   WHEN label IS NULL OR label = '' THEN 'no label'
                   WHEN example_id NOT IN (SELECT id FROM examples)
                       THEN 'no example ' || example_id || ' in the workspace'
                   WHEN NOT list_contains($targets, attribute)
                       THEN 'unknown attribute ' || coalesce(attribute, '(none)') || '; the '
                            || 'attributes are ' || array_to_string($targets, ', ')
                   WHEN NOT EXISTS (SELECT 1 FROM decision_answers a
                                    WHERE a.attribute = i.attribute AND a.label = i.label)
                       THEN 'label ' || to_json(label) || ' is not one of '
                            || (SELECT string_agg(a.label, ', ') FROM decision_answers a
                                WHERE a.attribute = i.attribute)
                            || coalesce((SELECT ' (labels are told apart by case: '
                                                || a.label || '?)'
                                         FROM decision_answers a
                                         WHERE a.attribute = i.attribute
                                           AND lower(a.label) = lower(i.label) LIMIT 1), '')
                   WHEN row > first
                       THEN 'a second decision on ' || example_id
                            || CASE WHEN attribute = '' THEN '' ELSE ' (' || attribute || ')' END
                            || ' (the first: row ' || first || ')'
                   END AS problem
           FROM placed i
           WHERE problem IS NOT NULL
           ORDER BY row""",
        {"targets": list(targets)},
    )
    if problems.is_empty():
        return
    named = []
    for row, example_id, problem in problems.head(_NAMED_PROBLEMS).iter_rows():
        unknown = problem == f"no example {example_id} in the workspace"
        named.append(f"row {row}: {problem}{_zeros_hint(workspace, example_id) if unknown else ''}")
    if problems.height == 1:
        raise InputError(f"{name} {named[0]}; nothing was stored")
    more = problems.height - len(named)
    rest = f"; and {counted(more, 'more row')} like these" if more else ""
    raise InputError(
        f"{name}: {problems.height:,} rows cannot be stored: {'; '.join(named)}{rest}; "
        "nothing was stored"
    )


_NAMED_PROBLEMS = 5


def _zeros_hint(workspace: Workspace, given: str | None) -> str:
    """Where an unknown id is a known one without its leading zeros, which a spreadsheet
    drops from a column it reads as numbers (trial 59c: 1265 for 01265), say so."""
    if not given or not given.isdigit():
        return ""
    known = workspace.sql(
        "SELECT min(id) AS id FROM examples WHERE id LIKE '0%' AND ltrim(id, '0') = ?",
        [given.lstrip("0")],
    )["id"][0]
    return (
        f" (the workspace has {known}: a spreadsheet drops leading zeros from a column it "
        "reads as numbers; keep the ids as text)"
        if known
        else ""
    )
