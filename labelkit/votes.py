"""Votes: what every source (labeling function or LLM) said about every example.

In the workspace, votes are stored sparsely by label name (an abstain is the absence
of a row). In memory they form a ``LabelMatrix``: integer codes, -1 for abstain,
one row per example and one column per source; or ``SparseVotes``, the votes cast as
(example, source, code) triplets. ``import_votes`` brings votes computed elsewhere.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from labelkit.errors import InputError, LabelkitWarning, did_you_mean
from labelkit.report import counted, first_named
from labelkit.spans import misplaced, read_wrench_json, read_wrench_spans, tokenize
from labelkit.tables import as_frame, read_table, table_format, wrench_label_map
from labelkit.task import ABSTAIN, OUTSIDE, Task
from labelkit.workspace import Workspace, emptied, first_row, registered


@dataclass(frozen=True)
class LabelMatrix:
    """Votes as integer codes: ``codes[i, j]`` is source ``j``'s vote on example ``i``.

    Examples
    --------
    >>> L = LabelMatrix.from_workspace(ws, split="train")
    >>> L.codes.shape == (len(L.example_ids), len(L.sources))
    True
    """

    codes: np.ndarray
    example_ids: list[str]
    sources: list[str]
    task: Task

    def __post_init__(self) -> None:
        # Trial 59e: a matrix of 5 columns took 10 source names, and codes outside the
        # task read as abstains in to_frame and as votes in triplets.
        shape = np.shape(self.codes)
        if len(shape) != 2 or shape != (len(self.example_ids), len(self.sources)):
            raise InputError(
                f"LabelMatrix: codes of shape {shape} for {len(self.example_ids)} example "
                f"ids and {len(self.sources)} sources; codes[i, j] is source j's vote on "
                "example i"
            )
        width = len(self.task.labels)
        # Bounds first: no mask of ten million rows unless something is out of them.
        if self.codes.size and (self.codes.min() < ABSTAIN or self.codes.max() >= width):
            row, column = np.argwhere((self.codes < ABSTAIN) | (self.codes >= width))[0]
            raise InputError(
                f"LabelMatrix: vote {self.codes[row, column]} of source "
                f"{self.sources[column]!r} on example {self.example_ids[row]!r} is not a "
                f"class code 0..{width - 1} or {ABSTAIN} (abstain)"
            )

    def __repr__(self) -> str:
        # Trial 48b: the dataclass repr listed every example id.
        return (
            f"LabelMatrix({len(self.example_ids):,} examples x {len(self.sources)} "
            f"sources {self.sources})"
        )

    @classmethod
    def from_workspace(
        cls,
        workspace: Workspace,
        *,
        split: str | None = None,
        sources: Sequence[str] | None = None,
        attribute: str = "",
    ) -> LabelMatrix:
        """All votes on ``attribute`` (see ``Task.targets``) of the examples of ``split``
        (all splits if None), ordered by example id, coded by ``Task.vote_task``, one
        column per source in the order of their names (``sources``), not the order they
        came in: a WRENCH file's ``weak_labels[j]`` is the column its name sorts to
        (trial 59e)."""
        codes, names = vote_code_matrix(
            workspace, split=split, sources=sources, attribute=attribute
        )
        ids = _example_ids(workspace, split)
        task = workspace.task.vote_task(attribute)
        return cls(codes=codes, example_ids=ids, sources=names, task=task)

    def triplets(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The votes that are not abstains, sparsely: example (row) indices, source
        (column) indices and label codes, in row-major order.

        ``SparseVotes.from_workspace`` reads the same from the workspace without a
        dense matrix.

        Examples
        --------
        >>> rows, columns, codes = L.triplets()
        >>> (L.codes[rows, columns] == codes).all() and (codes != ABSTAIN).all()
        True
        """
        rows, columns = np.nonzero(self.codes != ABSTAIN)
        return rows, columns, self.codes[rows, columns]

    def to_frame(self) -> pl.DataFrame:
        """One row per example, one column of label names (null = abstain) per source."""
        return pl.DataFrame({"example_id": self.example_ids}).with_columns(
            self.task.decode(self.codes[:, j], source) for j, source in enumerate(self.sources)
        )


@dataclass(frozen=True)
class SparseVotes:
    """The votes cast (abstains left out), as triplets: ``rows[k]`` is the example,
    ``columns[k]`` the source and ``codes[k]`` the label code of vote ``k``, in
    row-major order. The same votes as a ``LabelMatrix``, in memory proportional to
    the votes cast rather than to examples times sources.

    Examples
    --------
    >>> votes = SparseVotes.from_workspace(ws, split="train")
    >>> (votes.to_matrix().codes[votes.rows, votes.columns] == votes.codes).all()
    True
    """

    rows: np.ndarray
    columns: np.ndarray
    codes: np.ndarray
    example_ids: list[str]
    sources: list[str]
    task: Task

    @classmethod
    def from_workspace(
        cls,
        workspace: Workspace,
        *,
        split: str | None = None,
        sources: Sequence[str] | None = None,
        attribute: str = "",
    ) -> SparseVotes:
        """The votes on ``attribute`` of the examples of ``split`` (all splits if None),
        examples ordered by id and sources as given (else by kind and name), read
        without a dense matrix; ``task`` is ``Task.vote_task(attribute)``."""
        rows, columns, codes, names, task = _placed_votes(workspace, split, sources, attribute)
        ids = _example_ids(workspace, split)
        # In row-major order, as documented (the dense matrix needs none).
        order = np.lexsort((columns, rows))
        return cls(
            rows=rows[order].astype(np.int64),
            columns=columns[order].astype(np.int64),
            codes=codes[order],
            example_ids=ids,
            sources=names,
            task=task,
        )

    def to_matrix(self) -> LabelMatrix:
        """The same votes as a dense ``LabelMatrix``, -1 where a source abstained."""
        codes = np.full((len(self.example_ids), len(self.sources)), ABSTAIN, dtype=np.int16)
        codes[self.rows, self.columns] = self.codes
        return LabelMatrix(
            codes=codes, example_ids=self.example_ids, sources=self.sources, task=self.task
        )


