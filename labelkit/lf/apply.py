"""Applying labeling functions: declarative LFs column-wise in one polars pass, spaCy
pattern LFs in one ``nlp.pipe`` pass, Python LFs per row in worker processes that are
stopped when an LF overruns its time budget.

Votes are held as codes per example, LF and attribute (``Task.targets``: the one
attribute ``""`` for classification), each attribute coded by ``Task.vote_task``."""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import multiprocessing
import os
import queue
import time
import warnings
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import polars as pl

from labelkit.errors import (
    InputError,
    LabelingFunctionError,
    LabelkitError,
    LabelkitWarning,
    check_range,
    did_you_mean,
)
from labelkit.lf.core import (
    ERRORS_SCHEMA,
    FINGERPRINT,
    DeclarativeLF,
    Example,
    LabelingFunction,
    PythonLF,
    as_number,
    describe_error,
    field_path,
    field_value,
    load_lfs,
    unknown_vote,
    vote_codes,
    with_fields,
)
from labelkit.lf.patterns import PatternLF, run_pattern_lfs
from labelkit.lf.spans import PythonSpanLF, SpanLF, SpanPatternLF, compute_span_votes
from labelkit.processes import end_with_parent, leave_stops_to_parent
from labelkit.report import counted, still_running
from labelkit.tables import as_frame, is_text
from labelkit.task import ABSTAIN, OUTSIDE, Task
from labelkit.votes import (
    LabelMatrix,
    add_span_votes,
    add_votes,
    definition_hash,
    delete_rows_of,
    delete_sources,
    set_sources,
)
from labelkit.workspace import APPLIED_LFS, Run, Workspace, first_row, not_a_workspace, registered

if TYPE_CHECKING:
    from labelkit.executors import Executor, LFVotes

# Below this many rows per process, another process costs more than it saves.
PARALLEL_MIN_ROWS = 20_000
# A Python LF runs on this many rows at a time; its time budget is per batch.
BATCH_ROWS = 1_000
# Seconds one Python LF may take on one batch before apply stops it.
DEFAULT_LF_TIMEOUT = 60.0
# Rows matched and voted on at once: what each LF kind makes per row (normal-form
# texts, Python objects for Python LFs) lives for one chunk, not for every row, and
# ``apply_lfs`` writes each chunk's votes before it reads the next. Applying the ten
# YouTube LFs (one of them Python) to 1M comments peaked at 776 MB in chunks of 500,000
# and at 604 MB in chunks of 200,000, in about the same time.
CHUNK_ROWS = 200_000
# Failed rows that ``apply_lfs`` returns (the workspace keeps them all): an LF failing
# on every one of millions of rows, allowed, would otherwise hold all their texts.
ERROR_ROWS = 1_000


@dataclass(frozen=True)
class AppliedLFs:
    """What applying labeling functions produced.

    ``matrices`` holds the votes of every LF asked for, one ``LabelMatrix`` per
    attribute (``Task.targets``); ``matrix`` is the one matrix of a task with one
    attribute (classification). From ``apply_lfs`` they are read from the workspace
    when first asked for (so ask while it is open), since every example's votes and
    ids take more memory than applying them does. On a spans task ``matrices`` is
    empty and ``spans`` holds the votes: ``example_id, source, start, end, label``,
    character offsets. ``voted`` names the LFs that cast at least one vote (on any
    attribute).

    ``errors`` has one row per example where an LF raised, called ``sys.exit``, or
    returned something other than one of the task's labels or None (that vote is an
    abstain), in LF then example order; from ``apply_lfs``, at most the first
    ``ERROR_ROWS`` of them (the workspace's ``lf_errors`` holds every one).
    ``error_counts`` counts every failed row per LF, for the LFs that failed, in LF
    order. ``reused`` names the LFs whose stored votes were still current and were not
    recomputed; ``others`` the LFs applied to the workspace before, not asked for this
    time, whose stored votes still count (``apply_lfs(..., prune=True)`` deletes them);
    ``pruned`` the LFs whose votes ``prune`` deleted; ``rerun_after_errors`` the LFs
    recomputed, though unchanged, because they failed on some rows last time;
    ``upgraded`` the Python LFs recomputed, though unedited, because their definition
    now fingerprints what they read from their module (stored by a labelkit before 0.2);
    ``extended`` the LFs unchanged since their votes that ran on the examples added
    since alone.
    """

    matrices: Mapping[str, LabelMatrix]
    voted: set[str] = field(default_factory=set)
    errors: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=ERRORS_SCHEMA))
    error_counts: dict[str, int] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)
    spans: pl.DataFrame | None = None
    others: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    rerun_after_errors: list[str] = field(default_factory=list)
    upgraded: list[str] = field(default_factory=list)
    extended: list[str] = field(default_factory=list)

    @property
    def matrix(self) -> LabelMatrix:
        if self.spans is not None:
            raise InputError("these are span votes, not a matrix: read `spans`")
        if len(self.matrices) != 1:
            raise InputError(
                f"the votes are on {len(self.matrices)} attributes: read "
                f"matrices[attribute], for attribute in {list(self.matrices)}"
            )
        return next(iter(self.matrices.values()))


class StoredMatrices(Mapping[str, LabelMatrix]):
    """The label matrices of ``sources`` in a workspace, one per attribute of its task,
    each read (``LabelMatrix.from_workspace``) when first asked for and kept.

    Examples
    --------
    >>> matrices = StoredMatrices(ws, ["keyword_my", "keyword_song"])
    >>> list(matrices), matrices[""].sources
    ([''], ['keyword_my', 'keyword_song'])
    """

    def __init__(self, workspace: Workspace, sources: Sequence[str]) -> None:
        self._workspace = workspace
        self._sources = list(sources)
        self._targets = workspace.task.targets
        self._read: dict[str, LabelMatrix] = {}

    def __getitem__(self, attribute: str) -> LabelMatrix:
        if attribute not in self._targets:
            raise KeyError(attribute)
        if attribute not in self._read:
            try:
                self._read[attribute] = LabelMatrix.from_workspace(
                    self._workspace, sources=self._sources, attribute=attribute
                )
            except duckdb.ConnectionException as error:
                raise InputError(
                    f"workspace {self._workspace.path} was closed ({error}): the applied "
                    "votes are read from it, so read them before closing it"
                ) from None
        return self._read[attribute]

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)


def compute_votes(
    lfs: Sequence[LabelingFunction],
    examples: pl.DataFrame,
    task: Task,
    *,
    strict: bool = False,
    allow_failing_lfs: bool = False,
    n_jobs: int | None = None,
    lf_timeout: float | None = DEFAULT_LF_TIMEOUT,
) -> AppliedLFs:
    """The votes of ``lfs`` on a frame with ``id`` and ``text`` (and optional ``meta``,
    JSON) columns, in memory.

    Declarative and pattern LFs match on the texts in Unicode NFC; Python LFs get them
    as given. On a spans task the LFs are span LFs (``labelkit.lf.spans``), run in one
    ``nlp.pipe`` pass on the texts as given, and the votes are in ``spans``. A Python
    LF that raises (or calls ``sys.exit``) on a row, or returns something that is not
    one of the task's labels or None (on a task with attributes: nor votes on its
    attributes, see ``labeling_function``), abstains there and the row goes into
    ``errors``; with ``strict`` the first such row raises
    ``LabelingFunctionError`` instead. An LF that fails on every row raises it too, as
    does one that never votes because all it returns, None aside, is not a vote, unless
    ``allow_failing_lfs``.

    Python LFs run in worker processes (``n_jobs`` of them at most; default: every
    available core), ``BATCH_ROWS`` rows at a time. One that is still running on a
    batch after ``lf_timeout`` seconds (None: no limit) is stopped, and
    ``LabelingFunctionError`` names it and the row it was on; so does a worker that
    dies. Where processes cannot be forked (Windows), they run here, without a limit.

    Examples
    --------
    >>> frame = pl.DataFrame({"id": ["a", "b"], "text": ["subscribe to me", "nice song"]})
    >>> compute_votes([keyword_lf("sub", ["subscribe"], "spam")], frame, task).matrix.codes[:, 0]
    array([ 1, -1], dtype=int16)
    """
    _check_lfs(lfs, task)
    _check_workers(n_jobs, lf_timeout)
    if "meta" not in examples.columns:
        examples = examples.with_columns(meta=pl.lit(None, pl.String))
    if task.kind == "spans":
        spans, errors = compute_span_votes(lfs, examples, task)  # type: ignore[arg-type]
        matrices: dict[str, LabelMatrix] = {}
        voted = set(spans["source"].unique().to_list())
    else:
        spans = None
        codes, errors = compute_codes(lfs, examples, task, n_jobs=n_jobs, lf_timeout=lf_timeout)
        matrices = _matrices(codes, examples["id"].to_list(), lfs, task)
        voting = (codes != ABSTAIN).any(axis=(0, 2)) if len(codes) else np.zeros(len(lfs), bool)
        voted = {lf.name for lf, any_vote in zip(lfs, voting, strict=True) if any_vote}
    check_failures(
        errors,
        examples.height,
        voted,
        strict=strict,
        allow_failing_lfs=allow_failing_lfs,
    )
    counts = errors.group_by("lf", maintain_order=True).len()
    return AppliedLFs(
        matrices=matrices,
        voted=voted,
        errors=errors,
        error_counts=dict(counts.iter_rows()),
        spans=spans,
    )


