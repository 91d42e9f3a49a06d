"""The cleaned set: the label model's labels, overridden wherever a person decided."""

from __future__ import annotations

import contextlib
import itertools
import json
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb
import polars as pl

from labelkit.errors import InputError, LabelkitWarning, outside_labelkit
from labelkit.review.queue import (
    ANSWERS,
    COPIED_DECISIONS,
    EFFECTIVE_DECISIONS,
    RULED_OUT_LABELS,
    current_spans,
)
from labelkit.task import NONE, YES
from labelkit.workspace import Workspace, registered, require_split, warn_if_out_of_date


def cleaned_labels(
    workspace: Workspace, *, split: str = "train", wide: bool = False, texts: bool = True
) -> pl.DataFrame:
    """One split's training labels: ``id, text, label, origin, confidence``.

    ``origin`` is ``review`` where a reviewer's newest decision set the label (on the
    example, or on a copy of its text: one answer labels every copy) and
    ``label_model`` elsewhere. Examples the label model abstained on, those a reviewer
    marked ambiguous, and those whose label-model label a reviewer ruled out (and nobody
    has labeled since) are left out. Without ``texts``, the ``text`` column is left out
    too: millions of labels are small, their texts are not (``with_texts`` adds them to
    the rows kept).

    A task with attributes has one row per example and attribute, with an
    ``attribute`` column after ``text``; each attribute is decided on its own. With
    ``wide``, it has one row per text instead, ``id, text`` and one column of answers
    per attribute, null where that attribute is left out; a multi-label task's also
    has ``labels`` after ``text``, the labels answered ``yes`` as a list (null where
    an answer is left out), which ``labelkit ingest --label-column labels`` reads back.

    Examples
    --------
    >>> cleaned_labels(ws)["origin"].value_counts()
    >>> cleaned_labels(reviews, wide=True).columns[:5]
    ['id', 'text', 'ambience', 'food', 'menu']
    """
    task = workspace.task
    if task.kind == "spans":
        raise InputError("a spans task's cleaned set is a set of spans per text: use cleaned_spans")
    task.require_attributes("export (cleaned_labels)")
    if wide and task.kind == "classification":
        raise InputError("a wide export has one column per attribute; this task has none")
    workspace.require("predictions", "labelkit aggregate")
    # Trial 53c: split="validation" gave an empty frame, as if nothing were labeled.
    require_split(workspace, split)
    warn_if_out_of_date(workspace)
    frame = workspace.sql(cleaned_query(texts=texts) + " ORDER BY id, attribute", [split])
    if task.kind == "classification":
        return frame.drop("attribute")
    if not wide:
        return frame
    columns = pl.DataFrame(schema={name: pl.String for name in task.targets})
    keys = ["id", "text"] if texts else ["id"]
    spread = frame.pivot(on="attribute", index=keys, values="label")
    wide_frame = pl.concat([columns, spread], how="diagonal_relaxed").select(*keys, *task.targets)
    if task.kind != "multilabel":
        return wide_frame
    if "labels" in task.targets:
        raise InputError(
            "a wide multi-label export adds the column 'labels', and 'labels' is one of this "
            "task's labels: export without --wide (wide=False)"
        )
    # The set of labels too, as ingest reads gold (trial 49a: neither layout read back);
    # null where an answer is left out, as the set is then not known.
    answered = pl.all_horizontal(pl.col(task.targets).is_not_null())
    labels = pl.concat_list(
        pl.when(pl.col(name) == YES).then(pl.lit(name)) for name in task.targets
    ).list.drop_nulls()
    return wide_frame.insert_column(
        len(keys), wide_frame.select(pl.when(answered).then(labels).alias("labels")).to_series()
    )