def vote_code_matrix(
    workspace: Workspace,
    *,
    split: str | None = None,
    sources: Sequence[str] | None = None,
    attribute: str = "",
) -> tuple[np.ndarray, list[str]]:
    """``LabelMatrix.from_workspace``'s codes and sources without its example ids: row
    ``i`` is the ``i``-th example of ``split`` (all splits if None) by id.

    A label model needs the codes alone; ten million ids as Python strings took more
    memory than the votes (issue 21). Join results back to ids by row number in SQL
    (``row_number() OVER (ORDER BY id) - 1``).

    Examples
    --------
    >>> codes, sources = vote_code_matrix(ws, split="train")
    >>> (codes == LabelMatrix.from_workspace(ws, split="train").codes).all()
    True
    """
    rows, columns, codes, names, _ = _placed_votes(workspace, split, sources, attribute)
    counted = first_row(
        workspace.con, "SELECT count(*) FROM examples WHERE ? IS NULL OR split = ?", [split, split]
    )
    assert counted is not None
    matrix = np.full((counted[0], len(names)), ABSTAIN, dtype=np.int16)
    matrix[rows, columns] = codes
    return matrix, names


def _example_ids(workspace: Workspace, split: str | None) -> list[str]:
    """The ids of ``split``'s examples (all splits if None) in id order: the rows of a
    label matrix."""
    return workspace.sql(
        "SELECT id FROM examples WHERE ? IS NULL OR split = ? ORDER BY id", [split, split]
    )["id"].to_list()


def _placed_votes(
    workspace: Workspace, split: str | None, sources: Sequence[str] | None, attribute: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], Task]:
    """The votes on ``attribute`` of ``split``'s examples as (row, source, code) arrays
    in no particular order, rows numbered by example id and sources as given (else by
    kind and name), with the source names and ``Task.vote_task(attribute)``."""
    workspace.task.require_attributes("a label matrix (LabelMatrix, SparseVotes)")
    task = workspace.task.vote_task(attribute)
    names = source_names(workspace) if sources is None else list(sources)
    # Placed and coded by DuckDB: a join and a sort of every vote in polars held several
    # copies of the votes at once, and a label string per vote outweighed its code
    # (issue 21). The votes come in no particular order: each lands on its own cell.
    placed = workspace.sql(
        """WITH placed AS (
               SELECT id, (row_number() OVER (ORDER BY id) - 1)::INTEGER AS row_at
               FROM examples WHERE $split IS NULL OR split = $split)
           SELECT p.row_at, (list_position($names, v.source) - 1)::SMALLINT AS source_at,
                  (list_position($labels, v.label) - 1)::SMALLINT AS code
           FROM votes v JOIN placed p ON p.id = v.example_id
           WHERE list_contains($names, v.source) AND v.attribute = $attribute""",
        {"split": split, "names": names, "labels": list(task.labels), "attribute": attribute},
    )
    if placed["code"].null_count():
        unknown = workspace.sql(
            """SELECT label FROM votes WHERE attribute = $attribute
               AND list_contains($names, source) AND NOT list_contains($labels, label) LIMIT 1""",
            {"names": names, "labels": list(task.labels), "attribute": attribute},
        )
        task.encode(unknown["label"])  # raises, naming the label
    return (
        placed["row_at"].to_numpy(),
        placed["source_at"].to_numpy(),
        placed["code"].to_numpy(),
        names,
        task,
    )


def definition_hash(definition: str) -> str:
    """A short, stable fingerprint of a source's definition."""
    return hashlib.sha256(definition.encode()).hexdigest()[:16]


def replace_votes(
    con: duckdb.DuckDBPyConnection, votes: pl.DataFrame, sources: pl.DataFrame, *, run_id: int
) -> int:
    """Replace the votes of ``sources`` (columns ``name, kind, definition``) with
    ``votes`` (columns ``example_id, source, label``, and ``attribute`` where the task
    has attributes; a null label is an abstain, and is not stored), in one statement
    each; return the votes kept.

    Call inside a workspace run so that the replacement is atomic.
    """
    delete_rows_of(con, "votes", sources["name"].to_list())
    kept = add_votes(con, votes, run_id=run_id)
    set_sources(con, sources, run_id=run_id)
    return kept


def add_votes(con: duckdb.DuckDBPyConnection, votes: pl.DataFrame, *, run_id: int) -> int:
    """Insert ``votes`` (as ``replace_votes`` takes them) next to those stored; return
    the votes kept. For votes written in parts after their sources' old votes were
    deleted (``apply_lfs``); ``replace_votes`` does both for votes held at once.

    Call inside a workspace run so that the parts land together.

    Examples
    --------
    >>> with ws.run("apply", {}) as run:
    ...     add_votes(run.con, pl.DataFrame(
    ...         {"example_id": ["c1"], "source": ["mine"], "label": ["spam"]}), run_id=run.id)
    1
    """
    attribute = pl.col("attribute") if "attribute" in votes.columns else pl.lit("")
    kept = votes.select("example_id", "source", "label", attribute.alias("attribute")).filter(
        pl.col("label").is_not_null()
    )
    with registered(con, "new_votes", kept):
        con.execute(
            "INSERT INTO votes (example_id, source, label, run_id, attribute) "
            "SELECT example_id, source, label, ?, attribute FROM new_votes",
            [run_id],
        )
    return kept.height


def set_sources(con: duckdb.DuckDBPyConnection, sources: pl.DataFrame, *, run_id: int) -> None:
    """Write the ``sources`` rows of ``sources`` (``name, kind, definition``), hashed and
    stamped with ``run_id``, replacing those of the same names.

    Call inside a workspace run, with the votes of these sources.

    Examples
    --------
    >>> set_sources(run.con, pl.DataFrame(
    ...     {"name": ["mine"], "kind": ["lf"], "definition": ["keyword mine"]}), run_id=run.id)
    """
    hashed = sources.select(
        "name",
        "kind",
        "definition",
        pl.col("definition").map_elements(definition_hash, return_dtype=pl.String).alias("hash"),
        pl.lit(run_id, pl.Int32).alias("run_id"),
    )
    with registered(con, "new_sources", hashed):
        con.execute("INSERT OR REPLACE INTO sources SELECT * FROM new_sources")


# The columns of the span votes of a spans task, one row per span (character offsets).
SPAN_VOTE_COLUMNS = ("example_id", "source", "start", "end", "label")