def _check_workers(n_jobs: int | None, lf_timeout: float | None) -> None:
    if n_jobs is not None:
        check_range("n_jobs", n_jobs, low=1, why=" (None: every core)")
    if lf_timeout is not None and not lf_timeout > 0:
        raise InputError(
            f"lf_timeout must be a positive number of seconds (or None: no limit), got {lf_timeout}"
        )


def compute_codes(
    lfs: Sequence[LabelingFunction],
    examples: pl.DataFrame,
    task: Task,
    *,
    n_jobs: int | None,
    lf_timeout: float | None,
    check_fields: bool = True,
) -> tuple[np.ndarray, pl.DataFrame]:
    """The vote codes (rows x LFs x ``Task.targets``) of text LFs on ``examples`` (``id``,
    ``text``, ``meta``) and the rows where a Python LF failed, in LF then row order.

    No check that needs every row is made here (``strict``, an LF failing everywhere and,
    without ``check_fields``, a metadata field no example has), so that an executor can
    run it on one batch of the examples and make those checks once over all of them.
    The rows are voted on ``CHUNK_ROWS`` at a time.

    Examples
    --------
    >>> codes, errors = compute_codes(lfs, frame, task, n_jobs=1, lf_timeout=None)
    >>> codes.shape == (frame.height, len(lfs), len(task.targets))
    True
    """
    declarative = [lf for lf in lfs if isinstance(lf, DeclarativeLF)]
    if check_fields and declarative:
        fields = {name for lf in declarative for name in lf.fields}
        _check_fields(declarative, with_fields(examples.select("id", "meta"), fields))
    codes = np.full((examples.height, len(lfs), len(task.targets)), ABSTAIN, dtype=np.int16)
    errors = [pl.DataFrame(schema=ERRORS_SCHEMA)]
    for start in range(0, examples.height, CHUNK_ROWS):
        chunk = examples.slice(start, CHUNK_ROWS)
        codes[start : start + chunk.height], failed = _chunk_codes(
            lfs, chunk, task, n_jobs, lf_timeout
        )
        errors.append(failed)
    # In LF then row order: the chunks are in row order, each in LF then row order.
    return codes, pl.concat(errors).sort(lf_position(lfs), maintain_order=True)


def lf_position(lfs: Sequence[LabelingFunction]) -> pl.Expr:
    """The position in ``lfs`` of each failure's LF (the ``lf`` column of ``errors``),
    to put failures in LF order.

    Examples
    --------
    >>> errors.sort(lf_position(lfs), maintain_order=True)
    """
    position = {lf.name: j for j, lf in enumerate(lfs)}
    return pl.col("lf").replace_strict(position, return_dtype=pl.Int64)


def _chunk_codes(
    lfs: Sequence[LabelingFunction],
    examples: pl.DataFrame,
    task: Task,
    n_jobs: int | None,
    lf_timeout: float | None,
) -> tuple[np.ndarray, pl.DataFrame]:
    """``compute_codes`` on one chunk of rows, every LF kind in its own way."""
    codes = np.full((examples.height, len(lfs), len(task.targets)), ABSTAIN, dtype=np.int16)
    codes_of = vote_codes(task)
    kinds: dict[type, list[int]] = {}
    for j, lf in enumerate(lfs):
        kinds.setdefault(type(lf), []).append(j)
    declarative, patterns = kinds.get(DeclarativeLF), kinds.get(PatternLF)
    if declarative or patterns:
        # Texts come in either normal form (NFD from some keyboards and macOS file
        # names); matching in NFC lets a keyword typed either way find both.
        matching = examples.with_columns(pl.col("text").str.normalize("NFC"))
    if declarative:
        matching = with_fields(matching, {name for j in declarative for name in lfs[j].fields})
        columns = [
            (j, t, lfs[j].votes(label_codes).alias(f"{j}:{t}"))
            for j in declarative
            for t, label_codes in _codes_per_attribute(lfs[j], codes_of).items()
        ]
        fired = matching.select(expression for _, _, expression in columns)
        codes[:, [j for j, _, _ in columns], [t for _, t, _ in columns]] = fired.to_numpy()
    if patterns:
        targets = [codes_of[(lfs[j].attribute, lfs[j].label)][0] for j in patterns]
        codes[:, patterns, targets] = run_pattern_lfs(
            [lfs[j] for j in patterns], matching["text"].to_list(), task
        )
    errors = pl.DataFrame(schema=ERRORS_SCHEMA)
    if python := kinds.get(PythonLF):
        codes[:, python], errors = _run_python_lfs(
            [lfs[j] for j in python], examples, task, n_jobs, lf_timeout
        )
    return codes, errors


def check_failures(
    errors: pl.DataFrame,
    n_examples: int,
    voted: Collection[str],
    *,
    strict: bool,
    allow_failing_lfs: bool,
) -> None:
    """Raise ``LabelingFunctionError`` on the first failed row (``strict``), or, unless
    ``allow_failing_lfs``, for an LF that failed on all ``n_examples`` rows or one that
    returned what is not a vote and is not in ``voted`` (the LFs that voted somewhere):
    everything it returned other than None was wrong. An LF that abstains everywhere
    is not refused.

    Examples
    --------
    >>> check_failures(errors, frame.height, {"sub"}, strict=False, allow_failing_lfs=False)
    """
    if strict and errors.height:
        lf, example_id, text, error = errors.row(0)
        raise LabelingFunctionError(lf, example_id, text, error)
    if not allow_failing_lfs:
        _refuse_lfs_failing_everywhere(errors, n_examples)
        _refuse_lfs_never_voting(errors, voted)


def _matrices(
    codes: np.ndarray, example_ids: list[str], lfs: Sequence[LabelingFunction], task: Task
) -> dict[str, LabelMatrix]:
    sources = [lf.name for lf in lfs]
    return {
        attribute: LabelMatrix(
            codes=np.ascontiguousarray(codes[:, :, t]),
            example_ids=example_ids,
            sources=sources,
            task=task.vote_task(attribute),
        )
        for t, attribute in enumerate(task.targets)
    }


def _codes_per_attribute(
    lf: DeclarativeLF, codes_of: Mapping[tuple[str, str], tuple[int, int]]
) -> dict[int, dict[str, int]]:
    """For each attribute (its index in ``Task.targets``) that ``lf`` votes on, the code
    of each of its labels there, ``ABSTAIN`` for a label answering another attribute."""
    placed = {label: codes_of[(lf.attribute, label)] for label in lf.labels}
    return {
        t: {label: code if at == t else ABSTAIN for label, (at, code) in placed.items()}
        for t in dict.fromkeys(at for at, _ in placed.values())
    }


