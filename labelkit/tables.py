"""Reading table files: CSV, TSV, JSONL, Parquet, WRENCH JSON and aspect-category XML,
whole (``read_table``) or a batch of ``BATCH_ROWS`` rows at a time (``open_table``, which
``labelkit.data.ingest`` reads through so that no file is held whole)."""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import polars as pl

from labelkit.errors import InputError, LabelkitWarning, outside_labelkit
from labelkit.spans import is_wrench_spans, wrench_spans_of

SPLITS = ("train", "dev", "test")
SPLIT_ALIASES = {"valid": "dev", "validation": "dev", "val": "dev"}
_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".json": "wrench",
    ".xml": "aspects-xml",
}
# Every format a file may be read as: a `.json` file holding an array of records is
# "json", one holding WRENCH's object of id -> record "wrench".
_KINDS = {*_FORMATS.values(), "json"}
# Rows read, checked and staged at a time: ingest holds one such batch of a file (and
# DuckDB checks the rows across batches), whatever the file's size.
BATCH_ROWS = 200_000
BOM = "\ufeff"


def is_frame(source: object) -> bool:
    kind = type(source)
    return isinstance(source, (pl.DataFrame, pl.LazyFrame)) or (
        kind.__module__.startswith("pandas") and kind.__name__ == "DataFrame"
    )


def as_frame(source: object) -> pl.DataFrame | None:
    """``source`` as a polars frame if it is a polars DataFrame or LazyFrame (collected)
    or a pandas DataFrame (a named index kept as its columns), else None."""
    if not is_frame(source):
        return None
    if isinstance(source, pl.LazyFrame):
        return source.collect()
    if isinstance(source, pl.DataFrame):
        return source
    # Trial 45: predict_frame(frame.set_index("id")) gave the rows back without their ids.
    # An unnamed index (0, 1, 2... or what a slice left) is only the rows' positions.
    # Imported here: polars reads a pandas frame through it, and nothing else needs it.
    import pyarrow as pa

    named = any(name is not None for name in source.index.names)
    try:
        return pl.from_pandas(source, include_index=named)
    except (pa.ArrowTypeError, pa.ArrowInvalid, TypeError) as error:
        # Trial 53b: a column of texts and numbers failed as "Expected bytes, got a 'int'
        # object", naming no column.
        mixed = next(
            (
                name
                for name in source.columns
                if source[name].dtype == object
                and len({type(value) for value in source[name].dropna()}) > 1
            ),
            None,
        )
        where = f"column {mixed!r} of the pandas frame mixes types" if mixed else "the frame"
        raise InputError(
            f"{where}: {error}; make it one type (in pandas, "
            f"frame[{mixed or 'column'!r}].astype(str) where every value is text)"
        ) from None


# Workbooks, which are zip or binary files and no table labelkit reads.
_SPREADSHEETS = (".xlsx", ".xlsm", ".xls", ".ods", ".numbers")


def table_format(path: Path, file_format: str | None = None) -> str:
    """The format of a table file: ``file_format`` when given (and known), else its suffix's."""
    if file_format is not None:
        if file_format not in _KINDS:
            raise InputError(f"{path}: unknown format {file_format!r}; use one of {sorted(_KINDS)}")
        return file_format
    suffix = path.suffix.lower()
    if suffix in _SPREADSHEETS:
        # Trial 59c: the advice to give --format led to a decoding error on the zip.
        raise InputError(
            f"{path}: a spreadsheet workbook ({suffix}), which labelkit does not read: save "
            'the sheet from the spreadsheet as "CSV UTF-8" and give that file'
        )
    if suffix not in _FORMATS:
        raise InputError(
            f"{path}: unknown file type {suffix!r}; use one of {sorted(_FORMATS)}, or give "
            f"the format (--format / file_format: {', '.join(sorted(set(_FORMATS.values())))})"
        )
    kind = _FORMATS[suffix]
    if kind == "wrench" and _first_character(path) == "[":
        # A JSON array of records (pandas' orient="records"), not WRENCH's object of
        # id -> record: read as JSONL's records are (trial 47 was refused it).
        return "json"
    return kind


def _first_character(path: Path) -> str:
    """The first character of a text file other than whitespace and a byte-order mark,
    "" where there is none (or no file)."""
    try:
        with path.open("rb") as file:
            head = file.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return ""
    return chr(head[0]) if head else ""