def replace_span_votes(
    con: duckdb.DuckDBPyConnection, spans: pl.DataFrame, sources: pl.DataFrame, *, run_id: int
) -> int:
    """Replace the span votes of ``sources`` (columns ``name, kind, definition``) with
    ``spans`` (columns ``example_id, source, start, end, label``: character offsets);
    return the spans kept. A source with no span keeps its ``sources`` row: it ran and
    found nothing.

    Call inside a workspace run so that the replacement is atomic.
    """
    delete_rows_of(con, "span_votes", sources["name"].to_list())
    kept = add_span_votes(con, spans, run_id=run_id)
    set_sources(con, sources, run_id=run_id)
    return kept


def add_span_votes(con: duckdb.DuckDBPyConnection, spans: pl.DataFrame, *, run_id: int) -> int:
    """Insert ``spans`` (as ``replace_span_votes`` takes them; a span given twice is
    stored once) next to those stored; return the spans kept. For span votes written in
    parts, each part holding every span of its examples.

    Call inside a workspace run so that the parts land together.

    Examples
    --------
    >>> add_span_votes(run.con, pl.DataFrame({"example_id": ["r1"], "source": ["mine"],
    ...     "start": [0], "end": [5], "label": ["TERM"]}), run_id=run.id)
    1
    """
    kept = spans.select(SPAN_VOTE_COLUMNS).unique(maintain_order=True)
    with registered(con, "new_spans", kept):
        con.execute(
            'INSERT INTO span_votes (example_id, source, start, "end", label, run_id) '
            'SELECT example_id, source, start, "end", label, ? FROM new_spans',
            [run_id],
        )
    return kept.height


def source_names(workspace: Workspace) -> list[str]:
    """The names of every source whose votes the workspace holds, LFs then LLMs (by
    kind), each kind sorted: the label models' column order when none is chosen.

    Examples
    --------
    >>> source_names(ws)[-1]
    'llm:smollm2'
    """
    return workspace.sql("SELECT name FROM sources ORDER BY kind, name")["name"].to_list()


def lf_names(workspace: Workspace) -> list[str]:
    """The names of the labeling functions whose votes the workspace holds, sorted.

    Examples
    --------
    >>> lf_names(ws)[:2]
    ['keyword_my', 'keyword_subscribe']
    """
    return workspace.sql("SELECT name FROM sources WHERE kind = 'lf' ORDER BY name")[
        "name"
    ].to_list()


def delete_sources(con: duckdb.DuckDBPyConnection, names: Sequence[str]) -> None:
    """Delete every row of the sources ``names``: their votes, span votes, failed rows
    and ``sources`` rows.

    Call inside a workspace run so that the deletion is atomic.
    """
    for table in ("votes", "span_votes", "lf_errors"):
        delete_rows_of(con, table, names)
    con.execute("DELETE FROM sources WHERE list_contains(?, name)", [list(names)])


def remove_sources(workspace: Workspace, names: str | Sequence[str]) -> dict[str, int]:
    """Delete every vote of the sources ``names`` (labeling functions, LLMs, imported
    sources), with their span votes, failed rows and their ``sources`` row, in one
    logged step (``remove-sources``); return how many votes and span votes each had.
    A name the workspace has no source of is an error naming the ones it has, and
    nothing is removed. An LLM's answers stay in its cache: ``label_with_llm`` with the
    same settings votes them again at no cost. The label model's labels are then out of
    date until ``aggregate`` runs again, which later steps say (trial 58a: a source of a
    test request, a wrong model name and a variant stayed for good, and two copies of
    one LLM, agreeing on every text, outweighed the rules).

    Examples
    --------
    >>> remove_sources(ws, ["llm:test-model"])
    {'llm:test-model': 2470}
    """
    names = [names] if isinstance(names, str) else list(dict.fromkeys(names))
    if not names:
        raise InputError("name at least one source to remove")
    held = source_names(workspace)
    unknown = [name for name in names if name not in held]
    if unknown:
        raise InputError(
            f"no source {unknown[0]!r} in the workspace"
            + (did_you_mean(unknown[0], held) or f"; its sources are {held}")
            + "; nothing was removed"
        )
    counts = dict.fromkeys(names, 0)
    for table in ("votes", "span_votes"):
        for name, n in workspace.sql(
            f"SELECT source, count(*) FROM {table} WHERE list_contains(?, source) GROUP BY 1",
            [names],
        ).rows():
            counts[name] += n
    with workspace.run("remove-sources", {"sources": names, "votes": counts}) as run:
        delete_sources(run.con, names)
    return counts


def delete_rows_of(con: duckdb.DuckDBPyConnection, table: str, sources: Sequence[str]) -> None:
    """Delete the rows of ``sources`` from ``table`` (which has a ``source`` column and a
    primary key): where they are at least half of it, by emptying it (``emptied``) and
    putting the others back.

    A ``DELETE`` makes the commit take each key out of the table's index, one by one;
    reapplying ten LFs to ten million examples spent most of its time and memory there
    (issue 21), where a table built anew needs only its new keys.

    Call inside a workspace run, so that the table is never seen emptied.

    Examples
    --------
    >>> with ws.run("apply", {}) as run:
    ...     delete_rows_of(run.con, "votes", ["keyword_my", "keyword_song"])
    """
    gone, total = con.execute(
        f"SELECT count(*) FILTER (WHERE list_contains($1, source)), count(*) FROM {table}",
        [list(sources)],
    ).fetchall()[0]
    if gone == 0:
        return
    if 2 * gone < total:
        con.execute(f"DELETE FROM {table} WHERE list_contains(?, source)", [list(sources)])
        return
    con.execute(
        f"CREATE TEMP TABLE kept_rows AS SELECT * FROM {table} WHERE NOT list_contains(?, source)",
        [list(sources)],
    )
    emptied(con, table)
    con.execute(f"INSERT INTO {table} SELECT * FROM kept_rows")
    con.execute("DROP TABLE kept_rows")


VoteSource = str | Path | pl.DataFrame

# The columns of a table of votes, one row per vote.
VOTE_COLUMNS = ("example_id", "source", "label")