def apply_lfs_to_frame(
    lfs: Sequence[LabelingFunction] | LabelingFunction | str | Path,
    frame: pl.DataFrame,
    *,
    labels: Sequence[str] | Task,
    text_column: str = "text",
    id_column: str | None = None,
    strict: bool = False,
    allow_failing_lfs: bool = False,
    n_jobs: int | None = None,
    lf_timeout: float | None = DEFAULT_LF_TIMEOUT,
) -> AppliedLFs:
    """Apply ``lfs`` to a polars frame, without a workspace: the same votes, errors and
    checks as ``apply_lfs``, in memory.

    The frame's other columns are the examples' metadata (``x.meta`` for Python LFs, the
    fields of ``threshold_lf``, ``lookup_lf`` and ``column_lf``). Example ids come from
    ``id_column`` (a column named ``id`` if not given, as ``ingest`` reads it; it stays
    a field too), or are the row positions ("0", "1", ...), in the frame's order; they
    must be unique.
    ``labels`` given as names make a classification task, or a spans task for span LFs
    (their votes then in ``spans``); a ``Task`` says which.

    Examples
    --------
    >>> comments = pl.DataFrame({"body": ["subscribe to me", "nice song"], "likes": [0, 9]})
    >>> applied = apply_lfs_to_frame(
    ...     [keyword_lf("sub", ["subscribe"], "spam")], comments,
    ...     labels=["ham", "spam"], text_column="body",
    ... )
    >>> applied.matrix.to_frame()["sub"].to_list()
    ['spam', None]
    """
    lfs = _as_lfs(lfs)
    table = as_frame(frame)
    if table is None:
        raise InputError(f"expected a polars or pandas DataFrame, got {type(frame).__name__}")
    frame = table
    # Trial 56a: span LFs with a list of types were refused as "this workspace's task is
    # classification", with no workspace about; the types of span LFs are a spans task's.
    spans = bool(lfs) and all(isinstance(lf, SpanLF) for lf in lfs)
    task = (
        labels
        if isinstance(labels, Task)
        else Task(labels=tuple(labels), kind="spans" if spans else "classification")
    )
    # A column named `id` gives the ids, as ingest reads it (trial 57b: the votes came
    # back as "0", "1", ...), and stays a field LFs may read, as it was before.
    found_id = id_column is None and "id" in frame.columns and text_column != "id"
    if found_id:
        id_column = "id"
    for role, column in (("text", text_column), ("id", id_column)):
        if column is not None and column not in frame.columns:
            raise InputError(f"no {role} column {column!r}; the columns are {frame.columns}")
    if not is_text(frame.schema[text_column]):
        raise InputError(f"text column {text_column!r} holds {frame.schema[text_column]}")
    frame = frame.with_columns(pl.col(text_column).cast(pl.String))
    for column in (text_column, id_column):
        if column is not None and (missing := frame[column].is_null().arg_true()).len():
            raise InputError(
                f"column {column!r} is null in row {missing[0]} (counting from 0; "
                f"{missing.len()} null rows in all): leave those rows out first, e.g. "
                f"frame.drop_nulls({column!r})"
            )
    ids = None if id_column is None else frame[id_column].cast(pl.String)
    if ids is not None and (copies := ids.is_duplicated()).any():
        # Trial 57b: ingest refuses a repeated id; here its votes came back twice, alike.
        again = int((copies & ~ids.is_first_distinct()).arg_true()[0])
        first = int((ids == ids[again]).arg_true()[0])
        raise InputError(
            f"id column {id_column!r} repeats the id {ids[again]!r} of row {first} in row "
            f"{again} (counting from 0; {copies.sum()} rows share an id): ids must be unique"
        )
    rest = [c for c in frame.columns if c != text_column and (c != id_column or found_id)]
    examples = frame.select(
        (
            pl.col(id_column).cast(pl.String)
            if id_column
            else pl.int_range(pl.len()).cast(pl.String)
        ).alias("id"),
        pl.col(text_column).alias("text"),
        (pl.struct(rest).struct.json_encode() if rest else pl.lit(None, pl.String)).alias("meta"),
    )
    applied = compute_votes(
        lfs,
        examples,
        task,
        strict=strict,
        allow_failing_lfs=allow_failing_lfs,
        n_jobs=n_jobs,
        lf_timeout=lf_timeout,
    )
    if applied.error_counts:
        # Trial 65a: apply_lfs warns of them; here they abstained without a word.
        warnings.warn(
            f"{failed_rows_line(applied.error_counts)}; every one is in errors",
            LabelkitWarning,
            stacklevel=2,
        )
    return applied


def _as_lfs(lfs: object) -> list[LabelingFunction]:
    """``lfs`` as a list of labeling functions: one LF, a sequence of them, or a module or
    file to load them from (``load_lfs``); anything else is refused by its type (trial
    33: one LF, or a module name, failed deep inside with a TypeError)."""
    if isinstance(lfs, LabelingFunction):
        return [lfs]
    if isinstance(lfs, (str, Path)):
        return load_lfs(lfs)
    if isinstance(lfs, Sequence) and all(isinstance(lf, LabelingFunction) for lf in lfs):
        return list(lfs)
    raise InputError(
        f"expected labeling functions (one, a list, or a module or file to load them from), "
        f"got {type(lfs).__name__}"
    )