def cleaned_query(*, texts: bool = True, probabilities: bool = False) -> str:
    """The SQL of ``cleaned_labels`` before it is ordered, with one parameter, the
    split: ``id, [text,] attribute, label, origin, confidence`` (``attribute`` is
    ``''`` for a task without attributes), and with ``probabilities`` the label
    model's probabilities (a reviewed row's too, whatever label the reviewer gave). For work done in DuckDB, such as
    sampling millions of labels, that should not bring them into memory.

    Examples
    --------
    >>> ws.sql(f"SELECT count(*) AS n FROM ({cleaned_query(texts=False)})", ["train"])
    """
    return f"""
        SELECT * FROM (
        SELECT e.id, {"e.text," if texts else ""} p.attribute,
               CASE WHEN d.action IN {ANSWERS} THEN d.label
                    WHEN d.action = 'ambiguous' OR r.label IS NOT NULL THEN NULL
                    ELSE p.label END AS label,
               CASE WHEN d.action IN {ANSWERS} THEN 'review'
                    ELSE 'label_model' END AS origin,
               CASE WHEN d.action IN {ANSWERS} THEN 1.0
                    ELSE p.confidence END AS confidence
               {", p.probabilities" if probabilities else ""}
        FROM examples e
        JOIN predictions p ON p.example_id = e.id
        LEFT JOIN ({COPIED_DECISIONS}) d
            ON d.example_id = e.id AND d.attribute = p.attribute
        LEFT JOIN ({RULED_OUT_LABELS}) r
            ON r.example_id = e.id AND r.attribute = p.attribute AND r.label = p.label
        WHERE e.split = ?
        ) WHERE label IS NOT NULL"""