def import_votes(
    workspace: Workspace,
    sources: VoteSource | Sequence[VoteSource],
    *,
    source_prefix: str | None = None,
    lf_names: Sequence[str] | None = None,
    label_map: Mapping[int, str] | None = None,
    kind: str = "lf",
    complete: bool = False,
    file_format: str | None = None,
    add: bool = False,
    encoding: str = "utf-8",
) -> dict[str, int]:
    """Store votes computed elsewhere, each of their sources as a source of its own
    (``kind`` ``"lf"`` or ``"llm"``), replacing that source's earlier votes; return the
    votes stored per source.

    Where earlier votes of these sources came from other files, their replacement is
    warned of. ``add`` (``--add``) keeps them instead, as for a crowd's answers that
    arrive day by day: a source's new vote on an example (and attribute) it voted on
    before replaces that one vote; on a spans task, its new spans on a text replace
    its spans there.

    ``sources`` are files or polars frames, read together:

    - a WRENCH ``.json`` file (ids ``<file stem>:<key>``, as ``ingest`` gives them):
      each record's ``weak_labels``, one per LF, -1 for an abstain. The LFs are named
      ``lf_names`` if given, else as the ``readme.txt`` beside the file lists them,
      else by position, after the prefix ``wrench:`` (``wrench:0``, ``wrench:1``...,
      so that they never replace an LF of yours). Codes are the labels of
      ``label_map`` if given, else of ``label.json`` beside the file, else the task's
      labels in their order; where the task's labels are numbers that differ from
      their positions, a code is ambiguous and ``label_map`` is required.
    - a table (CSV, TSV, JSONL or Parquet file, or a frame) with columns
      ``example_id, source, label``, one row per vote, and ``attribute`` where the
      task has attributes (see ``Task.targets``); an empty label is an abstain, and so
      is -1 (Snorkel's ``ABSTAIN``) unless it is one of the task's labels. Labels that
      are class numbers are read through ``label_map`` where given (a float that is a
      whole number, as pandas writes 3 beside a missing value, as that number).

    A file's format comes from its suffix unless ``file_format`` (``--format``) names
    it. ``source_prefix`` is put before every source name (``--source-prefix``; for WRENCH
    files it replaces ``wrench:``). On a spans task, a token no span of a source covers
    is that source abstaining there; ``complete`` (``--complete``) says instead that
    each source read every text (of a WRENCH file, the file's; of a table, the
    workspace's) and marked every entity it saw (a crowd's or another model's
    annotations): what its spans leave of a text is stored as explicit ``"O"`` spans,
    one per run of uncovered tokens, so that the label model can weigh a source's spans
    against the others' "no entity here". An unknown
    example id or label, a repeated (example, source) pair, or a malformed file is an
    error naming the file and row, and nothing is written.

    Examples
    --------
    >>> import_votes(ws, ["train.json", "valid.json", "test.json"])["wrench:0"]
    1203
    >>> import_votes(ws, pl.DataFrame(
    ...     {"example_id": ["c1", "c2"], "source": ["legacy", "legacy"], "label": ["spam", None]}
    ... ))
    {'legacy': 1}

    Snorkel's label matrix ``L_train`` (a row per example of ``df_train``, a column per
    LF, class numbers, -1 to abstain), in one long frame:

    >>> votes = pl.DataFrame(L_train, schema=[lf.name for lf in lfs]).with_columns(
    ...     example_id=pl.Series(df_train["id"])
    ... ).unpivot(index="example_id", variable_name="source", value_name="label")
    >>> import_votes(ws, votes, label_map={0: "ham", 1: "spam"})
    {'check_out': 290, 'subscribe': 174}
    """
    if kind not in ("lf", "llm"):
        raise InputError(f"kind must be 'lf' or 'llm', got {kind!r}")
    if add and complete:
        raise InputError(
            "add (--add) and complete (--complete) do not go together: a source's 'O' "
            "votes are the text outside all of its spans, so import them in one call"
        )
    if isinstance(sources, (str, Path)) or as_frame(sources) is not None:
        sources = [sources]  # type: ignore[list-item]
    inputs = [(source, as_frame(source)) for source in sources]  # type: ignore[union-attr]
    if not inputs:
        raise InputError("no vote files given")
    task = workspace.task
    if task.kind == "spans":
        return _import_span_votes(
            workspace, inputs, source_prefix, lf_names, kind, complete, file_format, add, encoding
        )
    if complete:
        raise InputError(
            "complete (--complete) is for span votes: on a spans task, the text outside a "
            "source's spans becomes its 'O' votes"
        )
    parts = []
    for source, frame in inputs:
        if frame is not None:
            parts.append(_table_votes(frame, "frame", source_prefix or "", task, label_map))
            continue
        path = Path(source)  # type: ignore[arg-type]
        if table_format(path, file_format) == "wrench":
            parts.append(_wrench_votes(path, task, lf_names, label_map, source_prefix))
        else:
            table = read_table(path, file_format=file_format, encoding=encoding)
            parts.append(_table_votes(table, str(path), source_prefix or "", task, label_map))
    votes, names = _store_imported(
        workspace,
        inputs,
        parts,
        kind,
        _VOTES,
        lambda votes: _check_votes(workspace, votes, task),
        add,
    )
    counts = votes.filter(pl.col("label").is_not_null())["source"].value_counts()
    stored = dict(counts.iter_rows())
    return {name: stored.get(name, 0) for name in names}


def _import_span_votes(
    workspace: Workspace,
    inputs: list[tuple[VoteSource, pl.DataFrame | None]],
    prefix: str | None,
    lf_names: Sequence[str] | None,
    kind: str,
    complete: bool,
    file_format: str | None,
    add: bool,
    encoding: str,
) -> dict[str, int]:
    """``import_votes`` on a spans task: WRENCH span files' ``weak_labels`` and tables
    of ``example_id, source, start, end, label``; with ``complete``, each source's
    ``"O"`` runs (``_outside_spans``) added once the spans are checked."""
    parts = []
    # The texts each source read, where the input says (a WRENCH file's records); a
    # table's source read every text of the workspace.
    read: dict[str, list[str] | None] = {}
    for source, frame in inputs:
        if frame is not None:
            raw, name = frame, "frame"
        else:
            path = Path(source)  # type: ignore[arg-type]
            if table_format(path, file_format) == "wrench":
                spans, names, records = _wrench_span_votes(workspace, path, lf_names, prefix)
                parts.append((spans, names))
                read |= dict.fromkeys(names, records)
                continue
            raw, name = read_table(path, file_format=file_format, encoding=encoding), str(path)
        parts.append(_table_span_votes(raw, name, prefix or ""))
        read |= dict.fromkeys(parts[-1][1], None)
    spans, names = _store_imported(
        workspace,
        inputs,
        parts,
        kind,
        _SPAN_VOTES,
        lambda spans: _check_span_votes(workspace, spans),
        add,
        (lambda spans: _outside_spans(workspace, spans, read)) if complete else None,
    )
    if complete:
        _warn_of_complete_sources_that_marked_little(workspace, spans, read)
    stored = dict(spans.unique(SPAN_VOTE_COLUMNS)["source"].value_counts().iter_rows())
    return {name: stored.get(name, 0) for name in names}


