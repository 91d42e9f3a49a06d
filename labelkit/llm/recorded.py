"""Answers bought elsewhere: a file of (example id, raw answer) becomes one LLM vote source.

Each raw answer is parsed like a live one; it is kept in the LLM cache (model = the
source, request = where it came from) for inspection, parsed or not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from labelkit.data import read_table, table_format
from labelkit.errors import InputError
from labelkit.llm.cache import request_key
from labelkit.llm.parse import Letters, letter_map, parse_label
from labelkit.votes import write_votes
from labelkit.workspace import Workspace, registered


@dataclass(frozen=True)
class ImportedAnswers:
    """What an import stored: the source's name, rows read, and how many parsed."""

    source: str
    answers: int
    parsed: int

    @property
    def unparsed(self) -> int:
        return self.answers - self.parsed


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
) -> ImportedAnswers:
    """Store the answers in a JSONL, CSV, TSV or Parquet file as the votes of ``llm:<source>``.

    Without a header (``has_header=False``, CSV/TSV only) the first column is the id
    and the last the answer. Every id must name an example, once; otherwise nothing is
    stored and the error names the file and row. ``file_format`` names the format of
    a file whose suffix does not (``"tsv"``, ``"csv"``, ``"jsonl"``). ``letters`` reads
    answers to lettered options: the options in the order the prompt listed them (A
    first), or letter → label; the task's label order is no guide to the prompt's, so
    there is no default. ``yes_no`` reads answers to a yes/no question and ``aliases``
    adds other names per label (see ``parse_label``).

    Examples
    --------
    >>> import_answers(ws, "gpt4_answers.tsv", "gpt-4").parsed
    1911
    >>> import_answers(ws, "answer-davinci", "davinci", has_header=False, file_format="tsv",
    ...                letters=["World", "Sports", "Business", "Sci/Tech"]).parsed
    1874
    """
    workspace.task.require_attributes("import-answers (import_answers)")
    path = Path(path)
    name = source if source.startswith("llm:") else f"llm:{source}"
    rows = _read(path, id_column, answer_column, has_header, file_format)
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
        row, example_id = repeated.select("row", "example_id").row(0)
        raise InputError(f"{path}: row {row}: id {example_id!r} is answered more than once")
    task = workspace.task
    for label in yes_no or ():
        task.code(label)
    by_letter = letter_map(letters, task.labels) if letters is not None else None
    # Answers repeat ("B", "spam"): each distinct one is parsed once.
    distinct = rows["answer"].drop_nulls().unique()
    label_of = {
        raw: parse_label(raw, task.labels, letters=by_letter, yes_no=yes_no, aliases=aliases)
        for raw in distinct
    }
    parsed = rows.with_columns(
        label=pl.col("answer").replace_strict(label_of, default=None, return_dtype=pl.String),
        key=pl.Series(
            [request_key({"imported": name, "example_id": i}) for i in rows["example_id"]],
            dtype=pl.String,
        ),
        request=pl.Series(
            [
                json.dumps({"imported_from": path.name, "source": name, "example_id": i})
                for i in rows["example_id"]
            ],
            dtype=pl.String,
        ),
    )
    definition = json.dumps({"kind": "imported_answers", "file": path.name, "rows": rows.height})
    with workspace.run("import_answers", {"file": str(path), "source": name}) as run:
        write_votes(
            run.con,
            source=name,
            kind="llm",
            definition=definition,
            example_ids=parsed["example_id"],
            labels=parsed["label"],
            run_id=run.id,
        )
        with registered(run.con, "imported", parsed):
            run.con.execute(
                """INSERT OR REPLACE INTO llm_cache
                       (key, model, request, response, label, created_at)
                   SELECT key, ?, request, answer, label, now()::TIMESTAMP FROM imported""",
                [name],
            )
    return ImportedAnswers(
        source=name, answers=parsed.height, parsed=parsed["label"].is_not_null().sum()
    )


def _read(
    path: Path, id_column: str, answer_column: str, has_header: bool, file_format: str | None
) -> pl.DataFrame:
    frame = read_table(path, has_header=has_header, file_format=file_format)
    if not has_header:
        id_column, answer_column = frame.columns[0], frame.columns[-1]
    for column in (id_column, answer_column):
        if column not in frame.columns:
            raise InputError(f"{path}: no column {column!r}; columns are {frame.columns}")
    if frame.height == 0:
        raise InputError(f"{path}: no answers")
    header_lines = 1 if has_header and table_format(path, file_format) in ("csv", "tsv") else 0
    return frame.select(
        pl.col(id_column).cast(pl.String).alias("example_id"),
        pl.col(answer_column).cast(pl.String).alias("answer"),
    ).with_row_index("row", offset=1 + header_lines)