def with_texts(workspace: Workspace, rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` (with an ``id`` column) with each example's ``text`` after ``id``, in
    their order.

    Examples
    --------
    >>> sample = cleaned_labels(ws, texts=False).head(100)
    >>> with_texts(ws, sample).columns[:2]
    ['id', 'text']
    """
    with registered(workspace.con, "wanted_ids", rows.select("id").unique()):
        texts = workspace.sql(
            "SELECT id, text FROM examples WHERE id IN (SELECT id FROM wanted_ids)"
        )
    joined = rows.join(texts, on="id", how="left", maintain_order="left")
    return joined.select("id", "text", pl.exclude("id", "text"))


def cleaned_spans(workspace: Workspace, split: str = "train") -> pl.DataFrame:
    """A spans task's cleaned set for one split: ``example_id, text, spans``, one row per
    text, ``spans`` a JSON array ``[[start, end, label], ...]`` of character spans sorted
    by start (``[]``: no entity).

    The spans are the label model's (``span_predictions``) with every reviewer's
    effective decision applied; a decision is about one span, its attribute
    ``"<start>:<end>"``. A decision with an entity type T adds the span ``[start,
    end)`` as T and drops every predicted span that overlaps it (a relabel, a boundary
    fix, a missed span); one with ``none`` removes the predicted span with exactly
    those bounds. Decisions win over predictions, and two decided spans that overlap
    are both kept (these are the current spans review shows, ``current_spans``). A text
    with a span a reviewer marked ambiguous is left out.

    Examples
    --------
    >>> cleaned_spans(ws).row(0)
    ('laptops:0', 'the battery life is short', '[[4, 16, "TERM"]]')
    """
    task = workspace.task
    if task.kind != "spans":
        raise InputError(f"cleaned_spans is for a spans task; this one is {task.kind}")
    workspace.require("span_predictions", "labelkit aggregate")
    require_split(workspace, split)
    warn_if_out_of_date(workspace)
    ambiguous = _check_span_decisions(workspace, task.labels)
    # The spans a reviewer sees as current are the cleaned ones: one definition of both.
    with registered(workspace.con, "current", current_spans(workspace)):
        return workspace.sql(
            f"""
            SELECT e.id AS example_id, e.text,
                   -- Written as spans_json writes gold, so that the two compare as text.
                   '[' || coalesce(string_agg(
                       '[' || c.start || ', ' || c."end" || ', ' || to_json(c.label) || ']',
                       ', ' ORDER BY c.start, c."end", c.label), '') || ']' AS spans
            FROM examples e LEFT JOIN current c ON c.example_id = e.id
            WHERE e.split = ? AND e.id NOT IN ({ambiguous})
            GROUP BY e.id, e.text
            ORDER BY e.id
            """,
            [split],
        )


def _check_span_decisions(workspace: Workspace, labels: tuple[str, ...]) -> str:
    """Raise an error naming the first effective decision whose attribute is no span of
    its text or whose label is neither an entity type nor ``none``; return a query of
    the examples with a span marked ambiguous."""
    decisions = workspace.sql(
        f"""SELECT d.decision_id, d.example_id, d.attribute, d.action, d.label,
                   length(e.text) AS length
            FROM ({EFFECTIVE_DECISIONS}) d JOIN examples e ON e.id = d.example_id"""
    )
    bounds = pl.col("attribute").str.extract_groups(r"^(\d+):(\d+)$")
    decisions = decisions.with_columns(
        bounds.struct.field("1").cast(pl.Int64).alias("start"),
        bounds.struct.field("2").cast(pl.Int64).alias("end"),
    )
    off = decisions.filter(
        pl.col("start").is_null()
        | (pl.col("start") >= pl.col("end"))
        | (pl.col("end") > pl.col("length"))
    )
    if off.height:
        row = off.row(0, named=True)
        raise InputError(
            f"decision {row['decision_id']} on example {row['example_id']!r}: attribute "
            f"{row['attribute']!r} is no span '<start>:<end>' of its {row['length']}-character "
            "text"
        )
    answered = pl.col("action").is_in(ANSWERS)
    wrong = decisions.filter(answered & ~pl.col("label").is_in([*labels, NONE]))
    if wrong.height:
        row = wrong.row(0, named=True)
        raise InputError(
            f"decision {row['decision_id']} on example {row['example_id']!r}, span "
            f"{row['attribute']!r}: label {row['label']!r} is none of the task's entity types "
            f"{list(labels)} or {NONE!r}"
        )
    return f"SELECT example_id FROM ({EFFECTIVE_DECISIONS}) WHERE action = 'ambiguous'"


def export_cleaned(
    workspace: Workspace,
    path: str | Path,
    *,
    split: str = "train",
    wide: bool = False,
    reviewed_only: bool = False,
    fields: bool = False,
    escape_formulas: bool = False,
) -> int:
    """Write the cleaned set to CSV, JSONL or Parquet (by file ending); return the row count.

    ``wide`` writes one row per text and one column per attribute (see ``cleaned_labels``).
    A spans task writes ``id, text, spans`` per text (``cleaned_spans``): in JSONL the
    spans are a JSON array ``[[start, end, label], ...]``, as ``ingest`` reads them back
    (``label_column="spans"``); in CSV and Parquet, that array as JSON text.
    ``reviewed_only`` writes only the labels a reviewer's answer set (``origin``
    ``review``): the human-checked set, e.g. as gold for another project. ``fields``
    adds the other fields each text was ingested with, one column each after the
    cleaned set's own (see ``with_stored_fields``). ``escape_formulas`` writes a CSV's
    cells that a spreadsheet would run as formulas with a leading ``'`` (see
    ``write_frame``).

    Examples
    --------
    >>> export_cleaned(ws, "cleaned.jsonl")
    1110
    >>> export_cleaned(ws, "reviewed.csv", reviewed_only=True)
    50
    >>> export_cleaned(ws, "tickets.parquet", fields=True)
    1110
    """
    path = export_path(path)
    _refuse_an_input(workspace, path)
    # Trial 44: `--split nope` wrote an empty file and "0 cleaned examples written".
    require_split(workspace, split)
    if reviewed_only and (wide or workspace.task.kind == "spans"):
        raise InputError(
            "reviewed_only (--reviewed-only) writes one row per reviewed answer: not with "
            "wide (--wide), nor on a spans task, whose texts mix reviewed and unreviewed spans"
        )
    if workspace.task.kind == "spans":
        if wide:
            raise InputError("a wide export has one column per attribute; a spans task has none")
        frame = cleaned_spans(workspace, split=split).rename({"example_id": "id"})
    else:
        frame = cleaned_labels(workspace, split=split, wide=wide)
    if reviewed_only:
        frame = frame.filter(pl.col("origin") == "review")
    if fields:
        frame = with_stored_fields(workspace, frame)
    write_frame(frame, path, escape_formulas=escape_formulas)
    return frame.height


def with_stored_fields(workspace: Workspace, rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` (with an ``id`` column) with the other fields their texts were ingested
    with, one column per field, in their order: the fields of a CSV as the text they
    were, a JSONL's and a Parquet's with their types; a field holding numbers in some
    rows and text in others as text. A field named like one of ``rows``' columns (or
    like another field, or with no name) comes as ``field_`` and its name, numbered if
    that is taken too (trial 58f: a ticket's ``priority`` beside the queue's).

    Examples
    --------
    >>> with_stored_fields(ws, cleaned_labels(ws)).columns
    ['id', 'text', 'label', 'origin', 'confidence', 'priority', 'refund_amount']
    """
    with registered(workspace.con, "wanted_ids", rows.select("id").unique()):
        stored = workspace.sql(
            "SELECT id, meta::VARCHAR AS meta FROM examples "
            "WHERE meta IS NOT NULL AND id IN (SELECT id FROM wanted_ids)"
        )
    if stored.height == 0:
        return rows
    # polars, not DuckDB: DuckDB's structs take "Score" and "score" for one name, and
    # refuse a field without one (the second read).
    fields = stored["meta"].str.json_decode(infer_schema_length=None)
    if not isinstance(fields.dtype, pl.Struct):
        return rows
    taken = set(rows.columns)
    names = []
    for name in (field.name for field in fields.dtype.fields):
        shown = name if name and name not in taken else f"field_{name}".rstrip("_")
        numbered = shown
        for n in itertools.count(2):
            if numbered not in taken:
                break
            numbered = f"{shown}_{n}"
        taken.add(numbered)
        names.append(numbered)
    values = fields.struct.rename_fields(names).struct.unnest()
    # Parquet holds no 128-bit integers (a JSON number past 2^63): as their text.
    values = values.with_columns(pl.col(pl.Int128, pl.UInt128).cast(pl.String))
    joined = stored.select("id").hstack(values)
    return rows.join(joined, on="id", how="left", maintain_order="left")


EXPORT_FORMATS = (".csv", ".jsonl", ".parquet")


def _refuse_an_input(workspace: Workspace, path: Path) -> None:
    """Refuse to write over a file the workspace ingested (trial 51c: `export ws
    data.csv` replaced the 300 raw rows of data.csv with 239 cleaned ones). Workspaces
    ingested before their paths were kept are not checked."""
    if not path.exists():
        return
    configs = workspace.sql("SELECT config FROM runs WHERE step = 'ingest'")["config"]
    ingested = {read for config in configs for read in json.loads(config).get("paths", [])}
    if str(path.resolve()) in ingested:
        raise InputError(
            f"{path} is a file this workspace ingested: export to another file, or the "
            "data it came from is gone"
        )


def export_path(path: str | Path) -> Path:
    """``path`` as a Path, refused unless it ends in one of ``EXPORT_FORMATS``: checked
    before the work whose result goes there."""
    path = Path(path)
    if path.suffix not in EXPORT_FORMATS:
        raise InputError(
            f"{path}: cannot export to {path.suffix!r}; use one of {list(EXPORT_FORMATS)}"
        )
    return path


def csv_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every nested column as JSON text, for CSV, which holds none: a
    list of labels as ``["billing", "login"]``, which ``labelkit ingest`` reads back as a
    set of labels (trial 49a: joined by ``|`` it was refused; trial 45: a list column
    ended ``predict`` in polars' "CSV format does not support nested data").

    Examples
    --------
    >>> csv_ready(pl.DataFrame({"labels": [["billing", "login"]]})).row(0)
    ('["billing", "login"]',)
    """
    flat = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Struct):
            flat.append(pl.col(name).struct.json_encode())
        elif dtype.is_nested():
            # Dates and decimals as their text, as CSV writes them elsewhere.
            encoded = [
                None if v is None else json.dumps(v, ensure_ascii=False, default=str)
                for v in frame[name].to_list()
            ]
            flat.append(pl.Series(name, encoded, pl.String))
    return frame.with_columns(flat) if flat else frame


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP's list).
_FORMULA_START = r"^[=+\-@\t\r]"