def _warn_of_complete_sources_that_marked_little(
    workspace: Workspace, spans: pl.DataFrame, read: dict[str, list[str] | None]
) -> None:
    """Warn of each ``complete`` source that marked an entity on under half the texts
    it is said to have read: its silence on the rest is stored as "no entity". Trial
    54a: a Prodigy dataset whose 349 accepted texts of 800 had spans became "no entity"
    on the other 451, and the label model rated the annotator 0.44."""
    texts = first_row(workspace.con, "SELECT count(*) FROM examples")
    assert texts is not None
    marked = dict(
        spans.filter(pl.col("label") != OUTSIDE)
        .group_by("source")
        .agg(pl.col("example_id").n_unique())
        .iter_rows()
    )
    little = [
        f"{source} on {marked.get(source, 0):,} of {n:,}"
        for source, ids in read.items()
        if 2 * marked.get(source, 0) < (n := texts[0] if ids is None else len(ids))
    ]
    if little:
        warnings.warn(
            f"complete sources that marked entities on under half the texts they read "
            f"({'; '.join(little)}): their silence on the others is stored as 'no entity'; "
            "if they did not read those texts, import without --complete, or only the "
            "texts they read",
            LabelkitWarning,
            stacklevel=3,
        )


@dataclass(frozen=True)
class _VoteTable:
    """A table ``import_votes`` stores votes in: the columns that name one vote of a
    source (``add`` puts a new vote in the place of the stored one with them), what a
    row is called, and how a source's votes are replaced, or added to."""

    name: str
    keys: tuple[str, ...]
    noun: str
    replace: Callable[..., int]
    add: Callable[..., int]


# How an imported source's definition reads, between its kind and its files
# ("votes imported from a.csv"): what tells it from an applied LF's.
IMPORTED_FROM = " imported from "


def _store_imported(
    workspace: Workspace,
    inputs: list[tuple[VoteSource, pl.DataFrame | None]],
    parts: list[tuple[pl.DataFrame, list[str]]],
    kind: str,
    table: _VoteTable,
    check: Callable[[pl.DataFrame], None],
    add: bool,
    completed: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
) -> tuple[pl.DataFrame, list[str]]:
    """Check the votes read from ``inputs`` (one ``(votes, source names)`` part each),
    add what ``completed`` gives for them, and store them in ``table`` in one run,
    replacing the sources' earlier votes or, with ``add``, beside them; return the votes
    stored and the source names in order."""
    votes = pl.concat([part for part, _ in parts])
    names = list(dict.fromkeys(name for _, part_names in parts for name in part_names))
    check(votes)
    if completed is not None:
        votes = pl.concat([votes, completed(votes)])
    # Resolved, so that votes.csv and ./votes.csv are one file (the second read).
    files = sorted(
        {str(Path(source).resolve()) if frame is None else "a frame" for source, frame in inputs}  # type: ignore[arg-type]
    )
    definition = f"{table.noun}s{IMPORTED_FROM}{', '.join(files)}"
    earlier = workspace.sql(
        f"""SELECT s.name, s.definition, count(v.source) AS n FROM sources s
            JOIN {table.name} v ON v.source = s.name
            WHERE list_contains($names, s.name) GROUP BY ALL ORDER BY s.name""",
        {"names": names},
    )
    if add:
        known = dict(earlier.select("name", "definition").iter_rows())
        defined = [
            definition
            if known.get(name, definition) == definition
            else f"{known[name]}; added from {', '.join(files)}"
            for name in names
        ]
    else:
        defined = [definition] * len(names)
        # Trial 54b: a second day's crowd answers silently took the first day's place.
        # A frame's votes are never known to be the same as before.
        others = earlier.filter((pl.col("definition") != definition) | ("a frame" in files))
        if others.height:
            warnings.warn(
                f"import_votes replaced the {counted(others['n'].sum(), table.noun)} that "
                f"{counted(others.height, 'source')} held from {_held_from(others)}; import "
                "a source's files in one call, or add them with add=True (--add); "
                "source_prefix (--source-prefix) names the imported sources apart",
                LabelkitWarning,
                stacklevel=3,
            )
    described = pl.DataFrame({"name": names, "kind": kind, "definition": defined})
    with workspace.run(
        "import-votes", {"sources": names, "files": files, "kind": kind, "add": add}
    ) as run:
        if not add:
            table.replace(run.con, votes, described, run_id=run.id)
            return votes, names
        keyed = votes.with_columns(
            attribute=pl.col("attribute") if "attribute" in votes.columns else pl.lit("")
        ).filter(pl.col("label").is_not_null())
        with registered(run.con, "new_keys", keyed.select(table.keys).unique()):
            matched = " AND ".join(f"t.{key} = k.{key}" for key in table.keys)
            run.con.execute(f"DELETE FROM {table.name} t USING new_keys k WHERE {matched}")
        table.add(run.con, votes, run_id=run.id)
        set_sources(run.con, described, run_id=run.id)
    return votes, names


def _held_from(sources: pl.DataFrame) -> str:
    """Where the replaced ``sources`` (``name, definition``) had their votes from: an
    earlier import's files, or by name the LFs and LLMs (trial 63b: an imported Snorkel
    matrix replaced 25 applied LFs, and the warning quoted 9,004 characters of their
    code as the "earlier import")."""
    imported = sources["definition"].str.contains(IMPORTED_FROM, literal=True)
    said = []
    if imported.any():
        files = "; ".join(dict.fromkeys(sources.filter(imported)["definition"]))
        said.append(f"an earlier import ({files})")
    names = sources.filter(~imported)["name"].to_list()
    if names:
        said.append(f"apply or llm ({first_named(names)})")
    return " and ".join(said)


_VOTES = _VoteTable(
    "votes", ("example_id", "source", "attribute"), "vote", replace_votes, add_votes
)
_SPAN_VOTES = _VoteTable(
    "span_votes", ("example_id", "source"), "span vote", replace_span_votes, add_span_votes
)


