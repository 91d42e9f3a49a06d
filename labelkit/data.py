"""Loading CSV, TSV, JSONL, Parquet and WRENCH JSON files into the workspace's examples."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from labelkit.errors import InputError
from labelkit.task import Task
from labelkit.workspace import Workspace, first_row, registered

SPLITS = ("train", "dev", "test")
_SPLIT_ALIASES = {"valid": "dev", "validation": "dev", "val": "dev"}
_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".json": "wrench",
}


def bundled_dataset(name: str = "youtube-spam") -> Path:
    """The folder of a data set shipped inside the package.

    Examples
    --------
    >>> sorted(p.name for p in bundled_dataset("youtube-spam").glob("*.csv"))[0]
    'Youtube01-Psy.csv'
    """
    path = Path(__file__).parent / "datasets" / name
    if not path.is_dir():
        raise InputError(f"no bundled data set named {name!r}")
    return path


def read_examples(
    path: str | Path,
    *,
    text_column: str = "text",
    id_column: str | None = None,
    label_column: str | None = None,
    split_column: str | None = None,
    label_map: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """Read one file into a frame with columns ``id, text, gold, split, meta, file, row``.

    The format follows the file ending: ``.csv``, ``.tsv``, ``.jsonl``/``.ndjson``,
    ``.parquet``, or ``.json`` for WRENCH (an object of ``{"data": {"text": ...},
    "label": int}`` records, with ``label.json`` beside it naming the labels, the
    file name giving the split and ids ``<split file>:<key>``). Without ``id_column``
    the id is ``<file stem>:<row>``;
    ``split`` is null unless the file says it; other columns go into ``meta`` as JSON;
    ``file`` and ``row`` (1-based, header excluded) locate each row for error messages.

    Examples
    --------
    >>> read_examples("comments.csv", text_column="CONTENT", label_column="CLASS",
    ...               label_map={"0": "ham", "1": "spam"})
    """
    path = Path(path)
    raw = read_table(path)
    if raw.height == 0:
        raise InputError(f"{path}: the file has no rows")
    if table_format(path) == "wrench":
        text_column, id_column, label_column, split_column = "text", "id", "label", "split"
    for role, column in (
        ("text", text_column),
        ("id", id_column),
        ("label", label_column),
        ("split", split_column),
    ):
        if column is not None and column not in raw.columns:
            raise InputError(f"{path}: no {role} column {column!r}; the columns are {raw.columns}")
    if raw.schema[text_column] != pl.String:
        raise InputError(f"{path}: text column {text_column!r} holds {raw.schema[text_column]}")
    empty = raw.with_row_index("row").filter(
        pl.col(text_column).is_null() | (pl.col(text_column).str.strip_chars() == "")
    )
    if empty.height:
        raise InputError(
            f"{path}: column {text_column!r} is empty in row {empty['row'][0] + 1} "
            f"({empty.height} empty rows in all)"
        )

    row_number = pl.int_range(1, pl.len() + 1).cast(pl.String)
    ids = pl.col(id_column).cast(pl.String) if id_column else pl.lit(f"{path.stem}:") + row_number
    gold = pl.col(label_column).cast(pl.String) if label_column else pl.lit(None, pl.String)
    if label_map:
        gold = gold.replace(dict(label_map))
    split = (
        pl.col(split_column).cast(pl.String).str.to_lowercase().replace(_SPLIT_ALIASES)
        if split_column
        else pl.lit(None, pl.String)
    )
    used = {c for c in (text_column, id_column, label_column, split_column) if c}
    rest = [c for c in raw.columns if c not in used]
    meta = pl.struct(rest).struct.json_encode() if rest else pl.lit(None, pl.String)
    frame = raw.select(
        ids.alias("id"),
        pl.col(text_column).alias("text"),
        gold.alias("gold"),
        split.alias("split"),
        meta.alias("meta"),
    )
    no_id = frame.with_row_index("row").filter(pl.col("id").is_null())
    if no_id.height:
        raise InputError(f"{path}: column {id_column!r} is empty in row {no_id['row'][0] + 1}")
    bad_split = frame.with_row_index("row").filter(
        pl.col("split").is_not_null() & ~pl.col("split").is_in(SPLITS)
    )
    if bad_split.height:
        raise InputError(
            f"{path}: row {bad_split['row'][0] + 1}, column {split_column!r}: unknown split "
            f"{bad_split['split'][0]!r}; use one of {list(SPLITS)} (or valid/validation)"
        )
    return frame.with_columns(
        pl.lit(str(path)).alias("file"), pl.int_range(1, pl.len() + 1).alias("row")
    )


def ingest(
    workspace: Workspace,
    paths: str | Path | Sequence[str | Path],
    *,
    text_column: str = "text",
    id_column: str | None = None,
    label_column: str | None = None,
    split_column: str | None = None,
    label_map: Mapping[str, str] | None = None,
    labels: Sequence[str] | None = None,
    dev_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> int:
    """Add the examples of one or more files to the workspace; return how many were new.

    The label set comes from ``labels``, else from the workspace (set by an earlier
    ingest), else from the distinct gold labels. Examples without a split get one
    from a stable hash of their text, so copies of one text always share a split and
    cannot leak from train into test. Re-ingesting identical rows is a no-op; an id
    seen before with another text is an error. All files land in one transaction.

    Examples
    --------
    >>> with Workspace("spam.duckdb") as ws:
    ...     ingest(ws, "comments.csv", text_column="CONTENT", id_column="COMMENT_ID",
    ...            label_column="CLASS", label_map={"0": "ham", "1": "spam"})
    1953
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        raise InputError("no input files given")
    if dev_fraction < 0 or test_fraction < 0 or dev_fraction + test_fraction >= 1:
        raise InputError("dev_fraction and test_fraction must be >= 0 and sum to less than 1")
    frames = []
    for path in paths:
        path = Path(path)
        file_labels = _wrench_label_map(path) if table_format(path) == "wrench" else None
        frames.append(
            read_examples(
                path,
                text_column=text_column,
                id_column=id_column,
                label_column=label_column,
                split_column=split_column,
                label_map=file_labels or label_map,
            )
        )
    incoming = pl.concat(frames).unique(subset=["id", "text", "gold", "split"], keep="first")
    clash = incoming.filter(pl.col("id").is_duplicated()).sort("id", "file", "row")
    if clash.height:
        first, second = clash.row(0, named=True), clash.row(1, named=True)
        raise InputError(
            f"id {first['id']!r} appears twice with different content: "
            f"{first['file']} row {first['row']} and {second['file']} row {second['row']}"
        )

    task = _resolve_task(workspace, incoming, labels)
    unknown = incoming.filter(pl.col("gold").is_not_null() & ~pl.col("gold").is_in(task.labels))
    if unknown.height:
        bad = unknown.row(0, named=True)
        raise InputError(
            f"{bad['file']} row {bad['row']}, column {label_column!r}: unknown label "
            f"{bad['gold']!r}; the task's labels are {list(task.labels)} "
            "(map raw values with label_map / --label-map)"
        )

    with workspace.run("ingest", {"files": [str(p) for p in paths], "seed": seed}) as run:
        con = run.con
        if not workspace.has_task():
            con.execute("INSERT INTO meta VALUES ('task', ?)", [task.to_json()])
        with registered(con, "incoming", incoming):
            changed = first_row(
                con,
                """SELECT i.id, i.file, i.row FROM incoming i JOIN examples e USING (id)
                   WHERE i.text <> e.text LIMIT 1""",
            )
            if changed:
                raise InputError(
                    f"{changed[1]} row {changed[2]}: id {changed[0]!r} is already in the workspace "
                    "with another text; give it a new id"
                )
            # md5 is stable across DuckDB versions and platforms, unlike hash().
            new = first_row(
                con,
                """
                INSERT INTO examples
                SELECT id, text, gold,
                       coalesce(split, CASE
                           WHEN md5_number(? || ':' || text) % 10000 < ? THEN 'test'
                           WHEN md5_number(? || ':' || text) % 10000 < ? THEN 'dev'
                           ELSE 'train' END),
                       meta, ?
                FROM incoming WHERE id NOT IN (SELECT id FROM examples)
                ORDER BY file, row
                """,
                [
                    str(seed),
                    round(test_fraction * 10000),
                    str(seed),
                    round((test_fraction + dev_fraction) * 10000),
                    run.id,
                ],
            )
    return int(new[0]) if new else 0