def read_table(
    path: Path,
    *,
    has_header: bool = True,
    file_format: str | None = None,
    encoding: str = "utf-8",
    text_column: str | None = None,
) -> pl.DataFrame:
    """The rows of a CSV, TSV, JSONL, Parquet or JSON file (an array of records, or
    WRENCH's object of id -> record), all CSV/TSV cells as strings; ``has_header=False``
    (CSV/TSV) names the columns ``column_1``, ``column_2``...

    The format comes from the file's suffix (a ``.json`` file's from its first
    character) unless ``file_format`` names it (``"csv"``, ``"tsv"``, ``"jsonl"``,
    ``"parquet"``, ``"json"``, ``"wrench"``). Text files are decoded as
    ``encoding`` (any Python codec, e.g. ``"cp1252"``). In JSONL, a ``text_column``
    value that is not a string is refused rather than turned into one. Errors name the
    file (and the line, for bad bytes and JSONL).

    Examples
    --------
    >>> read_table(Path("answers.tsv"), has_header=False).columns
    ['column_1', 'column_2', 'column_3']
    """
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    kind = table_format(path, file_format)
    _check_file(path, encoding)
    try:
        if kind in ("csv", "tsv"):
            if has_header:
                _refuse_cut_short(path, kind, encoding)
                _warn_short_rows(path, kind, encoding)
            return _read_csv(path, kind, has_header, encoding)
        if kind == "parquet":
            return pl.read_parquet(path)
        if kind == "jsonl":
            return _read_jsonl(path, encoding, text_column)
        if kind == "aspects-xml":
            return _read_aspects_xml(path)
        if kind == "json":
            return _read_records(path, encoding, text_column)
        return _read_wrench(path, encoding)
    except InputError:
        raise
    except (pl.exceptions.PolarsError, OSError, ValueError) as error:
        if kind in ("csv", "tsv") and isinstance(error, pl.exceptions.ComputeError):
            _refuse_bad_rows(path, kind, encoding)
        raise InputError(f"{path}: cannot read as {kind}: {error}") from error


@dataclass(frozen=True)
class Table:
    """A table read a batch at a time: its columns' names and types, and its batches of
    ``BATCH_ROWS`` rows (of the columns named, else all) in file order."""

    schema: pl.Schema
    batches: Callable[[Sequence[str] | None], Iterator[pl.DataFrame]]


def whole_table(frame: pl.DataFrame) -> Table:
    """A frame already in memory, handed on in slices (which copy nothing)."""

    def batches(columns: Sequence[str] | None) -> Iterator[pl.DataFrame]:
        chosen = frame if columns is None else frame.select(columns)
        for start in range(0, chosen.height, BATCH_ROWS):
            yield chosen.slice(start, BATCH_ROWS)

    return Table(frame.schema, batches)


def open_table(
    path: Path, kind: str, encoding: str, text_column: str | None, stack: contextlib.ExitStack
) -> Table:
    """The file as a ``Table``: Parquet, UTF-8 CSV/TSV and JSONL are read a batch at a
    time; JSON (records or WRENCH's), aspect XML and CSV/TSV in another encoding are
    read whole by ``read_table``, being small by nature (or, for other encodings,
    decoded whole)."""
    if kind not in ("parquet", "jsonl") and not (kind in ("csv", "tsv") and _is_utf8(encoding)):
        return whole_table(
            read_table(path, file_format=kind, encoding=encoding, text_column=text_column)
        )
    _check_file(path, encoding)
    if kind == "jsonl":
        return _jsonl_table(path, encoding, text_column, stack)
    if kind != "parquet":
        _refuse_cut_short(path, kind, encoding)
        _warn_short_rows(path, kind, encoding)
    lazy = (
        pl.scan_parquet(path)
        if kind == "parquet"
        else pl.scan_csv(path, **_csv_options(kind, True, _separator(path, kind, True, encoding)))
    )

    def batches(columns: Sequence[str] | None) -> Iterator[pl.DataFrame]:
        chosen = lazy if columns is None else lazy.select(columns)
        with _read_errors(path, kind, encoding):
            yield from chosen.collect_batches(chunk_size=BATCH_ROWS)

    with _read_errors(path, kind, encoding):
        return Table(lazy.collect_schema(), batches)