def _outside_spans(
    workspace: Workspace, spans: pl.DataFrame, read: dict[str, list[str] | None]
) -> pl.DataFrame:
    """The ``"O"`` spans of each source of ``read`` (source -> the ids of the texts it
    read, None for every text of the workspace), as ``_table_span_votes`` gives spans:
    on each text it read, one per run of tokens (``labelkit.spans.tokenize``) that none
    of its ``spans`` touches; a text it marked nothing on is one ``"O"`` span, and so is
    every text of a source that marked nothing at all.

    Examples
    --------
    >>> ws.sql("SELECT text FROM examples WHERE id = 'a'")["text"][0]
    'the battery life is short'
    >>> _outside_spans(ws, spans, {"crowd": ["a"]}).select("start", "end", "label").rows()
    [(0, 3, 'O'), (17, 25, 'O')]
    """
    texts = workspace.sql("SELECT id, text FROM examples ORDER BY id")
    tokens = dict(zip(texts["id"], tokenize(texts["text"], workspace.task.lang), strict=True))
    marked: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for example_id, source, start, end in spans.select(
        "example_id", "source", "start", "end"
    ).iter_rows():
        marked.setdefault((source, example_id), []).append((start, end))
    rows = []
    for source, ids in read.items():
        where = f"outside the spans of {source!r} (complete)"
        # A WRENCH record the workspace lacks (and that marks nothing) has no text here.
        for example_id in tokens if ids is None else [i for i in ids if i in tokens]:
            offsets = tokens[example_id]
            covered = marked.get((source, example_id), [])
            run: list[tuple[int, int]] = []
            for token in [*offsets, None]:
                touched = token is None or any(
                    token[0] < end and start < token[1] for start, end in covered
                )
                if touched and run:
                    rows.append((example_id, source, run[0][0], run[-1][1], OUTSIDE, where))
                    run = []
                elif not touched:
                    run.append(token)  # type: ignore[arg-type]
    return pl.DataFrame(rows, schema=spans.schema, orient="row")


def _table_span_votes(raw: pl.DataFrame, name: str, prefix: str) -> tuple[pl.DataFrame, list[str]]:
    """A table of span votes as ``example_id, source, start, end, label, where``, and
    its source names; a missing or non-integer offset is an error naming the row."""
    missing = [column for column in SPAN_VOTE_COLUMNS if column not in raw.columns]
    if missing:
        raise InputError(
            f"{name}: no column(s) {missing}; a table of span votes has the columns "
            f"{list(SPAN_VOTE_COLUMNS)} (character offsets), and has {raw.columns}"
        )
    where = pl.lit(f"{name} row ") + pl.int_range(1, pl.len() + 1).cast(pl.String)
    spans = raw.select(
        pl.col("example_id").cast(pl.String),
        (pl.lit(prefix) + pl.col("source").cast(pl.String)).alias("source"),
        _whole_number("start"),
        _whole_number("end"),
        pl.col("label").cast(pl.String),
        where.alias("where"),
        pl.col("start").cast(pl.String).alias("raw_start"),
        pl.col("end").cast(pl.String).alias("raw_end"),
    )
    for column in ("example_id", "source", "label", "start", "end"):
        empty = spans.filter(pl.col(column).is_null())
        if empty.height:
            first = empty.row(0, named=True)
            raw_value = first.get(f"raw_{column}")
            what = "is empty" if raw_value is None else f"is {raw_value!r}, not a whole number"
            raise InputError(f"{first['where']}, column {column!r}: {what}")
    return spans.drop("raw_start", "raw_end"), spans["source"].unique(maintain_order=True).to_list()


def _whole_number(column: str) -> pl.Expr:
    """``column`` as integers, null where a value is not a whole number (``4.0`` is 4;
    ``10.5`` is null rather than cut to 10)."""
    number = pl.col(column).cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
    return pl.when(number == number.floor()).then(number).cast(pl.Int64).alias(column)


def _wrench_span_votes(
    workspace: Workspace, path: Path, lf_names: Sequence[str] | None, prefix: str | None
) -> tuple[pl.DataFrame, list[str], list[str]]:
    """A WRENCH span file's ``weak_labels`` as character span votes, one source per LF
    named from ``lf_names``, else ``meta.json``, else by position, and the ids of its
    records; the texts must be the workspace's (the file ingested before)."""
    wrench = read_wrench_spans(path)
    width = wrench.n_lfs
    if lf_names is not None and len(lf_names) != width:
        raise InputError(f"{path}: {width} weak_labels per record, but {len(lf_names)} LF names")
    names = list(lf_names or (wrench.lfs if len(wrench.lfs) == width else map(str, range(width))))
    prefix = "wrench:" if prefix is None else prefix
    with registered(workspace.con, "wrench_texts", wrench.frame.select("id", "text")):
        differs = workspace.sql(
            """SELECT w.id FROM wrench_texts w JOIN examples e USING (id)
               WHERE e.text <> w.text LIMIT 1"""
        )
    if differs.height:
        raise InputError(
            f"{path} record {differs['id'][0].partition(':')[2]!r}: the workspace's example "
            f"{differs['id'][0]!r} has another text; ingest this file first, so that its "
            "character offsets hold"
        )
    spans = wrench.weak_labels.select(
        pl.col("id").alias("example_id"),
        pl.col("lf")
        .replace_strict(dict(enumerate(prefix + name for name in names)), return_dtype=pl.String)
        .alias("source"),
        "start",
        "end",
        "label",
        (pl.lit(f"{path} record ") + pl.col("id").str.split(":").list.last()).alias("where"),
    )
    # Every LF is a source, even one that never fires: its old votes are replaced too.
    return spans, [prefix + name for name in names], wrench.frame["id"].to_list()