def apply_lfs(
    workspace: Workspace,
    lfs: Sequence[LabelingFunction] | LabelingFunction | str | Path,
    *,
    strict: bool = False,
    force: bool = False,
    allow_failing_lfs: bool = False,
    n_jobs: int | None = None,
    lf_timeout: float | None = DEFAULT_LF_TIMEOUT,
    executor: str | Executor = "local",
    prune: bool = False,
    progress: Callable[[str], None] | None = None,
) -> AppliedLFs:
    """Apply ``lfs`` to every example in the workspace and store their votes in one step.

    An LF whose definition (hash) is unchanged since its stored votes, with no errors
    last time, is not rerun (``force`` reruns it); where examples were added since, it
    runs on those alone. A Python LF's definition is its source code and what it reads
    from its module (``python_definition``): for a change inside an installed package,
    use ``force``.
    Rows where an LF fails are stored in ``lf_errors`` and returned in ``errors``
    (the first ``ERROR_ROWS``; ``error_counts`` counts them all); with ``strict``, a
    failure stops the step and nothing is written. An LF that fails on every example,
    or never votes but returns what is not a vote, stops it too, unless
    ``allow_failing_lfs``; so does a Python LF still running on a batch of rows after
    ``lf_timeout`` seconds (see ``compute_votes``).

    The examples are voted on and their votes written ``CHUNK_ROWS`` at a time, all in
    the step's one transaction, and the checks above are made in SQL over what was
    written before it commits: memory follows the chunk, not the workspace. The
    returned ``matrices`` are read from the workspace when asked for.

    ``executor`` computes the votes: a name in ``labelkit.registry.executors`` (``"local"``:
    this process and its forked workers; ``"ray"``: a Ray cluster, ``ray[data]``) or
    an executor made by one (``executor_for("ray", address="auto", workers=4)``). Either
    way the votes are the same, and this process writes them in one transaction.

    The votes of LFs applied earlier and not in ``lfs`` stay in the workspace and keep
    voting in ``aggregate``; ``others`` names them. ``prune`` deletes them (their votes,
    errors and source) in the same step, so that the workspace's LFs are ``lfs``. Votes
    stored by ``import_votes`` are neither named nor pruned: a later import replaces them.

    ``progress``, where given, is called with a line saying which LFs run on how many
    examples before they run, and one when their votes are stored.

    Examples
    --------
    >>> applied = apply_lfs(ws, load_lfs("labeling_functions.youtube"))
    >>> applied.matrix.sources[:2], applied.errors.height
    (['keyword_my', 'keyword_subscribe'], 0)
    >>> applied = apply_lfs(restaurants_ws, load_lfs("labeling_functions.restaurants"))
    >>> applied.matrices["staff"].task.labels
    ('positive', 'negative', 'neutral', 'none', 'mentioned')
    >>> apply_lfs(laptops_ws, load_lfs("labeling_functions.laptops")).spans.columns
    ['example_id', 'source', 'start', 'end', 'label']
    """
    # Imported here: the executors build on this module's compute_codes.
    from labelkit.executors import executor_for

    if not isinstance(workspace, Workspace):
        raise InputError(not_a_workspace("apply_lfs", workspace))
    lfs = _as_lfs(lfs)
    task = workspace.task
    _check_lfs(lfs, task)
    _check_workers(n_jobs, lf_timeout)
    runner = executor_for(executor) if isinstance(executor, str) else executor
    examples = first_row(workspace.con, "SELECT count(*) FROM examples")
    n_examples = int(examples[0]) if examples else 0
    if n_examples == 0:
        raise InputError(f"workspace {workspace.path} has no examples: run `labelkit ingest`")
    # Each read once: a Python LF's definition reads its source file and module.
    definitions = {lf.name: lf.definition for lf in lfs}
    current, failed_before, behind = _current(workspace, definitions)
    if force:
        current, failed_before, behind = set(), [], {}
    stale = [lf for lf in lfs if lf.name not in current]
    # Trial 56c: each week's new posts reran every LF on every post; an LF unchanged
    # since its votes runs on the examples added since alone.
    extended = [lf for lf in stale if lf.name in behind]
    since_run = min((behind[lf.name] for lf in extended), default=None)
    reused = [lf.name for lf in lfs if lf not in stale]
    names = [lf.name for lf in lfs]
    # Only LFs an earlier apply wrote: imported votes are not this command's to warn
    # about or prune (trial 32: apply after import-votes said they "still vote").
    others = [name for name in workspace.applied_lfs() if name not in names]
    pruned = others if prune else []
    counts: dict[str, int] = {}
    errors = pl.DataFrame(schema=ERRORS_SCHEMA)
    upgraded: list[str] = []
    if stale or pruned:
        if stale:
            check_fields_in_workspace(workspace, stale)
        known = dict(workspace.sql("SELECT name, hash FROM sources WHERE kind = 'lf'").rows())
        upgraded = _fingerprinted_since(workspace, stale, definitions)
        config = {
            "lfs": [lf.name for lf in stale],
            # Which of them are new, and which had votes of another definition (trial
            # 52a: a renamed and an edited LF could not be told from the log).
            "new": [lf.name for lf in stale if lf.name not in known],
            "changed": [
                lf.name
                for lf in stale
                if lf.name in known
                and known[lf.name] != definition_hash(definitions[lf.name])
                and lf.name not in upgraded
            ],
            "upgraded": upgraded,
            "reused": reused,
            "extended": [lf.name for lf in extended],
            "errors": 0,
            "executor": runner.name,
            "pruned": pruned,
        }
        with workspace.run("apply", config) as run:
            if stale:
                began = time.monotonic()
                whole = [lf for lf in stale if lf not in extended]
                for group, since in ((whole, None), (extended, since_run)):
                    if not group:
                        continue
                    if progress is not None:
                        # Trial 52b: 60,000 long emails, and nothing printed until the end.
                        progress(f"apply: {_families(group)} on {_examples_since(run.con, since)}")
                    parts = runner.lf_votes(
                        workspace, group, n_jobs=n_jobs, lf_timeout=lf_timeout, since_run=since
                    )
                    # Trial 64b: 90 s of silence on a million texts, on either executor.
                    beating = (
                        contextlib.nullcontext()
                        if progress is None
                        else still_running("apply: computing votes")
                    )
                    with contextlib.closing(iter(parts)) as chunks, beating:
                        _store(run, chunks, group, task.kind, definitions, since)
                if progress is not None:
                    progress(f"apply: votes computed in {time.monotonic() - began:.0f} s")
                counts = _stored_error_counts(run.con, stale)
                _check_stored(
                    run.con,
                    stale,
                    counts,
                    n_examples,
                    task.kind,
                    strict=strict,
                    allow_failing_lfs=allow_failing_lfs,
                )
                # The runs row is written as the block ends, with the config as it is then.
                config["errors"] = sum(counts.values())
                if counts:
                    errors = failed_rows(run.con, [lf.name for lf in stale], limit=ERROR_ROWS)
            if pruned:
                delete_sources(run.con, pruned)
        others = [] if prune else others
    # What this apply was given, for analyze and aggregate to name the LFs left out of
    # it that still vote (trial 50d: only apply said so, once).
    workspace.con.execute(
        "INSERT OR REPLACE INTO meta VALUES (?, ?)", [APPLIED_LFS, json.dumps(names)]
    )
    voted = _voted(workspace.con, names, task.kind)
    if counts:
        # Trial 33: in Python, rows an LF failed on abstained without a word.
        warnings.warn(
            f"{failed_rows_line(counts)}; the first are in errors, every one in the workspace's "
            "lf_errors",
            LabelkitWarning,
            stacklevel=2,
        )
    if task.kind == "spans":
        spans = workspace.sql(
            """SELECT example_id, source, start, "end", label FROM span_votes
               WHERE list_contains(?, source) ORDER BY example_id, source, start, "end", label""",
            [names],
        )
        return AppliedLFs(
            matrices={},
            voted=voted,
            errors=errors,
            error_counts=counts,
            reused=reused,
            spans=spans,
            others=others,
            upgraded=upgraded,
            pruned=pruned,
            rerun_after_errors=failed_before,
            extended=[lf.name for lf in extended],
        )
    return AppliedLFs(
        matrices=StoredMatrices(workspace, names),
        voted=voted,
        errors=errors,
        error_counts=counts,
        reused=reused,
        others=others,
        pruned=pruned,
        rerun_after_errors=failed_before,
        upgraded=upgraded,
        extended=[lf.name for lf in extended],
    )


def _fingerprinted_since(
    workspace: Workspace, lfs: Sequence[LabelingFunction], definitions: dict[str, str]
) -> list[str]:
    """The Python LFs whose stored definition is their source alone, as a labelkit from
    before ``python_definition``'s fingerprint stored it, and whose definition now adds
    the fingerprint: rerun once, not edited (trial 53d: logged as changed)."""
    stored = dict(
        workspace.sql(
            "SELECT name, definition FROM sources WHERE kind = 'lf' AND list_contains(?, name)",
            [[lf.name for lf in lfs]],
        ).rows()
    )
    return [
        lf.name
        for lf in lfs
        if isinstance(lf, PythonLF)
        and lf.name in stored
        and FINGERPRINT in definitions[lf.name]
        and definitions[lf.name].rsplit(FINGERPRINT, 1)[0].rstrip() == stored[lf.name].rstrip()
    ]


def _families(lfs: Sequence[LabelingFunction]) -> str:
    """How many ``lfs`` there are of each family, e.g. "12 LFs (10 declarative, 2 Python)"."""
    kinds = Counter(
        "Python"
        if isinstance(lf, PythonLF | PythonSpanLF)
        else "declarative"
        if isinstance(lf, DeclarativeLF)
        # Phrases, regexes and token patterns alike (trial 53f: a regex was "spaCy").
        else "span pattern"
        if isinstance(lf, SpanPatternLF)
        else "spaCy pattern"
        for lf in lfs
    )
    return f"{counted(len(lfs), 'LF')} ({', '.join(f'{n} {kind}' for kind, n in kinds.items())})"


