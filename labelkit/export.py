"""The cleaned set: the label model's labels, overridden wherever a person decided."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from labelkit.errors import InputError
from labelkit.review.queue import ANSWERS, EFFECTIVE_DECISIONS, RULED_OUT_LABELS
from labelkit.workspace import Workspace


def cleaned_labels(
    workspace: Workspace, *, split: str = "train", wide: bool = False
) -> pl.DataFrame:
    """One split's training labels: ``id, text, label, origin, confidence``.

    ``origin`` is ``review`` where a reviewer's newest decision set the label and
    ``label_model`` elsewhere. Examples the label model abstained on, those a reviewer
    marked ambiguous, and those whose label-model label a reviewer ruled out (and nobody
    has labeled since) are left out.

    A task with attributes has one row per example and attribute, with an
    ``attribute`` column after ``text``; each attribute is decided on its own. With
    ``wide``, it has one row per text instead, ``id, text`` and one column of answers
    per attribute, null where that attribute is left out.

    Examples
    --------
    >>> cleaned_labels(ws)["origin"].value_counts()
    >>> cleaned_labels(reviews, wide=True).columns[:5]
    ['id', 'text', 'ambience', 'food', 'menu']
    """
    task = workspace.task
    task.require_attributes("export (cleaned_labels)")
    if wide and task.kind == "classification":
        raise InputError("a wide export has one column per attribute; this task has none")
    workspace.require("predictions", "labelkit aggregate")
    frame = workspace.sql(
        f"""
        SELECT * FROM (
        SELECT e.id, e.text, p.attribute,
               CASE WHEN d.action IN {ANSWERS} THEN d.label
                    WHEN d.action = 'ambiguous' OR r.label IS NOT NULL THEN NULL
                    ELSE p.label END AS label,
               CASE WHEN d.action IN {ANSWERS} THEN 'review'
                    ELSE 'label_model' END AS origin,
               CASE WHEN d.action IN {ANSWERS} THEN 1.0
                    ELSE p.confidence END AS confidence
        FROM examples e
        JOIN predictions p ON p.example_id = e.id
        LEFT JOIN ({EFFECTIVE_DECISIONS}) d
            ON d.example_id = e.id AND d.attribute = p.attribute
        LEFT JOIN ({RULED_OUT_LABELS}) r
            ON r.example_id = e.id AND r.attribute = p.attribute AND r.label = p.label
        WHERE e.split = ?
        ) WHERE label IS NOT NULL
        ORDER BY id, attribute
        """,
        [split],
    )
    if task.kind == "classification":
        return frame.drop("attribute")
    if not wide:
        return frame
    columns = pl.DataFrame(schema={name: pl.String for name in task.targets})
    spread = frame.pivot(on="attribute", index=["id", "text"], values="label")
    return pl.concat([columns, spread], how="diagonal_relaxed").select("id", "text", *task.targets)


def export_cleaned(
    workspace: Workspace, path: str | Path, *, split: str = "train", wide: bool = False
) -> int:
    """Write the cleaned set to CSV, JSONL or Parquet (by file ending); return the row count.

    ``wide`` writes one row per text and one column per attribute (see ``cleaned_labels``).

    Examples
    --------
    >>> export_cleaned(ws, "cleaned.jsonl")
    1187
    """
    path = Path(path)
    frame = cleaned_labels(workspace, split=split, wide=wide)
    writers = {
        ".csv": frame.write_csv,
        ".jsonl": frame.write_ndjson,
        ".parquet": frame.write_parquet,
    }
    if path.suffix not in writers:
        raise InputError(f"{path}: cannot export to {path.suffix!r}; use one of {sorted(writers)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    writers[path.suffix](path)
    return frame.height