@contextmanager
def _read_errors(path: Path, kind: str, encoding: str) -> Iterator[None]:
    """A file that cannot be read as ``kind`` is an error naming it (and, for a CSV or
    TSV with a byte its encoding lacks, the line)."""
    try:
        yield
    except (pl.exceptions.PolarsError, OSError, ValueError) as error:
        if kind in ("csv", "tsv") and isinstance(error, pl.exceptions.ComputeError):
            with path.open("rb") as lines:
                for number, line in enumerate(lines, start=1):
                    _decode(line, path, encoding, number)
            _refuse_bad_rows(path, kind, encoding)
        raise InputError(f"{path}: cannot read as {kind}: {error}") from error


# The end of a CSV or TSV read for its last line.
_TAIL_BYTES = 1 << 16


def _refuse_cut_short(path: Path, kind: str, encoding: str) -> None:
    """Refuse a CSV or TSV whose last line has no line end and fewer fields than its
    header: a file cut short mid-row (trial 58b: ``t12518,Pasta a`` of a copy stopped
    half-way became a text, its label missing, without a word)."""
    size = path.stat().st_size
    with path.open("rb") as file:
        header = file.readline()
        file.seek(max(size - _TAIL_BYTES, 0))
        tail = file.read()
    last = tail.rsplit(b"\n", 1)[-1]
    whole_line = b"\n" in tail or size <= _TAIL_BYTES
    wide = codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))
    # Not judged: a line longer than the tail read, one ending a line (a CR), a quote
    # that may close a field begun lines before, only spaces.
    if not whole_line or last.endswith(b"\r") or b'"' in last or not last.strip() or wide:
        return
    separator = _separator(path, kind, True, encoding)
    try:
        fields = [
            next(csv.reader([line.decode(encoding, errors="replace")], delimiter=separator), [])
            for line in (header.rstrip(b"\r\n"), last)
        ]
    except csv.Error:
        return  # read by polars, which says what is wrong with it
    if len(fields[1]) < len(fields[0]):
        raise InputError(
            f"{path}: its last line has {len(fields[1])} of the header's {len(fields[0])} "
            f"fields and no line end ({last[:60].decode(encoding, errors='replace')!r}): the "
            "file looks cut short (a copy or download stopped?); complete it, or end the "
            "line if the row is whole"
        )


def _warn_short_rows(path: Path, kind: str, encoding: str) -> None:
    """Warn of CSV or TSV rows with fewer fields than the header's named columns, with
    the first one's line. Polars reads their missing fields as empty: right where a
    writer left out the separators of empty last cells (Excel does), wrong where a line
    break in an unquoted field split one row in two, the second's id a piece of the text
    and its text the next column's value (trial 68b: stored without a word). Which of
    the two it is the file cannot say, so it is a warning (an error under
    ``LABELKIT_STRICT``). Rows of blank cells are left to the reader, which skips them."""
    separator = _separator(path, kind, True, encoding)
    quoting = csv.QUOTE_NONE if kind == "tsv" else csv.QUOTE_MINIMAL
    # A byte-order mark is no part of the header's first name (a quoted one included).
    opened = "utf-8-sig" if _is_utf8(encoding) else encoding
    # A text may be longer than the csv module's default limit on a field (128 KiB).
    limit = csv.field_size_limit(1 << 30)
    short, first = 0, None
    try:
        with path.open(newline="", encoding=opened, errors="replace") as file:
            rows = csv.reader(file, delimiter=separator, quoting=quoting)
            header = next((row for row in rows if row), [])
            # Excel writes unnamed empty columns at the end, and some rows without them.
            while header and _blank(header[-1]):
                header.pop()
            named = len(header)
            start = rows.line_num + 1
            for row in rows:
                if len(row) < named and not all(_blank(field) for field in row):
                    short += 1
                    first = first or (start, len(row), separator.join(row))
                start = rows.line_num + 1
    except csv.Error:
        return  # polars reads it, or says what is wrong with it
    finally:
        csv.field_size_limit(limit)
    if first is None:
        return
    line, fields, shown = first
    split = (
        "a TSV is read without quotes, so write such a file as CSV"
        if kind == "tsv"
        else "put that field in quotes"
    )
    warnings.warn(
        f"{path}: {short:,} row{'s' if short > 1 else ''} with fewer fields than the "
        f"header's {named}, read with the missing fields empty (the first: line {line}, "
        f"{fields} fields, {shown[:60]!r}{'...' if len(shown) > 60 else ''}); where a line "
        f"break inside a field split a row in two, {split}; where the rows are whole, "
        f"write the separators ({_SEPARATOR_NAMES[separator]}) of their empty cells",
        LabelkitWarning,
        stacklevel=outside_labelkit(),
    )