def escaped_formulas(frame: pl.DataFrame, kept: Sequence[str] = ()) -> tuple[pl.DataFrame, int]:
    """``frame`` with every text cell that a spreadsheet would run as a formula (one
    starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) prefixed with
    ``'``, which spreadsheets show as text and do not print, but in the columns ``kept``
    (a text its spans' offsets count in), and the count of such cells, kept ones too.

    Examples
    --------
    >>> escaped_formulas(pl.DataFrame({"text": ["=HYPERLINK(1)", "fine"]}))[0].row(0)
    ("'=HYPERLINK(1)",)
    """
    # Categories as their text: a label column may be one (the second read).
    frame = frame.with_columns(pl.col(pl.Categorical, pl.Enum).cast(pl.String))
    texts = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    if not texts:
        return frame, 0
    risky = frame.select(pl.col(texts).str.contains(_FORMULA_START).fill_null(False))
    n = int(risky.select(pl.sum_horizontal(pl.all().cast(pl.Int64))).sum().item() or 0)
    escaping = [name for name in texts if name not in kept]
    if n == 0 or not escaping:
        return frame, n
    return frame.with_columns(
        pl.when(risky[name]).then(pl.lit("'") + pl.col(name)).otherwise(pl.col(name)).alias(name)
        for name in escaping
    ), n