def _resolve_task(
    workspace: Workspace, incoming: pl.DataFrame, labels: Sequence[str] | None
) -> Task:
    if workspace.has_task():
        task = workspace.task
        if labels is not None and tuple(labels) != task.labels:
            raise InputError(f"the workspace's labels are {list(task.labels)}, not {list(labels)}")
        return task
    if labels is not None:
        return Task(labels=tuple(labels))
    seen = incoming["gold"].drop_nulls().unique().sort().to_list()
    if not seen:
        raise InputError("no label set: pass labels (--labels) or a label column with gold labels")
    return Task(labels=tuple(seen))


def table_format(path: Path, file_format: str | None = None) -> str:
    """The format of a table file: ``file_format`` when given (and known), else its suffix's."""
    if file_format is not None:
        if file_format not in _FORMATS.values():
            raise InputError(
                f"{path}: unknown format {file_format!r}; use one of "
                f"{sorted(set(_FORMATS.values()))}"
            )
        return file_format
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        raise InputError(f"{path}: unknown file type {suffix!r}; use one of {sorted(_FORMATS)}")
    return _FORMATS[suffix]


def read_table(
    path: Path, *, has_header: bool = True, file_format: str | None = None
) -> pl.DataFrame:
    """The rows of a CSV, TSV, JSONL, Parquet or WRENCH JSON file, all CSV/TSV cells as
    strings; ``has_header=False`` (CSV/TSV) names the columns ``column_1``, ``column_2``...

    The format comes from the file's suffix unless ``file_format`` names it (``"csv"``,
    ``"tsv"``, ``"jsonl"``, ``"parquet"``, ``"wrench"``). Errors name the file (and the
    line, for JSONL).

    Examples
    --------
    >>> read_table(Path("answers.tsv"), has_header=False).columns
    ['column_1', 'column_2', 'column_3']
    """
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    kind = table_format(path, file_format)
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty")
    try:
        if kind in ("csv", "tsv"):
            return pl.read_csv(
                path,
                separator="\t" if kind == "tsv" else ",",
                has_header=has_header,
                infer_schema=False,
                quote_char=None if kind == "tsv" else '"',
            )
        if kind == "parquet":
            return pl.read_parquet(path)
        if kind == "jsonl":
            return _read_jsonl(path)
        return _read_wrench(path)
    except InputError:
        raise
    except (pl.exceptions.PolarsError, OSError, ValueError) as error:
        raise InputError(f"{path}: cannot read as {kind}: {error}") from error