def _blank(field: str) -> bool:
    return not field.strip()


def _refuse_bad_rows(path: Path, kind: str, encoding: str) -> None:
    """Name the line of a CSV or TSV row whose quotes do not close where they should, or
    whose fields outnumber the header's: polars says only that a field "is not properly
    escaped" or that there are "more fields than defined in 'Schema'", and suggests
    settings the CLI does not have (trials 45, 47). Called once polars has failed."""
    separator = _separator(path, kind, True, encoding)
    with path.open(newline="", encoding=encoding, errors="replace") as file:
        rows = csv.reader(file, delimiter=separator, strict=True)
        start, header = 1, None
        try:
            for row in rows:
                # A blank line is skipped, as polars skips it, before the header too.
                if row and header is None:
                    header = row
                elif row and header is not None and len(row) > len(header):
                    _refuse_ragged(path, kind, header, row, start, separator)
                start = rows.line_num + 1
        except csv.Error as error:
            # Python's reader fails on other things too (a field over its size limit);
            # only a quote out of place is named here.
            if "expected after" not in str(error) and "end of data" not in str(error):
                return
            raise InputError(
                f"{path} line {start}: the row's quotes do not close ({error}): a field in "
                "quotes ends with its quote, then the separator or the line's end, and a "
                'quote inside it is written twice ("")'
            ) from None


def _refuse_ragged(
    path: Path, kind: str, header: list[str], row: list[str], line: int, separator: str
) -> None:
    """The error for ``row``, at ``line``, with more fields than ``header``."""
    if kind == "csv" and len(header) == 1 and "\t" in header[0]:
        raise InputError(
            f"{path}: its header is split by tabs, not commas: read it as TSV (--format tsv "
            "/ file_format='tsv', or name it .tsv)"
        )
    raise InputError(
        f"{path} line {line}: {len(row)} fields where the header has {len(header)}: a field "
        f"holding the separator ({_SEPARATOR_NAMES[separator]}) goes in quotes"
    )


