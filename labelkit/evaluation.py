"""Evaluation against gold: every labeling function, the LLM, the label models and the
small model, side by side, with the small model's size on disk and speed on one core."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import polars as pl
import spacy
from sklearn.metrics import f1_score

from labelkit.aggregate import MajorityVote, predict_from_proba
from labelkit.errors import LabelkitError
from labelkit.task import ABSTAIN, Task
from labelkit.votes import LabelMatrix
from labelkit.workspace import Workspace

# A word is a run of non-space characters, for the LLM's speed and the small model's alike.
WORDS = "len(regexp_extract_all({}, '\\S+'))"

SCHEMA = {
    "method": pl.String,
    "kind": pl.String,
    "coverage": pl.Float64,
    "accuracy": pl.Float64,
    "macro_f1": pl.Float64,
    "size_mb": pl.Float64,
    "words_per_s": pl.Float64,
}


def score(gold: np.ndarray, predicted: np.ndarray, cardinality: int) -> dict[str, float]:
    """Coverage, accuracy and macro-F1 of predicted codes; an abstain (-1) counts as wrong.

    Examples
    --------
    >>> score(np.array([0, 1, 1]), np.array([0, 1, -1]), 2)["accuracy"]
    0.6666666666666666
    """
    return {
        "coverage": float((predicted != ABSTAIN).mean()),
        "accuracy": float((predicted == gold).mean()),
        "macro_f1": float(
            f1_score(
                gold, predicted, labels=list(range(cardinality)), average="macro", zero_division=0
            )
        ),
    }


def evaluate(
    workspace: Workspace, model_path: str | Path | None = None, *, split: str = "test"
) -> pl.DataFrame:
    """Score every source and model on the gold labels of ``split``; one row per method.

    Rows: each labeling function and LLM source (``kind`` lf / llm), majority vote over
    all sources, the stored label model, and the small model at ``model_path``. For
    the small model, ``size_mb`` is its size on disk and ``words_per_s`` the median of
    three ``nlp.pipe`` passes over the split in this process; for an LLM source,
    ``words_per_s`` comes from the latencies of its cached answers.

    Examples
    --------
    >>> evaluate(ws, "demo/model/model-best").select("method", "accuracy")
    """
    task = workspace.task
    examples = workspace.sql(
        f"""SELECT id, text, gold, {WORDS.format("text")} AS words FROM examples
            WHERE split = ? AND gold IS NOT NULL ORDER BY id""",
        [split],
    )
    if examples.height == 0:
        raise LabelkitError(f"no gold labels in split {split!r} to evaluate against")
    gold = task.encode(examples["gold"])
    matrix = LabelMatrix.from_workspace(workspace, split=split)
    kinds = dict(workspace.sql("SELECT name, kind FROM sources").iter_rows())
    keep = np.isin(np.array(matrix.example_ids), examples["id"].to_numpy())
    codes = matrix.codes[keep]

    rows: list[dict[str, object]] = []
    for j, source in enumerate(matrix.sources):
        rows.append(
            {
                "method": source,
                "kind": kinds[source],
                **score(gold, codes[:, j], task.cardinality),
                "words_per_s": _llm_words_per_s(workspace, source)
                if kinds[source] == "llm"
                else None,
            }
        )
    if matrix.sources:
        majority = MajorityVote().fit(codes, task.cardinality)
        predicted = predict_from_proba(codes, majority.predict_proba(codes))
        rows.append(
            {
                "method": "majority_vote",
                "kind": "label model",
                **score(gold, predicted, task.cardinality),
            }
        )
    stored = workspace.sql(
        """SELECT e.id, p.model, p.label FROM examples e JOIN predictions p ON p.example_id = e.id
           WHERE e.split = ? AND e.gold IS NOT NULL ORDER BY e.id""",
        [split],
    )
    if stored.height == examples.height and stored["model"][0] != "majority_vote":
        predicted = task.encode(stored["label"])
        rows.append(
            {
                "method": stored["model"][0],
                "kind": "label model",
                **score(gold, predicted, task.cardinality),
            }
        )
    if model_path is not None:
        rows.append(_small_model_row(Path(model_path), examples, gold, task))
    return pl.DataFrame(rows, schema=SCHEMA)


def _small_model_row(
    path: Path, examples: pl.DataFrame, gold: np.ndarray, task: Task
) -> dict[str, object]:
    if not path.is_dir():
        raise LabelkitError(f"no trained model at {path}: run `labelkit train` first")
    nlp = spacy.load(path)
    pipe = next(name for name in nlp.pipe_names if name.startswith("textcat"))
    texts = examples["text"].to_list()
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        docs = list(nlp.pipe(texts, batch_size=256))
        timings.append(time.perf_counter() - started)
    predicted = task.encode([max(doc.cats, key=doc.cats.get) for doc in docs])
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return {
        "method": f"small model ({pipe})",
        "kind": "small model",
        **score(gold, predicted, task.cardinality),
        "size_mb": size / 1e6,
        "words_per_s": examples["words"].sum() / statistics.median(timings),
    }


def _llm_words_per_s(workspace: Workspace, source: str) -> float | None:
    row = workspace.sql(
        f"""SELECT sum({WORDS.format("c.request ->> '$.messages[1].content'")})
                   / sum(c.latency_s) AS wps
            FROM llm_cache c, sources s
            WHERE s.name = ? AND c.model = s.definition ->> '$.model'
              AND c.error IS NULL AND c.latency_s > 0""",
        [source],
    )
    return row["wps"][0]