def votes_in_chunks(
    workspace: Workspace,
    lfs: Sequence[LabelingFunction],
    *,
    n_jobs: int | None,
    lf_timeout: float | None,
    since_run: int | None = None,
) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    """The votes of text LFs on the workspace's examples (those added after the run
    ``since_run``, where given), ``CHUNK_ROWS`` examples at a time: for each chunk, its
    votes (``chunk_votes``) and the rows an LF failed on (``lf, example_id, text,
    error``, in LF then row order).

    The examples are read as stored, not sorted by id: sorting every text took as much
    memory as the votes, and no vote depends on the order. The checks that need every
    row are left to the caller (``apply_lfs`` makes them in SQL over what it wrote),
    as is the check of the metadata fields (``check_fields_in_workspace``).

    Examples
    --------
    >>> votes, errors = next(votes_in_chunks(ws, lfs, n_jobs=None, lf_timeout=60.0))
    >>> votes.columns
    ['example_id', 'source', 'label', 'attribute']
    """
    task = workspace.task
    with workspace.cursor() as cursor:
        # Read on a cursor of its own, so that the caller can write each chunk's votes
        # on the workspace's connection while this query still streams.
        batches = cursor.sql(
            "SELECT id, text, meta FROM examples WHERE run_id > coalesce($since, -1)",
            params={"since": since_run},
        ).to_arrow_reader(min(CHUNK_ROWS, 100_000))
        pending: list[pl.DataFrame] = []
        held = 0
        for batch in itertools.chain(batches, [None]):
            if batch is not None:
                frame = pl.from_arrow(batch)
                assert isinstance(frame, pl.DataFrame)
                pending.append(frame)
                held += frame.height
            while held >= CHUNK_ROWS or (batch is None and held):
                rows = pl.concat(pending)
                chunk, rest = rows.head(CHUNK_ROWS), rows.slice(CHUNK_ROWS)
                pending, held = [rest], rest.height
                codes, errors = compute_codes(
                    lfs, chunk, task, n_jobs=n_jobs, lf_timeout=lf_timeout, check_fields=False
                )
                yield chunk_votes(codes, chunk["id"], lfs, task), errors


def chunk_votes(
    codes: np.ndarray, example_ids: pl.Series, lfs: Sequence[LabelingFunction], task: Task
) -> pl.DataFrame:
    """One row per vote cast (abstains left out) in ``codes`` (rows x LFs x
    ``Task.targets``, as ``compute_codes`` gives them) on the examples ``example_ids``:
    ``example_id, source, label, attribute``.

    Examples
    --------
    >>> codes, _ = compute_codes(lfs, frame, task, n_jobs=1, lf_timeout=None)
    >>> chunk_votes(codes, frame["id"], lfs, task).columns
    ['example_id', 'source', 'label', 'attribute']
    """
    sources = pl.Series([lf.name for lf in lfs], dtype=pl.String)
    parts = []
    for t, attribute in enumerate(task.targets):
        rows, columns = np.nonzero(codes[:, :, t] != ABSTAIN)
        labels = pl.Series(task.vote_task(attribute).labels, dtype=pl.String)
        parts.append(
            pl.DataFrame(
                {
                    "example_id": example_ids.cast(pl.String).gather(rows),
                    "source": sources.gather(columns),
                    "label": labels.gather(codes[rows, columns, t]),
                    "attribute": pl.repeat(attribute, len(rows), dtype=pl.String, eager=True),
                }
            )
        )
    return pl.concat(parts)


def check_fields_in_workspace(workspace: Workspace, lfs: Sequence[LabelingFunction]) -> None:
    """The checks of metadata that need every example, in SQL over the workspace:
    metadata that is not JSON, a field that no example has. Each is worded by the
    check on a frame (``with_fields``, ``_check_fields``), run on the one row that
    shows it, so that chunks of the examples need not be checked one by one.

    Examples
    --------
    >>> check_fields_in_workspace(ws, [lookup_lf("known", ["eve"], "spam", field="author")])
    """
    declarative = [lf for lf in lfs if isinstance(lf, DeclarativeLF)]
    names = sorted({name for lf in declarative for name in lf.fields} - {"text"})
    if not names:
        return
    paths = [field_path(name) for name in names]
    bad = workspace.sql(
        "SELECT id, meta FROM examples WHERE NOT json_valid(meta) ORDER BY id LIMIT 1"
    )
    if bad.height:
        with_fields(bad, names)
    present = workspace.sql(
        "SELECT "
        + ", ".join(f"bool_or(json_extract_string(meta, $p{i}) IS NOT NULL) AS present{i}"
                    for i in range(len(names)))
        + " FROM examples",
        {f"p{i}": path for i, path in enumerate(paths)},
    )  # fmt: skip
    stand_in = pl.DataFrame(
        {
            f"meta.{name}": ["" if present[f"present{i}"][0] else None]
            for i, name in enumerate(names)
        },
        schema={f"meta.{name}": pl.String for name in names},
    ).with_columns(text=pl.lit(""))
    _check_fields(declarative, stand_in)
    _warn_of_unread_numbers(workspace, declarative)


def _warn_of_unread_numbers(workspace: Workspace, lfs: Sequence[DeclarativeLF]) -> None:
    """Warn of the values of a threshold LF's field that are no number (trial 59c: a
    column of decimal commas abstained without a word), read as the LF reads them
    (``as_number``), a million rows at a time."""
    users: dict[str, list[str]] = {}
    for lf in lfs:
        if lf.kind == "threshold" and lf.fields:
            users.setdefault(lf.fields[0], []).append(lf.name)
    if not users:
        return
    names = list(users)
    given, unread = [0] * len(names), [0] * len(names)
    first: list[str | None] = [None] * len(names)
    read = ", ".join(f"json_extract_string(meta, $p{i}) AS f{i}" for i in range(len(names)))
    with workspace.cursor() as cursor:
        stream = cursor.sql(
            f"SELECT {read} FROM examples WHERE meta IS NOT NULL",
            params={f"p{i}": field_path(name) for i, name in enumerate(names)},
        ).to_arrow_reader(1_000_000)
        for batch in stream:
            chunk = pl.from_arrow(batch)
            assert isinstance(chunk, pl.DataFrame)
            for i in range(len(names)):
                values = chunk[f"f{i}"].drop_nulls()
                bad = values.filter(
                    values.to_frame("v").select(as_number(pl.col("v")))["v"].is_null()
                )
                given[i] += values.len()
                unread[i] += bad.len()
                if first[i] is None and bad.len():
                    first[i] = bad[0]
    for i, name in enumerate(names):
        if unread[i]:
            value = first[i] or ""
            example = value if len(value) <= 80 else f"{value[:80]}…"
            warnings.warn(
                f"threshold LF(s) {users[name]} read field {name!r} as a number, and "
                f"{unread[i]:,} of its {given[i]:,} values are none (such as {example!r}): "
                "those texts abstain. A decimal comma is read where no thousands separator "
                "could be one (1,5; not 1,500): a Python LF reads other forms as you mean them",
                LabelkitWarning,
                stacklevel=4,
            )


def failed_rows(
    con: duckdb.DuckDBPyConnection, lfs: Sequence[str], *, limit: int | None = None
) -> pl.DataFrame:
    """The stored rows the LFs ``lfs`` failed on, with their texts (``lf, example_id,
    text, error``), in LF (as given) then example order; the first ``limit`` if given.

    Examples
    --------
    >>> failed_rows(ws.con, ["fragile"], limit=5).columns
    ['lf', 'example_id', 'text', 'error']
    """
    return con.sql(
        """SELECT f.source AS lf, f.example_id, e.text, f.error
           FROM lf_errors f JOIN examples e ON e.id = f.example_id
           WHERE list_contains($lfs, f.source)
           ORDER BY list_position($lfs, f.source), f.example_id
           LIMIT $limit""",
        params={"lfs": list(lfs), "limit": limit},
    ).pl()