def _check_span_votes(workspace: Workspace, spans: pl.DataFrame) -> None:
    """Refuse, naming the first row, a label the task lacks (``"O"`` is allowed), an
    example the workspace lacks, offsets outside its text or with start >= end, an
    entity span of whitespace alone, a span a source gives twice, and two of a source's
    spans on one text that overlap."""
    task = workspace.task
    allowed = (*task.labels, OUTSIDE)
    bad = spans.filter(~pl.col("label").is_in(allowed))
    if bad.height:
        raise InputError(
            f"{bad['where'][0]}: unknown label {bad['label'][0]!r}; the task's entity types "
            f"are {list(task.labels)} (and {OUTSIDE!r}: no entity)"
            + did_you_mean(bad["label"][0], allowed)
        )
    with registered(workspace.con, "imported", spans):
        placed = workspace.sql(
            """SELECT i.example_id, i."where", i.start, i."end", i.label,
                      length(e.text) AS n, e.id IS NULL AS unknown
               FROM imported i LEFT JOIN examples e ON e.id = i.example_id
               WHERE e.id IS NULL OR NOT (0 <= i.start AND i.start < i."end"
                                          AND i."end" <= length(e.text))
               LIMIT 1"""
        )
        # Trial 53f: a span of one space was stored as a PRODUCT vote, where a span LF's
        # such span marks nothing.
        blank = workspace.sql(
            rf"""SELECT i."where", i.start, i."end", i.label,
                       substring(e.text, i.start + 1, i."end" - i.start) AS covered
                FROM imported i JOIN examples e ON e.id = i.example_id
                WHERE i.label <> '{OUTSIDE}' AND 0 <= i.start AND i.start < i."end"
                  AND i."end" <= length(e.text)
                  AND regexp_matches(substring(e.text, i.start + 1, i."end" - i.start),
                                     '^\s*$')
                LIMIT 1"""
        )
    if placed.height:
        first = placed.row(0, named=True)
        if first["unknown"]:
            raise InputError(
                f"{first['where']}: no example {first['example_id']!r} in the workspace "
                "(ids as `labelkit ingest` gave them)"
            )
        problem = misplaced(first["start"], first["end"], first["n"])
        raise InputError(
            f"{first['where']}: span {[first['start'], first['end'], first['label']]} "
            f"{problem} (the text of {first['example_id']!r})"
        )
    if blank.height:
        first = blank.row(0, named=True)
        raise InputError(
            f"{first['where']}: span {[first['start'], first['end'], first['label']]} covers "
            f"only whitespace ({first['covered']!r}), which marks no entity: leave it out"
        )
    again = spans.filter(~pl.struct(SPAN_VOTE_COLUMNS).is_first_distinct())
    if again.height:
        second = again.row(0, named=True)
        first = spans.filter(
            pl.all_horizontal(pl.col(c) == second[c] for c in SPAN_VOTE_COLUMNS)
        ).row(0, named=True)
        raise InputError(
            f"{second['where']}: {first['source']!r} gives the span "
            f"{[first['start'], first['end'], first['label']]} of {first['example_id']!r} "
            f"twice (the first: {first['where']})"
        )
    # Trial 45: both were stored, and the label models read the later one on the shared
    # tokens; a source, as an LF, marks each character once.
    ordered = spans.sort("example_id", "source", "start", "end")
    overlap = ordered.with_columns(
        pl.col(c).shift(1).over("example_id", "source").alias(f"before_{c}")
        for c in ("start", "end", "label")
    ).filter(pl.col("start") < pl.col("before_end"))
    if overlap.height:
        row = overlap.row(0, named=True)
        raise InputError(
            f"{row['where']}: {row['source']!r} gives overlapping spans "
            f"{[row['before_start'], row['before_end'], row['before_label']]} and "
            f"{[row['start'], row['end'], row['label']]} of {row['example_id']!r}: a source "
            "marks each character once (import the two as two sources)"
        )


def _table_votes(
    raw: pl.DataFrame,
    name: str,
    prefix: str,
    task: Task,
    label_map: Mapping[int, str] | None = None,
) -> tuple[pl.DataFrame, list[str]]:
    """A table of votes as ``example_id, source, label, where`` (``where`` locates each
    row for errors), and its source names. Labels given as numbers, as Snorkel's label
    matrices hold them, are read as ``label_map`` maps them, a float that is a whole
    number as the integer (pandas makes 3 into 3.0 beside a missing value), and -1 as
    an abstain unless it is one of the task's labels (trial 53a)."""
    missing = [column for column in VOTE_COLUMNS if column not in raw.columns]
    if missing:
        raise InputError(
            f"{name}: no column(s) {missing}; a table of votes has the columns "
            f"{list(VOTE_COLUMNS)}, and has {raw.columns}"
        )
    if {"start", "end"} <= set(raw.columns):
        # Trial K: span votes went into a classification workspace as whole-text votes.
        raise InputError(
            f"{name}: has the columns 'start' and 'end' of span votes, but the workspace's "
            "task gives a label per text; span votes go into a workspace ingested with "
            "--kind spans"
        )
    # In NFC, as ingest stores the task's labels.
    label = (
        pl.col("label")
        .cast(pl.String)
        .str.normalize("NFC")
        .replace({"": None, "NaN": None, "nan": None})
    )
    whole = label.str.replace(r"^(-?[0-9]+)\.0*$", "${1}")
    label = pl.when(label.is_in(task.labels)).then(label).otherwise(whole)
    if label_map:
        label = label.replace({str(code): name for code, name in label_map.items()})
    if "-1" not in task.labels:
        label = label.replace("-1", None)
    votes = raw.select(
        pl.col("example_id").cast(pl.String),
        (pl.lit(prefix) + pl.col("source").cast(pl.String)).alias("source"),
        label.alias("label"),
        (pl.lit(f"{name} row ") + pl.int_range(1, pl.len() + 1).cast(pl.String)).alias("where"),
        (
            pl.col("attribute").cast(pl.String).str.normalize("NFC").fill_null("")
            if "attribute" in raw.columns
            else pl.lit("")
        ).alias("attribute"),
    )
    empty = votes.filter(pl.col("example_id").is_null() | pl.col("source").is_null())
    if empty.height:
        raise InputError(f"{empty['where'][0]}: example_id or source is empty")
    return votes, votes["source"].unique(maintain_order=True).to_list()


def _textless(record: object) -> bool:
    """Whether a WRENCH record's text is missing or blank, as ``ingest`` judges one."""
    data = record.get("data") if isinstance(record, dict) else None
    if not isinstance(data, dict):
        return False
    text = data.get("text")
    return text is None or (isinstance(text, str) and not text.strip())