def _is_utf8(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False  # read_table says so


def _check_file(path: Path, encoding: str) -> None:
    """Refuse a path that is no file, an empty file, or an unknown encoding."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty")
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        raise InputError(f"unknown encoding {encoding!r} (for {path})") from None
    # A byte-order mark says the encoding: a wrong --encoding turned "Grüße" into
    # "GrÃ¼Ã\x9fe" without a word, and the hint for UTF-16 named cp1252 (trial 50a).
    with path.open("rb") as file:
        start = file.read(4)
    # UTF-32's little-endian mark begins with UTF-16's: it is looked at first.
    if start in (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE):
        if not codec.startswith("utf-32"):
            raise InputError(
                f"{path} starts with a UTF-32 byte-order mark: pass encoding='utf-32' / "
                "--encoding utf-32"
            )
        return
    if start[:3] == codecs.BOM_UTF8 and not codec.startswith("utf-8"):
        raise InputError(
            f"{path} starts with a UTF-8 byte-order mark: it is UTF-8, not {encoding}; "
            "leave out encoding= / --encoding"
        )
    if start[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) and not codec.startswith("utf-16"):
        raise InputError(
            f'{path} starts with a UTF-16 byte-order mark (as Excel\'s "Unicode Text" '
            "does): pass encoding='utf-16' / --encoding utf-16"
        )


def _jsonl_table(
    path: Path, encoding: str, text_column: str | None, stack: contextlib.ExitStack
) -> Table:
    """A JSONL file parsed once, a batch at a time, each batch's frame kept in a
    temporary Arrow file (gone when ``stack`` closes) and handed on cast to each
    column's type over the whole file (the supertype over the batches, which is what one
    read of every line infers)."""
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="labelkit-jsonl-")))
    with _read_errors(path, "jsonl", encoding):
        try:
            parts = _jsonl_parts(path, encoding, text_column, folder, as_text=False)
        except (TypeError, pl.exceptions.PolarsError):
            parts = _jsonl_parts(path, encoding, text_column, folder, as_text=True)
        shapes = [pl.DataFrame(schema=schema) for _, schema in parts]
        schema = pl.concat(shapes, how="diagonal_relaxed").schema if shapes else pl.Schema()

    def batches(columns: Sequence[str] | None) -> Iterator[pl.DataFrame]:
        for part, own in parts:
            frame = pl.read_ipc(part)
            yield frame.select(
                pl.col(name).cast(dtype) if name in own else pl.lit(None, dtype).alias(name)
                for name, dtype in schema.items()
                if columns is None or name in columns
            )

    return Table(schema, batches)


def _jsonl_parts(
    path: Path, encoding: str, text_column: str | None, folder: Path, as_text: bool
) -> list[tuple[Path, pl.Schema]]:
    """Each batch of a JSONL file as a frame in an Arrow file in ``folder`` (which keeps
    polars' types as they are), and the frame's schema. Raises TypeError or a polars
    error where a batch has no frame but ``as_text``'s."""
    parts = []
    for number, records in enumerate(_jsonl_records(path, encoding, text_column)):
        frame = _records_frame(records, as_text)
        part = folder / f"{'text' if as_text else 'part'}-{number:06d}.arrow"
        frame.write_ipc(part, compression="lz4")
        parts.append((part, frame.schema))
    return parts


_SEPARATOR_NAMES = {"\t": "a tab", ",": "a comma", ";": "a semicolon"}


def _separator(path: Path, kind: str, has_header: bool, encoding: str) -> str:
    """A TSV's tab; a CSV's comma, or a semicolon where its header holds semicolons and
    no comma, or both and its first rows split into more fields alike by semicolons:
    Excel writes ``;`` where the decimal mark is a comma (Germany, France, Spain...),
    and such files were refused as ragged commas (trials 50a, 55a)."""
    if kind == "tsv":
        return "\t"
    if not has_header:
        return ","
    with path.open("rb") as file:
        start = file.read(65_536)
    # Decoded before it is cut into lines (a UTF-16 character may hold the byte of a line
    # break), and its first line that is not blank, as polars skips blank ones.
    text = start.decode(encoding, errors="replace").removeprefix(BOM)
    header = next((line for line in text.splitlines() if line.strip()), "")
    if ";" not in header:
        return ","
    if "," not in header:
        return ";"
    # Trial 55a: `id;text;importe (€, IVA incl.)` was read with commas, and refused. The
    # separator is the one that splits the first rows into as many fields each, the more.
    cut = len(start) == 65_536
    return ";" if _fields_alike(text, ";", cut) > _fields_alike(text, ",", cut) else ","


def csv_style(path: Path, encoding: str) -> tuple[str, bool]:
    """A CSV file's separator, and whether a CSV written for the same reader in UTF-8
    should start with a byte-order mark: Excel where the decimal mark is a comma writes
    ``;``, and its "CSV UTF-8" a mark it reads the encoding by. A file in another
    encoding (Excel's plain "CSV" is the Windows code page) gets one too: without it,
    that Excel reads the UTF-8 written back as its code page (trial 59c: "KÃ¼che")."""
    mark = BOM.encode("utf-8")
    with path.open("rb") as file:
        has_bom = not _is_utf8(encoding) or file.read(len(mark)) == mark
    return _separator(path, "csv", True, encoding), has_bom


def _fields_alike(text: str, separator: str, cut: bool, rows: int = 20) -> int:
    """How many fields each of the first ``rows`` records of ``text`` has when split by
    ``separator``, where they all have as many; else 0. The last record is left out of
    a ``cut`` text, whose end it may lack."""
    records = [row for row in csv.reader(io.StringIO(text), delimiter=separator) if row]
    if cut and len(records) > 1:
        records.pop()
    counts = {len(row) for row in records[:rows]}
    return counts.pop() if len(counts) == 1 else 0


def _csv_options(kind: str, has_header: bool, separator: str) -> dict[str, Any]:
    return {
        "separator": separator,
        "has_header": has_header,
        "infer_schema": False,
        "quote_char": None if kind == "tsv" else '"',
    }


def _read_csv(path: Path, kind: str, has_header: bool, encoding: str) -> pl.DataFrame:
    options = _csv_options(kind, has_header, _separator(path, kind, has_header, encoding))
    if codecs.lookup(encoding).name == "utf-8":
        try:
            return pl.read_csv(path, **options)
        except pl.exceptions.ComputeError:
            _decode(path.read_bytes(), path, encoding)  # names the line of a bad byte
            raise
    text = _decode(path.read_bytes(), path, encoding)
    return pl.read_csv(io.BytesIO(text.encode("utf-8")), **options)


def read_utf8(path: Path, what: str) -> str:
    """The text of a UTF-8 file of ``what`` (a rule file, a list), without the byte-order
    mark Windows editors put first: kept, it became part of the first rule's words and
    the first entry of a list, which then matched nothing (trial 50a).

    Examples
    --------
    >>> read_utf8(Path("spam.rules"), "rule file").splitlines()[0]
    'subscrib* -> spam'
    """
    advice = f": save the {what} as UTF-8 (in most editors: Save As, encoding UTF-8)"
    return _decode(path.read_bytes(), path, "utf-8", named="UTF-8", advice=advice).removeprefix(BOM)


def _decode(
    data: bytes,
    path: Path,
    encoding: str,
    line: int = 1,
    *,
    named: str | None = None,
    advice: str = (
        "; give the file's encoding with encoding= / --encoding (cp1252 for a CSV that "
        "Excel saved on Windows in western Europe or the Americas)"
    ),
) -> str:
    """``data`` decoded, or an error naming the line (counted from ``line``) of its first
    bad byte, the encoding as ``named``, and ``advice``."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        at = line + data[: error.start].count(b"\n")
        raise InputError(
            f"{path} line {at}: byte {data[error.start]:#04x} is not valid "
            f"{named or encoding}{advice}"
        ) from None


def _read_jsonl(path: Path, encoding: str, text_column: str | None = None) -> pl.DataFrame:
    records = [record for batch in _jsonl_records(path, encoding, text_column) for record in batch]
    return _records_table(records)


def _check_record(record: object, where: str, text_column: str | None, expected: str) -> None:
    """Refuse a JSON record that is not an object, or whose ``text_column`` value is not
    a string (polars would turn it into one where other records hold strings)."""
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected {expected}")
    value = record.get(text_column) if text_column else None
    if value is not None and not isinstance(value, str):
        raise InputError(
            f"{where}: {text_column!r} is {json.dumps(value)}, not a string; quote it if it "
            "is a text"
        )


def _records_table(records: list[dict]) -> pl.DataFrame:
    """JSON objects as a frame, their lists and objects as polars types where they have
    one, else as JSON text."""
    try:
        return _records_frame(records, as_text=False)
    except (TypeError, pl.exceptions.PolarsError):
        return _records_frame(records, as_text=True)


def _jsonl_records(path: Path, encoding: str, text_column: str | None) -> Iterator[list[dict]]:
    """The objects of a JSONL file, ``BATCH_ROWS`` at a time; a line that is not a JSON
    object, or whose ``text_column`` value is not a string, is an error naming it."""
    records = []
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            line = _decode(raw, path, encoding, number)
            if number == 1:
                # A byte-order mark, as Windows editors write UTF-8: not part of the JSON.
                line = line.removeprefix(BOM)
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise InputError(f"{path} line {number}: malformed JSON: {_where(error)}") from None
            _check_record(record, f"{path} line {number}", text_column, "a JSON object per line")
            records.append(record)
            if len(records) == BATCH_ROWS:
                yield records
                records = []
    if records:
        yield records


def _where(error: json.JSONDecodeError) -> str:
    """What the JSON reader found wrong, and in which column of its line (trial 51c:
    its message alone ends "Invalid control character at")."""
    return f"{error.msg.removesuffix(' at')} at column {error.colno}"


def _records_frame(records: list[dict], as_text: bool) -> pl.DataFrame:
    """JSON objects as a frame; ``as_text`` keeps every list and object as its JSON
    text, for mixed lists such as spans' ``[[0, 5, "TERM"]]``, which have no polars type
    (gold columns are read from that text as well)."""
    if as_text:
        records = [
            {k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in r.items()}
            for r in records
        ]
    return pl.DataFrame(records, infer_schema_length=None)


def _read_records(path: Path, encoding: str, text_column: str | None) -> pl.DataFrame:
    """A JSON array of objects, one row each, checked as JSONL's lines are."""
    try:
        data = json.loads(_decode(path.read_bytes(), path, encoding).removeprefix(BOM))
    except json.JSONDecodeError as error:
        raise InputError(f"{path} line {error.lineno}: malformed JSON: {_where(error)}") from None
    if not data:
        raise InputError(f"{path}: the file has no rows")
    for number, record in enumerate(data, start=1):
        _check_record(record, f"{path} record {number}", text_column, "a JSON array of objects")
    return _records_table(data)


def _read_wrench(path: Path, encoding: str) -> pl.DataFrame:
    try:
        data = json.loads(_decode(path.read_bytes(), path, encoding).removeprefix(BOM))
    except json.JSONDecodeError as error:
        raise InputError(f"{path} line {error.lineno}: malformed JSON: {_where(error)}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a WRENCH object of id -> record")
    if data and is_wrench_spans(next(iter(data.values()))):
        spans = wrench_spans_of(data, path).frame
        return spans.select("id", "text", pl.col("gold").alias("spans"), "split")
    split = wrench_split(path)
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


def _read_aspects_xml(path: Path) -> pl.DataFrame:
    """SemEval / MAMS aspect-category XML: each ``<sentence>``'s ``<text>``, and its
    ``<aspectCategory category=... polarity=...>`` as a JSON object in ``aspects``;
    the split from the file name, as for WRENCH."""
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise InputError(f"{path}: malformed XML: {error}") from None
    rows = []
    for number, sentence in enumerate(root.iter("sentence"), start=1):
        text = sentence.findtext("text")
        aspects = {
            category.get("category"): category.get("polarity")
            for category in sentence.iter("aspectCategory")
        }
        if text is None or None in aspects or None in aspects.values():
            raise InputError(
                f"{path}: sentence {number} lacks a <text> or an aspectCategory's "
                "category or polarity"
            )
        rows.append({"id": sentence.get("id"), "text": text, "aspects": json.dumps(aspects)})
    if not rows:
        raise InputError(f"{path}: no <sentence> elements (SemEval / MAMS aspect XML)")
    split = wrench_split(path)
    frame = pl.DataFrame(rows, schema=dict.fromkeys(("id", "text", "aspects"), pl.String))
    if frame["id"].null_count():
        frame = frame.with_columns(
            pl.format("{}:{}", pl.lit(path.stem), pl.int_range(1, pl.len() + 1)).alias("id")
        )
    return frame.with_columns(pl.lit(split, pl.String).alias("split"))


def wrench_split(path: Path) -> str | None:
    """The split a file's name says (``valid`` / ``val`` / ``validation`` are ``dev``), or None."""
    if path.stem in (*SPLITS, *SPLIT_ALIASES):
        return SPLIT_ALIASES.get(path.stem, path.stem)
    return None


def wrench_label_map(path: Path) -> dict[str, str] | None:
    """The labels the ``label.json`` beside a WRENCH file names, code (as a string) ->
    label in lower case; None if there is no such file."""
    names = path.with_name("label.json")
    if not names.is_file():
        return None
    try:
        return {
            str(int(c)): n.lower() for c, n in json.loads(names.read_text(encoding="utf-8")).items()
        }
    except (ValueError, AttributeError) as error:
        raise InputError(f"{names}: expected an object of code -> label: {error}") from None


def is_text(dtype: pl.DataType) -> bool:
    """Whether a column of ``dtype`` holds texts: strings, or strings kept as categories
    (pandas' ``category``, polars' ``Categorical`` and ``Enum``), which are read as
    their strings (trial 57b: a categorical text column was refused as not texts).

    Examples
    --------
    >>> is_text(pl.String), is_text(pl.Categorical()), is_text(pl.Int64)
    (True, True, False)
    """
    # By type: `pl.Categorical("lexical") == pl.Categorical` is False (the second read).
    return dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum)
