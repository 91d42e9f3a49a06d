"""The LLM cache in the workspace: every request and its answer, keyed by a hash of the prompt.

The key covers the model, the messages and the sampling parameters, so a rerun of
the same prompt is free. A run writes its answers in batches as they arrive (see
``labelkit.llm.labeler``: at most a second or a thousand answers after each arrives,
and always when the run ends or stops), each batch in one transaction, so a crash
loses at most the last batch of what was paid for. A failure is kept too (with
its error and no response) and asked again on the next run, as is a row without a
response (what a 200 without a message left before such answers were failures).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from labelkit.errors import InputError
from labelkit.tables import read_table
from labelkit.workspace import Workspace, first_row, registered

_COLUMNS = (
    "key",
    "model",
    "request",
    "response",
    "error",
    "label",
    "prompt_tokens",
    "completion_tokens",
    "latency_s",
)
# Answers recorded before confidences were kept lack this column; it reads as null.
_OPTIONAL_COLUMNS = ("confidence",)
_TARGET = f"INTO llm_cache ({', '.join((*_COLUMNS, *_OPTIONAL_COLUMNS))}, created_at)"
_INSERT = f"INSERT OR REPLACE {_TARGET}"
_SCHEMA = {
    "key": pl.String,
    "model": pl.String,
    "request": pl.String,
    "response": pl.String,
    "error": pl.String,
    "label": pl.String,
    "prompt_tokens": pl.Int64,
    "completion_tokens": pl.Int64,
    "latency_s": pl.Float64,
    "confidence": pl.Float64,
}
# A failure never overwrites an answer (see store_answers).
_INSERT_FAILURE = f"INSERT OR IGNORE {_TARGET}"
# The cache rows that answer their request: not failed, with a response, and none
# longer than the run's max_response_bytes (the two parameters; NULL: any length).
ANSWERED = (
    "error IS NULL AND response IS NOT NULL "
    "AND (?::BIGINT IS NULL OR strlen(response) <= ?::BIGINT)"
)


@dataclass(frozen=True)
class CachedAnswer:
    """One request's outcome, as stored in ``llm_cache``."""

    key: str
    model: str
    request: dict[str, Any]
    response: str | None
    error: str | None
    label: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float | None
    confidence: float | None = None
    # Attempts past the deadline, or broken off without an answer read, before this
    # outcome: not stored, counted in the cost (``transport.Completion``).
    timed_out: int = 0
    broken_off: int = 0


def request_key(request: dict[str, Any]) -> str:
    """The cache key of a request: sha256 of its canonical JSON.

    Examples
    --------
    >>> request_key({"model": "m", "messages": []}) == request_key({"messages": [], "model": "m"})
    True
    """
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()


def cached_answers(
    workspace: Workspace, keys: Iterable[str], max_response_bytes: int | None = None
) -> pl.DataFrame:
    """The answered cache rows among ``keys``: not failed, with a response, and none
    longer than ``max_response_bytes`` (those are asked again, and then refused).

    Examples
    --------
    >>> cached_answers(ws, ["9f86d0…"]).columns
    ['key', 'response', 'confidence', 'prompt_tokens', 'completion_tokens']
    """
    wanted = pl.DataFrame({"key": pl.Series(keys, dtype=pl.String)})
    # A join, not list_contains(?, key): that compares every row with every key.
    with registered(workspace.con, "wanted_keys", wanted):
        return workspace.sql(
            f"""SELECT key, response, confidence, prompt_tokens, completion_tokens
                FROM llm_cache WHERE key IN (SELECT key FROM wanted_keys) AND {ANSWERED}""",
            [max_response_bytes, max_response_bytes],
        )


def store_answer(workspace: Workspace, answer: CachedAnswer) -> None:
    """Write one answer (or failure) at once; see ``store_answers``."""
    store_answers(workspace, [answer])