def _read_jsonl(path: Path) -> pl.DataFrame:
    records = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise InputError(f"{path} line {number}: malformed JSON: {error.msg}") from None
            if not isinstance(record, dict):
                raise InputError(f"{path} line {number}: expected a JSON object per line")
            records.append(record)
    return pl.DataFrame(records, infer_schema_length=None)


def _read_wrench(path: Path) -> pl.DataFrame:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: malformed JSON at line {error.lineno}: {error.msg}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a WRENCH object of id -> record")
    split = (
        _SPLIT_ALIASES.get(path.stem, path.stem)
        if path.stem in (*SPLITS, *_SPLIT_ALIASES)
        else None
    )
    rows = []
    for key, record in data.items():
        try:
            rows.append(
                {
                    "id": f"{path.stem}:{key}",
                    "text": record["data"]["text"],
                    "label": record.get("label"),
                }
            )
        except (KeyError, TypeError):
            raise InputError(f"{path}: record {key!r} has no data.text") from None
    return pl.DataFrame(
        rows, schema={"id": pl.String, "text": pl.String, "label": pl.Int64}
    ).with_columns(pl.lit(split, pl.String).alias("split"))


def _wrench_label_map(path: Path) -> dict[str, str] | None:
    names = path.with_name("label.json")
    if not names.is_file():
        return None
    return {str(code): name.lower() for code, name in json.loads(names.read_text()).items()}
