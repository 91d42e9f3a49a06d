"""Answers bought elsewhere: a file of (example id, raw answer) becomes one LLM vote source.

Each raw answer is parsed like a live one: one label (classification), a JSON object
of every attribute's answer (aspects, multi-label), or a JSON list of entities aligned
to the text (spans). It is kept in the LLM cache (model = the source, request = where
it came from) for inspection, parsed or not.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from labelkit.errors import InputError, LabelkitWarning
from labelkit.lf.analysis import wilson_interval
from labelkit.llm.cache import request_key
from labelkit.llm.parse import (
    Letters,
    align_answers,
    commonest_answers,
    letter_map,
    parse_attributes,
    parse_label,
)
from labelkit.tables import read_table, table_format
from labelkit.task import Task
from labelkit.votes import replace_span_votes, replace_votes
from labelkit.workspace import Workspace, first_row, registered


@dataclass(frozen=True)
class ImportedAnswers:
    """What an import stored: the source's name, rows read, how many parsed (into a
    label; into at least one attribute's answer; into a list of entities), the votes
    stored (one per label, attribute answer or span), and on a spans task the
    entities that found no span in their text (``unaligned``). ``unread`` holds the
    commonest answers that parsed into nothing, with their counts (at most five);
    ``replaced`` the votes the source held before this import, and ``replaced_file``
    the file they came from (None where the source is new or not imported from a file).
    """

    source: str
    answers: int
    parsed: int
    votes: int = 0
    unaligned: int = 0
    unread: tuple[tuple[str, int], ...] = ()
    replaced: int = 0
    replaced_file: str | None = None

    @property
    def unparsed(self) -> int:
        return self.answers - self.parsed


# Before an exchange of labels is suggested: the gold rows it takes, how much better it
# must agree with them, and the z of the 99% intervals (its and the labels as read) that
# must not overlap. The best of many exchanges is better than reading as given by
# chance; so guarded, a source answering at random was told to exchange labels in at
# most 2% of 1,000 draws (3 and 6 labels, 20-100 gold rows), one 60% right with its
# letters shifted by one in 65-98% of them from 50 gold rows on.
SWAP_MIN_GOLD = 20
SWAP_MARGIN = 0.2
SWAP_Z = 2.58


def import_answers(
    workspace: Workspace,
    path: str | Path,
    source: str,
    *,
    id_column: str = "id",
    answer_column: str = "answer",
    has_header: bool = True,
    file_format: str | None = None,
    letters: Letters | None = None,
    yes_no: tuple[str, str] | None = None,
    aliases: Mapping[str, Sequence[str]] | None = None,
    encoding: str = "utf-8",
) -> ImportedAnswers:
    """Store the answers in a JSONL, CSV, TSV or Parquet file as the votes of ``llm:<source>``.

    The ids are in ``id_column`` (by default ``id``, else ``example_id`` as
    ``import_votes`` names it). Without a header (``has_header=False``, CSV/TSV only)
    the first column is the id and the last the answer. Every id must name an example,
    once; otherwise nothing is stored and the error names the file and row.
    ``file_format`` names the format of a file whose suffix does not (``"tsv"``,
    ``"csv"``, ``"jsonl"``). ``letters`` reads
    answers to lettered options: the options in the order the prompt listed them (A
    first), or letter → label; the task's label order is no guide to the prompt's, so
    there is no default. ``yes_no`` reads answers to a yes/no question and ``aliases``
    adds other names per label (see ``parse_label``). ``encoding`` is a CSV, TSV or JSONL
    file's text encoding (e.g. ``"cp1252"``).

    On an aspects or multi-label task each answer is a JSON object answering every
    attribute (``parse_attributes``), one vote per attribute it answers; on a spans task
    a JSON list of entities, each aligned to every occurrence in its text
    (``align_entities``), one span vote each, the entities that found none counted in
    ``unaligned`` and kept in the cache with the answer.

    Examples
    --------
    >>> import_answers(ws, "gpt4_answers.tsv", "gpt-4").parsed
    1911
    >>> import_answers(ws, "answer-davinci", "davinci", has_header=False, file_format="tsv",
    ...                letters=["World", "Sports", "Business", "Sci/Tech"]).parsed
    1874
    """
    path = Path(path)
    name = source if source.startswith("llm:") else f"llm:{source}"
    task = workspace.task
    if task.kind != "classification" and (letters is not None or yes_no is not None):
        raise InputError(
            f"letters and yes/no answers hold one label each; this task is {task.kind}"
        )
    rows = _read(path, id_column, answer_column, has_header, file_format, encoding)
    known = workspace.sql("SELECT id FROM examples")["id"]
    unknown = rows.filter(~pl.col("example_id").is_in(known.implode()))
    if unknown.height:
        row, example_id = unknown.select("row", "example_id").row(0)
        raise InputError(
            f"{path}: row {row}: id {example_id!r} is not an example in the workspace "
            f"({unknown.height} such rows)"
        )
    repeated = rows.filter(pl.col("example_id").is_duplicated())
    if repeated.height:
        example_id = repeated["example_id"][0]
        where = repeated.filter(pl.col("example_id") == example_id)["row"].to_list()
        raise InputError(
            f"{path}: rows {', '.join(map(str, where))}: id {example_id!r} is answered more "
            "than once"
        )
    for label in yes_no or ():
        task.code(label)
    if task.kind == "spans":
        parsed, votes, unaligned = _spans(workspace, rows, aliases or {})
    elif task.kind == "classification":
        parsed, votes, unaligned = _labels(rows, task.labels, letters, yes_no, aliases), None, 0
        if letters is None:
            _refuse_bare_letters(path, parsed)
    else:
        parsed, votes, unaligned = _attributes(rows, task, aliases or {}), None, 0
    _refuse_unread(path, parsed, task)
    parsed = parsed.with_columns(
        key=pl.Series(
            [request_key({"imported": name, "example_id": i}) for i in parsed["example_id"]],
            dtype=pl.String,
        ),
        request=pl.Series(
            [
                json.dumps({"imported_from": path.name, "source": name, "example_id": i})
                for i in parsed["example_id"]
            ],
            dtype=pl.String,
        ),
    )
    definition = json.dumps({"kind": "imported_answers", "file": path.name, "rows": rows.height})
    sources = pl.DataFrame({"name": [name], "kind": ["llm"], "definition": [definition]})
    source_column = pl.lit(name).alias("source")
    # How the answers were read, so that two imports of one file can be told apart.
    read_as = {
        "letters": None if letters is None else letter_map(letters, task.labels),
        "yes_no": yes_no,
        "aliases": {label: list(names) for label, names in (aliases or {}).items()},
    }
    before = _stored_source(workspace, name, "span_votes" if task.kind == "spans" else "votes")
    with workspace.run("import_answers", {"file": str(path), "source": name} | read_as) as run:
        if votes is not None:
            stored = replace_span_votes(
                run.con, votes.with_columns(source_column), sources, run_id=run.id
            )
        elif task.kind == "classification":
            stored = replace_votes(
                run.con,
                parsed.select("example_id", source_column, "label"),
                sources,
                run_id=run.id,
            )
        else:
            stored = replace_votes(
                run.con,
                parsed.explode("votes")
                .unnest("votes")
                .select("example_id", source_column, "attribute", "label"),
                sources,
                run_id=run.id,
            )
        with registered(run.con, "imported", parsed.select("key", "request", "answer", "cached")):
            run.con.execute(
                """INSERT OR REPLACE INTO llm_cache
                       (key, model, request, response, label, created_at)
                   SELECT key, ?, request, answer, cached, now()::TIMESTAMP FROM imported""",
                [name],
            )
    if task.kind == "classification":
        _warn_if_swapped(workspace, parsed, task.labels, name)
    unread = commonest_answers(parsed.filter(pl.col("cached").is_null())["answer"])
    return ImportedAnswers(
        source=name,
        answers=parsed.height,
        parsed=int(parsed["cached"].is_not_null().sum()),
        votes=stored,
        unaligned=unaligned,
        unread=unread,
        replaced=before[0],
        replaced_file=before[1],
    )


def _stored_source(workspace: Workspace, name: str, table: str) -> tuple[int, str | None]:
    """How many votes source ``name`` holds in ``table``, and the file it was imported
    from (None if it is new or was not imported from a file)."""
    row = first_row(
        workspace.con,
        f"""SELECT (SELECT count(*) FROM {table} WHERE source = ?),
                   (SELECT definition->>'file' FROM sources WHERE name = ?)""",
        [name, name],
    )
    return (int(row[0]), row[1]) if row else (0, None)


def _refuse_bare_letters(path: Path, parsed: pl.DataFrame) -> None:
    """Refuse answers of which none names a label and most are an option letter ("B",
    "(c)"): imported without the prompt's option order, they made an empty source
    with no word of why."""
    lettered = parsed["answer"].str.strip_chars().str.contains(r"^\(?[A-Za-z]\)?[.):]?$")
    if parsed["label"].is_null().all() and (lettered.mean() or 0.0) >= 0.5:
        example = parsed.filter(lettered)["answer"][0]
        raise InputError(
            f"{path}: none of the {parsed.height} answers names a label and "
            f"{int(lettered.sum())} are option letters such as {example!r}: give the "
            "prompt's options in order with letters= / --letters"
        )


def _warn_if_swapped(
    workspace: Workspace, parsed: pl.DataFrame, labels: Sequence[str], name: str
) -> None:
    """Warn where the answers match the gold labels far better with labels exchanged.

    Option letters given out of the prompt's order read every answer as another label;
    on a few dozen gold rows that looks like a poor source, hardly below chance (trial
    31: right on 0.330 of 100 dev rows, chance 0.347, status ok). The best exchange is
    the assignment of read labels to gold labels that agrees most often."""
    # Imported here: scipy.optimize takes a good part of a second to load.
    from scipy.optimize import linear_sum_assignment

    gold = workspace.sql("SELECT id AS example_id, gold FROM examples WHERE gold IS NOT NULL")
    pairs = parsed.filter(pl.col("label").is_not_null()).join(gold, on="example_id")
    if pairs.height < SWAP_MIN_GOLD:
        return
    code = pl.Enum(labels)
    counts = pairs.group_by(pl.col("label", "gold").cast(code).to_physical()).len()
    agree = np.zeros((len(labels), len(labels)))
    agree[counts["label"].to_numpy(), counts["gold"].to_numpy()] = counts["len"].to_numpy()
    read, meant = linear_sum_assignment(agree, maximize=True)
    right = np.array([np.trace(agree), agree[read, meant].sum()])
    low, high = wilson_interval(right, np.full(2, pairs.height), z=SWAP_Z)
    as_read, best = right / pairs.height
    if best - as_read < SWAP_MARGIN or low[1] <= high[0]:
        return
    exchanged = [f"{labels[r]} as {labels[m]}" for r, m in zip(read, meant, strict=True) if r != m]
    warnings.warn(
        f"{name}: on {pairs.height} gold rows its answers are right {as_read:.0%} of the "
        f"time as read, and {best:.0%} reading {', '.join(exchanged)}: were the letters "
        "(--letters) or aliases given in the prompt's order?",
        LabelkitWarning,
        stacklevel=3,
    )


def _refuse_unread(path: Path, parsed: pl.DataFrame, task: Task) -> None:
    """Refuse answers of which not one could be read: stored, they made a source that
    never votes, which only the import's count of zero parsed answers told (trial 31:
    True/False answers to a persuasive/unpersuasive task)."""
    answered = parsed.filter(pl.col("answer").is_not_null())
    if answered.is_empty() or answered["cached"].is_not_null().any():
        return
    commonest = answered.group_by("answer").len().sort("len", "answer", descending=[True, False])
    shown = ", ".join(f"{answer!r} ({n})" for answer, n in commonest.head(3).iter_rows())
    how = (
        "--alias LABEL=NAME names what an answer calls a label, --yes-no YES_LABEL,NO_LABEL "
        "reads yes/no and true/false, --letters the prompt's options"
        if task.kind == "classification"
        else "--alias LABEL=NAME names what an answer calls a label"
    )
    raise InputError(
        f"{path}: not one of the {answered.height} answers could be read for this task "
        f"(commonest: {shown}); nothing was stored. {how} (aliases=, yes_no=, letters= in "
        "Python)"
    )


def _labels(
    rows: pl.DataFrame,
    labels: Sequence[str],
    letters: Letters | None,
    yes_no: tuple[str, str] | None,
    aliases: Mapping[str, Sequence[str]] | None,
) -> pl.DataFrame:
    """``rows`` with each answer's ``label``, also what the cache keeps (``cached``)."""
    by_letter = letter_map(letters, labels) if letters is not None else None
    unlettered = [label for label in labels if by_letter and label not in by_letter.values()]
    if unlettered:
        warnings.warn(
            f"the option letters give no letter to {unlettered}: no answer can vote for "
            "them (give every option of the prompt, in its order)",
            LabelkitWarning,
            stacklevel=3,
        )
    # Answers repeat ("B", "spam"): each distinct one is parsed once.
    label_of = {
        raw: parse_label(raw, labels, letters=by_letter, yes_no=yes_no, aliases=aliases)
        for raw in rows["answer"].drop_nulls().unique()
    }
    return rows.with_columns(
        label=pl.col("answer").replace_strict(label_of, default=None, return_dtype=pl.String)
    ).with_columns(cached=pl.col("label"))