def write_frame(frame: pl.DataFrame, path: str | Path, *, escape_formulas: bool = False) -> None:
    """Write ``frame`` to CSV, JSONL or Parquet by the file's ending, its folder made if
    need be; a ``spans`` column of JSON text goes into JSONL as JSON arrays. The file is
    written beside the target and moved into place, so a failed write leaves the file
    as it was (trial 58b: a full disk left half a JSONL file behind).

    A CSV keeps every text as it is, so that ``ingest`` reads back what was written,
    and warns of the cells a spreadsheet would run as formulas; ``escape_formulas``
    writes them with a leading ``'`` instead (see ``escaped_formulas``), for a file
    meant for a spreadsheet.

    Examples
    --------
    >>> write_frame(ReviewQueue(ws).pending(), "queue.parquet")
    >>> write_frame(cleaned_labels(ws), "for-excel.csv", escape_formulas=True)
    """
    path = export_path(path)
    if escape_formulas and path.suffix != ".csv":
        raise InputError(
            f"{path}: escaping formulas is for a CSV that a spreadsheet opens; "
            f"a {path.suffix} file keeps its texts as they are"
        )
    if path.suffix == ".csv":
        frame = csv_ready(frame)
        # Spans count their offsets in the text: it stays exact (the second read: an
        # escaped text moved every span a character).
        exact = ("text",) if {"spans", "start"} & set(frame.columns) else ()
        escaped, formulas = escaped_formulas(frame, exact)
        if escape_formulas:
            frame = escaped
        if formulas and (not escape_formulas or exact):
            # Trial 61d: a message starting with `=` went out as it was, and a
            # spreadsheet opening the export would run it.
            fix = (
                "its texts stay exact, since spans count their offsets in them: open it as text"
                if exact and escape_formulas
                else "open it as text, or escape them (--escape-formulas; ingest then reads "
                "them with the ')"
            )
            warnings.warn(
                f"{formulas:,} {'cell' if formulas == 1 else 'cells'} of {path} "
                f"{'starts' if formulas == 1 else 'start'} with =, +, -, @, a tab or a "
                f"carriage return, which a spreadsheet runs as a formula: {fix}",
                LabelkitWarning,
                stacklevel=outside_labelkit(),
            )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with written_whole(path) as partial:
            if path.suffix == ".jsonl" and "spans" in frame.columns:
                write_spans_jsonl(frame, partial)
            else:
                {
                    ".csv": frame.write_csv,
                    ".jsonl": frame.write_ndjson,
                    ".parquet": frame.write_parquet,
                }[path.suffix](partial)
    except (OSError, duckdb.IOException, pl.exceptions.PolarsError) as error:
        # Trial 51c: a read-only folder ended in polars' traceback.
        raise InputError(
            f"cannot write {path}: {getattr(error, 'strerror', None) or error}; nothing was written"
        ) from None


@contextlib.contextmanager
def written_whole(path: Path) -> Iterator[Path]:
    """The file to write in place of ``path``: beside it, moved into place when the block
    ends without an error, and removed otherwise, so that a failed write leaves ``path``
    as it was (trials 49c and 58b: a full disk left half a file behind).

    Examples
    --------
    >>> with written_whole(Path("labeled.csv")) as partial:
    ...     frame.write_csv(partial)
    """
    partial = path.with_name(f".{path.name}.partial")
    try:
        yield partial
        partial.replace(path)
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)


def write_spans_jsonl(frame: pl.DataFrame, path: str | Path) -> None:
    """Write ``frame`` as JSON lines with its ``spans`` column (JSON text, as
    ``spans_json`` writes it) as the JSON arrays themselves, not as strings.

    Examples
    --------
    >>> write_spans_jsonl(pl.DataFrame({"text": ["big screen"], "spans": ['[[4, 10, "TERM"]]']}),
    ...                   "spans.jsonl")  # {"text":"big screen","spans":[[4,10,"TERM"]]}
    """
    con = duckdb.connect()
    try:
        with registered(con, "framed", frame):
            columns = ", ".join(
                f'"{name}"::JSON AS "{name}"' if name == "spans" else f'"{name}"'
                for name in (column.replace('"', '""') for column in frame.columns)
            )
            con.execute(f"COPY (SELECT {columns} FROM framed) TO ? (FORMAT JSON)", [str(path)])
    finally:
        con.close()