def _store(
    run: Run,
    parts: Iterable[LFVotes],
    lfs: Sequence[LabelingFunction],
    kind: str,
    definitions: dict[str, str],
    since_run: int | None = None,
) -> None:
    """Replace the votes and failed rows of ``lfs`` with those of ``parts``, written as
    they come (on the examples added after the run ``since_run`` alone, where given),
    and their ``sources`` rows (``definitions`` by name)."""
    names = [lf.name for lf in lfs]
    sources = pl.DataFrame(
        {"name": names, "kind": "lf", "definition": [definitions[name] for name in names]}
    )
    table, add = ("span_votes", add_span_votes) if kind == "spans" else ("votes", add_votes)
    for replaced in (table, "lf_errors"):
        if since_run is None:
            delete_rows_of(run.con, replaced, names)
        else:
            run.con.execute(
                f"""DELETE FROM {replaced} WHERE list_contains(?, source)
                    AND example_id IN (SELECT id FROM examples WHERE run_id > ?)""",
                [names, since_run],
            )
    for part in parts:
        add(run.con, part.votes, run_id=run.id)
        if part.errors.height:
            with registered(run.con, "new_errors", part.errors):
                run.con.execute(
                    "INSERT INTO lf_errors SELECT lf, example_id, error, ? FROM new_errors",
                    [run.id],
                )
    set_sources(run.con, sources, run_id=run.id)


def _examples_since(con: duckdb.DuckDBPyConnection, since_run: int | None) -> str:
    """How many examples an LF runs on: every one, or those added after ``since_run``."""
    counted = first_row(
        con, "SELECT count(*) FROM examples WHERE run_id > coalesce(?, -1)", [since_run]
    )
    n = int(counted[0]) if counted else 0
    return f"{n:,} examples" + ("" if since_run is None else " added since they last ran")


def _stored_error_counts(
    con: duckdb.DuckDBPyConnection, lfs: Sequence[LabelingFunction]
) -> dict[str, int]:
    """The failed rows stored per LF of ``lfs``, for those that failed, in LF order."""
    names = [lf.name for lf in lfs]
    counted = con.execute(
        """SELECT source, count(*) FROM lf_errors WHERE list_contains($names, source)
           GROUP BY source ORDER BY list_position($names, source)""",
        {"names": names},
    ).fetchall()
    return {name: int(n) for name, n in counted}


def _voted(con: duckdb.DuckDBPyConnection, names: Sequence[str], kind: str) -> set[str]:
    """The LFs of ``names`` with at least one stored vote."""
    table = "span_votes" if kind == "spans" else "votes"
    found = con.execute(
        f"SELECT DISTINCT source FROM {table} WHERE list_contains(?, source)", [list(names)]
    ).fetchall()
    return {name for (name,) in found}


def _check_stored(
    con: duckdb.DuckDBPyConnection,
    lfs: Sequence[LabelingFunction],
    counts: Mapping[str, int],
    n_examples: int,
    kind: str,
    *,
    strict: bool,
    allow_failing_lfs: bool,
) -> None:
    """``check_failures`` over the votes and failed rows of ``lfs`` written in this
    transaction (``counts``: the failed rows per LF), with the same errors."""
    names = [lf.name for lf in lfs]
    if strict and counts:
        raise LabelingFunctionError(*failed_rows(con, names, limit=1).row(0))
    if allow_failing_lfs or not counts:
        return
    everywhere = [name for name, n in counts.items() if n == n_examples]
    if everywhere:
        first = failed_rows(con, everywhere[:1], limit=1).row(0)
        raise _failing_everywhere(first, everywhere, n_examples)
    silent = [name for name in counts if name not in _voted(con, list(counts), kind)]
    returned = con.sql(
        """SELECT source, error, min(example_id) AS first, count(*) AS n FROM lf_errors
           WHERE list_contains($silent, source) AND starts_with(error, $returned)
           GROUP BY source, error
           ORDER BY list_position($silent, source), first""",
        params={"silent": silent, "returned": RETURNED},
    ).pl()
    if not returned.height:
        return
    never = returned["source"].unique(maintain_order=True).to_list()
    mine = returned.filter(pl.col("source") == never[0])
    text = first_row(con, "SELECT text FROM examples WHERE id = ?", [mine["first"][0]])
    assert text is not None
    raise _never_voting(
        never, mine["first"][0], text[0], int(mine["n"].sum()), mine["error"].to_list()
    )


def _current(
    workspace: Workspace, definitions: dict[str, str]
) -> tuple[set[str], list[str], dict[str, int]]:
    """Of the LFs of ``definitions`` (name -> definition), those whose stored votes still
    hold (same definition hash, no example added since, and no errors last time);
    those that would but for errors last time; and those whose votes hold but for the
    examples added since, each with the run that wrote its votes (``since_run``)."""
    hashes = pl.DataFrame(
        {"name": list(definitions), "hash": [definition_hash(d) for d in definitions.values()]}
    )
    with registered(workspace.con, "asked", hashes):
        unchanged = workspace.sql(
            """SELECT s.name, s.run_id, s.name IN (SELECT source FROM lf_errors) AS failed,
                      s.run_id >= (SELECT max(run_id) FROM examples) AS current
               FROM sources s JOIN asked a ON a.name = s.name AND a.hash = s.hash
               WHERE s.kind = 'lf'"""
        )
    # Rerun on every example for its errors, whether or not examples came since (the
    # second read: one behind was named neither extended nor rerun after errors).
    failed = set(unchanged.filter("failed")["name"])
    behind = dict(
        unchanged.filter(~pl.col("failed"), ~pl.col("current")).select("name", "run_id").rows()
    )
    return (
        set(unchanged.filter("current")["name"]) - failed,
        [name for name in definitions if name in failed],
        behind,
    )


def _check_lfs(lfs: Sequence[LabelingFunction], task: Task) -> None:
    if not lfs:
        raise InputError("no labeling functions given")
    names = [lf.name for lf in lfs]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise InputError(f"labeling function names must be unique; repeated: {duplicated}")
    if task.kind == "spans" or any(isinstance(lf, SpanLF) for lf in lfs):
        _check_span_lfs(lfs, task)
        return
    codes_of = vote_codes(task)
    for lf in lfs:
        if not isinstance(lf, (DeclarativeLF, PatternLF, PythonLF)):
            raise InputError(f"{lf!r} is not a labeling function")
        if isinstance(lf, PythonLF):
            continue  # its votes are checked row by row as they come
        labels = lf.labels if isinstance(lf, DeclarativeLF) else (lf.label,)
        for label in labels:
            if (lf.attribute, label) not in codes_of:
                reason = unknown_vote(task, lf.attribute, label)
                where = f"{lf.origin}: " if isinstance(lf, DeclarativeLF) and lf.origin else ""
                # Trial 54e: a class no gold row had was left out of the labels at the
                # first ingest, and "did you mean 'neurology'?" was all the error said.
                fixed = (
                    "; a workspace's labels are set at its first ingest: to add one, "
                    "ingest into a new workspace with --labels (labels=) naming it"
                    if task.kind == "classification"
                    else ""
                )
                raise InputError(f"{where}labeling function {lf.name!r} {reason}{fixed}")


def failed_rows_line(counts: Mapping[str, int]) -> str:
    """How many rows abstained because an LF failed on them, the most failing LF first:
    the line ``apply_lfs``'s warning and the CLI both begin with.

    Examples
    --------
    >>> failed_rows_line({"fragile": 1, "broken": 6})
    '7 failed rows abstained (broken: 6, fragile: 1)'
    >>> failed_rows_line({"fragile": 1})
    '1 failed row abstained (fragile: 1)'
    """
    per_lf = ", ".join(f"{lf}: {n}" for lf, n in sorted(counts.items(), key=lambda c: -c[1]))
    return f"{counted(sum(counts.values()), 'failed row')} abstained ({per_lf})"