def _wrench_votes(
    path: Path,
    task: Task,
    lf_names: Sequence[str] | None,
    label_map: Mapping[int, str] | None,
    prefix: str | None,
) -> tuple[pl.DataFrame, list[str]]:
    """A WRENCH file's ``weak_labels`` as ``example_id, source, label, where``, and its
    LFs' source names. A record without a text has no example (``ingest`` refuses it,
    or leaves it out with ``skip_empty``): its votes are left out too (trial 62c: the
    first such record refused every vote of the file)."""
    data = read_wrench_json(path)
    if not isinstance(data, dict) or not data:
        raise InputError(f"{path}: expected a WRENCH object of id -> record")
    data = {key: record for key, record in data.items() if not _textless(record)} or data
    keys, rows = list(data), []
    for key in keys:
        weak = data[key].get("weak_labels") if isinstance(data[key], dict) else None
        if not isinstance(weak, list) or not all(type(code) is int for code in weak):
            raise InputError(f"{path} record {key!r}: no list of integer weak_labels")
        rows.append(weak)
    width = len(rows[0])
    uneven = next((k for k, row in zip(keys, rows, strict=True) if len(row) != width), None)
    if uneven is not None:
        raise InputError(
            f"{path} record {uneven!r}: {len(data[uneven]['weak_labels'])} weak_labels, "
            f"where record {keys[0]!r} has {width}"
        )
    if lf_names is not None and len(lf_names) != width:
        raise InputError(f"{path}: {width} weak_labels per record, but {len(lf_names)} LF names")
    names = list(lf_names or _readme_lf_names(path, width) or map(str, range(width)))
    prefix = "wrench:" if prefix is None else prefix
    codes = _wrench_codes(path, task, label_map)
    matrix = np.array(rows, dtype=np.int64).reshape(len(rows), width)
    unknown = np.argwhere((matrix != ABSTAIN) & ~np.isin(matrix, list(codes)))
    if unknown.size:
        i, j = unknown[0]
        raise InputError(
            f"{path} record {keys[i]!r}: weak_labels[{j}] is {matrix[i, j]}, which is no "
            f"label's code; the codes are {codes}"
        )
    rows_at, columns = np.nonzero(matrix != ABSTAIN)
    # Strings are made once per record and per LF, then indexed per vote.
    votes = pl.DataFrame(
        {
            "example_id": np.array([f"{path.stem}:{key}" for key in keys])[rows_at],
            "source": np.array([prefix + name for name in names])[columns],
            "label": pl.Series(matrix[rows_at, columns]).replace_strict(
                codes, return_dtype=pl.String
            ),
            "where": np.array([f"{path} record {key!r}" for key in keys])[rows_at],
            "attribute": pl.repeat("", len(rows_at), eager=True),
        },
        schema=dict.fromkeys(("example_id", "source", "label", "where", "attribute"), pl.String),
    )
    # Every LF is a source, even one that never fires: its old votes are replaced too.
    return votes, [prefix + name for name in names]


def _readme_lf_names(path: Path, width: int) -> list[str] | None:
    """The LF names a WRENCH ``readme.txt`` beside ``path`` lists after "Labeling
    functions list:", one per line, if it lists ``width`` of them."""
    readme = path.with_name("readme.txt")
    if not readme.is_file():
        return None
    lines = iter(readme.read_text(encoding="utf-8", errors="replace").splitlines())
    if not any(line.strip().lower().startswith("labeling functions list") for line in lines):
        return None
    names: list[str] = []
    for line in lines:
        name = line.strip().rstrip(",").strip()
        if not name and not names:
            continue
        if not re.fullmatch(r"\w+", name):
            break
        names.append(name)
    return names if len(names) == width else None


def _wrench_codes(path: Path, task: Task, label_map: Mapping[int, str] | None) -> dict[int, str]:
    """What each WRENCH label code means: ``label_map``, else ``label.json`` beside
    ``path``, else the task's labels in order, unless that is ambiguous."""
    if label_map is not None:
        codes = {int(code): label for code, label in label_map.items()}
        origin = "label_map"
    elif (named := wrench_label_map(path)) is not None:
        codes = {int(code): label for code, label in named.items()}
        origin = str(path.with_name("label.json"))
    else:
        codes = dict(enumerate(task.labels))
        numeric = {int(label): label for label in task.labels if label.isdigit()}
        if numeric and numeric != codes:
            raise InputError(
                f"{path}: the task's labels {list(task.labels)} are numbers out of the order "
                "0, 1, 2..., so a code could mean the label at that position or the label of "
                "that number, and there is no label.json beside the file; say which with "
                "label_map / --label-map"
            )
        return codes
    unknown = sorted({label for label in codes.values() if label not in task.labels})
    if unknown:
        raise InputError(
            f"{origin}: labels {unknown} are not among the task's labels {list(task.labels)}"
        )
    return codes


def _check_votes(workspace: Workspace, votes: pl.DataFrame, task: Task) -> None:
    """Refuse, naming the first row, an attribute or label the task lacks, an example
    the workspace lacks, or two votes of one source on one example's attribute."""
    cast = votes.filter(pl.col("label").is_not_null())
    bad = cast.filter(~pl.col("attribute").is_in(task.targets))
    if bad.height:
        noun = task.target_noun
        raise InputError(
            f"{bad['where'][0]}: unknown {noun} {bad['attribute'][0]!r}; the task's "
            f"{noun}s are {list(task.targets)}"
        )
    for attribute in task.targets:
        allowed = task.vote_task(attribute).labels
        bad = cast.filter((pl.col("attribute") == attribute) & ~pl.col("label").is_in(allowed))
        if bad.height:
            on = f" on {attribute!r}" if attribute else ""
            raise InputError(
                f"{bad['where'][0]}: unknown label {bad['label'][0]!r}{on}; the task's labels "
                f"are {list(allowed)}"
            )
    with registered(workspace.con, "imported", votes.select("example_id", "where")):
        unknown = workspace.sql(
            """SELECT i.example_id, i."where" FROM imported i
               ANTI JOIN examples e ON e.id = i.example_id LIMIT 1"""
        )
    if unknown.height:
        raise InputError(
            f"{unknown['where'][0]}: no example {unknown['example_id'][0]!r} in the workspace "
            "(ids as `labelkit ingest` gave them)"
        )
    repeated = votes.filter(pl.struct("example_id", "source", "attribute").is_duplicated())
    if repeated.height:
        first = repeated.row(0, named=True)
        second = repeated.filter(
            (pl.col("example_id") == first["example_id"])
            & (pl.col("source") == first["source"])
            & (pl.col("attribute") == first["attribute"])
        ).row(1, named=True)
        raise InputError(
            f"{second['where']}: a second vote of {first['source']!r} on "
            f"{first['example_id']!r} (the first: {first['where']})"
        )