def store_answers(workspace: Workspace, answers: Sequence[CachedAnswer]) -> None:
    """Write answers (or failures) in one transaction.

    An answer replaces whatever the key held; a failure replaces only an earlier
    failure (or a row without a response), so a refresh that fails keeps the answer
    already paid for. Of several outcomes for one key the last answer wins, else the
    last failure.

    Examples
    --------
    >>> store_answers(ws, [CachedAnswer(key="9f86d0…", model="m", request={}, response="spam",
    ...                                 error=None, label="spam", prompt_tokens=20,
    ...                                 completion_tokens=5, latency_s=0.3)])
    """
    if not answers:
        return
    rows = pl.DataFrame(
        [
            (
                a.key,
                a.model,
                json.dumps(a.request),
                a.response,
                a.error,
                a.label,
                a.prompt_tokens,
                a.completion_tokens,
                a.latency_s,
                a.confidence,
            )
            for a in answers
        ],
        schema=_SCHEMA,
        orient="row",
    )
    # Sorted so that per key the last answer, else the last failure, is kept.
    rows = rows.sort(pl.col("error").is_null(), maintain_order=True).unique(
        "key", keep="last", maintain_order=True
    )
    columns = ", ".join(_SCHEMA)
    with workspace.transaction() as con, registered(con, "new_answers", rows):
        con.execute(
            """DELETE FROM llm_cache
               WHERE key IN (SELECT key FROM new_answers WHERE error IS NOT NULL)
                 AND (error IS NOT NULL OR response IS NULL)"""
        )
        con.execute(
            f"{_INSERT_FAILURE} SELECT {columns}, now()::TIMESTAMP FROM new_answers "
            "WHERE error IS NOT NULL"
        )
        con.execute(
            f"{_INSERT} SELECT {columns}, now()::TIMESTAMP FROM new_answers WHERE error IS NULL"
        )


def export_llm_cache(workspace: Workspace, path: str | Path, *, model: str | None = None) -> int:
    """Write the answered cache rows (of ``model``, or all) to a JSONL file; return how many.

    Examples
    --------
    >>> export_llm_cache(ws, "answers.jsonl", model="smollm2")
    1760
    """
    rows = workspace.sql(
        f"SELECT {', '.join((*_COLUMNS, *_OPTIONAL_COLUMNS))} FROM llm_cache "
        "WHERE error IS NULL AND (? IS NULL OR model = ?) ORDER BY key",
        [model, model],
    )
    rows.write_ndjson(path)
    return rows.height


def import_llm_cache(workspace: Workspace, path: str | Path) -> int:
    """Load answers recorded by ``export_llm_cache`` into the cache; return how many were new.

    Recorded answers replace only cached failures: what was paid for stays.

    Examples
    --------
    >>> import_llm_cache(ws, bundled_dataset("youtube-spam") / "smollm2_answers.jsonl")
    1760
    """
    path = Path(path)
    try:
        rows = pl.read_ndjson(path, infer_schema_length=None)
    except (pl.exceptions.PolarsError, OSError):
        # Read again as ingest reads JSONL, to name the bad line (trial 47c: polars'
        # error named none), or the missing file.
        rows = read_table(path, file_format="jsonl")
    missing = [c for c in _COLUMNS if c not in rows.columns]
    if missing:
        raise InputError(f"{path}: recorded LLM answers lack the columns {missing}")
    rows = rows.with_columns(
        pl.lit(None, dtype=pl.Float64).alias(c) for c in _OPTIONAL_COLUMNS if c not in rows.columns
    ).select(*_COLUMNS, *_OPTIONAL_COLUMNS)
    with workspace.transaction() as con, registered(con, "recorded", rows):
        new = first_row(
            con,
            f"""{_INSERT} SELECT *, now()::TIMESTAMP FROM recorded
                WHERE key NOT IN (SELECT key FROM llm_cache WHERE error IS NULL)""",
        )
    return int(new[0]) if new else 0