def _check_span_lfs(lfs: Sequence[LabelingFunction], task: Task) -> None:
    """Span LFs on a spans task, with labels of its entity types (or ``"O"``); any
    other LF or task is an error naming the LF, and unknown labels one naming every LF
    that votes one (trial K fixed one LF to meet the next)."""
    for lf in lfs:
        if task.kind != "spans":
            raise InputError(
                f"labeling function {lf.name!r} votes spans, but the task is {task.kind}; "
                "span LFs are for a spans task (--kind spans, Task(kind='spans'))"
            )
        if not isinstance(lf, SpanLF):
            raise InputError(
                f"labeling function {lf.name!r} votes on whole texts, but the task is "
                "spans: use span LFs (phrase_span_lf, regex_span_lf, token_span_lf, "
                "span_labeling_function in labelkit.lf.spans)"
            )
    allowed = (*task.labels, OUTSIDE)
    unknown = [
        f"{lf.name!r} votes {label!r}{did_you_mean(label, allowed)}"
        for lf in lfs
        for label in lf.labels
        if label not in allowed
    ]
    if unknown:
        raise InputError(
            f"labeling function {'; '.join(unknown)}: not one of the task's entity types "
            f"{list(task.labels)} (or {OUTSIDE!r}: no entity)"
            if len(unknown) == 1
            else f"{len(unknown)} labeling functions vote labels that are not the task's "
            f"entity types {list(task.labels)} (or {OUTSIDE!r}: no entity): " + "; ".join(unknown)
        )


def _check_fields(lfs: Sequence[DeclarativeLF], examples: pl.DataFrame) -> None:
    fields = sorted({name for lf in lfs for name in lf.fields})
    if not fields:
        return
    present = examples.select(field_value(name).is_not_null().any().alias(name) for name in fields)
    for name in fields:
        if not present[name][0]:
            users = [lf.name for lf in lfs if name in lf.fields]
            raise InputError(
                f"labeling function(s) {users} read metadata field {name!r}, which no example has"
            )


def _refuse_lfs_failing_everywhere(errors: pl.DataFrame, n_examples: int) -> None:
    per_lf = errors.group_by("lf", maintain_order=True).len()
    everywhere = per_lf.filter(pl.col("len") == n_examples)["lf"].to_list()
    if everywhere:
        first = errors.filter(pl.col("lf") == everywhere[0]).row(0)
        raise _failing_everywhere(first, everywhere, n_examples)


def _failing_everywhere(
    first: tuple[str, str, str, str], everywhere: Sequence[str], n_examples: int
) -> LabelingFunctionError:
    """The error for the LFs ``everywhere`` that failed on all ``n_examples`` examples,
    naming the first one's first failed row (``lf, example_id, text, error``)."""
    lf, example_id, text, error = first
    others = f"; so did {list(everywhere[1:])}" if everywhere[1:] else ""
    return LabelingFunctionError(
        lf,
        example_id,
        text,
        f"{error} (and on all {n_examples} examples{others}); nothing was stored. Fix it, or "
        "pass allow_failing_lfs=True (--allow-failing-lfs) to store it as abstaining",
    )


def _refuse_lfs_never_voting(errors: pl.DataFrame, voted: Collection[str]) -> None:
    invalid = errors.filter(
        pl.col("error").str.starts_with(RETURNED) & ~pl.col("lf").is_in(list(voted))
    )
    if not invalid.height:
        return
    lfs = invalid["lf"].unique(maintain_order=True).to_list()
    mine = invalid.filter(pl.col("lf") == lfs[0])
    _, example_id, text, _ = mine.row(0)
    reasons = mine["error"].unique(maintain_order=True).to_list()
    raise _never_voting(lfs, example_id, text, mine.height, reasons)


def _never_voting(
    lfs: Sequence[str], example_id: str, text: str, rows: int, reasons: Sequence[str]
) -> LabelingFunctionError:
    """The error for the LFs ``lfs`` that never voted but returned what is not a vote,
    naming the first one's first such row, how many rows it did so on, and its
    ``reasons`` in the order they first came."""
    # Trial 48a: "(and 39 more)" beside "on the 49 rows" read as a count of rows.
    more = f" (and {counted(len(reasons) - 3, 'other error')})" if len(reasons) > 3 else ""
    others = f"; so did {list(lfs[1:])}" if lfs[1:] else ""
    return LabelingFunctionError(
        lfs[0],
        example_id,
        text,
        f"it never cast a valid vote: on the {rows} rows where it returned something "
        f"other than None, it {'; '.join(reasons[:3])}{more}{others}; nothing was stored. Fix "
        "what it returns (allow_failing_lfs=True, --allow-failing-lfs, stores it as "
        "abstaining on every row, to go on without it)",
    )