def _attributes(
    rows: pl.DataFrame, task: Task, aliases: Mapping[str, Sequence[str]]
) -> pl.DataFrame:
    """``rows`` with each answer's ``votes`` (a list of ``{attribute, label}``), and
    what the cache keeps: every attribute's answer as JSON, null if none parsed."""
    answers = {attribute: task.answers(attribute).labels for attribute in task.targets}
    read = {
        raw: parse_attributes(raw, answers, aliases=aliases)
        for raw in rows["answer"].drop_nulls().unique()
    }
    votes = [
        [
            {"attribute": attribute, "label": label}
            for attribute, label in read.get(raw or "", {}).items()
            if label is not None
        ]
        for raw in rows["answer"]
    ]
    cached = [
        json.dumps(read[raw]) if raw in read and any(read[raw].values()) else None
        for raw in rows["answer"]
    ]
    return rows.with_columns(
        votes=pl.Series(
            votes, dtype=pl.List(pl.Struct({"attribute": pl.String, "label": pl.String}))
        ),
        cached=pl.Series(cached, dtype=pl.String),
    )


def _spans(
    workspace: Workspace, rows: pl.DataFrame, aliases: Mapping[str, Sequence[str]]
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """``rows`` with what the cache keeps (each answer's aligned spans and failures as
    JSON, as ``label_with_llm`` keeps them; null without an entity list), the span
    votes (``example_id, start, end, label``) and the entities that found no span."""
    task = workspace.task
    texts = rows.join(
        workspace.sql("SELECT id AS example_id, text FROM examples"),
        on="example_id",
        maintain_order="left",
    )
    cached, spans, unaligned = [], [], 0
    aligned_answers = align_answers(
        texts["text"], texts["answer"], task.labels, task.lang, aliases=aliases
    )
    for example_id, aligned in zip(texts["example_id"], aligned_answers, strict=True):
        cached.append(None if aligned is None else json.dumps(aligned))
        if aligned is not None:
            unaligned += len(aligned["failures"])
            spans += [(example_id, *span) for span in aligned["spans"]]
    votes = pl.DataFrame(
        spans,
        schema={"example_id": pl.String, "start": pl.Int64, "end": pl.Int64, "label": pl.String},
        orient="row",
    )
    return (
        texts.drop("text").with_columns(cached=pl.Series(cached, dtype=pl.String)),
        votes,
        unaligned,
    )


ANSWER_FORMATS = ("csv", "tsv", "jsonl", "parquet")


def _read(
    path: Path,
    id_column: str,
    answer_column: str,
    has_header: bool,
    file_format: str | None,
    encoding: str,
) -> pl.DataFrame:
    kind = table_format(path, file_format)
    if kind not in ANSWER_FORMATS:
        # Trial 45: WRENCH JSON and aspect XML were read, then failed on missing columns.
        raise InputError(f"{path}: answers come as {', '.join(ANSWER_FORMATS)}, not {kind}")
    frame = read_table(path, has_header=has_header, file_format=kind, encoding=encoding)
    if not has_header:
        id_column, answer_column = frame.columns[0], frame.columns[-1]
    elif id_column == "id" and "id" not in frame.columns and "example_id" in frame.columns:
        # As import-votes and import-decisions name it (trial 60c: a file import-decisions
        # had read was refused here for want of a column 'id').
        id_column = "example_id"
    for column in (id_column, answer_column):
        if column not in frame.columns:
            raise InputError(
                f"{path}: no column {column!r}; columns are {frame.columns}"
                + (
                    " (name yours with id_column and answer_column, CLI --id-column and "
                    "--answer-column; or, if the first line is an answer, the file has no "
                    "header: has_header=False, CLI --no-header, reads the first column as "
                    "the id and the last as the answer)"
                    if has_header and table_format(path, file_format) in ("csv", "tsv")
                    else ""
                )
            )
    if frame.height == 0:
        raise InputError(f"{path}: no answers")
    # Rows are numbered from the first answer, as ingest and import-votes number them.
    return frame.select(
        pl.col(id_column).cast(pl.String).alias("example_id"),
        pl.col(answer_column).cast(pl.String).alias("answer"),
    ).with_row_index("row", offset=1)