def _run_python_lfs(
    lfs: Sequence[PythonLF],
    examples: pl.DataFrame,
    task: Task,
    n_jobs: int | None,
    lf_timeout: float | None,
) -> tuple[np.ndarray, pl.DataFrame]:
    rows = _examples_for_python(examples)
    batches = [
        (j, start, min(start + BATCH_ROWS, len(rows)))
        for j in range(len(lfs))
        for start in range(0, len(rows), BATCH_ROWS)
    ]
    if "fork" in multiprocessing.get_all_start_methods():
        cores = n_jobs or len(os.sched_getaffinity(0))
        workers = max(1, min(cores, len(rows) // (PARALLEL_MIN_ROWS // 2), len(batches)))
        votes, failures = _run_in_workers(lfs, rows, task, batches, workers, lf_timeout)
    else:
        votes = np.full((len(rows), len(lfs), len(task.targets)), ABSTAIN, dtype=np.int16)
        progress = [0.0] * _SLOT
        failures = [
            failure
            for j, start, stop in batches
            for failure in _run_batch(lfs[j], rows, start, stop, votes[:, j], task, progress, 0)
        ]
    return votes, pl.DataFrame(failures, schema=ERRORS_SCHEMA, orient="row")


def _examples_for_python(examples: pl.DataFrame) -> list[Example]:
    columns = (examples[name].to_list() for name in ("id", "text", "meta"))
    # Millions of new objects set off the cyclic collector again and again, each pass
    # over every object alive, so building them with it paused is twice as fast.
    with _collector_paused():
        return [
            Example(id=i, text=t, meta=json.loads(m) if m else {})
            for i, t, m in zip(*columns, strict=True)
        ]


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


Failure = tuple[str, str, str, str]
# How the reason for a returned value that is not a vote starts (an exception's reason
# starts with its type's name and a colon), so that such rows can be told apart.
RETURNED = "returned "

# Each worker's slot in the shared progress array: the batch it runs (-1: none), the
# row it is on, and when it started the batch (time.monotonic, shared by all processes).
_SLOT = 3
_BATCH, _ROW, _STARTED = range(_SLOT)


@dataclass(frozen=True)
class _Work:
    """What forked workers inherit: the LFs and rows themselves, so that LFs defined
    anywhere (a notebook, a file loaded by path) run without being picklable, and the
    state they share with the parent."""

    lfs: Sequence[PythonLF]
    rows: list[Example]
    task: Task
    batches: list[tuple[int, int, int]]
    votes: np.ndarray  # in shared memory: workers write their codes straight into it
    # (rows x LFs x attributes)
    next_batch: Any  # multiprocessing.Value: the next batch to take
    progress: Any  # multiprocessing.RawArray: one _SLOT per worker
    results: Any  # multiprocessing.Queue of (batch, failures)


_FORKED_WORK: _Work | None = None


def _run_in_workers(
    lfs: Sequence[PythonLF],
    rows: list[Example],
    task: Task,
    batches: list[tuple[int, int, int]],
    n_workers: int,
    lf_timeout: float | None,
) -> tuple[np.ndarray, list[Failure]]:
    """Run the batches in forked workers that take them in turn; watch each worker's
    slot and stop them all when one overruns ``lf_timeout`` on a batch or dies."""
    global _FORKED_WORK
    context = multiprocessing.get_context("fork")
    width = len(lfs) * len(task.targets)
    votes = np.frombuffer(context.RawArray("h", len(rows) * width), dtype=np.int16)
    votes = votes.reshape(len(rows), len(lfs), len(task.targets))
    votes[:] = ABSTAIN
    work = _FORKED_WORK = _Work(
        lfs=lfs,
        rows=rows,
        task=task,
        batches=batches,
        votes=votes,
        next_batch=context.Value("q", 0),
        progress=context.RawArray("d", [-1.0, 0.0, 0.0] * n_workers),
        results=context.Queue(),
    )
    workers = [
        context.Process(target=_work, args=(slot, os.getpid()), daemon=True)
        for slot in range(n_workers)
    ]
    failures: dict[int, list[Failure]] = {}
    # Frozen, the rows are never visited by the workers' collectors, which would touch
    # every object and so copy the parent's pages into each worker. Objects the caller
    # froze stay frozen.
    frozen_by_caller = gc.get_freeze_count() > 0
    gc.freeze()
    try:
        for worker in workers:
            worker.start()
        while len(failures) < len(batches):
            try:
                batch, batch_failures = work.results.get(timeout=0.05)
                failures[batch] = batch_failures
                continue
            except queue.Empty:
                pass
            for slot, worker in enumerate(workers):
                _check_worker(work, slot, worker, lf_timeout)
            # Workers flush their results before they exit: once all have, an empty
            # queue means results will never come.
            exited = all(worker.exitcode is not None for worker in workers)
            if exited and work.results.empty():
                raise LabelkitError(
                    "the processes running the Python labeling functions ended before they "
                    "finished; nothing was stored"
                )
        for worker in workers:
            worker.join()
    finally:
        if not frozen_by_caller:
            gc.unfreeze()
        _FORKED_WORK = None
        for worker in workers:
            if worker.is_alive():
                worker.kill()
                worker.join()
        work.results.close()
    return votes.copy(), [f for batch in sorted(failures) for f in failures[batch]]


def _check_worker(work: _Work, slot: int, worker: Any, lf_timeout: float | None) -> None:
    """Raise if the worker in ``slot`` overran its budget on its batch or died in it."""
    at = slot * _SLOT
    batch = int(work.progress[at + _BATCH])
    if batch < 0:
        return
    running_for = time.monotonic() - work.progress[at + _STARTED]
    j, start, stop = work.batches[batch]
    x = work.rows[int(work.progress[at + _ROW])]
    if lf_timeout is not None and running_for > lf_timeout:
        reason = (
            f"still running after {lf_timeout:g} s on a batch of {stop - start} rows, on this "
            "row; it was stopped and nothing was stored (raise lf_timeout / --lf-timeout if "
            "it is only slow)"
        )
        raise LabelingFunctionError(work.lfs[j].name, x.id, x.text, reason)
    if (code := worker.exitcode) is not None:
        how = f"exit code {code}" if code >= 0 else f"killed by signal {-code}"
        reason = f"the process running it ended ({how}) on this row; nothing was stored"
        raise LabelingFunctionError(work.lfs[j].name, x.id, x.text, reason)


def _work(slot: int, parent: int) -> None:
    end_with_parent(parent)
    leave_stops_to_parent()
    work = _FORKED_WORK
    assert work is not None
    at = slot * _SLOT
    while True:
        with work.next_batch.get_lock():
            batch = work.next_batch.value
            work.next_batch.value += 1
        if batch >= len(work.batches):
            return
        j, start, stop = work.batches[batch]
        work.progress[at + _ROW] = start
        work.progress[at + _STARTED] = time.monotonic()
        work.progress[at + _BATCH] = batch
        failures = _run_batch(
            work.lfs[j], work.rows, start, stop, work.votes[:, j], work.task, work.progress, at
        )
        work.results.put((batch, failures))
        work.progress[at + _BATCH] = -1


def _run_batch(
    lf: PythonLF,
    rows: list[Example],
    start: int,
    stop: int,
    out: np.ndarray,
    task: Task,
    progress: Any,
    at: int,
) -> list[Failure]:
    """Run ``lf`` on rows ``start:stop``, writing codes into ``out`` (rows x attributes)
    and noting each row in ``progress[at + _ROW]`` for the watcher; the rows it failed on."""
    codes = vote_codes(task)
    failures = []
    for i in range(start, stop):
        progress[at + _ROW] = i
        x = rows[i]
        try:
            vote = lf(x)
        except (Exception, SystemExit) as error:
            failures.append((lf.name, x.id, x.text, describe_error(error)))
            continue
        if isinstance(vote, int | np.integer) and not isinstance(vote, bool):
            vote = _numbered(int(vote), codes)
        if vote is None:
            continue
        if isinstance(vote, str) and ("", vote) in codes:
            t, code = codes[("", vote)]
            out[i, t] = code
            continue
        if task.kind == "classification":
            reason = f"{RETURNED}{vote!r}, not one of {list(task.labels)} or None"
            if isinstance(vote, bool | np.bool_):
                # Trial 68b: False was told to be a class number.
                reason += (
                    ": an LF returns the label it votes, or None to abstain; return a "
                    "label where a test like this one holds"
                )
            elif isinstance(vote, int) and vote < 0:
                reason += ": an LF abstains by returning None (or Snorkel's -1)"
            elif isinstance(vote, int) and all(label.isdigit() for label in task.labels):
                # Trial 63b: the class no gold row had was not a label, and the hint
                # below sent a user whose labels are numbers the wrong way.
                reason += (
                    ": the task's labels are the ones the first ingest named or found in "
                    "its gold; to add a class, ingest again into a new workspace with "
                    "--labels naming every one"
                )
            elif isinstance(vote, int):
                reason += ": an LF votes a label by its name, not by its class number"
            failures.append((lf.name, x.id, x.text, reason))
            continue
        try:
            for t, code in _attribute_votes(vote, codes, task).items():
                out[i, t] = code
        except ValueError as error:
            failures.append((lf.name, x.id, x.text, str(error)))
    return failures


def _numbered(vote: int, codes: Mapping[tuple[str, str], tuple[int, int]]) -> str | int | None:
    """A Snorkel-style vote by number: the label it names where the labels are numbers
    (trial 53a: a return of 2 was "not one of ['0', '1', '2', '3']"), None for Snorkel's
    ``ABSTAIN = -1`` unless "-1" is a label; else the number, which is no vote."""
    if ("", str(vote)) in codes:
        return str(vote)
    return None if vote == -1 else vote


def _attribute_votes(
    vote: object, codes: Mapping[tuple[str, str], tuple[int, int]], task: Task
) -> dict[int, int]:
    """The codes per attribute index of what a Python LF returned on a task with
    attributes: a label, a mapping of attribute to label (None: abstain there), or a
    list of ``(attribute, label)`` pairs and labels; ``ValueError`` says what is wrong."""
    if isinstance(vote, Mapping):
        pairs: Iterable[object] = vote.items()
    elif isinstance(vote, str) or not isinstance(vote, Iterable):
        pairs = [vote]
    else:
        pairs = vote
    placed: dict[int, int] = {}
    for pair in pairs:
        attribute, label = ("", pair) if isinstance(pair, str) else _pair(pair, vote)
        if label is None:
            continue
        if (attribute, label) not in codes:
            # Trial 47: `return ("room", "positive")` is iterated as two bare labels.
            pair = (
                isinstance(vote, tuple) and len(vote) == 2 and all(isinstance(v, str) for v in vote)
            )
            hint = f" (one (attribute, label) pair goes in a list: [{vote!r}])" if pair else ""
            raise ValueError(f"{RETURNED}{vote!r}: it {unknown_vote(task, attribute, label)}{hint}")
        t, code = codes[(attribute, label)]
        if placed.get(t, code) != code:
            raise ValueError(f"{RETURNED}{vote!r}: two different votes on {task.targets[t]!r}")
        placed[t] = code
    return placed


def _pair(pair: object, vote: object) -> tuple[str, str | None]:
    if (
        isinstance(pair, tuple)
        and len(pair) == 2
        and isinstance(pair[0], str)
        and (pair[1] is None or isinstance(pair[1], str))
    ):
        return pair
    raise ValueError(
        f"{RETURNED}{vote!r}: expected a label, a mapping of attribute to label, or a list of "
        "(attribute, label) pairs, or None"
    )
